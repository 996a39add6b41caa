//! OpenRouter's answer to the code exchange: any status, any body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrouter_connect_core::fuzzing::decode_exchange;

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let status = 100 + u16::from_be_bytes(*status) % 500;
    if let Ok(answer) = decode_exchange(status, body) {
        assert_eq!(status, 200);
        let key = answer.key.expose_secret();
        assert!(key.bytes().all(|b| b.is_ascii_graphic()));
    }
});
