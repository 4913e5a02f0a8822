//! Damage derived in code from real files: server-written fixtures from
//! `testdata/rdb/` and small valid files from the shared corpus.
//!
//! - Truncation at every record boundary (found with `redcheck::rdb::Records`)
//!   and at several points inside every record and value: no panic, a failed
//!   verdict, and the first error's offset inside the damaged record (at or
//!   after its start, at or before the cut).
//! - One byte changed (xor 0xff, and +1) at every position of small files
//!   and a deterministic sample of big ones: no panic, and a failed verdict
//!   whenever the file carries a CRC (the CRC must catch what the parser
//!   cannot). Files with the checksum disabled only must not panic.
//! - Every damaged input runs under a time bound, so a hang fails the test.
//! - Where the writing server's `redis-check-rdb` is installed, damaged
//!   inputs that redcheck accepts are given to it: every file the checker
//!   rejects, redcheck must reject too (redcheck is stricter, so the
//!   reverse need not hold) — unless the server itself, asked next, loads
//!   the file (it skips empty keys its checker calls errors). A header
//!   digit relabelled to another version the checker's server cannot read
//!   is counted apart. A small sample of the rest is run for counts.
//!
//! `REDCHECK_EXHAUSTIVE=1` flips every byte of every file (slow).

mod common;

use common::{Outcome, note, shown};
use redcheck::rdb::{Header, Record, Records};
use redcheck::verify::Checksum;
use redcheck::{Options, RdbReport, verify_rdb};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A damaged input that takes longer than this is a hang (debug builds on
/// a busy 2-core machine verify a 100 KiB file in well under a second).
const PER_INPUT_LIMIT: Duration = Duration::from_secs(30);
/// A checker that takes longer is killed (they hang on some truncated
/// module values).
const CHECKER_LIMIT: Duration = Duration::from_secs(10);
/// Files up to this size get every byte flipped; bigger ones a sample (a
/// debug build verifies a record-dense file at ~80 ns a byte: flipping
/// every byte of a 60 KiB fixture two ways would take ten minutes).
const FLIP_ALL_UP_TO: usize = 4 * 1024;
/// Positions flipped in a bigger file (each two ways).
const FLIP_SAMPLE: usize = 1500;
/// Damaged inputs redcheck accepts that are handed to a checker, per file.
const CHECKER_ACCEPTED: usize = 80;
/// Other damaged inputs handed to a checker, per file, for the counts.
const CHECKER_OTHERS: usize = 10;
/// Disagreements with a checker re-checked by loading into the server, per
/// file (each costs a server start).
const MAX_SERVER_CONFIRMATIONS: usize = 6;
/// Servers load with the same deep checks their checkers apply.
const SANITIZE: [(&str, &str); 1] = [("sanitize-dump-payload", "yes")];

/// The server log lines that say why it stopped.
fn last_lines(log: &str) -> String {
    const STARTUP: [&str; 5] = [
        "oO0Oo",
        "version=",
        "Configuration loaded",
        "Server initialized",
        "WARNING",
    ];
    log.lines()
        .filter(|l| l.contains(" # ") && !STARTUP.iter().any(|s| l.contains(s)))
        .take(2)
        .collect::<Vec<_>>()
        .join(" | ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    Truncate(usize),
    Xor(usize),
    Inc(usize),
}

impl Damage {
    fn apply(self, data: &[u8]) -> Vec<u8> {
        match self {
            Damage::Truncate(n) => data[..n].to_vec(),
            Damage::Xor(p) => {
                let mut d = data.to_vec();
                d[p] ^= 0xff;
                d
            }
            Damage::Inc(p) => {
                let mut d = data.to_vec();
                d[p] = d[p].wrapping_add(1);
                d
            }
        }
    }

    fn position(self) -> usize {
        match self {
            Damage::Truncate(p) | Damage::Xor(p) | Damage::Inc(p) => p,
        }
    }
}

/// What one verification of a damaged input said.
#[derive(Debug, Clone)]
struct Verdict {
    ok: bool,
    first_error: Option<(u64, String)>,
    checksum: Checksum,
}

impl Verdict {
    fn of(r: &RdbReport) -> Verdict {
        Verdict {
            ok: r.ok,
            first_error: r.errors.first().map(|e| (e.offset, e.to_string())),
            checksum: r.checksum,
        }
    }
}

/// A file to damage.
struct Subject {
    name: String,
    data: Arc<Vec<u8>>,
    /// The server whose checker judges this file's damaged copies.
    checker: Option<&'static str>,
}

fn options() -> Options {
    Options {
        now_ms: common::now_ms(),
        ..Options::default()
    }
}

/// Verifies every damaged copy on one worker thread, each under
/// [`PER_INPUT_LIMIT`]; a panic is caught and returned as `Err`.
fn verify_all(subject: &Subject, damages: &[Damage]) -> Vec<Result<Verdict, String>> {
    let (tx, rx) = mpsc::channel();
    let data = Arc::clone(&subject.data);
    let list = damages.to_vec();
    std::thread::spawn(move || {
        let options = options();
        for d in list {
            let damaged = d.apply(&data);
            let r = catch_unwind(AssertUnwindSafe(|| verify_rdb(&damaged, &options)));
            let v = r.map(|r| Verdict::of(&r)).map_err(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into())
            });
            if tx.send(v).is_err() {
                return;
            }
        }
    });
    let mut out = Vec::with_capacity(damages.len());
    for d in damages {
        match rx.recv_timeout(PER_INPUT_LIMIT) {
            Ok(v) => out.push(v),
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "{}: verify_rdb did not finish within {PER_INPUT_LIMIT:?} on {d:?} (hang)",
                subject.name
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("{}: the verify worker died on {d:?}", subject.name)
            }
        }
    }
    out
}

/// One item of the file: where it starts and ends, and where its value
/// starts (for key records).
#[derive(Debug)]
struct Span {
    start: usize,
    end: usize,
    value_start: Option<usize>,
    what: String,
}

/// The header, every record, and the checksum trailer, from a framing pass.
fn spans(data: &[u8]) -> (Vec<Span>, usize) {
    let header = Header::parse(data).expect("subjects have an RDB header");
    let mut out = vec![Span {
        start: 0,
        end: 9,
        value_start: None,
        what: "header".into(),
    }];
    let base = data.as_ptr() as usize;
    let mut records = Records::new(data, header);
    let mut eof_end = None;
    while let Some(item) = records.next() {
        let item = item.expect("subjects frame cleanly");
        let start = item.offset as usize;
        let end = records.offset() as usize;
        let (what, value_start) = match item.record {
            Record::Key(k) => (
                format!("key record ({:?})", k.value_type),
                Some(k.value.as_ptr() as usize - base),
            ),
            Record::Eof => {
                eof_end = Some(end);
                ("EOF".into(), None)
            }
            other => (
                format!("{other:?}").chars().take(40).collect::<String>(),
                None,
            ),
        };
        out.push(Span {
            start,
            end,
            value_start,
            what,
        });
    }
    let mut end = eof_end.expect("subjects end with EOF");
    if header.has_checksum() {
        out.push(Span {
            start: end,
            end: end + 8,
            value_start: None,
            what: "checksum".into(),
        });
        end += 8;
    }
    (out, end)
}

/// Truncation points: every boundary, and several points inside every
/// record and every value.
fn truncations(spans: &[Span], rdb_end: usize) -> Vec<(usize, usize)> {
    let mut cuts = BTreeMap::new();
    for (i, s) in spans.iter().enumerate() {
        let len = s.end - s.start;
        let mut points = vec![
            s.start,
            s.start + 1,
            s.start + len / 4,
            s.start + len / 2,
            s.start + len * 3 / 4,
            s.end.saturating_sub(1),
        ];
        if let Some(v) = s.value_start {
            let vlen = s.end - v;
            points.extend([
                v,
                v + 1,
                v + vlen / 3,
                v + vlen * 2 / 3,
                s.end.saturating_sub(2),
            ]);
        }
        if s.what == "header" {
            points.extend(0..9);
        }
        for p in points {
            if p >= s.start && p < s.end && p < rdb_end {
                cuts.entry(p).or_insert(i);
            }
        }
    }
    cuts.into_iter().collect()
}

/// Positions to flip: all of a small file; for a big one the header, the
/// first bytes of every record (type, key length, value encoding: where
/// framing decisions are made), the trailer, and a seeded uniform sample.
fn flip_positions(data: &[u8], spans: &[Span]) -> Vec<usize> {
    let exhaustive = std::env::var_os("REDCHECK_EXHAUSTIVE").is_some();
    if exhaustive || data.len() <= FLIP_ALL_UP_TO {
        return (0..data.len()).collect();
    }
    let mut set = std::collections::BTreeSet::new();
    set.extend(0..data.len().min(64));
    set.extend(data.len().saturating_sub(16)..data.len());
    for s in spans {
        for p in [s.start, s.start + 1, s.start + 2] {
            if p < s.end && set.len() < FLIP_SAMPLE / 2 {
                set.insert(p);
            }
        }
        if let Some(v) = s.value_start
            && set.len() < FLIP_SAMPLE / 2
        {
            set.insert(v);
        }
    }
    let mut rng = common::Xorshift::new(data.len() as u64);
    while set.len() < FLIP_SAMPLE.min(data.len()) {
        set.insert(rng.below(data.len() as u64) as usize);
    }
    set.into_iter().collect()
}

fn fixture(rel: &str) -> Option<Vec<u8>> {
    let p = common::crate_dir().join("testdata/rdb").join(rel);
    match std::fs::read(&p) {
        Ok(d) => Some(d),
        Err(_) => {
            note(format!("{}: absent, skipped", shown(&p)));
            None
        }
    }
}

/// The server that wrote a fixture, from its directory name.
fn server_of(rel: &str) -> Option<&'static str> {
    common::SERVERS
        .iter()
        .find(|s| rel.starts_with(&format!("{s}/")))
        .copied()
}

/// Fixtures to damage: the richest file of three servers, Valkey's hash
/// field TTLs, a checksum-off file, and module values with MODULE_AUX.
const FIXTURES: &[&str] = &[
    "redis-7.0/all-types.rdb",
    "redis-6.2/all-types.rdb",
    "valkey-9.1/hfe.rdb",
    "redis-7.0/nochecksum.rdb",
    "redis-8.2/module-graph.rdb",
];

/// Small fixtures whose checksum is zeroed in code (what `rdbchecksum no`
/// writes): without a CRC, only the parser's own checks stand between a
/// flipped byte and a "verified" — the case to compare with the checker.
const UNCHECKSUMMED: &[&str] = &[
    "redis-7.0/functions-only.rdb",
    "valkey-9.1/functions-only.rdb",
    "redis-8.2/module-graph.rdb",
    "valkey-9.1/expired.rdb",
    "redis-6.2/lfu.rdb",
    "redis-8.2/lru.rdb",
];

fn fixture_subjects(list: &[&str], zero_checksum: bool) -> Vec<Subject> {
    let mut out = Vec::new();
    for rel in list {
        let Some(mut data) = fixture(rel) else {
            continue;
        };
        let mut name = format!("testdata/rdb/{rel}");
        if zero_checksum {
            let n = data.len();
            if n < 17 || data[n - 9] != 0xff {
                note(format!("{rel}: no checksum trailer to zero, skipped"));
                continue;
            }
            data[n - 8..].fill(0);
            let r = verify_rdb(&data, &options());
            assert!(
                r.ok && r.checksum == Checksum::Disabled,
                "{rel} with its checksum zeroed must verify, checksum disabled: {:?}",
                r.errors
            );
            name.push_str(" (checksum zeroed)");
        }
        out.push(Subject {
            name,
            data: Arc::new(data),
            checker: server_of(rel),
        });
    }
    out
}

/// Small corpus files that every server loads and redcheck verifies.
fn corpus_subjects(max_size: u64) -> Vec<Subject> {
    let Some((dir, files)) = common::corpus_entries() else {
        note("no shared corpus: corpus files not damaged");
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in files {
        if f["kind"] != "rdb" || f["expect"] != "valid" {
            continue;
        }
        let path = dir.join(f["path"].as_str().unwrap_or_default());
        if std::fs::metadata(&path)
            .map(|m| m.len())
            .unwrap_or(u64::MAX)
            > max_size
        {
            continue;
        }
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        // Known disagreements (duplicate keys) fail as they are.
        let r = verify_rdb(&data, &options());
        if !r.ok {
            continue;
        }
        // Without a CRC (RDB < 5, or disabled) only the parser can catch a
        // flipped byte: those files are compared with a checker.
        let checker = match r.checksum {
            Checksum::Ok(_) => None,
            _ => Some("valkey-9.1"),
        };
        out.push(Subject {
            name: format!("corpus/{}", f["path"].as_str().unwrap_or_default()),
            data: Arc::new(data),
            checker,
        });
    }
    out
}

/// Counts for the report printed at the end of a test.
#[derive(Default)]
struct Tally {
    inputs: u64,
    failed: u64,
    eof_before_zero_trailer: u64,
}

/// Truncations and flips of one subject; returns failures (as messages)
/// and the damaged inputs with their verdicts, for the checker comparison.
fn damage(subject: &Subject, tally: &mut Tally) -> (Vec<String>, Vec<(Damage, bool)>) {
    let data = &subject.data;
    let original = verify_rdb(data, &options());
    assert!(
        original.ok,
        "{}: the undamaged file must verify: {:?}",
        subject.name, original.errors
    );
    let (spans, rdb_end) = spans(data);
    let crc = matches!(original.checksum, Checksum::Ok(_));
    let mut failures = Vec::new();
    let mut judged = Vec::new();

    let cuts = truncations(&spans, rdb_end);
    let damages: Vec<Damage> = cuts.iter().map(|&(p, _)| Damage::Truncate(p)).collect();
    for ((&(cut, span), d), v) in cuts.iter().zip(&damages).zip(verify_all(subject, &damages)) {
        tally.inputs += 1;
        let s = &spans[span];
        match v {
            Err(p) => failures.push(format!("{}: panic on {d:?}: {p}", subject.name)),
            Ok(v) if v.ok => failures.push(format!(
                "{}: truncated at {cut} (inside {} at {}..{}), still verifies",
                subject.name, s.what, s.start, s.end
            )),
            Ok(v) => {
                tally.failed += 1;
                judged.push((*d, false));
                let (at, msg) = v.first_error.expect("a failed verdict has an error");
                if (at as usize) < s.start || at as usize > cut {
                    failures.push(format!(
                        "{}: truncated at {cut} inside {} at {}..{}: first error at {at}, \
                         outside the record: {msg}",
                        subject.name, s.what, s.start, s.end
                    ));
                }
            }
        }
    }

    let positions = flip_positions(data, &spans);
    let damages: Vec<Damage> = positions
        .iter()
        .flat_map(|&p| [Damage::Xor(p), Damage::Inc(p)])
        .collect();
    for (d, v) in damages.iter().zip(verify_all(subject, &damages)) {
        tally.inputs += 1;
        match v {
            Err(p) => failures.push(format!("{}: panic on {d:?}: {p}", subject.name)),
            Ok(v) => {
                if !v.ok {
                    tally.failed += 1;
                } else if crc && d.position() < rdb_end {
                    if v.checksum == Checksum::Disabled {
                        // The damage made an EOF opcode appear before eight
                        // zero bytes: read as "checksum disabled", as a
                        // server would. Counted, not failed.
                        tally.eof_before_zero_trailer += 1;
                    } else {
                        failures.push(format!(
                            "{}: {d:?} (byte {:#04x}) verifies despite the CRC",
                            subject.name,
                            data[d.position()]
                        ));
                    }
                }
                judged.push((*d, v.ok));
            }
        }
    }
    (failures, judged)
}

fn finish(what: &str, started: Instant, subjects: &[Subject], tally: &Tally, failures: &[String]) {
    let files = match subjects {
        [one] => one.name.clone(),
        _ => format!("{} files", subjects.len()),
    };
    eprintln!(
        "{what}: {files}, {} damaged inputs, {} failed verification, \
         {} read as checksum-disabled, in {:.1?}",
        tally.inputs,
        tally.failed,
        tally.eof_before_zero_trailer,
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Spreads `n` picks evenly over `items`.
fn spread<T: Copy>(items: &[T], n: usize) -> Vec<T> {
    if items.len() <= n {
        return items.to_vec();
    }
    (0..n).map(|i| items[i * items.len() / n]).collect()
}

/// Hands a sample of one subject's damaged copies to its server's checker:
/// those redcheck accepts (where a disagreement would be a redcheck bug)
/// and a few it rejects (for the counts). Returns failures.
fn compare_with_checker(
    s: &Subject,
    checker: &std::path::Path,
    server: &str,
    judged: &[(Damage, bool)],
    counts: &mut BTreeMap<&'static str, u64>,
) -> Vec<String> {
    let mut failures = Vec::new();
    let version = |d: &[u8]| Header::parse(d).map(|h| h.version).ok();
    let original_version = version(&s.data);
    let accepted: Vec<Damage> = judged.iter().filter(|j| j.1).map(|j| j.0).collect();
    let rejected: Vec<Damage> = judged.iter().filter(|j| !j.1).map(|j| j.0).collect();
    let sample = spread(&accepted, CHECKER_ACCEPTED)
        .into_iter()
        .map(|d| (d, true))
        .chain(
            spread(&rejected, CHECKER_OTHERS)
                .into_iter()
                .map(|d| (d, false)),
        );
    let mut timed_out = false;
    let mut confirmed = 0;
    // A server needs the module to load module values (FalkorDB, shipped
    // with redis-8.2).
    let has_modules = !verify_rdb(&s.data, &options()).modules.is_empty();
    let module = has_modules
        .then(|| common::module_for(server))
        .flatten()
        .map(|p| p.to_string_lossy().into_owned());
    for (d, ours) in sample {
        if timed_out && !ours {
            continue; // one hang per file is enough to know about
        }
        let damaged = d.apply(&s.data);
        let theirs = common::run_checker_on(checker, &damaged, CHECKER_LIMIT);
        let key = match (theirs, ours) {
            (Outcome::Timeout, _) => {
                timed_out = true;
                "checker timed out"
            }
            (t, true) if t.accepted() => "both accept",
            // A digit of the header changed into another version redcheck
            // reads (REDIS0012 -> REDIS0013): the checker refuses a version
            // newer than its server, which says nothing about the content.
            (_, true) if version(&damaged) != original_version => {
                "redcheck accepts a relabelled version the checker cannot read"
            }
            // The checker is a proxy for the server: ask the server itself
            // (it loads some files its checker refuses, e.g. with an empty
            // key, which it skips).
            (_, true) if confirmed < MAX_SERVER_CONFIRMATIONS => {
                confirmed += 1;
                let mut config = SANITIZE.to_vec();
                if let Some(m) = &module {
                    config.push(("loadmodule", m.as_str()));
                }
                match common::Server::start_with(server, &config, Some(&damaged)) {
                    Some(Ok(_running)) => "checker rejects, the server loads it, redcheck accepts",
                    refused => {
                        let why = match refused {
                            Some(Err(log)) => last_lines(&log),
                            _ => "server not installed".into(),
                        };
                        failures.push(format!(
                            "{}: {d:?}: the {server} checker rejects it ({theirs:?}) and the \
                             server refuses it, redcheck accepts it; server log: {why}",
                            s.name
                        ));
                        "checker and server reject, redcheck accepts"
                    }
                }
            }
            (_, true) => {
                failures.push(format!(
                    "{}: {d:?}: the {server} checker rejects it ({theirs:?}), redcheck accepts it",
                    s.name
                ));
                "checker rejects, redcheck accepts (server not asked)"
            }
            (t, false) if t.accepted() => "redcheck rejects, checker accepts",
            (_, false) => "both reject",
        };
        *counts.entry(key).or_default() += 1;
    }
    failures
}

/// Damages every subject; where its checker is installed (and accepts the
/// undamaged file), compares verdicts on a sample.
fn run_group(what: &str, subjects: &[Subject]) {
    let started = Instant::now();
    if subjects.is_empty() {
        note(format!("{what}: nothing to damage, skipped"));
        return;
    }
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    let mut checkers: BTreeMap<&str, Option<PathBuf>> = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for s in subjects {
        let (f, judged) = damage(s, &mut tally);
        failures.extend(f);
        let Some(server) = s.checker else { continue };
        let checker = checkers
            .entry(server)
            .or_insert_with(|| {
                let c = common::rdb_checker(server);
                if c.is_none() {
                    note(format!(
                        "{server} checker not installed: no comparison with it"
                    ));
                }
                c
            })
            .clone();
        let Some(checker) = checker else { continue };
        if !common::run_checker_on(&checker, &s.data, CHECKER_LIMIT).accepted() {
            note(format!(
                "the {server} checker rejects {} as it is: no comparison",
                s.name
            ));
            continue;
        }
        failures.extend(compare_with_checker(
            s,
            &checker,
            server,
            &judged,
            &mut counts,
        ));
    }
    if !counts.is_empty() {
        eprintln!("{what}: damaged copies judged by the servers' checkers: {counts:?}");
    }
    finish(what, started, subjects, &tally, &failures);
}

// One test per big fixture, so they run in parallel.

#[test]
fn damaged_redis_7_0_all_types() {
    run_group("damaged fixture", &fixture_subjects(&[FIXTURES[0]], false));
}

#[test]
fn damaged_redis_6_2_all_types() {
    run_group("damaged fixture", &fixture_subjects(&[FIXTURES[1]], false));
}

#[test]
fn damaged_valkey_9_1_hfe() {
    run_group("damaged fixture", &fixture_subjects(&[FIXTURES[2]], false));
}

#[test]
fn damaged_redis_7_0_nochecksum() {
    run_group("damaged fixture", &fixture_subjects(&[FIXTURES[3]], false));
}

#[test]
fn damaged_redis_8_2_module_graph() {
    run_group("damaged fixture", &fixture_subjects(&[FIXTURES[4]], false));
}

#[test]
fn damaged_fixtures_without_checksum() {
    run_group(
        "damaged fixtures, checksum zeroed",
        &fixture_subjects(UNCHECKSUMMED, true),
    );
}

#[test]
fn damaged_corpus_files() {
    run_group("damaged corpus files", &corpus_subjects(4096));
}

/// LZF strings the framing pass steps over without inflating: function
/// library code, and STRING opcodes inside module values and MODULE_AUX.
/// Each as (file offset of the compressed bytes, their length, the
/// declared uncompressed length).
fn unframed_lzf_strings(data: &[u8]) -> Vec<(usize, usize, u64)> {
    use redcheck::rdb::RdbString;
    use redcheck::rdb::consts::*;
    use redcheck::rdb::primitives::{parse_length, parse_string, take_bytes};
    let base = data.as_ptr() as usize;
    let mut out = Vec::new();
    let mut lzf = |s: RdbString<'_>| {
        if let RdbString::Lzf { compressed, len } = s {
            out.push((compressed.as_ptr() as usize - base, compressed.len(), len));
        }
    };
    // Module opcodes as `rdbLoadCheckModuleValue` reads them.
    let walk = |mut r: &[u8], lzf: &mut dyn FnMut(RdbString<'_>)| loop {
        let Ok((rest, op)) = parse_length(r, "opcode") else {
            return;
        };
        r = match op {
            RDB_MODULE_OPCODE_SINT | RDB_MODULE_OPCODE_UINT => {
                parse_length(rest, "int").map(|x| x.0)
            }
            RDB_MODULE_OPCODE_FLOAT => take_bytes(rest, 4, "float").map(|x| x.0),
            RDB_MODULE_OPCODE_DOUBLE => take_bytes(rest, 8, "double").map(|x| x.0),
            RDB_MODULE_OPCODE_STRING => parse_string(rest, "string").map(|(r, s)| {
                lzf(s);
                r
            }),
            _ => return,
        }
        .unwrap_or_default();
    };
    let header = Header::parse(data).expect("an RDB header");
    for item in Records::new(data, header) {
        let Ok(item) = item else { break };
        match item.record {
            Record::Function { code } => lzf(code),
            Record::Key(k) if k.value_type.logical() == redcheck::rdb::LogicalType::Module => {
                if let Ok((r, _module_id)) = parse_length(k.value, "module id") {
                    walk(r, &mut lzf);
                }
            }
            Record::ModuleAux { .. } => {
                // opcode, module id, when opcode, when, then the value.
                let r = &data[item.offset as usize + 1..];
                let r = parse_length(r, "id")
                    .and_then(|(r, _)| parse_length(r, "when opcode"))
                    .and_then(|(r, _)| parse_length(r, "when"));
                if let Ok((r, _)) = r {
                    walk(r, &mut lzf);
                }
            }
            _ => {}
        }
    }
    out
}

/// Flips every byte of every such LZF payload in `rel` (checksum zeroed, so
/// only the parser can notice). Each copy whose payload no longer inflates
/// — by redcheck's own `lzf::decompress` — is one a server refuses
/// ("Invalid LZF compressed string"), so it must fail verification.
fn invalid_unframed_lzf_fails(rel: &str) {
    let Some(mut data) = fixture(rel) else {
        return;
    };
    let n = data.len();
    data[n - 8..].fill(0);
    let strings = unframed_lzf_strings(&data);
    if strings.is_empty() {
        note(format!(
            "{rel}: no LZF strings in functions or module data: skipped"
        ));
        return;
    }
    let mut tried = 0;
    let mut accepted = Vec::new();
    for &(start, len, ulen) in &strings {
        for p in start..start + len {
            let mut damaged = data.clone();
            damaged[p] ^= 0xff;
            if redcheck::lzf::decompress(&damaged[start..start + len], ulen).is_ok() {
                continue;
            }
            tried += 1;
            if verify_rdb(&damaged, &options()).ok {
                accepted.push(p);
            }
        }
    }
    assert!(tried > 0, "{rel}: no flip made an LZF payload invalid");
    assert!(
        accepted.is_empty(),
        "{rel} (checksum zeroed): {} of {tried} copies whose LZF payload no longer inflates \
         still verify; byte xor 0xff at offsets {:?}{}",
        accepted.len(),
        &accepted[..accepted.len().min(12)],
        if accepted.len() > 12 { " ..." } else { "" }
    );
}

/// A FUNCTION2 record's library code may be LZF-compressed; the
/// `redis-7.0` and `valkey-9.1` checkers refuse a copy of
/// `nochecksum.rdb` with a byte flipped in it ("Invalid LZF compressed
/// string"), while redcheck accepted it.
#[test]
fn function_code_with_invalid_lzf_fails_verification() {
    invalid_unframed_lzf_fails("redis-7.0/functions-only.rdb");
    invalid_unframed_lzf_fails("valkey-9.1/functions-only.rdb");
}

/// STRING opcodes inside module values (and MODULE_AUX) may be
/// LZF-compressed; `redis-check-rdb` inflates them
/// (`rdbLoadCheckModuleValue`) and refuses the file when that fails, and
/// so does the module's own loader.
#[test]
fn module_string_with_invalid_lzf_fails_verification() {
    invalid_unframed_lzf_fails("redis-8.2/module-graph.rdb");
}
