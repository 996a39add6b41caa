//! A flood of wrong requests of every kind, from several clients at once,
//! while a flow waits: every one is turned away with a 4xx answer (or, for
//! a client that never finishes its request, a timeout), the listener's
//! connections and the process's memory stay bounded, and the real answer
//! still connects afterwards. The figures are printed, not asserted
//! against a clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::*;
use fake_openrouter::Browser;
use openrouter_connect_core::{ConnectOptions, FlowConfig, FlowState, KeyStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLIENTS: usize = 8;
const REQUESTS_PER_CLIENT: usize = 150;

/// The wrong requests, by kind; `None` means the client sends its bytes
/// slowly, one at a time, and never finishes.
fn wrong_request(kind: usize, port: u16, path: &str, code: &str) -> Option<Vec<u8>> {
    let host = format!("Host: 127.0.0.1:{port}\r\n");
    let request = match kind % 10 {
        0 => format!("GET /{} HTTP/1.1\r\n{host}\r\n", kind * 7919).into_bytes(),
        1 => format!(
            "GET {path} HTTP/1.1\r\n{host}X-Big: {}\r\n\r\n",
            "a".repeat(20_000)
        )
        .into_bytes(),
        2 => format!(
            "GET {path}?code={code}&pad={} HTTP/1.1\r\n{host}\r\n",
            "s".repeat(30_000)
        )
        .into_bytes(),
        3 => {
            let mut bytes = format!("GET {path}?code=").into_bytes();
            bytes.extend_from_slice(b"\xff\xfe&error=\xc3\x28 HTTP/1.1\r\n");
            bytes.extend_from_slice(host.as_bytes());
            bytes.extend_from_slice(b"\r\n");
            bytes
        }
        4 => match kind % 3 {
            // The answer, or a denial, anywhere but at the flow's secret.
            0 => format!("GET /callback?code={code} HTTP/1.1\r\n{host}\r\n"),
            1 => format!("GET /callback/wrong-{kind}?error=access_denied HTTP/1.1\r\n{host}\r\n"),
            _ => format!("GET /callback?error=access_denied HTTP/1.1\r\n{host}\r\n"),
        }
        .into_bytes(),
        5 => format!("POST {path}?code={code} HTTP/1.1\r\n{host}Content-Length: 4\r\n\r\nbody")
            .into_bytes(),
        6 => format!("DELETE {path} HTTP/1.1\r\n{host}\r\n").into_bytes(),
        7 => format!("HEAD {path}?code={code} HTTP/1.1\r\n{host}\r\n").into_bytes(),
        8 => b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n".to_vec(),
        _ => return None,
    };
    Some(request)
}

/// Sends one wrong request; returns its status, or `None` when the
/// connection closed without one.
async fn send(port: u16, request: Option<Vec<u8>>) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    match request {
        Some(bytes) => {
            let _ = stream.write_all(&bytes).await;
        }
        None => {
            // A byte every 100 ms of a request that never ends.
            for byte in b"GET /callback?code=slow HTTP/1.1\r\nHost: x\r\n" {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                if stream.peek(&mut [0u8; 1]).await.is_ok_and(|n| n > 0) {
                    break;
                }
            }
        }
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Established sockets whose local port is `port`: the listener's side of
/// every connection, accepted or waiting in the kernel's queue.
fn established_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port_hex = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&port_hex) && fields[3] == "01"
        })
        .count()
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wrong_requests_leaves_the_flow_able_to_connect() {
    let mut config = FlowConfig::default();
    config.loopback.header_timeout = Duration::from_millis(300);
    let Setup {
        fake,
        store,
        connector,
    } = setup_with(config).await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let port = callback_port(&connector);
    let redirect = approved_redirect(&connector).await;
    let code = query_value(&redirect, "code");
    let path = callback_path(&connector).await;
    let memory_before = resident_kib();

    let flooding = Arc::new(AtomicBool::new(true));
    let most_sockets = Arc::new(AtomicUsize::new(0));
    let monitor = tokio::spawn({
        let flooding = flooding.clone();
        let most_sockets = most_sockets.clone();
        async move {
            while flooding.load(Ordering::Relaxed) {
                most_sockets.fetch_max(established_on(port), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let code = code.clone();
        let path = path.clone();
        clients.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..REQUESTS_PER_CLIENT {
                let kind = client * REQUESTS_PER_CLIENT + n;
                statuses.push(send(port, wrong_request(kind, port, &path, &code)).await);
            }
            statuses
        }));
    }
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for client in clients {
        for status in client.await.expect("a client task panicked") {
            let key = status.map_or("closed".to_owned(), |s| s.to_string());
            *by_status.entry(key).or_default() += 1;
        }
    }
    flooding.store(false, Ordering::Relaxed);
    monitor.await.unwrap();
    let memory_after = resident_kib();
    let sent: usize = by_status.values().sum();
    println!(
        "flood: {sent} requests from {CLIENTS} clients; answers {by_status:?}; \
         at most {} connections on the listener's port; resident memory {memory_before} KiB before, {memory_after} KiB after",
        most_sockets.load(Ordering::Relaxed)
    );

    assert_eq!(sent, CLIENTS * REQUESTS_PER_CLIENT);
    for (status, count) in &by_status {
        let ok = status.starts_with('4') || status == "closed";
        assert!(ok, "{count} requests got {status}");
    }
    assert!(
        by_status.get("closed").copied().unwrap_or(0) <= sent / 10,
        "only the never-ending requests may go unanswered: {by_status:?}"
    );
    assert!(
        most_sockets.load(Ordering::Relaxed) <= 2 * CLIENTS + 2,
        "connections piled up on the listener"
    );
    assert!(
        memory_after.saturating_sub(memory_before) < 64 * 1024,
        "memory grew by more than 64 MiB"
    );
    assert!(matches!(
        connector.status().state,
        FlowState::AwaitingCallback { .. }
    ));
    assert_eq!(
        fake.exchange_count(),
        0,
        "no wrong request reached the exchange"
    );

    let page = Browser::new().visit(&redirect).await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
    assert_eq!(
        store.load().unwrap().unwrap().key.expose_secret(),
        fake.issued_keys()[0].key
    );
}
