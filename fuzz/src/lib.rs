//! What the targets that drive a real flow share: a flow to drive, and the
//! markers that let an input name what only that flow knows.
//!
//! The flow's callback path holds a secret drawn afresh for every flow,
//! and the loopback listener checks the `Host` against a port it learns
//! when it binds. Raw fuzz bytes can guess neither, so without help every
//! input would be turned away at the door and the fuzzer would never see
//! the code behind it (query parsing, the gate, the flow's end). Inputs
//! write markers instead, which the target replaces before sending:
//!
//! | marker     | becomes                                          |
//! | ---------- | ------------------------------------------------ |
//! | `@HOST@`   | `127.0.0.1:<port>` (loopback only)               |
//! | `@PORT@`   | `<port>` (loopback only)                         |
//! | `@PATH@`   | the flow's path, `/callback/<secret>`            |
//! | `@SECRET@` | the flow's secret alone (43 base64url characters)|
//!
//! Everything else in an input is sent as it is, so the fuzzer still
//! explores every other place a secret, a host or a path could be put.

use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::Duration;

use openrouter_connect_core::{
    Attribution, ClientConfig, ConnectOptions, Connector, FlowConfig, FlowState,
};

/// Replaces each marker in `data` by its value, left to right; markers
/// are never looked for inside a value already put in.
pub fn substitute(data: &[u8], markers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut rest = data;
    'scan: while let Some((&first, tail)) = rest.split_first() {
        for (marker, value) in markers {
            if let Some(after) = rest.strip_prefix(marker.as_bytes()) {
                out.extend_from_slice(value.as_bytes());
                rest = after;
                continue 'scan;
            }
        }
        out.push(first);
        rest = tail;
    }
    out
}

/// A connector and the runtime it runs on, kept for a whole fuzzing run:
/// starting a flow is cheap, building a runtime for every input is not.
pub struct Harness {
    pub runtime: tokio::runtime::Runtime,
    pub connector: Connector,
    options: ConnectOptions,
    /// The flow started last: when it gives up (which tells it from
    /// another in the status) and its callback URL.
    flow: Mutex<Option<(u64, String)>>,
}

impl Harness {
    /// Flows started with `options`. Nothing answers the exchange (the
    /// discard port on loopback refuses connections), so a code the flow
    /// takes ends it at once with a network failure: no input can get a
    /// key, and none needs to.
    pub fn new(config: FlowConfig, options: ConnectOptions) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let client_config =
            ClientConfig::with_base("http://127.0.0.1:9", Attribution::default()).unwrap();
        let connector = Connector::builder(client_config)
            .flow_config(config)
            .build()
            .unwrap();
        Self {
            runtime,
            connector,
            options,
            flow: Mutex::new(None),
        }
    }

    /// The callback URL of the waiting flow, after starting a new flow if
    /// the last input ended the previous one.
    pub fn waiting_flow(&self) -> String {
        if let Some(callback_url) = self.awaiting() {
            return callback_url;
        }
        self.connector.dismiss();
        let status = self
            .runtime
            .block_on(self.connector.connect(self.options.clone()))
            .expect("a flow starts");
        let FlowState::AwaitingCallback { expires_at_ms, .. } = status.state else {
            panic!("no flow waits after connect: {:?}", status.state);
        };
        let browser_url = self.connector.browser_url().expect("a flow waits");
        let consent = url::Url::parse(&consent_url(&browser_url)).expect("a consent URL");
        let callback_url = consent
            .query_pairs()
            .find(|(name, _)| name == "callback_url")
            .expect("the consent URL names the way back")
            .1
            .into_owned();
        *self.flow.lock().unwrap() = Some((expires_at_ms, callback_url.clone()));
        callback_url
    }

    /// The callback URL of the flow waiting now, if one does and it is
    /// the one started last.
    pub fn awaiting(&self) -> Option<String> {
        let FlowState::AwaitingCallback { expires_at_ms, .. } = self.connector.status().state
        else {
            return None;
        };
        self.flow
            .lock()
            .unwrap()
            .clone()
            .filter(|(started, _)| *started == expires_at_ms)
            .map(|(_, callback_url)| callback_url)
    }

    /// Waits until the flow has ended (neither waiting nor exchanging)
    /// and returns its final state, or `None` if it has not within
    /// `limit`. An accepted answer ends the flow a moment after the
    /// answer, when its listener is closed.
    pub fn wait_for_end(&self, limit: Duration) -> Option<FlowState> {
        let mut changes = self.connector.subscribe();
        self.runtime.block_on(async {
            let ended = tokio::time::timeout(
                limit,
                changes.wait_for(|status| {
                    !matches!(
                        status.state,
                        FlowState::AwaitingCallback { .. } | FlowState::Exchanging
                    )
                }),
            )
            .await;
            match ended {
                Ok(Ok(status)) => Some(status.state.clone()),
                _ => None,
            }
        })
    }
}

/// The consent URL `browser_url` opens: where a launch address
/// (`http://127.0.0.1:<port>/start/<nonce>`) redirects, read from its
/// answer (the address is used up), or `browser_url` itself for a flow
/// that listens nowhere.
fn consent_url(browser_url: &str) -> String {
    let url = url::Url::parse(browser_url).expect("the browser URL is a URL");
    if !url.path().starts_with("/start/") {
        return browser_url.to_owned();
    }
    let port = url.port().expect("a launch address names its port");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the listener");
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n",
        url.path()
    )
    .expect("the request is sent");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("the answer is read");
    answer
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("a launch address redirects: {answer:?}"))
}

/// The path of a flow's callback URL (`/callback/<secret>`) and the
/// secret, its last segment.
pub fn path_and_secret(callback_url: &str) -> (String, String) {
    let url = url::Url::parse(callback_url).expect("the flow's callback URL is a URL");
    let path = url.path().to_owned();
    let secret = path
        .strip_prefix("/callback/")
        .expect("the flow's path is /callback/<secret>")
        .to_owned();
    assert_eq!(secret.len(), 43, "a 256-bit base64url secret");
    (path, secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_replaced_and_nothing_else() {
        let markers = [("@PATH@", "/callback/s"), ("@HOST@", "127.0.0.1:1")];
        assert_eq!(
            substitute(b"GET @PATH@?x HTTP/1.1\r\nHost: @HOST@\r\n@PAT@", &markers),
            b"GET /callback/s?x HTTP/1.1\r\nHost: 127.0.0.1:1\r\n@PAT@"
        );
        assert_eq!(substitute(b"@@PATH@@", &markers), b"@/callback/s@");
        assert_eq!(substitute(b"\xff@PATH@", &markers), b"\xff/callback/s");
        assert_eq!(substitute(b"", &markers), b"");
    }
}
