//! What crosses into the webview. Nothing here holds the key, the code or
//! the verifier: the connection's state and description, and the app's
//! own facts, in the panel's words.

use openrouter_connect_core::{FlowState, KeyInfo, KeyMeta};
use serde::Serialize;

use crate::messages::error_view;

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
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum PanelFlow {
    Disconnected,
    AwaitingCallback {
        auth_url: String,
        callback_url: String,
        expires_at_ms: u64,
    },
    Exchanging,
    Connected,
    Failed {
        error: ErrorView,
    },
}

impl From<&FlowState> for PanelFlow {
    fn from(state: &FlowState) -> Self {
        match state {
            FlowState::AwaitingCallback {
                auth_url,
                callback_url,
                expires_at_ms,
            } => PanelFlow::AwaitingCallback {
                auth_url: auth_url.clone(),
                callback_url: callback_url.clone(),
                expires_at_ms: *expires_at_ms,
            },
            FlowState::Exchanging => PanelFlow::Exchanging,
            FlowState::Connected => PanelFlow::Connected,
            FlowState::Failed { error } => PanelFlow::Failed {
                error: error_view(error),
            },
            _ => PanelFlow::Disconnected,
        }
    }
}

/// Everything the panel shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
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
