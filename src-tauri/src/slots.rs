//! The vault's two record slots as tauri-plugin-store files in the app's
//! data directory.
//!
//! The plugin's save is a plain overwrite that a crash can tear; the
//! vault never writes the slot that holds its newest record, so one of
//! the two always survives. Reads go to the file itself, so that what the
//! vault judges is what is on disk, not the plugin's cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use openrouter_connect_core::Error;
use openrouter_connect_core::vault::{Slot, SlotStore};
use serde_json::Value;
use tauri::{AppHandle, Runtime};
use tauri_plugin_store::{Store, StoreBuilder};

/// The store file of each slot, in the app's data directory.
pub fn file_name(slot: Slot) -> &'static str {
    match slot {
        Slot::A => "vault-a.json",
        Slot::B => "vault-b.json",
    }
}

/// The key under which each store file holds its record.
const RECORD: &str = "record";

pub struct PluginSlots<R: Runtime> {
    app: AppHandle<R>,
    dir: PathBuf,
}

impl<R: Runtime> PluginSlots<R> {
    pub fn new(app: AppHandle<R>, dir: PathBuf) -> Self {
        Self { app, dir }
    }

    fn path(&self, slot: Slot) -> PathBuf {
        self.dir.join(file_name(slot))
    }

    fn store(&self, slot: Slot) -> Result<Arc<Store<R>>, Error> {
        let path = self.path(slot);
        ensure_private_file(&path)
            .map_err(|_| Error::Storage("the app's data folder is not writable.".to_owned()))?;
        StoreBuilder::new(&self.app, path)
            .disable_auto_save()
            .build()
            .map_err(|_| Error::Storage("the store file could not be opened.".to_owned()))
    }

    /// Moves both slot files aside under a dated name, so that a fresh
    /// connect does not overwrite what could still be recovered. Returns
    /// the names given.
    pub fn set_aside(&self) -> Vec<String> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut moved = Vec::new();
        for slot in [Slot::A, Slot::B] {
            let path = self.path(slot);
            if path.exists() {
                let aside = path.with_extension(format!("json.damaged-{stamp}"));
                if std::fs::rename(&path, &aside).is_ok() {
                    moved.push(aside.display().to_string());
                }
            }
        }
        moved
    }
}

impl<R: Runtime> SlotStore for PluginSlots<R> {
    fn read(&self, slot: Slot) -> Result<Option<Value>, Error> {
        let bytes = match std::fs::read(self.path(slot)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(_) => {
                return Err(Error::Storage("a store file could not be read.".to_owned()));
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(mut fields)) => Ok(fields.remove(RECORD)),
            // Torn or foreign content: the vault judges it.
            Ok(other) => Ok(Some(other)),
            Err(_) => Ok(Some(Value::String("unreadable".to_owned()))),
        }
    }

    fn write(&self, slot: Slot, record: &Value) -> Result<(), Error> {
        let store = self.store(slot)?;
        store.set(RECORD, record.clone());
        store
            .save()
            .map_err(|_| Error::Storage("the store file could not be written.".to_owned()))
    }

    fn remove(&self, slot: Slot) -> Result<(), Error> {
        if !self.path(slot).exists() {
            return Ok(());
        }
        // Through the plugin, so that its cache (saved again at exit)
        // forgets the record as well.
        let store = self.store(slot)?;
        store.delete(RECORD);
        store
            .save()
            .map_err(|_| Error::Storage("the store file could not be written.".to_owned()))
    }
}

/// Creates the file readable by the user only before the plugin first
/// writes it: the plugin keeps the mode of a file that exists.
fn ensure_private_file(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
