//! A URL of the app's scheme, as anyone can launch the app with one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrouter_connect_core::callback::check_deep_link;

const EXPECTED: &str = "io.github.openrouterconnect:/callback";

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    if check_deep_link(url, EXPECTED).is_ok() {
        assert!(url.len() <= 4096);
        // Judged as the URL parser reads it: schemes are case-insensitive,
        // and surrounding blanks and tabs are not part of a URL.
        let parsed = url::Url::parse(url).expect("an accepted link is a URL");
        assert_eq!(parsed.scheme(), "io.github.openrouterconnect");
        assert_eq!(parsed.path(), "/callback");
    }
});
