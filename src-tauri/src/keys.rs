//! Where the vault's data key lives: the OS keychain (macOS Keychain,
//! Windows Credential Manager, the Secret Service on Linux), or, where no
//! keychain answers, a clearly named weaker fallback: a file readable by
//! the user only, beside the store.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use openrouter_connect_core::Error;
use openrouter_connect_core::vault::{DataKey, DataKeyStore};
use zeroize::Zeroizing;

use crate::models::Protection;
use crate::private_file;

/// The keychain entry's account name, under the app identifier as service.
const KEYCHAIN_USER: &str = "vault-data-key";
/// The fallback's file name in the app's data directory.
pub const FALLBACK_FILE: &str = "vault-data-key";

/// The data key's home, chosen at start.
pub enum AppKeys {
    Keychain(keyring::Entry),
    File {
        path: PathBuf,
        /// The keychain's entry, where the keychain failed at start with
        /// nothing stored: it is asked again before the file first holds
        /// a data key, so that one failure at start does not leave the
        /// key in the weaker file for good.
        retry: Option<keyring::Entry>,
        /// The retry succeeded: the data key is in the keychain after all.
        moved: AtomicBool,
    },
}

impl AppKeys {
    /// Where the data key lives, and a word for the panel when a key file
    /// was found and not used.
    ///
    /// The keychain whenever it answers: a key file beside the store is
    /// taken only where no keychain answers, so a file someone planted
    /// there can't override the keychain's data key, nor become the data
    /// key the next connect seals under. The exception is a connection
    /// made where no keychain answered (`has_records`, the keychain empty,
    /// the file there): its data key is in the file, and moving on without
    /// it would lose the connection. A keychain that fails (locked,
    /// refusing, not running) while a record that may hold a key is stored
    /// stays the choice: falling back then would lose the key that unlocks
    /// the stored connection; its errors reach the panel instead.
    pub fn choose(
        service: &str,
        data_dir: PathBuf,
        has_records: bool,
    ) -> (Self, Protection, Option<String>) {
        let fallback = data_dir.join(FALLBACK_FILE);
        let file_there = fallback.exists();
        let file_protection = |why: &str| Protection {
            level: "fallback",
            label: "key file (weaker)".to_owned(),
            detail: format!(
                "{why} The key is encrypted, but its unlock key is in a file only your user can read: anyone with your files can read it."
            ),
        };
        let ignored = || {
            file_there.then(|| {
                tracing::warn!(
                    "a data-key file beside the store was ignored: the keychain answers"
                );
                ignored_file_notice(&data_dir)
            })
        };
        let entry = match keyring::Entry::new(service, KEYCHAIN_USER) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(error = %e, "no keychain entry could be made");
                return (
                    AppKeys::file(fallback, None),
                    file_protection("No system keychain is available."),
                    None,
                );
            }
        };
        match entry.get_secret() {
            Ok(mut secret) => {
                zeroize::Zeroize::zeroize(&mut secret);
                (AppKeys::Keychain(entry), keychain_protection(), ignored())
            }
            Err(keyring::Error::NoEntry) if has_records && file_there => (
                AppKeys::file(fallback, Some(entry)),
                file_protection("The key was first stored without a system keychain."),
                None,
            ),
            Err(keyring::Error::NoEntry) => {
                (AppKeys::Keychain(entry), keychain_protection(), ignored())
            }
            Err(e) if has_records && file_there => {
                tracing::warn!(error = %e, "the system keychain did not answer; the key file holds the data key");
                (
                    AppKeys::file(fallback, None),
                    file_protection("The key was first stored without a system keychain."),
                    None,
                )
            }
            Err(e) if has_records => {
                tracing::warn!(error = %e, "the system keychain did not answer; a connection is stored");
                (AppKeys::Keychain(entry), locked_protection(), None)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the system keychain did not answer");
                (
                    AppKeys::file(fallback, Some(entry)),
                    file_protection("The system keychain did not answer."),
                    None,
                )
            }
        }
    }
}

/// What the panel says of a key file that was found and not used.
pub fn ignored_file_notice(data_dir: &std::path::Path) -> String {
    format!(
        "A key file ({}) was found beside the store and not used: this app keeps its key in the system keychain. If you did not put it there, someone with access to your files may have.",
        data_dir.join(FALLBACK_FILE).display()
    )
}

impl AppKeys {
    /// The keychain alone, whether or not it answers now.
    pub fn keychain_only(service: &str) -> Option<Self> {
        keyring::Entry::new(service, KEYCHAIN_USER)
            .ok()
            .map(AppKeys::Keychain)
    }

    /// The data key is in the key file.
    pub fn is_file(&self) -> bool {
        self.keychain().is_none()
    }

    fn file(path: PathBuf, retry: Option<keyring::Entry>) -> Self {
        AppKeys::File {
            path,
            retry,
            moved: AtomicBool::new(false),
        }
    }

    /// The keychain's entry when it holds the data key.
    fn keychain(&self) -> Option<&keyring::Entry> {
        match self {
            AppKeys::Keychain(entry) => Some(entry),
            AppKeys::File { retry, moved, .. } if moved.load(Ordering::SeqCst) => retry.as_ref(),
            AppKeys::File { .. } => None,
        }
    }

    /// Where the data key went since start, when that changed what the
    /// panel should say: the keychain answered on the second ask.
    pub fn changed_protection(&self) -> Option<Protection> {
        matches!(self, AppKeys::File { moved, .. } if moved.load(Ordering::SeqCst))
            .then(keychain_protection)
    }
}

pub fn locked_protection() -> Protection {
    Protection {
        level: "unavailable",
        label: "system keychain not available".to_owned(),
        detail: "The key that unlocks the app's store is kept in the system keychain, which is locked or not answering. Unlock it, then choose Try again."
            .to_owned(),
    }
}

pub fn keychain_protection() -> Protection {
    let name = if cfg!(target_os = "macos") {
        "macOS Keychain"
    } else if cfg!(windows) {
        "Windows Credential Manager"
    } else {
        "Secret Service keyring"
    };
    Protection {
        level: "keychain",
        label: format!("encrypted, unlock key in the {name}"),
        detail: "The key is encrypted on disk; the key that unlocks it is in the system keychain."
            .to_owned(),
    }
}

fn keychain_error(error: keyring::Error) -> Error {
    let why = match error {
        keyring::Error::NoStorageAccess(_) => "it is locked or refused access",
        keyring::Error::PlatformFailure(_) => "it is not running or failed",
        _ => "it gave an unexpected answer",
    };
    Error::Keychain(why.to_owned())
}

impl DataKeyStore for AppKeys {
    fn get(&self) -> Result<Option<DataKey>, Error> {
        if let Some(entry) = self.keychain() {
            return match entry.get_secret() {
                Ok(secret) => decode(Zeroizing::new(secret)).map(Some),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(keychain_error(e)),
            };
        }
        let AppKeys::File { path, .. } = self else {
            unreachable!("a keychain is answered above")
        };
        match private_file::read(path) {
            Ok(Some(bytes)) => decode(Zeroizing::new(bytes)).map(Some),
            Ok(None) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(Error::Keychain(
                "its key file is open to other users".to_owned(),
            )),
            Err(_) => Err(Error::Keychain("its key file could not be read".to_owned())),
        }
    }

    fn set(&self, key: &DataKey) -> Result<(), Error> {
        let encoded = Zeroizing::new(STANDARD.encode(key.expose_bytes()));
        if let Some(entry) = self.keychain() {
            return entry.set_secret(encoded.as_bytes()).map_err(keychain_error);
        }
        let AppKeys::File { path, retry, moved } = self else {
            unreachable!("a keychain is answered above")
        };
        // No data key in the file yet: the keychain that failed at start
        // may answer now.
        if let Some(entry) = retry.as_ref().filter(|_| !path.exists()) {
            match entry.set_secret(encoded.as_bytes()) {
                Ok(()) => {
                    tracing::info!("the system keychain answered: the data key is there");
                    moved.store(true, Ordering::SeqCst);
                    return Ok(());
                }
                Err(e) => {
                    tracing::info!(error = %e, "the system keychain still does not answer")
                }
            }
        }
        private_file::replace(path, encoded.as_bytes())
            .map_err(|_| Error::Keychain("its key file could not be written".to_owned()))
    }

    fn delete(&self) -> Result<(), Error> {
        if let Some(entry) = self.keychain() {
            return match entry.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(keychain_error(e)),
            };
        }
        let AppKeys::File { path, .. } = self else {
            unreachable!("a keychain is answered above")
        };
        private_file::remove(path)
            .map_err(|_| Error::Keychain("its key file could not be removed".to_owned()))
    }
}

fn decode(stored: Zeroizing<Vec<u8>>) -> Result<DataKey, Error> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(stored.trim_ascii())
            .map_err(|_| Error::Keychain("it holds a damaged unlock key".to_owned()))?,
    );
    let array: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::Keychain("it holds a damaged unlock key".to_owned()))?;
    Ok(DataKey::from_bytes(array))
}
