//! The WebDriver calls the end-to-end tests make, through fantoccini, to
//! tauri-driver: a thin layer that finds elements by `data-testid`.

use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub struct Session {
    client: Client,
}

impl Session {
    /// Starts the app at `application`, with `args` on its command line,
    /// through the driver at `driver`.
    pub async fn start(driver: &str, application: &str, args: &[&str]) -> Result<Session, String> {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "tauri:options".to_owned(),
            json!({ "application": application, "args": args }),
        );
        // WebKitWebDriver now and then never answers a new session on a
        // busy machine: bounded, and tried again once.
        let mut last = String::new();
        for _ in 0..2 {
            let mut builder = ClientBuilder::native();
            builder.capabilities(capabilities.clone());
            match tokio::time::timeout(Duration::from_secs(60), builder.connect(driver)).await {
                Ok(Ok(client)) => return Ok(Session { client }),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "no answer in 60 s".to_owned(),
            }
        }
        Err(format!("no WebDriver session at {driver}: {last}"))
    }

    /// Runs a script in the page and returns its value.
    pub async fn js(&self, script: &str) -> Result<Value, String> {
        self.client
            .execute(script, Vec::new())
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs an asynchronous script; it calls its last argument with the
    /// result.
    pub async fn js_async(&self, script: &str) -> Result<Value, String> {
        self.client
            .execute_async(script, Vec::new())
            .await
            .map_err(|e| e.to_string())
    }

    async fn find(&self, test_id: &str) -> Result<fantoccini::elements::Element, String> {
        self.client
            .find(Locator::Css(&format!("[data-testid=\"{test_id}\"]")))
            .await
            .map_err(|e| format!("no element {test_id}: {e}"))
    }

    /// Clicks the element with this `data-testid`, as a user would: once
    /// it is shown, no longer says it is busy, and has stopped moving. A
    /// WebDriver click lands on the point where the element was; a panel
    /// that grows (key health arriving) would otherwise move the button
    /// away between the aim and the click.
    pub async fn click(&self, test_id: &str) -> Result<(), String> {
        let probe = format!(
            "const b = document.querySelector('[data-testid=\"{test_id}\"]');\
             if (!b || b.getAttribute('aria-disabled') === 'true' || b.getAttribute('aria-busy') === 'true') return '';\
             const r = b.getBoundingClientRect();\
             if (r.width === 0 || r.height === 0) return '';\
             return [r.x, r.y, r.width, r.height].join(',');"
        );
        let mut last = String::new();
        for _ in 0..100 {
            let now = self.js(&probe).await?;
            let now = now.as_str().unwrap_or_default().to_owned();
            if !now.is_empty() && now == last {
                break;
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.find(test_id)
            .await?
            .click()
            .await
            .map_err(|e| e.to_string())
    }

    /// Types `text` into the field with this `data-testid`, as a paste
    /// would put it there.
    pub async fn type_text(&self, test_id: &str, text: &str) -> Result<(), String> {
        let field = self.find(test_id).await?;
        field.clear().await.map_err(|e| e.to_string())?;
        field.send_keys(text).await.map_err(|e| e.to_string())
    }

    /// The rendered text of the element with this `data-testid`.
    pub async fn text(&self, test_id: &str) -> Result<String, String> {
        self.find(test_id)
            .await?
            .text()
            .await
            .map_err(|e| e.to_string())
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
        let png = self.client.screenshot().await.map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| e.to_string())
    }

    /// Ends the session, which quits the app.
    pub async fn quit(self) -> Result<(), String> {
        self.client.close().await.map_err(|e| e.to_string())
    }
}
