//! Wires the plugins, the vault and the core together, and keeps the
//! panel told of every change.

use std::sync::Arc;
use std::time::Duration;

use openrouter_connect_core::{
    Attribution, ClientConfig, Connector, FlowConfig, FlowState, LocalStore, OpenRouterClient,
    relay_url_from_env,
};
use tauri::{AppHandle, Manager};

use crate::state::{AppState, focus_main_window};
use crate::{commands, deeplink, messages};

const PRODUCT: &str = "OpenRouter Connect";
/// How often the key's health is checked while the app is open.
const HEALTH_INTERVAL: Duration = Duration::from_secs(3 * 60 * 60);

pub fn run() {
    init_logging();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting");
    let app = tauri::Builder::default()
        // First, so a second launch hands over its deep link and exits
        // before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            focus_main_window(app);
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_store::Builder::default().build())
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(tauri::generate_handler![
            commands::status,
            commands::connect,
            commands::cancel,
            commands::dismiss,
            commands::reload,
            commands::submit_code,
            commands::open_again,
            commands::disconnect,
            commands::refresh_health,
            commands::test_request,
            commands::open_revoke_page,
        ])
        .setup(|app| {
            let state = build_state(app.handle())?;
            app.manage(state);
            start_background_work(app.handle().clone());
            exit_on_sigterm(app.handle().clone());
            deeplink::install(app.handle());
            Ok(())
        })
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|_, _| {}),
        Err(e) => {
            tracing::error!(error = %e, "the app could not start");
            std::process::exit(1);
        }
    }
}

/// Logs to stderr; `RUST_LOG` chooses the detail. The core never logs a
/// secret, at any level.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn build_state(app: &AppHandle) -> Result<AppState, Box<dyn std::error::Error>> {
    let identifier = app.config().identifier.clone();
    let data_dir = app.path().app_data_dir()?;
    let client_config = ClientConfig::from_env(Attribution {
        app_url: Some("https://github.com/openrouterconnect/openrouter-connect".to_owned()),
        app_title: Some(PRODUCT.to_owned()),
    });
    let (client_config, config_problem) = match client_config {
        Ok(config) => (config, None),
        Err(error) => {
            tracing::error!(code = error.code(), "OPENROUTER_BASE_URL refused");
            (ClientConfig::new(Attribution::default()), Some(error))
        }
    };
    let client = OpenRouterClient::new(client_config)?;
    let (relay_url, relay_problem) = match relay_url_from_env() {
        Ok(relay) => (relay, None),
        Err(error) => {
            tracing::error!(code = error.code(), "OPENROUTER_CONNECT_RELAY_URL refused");
            (None, Some(error))
        }
    };

    let (store, loaded) = LocalStore::open(&identifier, data_dir);
    tracing::info!(protection = ?store.protection(), "store ready");

    let default_label = format!("{PRODUCT} on {}", host_name());
    let mut config = FlowConfig::default();
    config.loopback.app_name = PRODUCT.to_owned();
    config.default_key_label = Some(default_label.clone());
    let store = Arc::new(store);
    let connector = Connector::with_loaded(client, store.clone(), config, loaded);
    let config_problem = config_problem
        .or(relay_problem)
        .map(|error| messages::config_problem(&error));
    Ok(AppState::new(
        connector,
        store,
        format!("{identifier}:/callback"),
        default_label,
        config_problem,
        relay_url,
    ))
}

fn host_name() -> String {
    gethostname::gethostname()
        .to_string_lossy()
        .chars()
        .filter(|c| !c.is_control())
        .take(40)
        .collect()
}

/// SIGTERM (a logout, `systemctl stop`, a test harness) ends the app the
/// way closing its window does, so plugins save and WebKit's processes go.
fn exit_on_sigterm(app: AppHandle) {
    #[cfg(unix)]
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            terminate.recv().await;
            tracing::info!("SIGTERM: exiting");
            app.exit(0);
        }
    });
    #[cfg(not(unix))]
    let _ = app;
}

/// Forwards every status change to the panel, brings the window forward
/// when the browser's answer arrives, and keeps the key's health fresh.
fn start_background_work(app: AppHandle) {
    let state = app.state::<AppState>();
    let mut changes = state.connector.subscribe();
    let forwarder = app.clone();
    tauri::async_runtime::spawn(async move {
        let mut was_waiting = false;
        while changes.changed().await.is_ok() {
            let flow = changes.borrow_and_update().state.clone();
            let state = forwarder.state::<AppState>();
            if was_waiting && !matches!(flow, FlowState::AwaitingCallback { .. }) {
                focus_main_window(&forwarder);
            }
            if flow == FlowState::Connected && was_waiting {
                let connector = state.connector.clone();
                state.update(&forwarder, |panel| {
                    panel.health = None;
                    // Unless a Disconnect has already forgotten this new
                    // key and named it for its revoke page.
                    if connector.status().state == FlowState::Connected {
                        panel.forgotten = None;
                    }
                });
                let app = forwarder.clone();
                tauri::async_runtime::spawn(async move {
                    app.state::<AppState>().check_health(&app).await;
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
    tauri::async_runtime::spawn(async move {
        loop {
            app.state::<AppState>().check_health(&app).await;
            tokio::time::sleep(HEALTH_INTERVAL).await;
        }
    });
}
