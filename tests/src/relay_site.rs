//! The relay page (`relay/`) served as its developer's site would serve
//! it, and a real headless Chromium (through chromedriver) to run it: the
//! page is JavaScript, which the scripted browser does not run.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::desktop::{free_port, kill_group};

/// The title of the page when it refuses to pass an answer on.
pub const REFUSED_TITLE: &str = "Could not return to the app";

/// Serves `relay/` as its developer's site would, on loopback, at
/// `http://<address>/relay/index.html`.
pub async fn serve_relay() -> SocketAddr {
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

/// Serves `app` on an ephemeral loopback port.
pub async fn listen(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// Headless Chromium through chromedriver, each test its own profile.
pub struct Chromium {
    pub client: Client,
    driver: Child,
    profile: std::path::PathBuf,
}

impl Chromium {
    pub async fn start() -> Chromium {
        let port = free_port();
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
        kill_group(driver.id());
        let _ = driver.wait();
        panic!("no chromedriver session");
    }

    /// Waits up to 5 s for a title that `done` accepts; the last one seen.
    pub async fn title_until(&self, done: impl Fn(&str) -> bool) -> String {
        let mut now = String::new();
        for _ in 0..100 {
            now = self.client.title().await.unwrap();
            if done(&now) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        now
    }

    /// Waits up to 5 s for the page's title to be `title`.
    pub async fn title_becomes(&self, title: &str) -> String {
        self.title_until(|now| now == title).await
    }

    /// Runs a script in the page and returns its value.
    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }

    /// What the page's own `destination` makes of `search`.
    pub async fn destination(&self, search: &str) -> serde_json::Value {
        self.client
            .execute("return destination(arguments[0]);", vec![json!(search)])
            .await
            .unwrap()
    }

    /// Approves OpenRouter's (the fake's) consent page at `url`, or where
    /// `url` (a launch address) redirects to.
    pub async fn approve(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.client
            .find(Locator::Css("button[value=approve]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        kill_group(self.driver.id());
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
