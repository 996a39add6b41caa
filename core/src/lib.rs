//! OpenRouter's PKCE connect flow for desktop apps and CLIs, without Tauri.
//!
//! A [`Connector`] opens a loopback listener (or waits for a deep link, or
//! a pasted code), builds the consent URL for the system browser, checks
//! the browser's answer, exchanges the code with its verifier for a
//! user-controlled API key, and keeps that key in a [`KeyStore`]. Its
//! [`Status`] is all a UI ever sees: never the key, the code or the
//! verifier.
//!
//! With the `keyring` feature (on by default), [`LocalStore`] keeps the key
//! encrypted in a folder, its data key in the OS keychain: no storage code
//! to write.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), openrouter_connect_core::Error> {
//! use std::sync::Arc;
//! use openrouter_connect_core::*;
//!
//! let config = ClientConfig::new(Attribution::new("Example").url("https://example.com"));
//! let store = LocalStore::open("com.example.cli", "/home/me/.local/share/example");
//! let connector = Connector::builder(config).store(Arc::new(store)).build()?;
//! let key = connector
//!     .connect_and_wait(ConnectOptions::default(), |url| println!("Open {url}"))
//!     .await?;
//! println!("connected: {}", key.masked);
//! # Ok(()) }
//! ```
//!
//! # Tokio
//!
//! The listener, the HTTP client (reqwest), the flow's timers and the
//! store's calls run on Tokio: call the async methods from a Tokio
//! runtime with its I/O and time drivers on (`#[tokio::main]`, or
//! `tokio::runtime::Builder::enable_all`), multi-threaded or not. A call
//! made outside one fails with [`Error::NoTokioRuntime`]. Building a
//! [`Connector`] and its methods that are not `async` need no runtime.
//!
//! # Stability
//!
//! Everything exported here is the API; modules are private. Enums and
//! structs that mirror OpenRouter's answers or may gain options are
//! `#[non_exhaustive]`. [`Error::code`] strings never change meaning.
#![warn(missing_docs)]
// docs.rs marks what needs a feature, such as `LocalStore`.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod answers;
mod builder;
mod callback;
mod client;
mod config;
mod connector;
mod error;
mod file_slots;
mod files;
mod flow;
#[cfg(feature = "keyring")]
mod keychain;
mod launch;
#[cfg(feature = "keyring")]
mod local;
mod loopback;
mod machine;
mod options;
mod page;
mod pkce;
mod request_head;
mod runtime;
mod secret;
mod sse;
mod status;
mod store;
mod stream;
mod vault;

pub use answers::{ExchangedKey, KeyInfo, Model, ModelPricing, Usage};
pub use builder::ConnectorBuilder;
pub use client::{ApiCall, ConsentRequest, OpenRouterClient};
pub use config::{
    Attribution, BASE_URL_ENV, ClientConfig, DEFAULT_BASE_URL, RELAY_URL_ENV, parse_relay_url,
    relay_url_from_env,
};
pub use connector::Connector;
pub use error::{Error, ErrorSource, NetworkCause};
pub use file_slots::FileSlots;
#[cfg(feature = "keyring")]
pub use local::{KeyFileReason, LocalStore, Protection, StoreNotice};
pub use loopback::LoopbackConfig;
pub use options::{CallbackMode, ConnectOptions, DEFAULT_DEADLINE, FlowConfig};
pub use pkce::Pkce;
pub use secret::{ApiKey, AuthCode, PkceVerifier};
pub use status::{FlowState, Status};
pub use store::{KeyMeta, KeyStore, MemoryStore, StoredKey};
pub use stream::{ChatChunk, ChatStream, StreamEvent};
pub use vault::{DataKey, DataKeyStore, Slot, SlotStore, Vault, VaultHealth};

/// The HTTP client crate, at the version whose `ClientBuilder`
/// [`ConnectorBuilder::http`] and [`OpenRouterClient::with_http`] take.
pub use reqwest;

/// The README's examples, compiled as doctests.
#[cfg(all(doctest, feature = "keyring"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Entry points for the fuzz targets in `fuzz/`: not part of the API, and
/// may change in any release.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::answers::{decode_exchange, decode_key_info};
    pub use crate::callback::{Callback, parse_pasted_code, parse_query, split_deep_link};
    pub use crate::sse::{SseItem, SseParser};
}
