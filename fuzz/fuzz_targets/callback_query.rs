//! The loopback callback's query string, as any local process can send it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrouter_connect_core::callback::{Callback, parse_query};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Callback::Code { code, .. }) = parse_query(query) {
        let code = code.expose_secret();
        assert!(!code.is_empty() && code.len() <= 512);
        assert!(code.bytes().all(|b| b.is_ascii_graphic()));
    }
});
