//! The panel's words: what the user reads for each error, protection and
//! notice. The core's own messages are for developers and logs; the
//! panel chooses its sentences by the error's stable code.

use openrouter_connect_core::{Error, KeyFileReason, NetworkCause, Protection, StoreNotice};

use crate::models::{ErrorView, ProtectionView};

/// An error as the panel shows it.
pub fn error_view(error: &Error) -> ErrorView {
    let retry_after = match error {
        Error::RateLimited { retry_after } => *retry_after,
        _ => None,
    };
    let next_step = match retry_after {
        Some(wait) => format!("Wait {}, then try again.", seconds_words(wait.as_secs())),
        None => next_step(error).to_owned(),
    };
    ErrorView {
        code: error.code().to_owned(),
        message: message(error),
        next_step,
        retry_after_seconds: retry_after.map(|wait| wait.as_secs()),
    }
}

fn seconds_words(seconds: u64) -> String {
    match seconds {
        0 | 1 => "a second".to_owned(),
        2..=119 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}

/// What happened, in one sentence for the user.
fn message(error: &Error) -> String {
    let text = match error {
        Error::InvalidBaseUrl => "The OpenRouter address is not a valid URL.",
        Error::InsecureBaseUrl => {
            "The OpenRouter address must use https (plain http only for 127.0.0.1 or localhost)."
        }
        Error::InvalidAttribution => {
            "The app's name or address for OpenRouter is not valid in an HTTP header."
        }
        Error::Listen(_) => "The app could not listen for the browser's answer on 127.0.0.1.",
        Error::Random(_) => "The system's random number generator failed.",
        Error::Busy => "An approval is being completed right now.",
        Error::Cancelled => "Connecting was cancelled.",
        Error::DeadlinePassed => "No answer came from the browser in time.",
        Error::Denied { .. } => "Access was not granted on OpenRouter's page.",
        Error::StrayCallback => "The browser's answer did not belong to this connection attempt.",
        Error::StartAddressReused => {
            "The sign-in address was opened twice, so connecting was stopped in case someone else opened it."
        }
        Error::MalformedCallback(_) => "The browser's answer was malformed.",
        Error::PastedCodeInvalid(why) => {
            return format!("That is not the code OpenRouter shows: {why}.");
        }
        Error::InvalidRelayUrl => {
            "The relay page's address (OPENROUTER_CONNECT_RELAY_URL) must be an https URL."
        }
        Error::NoFlow => "No connection attempt is waiting for an answer.",
        Error::NotConnected => "No OpenRouter key is connected.",
        Error::InvalidOption(why) => return format!("That option can't be used: {why}."),
        Error::ChallengeMethodRejected => "OpenRouter refused the request's challenge method.",
        Error::InvalidCode => "OpenRouter did not accept the approval code.",
        Error::CodeExpired => "The approval code expired before it could be used.",
        Error::MethodNotAllowed => {
            "OpenRouter refused the request method (the address may not be OpenRouter's API)."
        }
        Error::RateLimited { .. } => "OpenRouter is receiving too many requests from this app.",
        Error::NoCredits => "Your OpenRouter account has not enough credits for this request.",
        Error::RequestRefused { .. } => {
            "OpenRouter refused the request: most often a model it does not know or no longer offers."
        }
        Error::Moderated => "The model's moderation refused this prompt.",
        Error::StreamFailed { .. } => "The reply stopped part-way: the model's provider failed.",
        Error::IdleTimeout => "The reply stalled: nothing more came from OpenRouter for a while.",
        Error::StreamInterrupted => {
            "The connection to OpenRouter closed before the reply was complete."
        }
        Error::ServiceError { status } => {
            return format!("OpenRouter had a problem on its side (HTTP {status}).");
        }
        Error::UnexpectedStatus { status } => {
            return format!("OpenRouter gave an unexpected answer (HTTP {status}).");
        }
        Error::RequestTimeout => "OpenRouter took too long to answer.",
        Error::Unreachable { cause, .. } => match cause {
            NetworkCause::Dns => "Can't reach OpenRouter: its address could not be looked up.",
            NetworkCause::Refused => "Can't reach OpenRouter: the connection was refused.",
            NetworkCause::Tls => "Can't reach OpenRouter securely: the secure connection failed.",
            _ => "Can't reach OpenRouter.",
        },
        Error::MalformedResponse(_) => "OpenRouter's answer could not be read.",
        Error::ResponseTooLarge => "OpenRouter's answer was larger than any valid one.",
        Error::KeyInvalid => {
            "The API key is no longer valid: it was revoked, deleted or has expired."
        }
        Error::Forbidden => "This key is not allowed to do that.",
        Error::Storage { .. } => "The stored connection could not be read or written.",
        Error::VaultCorrupt => "The stored connection is damaged and could not be read.",
        Error::DataKeyMismatch => {
            "The stored connection was locked with a different key than this device's keychain holds."
        }
        Error::DataKeyMissing => {
            "The key that unlocks the stored connection is missing from the keychain."
        }
        Error::Keychain { what, .. } => {
            return format!("The system keychain did not answer: {what}.");
        }
        Error::KeyIssuedElsewhere { issuer } => {
            return format!(
                "The stored key was issued by {issuer}, not by the OpenRouter this app uses now, so it is not sent."
            );
        }
        _ => "Something went wrong.",
    };
    text.to_owned()
}

/// What the user can do about it, in one sentence.
fn next_step(error: &Error) -> &'static str {
    match error {
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
        Error::DeadlinePassed => "Click Connect to start again.",
        Error::Denied { .. } => {
            "Click Connect and choose to allow access if you want this app to use OpenRouter."
        }
        Error::StartAddressReused => {
            "Click Connect to start again; if you opened the link only once, something else on this computer may have opened it."
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
        Error::KeyIssuedElsewhere { .. } => {
            "Start the app with the OpenRouter address it was connected with, or connect again to get a key here (the stored key stays until then)."
        }
        Error::InvalidOption(_) => "Correct the option, then click Connect.",
        Error::ChallengeMethodRejected | Error::InvalidCode | Error::CodeExpired => {
            "Click Connect to get a new approval code."
        }
        Error::MethodNotAllowed | Error::UnexpectedStatus { .. } => {
            "Check that OPENROUTER_BASE_URL points at OpenRouter, then try again."
        }
        Error::RateLimited { .. } => "Wait a minute, then try again.",
        Error::NoCredits => {
            "Add credits at openrouter.ai/settings/credits, or choose a cheaper or free model, then try again."
        }
        Error::RequestRefused { .. } => "Choose another model, then try again.",
        Error::Moderated => "Change the prompt, or choose another model.",
        Error::StreamFailed { .. } | Error::IdleTimeout => {
            "Try again; if it keeps happening, choose another model."
        }
        Error::StreamInterrupted => "Check your internet connection, then try again.",
        Error::ServiceError { .. } | Error::RequestTimeout => {
            "Try again in a few minutes; OpenRouter's status page may say more."
        }
        Error::Unreachable {
            cause: NetworkCause::Tls,
            ..
        } => "Check for a proxy or security software intercepting connections, then try again.",
        Error::Unreachable { .. } => "Check your internet connection, then try again.",
        Error::MalformedResponse(_) | Error::ResponseTooLarge => {
            "Try again; if it persists, something between this app and OpenRouter alters answers."
        }
        Error::KeyInvalid => "Connect again to get a new key.",
        Error::Forbidden => {
            "Check the key's limit on its OpenRouter page (it may be used up), or connect again."
        }
        Error::Storage { .. } | Error::VaultCorrupt => "Connect again to store a new key.",
        Error::DataKeyMismatch => {
            "Use the keychain this connection was made with, or connect again to store a new key."
        }
        Error::DataKeyMissing => {
            "Restore the keychain entry if it was removed, or connect again to store a new key."
        }
        Error::Keychain { .. } => "Unlock the system keychain, then try again.",
        _ => "Try again.",
    }
}

/// How well the data key is protected, said plainly.
pub fn protection_view(protection: Protection) -> ProtectionView {
    let file = |why: &str| ProtectionView {
        level: "fallback",
        label: "key file (weaker)".to_owned(),
        detail: format!(
            "{why} The key is encrypted, but its unlock key is in a file only your user can read: anyone with your files can read it."
        ),
    };
    match protection {
        Protection::KeyFile(KeyFileReason::NoKeychain) => {
            file("No system keychain is available.")
        }
        Protection::KeyFile(KeyFileReason::KeychainFailed) => {
            file("The system keychain did not answer.")
        }
        Protection::KeyFile(_) => file("The key was first stored without a system keychain."),
        Protection::KeychainUnavailable => ProtectionView {
            level: "unavailable",
            label: "system keychain not available".to_owned(),
            detail: "The key that unlocks the app's store is kept in the system keychain, which is locked or not answering. Unlock it, then choose Try again."
                .to_owned(),
        },
        _ => {
            let name = if cfg!(target_os = "macos") {
                "macOS Keychain"
            } else if cfg!(windows) {
                "Windows Credential Manager"
            } else {
                "Secret Service keyring"
            };
            ProtectionView {
                level: "keychain",
                label: format!("encrypted, unlock key in the {name}"),
                detail: "The key is encrypted on disk; the key that unlocks it is in the system keychain."
                    .to_owned(),
            }
        }
    }
}

/// What the panel says of the store.
pub fn notice_text(notice: &StoreNotice) -> String {
    match notice {
        StoreNotice::SetAside { cause, files } => {
            let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            format!(
                "{} It was kept aside ({}) and the app starts disconnected. Connect again to store a new key.",
                message(cause),
                files.join(", ")
            )
        }
        StoreNotice::LeftInPlace { cause } => format!(
            "{} It is left as it is; Connect moves it aside and stores a new key.",
            message(cause)
        ),
        StoreNotice::KeyFileIgnored { path } => format!(
            "A key file ({}) was found beside the store and not used: this app keeps its key in the system keychain. If you did not put it there, someone with access to your files may have.",
            path.display()
        ),
        _ => "Something about the stored connection needs your attention.".to_owned(),
    }
}

/// What the panel says of a link that came when no flow waited: most
/// often the app was closed (or the attempt cancelled) while the browser
/// was away, and the link started it again.
pub(crate) const LATE_LINK: &str = "An answer from the browser arrived, but no connection attempt was waiting for it. Click Connect to start again.";

/// A configuration problem found at start, as the panel says it.
pub fn config_problem(error: &Error) -> String {
    format!("{} {}", message(error), next_step(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_a_sentence_with_a_next_step() {
        let all = [
            Error::InvalidBaseUrl,
            Error::Busy,
            Error::Denied {
                reason: "access_denied".into(),
            },
            Error::PastedCodeInvalid("it is too short"),
            Error::ServiceError { status: 502 },
            Error::Unreachable {
                cause: NetworkCause::Dns,
                source: None,
            },
            Error::storage("the disk is full"),
            Error::keychain("it is locked or refused access"),
            Error::DataKeyMismatch,
            Error::StartAddressReused,
            Error::KeyIssuedElsewhere {
                issuer: "http://127.0.0.1:4000".into(),
            },
            Error::NoCredits,
            Error::Moderated,
            Error::RequestRefused { status: 400 },
            Error::StreamFailed { code: None },
            Error::IdleTimeout,
            Error::StreamInterrupted,
            Error::RateLimited {
                retry_after: Some(std::time::Duration::from_secs(30)),
            },
        ];
        for error in &all {
            let view = error_view(error);
            assert!(view.message.ends_with('.'), "{}", view.message);
            assert!(view.next_step.ends_with('.'), "{}", view.next_step);
            assert_eq!(view.code, error.code());
        }
        let limited = error_view(&Error::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(30)),
        });
        assert_eq!(limited.next_step, "Wait 30 seconds, then try again.");
        assert_eq!(limited.retry_after_seconds, Some(30));
        let json = serde_json::to_value(error_view(&Error::NoCredits)).unwrap();
        assert!(json.get("retryAfterSeconds").is_none(), "{json}");
        assert_eq!(
            error_view(&Error::keychain("it is locked or refused access")).message,
            "The system keychain did not answer: it is locked or refused access."
        );
    }
}
