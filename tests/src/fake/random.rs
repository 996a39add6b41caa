//! Unguessable identifiers. Tests must not be able to predict a code or key,
//! or a client that invents one instead of reading it would still pass.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::distr::{Alphanumeric, SampleString};

fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::rng().fill_bytes(&mut buf);
    buf
}

/// Opaque id for a pending consent, or an authorization code: url-safe so it
/// travels in a query string or a form without escaping.
pub(crate) fn token() -> String {
    URL_SAFE_NO_PAD.encode(bytes::<32>())
}

/// `sk-or-v1-` and 64 lowercase hex digits, the shape of OpenRouter keys.
pub(crate) fn api_key() -> String {
    let mut key = String::from("sk-or-v1-");
    for byte in bytes::<32>() {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

pub(crate) fn user_id() -> String {
    format!("user_{}", Alphanumeric.sample_string(&mut rand::rng(), 27))
}
