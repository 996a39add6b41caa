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
//! is still there. A clear writes a tombstone the same way, then overwrites
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

use std::fmt;
use std::sync::{Mutex, MutexGuard};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::secret::ApiKey;
use crate::store::{KeyMeta, KeyStore, StoredKey};

/// The name of the one record the vault keeps, bound into its associated
/// data so that a sealed key cannot pass for another record of the app.
pub const RECORD_NAME: &str = "openrouter-api-key";

/// The record format this code writes and the only one it reads.
pub const RECORD_VERSION: u64 = 1;

/// Separates this use of the data key from any other the app might make.
const DOMAIN: &str = "openrouter-connect vault v1";

/// The largest sequence number a record may carry: the largest integer a
/// JSON reader that uses doubles still reads exactly, and far beyond what
/// saves can reach, so the next number never overflows.
const MAX_SEQ: u64 = (1 << 53) - 1;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A 256-bit data key.
///
/// It prints `[redacted]` in `Debug` and wipes its memory on drop, like the
/// secrets in [`crate::secret`]: with it and the records, anyone reads the
/// API key.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| Error::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// Wraps a key read back from where it is kept.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key itself.
    ///
    /// Every call site is a place where the key leaves its wrapper: hand it
    /// to the keychain that keeps it and nowhere else, never to a log, an
    /// error message or the UI.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// Where the data key lives: the OS keychain, or a weaker fallback.
///
/// Errors are [`Error::Keychain`] with a message that holds no key
/// material.
pub trait DataKeyStore: Send + Sync + 'static {
    /// `Ok(None)`: no data key exists yet.
    fn get(&self) -> Result<Option<DataKey>, Error>;
    fn set(&self, key: &DataKey) -> Result<(), Error>;
    fn delete(&self) -> Result<(), Error>;
}

/// Which of the two record slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    A,
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
    fn write(&self, slot: Slot, record: &Value) -> Result<(), Error>;
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

    pub fn keys(&self) -> &K {
        &self.keys
    }

    pub fn slots(&self) -> &S {
        &self.slots
    }

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
        let survey = self.survey(false)?;
        Ok(match survey.newest() {
            Ok(None) => VaultHealth::Empty,
            Ok(Some(newest)) => match &survey.slots[newest.index].1 {
                Judged::Key { .. } => VaultHealth::Connected,
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
        let survey = self.survey(false)?;
        let newest_valid = survey
            .slots
            .iter()
            .filter_map(|(_, judged)| match judged {
                Judged::Key { seq, .. } | Judged::Tombstone { seq } => Some(*seq),
                _ => None,
            })
            .max();
        // A key record that fails under this data key matters only if it
        // claims to be newer than every valid record: an older one is
        // superseded (a connection before a disconnect, sealed under the
        // data key that went with it).
        Ok(!survey.slots.iter().any(|(_, judged)| match judged {
            Judged::Unauthentic { claimed_seq } => newest_valid.is_none_or(|n| *claimed_seq > n),
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
        survey: &Survey,
        newest: Option<Newest>,
    ) -> Result<DataKey, Error> {
        let current_key_record =
            newest.is_some_and(|n| matches!(survey.slots[n.index].1, Judged::Key { .. }));
        match (&survey.data_key, current_key_record) {
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
    fn survey(&self, want_key: bool) -> Result<Survey, Error> {
        self.survey_with(want_key, None)
    }

    /// [`Vault::survey`], with a data key already in hand instead of the
    /// keychain's.
    fn survey_with(&self, want_key: bool, in_hand: Option<DataKey>) -> Result<Survey, Error> {
        let [a, b] = [self.read(Slot::A)?, self.read(Slot::B)?];
        let needs_key = want_key || [&a, &b].iter().any(|p| matches!(p, Parsed::Key { .. }));
        // A vault with only tombstones never asks the keychain: on some
        // systems asking prompts the user.
        let data_key = match in_hand {
            Some(key) => Some(key),
            None if needs_key => self.keys.get()?,
            None => None,
        };
        let slots = [
            (Slot::A, self.judge(Slot::A, a, data_key.as_ref())),
            (Slot::B, self.judge(Slot::B, b, data_key.as_ref())),
        ];
        Ok(Survey { slots, data_key })
    }

    fn read(&self, slot: Slot) -> Result<Parsed, Error> {
        Ok(match self.slots.read(slot)? {
            None => Parsed::Empty,
            Some(value) => parse_record(&value).unwrap_or(Parsed::Malformed),
        })
    }

    fn judge(&self, slot: Slot, parsed: Parsed, data_key: Option<&DataKey>) -> Judged {
        match parsed {
            Parsed::Empty => Judged::Empty,
            Parsed::Malformed => {
                tracing::warn!(slot = slot.as_str(), "vault record is malformed");
                Judged::Malformed
            }
            Parsed::Tombstone { seq } => Judged::Tombstone { seq },
            Parsed::Key {
                seq,
                meta,
                nonce,
                ciphertext,
            } => {
                let Some(data_key) = data_key else {
                    return Judged::Locked { seq };
                };
                match open(&self.app_id, data_key, seq, meta, &nonce, &ciphertext) {
                    Opened::Key(record) => Judged::Key { seq, record },
                    Opened::Unauthentic => {
                        tracing::warn!(slot = slot.as_str(), "vault record failed authentication");
                        Judged::Unauthentic { claimed_seq: seq }
                    }
                    Opened::Inconsistent => {
                        tracing::warn!(
                            slot = slot.as_str(),
                            "vault record does not match its description"
                        );
                        Judged::Malformed
                    }
                }
            }
        }
    }
}

impl<K: DataKeyStore, S: SlotStore> KeyStore for Vault<K, S> {
    fn load(&self) -> Result<Option<StoredKey>, Error> {
        let _guard = self.exclusive();
        let survey = self.survey(false)?;
        let Some(newest) = survey.newest()? else {
            return Ok(None);
        };
        let [first, second] = survey.slots;
        let (_, judged) = if newest.index == 0 { first } else { second };
        Ok(match judged {
            Judged::Key { record, .. } => Some(record),
            _ => None,
        })
    }

    fn save(&self, record: &StoredKey) -> Result<(), Error> {
        let meta = normalized_meta(&record.meta)?;
        if meta.masked != record.key.masked() || meta.key_sha256 != record.key.sha256_hex() {
            return Err(Error::Storage(
                "the key's description does not match the key.".to_owned(),
            ));
        }
        let _guard = self.exclusive();
        let prepared = self.take_prepared();
        let survey = self.survey_with(false, prepared.clone())?;
        let newest = survey.newest()?;
        let seq = next_seq(newest.map(|n| n.seq))?;
        let target = newest.map_or(Slot::A, |n| survey.slots[n.index].0.other());
        // A new data key only when no key record is current (`newest`
        // refuses when one might be), so no sealed key is orphaned.
        let data_key = match prepared {
            Some(key) => key,
            None => self.key_for_next_record(&survey, newest)?,
        };
        let sealed = seal(&self.app_id, &data_key, seq, &meta, &record.key)?;
        self.slots.write(target, &sealed)
    }

    /// Nothing damaged stands in the way, the next record's number is
    /// within bounds (the rule `save` applies), and the data key exists:
    /// made and stored in the keychain now if there is none yet, so that
    /// a locked or refusing keychain stops a flow before OpenRouter makes
    /// a key, not after.
    fn prepare_save(&self) -> Result<(), Error> {
        let _guard = self.exclusive();
        drop(self.take_prepared());
        let survey = self.survey(false)?;
        let newest = survey.newest()?;
        next_seq(newest.map(|n| n.seq))?;
        let data_key = self.key_for_next_record(&survey, newest)?;
        *self.prepared.lock().unwrap_or_else(|p| p.into_inner()) = Some(data_key);
        Ok(())
    }

    fn clear(&self) -> Result<(), Error> {
        let _guard = self.exclusive();
        drop(self.take_prepared());
        let survey = self.survey(false)?;
        let Some(newest) = survey.newest()? else {
            // Nothing but empty slots.
            return Ok(());
        };
        let leftovers = survey
            .slots
            .iter()
            .any(|(_, j)| !matches!(j, Judged::Empty | Judged::Tombstone { .. }));
        if !leftovers {
            return Ok(());
        }
        let newest_slot = survey.slots[newest.index].0;
        let first = next_seq(Some(newest.seq))?;
        let second = next_seq(Some(first))?;
        // The newest record is superseded before it is overwritten: a crash
        // between the writes leaves the first tombstone as the newest.
        self.slots.write(newest_slot.other(), &tombstone(first))?;
        self.slots.write(newest_slot, &tombstone(second))?;
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

/// A slot as read, before any key is involved.
enum Parsed {
    Empty,
    Malformed,
    Tombstone {
        seq: u64,
    },
    Key {
        seq: u64,
        meta: KeyMeta,
        nonce: [u8; NONCE_LEN],
        ciphertext: Vec<u8>,
    },
}

/// A slot as judged with the data key (if any).
enum Judged {
    Empty,
    /// Does not parse, has the wrong shape, or authenticates but does not
    /// match its own description.
    Malformed,
    Tombstone {
        seq: u64,
    },
    Key {
        seq: u64,
        record: StoredKey,
    },
    /// Parses, and fails authentication with the data key present: torn,
    /// tampered with, or sealed under another data key. Its sequence number
    /// is as untrusted as the rest of it: kept only to tell a record that
    /// claims to be newer than every valid one from a superseded one.
    Unauthentic {
        claimed_seq: u64,
    },
    /// A key record while there is no data key to judge it by.
    Locked {
        seq: u64,
    },
}

struct Survey {
    slots: [(Slot, Judged); 2],
    data_key: Option<DataKey>,
}

#[derive(Clone, Copy)]
struct Newest {
    index: usize,
    seq: u64,
}

impl Survey {
    fn is_empty(&self) -> bool {
        self.slots.iter().all(|(_, j)| matches!(j, Judged::Empty))
    }

    /// The valid record with the highest sequence number; `Ok(None)` when
    /// every slot is empty. Refuses when nothing valid is there but
    /// something else is, or when a key record that could be newer than
    /// every valid record cannot be judged for lack of a data key.
    fn newest(&self) -> Result<Option<Newest>, Error> {
        let mut newest: Option<(Newest, bool)> = None;
        for (index, (_, judged)) in self.slots.iter().enumerate() {
            let (seq, is_tombstone) = match judged {
                Judged::Tombstone { seq } => (*seq, true),
                Judged::Key { seq, .. } => (*seq, false),
                _ => continue,
            };
            // Equal numbers only come from tampering: prefer the tombstone,
            // which can at worst disconnect, then slot A.
            let better = match newest {
                None => true,
                Some((best, best_is_tombstone)) => {
                    seq > best.seq || (seq == best.seq && is_tombstone && !best_is_tombstone)
                }
            };
            if better {
                newest = Some((Newest { index, seq }, is_tombstone));
            }
        }
        let newest = newest.map(|(n, _)| n);
        let locked_may_be_newer = self.slots.iter().any(|(_, j)| match j {
            Judged::Locked { seq } => newest.is_none_or(|n| *seq > n.seq),
            _ => false,
        });
        if locked_may_be_newer {
            return Err(Error::DataKeyMissing);
        }
        if newest.is_some() || self.is_empty() {
            return Ok(newest);
        }
        if self
            .slots
            .iter()
            .any(|(_, j)| matches!(j, Judged::Malformed))
        {
            Err(Error::VaultCorrupt)
        } else {
            Err(Error::DataKeyMismatch)
        }
    }
}

fn next_seq(newest: Option<u64>) -> Result<u64, Error> {
    match newest {
        None => Ok(1),
        // Only a forged number gets here; refusing keeps every record's
        // number readable rather than wrapping below the forged one.
        Some(seq) if seq >= MAX_SEQ => Err(Error::VaultCorrupt),
        Some(seq) => Ok(seq + 1),
    }
}

/// The record as stored, before its parts are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    version: u64,
    seq: u64,
    state: RawState,
    meta: Option<KeyMeta>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    ciphertext: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawState {
    Key,
    Cleared,
}

/// `None` for anything that is not a well-formed version 1 record.
fn parse_record(value: &Value) -> Option<Parsed> {
    let raw = RawRecord::deserialize(value).ok()?;
    if raw.version != RECORD_VERSION || raw.seq > MAX_SEQ {
        return None;
    }
    match raw.state {
        RawState::Cleared => {
            (raw.meta.is_none() && raw.nonce.is_none() && raw.ciphertext.is_none())
                .then_some(Parsed::Tombstone { seq: raw.seq })
        }
        RawState::Key => {
            let nonce = URL_SAFE_NO_PAD.decode(raw.nonce?).ok()?.try_into().ok()?;
            let ciphertext = URL_SAFE_NO_PAD.decode(raw.ciphertext?).ok()?;
            (ciphertext.len() >= TAG_LEN).then_some(Parsed::Key {
                seq: raw.seq,
                meta: raw.meta?,
                nonce,
                ciphertext,
            })
        }
    }
}

fn tombstone(seq: u64) -> Value {
    serde_json::json!({
        "version": RECORD_VERSION,
        "seq": seq,
        "state": "cleared",
        "meta": null,
    })
}

/// The metadata as it will read back from JSON: a value JSON cannot hold (a
/// limit that is not a finite number) comes back as `null`, and the
/// associated data must be computed from what comes back.
fn normalized_meta(meta: &KeyMeta) -> Result<KeyMeta, Error> {
    let bytes = serde_json::to_vec(meta).map_err(|_| unencodable())?;
    serde_json::from_slice(&bytes).map_err(|_| unencodable())
}

fn unencodable() -> Error {
    Error::Storage("the key's description could not be encoded.".to_owned())
}

/// The associated data: every part length-prefixed, so no two different
/// lists of parts encode alike.
fn associated_data(app_id: &str, seq: u64, meta: &KeyMeta) -> Result<Vec<u8>, Error> {
    let meta = serde_json::to_vec(meta).map_err(|_| unencodable())?;
    let parts: [&[u8]; 6] = [
        DOMAIN.as_bytes(),
        app_id.as_bytes(),
        RECORD_NAME.as_bytes(),
        &RECORD_VERSION.to_be_bytes(),
        &seq.to_be_bytes(),
        &meta,
    ];
    let mut out = Vec::with_capacity(parts.iter().map(|p| 8 + p.len()).sum());
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    Ok(out)
}

fn cipher(data_key: &DataKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(data_key.expose_bytes().into())
}

fn seal(
    app_id: &str,
    data_key: &DataKey,
    seq: u64,
    meta: &KeyMeta,
    key: &ApiKey,
) -> Result<Value, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| Error::Random(e.to_string()))?;
    let aad = associated_data(app_id, seq, meta)?;
    let ciphertext = cipher(data_key)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: key.expose_secret().as_bytes(),
                aad: &aad,
            },
        )
        .map_err(|_| Error::Storage("the key could not be encrypted.".to_owned()))?;
    let meta = serde_json::to_value(meta).map_err(|_| unencodable())?;
    Ok(serde_json::json!({
        "version": RECORD_VERSION,
        "seq": seq,
        "state": "key",
        "meta": meta,
        "nonce": URL_SAFE_NO_PAD.encode(nonce),
        "ciphertext": URL_SAFE_NO_PAD.encode(ciphertext),
    }))
}

enum Opened {
    Key(StoredKey),
    Unauthentic,
    /// Authenticates, yet the key does not match its metadata.
    Inconsistent,
}

fn open(
    app_id: &str,
    data_key: &DataKey,
    seq: u64,
    meta: KeyMeta,
    nonce: &[u8; NONCE_LEN],
    ciphertext: &[u8],
) -> Opened {
    let Ok(aad) = associated_data(app_id, seq, &meta) else {
        return Opened::Inconsistent;
    };
    let Ok(plaintext) = cipher(data_key).decrypt(
        XNonce::from_slice(nonce),
        Payload {
            msg: ciphertext,
            aad: &aad,
        },
    ) else {
        return Opened::Unauthentic;
    };
    let plaintext = Zeroizing::new(plaintext);
    let Ok(text) = std::str::from_utf8(&plaintext) else {
        return Opened::Inconsistent;
    };
    let key = ApiKey::new(text);
    // The AEAD already vouches for the pair; this catches a record that was
    // sealed inconsistent, which would show the user one key's mask and
    // revoke page while using another.
    if key.masked() != meta.masked || key.sha256_hex() != meta.key_sha256 {
        return Opened::Inconsistent;
    }
    Opened::Key(StoredKey { key, meta })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_for(key: &ApiKey) -> KeyMeta {
        KeyMeta {
            masked: key.masked(),
            label: Some("label".into()),
            limit: Some(2.5),
            user_id: Some("user_1".into()),
            connected_at_ms: 1_700_000_000_000,
            key_sha256: key.sha256_hex(),
        }
    }

    #[test]
    fn data_key_debug_is_redacted() {
        let key = DataKey::from_bytes([0xab; 32]);
        let printed = format!("{key:?} {:?}", Some(&key));
        assert_eq!(printed, "DataKey([redacted]) Some(DataKey([redacted]))");
    }

    #[test]
    fn generated_data_keys_differ() {
        let a = DataKey::generate().unwrap();
        let b = DataKey::generate().unwrap();
        assert_ne!(a.expose_bytes(), b.expose_bytes());
    }

    #[test]
    fn slots_pair_up() {
        assert_eq!(Slot::A.other(), Slot::B);
        assert_eq!(Slot::B.other(), Slot::A);
        assert_eq!(Slot::ALL.map(Slot::as_str), ["a", "b"]);
    }

    #[test]
    fn associated_data_is_length_prefixed() {
        let key = ApiKey::new("sk-or-v1-0123456789abcdef0123");
        let meta = meta_for(&key);
        let aad = associated_data("app", 7, &meta).unwrap();
        let mut rest = aad.as_slice();
        let mut parts = Vec::new();
        while !rest.is_empty() {
            let (len, tail) = rest.split_at(8);
            let len = u64::from_be_bytes(len.try_into().unwrap()) as usize;
            let (part, tail) = tail.split_at(len);
            parts.push(part.to_vec());
            rest = tail;
        }
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[0], DOMAIN.as_bytes());
        assert_eq!(parts[1], b"app");
        assert_eq!(parts[2], RECORD_NAME.as_bytes());
        assert_eq!(parts[3], 1u64.to_be_bytes());
        assert_eq!(parts[4], 7u64.to_be_bytes());
        assert_eq!(parts[5], serde_json::to_vec(&meta).unwrap());
    }

    #[test]
    fn sealed_record_opens_only_with_its_context() {
        let data_key = DataKey::from_bytes([7; 32]);
        let key = ApiKey::new("sk-or-v1-0123456789abcdef0123456789abcdef");
        let meta = meta_for(&key);
        let sealed = seal("app", &data_key, 3, &meta, &key).unwrap();
        let Some(Parsed::Key {
            seq,
            meta: parsed_meta,
            nonce,
            ciphertext,
        }) = parse_record(&sealed)
        else {
            panic!("a sealed record parses as a key record");
        };
        assert_eq!(seq, 3);
        assert_eq!(ciphertext.len(), key.expose_secret().len() + TAG_LEN);
        let opened = |app: &str, dk: &DataKey, seq: u64, meta: KeyMeta| match open(
            app,
            dk,
            seq,
            meta,
            &nonce,
            &ciphertext,
        ) {
            Opened::Key(r) => Some(r),
            _ => None,
        };
        let record = opened("app", &data_key, 3, parsed_meta.clone()).unwrap();
        assert_eq!(record.key, key);
        assert_eq!(record.meta, meta);
        assert!(opened("other.app", &data_key, 3, parsed_meta.clone()).is_none());
        assert!(opened("app", &data_key, 4, parsed_meta.clone()).is_none());
        assert!(opened("app", &DataKey::from_bytes([8; 32]), 3, parsed_meta.clone()).is_none());
        let mut relabeled = parsed_meta;
        relabeled.label = Some("other".into());
        assert!(opened("app", &data_key, 3, relabeled).is_none());
    }

    #[test]
    fn record_shapes() {
        let ok_tombstone = tombstone(4);
        assert!(matches!(
            parse_record(&ok_tombstone),
            Some(Parsed::Tombstone { seq: 4 })
        ));
        let with_nulls = serde_json::json!({
            "version": 1, "seq": 4, "state": "cleared", "meta": null,
            "nonce": null, "ciphertext": null,
        });
        assert!(matches!(
            parse_record(&with_nulls),
            Some(Parsed::Tombstone { seq: 4 })
        ));
        let bad = [
            serde_json::json!("<unparseable>"),
            serde_json::json!(null),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!({"version": 2, "seq": 4, "state": "cleared", "meta": null}),
            serde_json::json!({"version": 1, "seq": -1, "state": "cleared", "meta": null}),
            serde_json::json!({"version": 1, "seq": 1.5, "state": "cleared", "meta": null}),
            serde_json::json!({"version": 1, "seq": MAX_SEQ + 1, "state": "cleared", "meta": null}),
            serde_json::json!({"version": 1, "seq": 4, "state": "gone", "meta": null}),
            serde_json::json!({"version": 1, "seq": 4, "state": "cleared", "meta": null, "extra": 1}),
            serde_json::json!({"version": 1, "seq": 4, "state": "cleared", "meta": null, "nonce": "AAAA"}),
            serde_json::json!({"version": 1, "seq": 4, "state": "key", "meta": null}),
        ];
        for value in &bad {
            assert!(parse_record(value).is_none(), "{value}");
        }
    }

    #[test]
    fn key_record_parts_are_checked() {
        let data_key = DataKey::from_bytes([7; 32]);
        let key = ApiKey::new("sk-or-v1-0123456789abcdef0123456789abcdef");
        let sealed = seal("app", &data_key, 1, &meta_for(&key), &key).unwrap();
        let with = |field: &str, value: Value| {
            let mut v = sealed.clone();
            v[field] = value;
            v
        };
        let short_nonce = URL_SAFE_NO_PAD.encode([0u8; 23]);
        let short_ciphertext = URL_SAFE_NO_PAD.encode([0u8; TAG_LEN - 1]);
        let bad = [
            with("nonce", Value::Null),
            with("nonce", short_nonce.into()),
            with("nonce", "not base64!".into()),
            with("ciphertext", Value::Null),
            with("ciphertext", short_ciphertext.into()),
            with("ciphertext", "AAAA=".into()),
            with("meta", serde_json::json!({"masked": "x"})),
        ];
        for value in &bad {
            assert!(parse_record(value).is_none(), "{value}");
        }
    }

    #[test]
    fn inconsistent_description_is_not_a_key() {
        let data_key = DataKey::from_bytes([7; 32]);
        let key = ApiKey::new("sk-or-v1-0123456789abcdef0123456789abcdef");
        let other = ApiKey::new("sk-or-v1-ffffffffffffffffffffffffffffffff");
        // Sealed (so it authenticates) with another key's description.
        let sealed = seal("app", &data_key, 1, &meta_for(&other), &key).unwrap();
        let Some(Parsed::Key {
            seq,
            meta,
            nonce,
            ciphertext,
        }) = parse_record(&sealed)
        else {
            panic!("parses");
        };
        assert!(matches!(
            open("app", &data_key, seq, meta, &nonce, &ciphertext),
            Opened::Inconsistent
        ));
    }

    #[test]
    fn sequence_numbers_stop_short_of_overflow() {
        assert_eq!(next_seq(None).unwrap(), 1);
        assert_eq!(next_seq(Some(41)).unwrap(), 42);
        assert_eq!(next_seq(Some(MAX_SEQ)).unwrap_err(), Error::VaultCorrupt);
    }

    #[test]
    fn non_finite_limit_normalizes_to_none() {
        let key = ApiKey::new("sk-or-v1-0123456789abcdef0123");
        let mut meta = meta_for(&key);
        meta.limit = Some(f64::NAN);
        assert_eq!(normalized_meta(&meta).unwrap().limit, None);
        meta.limit = Some(0.1 + 0.2);
        assert_eq!(normalized_meta(&meta).unwrap().limit, Some(0.1 + 0.2));
    }
}
