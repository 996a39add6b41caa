//! The record format: one JSON object per slot, read and written through
//! one typed [`Record`].
//!
//! ```text
//! {"version":1,"seq":7,"state":"key","meta":{…},"nonce":"<24 bytes>","ciphertext":"<key + tag>"}
//! {"version":1,"seq":8,"state":"cleared","meta":null}
//! ```
//!
//! `nonce` and `ciphertext` are unpadded URL-safe base64. Unknown fields,
//! another version, a number past [`MAX_SEQ`] or a part of the wrong size
//! make the record malformed: evidence the vault keeps, never a record it
//! uses.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::store::KeyMeta;

/// The record format this code writes and the only one it reads.
pub(crate) const RECORD_VERSION: u64 = 1;

/// The largest sequence number a record may carry: the largest integer a
/// JSON reader that uses doubles still reads exactly, and far beyond what
/// saves can reach, so the next number never overflows.
pub(crate) const MAX_SEQ: u64 = (1 << 53) - 1;

pub(crate) const NONCE_LEN: usize = 24;
pub(crate) const TAG_LEN: usize = 16;

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Record {
    version: u64,
    seq: u64,
    state: RecordState,
    meta: Option<KeyMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ciphertext: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RecordState {
    Key,
    Cleared,
}

/// A key record whose parts have the right shape, not yet opened.
#[derive(Debug)]
pub(crate) struct Sealed {
    pub seq: u64,
    pub meta: KeyMeta,
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

/// A slot as read, before any data key is involved.
#[derive(Debug)]
pub(crate) enum Parsed {
    Empty,
    Malformed,
    Tombstone { seq: u64 },
    Key(Sealed),
}

impl Record {
    /// A disconnect's record: no metadata, nothing sealed.
    pub fn tombstone(seq: u64) -> Self {
        Self {
            version: RECORD_VERSION,
            seq,
            state: RecordState::Cleared,
            meta: None,
            nonce: None,
            ciphertext: None,
        }
    }

    /// A key record from its sealed parts.
    pub fn key(sealed: &Sealed) -> Self {
        Self {
            version: RECORD_VERSION,
            seq: sealed.seq,
            state: RecordState::Key,
            meta: Some(sealed.meta.clone()),
            nonce: Some(URL_SAFE_NO_PAD.encode(sealed.nonce)),
            ciphertext: Some(URL_SAFE_NO_PAD.encode(&sealed.ciphertext)),
        }
    }

    /// The record as the slot store keeps it.
    pub fn to_value(&self) -> Result<Value, Error> {
        serde_json::to_value(self).map_err(|_| Error::storage("the record could not be encoded"))
    }

    /// Reads what a slot holds; anything that is not a well-formed
    /// version 1 record is [`Parsed::Malformed`].
    pub fn parse(value: Option<&Value>) -> Parsed {
        match value {
            None => Parsed::Empty,
            Some(value) => Self::deserialize(value)
                .ok()
                .and_then(Record::checked)
                .unwrap_or(Parsed::Malformed),
        }
    }

    fn checked(self) -> Option<Parsed> {
        if self.version != RECORD_VERSION || self.seq > MAX_SEQ {
            return None;
        }
        match self.state {
            RecordState::Cleared => {
                (self.meta.is_none() && self.nonce.is_none() && self.ciphertext.is_none())
                    .then_some(Parsed::Tombstone { seq: self.seq })
            }
            RecordState::Key => {
                let nonce = URL_SAFE_NO_PAD.decode(self.nonce?).ok()?.try_into().ok()?;
                let ciphertext = URL_SAFE_NO_PAD.decode(self.ciphertext?).ok()?;
                (ciphertext.len() >= TAG_LEN).then_some(Parsed::Key(Sealed {
                    seq: self.seq,
                    meta: self.meta?,
                    nonce,
                    ciphertext,
                }))
            }
        }
    }
}

/// The number after `newest`, the highest valid one stored.
pub(crate) fn next_seq(newest: Option<u64>) -> Result<u64, Error> {
    match newest {
        None => Ok(1),
        // Only a forged number gets here; refusing keeps every record's
        // number readable rather than wrapping below the forged one.
        Some(seq) if seq >= MAX_SEQ => Err(Error::VaultCorrupt),
        Some(seq) => Ok(seq + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: &Value) -> Parsed {
        Record::parse(Some(value))
    }

    fn sealed() -> Sealed {
        Sealed {
            seq: 1,
            meta: serde_json::from_value(json!({
                "masked": "sk-or-v1-…abcd", "label": null, "limit": null, "userId": null,
                "connectedAtMs": 1, "keySha256": "00"
            }))
            .unwrap(),
            nonce: [3; NONCE_LEN],
            ciphertext: vec![4; TAG_LEN + 5],
        }
    }

    #[test]
    fn written_records_read_back() {
        let tombstone = Record::tombstone(4).to_value().unwrap();
        assert_eq!(
            tombstone,
            json!({"version": 1, "seq": 4, "state": "cleared", "meta": null})
        );
        assert!(matches!(parse(&tombstone), Parsed::Tombstone { seq: 4 }));
        let key = Record::key(&sealed()).to_value().unwrap();
        let Parsed::Key(read) = parse(&key) else {
            panic!("a key record reads back: {key}");
        };
        assert_eq!((read.seq, read.nonce), (1, [3; NONCE_LEN]));
        assert_eq!(read.ciphertext, vec![4; TAG_LEN + 5]);
        assert!(matches!(Record::parse(None), Parsed::Empty));
    }

    #[test]
    fn record_shapes() {
        let with_nulls = json!({
            "version": 1, "seq": 4, "state": "cleared", "meta": null,
            "nonce": null, "ciphertext": null,
        });
        assert!(matches!(parse(&with_nulls), Parsed::Tombstone { seq: 4 }));
        let bad = [
            json!("<unparseable>"),
            json!(null),
            json!([]),
            json!({}),
            json!({"version": 2, "seq": 4, "state": "cleared", "meta": null}),
            json!({"version": 1, "seq": -1, "state": "cleared", "meta": null}),
            json!({"version": 1, "seq": 1.5, "state": "cleared", "meta": null}),
            json!({"version": 1, "seq": MAX_SEQ + 1, "state": "cleared", "meta": null}),
            json!({"version": 1, "seq": 4, "state": "gone", "meta": null}),
            json!({"version": 1, "seq": 4, "state": "cleared", "meta": null, "extra": 1}),
            json!({"version": 1, "seq": 4, "state": "cleared", "meta": null, "nonce": "AAAA"}),
            json!({"version": 1, "seq": 4, "state": "key", "meta": null}),
        ];
        for value in &bad {
            assert!(matches!(parse(value), Parsed::Malformed), "{value}");
        }
    }

    #[test]
    fn key_record_parts_are_checked() {
        let key = Record::key(&sealed()).to_value().unwrap();
        let with = |field: &str, value: Value| {
            let mut v = key.clone();
            v[field] = value;
            v
        };
        let bad = [
            with("nonce", Value::Null),
            with("nonce", URL_SAFE_NO_PAD.encode([0u8; 23]).into()),
            with("nonce", "not base64!".into()),
            with("ciphertext", Value::Null),
            with(
                "ciphertext",
                URL_SAFE_NO_PAD.encode([0u8; TAG_LEN - 1]).into(),
            ),
            with("ciphertext", "AAAA=".into()),
            with("meta", json!({"masked": "x"})),
        ];
        for value in &bad {
            assert!(matches!(parse(value), Parsed::Malformed), "{value}");
        }
    }

    #[test]
    fn sequence_numbers_stop_short_of_overflow() {
        assert_eq!(next_seq(None).unwrap(), 1);
        assert_eq!(next_seq(Some(41)).unwrap(), 42);
        assert_eq!(next_seq(Some(MAX_SEQ)).unwrap_err(), Error::VaultCorrupt);
    }
}
