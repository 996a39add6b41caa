//! The panel's commands: thin, each delegates to the core or the app
//! state, and none returns the key, the code or the verifier.

use openrouter_connect_core::{ChatReply, ConnectOptions, Error, FlowState, WayBack};
use tauri::{AppHandle, Manager, State};

use crate::models::{AppStatus, CallbackMode, ConnectRequest};
use crate::state::AppState;
use crate::{browser, keys};

/// The model the Test button asks: OpenRouter picks a suitable one.
const TEST_MODEL: &str = "openrouter/auto";
const TEST_PROMPT: &str = "Reply with one short friendly sentence to confirm you can hear me.";

#[tauri::command]
pub fn status(state: State<'_, AppState>) -> AppStatus {
    tracing::info!("panel asked for the status");
    state.snapshot()
}

/// Starts a flow (or finds the one waiting) and opens its consent page.
#[tauri::command]
pub async fn connect(
    app: AppHandle,
    state: State<'_, AppState>,
    options: ConnectRequest,
) -> Result<AppStatus, Error> {
    let way_back = match options.mode {
        CallbackMode::Loopback => match &state.relay_url {
            Some(relay_url) => WayBack::Relay {
                relay_url: relay_url.clone(),
            },
            None => WayBack::Loopback,
        },
        // The relay page's scheme way forwards to `<identifier>:/callback`,
        // the app's deep-link callback.
        CallbackMode::DeepLink => WayBack::DeepLink {
            callback_url: state.deep_link_callback.clone(),
            relay_url: state.relay_url.clone(),
        },
        CallbackMode::Paste => WayBack::Paste,
    };
    // A store left as it was because it could not be read (see
    // `storage::set_aside`): Connect is the user's word to move it aside.
    if let FlowState::Failed { error } = &state.connector.status().state {
        if matches!(error.code.as_str(), "vault-corrupt" | "data-key-mismatch") {
            let error = match error.code.as_str() {
                "vault-corrupt" => Error::VaultCorrupt,
                _ => Error::DataKeyMismatch,
            };
            let notice = crate::storage::set_aside(&state.vault, &error);
            state.update(&app, |facts| facts.store_notice = Some(notice));
            state.connector.reload().await?;
        }
    }
    state.update(&app, |facts| {
        facts.callback_mode = options.mode;
        facts.browser_error = None;
        facts.late_link = false;
    });
    let label = options
        .key_label
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| state.default_label.clone());
    let status = state
        .connector
        .connect(ConnectOptions {
            way_back,
            key_label: Some(label),
            limit_usd: options.limit_usd,
        })
        .await
        .inspect_err(|error| {
            // The data key is made before a flow starts: a keychain that
            // refuses it is unavailable, and the panel says so.
            if matches!(error, Error::Keychain(_)) && !state.vault.keys().is_file() {
                state.update(&app, |facts| facts.protection = keys::locked_protection());
            }
        })?;
    // Or a keychain that failed at start took it after all.
    if let Some(protection) = state.vault.keys().changed_protection() {
        state.update(&app, |facts| facts.protection = protection);
    }
    open_consent(&app, &state, &status.state);
    Ok(state.snapshot())
}

#[tauri::command]
pub async fn open_again(app: AppHandle, state: State<'_, AppState>) -> Result<AppStatus, Error> {
    let status = state.connector.status();
    if !matches!(status.state, FlowState::AwaitingCallback { .. }) {
        return Err(Error::NoFlow);
    }
    open_consent(&app, &state, &status.state);
    Ok(state.snapshot())
}

fn open_consent(app: &AppHandle, state: &AppState, flow: &FlowState) {
    if let FlowState::AwaitingCallback { auth_url, .. } = flow {
        let opened = browser::open(app, auth_url);
        state.update(app, |facts| facts.browser_error = opened.err());
    }
}

/// The code the user pasted from OpenRouter's page (paste mode). It is
/// wiped from memory here once handed over.
#[tauri::command]
pub fn submit_code(state: State<'_, AppState>, code: String) -> Result<AppStatus, Error> {
    let code = zeroize::Zeroizing::new(code);
    state.connector.submit_code(&code)?;
    Ok(state.snapshot())
}

/// Reads the stored connection again: the user unlocked the keychain
/// that kept it from loading.
#[tauri::command]
pub async fn reload(app: AppHandle, state: State<'_, AppState>) -> Result<AppStatus, Error> {
    let status = state.connector.reload().await?;
    state.update(&app, |facts| {
        if facts.protection.level == "unavailable" {
            facts.protection = keys::keychain_protection();
        }
        facts.store_notice = None;
    });
    if status.key.is_some() {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            app.state::<AppState>().check_health(&app).await;
        });
    }
    Ok(state.snapshot())
}

/// Back from a failure to the key still stored, or to not connected.
#[tauri::command]
pub fn dismiss(state: State<'_, AppState>) -> AppStatus {
    state.connector.dismiss();
    state.snapshot()
}

#[tauri::command]
pub async fn cancel(app: AppHandle, state: State<'_, AppState>) -> Result<AppStatus, Error> {
    state.connector.cancel().await?;
    state.update(&app, |facts| facts.browser_error = None);
    Ok(state.snapshot())
}

/// Forgets the key here; the panel then offers its revoke page.
#[tauri::command]
pub async fn disconnect(app: AppHandle, state: State<'_, AppState>) -> Result<AppStatus, Error> {
    let forgotten = state.connector.disconnect().await?;
    state.update(&app, |facts| {
        facts.health = None;
        if forgotten.is_some() {
            facts.forgotten = forgotten;
        }
    });
    Ok(state.snapshot())
}

#[tauri::command]
pub async fn refresh_health(
    app: AppHandle,
    state: State<'_, AppState>,
) -> Result<AppStatus, Error> {
    if state.connector.status().key.is_none() {
        return Err(Error::NotConnected);
    }
    state.check_health(&app).await;
    Ok(state.snapshot())
}

#[tauri::command]
pub async fn test_request(state: State<'_, AppState>) -> Result<ChatReply, Error> {
    state.connector.test_request(TEST_MODEL, TEST_PROMPT).await
}

/// Opens the key's page on OpenRouter, where the user revokes it: the
/// connected key's, or the one just forgotten.
#[tauri::command]
pub fn open_revoke_page(app: AppHandle, state: State<'_, AppState>) -> Result<(), Error> {
    let hash = state
        .connector
        .status()
        .key
        .or_else(|| state.facts().forgotten.clone())
        .map(|meta| meta.key_sha256)
        .ok_or(Error::NotConnected)?;
    // The key belongs to the OpenRouter it came from (the sandbox's, too).
    let url = format!("{}keys/{hash}", state.base_url);
    let opened = browser::open(&app, &url);
    state.update(&app, |facts| facts.browser_error = opened.err());
    Ok(())
}
