//! The plugin's state beside the core's: what the panel shows that the
//! core does not know (key health, the mode picked, notices), and the one
//! place that sends the webview its status.

use std::sync::{Arc, Mutex, MutexGuard};

use openrouter_connect_core::{Connector, Error, KeyMeta, LocalStore};
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::error::{error_view, notice_text, protection_view};
use crate::models::{CallbackChoice, Health, PanelFlow, PanelStatus};

/// The event that carries every change of [`PanelStatus`] to the panel.
pub const STATUS_EVENT: &str = "openrouter://status";

/// What the panel shows that neither the connector nor the store knows.
pub(crate) struct PanelState {
    pub health: Option<Health>,
    pub browser_error: Option<String>,
    /// A configuration problem found at start, in the panel's words.
    pub config_problem: Option<String>,
    pub callback_mode: CallbackChoice,
    pub forgotten: Option<KeyMeta>,
    /// An answer came by deep link when no flow waited; said until the
    /// next Connect.
    pub late_link: bool,
    /// The last status handed out, with its revision.
    pub last_status: Option<PanelStatus>,
}

/// The plugin's handle, from [`crate::OpenRouterExt::openrouter`].
pub struct OpenRouter {
    pub(crate) connector: Connector,
    /// The connector's store, for what the panel says of the data key.
    pub(crate) store: Arc<LocalStore>,
    pub(crate) base_url: String,
    pub(crate) custom_base_url: bool,
    /// `<scheme>:/callback`, the deep-link callback; each flow adds its
    /// secret (`/<secret>`).
    pub(crate) deep_link_callback: String,
    pub(crate) default_label: String,
    pub(crate) paste_suggested: Option<&'static str>,
    /// The relay page loopback and deep-link flows go through, when one
    /// is configured.
    pub(crate) relay_url: Option<url::Url>,
    /// The window brought to the front when the browser's answer
    /// arrives; `None` leaves every window as it is.
    pub(crate) focus_window: Option<String>,
    app_version: String,
    /// The replies streaming to pages now.
    pub(crate) streams: Arc<crate::chat::Streams>,
    /// The deep-link plugin is registered and the handler installed.
    deep_links: std::sync::atomic::AtomicBool,
    panel: Mutex<PanelState>,
}

impl OpenRouter {
    pub(crate) fn new(
        connector: Connector,
        store: Arc<LocalStore>,
        deep_link_callback: String,
        default_label: String,
        config_problem: Option<String>,
        relay_url: Option<url::Url>,
        app_version: String,
    ) -> Self {
        let config = connector.client().config();
        Self {
            base_url: config.base_url().to_string(),
            custom_base_url: !config.is_default_base_url(),
            connector,
            store,
            deep_link_callback,
            default_label,
            paste_suggested: crate::environment::paste_reason(),
            relay_url,
            focus_window: None,
            app_version,
            streams: Arc::new(crate::chat::Streams::new(crate::DEFAULT_MAX_STREAMS)),
            deep_links: std::sync::atomic::AtomicBool::new(false),
            panel: Mutex::new(PanelState {
                health: None,
                browser_error: None,
                config_problem,
                callback_mode: CallbackChoice::default(),
                forgotten: None,
                late_link: false,
                last_status: None,
            }),
        }
    }

    /// At most `max` replies streaming at once.
    pub(crate) fn with_max_streams(mut self, max: usize) -> Self {
        self.streams = Arc::new(crate::chat::Streams::new(max));
        self
    }

    /// Brings the window `label` to the front when the browser's answer
    /// arrives; `None`, none.
    pub(crate) fn with_focus_window(mut self, label: Option<String>) -> Self {
        self.focus_window = label;
        self
    }

    /// The connection itself, for the host's Rust code: `connect`,
    /// `key_info`, `call`, `stream`, `models` and the rest, which use the
    /// key without handing it out, and `expose_api_key` for another
    /// OpenRouter client (read its warning). Changes of
    /// the flow reach the page as status events; what only the commands
    /// keep (the key a disconnect forgot, for its revoke page) does not
    /// follow a call made here.
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// Whether the browser's answer can come through the app's scheme.
    pub(crate) fn takes_deep_links(&self) -> bool {
        self.deep_links.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[cfg(feature = "deep-link")]
    pub(crate) fn set_takes_deep_links(&self) {
        self.deep_links
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn panel(&self) -> MutexGuard<'_, PanelState> {
        self.panel.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the webview is sent: the connection's state in its words,
    /// with its revision. The core's status is read under the panel's
    /// lock, the one that numbers the snapshots: of two statuses, the one
    /// with the higher revision was read later, so it is never the older.
    pub fn status(&self) -> PanelStatus {
        let mut panel = self.panel();
        let core = self.connector.status();
        // One notice at a time: a configuration problem, then the
        // store's, then a late deep link.
        let store_notice = panel
            .config_problem
            .clone()
            .or_else(|| self.store.notice().map(|n| notice_text(&n)))
            .or_else(|| panel.late_link.then(|| crate::error::LATE_LINK.to_owned()));
        let snapshot = PanelStatus {
            revision: 0,
            flow: PanelFlow(core.state),
            key: core.key,
            health: panel.health.clone(),
            protection: protection_view(self.store.protection()),
            base_url: self.base_url.clone(),
            custom_base_url: self.custom_base_url,
            browser_error: panel.browser_error.clone(),
            store_notice,
            default_label: self.default_label.clone(),
            callback_mode: panel.callback_mode,
            paste_suggested: self.paste_suggested,
            forgotten: panel.forgotten.clone(),
            app_version: self.app_version.clone(),
        };
        revise(&mut panel.last_status, snapshot)
    }

    /// Changes the panel's state and tells the panel.
    pub(crate) fn update<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        change: impl FnOnce(&mut PanelState),
    ) {
        change(&mut self.panel());
        self.emit(app);
    }

    pub(crate) fn emit<R: Runtime>(&self, app: &AppHandle<R>) {
        if let Err(e) = app.emit(STATUS_EVENT, self.status()) {
            tracing::warn!(error = %e, "status event not sent");
        }
    }

    /// Asks OpenRouter about the stored key and keeps the answer.
    pub(crate) async fn check_health<R: Runtime>(&self, app: &AppHandle<R>) {
        if self.connector.status().key.is_none() {
            return;
        }
        let result = self.connector.key_info().await;
        let checked_at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let health = match result {
            Ok(info) => Health {
                checked_at_ms,
                info: Some(info),
                error: None,
            },
            Err(Error::NotConnected) => return,
            Err(error) => {
                tracing::info!(code = error.code(), "key health check failed");
                Health {
                    checked_at_ms,
                    info: None,
                    error: Some(error_view(&error)),
                }
            }
        };
        self.update(app, |panel| panel.health = Some(health));
    }
}

/// `snapshot` with its revision: the last one's when nothing changed since
/// (a page drops it as already seen), else the next.
fn revise(last: &mut Option<PanelStatus>, mut snapshot: PanelStatus) -> PanelStatus {
    let revision = last.as_ref().map_or(0, |status| status.revision);
    snapshot.revision = revision;
    if last.as_ref() != Some(&snapshot) {
        snapshot.revision = revision + 1;
        *last = Some(snapshot.clone());
    }
    snapshot
}

/// Brings the window the Builder named to the front: the user comes back
/// from the browser.
pub(crate) fn bring_window_forward<R: Runtime>(app: &AppHandle<R>) {
    let label = app.state::<OpenRouter>().focus_window.clone();
    if let Some(window) = label.and_then(|label| app.get_webview_window(&label)) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openrouter_connect_core::FlowState;

    use crate::models::ProtectionView;

    fn snapshot(flow: FlowState, browser_error: Option<&str>) -> PanelStatus {
        PanelStatus {
            revision: 0,
            flow: PanelFlow(flow),
            key: None,
            health: None,
            protection: ProtectionView {
                level: "keychain",
                label: "encrypted".to_owned(),
                detail: "In the keychain.".to_owned(),
            },
            base_url: "https://openrouter.ai/".to_owned(),
            custom_base_url: false,
            browser_error: browser_error.map(str::to_owned),
            store_notice: None,
            default_label: "App on host".to_owned(),
            callback_mode: CallbackChoice::Loopback,
            paste_suggested: None,
            forgotten: None,
            app_version: "0.1.0".to_owned(),
        }
    }

    #[test]
    fn the_revision_grows_with_each_change_and_only_then() {
        let mut last = None;
        let first = revise(&mut last, snapshot(FlowState::Disconnected, None));
        assert_eq!(first.revision, 1);
        let again = revise(&mut last, snapshot(FlowState::Disconnected, None));
        assert_eq!(
            again, first,
            "nothing changed: the same status, the same revision"
        );
        let exchanging = revise(&mut last, snapshot(FlowState::Exchanging, None));
        assert_eq!(exchanging.revision, 2);
        let noted = revise(
            &mut last,
            snapshot(FlowState::Exchanging, Some("no browser")),
        );
        assert_eq!(noted.revision, 3, "the plugin's own fields count too");
        let back = revise(&mut last, snapshot(FlowState::Disconnected, None));
        assert_eq!(back.revision, 4, "a state seen before is still a change");
        let json = serde_json::to_value(&back).unwrap();
        assert_eq!(json["revision"], 4);
        assert_eq!(json["state"], "disconnected");
    }
}
