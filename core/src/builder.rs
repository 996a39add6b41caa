//! How a [`Connector`] is put together: the client's configuration and
//! HTTP settings, the store, the flow's settings, and the store's first
//! read, made once.

use std::sync::Arc;

use crate::client::OpenRouterClient;
use crate::config::ClientConfig;
use crate::connector::Connector;
use crate::error::Error;
use crate::options::FlowConfig;
use crate::store::{KeyStore, MemoryStore};

/// Configures a [`Connector`]; from [`Connector::builder`].
///
/// ```no_run
/// use std::sync::Arc;
/// use openrouter_connect_core::{Attribution, ClientConfig, Connector, LocalStore};
///
/// let config = ClientConfig::new(Attribution::new("My CLI").url("https://example.com"));
/// let store = Arc::new(LocalStore::open("com.example.cli", "/home/me/.local/share/example"));
/// let connector = Connector::builder(config).store(store.clone()).build()?;
/// println!("{:?}, the data key: {:?}", connector.status().state, store.protection());
/// # Ok::<(), openrouter_connect_core::Error>(())
/// ```
#[must_use]
pub struct ConnectorBuilder {
    config: ClientConfig,
    http: Option<reqwest::ClientBuilder>,
    store: Arc<dyn KeyStore>,
    flow: FlowConfig,
}

impl std::fmt::Debug for ConnectorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorBuilder")
            .field("config", &self.config)
            .field("flow", &self.flow)
            .finish_non_exhaustive()
    }
}

impl ConnectorBuilder {
    pub(crate) fn new(config: ClientConfig) -> Self {
        Self {
            config,
            http: None,
            store: Arc::new(MemoryStore::new()),
            flow: FlowConfig::default(),
        }
    }

    /// The HTTP settings the client starts from: a proxy, a company's
    /// root certificate, a header of the app's. What the client sets over
    /// them, and why, is on [`OpenRouterClient::with_http`].
    pub fn http(mut self, http: reqwest::ClientBuilder) -> Self {
        self.http = Some(http);
        self
    }

    /// Where the key is kept, such as a [`crate::LocalStore`]; by default
    /// in memory, for the life of the process. Keep a clone of the `Arc`
    /// to ask the store itself what it knows (where its data key is, what
    /// to tell the user), without reading it again.
    pub fn store(mut self, store: Arc<dyn KeyStore>) -> Self {
        self.store = store;
        self
    }

    /// How flows run: their deadline, the loopback listener, the default
    /// key label. By default [`FlowConfig::default`].
    pub fn flow_config(mut self, config: FlowConfig) -> Self {
        self.flow = config;
        self
    }

    /// Reads the store once, here, and returns the connector; a store
    /// that can't be read starts it in [`crate::FlowState::Failed`] with
    /// the reason. The read may block (files, a keychain, which may ask
    /// the user), as the store's calls may. Fails on attribution that
    /// can't be an HTTP header, and on HTTP settings the stack refuses
    /// ([`OpenRouterClient::with_http`]).
    pub fn build(self) -> Result<Connector, Error> {
        let client = match self.http {
            Some(http) => OpenRouterClient::with_http(self.config, http)?,
            None => OpenRouterClient::new(self.config)?,
        };
        let loaded = self.store.load().map(|record| record.map(|r| r.meta));
        Ok(Connector::start(client, self.store, self.flow, loaded))
    }
}
