//! The connect state machine: one flow at a time, from Connect to a stored
//! key or a clear failure.
//!
//! ```text
//! Disconnected/Connected ─connect─▶ AwaitingCallback ─answer─▶ Exchanging ─▶ Connected
//!                                        │ cancel, deadline, denial          │ any failure
//!                                        ▼                                   ▼
//!                          Disconnected/Connected or Failed               Failed
//! ```
//!
//! The key stored before a flow stays stored until the flow's new key has
//! been saved, so a failed reconnect loses nothing. The listener of a flow
//! is closed before its end is published.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{oneshot, watch};

use crate::callback::{Arrival, Gate, parse_pasted_code, split_deep_link};
use crate::client::{ChatReply, ConsentRequest, KeyInfo, OpenRouterClient};
use crate::error::{Error, ErrorView};
use crate::loopback::{CALLBACK_PATH, Loopback, LoopbackConfig};
use crate::pkce::{Pkce, generate_callback_secret};
use crate::secret::AuthCode;
use crate::store::{KeyMeta, KeyStore, StoredKey};

/// How long a flow waits for the browser by default. Signing up for a new
/// OpenRouter account, e-mail confirmation included, takes minutes.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// How long a disconnect waits for an exchange in progress to end.
const DISCONNECT_WAIT: Duration = Duration::from_secs(120);

/// The longest key label accepted.
const MAX_LABEL_CHARS: usize = 100;

#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// How long a flow waits for the browser's answer.
    pub deadline: Duration,
    pub loopback: LoopbackConfig,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            deadline: DEFAULT_DEADLINE,
            loopback: LoopbackConfig::default(),
        }
    }
}

/// How the browser's answer comes back to the app.
///
/// Every way but [`WayBack::Paste`] carries a secret drawn for the flow in
/// the callback URL itself, and an answer counts only at that URL:
/// OpenRouter documents no `state` round trip, so none is relied on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WayBack {
    /// A listener on `127.0.0.1` for the length of the flow, answering at
    /// `http://127.0.0.1:<port>/callback/<secret>`.
    #[default]
    Loopback,
    /// The app's private-use scheme: OpenRouter sends the browser to
    /// `callback_url` (such as `com.example.app:/callback`) with
    /// `/<secret>` added, the system hands that URL to the app, and the
    /// app passes it to [`Connector::deliver_deep_link`]. With a
    /// `relay_url`, OpenRouter sends the browser to the relay page
    /// instead (`?to=app&s=<secret>` added), which forwards to
    /// `<scheme>:/callback/<secret>` with the scheme written in the page:
    /// `callback_url` must then be `<that scheme>:/callback`.
    DeepLink {
        callback_url: String,
        relay_url: Option<url::Url>,
    },
    /// Loopback by way of a relay page on the app developer's https site
    /// (`relay/` in the repository): the consent page shows that site's
    /// title, and the page forwards the answer to the listener's
    /// `/callback/<secret>`, learning the port and the secret from the
    /// `port` and `s` parameters added here.
    Relay { relay_url: url::Url },
    /// OpenRouter's headless mode: no `callback_url`; OpenRouter shows the
    /// code and the user pastes it into the app, which passes it to
    /// [`Connector::submit_code`]. Works where neither loopback nor the
    /// app's scheme reaches the app (WSL, SSH, sandboxed browsers).
    Paste,
}

/// What the user chose before connecting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectOptions {
    pub way_back: WayBack,
    /// The label of the new key on OpenRouter.
    pub key_label: Option<String>,
    /// A credit limit in USD for the new key.
    pub limit_usd: Option<f64>,
}

impl ConnectOptions {
    fn validate(&self) -> Result<(), Error> {
        if let Some(limit) = self.limit_usd {
            if !limit.is_finite() || limit < 0.0 {
                return Err(Error::InvalidOption(
                    "The spending limit must be a number of dollars, zero or more.",
                ));
            }
        }
        if let WayBack::DeepLink { callback_url, .. } = &self.way_back {
            let url = url::Url::parse(callback_url)
                .map_err(|_| Error::InvalidOption("The deep-link address is not a valid URL."))?;
            // The flow's secret is added to the path: a query or a
            // fragment would swallow it.
            if matches!(url.scheme(), "http" | "https")
                || url.query().is_some()
                || url.fragment().is_some()
            {
                return Err(Error::InvalidOption(
                    "The deep-link address must use the app's own scheme, without a query or fragment.",
                ));
            }
        }
        let relay_url = match &self.way_back {
            WayBack::Relay { relay_url } => Some(relay_url),
            WayBack::DeepLink { relay_url, .. } => relay_url.as_ref(),
            WayBack::Loopback | WayBack::Paste => None,
        };
        if let Some(relay_url) = relay_url {
            crate::config::parse_relay_url(relay_url.as_str())?;
        }
        if let Some(label) = &self.key_label {
            if label.trim().is_empty()
                || label.chars().count() > MAX_LABEL_CHARS
                || label.chars().any(char::is_control)
            {
                return Err(Error::InvalidOption(
                    "The key label must be one line of 1 to 100 characters.",
                ));
            }
        }
        Ok(())
    }
}

/// Where the flow is, as a UI shows it. Its `Debug` leaves out the two
/// URLs of a waiting flow: both hold the flow's callback secret.
#[derive(Clone, PartialEq, Serialize)]
#[serde(
    tag = "state",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum FlowState {
    Disconnected,
    AwaitingCallback {
        /// The consent page; open it again, or copy it.
        auth_url: String,
        /// Where OpenRouter sends the browser back; empty when the user
        /// pastes the code ([`WayBack::Paste`]).
        callback_url: String,
        expires_at_ms: u64,
    },
    Exchanging,
    Connected,
    Failed {
        error: ErrorView,
    },
}

impl std::fmt::Debug for FlowState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlowState::Disconnected => f.write_str("Disconnected"),
            FlowState::AwaitingCallback { expires_at_ms, .. } => f
                .debug_struct("AwaitingCallback")
                .field("auth_url", &"[redacted]")
                .field("callback_url", &"[redacted]")
                .field("expires_at_ms", expires_at_ms)
                .finish(),
            FlowState::Exchanging => f.write_str("Exchanging"),
            FlowState::Connected => f.write_str("Connected"),
            FlowState::Failed { error } => f.debug_struct("Failed").field("error", error).finish(),
        }
    }
}

/// The public view of the connection: the flow's state and the stored
/// key's description, which stays through a reconnect until replaced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(flatten)]
    pub state: FlowState,
    pub key: Option<KeyMeta>,
}

/// How the answer of a waiting flow comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Way {
    Loopback,
    /// Through the app's scheme; `base` names the scheme (and host) a
    /// deep link must be sent to.
    DeepLink {
        base: String,
    },
    Paste,
}

enum Phase {
    Idle,
    Awaiting {
        auth_url: String,
        callback_url: String,
        expires_at_ms: u64,
        cancel: Option<oneshot::Sender<()>>,
        /// The door for deep links; the loopback listener holds its own.
        gate: Arc<Gate>,
        way: Way,
    },
    Exchanging,
    Failed(Error),
}

struct Machine {
    phase: Phase,
    key: Option<KeyMeta>,
    /// Numbers flows, so that a late end of an old flow changes nothing.
    generation: u64,
}

impl Machine {
    fn status(&self) -> Status {
        let state = match &self.phase {
            Phase::Idle if self.key.is_some() => FlowState::Connected,
            Phase::Idle => FlowState::Disconnected,
            Phase::Awaiting {
                auth_url,
                callback_url,
                expires_at_ms,
                ..
            } => FlowState::AwaitingCallback {
                auth_url: auth_url.clone(),
                callback_url: callback_url.clone(),
                expires_at_ms: *expires_at_ms,
            },
            Phase::Exchanging => FlowState::Exchanging,
            Phase::Failed(error) => FlowState::Failed {
                error: error.view(),
            },
        };
        Status {
            state,
            key: self.key.clone(),
        }
    }
}

struct Inner {
    client: OpenRouterClient,
    store: Arc<dyn KeyStore>,
    config: FlowConfig,
    machine: Mutex<Machine>,
    status: watch::Sender<Status>,
    /// Serializes connect and disconnect, so two clicks make one flow.
    starting: tokio::sync::Mutex<()>,
}

/// The connection to OpenRouter: cheap to clone, one per app.
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
    /// Reads the stored key's record once; a store that can't be read
    /// starts the connector in `Failed` with the reason.
    pub fn new(client: OpenRouterClient, store: Arc<dyn KeyStore>, config: FlowConfig) -> Self {
        let loaded = store.load().map(|record| record.map(|r| r.meta));
        Self::with_loaded(client, store, config, loaded)
    }

    /// Like [`Connector::new`], for a caller that has read the store's
    /// record itself (to act on a damaged store first): the store is not
    /// read again, which may mean a keychain prompt less.
    pub fn with_loaded(
        client: OpenRouterClient,
        store: Arc<dyn KeyStore>,
        config: FlowConfig,
        loaded: Result<Option<KeyMeta>, Error>,
    ) -> Self {
        let (phase, key) = match loaded {
            Ok(key) => (Phase::Idle, key),
            Err(error) => (Phase::Failed(error), None),
        };
        let machine = Machine {
            phase,
            key,
            generation: 0,
        };
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

    pub fn client(&self) -> &OpenRouterClient {
        &self.inner.client
    }

    pub fn status(&self) -> Status {
        self.inner.lock().status()
    }

    /// Every change of [`Status`], for a UI to follow.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// Starts a flow (for loopback, listens on `127.0.0.1`) and returns
    /// the status with the consent page's URL, for the caller to open in
    /// the system browser.
    /// While a flow waits, it returns that flow's status again (the same
    /// URL) instead of starting a second one.
    pub async fn connect(&self, options: ConnectOptions) -> Result<Status, Error> {
        let _starting = self.inner.starting.lock().await;
        {
            let machine = self.inner.lock();
            match machine.phase {
                Phase::Awaiting { .. } => return Ok(machine.status()),
                Phase::Exchanging => return Err(Error::Busy),
                Phase::Idle | Phase::Failed(_) => {}
            }
        }
        options.validate()?;
        match self.start(options).await {
            Ok(status) => Ok(status),
            Err(error) => {
                let mut machine = self.inner.lock();
                machine.generation += 1;
                machine.phase = Phase::Failed(error.clone());
                self.inner.publish(&machine);
                Err(error)
            }
        }
    }

    async fn start(&self, options: ConnectOptions) -> Result<Status, Error> {
        let store = self.inner.store.clone();
        if let Err(error) = blocking(move || store.prepare_save()).await {
            tracing::warn!(
                code = error.code(),
                "the store can't take a key; no flow started"
            );
            return Err(error);
        }
        let pkce = Pkce::generate()?;
        let secret = generate_callback_secret()?;
        let secret = secret.expose_secret();
        // The path an answer must come to and, for the ways that need no
        // listener, the consent's `callback_url` and how the answer comes.
        let (path, without_listener) = match &options.way_back {
            WayBack::Loopback | WayBack::Relay { .. } => {
                (Some(format!("{CALLBACK_PATH}/{secret}")), None)
            }
            WayBack::DeepLink {
                callback_url: base,
                relay_url,
            } => {
                // The URL the system hands to the app.
                let url = format!("{}/{secret}", base.trim_end_matches('/'));
                let path = deep_link_path(&url, secret)?;
                let callback_url = match relay_url {
                    Some(relay_url) => relay_callback(relay_url, &[("to", "app"), ("s", secret)]),
                    None => url,
                };
                let way = Way::DeepLink { base: base.clone() };
                (Some(path), Some((callback_url, way)))
            }
            WayBack::Paste => (None, Some((String::new(), Way::Paste))),
        };
        let (gate, arrival) = Gate::new(path);
        let gate = Arc::new(gate);
        let (loopback, callback_url, way) = match without_listener {
            Some((callback_url, way)) => (None, callback_url, way),
            None => {
                let loopback = Loopback::bind(&self.inner.config.loopback, gate.clone()).await?;
                let callback_url = match &options.way_back {
                    WayBack::Relay { relay_url } => {
                        let port = loopback.port().to_string();
                        relay_callback(relay_url, &[("port", &port), ("s", secret)])
                    }
                    _ => loopback.callback_url(),
                };
                (Some(loopback), callback_url, Way::Loopback)
            }
        };
        let paste = way == Way::Paste;
        let auth_url = self
            .inner
            .client
            .consent_url(&ConsentRequest {
                // Headless mode: no way back; OpenRouter shows the code.
                callback_url: (!paste).then_some(callback_url.as_str()),
                code_challenge: pkce.challenge(),
                key_label: options.key_label.as_deref(),
                limit_usd: options.limit_usd,
            })
            .to_string();
        let deadline = self.inner.config.deadline;
        let (cancel, cancelled) = oneshot::channel();
        let generation = {
            let mut machine = self.inner.lock();
            machine.generation += 1;
            machine.phase = Phase::Awaiting {
                auth_url,
                callback_url,
                expires_at_ms: now_ms().saturating_add(deadline.as_millis() as u64),
                cancel: Some(cancel),
                gate,
                way,
            };
            self.inner.publish(&machine);
            machine.generation
        };
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let flow = Flow {
                inner,
                generation,
                pkce,
                options,
            };
            flow.run(loopback, arrival, cancelled, deadline).await;
        });
        Ok(self.status())
    }

    /// Reads the stored key again: after the user unlocked the keychain
    /// that kept it from loading. Only between flows; a read that fails
    /// again shows its error and changes nothing stored.
    pub async fn reload(&self) -> Result<Status, Error> {
        let _starting = self.inner.starting.lock().await;
        if !matches!(self.inner.lock().phase, Phase::Idle | Phase::Failed(_)) {
            return Err(Error::Busy);
        }
        let store = self.inner.store.clone();
        let loaded = blocking(move || store.load()).await;
        let mut machine = self.inner.lock();
        machine.generation += 1;
        let result = match loaded {
            Ok(record) => {
                machine.key = record.map(|r| r.meta);
                machine.phase = Phase::Idle;
                Ok(machine.status())
            }
            Err(error) => {
                machine.phase = Phase::Failed(error.clone());
                Err(error)
            }
        };
        self.inner.publish(&machine);
        result
    }

    /// Leaves a failed state for the one before the flow: connected with
    /// the stored key, or disconnected. Anything else stays as it is.
    pub fn dismiss(&self) -> Status {
        let mut machine = self.inner.lock();
        if matches!(machine.phase, Phase::Failed(_)) {
            machine.phase = Phase::Idle;
            self.inner.publish(&machine);
        }
        machine.status()
    }

    /// Hands a URL that arrived through the app's scheme to the waiting
    /// flow. The URL is untrusted (anyone can launch the app with one): it
    /// must be the flow's own deep-link address, secret included, and
    /// come while a deep-link flow waits. A refused URL, a denial without
    /// the secret included, leaves the flow waiting.
    pub fn deliver_deep_link(&self, url: &str) -> Result<(), Error> {
        let refuse = |error: Error| {
            tracing::warn!(code = error.code(), "deep link refused");
            Err(error)
        };
        let (gate, base) = {
            let machine = self.inner.lock();
            match &machine.phase {
                Phase::Awaiting {
                    gate,
                    way: Way::DeepLink { base },
                    ..
                } => (gate.clone(), base.clone()),
                _ => {
                    drop(machine);
                    return refuse(Error::NoFlow);
                }
            }
        };
        let link = match split_deep_link(url, &base) {
            Ok(link) => link,
            Err(error) => return refuse(error),
        };
        match gate.offer(&link.path, &link.query) {
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
    pub fn submit_code(&self, text: &str) -> Result<(), Error> {
        let gate = match &self.inner.lock().phase {
            Phase::Awaiting {
                gate,
                way: Way::Paste,
                ..
            } => gate.clone(),
            _ => return Err(Error::NoFlow),
        };
        let code = parse_pasted_code(text)?;
        gate.offer_pasted(code).map(|_| ())
    }

    /// Ends a waiting flow and returns once its listener is closed. The
    /// stored key, if any, stays.
    pub async fn cancel(&self) -> Result<(), Error> {
        let mut changes = self.subscribe();
        {
            let mut machine = self.inner.lock();
            match &mut machine.phase {
                Phase::Awaiting { cancel, .. } => {
                    if let Some(cancel) = cancel.take() {
                        let _ = cancel.send(());
                    }
                }
                Phase::Exchanging => return Err(Error::Busy),
                Phase::Idle | Phase::Failed(_) => return Err(Error::NoFlow),
            }
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
    pub async fn disconnect(&self) -> Result<Option<KeyMeta>, Error> {
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
        blocking(move || store.clear()).await?;
        let mut machine = self.inner.lock();
        let forgotten = machine.key.take();
        machine.phase = Phase::Idle;
        self.inner.publish(&machine);
        Ok(forgotten)
    }

    /// What OpenRouter says about the stored key now.
    pub async fn key_info(&self) -> Result<KeyInfo, Error> {
        let record = self.stored_key().await?;
        self.inner.client.key_info(&record.key).await
    }

    /// Sends one tiny chat request with the stored key.
    pub async fn test_request(&self, model: &str, prompt: &str) -> Result<ChatReply, Error> {
        let record = self.stored_key().await?;
        self.inner.client.chat(&record.key, model, prompt).await
    }

    async fn stored_key(&self) -> Result<StoredKey, Error> {
        let store = self.inner.store.clone();
        blocking(move || store.load())
            .await?
            .ok_or(Error::NotConnected)
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, machine: &Machine) {
        self.status.send_replace(machine.status());
    }

    /// Moves the flow `generation` on, unless a newer flow replaced it.
    fn advance(&self, generation: u64, phase: Phase, key: Option<KeyMeta>) {
        let mut machine = self.lock();
        if machine.generation != generation {
            return;
        }
        machine.phase = phase;
        if key.is_some() {
            machine.key = key;
        }
        self.publish(&machine);
    }
}

/// One running flow, owned by its task.
struct Flow {
    inner: Arc<Inner>,
    generation: u64,
    pkce: Pkce,
    options: ConnectOptions,
}

impl Flow {
    async fn run(
        self,
        loopback: Option<Loopback>,
        arrival: oneshot::Receiver<Arrival>,
        cancelled: oneshot::Receiver<()>,
        deadline: Duration,
    ) {
        let arrival = tokio::select! {
            arrival = arrival => arrival.ok(),
            _ = cancelled => None,
            _ = tokio::time::sleep(deadline) => {
                close(loopback).await;
                tracing::info!("connect flow timed out");
                return self.end(Err(Error::TimedOut));
            }
        };
        let Some(Arrival { result, outcome }) = arrival else {
            close(loopback).await;
            tracing::info!("connect flow cancelled");
            return self.end(Err(Error::Cancelled));
        };
        let result = match result {
            Ok(code) => {
                self.inner.advance(self.generation, Phase::Exchanging, None);
                self.exchange_and_store(code).await
            }
            Err(denied) => Err(denied),
        };
        let _ = outcome.send(result.as_ref().map(|_| ()).map_err(Clone::clone));
        close(loopback).await;
        match &result {
            Ok(_) => tracing::info!("connect flow finished: key stored"),
            Err(error) => tracing::info!(code = error.code(), "connect flow failed"),
        }
        self.end(result);
    }

    async fn exchange_and_store(&self, code: AuthCode) -> Result<KeyMeta, Error> {
        let exchanged = self
            .inner
            .client
            .exchange(&code, self.pkce.verifier())
            .await?;
        drop(code);
        let meta = KeyMeta {
            masked: exchanged.key.masked(),
            label: self.options.key_label.clone(),
            limit: self.options.limit_usd,
            user_id: exchanged.user_id,
            connected_at_ms: now_ms(),
            key_sha256: exchanged.key.sha256_hex(),
        };
        let record = StoredKey {
            key: exchanged.key,
            meta: meta.clone(),
        };
        let store = self.inner.store.clone();
        blocking(move || store.save(&record)).await?;
        Ok(meta)
    }

    fn end(self, result: Result<KeyMeta, Error>) {
        let (phase, key) = match result {
            Ok(meta) => (Phase::Idle, Some(meta)),
            Err(Error::Cancelled) => (Phase::Idle, None),
            Err(error) => (Phase::Failed(error), None),
        };
        self.inner.advance(self.generation, phase, key);
    }
}

/// The path of a deep-link URL the flow built itself, which must end
/// with the secret: answers are judged by their path alone.
fn deep_link_path(url: &str, secret: &str) -> Result<String, Error> {
    url::Url::parse(url)
        .ok()
        .map(|url| url.path().to_owned())
        .filter(|path| path.ends_with(&format!("/{secret}")))
        .ok_or(Error::InvalidOption(
            "The deep-link address must be one whose path the flow's secret can extend.",
        ))
}

/// The relay page's address for one flow: where the page forwards the
/// answer to, and the flow's secret, in its own query.
fn relay_callback(relay_url: &url::Url, pairs: &[(&str, &str)]) -> String {
    let mut url = relay_url.clone();
    url.query_pairs_mut().extend_pairs(pairs);
    url.to_string()
}

async fn close(loopback: Option<Loopback>) {
    if let Some(loopback) = loopback {
        loopback.close().await;
    }
}

/// Runs a store call off the async threads.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|_| Error::Storage("the storage task stopped unexpectedly.".to_owned()))?
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let ok = ConnectOptions {
            key_label: Some("My app on host".into()),
            limit_usd: Some(0.0),
            ..Default::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        for bad in [
            ConnectOptions {
                limit_usd: Some(-1.0),
                ..Default::default()
            },
            ConnectOptions {
                limit_usd: Some(f64::NAN),
                ..Default::default()
            },
            ConnectOptions {
                limit_usd: Some(f64::INFINITY),
                ..Default::default()
            },
            ConnectOptions {
                key_label: Some("  ".into()),
                ..Default::default()
            },
            ConnectOptions {
                key_label: Some("two\nlines".into()),
                ..Default::default()
            },
            ConnectOptions {
                key_label: Some("x".repeat(101)),
                ..Default::default()
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(Error::InvalidOption(_))),
                "{bad:?}"
            );
        }
        // A relay page must pass the same rules as the configured one,
        // whichever way it forwards to.
        let relay = |url: &str| url::Url::parse(url).unwrap();
        for (relay_url, ok) in [
            ("https://app.example/relay/", true),
            ("http://app.example/relay/", false),
            ("https://app.example/relay/?s=planted", false),
        ] {
            for way_back in [
                WayBack::Relay {
                    relay_url: relay(relay_url),
                },
                WayBack::DeepLink {
                    callback_url: "com.example.app:/callback".into(),
                    relay_url: Some(relay(relay_url)),
                },
            ] {
                let options = ConnectOptions {
                    way_back,
                    ..Default::default()
                };
                let checked = options.validate();
                assert_eq!(checked.is_ok(), ok, "{relay_url}: {checked:?}");
            }
        }
    }

    #[test]
    fn status_serializes_flat_with_a_state_tag() {
        let status = Status {
            state: FlowState::AwaitingCallback {
                auth_url: "https://openrouter.ai/auth?x".into(),
                callback_url: "http://127.0.0.1:1/callback".into(),
                expires_at_ms: 5,
            },
            key: None,
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["state"], "awaitingCallback");
        assert_eq!(json["authUrl"], "https://openrouter.ai/auth?x");
        assert_eq!(json["expiresAtMs"], 5);
        assert!(json["key"].is_null());
    }
}
