//! The app's state beside the core's: what the panel shows that the core
//! does not know (key health, protection, notices), and the one place that
//! sends the panel its status.

use std::sync::{Arc, Mutex, MutexGuard};

use openrouter_connect_core::{Connector, Error, KeyMeta};
use tauri::{AppHandle, Emitter, Manager};

use crate::models::{AppStatus, CallbackMode, Health, Protection};
use crate::storage::AppVault;

/// The event that carries every change of [`AppStatus`] to the panel.
pub const STATUS_EVENT: &str = "connect://status";

pub struct PanelFacts {
    pub health: Option<Health>,
    pub browser_error: Option<String>,
    pub store_notice: Option<String>,
    pub callback_mode: CallbackMode,
    pub forgotten: Option<KeyMeta>,
    /// Where the data key lives; changes when a locked keychain answers
    /// again.
    pub protection: Protection,
    /// An answer came by deep link when no flow waited; said until the
    /// next Connect.
    pub late_link: bool,
}

pub struct AppState {
    pub connector: Connector,
    /// The connector's store, for what the panel says of the data key.
    pub vault: Arc<AppVault>,
    pub base_url: String,
    pub custom_base_url: bool,
    /// `<scheme>:/callback`, the deep-link way back; each flow adds its
    /// secret (`/<secret>`).
    pub deep_link_callback: String,
    pub default_label: String,
    pub paste_suggested: Option<&'static str>,
    /// The relay page loopback and deep-link flows go through, when one
    /// is configured.
    pub relay_url: Option<url::Url>,
    facts: Mutex<PanelFacts>,
}

impl AppState {
    pub fn new(
        connector: Connector,
        vault: Arc<AppVault>,
        protection: Protection,
        deep_link_callback: String,
        default_label: String,
        store_notice: Option<String>,
        relay_url: Option<url::Url>,
    ) -> Self {
        let config = connector.client().config();
        Self {
            base_url: config.base_url().to_string(),
            custom_base_url: !config.is_default_base_url(),
            connector,
            vault,
            deep_link_callback,
            default_label,
            paste_suggested: crate::environment::paste_reason(),
            relay_url,
            facts: Mutex::new(PanelFacts {
                health: None,
                browser_error: None,
                store_notice,
                callback_mode: CallbackMode::default(),
                forgotten: None,
                protection,
                late_link: false,
            }),
        }
    }

    pub fn facts(&self) -> MutexGuard<'_, PanelFacts> {
        self.facts.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn snapshot(&self) -> AppStatus {
        let core = self.connector.status();
        let facts = self.facts();
        AppStatus {
            core,
            health: facts.health.clone(),
            protection: facts.protection.clone(),
            base_url: self.base_url.clone(),
            custom_base_url: self.custom_base_url,
            browser_error: facts.browser_error.clone(),
            // One notice at a time: the store's, if any, matters more.
            store_notice: facts.store_notice.clone().or_else(|| {
                facts
                    .late_link
                    .then(|| crate::deeplink::LATE_LINK.to_owned())
            }),
            default_label: self.default_label.clone(),
            callback_mode: facts.callback_mode,
            paste_suggested: self.paste_suggested,
            forgotten: facts.forgotten.clone(),
            app_version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// Changes the app's facts and tells the panel.
    pub fn update(&self, app: &AppHandle, change: impl FnOnce(&mut PanelFacts)) {
        change(&mut self.facts());
        self.emit(app);
    }

    pub fn emit(&self, app: &AppHandle) {
        if let Err(e) = app.emit(STATUS_EVENT, self.snapshot()) {
            tracing::warn!(error = %e, "status event not sent");
        }
    }

    /// Asks OpenRouter about the stored key and keeps the answer.
    pub async fn check_health(&self, app: &AppHandle) {
        if self.connector.status().key.is_none() {
            return;
        }
        let result = self.connector.key_info().await;
        let health = match result {
            Ok(info) => Health {
                checked_at_ms: now_ms(),
                info: Some(info),
                error: None,
            },
            Err(Error::NotConnected) => return,
            Err(error) => {
                tracing::info!(code = error.code(), "key health check failed");
                Health {
                    checked_at_ms: now_ms(),
                    info: None,
                    error: Some(error.view()),
                }
            }
        };
        self.update(app, |facts| facts.health = Some(health));
    }
}

/// Brings the window to the front: the user comes back from the browser.
pub fn focus_main_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
