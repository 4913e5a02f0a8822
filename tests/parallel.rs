//! The parallel driver's report equals the sequential verifier's, byte for
//! byte, on every server-written fixture and on damaged copies of them:
//! with one thread and with several, with batches of every small size (so
//! that batch boundaries fall on every record), and through the CLI's
//! `--threads`.

mod common;

use common::{Xorshift as Rng, rdb_fixtures, shown};
use redcheck::driver::{self, DriverOptions, NoProgress};
use redcheck::{Options, RdbReport, verify_rdb};
use std::process::Command;

fn options() -> Options {
    Options {
        // Fixed, so "already expired" counts do not depend on the clock.
        now_ms: 1_800_000_000_000,
        ..Options::default()
    }
}

/// Everything a report says, as text: the Debug form covers every field.
fn text(r: &RdbReport) -> String {
    format!("{r:?}")
}

/// (threads, records per batch, segment bytes, records confirming a
/// segment's first boundary; 0 = default) combinations compared. Tiny
/// segments with weak confirmation put the speculative segments' guesses,
/// right and wrong, at every kind of place: after an expiry, an IDLE or a
/// FREQ record, before a SELECTDB, inside values, past the EOF opcode.
const ALL: &[(usize, usize, usize, usize)] = &[
    (1, 0, 0, 0),
    (1, 1, 0, 0),
    (2, 0, 0, 0),
    (2, 1, 0, 0),
    (3, 2, 0, 0),
    (4, 7, 0, 0),
    (2, 0, 64, 1),
    (2, 3, 200, 2),
    (3, 1, 37, 1),
    (2, 0, 1000, 4),
    (4, 2, 13, 3),
];
/// Fewer for the many damaged copies, keeping the suite quick.
const SOME: &[(usize, usize, usize, usize)] = &[
    (1, 1, 0, 0),
    (2, 1, 0, 0),
    (4, 7, 0, 0),
    (2, 0, 64, 1),
    (3, 2, 150, 2),
];

fn assert_same_everywhere(name: &str, data: &[u8], configs: &[(usize, usize, usize, usize)]) {
    let o = options();
    let sequential = text(&verify_rdb(data, &o));
    for &(threads, batch_records, segment_bytes, sync_records) in configs {
        let d = DriverOptions {
            threads,
            batch_records,
            segment_bytes,
            sync_records,
            // Tiny segments guess wrong often; keep guessing.
            max_wasted_segments: usize::MAX,
            ..DriverOptions::default()
        };
        let got = text(&driver::verify_rdb(data, &o, d, &NoProgress));
        assert_eq!(
            got, sequential,
            "{name}: report with {threads} threads, batches of {batch_records}, segments of {segment_bytes} bytes confirmed by {sync_records} records differs"
        );
    }
}

#[test]
fn every_fixture_reports_the_same_with_any_thread_count() {
    let files = rdb_fixtures();
    assert!(!files.is_empty(), "no fixtures in testdata/rdb");
    for f in files {
        let data = std::fs::read(&f).expect("fixture readable");
        assert_same_everywhere(&shown(&f), &data, ALL);
    }
}

#[test]
fn damaged_fixtures_report_the_same_first_error_with_any_thread_count() {
    let mut rng = Rng::new(0x7e11_5a4e);
    let mut failed = 0;
    for f in rdb_fixtures() {
        let data = std::fs::read(&f).expect("fixture readable");
        if data.len() < 32 {
            continue;
        }
        let name = shown(&f);
        // Truncated in the middle, just before the checksum, with a
        // region zeroed (zeros frame as a chain of empty string records:
        // a speculative segment's guess lands in them) or overwritten
        // with random bytes, and with flipped bits in the body (framing
        // errors, deep-check errors and CRC mismatches all occur among
        // these).
        let mut cases = vec![
            data[..data.len() / 2].to_vec(),
            data[..data.len() - 3].to_vec(),
        ];
        let region = 9 + data.len() / 3..(9 + data.len() / 3 + 200).min(data.len() - 8);
        let mut zeroed = data.clone();
        zeroed[region.clone()].fill(0);
        let mut random = data.clone();
        random[region]
            .iter_mut()
            .for_each(|b| *b = rng.below(256) as u8);
        cases.extend([zeroed, random]);
        for flips in 1..=4 {
            let mut d = data.clone();
            for _ in 0..flips {
                let at = 9 + rng.below(d.len() as u64 - 9) as usize;
                d[at] ^= 1 << rng.below(8);
            }
            cases.push(d);
        }
        for (i, d) in cases.iter().enumerate() {
            failed += usize::from(!verify_rdb(d, &options()).ok);
            assert_same_everywhere(&format!("{name} (damage {i})"), d, SOME);
        }
    }
    // The damage must actually have produced failures to compare.
    assert!(failed > 0, "no damaged copy failed verification");
}

#[test]
fn cli_threads_flag_gives_identical_json() {
    let Some(f) = rdb_fixtures()
        .into_iter()
        .find(|p| p.ends_with("redis-7.0/all-types.rdb"))
    else {
        common::note("redis-7.0/all-types.rdb fixture absent; skipping");
        return;
    };
    let run = |threads: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_redcheck"))
            .args(["verify", "--json", "--threads", threads])
            .arg(&f)
            .output()
            .expect("redcheck runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let one = run("1");
    assert!(!one.is_empty());
    assert_eq!(one, run("4"));
}

/// A server-written fixture with one of its key records copied right after
/// itself: a duplicate key in the same db (and a CRC mismatch).
fn with_duplicated_key(data: &[u8]) -> Option<Vec<u8>> {
    use redcheck::rdb::{Header, Record, Records};
    let header = Header::parse(data).ok()?;
    let mut records = Records::new(data, header);
    let mut key_at = None;
    while let Some(Ok(item)) = records.next() {
        if let Some(start) = key_at {
            let end = item.offset as usize;
            let mut out = data[..end].to_vec();
            out.extend_from_slice(&data[start..end]);
            out.extend_from_slice(&data[end..]);
            return Some(out);
        }
        if matches!(item.record, Record::Key(_)) {
            key_at = Some(item.offset as usize);
        }
    }
    None
}

#[test]
fn duplicate_keys_are_found_the_same_within_any_memory_budget() {
    let mut checked = 0;
    // The all-types fixtures: every type, in several dbs.
    for f in rdb_fixtures()
        .into_iter()
        .filter(|p| p.ends_with("all-types.rdb"))
    {
        let data = std::fs::read(&f).expect("fixture readable");
        let Some(dup) = with_duplicated_key(&data) else {
            continue;
        };
        let name = shown(&f);
        let o = options();
        let unbounded = verify_rdb(&dup, &o);
        assert!(
            unbounded
                .errors
                .iter()
                .any(|e| e.message.contains("duplicate key")),
            "{name}: the copied key is not reported"
        );
        // Tiny budgets: each forces a different number of extra passes.
        for budget in [8, 512, 4096] {
            let tight = Options {
                dup_key_budget: budget,
                ..o.clone()
            };
            assert_eq!(
                text(&verify_rdb(&dup, &tight)),
                text(&unbounded),
                "{name}: budget {budget}"
            );
            let d = DriverOptions {
                threads: 2,
                batch_records: 3,
                ..DriverOptions::default()
            };
            assert_eq!(
                text(&driver::verify_rdb(&dup, &tight, d, &NoProgress)),
                text(&unbounded),
                "{name}: budget {budget}, 2 threads"
            );
        }
        checked += 1;
    }
    assert!(checked > 0, "no fixture with a key record");
}

/// The same key names in every db, with expiries and LFU counters (FREQ
/// records before keys), written by a real server: segments guessed in
/// any db must fold each key's db into its fingerprint once the db is
/// known, or the same name in two dbs looks like a duplicate key; and an
/// expiry must stay with its key wherever a segment starts.
#[test]
fn keys_named_alike_in_several_dbs_are_told_apart_by_segments_in_any_db() {
    let Some(srv) = common::Server::start("redis-7.0", &[("maxmemory-policy", "allkeys-lfu")])
    else {
        common::note("redis-7.0 not installed: multi-db segments test skipped");
        return;
    };
    let mut c = srv.client();
    for db in 0..4u32 {
        c.ok(&[b"SELECT", db.to_string().as_bytes()]);
        let cmds: Vec<Vec<Vec<u8>>> = (0..300)
            .map(|i| {
                let mut cmd = vec![
                    b"SET".to_vec(),
                    format!("k:{i}").into_bytes(),
                    format!("v{db}:{i}").into_bytes(),
                ];
                if i % 3 == 0 {
                    cmd.extend([
                        b"PX".to_vec(),
                        format!("{}", 9_000_000_000u64 + i).into_bytes(),
                    ]);
                }
                cmd
            })
            .collect();
        c.pipeline(&cmds);
    }
    c.ok(&[b"SAVE"]);
    let data = std::fs::read(srv.dir.path().join("dump.rdb")).expect("dump.rdb after SAVE");
    let report = verify_rdb(&data, &options());
    assert!(report.ok, "{report:?}");
    assert_eq!(report.keys, 1200);
    assert_eq!(report.expires, 400);
    let configs = [
        (2, 0, 97, 2),
        (2, 5, 300, 3),
        (3, 1, 1500, 4),
        (2, 0, 40, 1),
    ];
    assert_same_everywhere("4 dbs of the same key names", &data, &configs);
    // And a real duplicate in the last db is found however the segments
    // fall.
    let dup = with_last_key_duplicated(&data).expect("a key record");
    let report = verify_rdb(&dup, &options());
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.message.contains("duplicate key in db 3")),
        "{:?}",
        report.errors
    );
    assert_same_everywhere("a duplicate in db 3", &dup, &configs);
}

/// `data` with its last key record (and whatever follows it up to the
/// next record) written twice.
fn with_last_key_duplicated(data: &[u8]) -> Option<Vec<u8>> {
    use redcheck::rdb::{Header, Record, Records};
    let header = Header::parse(data).ok()?;
    let mut last = None;
    let mut key_at = None;
    for item in Records::new(data, header) {
        let item = item.ok()?;
        if let Some(start) = key_at.take() {
            last = Some((start, item.offset as usize));
        }
        if matches!(item.record, Record::Key(_)) {
            key_at = Some(item.offset as usize);
        }
    }
    let (start, end) = last?;
    let mut out = data[..end].to_vec();
    out.extend_from_slice(&data[start..end]);
    out.extend_from_slice(&data[end..]);
    Some(out)
}

/// A server-written file with enough keys that the duplicate-key
/// fingerprints get their one slab (a RESIZEDB hint of 600,000 keys: 5 MiB
/// of room), with a key copied at its start and at its end: both
/// duplicates are named, the same with one thread or two, and the same
/// within a budget too small for the slab (plain buckets, extra passes).
#[test]
fn duplicates_in_a_file_large_enough_for_the_fingerprint_slab_are_found_every_way() {
    let Some(srv) = common::Server::start("redis-7.0", &[("enable-debug-command", "local")]) else {
        common::note("redis-7.0 not installed: fingerprint slab test skipped");
        return;
    };
    let mut c = srv.client();
    c.ok(&[b"DEBUG", b"POPULATE", b"600000", b"key", b"8"]);
    c.ok(&[b"SAVE"]);
    let data = std::fs::read(srv.dir.path().join("dump.rdb")).expect("dump.rdb after SAVE");
    let first = with_duplicated_key(&data).expect("a key record");
    let both = with_last_key_duplicated(&first).expect("a key record");
    let o = options();
    let report = verify_rdb(&both, &o);
    assert_eq!(report.keys, 600_002);
    let named: Vec<&str> = report
        .errors
        .iter()
        .filter(|e| e.message.contains("duplicate key"))
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(named.len(), 2, "{:?}", report.errors);
    let unbounded = text(&report);
    let two = DriverOptions {
        threads: 2,
        ..DriverOptions::default()
    };
    assert_eq!(
        text(&driver::verify_rdb(&both, &o, two, &NoProgress)),
        unbounded,
        "2 threads"
    );
    let tight = Options {
        dup_key_budget: 1 << 20,
        ..o.clone()
    };
    assert_eq!(text(&verify_rdb(&both, &tight)), unbounded, "1 MiB budget");
    assert_eq!(
        text(&driver::verify_rdb(&both, &tight, two, &NoProgress)),
        unbounded,
        "1 MiB budget, 2 threads"
    );
}
