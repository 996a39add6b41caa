//! Launch addresses: what the browser is opened on while a listener runs,
//! `http://127.0.0.1:<port>/start/<nonce>`, instead of the consent URL.
//!
//! An address handed to the browser is seen by others: it is on the
//! browser's command line, which every user of the machine can read
//! (`/proc/<pid>/cmdline` on Linux). The consent URL holds the flow's
//! callback secret and its PKCE challenge: whoever reads it can approve
//! it with their own OpenRouter account and send their code back first,
//! and the app ends up with a key on their account. A launch address
//! holds neither: opened, it sends the browser on to the consent URL
//! (303) and is used up. Opened a second time, someone else may have
//! opened it first, so the flow ends ([`Error::StartAddressReused`]).
//!
//! A flow that listens nowhere (the deep link, the pasted code) has no
//! launch address: its browser opens the consent URL itself.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::pkce::random_token;

/// The path every launch address starts with; its nonce follows.
pub(crate) const START_PATH: &str = "/start/";

/// Unused addresses kept at once: each Open again or Copy link makes
/// one, and the oldest goes when there are more.
const MAX_UNUSED: usize = 16;

/// Used addresses remembered, so that a second opening ends the flow.
const MAX_USED: usize = 64;

/// What opening a launch address finds.
#[derive(PartialEq, Eq)]
pub(crate) enum Redeemed {
    /// Its first opening: the browser goes on to this consent URL.
    Consent(Zeroizing<String>),
    /// It was opened before, by this browser or by someone else.
    Reused,
    /// No address this flow gave out, or one dropped as the oldest.
    Unknown,
}

/// One flow's launch addresses, shared by the flow, the connector (which
/// makes them) and the listener (which redeems them).
#[derive(Default)]
pub(crate) struct Launches {
    state: Mutex<State>,
    /// A used address was opened again: the flow must not store a key,
    /// even one whose exchange is under way.
    reused: AtomicBool,
}

#[derive(Default)]
struct State {
    /// Where the addresses lead, once the consent URL is built.
    target: Option<Target>,
    unused: VecDeque<Zeroizing<String>>,
    used: VecDeque<Zeroizing<String>>,
}

struct Target {
    consent_url: Zeroizing<String>,
    /// The listener's port, `None` for a flow that listens nowhere.
    port: Option<u16>,
}

/// Leaves out the consent URL, which holds the flow's callback secret.
impl std::fmt::Debug for Redeemed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Redeemed::Consent(_) => f.write_str("Consent([redacted])"),
            Redeemed::Reused => f.write_str("Reused"),
            Redeemed::Unknown => f.write_str("Unknown"),
        }
    }
}

impl std::fmt::Debug for Launches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launches").finish_non_exhaustive()
    }
}

impl Launches {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets where the addresses lead: the flow's `consent_url`, through
    /// the listener on `port`, or directly when there is none.
    pub fn lead_to(&self, consent_url: String, port: Option<u16>) {
        self.lock().target = Some(Target {
            consent_url: Zeroizing::new(consent_url),
            port,
        });
    }

    /// The address to open in the browser: a fresh launch address, or the
    /// consent URL itself for a flow that listens nowhere.
    pub fn browser_url(&self) -> Result<String, Error> {
        let mut state = self.lock();
        let Some(target) = &state.target else {
            return Err(Error::NoFlow);
        };
        let Some(port) = target.port else {
            return Ok(target.consent_url.to_string());
        };
        let nonce = Zeroizing::new(random_token()?);
        let url = format!("http://127.0.0.1:{port}{START_PATH}{}", nonce.as_str());
        if state.unused.len() == MAX_UNUSED {
            state.unused.pop_front();
        }
        state.unused.push_back(nonce);
        Ok(url)
    }

    /// Whether `path` is one of this flow's launch addresses, used or
    /// not, so that the listener judges it as one.
    pub fn knows(&self, path: &str) -> bool {
        let Some(nonce) = path.strip_prefix(START_PATH) else {
            return false;
        };
        let state = self.lock();
        position(&state.unused, nonce).is_some() || position(&state.used, nonce).is_some()
    }

    /// Opens the launch address at `path`: the first time, it leads on
    /// and is used up; the next, the flow is told to end.
    pub fn redeem(&self, path: &str) -> Redeemed {
        let Some(nonce) = path.strip_prefix(START_PATH) else {
            return Redeemed::Unknown;
        };
        let mut state = self.lock();
        if position(&state.used, nonce).is_some() {
            self.reused.store(true, Ordering::SeqCst);
            return Redeemed::Reused;
        }
        let (Some(at), Some(target)) = (position(&state.unused, nonce), &state.target) else {
            return Redeemed::Unknown;
        };
        let consent_url = target.consent_url.clone();
        if let Some(nonce) = state.unused.remove(at) {
            if state.used.len() == MAX_USED {
                state.used.pop_front();
            }
            state.used.push_back(nonce);
        }
        Redeemed::Consent(consent_url)
    }

    /// Whether a used address was opened again.
    pub fn reused(&self) -> bool {
        self.reused.load(Ordering::SeqCst)
    }
}

/// Where `nonce` is in `list`. Every entry is compared in full, without
/// an early exit, so that timing says nothing of how close a guess was.
fn position(list: &VecDeque<Zeroizing<String>>, nonce: &str) -> Option<usize> {
    let mut found = None;
    for (at, known) in list.iter().enumerate() {
        if bool::from(known.as_bytes().ct_eq(nonce.as_bytes())) {
            found = Some(at);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(url: &str) -> String {
        url::Url::parse(url).unwrap().path().to_owned()
    }

    fn launches() -> Launches {
        let launches = Launches::new();
        launches.lead_to("https://openrouter.ai/auth?x".into(), Some(4000));
        launches
    }

    #[test]
    fn an_address_leads_on_once_then_says_it_was_reused() {
        let launches = launches();
        let url = launches.browser_url().unwrap();
        assert!(url.starts_with("http://127.0.0.1:4000/start/"), "{url}");
        assert_eq!(url.len(), "http://127.0.0.1:4000/start/".len() + 43);
        let path = path(&url);
        assert!(launches.knows(&path));
        assert_eq!(
            launches.redeem(&path),
            Redeemed::Consent(Zeroizing::new("https://openrouter.ai/auth?x".into()))
        );
        assert!(!launches.reused());
        assert!(launches.knows(&path), "a used address is still known");
        assert_eq!(launches.redeem(&path), Redeemed::Reused);
        assert!(launches.reused());
    }

    #[test]
    fn each_address_is_fresh_and_others_are_unknown() {
        let launches = launches();
        let a = path(&launches.browser_url().unwrap());
        let b = path(&launches.browser_url().unwrap());
        assert_ne!(a, b);
        for other in [
            "/start/",
            "/start",
            "/",
            &format!("{a}x"),
            &a[..a.len() - 1],
            &a.to_uppercase(),
            &format!("/callback/{}", &a[START_PATH.len()..]),
        ] {
            assert!(!launches.knows(other), "{other}");
            assert_eq!(launches.redeem(other), Redeemed::Unknown, "{other}");
        }
        assert!(matches!(launches.redeem(&b), Redeemed::Consent(_)));
        assert!(matches!(launches.redeem(&a), Redeemed::Consent(_)));
        assert!(!launches.reused());
    }

    #[test]
    fn the_oldest_unused_address_goes_first() {
        let launches = launches();
        let paths: Vec<String> = (0..=MAX_UNUSED)
            .map(|_| path(&launches.browser_url().unwrap()))
            .collect();
        assert!(!launches.knows(&paths[0]));
        assert_eq!(launches.redeem(&paths[0]), Redeemed::Unknown);
        for kept in &paths[1..] {
            assert!(matches!(launches.redeem(kept), Redeemed::Consent(_)));
        }
    }

    #[test]
    fn a_flow_that_listens_nowhere_opens_its_consent_url() {
        let launches = Launches::new();
        assert_eq!(launches.browser_url(), Err(Error::NoFlow));
        launches.lead_to("https://openrouter.ai/auth?y".into(), None);
        assert_eq!(
            launches.browser_url().unwrap(),
            "https://openrouter.ai/auth?y"
        );
        assert!(!launches.knows("/start/https://openrouter.ai/auth?y"));
    }
}
