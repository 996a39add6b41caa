//! The callback's query string, as any local process or any web page can
//! send it to the loopback port (or anyone put in a deep link). Whatever
//! comes, parsing never panics, a code that gets through is one the
//! exchange can send as it is, and a denial's reason can carry neither
//! markup nor a secret into a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrouter_connect_core::fuzzing::{Callback, parse_query};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    match parse_query(query) {
        Ok(Callback::Code(code)) => {
            let code = code.expose_secret();
            assert!(!code.is_empty() && code.len() <= 512);
            assert!(code.bytes().all(|b| b.is_ascii_graphic()));
        }
        Ok(Callback::Denied { reason }) => {
            assert!(!reason.is_empty() && reason.len() <= 64);
            assert!(
                reason
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            );
        }
        Err(_) => {}
    }
});
