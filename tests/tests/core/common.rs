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

/// The consent URL of the flow that is waiting.
pub fn auth_url(status: &Status) -> String {
    match &status.state {
        FlowState::AwaitingCallback { auth_url, .. } => auth_url.clone(),
        other => panic!("not awaiting a callback: {other:?}"),
    }
}

pub fn callback_port(status: &Status) -> u16 {
    match &status.state {
        FlowState::AwaitingCallback { callback_url, .. } => {
            url::Url::parse(callback_url).unwrap().port().unwrap()
        }
        other => panic!("not awaiting a callback: {other:?}"),
    }
}

/// The path of the flow's callback URL, its secret included
/// (`/callback/<secret>` for loopback).
pub fn callback_path(status: &Status) -> String {
    match &status.state {
        FlowState::AwaitingCallback { callback_url, .. } => {
            url::Url::parse(callback_url).unwrap().path().to_owned()
        }
        other => panic!("not awaiting a callback: {other:?}"),
    }
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

/// Approves the flow's consent page and returns the way back (the
/// callback URL with `code` added), without going there.
pub async fn approved_redirect(status: &Status) -> String {
    fake_openrouter::Browser::new()
        .consent(&auth_url(status), fake_openrouter::Decision::Approve)
        .await
        .unwrap()
}

/// Runs a whole flow that the user approves, and returns its end.
pub async fn connect_and_approve(connector: &Connector) -> Status {
    let status = connector
        .connect(openrouter_connect_core::ConnectOptions::default())
        .await
        .unwrap();
    fake_openrouter::Browser::new()
        .approve(&auth_url(&status))
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
