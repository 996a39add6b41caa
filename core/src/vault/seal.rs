//! Sealing: the API key encrypted with XChaCha20-Poly1305 under a data
//! key, with associated data that binds the record to its app, its name,
//! its format, its number and its metadata.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use super::record::{NONCE_LEN, RECORD_VERSION, Sealed};
use crate::error::{Error, ErrorSource};
use crate::secret::ApiKey;
use crate::store::{KeyMeta, StoredKey};

/// The name of the one record the vault keeps, bound into its associated
/// data so that a sealed key cannot pass for another record of the app.
const RECORD_NAME: &str = "openrouter-api-key";

/// Separates this use of the data key from any other the app might make.
const DOMAIN: &str = "openrouter-connect vault v1";

/// A 256-bit data key.
///
/// It prints `[redacted]` in `Debug` and wipes its memory on drop, like
/// [`ApiKey`]: with it and the records, anyone reads the API key.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh key from the operating system's random generator.
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| Error::Random(ErrorSource::new(e)))?;
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

/// The metadata as it will read back from JSON: a value JSON cannot hold (a
/// limit that is not a finite number) comes back as `null`, and the
/// associated data must be computed from what comes back.
pub(crate) fn normalized_meta(meta: &KeyMeta) -> Result<KeyMeta, Error> {
    let bytes = serde_json::to_vec(meta).map_err(|_| unencodable())?;
    serde_json::from_slice(&bytes).map_err(|_| unencodable())
}

fn unencodable() -> Error {
    Error::storage("the key's description could not be encoded")
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

/// Seals `key` as record number `seq` of the app `app_id`.
pub(crate) fn seal(
    app_id: &str,
    data_key: &DataKey,
    seq: u64,
    meta: &KeyMeta,
    key: &ApiKey,
) -> Result<Sealed, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| Error::Random(ErrorSource::new(e)))?;
    let aad = associated_data(app_id, seq, meta)?;
    let ciphertext = cipher(data_key)
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: key.expose_secret().as_bytes(),
                aad: &aad,
            },
        )
        .map_err(|_| Error::storage("the key could not be encrypted"))?;
    Ok(Sealed {
        seq,
        meta: meta.clone(),
        nonce,
        ciphertext,
    })
}

/// What opening a sealed record gave.
pub(crate) enum Opened {
    Key(StoredKey),
    Unauthentic,
    /// Authenticates, yet the key does not match its metadata.
    Inconsistent,
}

pub(crate) fn open(app_id: &str, data_key: &DataKey, sealed: Sealed) -> Opened {
    let Sealed {
        seq,
        meta,
        nonce,
        ciphertext,
    } = sealed;
    let Ok(aad) = associated_data(app_id, seq, &meta) else {
        return Opened::Inconsistent;
    };
    let Ok(plaintext) = cipher(data_key).decrypt(
        XNonce::from_slice(&nonce),
        Payload {
            msg: &ciphertext,
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
    use super::super::record::{Parsed, Record, TAG_LEN};
    use super::*;

    fn meta_for(key: &ApiKey) -> KeyMeta {
        let mut meta = StoredKey::new(key.clone(), Some("label".into()), Some(2.5), None).meta;
        meta.user_id = Some("user_1".into());
        meta.connected_at_ms = 1_700_000_000_000;
        meta
    }

    /// Seals, writes as a record and reads it back, as the vault does.
    fn sealed_record(app: &str, dk: &DataKey, seq: u64, meta: &KeyMeta, key: &ApiKey) -> Sealed {
        let value = Record::key(&seal(app, dk, seq, meta, key).unwrap())
            .to_value()
            .unwrap();
        let Parsed::Key(sealed) = Record::parse(Some(&value)) else {
            panic!("a sealed record parses as a key record");
        };
        sealed
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
        let sealed = sealed_record("app", &data_key, 3, &meta, &key);
        assert_eq!(sealed.seq, 3);
        assert_eq!(sealed.ciphertext.len(), key.expose_secret().len() + TAG_LEN);
        let opened = |app: &str, dk: &DataKey, seq: u64, meta: KeyMeta| {
            let copy = Sealed {
                seq,
                meta,
                nonce: sealed.nonce,
                ciphertext: sealed.ciphertext.clone(),
            };
            match open(app, dk, copy) {
                Opened::Key(r) => Some(r),
                _ => None,
            }
        };
        let record = opened("app", &data_key, 3, sealed.meta.clone()).unwrap();
        assert_eq!(record.key, key);
        assert_eq!(record.meta, meta);
        assert!(opened("other.app", &data_key, 3, sealed.meta.clone()).is_none());
        assert!(opened("app", &data_key, 4, sealed.meta.clone()).is_none());
        let other_key = DataKey::from_bytes([8; 32]);
        assert!(opened("app", &other_key, 3, sealed.meta.clone()).is_none());
        let mut relabeled = sealed.meta.clone();
        relabeled.label = Some("other".into());
        assert!(opened("app", &data_key, 3, relabeled).is_none());
    }

    #[test]
    fn inconsistent_description_is_not_a_key() {
        let data_key = DataKey::from_bytes([7; 32]);
        let key = ApiKey::new("sk-or-v1-0123456789abcdef0123456789abcdef");
        let other = ApiKey::new("sk-or-v1-ffffffffffffffffffffffffffffffff");
        // Sealed (so it authenticates) with another key's description.
        let sealed = sealed_record("app", &data_key, 1, &meta_for(&other), &key);
        assert!(matches!(
            open("app", &data_key, sealed),
            Opened::Inconsistent
        ));
    }

    /// The fixtures' app identifier and API key (`sk-or-v1-` and 64 hex
    /// digits, made up).
    const FIXTURE_APP: &str = "io.github.openrouterconnect";
    const FIXTURE_KEY: &str =
        "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";
    const FIXTURE_KEY_SHA256: &str =
        "2761ef38a35bf5af38301c4b01cd0b40649b1137dbee2949a5d24a6fc03d62c5";
    const FIXTURE_DATA_KEY: [u8; 32] = *b"openrouter-connect fixture key!!";

    /// A description with text that JSON escapes (a quote, a tab) and
    /// text beyond ASCII, a fractional limit and a user id, issued by
    /// `origin`.
    fn fixture_meta(origin: Option<&str>) -> KeyMeta {
        KeyMeta {
            masked: "sk-or-v1-…d4f6".into(),
            label: Some("Café \"büro\"\t東京 🔑".into()),
            limit: Some(2.5),
            user_id: Some("user_2fixture".into()),
            connected_at_ms: 1_700_000_000_123,
            key_sha256: FIXTURE_KEY_SHA256.into(),
            origin: origin.map(str::to_owned),
        }
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The associated data is rebuilt from the metadata's JSON at every
    /// open: a serde_json release (or a change here) that wrote the same
    /// metadata with other bytes (number format, escapes, field order)
    /// would fail every stored record's authentication. These bytes were
    /// written by the code that sealed the records users have.
    #[test]
    fn associated_data_keeps_its_bytes() {
        let cases = [
            (
                fixture_meta(None),
                41,
                r#"{"masked":"sk-or-v1-…d4f6","label":"Café \"büro\"\t東京 🔑","limit":2.5,"userId":"user_2fixture","connectedAtMs":1700000000123,"keySha256":"2761ef38a35bf5af38301c4b01cd0b40649b1137dbee2949a5d24a6fc03d62c5"}"#,
                "80de5e7fa08efb2355287f62d38c19fd9c52386eb86e2ac7ac83014910b734cb",
            ),
            (
                fixture_meta(Some("https://openrouter.ai/")),
                42,
                r#"{"masked":"sk-or-v1-…d4f6","label":"Café \"büro\"\t東京 🔑","limit":2.5,"userId":"user_2fixture","connectedAtMs":1700000000123,"keySha256":"2761ef38a35bf5af38301c4b01cd0b40649b1137dbee2949a5d24a6fc03d62c5","origin":"https://openrouter.ai/"}"#,
                "0fdcdf86914f6d37733f8195df6a60001373e6ff2803ac1bc3b2983765a339e2",
            ),
            (
                KeyMeta {
                    label: None,
                    limit: Some(0.1),
                    user_id: None,
                    ..fixture_meta(None)
                },
                7,
                r#"{"masked":"sk-or-v1-…d4f6","label":null,"limit":0.1,"userId":null,"connectedAtMs":1700000000123,"keySha256":"2761ef38a35bf5af38301c4b01cd0b40649b1137dbee2949a5d24a6fc03d62c5"}"#,
                "b87e30b39c55e77aa16bddafda3cb8bcb43ac993d30385cddde0b634e8af65c9",
            ),
        ];
        for (meta, seq, json, digest) in cases {
            let aad = associated_data(FIXTURE_APP, seq, &meta).unwrap();
            assert!(
                aad.ends_with(json.as_bytes()),
                "{}",
                String::from_utf8_lossy(&aad)
            );
            assert_eq!(sha256_hex(&aad), digest, "{json}");
        }
    }

    /// Records as this code sealed and stored them (the slot file's
    /// `record`), one from before `origin` was kept and one with it: they
    /// must open with their data key for as long as users may have them.
    #[test]
    fn records_sealed_earlier_still_open() {
        let records = [
            (
                None,
                r#"{"ciphertext":"Zy93LoErrJZzdi8IOGn7Mn48CkX6Dmxjeu6_3wXCFvISUapBHiKac3NR77e0fijuQ_Uetn97ohb6D2meFJoQPJpCz7hAvuYYqOrKS27RZN6kLBJIcPqgxmI","meta":{"connectedAtMs":1700000000123,"keySha256":"2761ef38a35bf5af38301c4b01cd0b40649b1137dbee2949a5d24a6fc03d62c5","label":"Café \"büro\"\t東京 🔑","limit":2.5,"masked":"sk-or-v1-…d4f6","userId":"user_2fixture"},"nonce":"ANvXSUb5pVtsBleKc8sL1iRWsDu3dekq","seq":41,"state":"key","version":1}"#,
            ),
            (
                Some("https://openrouter.ai/"),
                r#"{"ciphertext":"3QhlZIxt-lJqNt1r8sM_Oub2YsWG_Ud_7jiPLgSNzkX3k67OBHBZI0NJqz9Klh5_Qs7YgTyR1-mROlhTpEHCz6ltLJjfuI3aNlMQ3SsBpFUAcckdlSnP_gM","meta":{"connectedAtMs":1700000000123,"keySha256":"2761ef38a35bf5af38301c4b01cd0b40649b1137dbee2949a5d24a6fc03d62c5","label":"Café \"büro\"\t東京 🔑","limit":2.5,"masked":"sk-or-v1-…d4f6","origin":"https://openrouter.ai/","userId":"user_2fixture"},"nonce":"1IGsxqIOK8AX7ElACeZQpLFSaw286M0P","seq":42,"state":"key","version":1}"#,
            ),
        ];
        let data_key = DataKey::from_bytes(FIXTURE_DATA_KEY);
        for (origin, stored) in records {
            let value: serde_json::Value = serde_json::from_str(stored).unwrap();
            let Parsed::Key(sealed) = Record::parse(Some(&value)) else {
                panic!("the stored record parses as a key record: {stored}");
            };
            let Opened::Key(record) = open(FIXTURE_APP, &data_key, sealed) else {
                panic!("the stored record opens: {stored}");
            };
            assert_eq!(record.key, ApiKey::new(FIXTURE_KEY));
            assert_eq!(record.meta, fixture_meta(origin));
        }
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
