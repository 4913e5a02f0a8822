//! Speculative segments: framing a mapped file from several places at once.
//!
//! Framing is sequential by nature: where a record ends is known only by
//! reading it, and the first record of the body is the only one whose
//! start is known in advance. With one framing thread, that thread's work
//! bounds the whole run however many cores check the batches.
//!
//! So the body is also cut into segments of a few megabytes, and for each
//! segment a worker looks for a record boundary near its nominal start
//! ([`find_sync`]): a position from which [`SYNC_RECORDS`] records in a
//! row frame within a few kilobytes. From there it frames and tallies up
//! to the next segment's boundary ([`run_segment`]), with the db not known
//! yet ([`Cursor::inherited`]). A boundary found this way is a guess:
//! bytes inside a value can look like records. The guesses are checked in
//! file order by the driver: a segment's work is used only if the chain of
//! records read from the start of the file reaches exactly its first
//! boundary, and its tallies can take the real db ([`Tally::inherit`]).
//! Anything else (no boundary found, a wrong guess, a record longer than a
//! segment) is read by the ordinary pipeline from where the chain stands.
//! A guess can therefore cost time, never change the report: the records
//! read are always the chain's, because framing from a given position
//! depends on nothing but the bytes and the header.
//!
//! Each guess costs at most `SYNC_CANDIDATES` candidates framed within
//! `SYNC_SPAN` bytes each, and a segment's work at most the segment's
//! bytes (it stops before a record that runs past its end), so a hostile
//! file costs at most twice the work of a sequential read.

use crate::crc64::{Crc64, CrcAhead};
use crate::rdb::consts::{
    RDB_OPCODE_EXPIRETIME, RDB_OPCODE_EXPIRETIME_MS, RDB_OPCODE_FREQ, RDB_OPCODE_IDLE,
};
use crate::rdb::{Header, Item, RdbString, Record, Records, ValueType};
use crate::verify::dupkeys::key_fingerprint;
use crate::verify::{Across, Cursor, Options, Scratch, Tally, frame_and_tally};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Bytes per segment: large enough that looking for its first record and
/// handing its tallies over cost nothing next to checking it, small enough
/// that a few in flight per core stay within the memory budget (a tally
/// keeps 8 bytes per key).
pub const SEGMENT_BYTES: usize = 4 << 20;

/// Records a segment's worker reads at most: what it holds until its
/// run is absorbed is 8 bytes a key, so this bounds it (a file of tiny
/// records, or zeros, which frame as 3-byte records). The rest of such a
/// segment is read by the pipeline. The driver lowers it to fit the
/// memory budget, down to [`MIN_SEGMENT_RECORDS`].
pub const SEGMENT_RECORDS: usize = 1 << 19;
pub const MIN_SEGMENT_RECORDS: usize = 1 << 10;

/// Records in a row, framed from a candidate position, that make it a
/// segment's first boundary.
pub const SYNC_RECORDS: usize = 32;

/// The bytes those records must fit in: segments are for files of small
/// records. Where records are larger than this, framing is a small part
/// of the work and the ordinary pipeline reads them.
const SYNC_SPAN: usize = 4096;

/// Candidate positions tried from a segment's nominal start.
const SYNC_CANDIDATES: usize = 1024;

/// A likely record boundary at or after `from`: the first position
/// (within `SYNC_CANDIDATES` bytes) from which `records` records in a
/// row frame within `SYNC_SPAN` bytes, and then not that position but
/// the start of the middle one of those records, the first that does not
/// follow what looks like a record leaving state for the next (see
/// `may_follow_key_prefix`).
///
/// Not the candidate itself: a position inside a record often frames a
/// short false record or two that end exactly where a real one starts,
/// and from there on its records are the real ones. Any confirmation
/// that looks ahead accepts such a position; half the records later the
/// false start is nearly always behind.
pub fn find_sync(data: &[u8], header: Header, from: usize, records: usize) -> Option<usize> {
    let last = from.saturating_add(SYNC_CANDIDATES).min(data.len());
    (from..last).find_map(|at| confirmed(data, header, at, records))
}

/// The boundary [`find_sync`] takes from a candidate at `at`, if `records`
/// records frame from there within `SYNC_SPAN` bytes, and look like the
/// records of a db: a quarter of them keys at least (each key has at most
/// an expiry and an IDLE or FREQ record before it), all keys different,
/// no two SELECTDBs in a row, and no empty collection (servers write
/// none). Zeros frame as a chain of empty keys with empty values (values
/// padded with zeros are common); a ziplist of small integers,
/// `03 fe 3d 03 fe 3e ...`, as a chain of SELECTDBs, or of empty hashes
/// (`04 fe 80 00 04 fe 81 00 ...`); the EOF opcode does not frame on.
fn confirmed(data: &[u8], header: Header, at: usize, records: usize) -> Option<usize> {
    let span = data
        .get(..at.saturating_add(SYNC_SPAN).min(data.len()))
        .unwrap_or_default();
    let mut framing = Records::within(span, header, at);
    let mut chosen = None;
    let mut keys = [0u64; DISTINCT_KEYS];
    let mut n_keys = 0;
    let mut after_select = false;
    for n in 0..records {
        let Some(Ok(Item { record, offset })) = framing.next() else {
            return None;
        };
        match record {
            Record::Eof => return None,
            Record::SelectDb { .. } if after_select => return None,
            Record::Key(k) if counted_and_empty(k.value_type, k.value) => return None,
            Record::Key(k) => {
                // (Told apart by their stored form: two keys equal only
                // once inflated or formatted just cost a guess.)
                let fingerprint = match k.key {
                    RdbString::Raw(b) | RdbString::Lzf { compressed: b, .. } => key_fingerprint(b),
                    RdbString::Int(i) => key_fingerprint(&i.to_le_bytes()),
                };
                // The same key twice in a row (zeros) ends it at once.
                if n_keys > 0 && keys.get(n_keys - 1) == Some(&fingerprint) {
                    return None;
                }
                if let Some(slot) = keys.get_mut(n_keys) {
                    *slot = fingerprint;
                }
                n_keys += 1;
            }
            _ => {}
        }
        after_select = matches!(record, Record::SelectDb { .. });
        let offset = offset as usize;
        if chosen.is_none() && n >= records / 2 && !may_follow_key_prefix(data, offset) {
            chosen = Some(offset);
        }
    }
    let seen = keys
        .get_mut(..n_keys.min(DISTINCT_KEYS))
        .unwrap_or_default();
    seen.sort_unstable();
    let distinct = seen.windows(2).all(|w| !matches!(w, [a, b] if a == b));
    (n_keys * 4 >= records && distinct)
        .then_some(chosen)
        .flatten()
}

/// Keys of a candidate's records compared for uniqueness at most.
const DISTINCT_KEYS: usize = 64;

/// Whether `value` is a collection stored as a count of elements (not a
/// packed blob) with a count of zero.
fn counted_and_empty(t: ValueType, value: &[u8]) -> bool {
    use ValueType::*;
    matches!(
        t,
        ListLinked
            | SetHashtable
            | ZsetV1
            | ZsetV2
            | HashHashtable
            | ListQuicklist
            | ListQuicklist2
    ) && value.first() == Some(&0)
}

/// Whether the bytes before `at` could end an expiry, IDLE or FREQ
/// record: those leave state for the key that follows them (an expiry is
/// that key's), which a segment read from `at` would not know. Rejecting
/// a real boundary by coincidence only moves the guess on.
fn may_follow_key_prefix(data: &[u8], at: usize) -> bool {
    let before = |back: usize| at.checked_sub(back).and_then(|i| data.get(i)).copied();
    // EXPIRETIME_MS and 8 bytes; EXPIRETIME and 4; FREQ and 1; IDLE and
    // a length of 1, 2, 5 or 9 bytes.
    before(9) == Some(RDB_OPCODE_EXPIRETIME_MS)
        || before(5) == Some(RDB_OPCODE_EXPIRETIME)
        || before(2) == Some(RDB_OPCODE_FREQ)
        || [2, 3, 6, 10]
            .iter()
            .any(|&back| before(back) == Some(RDB_OPCODE_IDLE))
}

/// What a worker read of one segment.
pub struct SegmentRun {
    /// The segment's first boundary, and the boundary it was to stop at.
    pub start: u64,
    pub stop: u64,
    /// Where it stopped: `stop`, or before (the EOF opcode, an error, a
    /// record running past `stop`, or the most records it may read).
    pub end: u64,
    /// The framing state at `end`, relative to [`Cursor::inherited`].
    pub cursor: Cursor,
    pub tallies: Vec<Tally>,
    /// Framing is over at `end`: the EOF opcode or an error.
    pub finished: bool,
    /// The CRC-64 of `start..end`, summed ahead of the framing as
    /// [`CrcAhead`] does for the pipeline (so that the bytes are in cache
    /// when they are framed), and appended to the file's in order.
    pub crc: Crc64,
}

/// The fingerprint vectors of absorbed tallies, handed back to the
/// workers for their next ones ([`Scratch::recycle`]): a new vector is new
/// pages, and on two threads their faults were a tenth of the CPU time.
#[derive(Default)]
pub struct Spares(Mutex<Vec<Vec<u64>>>);

impl Spares {
    /// Vectors kept at most (a batch's is 128 KiB): about one per tally
    /// being made, since a worker takes one per tally.
    const KEPT: usize = 8;

    pub fn give(&self, spent: Vec<u64>) {
        if let Ok(mut kept) = self.0.lock()
            && kept.len() < Self::KEPT
        {
            kept.push(spent);
        }
    }

    pub fn take(&self) -> Option<Vec<u64>> {
        self.0.lock().ok()?.pop()
    }
}

/// Frames and tallies the records from `start` up to the first boundary
/// at or past `stop`, stopping early before a record that runs past
/// `stop`, after `max_records` records (see [`SEGMENT_RECORDS`]), and as
/// soon as `cancel` is set (the run is then of no use). Batches hold
/// `per_batch` records.
pub fn run_segment(
    data: &[u8],
    header: Header,
    options: &Options,
    (start, stop): (usize, usize),
    (per_batch, max_records): (usize, usize),
    (cancel, spares): (&AtomicBool, &Spares),
) -> SegmentRun {
    let mut records = Records::within(data, header, start);
    let mut cursor = Cursor::inherited();
    let mut scratch = Scratch::new(options);
    let mut tallies = Vec::new();
    let mut finished = false;
    let mut end = start as u64;
    let mut crc = CrcAhead::piece(data, start, stop);
    let stop = stop as u64;
    let mut records_left = max_records;
    while records_left > 0 && !cancel.load(Ordering::Relaxed) {
        crc.reader_at(records.offset() as usize);
        if let Some(spare) = spares.take() {
            scratch.recycle(spare);
        }
        let limits = (per_batch.min(records_left), stop, Across::Leave);
        let (t, framed) = frame_and_tally(
            data,
            &header,
            options,
            &mut records,
            &mut cursor,
            limits,
            &mut scratch,
        );
        records_left -= framed.records;
        end = framed.end;
        let read = framed.records > 0 || framed.error.is_some();
        if read {
            finished = t.eof_offset().is_some() || framed.error.is_some();
            tallies.push(t);
        }
        if finished || framed.crossed || !read || end >= stop {
            break;
        }
    }
    SegmentRun {
        start: start as u64,
        stop,
        end,
        cursor,
        tallies,
        finished,
        crc: crc.piece_to(start, end as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guesses can be wrong (the driver then reads on from the chain, and
    /// the parallel tests show the report is the same): inside a long
    /// ziplist of small integers, say, whose entries frame as records.
    /// Where a server-written file has small records, though, the guess
    /// must be right, or segments are of no use.
    #[test]
    fn where_records_are_small_a_sync_is_a_record_boundary() {
        let mut checked = 0;
        for (name, data) in crate::test_support::rdb_fixtures() {
            let Ok(header) = Header::parse(&data) else {
                continue;
            };
            let boundaries: Vec<usize> = Records::new(&data, header)
                .map_while(Result::ok)
                .map(|item| item.offset as usize)
                .collect();
            for from in 9..data.len() {
                // The next boundary, and SYNC_RECORDS records after it
                // within half the span: a run of small records.
                let i = boundaries.partition_point(|&b| b < from);
                let Some(run) = boundaries.get(i..i + SYNC_RECORDS + 1) else {
                    continue;
                };
                if run[SYNC_RECORDS] - run[0] > SYNC_SPAN / 2 || run[0] - from > 64 {
                    continue;
                }
                let at = find_sync(&data, header, from, SYNC_RECORDS);
                assert!(
                    at.is_some_and(|at| boundaries.binary_search(&at).is_ok()),
                    "{name}: from {from}, {at:?} is not a record boundary"
                );
                checked += 1;
            }
        }
        if checked == 0 {
            eprintln!("note: no fixture has {SYNC_RECORDS} small records in a row; skipping");
        }
    }

    #[test]
    fn key_prefixes_are_recognised_before_a_position() {
        let mut data = vec![0u8; 32];
        data[20] = RDB_OPCODE_EXPIRETIME_MS;
        assert!(may_follow_key_prefix(&data, 29));
        assert!(!may_follow_key_prefix(&data, 28));
        data[20] = RDB_OPCODE_IDLE;
        for at in [22, 23, 26, 30] {
            assert!(may_follow_key_prefix(&data, at), "{at}");
        }
        assert!(!may_follow_key_prefix(&data, 24));
        assert!(!may_follow_key_prefix(&data, 3), "near the start");
    }
}
