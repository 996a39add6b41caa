//! What the integration tests share: a fake OpenRouter, a connector
//! pointed at it, and waiting for the flow to settle.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use fake_openrouter::FakeOpenRouter;
use openrouter_connect_core::{
    Attribution, ClientConfig, Connector, FlowConfig, FlowState, KeyStore, MemoryStore,
    OpenRouterClient, Status,
};

pub const APP_URL: &str = "https://connect.example";
pub const APP_TITLE: &str = "OpenRouter Connect Tests";

pub fn attribution() -> Attribution {
    Attribution::new(APP_TITLE).url(APP_URL)
}

/// The client's configuration for `fake`.
pub fn config_for(fake: &FakeOpenRouter) -> ClientConfig {
    ClientConfig::with_base(&fake.url(), attribution()).unwrap()
}

pub fn client_for(fake: &FakeOpenRouter) -> OpenRouterClient {
    OpenRouterClient::new(config_for(fake)).unwrap()
}

/// Keep `fake` bound (`fake: _fake`) where the flow talks to OpenRouter:
/// a `..` pattern drops it, and the fake stops with it.
pub struct Setup {
    pub fake: FakeOpenRouter,
    pub store: Arc<MemoryStore>,
    pub connector: Connector,
}

pub async fn setup() -> Setup {
    setup_with(FlowConfig::default()).await
}

pub async fn setup_with(config: FlowConfig) -> Setup {
    let fake = FakeOpenRouter::start().await;
    let store = Arc::new(MemoryStore::new());
    let connector = with_store(&fake, store.clone(), config);
    Setup {
        fake,
        store,
        connector,
    }
}

pub fn with_store(
    fake: &FakeOpenRouter,
    store: Arc<dyn KeyStore>,
    config: FlowConfig,
) -> Connector {
    Connector::builder(config_for(fake))
        .store(store)
        .flow_config(config)
        .build()
        .unwrap()
}

/// The value of the query parameter `name` of `url`.
pub fn query_value(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .1
        .into_owned()
}

/// The address to open in the browser for the waiting flow: a fresh
/// launch address for the modes that listen, the consent URL otherwise.
pub fn browser_url(connector: &Connector) -> String {
    connector
        .browser_url()
        .unwrap_or_else(|e| panic!("no flow waits: {e}"))
}

/// Whether `url` is a launch address (`http://127.0.0.1:<port>/start/…`).
pub fn is_launch_address(url: &str) -> bool {
    let url = url::Url::parse(url).unwrap();
    url.host_str() == Some("127.0.0.1") && url.path().starts_with("/start/")
}

/// Opens `launch` without following its redirect: the answer, which
/// uses the address up.
pub async fn open_launch_address(launch: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
        .get(launch)
        .send()
        .await
        .unwrap()
}

/// The consent URL of the waiting flow: where a fresh launch address
/// sends the browser (read from its redirect, without going there), or,
/// for a flow that listens nowhere, the address itself.
pub async fn consent_url(connector: &Connector) -> String {
    let url = browser_url(connector);
    if !is_launch_address(&url) {
        return url;
    }
    let answer = open_launch_address(&url).await;
    assert_eq!(answer.status(), 303, "{url}");
    answer.headers()["location"].to_str().unwrap().to_owned()
}

/// The `callback_url` the waiting flow gave OpenRouter, secret included.
pub async fn callback_url(connector: &Connector) -> String {
    query_value(&consent_url(connector).await, "callback_url")
}

/// The port of the waiting flow's listener.
pub fn callback_port(connector: &Connector) -> u16 {
    url::Url::parse(&browser_url(connector))
        .unwrap()
        .port()
        .expect("a flow that listens")
}

/// The path of the flow's callback URL, its secret included
/// (`/callback/<secret>` for loopback).
pub async fn callback_path(connector: &Connector) -> String {
    url::Url::parse(&callback_url(connector).await)
        .unwrap()
        .path()
        .to_owned()
}

/// Waits until the flow has ended (connected, disconnected or failed).
/// The bound only keeps a broken test from hanging.
pub async fn settled(connector: &Connector) -> Status {
    let mut changes = connector.subscribe();
    let wait = changes.wait_for(|s| {
        matches!(
            s.state,
            FlowState::Connected | FlowState::Disconnected | FlowState::Failed { .. }
        )
    });
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the flow settles")
        .expect("the connector lives")
        .clone()
}

/// Approves the waiting flow's consent page and returns the way back
/// (the callback URL with `code` added), without going there.
pub async fn approved_redirect(connector: &Connector) -> String {
    fake_openrouter::Browser::new()
        .consent(&browser_url(connector), fake_openrouter::Decision::Approve)
        .await
        .unwrap()
}

/// Runs a whole flow that the user approves, and returns its end.
pub async fn connect_and_approve(connector: &Connector) -> Status {
    connector
        .connect(openrouter_connect_core::ConnectOptions::default())
        .await
        .unwrap();
    fake_openrouter::Browser::new()
        .approve(&browser_url(connector))
        .await
        .unwrap();
    settled(connector).await
}

/// True when nothing listens on the port any more.
pub async fn port_is_closed(port: u16) -> bool {
    match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        Ok(_) => false,
    }
}

pub fn error_code(status: &Status) -> &str {
    match &status.state {
        FlowState::Failed { error } => error.code(),
        other => panic!("not failed: {other:?}"),
    }
}
