//! Newtypes for the secrets of the flow: the API key, the authorization
//! code, the PKCE verifier and the callback secret.
//!
//! Each one prints `[redacted]` in `Debug`, has no `Display`, is not
//! `Serialize`, and wipes its memory on drop, so that a stray `{:?}`, a log
//! line or an IPC payload cannot carry it. The only form of a key that may
//! leave the core is [`ApiKey::masked`].

use zeroize::Zeroizing;

macro_rules! secret_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Zeroizing::new(value.into()))
            }

            /// The secret itself.
            ///
            /// Every call site is a place where the secret leaves its
            /// wrapper: send it where it must go (a request body, a
            /// header, an encryption routine) and nowhere else, never to
            /// a log, an error message or the UI.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_newtype!(
    /// An OpenRouter API key (`sk-or-v1-…`). It spends the user's money.
    ApiKey
);
secret_newtype!(
    /// A single-use authorization code from the consent page's callback.
    AuthCode
);
secret_newtype!(
    /// The PKCE code verifier: whoever holds it and the code gets the key.
    PkceVerifier
);
secret_newtype!(
    /// The per-flow secret in the callback URL's path
    /// (`http://127.0.0.1:<port>/callback/<secret>`). Not a credential on
    /// its own, but whoever knows it can end the flow with a denial or
    /// push a code of their choosing into it.
    CallbackSecret
);

/// The prefix every OpenRouter user key carries.
const KEY_PREFIX: &str = "sk-or-v1-";

impl ApiKey {
    /// A form of the key that can be shown and stored in the clear:
    /// `sk-or-v1-…abcd`. Four characters narrow a key down for the user
    /// without helping anyone guess it.
    pub fn masked(&self) -> String {
        let key = self.expose_secret();
        let prefix = if key.starts_with(KEY_PREFIX) {
            KEY_PREFIX
        } else {
            ""
        };
        let rest = &key[prefix.len()..];
        // Short or odd keys show no tail: four of eight characters would
        // give away half of the key.
        let tail: String = if rest.chars().count() >= 16 {
            let skip = rest.chars().count() - 4;
            rest.chars().skip(skip).collect()
        } else {
            String::new()
        };
        format!("{prefix}…{tail}")
    }

    /// The SHA-256 of the key in lowercase hex, the identifier of the key's
    /// own page on OpenRouter (`https://openrouter.ai/keys/<hash>`), where
    /// the user revokes it.
    pub fn sha256_hex(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.expose_secret().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let key = ApiKey::new("sk-or-v1-0123456789abcdef0123456789abcdef");
        let code = AuthCode::new("the-code-value");
        let verifier = PkceVerifier::new("the-verifier-value");
        let printed = format!("{key:?} {code:?} {verifier:?} {:?}", Some(&key));
        assert!(!printed.contains("0123456789"), "{printed}");
        assert!(!printed.contains("the-code-value"), "{printed}");
        assert!(!printed.contains("the-verifier-value"), "{printed}");
        assert_eq!(printed.matches("[redacted]").count(), 4, "{printed}");
    }

    #[test]
    fn masked_key_keeps_prefix_and_last_four() {
        let key = ApiKey::new("sk-or-v1-0123456789abcdef0123456789abcdef");
        assert_eq!(key.masked(), "sk-or-v1-…cdef");
    }

    #[test]
    fn masked_short_or_foreign_key_shows_no_tail() {
        assert_eq!(ApiKey::new("sk-or-v1-abcd").masked(), "sk-or-v1-…");
        assert_eq!(ApiKey::new("short").masked(), "…");
        assert_eq!(
            ApiKey::new("other-0123456789abcdef").masked(),
            "…cdef",
            "a key without the usual prefix still shows only its tail"
        );
    }

    #[test]
    fn key_page_hash_is_sha256_hex() {
        // sha256("abc"), FIPS 180-2 example.
        assert_eq!(
            ApiKey::new("abc").sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
