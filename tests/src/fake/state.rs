//! Everything the fake remembers between requests.
//!
//! One `State` sits behind one std `Mutex`; handlers lock it briefly and never
//! across an `.await`, so a slow or dropped request can't stall the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use url::Url;

use super::stream::{StreamCounts, StreamScript};
use super::{Endpoint, Fault, KeyRecord, RequestRecord};

/// Codes live this long on the fake's clock (PROTOCOL.md, section 2).
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Label a key gets when `/auth` came without `key_label`.
pub(crate) const DEFAULT_KEY_LABEL: &str = "Unnamed key";

pub(crate) type Shared = Arc<Mutex<State>>;

/// Locks the state even after a panic elsewhere: a failed assertion in one
/// test must not turn every later request into a poisoned-lock panic.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The two challenge methods `/auth` knows; anything else is refused there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChallengeMethod {
    S256,
    Plain,
}

impl ChallengeMethod {
    pub(crate) fn parse(raw: &str) -> Option<ChallengeMethod> {
        match raw {
            "S256" => Some(ChallengeMethod::S256),
            "plain" => Some(ChallengeMethod::Plain),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ChallengeMethod::S256 => "S256",
            ChallengeMethod::Plain => "plain",
        }
    }
}

/// What the user is asked to approve; kept server side so the form only
/// carries an opaque id, as on the real consent page.
#[derive(Clone, Debug)]
pub(crate) struct PendingConsent {
    /// `None` is headless mode: the code is shown instead of redirected.
    pub(crate) callback: Option<Url>,
    pub(crate) challenge: Option<(String, ChallengeMethod)>,
    /// The `state` `/auth` received. OpenRouter documents none and the
    /// documented mode drops it; only the opt-in echo mode sends it back
    /// (`State::echo_state`).
    pub(crate) state: Option<String>,
    pub(crate) label: String,
    pub(crate) limit: Option<f64>,
}

/// An authorization code handed out after consent.
#[derive(Clone, Debug)]
pub(crate) struct IssuedCode {
    pub(crate) challenge: Option<(String, ChallengeMethod)>,
    pub(crate) created_at: Duration,
    pub(crate) used: bool,
    pub(crate) label: String,
    pub(crate) limit: Option<f64>,
}

/// A key plus the figures `/api/v1/key` reports for it.
#[derive(Clone, Debug)]
pub(crate) struct KeyEntry {
    pub(crate) record: KeyRecord,
    pub(crate) usage: f64,
    pub(crate) expires_at: Option<String>,
    pub(crate) free_tier: bool,
    /// `daily`, `weekly` or `monthly`; `None` for a limit that never resets.
    pub(crate) limit_reset: Option<String>,
}

#[derive(Debug)]
pub(crate) struct State {
    /// Added to the wall clock so tests can make codes expire without waiting.
    clock_offset: Duration,
    /// One fake account: every key the browser approves belongs to it, as when
    /// one person connects the same app several times.
    pub(crate) user_id: String,
    pub(crate) faults: HashMap<Endpoint, Fault>,
    pub(crate) pending: HashMap<String, PendingConsent>,
    pub(crate) codes: HashMap<String, IssuedCode>,
    pub(crate) keys: Vec<KeyEntry>,
    pub(crate) requests: Vec<RequestRecord>,
    /// The query of every consent page request (`GET /auth`), so tests
    /// can compare what the browser was given with what reached the page.
    pub(crate) consent_queries: Vec<String>,
    pub(crate) exchange_count: usize,
    /// Every `code_verifier` an exchange carried, so end-to-end tests can
    /// search logs and files for it.
    pub(crate) verifiers: Vec<String>,
    /// Titles learned from attribution headers, by the referer's host, which
    /// is how a public https callback gets a name on the consent page.
    pub(crate) titles: HashMap<String, String>,
    /// Off: the documented behaviour, redirects add `code` or `error` and
    /// never a `state`. On: every redirect also carries a `state`, the one
    /// `/auth` received or a made-up one, as some clients assume OpenRouter
    /// behaves. OpenRouter documents no `state`, so clients are tested
    /// against both (PROTOCOL.md, sections 1 and 2).
    pub(crate) echo_state: bool,
    /// How streamed chat completions are sent, from now on.
    pub(crate) stream_script: StreamScript,
    pub(crate) streams: StreamCounts,
    /// Bumped by `FakeOpenRouter::release_streams`. A held stream subscribes
    /// before it reaches its hold and goes on at the next change, so only the
    /// streams held at the time of a release are let go.
    pub(crate) release: watch::Sender<u64>,
    /// When the last stream to end wrote each of its content deltas, as
    /// wall-clock time since the Unix epoch.
    pub(crate) last_stream_sent_at: Vec<Duration>,
}

impl State {
    pub(crate) fn new(user_id: String) -> State {
        State {
            clock_offset: Duration::ZERO,
            user_id,
            faults: HashMap::new(),
            pending: HashMap::new(),
            codes: HashMap::new(),
            keys: Vec::new(),
            requests: Vec::new(),
            consent_queries: Vec::new(),
            exchange_count: 0,
            verifiers: Vec::new(),
            titles: HashMap::new(),
            echo_state: false,
            stream_script: StreamScript::default(),
            streams: StreamCounts::default(),
            release: watch::Sender::new(0),
            last_stream_sent_at: Vec::new(),
        }
    }

    /// The fake's notion of "now", as time since the Unix epoch.
    pub(crate) fn now(&self) -> Duration {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        wall + self.clock_offset
    }

    pub(crate) fn advance_clock(&mut self, by: Duration) {
        self.clock_offset += by;
    }

    /// A key that may be used right now: issued here and not revoked.
    pub(crate) fn live_key_mut(&mut self, key: &str) -> Option<&mut KeyEntry> {
        self.keys
            .iter_mut()
            .find(|entry| entry.record.key == key && !entry.record.revoked)
    }

    pub(crate) fn key_mut(&mut self, key: &str) -> Option<&mut KeyEntry> {
        self.keys.iter_mut().find(|entry| entry.record.key == key)
    }
}
