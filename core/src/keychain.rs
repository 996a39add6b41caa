//! Where the vault's data key lives: the OS keychain (macOS Keychain,
//! Windows Credential Manager, the Secret Service on Linux), or, where no
//! keychain answers, a clearly named weaker fallback: a file readable by
//! the user only, beside the records.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorSource};
use crate::files;
use crate::vault::{DataKey, DataKeyStore};

/// How well the data key is protected, for the app to say plainly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protection {
    /// In the OS keychain.
    Keychain,
    /// In a file beside the records, readable by the user alone: anyone
    /// with the user's files reads the key.
    KeyFile(KeyFileReason),
    /// In the OS keychain, which is locked or not answering now.
    KeychainUnavailable,
}

/// Why the data key is in the key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFileReason {
    /// This system has no keychain.
    NoKeychain,
    /// The keychain did not answer when the key was made.
    KeychainFailed,
    /// The stored connection was made without a keychain.
    StoredWithoutKeychain,
}

/// The keychain entry's account name, under the app identifier as service.
const KEYCHAIN_USER: &str = "vault-data-key";
/// The fallback's file name in the app's data directory.
pub(crate) const FALLBACK_FILE: &str = "vault-data-key";

/// The data key's home: the OS keychain, or the key file where no
/// keychain answers. [`crate::LocalStore`] chooses which when it opens.
pub(crate) enum KeychainKeys {
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

impl KeychainKeys {
    /// Where the data key lives, how well that protects it, and whether a
    /// key file was found and not used.
    ///
    /// The keychain whenever it answers: a key file beside the records is
    /// taken only where no keychain answers, so a file someone planted
    /// there can't override the keychain's data key, nor become the data
    /// key the next connect seals under. The exception is a connection
    /// made where no keychain answered (`has_records`, the keychain empty,
    /// the file there): its data key is in the file, and moving on without
    /// it would lose the connection. A keychain that fails (locked,
    /// refusing, not running) while a record that may hold a key is stored
    /// stays the choice: falling back then would lose the key that unlocks
    /// the stored connection; its errors reach the app instead.
    pub fn choose(service: &str, dir: &Path, has_records: bool) -> (Self, Protection, bool) {
        let fallback = dir.join(FALLBACK_FILE);
        let file_there = fallback.exists();
        let ignored = || {
            if file_there {
                tracing::warn!(
                    "a data-key file beside the records was ignored: the keychain answers"
                );
            }
            file_there
        };
        let entry = match keyring::Entry::new(service, KEYCHAIN_USER) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(error = %e, "no keychain entry could be made");
                let reason = KeyFileReason::NoKeychain;
                return (
                    Self::file(fallback, None),
                    Protection::KeyFile(reason),
                    false,
                );
            }
        };
        let stored_without = Protection::KeyFile(KeyFileReason::StoredWithoutKeychain);
        match entry.get_secret() {
            Ok(mut secret) => {
                zeroize::Zeroize::zeroize(&mut secret);
                (Self::Keychain(entry), Protection::Keychain, ignored())
            }
            Err(keyring::Error::NoEntry) if has_records && file_there => {
                (Self::file(fallback, Some(entry)), stored_without, false)
            }
            Err(keyring::Error::NoEntry) => {
                (Self::Keychain(entry), Protection::Keychain, ignored())
            }
            Err(e) if has_records && file_there => {
                tracing::warn!(error = %e, "the system keychain did not answer; the key file holds the data key");
                (Self::file(fallback, None), stored_without, false)
            }
            Err(e) if has_records => {
                tracing::warn!(error = %e, "the system keychain did not answer; a connection is stored");
                (
                    Self::Keychain(entry),
                    Protection::KeychainUnavailable,
                    false,
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "the system keychain did not answer");
                let reason = KeyFileReason::KeychainFailed;
                (
                    Self::file(fallback, Some(entry)),
                    Protection::KeyFile(reason),
                    false,
                )
            }
        }
    }

    /// The keychain alone, whether or not it answers now.
    pub fn keychain_only(service: &str) -> Option<Self> {
        keyring::Entry::new(service, KEYCHAIN_USER)
            .ok()
            .map(Self::Keychain)
    }

    /// The data key is in the key file.
    pub fn is_file(&self) -> bool {
        self.keychain().is_none()
    }

    fn file(path: PathBuf, retry: Option<keyring::Entry>) -> Self {
        Self::File {
            path,
            retry,
            moved: AtomicBool::new(false),
        }
    }

    /// The keychain's entry when it holds the data key.
    fn keychain(&self) -> Option<&keyring::Entry> {
        match self {
            Self::Keychain(entry) => Some(entry),
            Self::File { retry, moved, .. } if moved.load(Ordering::SeqCst) => retry.as_ref(),
            Self::File { .. } => None,
        }
    }
}

/// The keychain's error as the cause of ours, for the two kinds that hold
/// only the platform's words: the others may hold credential bytes.
fn keychain_error(error: keyring::Error) -> Error {
    let what = match error {
        keyring::Error::NoStorageAccess(_) => "it is locked or refused access",
        keyring::Error::PlatformFailure(_) => "it is not running or failed",
        _ => return Error::keychain("it gave an unexpected answer"),
    };
    Error::Keychain {
        what: what.to_owned(),
        source: Some(ErrorSource::new(error)),
    }
}

fn file_error(what: &str, error: std::io::Error) -> Error {
    Error::Keychain {
        what: what.to_owned(),
        source: Some(ErrorSource::new(error)),
    }
}

impl DataKeyStore for KeychainKeys {
    fn get(&self) -> Result<Option<DataKey>, Error> {
        if let Some(entry) = self.keychain() {
            return match entry.get_secret() {
                Ok(secret) => decode(Zeroizing::new(secret)).map(Some),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(keychain_error(e)),
            };
        }
        let KeychainKeys::File { path, .. } = self else {
            unreachable!("a keychain is answered above")
        };
        match files::read(path) {
            Ok(Some(bytes)) => decode(Zeroizing::new(bytes)).map(Some),
            Ok(None) => Ok(None),
            Err(e) => match files::refusal(&e) {
                Some(why) => Err(Error::keychain(format!("its key file is refused: {why}"))),
                None => Err(file_error("its key file could not be read", e)),
            },
        }
    }

    fn set(&self, key: &DataKey) -> Result<(), Error> {
        let encoded = Zeroizing::new(STANDARD.encode(key.expose_bytes()));
        if let Some(entry) = self.keychain() {
            return entry.set_secret(encoded.as_bytes()).map_err(keychain_error);
        }
        let KeychainKeys::File { path, retry, moved } = self else {
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
        files::replace(path, encoded.as_bytes())
            .map_err(|e| file_error("its key file could not be written", e))
    }

    fn delete(&self) -> Result<(), Error> {
        if let Some(entry) = self.keychain() {
            return match entry.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(keychain_error(e)),
            };
        }
        let KeychainKeys::File { path, .. } = self else {
            unreachable!("a keychain is answered above")
        };
        files::remove(path).map_err(|e| file_error("its key file could not be removed", e))
    }
}

fn decode(stored: Zeroizing<Vec<u8>>) -> Result<DataKey, Error> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(stored.trim_ascii())
            .map_err(|_| Error::keychain("it holds a damaged data key"))?,
    );
    let array: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::keychain("it holds a damaged data key"))?;
    Ok(DataKey::from_bytes(array))
}
