//! Where a connected key is kept, behind a trait small enough that the
//! core never learns what holds it: the desktop app's encrypted vault, or
//! memory.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::DEFAULT_BASE_URL;
use crate::error::Error;
use crate::secret::ApiKey;

/// What may be known about a stored key without the key itself: safe to
/// show, log and keep in plaintext.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct KeyMeta {
    /// `sk-or-v1-…abcd`.
    pub masked: String,
    /// The label asked for at consent.
    pub label: Option<String>,
    /// The spending limit asked for at consent, in USD: a request, which
    /// the user can change on the consent page. The key's own limit is
    /// [`KeyInfo::limit`](crate::KeyInfo::limit).
    pub limit: Option<f64>,
    /// OpenRouter's user id, when the exchange returned one.
    pub user_id: Option<String>,
    /// When the key was stored, in milliseconds since the Unix epoch.
    pub connected_at_ms: u64,
    /// SHA-256 of the key in hex: names the key's page on OpenRouter,
    /// where it is revoked, and does not reveal the key.
    pub key_sha256: String,
    /// The base URL of the OpenRouter that issued the key (such as
    /// `https://openrouter.ai/`): the key is sent nowhere else, so that a
    /// base URL changed later (an environment variable, a copied
    /// launcher) gets nothing. `None` in a record stored before it was
    /// kept: such a key is taken as OpenRouter's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl KeyMeta {
    /// The base URL of the OpenRouter that issued the key.
    pub fn issuer(&self) -> &str {
        self.origin.as_deref().unwrap_or(DEFAULT_BASE_URL)
    }

    /// True when the key was issued by the OpenRouter at `base_url`.
    pub fn belongs_to(&self, base_url: &Url) -> bool {
        Url::parse(self.issuer()).is_ok_and(|issuer| issuer == *base_url)
    }
}

/// A key and what is known about it: a [`KeyStore`] that keeps the two
/// apart builds it back from both.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// The key.
    pub key: ApiKey,
    /// Its description, which matches it (mask and hash).
    pub meta: KeyMeta,
}

impl StoredKey {
    /// A key with its description, connected now.
    pub fn new(
        key: ApiKey,
        label: Option<String>,
        limit: Option<f64>,
        user_id: Option<String>,
    ) -> Self {
        let meta = KeyMeta {
            masked: key.masked(),
            label,
            limit,
            user_id,
            connected_at_ms: now_ms(),
            key_sha256: key.sha256_hex(),
            origin: None,
        };
        Self { key, meta }
    }

    /// Records the OpenRouter at `base_url` as the key's issuer, the one
    /// place it will be sent (see [`KeyMeta::origin`]).
    #[must_use]
    pub fn issued_by(mut self, base_url: &Url) -> Self {
        self.meta.origin = Some(base_url.to_string());
        self
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Keeps at most one key.
///
/// Implementations must replace the record atomically: after a crash at
/// any point of `save`, `load` returns the old record or the new one.
/// Calls may block (files, keychains); the flow runs them off the async
/// threads. Error messages must not contain the key.
pub trait KeyStore: Send + Sync + 'static {
    /// The stored key, if any.
    fn load(&self) -> Result<Option<StoredKey>, Error>;
    /// Replaces the stored key, atomically.
    fn save(&self, record: &StoredKey) -> Result<(), Error>;
    /// Forgets the stored key.
    fn clear(&self) -> Result<(), Error>;

    /// Makes sure a `save` will be accepted, creating now what it needs
    /// (the vault's data key, in the keychain). Called before a flow
    /// opens the consent page: a key OpenRouter creates that can't be
    /// kept is a live credential nobody holds.
    fn prepare_save(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// A store that lives as long as the process: for apps that ask again on
/// every start, and for tests.
#[derive(Debug, Default)]
pub struct MemoryStore {
    record: Mutex<Option<StoredKey>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl KeyStore for MemoryStore {
    fn load(&self) -> Result<Option<StoredKey>, Error> {
        Ok(self
            .record
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }

    fn save(&self, record: &StoredKey) -> Result<(), Error> {
        *self.record.lock().unwrap_or_else(|p| p.into_inner()) = Some(record.clone());
        Ok(())
    }

    fn clear(&self) -> Result<(), Error> {
        *self.record.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_round_trip() {
        let store = MemoryStore::new();
        assert!(store.load().unwrap().is_none());
        let key = ApiKey::new("sk-or-v1-0123456789abcdef0123");
        let record = StoredKey::new(key, Some("l".into()), None, None);
        assert_eq!(record.meta.masked, record.key.masked());
        assert!(record.meta.connected_at_ms > 0);
        store.save(&record).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.key, record.key);
        assert_eq!(loaded.meta, record.meta);
        store.clear().unwrap();
        assert!(store.load().unwrap().is_none());
    }

    #[test]
    fn a_key_belongs_to_the_openrouter_that_issued_it() {
        let key = ApiKey::new("sk-or-v1-0123456789abcdef0123");
        let openrouter = Url::parse("https://openrouter.ai/").unwrap();
        let elsewhere = Url::parse("http://127.0.0.1:4000/").unwrap();
        let before_origins = StoredKey::new(key.clone(), None, None, None).meta;
        assert!(before_origins.belongs_to(&openrouter));
        assert!(!before_origins.belongs_to(&elsewhere));
        let issued = StoredKey::new(key, None, None, None)
            .issued_by(&elsewhere)
            .meta;
        assert_eq!(issued.issuer(), "http://127.0.0.1:4000/");
        assert!(issued.belongs_to(&elsewhere));
        assert!(!issued.belongs_to(&openrouter));
        assert!(!issued.belongs_to(&Url::parse("http://127.0.0.1:4001/").unwrap()));
        // Old records keep their bytes: no `origin` is written for none.
        let json = serde_json::to_value(&before_origins).unwrap();
        assert!(json.get("origin").is_none(), "{json}");
        assert_eq!(
            serde_json::to_value(&issued).unwrap()["origin"],
            "http://127.0.0.1:4000/"
        );
    }
}
