//! The few W3C WebDriver calls the end-to-end tests make, over plain HTTP
//! to tauri-driver.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Session {
    http: reqwest::Client,
    base: String,
}

impl Session {
    /// Starts the app at `application` through the driver at `driver`.
    pub async fn start(driver: &str, application: &str) -> Result<Session, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let body = json!({"capabilities": {"alwaysMatch": {
            "tauri:options": {"application": application}
        }}});
        let answer: Value = http
            .post(format!("{driver}/session"))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("no WebDriver at {driver}: {e}"))?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let id = answer["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session: {answer}"))?;
        Ok(Session {
            http,
            base: format!("{driver}/session/{id}"),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if let Some(error) = answer["value"]["error"].as_str() {
            return Err(format!("{error}: {}", answer["value"]["message"]));
        }
        Ok(answer["value"].clone())
    }

    /// Runs a script in the page and returns its value.
    pub async fn js(&self, script: &str) -> Result<Value, String> {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Runs an asynchronous script; it calls its last argument with the
    /// result.
    pub async fn js_async(&self, script: &str) -> Result<Value, String> {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn find(&self, test_id: &str) -> Result<String, String> {
        let value = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": format!("[data-testid=\"{test_id}\"]")})),
            )
            .await?;
        value[ELEMENT]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no element {test_id}"))
    }

    /// Clicks the element with this `data-testid`, as a user would: once
    /// it no longer says it is busy.
    pub async fn click(&self, test_id: &str) -> Result<(), String> {
        let ready = format!(
            "const b = document.querySelector('[data-testid=\"{test_id}\"]');\
             return !!b && b.getAttribute('aria-disabled') !== 'true' && b.getAttribute('aria-busy') !== 'true';"
        );
        for _ in 0..100 {
            if self.js(&ready).await? == Value::Bool(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let id = self.find(test_id).await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await
        .map(|_| ())
    }

    /// The rendered text of the element with this `data-testid`.
    pub async fn text(&self, test_id: &str) -> Result<String, String> {
        let id = self.find(test_id).await?;
        let value = self
            .call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// The panel's `data-state`.
    pub async fn state(&self) -> Result<String, String> {
        let value = self
            .js("const s = document.querySelector('[data-testid=\"status\"]'); return s ? (s.dataset.state || '') : '';")
            .await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Waits until the panel's state is `state`; the bound only keeps a
    /// broken run from hanging.
    pub async fn wait_for_state(&self, state: &str) -> Result<(), String> {
        let mut last = String::new();
        for _ in 0..300 {
            last = self.state().await?;
            if last == state {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("the panel stayed {last:?}, not {state:?}"))
    }

    /// The whole page as HTML, to search for what must not be there.
    pub async fn page_html(&self) -> Result<String, String> {
        Ok(self
            .js("return document.documentElement.outerHTML;")
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Saves a PNG of the window.
    pub async fn screenshot(&self, path: &std::path::Path) -> Result<(), String> {
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| e.to_string())
    }

    /// Ends the session, which quits the app.
    pub async fn quit(self) -> Result<(), String> {
        self.http
            .delete(&self.base)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}
