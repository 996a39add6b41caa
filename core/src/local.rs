//! A [`KeyStore`] that needs no code: the key sealed in two files in a
//! folder, the data key in the OS keychain, and the rules for a store that
//! can't be read, so that every app recovers the same way.
//!
//! Records that can't be read are never deleted or overwritten: they are
//! moved aside under a dated name. At start (the store's first read) that
//! happens at once, and the app starts disconnected; except while the keychain holds a data key,
//! when the records may be its own (damaged, or tampered with): they stay
//! where they are, the store's first read fails with the reason, and the
//! next connect moves them aside. That connect's new data key replaces the
//! keychain's, so what was moved aside opens only with a copy of the old
//! one (a keychain backup).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::Error;
use crate::file_slots::FileSlots;
use crate::files;
use crate::keychain::{FALLBACK_FILE, KeychainKeys};
pub use crate::keychain::{KeyFileReason, Protection};
use crate::store::{KeyStore, StoredKey};
use crate::vault::{DataKeyStore, Slot, SlotStore, Vault};

/// Something the app should tell its user about the store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreNotice {
    /// Records that could not be read were moved aside, and the store
    /// started empty.
    SetAside {
        /// Why they could not be read.
        cause: Error,
        /// Where they are now.
        files: Vec<PathBuf>,
    },
    /// Records that could not be read were left in place: the keychain
    /// holds a data key, so they may be its own. The next connect moves
    /// them aside.
    LeftInPlace {
        /// Why they could not be read.
        cause: Error,
    },
    /// A data-key file beside the records was not used: this store keeps
    /// its data key in the keychain. Someone with access to the user's
    /// files may have put it there.
    KeyFileIgnored {
        /// The file.
        path: PathBuf,
    },
}

struct Facts {
    protection: Protection,
    notice: Option<StoreNotice>,
    /// Why the records in place can't be read, once a read or a write
    /// found them so: the next connect moves them aside.
    unreadable: Option<Error>,
    /// The first read, which sets aside what can't be read, is done.
    started: bool,
}

/// The key sealed in `vault-a.json` and `vault-b.json` in a folder (the
/// format of tauri-plugin-store), its data key in the OS keychain under
/// the app's identifier, or in a `vault-data-key` file readable by the
/// user alone where no keychain answers.
///
/// ```no_run
/// use std::sync::Arc;
/// use openrouter_connect_core::{Attribution, ClientConfig, Connector, LocalStore, Protection};
///
/// let store = Arc::new(LocalStore::open("com.example.cli", "/home/me/.local/share/example"));
/// let config = ClientConfig::new(Attribution::new("My CLI"));
/// let connector = Connector::builder(config).store(store.clone()).build()?;
/// if store.protection() != Protection::Keychain {
///     eprintln!("the key is less protected here: {:?}", store.protection());
/// }
/// if let Some(key) = connector.status().key {
///     println!("connected: {}", key.masked);
/// }
/// # Ok::<(), openrouter_connect_core::Error>(())
/// ```
pub struct LocalStore {
    vault: Vault<KeychainKeys, FileSlots>,
    facts: Mutex<Facts>,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("app_id", &self.vault.app_id())
            .field("dir", &self.dir())
            .field("protection", &self.protection())
            .finish_non_exhaustive()
    }
}

impl LocalStore {
    /// Opens the store of the app `app_id` (its identifier, such as
    /// `com.example.app`: the keychain entry's service, and bound into
    /// every record) in `dir`, and finds where its data key is. Its first
    /// read, which [`crate::ConnectorBuilder::build`] makes, is the start:
    /// records that can't be read are then set aside (or left in place,
    /// see the module's rules). Hand the connector a clone of the `Arc`
    /// holding it, and keep one to ask [`LocalStore::protection`] and
    /// [`LocalStore::notice`]: the store is not read again for them (on
    /// some systems each read of the keychain can prompt the user).
    ///
    /// Give it a folder of its own: the first write makes the folder
    /// readable by the user alone (0700 on Unix). Keep one per app: two
    /// over the same folder do not see each other's writes in order.
    pub fn open(app_id: &str, dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let slots = FileSlots::new(&dir);
        slots.remove_leftovers();
        files::remove_leftovers(&dir.join(FALLBACK_FILE));
        let (keys, mut protection, mut ignored) =
            KeychainKeys::choose(app_id, &dir, may_hold_a_key(&slots));
        let mut vault = Vault::new(app_id, keys, slots);
        // A key file that does not open the stored records is not theirs
        // (a leftover, or planted): their data key is the keychain's, even
        // when the keychain is locked now. Never set them aside for it.
        if vault.keys().is_file() && vault.opens_its_records() == Ok(false) {
            if let Some(keys) = KeychainKeys::keychain_only(app_id) {
                tracing::warn!(
                    "the key file does not open the stored records; the keychain's key does"
                );
                ignored = true;
                vault = Vault::new(app_id, keys, FileSlots::new(&dir));
                protection = match vault.load() {
                    Err(Error::Keychain { .. }) => Protection::KeychainUnavailable,
                    _ => Protection::Keychain,
                };
            }
        }
        let notice = ignored.then(|| StoreNotice::KeyFileIgnored {
            path: dir.join(FALLBACK_FILE),
        });
        Self {
            vault,
            facts: Mutex::new(Facts {
                protection,
                notice,
                unreadable: None,
                started: false,
            }),
        }
    }

    /// Where the data key is now. It changes when a keychain that did not
    /// answer does again, or stops answering.
    pub fn protection(&self) -> Protection {
        self.facts().protection
    }

    /// What the app should tell its user about the store, until
    /// [`LocalStore::clear_notice`].
    pub fn notice(&self) -> Option<StoreNotice> {
        self.facts().notice.clone()
    }

    /// The user has read the notice.
    pub fn clear_notice(&self) {
        self.facts().notice = None;
    }

    /// The folder the records are in.
    pub fn dir(&self) -> &Path {
        self.vault.slots().dir()
    }

    fn facts(&self) -> MutexGuard<'_, Facts> {
        self.facts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first read, at start: sets aside what can't be read (or
    /// leaves it in place while the keychain holds a data key).
    fn load_or_set_aside(&self) -> Result<Option<StoredKey>, Error> {
        let keys = self.vault.keys();
        match self.vault.load() {
            Err(error @ (Error::VaultCorrupt | Error::DataKeyMismatch))
                if !keys.is_file() && keys.get().is_ok_and(|key| key.is_some()) =>
            {
                tracing::warn!(code = error.code(), "stored connection left as it is");
                let mut facts = self.facts();
                facts.notice = Some(StoreNotice::LeftInPlace {
                    cause: error.clone(),
                });
                facts.unreadable = Some(error.clone());
                Err(error)
            }
            Err(error) if error.says_store_unreadable() => {
                self.set_aside(error);
                Ok(None)
            }
            loaded => self.observe(loaded),
        }
    }

    fn set_aside(&self, cause: Error) {
        let files = self.vault.slots().set_aside();
        tracing::warn!(
            code = cause.code(),
            files = files.len(),
            "stored connection set aside"
        );
        self.facts().notice = Some(StoreNotice::SetAside { cause, files });
    }

    /// Keeps [`LocalStore::protection`] true to what the keychain just did.
    fn observe<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        let keys = self.vault.keys();
        let mut facts = self.facts();
        match &result {
            Err(Error::Keychain { .. }) if !keys.is_file() => {
                facts.protection = Protection::KeychainUnavailable;
            }
            Err(error @ (Error::VaultCorrupt | Error::DataKeyMismatch)) => {
                facts.unreadable = Some(error.clone());
            }
            Ok(_) if !keys.is_file() && facts.protection != Protection::Keychain => {
                facts.protection = Protection::Keychain;
            }
            _ => {}
        }
        result
    }
}

impl KeyStore for LocalStore {
    /// The first read is the start (see [`LocalStore::open`]).
    fn load(&self) -> Result<Option<StoredKey>, Error> {
        let first = !std::mem::replace(&mut self.facts().started, true);
        if first {
            return self.load_or_set_aside();
        }
        self.observe(self.vault.load())
    }

    fn save(&self, record: &StoredKey) -> Result<(), Error> {
        self.observe(self.vault.save(record))
    }

    fn clear(&self) -> Result<(), Error> {
        self.observe(self.vault.clear())
    }

    /// A connect is the user's word to move records aside that were
    /// found unreadable before it (the connector, told so by the error it
    /// got then, shows no key): they are, and the store is made ready for
    /// the new key. Records found unreadable only now fail this connect
    /// with the reason, and the next one moves them.
    fn prepare_save(&self) -> Result<(), Error> {
        let unreadable = self.facts().unreadable.take();
        if let Some(cause) = unreadable {
            self.set_aside(cause);
        }
        self.observe(self.vault.prepare_save())
    }
}

/// Whether a slot holds something other than a tombstone: a key record,
/// or something that can't be read and might be one. Only then does the
/// data key's home matter; after a disconnect (tombstones alone, the data
/// key gone with it) the store chooses afresh.
fn may_hold_a_key(slots: &FileSlots) -> bool {
    Slot::ALL.iter().any(|slot| match slots.read(*slot) {
        Ok(None) => false,
        Ok(Some(record)) => record.get("state").and_then(|s| s.as_str()) != Some("cleared"),
        Err(_) => true,
    })
}
