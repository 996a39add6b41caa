//! OpenRouter's PKCE connect flow for desktop apps, without Tauri.
//!
//! A [`Connector`] opens a loopback listener, builds the consent URL for
//! the system browser, checks the browser's answer, exchanges the code
//! with its verifier for a user-controlled API key, and keeps that key in
//! a [`KeyStore`]. Its [`Status`] is all a UI ever sees: never the key,
//! the code or the verifier.
//!
//! ```no_run
//! # async fn run() -> Result<(), openrouter_connect_core::Error> {
//! use std::sync::Arc;
//! use openrouter_connect_core::*;
//!
//! let client = OpenRouterClient::new(ClientConfig::from_env(Attribution {
//!     app_url: Some("https://example.com".into()),
//!     app_title: Some("Example".into()),
//! })?)?;
//! let connector = Connector::new(client, Arc::new(MemoryStore::new()), FlowConfig::default());
//! let status = connector.connect(ConnectOptions::default()).await?;
//! if let FlowState::AwaitingCallback { auth_url, .. } = status.state {
//!     println!("open {auth_url} in the browser");
//! }
//! # Ok(()) }
//! ```

pub mod callback;
pub mod client;
pub mod config;
pub mod error;
pub mod flow;
pub mod loopback;
mod page;
pub mod pkce;
pub mod secret;
pub mod store;
pub mod vault;

pub use client::{ChatReply, ConsentRequest, ExchangedKey, KeyInfo, OpenRouterClient};
pub use config::{Attribution, BASE_URL_ENV, ClientConfig, DEFAULT_BASE_URL, RELAY_URL_ENV};
pub use error::{Error, ErrorView, NetworkCause};
pub use flow::{
    ConnectOptions, Connector, DEFAULT_DEADLINE, FlowConfig, FlowState, Status, WayBack,
};
pub use loopback::LoopbackConfig;
pub use secret::{ApiKey, AuthCode, CallbackSecret, PkceVerifier};
pub use store::{KeyMeta, KeyStore, MemoryStore, StoredKey};
pub use vault::{DataKey, DataKeyStore, Slot, SlotStore, Vault, VaultHealth};
