//! The relay page (`relay/`) in a real headless Chromium, driven through
//! chromedriver: it forwards OpenRouter's answer to the app's loopback
//! path or scheme, both holding the flow's secret, and whole flows connect
//! through it, whether or not OpenRouter echoes a `state`; it forwards to
//! nothing else and nothing without the secret, passes on only `code` and
//! `error`, sends no referrer, loads nothing from elsewhere and takes the
//! code out of its address. Forged answers leave a flow waiting.
#![cfg(target_os = "linux")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::routing::get;
use fake_openrouter::relay_site::{Chromium, REFUSED_TITLE, listen, serve_relay};
use fake_openrouter::{Browser, Decision, FakeOpenRouter};
use openrouter_connect_core::{
    Attribution, CallbackMode, ClientConfig, ConnectOptions, Connector, FlowState,
};

/// The app's scheme, as written in `relay/relay.js`.
const SCHEME: &str = "io.github.openrouterconnect";

/// A secret of the shape the app draws (43 characters of base64url), and
/// never the one of a real flow.
const SECRET: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde";

/// What reached a stand-in for the app's loopback listener.
#[derive(Default)]
struct Seen {
    paths: Vec<String>,
    queries: Vec<String>,
    referers: Vec<String>,
}

async fn serve_capture() -> (SocketAddr, Arc<Mutex<Seen>>) {
    async fn callback(
        State(seen): State<Arc<Mutex<Seen>>>,
        Path(secret): Path<String>,
        RawQuery(query): RawQuery,
        headers: HeaderMap,
    ) -> &'static str {
        let mut seen = seen.lock().unwrap();
        seen.paths.push(format!("/callback/{secret}"));
        seen.queries.push(query.unwrap_or_default());
        if let Some(referer) = headers.get(header::REFERER) {
            seen.referers
                .push(referer.to_str().unwrap_or("?").to_owned());
        }
        "ok"
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route("/callback/{secret}", get(callback))
        .with_state(seen.clone());
    (listen(app).await, seen)
}

/// The relay site, a fake OpenRouter that echoes a `state` when
/// `echo_state` says so, and a connector against it.
async fn relay_and_fake(echo_state: bool) -> (SocketAddr, FakeOpenRouter, Connector) {
    let relay = serve_relay().await;
    let fake = FakeOpenRouter::start().await;
    fake.set_echo_state(echo_state);
    let connector = connector(&fake);
    (relay, fake, connector)
}

/// A connector against `fake`, with nothing stored.
fn connector(fake: &FakeOpenRouter) -> Connector {
    let config = ClientConfig::with_base(&fake.url(), Attribution::default()).unwrap();
    Connector::builder(config).build().unwrap()
}

fn relay_url(relay: SocketAddr) -> url::Url {
    url::Url::parse(&format!("http://{relay}/relay/index.html")).unwrap()
}

/// Starts a flow and returns its consent page and callback URL. The
/// consent page is read from where a launch address leads, for a flow
/// that listens (the address is used up), or is the address itself.
async fn start(connector: &Connector, way_back: CallbackMode) -> (String, String) {
    connector
        .connect(ConnectOptions::new(way_back))
        .await
        .unwrap();
    let url = connector.browser_url().unwrap();
    let consent_url = if url::Url::parse(&url).unwrap().path().starts_with("/start/") {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap();
        let answer = client.get(&url).send().await.unwrap();
        assert_eq!(answer.status(), 303, "{url}");
        answer.headers()["location"].to_str().unwrap().to_owned()
    } else {
        url
    };
    let callback_url = param(&consent_url, "callback_url");
    (consent_url, callback_url)
}

/// The one value of the query parameter `name` of `url`.
fn param(url: &str, name: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    let values: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(values.len(), 1, "{name} once in {url}");
    values.into_iter().next().unwrap()
}

/// The relay page's address as the app gave it to OpenRouter: the page,
/// then the way back, then the flow's secret; nothing else.
fn assert_relay_callback(callback_url: &str, relay: SocketAddr, way: (&str, &str)) -> String {
    let url = url::Url::parse(callback_url).unwrap();
    assert_eq!(
        url.as_str().split('?').next(),
        Some(relay_url(relay).as_str()),
        "{callback_url}"
    );
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs.len(), 2, "{callback_url}");
    assert_eq!(pairs[0].0, way.0, "{callback_url}");
    if !way.1.is_empty() {
        assert_eq!(pairs[0].1, way.1, "{callback_url}");
    }
    assert_eq!(pairs[1].0, "s", "{callback_url}");
    let secret = pairs[1].1.clone();
    assert_eq!(secret.len(), 43, "{callback_url}");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{callback_url}"
    );
    secret
}

async fn wait_connected(connector: &Connector) {
    let mut changes = connector.subscribe();
    let connected = tokio::time::timeout(
        Duration::from_secs(20),
        changes.wait_for(|s| s.state == FlowState::Connected),
    )
    .await;
    assert!(
        connected.is_ok(),
        "the flow did not connect: {:?}",
        connector.status().state
    );
}

fn assert_waiting(connector: &Connector, after: &str) {
    let state = connector.status().state;
    assert!(
        matches!(state, FlowState::AwaitingCallback { .. }),
        "after {after}: {state:?}"
    );
}

/// The loopback way by the relay page, approved in Chromium.
async fn a_flow_through_the_relay_page(echo_state: bool) {
    let (relay, fake, connector) = relay_and_fake(echo_state).await;
    let (auth_url, callback_url) = start(
        &connector,
        CallbackMode::Relay {
            relay_url: relay_url(relay),
        },
    )
    .await;
    assert!(
        callback_url.starts_with(&format!("http://{relay}/relay/index.html?port=")),
        "{callback_url}"
    );
    assert!(callback_url.contains("&s="), "{callback_url}");
    let secret = assert_relay_callback(&callback_url, relay, ("port", ""));
    assert_eq!(param(&auth_url, "callback_url"), callback_url);

    // Chromium opens the consent page as the app opens it, through a
    // launch address, and follows its redirect.
    let chromium = Chromium::start().await;
    chromium.approve(&connector.browser_url().unwrap()).await;
    wait_connected(&connector).await;
    assert_eq!(fake.issued_keys().len(), 1);
    let landed = chromium.client.current_url().await.unwrap();
    assert_eq!(landed.host_str(), Some("127.0.0.1"));
    assert_eq!(
        landed.port().map(|p| p.to_string()),
        Some(param(&callback_url, "port"))
    );
    assert!(
        landed.path().starts_with("/callback/") && landed.path().len() > "/callback/".len(),
        "{}",
        landed.path()
    );
    assert_eq!(landed.path(), format!("/callback/{secret}"));
    // Only the answer came along: no `state`, even an echoed one.
    let names: Vec<String> = landed.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(names, ["code"]);
    chromium.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_flow_through_the_relay_page_connects() {
    a_flow_through_the_relay_page(false).await;
}

#[tokio::test]
async fn a_flow_through_the_relay_page_connects_when_openrouter_echoes_a_state() {
    a_flow_through_the_relay_page(true).await;
}

/// The scheme way by the relay page. OpenRouter's answer is the exact
/// redirect the fake sends; headless Chromium can't open the app's
/// scheme, so the page's own `destination` says where it would go, and
/// that deep link is handed to the app as the system would.
async fn a_flow_through_the_relay_page_to_the_apps_scheme(echo_state: bool) {
    let (relay, fake, connector) = relay_and_fake(echo_state).await;
    let (auth_url, callback_url) = start(
        &connector,
        CallbackMode::DeepLink {
            callback_url: format!("{SCHEME}:/callback"),
            relay_url: Some(relay_url(relay)),
        },
    )
    .await;
    let secret = assert_relay_callback(&callback_url, relay, ("to", "app"));
    assert_eq!(param(&auth_url, "callback_url"), callback_url);

    let redirect = Browser::new()
        .consent(&auth_url, Decision::Approve)
        .await
        .unwrap();
    assert!(redirect.starts_with(&callback_url), "{redirect}");
    let redirect = url::Url::parse(&redirect).unwrap();
    assert_eq!(
        redirect.query_pairs().any(|(k, _)| k == "state"),
        echo_state,
        "{redirect}"
    );
    let search = format!("?{}", redirect.query().unwrap());

    let chromium = Chromium::start().await;
    // The page with no answer refuses, and its `destination` is there.
    chromium
        .client
        .goto(relay_url(relay).as_str())
        .await
        .unwrap();
    assert_eq!(chromium.title_becomes(REFUSED_TITLE).await, REFUSED_TITLE);
    let target = chromium.destination(&search).await;
    let deep_link = target["url"].as_str().unwrap_or_else(|| panic!("{target}"));
    let code = param(redirect.as_str(), "code");
    assert_eq!(
        deep_link,
        format!("{SCHEME}:/callback/{secret}?code={code}")
    );
    assert_waiting(&connector, "the consent");
    connector.deliver_deep_link(deep_link).unwrap();
    wait_connected(&connector).await;
    assert_eq!(fake.issued_keys().len(), 1);

    // The page itself, given that answer, takes the code out of its
    // address and does not refuse (where it goes, Chromium can't follow).
    chromium.client.goto(redirect.as_str()).await.unwrap();
    let title = chromium.title_until(|t| t != REFUSED_TITLE).await;
    assert_ne!(title, REFUSED_TITLE);
    let now = chromium.client.current_url().await.unwrap();
    assert!(!now.as_str().contains(&code), "the code stays in {now}");
    // Should the browser's prompt to open the app be dismissed, the page
    // offers the same link again.
    let offered = chromium
        .js("const a = document.querySelector('[data-testid=open-app]'); return a ? a.href : null;")
        .await;
    assert_eq!(offered.as_str(), Some(deep_link), "{offered}");
    chromium.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn a_flow_through_the_relay_page_to_the_apps_scheme_connects() {
    a_flow_through_the_relay_page_to_the_apps_scheme(false).await;
}

#[tokio::test]
async fn a_flow_through_the_relay_page_to_the_apps_scheme_connects_when_openrouter_echoes_a_state()
{
    a_flow_through_the_relay_page_to_the_apps_scheme(true).await;
}

/// Answers a stranger sends through the relay page, without the flow's
/// secret, change nothing; the real one still connects after them.
async fn forged_answers_leave_the_flow_waiting(echo_state: bool) {
    let (relay, fake, connector) = relay_and_fake(echo_state).await;
    let (_, callback_url) = start(
        &connector,
        CallbackMode::Relay {
            relay_url: relay_url(relay),
        },
    )
    .await;
    let port = param(&callback_url, "port");
    assert_ne!(param(&callback_url, "s"), SECRET);
    let page = relay_url(relay);
    let chromium = Chromium::start().await;

    // No secret: the page forwards nothing.
    chromium
        .client
        .goto(&format!("{page}?port={port}&code=forged"))
        .await
        .unwrap();
    assert_eq!(chromium.title_becomes(REFUSED_TITLE).await, REFUSED_TITLE);
    let now = chromium.client.current_url().await.unwrap();
    assert_eq!(now.path(), "/relay/index.html");
    assert_waiting(&connector, "a code without the secret");

    // A wrong secret: forwarded, and the app's listener turns it away.
    chromium
        .client
        .goto(&format!(
            "{page}?port={port}&s={SECRET}&error=access_denied"
        ))
        .await
        .unwrap();
    let title = chromium
        .title_until(|t| t.starts_with("Nothing here"))
        .await;
    assert!(title.starts_with("Nothing here"), "{title}");
    let now = chromium.client.current_url().await.unwrap();
    assert_eq!(now.host_str(), Some("127.0.0.1"));
    assert_eq!(now.port().map(|p| p.to_string()), Some(port.clone()));
    assert_eq!(now.path(), format!("/callback/{SECRET}"));
    assert_eq!(now.query(), Some("error=access_denied"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_waiting(&connector, "a denial with a wrong secret");

    chromium.approve(&connector.browser_url().unwrap()).await;
    wait_connected(&connector).await;
    assert_eq!(fake.issued_keys().len(), 1);
    chromium.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn answers_without_the_flows_secret_leave_it_waiting_and_it_still_connects() {
    forged_answers_leave_the_flow_waiting(false).await;
}

#[tokio::test]
async fn answers_without_the_flows_secret_leave_it_waiting_when_openrouter_echoes_a_state() {
    forged_answers_leave_the_flow_waiting(true).await;
}

#[tokio::test]
async fn the_relay_page_forwards_only_code_and_error_and_no_referrer() {
    let relay = serve_relay().await;
    let (capture, seen) = serve_capture().await;
    let chromium = Chromium::start().await;
    let page = relay_url(relay);
    let port = capture.port();

    chromium
        .client
        .goto(&format!(
            "{page}?port={port}&s={SECRET}&code=abc&state=xyz&error_description=x\
             &next=https%3A%2F%2Fevil.example&redirect_uri=https%3A%2F%2Fevil.example"
        ))
        .await
        .unwrap();
    for _ in 0..100 {
        if !seen.lock().unwrap().queries.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.paths, [format!("/callback/{SECRET}")]);
        assert_eq!(seen.queries, ["code=abc"]);
        assert!(seen.referers.is_empty(), "{:?}", seen.referers);
    }

    // A denial is passed on too, so that the app's flow ends.
    chromium
        .client
        .goto(&format!(
            "{page}?port={port}&s={SECRET}&error=access_denied&error_description=no&state=xyz"
        ))
        .await
        .unwrap();
    for _ in 0..100 {
        if seen.lock().unwrap().queries.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.paths.len(), 2, "{:?}", seen.paths);
        assert_eq!(seen.paths[1], format!("/callback/{SECRET}"));
        assert_eq!(seen.queries[1], "error=access_denied");
        assert!(seen.referers.is_empty(), "{:?}", seen.referers);
    }
    chromium.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn the_relay_page_is_not_an_open_redirector() {
    let relay = serve_relay().await;
    let chromium = Chromium::start().await;
    let page = relay_url(relay);
    let short = &SECRET[..21];
    let long = "a".repeat(129);
    for query in [
        // Destinations that are not the app's.
        format!("?to=https%3A%2F%2Fevil.example%2F&s={SECRET}&code=c"),
        format!("?to=evil&s={SECRET}&code=c"),
        format!("?port=80&s={SECRET}&code=c"),
        format!("?port=99999&s={SECRET}&code=c"),
        format!("?port=1234%40evil.example&s={SECRET}&code=c"),
        format!("?port=01234&s={SECRET}&code=c"),
        format!("?port=5000&port=6000&s={SECRET}&code=c"),
        format!("?port=5000&to=app&s={SECRET}&code=c"),
        format!("?s={SECRET}&code=c"),
        // Answers that are not one answer.
        format!("?port=5000&s={SECRET}&code=c&code=d"),
        format!("?port=5000&s={SECRET}&code=c&error=e&error=f"),
        format!("?port=5000&s={SECRET}&code="),
        format!("?port=5000&s={SECRET}"),
        format!("?port=5000&s={SECRET}&state=s"),
        // No secret, or one that could leave the callback path.
        "?port=5000&code=c&state=s".to_owned(),
        "?to=app&code=c".to_owned(),
        "?port=5000&s=&code=c".to_owned(),
        "?port=5000&s&code=c".to_owned(),
        format!("?port=5000&s={SECRET}/x&code=c"),
        format!("?port=5000&s=..%2F..%2F{SECRET}&code=c"),
        format!("?port=5000&s={SECRET}..&code=c"),
        format!("?port=5000&s={SECRET}%2Fx&code=c"),
        format!("?port=5000&s={SECRET}%3Fx%3D&code=c"),
        format!("?port=5000&s={SECRET}?x&code=c"),
        format!("?port=5000&s={SECRET}%23x&code=c"),
        format!("?port=5000&s={SECRET}#x&code=c"),
        format!("?port=5000&s={SECRET}%40evil.example&code=c"),
        format!("?port=5000&s={SECRET}%20&code=c"),
        format!("?port=5000&s={short}&code=c"),
        format!("?port=5000&s={long}&code=c"),
        format!("?port=5000&s={SECRET}&s={SECRET}&code=c"),
        format!("?to=app&s={SECRET}&s=other{SECRET}&code=c"),
        "?port=5000".to_owned(),
        "?code=c&state=s".to_owned(),
        String::new(),
    ] {
        chromium
            .client
            .goto(&format!("{page}{query}"))
            .await
            .unwrap();
        let title = chromium.title_becomes(REFUSED_TITLE).await;
        assert_eq!(title, REFUSED_TITLE, "{query:?}");
        let now = chromium.client.current_url().await.unwrap();
        assert_eq!(now.path(), "/relay/index.html", "{query:?}");
        assert_eq!(
            now.query(),
            None,
            "the code stays in the address: {query:?}"
        );
        // And the page's own verdict agrees.
        let target = chromium.destination(&query).await;
        assert!(target.get("url").is_none(), "{query:?}: {target}");
        assert!(target["refused"].is_string(), "{query:?}: {target}");
    }

    // Nothing loaded but the page and its script, from its own site.
    let loaded = chromium
        .js("return performance.getEntriesByType('resource').map((e) => e.name);")
        .await;
    for name in loaded.as_array().unwrap() {
        assert!(
            name.as_str()
                .unwrap()
                .starts_with(&format!("http://{relay}/relay/")),
            "{name}"
        );
    }
    // The app's own scheme is the one other destination.
    let target = chromium
        .js(&format!(
            "return destination('?to=app&s={SECRET}&code=c').url;"
        ))
        .await;
    assert_eq!(target, format!("{SCHEME}:/callback/{SECRET}?code=c"));
    let target = chromium
        .js(&format!(
            "return destination('?port=5000&s={SECRET}&error=access_denied&state=s').url;"
        ))
        .await;
    assert_eq!(
        target,
        format!("http://127.0.0.1:5000/callback/{SECRET}?error=access_denied")
    );
    chromium.client.clone().close().await.unwrap();
}
