//! The limits the README promises: `--max-memory` bounds the duplicate-key
//! tracker without changing any verdict (more framing passes instead of
//! more memory), and a mapped file that shrinks under redcheck is an error
//! (exit 2), not a crash. Fixtures are server-written (testdata/rdb).

mod common;

use redcheck::source::{SIGBUS_MESSAGE, Source};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    common::crate_dir().join("testdata/rdb/redis-7.0/all-types.rdb")
}

fn verify_json(args: &[&str], path: &Path) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_redcheck"))
        .arg("verify")
        .arg("--json")
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), v)
}

#[test]
fn a_tiny_memory_budget_changes_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    // A copy with `str:int16` renamed `str:int64`, another key of db 0: a
    // duplicate the budgeted tracker must still find (no CRC in the way:
    // the mismatch is reported too, the same with any budget).
    let data = std::fs::read(fixture()).unwrap();
    let mut dup = data.clone();
    let (a, b) = (b"str:int16", b"str:int64");
    let i = dup.windows(a.len()).position(|w| w == a).unwrap();
    dup[i..i + b.len()].copy_from_slice(b);
    let dup_path = dir.path().join("dup.rdb");
    std::fs::write(&dup_path, &dup).unwrap();
    let (_, v) = verify_json(&["--max-memory", "64"], &dup_path);
    let dup_found =
        v["errors"].as_array().unwrap().iter().any(|e| {
            e["key"] == "str:int64" && e["message"].as_str().unwrap().contains("duplicate")
        });
    assert!(dup_found, "{v}");
    for path in common::rdb_fixtures().iter().chain([&dup_path]) {
        let (code, plain) = verify_json(&[], path);
        for budget in ["64", "1K"] {
            let (c, budgeted) = verify_json(&["--max-memory", budget], path);
            assert_eq!(c, code, "{}: --max-memory {budget}", path.display());
            assert_eq!(budgeted, plain, "{}: --max-memory {budget}", path.display());
        }
    }
}

#[test]
fn a_bad_size_is_a_usage_error() {
    let (code, _) = verify_json(&["--max-memory", "lots"], &fixture());
    assert_eq!(code, Some(2));
}

/// Child half of the SIGBUS test: maps the file, truncates it, touches
/// its last mapped byte.
fn shrink_while_mapped(path: &Path) -> ! {
    redcheck::source::exit_on_sigbus();
    let data = Source::open(path, true).unwrap();
    assert!(matches!(data, Source::Mapped(_)), "not mapped");
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let last = std::hint::black_box(data[data.len() - 1]);
    // Unreachable when the handler works: the read above faults.
    println!("read {last} past the end");
    std::process::exit(0)
}

/// Deterministic: this test runs itself again as a child process that
/// maps a copy of a fixture, truncates it, and reads the mapping.
#[cfg(unix)]
#[test]
fn a_file_that_shrinks_while_mapped_is_an_error_not_a_crash() {
    const CHILD: &str = "REDCHECK_SIGBUS_CHILD";
    if let Some(path) = std::env::var_os(CHILD) {
        shrink_while_mapped(Path::new(&path));
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("dump.rdb");
    std::fs::copy(fixture(), &copy).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_file_that_shrinks_while_mapped_is_an_error_not_a_crash",
            "--nocapture",
        ])
        .env(CHILD, &copy)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(SIGBUS_MESSAGE.trim_end()), "{stderr}");
}

// ---------------------------------------------------------------------
// One value bigger than the memory budget: members checked in several
// walks (src/verify/members.rs), the verdict the same with any budget.

use redcheck::Options;
use redcheck::rdb::value::{ValueVisitor, walk_value};
use redcheck::rdb::{Error as RdbError, Header, KeyRecord, RdbString, Record, Records};
use redcheck::verify::fingerprint::fingerprint128;
use redcheck::verify::value::{Scratch, check_value_with};

/// Set members in the big test set; enough that a 512 KiB budget takes
/// several walks, few enough for a debug build.
const BIG: usize = 60_000;

/// Value budget of the bounded runs: 256 KiB for member fingerprints,
/// about 11,000 of them a walk.
const SMALL_BUDGET: usize = 512 << 10;

/// Entries of the `events` stream, each pending in three groups.
const EVENTS: usize = 12000;

fn member(i: usize) -> Vec<u8> {
    format!("member:{i:07}").into_bytes()
}

/// A redis-7.0 dump holding `bigset` (a hashtable set of [`BIG`] members),
/// `bighash` and `bigzset` (half as many), and `events`, a stream of
/// [`EVENTS`] entries with three consumer groups that have each read all of
/// them: in `g1` and `g2` each of three consumers read a third in one go
/// (consumer PELs that are runs of the group's), in `g3` they took turns,
/// seven entries at a time (interleaved). Written once for the tests that
/// need it.
fn big_values_dump() -> Option<Vec<u8>> {
    static DUMP: std::sync::OnceLock<Option<Vec<u8>>> = std::sync::OnceLock::new();
    DUMP.get_or_init(write_big_values_dump).clone()
}

fn write_big_values_dump() -> Option<Vec<u8>> {
    let Some(srv) = common::Server::start("redis-7.0", &[]) else {
        common::note("redis-7.0 not installed: skipping");
        return None;
    };
    let mut c = srv.client();
    let chunk = 2000;
    let mut cmds = Vec::new();
    for start in (0..BIG).step_by(chunk) {
        let mut sadd = vec![b"SADD".to_vec(), b"bigset".to_vec()];
        let mut hset = vec![b"HSET".to_vec(), b"bighash".to_vec()];
        let mut zadd = vec![b"ZADD".to_vec(), b"bigzset".to_vec()];
        for i in start..(start + chunk).min(BIG) {
            sadd.push(member(i));
            if i % 2 == 0 {
                hset.push(member(i));
                hset.push(i.to_string().into_bytes());
                zadd.push(i.to_string().into_bytes());
                zadd.push(member(i));
            }
        }
        cmds.extend([sadd, hset, zadd]);
    }
    for i in 0..EVENTS {
        cmds.push(
            ["XADD", "events", "*", "n", &i.to_string()]
                .map(|a| a.as_bytes().to_vec())
                .to_vec(),
        );
    }
    for r in c.pipeline(&cmds) {
        assert!(!r.is_error(), "{}", r.text());
    }
    let third = (EVENTS / 3).to_string();
    let mut reads = Vec::new();
    for group in ["g1", "g2", "g3"] {
        c.ok(&[b"XGROUP", b"CREATE", b"events", group.as_bytes(), b"0"]);
        let (count, turns) = match group {
            "g3" => ("7", EVENTS.div_ceil(7)),
            _ => (third.as_str(), 3),
        };
        for turn in 0..turns {
            let consumer = ["alice", "bob", "carol"][turn % 3];
            reads.push(
                [
                    "XREADGROUP",
                    "GROUP",
                    group,
                    consumer,
                    "COUNT",
                    count,
                    "STREAMS",
                    "events",
                    ">",
                ]
                .map(|a| a.as_bytes().to_vec())
                .to_vec(),
            );
        }
    }
    for r in c.pipeline(&reads) {
        assert!(!r.is_error(), "{}", r.text());
    }
    c.ok(&[b"SAVE"]);
    Some(std::fs::read(srv.dir.path().join("dump.rdb")).expect("dump.rdb after SAVE"))
}

/// The key record named `key`, with its offset in `data`.
fn key_record<'a>(data: &'a [u8], key: &[u8]) -> (Header, KeyRecord<'a>) {
    let header = Header::parse(data).unwrap();
    for item in Records::new(data, header) {
        if let Record::Key(k) = item.unwrap().record
            && k.key.to_bytes().unwrap().as_ref() == key
        {
            return (header, k);
        }
    }
    panic!("no key {}", String::from_utf8_lossy(key));
}

/// Where a value's set members and consumer PEL IDs sit in the file, in
/// walk order.
#[derive(Default)]
struct Locate {
    base: usize,
    members: Vec<(usize, Vec<u8>)>,
    consumer_pel: Vec<usize>,
    /// The groups' PEL entry IDs.
    pel: Vec<usize>,
}

impl<'a> ValueVisitor<'a> for Locate {
    fn set_member(&mut self, _at: &'a [u8], s: RdbString<'a>) -> Result<(), RdbError> {
        let raw = s.raw().expect("members stored raw");
        self.members
            .push((raw.as_ptr() as usize - self.base, raw.to_vec()));
        Ok(())
    }

    fn stream_consumer_pel(&mut self, _at: &'a [u8], id: &'a [u8]) -> Result<(), RdbError> {
        self.consumer_pel.push(id.as_ptr() as usize - self.base);
        Ok(())
    }

    fn stream_pel(&mut self, at: &'a [u8], _: &'a [u8], _: i64, _: u64) -> Result<(), RdbError> {
        self.pel.push(at.as_ptr() as usize - self.base);
        Ok(())
    }
}

fn locate(data: &[u8], key: &[u8]) -> Locate {
    let (header, k) = key_record(data, key);
    let mut l = Locate {
        base: data.as_ptr() as usize,
        ..Locate::default()
    };
    walk_value(k.value, k.value_type, header.version, &mut l).unwrap();
    l
}

/// The value of `key` checked with a scratch of `budget` bytes: the
/// outcome as text, and how many walks it took.
fn check_with(data: &[u8], key: &[u8], budget: usize) -> (String, u32) {
    let (header, k) = key_record(data, key);
    let mut scratch = Scratch::with_budget(budget);
    let r = check_value_with(data, &header, k.value_type, k.value, &mut scratch)
        .map(|s| s.elements)
        .map_err(|e| format!("[offset {}] {e}", e.offset_in(data)));
    (format!("{r:?}"), scratch.last_walks())
}

/// [`check_with`], spilling member fingerprints to the command line's
/// temporary-file store once they outgrow the budget.
fn check_spilling(data: &[u8], key: &[u8], budget: usize) -> (String, u32) {
    let (header, k) = key_record(data, key);
    let mut scratch =
        Scratch::with_budget(budget).with_spill(Some(redcheck::source::SPILL_TO_TEMP_FILES));
    let r = check_value_with(data, &header, k.value_type, k.value, &mut scratch)
        .map(|s| s.elements)
        .map_err(|e| format!("[offset {}] {e}", e.offset_in(data)));
    (format!("{r:?}"), scratch.last_walks())
}

fn verify_with(data: &[u8], value_budget: usize) -> String {
    let options = Options {
        value_budget,
        ..Options::default()
    };
    format!("{:?}", redcheck::verify_rdb(data, &options))
}

#[test]
fn a_value_bigger_than_the_budget_verifies_the_same_with_any_budget() {
    let Some(data) = big_values_dump() else {
        return;
    };
    let unbounded = usize::MAX / 2;
    // 64 KiB is the floor: the PELs of 12000 take several walks at it.
    for (key, budget) in [
        (&b"bigset"[..], SMALL_BUDGET),
        (b"bighash", SMALL_BUDGET),
        (b"bigzset", SMALL_BUDGET),
        (b"events", 64 << 10),
    ] {
        let (small, walks) = check_with(&data, key, budget);
        let (large, one) = check_with(&data, key, unbounded);
        assert_eq!(small, large, "{}", String::from_utf8_lossy(key));
        assert!(
            walks > 2 && one == 1,
            "{walks} walks at {budget}, {one} unbounded"
        );
    }
    let report = verify_with(&data, SMALL_BUDGET);
    assert!(report.contains("ok: true"), "{report}");
    assert_eq!(report, verify_with(&data, unbounded));
}

#[test]
fn a_duplicate_member_is_found_in_whichever_walk_covers_it() {
    let Some(mut data) = big_values_dump() else {
        return;
    };
    let set = locate(&data, b"bigset");
    let n = set.members.len();
    assert_eq!(n, BIG);
    let fp = |i: usize| fingerprint128(&set.members[i].1);
    // Two duplicates: the first in walk order copies the member with the
    // highest fingerprint of the first quarter (so only the last walk of
    // a small budget sees it); the second, later in the value, copies the
    // lowest (the first walk sees it). The report must name the first,
    // as a single unbounded walk does.
    let high = (0..n / 4).max_by_key(|&i| fp(i)).unwrap();
    let low = (0..n / 4).min_by_key(|&i| fp(i)).unwrap();
    for (from, to) in [(high, n / 2), (low, 3 * n / 4)] {
        let (at, _) = set.members[to];
        data[at..at + set.members[from].1.len()].copy_from_slice(&set.members[from].1);
    }
    let expected = format!(
        "duplicate set member '{}'",
        String::from_utf8_lossy(&set.members[high].1)
    );
    let (large, one) = check_with(&data, b"bigset", usize::MAX / 2);
    assert!(large.contains(&expected), "{large}");
    // The unbounded check confirms where the duplicate is in a second walk.
    assert_eq!(one, 2);
    for budget in [SMALL_BUDGET, 2 * SMALL_BUDGET] {
        let (small, walks) = check_with(&data, b"bigset", budget);
        assert_eq!(small, large, "budget {budget}");
        assert!(walks > 3, "{walks} walks at {budget}");
    }
    assert_eq!(
        verify_with(&data, SMALL_BUDGET),
        verify_with(&data, usize::MAX / 2)
    );
}

#[test]
fn a_consumer_pel_entry_missing_from_the_group_pel_is_found_with_any_budget() {
    let Some(mut data) = big_values_dump() else {
        return;
    };
    let ids = locate(&data, b"events").consumer_pel;
    assert_eq!(ids.len(), 3 * EVENTS);
    // An ID late in the last consumer's PEL, its sequence made one no
    // entry has.
    let at = ids[ids.len() - 10];
    data[at + 8..at + 16].copy_from_slice(&[0xff; 8]);
    let (large, _) = check_with(&data, b"events", usize::MAX / 2);
    assert!(
        large.contains(&format!(
            "[offset {at}] Consumer entry not found in group global PEL"
        )),
        "{large}"
    );
    let (small, walks) = check_with(&data, b"events", 64 << 10);
    assert_eq!(small, large);
    assert!(walks > 2, "{walks} walks");
}

/// Servers write a PEL in ID order, and the checker keeps it as a sorted
/// array while it is; one out of order (a file no server wrote) turns its
/// table into a hash table. Either way, and with any budget, the verdict
/// is the one an unbounded check gives: entries swapped (still valid), or
/// one entry's ID copied over another's (a duplicate, and an entry of
/// consumer PELs no longer in the group's).
#[test]
fn a_pel_out_of_order_verifies_the_same_with_any_budget() {
    let Some(data) = big_values_dump() else {
        return;
    };
    let pel = locate(&data, b"events").pel;
    assert_eq!(pel.len(), 3 * EVENTS);
    // In g2 and g3: the last entry of the group and one near its start.
    for (a, b) in [
        (2 * EVENTS - 1, EVENTS + 100),
        (3 * EVENTS - 1, 2 * EVENTS + 5),
    ] {
        let (a, b) = (pel[a], pel[b]);
        let mut swapped = data.clone();
        let (ida, idb) = (data[a..a + 16].to_vec(), data[b..b + 16].to_vec());
        swapped[a..a + 16].copy_from_slice(&idb);
        swapped[b..b + 16].copy_from_slice(&ida);
        let mut copied = data.clone();
        copied[a..a + 16].copy_from_slice(&idb);
        for (what, data) in [("swapped", &swapped), ("copied", &copied)] {
            let (large, one) = check_with(data, b"events", usize::MAX / 2);
            match what {
                "swapped" => assert!(large.starts_with("Ok"), "{large}"),
                _ => assert!(
                    large.contains(&format!(
                        "[offset {a}] Duplicated global PEL entry loading stream consumer group"
                    )),
                    "{large}"
                ),
            }
            assert!(one <= 2, "{one} walks unbounded");
            let (small, walks) = check_with(data, b"events", 64 << 10);
            assert_eq!(small, large, "{what}");
            assert!(walks > 2, "{walks} walks");
        }
    }
}

/// A hash listpack of about 4 MB, LZF-compressed by the server: more than
/// one checking thread may inflate on the heap with `--max-memory 16M`
/// (or, in the library, by default: half of 6 MiB).
/// The command line inflates it into a temporary file; with none to be
/// had, it is exit 2, not a verdict.
#[test]
fn an_lzf_blob_over_the_budget_is_inflated_into_a_temporary_file_or_is_exit_2() {
    let Some(srv) = common::Server::start(
        "redis-7.0",
        &[
            ("hash-max-listpack-entries", "1000000"),
            ("hash-max-listpack-value", "1024"),
        ],
    ) else {
        common::note("redis-7.0 not installed: skipping");
        return;
    };
    let mut c = srv.client();
    // Few, long fields: a server looks a new field up in a listpack
    // linearly, so many short ones would take it minutes.
    let mut cmds = Vec::new();
    for start in (0..4000).step_by(100) {
        let mut hset = vec![b"HSET".to_vec(), b"packed".to_vec()];
        for i in start..start + 100 {
            hset.push(format!("f:{i:05}").into_bytes());
            hset.push(format!("v{i:05}").repeat(166).into_bytes());
        }
        cmds.push(hset);
    }
    for r in c.pipeline(&cmds) {
        assert!(!r.is_error(), "{}", r.text());
    }
    assert_eq!(
        c.call(&[b"OBJECT", b"ENCODING", b"packed"]).text(),
        "listpack"
    );
    c.ok(&[b"SAVE"]);
    let path = srv.dir.path().join("dump.rdb");
    let data = std::fs::read(&path).unwrap();
    let (_, k) = key_record(&data, b"packed");
    // 0xc3: an LZF-compressed string (RDB_ENCVAL << 6 | RDB_ENC_LZF).
    assert_eq!(
        k.value.first(),
        Some(&0xc3),
        "the server did not compress it"
    );

    let verify = |args: &[&str], input: &Path, tmpdir: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_redcheck"));
        cmd.arg("verify").args(args).arg(input);
        if let Some(t) = tmpdir {
            cmd.env("TMPDIR", t);
        }
        cmd.output().unwrap()
    };
    let nowhere = srv.dir.path().join("no-such-dir");
    let gz = srv.dir.path().join("dump.rdb.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, &data).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    // 16M leaves each checking thread at most 4 MiB, 2 MiB of it to
    // inflate a blob: less than this one needs.
    let small = ["--quiet", "--max-memory", "16M"];
    for input in [&path, &gz] {
        // The blob is inflated into a temporary file, on 1 and 2 threads
        // (the parallel driver; the stream reader for the compressed copy).
        for threads in ["1", "2"] {
            let out = verify(&[&small[..], &["--threads", threads]].concat(), input, None);
            assert_eq!(out.status.code(), Some(0), "{out:?}");
        }
        // No temporary file to be had: not checked, exit status 2, and a
        // message that says why.
        let out = verify(&small, input, Some(&nowhere));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(
                "could not run within --max-memory: inflating an LZF-compressed string needs"
            ),
            "{stderr}"
        );
        // Room on the heap: verified there.
        let out = verify(&["--quiet", "--max-memory", "256M"], input, Some(&nowhere));
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    // Damaged inside the compressed blob: the same findings whether it is
    // inflated on the heap or into a file.
    let mut bad = data.clone();
    let blob_at = k.value.as_ptr() as usize - data.as_ptr() as usize;
    for at in [blob_at + 40, blob_at + k.value.len() / 2] {
        bad[at] ^= 0x5a;
    }
    let damaged = srv.dir.path().join("damaged.rdb");
    std::fs::write(&damaged, &bad).unwrap();
    let spilled = verify(&["--json", "--max-memory", "16M"], &damaged, None);
    let heap = verify(
        &["--json", "--max-memory", "256M"],
        &damaged,
        Some(&nowhere),
    );
    assert_eq!(spilled.status.code(), Some(1), "{spilled:?}");
    let errors = |o: &std::process::Output| {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["errors"].clone()
    };
    assert_eq!(errors(&spilled), errors(&heap));
    // Salvage checks each value the same way: the whole blob is intact,
    // the damaged one is a damaged region (found in the temporary file);
    // with no temporary file it cannot be checked and is kept.
    let salvage = |input: &Path, tmpdir: Option<&Path>| {
        let out = verify(&["--salvage", "--json"], input, tmpdir);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["salvage"]["intact_keys"].clone(),
            v["salvage"]["regions"].as_array().map(Vec::len),
        )
    };
    assert_eq!(salvage(&path, None), (1.into(), Some(0)));
    assert_eq!(salvage(&path, Some(&nowhere)), (1.into(), Some(0)));
    assert_eq!(salvage(&damaged, None), (0.into(), Some(1)));
    // The library without a spill store: the same "could not run" error;
    // with room, the file is fine.
    let default = redcheck::verify_rdb(&data, &Options::default());
    assert!(
        default
            .errors
            .iter()
            .any(|e| e.message.contains("could not run within --max-memory")),
        "{:?}",
        default.errors
    );
    let roomy = redcheck::verify_rdb(
        &data,
        &Options {
            value_budget: 16 << 20,
            ..Options::default()
        },
    );
    assert!(roomy.ok, "{:?}", roomy.errors);
}

#[test]
fn a_value_spilled_to_a_temporary_file_is_checked_in_one_walk_or_two_with_a_duplicate() {
    let Some(mut data) = big_values_dump() else {
        return;
    };
    let unbounded = usize::MAX / 2;
    for key in [&b"bigset"[..], b"bighash", b"bigzset"] {
        let (spilled, walks) = check_spilling(&data, key, SMALL_BUDGET);
        assert_eq!(spilled, check_with(&data, key, unbounded).0);
        assert_eq!(walks, 1, "{}", String::from_utf8_lossy(key));
    }
    // Two duplicates in the set, as in the test above: the spilled check
    // names the first in walk order, found by one confirming walk.
    let set = locate(&data, b"bigset");
    let n = set.members.len();
    for (from, to) in [(n / 5, n / 2), (3, 3 * n / 4)] {
        let (at, _) = set.members[to];
        data[at..at + set.members[from].1.len()].copy_from_slice(&set.members[from].1);
    }
    let (large, _) = check_with(&data, b"bigset", unbounded);
    assert!(
        large.contains(&format!(
            "duplicate set member '{}'",
            String::from_utf8_lossy(&set.members[n / 5].1)
        )),
        "{large}"
    );
    let (spilled, walks) = check_spilling(&data, b"bigset", SMALL_BUDGET);
    assert_eq!(spilled, large);
    assert_eq!(walks, 2);
}
