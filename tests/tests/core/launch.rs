//! Launch addresses: the browser is opened on
//! `http://127.0.0.1:<port>/start/<nonce>`, which holds neither the
//! callback secret nor the challenge (a browser's command line is read by
//! other users), leads on to the consent page once, and ends the flow
//! when opened again. The status holds no URL at all.

use std::time::Duration;

use crate::common::*;
use fake_openrouter::{Browser, Endpoint, Fault};
use openrouter_connect_core::{CallbackMode, ConnectOptions, FlowState, KeyStore};

/// The flow's secrets a launch address must not hold: the callback
/// secret and the challenge, read from the consent URL.
fn consent_secrets(consent_url: &str) -> [String; 2] {
    let callback = query_value(consent_url, "callback_url");
    let secret = callback.rsplit('/').next().unwrap().to_owned();
    assert_eq!(secret.len(), 43, "{callback}");
    [secret, query_value(consent_url, "code_challenge")]
}

#[tokio::test]
async fn a_launch_address_holds_no_secret_and_leads_to_the_consent_page_once() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let port = callback_port(&connector);
    let launch = browser_url(&connector);
    let nonce = launch
        .strip_prefix(&format!("http://127.0.0.1:{port}/start/"))
        .unwrap_or_else(|| panic!("{launch}"));
    assert_eq!(nonce.len(), 43, "{launch}");
    assert!(
        nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{launch}"
    );

    let first = open_launch_address(&launch).await;
    assert_eq!(first.status(), 303);
    assert_eq!(first.headers()["cache-control"], "no-store");
    assert_eq!(first.headers()["referrer-policy"], "no-referrer");
    let consent = first.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        consent.starts_with(&format!("{}/auth?", fake.url())),
        "{consent}"
    );
    for secret in consent_secrets(&consent) {
        assert!(!launch.contains(&secret), "{launch} holds {secret}");
    }
    assert!(matches!(
        connector.status().state,
        FlowState::AwaitingCallback { .. }
    ));

    // Opened again: someone may have been first, so the flow ends.
    let second = Browser::new().visit(&launch).await.unwrap();
    assert_eq!(second.status, 410, "{}", second.body);
    assert!(second.body.contains("opened twice"), "{}", second.body);
    assert_eq!(second.headers["cache-control"], "no-store");
    let status = settled(&connector).await;
    assert_eq!(error_code(&status), "start-address-reused");
    assert!(port_is_closed(port).await, "the listener is gone");
    assert_eq!(fake.exchange_count(), 0);
    assert!(store.load().unwrap().is_none());
}

#[tokio::test]
async fn each_browser_url_is_a_fresh_address_to_the_same_consent_page() {
    let Setup {
        fake: _fake,
        connector,
        ..
    } = setup().await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let addresses: Vec<String> = (0..3).map(|_| browser_url(&connector)).collect();
    let port = callback_port(&connector);
    for (at, address) in addresses.iter().enumerate() {
        assert!(
            address.starts_with(&format!("http://127.0.0.1:{port}/start/")),
            "{address}"
        );
        assert!(!addresses[..at].contains(address), "{address} twice");
    }
    let a = open_launch_address(&addresses[0]).await;
    let b = open_launch_address(&addresses[1]).await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (303, 303));
    assert_eq!(a.headers()["location"], b.headers()["location"]);
    // Neither opening ended the flow: the third address still works.
    Browser::new().approve(&addresses[2]).await.unwrap();
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
}

/// An address the flow never gave out is a stray like any other: a 404,
/// and the flow keeps waiting. A launch address is as strict as the
/// callback: GET only, with the listener's own `Host`; a refused request
/// does not use it up.
#[tokio::test]
async fn unknown_or_refused_launch_requests_leave_the_flow_waiting() {
    let Setup {
        fake: _fake,
        connector,
        ..
    } = setup().await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let port = callback_port(&connector);
    let launch = browser_url(&connector);
    let path = url::Url::parse(&launch).unwrap().path().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let unknown = [
        format!("/start/{}", "A".repeat(43)),
        "/start/".to_owned(),
        format!("{path}x"),
        format!("{path}/"),
        path.to_uppercase(),
    ];
    for target in &unknown {
        let page = Browser::new()
            .visit(&format!("http://127.0.0.1:{port}{target}"))
            .await
            .unwrap();
        assert_eq!(page.status, 404, "{target}");
    }
    let post = client.post(&launch).send().await.unwrap();
    assert_eq!(post.status(), 405);
    let foreign = client
        .get(&launch)
        .header("host", format!("evil.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 421);
    assert!(matches!(
        connector.status().state,
        FlowState::AwaitingCallback { .. }
    ));
    // None of them used the address up.
    Browser::new().approve(&launch).await.unwrap();
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
}

/// A launch address opened again while the answer is being exchanged:
/// the code may be someone else's, so the key is not stored.
#[tokio::test]
async fn a_launch_address_opened_again_during_the_exchange_stores_no_key() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let launch = browser_url(&connector);
    let redirect = Browser::new()
        .consent(&launch, fake_openrouter::Decision::Approve)
        .await
        .unwrap();
    fake.set_fault(Endpoint::Exchange, Fault::Delay(Duration::from_millis(500)));
    let mut changes = connector.subscribe();
    let answered = tokio::spawn(async move { Browser::new().visit(&redirect).await.unwrap() });
    changes
        .wait_for(|s| s.state == FlowState::Exchanging)
        .await
        .unwrap();
    let again = Browser::new().visit(&launch).await.unwrap();
    assert_eq!(again.status, 410, "{}", again.body);
    let page = answered.await.unwrap();
    assert!(page.body.contains("opened twice"), "{}", page.body);
    let status = settled(&connector).await;
    assert_eq!(error_code(&status), "start-address-reused");
    assert!(status.key.is_none());
    assert_eq!(fake.issued_keys().len(), 1, "OpenRouter made the key");
    assert!(store.load().unwrap().is_none(), "but it was not stored");
}

/// What a host app logs or sends to a web view, the status as JSON and
/// as Debug, holds no URL of a waiting flow, whichever way back it uses.
#[tokio::test]
async fn a_waiting_flows_status_holds_neither_url() {
    let Setup {
        fake, connector, ..
    } = setup().await;
    for mode in [
        CallbackMode::Loopback,
        CallbackMode::Relay {
            relay_url: url::Url::parse("https://app.example/relay/").unwrap(),
        },
        CallbackMode::DeepLink {
            callback_url: "io.github.openrouterconnect:/callback".into(),
            relay_url: None,
        },
        CallbackMode::Paste,
    ] {
        let status = connector
            .connect(ConnectOptions::new(mode.clone()))
            .await
            .unwrap();
        let consent = consent_url(&connector).await;
        let challenge = query_value(&consent, "code_challenge");
        let json = serde_json::to_value(&status).unwrap();
        let mut names: Vec<&String> = json.as_object().unwrap().keys().collect();
        names.sort();
        assert_eq!(names, ["expiresAtMs", "key", "state"], "{mode:?}");
        let printed = format!(
            "{json} {status:?} {:?} {connector:?}",
            *connector.subscribe().borrow()
        );
        let mut secrets = vec![challenge, fake.url(), "127.0.0.1".to_owned()];
        if mode != CallbackMode::Paste {
            let callback = query_value(&consent, "callback_url");
            let secret = url::Url::parse(&callback)
                .unwrap()
                .query_pairs()
                .find(|(name, _)| name == "s")
                .map(|(_, s)| s.into_owned())
                .unwrap_or_else(|| callback.rsplit('/').next().unwrap().to_owned());
            assert_eq!(secret.len(), 43, "{callback}");
            secrets.push(secret);
        }
        for secret in &secrets {
            assert!(!printed.contains(secret.as_str()), "{mode:?}: {printed}");
        }
        connector.cancel().await.unwrap();
    }
}
