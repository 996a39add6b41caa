//! The connector as a program puts it together: the builder and the
//! store's one read, the caller's HTTP settings under the client's own
//! rules, calls made outside Tokio, and a `connect_and_wait` whose future
//! is dropped.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use openrouter_connect_core::reqwest;
use openrouter_connect_core::{
    ApiKey, Attribution, ClientConfig, ConnectOptions, Connector, Error, FlowState, KeyStore,
    MemoryStore, StoredKey,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::*;

/// A [`MemoryStore`] that counts its reads.
#[derive(Default)]
struct CountingStore {
    inner: MemoryStore,
    loads: AtomicUsize,
}

impl KeyStore for CountingStore {
    fn load(&self) -> Result<Option<StoredKey>, Error> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load()
    }
    fn save(&self, record: &StoredKey) -> Result<(), Error> {
        self.inner.save(record)
    }
    fn clear(&self) -> Result<(), Error> {
        self.inner.clear()
    }
}

#[test]
fn the_builder_reads_the_store_once_and_the_status_has_its_key() {
    let store = Arc::new(CountingStore::default());
    let record = StoredKey::new(ApiKey::new("sk-or-v1-0123456789abcdef"), None, None, None);
    store.save(&record).unwrap();

    let connector = Connector::builder(ClientConfig::new(Attribution::new("Builder test")))
        .store(store.clone())
        .build()
        .unwrap();
    assert_eq!(store.loads.load(Ordering::SeqCst), 1);
    let status = connector.status();
    assert_eq!(status.state, FlowState::Connected);
    assert_eq!(status.key, Some(record.meta));
    assert_eq!(
        store.loads.load(Ordering::SeqCst),
        1,
        "status reads no store"
    );
}

#[test]
fn an_attribution_that_is_no_header_fails_the_build() {
    let config = ClientConfig::new(Attribution::new("two\nlines"));
    assert_eq!(
        Connector::builder(config).build().unwrap_err(),
        Error::InvalidAttribution
    );
}

/// Polls `future` once, with no runtime around it, and tells whether it
/// failed at once for want of one.
fn refused_outside_tokio<T>(future: impl Future<Output = Result<T, Error>>) -> bool {
    let mut context = Context::from_waker(Waker::noop());
    matches!(
        pin!(future).poll(&mut context),
        Poll::Ready(Err(Error::NoTokioRuntime))
    )
}

#[test]
fn outside_a_tokio_runtime_the_async_methods_fail_instead_of_panicking() {
    let store = Arc::new(MemoryStore::new());
    let record = StoredKey::new(ApiKey::new("sk-or-v1-0123456789abcdef"), None, None, None);
    store.save(&record).unwrap();
    let connector = Connector::builder(ClientConfig::new(Attribution::new("No runtime")))
        .store(store)
        .build()
        .unwrap();

    assert!(refused_outside_tokio(
        connector.connect(ConnectOptions::default())
    ));
    assert!(refused_outside_tokio(
        connector.connect_and_wait(ConnectOptions::default(), |_| panic!("no page to open"))
    ));
    assert!(refused_outside_tokio(connector.reload()));
    assert!(refused_outside_tokio(connector.disconnect()));
    assert!(refused_outside_tokio(connector.key_info()));
    assert!(refused_outside_tokio(connector.models()));
    // Nothing changed: still connected, with the key stored.
    let status = connector.status();
    assert_eq!(status.state, FlowState::Connected);
    assert_eq!(status.key, Some(record.meta));
}

#[tokio::test]
async fn dropping_connect_and_wait_cancels_the_flow_and_closes_the_listener() {
    let Setup {
        fake: _fake,
        connector,
        ..
    } = setup().await;
    let mut changes = connector.subscribe();
    let port = tokio::select! {
        _ = connector.connect_and_wait(ConnectOptions::default(), |_| {}) => {
            panic!("the flow ended with no answer")
        }
        // The status stays borrowed from the channel while the other
        // future is dropped: the drop must not wait on it.
        waiting = changes.wait_for(|s| matches!(s.state, FlowState::AwaitingCallback { .. })) => {
            let _waiting = waiting.unwrap();
            callback_port(&connector)
        }
    };
    // The future is dropped here, the flow still waiting (its deadline is
    // 15 minutes away).
    let mut closed = false;
    for _ in 0..500 {
        if port_is_closed(port).await {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed, "the listener on port {port} is still open");
    assert_eq!(settled(&connector).await.state, FlowState::Disconnected);
}

/// A `connect_and_wait` that found a flow already waiting (the page
/// started it) and is then dropped leaves that flow to its starter: the
/// user's approval still connects it.
#[tokio::test]
async fn dropping_a_connect_and_wait_that_joined_a_flow_leaves_the_flow_waiting() {
    let Setup {
        fake: _fake,
        connector,
        ..
    } = setup().await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let mut changes = connector.subscribe();
    tokio::select! {
        biased;
        _ = connector.connect_and_wait(ConnectOptions::default(), |_| {}) => {
            panic!("the flow ended with no answer")
        }
        // The joined call is waiting on the status too by now: it was
        // polled first, and ran up to its wait.
        _ = changes.changed() => panic!("nothing changed the status"),
        () = tokio::task::yield_now() => {}
    }
    fake_openrouter::Browser::new()
        .approve(&browser_url(&connector))
        .await
        .expect("the flow still takes its answer");
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
}

/// A server that answers every request with a redirect to `/elsewhere`
/// on itself, and keeps each request's head.
async fn redirecting_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    let location = format!("{base}/elsewhere");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buffer = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&head).to_ascii_lowercase());
            let answer = format!(
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(answer.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    (base, heads)
}

#[tokio::test]
async fn the_callers_http_settings_apply_and_redirects_are_still_not_followed() {
    let (base, heads) = redirecting_server().await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-company-gateway", "team-42".parse().unwrap());
    // The caller even asks for redirects: the client's rule wins.
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::limited(10));
    let connector = Connector::builder(ClientConfig::with_base(&base, attribution()).unwrap())
        .http(http)
        .build()
        .unwrap();

    assert_eq!(
        connector.models().await.unwrap_err(),
        Error::UnexpectedStatus { status: 302 }
    );
    let heads = heads.lock().unwrap().clone();
    assert_eq!(
        heads.len(),
        1,
        "one request, the redirect not followed: {heads:?}"
    );
    let head = &heads[0];
    assert!(head.starts_with("get /api/v1/models "), "{head}");
    assert!(
        head.contains("\r\nx-company-gateway: team-42\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "\r\nx-openrouter-title: {}\r\n",
            APP_TITLE.to_ascii_lowercase()
        )),
        "the attribution is still sent: {head}"
    );
    assert!(
        head.contains("\r\nuser-agent: openrouter-connect/"),
        "{head}"
    );
}
