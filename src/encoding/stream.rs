//! Stream node listpacks: each radix-tree node of a stream (RDB types 15, 19,
//! 21, 26, 27; Redis 5.0+, RDB 9+) is a listpack whose elements follow this
//! layout, every slot shown as `int` being an integer element:
//!
//! ```text
//! master entry:
//!   int count            live entries in the node
//!   int deleted          entries flagged deleted but still present
//!   int num_fields       N
//!   field_1 .. field_N   the master field names
//!   int 0                master terminator
//! then count + deleted entries, in increasing ID order:
//!   int flags            bit 0 DELETED, bit 1 SAMEFIELDS
//!   int ms_diff          entry.ms  - master.ms   (u64 difference stored as i64)
//!   int seq_diff         entry.seq - master.seq  (likewise; negative when the
//!                                                 ms moved past the master's)
//!   value_1 .. value_N            with SAMEFIELDS (the master's fields), else
//!   int n, field_1 value_1 .. field_n value_n
//!   int lp_count         elements of this entry before lp_count:
//!                        n + 3 with SAMEFIELDS, 2n + 4 without
//! ```
//!
//! The master ID is the node's radix-tree key (16 bytes: big-endian ms, then
//! big-endian seq), passed in by the caller.
//!
//! Mirrors `streamValidateListpackIntegrity(lp, size, deep = 1)` (Redis
//! `src/t_stream.c`): the listpack header and entries are valid, every
//! integer slot holds an integer (a string holding canonical decimal counts,
//! as `lpGetIntegerIfValid` accepts it), the terminator is 0, each lp_count
//! matches, and the walk ends exactly at the listpack's end.
//!
//! Stricter than Redis, because none of these can come from a working
//! server:
//! * the listpack's `num_elements` header must match (Redis validates only
//!   the header's size and terminator here, then walks the entries itself);
//! * count, deleted and num_fields must not be negative;
//! * the entries flagged deleted number exactly `deleted`, the others `count`;
//! * entry IDs are at least the master ID and strictly increasing; a delta
//!   that moves the ms below the master's (wraps past 2^64) is an error;
//! * an empty listpack is an error (Redis reports "Empty listpack inside
//!   stream" only when deep sanitization is off; with it on, the deep walk
//!   fails first).

use std::fmt;

use super::listpack::{Elements, LP_HDR_SIZE, Listpack};
use super::{Element, EncodingError};

pub mod fast;

/// `STREAM_ITEM_FLAG_NONE`.
pub const STREAM_ITEM_FLAG_NONE: i64 = 0;
/// `STREAM_ITEM_FLAG_DELETED`: the entry was XDEL'd but is still stored.
pub const STREAM_ITEM_FLAG_DELETED: i64 = 1 << 0;
/// `STREAM_ITEM_FLAG_SAMEFIELDS`: the entry uses the master field names.
pub const STREAM_ITEM_FLAG_SAMEFIELDS: i64 = 1 << 1;
/// `sizeof(streamID)` as encoded by `streamEncodeID`.
pub const STREAM_ID_SIZE: usize = 16;

/// A stream entry ID, `ms-seq`. Ordering is by `ms`, then `seq`, as Redis
/// compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// Decodes a node key or raw PEL ID: big-endian ms, then big-endian seq.
    pub fn from_be_bytes(bytes: &[u8; STREAM_ID_SIZE]) -> StreamId {
        let [
            m0,
            m1,
            m2,
            m3,
            m4,
            m5,
            m6,
            m7,
            s0,
            s1,
            s2,
            s3,
            s4,
            s5,
            s6,
            s7,
        ] = *bytes;
        StreamId {
            ms: u64::from_be_bytes([m0, m1, m2, m3, m4, m5, m6, m7]),
            seq: u64::from_be_bytes([s0, s1, s2, s3, s4, s5, s6, s7]),
        }
    }

    /// Like [`StreamId::from_be_bytes`] for a slice, which must be exactly
    /// 16 bytes (Redis: "Stream node key entry is not the size of a stream
    /// ID" otherwise).
    pub fn from_slice(bytes: &[u8]) -> Option<StreamId> {
        <&[u8; STREAM_ID_SIZE]>::try_from(bytes)
            .ok()
            .map(StreamId::from_be_bytes)
    }

    pub fn to_be_bytes(self) -> [u8; STREAM_ID_SIZE] {
        let mut out = [0u8; STREAM_ID_SIZE];
        let (ms, seq) = out.split_at_mut(8);
        ms.copy_from_slice(&self.ms.to_be_bytes());
        seq.copy_from_slice(&self.seq.to_be_bytes());
        out
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// What one valid node holds, for the caller's cross-checks against the
/// stream's length, last ID, first ID and max deleted ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeSummary {
    /// Number of master field names.
    pub master_fields: u64,
    /// Entries not flagged deleted (equals the master entry's count).
    pub live_entries: u64,
    /// Entries flagged deleted (equals the master entry's deleted count).
    pub deleted_entries: u64,
    /// ID of the first entry, deleted or not.
    pub first_any: Option<StreamId>,
    pub first_live: Option<StreamId>,
    pub last_live: Option<StreamId>,
    /// Highest ID among the entries flagged deleted.
    pub last_deleted: Option<StreamId>,
    /// ID of the last entry, deleted or not.
    pub last_any: Option<StreamId>,
}

impl NodeSummary {
    /// Counts the entry `id`, flagged deleted or not, after the others.
    #[inline(always)]
    fn count(&mut self, id: StreamId, deleted: bool) {
        if deleted {
            self.deleted_entries += 1;
            self.last_deleted = Some(id);
        } else {
            self.live_entries += 1;
            self.first_live.get_or_insert(id);
            self.last_live = Some(id);
        }
        self.first_any.get_or_insert(id);
        self.last_any = Some(id);
    }
}

/// One entry of a node, as [`walk_node`] hands it out: `fields` are the
/// master fields when the entry has SAMEFIELDS.
#[derive(Debug, Clone, Copy)]
pub struct NodeEntry<'e, 'a> {
    pub id: StreamId,
    pub deleted: bool,
    pub fields: &'e [Element<'a>],
    pub values: &'e [Element<'a>],
}

/// Checks one stream node listpack whose radix-tree key is `master_id`.
/// A valid node takes the one-pass check of [`fast`]; anything it cannot
/// show valid is walked again slot by slot, which says what is wrong.
pub fn validate_node(blob: &[u8], master_id: StreamId) -> Result<NodeSummary, EncodingError> {
    match fast::node_summary(blob, master_id) {
        Some(summary) => Ok(summary),
        None => validate_node_stepwise(blob, master_id),
    }
}

/// [`validate_node`] slot by slot, every element read with its position:
/// the reference the one-pass check is tested and fuzzed against.
pub fn validate_node_stepwise(
    blob: &[u8],
    master_id: StreamId,
) -> Result<NodeSummary, EncodingError> {
    walk(blob, master_id, None::<&mut fn(&NodeEntry<'_, '_>)>)
}

/// Checks one node like [`validate_node`] and hands every entry (deleted
/// ones flagged) to `on_entry`, in ID order, as `streamIterator` sees them.
pub fn walk_node<'a>(
    blob: &'a [u8],
    master_id: StreamId,
    mut on_entry: impl FnMut(&NodeEntry<'_, 'a>),
) -> Result<NodeSummary, EncodingError> {
    walk(blob, master_id, Some(&mut on_entry))
}

fn walk<'a, F: FnMut(&NodeEntry<'_, 'a>)>(
    blob: &'a [u8],
    master_id: StreamId,
    mut on_entry: Option<&mut F>,
) -> Result<NodeSummary, EncodingError> {
    let collect = on_entry.is_some();
    let mut master_names: Vec<Element<'a>> = Vec::new();
    let mut names: Vec<Element<'a>> = Vec::new();
    let mut values: Vec<Element<'a>> = Vec::new();
    let lp = Listpack::parse(blob)?;
    if lp.is_empty() {
        return Err(EncodingError::new(
            LP_HDR_SIZE,
            "stream node listpack is empty: expected a master entry, found the terminator \
             (Redis: \"Empty listpack inside stream\")",
        ));
    }
    let mut r = Reader {
        elements: lp.elements(),
    };

    let (count_at, count) = r.count(Slot::Count)?;
    let (_, deleted) = r.count(Slot::Deleted)?;
    let (_, master_fields) = r.count(Slot::MasterFields)?;
    r.take(
        master_fields,
        Slot::MasterField,
        collect.then_some(&mut master_names),
    )?;
    let (zero_at, zero) = r.int(Slot::MasterTerminator)?;
    if zero != 0 {
        return Err(EncodingError::new(
            zero_at,
            format!("stream node: expected the master entry's terminator 0, found {zero}"),
        ));
    }
    // Both are at most i64::MAX, so this cannot fail; kept checked anyway.
    let Some(total) = count.checked_add(deleted) else {
        return Err(EncodingError::new(
            count_at,
            format!("stream node: count {count} + deleted {deleted} overflows"),
        ));
    };

    let mut summary = NodeSummary {
        master_fields,
        ..NodeSummary::default()
    };
    // Each pass consumes at least four elements or returns an error, so the
    // loop ends with the listpack however large `total` claims to be.
    let mut k: u64 = 0;
    while k < total {
        let (_, flags) = r.int(Slot::Flags(k))?;
        let (ms_at, ms_diff) = r.int(Slot::MsDiff(k))?;
        let (_, seq_diff) = r.int(Slot::SeqDiff(k))?;
        let id = entry_id(master_id, ms_diff, seq_diff, k, ms_at)?;
        if id < master_id {
            return Err(EncodingError::new(
                ms_at,
                format!(
                    "stream entry {k}: expected an ID >= the master ID {master_id}, found {id}"
                ),
            ));
        }
        if let Some(prev) = summary.last_any {
            if id <= prev {
                return Err(EncodingError::new(
                    ms_at,
                    format!(
                        "stream entry {k}: expected an ID greater than the previous entry's {prev}, found {id}"
                    ),
                ));
            }
        }

        let same_fields = flags & STREAM_ITEM_FLAG_SAMEFIELDS != 0;
        names.clear();
        values.clear();
        let fields = if same_fields {
            r.take(
                master_fields,
                |j| Slot::Value(k, j),
                collect.then_some(&mut values),
            )?;
            master_fields
        } else {
            // Without SAMEFIELDS the entry interleaves field_1 value_1 ...
            let (_, n) = r.count(Slot::NumFields(k))?;
            let mut j = 0;
            while j < n {
                let (_, f) = r.element(Slot::Field(k, j))?;
                let (_, v) = r.element(Slot::Value(k, j))?;
                if collect {
                    names.push(f);
                    values.push(v);
                }
                j += 1;
            }
            n
        };

        let (lp_count_at, lp_count) = r.int(Slot::LpCount(k))?;
        let n = i128::from(fields);
        let expected = if same_fields { n + 3 } else { 2 * n + 4 };
        if i128::from(lp_count) != expected {
            let layout = if same_fields {
                format!("flags, 2 ID deltas and {fields} values (master fields)")
            } else {
                format!("flags, 2 ID deltas, num-fields, {fields} fields and {fields} values")
            };
            return Err(EncodingError::new(
                lp_count_at,
                format!(
                    "stream entry {k}: expected lp-count {expected} ({layout}), found {lp_count}"
                ),
            ));
        }

        let deleted = flags & STREAM_ITEM_FLAG_DELETED != 0;
        if let Some(f) = on_entry.as_mut() {
            f(&NodeEntry {
                id,
                deleted,
                fields: if same_fields { &master_names } else { &names },
                values: &values,
            });
        }
        summary.count(id, deleted);
        k += 1;
    }

    let end_at = r.elements.offset();
    match r.elements.next() {
        None => {}
        Some(Err(e)) => return Err(e),
        Some(Ok(_)) => {
            return Err(EncodingError::new(
                end_at,
                format!(
                    "stream node: master entry says {count} live + {deleted} deleted = {total} entries; \
                     expected the end of the listpack after them, found another element"
                ),
            ));
        }
    }

    if summary.live_entries != count {
        return Err(EncodingError::new(
            count_at,
            format!(
                "stream node: master entry says {count} live and {deleted} deleted entries, \
                 found {} live and {} flagged deleted",
                summary.live_entries, summary.deleted_entries
            ),
        ));
    }
    Ok(summary)
}

/// The entry's ID as `streamGetEdgeID`/the iterator compute it: the deltas
/// are u64 differences stored as i64, so adding them back is modular. The
/// seq legitimately wraps (an entry in a later ms with a smaller seq); the ms
/// wrapping means the entry would precede its master, so it is an error.
fn entry_id(
    master: StreamId,
    ms_diff: i64,
    seq_diff: i64,
    k: u64,
    at: usize,
) -> Result<StreamId, EncodingError> {
    let Some(ms) = master.ms.checked_add(ms_diff as u64) else {
        return Err(EncodingError::new(
            at,
            format!(
                "stream entry {k}: ms delta {ms_diff} moves the master ID's ms {} below itself \
                 (expected an entry ms >= the master's)",
                master.ms
            ),
        ));
    };
    Ok(StreamId {
        ms,
        seq: master.seq.wrapping_add(seq_diff as u64),
    })
}

/// Which element of the node the walk expects next, for error messages
/// (built only when an error is reported).
#[derive(Debug, Clone, Copy)]
enum Slot {
    Count,
    Deleted,
    MasterFields,
    MasterField(u64),
    MasterTerminator,
    Flags(u64),
    MsDiff(u64),
    SeqDiff(u64),
    NumFields(u64),
    Field(u64, u64),
    Value(u64, u64),
    LpCount(u64),
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Slot::Count => f.write_str("the master entry's count"),
            Slot::Deleted => f.write_str("the master entry's deleted count"),
            Slot::MasterFields => f.write_str("the master entry's num-fields"),
            Slot::MasterField(j) => write!(f, "master field {j}"),
            Slot::MasterTerminator => f.write_str("the master entry's terminator"),
            Slot::Flags(k) => write!(f, "entry {k}'s flags"),
            Slot::MsDiff(k) => write!(f, "entry {k}'s ms delta"),
            Slot::SeqDiff(k) => write!(f, "entry {k}'s seq delta"),
            Slot::NumFields(k) => write!(f, "entry {k}'s num-fields"),
            Slot::Field(k, j) => write!(f, "entry {k}'s field {j}"),
            Slot::Value(k, j) => write!(f, "entry {k}'s value {j}"),
            Slot::LpCount(k) => write!(f, "entry {k}'s lp-count"),
        }
    }
}

/// Reads node slots from the validated element walk, remembering where each
/// one starts.
struct Reader<'a> {
    elements: Elements<'a>,
}

impl<'a> Reader<'a> {
    fn element(&mut self, slot: Slot) -> Result<(usize, Element<'a>), EncodingError> {
        let at = self.elements.offset();
        match self.elements.next() {
            Some(Ok(e)) => Ok((at, e)),
            Some(Err(e)) => Err(e),
            None => Err(EncodingError::new(
                at,
                format!("stream node: expected {slot}, found the end of the listpack"),
            )),
        }
    }

    fn int(&mut self, slot: Slot) -> Result<(usize, i64), EncodingError> {
        let (at, e) = self.element(slot)?;
        match e.as_int() {
            Some(v) => Ok((at, v)),
            None => Err(EncodingError::new(
                at,
                format!(
                    "stream node: expected {slot} to be an integer, found the string {}",
                    Preview(&e)
                ),
            )),
        }
    }

    /// An integer slot that counts something, so it may not be negative.
    fn count(&mut self, slot: Slot) -> Result<(usize, u64), EncodingError> {
        let (at, v) = self.int(slot)?;
        match u64::try_from(v) {
            Ok(n) => Ok((at, n)),
            Err(_) => Err(EncodingError::new(
                at,
                format!("stream node: expected {slot} >= 0, found {v}"),
            )),
        }
    }

    /// Steps over `n` elements of any kind, keeping them in `out` if
    /// given. Each step consumes an element or fails, so an inflated `n`
    /// ends at the listpack's end (and `out` grows only with real elements).
    fn take(
        &mut self,
        n: u64,
        slot: impl Fn(u64) -> Slot,
        mut out: Option<&mut Vec<Element<'a>>>,
    ) -> Result<(), EncodingError> {
        let mut j = 0;
        while j < n {
            let (_, e) = self.element(slot(j))?;
            if let Some(v) = out.as_mut() {
                v.push(e);
            }
            j += 1;
        }
        Ok(())
    }
}

/// A short, escaped rendering of an element for messages.
struct Preview<'e, 'a>(&'e Element<'a>);

impl fmt::Display for Preview<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 32;
        match *self.0 {
            Element::Int(i) => write!(f, "{i}"),
            Element::Bytes(b) => {
                let shown = b.get(..MAX).unwrap_or(b);
                write!(f, "\"{}\"", shown.escape_ascii())?;
                if b.len() > MAX {
                    write!(f, "... ({} bytes)", b.len())?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::listpack::test_encoder::{Item, build, wrap};
    use super::*;

    fn i(v: i64) -> Item {
        Item::Int(v)
    }
    fn s(v: &str) -> Item {
        Item::Str(v.as_bytes().to_vec())
    }

    const MASTER: StreamId = StreamId::new(1_700_000_000_000, 5);

    /// Master entry with fields f1, f2, then three entries:
    /// 0: MASTER itself, same fields; 1: +0 ms, +1 seq, own fields, deleted;
    /// 2: +7 ms, seq 0 (delta -5), same fields.
    fn sample_items() -> Vec<Item> {
        vec![
            // master entry
            i(2),    // count: live entries
            i(1),    // deleted
            i(2),    // num_fields
            s("f1"), // master field 1
            s("f2"), // master field 2
            i(0),    // master terminator
            // entry 0
            i(2),   // flags: SAMEFIELDS
            i(0),   // ms_diff
            i(0),   // seq_diff
            s("a"), // value of f1
            s("b"), // value of f2
            i(5),   // lp_count = 2 + 3
            // entry 1
            i(1),   // flags: DELETED, own fields
            i(0),   // ms_diff
            i(1),   // seq_diff
            i(1),   // num_fields
            s("g"), // field
            i(42),  // value (an integer element is fine as a value)
            i(6),   // lp_count = 2*1 + 4
            // entry 2
            i(2),   // flags: SAMEFIELDS
            i(7),   // ms_diff
            i(-5),  // seq_diff: seq 0, below the master's 5 — legitimate
            s("c"), // value of f1
            s("d"), // value of f2
            i(5),   // lp_count
        ]
    }

    fn sample() -> Vec<u8> {
        build(&sample_items())
    }

    fn err_of(items: &[Item]) -> EncodingError {
        match validate_node(&build(items), MASTER) {
            Ok(sum) => panic!("expected an error, got {sum:?}"),
            Err(e) => e,
        }
    }

    /// Offset of element `n` in a listpack built from `items`.
    fn offset_of(items: &[Item], n: usize) -> usize {
        let blob = build(items);
        let mut it = Listpack::parse(&blob).expect("header").elements();
        for _ in 0..n {
            let _ = it.next();
        }
        it.offset()
    }

    #[test]
    fn stream_id_bytes() {
        let raw = [0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 9];
        let id = StreamId::from_be_bytes(&raw);
        assert_eq!(id, StreamId::new(0x0102, 9));
        assert_eq!(id.to_be_bytes(), raw);
        assert_eq!(StreamId::from_slice(&raw), Some(id));
        assert_eq!(StreamId::from_slice(&raw[..15]), None);
        assert_eq!(id.to_string(), "258-9");
        assert!(StreamId::new(1, 9) < StreamId::new(2, 0));
    }

    #[test]
    fn walk_node_hands_out_fields_and_values() {
        let blob = sample();
        let mut seen = Vec::new();
        walk_node(&blob, MASTER, |e| {
            let f: Vec<String> = e
                .fields
                .iter()
                .map(|x| String::from_utf8_lossy(&x.to_bytes()).into_owned())
                .collect();
            let v: Vec<String> = e
                .values
                .iter()
                .map(|x| String::from_utf8_lossy(&x.to_bytes()).into_owned())
                .collect();
            seen.push((e.id, e.deleted, f, v));
        })
        .expect("valid");
        let m = MASTER.ms;
        let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            seen,
            vec![
                (
                    StreamId::new(m, 5),
                    false,
                    strs(&["f1", "f2"]),
                    strs(&["a", "b"])
                ),
                (StreamId::new(m, 6), true, strs(&["g"]), strs(&["42"])),
                (
                    StreamId::new(m + 7, 0),
                    false,
                    strs(&["f1", "f2"]),
                    strs(&["c", "d"])
                ),
            ]
        );
    }

    #[test]
    fn valid_node() {
        let sum = validate_node(&sample(), MASTER).expect("valid");
        let m = MASTER.ms;
        assert_eq!(
            sum,
            NodeSummary {
                master_fields: 2,
                live_entries: 2,
                deleted_entries: 1,
                first_any: Some(StreamId::new(m, 5)),
                first_live: Some(StreamId::new(m, 5)),
                last_live: Some(StreamId::new(m + 7, 0)),
                last_deleted: Some(StreamId::new(m, 6)),
                last_any: Some(StreamId::new(m + 7, 0)),
            }
        );
    }

    #[test]
    fn node_with_no_entries_is_walkable() {
        // count 0, deleted 0: Redis's walk accepts it (the server deletes such
        // nodes, so the caller may want to lint it).
        let items = [i(0), i(0), i(1), s("f"), i(0)];
        let sum = validate_node(&build(&items), MASTER).expect("valid");
        assert_eq!(sum.live_entries + sum.deleted_entries, 0);
        assert_eq!(sum.last_any, None);
    }

    #[test]
    fn integers_stored_as_strings_are_accepted() {
        let mut items = sample_items();
        items[7] = s("0"); // entry 0 ms_diff as the string "0"
        items[11] = s("5"); // lp_count as a string
        assert!(validate_node(&build(&items), MASTER).is_ok());
    }

    #[test]
    fn bad_lp_count() {
        let mut items = sample_items();
        items[18] = i(5); // entry 1 lp_count should be 6
        let e = err_of(&items);
        assert_eq!(e.offset, offset_of(&items, 18));
        assert_eq!(
            e.message,
            "stream entry 1: expected lp-count 6 (flags, 2 ID deltas, num-fields, 1 fields and 1 values), found 5"
        );
        let mut items = sample_items();
        items[11] = i(4); // entry 0 lp_count should be 5
        let e = err_of(&items);
        assert!(
            e.message
                .contains("expected lp-count 5 (flags, 2 ID deltas and 2 values"),
            "{e}"
        );
    }

    #[test]
    fn non_integer_entry_id() {
        let mut items = sample_items();
        items[14] = s("x"); // entry 1 seq_diff
        let e = err_of(&items);
        assert_eq!(e.offset, offset_of(&items, 14));
        assert_eq!(
            e.message,
            "stream node: expected entry 1's seq delta to be an integer, found the string \"x\""
        );
        let mut items = sample_items();
        items[6] = s("01"); // flags: not canonical, so not an integer
        let e = err_of(&items);
        assert!(
            e.message.contains("entry 0's flags to be an integer"),
            "{e}"
        );
    }

    #[test]
    fn master_terminator_not_zero() {
        let mut items = sample_items();
        items[5] = i(1);
        let e = err_of(&items);
        assert_eq!(e.offset, offset_of(&items, 5));
        assert_eq!(
            e.message,
            "stream node: expected the master entry's terminator 0, found 1"
        );
    }

    #[test]
    fn deleted_count_mismatch() {
        // Header says 3 live, 0 deleted: still 3 entries, but one is flagged.
        let mut items = sample_items();
        items[0] = i(3);
        items[1] = i(0);
        let e = err_of(&items);
        assert_eq!(e.offset, offset_of(&items, 0));
        assert_eq!(
            e.message,
            "stream node: master entry says 3 live and 0 deleted entries, found 2 live and 1 flagged deleted"
        );
    }

    #[test]
    fn more_entries_than_counted() {
        let mut items = sample_items();
        items[0] = i(1); // count 1 + deleted 1 = 2, but 3 entries follow
        let e = err_of(&items);
        assert_eq!(e.offset, offset_of(&items, 19));
        assert!(
            e.message
                .contains("expected the end of the listpack after them"),
            "{e}"
        );
    }

    #[test]
    fn fewer_entries_than_counted() {
        let mut items = sample_items();
        items[0] = i(3); // count 3 + deleted 1 = 4, only 3 entries
        let blob = build(&items);
        let e = validate_node(&blob, MASTER).expect_err("short");
        assert_eq!(e.offset, blob.len() - 1);
        assert_eq!(
            e.message,
            "stream node: expected entry 3's flags, found the end of the listpack"
        );
        // An absurd count must not loop or allocate.
        items[0] = i(i64::MAX - 1);
        let e = err_of(&items);
        assert!(e.message.contains("entry 3's flags"), "{e}");
        items[0] = i(i64::MAX);
        let e = err_of(&items);
        assert!(e.message.contains("entry 3's flags"), "{e}");
    }

    #[test]
    fn huge_field_counts_end_at_the_listpack_end() {
        let mut items = sample_items();
        items[2] = i(i64::MAX); // master num_fields
        let e = err_of(&items);
        assert!(
            e.message
                .contains("expected master field 22, found the end"),
            "{e}"
        );
        let mut items = sample_items();
        items[15] = i(1 << 40); // entry 1 num_fields
        let e = err_of(&items);
        assert!(
            e.message.contains("entry 1's value 4, found the end"),
            "{e}"
        );
    }

    #[test]
    fn negative_counts() {
        for (idx, what) in [(0, "count"), (1, "deleted count"), (2, "num-fields")] {
            let mut items = sample_items();
            items[idx] = i(-1);
            let e = err_of(&items);
            assert_eq!(e.offset, offset_of(&items, idx));
            assert_eq!(
                e.message,
                format!("stream node: expected the master entry's {what} >= 0, found -1")
            );
        }
        let mut items = sample_items();
        items[15] = i(-1);
        let e = err_of(&items);
        assert!(
            e.message.contains("entry 1's num-fields >= 0, found -1"),
            "{e}"
        );
    }

    #[test]
    fn ids_must_increase() {
        let mut items = sample_items();
        items[14] = i(0); // entry 1 gets the same ID as entry 0
        let e = err_of(&items);
        assert_eq!(e.offset, offset_of(&items, 13));
        let m = MASTER.ms;
        assert_eq!(
            e.message,
            format!(
                "stream entry 1: expected an ID greater than the previous entry's {m}-5, found {m}-5"
            )
        );
    }

    #[test]
    fn id_below_master() {
        let mut items = sample_items();
        items[8] = i(-1); // entry 0 seq 4 < master seq 5
        let e = err_of(&items);
        assert_eq!(e.offset, offset_of(&items, 7));
        assert!(e.message.contains("expected an ID >= the master ID"), "{e}");
        let mut items = sample_items();
        items[7] = i(-1); // ms wraps below the master's
        let e = err_of(&items);
        assert!(
            e.message.contains("ms delta -1 moves the master ID's ms"),
            "{e}"
        );
    }

    #[test]
    fn large_ms_delta_from_a_small_master_is_fine() {
        // ms deltas are u64 differences: master ms 0, entry ms 2^63 stores
        // i64::MIN.
        let items = [
            i(1),
            i(0),
            i(1),
            s("f"),
            i(0),
            i(2),
            i(i64::MIN),
            i(0),
            s("v"),
            i(4),
        ];
        let sum = validate_node(&build(&items), StreamId::MIN).expect("valid");
        assert_eq!(sum.last_live, Some(StreamId::new(1 << 63, 0)));
    }

    #[test]
    fn empty_listpack() {
        let blob = wrap(&[], 0);
        let e = validate_node(&blob, MASTER).expect_err("empty");
        assert_eq!(e.offset, 6);
        assert!(e.message.contains("Empty listpack inside stream"), "{e}");
        assert!(validate_node(&[], MASTER).is_err());
    }

    #[test]
    fn listpack_errors_surface() {
        let mut blob = sample();
        blob[4] = blob[4].wrapping_add(1); // num_elements off by one
        let e = validate_node(&blob, MASTER).expect_err("bad header count");
        assert_eq!(e.offset, 4);
        let mut blob = sample();
        blob[0] ^= 1;
        let e = validate_node(&blob, MASTER).expect_err("bad total_bytes");
        assert!(e.message.contains("total_bytes"), "{e}");
    }

    /// The one-pass check and the slot-by-slot walk agree on every node
    /// made from the sample by replacing, dropping or repeating one
    /// element, and on byte flips of it: the same summary when valid,
    /// `None` exactly when the walk finds an error.
    #[test]
    fn one_pass_check_agrees_with_the_stepwise_walk() {
        let items = sample_items();
        let replacements = [
            i(0),
            i(1),
            i(2),
            i(3),
            i(-1),
            i(5),
            i(6),
            i(7),
            i(i64::MAX),
            i(i64::MIN),
            s("x"),
            s("2"),
        ];
        let mut nodes = vec![build(&items), build(&[]), build(&[i(0), i(0), i(0), i(0)])];
        for at in 0..items.len() {
            for r in &replacements {
                let mut v = items.clone();
                v[at] = r.clone();
                nodes.push(build(&v));
            }
            let mut dropped = items.clone();
            dropped.remove(at);
            nodes.push(build(&dropped));
            let mut repeated = items.clone();
            repeated.insert(at, items[at].clone());
            nodes.push(build(&repeated));
        }
        let blob = sample();
        for at in 0..blob.len() {
            for v in [0x00, 0x01, 0x7F, 0x80, 0xC0, 0xF1, 0xFF] {
                let mut flipped = blob.clone();
                flipped[at] = v;
                nodes.push(flipped);
            }
        }
        let mut valid = 0;
        for node in &nodes {
            for master in [MASTER, StreamId::new(0, 0), StreamId::MAX] {
                let stepwise = validate_node_stepwise(node, master).ok();
                assert_eq!(
                    fast::node_summary(node, master),
                    stepwise,
                    "{node:?} {master}"
                );
                assert_eq!(validate_node(node, master).ok(), stepwise);
                valid += usize::from(stepwise.is_some());
            }
        }
        // Many of the variants are valid nodes, not only errors.
        assert!(valid > 50, "{valid}");
    }

    #[test]
    fn truncations_and_byte_flips_never_panic() {
        let blob = sample();
        assert!(validate_node(&blob, MASTER).is_ok());
        for len in 0..blob.len() {
            let cut = &blob[..len];
            assert!(validate_node(cut, MASTER).is_err());
            if len >= 7 {
                let mut fixed = cut.to_vec();
                fixed[..4].copy_from_slice(&(len as u32).to_le_bytes());
                fixed[len - 1] = 0xFF;
                let _ = validate_node(&fixed, MASTER);
            }
        }
        let mut work = blob.clone();
        for i in 0..blob.len() {
            for v in [
                0x00, 0x01, 0x02, 0x03, 0x7F, 0x80, 0xC0, 0xDF, 0xE0, 0xF0, 0xF4, 0xFF,
            ] {
                work[i] = v;
                let _ = validate_node(&work, MASTER);
                let _ = validate_node(&work, StreamId::MAX);
            }
            work[i] = blob[i];
        }
    }
}
