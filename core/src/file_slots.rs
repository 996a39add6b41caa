//! The vault's two record slots as two files in a folder, each replaced
//! whole on every write (a new file, synced, renamed into place).
//!
//! Each file is a JSON object with the record under `record`: the format
//! of tauri-plugin-store, so a Tauri app's store plugin reads it as one of
//! its stores. Writes never go through that plugin: its save is a plain
//! truncate-and-write without a sync, which a crash can tear.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, ErrorSource};
use crate::files;
use crate::vault::{Slot, SlotStore};

/// The key under which each file holds its record.
const RECORD: &str = "record";

/// A [`SlotStore`] of two files in one folder, readable by the user alone
/// (mode 0600 in a 0700 folder on Unix).
#[derive(Debug)]
pub struct FileSlots {
    dir: PathBuf,
}

impl FileSlots {
    /// Slots in `dir`, created on the first write.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The file that holds `slot`: `vault-a.json` or `vault-b.json`.
    pub fn path(&self, slot: Slot) -> PathBuf {
        self.dir.join(format!("vault-{}.json", slot.as_str()))
    }

    /// The folder the slots are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves both files aside under a dated name, so that a fresh connect
    /// does not overwrite what could still be recovered. Returns the new
    /// names.
    pub fn set_aside(&self) -> Vec<PathBuf> {
        let stamp = crate::store::now_ms() / 1000;
        let mut moved = Vec::new();
        for slot in Slot::ALL {
            let path = self.path(slot);
            if path.exists() {
                let aside = path.with_extension(format!("json.damaged-{stamp}"));
                if std::fs::rename(&path, &aside).is_ok() {
                    moved.push(aside);
                }
            }
        }
        moved
    }

    /// Removes what a crash in the middle of a write left behind.
    #[cfg_attr(not(feature = "keyring"), allow(dead_code))]
    pub(crate) fn remove_leftovers(&self) {
        for slot in Slot::ALL {
            files::remove_leftovers(&self.path(slot));
        }
    }
}

fn io_error(what: &str, error: std::io::Error) -> Error {
    Error::Storage {
        what: what.to_owned(),
        source: Some(ErrorSource::new(error)),
    }
}

impl SlotStore for FileSlots {
    fn read(&self, slot: Slot) -> Result<Option<Value>, Error> {
        let bytes = match std::fs::read(self.path(slot)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("a record file could not be read", e)),
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
        let mut file = serde_json::Map::new();
        file.insert(RECORD.to_owned(), record.clone());
        let bytes = serde_json::to_vec(&file)
            .map_err(|_| Error::storage("the record could not be encoded"))?;
        files::replace(&self.path(slot), &bytes)
            .map_err(|e| io_error("a record file could not be written", e))
    }

    fn remove(&self, slot: Slot) -> Result<(), Error> {
        files::remove(&self.path(slot))
            .map_err(|e| io_error("a record file could not be removed", e))
    }
}
