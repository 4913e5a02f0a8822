//! The parallel verifier: the one place that uses threads.
//!
//! ```text
//!  the pipeline (a stream; a file where records are large):
//!   this thread    frame batch 1, 2, 3 ...   (the CRC-64 256 KiB ahead)
//!   rayon pool       tally 1   tally 2   tally 3 ...   (deep checks, per-key fold)
//!   this thread    absorb 1, 2, 3 ... in file order → Pass → report
//!
//!  segments (a mapped file of small records, see `segments`):
//!   this thread    pipeline for segment 0, then absorb in file order
//!   rayon pool       find segment k's first boundary, frame + tally it
//! ```
//!
//! Framing ([`Batch::frame`]) finds each record's extent and keeps the db
//! and pending expiry ([`Cursor`]), so a batch can be tallied ([`tally`]:
//! deep checks and every per-key count) on any worker, without the batches
//! before it. In the pipeline framing is the one sequential step; with
//! segments, workers also frame, from guessed record boundaries that the
//! chain of records read from the start must confirm. Tallies are absorbed
//! into the same [`Pass`] the sequential [`crate::verify_rdb`] uses, in
//! file order. That is why the report with one thread equals the report
//! with many, byte for byte, and why the first error is always the same
//! one: only *where* a batch is framed and tallied differs.
//!
//! Memory: at most [`IN_FLIGHT_PER_THREAD`] batches per worker are framed
//! and not yet absorbed, each at most [`BATCH_RECORDS`] records or
//! [`BATCH_BYTES`] of input (borrowed, not copied); at most two segments
//! per worker are read ahead, each holding its tallies (8 bytes per key,
//! at most [`segments::SEGMENT_RECORDS`] keys); plus the duplicate-key
//! fingerprints (8 bytes per key, within `Options::dup_key_budget`). After
//! a batch is absorbed, [`Progress::consumed`] tells the caller those bytes
//! will not be read again (except by the rare duplicate-confirming second
//! pass), so a mapped file's pages can be released behind the reader.

use crate::crc64::{Crc64, CrcAhead};
use crate::rdb::Records;
use crate::rdb::header::HEADER_LEN;
use crate::source::{Filled, Window};
use crate::verify::dupkeys::repeated_in;
use crate::verify::{
    Across, BATCH_RECORDS, Batch, Cursor, Ending, Options, Pass, RdbReport, Scratch, Tally, tally,
};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{OnceLock, mpsc};

pub use crate::verify::BATCH_BYTES;

pub mod segments;

/// Batches framed ahead per worker: enough that no worker waits for
/// framing, few enough that memory stays small.
pub const IN_FLIGHT_PER_THREAD: usize = 4;

/// Where the driver reports progress. Called on the driver's thread after
/// each batch is absorbed.
pub trait Progress: Sync {
    /// Bytes `0..offset` have been read, checked and folded; `keys` keys
    /// so far.
    fn consumed(&self, offset: u64, keys: u64);

    /// After the main pass, a further pass (duplicate keys: over the
    /// memory budget, or to confirm) has read bytes `start..end` and will
    /// not read them again.
    fn passed(&self, _start: u64, _end: u64) {}
}

/// Reports nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn consumed(&self, _offset: u64, _keys: u64) {}
}

/// How to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct DriverOptions {
    /// Worker threads; 0 means one per core, 1 runs everything on the
    /// calling thread (no pool).
    pub threads: usize,
    /// Records per batch; 0 means [`BATCH_RECORDS`]. Tests use tiny
    /// batches to put batch boundaries everywhere.
    pub batch_records: usize,
    /// A stream's window, and the most it may grow to; 0 means
    /// [`STREAM_WINDOW`] and [`STREAM_MAX_RECORD`]. Tests use tiny windows
    /// to cut records everywhere.
    pub stream_window: usize,
    pub stream_max_record: usize,
    /// A mapped file's segments (see [`segments`]): their nominal size,
    /// and the records in a row that confirm a segment's first boundary;
    /// 0 means [`segments::SEGMENT_BYTES`] and [`segments::SYNC_RECORDS`].
    /// Tests use tiny segments and weak confirmation, to put guesses,
    /// right and wrong, everywhere.
    pub segment_bytes: usize,
    pub sync_records: usize,
    /// Wrong guesses tolerated before the pipeline reads the rest of the
    /// file; 0 means [`MAX_WASTED_SEGMENTS`]. Tests set `usize::MAX`, to
    /// keep guessing wrong (and to guess on after a first window of
    /// segments without a guess).
    pub max_wasted_segments: usize,
}

/// Verifies a whole RDB, in parallel when `driver.threads != 1`. The
/// report equals [`crate::verify_rdb`]'s for the same input and options.
pub fn verify_rdb(
    data: &[u8],
    options: &Options,
    driver: DriverOptions,
    progress: &dyn Progress,
) -> RdbReport {
    let per_batch = or_default(driver.batch_records, BATCH_RECORDS);
    let sequential = |progress: &dyn Progress| {
        crate::verify::verify_rdb_in_batches(
            data,
            options,
            per_batch,
            &mut |offset, keys| progress.consumed(offset, keys),
            &|start, end| progress.passed(start, end),
        )
    };
    match pool_for(driver) {
        Some(pool) => run(data, options, &pool, driver, per_batch, progress),
        None => sequential(progress),
    }
}

/// The worker pool `driver` asks for; `None` to do everything on the
/// calling thread: one thread asked for, or no threads to be had (the same
/// work then runs on this one).
fn pool_for(driver: DriverOptions) -> Option<rayon::ThreadPool> {
    if driver.threads == 1 {
        return None;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(driver.threads)
        .build()
        .ok()
}

/// A mapped file on a pool: segments where syncs are found (see
/// [`segments`]), the framing pipeline everywhere else.
fn run(
    data: &[u8],
    options: &Options,
    pool: &rayon::ThreadPool,
    driver: DriverOptions,
    per_batch: usize,
    progress: &dyn Progress,
) -> RdbReport {
    let threads = pool.current_num_threads().max(1);
    // Segments read ahead of the one being absorbed.
    let ahead = 2 * threads;
    // Until absorbed, a segment's tallies hold 8 bytes per key. Their
    // share comes out of the duplicate-key budget, so that the two
    // together stay within it (a sixth of it: 209 K records a segment on
    // 2 cores, more than a segment of small keys holds).
    let segment_records = (options.dup_key_budget / 6 / ((ahead + 1) * 8))
        .clamp(segments::MIN_SEGMENT_RECORDS, segments::SEGMENT_RECORDS);
    let options = &Options {
        dup_key_budget: options
            .dup_key_budget
            .saturating_sub((ahead + 1) * segment_records * 8),
        ..options.clone()
    };
    let pass = match Pass::new(data, options) {
        Ok(p) => p,
        Err(report) => return *report,
    };
    let header = pass.header();
    let segment_bytes = or_default(driver.segment_bytes, segments::SEGMENT_BYTES);
    let sync_records = or_default(driver.sync_records, segments::SYNC_RECORDS);
    // Segment k nominally starts at HEADER_LEN + k * segment_bytes; the
    // first is read from the header on, by the pipeline.
    let body = data.len().saturating_sub(HEADER_LEN);
    let count = body.div_ceil(segment_bytes).max(1);
    let nominal = |k: usize| HEADER_LEN + k * segment_bytes;
    let syncs: Vec<OnceLock<Option<usize>>> = (0..count).map(|_| OnceLock::new()).collect();
    let sync = |k: usize| -> Option<usize> {
        match k {
            0 => Some(HEADER_LEN),
            _ => *syncs
                .get(k)?
                .get_or_init(|| segments::find_sync(data, header, nominal(k), sync_records)),
        }
    };
    // Where a segment's worker stops: the next segment's first boundary.
    let stop_after = |k: usize| (k + 1..count).find_map(sync).unwrap_or(data.len());
    let max_wasted = or_default(driver.max_wasted_segments, MAX_WASTED_SEGMENTS);
    let cancel = AtomicBool::new(false);
    let spares = &segments::Spares::default();
    let mut reading = Reading {
        data,
        options,
        pass,
        spares,
        pool,
        crc: CrcAhead::new(data, header.body_end_guess(data.len())),
        per_batch,
        progress,
    };

    type Sent = (usize, std::thread::Result<Option<segments::SegmentRun>>);
    let (tx, rx) = mpsc::channel::<Sent>();
    let mut state = Chain {
        pos: HEADER_LEN,
        cursor: Cursor::default(),
        done: false,
    };
    pool.in_place_scope(|scope| {
        // The first segment starts at a known boundary in a known state.
        // Where records are small (the second segment has a guess), it is
        // a segment too: framed and tallied in one pass on a worker, like
        // the others. Otherwise the pipeline reads it, its batches tallied
        // on every worker (a file of a few large values, or of one segment).
        let first = if count > 1 && sync(1).is_some() { 0 } else { 1 };
        let mut spawned = first;
        let mut arrived: BTreeMap<usize, Option<segments::SegmentRun>> = BTreeMap::new();
        // Segments before `k` are behind the chain.
        let mut k = first;
        // Segments read for nothing: a wrong guess (the chain went past
        // it), tallies that could not take the real state, or a window of
        // segments with no guess at all.
        let (mut wasted, mut used) = (0, 0);
        while !state.done {
            // The next segment whose first boundary the chain has not
            // passed, among those read ahead; without one, the pipeline
            // reads up to the first segment beyond them.
            let mut next = Next::End;
            for j in k..count {
                if j >= k + ahead {
                    // A window of segments with no guess: larger records
                    // than segments are for. At the start of the file, the
                    // pipeline reads it all: a stop would wait for the
                    // last batch before it (one giant record, say) before
                    // framing on, where the pipeline alone keeps the
                    // records after it in flight too.
                    next = if used == 0 && max_wasted != usize::MAX {
                        Next::End
                    } else {
                        Next::Until(j, nominal(j))
                    };
                    wasted += 1;
                    break;
                }
                match sync(j) {
                    Some(s) if s >= state.pos => {
                        next = Next::Segment(j, s);
                        break;
                    }
                    Some(_) => wasted += usize::from(j < spawned),
                    None => {}
                }
            }
            if wasted > max_wasted.saturating_add(used / 8) {
                // Guesses keep failing here (long runs of packed values
                // that frame as records): the pipeline reads the rest.
                next = Next::End;
                cancel.store(true, Ordering::Relaxed);
            }
            let wanted = match next {
                Next::Segment(j, _) => j + 1,
                _ => 0,
            };
            while spawned < count && spawned < (k + ahead).max(wanted) {
                let (tx, j) = (tx.clone(), spawned);
                let (sync, stop_after, cancel) = (&sync, &stop_after, &cancel);
                scope.spawn(move |_| {
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        sync(j).map(|start| {
                            let bounds = (start, stop_after(j));
                            let limits = (per_batch, segment_records);
                            let shared = (cancel, spares);
                            segments::run_segment(data, header, options, bounds, limits, shared)
                        })
                    }));
                    // The receiver outlives the scope; a send cannot fail.
                    let _ = tx.send((j, result));
                });
                spawned += 1;
            }
            match next {
                // No guess ahead: the pipeline reads to the end.
                Next::End => {
                    state = reading.pipeline(state, usize::MAX);
                    state.done = true;
                }
                // The chain is short of the next guess (or of the first
                // segment not read ahead): the pipeline reads up to it (or
                // past it, if a record crosses it).
                Next::Segment(j, stop) | Next::Until(j, stop) if stop > state.pos => {
                    state = reading.pipeline(state, stop);
                    k = j;
                }
                Next::Until(j, _) => k = j,
                // The chain reaches segment j's first boundary: its
                // worker's tallies, if they take the real db.
                Next::Segment(j, _) => {
                    let run = loop {
                        if let Some(run) = arrived.remove(&j) {
                            break run;
                        }
                        // The senders live in the scope, which outlives
                        // this loop: a disconnect cannot be.
                        let Ok((seq, result)) = rx.recv() else {
                            break None;
                        };
                        match result {
                            Ok(run) if seq >= j => {
                                arrived.insert(seq, run);
                            }
                            Ok(_) => {}
                            Err(panic) => resume_unwind(panic),
                        }
                    };
                    let Some(mut run) = run else {
                        // Not run (cannot be: segment j has a boundary):
                        // the pipeline reads on past it.
                        k = j + 1;
                        continue;
                    };
                    if inherit(&mut run, &state.cursor) {
                        used += 1;
                        state = reading.absorb_run(run, &state);
                    } else {
                        wasted += 1;
                        state = reading.pipeline(state, run.stop as usize);
                    }
                    k = j + 1;
                }
            }
            // Runs of segments the chain has passed are of no more use.
            arrived = arrived.split_off(&k);
        }
        cancel.store(true, Ordering::Relaxed);
    });
    let Reading {
        mut pass, mut crc, ..
    } = reading;
    pool.install(|| {
        pass.settle_duplicates(|buckets| {
            buckets
                .par_iter_mut()
                .map_init(Vec::new, |scratch, b| repeated_in(b, scratch))
                .flatten_iter()
                .collect()
        })
    });
    crc.cover(state.pos);
    pass.finish_passing(data, Some(crc.finish()), &|start, end| {
        progress.passed(start, end)
    })
}

/// `n`, or `default` for 0 (an option left at its default).
fn or_default(n: usize, default: usize) -> usize {
    match n {
        0 => default,
        n => n,
    }
}

/// Wrong guesses tolerated (and one more for every eight right ones)
/// before the rest of a file is read by the pipeline alone: each costs a
/// segment's work twice.
pub const MAX_WASTED_SEGMENTS: usize = 2;

/// What the chain of records reads next.
#[derive(Clone, Copy)]
enum Next {
    /// Segment `j`, whose first boundary is guessed at the offset.
    Segment(usize, usize),
    /// No guess among the segments read ahead: up to the offset, then on
    /// from segment `j`.
    Until(usize, usize),
    /// The rest of the file.
    End,
}

/// Where the chain of records read from the start of the body stands.
#[derive(Clone, Copy)]
struct Chain {
    pos: usize,
    cursor: Cursor,
    /// Framing is over: the EOF opcode, or an error.
    done: bool,
}

/// Resolves a segment's tallies against the state the chain reached its
/// start in; false, and the run unusable, if one cannot be.
fn inherit(run: &mut segments::SegmentRun, before: &Cursor) -> bool {
    let later = before.db_only();
    run.tallies
        .iter_mut()
        .enumerate()
        .all(|(i, t)| t.inherit(if i == 0 { before } else { &later }))
}

/// What the absorbing thread reads with: the file, the report being
/// folded, and the CRC of the chain so far.
struct Reading<'d, 'r> {
    data: &'d [u8],
    options: &'r Options,
    pass: Pass,
    spares: &'r segments::Spares,
    pool: &'r rayon::ThreadPool,
    crc: CrcAhead<'d>,
    per_batch: usize,
    progress: &'r dyn Progress,
}

impl Reading<'_, '_> {
    /// Adds a segment's run, read from `chain` (its tallies having taken
    /// the real state): the chain after it.
    fn absorb_run(&mut self, run: segments::SegmentRun, chain: &Chain) -> Chain {
        let (start, end) = (run.start as usize, run.end as usize);
        if !self.crc.append(start, &run.crc, end) {
            self.crc.cover(end);
        }
        for t in run.tallies {
            let end = t.end();
            self.spares.give(self.pass.absorb(t));
            self.progress.consumed(end, self.pass.keys());
        }
        Chain {
            pos: end,
            cursor: run.cursor.resolve(&chain.cursor),
            done: run.finished,
        }
    }

    /// The framing pipeline from `chain`: batches framed on this thread,
    /// tallied on the pool, absorbed in file order, up to the first record
    /// boundary at or past `stop` (a record crossing `stop` is read whole).
    fn pipeline(&mut self, chain: Chain, stop: usize) -> Chain {
        if chain.pos >= stop {
            return chain;
        }
        let Reading {
            data,
            options,
            ref mut pass,
            pool,
            ref mut crc,
            per_batch,
            progress,
            ..
        } = *self;
        let header = pass.header();
        let mut records = Records::within(data, header, chain.pos);
        let mut cursor = chain.cursor;
        let max_in_flight = pool.current_num_threads().max(1) * IN_FLIGHT_PER_THREAD;
        let stop = stop as u64;
        let mut done = false;

        // Workers send (batch number, tally); a worker that panicked sends
        // its panic, re-raised here rather than leaving this thread waiting.
        type Sent = (u64, std::thread::Result<Tally>);
        let (tx, rx) = mpsc::channel::<Sent>();
        pool.in_place_scope(|scope| {
            let mut framed = 0u64;
            let mut absorbed = 0u64;
            let mut framing_done = false;
            let mut arrived: BTreeMap<u64, Tally> = BTreeMap::new();
            loop {
                while !framing_done && framed - absorbed < max_in_flight as u64 {
                    crc.reader_at_until(records.offset() as usize, stop as usize);
                    // A record across `stop` is the chain's: taken whole.
                    let batch = Batch::frame_until(
                        &mut records,
                        &mut cursor,
                        per_batch,
                        stop,
                        Across::Take,
                    );
                    framing_done = batch.end >= stop;
                    if batch.items.is_empty() && batch.error.is_none() {
                        // Nothing left to frame (after the EOF opcode).
                        framing_done = true;
                        done = true;
                        continue;
                    }
                    if batch.error.is_some() {
                        framing_done = true;
                        done = true;
                    }
                    let tx = tx.clone();
                    let seq = framed;
                    scope.spawn(move |_| {
                        let result = catch_unwind(AssertUnwindSafe(|| {
                            tally(data, &header, options, &batch, &mut Scratch::new(options))
                        }));
                        // The receiver outlives the scope; a send cannot fail.
                        let _ = tx.send((seq, result));
                    });
                    framed += 1;
                }
                if absorbed == framed {
                    break;
                }
                let Ok((seq, result)) = rx.recv() else { break };
                match result {
                    Ok(t) => {
                        arrived.insert(seq, t);
                    }
                    Err(panic) => resume_unwind(panic),
                }
                while let Some(t) = arrived.remove(&absorbed) {
                    let end = t.end();
                    pass.absorb(t);
                    absorbed += 1;
                    progress.consumed(end, pass.keys());
                }
            }
        });
        let pos = records.offset() as usize;
        crc.cover(pos);
        Chain {
            pos,
            cursor,
            done: done || pass.eof_offset().is_some(),
        }
    }
}

/// Bytes of a stream's window kept on the heap, and the window's starting
/// size. A larger window (one record bigger than half of it) moves to a
/// temporary file ([`crate::source::Window`]). Counted against
/// `Options::dup_key_budget`, so a stream stays within the same memory as
/// a file.
pub const STREAM_WINDOW: usize = 8 << 20;
/// The largest window a stream may need: no limit but the temporary
/// file's disk (tests set small ones).
pub const STREAM_MAX_RECORD: usize = usize::MAX / 4;

/// Why a stream could not be verified.
#[derive(Debug)]
pub enum StreamStop {
    /// A record larger than the window may grow (`stream_max_record`).
    RecordTooLarge {
        offset: u64,
        /// The window's limit, in bytes.
        limit: usize,
    },
    /// The temporary file a giant record is held in failed (disk full).
    Spill { offset: u64, error: std::io::Error },
}

impl std::fmt::Display for StreamStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamStop::RecordTooLarge { offset, limit } => write!(
                f,
                "the record at offset {offset} is larger than {} MiB: from a stream it cannot be verified within the window's limit (verify the file itself)",
                limit >> 20
            ),
            StreamStop::Spill { offset, error } => write!(
                f,
                "the record at offset {offset} is larger than the in-memory window, and the temporary file to hold it failed: {error} (set TMPDIR, or verify the file itself)"
            ),
        }
    }
}

/// The input's first bytes after the RDB, as many as [`verify_rdb_stream`]
/// keeps: enough to tell what follows (an AOF's commands, say).
pub const KEPT_AFTER_RDB: usize = 64;

/// What [`verify_rdb_stream`] found.
pub struct Streamed {
    pub report: RdbReport,
    /// The first bytes after the RDB's end (after its checksum trailer),
    /// up to [`KEPT_AFTER_RDB`].
    pub after_rdb: Vec<u8>,
    /// Reading failed (a damaged archive): the input ended there, and
    /// what came before it was verified.
    pub read_error: Option<std::io::Error>,
}

/// Verifies an RDB read once, front to back, from `input` (standard input,
/// a decompressor): memory bounded by a window of [`STREAM_WINDOW`] bytes
/// (a record larger than that is held in a temporary file instead).
///
/// The window is framed into batches, which are tallied in parallel and
/// absorbed in order exactly as for a mapped file; a record cut by the
/// window's end is read again once the window has moved on and been
/// refilled. So the report equals the file's, except where a second look
/// is needed: duplicate keys are found by fingerprint but not named.
pub fn verify_rdb_stream(
    input: &mut dyn Read,
    options: &Options,
    driver: DriverOptions,
    progress: &dyn Progress,
) -> Result<Streamed, StreamStop> {
    let per_batch = or_default(driver.batch_records, BATCH_RECORDS);
    let pool = pool_for(driver);
    let mut reader = Reader { input, error: None };
    let initial = match driver.stream_window {
        0 => STREAM_WINDOW,
        n => n.max(HEADER_LEN),
    };
    let max_record = match driver.stream_max_record {
        0 => STREAM_MAX_RECORD,
        n => n.max(initial),
    };
    // The window's heap comes out of the duplicate-key budget.
    let options = &Options {
        dup_key_budget: options.dup_key_budget.saturating_sub(initial),
        ..options.clone()
    };
    let mut window = Window::new(initial);
    let spill = |offset: u64| move |error| StreamStop::Spill { offset, error };
    let mut input_done = reader.refill(&mut window, initial).map_err(spill(0))?;
    let mut pass = match Pass::new(window.bytes(), options) {
        Ok(p) => p,
        Err(report) => {
            let mut report = *report;
            report.size = window.len() as u64 + reader.drain();
            return Ok(Streamed {
                report,
                after_rdb: Vec::new(),
                read_error: reader.error,
            });
        }
    };
    let header = pass.header();
    let mut crc = Crc64::new();
    crc.update(window.bytes().get(..HEADER_LEN).unwrap_or(&[]));
    let mut cursor = Cursor::default();
    // The window holds input bytes `base..`; framing resumes at `pos`.
    let mut base = 0u64;
    let mut pos = HEADER_LEN;
    let mut capacity = initial;
    let group = pool
        .as_ref()
        .map_or(1, |p| p.current_num_threads().max(1) * IN_FLIGHT_PER_THREAD);
    loop {
        let bytes = window.bytes();
        let mut records = Records::within(bytes, header, pos);
        let mut framed_to = pos;
        let mut cut = false;
        let mut last = false;
        // A few batches at a time, so that the records framed and not yet
        // absorbed stay few whatever the window's size.
        while !last {
            let mut batches = Vec::with_capacity(group);
            while batches.len() < group && !last {
                let mut batch = Batch::frame(&mut records, &mut cursor, per_batch);
                // A record cut by the window's end is read again after a
                // refill.
                if !input_done && batch.error.as_ref().is_some_and(|(e, _)| e.is_eof()) {
                    batch.error = None;
                    cut = true;
                }
                last = cut || batch.is_last();
                if !batch.items.is_empty() || batch.error.is_some() {
                    batches.push(batch);
                }
            }
            let tallied: Vec<Tally> = match &pool {
                Some(pool) => pool.install(|| {
                    batches
                        .par_iter()
                        .map_init(
                            || Scratch::new(options),
                            |scratch, b| tally(bytes, &header, options, b, scratch),
                        )
                        .collect()
                }),
                None => {
                    let mut scratch = Scratch::new(options);
                    batches
                        .iter()
                        .map(|b| tally(bytes, &header, options, b, &mut scratch))
                        .collect()
                }
            };
            for (batch, mut t) in batches.iter().zip(tallied) {
                crc.update(
                    bytes
                        .get(batch.start as usize..batch.end as usize)
                        .unwrap_or(&[]),
                );
                framed_to = batch.end as usize;
                t.rebase(base);
                pass.absorb(t);
                progress.consumed(base + batch.end, pass.keys());
            }
        }
        if !cut {
            break;
        }
        // Move the unread rest (the cut record) to the front, and make
        // room for it to be read whole.
        window.consume(framed_to);
        base += framed_to as u64;
        pos = 0;
        if window.len() * 2 > capacity {
            if capacity >= max_record {
                return Err(StreamStop::RecordTooLarge {
                    offset: base,
                    limit: max_record,
                });
            }
            capacity = capacity.saturating_mul(2).min(max_record);
        } else {
            // Back to the heap's size once a giant record is behind.
            capacity = initial.max(window.len() * 2);
        }
        input_done = reader.refill(&mut window, capacity).map_err(spill(base))?;
    }

    // After the EOF opcode: the checksum trailer, then anything else.
    let eof_end = pass
        .eof_offset()
        .map(|e| (e + 1).saturating_sub(base) as usize);
    let after_eof = match eof_end {
        Some(at) => {
            window.consume(at);
            base += at as u64;
            // The trailer and a look at what follows it.
            while window.len() < 8 + KEPT_AFTER_RDB && !input_done {
                input_done = reader
                    .refill(&mut window, 8 + KEPT_AFTER_RDB)
                    .map_err(spill(base))?;
            }
            window.bytes()
        }
        None => {
            base += window.len() as u64;
            &[]
        }
    };
    let size = base + after_eof.len() as u64 + reader.drain();
    let trailer_len = if header.has_checksum() { 8 } else { 0 };
    let after_rdb = after_eof
        .get(trailer_len..)
        .unwrap_or(&[])
        .iter()
        .take(KEPT_AFTER_RDB)
        .copied()
        .collect();
    let report = pass.finish_with(Ending {
        after_eof,
        size,
        body_crc: crc.finish(),
        file: None,
        passed: &|_, _| {},
    });
    Ok(Streamed {
        report,
        after_rdb,
        read_error: reader.error,
    })
}

/// The input of [`verify_rdb_stream`]. A read error ends the input like
/// its end does, and is kept for the report.
struct Reader<'r> {
    input: &'r mut dyn Read,
    error: Option<std::io::Error>,
}

impl Reader<'_> {
    /// Reads into `window` until it holds `capacity` bytes or the input
    /// ends; true when it ended. Err: the window's temporary file failed.
    fn refill(&mut self, window: &mut Window, capacity: usize) -> std::io::Result<bool> {
        if self.error.is_some() {
            return Ok(true);
        }
        Ok(match window.fill(self.input, capacity)? {
            Filled::Full => false,
            Filled::InputEnded(error) => {
                self.error = error;
                true
            }
        })
    }

    /// Reads the input to its end, counting the bytes.
    fn drain(&mut self) -> u64 {
        if self.error.is_some() {
            return 0;
        }
        let mut chunk = [0u8; 64 << 10];
        let mut n = 0u64;
        loop {
            match self.input.read(&mut chunk) {
                Ok(0) => return n,
                Ok(k) => n += k as u64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    return n;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::Header;
    use std::sync::Mutex;

    /// A server-written fixture (redis-7.0's all-types), read at test time.
    fn fixture() -> Option<Vec<u8>> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/rdb/redis-7.0/all-types.rdb");
        std::fs::read(p).ok()
    }

    struct Recorded(Mutex<Vec<(u64, u64)>>);

    impl Progress for Recorded {
        fn consumed(&self, offset: u64, keys: u64) {
            if let Ok(mut v) = self.0.lock() {
                v.push((offset, keys));
            }
        }
    }

    #[test]
    fn progress_advances_to_the_end_in_order() {
        let Some(data) = fixture() else {
            eprintln!("note: fixture absent; skipping");
            return;
        };
        for threads in [1, 2] {
            let seen = Recorded(Mutex::new(Vec::new()));
            let d = DriverOptions {
                threads,
                batch_records: 5,
                ..DriverOptions::default()
            };
            let r = verify_rdb(&data, &Options::default(), d, &seen);
            let seen = seen.0.into_inner().unwrap();
            assert!(seen.len() > 2, "batches of 5 records: several reports");
            assert!(
                seen.windows(2)
                    .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
            );
            let &(offset, keys) = seen.last().unwrap();
            // Everything up to the checksum trailer was read; every key counted.
            assert_eq!(Some(offset + 8), r.end_offset);
            assert_eq!(keys, r.keys);
        }
    }

    fn streamed(data: &[u8], window: usize, threads: usize) -> Streamed {
        let d = DriverOptions {
            threads,
            batch_records: 7,
            stream_window: window,
            ..DriverOptions::default()
        };
        let mut input: &[u8] = data;
        verify_rdb_stream(&mut input, &Options::default(), d, &NoProgress)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_stream_read_through_any_window_reports_as_the_file_does() {
        let files = crate::test_support::rdb_fixtures();
        if files.is_empty() {
            eprintln!("note: fixtures absent; skipping");
            return;
        }
        for (name, data) in &files {
            let want = format!("{:?}", crate::verify_rdb(data, &Options::default()));
            // Windows that cut records at every kind of place, grown as
            // needed for records larger than they are.
            for (window, threads) in [(9, 1), (10, 2), (64, 1), (1000, 2), (0, 2)] {
                let s = streamed(data, window, threads);
                assert_eq!(want, format!("{:?}", s.report), "{name}, window {window}");
                assert!(s.read_error.is_none());
            }
        }
    }

    #[test]
    fn a_damaged_stream_reports_as_the_damaged_file_does() {
        let Some(data) = fixture() else { return };
        for cut in [
            9,
            20,
            data.len() / 3,
            data.len() / 2,
            data.len() - 9,
            data.len() - 3,
        ] {
            let d = &data[..cut];
            let want = format!("{:?}", crate::verify_rdb(d, &Options::default()));
            for window in [9, 50, 0] {
                let s = streamed(d, window, 2);
                assert_eq!(
                    want,
                    format!("{:?}", s.report),
                    "cut {cut}, window {window}"
                );
            }
        }
        let mut flipped = data.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x5a;
        let want = format!("{:?}", crate::verify_rdb(&flipped, &Options::default()));
        assert_eq!(want, format!("{:?}", streamed(&flipped, 33, 1).report));
    }

    #[test]
    fn what_follows_the_rdb_is_kept_and_counted() {
        let Some(mut data) = fixture() else { return };
        data.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let s = streamed(&data, 40, 1);
        assert!(s.after_rdb.starts_with(b"*1\r\n$4"));
        assert_eq!(s.report.size, data.len() as u64);
        assert_eq!(s.report.warnings.len(), 1, "{:?}", s.report.warnings);
    }

    #[test]
    fn a_record_larger_than_the_window_may_grow_is_refused_not_misreported() {
        let Some(data) = fixture() else { return };
        let d = DriverOptions {
            threads: 1,
            batch_records: 0,
            stream_window: 16,
            stream_max_record: 16,
            ..DriverOptions::default()
        };
        let mut input: &[u8] = &data;
        let e = verify_rdb_stream(&mut input, &Options::default(), d, &NoProgress);
        assert!(
            e.is_err(),
            "some record of the fixture is longer than 16 bytes"
        );
    }

    #[test]
    fn batches_respect_their_record_limit_and_cover_the_body() {
        let Some(data) = fixture() else {
            return;
        };
        let header = Header::parse(&data).unwrap();
        let mut records = Records::new(&data, header);
        let mut cursor = Cursor::default();
        let mut end = records.offset();
        loop {
            let b = Batch::frame(&mut records, &mut cursor, 3);
            assert!(b.items.len() <= 3);
            assert_eq!(b.start, end, "batches are contiguous");
            end = b.end;
            if b.items.is_empty() {
                break;
            }
        }
        // The last record is EOF; the checksum trailer follows it.
        assert_eq!(end as usize, data.len() - 8);
    }
}
