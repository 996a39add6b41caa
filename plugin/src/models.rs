//! What crosses into the webview. Nothing here holds the key, the code or
//! the verifier: the connection's state and description, and the app's
//! own facts, in the panel's words.

use openrouter_connect_core::{FlowState, KeyInfo, KeyMeta};
use serde::Serialize;

use crate::error::error_view;

/// The callback mode the page asks for; the plugin adds the relay page
/// and the app's scheme to make the core's
/// [`openrouter_connect_core::CallbackMode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallbackChoice {
    /// A listener on `127.0.0.1` (through the relay page, if set).
    #[default]
    Loopback,
    /// The app's scheme (needs the `deep-link` feature).
    DeepLink,
    /// The user pastes the code OpenRouter shows.
    Paste,
}

/// Options from the panel for one Connect.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectRequest {
    /// The new key's label; blank means `"<app title> on <host>"`.
    pub key_label: Option<String>,
    /// A credit limit in USD for the new key.
    pub limit_usd: Option<f64>,
    /// How the answer comes back.
    #[serde(default)]
    pub mode: CallbackChoice,
}

/// An error as the panel shows it: its code, what happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorView {
    /// The core's stable [`openrouter_connect_core::Error::code`].
    pub code: String,
    /// What happened, a sentence for the user.
    pub message: String,
    /// What the user can do, a sentence.
    pub next_step: String,
    /// For a rate limit: when to try again, if OpenRouter said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

/// What a command that fails answers.
impl From<openrouter_connect_core::Error> for ErrorView {
    fn from(error: openrouter_connect_core::Error) -> Self {
        error_view(&error)
    }
}

/// How well the data key is protected, said plainly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtectionView {
    /// `keychain`, `fallback` or `unavailable`.
    pub level: &'static str,
    /// A few words, for a badge.
    pub label: String,
    /// A sentence that says what it means.
    pub detail: String,
}

/// The last word from OpenRouter on the stored key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// When, in milliseconds since the Unix epoch.
    pub checked_at_ms: u64,
    /// What OpenRouter said of the key.
    pub info: Option<KeyInfo>,
    /// Why it could not be asked, or refused.
    pub error: Option<ErrorView>,
}

/// The flow's state as the panel shows it: the core's, with a failure in
/// the panel's words.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelFlow(
    /// The core's state.
    pub FlowState,
);

impl Serialize for PanelFlow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        match &self.0 {
            FlowState::Failed { error } => {
                let mut failed = serializer.serialize_struct("PanelFlow", 2)?;
                failed.serialize_field("state", "failed")?;
                failed.serialize_field("error", &error_view(error))?;
                failed.end()
            }
            state => state.serialize(serializer),
        }
    }
}

/// Everything the panel shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PanelStatus {
    /// Grows with every change of the rest: events sent from different
    /// threads may reach the page out of order, and the page keeps the
    /// status of the highest revision it has seen.
    pub revision: u64,
    /// The flow's state, flattened: `state` and its fields.
    #[serde(flatten)]
    pub flow: PanelFlow,
    /// The stored key's description (`masked`, never the key).
    pub key: Option<KeyMeta>,
    /// The last health check.
    pub health: Option<Health>,
    /// Where the data key is.
    pub protection: ProtectionView,
    /// The OpenRouter in use; the key's page is under it.
    pub base_url: String,
    /// `OPENROUTER_BASE_URL` points elsewhere than OpenRouter.
    pub custom_base_url: bool,
    /// The browser could not be opened: the page offers the URL.
    pub browser_error: Option<String>,
    /// Something to tell the user about the store or the configuration.
    pub store_notice: Option<String>,
    /// The label a new key gets when none is given.
    pub default_label: String,
    /// The callback mode of the last connect.
    pub callback_mode: CallbackChoice,
    /// Why pasting the code is the better way back here (WSL, SSH, a
    /// sandbox), when it is.
    pub paste_suggested: Option<&'static str>,
    /// The key forgotten last, for its revoke page: by a disconnect, or
    /// replaced by a new connection (the store clears its record).
    pub forgotten: Option<KeyMeta>,
    /// The app's version.
    pub app_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use openrouter_connect_core::Error;

    #[test]
    fn a_failure_reaches_the_panel_in_its_words_and_the_rest_as_the_core_says() {
        let failed = serde_json::to_value(PanelFlow(FlowState::Failed {
            error: Error::CodeExpired,
        }))
        .unwrap();
        assert_eq!(failed["state"], "failed");
        assert_eq!(failed["error"]["code"], "code-expired");
        assert_eq!(
            failed["error"]["message"],
            "The approval code expired before it could be used."
        );
        assert_eq!(
            failed["error"]["nextStep"],
            "Click Connect to get a new approval code."
        );
        let connected = serde_json::to_value(PanelFlow(FlowState::Connected)).unwrap();
        assert_eq!(connected, serde_json::json!({"state": "connected"}));
        // Flattened into the status, as the panel reads it.
        #[derive(Serialize)]
        struct Flat {
            #[serde(flatten)]
            flow: PanelFlow,
            key: Option<KeyMeta>,
        }
        let flat = serde_json::to_value(Flat {
            flow: PanelFlow(FlowState::Failed {
                error: Error::DeadlinePassed,
            }),
            key: None,
        })
        .unwrap();
        assert_eq!(flat["state"], "failed");
        assert_eq!(flat["error"]["code"], "timed-out");
    }
}
