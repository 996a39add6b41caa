//! What crosses into the webview. Nothing here holds the key, the code or
//! the verifier: the connection's state and description, and the app's
//! own facts, in the panel's words.

use openrouter_connect_core::{FlowState, KeyInfo, KeyMeta};
use serde::Serialize;

use crate::error::error_view;

/// The callback mode the user picked in the panel; the app adds the relay
/// page and its scheme to make the core's [`openrouter_connect_core::CallbackMode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallbackChoice {
    #[default]
    Loopback,
    DeepLink,
    /// The user pastes the code OpenRouter shows.
    Paste,
}

/// Options from the panel for one Connect.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectRequest {
    pub key_label: Option<String>,
    pub limit_usd: Option<f64>,
    #[serde(default)]
    pub mode: CallbackChoice,
}

/// An error as the panel shows it: its code, what happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorView {
    pub code: String,
    pub message: String,
    pub next_step: String,
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
    pub label: String,
    pub detail: String,
}

/// The last word from OpenRouter on the stored key.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub checked_at_ms: u64,
    pub info: Option<KeyInfo>,
    pub error: Option<ErrorView>,
}

/// The flow's state as the panel shows it: the core's, with a failure in
/// the panel's words.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelFlow(pub FlowState);

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
    #[serde(flatten)]
    pub flow: PanelFlow,
    pub key: Option<KeyMeta>,
    pub health: Option<Health>,
    pub protection: ProtectionView,
    pub base_url: String,
    pub custom_base_url: bool,
    pub browser_error: Option<String>,
    pub store_notice: Option<String>,
    pub default_label: String,
    pub callback_mode: CallbackChoice,
    /// Why pasting the code is the better way back here (WSL, SSH, a
    /// sandbox), when it is.
    pub paste_suggested: Option<&'static str>,
    pub forgotten: Option<KeyMeta>,
    pub app_version: &'static str,
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
                error: Error::TimedOut,
            }),
            key: None,
        })
        .unwrap();
        assert_eq!(flat["state"], "failed");
        assert_eq!(flat["error"]["code"], "timed-out");
    }
}
