//! The connect flow end to end through the core, against the fake
//! OpenRouter over real HTTP on loopback, with a scripted browser.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use fake_openrouter::{Browser, Decision, Endpoint, Fault};
use openrouter_connect_core::{
    ApiCall, ApiKey, CallbackMode, ConnectOptions, Connector, Error, FlowConfig, FlowState,
    KeyStore, MemoryStore, StoredKey,
};

#[tokio::test]
async fn approve_stores_the_issued_key_and_closes_the_port() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    assert_eq!(connector.status().state, FlowState::Disconnected);

    let options = ConnectOptions::default()
        .key_label("Tests on host")
        .limit_usd(5.0);
    connector.connect(options).await.unwrap();
    let consent_url = consent_url(&connector).await;
    assert!(
        consent_url.starts_with(&format!("{}/auth?", fake.url())),
        "{consent_url}"
    );
    let port = callback_port(&connector);

    let page = Browser::new()
        .approve(&browser_url(&connector))
        .await
        .unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Connected to OpenRouter"),
        "{}",
        page.body
    );
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert_eq!(page.headers["cache-control"], "no-store");

    let status = settled(&connector).await;
    assert_eq!(status.state, FlowState::Connected);
    let issued = fake.issued_keys();
    assert_eq!(issued.len(), 1);
    let stored = store.load().unwrap().expect("a key is stored");
    assert_eq!(stored.key.expose_secret(), issued[0].key);
    let meta = status.key.expect("the status describes the key");
    assert_eq!(meta, stored.meta);
    assert_eq!(meta.masked, stored.key.masked());
    assert_eq!(meta.label.as_deref(), Some("Tests on host"));
    assert_eq!(meta.limit, Some(5.0));
    assert_eq!(meta.user_id.as_deref(), Some(issued[0].user_id.as_str()));
    assert_eq!(issued[0].label, "Tests on host");
    assert_eq!(issued[0].limit, Some(5.0));
    assert!(port_is_closed(port).await, "the listener is gone");

    let info = connector.key_info().await.unwrap();
    assert_eq!(info.label.as_deref(), Some("Tests on host"));
    assert_eq!(info.limit, Some(5.0));
}

#[tokio::test]
async fn deny_fails_with_a_denial_and_keeps_nothing() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let port = callback_port(&connector);

    let page = Browser::new().deny(&browser_url(&connector)).await.unwrap();
    assert!(page.body.contains("Not connected"), "{}", page.body);
    assert!(
        page.body.contains("Access was not granted"),
        "{}",
        page.body
    );

    let status = settled(&connector).await;
    assert_eq!(error_code(&status), "denied");
    assert!(status.key.is_none());
    assert!(store.load().unwrap().is_none());
    assert_eq!(fake.exchange_count(), 0);
    assert!(port_is_closed(port).await);

    // A retry starts a fresh flow.
    connector.connect(ConnectOptions::default()).await.unwrap();
    Browser::new()
        .approve(&browser_url(&connector))
        .await
        .unwrap();
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
}

#[tokio::test]
async fn an_expired_code_fails_with_its_own_message() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let browser = Browser::new();
    let redirect = browser
        .consent(&browser_url(&connector), Decision::Approve)
        .await
        .unwrap();
    fake.advance_clock(Duration::from_secs(11 * 60));
    let page = browser.visit(&redirect).await.unwrap();
    assert!(page.body.contains("expired"), "{}", page.body);
    let status = settled(&connector).await;
    assert_eq!(error_code(&status), "code-expired");
    assert!(store.load().unwrap().is_none());
}

#[tokio::test]
async fn a_callback_delivered_twice_is_exchanged_once() {
    let Setup {
        fake, connector, ..
    } = setup().await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let port = callback_port(&connector);
    let browser = Browser::new();
    let redirect = browser
        .consent(&browser_url(&connector), Decision::Approve)
        .await
        .unwrap();
    // The page is slow to answer while the exchange runs: hold it there so
    // the second delivery arrives while the listener still exists.
    fake.set_fault(Endpoint::Exchange, Fault::Delay(Duration::from_millis(500)));
    let first = tokio::spawn({
        let browser = Browser::new();
        let redirect = redirect.clone();
        async move { browser.visit(&redirect).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let second = browser.visit(&redirect).await.unwrap();
    assert_eq!(second.status, 409, "{}", second.body);
    assert_eq!(first.await.unwrap().status, 200);
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
    assert_eq!(fake.exchange_count(), 1);
    assert!(port_is_closed(port).await);
}

#[tokio::test]
async fn cancel_returns_to_disconnected_and_closes_the_port() {
    let Setup {
        fake, connector, ..
    } = setup().await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let port = callback_port(&connector);
    let redirect = approved_redirect(&connector).await;

    connector.cancel().await.unwrap();
    assert_eq!(connector.status().state, FlowState::Disconnected);
    assert!(port_is_closed(port).await);
    assert!(
        Browser::new().visit(&redirect).await.is_err(),
        "nobody answers"
    );
    assert_eq!(fake.exchange_count(), 0);
    assert_eq!(connector.cancel().await, Err(Error::NoFlow));
}

#[tokio::test]
async fn the_deadline_ends_a_flow_nobody_answers() {
    let mut config = FlowConfig::default();
    config.deadline = Duration::from_millis(300);
    let Setup { connector, .. } = setup_with(config).await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let port = callback_port(&connector);
    let status = settled(&connector).await;
    assert_eq!(error_code(&status), "timed-out");
    assert!(port_is_closed(port).await);
}

#[tokio::test]
async fn the_default_deadline_is_fifteen_minutes() {
    let Setup { connector, .. } = setup().await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let status = connector.connect(ConnectOptions::default()).await.unwrap();
    let FlowState::AwaitingCallback { expires_at_ms, .. } = status.state else {
        panic!("not waiting");
    };
    let minutes = (expires_at_ms - before) as f64 / 60_000.0;
    assert!((14.9..=15.1).contains(&minutes), "{minutes}");
    connector.cancel().await.unwrap();
}

#[tokio::test]
async fn two_connects_at_once_make_one_flow() {
    let Setup {
        fake: _fake,
        connector,
        ..
    } = setup().await;
    let (a, b) = tokio::join!(
        connector.connect(ConnectOptions::default()),
        connector.connect(ConnectOptions::default())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    let consent = consent_url(&connector).await;
    // A third, later, finds the same flow too.
    let c = connector.connect(ConnectOptions::default()).await.unwrap();
    assert_eq!(a, c);
    assert_eq!(consent_url(&connector).await, consent);

    Browser::new()
        .approve(&browser_url(&connector))
        .await
        .unwrap();
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
}

#[tokio::test]
async fn a_failed_reconnect_keeps_the_old_key() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    let first = connect_and_approve(&connector)
        .await
        .key
        .expect("connected");
    let old_key = store.load().unwrap().unwrap().key;

    fake.set_fault(Endpoint::Exchange, Fault::Status(500));
    let status = connector.connect(ConnectOptions::default()).await.unwrap();
    assert_eq!(
        status.key.as_ref(),
        Some(&first),
        "the old key shows while waiting"
    );
    let page = Browser::new()
        .approve(&browser_url(&connector))
        .await
        .unwrap();
    assert!(page.body.contains("problem on its side"), "{}", page.body);

    let status = settled(&connector).await;
    assert_eq!(error_code(&status), "service-error");
    assert_eq!(status.key.as_ref(), Some(&first));
    assert_eq!(store.load().unwrap().unwrap().key, old_key);
    let back = connector.dismiss();
    assert_eq!(
        back.state,
        FlowState::Connected,
        "dismissing returns to the stored key"
    );
    assert_eq!(back.key.as_ref(), Some(&first));
    fake.clear_fault(Endpoint::Exchange);
    let reply = connector.call(&say("Say hi")).await.unwrap();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        fake_openrouter::CHAT_REPLY
    );
}

#[tokio::test]
async fn openrouter_down_during_the_exchange_keeps_the_old_key() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    let first = connect_and_approve(&connector)
        .await
        .key
        .expect("connected");
    connector.connect(ConnectOptions::default()).await.unwrap();
    let redirect = approved_redirect(&connector).await;
    drop(fake);

    let page = Browser::new().visit(&redirect).await.unwrap();
    assert!(
        page.body.contains("Can&#39;t reach OpenRouter"),
        "{}",
        page.body
    );
    let status = settled(&connector).await;
    assert_eq!(error_code(&status), "connection-refused");
    assert_eq!(status.key.as_ref(), Some(&first));
    assert_eq!(store.load().unwrap().unwrap().meta, first);
}

/// A store whose saves fail, as a full disk or a locked keychain would.
#[derive(Default)]
struct RefusingStore {
    inner: MemoryStore,
}

impl KeyStore for RefusingStore {
    fn load(&self) -> Result<Option<StoredKey>, Error> {
        self.inner.load()
    }
    fn save(&self, _: &StoredKey) -> Result<(), Error> {
        Err(Error::storage("the disk is full"))
    }
    fn clear(&self) -> Result<(), Error> {
        self.inner.clear()
    }
}

#[tokio::test]
async fn a_failed_save_is_a_failure_not_a_connection() {
    let fake = fake_openrouter::FakeOpenRouter::start().await;
    let store = Arc::new(RefusingStore::default());
    let connector = with_store(&fake, store.clone(), FlowConfig::default());
    connector.connect(ConnectOptions::default()).await.unwrap();
    let page = Browser::new()
        .approve(&browser_url(&connector))
        .await
        .unwrap();
    assert!(page.body.contains("Not connected"), "{}", page.body);
    let status = settled(&connector).await;
    assert_eq!(error_code(&status), "storage");
    assert!(status.key.is_none());
}

/// A store behind a keychain that can be locked: nothing can be read or
/// written while it is.
#[derive(Default)]
struct LockableStore {
    inner: MemoryStore,
    locked: std::sync::atomic::AtomicBool,
}

impl LockableStore {
    fn lock(&self, locked: bool) {
        self.locked
            .store(locked, std::sync::atomic::Ordering::SeqCst);
    }
    fn check(&self) -> Result<(), Error> {
        if self.locked.load(std::sync::atomic::Ordering::SeqCst) {
            Err(Error::keychain("it is locked"))
        } else {
            Ok(())
        }
    }
}

impl KeyStore for LockableStore {
    fn load(&self) -> Result<Option<StoredKey>, Error> {
        self.check()?;
        self.inner.load()
    }
    fn save(&self, record: &StoredKey) -> Result<(), Error> {
        self.check()?;
        self.inner.save(record)
    }
    fn clear(&self) -> Result<(), Error> {
        self.check()?;
        self.inner.clear()
    }
    fn prepare_save(&self) -> Result<(), Error> {
        self.check()
    }
}

#[tokio::test]
async fn a_locked_store_starts_no_flow_and_a_reload_finds_the_key_again() {
    let fake = fake_openrouter::FakeOpenRouter::start().await;
    let store = Arc::new(LockableStore::default());
    let connector = with_store(&fake, store.clone(), FlowConfig::default());
    let first = connect_and_approve(&connector).await.key.unwrap();

    store.lock(true);
    let error = connector
        .connect(ConnectOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "keychain");
    let status = connector.status();
    assert_eq!(error_code(&status), "keychain");
    assert_eq!(
        status.key.as_ref(),
        Some(&first),
        "the stored key is still named"
    );

    // Still locked: the reload says so and changes nothing.
    assert_eq!(connector.reload().await.unwrap_err().code(), "keychain");
    store.lock(false);
    let status = connector.reload().await.unwrap();
    assert_eq!(status.state, FlowState::Connected);
    assert_eq!(status.key, Some(first));
}

#[tokio::test]
async fn disconnect_forgets_the_key_and_names_its_revoke_page() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    connect_and_approve(&connector).await;
    let key = store.load().unwrap().unwrap().key;

    let forgotten = connector
        .disconnect()
        .await
        .unwrap()
        .expect("a key was stored");
    assert_eq!(forgotten.key_sha256, key.sha256_hex());
    assert_eq!(connector.status().state, FlowState::Disconnected);
    assert!(store.load().unwrap().is_none());
    assert_eq!(connector.key_info().await.unwrap_err(), Error::NotConnected);
    assert_eq!(fake.issued_keys().len(), 1);
}

#[tokio::test]
async fn disconnect_while_waiting_ends_the_flow() {
    let Setup { connector, .. } = setup().await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let port = callback_port(&connector);
    assert_eq!(connector.disconnect().await.unwrap(), None);
    assert_eq!(connector.status().state, FlowState::Disconnected);
    assert!(port_is_closed(port).await);
}

#[tokio::test]
async fn a_revoked_key_is_reported_as_no_longer_valid() {
    let Setup {
        fake, connector, ..
    } = setup().await;
    connect_and_approve(&connector).await;
    fake.revoke_all_keys();
    assert_eq!(connector.key_info().await.unwrap_err(), Error::KeyInvalid);
    assert_eq!(
        connector.call(&say("hi")).await.unwrap_err(),
        Error::KeyInvalid
    );
    assert_eq!(
        connector.status().state,
        FlowState::Connected,
        "the key is kept"
    );
}

#[tokio::test]
async fn a_preferred_port_is_used_when_free_and_replaced_when_busy() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let free_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };

    for (preferred, expect_same) in [(free_port, true), (busy_port, false)] {
        let mut config = FlowConfig::default();
        config.loopback.preferred_port = Some(preferred);
        let Setup { connector, .. } = setup_with(config).await;
        connector.connect(ConnectOptions::default()).await.unwrap();
        let port = callback_port(&connector);
        assert_eq!(
            port == preferred,
            expect_same,
            "preferred {preferred}, got {port}"
        );
        let callback = callback_url(&connector).await;
        let secret = callback
            .strip_prefix(&format!("http://127.0.0.1:{port}/callback/"))
            .unwrap_or_else(|| panic!("{callback}"));
        assert_eq!(secret.len(), 43, "{callback}");
        connector.cancel().await.unwrap();
    }
    drop(busy);
}

#[tokio::test]
async fn invalid_options_are_refused_before_anything_listens() {
    let Setup { connector, .. } = setup().await;
    let error = connector
        .connect(ConnectOptions::default().limit_usd(-5.0))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid-option");
    assert_eq!(connector.status().state, FlowState::Disconnected);
}

#[tokio::test]
async fn every_exchange_fault_keeps_the_stored_key() {
    let fake = fake_openrouter::FakeOpenRouter::start().await;
    let mut client_config =
        openrouter_connect_core::ClientConfig::with_base(&fake.url(), attribution()).unwrap();
    client_config.request_timeout = Duration::from_millis(500);
    let store = Arc::new(MemoryStore::new());
    let connector = Connector::builder(client_config)
        .store(store.clone())
        .build()
        .unwrap();
    let first = connect_and_approve(&connector)
        .await
        .key
        .expect("connected");
    let old_key = store.load().unwrap().unwrap().key;

    let faults = [
        (Fault::Status(400), "challenge-method-rejected"),
        (Fault::Status(403), "invalid-code"),
        (Fault::Status(405), "method-not-allowed"),
        (Fault::Status(429), "rate-limited"),
        (Fault::Status(404), "unexpected-status"),
        (Fault::Status(500), "service-error"),
        (Fault::Status(503), "service-error"),
        (Fault::MalformedBody, "malformed-response"),
        (
            Fault::Body {
                status: 200,
                body: format!("{{\"key\": \"{}\"}}", "k".repeat(2 << 20)),
            },
            "response-too-large",
        ),
        (Fault::Delay(Duration::from_secs(3)), "timeout"),
        (Fault::Drop, "unreachable"),
    ];
    for (fault, code) in faults {
        fake.set_fault(Endpoint::Exchange, fault.clone());
        let status = connect_and_approve(&connector).await;
        assert_eq!(error_code(&status), code, "{fault:?}");
        assert_eq!(status.key.as_ref(), Some(&first), "{fault:?}");
        assert_eq!(store.load().unwrap().unwrap().key, old_key, "{fault:?}");
    }
    fake.clear_fault(Endpoint::Exchange);
    assert_eq!(fake.issued_keys().len(), 1);
}

#[tokio::test]
async fn a_pasted_code_connects_and_text_that_is_not_a_code_is_refused() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    connector
        .connect(ConnectOptions::new(CallbackMode::Paste))
        .await
        .unwrap();
    let url = browser_url(&connector);
    assert!(!url.contains("callback_url"), "{url}");
    assert!(!url.contains("state="), "{url}");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let code = Browser::new().approve_headless(&url).await.unwrap();

    for not_a_code in ["", "   ", "https://openrouter.ai/?code=abc", "two words"] {
        let error = connector.submit_code(not_a_code).unwrap_err();
        assert_eq!(error.code(), "pasted-code-invalid", "{not_a_code:?}");
    }
    assert!(matches!(
        connector.status().state,
        FlowState::AwaitingCallback { .. }
    ));
    assert_eq!(fake.exchange_count(), 0);

    // What a copy from a web page brings along: white space around it.
    connector.submit_code(&format!("  {code}\n")).unwrap();
    let status = settled(&connector).await;
    assert_eq!(status.state, FlowState::Connected);
    let issued = fake.issued_keys();
    assert_eq!(issued.len(), 1);
    assert_eq!(
        store.load().unwrap().unwrap().key.expose_secret(),
        issued[0].key
    );
    // A second paste finds no flow.
    assert_eq!(connector.submit_code(&code).unwrap_err(), Error::NoFlow);
}

#[tokio::test]
async fn a_pasted_code_needs_a_paste_flow() {
    let Setup {
        fake: _fake,
        connector,
        ..
    } = setup().await;
    assert_eq!(connector.submit_code("abc").unwrap_err(), Error::NoFlow);
    connector.connect(ConnectOptions::default()).await.unwrap();
    assert_eq!(connector.submit_code("abc").unwrap_err(), Error::NoFlow);
    connector.cancel().await.unwrap();
}

/// Disconnect while the browser's answer is being exchanged: the
/// exchange ends first, and Disconnect wins. The key OpenRouter made is
/// not kept, and its description comes back so that its revoke page can
/// be offered.
#[tokio::test]
async fn disconnect_during_the_exchange_wins_and_names_the_new_key() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    fake.set_fault(Endpoint::Exchange, Fault::Delay(Duration::from_millis(500)));
    connector.connect(ConnectOptions::default()).await.unwrap();
    let redirect = approved_redirect(&connector).await;
    let answer = tokio::spawn(async move { Browser::new().visit(&redirect).await });
    let mut changes = connector.subscribe();
    changes
        .wait_for(|s| s.state == FlowState::Exchanging)
        .await
        .unwrap();

    let forgotten = connector.disconnect().await.unwrap();
    let issued = fake.issued_keys();
    assert_eq!(issued.len(), 1, "OpenRouter made the key");
    let forgotten = forgotten.expect("the new key is named, for its revoke page");
    assert_eq!(
        forgotten.key_sha256,
        openrouter_connect_core::ApiKey::new(issued[0].key.clone()).sha256_hex()
    );
    assert!(store.load().unwrap().is_none(), "nothing is kept");
    let status = connector.status();
    assert_eq!(status.state, FlowState::Disconnected);
    assert!(status.key.is_none());
    answer.await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(connector.status().state, FlowState::Disconnected);
}

/// Runs `connect_and_wait` while `act` does what the user does with the
/// consent page's URL; both within seconds, or the test fails.
async fn connect_and_wait_while<F: std::future::Future<Output = ()>>(
    connector: &Connector,
    act: impl FnOnce(String) -> F,
) -> Result<openrouter_connect_core::KeyMeta, Error> {
    let (opened, url) = tokio::sync::oneshot::channel();
    let waiting = connector.connect_and_wait(ConnectOptions::default(), move |url| {
        let _ = opened.send(url.to_owned());
    });
    let user = async move { act(url.await.expect("the URL was given")).await };
    let both = async { tokio::join!(waiting, user).0 };
    tokio::time::timeout(Duration::from_secs(20), both)
        .await
        .expect("connect_and_wait ends")
}

#[tokio::test]
async fn connect_and_wait_returns_the_new_key_or_the_reason() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    let first = connect_and_wait_while(&connector, |url| async move {
        Browser::new().approve(&url).await.unwrap();
    })
    .await
    .unwrap();
    let issued = ApiKey::new(fake.issued_keys()[0].key.as_str());
    assert_eq!(first.key_sha256, issued.sha256_hex());
    assert_eq!(store.load().unwrap().unwrap().meta, first);

    // A denied reconnect says why and keeps the first key.
    let error = connect_and_wait_while(&connector, |url| async move {
        Browser::new().deny(&url).await.unwrap();
    })
    .await
    .unwrap_err();
    assert_eq!(error.code(), "denied");
    assert_eq!(connector.status().key, Some(first.clone()));

    // A cancelled reconnect ends connected with the first key: not a new
    // connection.
    let error = connect_and_wait_while(&connector, |_| async {
        connector.cancel().await.unwrap();
    })
    .await
    .unwrap_err();
    assert_eq!(error, Error::Cancelled);
    assert_eq!(connector.status().key, Some(first));
}

/// A one-message chat request with the stored key.
fn say(prompt: &str) -> ApiCall {
    ApiCall::post(
        "chat/completions",
        serde_json::json!({
            "model": "openrouter/auto",
            "messages": [{"role": "user", "content": prompt}],
        }),
    )
}
