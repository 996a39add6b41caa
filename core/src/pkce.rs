//! PKCE (RFC 7636) with the S256 method, and the flow's callback secret.
//!
//! The verifier is 32 bytes from the operating system's generator, encoded
//! base64url without padding: 43 characters, the shortest RFC 7636 allows,
//! with 256 bits of entropy.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorSource};
use crate::secret::{CallbackSecret, PkceVerifier};

/// The only challenge method this crate sends. `plain` would hand the
/// verifier to anyone who sees the consent URL.
pub const METHOD_S256: &str = "S256";

/// 32 random bytes from the OS, base64url without padding (43 characters).
pub(crate) fn random_token() -> Result<String, Error> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| Error::Random(ErrorSource::new(e)))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

/// A verifier and its S256 challenge, made together so they always match.
#[derive(Debug)]
pub struct Pkce {
    verifier: PkceVerifier,
    challenge: String,
}

impl Pkce {
    /// A fresh verifier from the OS random generator and its challenge.
    pub fn generate() -> Result<Self, Error> {
        Ok(Self::from_verifier(PkceVerifier::new(random_token()?)))
    }

    /// Wraps a known verifier: for a flow resumed with its verifier, and
    /// for the RFC's test vector.
    pub fn from_verifier(verifier: PkceVerifier) -> Self {
        let challenge = s256_challenge(&verifier);
        Self {
            verifier,
            challenge,
        }
    }

    /// The verifier, sent only with the exchange.
    pub fn verifier(&self) -> &PkceVerifier {
        &self.verifier
    }

    /// base64url(SHA-256(verifier)) without padding; public by design.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }
}

/// base64url without padding of the SHA-256 of the verifier's ASCII bytes.
pub fn s256_challenge(verifier: &PkceVerifier) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose_secret().as_bytes()))
}

/// A fresh secret for one flow's callback URL: 256 random bits, drawn
/// apart from the verifier, so that an answer at that URL can only come
/// from the consent page this flow opened. Its base64url alphabet needs
/// no escaping in a URL path.
pub fn generate_callback_secret() -> Result<CallbackSecret, Error> {
    Ok(CallbackSecret::new(random_token()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn is_unreserved(c: char) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
    }

    #[test]
    fn rfc7636_appendix_b_vector() {
        let pkce = Pkce::from_verifier(PkceVerifier::new(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ));
        assert_eq!(
            pkce.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn generated_verifier_has_rfc_length_and_alphabet() {
        let pkce = Pkce::generate().unwrap();
        let v = pkce.verifier().expose_secret();
        assert_eq!(v.len(), 43);
        assert!(v.chars().all(is_unreserved), "{v}");
        assert_eq!(pkce.challenge(), s256_challenge(pkce.verifier()));
    }

    #[test]
    fn generated_verifiers_and_secrets_differ() {
        let a = Pkce::generate().unwrap();
        let b = Pkce::generate().unwrap();
        assert_ne!(a.verifier(), b.verifier());
        let secret = generate_callback_secret().unwrap();
        assert_ne!(secret, generate_callback_secret().unwrap());
        assert_eq!(secret.expose_secret().len(), 43);
        assert!(secret.expose_secret().chars().all(is_unreserved));
        assert_ne!(secret.expose_secret(), a.verifier().expose_secret());
    }

    proptest! {
        #[test]
        fn challenge_is_43_unreserved_chars_and_deterministic(
            verifier in "[A-Za-z0-9._~-]{43,128}"
        ) {
            let v = PkceVerifier::new(verifier.clone());
            let c1 = s256_challenge(&v);
            let c2 = s256_challenge(&PkceVerifier::new(verifier));
            prop_assert_eq!(&c1, &c2);
            prop_assert_eq!(c1.len(), 43);
            prop_assert!(c1.chars().all(is_unreserved));
        }

        #[test]
        fn different_verifiers_give_different_challenges(
            a in "[A-Za-z0-9._~-]{43,128}",
            b in "[A-Za-z0-9._~-]{43,128}",
        ) {
            prop_assume!(a != b);
            prop_assert_ne!(
                s256_challenge(&PkceVerifier::new(a)),
                s256_challenge(&PkceVerifier::new(b))
            );
        }
    }

    #[test]
    fn generated_verifiers_are_valid_over_many_draws() {
        for _ in 0..256 {
            let pkce = Pkce::generate().unwrap();
            let v = pkce.verifier().expose_secret();
            assert!((43..=128).contains(&v.len()));
            assert!(v.chars().all(is_unreserved));
        }
    }
}
