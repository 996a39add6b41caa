//! The loopback listener as any local process reaches it: arbitrary bytes
//! on a connection to a waiting flow's port. Whatever comes, an answer
//! (if any) has one of the statuses the listener means to give, nothing
//! panics, and the listener goes on serving: a well-formed stray request
//! right after still gets its 404.
//!
//! The client closes its sending side after the bytes, which found that
//! hyper by default drops a half-closed connection when it reads the end
//! before the answer is written (the listener now sets `half_close`).
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use openrouter_connect_core::{
    Attribution, ClientConfig, ConnectOptions, Connector, FlowConfig, FlowState, MemoryStore,
    OpenRouterClient,
};

struct Listener {
    runtime: tokio::runtime::Runtime,
    connector: Connector,
    port: Mutex<u16>,
}

fn listener() -> &'static Listener {
    static LISTENER: OnceLock<Listener> = OnceLock::new();
    LISTENER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // Never reached: no input can carry the flow's random `state`.
        let config = ClientConfig::with_base("http://127.0.0.1:9", Attribution::default()).unwrap();
        let connector = Connector::new(
            OpenRouterClient::new(config).unwrap(),
            Arc::new(MemoryStore::new()),
            FlowConfig::default(),
        );
        let port = start(&runtime, &connector);
        Listener {
            runtime,
            connector,
            port: Mutex::new(port),
        }
    })
}

/// Starts a flow and returns the port it listens on.
fn start(runtime: &tokio::runtime::Runtime, connector: &Connector) -> u16 {
    let status = runtime
        .block_on(connector.connect(ConnectOptions::default()))
        .unwrap();
    let FlowState::AwaitingCallback { callback_url, .. } = status.state else {
        panic!("no flow waits");
    };
    url::Url::parse(&callback_url).unwrap().port().unwrap()
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

fn status(answer: &[u8]) -> Option<&[u8]> {
    answer
        .strip_prefix(b"HTTP/1.1 ")
        .map(|rest| &rest[..3.min(rest.len())])
}

fuzz_target!(|data: &[u8]| {
    let listener = listener();
    let mut port = listener.port.lock().unwrap();
    // A denial needs no `state` and ends the flow, as designed: start
    // another one.
    if !matches!(
        listener.connector.status().state,
        FlowState::AwaitingCallback { .. }
    ) {
        listener.connector.dismiss();
        *port = start(&listener.runtime, &listener.connector);
    }

    let answer = exchange(*port, data);
    if let Some(code) = status(&answer) {
        assert!(
            [
                &b"200"[..],
                b"400",
                b"404",
                b"405",
                b"408",
                b"409",
                b"414",
                b"421",
                b"431",
                b"505"
            ]
            .contains(&code),
            "unexpected status {:?}",
            String::from_utf8_lossy(code)
        );
    }
    let stray = exchange(
        *port,
        format!("GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes(),
    );
    if status(&stray) != Some(&b"404"[..]) {
        // Only an answer the flow took (a denial needs no `state`) may
        // end it and close the port; the end is published a moment after
        // the page is sent.
        let ended = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            !matches!(
                listener.connector.status().state,
                FlowState::AwaitingCallback { .. }
            )
        });
        assert!(ended, "the listener stopped serving a waiting flow");
    }
});
