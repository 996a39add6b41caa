//! Where a connected key is kept, behind a trait small enough that the
//! core never learns what holds it: the desktop app's encrypted vault, or
//! memory.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

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
        };
        Self { key, meta }
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
}
