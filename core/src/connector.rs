//! The connection to OpenRouter: the one object an app holds. It feeds
//! the state machine ([`crate::machine`]) and performs what it says:
//! starting flows, reading and clearing the store, publishing the status.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::answers::{KeyInfo, Model};
use crate::builder::ConnectorBuilder;
use crate::callback::{parse_pasted_code, split_deep_link};
use crate::client::{ApiCall, OpenRouterClient};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow;
use crate::machine::{Effect, Event, Machine};
use crate::options::{ConnectOptions, FlowConfig};
use crate::runtime::{blocking, require_tokio};
use crate::secret::ApiKey;
use crate::status::{FlowState, Status};
use crate::store::{KeyMeta, KeyStore, StoredKey};
use crate::stream::ChatStream;

/// How long a disconnect waits for an exchange in progress to end.
const DISCONNECT_WAIT: Duration = Duration::from_secs(120);

pub(crate) struct Inner {
    pub client: OpenRouterClient,
    pub store: Arc<dyn KeyStore>,
    pub config: FlowConfig,
    machine: Mutex<Machine>,
    status: watch::Sender<Status>,
    /// Serializes connect, reload and disconnect, so two clicks make one
    /// flow.
    starting: tokio::sync::Mutex<()>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `event` to the machine and publishes the status if it changed.
    pub fn step(&self, event: Event) -> Result<Effect, Error> {
        let mut machine = self.lock();
        let effect = machine.handle(event);
        let status = machine.status();
        self.status.send_if_modified(|current| {
            let changed = *current != status;
            if changed {
                *current = status;
            }
            changed
        });
        effect
    }
}

/// The connection to OpenRouter: cheap to clone, one per app. Made with
/// [`Connector::builder`].
///
/// Every async method but [`Connector::cancel`] runs on a Tokio runtime
/// (see the crate's docs); called outside one, it fails with
/// [`Error::NoTokioRuntime`].
///
/// ```
/// use openrouter_connect_core::{Attribution, ClientConfig, Connector};
///
/// let config = ClientConfig::new(Attribution::new("Example").url("https://example.com"));
/// let connector = Connector::builder(config).build()?;
/// assert!(connector.status().key.is_none());
/// # Ok::<(), openrouter_connect_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Connector {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector for the OpenRouter `config` names: set its store, HTTP
    /// settings and flow settings on the builder, then
    /// [`ConnectorBuilder::build`], which reads the store once.
    pub fn builder(config: ClientConfig) -> ConnectorBuilder {
        ConnectorBuilder::new(config)
    }

    /// A connector after the store's first read, `loaded`.
    pub(crate) fn start(
        client: OpenRouterClient,
        store: Arc<dyn KeyStore>,
        config: FlowConfig,
        loaded: Result<Option<KeyMeta>, Error>,
    ) -> Self {
        let machine = Machine::new(loaded);
        let (status, _) = watch::channel(machine.status());
        Self {
            inner: Arc::new(Inner {
                client,
                store,
                config,
                machine: Mutex::new(machine),
                status,
                starting: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The client the connector exchanges codes with.
    ///
    /// ```
    /// # use openrouter_connect_core::*;
    /// # let connector = Connector::builder(ClientConfig::new(Attribution::default())).build().unwrap();
    /// assert_eq!(connector.client().config().base_url().as_str(), "https://openrouter.ai/");
    /// ```
    pub fn client(&self) -> &OpenRouterClient {
        &self.inner.client
    }

    /// The status now.
    ///
    /// ```
    /// # use openrouter_connect_core::*;
    /// # let connector = Connector::builder(ClientConfig::new(Attribution::default())).build().unwrap();
    /// let status = connector.status();
    /// assert!(matches!(status.state, FlowState::Disconnected) && status.key.is_none());
    /// ```
    pub fn status(&self) -> Status {
        self.inner.lock().status()
    }

    /// Every change of [`Status`], for a UI to follow. Only changes are
    /// sent: a retry that fails exactly as before sends nothing, so take
    /// each call's own result for its outcome.
    ///
    /// ```
    /// # use openrouter_connect_core::*;
    /// # let connector = Connector::builder(ClientConfig::new(Attribution::default())).build().unwrap();
    /// let changes = connector.subscribe();
    /// assert_eq!(*changes.borrow(), connector.status());
    /// ```
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// Starts a flow (for loopback, listens on `127.0.0.1`) and returns
    /// its status; [`Connector::browser_url`] then gives the address to
    /// open in the system browser. While a flow waits, it returns that
    /// flow's status again instead of starting a second one.
    ///
    /// Needs a Tokio runtime: the flow runs as a task of its own, on the
    /// runtime it was started from.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), openrouter_connect_core::Error> {
    /// # use openrouter_connect_core::*;
    /// # let connector = Connector::builder(ClientConfig::new(Attribution::default())).build()?;
    /// let status = connector.connect(ConnectOptions::default()).await?;
    /// assert!(matches!(status.state, FlowState::AwaitingCallback { .. }));
    /// let url = connector.browser_url()?;
    /// assert!(url.starts_with("http://127.0.0.1:"));
    /// connector.cancel().await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(&self, options: ConnectOptions) -> Result<Status, Error> {
        self.start_flow(options).await.map(|(status, _)| status)
    }

    /// The address to open in the browser for the waiting flow, a fresh
    /// one at every call: for loopback (and the relay page), a launch
    /// address on the flow's listener,
    /// `http://127.0.0.1:<port>/start/<nonce>`, that sends the browser on
    /// to OpenRouter's consent page the first time it is opened and is
    /// then used up; for the deep link and the pasted code, the consent
    /// page's URL itself.
    ///
    /// The consent URL is not handed out where a listener runs: it holds
    /// the flow's callback secret and its challenge, and an address given
    /// to a browser is on its command line, which other users of the
    /// machine can read. Whoever opened a launch address first reaches
    /// the consent page; when it is opened again, the flow ends with
    /// [`Error::StartAddressReused`]. So open each address once: ask for
    /// another to open the page again or to copy it. Fails with
    /// [`Error::NoFlow`] when no flow waits.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), openrouter_connect_core::Error> {
    /// # use openrouter_connect_core::*;
    /// # let connector = Connector::builder(ClientConfig::new(Attribution::default())).build()?;
    /// assert_eq!(connector.browser_url(), Err(Error::NoFlow));
    /// connector.connect(ConnectOptions::default()).await?;
    /// let first = connector.browser_url()?;
    /// assert!(first.starts_with("http://127.0.0.1:") && first.contains("/start/"));
    /// assert_ne!(connector.browser_url()?, first);
    /// connector.cancel().await?;
    /// # Ok(()) }
    /// ```
    pub fn browser_url(&self) -> Result<String, Error> {
        let launches = self.inner.lock().launches()?;
        launches.browser_url()
    }

    /// [`Connector::connect`], and the number of the flow this call
    /// started (`None` when it found one waiting).
    async fn start_flow(&self, options: ConnectOptions) -> Result<(Status, Option<u64>), Error> {
        require_tokio()?;
        let _starting = self.inner.starting.lock().await;
        if !matches!(self.inner.step(Event::ConnectAsked)?, Effect::StartFlow) {
            return Ok((self.status(), None));
        }
        let options = options.checked(self.inner.config.default_key_label.as_deref())?;
        match flow::start(&self.inner, options).await {
            Ok(generation) => Ok((self.status(), Some(generation))),
            Err(error) => {
                self.inner.step(Event::StartFailed(error.clone()))?;
                Err(error)
            }
        }
    }

    /// Connects and returns once the flow has ended: for an app that wants
    /// a key and nothing else. `open_url` receives the address to open in
    /// the system browser, [`Connector::browser_url`] (or to print, for
    /// [`crate::CallbackMode::Paste`], whose code then goes to
    /// [`Connector::submit_code`] from another task).
    ///
    /// Dropping the returned future (a timeout around it, a `select!`
    /// that took another branch) cancels the flow it started while that
    /// waits for the browser (a flow it found waiting is left to its
    /// starter), and its listener closes at once rather than at the
    /// deadline. An answer already being exchanged is let finish: the
    /// key OpenRouter made for it is stored, not lost.
    ///
    /// ```no_run
    /// # async fn run(connector: openrouter_connect_core::Connector) -> Result<(), openrouter_connect_core::Error> {
    /// use openrouter_connect_core::ConnectOptions;
    ///
    /// let key = connector
    ///     .connect_and_wait(ConnectOptions::default(), |url| println!("Open {url}"))
    ///     .await?;
    /// println!("connected: {}", key.masked);
    /// # Ok(()) }
    /// ```
    pub async fn connect_and_wait(
        &self,
        options: ConnectOptions,
        open_url: impl FnOnce(&str),
    ) -> Result<KeyMeta, Error> {
        let before = self.status().key;
        let (status, started) = self.start_flow(options).await?;
        // Only a flow this call started: one it found waiting belongs to
        // whoever started it.
        let _cancel_on_drop = started.map(|generation| CancelOnDrop {
            inner: &self.inner,
            generation,
        });
        if matches!(status.state, FlowState::AwaitingCallback { .. }) {
            match self.browser_url() {
                Ok(url) => open_url(&url),
                // It ended already: the wait below finds how.
                Err(Error::NoFlow) => {}
                Err(error) => return Err(error),
            }
        }
        let mut changes = self.subscribe();
        let end = changes
            .wait_for(|status| {
                !matches!(
                    status.state,
                    FlowState::AwaitingCallback { .. } | FlowState::Exchanging
                )
            })
            .await
            .map_err(|_| Error::Cancelled)?
            .clone();
        match (end.state, end.key) {
            (FlowState::Failed { error }, _) => Err(error),
            // A cancelled reconnect ends connected with the key it had.
            (FlowState::Connected, Some(key)) if Some(&key) != before.as_ref() => Ok(key),
            _ => Err(Error::Cancelled),
        }
    }

    /// Reads the stored key again: after the user unlocked the keychain
    /// that kept it from loading. Only between flows; a read that fails
    /// again shows its error and changes nothing stored.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), openrouter_connect_core::Error> {
    /// # use openrouter_connect_core::*;
    /// # let connector = Connector::builder(ClientConfig::new(Attribution::default())).build()?;
    /// let status = connector.reload().await?;
    /// assert!(status.key.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn reload(&self) -> Result<Status, Error> {
        require_tokio()?;
        let _starting = self.inner.starting.lock().await;
        self.inner.step(Event::ReloadAsked)?;
        let store = self.inner.store.clone();
        let loaded = blocking(move || store.load()).await;
        self.inner
            .step(Event::Reloaded(loaded.map(|r| r.map(|r| r.meta))))?;
        Ok(self.status())
    }

    /// Leaves a failed state for the one before the flow: connected with
    /// the stored key, or disconnected. Anything else stays as it is.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use openrouter_connect_core::*;
    /// # struct Locked;
    /// # impl KeyStore for Locked {
    /// #     fn load(&self) -> Result<Option<StoredKey>, Error> { Err(Error::keychain("it is locked")) }
    /// #     fn save(&self, _: &StoredKey) -> Result<(), Error> { Err(Error::keychain("it is locked")) }
    /// #     fn clear(&self) -> Result<(), Error> { Err(Error::keychain("it is locked")) }
    /// # }
    /// let connector = Connector::builder(ClientConfig::new(Attribution::default()))
    ///     .store(Arc::new(Locked))
    ///     .build()?;
    /// assert!(matches!(connector.status().state, FlowState::Failed { .. }));
    /// assert!(matches!(connector.dismiss().state, FlowState::Disconnected));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn dismiss(&self) -> Status {
        let _ = self.inner.step(Event::Dismissed);
        self.status()
    }

    /// Hands a URL that arrived through the app's scheme to the waiting
    /// flow. The URL is untrusted (anyone can launch the app with one): it
    /// must be the flow's own deep-link address, secret included, and
    /// come while a deep-link flow waits. A refused URL, a denial without
    /// the secret included, leaves the flow waiting.
    ///
    /// ```
    /// # use openrouter_connect_core::*;
    /// # let connector = Connector::builder(ClientConfig::new(Attribution::default())).build().unwrap();
    /// let forged = connector.deliver_deep_link("com.example.app:/callback?code=planted");
    /// assert_eq!(forged, Err(Error::NoFlow));
    /// ```
    pub fn deliver_deep_link(&self, url: &str) -> Result<(), Error> {
        let refuse = |error: Error| {
            tracing::warn!(code = error.code(), "deep link refused");
            Err(error)
        };
        let (awaited, base) = match self.inner.lock().deep_link_awaited() {
            Ok(found) => found,
            Err(error) => return refuse(error),
        };
        let link = match split_deep_link(url, &base) {
            Ok(link) => link,
            Err(error) => return refuse(error),
        };
        match awaited.offer(&link.path, &link.query) {
            Ok(_outcome) => {
                tracing::info!("deep link accepted");
                Ok(())
            }
            Err(error) => refuse(error),
        }
    }

    /// Hands the code the user pasted (headless mode) to the waiting paste
    /// flow. Text that is not a code is refused and the flow keeps
    /// waiting; a code OpenRouter does not accept ends it like any failed
    /// exchange.
    ///
    /// ```
    /// # use openrouter_connect_core::*;
    /// # let connector = Connector::builder(ClientConfig::new(Attribution::default())).build().unwrap();
    /// assert_eq!(connector.submit_code("a code, but no flow"), Err(Error::NoFlow));
    /// ```
    pub fn submit_code(&self, text: &str) -> Result<(), Error> {
        let awaited = self.inner.lock().paste_awaited()?;
        let code = parse_pasted_code(text)?;
        awaited.offer_pasted(code).map(|_| ())
    }

    /// Ends a waiting flow and returns once its listener is closed. The
    /// stored key, if any, stays.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), openrouter_connect_core::Error> {
    /// # use openrouter_connect_core::*;
    /// # let connector = Connector::builder(ClientConfig::new(Attribution::default())).build()?;
    /// connector.connect(ConnectOptions::new(CallbackMode::Paste)).await?;
    /// connector.cancel().await?;
    /// assert!(matches!(connector.status().state, FlowState::Disconnected));
    /// # Ok(()) }
    /// ```
    pub async fn cancel(&self) -> Result<(), Error> {
        let mut changes = self.subscribe();
        if let Effect::StopFlow(stop) = self.inner.step(Event::CancelAsked)? {
            let _ = stop.send(());
        }
        let _ = changes
            .wait_for(|status| !matches!(status.state, FlowState::AwaitingCallback { .. }))
            .await;
        Ok(())
    }

    /// Forgets the key locally and returns its description, whose
    /// `key_sha256` names the page where the user revokes it: a user key
    /// cannot revoke itself through the API.
    ///
    /// Disconnect wins over a flow in progress: a waiting flow is
    /// cancelled, and one whose answer is being exchanged is let finish
    /// first, so that the key it may have stored is the one forgotten
    /// (and offered for revoking), not one that shows up connected after.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), openrouter_connect_core::Error> {
    /// # use std::sync::Arc;
    /// # use openrouter_connect_core::*;
    /// let store = Arc::new(MemoryStore::new());
    /// store.save(&StoredKey::new(ApiKey::new("sk-or-v1-0123456789abcdef"), None, None, None))?;
    /// let connector = Connector::builder(ClientConfig::new(Attribution::default()))
    ///     .store(store)
    ///     .build()?;
    /// let forgotten = connector.disconnect().await?.unwrap();
    /// println!("revoke it at https://openrouter.ai/keys/{}", forgotten.key_sha256);
    /// assert!(connector.status().key.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn disconnect(&self) -> Result<Option<KeyMeta>, Error> {
        require_tokio()?;
        let _starting = self.inner.starting.lock().await;
        match self.cancel().await {
            Ok(()) | Err(Error::NoFlow) | Err(Error::Busy) => {}
            Err(error) => return Err(error),
        }
        // The answer may have come just before the cancel: then the flow
        // is exchanging, and its end is awaited (bounded: the exchange has
        // its own timeout, and a flow that never ends must not hold
        // Connect and Disconnect for good).
        let mut changes = self.subscribe();
        let ended = changes.wait_for(|status| {
            !matches!(
                status.state,
                FlowState::AwaitingCallback { .. } | FlowState::Exchanging
            )
        });
        if tokio::time::timeout(DISCONNECT_WAIT, ended).await.is_err() {
            return Err(Error::Busy);
        }
        let store = self.inner.store.clone();
        self.noticed(blocking(move || store.clear()).await)?;
        match self.inner.step(Event::Cleared)? {
            Effect::Forgot(forgotten) => Ok(forgotten),
            _ => Ok(None),
        }
    }

    /// What OpenRouter says about the stored key now: its usage and
    /// limit.
    ///
    /// ```no_run
    /// # async fn run(connector: openrouter_connect_core::Connector) -> Result<(), openrouter_connect_core::Error> {
    /// let info = connector.key_info().await?;
    /// println!("used {:?} of {:?} USD", info.usage, info.limit);
    /// # Ok(()) }
    /// ```
    pub async fn key_info(&self) -> Result<KeyInfo, Error> {
        let record = self.stored_key().await?;
        self.inner.client.key_info(&record.key).await
    }

    /// Calls OpenRouter's API with the stored key, which is never handed
    /// out (see [`ApiCall`] for the paths accepted).
    ///
    /// ```no_run
    /// # async fn run(connector: openrouter_connect_core::Connector) -> Result<(), openrouter_connect_core::Error> {
    /// use openrouter_connect_core::ApiCall;
    ///
    /// let body = serde_json::json!({
    ///     "model": "openrouter/auto",
    ///     "messages": [{"role": "user", "content": "Say hello"}],
    /// });
    /// let reply = connector.call(&ApiCall::post("chat/completions", body)).await?;
    /// println!("{}", reply["choices"][0]["message"]["content"]);
    /// # Ok(()) }
    /// ```
    pub async fn call(&self, call: &ApiCall) -> Result<serde_json::Value, Error> {
        let record = self.stored_key().await?;
        self.inner.client.call(&record.key, call).await
    }

    /// Streams a reply with the stored key: `POST /api/v1/<path>` with
    /// `body` and `"stream": true`. See [`ChatStream`] for an example and
    /// [`OpenRouterClient::stream`] for the limits and errors.
    pub async fn stream(&self, path: &str, body: &serde_json::Value) -> Result<ChatStream, Error> {
        let record = self.stored_key().await?;
        self.inner.client.stream(&record.key, path, body).await
    }

    /// The models OpenRouter offers, for a picker. Public on OpenRouter:
    /// works without a connection, and sends no key.
    pub async fn models(&self) -> Result<Vec<Model>, Error> {
        self.inner.client.models().await
    }

    /// Hands out the stored key itself, for host code that calls
    /// OpenRouter through another client library.
    ///
    /// **The key leaves this crate's care here.** It can spend the user's
    /// credit until they revoke it; keep it out of logs, error reports,
    /// files and any web view (in a Tauri app, never return it from a
    /// command), and drop it when the call is made. Prefer
    /// [`Connector::call`] and [`Connector::stream`], which use the key
    /// without handing it out. The [`ApiKey`] still prints as
    /// `[redacted]` and is wiped on drop; [`ApiKey::expose_secret`] gives
    /// the text.
    ///
    /// ```no_run
    /// # async fn run(connector: openrouter_connect_core::Connector) -> Result<(), openrouter_connect_core::Error> {
    /// let key = connector.expose_api_key().await?;
    /// let authorization = format!("Bearer {}", key.expose_secret());
    /// # let _ = authorization;
    /// # Ok(()) }
    /// ```
    pub async fn expose_api_key(&self) -> Result<ApiKey, Error> {
        Ok(self.stored_key().await?.key)
    }

    /// The stored key, for a request to the OpenRouter this client talks
    /// to: refused when another one issued it (see [`KeyMeta::origin`]).
    async fn stored_key(&self) -> Result<StoredKey, Error> {
        let store = self.inner.store.clone();
        let record = self
            .noticed(blocking(move || store.load()).await)?
            .ok_or(Error::NotConnected)?;
        let base_url = self.inner.client.config().base_url();
        if !record.meta.belongs_to(base_url) {
            let issuer = url::Url::parse(record.meta.issuer())
                .map(|url| url.origin().ascii_serialization())
                .unwrap_or_else(|_| "an unreadable address".to_owned());
            tracing::warn!(%issuer, "the stored key was issued elsewhere; it is not sent");
            return Err(Error::KeyIssuedElsewhere { issuer });
        }
        Ok(record)
    }

    /// Tells the machine when the store answered that its records can't
    /// be read, so that the status shows no key the store no longer has.
    fn noticed<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(error) = &result {
            if error.says_store_unreadable() {
                let _ = self.inner.step(Event::StoreUnreadable(error.clone()));
            }
        }
        result
    }
}

/// Cancels the flow a [`Connector::connect_and_wait`] waits for when its
/// future is dropped before the flow ended.
struct CancelOnDrop<'a> {
    inner: &'a Inner,
    /// The flow's number: another one may have started since.
    generation: u64,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        // Only the stop signal is sent here, under the machine's lock: a
        // cancel asked changes no status, and publishing one from a drop
        // could wait on a caller that holds the status channel borrowed
        // in the same task. The flow's task publishes its end.
        let stop = {
            let mut machine = self.inner.lock();
            if machine.waiting_flow() != Some(self.generation) {
                return;
            }
            machine.handle(Event::CancelAsked)
        };
        if let Ok(Effect::StopFlow(stop)) = stop {
            tracing::info!("connect_and_wait dropped: the flow is cancelled");
            let _ = stop.send(());
        }
    }
}
