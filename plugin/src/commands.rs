//! The plugin's commands, `plugin:openrouter|<name>`: thin, each delegates
//! to the core or the plugin's state. The status reaches the page by one
//! road, the status event ([`crate::STATUS_EVENT`]): a command answers
//! nothing but its error (`status` answers the status once, for a page
//! that has just loaded, with the same revision as the event), and
//! `browser_url` a fresh address of the consent page, for Copy link. None
//! returns the key, the code or the verifier.

use openrouter_connect_core::{CallbackMode, ConnectOptions, Error, Model};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State, Webview};

use crate::browser;
use crate::chat::ChatEvent;
use crate::models::{CallbackChoice, ConnectRequest, ErrorView, PanelStatus};
use crate::state::OpenRouter;

#[tauri::command]
pub fn status(state: State<'_, OpenRouter>) -> PanelStatus {
    tracing::info!("panel asked for the status");
    state.status()
}

/// Starts a flow (or finds the one waiting) and opens its consent page.
#[tauri::command]
pub async fn connect<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, OpenRouter>,
    options: ConnectRequest,
) -> Result<(), ErrorView> {
    if options.mode == CallbackChoice::DeepLink && !state.takes_deep_links() {
        // Two causes, each with its own remedy.
        let reason = if cfg!(feature = "deep-link") {
            "this app takes no deep links: register tauri-plugin-deep-link before the OpenRouter plugin"
        } else {
            "this app takes no deep links: tauri-plugin-openrouter was built without its deep-link feature"
        };
        return Err(Error::InvalidOption(reason).into());
    }
    let mode = match options.mode {
        CallbackChoice::Loopback => match &state.relay_url {
            Some(relay_url) => CallbackMode::Relay {
                relay_url: relay_url.clone(),
            },
            None => CallbackMode::Loopback,
        },
        // The relay page's scheme way forwards to `<identifier>:/callback`,
        // the app's deep-link callback.
        CallbackChoice::DeepLink => CallbackMode::DeepLink {
            callback_url: state.deep_link_callback.clone(),
            relay_url: state.relay_url.clone(),
        },
        CallbackChoice::Paste => CallbackMode::Paste,
    };
    {
        // Sent with the flow's first status, not in an event of their own.
        let mut panel = state.panel();
        panel.callback_mode = options.mode;
        panel.browser_error = None;
        panel.late_link = false;
    }
    let mut request = ConnectOptions::new(mode);
    request.key_label = options.key_label;
    request.limit_usd = options.limit_usd;
    // The store emits no event of its own: what it says of the data key
    // and of records it moved aside reaches the panel with the status.
    let connected = state.connector.connect(request).await;
    if connected.is_ok() {
        // A flow that already ended (or no address to be had) opens nothing.
        let opened = browser::open_consent(&state.connector).unwrap_or_else(|error| {
            tracing::warn!(code = error.code(), "no address to open in the browser");
            None
        });
        state.panel().browser_error = opened;
    }
    // One event for what the store and the browser said.
    state.emit(&app);
    connected?;
    Ok(())
}

/// Opens the waiting flow's consent page again, at a fresh address.
#[tauri::command]
pub async fn open_again<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, OpenRouter>,
) -> Result<(), ErrorView> {
    let opened = browser::open_consent(&state.connector)?;
    state.update(&app, |panel| panel.browser_error = opened);
    Ok(())
}

/// A fresh address of the waiting flow's consent page, for the user to
/// open in a browser of their choice (Copy link). Like the one the
/// browser was opened on, it works once: the status holds none.
#[tauri::command]
pub fn browser_url(state: State<'_, OpenRouter>) -> Result<String, ErrorView> {
    Ok(state.connector.browser_url()?)
}

/// The code the user pasted from OpenRouter's page (paste mode). It is
/// wiped from memory here once handed over.
#[tauri::command]
pub fn submit_code(state: State<'_, OpenRouter>, code: String) -> Result<(), ErrorView> {
    let code = zeroize::Zeroizing::new(code);
    state.connector.submit_code(&code)?;
    Ok(())
}

/// Reads the stored connection again: the user unlocked the keychain
/// that kept it from loading.
#[tauri::command]
pub async fn reload<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, OpenRouter>,
) -> Result<(), ErrorView> {
    let status = state.connector.reload().await?;
    state.store.clear_notice();
    state.emit(&app);
    if status.key.is_some() {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            app.state::<OpenRouter>().check_health(&app).await;
        });
    }
    Ok(())
}

/// Back from a failure to the key still stored, or to not connected.
#[tauri::command]
pub fn dismiss(state: State<'_, OpenRouter>) {
    state.connector.dismiss();
}

#[tauri::command]
pub async fn cancel<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, OpenRouter>,
) -> Result<(), ErrorView> {
    state.connector.cancel().await?;
    state.update(&app, |panel| panel.browser_error = None);
    Ok(())
}

/// Forgets the key here; the panel then offers its revoke page.
#[tauri::command]
pub async fn disconnect<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, OpenRouter>,
) -> Result<(), ErrorView> {
    // No reply goes on spending with a key being forgotten.
    state.streams.cancel_all();
    let forgotten = state.connector.disconnect().await;
    // A keychain that refused the clear changes what the store says.
    state.emit(&app);
    let forgotten = forgotten?;
    state.update(&app, |panel| {
        panel.health = None;
        if forgotten.is_some() {
            panel.forgotten = forgotten;
        }
    });
    Ok(())
}

#[tauri::command]
pub async fn refresh<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, OpenRouter>,
) -> Result<(), ErrorView> {
    if state.connector.status().key.is_none() {
        return Err(Error::NotConnected.into());
    }
    state.check_health(&app).await;
    Ok(())
}

/// Opens a key's page on OpenRouter, where the user revokes it: the key
/// whose SHA-256 is `key_sha256`, which must be the connected key or the
/// one last forgotten (by a disconnect, or replaced by a new connection);
/// without it, the connected key's, or else the forgotten one's.
#[tauri::command]
pub fn open_revoke_page<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, OpenRouter>,
    key_sha256: Option<String>,
) -> Result<(), ErrorView> {
    let known = [
        state.connector.status().key,
        state.panel().forgotten.clone(),
    ];
    let mut known = known.into_iter().flatten();
    let meta = match key_sha256 {
        None => known.next().ok_or(Error::NotConnected)?,
        Some(hash) => known
            .find(|meta| meta.key_sha256 == hash)
            .ok_or(Error::InvalidOption(
                "the key is neither the connected one nor the one last forgotten",
            ))?,
    };
    // The key's page is on the OpenRouter that issued it (the sandbox's,
    // too).
    let url = format!("{}keys/{}", meta.issuer(), meta.key_sha256);
    let opened = browser::open(&url);
    state.update(&app, |panel| panel.browser_error = opened.err());
    Ok(())
}

/// Streams a chat reply to the page over `on_event` (see
/// [`ChatEvent`]); answers at once, and the Channel says how it ends.
/// `request` is OpenRouter's chat request; the plugin asks for a stream.
#[tauri::command]
pub fn chat<R: Runtime>(
    app: AppHandle<R>,
    webview: Webview<R>,
    state: State<'_, OpenRouter>,
    request: serde_json::Value,
    on_event: Channel<ChatEvent>,
) -> Result<(), ErrorView> {
    state.streams.start(
        app,
        state.connector.clone(),
        webview.label(),
        webview.window().label(),
        request,
        on_event,
    )
}

/// Stops a reply of this page, named by its Channel's id.
#[tauri::command]
pub fn cancel_chat<R: Runtime>(webview: Webview<R>, state: State<'_, OpenRouter>, stream_id: u32) {
    state.streams.cancel(webview.label(), stream_id);
}

/// The models OpenRouter offers.
#[tauri::command]
pub async fn models(state: State<'_, OpenRouter>) -> Result<Vec<Model>, ErrorView> {
    Ok(state.connector.models().await?)
}
