//! The parallel verifier: the one place that uses threads.
//!
//! ```text
//!  this thread    frame batch 1, 2, 3 ...   (+ CRC-64 of each batch's bytes)
//!  rayon pool       tally 1   tally 2   tally 3 ...   (deep checks, per-key fold)
//!  this thread    absorb 1, 2, 3 ... in file order → Pass → report
//! ```
//!
//! Framing ([`Batch::frame`]) is the one sequential step: it finds each
//! record's extent and keeps the db and pending expiry ([`Cursor`]), so a
//! batch can be tallied ([`tally`]: deep checks and every per-key count)
//! on any worker, without the batches before it. Tallies are absorbed into
//! the same [`Pass`] the sequential [`crate::verify_rdb`] uses, in file
//! order. That is why the report with one thread equals the report with
//! many, byte for byte, and why the first error is always the same one:
//! only *where* a batch is tallied differs.
//!
//! Memory: at most [`IN_FLIGHT_PER_THREAD`] batches per worker are framed
//! and not yet absorbed, each at most [`BATCH_RECORDS`] records or
//! [`BATCH_BYTES`] of input (borrowed, not copied), plus the duplicate-key
//! fingerprints (8 bytes per key, within `Options::dup_key_budget`). After
//! a batch is absorbed, [`Progress::consumed`] tells the caller those bytes
//! will not be read again (except by the rare duplicate-confirming second
//! pass), so a mapped file's pages can be released behind the reader.

use crate::crc64::Crc64;
use crate::rdb::Records;
use crate::verify::dupkeys::repeated_in;
use crate::verify::{
    BATCH_RECORDS, Batch, Cursor, Options, Pass, RdbReport, Scratch, Tally, tally,
};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc;

pub use crate::verify::BATCH_BYTES;

/// Batches framed ahead per worker: enough that no worker waits for
/// framing, few enough that memory stays small.
pub const IN_FLIGHT_PER_THREAD: usize = 4;

/// Where the driver reports progress. Called on the driver's thread after
/// each batch is absorbed.
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
    let sequential = |progress: &dyn Progress| {
        crate::verify::verify_rdb_in_batches(data, options, per_batch, &mut |offset, keys| {
            progress.consumed(offset, keys)
        })
    };
    if driver.threads == 1 {
        return sequential(progress);
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(driver.threads)
        .build()
    {
        Ok(pool) => run(data, options, &pool, per_batch, progress),
        // No threads to be had: the same work on this one.
        Err(_) => sequential(progress),
    }
}

fn run(
    data: &[u8],
    options: &Options,
    pool: &rayon::ThreadPool,
    per_batch: usize,
    progress: &dyn Progress,
) -> RdbReport {
    let mut pass = match Pass::new(data, options) {
        Ok(p) => p,
        Err(report) => return *report,
    };
    let header = pass.header();
    let mut records = Records::new(data, header);
    let mut cursor = Cursor::default();
    let mut crc = Crc64::new();
    let mut crc_end = records.offset();
    crc.update(data.get(..crc_end as usize).unwrap_or(&[]));
    let max_in_flight = pool.current_num_threads().max(1) * IN_FLIGHT_PER_THREAD;

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
                let batch = Batch::frame(&mut records, &mut cursor, per_batch);
                crc.update(
                    data.get(batch.start as usize..batch.end as usize)
                        .unwrap_or(&[]),
                );
                crc_end = batch.end;
                framing_done = batch.is_last();
                let tx = tx.clone();
                let seq = framed;
                scope.spawn(move |_| {
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        tally(data, &header, options, &batch, &mut Scratch::default())
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
    pool.install(|| {
        pass.settle_duplicates(|buckets| {
            buckets
                .par_iter()
                .map_init(Vec::new, |table, b| repeated_in(b, table))
                .flatten_iter()
                .collect()
        })
    });
    pass.finish(Some((crc_end as usize, crc.finish())))
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
