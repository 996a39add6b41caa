//! What a UI sees of the connection: the flow's state and the stored key's
//! description. Never the key, the code or the verifier.

use serde::Serialize;

use crate::error::Error;
use crate::store::KeyMeta;

/// Where the flow is. Its `Debug` leaves out the two URLs of a waiting
/// flow: both hold the flow's callback secret.
#[derive(Clone, PartialEq, Serialize)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum FlowState {
    /// No key stored, no flow.
    Disconnected,
    /// Waiting for the browser's answer.
    AwaitingCallback {
        /// The consent page; open it again, or copy it.
        auth_url: String,
        /// Where OpenRouter sends the browser back; empty when the user
        /// pastes the code ([`crate::CallbackMode::Paste`]).
        callback_url: String,
        /// When the flow gives up, in milliseconds since the Unix epoch.
        expires_at_ms: u64,
    },
    /// The code is being exchanged for a key and stored.
    Exchanging,
    /// A key is stored, no flow.
    Connected,
    /// The last flow, or the store's read, failed. A key stored before
    /// stays stored.
    Failed {
        /// Why.
        error: Error,
    },
}

impl std::fmt::Debug for FlowState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlowState::Disconnected => f.write_str("Disconnected"),
            FlowState::AwaitingCallback { expires_at_ms, .. } => f
                .debug_struct("AwaitingCallback")
                .field("auth_url", &"[redacted]")
                .field("callback_url", &"[redacted]")
                .field("expires_at_ms", expires_at_ms)
                .finish(),
            FlowState::Exchanging => f.write_str("Exchanging"),
            FlowState::Connected => f.write_str("Connected"),
            FlowState::Failed { error } => f.debug_struct("Failed").field("error", error).finish(),
        }
    }
}

/// The public view of the connection: the flow's state and the stored
/// key's description, which stays through a reconnect until replaced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Status {
    /// Where the flow is.
    #[serde(flatten)]
    pub state: FlowState,
    /// The stored key's description, if a key is stored.
    pub key: Option<KeyMeta>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_serializes_flat_with_a_state_tag() {
        let status = Status {
            state: FlowState::AwaitingCallback {
                auth_url: "https://openrouter.ai/auth?x".into(),
                callback_url: "http://127.0.0.1:1/callback".into(),
                expires_at_ms: 5,
            },
            key: None,
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["state"], "awaitingCallback");
        assert_eq!(json["authUrl"], "https://openrouter.ai/auth?x");
        assert_eq!(json["expiresAtMs"], 5);
        assert!(json["key"].is_null());
        let failed = Status {
            state: FlowState::Failed {
                error: Error::CodeExpired,
            },
            key: None,
        };
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["state"], "failed");
        assert_eq!(json["error"]["code"], "code-expired");
    }

    #[test]
    fn a_waiting_flows_debug_holds_no_url() {
        let state = FlowState::AwaitingCallback {
            auth_url: "https://openrouter.ai/auth?secret".into(),
            callback_url: "http://127.0.0.1:1/callback/secret".into(),
            expires_at_ms: 5,
        };
        assert!(!format!("{state:?}").contains("secret"));
    }
}
