//! Opens the app's vault the one way the app does: the data key's home
//! chosen (keychain or the named fallback), the two store files, and a
//! first read that sets a store it can't read aside instead of
//! overwriting it.

use std::path::PathBuf;

use openrouter_connect_core::vault::{DataKeyStore, Slot, SlotStore, Vault};
use openrouter_connect_core::{Error, KeyMeta, KeyStore};

use crate::keys::{self, AppKeys};
use crate::models::Protection;
use crate::private_file;
use crate::slots::{self, PluginSlots};

pub type AppVault = Vault<AppKeys, PluginSlots>;

/// The vault and what its first read found.
pub struct Storage {
    pub vault: AppVault,
    pub protection: Protection,
    /// The stored connection, if any; `Err` when the keychain did not
    /// answer, so the panel can say why.
    pub loaded: Result<Option<KeyMeta>, Error>,
    /// What the panel must be told about the store, when something was
    /// set aside.
    pub notice: Option<String>,
}

/// `identifier` binds the records to this app; `data_dir` holds them.
pub fn open(identifier: &str, data_dir: PathBuf) -> Storage {
    for name in [
        slots::file_name(Slot::A),
        slots::file_name(Slot::B),
        keys::FALLBACK_FILE,
    ] {
        private_file::remove_leftovers(&data_dir.join(name));
    }
    let slots = PluginSlots::new(data_dir.clone());
    let (keys, mut protection, mut ignored_file) =
        AppKeys::choose(identifier, data_dir.clone(), may_hold_a_key(&slots));
    let mut vault = Vault::new(identifier, keys, slots);
    // A key file that does not open the stored records is not theirs (a
    // leftover, or planted): their data key is the keychain's, even when
    // the keychain is locked now. Never set them aside for it.
    if vault.keys().is_file() && vault.opens_its_records() == Ok(false) {
        if let Some(keys) = AppKeys::keychain_only(identifier) {
            tracing::warn!(
                "the key file does not open the stored records; the keychain's key does"
            );
            ignored_file = Some(keys::ignored_file_notice(&data_dir));
            vault = Vault::new(identifier, keys, PluginSlots::new(data_dir));
            protection = match vault.load() {
                Err(Error::Keychain(_)) => keys::locked_protection(),
                _ => keys::keychain_protection(),
            };
        }
    }
    let (loaded, notice) = load_or_set_aside(&vault);
    let notice = notice.or(ignored_file);
    Storage {
        vault,
        protection,
        loaded,
        notice,
    }
}

/// Whether a slot holds something other than a tombstone: a key record,
/// or something that can't be read and might be one. Only then does the
/// data key's home matter; after a disconnect (tombstones alone, the data
/// key gone with it) the app chooses afresh.
fn may_hold_a_key(slots: &PluginSlots) -> bool {
    Slot::ALL.iter().any(|slot| match slots.read(*slot) {
        Ok(None) => false,
        Ok(Some(record)) => record.get("state").and_then(|s| s.as_str()) != Some("cleared"),
        Err(_) => true,
    })
}

/// Reads the stored connection once. A store that can't be read as it
/// is (damaged, or locked with a data key this machine does not have) is
/// moved aside, never overwritten, the app starts disconnected, and the
/// panel says so. While the keychain holds a data key, the records may be
/// its own (damaged, or tampered with): they stay where they are, the app
/// starts with the error, and Connect moves them aside ([`set_aside`]).
fn load_or_set_aside(vault: &AppVault) -> (Result<Option<KeyMeta>, Error>, Option<String>) {
    match vault.load() {
        Err(error @ (Error::VaultCorrupt | Error::DataKeyMismatch))
            if !vault.keys().is_file() && vault.keys().get().is_ok_and(|key| key.is_some()) =>
        {
            tracing::warn!(code = error.code(), "stored connection left as it is");
            let notice = format!(
                "{error} It is left as it is; Connect moves it aside and stores a new key."
            );
            (Err(error), Some(notice))
        }
        Err(error @ (Error::VaultCorrupt | Error::DataKeyMismatch | Error::DataKeyMissing)) => {
            let notice = set_aside(vault, &error);
            (Ok(None), Some(notice))
        }
        loaded => (loaded.map(|record| record.map(|r| r.meta)), None),
    }
}

/// Moves the records aside (never deleting them) and says where, for a
/// store that can't be read as it is.
pub fn set_aside(vault: &AppVault, error: &Error) -> String {
    let moved = vault.slots().set_aside();
    tracing::warn!(
        code = error.code(),
        files = moved.len(),
        "stored connection set aside"
    );
    format!(
        "{error} It was kept aside ({}) and the app starts disconnected. Connect again to store a new key.",
        moved.join(", ")
    )
}
