//! A strict stand-in for OpenRouter's connect flow and the few API calls a
//! connected app makes (PROTOCOL.md). It refuses what OpenRouter refuses, so
//! a client that passes against it has not been let off lightly.
//!
//! By default it does what OpenRouter documents: the consent page's redirect
//! adds `code` (or `error`) to the callback and no `state`. Because OpenRouter
//! documents no `state` at all, whether the real service echoes one is
//! unknown; [`FakeOpenRouter::set_echo_state`] opts into the behaviour some
//! clients assume, so a client can be tested against both.

mod api;
mod consent;
mod exchange;
mod params;
mod pkce;
mod random;
mod respond;
mod server;
mod state;
mod stream;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use api::CHAT_REPLY;
use state::{Shared, State, lock};
pub use stream::StreamScript;

/// The deterministic answer of `POST /api/v1/chat/completions`.
pub fn chat_reply() -> &'static str {
    CHAT_REPLY
}

/// The parts of the service a fault can be attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// The consent page, `GET /auth`, and its form, `POST /auth/consent`.
    Auth,
    /// `/api/v1/auth/keys`.
    Exchange,
    /// `/api/v1/key`.
    KeyInfo,
    /// `/api/v1/chat/completions`.
    Chat,
    /// `/api/v1/credits`.
    Credits,
    /// `/api/v1/models`.
    Models,
}

impl Endpoint {
    fn for_path(path: &str) -> Option<Endpoint> {
        match path {
            "/auth" | "/auth/consent" => Some(Endpoint::Auth),
            "/api/v1/auth/keys" => Some(Endpoint::Exchange),
            "/api/v1/key" => Some(Endpoint::KeyInfo),
            "/api/v1/chat/completions" => Some(Endpoint::Chat),
            "/api/v1/credits" => Some(Endpoint::Credits),
            "/api/v1/models" => Some(Endpoint::Models),
            _ => None,
        }
    }
}

/// A misbehaviour to inject, so clients are tested against a service that
/// fails the ways networks and servers really do.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Waits this long, then answers normally.
    Delay(Duration),
    /// Answers this status at once, with OpenRouter's error body.
    Status(u16),
    /// Answers 200 with JSON cut off mid-way.
    MalformedBody,
    /// Answers 429 with `Retry-After: <retry_after_secs>` and OpenRouter's
    /// error body, as a rate-limited request gets before any stream starts.
    RateLimited { retry_after_secs: u64 },
    /// Answers exactly this status and raw body, labelled `application/json`.
    Body { status: u16, body: String },
    /// Closes the connection without sending any response.
    Drop,
}

/// A key the fake issued.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRecord {
    pub key: String,
    pub user_id: String,
    pub label: String,
    pub limit: Option<f64>,
    pub revoked: bool,
}

/// One request as the fake saw it. Query strings and bodies are never kept:
/// they carry codes and verifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// The path alone, without the query string.
    pub path: String,
    /// The `HTTP-Referer` attribution header, if sent.
    pub http_referer: Option<String>,
    /// `X-OpenRouter-Title`, or else the older `X-Title`, if sent.
    pub title: Option<String>,
    /// An `Authorization` header came; its value, a key, is not kept.
    pub authorization: bool,
}

/// Stops the server when the last handle goes away, so a test that forgets
/// the fake doesn't leave a port open.
struct ServerTask(JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running fake OpenRouter on `127.0.0.1`. Clones share the same server;
/// it shuts down when the last clone is dropped.
#[derive(Clone)]
pub struct FakeOpenRouter {
    shared: Shared,
    addr: SocketAddr,
    _task: Arc<ServerTask>,
}

impl fmt::Debug for FakeOpenRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeOpenRouter")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl FakeOpenRouter {
    /// Starts on an ephemeral port. Panics if loopback can't be bound, which
    /// only happens on a broken test machine.
    pub async fn start() -> FakeOpenRouter {
        match FakeOpenRouter::start_on(0).await {
            Ok(fake) => fake,
            Err(err) => panic!("cannot bind the fake OpenRouter on 127.0.0.1: {err}"),
        }
    }

    /// Starts on `port` (0 for an ephemeral one), loopback only.
    pub async fn start_on(port: u16) -> std::io::Result<FakeOpenRouter> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let shared: Shared = Arc::new(Mutex::new(State::new(random::user_id())));
        let task = tokio::spawn(server::serve(listener, shared.clone()));
        Ok(FakeOpenRouter {
            shared,
            addr,
            _task: Arc::new(ServerTask(task)),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Moves the clock that code expiry (10 minutes) is measured on.
    pub fn advance_clock(&self, by: Duration) {
        lock(&self.shared).advance_clock(by);
    }

    /// Whether the consent page's redirects carry a `state`.
    ///
    /// Off (the default) is what OpenRouter documents: the redirect adds
    /// `code`, or `error` on a denial, to the callback and nothing else, even
    /// when `/auth` was sent a `state`. On is what some clients assume: every
    /// redirect, approval or denial, also ends with `state`, the value `/auth`
    /// received or, when it received none, a made-up one. OpenRouter documents
    /// no `state` (PROTOCOL.md, sections 1 and 2), so a client must work
    /// against both, including one that sends no `state` and gets one back.
    /// Applies to every consent answered from now on.
    pub fn set_echo_state(&self, on: bool) {
        lock(&self.shared).echo_state = on;
    }

    /// Makes every later request to `endpoint` misbehave, until cleared.
    /// Replaces any fault already set there.
    pub fn set_fault(&self, endpoint: Endpoint, fault: Fault) {
        lock(&self.shared).faults.insert(endpoint, fault);
    }

    pub fn clear_fault(&self, endpoint: Endpoint) {
        lock(&self.shared).faults.remove(&endpoint);
    }

    /// What the user does on OpenRouter's keys page: the key answers 401 from
    /// now on. Unknown keys are ignored.
    pub fn revoke_key(&self, key: &str) {
        if let Some(entry) = lock(&self.shared).key_mut(key) {
            entry.record.revoked = true;
        }
    }

    pub fn revoke_all_keys(&self) {
        for entry in &mut lock(&self.shared).keys {
            entry.record.revoked = true;
        }
    }

    /// Every key issued so far, oldest first.
    pub fn issued_keys(&self) -> Vec<KeyRecord> {
        lock(&self.shared)
            .keys
            .iter()
            .map(|entry| entry.record.clone())
            .collect()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared).requests.clone()
    }

    /// The URL of every consent page the browser loaded (`GET /auth`,
    /// valid or not), in order: they hold the callback secrets and the
    /// challenges.
    pub fn consent_urls(&self) -> Vec<String> {
        let base = self.url();
        lock(&self.shared)
            .consent_queries
            .iter()
            .map(|query| format!("{base}/auth?{query}"))
            .collect()
    }

    /// Every code the consent page handed out, used or not.
    pub fn issued_codes(&self) -> Vec<String> {
        lock(&self.shared).codes.keys().cloned().collect()
    }

    /// Every `code_verifier` the exchange received.
    pub fn received_verifiers(&self) -> Vec<String> {
        lock(&self.shared).verifiers.clone()
    }

    /// How many `POST /api/v1/auth/keys` came in, whatever their outcome.
    pub fn exchange_count(&self) -> usize {
        lock(&self.shared).exchange_count
    }

    /// How every later streamed chat completion is sent, until changed.
    /// Streams already under way keep the script they started with.
    pub fn set_stream_script(&self, script: StreamScript) {
        lock(&self.shared).stream_script = script;
    }

    /// Lets every stream held by `StreamScript::hold_after` go on. A stream
    /// that reaches its hold after this call waits for the next one.
    pub fn release_streams(&self) {
        lock(&self.shared).release.send_modify(|count| *count += 1);
    }

    /// How many streamed chat completions started (answered 200).
    pub fn streams_started(&self) -> usize {
        lock(&self.shared).streams.started
    }

    /// How many streams sent their last event, `[DONE]` or the error chunk,
    /// and ended.
    pub fn streams_finished(&self) -> usize {
        lock(&self.shared).streams.finished
    }

    /// How many streams the client closed before they ended, which cancels
    /// the generation and its billing on OpenRouter.
    pub fn streams_abandoned(&self) -> usize {
        lock(&self.shared).streams.abandoned
    }

    /// When the last stream to end (finished or abandoned) handed each of
    /// its content deltas to the connection, in order, as wall-clock time
    /// since the Unix epoch: for benchmarks that measure how late a delta
    /// reaches its reader. Recorded by the stream's own task and stored as
    /// it ends, before the connection closes; empty before any stream ended.
    pub fn last_stream_sent_at(&self) -> Vec<Duration> {
        lock(&self.shared).last_stream_sent_at.clone()
    }

    /// Waits until at least `n` streams were abandoned, for at most
    /// `within`; says whether they were. Noticing a closed connection takes
    /// the fake a moment, so tests wait for it rather than read the count
    /// once.
    pub async fn wait_for_abandoned(&self, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.streams_abandoned() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sets the USD usage `/api/v1/key` reports for `key`.
    ///
    /// # Panics
    /// If this fake never issued `key`: a silent no-op would let a test check
    /// a usage display against a figure that was never set.
    pub fn set_key_usage(&self, key: &str, usage: f64) {
        let found = match lock(&self.shared).key_mut(key) {
            Some(entry) => {
                entry.usage = usage;
                true
            }
            None => false,
        };
        assert!(found, "set_key_usage: this fake never issued that key");
    }

    /// Sets what `/api/v1/key` says of `key`'s account and limit: a free
    /// tier account, and when the limit resets (`daily`, `weekly`,
    /// `monthly`, or `None`).
    ///
    /// # Panics
    /// If this fake never issued `key`.
    pub fn set_key_plan(&self, key: &str, free_tier: bool, limit_reset: Option<&str>) {
        let found = match lock(&self.shared).key_mut(key) {
            Some(entry) => {
                entry.free_tier = free_tier;
                entry.limit_reset = limit_reset.map(str::to_string);
                true
            }
            None => false,
        };
        assert!(found, "set_key_plan: this fake never issued that key");
    }

    /// Sets the limit `/api/v1/key` reports for `key` (`None`: no limit),
    /// as the user can on the consent page or the keys page.
    ///
    /// # Panics
    /// If this fake never issued `key`.
    pub fn set_key_limit(&self, key: &str, limit: Option<f64>) {
        let found = match lock(&self.shared).key_mut(key) {
            Some(entry) => {
                entry.record.limit = limit;
                true
            }
            None => false,
        };
        assert!(found, "set_key_limit: this fake never issued that key");
    }

    /// Sets the `expires_at` `/api/v1/key` reports for `key` (an ISO 8601
    /// time, or `None` for a permanent key).
    ///
    /// # Panics
    /// If this fake never issued `key`.
    pub fn set_key_expires_at(&self, key: &str, expires_at: Option<&str>) {
        let found = match lock(&self.shared).key_mut(key) {
            Some(entry) => {
                entry.expires_at = expires_at.map(str::to_string);
                true
            }
            None => false,
        };
        assert!(found, "set_key_expires_at: this fake never issued that key");
    }
}
