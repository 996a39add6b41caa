//! The relay page (`relay/`) in a real headless Chromium, driven through
//! chromedriver: it forwards OpenRouter's answer to the app's loopback
//! port and a whole flow connects through it; it forwards to nothing
//! else, passes on only `code`, `state` and `error`, sends no referrer,
//! loads nothing from elsewhere and takes the code out of its address.
#![cfg(target_os = "linux")]

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use fake_openrouter::FakeOpenRouter;
use fantoccini::{Client, ClientBuilder, Locator};
use openrouter_connect_core::{
    Attribution, ClientConfig, ConnectOptions, Connector, FlowConfig, FlowState, MemoryStore,
    OpenRouterClient, WayBack,
};
use serde_json::json;

const REFUSED_TITLE: &str = "Could not return to the app";

/// Serves `relay/` as its developer's site would, on loopback.
async fn serve_relay() -> SocketAddr {
    async fn file(Path(name): Path<String>) -> impl IntoResponse {
        let kind = match name.as_str() {
            "index.html" => "text/html; charset=utf-8",
            "relay.js" => "text/javascript; charset=utf-8",
            _ => return Err(StatusCode::NOT_FOUND),
        };
        let path = format!("{}/../relay/{name}", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read(path).map_err(|_| StatusCode::NOT_FOUND)?;
        Ok(([(header::CONTENT_TYPE, kind)], body))
    }
    listen(Router::new().route("/relay/{name}", get(file))).await
}

/// What reached a stand-in for the app's loopback listener.
#[derive(Default)]
struct Seen {
    queries: Vec<String>,
    referers: Vec<String>,
}

async fn serve_capture() -> (SocketAddr, Arc<Mutex<Seen>>) {
    async fn callback(
        State(seen): State<Arc<Mutex<Seen>>>,
        RawQuery(query): RawQuery,
        headers: HeaderMap,
    ) -> &'static str {
        let mut seen = seen.lock().unwrap();
        seen.queries.push(query.unwrap_or_default());
        if let Some(referer) = headers.get(header::REFERER) {
            seen.referers
                .push(referer.to_str().unwrap_or("?").to_owned());
        }
        "ok"
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let app = Router::new()
        .route("/callback", get(callback))
        .with_state(seen.clone());
    (listen(app).await, seen)
}

async fn listen(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// Headless Chromium through chromedriver, each test its own profile.
struct Chromium {
    client: Client,
    driver: Child,
    profile: std::path::PathBuf,
}

impl Chromium {
    async fn start() -> Chromium {
        let port = fake_openrouter::desktop::free_port();
        // A process group of its own, so that Chromium goes with it.
        let mut driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver runs (make test installs chromium-driver)");
        let profile = std::env::temp_dir().join(format!("openrouter-connect-relay-{port}"));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         format!("--user-data-dir={}", profile.display())],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(client) = ClientBuilder::native()
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                return Chromium {
                    client,
                    driver,
                    profile,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        fake_openrouter::desktop::kill_group(driver.id());
        let _ = driver.wait();
        panic!("no chromedriver session");
    }

    async fn title_becomes(&self, title: &str) -> String {
        let mut now = String::new();
        for _ in 0..100 {
            now = self.client.title().await.unwrap();
            if now == title {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        now
    }

    async fn js(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        fake_openrouter::desktop::kill_group(self.driver.id());
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

#[tokio::test]
async fn a_flow_through_the_relay_page_connects() {
    let relay = serve_relay().await;
    let fake = FakeOpenRouter::start().await;
    let config = ClientConfig::with_base(&fake.url(), Attribution::default()).unwrap();
    let connector = Connector::new(
        OpenRouterClient::new(config).unwrap(),
        Arc::new(MemoryStore::new()),
        FlowConfig::default(),
    );
    let relay_url = url::Url::parse(&format!("http://{relay}/relay/index.html")).unwrap();
    let status = connector
        .connect(ConnectOptions {
            way_back: WayBack::Relay { relay_url },
            ..ConnectOptions::default()
        })
        .await
        .unwrap();
    let FlowState::AwaitingCallback {
        auth_url,
        callback_url,
        ..
    } = status.state
    else {
        panic!("no flow");
    };
    assert!(
        callback_url.starts_with(&format!("http://{relay}/relay/index.html?port=")),
        "{callback_url}"
    );

    let chromium = Chromium::start().await;
    chromium.client.goto(&auth_url).await.unwrap();
    chromium
        .client
        .find(Locator::Css("button[value=approve]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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
    assert_eq!(fake.issued_keys().len(), 1);
    let landed = chromium.client.current_url().await.unwrap();
    assert_eq!(landed.host_str(), Some("127.0.0.1"));
    assert_eq!(landed.path(), "/callback");
    chromium.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn the_relay_page_forwards_only_code_state_and_error_and_no_referrer() {
    let relay = serve_relay().await;
    let (capture, seen) = serve_capture().await;
    let chromium = Chromium::start().await;
    let page = format!("http://{relay}/relay/index.html");

    chromium
        .client
        .goto(&format!(
            "{page}?port={}&code=abc&state=xyz&next=https%3A%2F%2Fevil.example",
            capture.port()
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
        assert_eq!(seen.queries, ["code=abc&state=xyz"]);
        assert!(seen.referers.is_empty(), "{:?}", seen.referers);
    }

    // A denial is passed on too, so that the app's flow ends.
    chromium
        .client
        .goto(&format!(
            "{page}?port={}&error=access_denied",
            capture.port()
        ))
        .await
        .unwrap();
    for _ in 0..100 {
        if seen.lock().unwrap().queries.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.lock().unwrap().queries[1], "error=access_denied");
    chromium.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn the_relay_page_is_not_an_open_redirector() {
    let relay = serve_relay().await;
    let chromium = Chromium::start().await;
    let page = format!("http://{relay}/relay/index.html");
    for query in [
        "?to=https%3A%2F%2Fevil.example%2F&code=c&state=s",
        "?port=80&code=c&state=s",
        "?port=99999&code=c&state=s",
        "?port=1234%40evil.example&code=c&state=s",
        "?port=01234&code=c&state=s",
        "?port=5000&port=6000&code=c&state=s",
        "?port=5000&to=app&code=c&state=s",
        "?port=5000&code=c&code=d&state=s",
        "?port=5000",
        "?code=c&state=s",
        "",
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
        .js("return destination('?to=app&code=c&state=s').url;")
        .await;
    assert_eq!(
        target,
        "io.github.openrouterconnect:/callback?code=c&state=s"
    );
    chromium.client.clone().close().await.unwrap();
}
