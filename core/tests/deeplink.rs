//! The deep-link way back: the browser's answer arrives as a URL of the
//! app's scheme, which anyone could also launch the app with.

mod common;

use common::*;
use fake_openrouter::{Browser, Decision};
use openrouter_connect_core::{ConnectOptions, Error, FlowState, KeyStore, WayBack};

const CALLBACK: &str = "io.github.openrouterconnect:/callback";

fn deep_link() -> ConnectOptions {
    ConnectOptions {
        way_back: WayBack::DeepLink {
            callback_url: CALLBACK.into(),
        },
        ..ConnectOptions::default()
    }
}

#[tokio::test]
async fn a_deep_link_with_the_right_state_connects() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    let status = connector.connect(deep_link()).await.unwrap();
    let FlowState::AwaitingCallback { callback_url, .. } = &status.state else {
        panic!("not waiting");
    };
    assert_eq!(callback_url, CALLBACK);
    let redirect = approved_redirect(&status).await;
    assert!(redirect.starts_with(CALLBACK), "{redirect}");

    connector.deliver_deep_link(&redirect).unwrap();
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
    assert_eq!(
        store.load().unwrap().unwrap().key.expose_secret(),
        fake.issued_keys()[0].key
    );
    assert_eq!(
        connector.deliver_deep_link(&redirect),
        Err(Error::NoFlow),
        "a replay after the flow is refused"
    );
}

#[tokio::test]
async fn hostile_deep_links_are_refused_and_the_flow_keeps_waiting() {
    let Setup {
        fake, connector, ..
    } = setup().await;
    // No flow yet: nothing to deliver to.
    assert_eq!(
        connector.deliver_deep_link(&format!("{CALLBACK}?code=a&state=b")),
        Err(Error::NoFlow)
    );
    let status = connector.connect(deep_link()).await.unwrap();
    let redirect = approved_redirect(&status).await;
    let query = redirect.split_once('?').unwrap().1.to_owned();

    let hostile = [
        format!("other.scheme:/callback?{query}"),
        format!("io.github.openrouterconnect:/elsewhere?{query}"),
        format!("io.github.openrouterconnect://callback?{query}"),
        format!("{CALLBACK}?{query}&code=extra"),
        format!("{CALLBACK}?code=a&state=wrong"),
        format!("{CALLBACK}?{query}&pad={}", "x".repeat(5000)),
        "not a url".to_owned(),
        CALLBACK.to_owned(),
    ];
    for url in &hostile {
        let refused = connector.deliver_deep_link(url);
        assert!(refused.is_err(), "{url} was accepted");
        assert!(
            matches!(connector.status().state, FlowState::AwaitingCallback { .. }),
            "{url} ended the flow"
        );
    }
    assert_eq!(fake.exchange_count(), 0);

    connector.deliver_deep_link(&redirect).unwrap();
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
}

#[tokio::test]
async fn a_loopback_flow_takes_no_deep_link() {
    let Setup { connector, .. } = setup().await;
    let status = connector.connect(ConnectOptions::default()).await.unwrap();
    let port = callback_port(&status);
    assert_eq!(
        connector.deliver_deep_link(&format!("{CALLBACK}?code=a&state=b")),
        Err(Error::NoFlow)
    );
    connector.cancel().await.unwrap();
    assert!(port_is_closed(port).await);
}

#[tokio::test]
async fn a_denial_by_deep_link_ends_the_flow() {
    let Setup {
        fake: _fake,
        connector,
        ..
    } = setup().await;
    let status = connector.connect(deep_link()).await.unwrap();
    let redirect = Browser::new()
        .consent(&auth_url(&status), Decision::Deny)
        .await
        .unwrap();
    connector.deliver_deep_link(&redirect).unwrap();
    assert_eq!(error_code(&settled(&connector).await), "denied");
}

#[tokio::test]
async fn a_deep_link_address_must_be_a_private_scheme() {
    let Setup { connector, .. } = setup().await;
    for callback_url in [
        "https://example.com/callback",
        "nonsense",
        "app.scheme:/cb?x=1",
    ] {
        let options = ConnectOptions {
            way_back: WayBack::DeepLink {
                callback_url: callback_url.into(),
            },
            ..ConnectOptions::default()
        };
        assert_eq!(
            connector.connect(options).await.unwrap_err().code(),
            "invalid-option",
            "{callback_url}"
        );
    }
}
