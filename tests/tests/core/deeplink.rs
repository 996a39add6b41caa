//! The deep-link way back: the browser's answer arrives as a URL of the
//! app's scheme, which anyone could also launch the app with.

use crate::common::*;
use fake_openrouter::{Browser, Decision};
use openrouter_connect_core::{CallbackMode, ConnectOptions, Error, FlowState, KeyStore};

const CALLBACK: &str = "io.github.openrouterconnect:/callback";

fn deep_link() -> ConnectOptions {
    ConnectOptions::new(CallbackMode::DeepLink {
        callback_url: CALLBACK.into(),
        relay_url: None,
    })
}

/// The flow's deep-link URL, secret included.
async fn flow_url(connector: &openrouter_connect_core::Connector) -> String {
    callback_url(connector).await
}

#[tokio::test]
async fn a_deep_link_at_the_flow_secret_connects() {
    let Setup {
        fake,
        store,
        connector,
    } = setup().await;
    connector.connect(deep_link()).await.unwrap();
    let callback_url = flow_url(&connector).await;
    let secret = callback_url
        .strip_prefix(&format!("{CALLBACK}/"))
        .expect("the secret follows the callback path");
    assert_eq!(secret.len(), 43, "{secret}");
    // The deep link listens nowhere: the browser opens the consent URL.
    assert_eq!(browser_url(&connector), consent_url(&connector).await);
    assert!(!browser_url(&connector).contains("state="));
    let redirect = approved_redirect(&connector).await;
    assert!(
        redirect.starts_with(&format!("{callback_url}?code=")),
        "{redirect}"
    );

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
        connector.deliver_deep_link(&format!("{CALLBACK}?code=a")),
        Err(Error::NoFlow)
    );
    connector.connect(deep_link()).await.unwrap();
    let flow = flow_url(&connector).await;
    let secret = flow.rsplit('/').next().unwrap().to_owned();
    let redirect = approved_redirect(&connector).await;
    let query = redirect.split_once('?').unwrap().1.to_owned();
    let wrong = format!("{CALLBACK}/{}", "A".repeat(43));

    let hostile = [
        // The real answer, sent anywhere but the flow's own URL.
        format!("{CALLBACK}?{query}"),
        format!("{wrong}?{query}"),
        format!("{flow}/?{query}"),
        format!("{flow}x?{query}"),
        format!("{CALLBACK}?s={secret}&{query}"),
        format!("other.scheme:/callback/{secret}?{query}"),
        format!("io.github.openrouterconnect:/elsewhere/{secret}?{query}"),
        format!("io.github.openrouterconnect://callback/{secret}?{query}"),
        // Forged denials: without the secret, none ends the flow.
        format!("{CALLBACK}?error=access_denied"),
        format!("{wrong}?error=access_denied"),
        // At the right address, but not a valid answer.
        format!("{flow}?{query}&code=extra"),
        format!("{flow}?{query}&pad={}", "x".repeat(5000)),
        flow.clone(),
        "not a url".to_owned(),
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
    connector.connect(ConnectOptions::default()).await.unwrap();
    let port = callback_port(&connector);
    assert_eq!(
        connector.deliver_deep_link(&format!("{CALLBACK}?code=a")),
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
    connector.connect(deep_link()).await.unwrap();
    let redirect = Browser::new()
        .consent(&browser_url(&connector), Decision::Deny)
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
        // A fragment would hold the secret instead of the path.
        "io.github.openrouterconnect:/callback#x",
    ] {
        let options = ConnectOptions::new(CallbackMode::DeepLink {
            callback_url: callback_url.into(),
            relay_url: None,
        });
        assert_eq!(
            connector.connect(options).await.unwrap_err().code(),
            "invalid-option",
            "{callback_url}"
        );
    }
}

/// What the relay page does on its scheme way, done here by hand: the
/// consent's `callback_url` is the relay page with `to=app` and the
/// secret; the page forwards the code to `<scheme>:/callback/<secret>`.
#[tokio::test]
async fn a_deep_link_by_way_of_the_relay_page_carries_the_secret() {
    let Setup {
        fake: _fake,
        connector,
        ..
    } = setup().await;
    let relay = url::Url::parse("https://app.example/relay/").unwrap();
    connector
        .connect(ConnectOptions::new(CallbackMode::DeepLink {
            callback_url: CALLBACK.into(),
            relay_url: Some(relay),
        }))
        .await
        .unwrap();
    let callback_url = flow_url(&connector).await;
    assert!(
        callback_url.starts_with("https://app.example/relay/?to=app&s="),
        "{callback_url}"
    );
    let secret = query_value(&callback_url, "s");
    assert_eq!(secret.len(), 43);
    let redirect = approved_redirect(&connector).await;
    assert_eq!(query_value(&redirect, "s"), secret);
    let code = query_value(&redirect, "code");

    // A forged page link without the secret, or with another, reaches
    // the app as a link it turns away.
    for forged in [
        format!("{CALLBACK}?code={code}"),
        format!("{CALLBACK}/{}?error=access_denied", "B".repeat(43)),
    ] {
        assert_eq!(
            connector.deliver_deep_link(&forged),
            Err(Error::StrayCallback)
        );
    }
    assert!(matches!(
        connector.status().state,
        FlowState::AwaitingCallback { .. }
    ));
    connector
        .deliver_deep_link(&format!("{CALLBACK}/{secret}?code={code}"))
        .unwrap();
    assert_eq!(settled(&connector).await.state, FlowState::Connected);
}
