//! A URL of the app's scheme, as anyone can launch the app with one,
//! handed to a real waiting deep-link flow through
//! `Connector::deliver_deep_link`, the way the app does.
//!
//! An input is a URL in which `@PATH@` and `@SECRET@` stand for the
//! flow's callback path and secret (see `src/lib.rs`): without them no
//! input could ever reach the flow's gate. The link must be taken if and
//! only if it is the flow's own address as the URL parser reads it (the
//! app's scheme, no host, exactly the flow's path) with a query that
//! parses as a code or a denial. Whatever is refused leaves the same flow
//! waiting; whatever is taken ends it (no exchange server answers, so a
//! code ends it with a network failure), and the next input gets a new
//! flow.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use openrouter_connect_core::fuzzing::parse_query;
use openrouter_connect_core::{ConnectOptions, Error, FlowConfig, FlowState, CallbackMode};
use openrouter_connect_fuzz::{Harness, path_and_secret, substitute};

const SCHEME: &str = "io.github.openrouterconnect";
const CALLBACK_URL: &str = "io.github.openrouterconnect:/callback";
/// `split_deep_link` refuses anything longer.
const MAX_LINK_LEN: usize = 4096;

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        Harness::new(
            FlowConfig::default(),
            ConnectOptions::new(CallbackMode::DeepLink {
                    callback_url: CALLBACK_URL.into(),
                    relay_url: None,
                }),
        )
    })
}

/// Whether `link` is the flow's own address with an answer it can take,
/// judged by the URL parser alone: schemes are case-insensitive, blanks
/// around a URL are not part of it, and dot segments are resolved.
fn is_the_flows_answer(link: &str, flow_path: &str) -> bool {
    if link.len() > MAX_LINK_LEN {
        return false;
    }
    let Ok(url) = url::Url::parse(link) else {
        return false;
    };
    url.scheme() == SCHEME
        && url.host_str().is_none()
        && url.path() == flow_path
        && parse_query(url.query().unwrap_or("")).is_ok()
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let harness = harness();
    let flow_url = harness.waiting_flow();
    let (path, secret) = path_and_secret(&flow_url);
    let link = substitute(
        input.as_bytes(),
        &[("@PATH@", &path), ("@SECRET@", &secret)],
    );
    let link = String::from_utf8(link).expect("markers keep UTF-8 valid");

    let expected = is_the_flows_answer(&link, &path);
    match harness.connector.deliver_deep_link(&link) {
        Ok(()) => {
            assert!(
                expected,
                "a link off the flow's address was taken: {link:?}"
            );
            let end = harness.wait_for_end(Duration::from_secs(10));
            assert!(
                matches!(end, Some(FlowState::Failed { .. })),
                "a taken link did not end the flow in a failure: {end:?}"
            );
        }
        Err(error) => {
            assert!(
                !expected,
                "the flow's own answer was refused ({error:?}): {link:?}"
            );
            assert!(
                matches!(error, Error::StrayCallback | Error::MalformedCallback(_)),
                "unexpected refusal {error:?}"
            );
            assert_eq!(
                harness.awaiting().as_deref(),
                Some(flow_url.as_str()),
                "a refused link changed the waiting flow: {link:?}"
            );
        }
    }
});
