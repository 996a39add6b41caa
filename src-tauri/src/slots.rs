//! The vault's two record slots: tauri-plugin-store files in the app's
//! data directory, written by the vault itself.
//!
//! Each file is in the plugin's format (a JSON object, the record under
//! `record`), so the plugin reads it as one of its stores. But the
//! plugin's save is a plain truncate-and-write without a sync, and the
//! plugin saves every store it holds again when the app quits, so a crash
//! or a power cut while saving or quitting could tear the newest record.
//! So no record goes through the plugin's cache: each write replaces the
//! file whole (a new file, synced, renamed into place), and nothing is
//! left for the plugin to save on exit. Reads go to the file itself, so
//! that what the vault judges is what is on disk.

use std::path::PathBuf;

use openrouter_connect_core::Error;
use openrouter_connect_core::vault::{Slot, SlotStore};
use serde_json::Value;

use crate::private_file;

/// The store file of each slot, in the app's data directory.
pub fn file_name(slot: Slot) -> &'static str {
    match slot {
        Slot::A => "vault-a.json",
        Slot::B => "vault-b.json",
    }
}

/// The key under which each store file holds its record.
pub const RECORD: &str = "record";

pub struct PluginSlots {
    dir: PathBuf,
}

impl PluginSlots {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn path(&self, slot: Slot) -> PathBuf {
        self.dir.join(file_name(slot))
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

impl SlotStore for PluginSlots {
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
        let mut store = serde_json::Map::new();
        store.insert(RECORD.to_owned(), record.clone());
        let bytes = serde_json::to_vec(&store)
            .map_err(|_| Error::Storage("the record could not be encoded.".to_owned()))?;
        private_file::replace(&self.path(slot), &bytes)
            .map_err(|_| Error::Storage("the store file could not be written.".to_owned()))
    }

    fn remove(&self, slot: Slot) -> Result<(), Error> {
        private_file::remove(&self.path(slot))
            .map_err(|_| Error::Storage("the store file could not be removed.".to_owned()))
    }
}
