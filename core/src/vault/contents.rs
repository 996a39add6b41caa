//! Judging what the two slots hold and choosing the newest valid record.
//!
//! A load takes the highest-numbered record that parses and
//! authenticates. Nothing valid but something there is evidence, never
//! absence: the vault refuses rather than reads it as empty.

use super::Slot;
use super::record::{Parsed, Sealed};
use super::seal::{DataKey, Opened, open};
use crate::error::Error;
use crate::store::StoredKey;

/// Judges one slot's record with the data key at hand, if any.
pub(crate) fn judge(
    app_id: &str,
    slot: Slot,
    parsed: Parsed,
    data_key: Option<&DataKey>,
) -> SlotContent {
    match parsed {
        Parsed::Empty => SlotContent::Empty,
        Parsed::Malformed => {
            tracing::warn!(slot = slot.as_str(), "vault record is malformed");
            SlotContent::Malformed
        }
        Parsed::Tombstone { seq } => SlotContent::Tombstone { seq },
        Parsed::Key(sealed) => judge_key(app_id, slot, sealed, data_key),
    }
}

fn judge_key(app_id: &str, slot: Slot, sealed: Sealed, data_key: Option<&DataKey>) -> SlotContent {
    let seq = sealed.seq;
    let Some(data_key) = data_key else {
        return SlotContent::Locked { seq };
    };
    match open(app_id, data_key, sealed) {
        Opened::Key(record) => SlotContent::Key { seq, record },
        Opened::Unauthentic => {
            tracing::warn!(slot = slot.as_str(), "vault record failed authentication");
            SlotContent::Unauthentic { claimed_seq: seq }
        }
        Opened::Inconsistent => {
            tracing::warn!(
                slot = slot.as_str(),
                "vault record does not match its description"
            );
            SlotContent::Malformed
        }
    }
}

/// A slot as judged with the data key (if any).
pub(crate) enum SlotContent {
    Empty,
    /// Does not parse, has the wrong shape, or authenticates but does not
    /// match its own description.
    Malformed,
    Tombstone {
        seq: u64,
    },
    Key {
        seq: u64,
        record: StoredKey,
    },
    /// Parses, and fails authentication with the data key present: torn,
    /// tampered with, or sealed under another data key. Its sequence number
    /// is as untrusted as the rest of it: kept only to tell a record that
    /// claims to be newer than every valid one from a superseded one.
    Unauthentic {
        claimed_seq: u64,
    },
    /// A key record while there is no data key to judge it by.
    Locked {
        seq: u64,
    },
}

/// Both slots as judged, and the data key they were judged with.
pub(crate) struct Contents {
    pub slots: [(Slot, SlotContent); 2],
    pub data_key: Option<DataKey>,
}

/// Where the newest valid record is.
#[derive(Clone, Copy)]
pub(crate) struct Newest {
    pub index: usize,
    pub seq: u64,
}

impl Contents {
    fn is_empty(&self) -> bool {
        self.slots
            .iter()
            .all(|(_, j)| matches!(j, SlotContent::Empty))
    }

    /// The valid record with the highest sequence number; `Ok(None)` when
    /// every slot is empty. Refuses when nothing valid is there but
    /// something else is, or when a key record that could be newer than
    /// every valid record cannot be judged for lack of a data key.
    pub fn newest(&self) -> Result<Option<Newest>, Error> {
        let mut newest: Option<(Newest, bool)> = None;
        for (index, (_, judged)) in self.slots.iter().enumerate() {
            let (seq, is_tombstone) = match judged {
                SlotContent::Tombstone { seq } => (*seq, true),
                SlotContent::Key { seq, .. } => (*seq, false),
                _ => continue,
            };
            // Equal numbers only come from tampering: prefer the tombstone,
            // which can at worst disconnect, then slot A.
            let better = match newest {
                None => true,
                Some((best, best_is_tombstone)) => {
                    seq > best.seq || (seq == best.seq && is_tombstone && !best_is_tombstone)
                }
            };
            if better {
                newest = Some((Newest { index, seq }, is_tombstone));
            }
        }
        let newest = newest.map(|(n, _)| n);
        let locked_may_be_newer = self.slots.iter().any(|(_, j)| match j {
            SlotContent::Locked { seq } => newest.is_none_or(|n| *seq > n.seq),
            _ => false,
        });
        if locked_may_be_newer {
            return Err(Error::DataKeyMissing);
        }
        if newest.is_some() || self.is_empty() {
            return Ok(newest);
        }
        if self
            .slots
            .iter()
            .any(|(_, j)| matches!(j, SlotContent::Malformed))
        {
            Err(Error::VaultCorrupt)
        } else {
            Err(Error::DataKeyMismatch)
        }
    }
}
