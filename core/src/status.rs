//! What a UI sees of the connection: the flow's state and the stored key's
//! description. Never the key, the code or the verifier, nor the consent
//! URL or the callback URL, which hold the flow's callback secret: a
//! status may be logged or sent to a web view as it is.

use serde::Serialize;

use crate::error::Error;
use crate::store::KeyMeta;

/// Where the flow is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum FlowState {
    /// No key stored, no flow.
    Disconnected,
    /// Waiting for the browser's answer. The address to open in the
    /// browser, again or to copy, is [`crate::Connector::browser_url`].
    AwaitingCallback {
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
            state: FlowState::AwaitingCallback { expires_at_ms: 5 },
            key: None,
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"state": "awaitingCallback", "expiresAtMs": 5, "key": null})
        );
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
}
