//! "Connect with OpenRouter" for any Tauri 2 app: one plugin that opens
//! the user's browser on OpenRouter's consent page, takes the answer back
//! (loopback, the app's deep link, or a pasted code), exchanges it for a
//! key the user controls and keeps it encrypted, its data key in the OS
//! keychain. The webview sees the connection's status, never the key.
//!
//! ```no_run
//! # // Any runtime: the app picks Tauri's (Wry, with Tauri's defaults).
//! # fn host<R: tauri::Runtime>() -> tauri::Builder<R> {
//! tauri::Builder::new().plugin(
//!     tauri_plugin_openrouter::Builder::new()
//!         .app_title("My App")
//!         .app_url("https://my.app")
//!         .build(),
//! )
//! # }
//! ```
//!
//! The page uses the npm package `tauri-plugin-openrouter-api`
//! (`connect()`, `subscribe()` for the status, `chat()`), which wraps the
//! commands and [`STATUS_EVENT`]; the capability grants
//! `openrouter:default`. The host's Rust code reaches the same
//! connection through [`OpenRouterExt::openrouter`].

#![warn(missing_docs)]

// The flow needs the system browser, a loopback listener and a desktop
// keychain; the mobile runtimes have none of the three in that form.
#[cfg(any(target_os = "android", target_os = "ios"))]
compile_error!(
    "tauri-plugin-openrouter supports Windows, macOS and Linux only, not Android or iOS: \
     declare it under [target.'cfg(not(any(target_os = \"android\", target_os = \"ios\")))'.dependencies] \
     and register it under #[cfg(desktop)]"
);

mod browser;
mod chat;
mod commands;
#[cfg(feature = "deep-link")]
mod deeplink;
mod environment;
mod error;
mod models;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openrouter_connect_core::{
    Attribution, ClientConfig, Connector, FlowConfig, FlowState, KeyMeta, LocalStore,
    parse_relay_url,
};
use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Manager, Runtime};

pub use chat::{ChatEvent, ChatResult};
pub use models::{
    CallbackChoice, ConnectRequest, ErrorView, Health, PanelFlow, PanelStatus, ProtectionView,
};
pub use openrouter_connect_core as openrouter_core;
pub use state::{OpenRouter, STATUS_EVENT};

/// How often the key's health is checked while the app is open, unless
/// the Builder says otherwise.
const HEALTH_INTERVAL: Duration = Duration::from_secs(3 * 60 * 60);

/// The shortest health-check interval: each check is a request to
/// OpenRouter.
const MIN_HEALTH_INTERVAL: Duration = Duration::from_secs(60);

/// The window brought to the front when the browser's answer arrives,
/// unless the Builder says otherwise: the one `tauri.conf.json` makes
/// when it names none.
const DEFAULT_FOCUS_WINDOW: &str = "main";

/// Configures the plugin.
#[derive(Debug, Clone)]
#[must_use]
pub struct Builder {
    app_title: Option<String>,
    app_url: Option<String>,
    relay_url: Option<url::Url>,
    scheme: Option<String>,
    key_label: Option<String>,
    connect_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    first_byte_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    max_streams: Option<usize>,
    /// `None`: no window is brought forward.
    focus_window: Option<String>,
    /// `None`: no health check on a timer.
    health_interval: Option<Duration>,
    data_dir: Option<PathBuf>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            app_title: None,
            app_url: None,
            relay_url: None,
            scheme: None,
            key_label: None,
            connect_timeout: None,
            request_timeout: None,
            first_byte_timeout: None,
            idle_timeout: None,
            max_streams: None,
            focus_window: Some(DEFAULT_FOCUS_WINDOW.to_owned()),
            health_interval: Some(HEALTH_INTERVAL),
            data_dir: None,
        }
    }
}

/// How many replies stream at once unless the Builder says otherwise.
pub(crate) const DEFAULT_MAX_STREAMS: usize = 4;

impl Builder {
    /// The defaults: the app's product name as its title, no URL, the
    /// relay page from `OPENROUTER_CONNECT_RELAY_URL` if set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The app's name, sent to OpenRouter as `X-OpenRouter-Title` (it
    /// credits usage to it, and names an https callback's app by it), shown
    /// on the browser's pages and in the new key's label. Defaults to the
    /// app's product name.
    pub fn app_title(mut self, title: impl Into<String>) -> Self {
        self.app_title = Some(title.into());
        self
    }

    /// The app's public URL, sent as `HTTP-Referer`.
    pub fn app_url(mut self, url: impl Into<String>) -> Self {
        self.app_url = Some(url.into());
        self
    }

    /// The relay page on the app's https site (`relay/` in the
    /// repository), so that the consent page shows the site's name.
    pub fn relay_url(mut self, url: url::Url) -> Self {
        self.relay_url = Some(url);
        self
    }

    /// The app's URL scheme for the deep-link callback
    /// (`<scheme>:/callback/<secret>`); defaults to the app's identifier,
    /// the scheme to declare in the deep-link plugin's configuration.
    pub fn deep_link_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.scheme = Some(scheme.into());
        self
    }

    /// The label a new key gets on OpenRouter when the page gives none;
    /// defaults to `"<app title> on <host name>"`, so the user tells the
    /// keys of their machines apart.
    pub fn key_label(mut self, label: impl Into<String>) -> Self {
        self.key_label = Some(label.into());
        self
    }

    /// How long connecting to OpenRouter may take before a request fails
    /// with `timeout`; defaults to 10 seconds. A host whose users sit
    /// behind slow proxies or satellite links wants it longer; one that
    /// would rather say "offline" sooner, shorter.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How long a whole request to OpenRouter that is not streamed may
    /// take, answer included (the code exchange, the key's health, the
    /// model list, a buffered call), before it fails with `timeout`;
    /// defaults to 30 seconds. Streamed replies have their own limits
    /// ([`Builder::first_byte_timeout`], [`Builder::idle_timeout`]).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// How long a streamed reply may take to start (OpenRouter's answer
    /// and headers); defaults to a minute.
    pub fn first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.first_byte_timeout = Some(timeout);
        self
    }

    /// How long a streamed reply may stay silent, keep-alives included,
    /// before it ends with `idle-timeout`; defaults to a minute. The
    /// length of a whole reply has no limit.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// How many replies may stream at once, over all windows (each spends
    /// the user's credit); a page that asks for more is told
    /// `too-many-streams`. Defaults to 4.
    pub fn max_streams(mut self, max: usize) -> Self {
        self.max_streams = Some(max.max(1));
        self
    }

    /// The window brought to the front when the browser's answer
    /// arrives, so that the user, back from the browser, sees the result;
    /// defaults to `"main"`. A host whose connect button lives in another
    /// window (a settings window) names that one.
    pub fn focus_window(mut self, label: impl Into<String>) -> Self {
        self.focus_window = Some(label.into());
        self
    }

    /// Brings no window to the front when the browser's answer arrives:
    /// for a host that shows the result its own way (a tray app, a
    /// notification) or would rather not steal the focus.
    pub fn no_focus_window(mut self) -> Self {
        self.focus_window = None;
        self
    }

    /// How often the stored key's health (usage, limit, whether it still
    /// works) is asked of OpenRouter while the app runs, the first time at
    /// start; defaults to every 3 hours, and is at least a minute. A host
    /// that shows spending closely wants it more often.
    pub fn health_check_interval(mut self, interval: Duration) -> Self {
        self.health_interval = Some(interval.max(MIN_HEALTH_INTERVAL));
        self
    }

    /// Asks OpenRouter about the key only when the page refreshes it and
    /// right after a connect, never on a timer or at start: for a host
    /// that sends nothing in the background (a metered network, a
    /// privacy promise).
    pub fn no_health_check(mut self) -> Self {
        self.health_interval = None;
        self
    }

    /// The folder the encrypted key is kept in; defaults to the app's
    /// data folder (`AppHandle::path().app_data_dir()`). For a host that
    /// keeps its data elsewhere: a portable app beside its executable, a
    /// folder the user chose. Give it a folder of its own (the store
    /// makes it readable by the user alone), and one per app: the data
    /// key stays in the OS keychain under the app's identifier, so two
    /// folders of one app would take each other's data key. The panel
    /// says where the data key is, and names the files it sets aside,
    /// as for the default folder.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The plugin, for `tauri::Builder::plugin`.
    pub fn build<R: Runtime>(self) -> TauriPlugin<R> {
        tauri::plugin::Builder::new("openrouter")
            .invoke_handler(tauri::generate_handler![
                commands::status,
                commands::connect,
                commands::cancel,
                commands::dismiss,
                commands::reload,
                commands::submit_code,
                commands::open_again,
                commands::browser_url,
                commands::disconnect,
                commands::refresh,
                commands::open_revoke_page,
                commands::chat,
                commands::cancel_chat,
                commands::models,
            ])
            .setup(move |app, _api| {
                let health_interval = self.health_interval;
                let state = self.state(app)?;
                app.manage(state);
                start_background_work(app.clone(), health_interval);
                #[cfg(feature = "deep-link")]
                deeplink::install(app);
                Ok(())
            })
            // A page that goes away takes its replies with it: nothing is
            // left spending credit for a Channel no one reads.
            .on_page_load(|webview, payload| {
                if payload.event() == tauri::webview::PageLoadEvent::Started {
                    if let Some(state) = webview.try_state::<OpenRouter>() {
                        state.streams.cancel_webview(webview.label());
                    }
                }
            })
            .on_event(|app, event| {
                if let tauri::RunEvent::WindowEvent {
                    label,
                    event: tauri::WindowEvent::Destroyed,
                    ..
                } = event
                {
                    if let Some(state) = app.try_state::<OpenRouter>() {
                        state.streams.cancel_window(label);
                    }
                }
            })
            .build()
    }

    fn state<R: Runtime>(
        self,
        app: &AppHandle<R>,
    ) -> Result<OpenRouter, Box<dyn std::error::Error>> {
        let identifier = app.config().identifier.clone();
        let title = self
            .app_title
            .or_else(|| app.config().product_name.clone())
            .unwrap_or_else(|| identifier.clone());
        let data_dir = match self.data_dir {
            Some(dir) => dir,
            None => app.path().app_data_dir()?,
        };
        let mut attribution = Attribution::new(title.clone());
        if let Some(url) = self.app_url {
            attribution = attribution.url(url);
        }
        let base_url = environment::override_var(openrouter_connect_core::BASE_URL_ENV);
        let (mut client_config, config_problem) = match base_url {
            None => (ClientConfig::new(attribution), None),
            Some(url) => match ClientConfig::with_base(url.trim(), attribution.clone()) {
                Ok(config) => (config, None),
                Err(error) => {
                    tracing::error!(code = error.code(), "OPENROUTER_BASE_URL refused");
                    (ClientConfig::new(attribution), Some(error))
                }
            },
        };
        if let Some(timeout) = self.connect_timeout {
            client_config.connect_timeout = timeout;
        }
        if let Some(timeout) = self.request_timeout {
            client_config.request_timeout = timeout;
        }
        if let Some(timeout) = self.first_byte_timeout {
            client_config.first_byte_timeout = timeout;
        }
        if let Some(timeout) = self.idle_timeout {
            client_config.idle_timeout = timeout;
        }
        let relay_from_env = environment::override_var(openrouter_connect_core::RELAY_URL_ENV);
        let (relay_url, relay_problem) = match (self.relay_url, relay_from_env) {
            (Some(url), _) => (Some(url), None),
            (None, None) => (None, None),
            (None, Some(url)) => match parse_relay_url(url.trim()) {
                Ok(relay) => (Some(relay), None),
                Err(error) => {
                    tracing::error!(code = error.code(), "OPENROUTER_CONNECT_RELAY_URL refused");
                    (None, Some(error))
                }
            },
        };
        let ignored = environment::ignored_overrides_notice(
            environment::READS_OVERRIDES,
            environment::is_set,
        );
        if ignored.is_some() {
            tracing::warn!("variables that point the app elsewhere are set and ignored");
        }

        let store = Arc::new(LocalStore::open(&identifier, data_dir));

        let default_label = self
            .key_label
            .unwrap_or_else(|| format!("{title} on {}", host_name()));
        let scheme = self.scheme.unwrap_or_else(|| identifier.clone());
        let mut config = FlowConfig::default();
        config.loopback.app_name = title;
        config.default_key_label = Some(default_label.clone());
        let connector = Connector::builder(client_config)
            .store(store.clone())
            .flow_config(config)
            .build()?;
        tracing::info!(protection = ?store.protection(), "store ready");
        let config_problem = config_problem
            .or(relay_problem)
            .map(|error| error::config_problem(&error))
            .or(ignored);
        Ok(OpenRouter::new(
            connector,
            store,
            format!("{scheme}:/callback"),
            default_label,
            config_problem,
            relay_url,
            app.package_info().version.to_string(),
        )
        .with_max_streams(self.max_streams.unwrap_or(DEFAULT_MAX_STREAMS))
        .with_focus_window(self.focus_window))
    }
}

/// The plugin with the defaults of [`Builder::new`].
pub fn init<R: Runtime>() -> TauriPlugin<R> {
    Builder::new().build()
}

/// The plugin from the host's own Rust code: `app.openrouter()`.
pub trait OpenRouterExt<R: Runtime> {
    /// The connection the plugin manages.
    fn openrouter(&self) -> &OpenRouter;
}

impl<R: Runtime, T: Manager<R>> OpenRouterExt<R> for T {
    fn openrouter(&self) -> &OpenRouter {
        self.state::<OpenRouter>().inner()
    }
}

fn host_name() -> String {
    gethostname::gethostname()
        .to_string_lossy()
        .chars()
        .filter(|c| !c.is_control())
        .take(40)
        .collect()
}

/// Forwards every status change to the webview, brings the window forward
/// when the browser's answer arrives, and checks the key's health every
/// `health_interval` (with `None`, only after a connect).
fn start_background_work<R: Runtime>(app: AppHandle<R>, health_interval: Option<Duration>) {
    let state = app.state::<OpenRouter>();
    let mut changes = state.connector.subscribe();
    let forwarder = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut was_waiting = false;
        // The key stored when the flow began: a new connection replaces
        // it (the store clears its record), and the panel offers its
        // revoke page as for a disconnect.
        let mut before_flow = None;
        while changes.changed().await.is_ok() {
            let (flow, key) = {
                let status = changes.borrow_and_update();
                (status.state.clone(), status.key.clone())
            };
            if !was_waiting && matches!(flow, FlowState::AwaitingCallback { .. }) {
                before_flow = key.clone();
            }
            let state = forwarder.state::<OpenRouter>();
            if was_waiting && !matches!(flow, FlowState::AwaitingCallback { .. }) {
                state::bring_window_forward(&forwarder);
            }
            if flow == FlowState::Connected && was_waiting {
                let connector = state.connector.clone();
                let replaced = before_flow.take().filter(|old: &KeyMeta| {
                    key.as_ref()
                        .is_some_and(|new| new.key_sha256 != old.key_sha256)
                });
                state.update(&forwarder, |panel| {
                    panel.health = None;
                    // Unless a Disconnect has already forgotten this new
                    // key and named it for its revoke page.
                    if connector.status().state == FlowState::Connected {
                        panel.forgotten = replaced;
                    }
                });
                let app = forwarder.clone();
                tauri::async_runtime::spawn(async move {
                    app.state::<OpenRouter>().check_health(&app).await;
                });
            } else {
                state.emit(&forwarder);
            }
            was_waiting = matches!(
                flow,
                FlowState::AwaitingCallback { .. } | FlowState::Exchanging
            );
        }
    });
    let Some(interval) = health_interval else {
        return;
    };
    tauri::async_runtime::spawn(async move {
        loop {
            app.state::<OpenRouter>().check_health(&app).await;
            tokio::time::sleep(interval).await;
        }
    });
}
