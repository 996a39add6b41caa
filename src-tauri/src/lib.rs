//! OpenRouter Connect, the desktop app: a window over
//! tauri-plugin-openrouter, the plugin's first user. [`run`] is the whole
//! app.

use std::time::Duration;

use tauri::{AppHandle, Manager, WebviewWindow};

/// How long the window may stay hidden waiting for the panel's word: a
/// page that never reports (a broken build, a WebKit that never runs it)
/// still appears, with what it has.
const SHOW_WINDOW_FALLBACK: Duration = Duration::from_secs(3);

/// Starts the app and returns when it quits.
pub fn run() {
    init_logging();
    harden();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting");
    let app = tauri::Builder::default()
        // First, so a second launch hands over its deep link and exits
        // before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            bring_forward(app);
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(
            tauri_plugin_openrouter::Builder::new()
                .app_title("OpenRouter Connect")
                .app_url("https://github.com/openrouterconnect/openrouter-connect")
                .build(),
        )
        .invoke_handler(tauri::generate_handler![show_window])
        .setup(|app| {
            exit_on_sigterm(app.handle().clone());
            show_window_after(app.handle().clone(), SHOW_WINDOW_FALLBACK);
            tracing::info!("setup hook ran");
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

/// Logs to stderr; `RUST_LOG` chooses the detail, as a level and levels
/// per target (`debug`, `info,tauri_plugin_openrouter=debug`); `info`
/// where it is unset, empty or unreadable. Nothing logs a secret, at any
/// level.
///
/// tracing-subscriber's `Targets` filter, not its `EnvFilter`: the same
/// directives less span and field filters, for whose value patterns
/// `EnvFilter` brings a regular-expression engine into the binary (about
/// 0.9 MB of the release build).
fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|directives| !directives.trim().is_empty())
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
}

/// Keeps the process's memory, which holds the API key and the data key
/// while connected, out of files and away from other processes.
///
/// On Linux: no core file (a crash would write the keys to disk), and
/// the process is not dumpable, so other processes of the same user can't
/// attach a debugger to it or read `/proc/<pid>/mem` (root still can).
/// Set for the whole process, which is why the app does it and the plugin
/// does not: a host app decides for itself. WebKit's web and network
/// processes start dumpable again (`execve` resets the flag), with no
/// core file (they inherit the limit); they never hold the key. Nothing
/// on macOS or Windows yet.
fn harden() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{DumpableBehavior, Resource, Rlimit};
        let no_core = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        if let Err(e) = rustix::process::setrlimit(Resource::Core, no_core) {
            tracing::warn!(error = %e, "core files could not be turned off");
        }
        if let Err(e) = rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable) {
            tracing::warn!(error = %e, "the process could not be made non-dumpable");
        }
    }
}

/// The panel calls this once it shows its first status. The window is
/// created hidden (`visible: false` in tauri.conf.json) so that its first
/// frame is the settled panel, never a "Loading…" that changes at once.
#[tauri::command]
fn show_window(window: WebviewWindow) {
    reveal(&window, "the panel shows its first status");
}

/// Shows the window after `delay` if the panel has not.
fn show_window_after(app: AppHandle, delay: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        if let Some(window) = app.get_webview_window("main") {
            reveal(&window, "the panel did not report in time");
        }
    });
}

/// Shows a hidden window, once: later calls find it visible.
fn reveal(window: &WebviewWindow, why: &str) {
    if window.is_visible().unwrap_or(true) {
        return;
    }
    match window.show() {
        Ok(()) => tracing::info!(reason = why, "window shown"),
        Err(e) => tracing::warn!(error = %e, "the window could not be shown"),
    }
}

/// Brings the window to the front: a second launch was the user asking.
fn bring_forward(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
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
