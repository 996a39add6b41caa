//! The crate's one error type.
//!
//! Messages are for developers and logs: lower-case, no trailing period,
//! in the style of the standard library. An app shows its users its own
//! sentences, chosen by [`Error::code`], which is stable. No variant holds
//! a key, a code, a verifier or a raw body from the network: messages are
//! written here, not passed along, so nothing secret or attacker-chosen
//! reaches a log or the screen. Causes from the system (I/O, the keychain,
//! the HTTP stack) are kept as [`std::error::Error::source`].

use std::sync::Arc;

use serde::Serialize;

/// Why a request to OpenRouter never got an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

/// What went wrong. Match on the variants you handle and keep a
/// catch-all arm: new variants are not a breaking change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// [`crate::ClientConfig`]'s base URL does not parse.
    #[error("the OpenRouter base URL is not a valid URL")]
    InvalidBaseUrl,
    /// The base URL is plain http on a host other than the loopback.
    #[error("the OpenRouter base URL must use https (http only for 127.0.0.1 or localhost)")]
    InsecureBaseUrl,
    /// The attribution's title or URL can't be sent as an HTTP header.
    #[error("the attribution's app title or URL is not a valid HTTP header value")]
    InvalidAttribution,
    /// The loopback listener could not bind.
    #[error("could not listen on 127.0.0.1 for the callback")]
    Listen(#[source] ErrorSource),
    /// The operating system's random generator failed.
    #[error("the operating system's random number generator failed")]
    Random(#[source] ErrorSource),
    /// An answer is being exchanged (or, for a reload, a flow waits):
    /// connect, cancel and reload refuse at once; disconnect waits for the
    /// exchange to end, and gives up with this after two minutes.
    #[error("a code exchange is in progress")]
    Busy,
    /// The flow was cancelled before an answer came.
    #[error("the flow was cancelled")]
    Cancelled,
    /// No answer came before the flow's deadline,
    /// [`crate::FlowConfig::deadline`]. Not an HTTP failure: see
    /// [`Error::RequestTimeout`] for those.
    #[error("no callback arrived before the flow's deadline")]
    DeadlinePassed,
    /// The user did not allow access on the consent page.
    #[error("the user did not grant access (OpenRouter's error: {reason})")]
    Denied {
        /// OpenRouter's `error` parameter, reduced to `[a-z0-9_]`.
        reason: String,
    },
    /// An answer at an address this flow did not give out: a stray or a
    /// forgery. The flow keeps waiting.
    #[error("a callback arrived at an address this flow did not give out")]
    StrayCallback,
    /// The address the browser was opened on (or one copied) was opened
    /// a second time: someone else may have opened it first and reached
    /// the consent page, so the flow ends rather than take an answer that
    /// may be theirs.
    #[error(
        "the flow's browser address was opened twice; the flow was stopped in case someone else opened it"
    )]
    StartAddressReused,
    /// A callback at the flow's address without a usable code or error.
    #[error("malformed callback: {0}")]
    MalformedCallback(&'static str),
    /// Pasted text that is not a code OpenRouter shows.
    #[error("the pasted text is not an OpenRouter code: {0}")]
    PastedCodeInvalid(&'static str),
    /// A relay page URL that is not https, or carries a query or fragment.
    #[error("the relay page URL must be https, without a query or fragment")]
    InvalidRelayUrl,
    /// Nothing waits for an answer (or the waiting flow takes another kind).
    #[error("no flow is waiting for this kind of answer")]
    NoFlow,
    /// No key is stored.
    #[error("no key is stored")]
    NotConnected,
    /// The stored key was issued by another OpenRouter than the one this
    /// client talks to (its base URL changed since): the key is not sent.
    #[error("the stored key was issued by {issuer}, not by the OpenRouter in use; it is not sent")]
    KeyIssuedElsewhere {
        /// The issuer's origin (`scheme://host:port`), from the key's
        /// authenticated description.
        issuer: String,
    },
    /// A [`crate::ConnectOptions`] field out of bounds.
    #[error("invalid connect option: {0}")]
    InvalidOption(&'static str),
    /// OpenRouter refused `S256`.
    #[error("OpenRouter rejected the code challenge method")]
    ChallengeMethodRejected,
    /// OpenRouter refused the code or the verifier.
    #[error("OpenRouter rejected the authorization code or its verifier")]
    InvalidCode,
    /// The code was valid but is no longer.
    #[error("the authorization code expired")]
    CodeExpired,
    /// HTTP 405: the base URL is probably not OpenRouter's API.
    #[error("OpenRouter answered 405 Method Not Allowed; the base URL may not be OpenRouter's")]
    MethodNotAllowed,
    /// HTTP 429.
    #[error("OpenRouter rate-limited the request")]
    RateLimited {
        /// When to try again, from `Retry-After` (seconds), if it says.
        retry_after: Option<std::time::Duration>,
    },
    /// HTTP 402: the account has no credit left for the request.
    #[error("OpenRouter refused the request: the account has no credits left (HTTP 402)")]
    NoCredits,
    /// HTTP 403 on a chat request whose error names what moderation
    /// flagged (`metadata.reasons` or `metadata.flagged_input`). Another
    /// 403, such as a key over its own limit, is [`Error::Forbidden`].
    #[error("OpenRouter refused the request: moderation flagged the input (HTTP 403)")]
    Moderated,
    /// HTTP 400 or 404 on a call with the key: the request names what
    /// OpenRouter does not have or take, most often a model id.
    #[error("OpenRouter refused the request as invalid (HTTP {status})")]
    RequestRefused {
        /// The HTTP status.
        status: u16,
    },
    /// An error event in a stream that had started: the deltas before it
    /// were delivered, and the stream ends here.
    #[error("the reply failed mid-stream (OpenRouter's error code: {})", code.as_deref().unwrap_or("none"))]
    StreamFailed {
        /// OpenRouter's `error.code`, reduced to `[a-z0-9_]`, at most 40
        /// characters (it may be a number, such as `502`).
        code: Option<String>,
    },
    /// A stream sent nothing, not even a keep-alive, for
    /// [`crate::ClientConfig::idle_timeout`].
    #[error("the stream went idle: nothing arrived within the idle timeout")]
    IdleTimeout,
    /// A stream's connection ended before `[DONE]`.
    #[error("the stream ended before the reply was complete")]
    StreamInterrupted,
    /// HTTP 5xx.
    #[error("OpenRouter failed on its side (HTTP {status})")]
    ServiceError {
        /// The HTTP status.
        status: u16,
    },
    /// An HTTP status the call does not expect.
    #[error("OpenRouter answered with an unexpected HTTP status {status}")]
    UnexpectedStatus {
        /// The HTTP status.
        status: u16,
    },
    /// An HTTP request to OpenRouter took longer than
    /// [`crate::ClientConfig::request_timeout`] (or
    /// [`crate::ClientConfig::connect_timeout`] to connect), a stream's
    /// first byte longer than [`crate::ClientConfig::first_byte_timeout`],
    /// or OpenRouter answered 408. Not the flow's deadline: see
    /// [`Error::DeadlinePassed`].
    #[error("OpenRouter did not answer in time")]
    RequestTimeout,
    /// The request never got an answer.
    #[error("could not reach OpenRouter ({})", cause_words(*cause))]
    Unreachable {
        /// The cause, as far as it can be told.
        cause: NetworkCause,
        /// The HTTP stack's error, without the URL.
        #[source]
        source: Option<ErrorSource>,
    },
    /// An answer that does not have the documented shape.
    #[error("OpenRouter's answer could not be read: {0}")]
    MalformedResponse(&'static str),
    /// An answer larger than [`crate::ClientConfig::max_response_bytes`].
    #[error("OpenRouter's answer was larger than any valid one")]
    ResponseTooLarge,
    /// HTTP 401 on a call with the key: revoked, deleted or expired.
    #[error("the API key is no longer valid")]
    KeyInvalid,
    /// HTTP 403 on a call with the key.
    #[error("the API key is not allowed to do that")]
    Forbidden,
    /// A method that does I/O was called outside a Tokio runtime: the
    /// crate's listener, HTTP client and store calls run on Tokio.
    #[error("called outside a Tokio runtime (this crate's async methods run on Tokio)")]
    NoTokioRuntime,
    /// The [`crate::KeyStore`] or its storage failed.
    #[error("storage failed: {what}")]
    Storage {
        /// What failed, in words holding no secret.
        what: String,
        /// The system's error, when there is one.
        #[source]
        source: Option<ErrorSource>,
    },
    /// No stored record is valid and some are damaged.
    #[error("the stored records are damaged")]
    VaultCorrupt,
    /// The stored key records were sealed under another data key.
    #[error("the stored records were sealed under a different data key")]
    DataKeyMismatch,
    /// Key records are stored and their data key is missing.
    #[error("the data key of the stored records is missing")]
    DataKeyMissing,
    /// Where the data key lives (the OS keychain, or its file fallback)
    /// failed.
    #[error("the data key's store failed: {what}")]
    Keychain {
        /// What failed, in words holding no key material.
        what: String,
        /// The keychain's or the file system's error, when there is one.
        #[source]
        source: Option<ErrorSource>,
    },
}

fn cause_words(cause: NetworkCause) -> &'static str {
    match cause {
        NetworkCause::Dns => "the host name did not resolve",
        NetworkCause::Refused => "the connection was refused",
        NetworkCause::Tls => "the TLS handshake failed",
        NetworkCause::Other => "the connection failed",
    }
}

impl Error {
    /// A stable identifier in `kebab-case`, for an app to choose its
    /// words and for logs. Codes never change meaning; new ones may come.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidBaseUrl => "invalid-base-url",
            Error::InsecureBaseUrl => "insecure-base-url",
            Error::InvalidAttribution => "invalid-attribution",
            Error::Listen(_) => "listen-failed",
            Error::Random(_) => "random-failed",
            Error::Busy => "busy",
            Error::Cancelled => "cancelled",
            Error::DeadlinePassed => "timed-out",
            Error::Denied { .. } => "denied",
            Error::StrayCallback => "stray-callback",
            Error::StartAddressReused => "start-address-reused",
            Error::MalformedCallback(_) => "malformed-callback",
            Error::PastedCodeInvalid(_) => "pasted-code-invalid",
            Error::InvalidRelayUrl => "invalid-relay-url",
            Error::NoFlow => "no-flow",
            Error::NotConnected => "not-connected",
            Error::KeyIssuedElsewhere { .. } => "key-issued-elsewhere",
            Error::InvalidOption(_) => "invalid-option",
            Error::ChallengeMethodRejected => "challenge-method-rejected",
            Error::InvalidCode => "invalid-code",
            Error::CodeExpired => "code-expired",
            Error::MethodNotAllowed => "method-not-allowed",
            Error::RateLimited { .. } => "rate-limited",
            Error::NoCredits => "no-credits",
            Error::Moderated => "moderated",
            Error::RequestRefused { .. } => "request-refused",
            Error::StreamFailed { .. } => "stream-error",
            Error::IdleTimeout => "idle-timeout",
            Error::StreamInterrupted => "stream-interrupted",
            Error::ServiceError { .. } => "service-error",
            Error::UnexpectedStatus { .. } => "unexpected-status",
            Error::RequestTimeout => "timeout",
            Error::Unreachable { cause, .. } => match cause {
                NetworkCause::Dns => "dns-failed",
                NetworkCause::Refused => "connection-refused",
                NetworkCause::Tls => "tls-failed",
                NetworkCause::Other => "unreachable",
            },
            Error::MalformedResponse(_) => "malformed-response",
            Error::ResponseTooLarge => "response-too-large",
            Error::KeyInvalid => "key-invalid",
            Error::Forbidden => "forbidden",
            Error::NoTokioRuntime => "no-tokio-runtime",
            Error::Storage { .. } => "storage",
            Error::VaultCorrupt => "vault-corrupt",
            Error::DataKeyMismatch => "data-key-mismatch",
            Error::DataKeyMissing => "data-key-missing",
            Error::Keychain { .. } => "keychain",
        }
    }

    /// The store answered that its records can't be read: it holds no
    /// key anyone can use until they are moved aside.
    pub(crate) fn says_store_unreadable(&self) -> bool {
        matches!(
            self,
            Error::VaultCorrupt | Error::DataKeyMismatch | Error::DataKeyMissing
        )
    }

    /// A storage failure with no system error behind it.
    pub fn storage(what: impl Into<String>) -> Self {
        Error::Storage {
            what: what.into(),
            source: None,
        }
    }

    /// A failure of the data key's store with no system error behind it.
    pub fn keychain(what: impl Into<String>) -> Self {
        Error::Keychain {
            what: what.into(),
            source: None,
        }
    }
}

/// A system error kept as the cause of an [`Error`]: shared, so that the
/// error stays `Clone` (a flow's failure is shown and returned), and
/// compared by its message.
#[derive(Clone)]
pub struct ErrorSource(Arc<dyn std::error::Error + Send + Sync>);

impl ErrorSource {
    /// Wraps a cause. It must hold nothing secret: it is printed.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }
}

impl std::fmt::Debug for ErrorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for ErrorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for ErrorSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for ErrorSource {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for ErrorSource {}

/// Serializes as `{"code": …, "message": …}`: the developer's message, for
/// a UI that has no words of its own yet, and the code to choose them by.
impl Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut view = serializer.serialize_struct("Error", 2)?;
        view.serialize_field("code", self.code())?;
        view.serialize_field("message", &self.to_string())?;
        view.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_messages_are_developer_style() {
        let io = || ErrorSource::new(std::io::Error::other("the cause"));
        let all = [
            Error::InvalidBaseUrl,
            Error::InsecureBaseUrl,
            Error::InvalidAttribution,
            Error::Listen(io()),
            Error::Random(io()),
            Error::Busy,
            Error::Cancelled,
            Error::DeadlinePassed,
            Error::Denied {
                reason: "access_denied".into(),
            },
            Error::StrayCallback,
            Error::StartAddressReused,
            Error::MalformedCallback("no code"),
            Error::PastedCodeInvalid("too short"),
            Error::InvalidRelayUrl,
            Error::NoFlow,
            Error::NotConnected,
            Error::KeyIssuedElsewhere {
                issuer: "https://openrouter.ai".into(),
            },
            Error::InvalidOption("the limit must be finite"),
            Error::ChallengeMethodRejected,
            Error::InvalidCode,
            Error::CodeExpired,
            Error::MethodNotAllowed,
            Error::RateLimited { retry_after: None },
            Error::NoCredits,
            Error::Moderated,
            Error::RequestRefused { status: 404 },
            Error::StreamFailed {
                code: Some("server_error".into()),
            },
            Error::IdleTimeout,
            Error::StreamInterrupted,
            Error::ServiceError { status: 502 },
            Error::UnexpectedStatus { status: 418 },
            Error::RequestTimeout,
            Error::Unreachable {
                cause: NetworkCause::Dns,
                source: None,
            },
            Error::Unreachable {
                cause: NetworkCause::Refused,
                source: None,
            },
            Error::Unreachable {
                cause: NetworkCause::Tls,
                source: None,
            },
            Error::Unreachable {
                cause: NetworkCause::Other,
                source: Some(io()),
            },
            Error::MalformedResponse("not JSON"),
            Error::ResponseTooLarge,
            Error::KeyInvalid,
            Error::Forbidden,
            Error::NoTokioRuntime,
            Error::storage("the file is unreadable"),
            Error::VaultCorrupt,
            Error::DataKeyMismatch,
            Error::DataKeyMissing,
            Error::keychain("it is locked"),
        ];
        let mut codes = std::collections::HashSet::new();
        for e in &all {
            let m = e.to_string();
            assert!(!m.ends_with('.'), "{m}");
            assert!(
                !m.contains("the cause"),
                "a source stays out of the message: {m}"
            );
            assert!(codes.insert(e.code()), "duplicate code {}", e.code());
        }
    }

    #[test]
    fn sources_are_kept() {
        use std::error::Error as _;
        let error = Error::Listen(ErrorSource::new(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "address in use",
        )));
        assert_eq!(error.source().unwrap().to_string(), "address in use");
        assert!(Error::NoFlow.source().is_none());
    }

    #[test]
    fn serializes_as_code_and_message() {
        let json = serde_json::to_value(Error::CodeExpired).unwrap();
        assert_eq!(json["code"], "code-expired");
        assert_eq!(json["message"], "the authorization code expired");
    }
}
