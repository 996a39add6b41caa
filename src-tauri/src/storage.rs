//! Opens the app's vault the one way the app does: the data key's home
//! chosen (keychain or the named fallback), the two store files, and a
//! first read that sets a store it can't read aside instead of
//! overwriting it.

use std::path::PathBuf;

use openrouter_connect_core::vault::{Slot, Vault};
use openrouter_connect_core::{Error, KeyMeta, KeyStore};
use tauri::{AppHandle, Runtime};

use crate::keys::AppKeys;
use crate::models::Protection;
use crate::slots::{self, PluginSlots};

pub type AppVault<R> = Vault<AppKeys, PluginSlots<R>>;

/// The vault and what its first read found.
pub struct Storage<R: Runtime> {
    pub vault: AppVault<R>,
    pub protection: Protection,
    /// The stored connection, if any; `Err` when the keychain did not
    /// answer, so the panel can say why.
    pub loaded: Result<Option<KeyMeta>, Error>,
    /// What the panel must be told about the store, when something was
    /// set aside.
    pub notice: Option<String>,
}

/// `identifier` binds the records to this app; `data_dir` holds them.
/// Needs the store plugin registered on `app`.
pub fn open<R: Runtime>(app: &AppHandle<R>, identifier: &str, data_dir: PathBuf) -> Storage<R> {
    let has_records = [Slot::A, Slot::B]
        .iter()
        .any(|slot| data_dir.join(slots::file_name(*slot)).exists());
    let (keys, protection) = AppKeys::choose(identifier, data_dir.clone(), has_records);
    let vault = Vault::new(identifier, keys, PluginSlots::new(app.clone(), data_dir));
    let (loaded, notice) = load_or_set_aside(&vault);
    Storage {
        vault,
        protection,
        loaded,
        notice,
    }
}

/// Reads the stored connection once. A store that can't be read as it
/// is (damaged, or locked with a data key this machine does not have) is
/// moved aside, never overwritten, the app starts disconnected, and the
/// panel says so.
fn load_or_set_aside<R: Runtime>(
    vault: &AppVault<R>,
) -> (Result<Option<KeyMeta>, Error>, Option<String>) {
    match vault.load() {
        Err(error @ (Error::VaultCorrupt | Error::DataKeyMismatch | Error::DataKeyMissing)) => {
            let moved = vault.slots().set_aside();
            tracing::warn!(
                code = error.code(),
                files = moved.len(),
                "stored connection set aside"
            );
            let notice = format!(
                "{error} It was kept aside ({}) and the app starts disconnected. Connect again to store a new key.",
                moved.join(", ")
            );
            (Ok(None), Some(notice))
        }
        loaded => (loaded.map(|record| record.map(|r| r.meta)), None),
    }
}
