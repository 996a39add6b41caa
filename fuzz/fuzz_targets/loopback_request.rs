//! The loopback listener as any local process reaches it: arbitrary bytes
//! on a connection to a real waiting flow's port.
//!
//! An input is the bytes of a request in which `@HOST@`, `@PORT@`,
//! `@PATH@` and `@SECRET@` stand for the flow's host, port, callback path
//! and secret (see `src/lib.rs`). Without them every input would stop at
//! the path or `Host` check, and the query parsing, the gate and the
//! flow's end behind them would go unfuzzed. The flow listens on a fixed
//! port when it is free (the listener takes an ephemeral one otherwise,
//! and the markers follow), so that even raw bytes can name the right
//! `Host`.
//!
//! Whatever comes:
//! - an answer, if any, has one of the statuses the listener means to give;
//! - a 200 (a page after the flow took the answer) comes only for a GET at
//!   the flow's exact path with the right `Host` and a query that parses,
//!   as hyper's own parser reads the request, and the flow then ends (no
//!   exchange server answers, so a code ends it with a network failure);
//!   the next input gets a new flow;
//! - anything else leaves the same flow waiting, and the listener goes on
//!   serving: a stray request right after still gets its 404.
//!
//! The client closes its sending side after the bytes, which found that
//! hyper by default drops a half-closed connection when it reads the end
//! before the answer is written (the listener now sets `half_close`).
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use openrouter_connect_core::fuzzing::parse_query;
use openrouter_connect_core::{ConnectOptions, FlowConfig, FlowState};
use openrouter_connect_fuzz::{Harness, path_and_secret, substitute};

/// Below Linux's ephemeral range (32768-60999) and Windows' (49152 and
/// up), and registered to nothing common.
const PORT: u16 = 29_817;

/// The statuses the listener gives, apart from 409: that one answers a
/// second answer to a flow that took one, and here every flow that takes
/// an answer has ended before the next input is sent.
const STATUSES: [&[u8]; 9] = [
    b"200", b"400", b"404", b"405", b"408", b"414", b"421", b"431", b"505",
];

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let mut config = FlowConfig::default();
        config.loopback.preferred_port = Some(PORT);
        Harness::new(config, ConnectOptions::default())
    })
}

/// Sends `bytes`, closes the sending side, and returns the whole answer.
fn exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    // Refused: the flow ended and closed its port.
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return Vec::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// The status code of an answer, if it has a status line.
fn status(answer: &[u8]) -> Option<&[u8]> {
    let rest = answer
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| answer.strip_prefix(b"HTTP/1.0 "))?;
    Some(&rest[..3.min(rest.len())])
}

/// Whether `request` is an answer the flow may take, read as the listener
/// reads it: httparse for the head and `http::Uri` for the target, as in
/// hyper (at most 100 headers, its default), then the listener's own
/// rules: GET, exactly the flow's path, the first `Host` naming the
/// flow's port on 127.0.0.1 or localhost, and a query that parses.
fn is_the_flows_answer(request: &[u8], flow_path: &str, port: u16) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut head = httparse::Request::new(&mut headers);
    if !matches!(head.parse(request), Ok(httparse::Status::Complete(_))) {
        return false;
    }
    let Some(uri) = head
        .path
        .and_then(|target| target.parse::<http::Uri>().ok())
    else {
        return false;
    };
    let host = head
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("host"))
        .map(|header| header.value);
    let our_host = [format!("127.0.0.1:{port}"), format!("localhost:{port}")]
        .iter()
        .any(|ours| host == Some(ours.as_bytes()));
    head.method == Some("GET")
        && uri.path() == flow_path
        && our_host
        && parse_query(uri.query().unwrap_or("")).is_ok()
}

fuzz_target!(|data: &[u8]| {
    let harness = harness();
    let flow_url = harness.waiting_flow();
    let port = url::Url::parse(&flow_url).unwrap().port().unwrap();
    let (path, secret) = path_and_secret(&flow_url);
    let request = substitute(
        data,
        &[
            ("@HOST@", &format!("127.0.0.1:{port}")),
            ("@PORT@", &port.to_string()),
            ("@PATH@", &path),
            ("@SECRET@", &secret),
        ],
    );

    let answer = exchange(port, &request);
    let code = status(&answer);
    if let Some(code) = code {
        assert!(
            STATUSES.contains(&code),
            "unexpected status {:?}",
            String::from_utf8_lossy(code)
        );
    }

    if code == Some(&b"200"[..]) {
        assert!(
            is_the_flows_answer(&request, &path, port),
            "the flow took an answer off its path: {:?}",
            String::from_utf8_lossy(&request)
        );
        let end = harness.wait_for_end(Duration::from_secs(10));
        assert!(
            matches!(end, Some(FlowState::Failed { .. })),
            "a taken answer did not end the flow in a failure: {end:?}"
        );
    } else {
        let stray = exchange(
            port,
            format!("GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes(),
        );
        assert_eq!(
            status(&stray),
            Some(&b"404"[..]),
            "the listener stopped serving a waiting flow"
        );
        assert_eq!(
            harness.awaiting().as_deref(),
            Some(flow_url.as_str()),
            "a request turned away ended the flow: {:?}",
            String::from_utf8_lossy(&request)
        );
    }
});
