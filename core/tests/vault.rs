//! The vault over in-memory slots that hold JSON as bytes, so that a test
//! can tear, flip and swap what a crash or an attacker would: whatever is
//! done to the records, a load gives back a key that was saved, "cleared",
//! or an error that names the problem, and never some other key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openrouter_connect_core::{
    ApiKey, DataKey, DataKeyStore, Error, KeyStore, Slot, SlotStore, StoredKey, Vault, VaultHealth,
};
use proptest::prelude::*;
use serde_json::Value;

const APP_ID: &str = "ai.openrouter.connect.test";

/// A keychain in memory that can be told to fail.
#[derive(Default)]
struct MemoryKeys {
    key: Mutex<Option<DataKey>>,
    failing: Mutex<bool>,
    gets: AtomicUsize,
    sets: AtomicUsize,
}

impl MemoryKeys {
    fn holding(key: DataKey) -> Self {
        let keys = Self::default();
        *keys.key.lock().unwrap() = Some(key);
        keys
    }

    fn current(&self) -> Option<DataKey> {
        self.key.lock().unwrap().clone()
    }

    fn replace(&self, key: Option<DataKey>) {
        *self.key.lock().unwrap() = key;
    }

    fn fail(&self, failing: bool) {
        *self.failing.lock().unwrap() = failing;
    }

    fn check(&self) -> Result<(), Error> {
        if *self.failing.lock().unwrap() {
            Err(Error::keychain("the keychain is locked."))
        } else {
            Ok(())
        }
    }
}

impl DataKeyStore for MemoryKeys {
    fn get(&self) -> Result<Option<DataKey>, Error> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        Ok(self.current())
    }

    fn set(&self, key: &DataKey) -> Result<(), Error> {
        self.check()?;
        self.sets.fetch_add(1, Ordering::SeqCst);
        self.replace(Some(key.clone()));
        Ok(())
    }

    fn delete(&self) -> Result<(), Error> {
        self.check()?;
        self.replace(None);
        Ok(())
    }
}

/// Two slots as bytes. Unparseable bytes read as a JSON string, the shape
/// a file adapter hands over for a file it cannot parse.
#[derive(Default)]
struct MemorySlots {
    bytes: Mutex<HashMap<Slot, Vec<u8>>>,
    pretty: bool,
    writes: AtomicUsize,
    removes: AtomicUsize,
    /// Writes still allowed before every further one fails (a crash).
    writes_left: Mutex<Option<usize>>,
    failing_reads: Mutex<bool>,
}

impl MemorySlots {
    fn pretty() -> Self {
        Self {
            pretty: true,
            ..Self::default()
        }
    }

    fn with_contents(contents: HashMap<Slot, Vec<u8>>) -> Self {
        let slots = Self::default();
        *slots.bytes.lock().unwrap() = contents;
        slots
    }

    fn get(&self, slot: Slot) -> Option<Vec<u8>> {
        self.bytes.lock().unwrap().get(&slot).cloned()
    }

    fn put(&self, slot: Slot, bytes: Vec<u8>) {
        self.bytes.lock().unwrap().insert(slot, bytes);
    }

    fn snapshot(&self) -> HashMap<Slot, Vec<u8>> {
        self.bytes.lock().unwrap().clone()
    }

    fn json(&self, slot: Slot) -> Value {
        serde_json::from_slice(&self.get(slot).expect("slot holds a record")).unwrap()
    }

    fn set_json(&self, slot: Slot, value: &Value) {
        self.put(slot, serde_json::to_vec(value).unwrap());
    }

    fn mutations(&self) -> usize {
        self.writes.load(Ordering::SeqCst) + self.removes.load(Ordering::SeqCst)
    }

    fn crash_after(&self, writes: usize) {
        *self.writes_left.lock().unwrap() = Some(writes);
    }

    fn recover(&self) {
        *self.writes_left.lock().unwrap() = None;
    }
}

impl SlotStore for MemorySlots {
    fn read(&self, slot: Slot) -> Result<Option<Value>, Error> {
        if *self.failing_reads.lock().unwrap() {
            return Err(Error::storage("the file is unreadable."));
        }
        Ok(self.get(slot).map(|bytes| {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String("<unparseable>".into()))
        }))
    }

    fn write(&self, slot: Slot, record: &Value) -> Result<(), Error> {
        if let Some(left) = self.writes_left.lock().unwrap().as_mut() {
            if *left == 0 {
                return Err(Error::storage("the app stopped."));
            }
            *left -= 1;
        }
        self.writes.fetch_add(1, Ordering::SeqCst);
        let bytes = if self.pretty {
            serde_json::to_vec_pretty(record)
        } else {
            serde_json::to_vec(record)
        };
        self.put(slot, bytes.unwrap());
        Ok(())
    }

    fn remove(&self, slot: Slot) -> Result<(), Error> {
        self.removes.fetch_add(1, Ordering::SeqCst);
        self.bytes.lock().unwrap().remove(&slot);
        Ok(())
    }
}

type TestVault = Vault<MemoryKeys, MemorySlots>;

fn vault() -> TestVault {
    Vault::new(APP_ID, MemoryKeys::default(), MemorySlots::default())
}

fn stored(n: u32) -> StoredKey {
    let key = ApiKey::new(format!(
        "sk-or-v1-{n:04}5e7c2d1b9a8f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1"
    ));
    let mut record = StoredKey::new(
        key,
        Some(format!("key {n}")),
        Some(f64::from(n) + 0.25),
        Some(format!("user_{n}")),
    );
    record.meta.connected_at_ms = 1_700_000_000_000 + u64::from(n);
    record
}

fn assert_same(loaded: &StoredKey, expected: &StoredKey) {
    assert_eq!(loaded.key, expected.key);
    assert_eq!(loaded.meta, expected.meta);
}

fn loads(vault: &TestVault) -> StoredKey {
    vault.load().unwrap().expect("a key is stored")
}

/// Keys 1 (slot A) and 2 (slot B) both sealed: what a crash between
/// writing key 2's record and clearing key 1's leaves.
fn two_keys(vault: &TestVault) {
    vault.save(&stored(1)).unwrap();
    let first = vault.slots().get(Slot::A).unwrap();
    vault.save(&stored(2)).unwrap();
    vault.slots().put(Slot::A, first);
}

fn seq(vault: &TestVault, slot: Slot) -> u64 {
    vault.slots().json(slot)["seq"].as_u64().unwrap()
}

/// The slot holding the record with the highest sequence number.
fn newest_slot(vault: &TestVault) -> Slot {
    let [a, b] = Slot::ALL.map(|s| vault.slots().get(s).map(|_| seq(vault, s)));
    if b > a { Slot::B } else { Slot::A }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn decode(value: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(value.as_str().unwrap()).unwrap()
}

fn encode(bytes: &[u8]) -> Value {
    URL_SAFE_NO_PAD.encode(bytes).into()
}

#[test]
fn round_trip() {
    let vault = vault();
    assert!(vault.load().unwrap().is_none());
    assert_eq!(vault.inspect().unwrap(), VaultHealth::Empty);
    let record = stored(1);
    vault.save(&record).unwrap();
    assert_same(&loads(&vault), &record);
    assert_eq!(vault.inspect().unwrap(), VaultHealth::Connected);
}

#[test]
fn records_hold_no_plaintext_key() {
    let vault = vault();
    for n in 1..=3 {
        vault.save(&stored(n)).unwrap();
    }
    for n in 1..=3 {
        let key = stored(n).key;
        let secret = key.expose_secret().as_bytes();
        let tail = &secret["sk-or-v1-".len()..];
        for (slot, bytes) in vault.slots().snapshot() {
            assert!(!contains(&bytes, secret), "key {n} in slot {slot:?}");
            assert!(!contains(&bytes, tail), "key {n} in slot {slot:?}");
        }
    }
}

#[test]
fn record_format() {
    let vault = vault();
    let record = stored(1);
    vault.save(&record).unwrap();
    let json = vault.slots().json(Slot::A);
    let mut fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["ciphertext", "meta", "nonce", "seq", "state", "version"]
    );
    assert_eq!(json["version"], 1);
    assert_eq!(json["seq"], 1);
    assert_eq!(json["state"], "key");
    assert_eq!(json["meta"], serde_json::to_value(&record.meta).unwrap());
    assert_eq!(decode(&json["nonce"]).len(), 24);
    assert_eq!(
        decode(&json["ciphertext"]).len(),
        record.key.expose_secret().len() + 16
    );
    assert!(vault.slots().get(Slot::B).is_none());
}

#[test]
fn nonce_differs_between_saves_of_the_same_key() {
    let vault = vault();
    let record = stored(1);
    vault.save(&record).unwrap();
    vault.save(&record).unwrap();
    let [a, b] = Slot::ALL.map(|s| vault.slots().json(s));
    assert_ne!(a["nonce"], b["nonce"]);
    assert_ne!(a["ciphertext"], b["ciphertext"]);
    assert_same(&loads(&vault), &record);
}

#[test]
fn saves_alternate_slots_and_keep_the_newest() {
    let vault = vault();
    let expected = [Slot::A, Slot::B, Slot::A, Slot::B, Slot::A];
    for (i, slot) in expected.into_iter().enumerate() {
        let n = i as u32 + 1;
        vault.save(&stored(n)).unwrap();
        assert_eq!(seq(&vault, slot), u64::from(n), "save {n} goes to {slot:?}");
        assert_same(&loads(&vault), &stored(n));
        if n > 1 {
            // The record before it keeps its number (as a tombstone).
            assert_eq!(seq(&vault, slot.other()), u64::from(n - 1));
        }
    }
    assert_eq!(vault.keys().sets.load(Ordering::SeqCst), 1);
}

#[test]
fn a_reconnect_clears_the_replaced_keys_record_once_the_new_one_is_written() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    let first = vault.slots().get(Slot::A).unwrap();
    vault.save(&stored(2)).unwrap();
    assert_same(&loads(&vault), &stored(2));
    // Slot A holds a tombstone of key 1's number: no ciphertext, nothing
    // to roll back to.
    assert_eq!(
        vault.slots().json(Slot::A),
        serde_json::json!({"version": 1, "seq": 1, "state": "cleared", "meta": null})
    );
    assert!(!contains(
        &vault.slots().get(Slot::A).unwrap(),
        b"ciphertext"
    ));
    assert_ne!(vault.slots().get(Slot::A).unwrap(), first);
    // The next save goes over the tombstone and clears key 2's record.
    vault.save(&stored(3)).unwrap();
    assert_eq!(seq(&vault, Slot::A), 3);
    assert_eq!(vault.slots().json(Slot::B)["state"], "cleared");
    assert_same(&loads(&vault), &stored(3));
    assert_eq!(
        vault.keys().sets.load(Ordering::SeqCst),
        1,
        "one data key throughout"
    );

    // A crash after the new record is written and before the old one is
    // cleared: the new key is loaded, and the next save clears the rest.
    vault.slots().crash_after(1);
    vault.save(&stored(4)).unwrap();
    vault.slots().recover();
    assert_same(&loads(&vault), &stored(4));
    assert_eq!(seq(&vault, Slot::A), 3, "key 3's record is still there");
    vault.save(&stored(5)).unwrap();
    assert_same(&loads(&vault), &stored(5));
    for slot in Slot::ALL {
        let record = vault.slots().json(slot);
        if record["state"] == "key" {
            assert_eq!(record["seq"], 5);
        } else {
            assert_eq!(record["state"], "cleared");
        }
    }
}

#[test]
fn data_key_is_stored_before_the_first_record() {
    let vault = vault();
    vault.slots().crash_after(0);
    assert!(vault.save(&stored(1)).is_err());
    // The data key went first; the record never made it.
    assert!(vault.keys().current().is_some());
    assert!(vault.slots().snapshot().is_empty());
    vault.slots().recover();
    vault.save(&stored(1)).unwrap();
    // Nothing was sealed under the first data key: the retry, like any
    // first record, gets a new one.
    assert_eq!(vault.keys().sets.load(Ordering::SeqCst), 2);
    assert_same(&loads(&vault), &stored(1));
}

#[test]
fn torn_write_loads_the_previous_key() {
    for pretty in [false, true] {
        let slots = if pretty {
            MemorySlots::pretty()
        } else {
            MemorySlots::default()
        };
        let vault = Vault::new(APP_ID, MemoryKeys::default(), slots);
        vault.save(&stored(1)).unwrap();
        vault.save(&stored(2)).unwrap();
        let overwritten = vault.slots().get(Slot::A).unwrap();
        let second = vault.slots().get(Slot::B).unwrap();
        vault.save(&stored(3)).unwrap();
        let written = vault.slots().get(Slot::A).unwrap();
        // Key 2's record as it was while key 3's was being written: it is
        // cleared only once that write is done.
        vault.slots().put(Slot::B, second);
        let mutations = vault.slots().mutations();
        for cut in 0..written.len() {
            // Truncated, as after a crash in a write that truncates first.
            vault.slots().put(Slot::A, written[..cut].to_vec());
            assert_same(&loads(&vault), &stored(2));
            assert_eq!(vault.inspect().unwrap(), VaultHealth::Connected);
            // Overwritten in place: the new record's start, the old one's end.
            let mut mixed = written[..cut].to_vec();
            mixed.extend_from_slice(overwritten.get(cut..).unwrap_or_default());
            vault.slots().put(Slot::A, mixed.clone());
            let loaded = loads(&vault);
            if mixed == written {
                assert_same(&loaded, &stored(3));
            } else {
                assert_same(&loaded, &stored(2));
            }
        }
        assert_eq!(vault.slots().mutations(), mutations, "load wrote nothing");
        // The next save replaces the torn record, not the good one.
        vault
            .slots()
            .put(Slot::A, written[..written.len() / 2].to_vec());
        vault.save(&stored(4)).unwrap();
        assert_eq!(seq(&vault, Slot::A), 3);
        assert_eq!(seq(&vault, Slot::B), 2);
        assert_same(&loads(&vault), &stored(4));
    }
}

#[test]
fn every_single_byte_flip_is_rejected() {
    let vault = vault();
    two_keys(&vault);
    let written = vault.slots().get(Slot::B).unwrap();
    let mutations = vault.slots().mutations();
    for at in 0..written.len() {
        for mask in [0x01u8, 0x02, 0x20, 0x80] {
            let mut flipped = written.clone();
            flipped[at] ^= mask;
            vault.slots().put(Slot::B, flipped);
            let loaded = vault
                .load()
                .unwrap_or_else(|e| panic!("byte {at} ^ {mask:#x}: {e:?}"));
            let loaded = loaded.unwrap_or_else(|| panic!("byte {at} ^ {mask:#x}: cleared"));
            assert_same(&loaded, &stored(1));
        }
    }
    assert_eq!(vault.slots().mutations(), mutations);
}

#[test]
fn a_lone_flipped_record_is_an_error_never_a_key() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    let written = vault.slots().get(Slot::A).unwrap();
    let mutations = vault.slots().mutations();
    for at in 0..written.len() {
        let mut flipped = written.clone();
        flipped[at] ^= 0x01;
        vault.slots().put(Slot::A, flipped);
        let error = vault.load().unwrap_err();
        assert!(
            matches!(error, Error::VaultCorrupt | Error::DataKeyMismatch),
            "byte {at}: {error:?}"
        );
        assert_eq!(vault.save(&stored(2)).unwrap_err(), error);
    }
    assert_eq!(vault.slots().mutations(), mutations);
}

/// Changes one field of slot B's record (the newest) and checks that the
/// vault falls back to slot A's key.
fn tamper_newest(change: impl Fn(&mut Value)) {
    let vault = vault();
    two_keys(&vault);
    let mut json = vault.slots().json(Slot::B);
    change(&mut json);
    vault.slots().set_json(Slot::B, &json);
    assert_same(&loads(&vault), &stored(1));
    // Alone, the tampered record is refused outright.
    vault.slots().remove(Slot::A).unwrap();
    assert_eq!(vault.load().unwrap_err(), Error::DataKeyMismatch);
}

#[test]
fn tampered_ciphertext_is_rejected() {
    for at in [0, 10, 40, 60] {
        tamper_newest(|json| {
            let mut bytes = decode(&json["ciphertext"]);
            let at = at.min(bytes.len() - 1);
            bytes[at] ^= 0x40;
            json["ciphertext"] = encode(&bytes);
        });
    }
    tamper_newest(|json| {
        let mut bytes = decode(&json["ciphertext"]);
        bytes.pop();
        json["ciphertext"] = encode(&bytes);
    });
}

#[test]
fn tampered_nonce_is_rejected() {
    for at in [0, 12, 23] {
        tamper_newest(|json| {
            let mut bytes = decode(&json["nonce"]);
            bytes[at] ^= 0x01;
            json["nonce"] = encode(&bytes);
        });
    }
}

#[test]
fn tampered_meta_is_rejected() {
    tamper_newest(|json| json["meta"]["label"] = "a label of my choosing".into());
    tamper_newest(|json| json["meta"]["limit"] = 1000.0.into());
    tamper_newest(|json| json["meta"]["limit"] = Value::Null);
    tamper_newest(|json| json["meta"]["userId"] = "user_9".into());
    tamper_newest(|json| json["meta"]["connectedAtMs"] = 1.into());
    tamper_newest(|json| {
        // Points the user's revoke link at another key's page.
        json["meta"]["keySha256"] = stored(9).meta.key_sha256.into()
    });
    tamper_newest(|json| json["meta"]["masked"] = "sk-or-v1-…beef".into());
}

#[test]
fn tampered_seq_is_rejected() {
    tamper_newest(|json| json["seq"] = 3.into());
    tamper_newest(|json| json["seq"] = 1.into());
}

#[test]
fn replaying_an_old_record_under_a_newer_number_fails() {
    let vault = vault();
    two_keys(&vault);
    // Key 1's record, renumbered to look newer than key 2's.
    let mut old = vault.slots().json(Slot::A);
    old["seq"] = 3.into();
    vault.slots().set_json(Slot::A, &old);
    assert_same(&loads(&vault), &stored(2));
    // Key 1's record dropped into slot B in place of key 2's.
    let old = vault.slots().get(Slot::A).unwrap();
    vault.slots().put(Slot::B, old);
    assert_eq!(vault.load().unwrap_err(), Error::DataKeyMismatch);
}

#[test]
fn copying_the_older_record_over_the_newer_loads_the_older_key() {
    // The most a copy can do: bring back a key that was stored before.
    let vault = vault();
    two_keys(&vault);
    let old = vault.slots().get(Slot::A).unwrap();
    vault.slots().put(Slot::B, old);
    assert_same(&loads(&vault), &stored(1));
}

#[test]
fn swapped_meta_fails_authentication() {
    let vault = vault();
    two_keys(&vault);
    let mut a = vault.slots().json(Slot::A);
    let mut b = vault.slots().json(Slot::B);
    std::mem::swap(&mut a["meta"], &mut b["meta"]);
    vault.slots().set_json(Slot::A, &a);
    vault.slots().set_json(Slot::B, &b);
    let mutations = vault.slots().mutations();
    assert_eq!(vault.load().unwrap_err(), Error::DataKeyMismatch);
    assert_eq!(vault.inspect().unwrap(), VaultHealth::DataKeyMismatch);
    assert_eq!(vault.save(&stored(3)).unwrap_err(), Error::DataKeyMismatch);
    assert_eq!(vault.clear().unwrap_err(), Error::DataKeyMismatch);
    assert_eq!(vault.slots().mutations(), mutations);
}

#[test]
fn record_copied_to_another_app_fails() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    let data_key = vault.keys().current().unwrap();
    let other = Vault::new(
        "ai.example.another-app",
        MemoryKeys::holding(data_key.clone()),
        MemorySlots::with_contents(vault.slots().snapshot()),
    );
    assert_eq!(other.load().unwrap_err(), Error::DataKeyMismatch);
    // The same copy under the right app id opens.
    let same = Vault::new(
        APP_ID,
        MemoryKeys::holding(data_key),
        MemorySlots::with_contents(vault.slots().snapshot()),
    );
    assert_same(&loads(&same), &stored(1));
}

#[test]
fn clear_leaves_no_ciphertext() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.save(&stored(2)).unwrap();
    vault.clear().unwrap();
    assert!(vault.load().unwrap().is_none());
    assert_eq!(vault.inspect().unwrap(), VaultHealth::Cleared);
    for slot in Slot::ALL {
        let json = vault.slots().json(slot);
        assert_eq!(json["state"], "cleared", "{slot:?}");
        assert!(json["meta"].is_null());
        assert!(json.get("ciphertext").is_none_or(Value::is_null));
        assert!(json.get("nonce").is_none_or(Value::is_null));
    }
    assert_eq!(seq(&vault, Slot::A), 3);
    assert_eq!(seq(&vault, Slot::B), 4);
    // The data key goes with the records.
    assert!(vault.keys().current().is_none());
    // Clearing a cleared vault changes nothing.
    let mutations = vault.slots().mutations();
    vault.clear().unwrap();
    assert_eq!(vault.slots().mutations(), mutations);
    // And a new key goes in as usual, under a new data key.
    vault.save(&stored(3)).unwrap();
    assert_same(&loads(&vault), &stored(3));
    assert_eq!(vault.keys().sets.load(Ordering::SeqCst), 2);
}

/// A copy of the records from before a disconnect (a backup, a synced
/// folder) put back after it: its data key went with the disconnect, so
/// the copy opens no key, and nothing is overwritten.
#[test]
fn a_copy_from_before_a_disconnect_never_opens_again() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.save(&stored(2)).unwrap();
    let backup = vault.slots().snapshot();
    vault.clear().unwrap();
    for (slot, bytes) in backup {
        vault.slots().put(slot, bytes);
    }
    assert_eq!(vault.load().unwrap_err(), Error::DataKeyMissing);
    assert_eq!(vault.inspect().unwrap(), VaultHealth::DataKeyMissing);
}

/// A keychain that refuses the deletion after the tombstones still
/// leaves the vault disconnected: the records say so.
#[test]
fn a_disconnect_holds_when_the_data_key_cannot_be_deleted() {
    struct DeleteFails(MemoryKeys);
    impl DataKeyStore for DeleteFails {
        fn get(&self) -> Result<Option<DataKey>, Error> {
            self.0.get()
        }
        fn set(&self, key: &DataKey) -> Result<(), Error> {
            self.0.set(key)
        }
        fn delete(&self) -> Result<(), Error> {
            Err(Error::keychain("the keychain refused."))
        }
    }
    let vault = Vault::new(
        APP_ID,
        DeleteFails(MemoryKeys::default()),
        MemorySlots::default(),
    );
    vault.save(&stored(1)).unwrap();
    let backup = vault.slots().snapshot();
    vault.clear().unwrap();
    assert!(vault.load().unwrap().is_none());
    // The next connection gets a data key of its own all the same, so a
    // copy of the old records opens nothing once it is written.
    let old = vault.keys().0.current().unwrap();
    vault.save(&stored(2)).unwrap();
    let new = vault.keys().0.current().unwrap();
    assert_ne!(old.expose_bytes(), new.expose_bytes());
    for (slot, bytes) in backup {
        vault.slots().put(slot, bytes);
    }
    vault.slots().remove(Slot::B).unwrap();
    assert_eq!(vault.load().unwrap_err(), Error::DataKeyMismatch);
}

#[test]
fn clear_of_an_empty_vault_writes_nothing() {
    let vault = vault();
    vault.clear().unwrap();
    assert_eq!(vault.slots().mutations(), 0);
    assert_eq!(vault.keys().gets.load(Ordering::SeqCst), 0);
    assert!(vault.load().unwrap().is_none());
}

#[test]
fn crash_between_the_two_steps_of_clear_reads_as_cleared() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.save(&stored(2)).unwrap();
    vault.slots().crash_after(1);
    assert!(vault.clear().is_err());
    // Slot A got the tombstone; slot B still holds key 2's record.
    assert_eq!(vault.slots().json(Slot::A)["state"], "cleared");
    assert_eq!(vault.slots().json(Slot::B)["state"], "key");
    assert!(vault.load().unwrap().is_none());
    assert_eq!(vault.inspect().unwrap(), VaultHealth::Cleared);
    // A second clear finishes the job.
    vault.slots().recover();
    vault.clear().unwrap();
    for slot in Slot::ALL {
        assert_eq!(vault.slots().json(slot)["state"], "cleared");
    }
}

#[test]
fn torn_tombstone_keeps_the_key() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.save(&stored(2)).unwrap();
    vault.slots().crash_after(1);
    assert!(vault.clear().is_err());
    vault.slots().recover();
    let tombstone = vault.slots().get(Slot::A).unwrap();
    for cut in 0..tombstone.len() {
        vault.slots().put(Slot::A, tombstone[..cut].to_vec());
        assert_same(&loads(&vault), &stored(2));
    }
}

#[test]
fn forged_tombstone_only_disconnects() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.slots().set_json(
        Slot::B,
        &serde_json::json!({"version": 1, "seq": 100, "state": "cleared", "meta": null}),
    );
    assert!(vault.load().unwrap().is_none());
    vault.save(&stored(2)).unwrap();
    assert_eq!(seq(&vault, Slot::A), 101);
    assert_same(&loads(&vault), &stored(2));
}

#[test]
fn a_tie_in_numbers_goes_to_the_tombstone() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.slots().set_json(
        Slot::B,
        &serde_json::json!({"version": 1, "seq": 1, "state": "cleared", "meta": null}),
    );
    assert!(vault.load().unwrap().is_none());
}

#[test]
fn save_refuses_past_the_largest_number() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    let max = (1u64 << 53) - 1;
    vault.slots().set_json(
        Slot::B,
        &serde_json::json!({"version": 1, "seq": max, "state": "cleared", "meta": null}),
    );
    let mutations = vault.slots().mutations();
    assert_eq!(vault.save(&stored(2)).unwrap_err(), Error::VaultCorrupt);
    assert_eq!(vault.slots().mutations(), mutations);
}

#[test]
fn missing_data_key_is_reported_and_never_replaced() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.save(&stored(2)).unwrap();
    vault.keys().replace(None);
    let mutations = vault.slots().mutations();
    assert_eq!(vault.load().unwrap_err(), Error::DataKeyMissing);
    assert_eq!(vault.inspect().unwrap(), VaultHealth::DataKeyMissing);
    assert_eq!(vault.save(&stored(3)).unwrap_err(), Error::DataKeyMissing);
    assert_eq!(vault.clear().unwrap_err(), Error::DataKeyMissing);
    assert_eq!(vault.slots().mutations(), mutations);
    assert!(vault.keys().current().is_none(), "no new data key");
    assert_eq!(vault.keys().sets.load(Ordering::SeqCst), 1);
}

#[test]
fn missing_data_key_with_one_record_beside_damage() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.slots().put(Slot::B, b"{\"version\":1,\"se".to_vec());
    vault.keys().replace(None);
    assert_eq!(vault.load().unwrap_err(), Error::DataKeyMissing);
    assert_eq!(vault.save(&stored(2)).unwrap_err(), Error::DataKeyMissing);
    assert!(vault.keys().current().is_none());
}

#[test]
fn missing_data_key_behind_a_newer_tombstone_allows_a_new_one() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.slots().crash_after(1);
    assert!(vault.clear().is_err());
    vault.slots().recover();
    // Slot A: key 1 (seq 1); slot B: tombstone (seq 2). The keychain item
    // goes; key 1's record is superseded and may be replaced.
    vault.keys().replace(None);
    assert!(vault.load().unwrap().is_none());
    assert_eq!(vault.inspect().unwrap(), VaultHealth::Cleared);
    vault.save(&stored(2)).unwrap();
    assert_eq!(seq(&vault, Slot::A), 3);
    assert_same(&loads(&vault), &stored(2));
}

#[test]
fn a_key_record_newer_than_the_tombstone_needs_its_data_key() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.clear().unwrap();
    vault.save(&stored(2)).unwrap();
    vault.keys().replace(None);
    let mutations = vault.slots().mutations();
    assert_eq!(vault.load().unwrap_err(), Error::DataKeyMissing);
    assert_eq!(vault.save(&stored(3)).unwrap_err(), Error::DataKeyMissing);
    assert_eq!(vault.slots().mutations(), mutations);
}

#[test]
fn wrong_data_key_is_a_mismatch() {
    let vault = vault();
    two_keys(&vault);
    vault.keys().replace(Some(DataKey::generate().unwrap()));
    let mutations = vault.slots().mutations();
    assert_eq!(vault.load().unwrap_err(), Error::DataKeyMismatch);
    assert_eq!(vault.inspect().unwrap(), VaultHealth::DataKeyMismatch);
    assert_eq!(vault.save(&stored(3)).unwrap_err(), Error::DataKeyMismatch);
    assert_eq!(vault.slots().mutations(), mutations);
}

#[test]
fn keychain_errors_propagate_and_nothing_is_written() {
    let vault = vault();
    vault.keys().fail(true);
    let keychain = Error::keychain("the keychain is locked.");
    assert_eq!(vault.save(&stored(1)).unwrap_err(), keychain);
    assert_eq!(vault.slots().mutations(), 0);

    vault.keys().fail(false);
    vault.save(&stored(1)).unwrap();
    vault.keys().fail(true);
    let mutations = vault.slots().mutations();
    assert_eq!(vault.load().unwrap_err(), keychain);
    assert_eq!(vault.inspect().unwrap_err(), keychain);
    assert_eq!(vault.save(&stored(2)).unwrap_err(), keychain);
    assert_eq!(vault.clear().unwrap_err(), keychain);
    assert_eq!(vault.slots().mutations(), mutations);
    vault.keys().fail(false);
    assert_same(&loads(&vault), &stored(1));
}

#[test]
fn prepare_save_makes_the_data_key_first_and_writes_no_record() {
    let vault = vault();
    // A first connect with a keychain that refuses: stopped before the
    // flow, with nothing written.
    vault.keys().fail(true);
    let keychain = Error::keychain("the keychain is locked.");
    assert_eq!(vault.prepare_save().unwrap_err(), keychain);
    assert_eq!(vault.slots().mutations(), 0);
    vault.keys().fail(false);
    // With one that answers, the data key exists before the browser
    // opens, and the save after the flow uses it.
    vault.prepare_save().unwrap();
    let made = vault.keys().current().expect("a data key, made now");
    assert_eq!(vault.slots().mutations(), 0);
    vault.save(&stored(1)).unwrap();
    assert_eq!(
        vault.keys().current().unwrap().expose_bytes(),
        made.expose_bytes()
    );
    assert_eq!(vault.keys().sets.load(Ordering::SeqCst), 1);
}

/// A connect asks the keychain once: the data key the check before the
/// flow read (or made) is the one the save after it seals with.
#[test]
fn a_connect_reads_the_keychain_once() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    let reads = || vault.keys().gets.load(Ordering::SeqCst);
    let before = reads();
    vault.prepare_save().unwrap();
    vault.save(&stored(2)).unwrap();
    assert_eq!(reads() - before, 1);
    assert_same(&loads(&vault), &stored(2));
    // The key in hand serves one save: the next asks again.
    let before = reads();
    vault.save(&stored(3)).unwrap();
    assert_eq!(reads() - before, 1);
}

/// The check before a flow applies the save's own rule for the next
/// sequence number: a record near the limit fails there, before
/// OpenRouter makes a key, not after.
#[test]
fn prepare_save_refuses_what_save_would_refuse() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    // A tombstone needs no data key: the simplest record at the limit.
    vault.slots().set_json(
        Slot::B,
        &serde_json::json!({"version": 1, "seq": (1u64 << 53) - 1, "state": "cleared", "meta": null}),
    );
    assert_eq!(vault.prepare_save().unwrap_err(), Error::VaultCorrupt);
    assert_eq!(vault.save(&stored(2)).unwrap_err(), Error::VaultCorrupt);
}

#[test]
fn prepare_save_asks_the_keychain_and_writes_nothing() {
    let vault = vault();
    vault.prepare_save().unwrap();
    vault.keys().fail(true);
    let keychain = Error::keychain("the keychain is locked.");
    assert_eq!(vault.prepare_save().unwrap_err(), keychain);
    vault.keys().fail(false);
    vault.save(&stored(1)).unwrap();
    let mutations = vault.slots().mutations();
    vault.prepare_save().unwrap();
    vault.keys().fail(true);
    assert_eq!(vault.prepare_save().unwrap_err(), keychain);
    vault.keys().fail(false);
    vault.keys().replace(Some(DataKey::generate().unwrap()));
    assert_eq!(vault.prepare_save().unwrap_err(), Error::DataKeyMismatch);
    assert_eq!(vault.slots().mutations(), mutations);
}

#[test]
fn keychain_refusing_the_new_data_key_writes_nothing() {
    struct SetFails(MemoryKeys);
    impl DataKeyStore for SetFails {
        fn get(&self) -> Result<Option<DataKey>, Error> {
            self.0.get()
        }
        fn set(&self, _: &DataKey) -> Result<(), Error> {
            Err(Error::keychain("the keychain refused the item."))
        }
        fn delete(&self) -> Result<(), Error> {
            self.0.delete()
        }
    }
    let vault = Vault::new(
        APP_ID,
        SetFails(MemoryKeys::default()),
        MemorySlots::default(),
    );
    assert_eq!(
        vault.save(&stored(1)).unwrap_err(),
        Error::keychain("the keychain refused the item.")
    );
    assert_eq!(vault.slots().mutations(), 0);
}

#[test]
fn cleared_vault_does_not_ask_the_keychain_on_load() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.clear().unwrap();
    vault.keys().fail(true);
    assert!(vault.load().unwrap().is_none());
    assert_eq!(vault.inspect().unwrap(), VaultHealth::Cleared);
}

#[test]
fn garbage_in_both_slots_is_corrupt_and_kept() {
    let vault = vault();
    vault.slots().put(Slot::A, b"\0\0\0\0".to_vec());
    vault
        .slots()
        .put(Slot::B, b"{\"version\":1,\"seq\":".to_vec());
    let before = vault.slots().snapshot();
    assert_eq!(vault.load().unwrap_err(), Error::VaultCorrupt);
    assert_eq!(vault.inspect().unwrap(), VaultHealth::Corrupt);
    assert_eq!(vault.save(&stored(1)).unwrap_err(), Error::VaultCorrupt);
    assert_eq!(vault.clear().unwrap_err(), Error::VaultCorrupt);
    assert_eq!(vault.slots().mutations(), 0);
    assert_eq!(vault.slots().snapshot(), before);
    assert!(vault.keys().current().is_none(), "no data key made");
}

#[test]
fn a_lone_damaged_slot_is_corrupt() {
    let vault = vault();
    vault
        .slots()
        .set_json(Slot::B, &serde_json::json!({"version": 7}));
    assert_eq!(vault.load().unwrap_err(), Error::VaultCorrupt);
    assert_eq!(vault.save(&stored(1)).unwrap_err(), Error::VaultCorrupt);
    assert_eq!(vault.slots().mutations(), 0);
}

#[test]
fn damage_beside_a_foreign_record_is_corrupt() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.slots().put(Slot::B, b"not json".to_vec());
    vault.keys().replace(Some(DataKey::from_bytes([1; 32])));
    assert_eq!(vault.load().unwrap_err(), Error::VaultCorrupt);
}

#[test]
fn a_slot_that_cannot_be_read_fails_everything() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    *vault.slots().failing_reads.lock().unwrap() = true;
    let mutations = vault.slots().mutations();
    let unreadable = Error::storage("the file is unreadable.");
    assert_eq!(vault.load().unwrap_err(), unreadable);
    assert_eq!(vault.save(&stored(2)).unwrap_err(), unreadable);
    assert_eq!(vault.clear().unwrap_err(), unreadable);
    assert_eq!(vault.slots().mutations(), mutations);
}

#[test]
fn failed_write_keeps_the_previous_key() {
    let vault = vault();
    vault.save(&stored(1)).unwrap();
    vault.slots().crash_after(0);
    assert!(vault.save(&stored(2)).is_err());
    assert_same(&loads(&vault), &stored(1));
}

#[test]
fn description_that_does_not_match_the_key_is_refused() {
    let vault = vault();
    let mut record = stored(1);
    record.meta.masked = "sk-or-v1-…zzzz".into();
    assert!(matches!(vault.save(&record), Err(Error::Storage { .. })));
    let mut record = stored(1);
    record.meta.key_sha256 = stored(2).meta.key_sha256;
    assert!(matches!(vault.save(&record), Err(Error::Storage { .. })));
    assert_eq!(vault.slots().mutations(), 0);
}

#[test]
fn limit_json_cannot_hold_reads_back_as_none() {
    let vault = vault();
    let mut record = stored(1);
    record.meta.limit = Some(f64::INFINITY);
    vault.save(&record).unwrap();
    let loaded = loads(&vault);
    assert_eq!(loaded.key, record.key);
    assert_eq!(loaded.meta.limit, None);
}

#[test]
fn errors_and_debug_output_hold_no_secret() {
    let vault = vault();
    let record = stored(1);
    vault.save(&record).unwrap();
    let data_key = vault.keys().current().unwrap();
    let printed = format!("{vault:?} {data_key:?} {:?}", vault.load());
    let tail = &record.key.expose_secret()["sk-or-v1-".len()..];
    assert!(!printed.contains(tail), "{printed}");
    let hex: String = data_key
        .expose_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!printed.contains(&hex), "{printed}");
    assert!(!printed.contains(&format!("{:?}", data_key.expose_bytes())));
    for error in [
        Error::VaultCorrupt,
        Error::DataKeyMismatch,
        Error::DataKeyMissing,
    ] {
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn concurrent_saves_keep_the_vault_readable() {
    let vault = vault();
    std::thread::scope(|scope| {
        for n in 1..=8 {
            let vault = &vault;
            scope.spawn(move || {
                for _ in 0..5 {
                    vault.save(&stored(n)).unwrap();
                    vault.load().unwrap().unwrap();
                }
            });
        }
    });
    let loaded = loads(&vault);
    assert!((1..=8).any(|n| loaded.key == stored(n).key));
    let seqs: Vec<u64> = Slot::ALL.map(|s| seq(&vault, s)).into();
    assert_eq!(seqs.iter().max(), Some(&40));
    assert_eq!(seqs.iter().min(), Some(&39));
    assert_eq!(vault.keys().sets.load(Ordering::SeqCst), 1);
    assert_eq!(newest_slot(&vault), Slot::B);
}

fn meta_strategy()
-> impl Strategy<Value = (String, Option<String>, Option<f64>, Option<String>, u64)> {
    (
        prop_oneof![
            "sk-or-v1-[0-9a-f]{64}",
            "sk-or-v1-[0-9a-zA-Z_-]{0,40}",
            "\\PC{0,80}",
        ],
        proptest::option::of("\\PC{0,40}"),
        proptest::option::of(prop_oneof![
            any::<f64>().prop_filter("finite", |f| f.is_finite()),
            0.0..1000.0f64,
        ]),
        proptest::option::of("[a-z0-9_]{0,24}"),
        any::<u64>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_key_and_description_round_trip(
        (secret, label, limit, user_id, connected_at_ms) in meta_strategy(),
        pretty in any::<bool>(),
        saves in 1usize..4,
    ) {
        let slots = if pretty { MemorySlots::pretty() } else { MemorySlots::default() };
        let vault = Vault::new(APP_ID, MemoryKeys::default(), slots);
        let key = ApiKey::new(secret.clone());
        let mut record = StoredKey::new(key, label, limit, user_id);
        record.meta.connected_at_ms = connected_at_ms;
        for _ in 0..saves {
            vault.save(&record).unwrap();
        }
        let loaded = vault.load().unwrap().unwrap();
        prop_assert_eq!(&loaded.key, &record.key);
        prop_assert_eq!(&loaded.meta, &record.meta);
        if secret.len() >= 12 {
            for bytes in vault.slots().snapshot().values() {
                prop_assert!(!contains(bytes, secret.as_bytes()));
            }
        }
    }
}

/// The records say whether a data key is theirs, even where a tombstone
/// older than the key record would otherwise read as disconnected.
#[test]
fn a_vault_says_whether_its_data_key_opens_its_records() {
    let vault = vault();
    assert_eq!(vault.opens_its_records(), Ok(true), "nothing stored");
    vault.save(&stored(1)).unwrap();
    vault.clear().unwrap();
    assert_eq!(vault.opens_its_records(), Ok(true), "tombstones only");
    vault.save(&stored(2)).unwrap();
    assert_eq!(vault.opens_its_records(), Ok(true));
    vault.keys().replace(Some(DataKey::generate().unwrap()));
    assert_eq!(vault.opens_its_records(), Ok(false));
    // The newest valid record is the tombstone before it: read alone,
    // the vault looks disconnected.
    assert!(vault.load().unwrap().is_none());

    // A key record older than a valid tombstone is superseded: a crash
    // between a disconnect and the next connect's first write leaves one
    // beside the new data key, and that key is the vault's all the same.
    let vault = self::vault();
    vault.save(&stored(1)).unwrap();
    vault.slots().crash_after(1);
    assert!(vault.clear().is_err());
    vault.slots().recover();
    vault.keys().replace(Some(DataKey::generate().unwrap()));
    assert_eq!(vault.opens_its_records(), Ok(true));
}
