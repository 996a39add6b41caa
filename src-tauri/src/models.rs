//! What crosses into the webview. Nothing here holds the key, the code or
//! the verifier: only the core's public [`Status`] and the app's own facts.

use openrouter_connect_core::{ErrorView, KeyInfo, KeyMeta, Status};
use serde::Serialize;

/// The way back from the browser the user picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallbackMode {
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
    pub mode: CallbackMode,
}

/// How well the data key is protected, said plainly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Protection {
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

/// Everything the panel shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    #[serde(flatten)]
    pub core: Status,
    pub health: Option<Health>,
    pub protection: Protection,
    pub base_url: String,
    pub custom_base_url: bool,
    pub browser_error: Option<String>,
    pub store_notice: Option<String>,
    pub default_label: String,
    pub callback_mode: CallbackMode,
    /// Why pasting the code is the better way back here (WSL, SSH, a
    /// sandbox), when it is.
    pub paste_suggested: Option<&'static str>,
    pub forgotten: Option<KeyMeta>,
    pub app_version: &'static str,
}
