//! A stream node checked in one pass over its elements, without the
//! positions that error messages need: the node's layout is a state
//! machine fed by the listpack's callback walk (the fast path every other
//! listpack takes), so an element costs a match and a few compares
//! instead of a call through the slot reader with a `Result` around it.
//!
//! It answers only "valid, with this summary" or "not shown valid". The
//! second sends the caller to the checked walk ([`super::validate_node`]),
//! which finds and words the error; so this checks exactly what that walk
//! checks, and nothing it says is ever reported as such. The unit tests and
//! the `stream_node` fuzz target hold the two to the same answers.

use super::{NodeSummary, STREAM_ITEM_FLAG_DELETED, STREAM_ITEM_FLAG_SAMEFIELDS, StreamId};
use crate::encoding::listpack::Listpack;
use crate::encoding::{Element, PackedElements};

/// The slot the next element fills.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Count,
    Deleted,
    MasterFields,
    MasterField,
    MasterTerminator,
    Flags,
    MsDiff,
    SeqDiff,
    NumFields,
    /// Field/value pairs, or master-field values: `left` elements to go.
    FieldsAndValues,
    LpCount,
    /// After the last entry: any element is one too many.
    End,
}

struct Node {
    master_id: StreamId,
    slot: Slot,
    /// The master entry's count, and count + deleted: the entries to read.
    count: u64,
    total: u64,
    /// Elements left in the current run of fields/values.
    left: u64,
    /// The entry being read: its index, flags, ms delta and field count.
    k: u64,
    flags: i64,
    ms_diff: i64,
    fields: u64,
    summary: NodeSummary,
}

/// The summary [`super::validate_node`] returns, when the node is valid
/// and this pass can tell; `None` otherwise (invalid, or not shown valid).
pub fn node_summary(blob: &[u8], master_id: StreamId) -> Option<NodeSummary> {
    let lp = Listpack::parse(blob).ok()?;
    if lp.is_empty() {
        return None;
    }
    let mut node = Node {
        master_id,
        slot: Slot::Count,
        count: 0,
        total: 0,
        left: 0,
        k: 0,
        flags: 0,
        ms_diff: 0,
        fields: 0,
        summary: NodeSummary::default(),
    };
    lp.try_for_each_element(|_| (), |e| node.step(e).ok_or(()))
        .ok()?;
    (node.slot == Slot::End && node.summary.live_entries == node.count).then_some(node.summary)
}

/// An integer element that counts something: not negative.
#[inline(always)]
fn count(e: Element<'_>) -> Option<u64> {
    u64::try_from(e.as_int()?).ok()
}

impl Node {
    /// Takes the next element; `None` when it cannot be where it is.
    #[inline(always)]
    fn step(&mut self, e: Element<'_>) -> Option<()> {
        match self.slot {
            Slot::Count => {
                self.count = count(e)?;
                self.slot = Slot::Deleted;
            }
            Slot::Deleted => {
                self.total = self.count.checked_add(count(e)?)?;
                self.slot = Slot::MasterFields;
            }
            Slot::MasterFields => {
                self.summary.master_fields = count(e)?;
                self.left = self.summary.master_fields;
                self.slot = if self.left > 0 {
                    Slot::MasterField
                } else {
                    Slot::MasterTerminator
                };
            }
            Slot::MasterField => {
                self.left -= 1;
                if self.left == 0 {
                    self.slot = Slot::MasterTerminator;
                }
            }
            Slot::MasterTerminator => {
                if e.as_int()? != 0 {
                    return None;
                }
                self.slot = self.after_entry();
            }
            Slot::Flags => {
                self.flags = e.as_int()?;
                self.slot = Slot::MsDiff;
            }
            Slot::MsDiff => {
                self.ms_diff = e.as_int()?;
                self.slot = Slot::SeqDiff;
            }
            Slot::SeqDiff => {
                let seq_diff = e.as_int()?;
                let id = StreamId {
                    ms: self.master_id.ms.checked_add(self.ms_diff as u64)?,
                    seq: self.master_id.seq.wrapping_add(seq_diff as u64),
                };
                if id < self.master_id || self.summary.last_any.is_some_and(|prev| id <= prev) {
                    return None;
                }
                self.summary
                    .count(id, self.flags & STREAM_ITEM_FLAG_DELETED != 0);
                if self.flags & STREAM_ITEM_FLAG_SAMEFIELDS != 0 {
                    self.fields = self.summary.master_fields;
                    self.values(self.fields);
                } else {
                    self.slot = Slot::NumFields;
                }
            }
            Slot::NumFields => {
                self.fields = count(e)?;
                // At most i64::MAX: twice that fits.
                self.values(self.fields * 2);
            }
            Slot::FieldsAndValues => {
                self.left -= 1;
                if self.left == 0 {
                    self.slot = Slot::LpCount;
                }
            }
            Slot::LpCount => {
                let n = i128::from(self.fields);
                let expected = if self.flags & STREAM_ITEM_FLAG_SAMEFIELDS != 0 {
                    n + 3
                } else {
                    2 * n + 4
                };
                if i128::from(e.as_int()?) != expected {
                    return None;
                }
                self.k += 1;
                self.slot = self.after_entry();
            }
            Slot::End => return None,
        }
        Some(())
    }

    /// A run of `n` fields and values of the current entry, then its
    /// lp-count.
    #[inline(always)]
    fn values(&mut self, n: u64) {
        self.left = n;
        self.slot = if n > 0 {
            Slot::FieldsAndValues
        } else {
            Slot::LpCount
        };
    }

    /// The slot after an entry (or the master entry): the next entry's
    /// flags, or the end.
    #[inline(always)]
    fn after_entry(&self) -> Slot {
        if self.k < self.total {
            Slot::Flags
        } else {
            Slot::End
        }
    }
}
