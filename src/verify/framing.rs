//! Framing for verification: records read in file order, with the state
//! they leave ([`Cursor`]), handed to a [`Sink`] as they are read.
//!
//! Two sinks: a [`Batch`]'s vector of records, which another thread
//! tallies, and a [`super::Tallier`], which tallies each record as it is
//! read ([`super::frame_and_tally`]), where framing and checking run on
//! the same thread anyway. The second keeps a record's bytes in registers
//! and the first cache level between the two steps, and reads a string
//! value's header once.

use super::Cursor;
use crate::rdb::{Item, Records, StringKey};

/// Records per batch: large enough to amortise handing a batch to another
/// thread, small enough that the batches in flight cost little memory
/// (about 1 MiB of framed records each). At 4096 a file of small keys
/// made a thousand batches, and the wake-ups of the workers and of the
/// framer waiting on them (ten context switches a batch) cost a sixth of
/// the CPU time on two cores.
pub const BATCH_RECORDS: usize = 16384;
/// Input bytes per batch: one big value makes a batch of its own. Small
/// enough that a file of large values is cut into many batches: at 8 MiB
/// a 59 MB file of values made seven, and the workers waited on the
/// framer and on the last batch (two threads ran no faster than one).
pub const BATCH_BYTES: u64 = 1 << 20;

/// What [`frame_into`] does with a record across its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Across {
    Take,
    Leave,
}

/// Where [`frame_into`] puts the records it reads, each with the state
/// before it.
pub trait Sink<'a> {
    fn record(&mut self, item: Item<'a>, before: &Cursor);

    /// A key with a string value, its header read
    /// ([`Records::read_string_key_fast`]).
    #[inline(always)]
    fn string_key(&mut self, key: StringKey<'a>, before: &Cursor) {
        self.record(key.item(), before);
    }
}

impl<'a> Sink<'a> for Vec<Item<'a>> {
    #[inline(always)]
    fn record(&mut self, item: Item<'a>, _before: &Cursor) {
        self.push(item);
    }
}

/// What a run of [`frame_into`] read: the file range, how many records,
/// and why it stopped.
#[derive(Debug)]
pub struct Framed<'a> {
    pub start: u64,
    pub end: u64,
    /// Records handed to the sink.
    pub records: usize,
    /// Framing stopped at `end` with this error; the bytes not read.
    pub error: Option<(crate::rdb::Error, &'a [u8])>,
    /// Framing stopped at `end` because the record there runs past the
    /// limit it was given, and was to be left.
    pub crossed: bool,
}

impl Framed<'_> {
    /// No records left: framing is over.
    pub fn is_last(&self) -> bool {
        self.error.is_some() || self.end == self.start
    }
}

/// Reads up to `max_records` records, or [`BATCH_BYTES`] of input, from
/// `records` into `sink`, stopping at the first record boundary at or
/// past `stop`; `cursor` is carried from run to run. A record that starts
/// before `stop` and ends past it ends the run: taken, or left
/// (`crossed`; `records` has then read it, and is not to be used again).
#[inline(always)]
pub fn frame_into<'a, S: Sink<'a>>(
    records: &mut Records<'a>,
    cursor: &mut Cursor,
    (max_records, stop, across): (usize, u64, Across),
    sink: &mut S,
) -> Framed<'a> {
    let start = records.offset();
    let mut taken = 0;
    let mut error = None;
    // Where the record left across `stop` starts.
    let mut left_at = None;
    let leave = across == Across::Leave;
    while taken < max_records && records.offset() - start < BATCH_BYTES && records.offset() < stop {
        // Most records are keys of common layouts: straight to the sink,
        // without the iterator's Result around them. (The limit is checked
        // in each arm: joining the arms into one `item` first made the
        // compiler copy every record through the stack, a quarter more
        // instructions for framing.)
        if let Some(key) = records.read_string_key_fast() {
            if leave && records.offset() > stop {
                left_at = Some(key.offset);
                break;
            }
            sink.string_key(key, cursor);
            cursor.expire_ms = None;
            taken += 1;
            continue;
        }
        if let Some(item) = records.read_key_fast() {
            if leave && records.offset() > stop {
                left_at = Some(item.offset);
                break;
            }
            sink.record(item, cursor);
            cursor.expire_ms = None;
            taken += 1;
            continue;
        }
        if let Some(item) = records.read_expire_fast() {
            if leave && records.offset() > stop {
                left_at = Some(item.offset);
                break;
            }
            sink.record(item, cursor);
            cursor.advance(&item.record);
            taken += 1;
            continue;
        }
        match records.next() {
            Some(Ok(item)) => {
                if leave && records.offset() > stop {
                    left_at = Some(item.offset);
                    break;
                }
                sink.record(item, cursor);
                cursor.advance(&item.record);
                taken += 1;
            }
            Some(Err(e)) => {
                error = Some((e, records.remaining()));
                break;
            }
            None => break,
        }
    }
    Framed {
        start,
        end: left_at.unwrap_or_else(|| records.offset()),
        records: taken,
        error,
        crossed: left_at.is_some(),
    }
}

/// A run of framed records, with the framing state before the first and
/// the error that stopped framing, if one did.
pub struct Batch<'a> {
    pub items: Vec<Item<'a>>,
    /// The state before `items[0]`.
    pub cursor: Cursor,
    /// The file range the records cover.
    pub start: u64,
    pub end: u64,
    /// Framing stopped at `end` with this error; the bytes not read.
    pub error: Option<(crate::rdb::Error, &'a [u8])>,
    /// Framing stopped at `end` because the record there runs past the
    /// limit [`Batch::frame_until`] was given, and was to be left.
    pub crossed: bool,
}

impl<'a> Batch<'a> {
    /// Frames up to `max_records` records, or [`BATCH_BYTES`] of input,
    /// from `records`; `cursor` is carried from batch to batch.
    pub fn frame(records: &mut Records<'a>, cursor: &mut Cursor, max_records: usize) -> Self {
        Self::frame_until(records, cursor, max_records, u64::MAX, Across::Take)
    }

    /// [`Batch::frame`], stopping at the first record boundary at or past
    /// `stop` ([`frame_into`]).
    #[inline]
    pub fn frame_until(
        records: &mut Records<'a>,
        cursor: &mut Cursor,
        max_records: usize,
        stop: u64,
        across: Across,
    ) -> Self {
        let first_cursor = *cursor;
        let mut items = Vec::with_capacity(max_records.min(BATCH_RECORDS));
        let framed = frame_into(records, cursor, (max_records, stop, across), &mut items);
        Batch {
            items,
            cursor: first_cursor,
            start: framed.start,
            end: framed.end,
            error: framed.error,
            crossed: framed.crossed,
        }
    }

    /// No records left: framing is over.
    pub fn is_last(&self) -> bool {
        self.error.is_some() || self.end == self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::Header;
    use crate::rdb::header::HEADER_LEN;
    use crate::verify::{Options, Scratch, Tally, frame_and_tally, tally};

    /// Where reading from `HEADER_LEN` to `stop` left off: the offset,
    /// the state, and the tallies made on the way.
    type Run = (u64, Cursor, Vec<Tally>);

    /// `data` framed into batches then tallied (`fused`: false), or
    /// tallied as framed, `per_batch` records at a time, up to `stop`.
    fn read(
        data: &[u8],
        h: Header,
        per_batch: usize,
        (stop, across): (u64, Across),
        fused: bool,
    ) -> Run {
        let options = Options::default();
        let mut scratch = Scratch::new(&options);
        let mut records = Records::new(data, h);
        let mut cursor = Cursor::default();
        let mut tallies = Vec::new();
        loop {
            let (t, last, crossed) = if fused {
                let limits = (per_batch, stop, across);
                let (t, framed) = frame_and_tally(
                    data,
                    &h,
                    &options,
                    &mut records,
                    &mut cursor,
                    limits,
                    &mut scratch,
                );
                (t, framed.is_last(), framed.crossed)
            } else {
                let batch = Batch::frame_until(&mut records, &mut cursor, per_batch, stop, across);
                let t = tally(data, &h, &options, &batch, &mut scratch);
                (t, batch.is_last(), batch.crossed)
            };
            let end = t.end();
            tallies.push(t);
            if last || crossed || end >= stop {
                return (end, cursor, tallies);
            }
        }
    }

    /// Server-written files, and each cut short and with bytes changed
    /// (framing errors, failed checks, records read from damaged bytes).
    fn inputs() -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (name, data) in crate::test_support::rdb_fixtures() {
            let n = data.len();
            out.push((format!("{name} cut"), data[..n * 2 / 3].to_vec()));
            for at in [n / 3, n / 2, n - 12] {
                let mut d = data.clone();
                if let Some(b) = d.get_mut(at) {
                    *b ^= 0x5a;
                }
                out.push((format!("{name} flipped at {at}"), d));
            }
            out.push((name, data));
        }
        out
    }

    #[test]
    fn a_tally_made_while_framing_equals_one_made_from_the_batch() {
        let mut compared = 0;
        for (name, data) in inputs() {
            let Ok(h) = Header::parse(&data) else {
                continue;
            };
            let middle = (data.len() / 2).max(HEADER_LEN) as u64;
            for per_batch in [1, 7, BATCH_RECORDS] {
                for limit in [
                    (u64::MAX, Across::Take),
                    (middle, Across::Take),
                    (middle, Across::Leave),
                ] {
                    let batches = read(&data, h, per_batch, limit, false);
                    let fused = read(&data, h, per_batch, limit, true);
                    assert_eq!(fused, batches, "{name}, {per_batch} a batch, to {limit:?}");
                    compared += 1;
                }
            }
        }
        if std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/rdb")
            .exists()
        {
            assert!(compared > 100, "{compared} files compared");
        }
    }
}
