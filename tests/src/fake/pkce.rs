//! The fake's own PKCE check (RFC 7636), written apart from the client's so a
//! shared mistake can't make both sides agree on a wrong answer.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::state::ChallengeMethod;

/// RFC 7636 section 4.1: 43 to 128 characters of the unreserved set.
pub(crate) fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len()) && verifier.bytes().all(is_unreserved)
}

/// Shape of a challenge as `/auth` accepts it: an S256 challenge is always the
/// 43-character encoding of a SHA-256 digest; a plain one is a verifier.
pub(crate) fn is_valid_challenge(challenge: &str, method: ChallengeMethod) -> bool {
    match method {
        ChallengeMethod::S256 => {
            challenge.len() == 43
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        ChallengeMethod::Plain => is_valid_verifier(challenge),
    }
}

/// Whether `verifier` is the secret behind `challenge`.
pub(crate) fn verifier_matches(verifier: &str, challenge: &str, method: ChallengeMethod) -> bool {
    if !is_valid_verifier(verifier) {
        return false;
    }
    match method {
        ChallengeMethod::S256 => {
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
        }
        ChallengeMethod::Plain => verifier == challenge,
    }
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(is_valid_challenge(challenge, ChallengeMethod::S256));
        assert!(verifier_matches(verifier, challenge, ChallengeMethod::S256));
        assert!(!verifier_matches(
            challenge,
            challenge,
            ChallengeMethod::S256
        ));
    }

    #[test]
    fn verifier_length_and_alphabet() {
        assert!(!is_valid_verifier(&"a".repeat(42)));
        assert!(is_valid_verifier(&"a".repeat(43)));
        assert!(is_valid_verifier(&"a".repeat(128)));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(43))));
        assert!(is_valid_verifier(&format!("{}-._~", "a".repeat(43))));
    }

    #[test]
    fn plain_compares_exactly() {
        let verifier = "b".repeat(50);
        assert!(verifier_matches(
            &verifier,
            &verifier,
            ChallengeMethod::Plain
        ));
        assert!(!verifier_matches(
            &verifier,
            &"c".repeat(50),
            ChallengeMethod::Plain
        ));
    }
}
