//! The parallel verifier: the one place that uses threads.
//!
//! ```text
//!  framing (this thread)      batch N+1 ──────────┐
//!  deep checks (rayon pool)   batch N: check_key ×k  ├─ join
//!  CRC-64 (in the same join)  batch N's bytes     ──┘
//!  fold (this thread)         batch N, in file order → Pass
//! ```
//!
//! The sequential framing scan ([`Records`]) finds each record's extent;
//! [`check_key`] runs on the pool for a batch while the next batch is
//! framed; results are folded into the same [`Pass`] the sequential
//! [`crate::verify_rdb`] uses, in file order. That is why the report with
//! one thread equals the report with many, byte for byte, and why the
//! first error is always the same one: only *where* `check_key` runs
//! differs.
//!
//! Memory: two batches in flight, each at most [`BATCH_RECORDS`] records
//! or [`BATCH_BYTES`] bytes of input (borrowed, not copied), plus the
//! duplicate-key fingerprints (8 bytes per key). After a batch is folded,
//! [`Progress::consumed`] tells the caller those bytes will not be read
//! again (except by the rare duplicate-confirming second pass), so a
//! mapped file's pages can be released behind the reader.

use crate::crc64::Crc64;
use crate::rdb::{Header, Item, Record, Records};
use crate::verify::{KeyCheck, Options, Pass, RdbReport, Scratch, check_key};
use rayon::prelude::*;

/// Records per batch: large enough that a batch amortises the fork/join,
/// small enough that two in flight cost little memory.
pub const BATCH_RECORDS: usize = 4096;
/// Input bytes per batch: one big value makes a batch of its own.
pub const BATCH_BYTES: u64 = 8 << 20;

/// Where the driver reports progress. Called on the driver's thread after
/// each batch is folded.
pub trait Progress: Sync {
    /// Bytes `0..offset` have been read, checked and folded; `keys` keys
    /// so far.
    fn consumed(&self, offset: u64, keys: u64);
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
}

/// One framed batch: its records, and the file range they cover.
struct Batch<'a> {
    items: Vec<Item<'a>>,
    start: u64,
    end: u64,
    /// Framing stopped inside this batch with this error, at `end`.
    error: Option<crate::rdb::Error>,
    /// The bytes framing had not read when it stopped (for the error's
    /// key name).
    remaining: &'a [u8],
}

fn frame_batch<'a>(records: &mut Records<'a>, max_records: usize) -> Batch<'a> {
    let start = records.offset();
    let mut items = Vec::with_capacity(max_records.min(1024));
    let mut error = None;
    let mut remaining: &[u8] = &[];
    while items.len() < max_records && records.offset() - start < BATCH_BYTES {
        match records.next() {
            Some(Ok(item)) => items.push(item),
            Some(Err(e)) => {
                remaining = records.remaining();
                error = Some(e);
                break;
            }
            None => break,
        }
    }
    Batch {
        items,
        start,
        end: records.offset(),
        error,
        remaining,
    }
}

fn check_batch(
    data: &[u8],
    header: &Header,
    items: &[Item<'_>],
    parallel: bool,
) -> Vec<Option<KeyCheck>> {
    let one = |scratch: &mut Scratch, item: &Item<'_>| match &item.record {
        Record::Key(k) => Some(check_key(data, header, k, scratch)),
        _ => None,
    };
    if parallel {
        items
            .par_iter()
            .with_min_len(64)
            .map_init(Scratch::default, one)
            .collect()
    } else {
        let mut scratch = Scratch::default();
        items.iter().map(|i| one(&mut scratch, i)).collect()
    }
}

/// Verifies a whole RDB, in parallel when `driver.threads != 1`. The
/// report equals [`crate::verify_rdb`]'s for the same input and options.
pub fn verify_rdb(
    data: &[u8],
    options: &Options,
    driver: DriverOptions,
    progress: &dyn Progress,
) -> RdbReport {
    let per_batch = match driver.batch_records {
        0 => BATCH_RECORDS,
        n => n,
    };
    if driver.threads == 1 {
        return run(data, options, false, per_batch, progress);
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(driver.threads)
        .build()
    {
        Ok(pool) => pool.install(|| run(data, options, true, per_batch, progress)),
        // No threads to be had: the same work on this one.
        Err(_) => run(data, options, false, per_batch, progress),
    }
}

fn run(
    data: &[u8],
    options: &Options,
    parallel: bool,
    per_batch: usize,
    progress: &dyn Progress,
) -> RdbReport {
    let mut pass = match Pass::new(data, options) {
        Ok(p) => p,
        Err(report) => return *report,
    };
    let header = pass.header();
    let mut records = Records::new(data, header);
    let mut crc = Crc64::new();
    let mut crc_end = records.offset();
    crc.update(data.get(..crc_end as usize).unwrap_or(&[]));
    let mut fold_scratch = Scratch::default();

    let mut batch = frame_batch(&mut records, per_batch);
    loop {
        let last = batch.error.is_some() || batch.end == batch.start;
        let range = data
            .get(batch.start as usize..batch.end as usize)
            .unwrap_or(&[]);
        // Frame the next batch while this one is checked and checksummed.
        let (next, checks) = if parallel && !last {
            rayon::join(
                || frame_batch(&mut records, per_batch),
                || {
                    let (checks, ()) = rayon::join(
                        || check_batch(data, &header, &batch.items, true),
                        || crc.update(range),
                    );
                    checks
                },
            )
        } else {
            crc.update(range);
            let checks = check_batch(data, &header, &batch.items, parallel);
            let next = if last {
                None
            } else {
                Some(frame_batch(&mut records, per_batch))
            };
            (next.unwrap_or_else(|| empty_batch(batch.end)), checks)
        };
        crc_end = batch.end;
        for (item, check) in batch.items.drain(..).zip(checks) {
            pass.record(item, check, &mut fold_scratch);
        }
        if let Some(e) = &batch.error {
            pass.framing_error(e, batch.remaining);
        }
        progress.consumed(batch.end, pass.keys());
        if last {
            break;
        }
        batch = next;
    }
    pass.set_records_offset(records.offset());
    if parallel {
        pass.dup_buckets_mut()
            .par_iter_mut()
            .for_each(|b| b.sort_unstable());
    }
    pass.finish(Some((crc_end as usize, crc.finish())))
}

fn empty_batch<'a>(at: u64) -> Batch<'a> {
    Batch {
        items: Vec::new(),
        start: at,
        end: at,
        error: None,
        remaining: &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn batches_respect_their_record_limit_and_cover_the_body() {
        let Some(data) = fixture() else {
            return;
        };
        let header = Header::parse(&data).unwrap();
        let mut records = Records::new(&data, header);
        let mut end = records.offset();
        loop {
            let b = frame_batch(&mut records, 3);
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
