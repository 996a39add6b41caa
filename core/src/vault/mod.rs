//! The vault: a [`KeyStore`] that keeps the API key only as ciphertext,
//! in storage whose writes are plain overwrites a crash may tear.
//!
//! Three things are kept apart. The key itself is sealed with
//! XChaCha20-Poly1305 under a 256-bit data key; the non-secret [`KeyMeta`]
//! sits beside the ciphertext in the clear, so the app can show the masked
//! key without unlocking anything; and the data key lives elsewhere, in the
//! OS keychain ([`DataKeyStore`]). Someone who copies the records gets
//! nothing usable without the keychain, and someone with the keychain item
//! alone has no key to decrypt.
//!
//! # Two slots
//!
//! The record storage ([`SlotStore`]) may leave a half-written record after
//! a crash. So the vault never overwrites its newest valid record: each
//! save goes into the *other* slot with a higher sequence number, and a
//! load takes the highest-numbered record that parses and authenticates.
//! A torn write fails to parse or to authenticate, and the record before it
//! is still there. Once the new record is written, a replaced key's record
//! is overwritten with a tombstone of its own number, so no older key's
//! ciphertext stays behind. A clear writes a tombstone the same way, then overwrites
//! the older slot with a second tombstone, so no ciphertext is left behind
//! and a crash between the two writes still reads as cleared.
//!
//! # What the associated data binds
//!
//! The AEAD's associated data covers a domain string, the app's identifier,
//! the record's name, the format version, the sequence number and the
//! metadata. Swapping metadata between records, replaying an older record
//! under a newer number, or copying a record into another app's store all
//! fail authentication.
//!
//! # What is not authenticated
//!
//! A tombstone carries no secret and needs no data key, so it is accepted
//! whenever it is well formed. Whoever can write the record files can forge
//! one: the worst it does is make the app read as disconnected. It can never
//! make the vault return a key other than one it sealed itself.
//!
//! # Evidence is kept
//!
//! [`KeyStore::load`] never writes. When no slot holds a valid record but
//! something is there (damaged records, a record sealed under another data
//! key, or key records while the keychain has no data key), `load`, `save`
//! and `clear` all refuse with [`Error::VaultCorrupt`],
//! [`Error::DataKeyMismatch`] or [`Error::DataKeyMissing`] instead of
//! overwriting: the app decides, through [`Vault::inspect`], whether to move
//! the records aside before a fresh connect. In particular a new data key is
//! never generated while a key record that might be the current one exists.

mod contents;
mod record;
mod seal;

use std::fmt;
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

use crate::error::Error;
use crate::store::{KeyStore, StoredKey};
use contents::{Contents, Newest, SlotContent, judge};
use record::{Parsed, Record, next_seq};
pub use seal::DataKey;
use seal::{normalized_meta, seal};

/// Where the data key lives: the OS keychain, or a weaker fallback.
///
/// Errors are [`Error::Keychain`] with a message that holds no key
/// material.
pub trait DataKeyStore: Send + Sync + 'static {
    /// `Ok(None)`: no data key exists yet.
    fn get(&self) -> Result<Option<DataKey>, Error>;
    /// Keeps `key`, replacing any other.
    fn set(&self, key: &DataKey) -> Result<(), Error>;
    /// Removes the data key; no data key is not an error.
    fn delete(&self) -> Result<(), Error>;
}

/// Which of the two record slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// The first slot, preferred when two records tie.
    A,
    /// The second slot.
    B,
}

impl Slot {
    /// Both slots, in the order ties between them are broken.
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];

    /// The slot a write goes to when this one holds the newest record.
    pub const fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// A short name for the slot, for file names and logs: `"a"` or `"b"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }
}

/// Where sealed records live (tauri-plugin-store files in the app).
///
/// Writes are plain overwrites that a crash may tear: the vault's two slots
/// make the whole crash-safe, provided each slot is stored on its own (its
/// own file). Two slots in one file would be torn together.
pub trait SlotStore: Send + Sync + 'static {
    /// `Ok(None)`: the slot is empty or absent. `Err(..)`: it could not be
    /// read at all (I/O). A slot whose content does not parse is returned as
    /// `Ok(Some(value))` (any value, a JSON string of the raw text for
    /// instance) and judged by the vault: it is evidence, not absence.
    fn read(&self, slot: Slot) -> Result<Option<Value>, Error>;
    /// Stores `record` in `slot`, replacing what was there.
    fn write(&self, slot: Slot, record: &Value) -> Result<(), Error>;
    /// Empties `slot`.
    fn remove(&self, slot: Slot) -> Result<(), Error>;
}

/// What a look at the vault found, for the app to choose what to offer:
/// reconnecting over damaged records only after moving them aside, for
/// instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultHealth {
    /// No record at all: never connected, or the records were removed.
    Empty,
    /// The newest record is a tombstone: disconnected.
    Cleared,
    /// The newest record holds a key that authenticates.
    Connected,
    /// Records are there, none is valid, and some do not even parse.
    Corrupt,
    /// Key records parse but none authenticates with the data key present.
    DataKeyMismatch,
    /// Key records that may be the current ones exist, and the keychain
    /// has no data key.
    DataKeyMissing,
}

impl VaultHealth {
    /// The error `load`, `save` and `clear` refuse with in this state.
    pub fn error(self) -> Option<Error> {
        match self {
            VaultHealth::Empty | VaultHealth::Cleared | VaultHealth::Connected => None,
            VaultHealth::Corrupt => Some(Error::VaultCorrupt),
            VaultHealth::DataKeyMismatch => Some(Error::DataKeyMismatch),
            VaultHealth::DataKeyMissing => Some(Error::DataKeyMissing),
        }
    }
}

/// A [`KeyStore`] that seals the key under a data key from `K` and keeps
/// the sealed records in the two slots of `S`.
///
/// Operations on one vault are serialized; two vaults (or two processes)
/// over the same storage are not, so the app keeps a single instance.
pub struct Vault<K, S> {
    app_id: String,
    keys: K,
    slots: S,
    lock: Mutex<()>,
    /// The data key [`KeyStore::prepare_save`] read or made, for the save
    /// that follows: one keychain read per connect, since on some systems
    /// each read can prompt the user.
    prepared: Mutex<Option<DataKey>>,
}

impl<K, S> Vault<K, S> {
    /// `app_id` is the app's identifier (e.g. `"ai.openrouter.connect"`);
    /// it and the record name go into the AEAD's associated data, so records
    /// of one app do not open in another that shares the data key.
    pub fn new(app_id: impl Into<String>, keys: K, slots: S) -> Self {
        Self {
            app_id: app_id.into(),
            keys,
            slots,
            lock: Mutex::new(()),
            prepared: Mutex::new(None),
        }
    }

    /// Where the data key lives.
    pub fn keys(&self) -> &K {
        &self.keys
    }

    /// Where the records live.
    pub fn slots(&self) -> &S {
        &self.slots
    }

    /// The identifier bound into every record.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    fn exclusive(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_prepared(&self) -> Option<DataKey> {
        self.prepared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl<K, S> fmt::Debug for Vault<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl<K: DataKeyStore, S: SlotStore> Vault<K, S> {
    /// Reads both slots and says what state they are in, without writing
    /// anything. `Err` only when a slot or the keychain could not be read.
    pub fn inspect(&self) -> Result<VaultHealth, Error> {
        let _guard = self.exclusive();
        let contents = self.contents(false)?;
        Ok(match contents.newest() {
            Ok(None) => VaultHealth::Empty,
            Ok(Some(newest)) => match &contents.slots[newest.index].1 {
                SlotContent::Key { .. } => VaultHealth::Connected,
                _ => VaultHealth::Cleared,
            },
            Err(Error::VaultCorrupt) => VaultHealth::Corrupt,
            Err(Error::DataKeyMismatch) => VaultHealth::DataKeyMismatch,
            Err(Error::DataKeyMissing) => VaultHealth::DataKeyMissing,
            Err(other) => return Err(other),
        })
    }

    /// Whether the data key at hand opens the stored key records: some
    /// key record authenticates under it, or there are none. `false` says
    /// the records were sealed under another data key: an app that has
    /// two places a data key may be in asks the other before it trusts
    /// this one with the next record.
    pub fn opens_its_records(&self) -> Result<bool, Error> {
        let _guard = self.exclusive();
        let contents = self.contents(false)?;
        let newest_valid = contents
            .slots
            .iter()
            .filter_map(|(_, judged)| match judged {
                SlotContent::Key { seq, .. } | SlotContent::Tombstone { seq } => Some(*seq),
                _ => None,
            })
            .max();
        // A key record that fails under this data key matters only if it
        // claims to be newer than every valid record: an older one is
        // superseded (a connection before a disconnect, sealed under the
        // data key that went with it).
        Ok(!contents.slots.iter().any(|(_, judged)| match judged {
            SlotContent::Unauthentic { claimed_seq } => {
                newest_valid.is_none_or(|n| *claimed_seq > n)
            }
            _ => false,
        }))
    }

    /// The data key the next record is sealed with: the current key
    /// record's, or, where no key record is current (never connected, or
    /// disconnected), a new one, stored in the keychain before anything is
    /// sealed with it. So each connection after a disconnect has a data
    /// key of its own, even where deleting the old one failed.
    fn key_for_next_record(
        &self,
        contents: &Contents,
        newest: Option<Newest>,
    ) -> Result<DataKey, Error> {
        let current_key_record =
            newest.is_some_and(|n| matches!(contents.slots[n.index].1, SlotContent::Key { .. }));
        match (&contents.data_key, current_key_record) {
            (Some(key), true) => Ok(key.clone()),
            _ => {
                let key = DataKey::generate()?;
                self.keys.set(&key)?;
                Ok(key)
            }
        }
    }

    /// Reads both slots, fetches the data key when a key record needs it
    /// (or `want_key` says the caller will seal one), and judges each slot.
    fn contents(&self, want_key: bool) -> Result<Contents, Error> {
        self.contents_with(want_key, None)
    }

    /// [`Vault::contents`], with a data key already in hand instead of the
    /// keychain's.
    fn contents_with(&self, want_key: bool, in_hand: Option<DataKey>) -> Result<Contents, Error> {
        let [a, b] = [self.read(Slot::A)?, self.read(Slot::B)?];
        let needs_key = want_key || [&a, &b].iter().any(|p| matches!(p, Parsed::Key(_)));
        // A vault with only tombstones never asks the keychain: on some
        // systems asking prompts the user.
        let data_key = match in_hand {
            Some(key) => Some(key),
            None if needs_key => self.keys.get()?,
            None => None,
        };
        let slots = [
            (Slot::A, judge(&self.app_id, Slot::A, a, data_key.as_ref())),
            (Slot::B, judge(&self.app_id, Slot::B, b, data_key.as_ref())),
        ];
        Ok(Contents { slots, data_key })
    }

    fn read(&self, slot: Slot) -> Result<Parsed, Error> {
        Ok(Record::parse(self.slots.read(slot)?.as_ref()))
    }
}

impl<K: DataKeyStore, S: SlotStore> KeyStore for Vault<K, S> {
    fn load(&self) -> Result<Option<StoredKey>, Error> {
        let _guard = self.exclusive();
        let contents = self.contents(false)?;
        let Some(newest) = contents.newest()? else {
            return Ok(None);
        };
        let [first, second] = contents.slots;
        let (_, judged) = if newest.index == 0 { first } else { second };
        Ok(match judged {
            SlotContent::Key { record, .. } => Some(record),
            _ => None,
        })
    }

    fn save(&self, record: &StoredKey) -> Result<(), Error> {
        let meta = normalized_meta(&record.meta)?;
        if meta.masked != record.key.masked() || meta.key_sha256 != record.key.sha256_hex() {
            return Err(Error::storage(
                "the key's description does not match the key",
            ));
        }
        let _guard = self.exclusive();
        let prepared = self.take_prepared();
        let contents = self.contents_with(false, prepared.clone())?;
        let newest = contents.newest()?;
        let seq = next_seq(newest.map(|n| n.seq))?;
        let target = newest.map_or(Slot::A, |n| contents.slots[n.index].0.other());
        // A new data key only when no key record is current (`newest`
        // refuses when one might be), so no sealed key is orphaned.
        let data_key = match prepared {
            Some(key) => key,
            None => self.key_for_next_record(&contents, newest)?,
        };
        let sealed = seal(&self.app_id, &data_key, seq, &meta, &record.key)?;
        self.slots
            .write(target, &Record::key(&sealed).to_value()?)?;
        // The key this one replaces is cleared once the new record is
        // written: no ciphertext of it stays on disk to be read or rolled
        // back to. Its tombstone keeps its number, below the new record's,
        // and a crash that tears it leaves the new record the newest.
        if let Some(replaced) = newest {
            if let SlotContent::Key { .. } = contents.slots[replaced.index].1 {
                let slot = contents.slots[replaced.index].0;
                if let Err(error) = self
                    .slots
                    .write(slot, &Record::tombstone(replaced.seq).to_value()?)
                {
                    tracing::warn!(
                        code = error.code(),
                        slot = slot.as_str(),
                        "the replaced key's record could not be cleared"
                    );
                }
            }
        }
        Ok(())
    }

    /// Nothing damaged stands in the way, the next record's number is
    /// within bounds (the rule `save` applies), and the data key exists:
    /// made and stored in the keychain now if there is none yet, so that
    /// a locked or refusing keychain stops a flow before OpenRouter makes
    /// a key, not after.
    fn prepare_save(&self) -> Result<(), Error> {
        let _guard = self.exclusive();
        drop(self.take_prepared());
        let contents = self.contents(false)?;
        let newest = contents.newest()?;
        next_seq(newest.map(|n| n.seq))?;
        let data_key = self.key_for_next_record(&contents, newest)?;
        *self.prepared.lock().unwrap_or_else(|p| p.into_inner()) = Some(data_key);
        Ok(())
    }

    fn clear(&self) -> Result<(), Error> {
        let _guard = self.exclusive();
        drop(self.take_prepared());
        let contents = self.contents(false)?;
        let Some(newest) = contents.newest()? else {
            // Nothing but empty slots.
            return Ok(());
        };
        let leftovers = contents
            .slots
            .iter()
            .any(|(_, j)| !matches!(j, SlotContent::Empty | SlotContent::Tombstone { .. }));
        if !leftovers {
            return Ok(());
        }
        let newest_slot = contents.slots[newest.index].0;
        let first = next_seq(Some(newest.seq))?;
        let second = next_seq(Some(first))?;
        // The newest record is superseded before it is overwritten: a crash
        // between the writes leaves the first tombstone as the newest.
        self.slots
            .write(newest_slot.other(), &Record::tombstone(first).to_value()?)?;
        self.slots
            .write(newest_slot, &Record::tombstone(second).to_value()?)?;
        // Then the data key goes, so that no older copy of a record (a
        // backup, a synced folder) opens again; the next connect makes a
        // new one. The records already say disconnected: a keychain that
        // refuses now leaves only those older copies at risk.
        if let Err(error) = self.keys.delete() {
            tracing::warn!(code = error.code(), "the data key could not be deleted");
        }
        Ok(())
    }
}
