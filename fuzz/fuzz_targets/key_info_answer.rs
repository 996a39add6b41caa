//! The answer of `GET /api/v1/key`: any status, any body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrouter_connect_core::fuzzing::decode_key_info;

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let status = 100 + u16::from_be_bytes(*status) % 500;
    if decode_key_info(status, body).is_ok() {
        assert_eq!(status, 200);
    }
});
