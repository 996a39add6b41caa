//! The crate's one error type.
//!
//! Every variant carries what a user needs to read (its `Display`) and
//! what to do next ([`Error::next_step`]), plus a stable [`Error::code`]
//! for a UI to branch on. No variant holds a key, a code, a verifier or a
//! raw body from the network: messages are written here, not passed along,
//! so nothing secret or attacker-chosen reaches a log or the screen.

use serde::Serialize;

/// Why a request to OpenRouter never got an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkCause {
    /// The host name did not resolve: offline, or DNS is broken.
    Dns,
    /// Nothing listens at the address, or a firewall refused.
    Refused,
    /// The TLS handshake failed: a proxy or a wrong certificate in between.
    Tls,
    /// Any other failure to connect or to read the answer.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("The OpenRouter address is not a valid URL.")]
    InvalidBaseUrl,
    #[error("The OpenRouter address must use https (plain http only for 127.0.0.1 or localhost).")]
    InsecureBaseUrl,
    #[error("The app's name or address for OpenRouter is not valid in an HTTP header.")]
    InvalidAttribution,
    #[error("The app could not listen for the browser's answer on 127.0.0.1.")]
    Listen(String),
    #[error("The system's random number generator failed.")]
    Random(String),
    #[error("An approval is being completed right now.")]
    Busy,
    #[error("Connecting was cancelled.")]
    Cancelled,
    #[error("No answer came from the browser in time.")]
    TimedOut,
    #[error("Access was not granted on OpenRouter's page.")]
    Denied {
        /// OpenRouter's `error` parameter, reduced to `[a-z0-9_]`.
        reason: String,
    },
    /// An answer at an address this flow did not give out: a stray or a
    /// forgery. The flow keeps waiting.
    #[error("The browser's answer did not belong to this connection attempt.")]
    StrayCallback,
    #[error("The browser's answer was malformed: {0}.")]
    MalformedCallback(&'static str),
    #[error("That is not the code OpenRouter shows: {0}.")]
    PastedCodeInvalid(&'static str),
    #[error("The relay page's address (OPENROUTER_CONNECT_RELAY_URL) must be an https URL.")]
    InvalidRelayUrl,
    #[error("No connection attempt is waiting for an answer.")]
    NoFlow,
    #[error("No OpenRouter key is connected.")]
    NotConnected,
    #[error("{0}")]
    InvalidOption(&'static str),
    #[error("OpenRouter refused the request's challenge method.")]
    ChallengeMethodRejected,
    #[error("OpenRouter did not accept the approval code.")]
    InvalidCode,
    #[error("The approval code expired before it could be used.")]
    CodeExpired,
    #[error("OpenRouter refused the request method (the address may not be OpenRouter's API).")]
    MethodNotAllowed,
    #[error("OpenRouter is receiving too many requests from this app.")]
    RateLimited,
    #[error("OpenRouter had a problem on its side (HTTP {status}).")]
    ServiceError { status: u16 },
    #[error("OpenRouter gave an unexpected answer (HTTP {status}).")]
    UnexpectedStatus { status: u16 },
    #[error("OpenRouter took too long to answer.")]
    Timeout,
    #[error("{}", network_message(*.0))]
    Unreachable(NetworkCause),
    #[error("OpenRouter's answer could not be read ({0}).")]
    MalformedResponse(&'static str),
    #[error("OpenRouter's answer was larger than any valid one.")]
    ResponseTooLarge,
    #[error("The API key is no longer valid: it was revoked, deleted or has expired.")]
    KeyInvalid,
    #[error("This key is not allowed to do that.")]
    Forbidden,
    #[error("The stored connection could not be read or written: {0}")]
    Storage(String),
    #[error("The stored connection is damaged and could not be read.")]
    VaultCorrupt,
    #[error(
        "The stored connection was locked with a different key than this device's keychain holds."
    )]
    DataKeyMismatch,
    #[error("The key that unlocks the stored connection is missing from the keychain.")]
    DataKeyMissing,
    /// The keychain's own words, which must hold no key material.
    #[error("The system keychain did not answer: {0}")]
    Keychain(String),
}

fn network_message(cause: NetworkCause) -> &'static str {
    match cause {
        NetworkCause::Dns => "Can't reach OpenRouter: its address could not be looked up.",
        NetworkCause::Refused => "Can't reach OpenRouter: the connection was refused.",
        NetworkCause::Tls => "Can't reach OpenRouter securely: the secure connection failed.",
        NetworkCause::Other => "Can't reach OpenRouter.",
    }
}

impl Error {
    /// A stable identifier for a UI to branch on, in `kebab-case`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidBaseUrl => "invalid-base-url",
            Error::InsecureBaseUrl => "insecure-base-url",
            Error::InvalidAttribution => "invalid-attribution",
            Error::Listen(_) => "listen-failed",
            Error::Random(_) => "random-failed",
            Error::Busy => "busy",
            Error::Cancelled => "cancelled",
            Error::TimedOut => "timed-out",
            Error::Denied { .. } => "denied",
            Error::StrayCallback => "stray-callback",
            Error::MalformedCallback(_) => "malformed-callback",
            Error::PastedCodeInvalid(_) => "pasted-code-invalid",
            Error::InvalidRelayUrl => "invalid-relay-url",
            Error::NoFlow => "no-flow",
            Error::NotConnected => "not-connected",
            Error::InvalidOption(_) => "invalid-option",
            Error::ChallengeMethodRejected => "challenge-method-rejected",
            Error::InvalidCode => "invalid-code",
            Error::CodeExpired => "code-expired",
            Error::MethodNotAllowed => "method-not-allowed",
            Error::RateLimited => "rate-limited",
            Error::ServiceError { .. } => "service-error",
            Error::UnexpectedStatus { .. } => "unexpected-status",
            Error::Timeout => "timeout",
            Error::Unreachable(NetworkCause::Dns) => "dns-failed",
            Error::Unreachable(NetworkCause::Refused) => "connection-refused",
            Error::Unreachable(NetworkCause::Tls) => "tls-failed",
            Error::Unreachable(NetworkCause::Other) => "unreachable",
            Error::MalformedResponse(_) => "malformed-response",
            Error::ResponseTooLarge => "response-too-large",
            Error::KeyInvalid => "key-invalid",
            Error::Forbidden => "forbidden",
            Error::Storage(_) => "storage",
            Error::VaultCorrupt => "vault-corrupt",
            Error::DataKeyMismatch => "data-key-mismatch",
            Error::DataKeyMissing => "data-key-missing",
            Error::Keychain(_) => "keychain",
        }
    }

    /// What the user can do about it, in one sentence.
    pub fn next_step(&self) -> &'static str {
        match self {
            Error::InvalidBaseUrl | Error::InsecureBaseUrl => {
                "Fix or unset OPENROUTER_BASE_URL and start the app again."
            }
            Error::InvalidAttribution => "Fix the app's configured name or URL.",
            Error::Listen(_) => {
                "Try again; if it keeps failing, use the deep link or paste the code instead."
            }
            Error::Random(_) => "Restart the app and try again.",
            Error::Busy => "Wait a moment for it to finish.",
            Error::Cancelled => "Click Connect when you are ready.",
            Error::TimedOut => "Click Connect to start again.",
            Error::Denied { .. } => {
                "Click Connect and choose to allow access if you want this app to use OpenRouter."
            }
            Error::StrayCallback | Error::MalformedCallback(_) => {
                "Finish signing in from the page this app opened, or click Connect to start again."
            }
            Error::InvalidRelayUrl => {
                "Fix or unset OPENROUTER_CONNECT_RELAY_URL and start the app again."
            }
            Error::PastedCodeInvalid(_) => {
                "Copy the whole code from OpenRouter's page and paste it again."
            }
            Error::NoFlow | Error::NotConnected => "Click Connect to start.",
            Error::InvalidOption(_) => "Correct the option, then click Connect.",
            Error::ChallengeMethodRejected | Error::InvalidCode | Error::CodeExpired => {
                "Click Connect to get a new approval code."
            }
            Error::MethodNotAllowed | Error::UnexpectedStatus { .. } => {
                "Check that OPENROUTER_BASE_URL points at OpenRouter, then try again."
            }
            Error::RateLimited => "Wait a minute, then try again.",
            Error::ServiceError { .. } | Error::Timeout => {
                "Try again in a few minutes; OpenRouter's status page may say more."
            }
            Error::Unreachable(NetworkCause::Tls) => {
                "Check for a proxy or security software intercepting connections, then try again."
            }
            Error::Unreachable(_) => "Check your internet connection, then try again.",
            Error::MalformedResponse(_) | Error::ResponseTooLarge => {
                "Try again; if it persists, something between this app and OpenRouter alters answers."
            }
            Error::KeyInvalid => "Connect again to get a new key.",
            Error::Forbidden => "Connect again, or check the key's permissions on OpenRouter.",
            Error::Storage(_) | Error::VaultCorrupt => "Connect again to store a new key.",
            Error::DataKeyMismatch => {
                "Use the keychain this connection was made with, or connect again to store a new key."
            }
            Error::DataKeyMissing => {
                "Restore the keychain entry if it was removed, or connect again to store a new key."
            }
            Error::Keychain(_) => "Unlock the system keychain, then try again.",
        }
    }

    /// The form that crosses into a UI: words only, nothing secret.
    pub fn view(&self) -> ErrorView {
        ErrorView {
            code: self.code().to_owned(),
            message: self.to_string(),
            next_step: self.next_step().to_owned(),
        }
    }
}

/// An error as a UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorView {
    pub code: String,
    pub message: String,
    pub next_step: String,
}

impl Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.view().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_ends_as_a_sentence_and_has_a_next_step() {
        let all = [
            Error::InvalidBaseUrl,
            Error::InsecureBaseUrl,
            Error::InvalidAttribution,
            Error::Listen("x".into()),
            Error::Random("x".into()),
            Error::Busy,
            Error::Cancelled,
            Error::TimedOut,
            Error::Denied {
                reason: "access_denied".into(),
            },
            Error::StrayCallback,
            Error::MalformedCallback("no code"),
            Error::NoFlow,
            Error::NotConnected,
            Error::InvalidOption("The spending limit must be a number of dollars."),
            Error::ChallengeMethodRejected,
            Error::InvalidCode,
            Error::CodeExpired,
            Error::MethodNotAllowed,
            Error::RateLimited,
            Error::ServiceError { status: 502 },
            Error::UnexpectedStatus { status: 418 },
            Error::Timeout,
            Error::Unreachable(NetworkCause::Dns),
            Error::Unreachable(NetworkCause::Refused),
            Error::Unreachable(NetworkCause::Tls),
            Error::Unreachable(NetworkCause::Other),
            Error::MalformedResponse("not JSON"),
            Error::ResponseTooLarge,
            Error::KeyInvalid,
            Error::Forbidden,
            Error::Storage("the file is unreadable.".into()),
            Error::VaultCorrupt,
            Error::DataKeyMismatch,
            Error::DataKeyMissing,
            Error::Keychain("the keychain is locked.".into()),
        ];
        let mut codes = std::collections::HashSet::new();
        for e in &all {
            let m = e.to_string();
            assert!(m.ends_with('.'), "{m}");
            assert!(e.next_step().ends_with('.'), "{}", e.next_step());
            assert!(codes.insert(e.code()), "duplicate code {}", e.code());
        }
    }

    #[test]
    fn serializes_as_its_view() {
        let json = serde_json::to_value(Error::CodeExpired).unwrap();
        assert_eq!(json["code"], "code-expired");
        assert_eq!(
            json["message"],
            "The approval code expired before it could be used."
        );
        assert_eq!(
            json["nextStep"],
            "Click Connect to get a new approval code."
        );
    }
}
