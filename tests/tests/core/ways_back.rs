//! Every way back from the browser, against the fake OpenRouter in both
//! of its modes: the documented one (the redirect adds `code` or `error`
//! to `callback_url` and nothing else) and the echo mode (the redirect
//! carries a `state` as well, as some clients assume). Each way connects
//! in both; forged answers without the flow's secret, sent first, are
//! turned away and leave the flow waiting.

use crate::common::*;
use fake_openrouter::{Browser, Decision, FakeOpenRouter};
use openrouter_connect_core::{CallbackMode, ConnectOptions, Connector, Error, FlowState};

const SCHEME_CALLBACK: &str = "io.github.openrouterconnect:/callback";
const RELAY: &str = "https://app.example/relay/";

/// A connector against a fake that echoes a `state` when `echo` says so.
async fn setup_in(echo: bool) -> Setup {
    let setup = setup().await;
    setup.fake.set_echo_state(echo);
    setup
}

/// A forged secret of the real one's length and alphabet.
fn wrong_secret() -> String {
    "A".repeat(43)
}

fn waiting(connector: &Connector) -> bool {
    matches!(connector.status().state, FlowState::AwaitingCallback { .. })
}

/// Approves the consent page and checks what the redirect carries in the
/// fake's mode: a `state` only when it echoes one.
async fn approve(fake_echoes: bool, connector: &Connector) -> String {
    let consent = consent_url(connector).await;
    assert!(
        !consent.contains("state="),
        "the app sends no state: {consent}"
    );
    let redirect = approved_redirect(connector).await;
    let state = url::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .any(|(name, _)| name == "state");
    assert_eq!(state, fake_echoes, "{redirect}");
    redirect
}

/// Sends the loopback forgeries of a flow listening on `port`: the real
/// code, and denials, at every path but the flow's own.
async fn forge_loopback(fake: &FakeOpenRouter, connector: &Connector, port: u16, code: &str) {
    let wrong = wrong_secret();
    for target in [
        format!("/callback?code={code}"),
        format!("/callback/{wrong}?code={code}"),
        "/callback?error=access_denied".to_owned(),
        format!("/callback/{wrong}?error=access_denied&state=x"),
        "/?error=access_denied".to_owned(),
    ] {
        let page = Browser::new()
            .visit(&format!("http://127.0.0.1:{port}{target}"))
            .await
            .unwrap();
        assert_eq!(page.status, 404, "{target}");
        assert!(waiting(connector), "{target} ended the flow");
    }
    assert_eq!(fake.exchange_count(), 0, "no forged answer was exchanged");
}

async fn loopback(echo: bool) {
    let Setup {
        fake, connector, ..
    } = setup_in(echo).await;
    connector.connect(ConnectOptions::default()).await.unwrap();
    let port = callback_port(&connector);
    let path = callback_path(&connector).await;
    assert!(
        path.starts_with("/callback/") && path.len() == 10 + 43,
        "{path}"
    );
    let redirect = approve(echo, &connector).await;
    forge_loopback(&fake, &connector, port, &query_value(&redirect, "code")).await;

    let page = Browser::new().visit(&redirect).await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
}

/// The relay page's loopback way: OpenRouter sends the browser to the
/// relay page, which forwards `code` to `/callback/<s>` on `port`.
async fn relay_to_loopback(echo: bool) {
    let Setup {
        fake, connector, ..
    } = setup_in(echo).await;
    let relay_url = url::Url::parse(RELAY).unwrap();
    connector
        .connect(ConnectOptions::new(CallbackMode::Relay { relay_url }))
        .await
        .unwrap();
    let callback = callback_url(&connector).await;
    assert!(
        callback.starts_with(&format!("{RELAY}?port=")),
        "{callback}"
    );
    let port: u16 = query_value(&callback, "port").parse().unwrap();
    let secret = query_value(&callback, "s");
    assert_eq!(secret.len(), 43);
    let redirect = approve(echo, &connector).await;
    assert!(redirect.starts_with(&callback), "{redirect}");
    let code = query_value(&redirect, "code");
    forge_loopback(&fake, &connector, port, &code).await;

    let page = Browser::new()
        .visit(&format!(
            "http://127.0.0.1:{port}/callback/{secret}?code={code}"
        ))
        .await
        .unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
}

/// Deep links, directly or by way of the relay page's scheme way.
async fn deep_link(echo: bool, relay: bool) {
    let Setup {
        fake, connector, ..
    } = setup_in(echo).await;
    connector
        .connect(ConnectOptions::new(CallbackMode::DeepLink {
            callback_url: SCHEME_CALLBACK.into(),
            relay_url: relay.then(|| url::Url::parse(RELAY).unwrap()),
        }))
        .await
        .unwrap();
    let redirect = approve(echo, &connector).await;
    let code = query_value(&redirect, "code");
    // What reaches the app: the redirect itself, or the link the relay
    // page makes of it.
    let link = if relay {
        let secret = query_value(&redirect, "s");
        format!("{SCHEME_CALLBACK}/{secret}?code={code}")
    } else {
        redirect.clone()
    };
    assert!(link.starts_with(&format!("{SCHEME_CALLBACK}/")), "{link}");

    let wrong = wrong_secret();
    for forged in [
        format!("{SCHEME_CALLBACK}?code={code}"),
        format!("{SCHEME_CALLBACK}/{wrong}?code={code}"),
        format!("{SCHEME_CALLBACK}?error=access_denied"),
        format!("{SCHEME_CALLBACK}/{wrong}?error=access_denied"),
    ] {
        assert_eq!(
            connector.deliver_deep_link(&forged),
            Err(Error::StrayCallback),
            "{forged}"
        );
        assert!(waiting(&connector), "{forged} ended the flow");
    }
    assert_eq!(fake.exchange_count(), 0);

    connector.deliver_deep_link(&link).unwrap();
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
}

async fn pasted_code(echo: bool) {
    let Setup {
        fake: _fake,
        connector,
        ..
    } = setup_in(echo).await;
    connector
        .connect(ConnectOptions::new(CallbackMode::Paste))
        .await
        .unwrap();
    let url = browser_url(&connector);
    assert!(
        !url.contains("state=") && !url.contains("callback_url"),
        "{url}"
    );
    let code = Browser::new().approve_headless(&url).await.unwrap();
    connector.submit_code(&code).unwrap();
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
}

#[tokio::test]
async fn loopback_connects_whether_or_not_a_state_comes_back() {
    loopback(false).await;
    loopback(true).await;
}

#[tokio::test]
async fn the_relay_pages_loopback_way_connects_whether_or_not_a_state_comes_back() {
    relay_to_loopback(false).await;
    relay_to_loopback(true).await;
}

#[tokio::test]
async fn a_deep_link_connects_whether_or_not_a_state_comes_back() {
    deep_link(false, false).await;
    deep_link(true, false).await;
}

#[tokio::test]
async fn the_relay_pages_scheme_way_connects_whether_or_not_a_state_comes_back() {
    deep_link(false, true).await;
    deep_link(true, true).await;
}

#[tokio::test]
async fn a_pasted_code_connects_whether_or_not_the_fake_echoes() {
    pasted_code(false).await;
    pasted_code(true).await;
}

/// A denial counts at the flow's own address, in both modes: it ends the
/// flow there, and nowhere else.
#[tokio::test]
async fn a_denial_at_the_flow_address_ends_the_flow_in_both_modes() {
    for echo in [false, true] {
        let Setup {
            fake: _fake,
            connector,
            ..
        } = setup_in(echo).await;
        connector.connect(ConnectOptions::default()).await.unwrap();
        let port = callback_port(&connector);
        let callback = callback_url(&connector).await;
        let redirect = Browser::new()
            .consent(&browser_url(&connector), Decision::Deny)
            .await
            .unwrap();
        assert!(
            redirect.starts_with(&callback),
            "the denial comes to the secret URL: {redirect}"
        );
        let page = Browser::new().visit(&redirect).await.unwrap();
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(error_code(&settled(&connector).await), "denied");
        assert!(port_is_closed(port).await);
    }
}
