//! Conformance over the shared corpus (`../shared/corpus/EXPECTED.json`):
//! real RDB files from other projects, each with what Redis 6.2/7.0/8.2 and
//! Valkey 9.1 and their checkers did with it. Every `valid` RDB verifies
//! with the listed key counts, every `corrupt` one fails, `disputed` ones
//! are printed. Where redcheck and EXPECTED.json disagree, the file is in
//! [`KNOWN_DISAGREEMENTS`] with its reason (also in
//! `testdata/DISAGREEMENTS.md`), and the reason is checked here, not
//! assumed. Skipped, with a note, when the corpus is absent.

mod common;

use common::{Outcome, note};
use redcheck::rdb::{Header, Record, Records};
use redcheck::salvage::{SalvageOptions, salvage_rdb};
use redcheck::{Options, RdbReport, verify_rdb};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Corpus files where redcheck's verdict differs from EXPECTED.json, and
/// why redcheck is right. Each is re-checked by
/// [`duplicate_keys_are_real`].
const KNOWN_DISAGREEMENTS: &[(&str, &str)] = &[
    (
        "leonchen83__redis-rdb-cli/src/test/resources/rdt/12.rdb",
        DUPLICATE_KEYS,
    ),
    (
        "leonchen83__redis-rdb-cli/src/test/resources/rdt/89.rdb",
        DUPLICATE_KEYS,
    ),
    (
        "leonchen83__redis-rdb-cli/_history/82e08e72de/src/test/resources/rdt/34.rdb",
        DUPLICATE_KEYS,
    ),
    (
        "leonchen83__redis-rdb-cli/_history/36325a46b3/src/test/resources/rdt/89.rdb",
        DUPLICATE_KEYS,
    ),
    (
        "leonchen83__redis-rdb-cli/_history/40408e638b/src/test/resources/rdt/string.rdb",
        DUPLICATE_KEYS,
    ),
];

const DUPLICATE_KEYS: &str = "\"valid\" only because no server could load it (it needs a module) \
     and the checkers accept it; it holds duplicated top-level keys in one db, \
     which every server aborts on (rdbLoad: \"Duplicate key\")";

/// The claim in DISAGREEMENTS.md, pinned byte for byte: `rdt/89.rdb` holds
/// the key `my` three times in db 0, at these record offsets.
const RDT89: &str = "leonchen83__redis-rdb-cli/src/test/resources/rdt/89.rdb";
const RDT89_MY_OFFSETS: [u64; 3] = [292, 422, 4541];

fn disagreement(path: &str) -> Option<&'static str> {
    KNOWN_DISAGREEMENTS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, why)| *why)
}

struct Entry {
    path: String,
    expect: String,
    why: String,
    keys: Option<u64>,
    keys_per_db: Option<BTreeMap<u64, u64>>,
}

fn rdb_entries() -> Option<(PathBuf, Vec<Entry>)> {
    let Some((dir, files)) = common::corpus_entries() else {
        note("no ../shared/corpus/EXPECTED.json: corpus conformance skipped");
        return None;
    };
    let entries = files
        .iter()
        .filter(|f| f["kind"] == "rdb")
        .map(|f| Entry {
            path: f["path"].as_str().expect("path").to_string(),
            expect: f["expect"].as_str().expect("expect").to_string(),
            why: f["why"].as_str().unwrap_or("").to_string(),
            keys: f["keys"].as_u64(),
            keys_per_db: f["keys_per_db"].as_object().map(|m| {
                m.iter()
                    .map(|(db, n)| (db.parse().expect("db number"), n.as_u64().expect("count")))
                    .collect()
            }),
        })
        .collect();
    Some((dir, entries))
}

fn verify_file(path: &Path) -> RdbReport {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let what = path.display().to_string();
    common::within(Duration::from_secs(120), &what, move || {
        verify_rdb(&data, &Options::default())
    })
}

fn first_error(r: &RdbReport) -> String {
    r.errors
        .first()
        .map(|e| e.to_string())
        .unwrap_or_else(|| "no errors".into())
}

#[test]
fn corpus_verdicts_match_expected() {
    let Some((dir, entries)) = rdb_entries() else {
        return;
    };
    for (path, _) in KNOWN_DISAGREEMENTS {
        let e = entries.iter().find(|e| e.path == *path);
        assert!(
            e.is_some_and(|e| e.expect == "valid"),
            "{path}: listed as a known disagreement, but EXPECTED.json no longer says it is \
             valid; update KNOWN_DISAGREEMENTS and testdata/DISAGREEMENTS.md"
        );
    }
    let mut failures = Vec::new();
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for e in &entries {
        let r = verify_file(&dir.join(&e.path));
        let verdict = if r.ok { "ok" } else { "failed" };
        *counts.entry((e.expect.as_str(), verdict)).or_default() += 1;
        match e.expect.as_str() {
            "valid" if disagreement(&e.path).is_some() => {
                if r.ok {
                    failures.push(format!(
                        "{}: a known disagreement, but redcheck now accepts it",
                        e.path
                    ));
                }
            }
            "valid" => {
                if !r.ok {
                    failures.push(format!(
                        "{}: valid ({}), redcheck fails it: {}",
                        e.path,
                        e.why,
                        first_error(&r)
                    ));
                    continue;
                }
                if let Some(k) = e.keys
                    && k != r.keys
                {
                    failures.push(format!("{}: {} keys, expected {k}", e.path, r.keys));
                }
                if let Some(per_db) = &e.keys_per_db {
                    let ours: BTreeMap<u64, u64> =
                        r.dbs.iter().map(|(db, s)| (*db, s.keys)).collect();
                    if &ours != per_db {
                        failures.push(format!(
                            "{}: keys per db {ours:?}, expected {per_db:?}",
                            e.path
                        ));
                    }
                }
            }
            "corrupt" => {
                if r.ok {
                    failures.push(format!(
                        "{}: corrupt ({}), redcheck accepts it",
                        e.path, e.why
                    ));
                }
            }
            _ => eprintln!(
                "disputed {} ({}): redcheck {verdict}; {}",
                e.path,
                e.why,
                first_error(&r)
            ),
        }
    }
    eprintln!(
        "corpus RDB files: {} (expected, redcheck): {counts:?}",
        entries.len()
    );
    eprintln!(
        "known disagreements (redcheck fails, EXPECTED.json says valid): {}",
        KNOWN_DISAGREEMENTS.len()
    );
    assert!(
        failures.is_empty(),
        "{} corpus files disagree with EXPECTED.json:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Top-level keys of a file, re-read with the framing iterator alone:
/// (db, key bytes, record offset).
/// Salvage's plausibility rules (writer order, name and count checks) are
/// guesses about what servers write: every corpus file that verifies, from
/// whichever writer, must salvage clean, to the same keys.
#[test]
fn every_file_that_verifies_salvages_clean() {
    let Some((dir, entries)) = rdb_entries() else {
        return;
    };
    let mut checked = 0;
    let mut fail = Vec::new();
    for e in &entries {
        let path = dir.join(&e.path);
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        let data = Arc::new(data);
        let both = Arc::clone(&data);
        let (v, s) = common::within(Duration::from_secs(120), &e.path, move || {
            let v = verify_rdb(&both, &Options::default());
            let s = salvage_rdb(&both, &SalvageOptions::default());
            (v, s)
        });
        if !v.ok {
            continue;
        }
        checked += 1;
        if !s.is_clean() {
            fail.push(format!("{}: {:?}", e.path, s.regions.first()));
        } else if s.intact_keys() != v.keys {
            fail.push(format!(
                "{}: {} keys intact, verify counts {}",
                e.path,
                s.intact_keys(),
                v.keys
            ));
        }
    }
    note(format!("{checked} verifying corpus files salvaged"));
    assert!(fail.is_empty(), "{}", fail.join("\n"));
}

fn keys_of(data: &[u8]) -> Vec<(u64, Vec<u8>, u64)> {
    let header = Header::parse(data).expect("an RDB header");
    let mut db = 0;
    let mut out = Vec::new();
    for item in Records::new(data, header) {
        let item = item.expect("these files frame cleanly");
        match item.record {
            Record::SelectDb { db: n } => db = n,
            Record::Key(k) => {
                let key = k.key.to_bytes().expect("key inflates");
                out.push((db, key.into_owned(), item.offset));
            }
            _ => {}
        }
    }
    out
}

/// The disagreement is evidenced, not assumed: every error redcheck reports
/// on these files is a duplicate key, and re-reading the records shows the
/// reported key really occurs, byte for byte, earlier in the same db.
#[test]
fn duplicate_keys_are_real() {
    let Some((dir, _)) = rdb_entries() else {
        return;
    };
    for (path, _) in KNOWN_DISAGREEMENTS {
        let data = std::fs::read(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let r = verify_rdb(&data, &Options::default());
        assert!(!r.ok, "{path}: redcheck accepts it");
        let keys = keys_of(&data);
        for err in &r.errors {
            assert!(
                err.message.contains("duplicate key"),
                "{path}: an error that is not a duplicate key: {err}"
            );
            let db = err.db.expect("a duplicate key names its db");
            let key = err.key.as_deref().expect("a duplicate key names its key");
            let at = keys
                .iter()
                .position(|(d, k, off)| *d == db && k == key && *off == err.offset)
                .unwrap_or_else(|| {
                    panic!("{path}: no record of that key in db {db} at the reported offset: {err}")
                });
            assert!(
                keys[..at].iter().any(|(d, k, _)| *d == db && k == key),
                "{path}: reported duplicate has no earlier occurrence in db {db}: {err}"
            );
        }
        // And every repeat in the file is reported.
        let mut seen = std::collections::HashSet::new();
        let repeats = keys
            .iter()
            .filter(|(db, k, _)| !seen.insert((*db, k.clone())))
            .count();
        assert_eq!(
            repeats,
            r.errors.len(),
            "{path}: {repeats} repeated keys, {} reported",
            r.errors.len()
        );
        eprintln!("{path}: {repeats} duplicated keys, all byte-equal repeats in one db");
    }
    // The example quoted in DISAGREEMENTS.md.
    let data = std::fs::read(dir.join(RDT89)).expect("rdt/89.rdb");
    let my: Vec<u64> = keys_of(&data)
        .into_iter()
        .filter(|(db, k, _)| *db == 0 && k == b"my")
        .map(|(_, _, off)| off)
        .collect();
    assert_eq!(my, RDT89_MY_OFFSETS, "{RDT89}: offsets of key 'my' in db 0");
}

/// Where servers are installed, load each known-disagreement file into them:
/// a module-free file must make the server abort on exactly the first
/// duplicate redcheck reports (Redis: "RDB has duplicated key '<key>' in
/// DB <n>"; Valkey names only the db);
/// a file with module values is refused for the missing module first, so
/// it is the only case resting on the byte comparison above.
#[test]
fn servers_abort_on_the_duplicated_keys() {
    let Some((dir, _)) = rdb_entries() else {
        return;
    };
    let mut loads = 0;
    for server in ["redis-7.0", "valkey-9.1", "redis-8.2", "redis-6.2"] {
        if common::server_binary(server).is_none() {
            note(format!(
                "{server} not installed: not loading the disagreements into it"
            ));
            continue;
        }
        for (path, _) in KNOWN_DISAGREEMENTS {
            let data = std::fs::read(dir.join(path)).expect("corpus file");
            let r = verify_rdb(&data, &Options::default());
            let version = r.header.map(|h| h.version).unwrap_or(0);
            if server == "redis-6.2" && version > 9 {
                continue; // 6.2 reads RDB 9 at most
            }
            let Some(result) = common::Server::start_with(server, &[], Some(&data)) else {
                continue;
            };
            let log = match result {
                Ok(_running) => panic!("{server} loaded {path}, which redcheck fails"),
                Err(log) => log,
            };
            loads += 1;
            let first = r.errors.first().expect("redcheck reports the duplicate");
            let key = String::from_utf8_lossy(first.key.as_deref().unwrap_or_default());
            let db = first.db.unwrap_or(0);
            if r.modules.is_empty() && r.module_aux.is_empty() {
                // Redis names the key; Valkey only the db.
                let named = format!("RDB has duplicated key '{key}' in DB {db}");
                let unnamed = format!("RDB has duplicated key in DB {db}");
                assert!(
                    log.contains(&named) || log.contains(&unnamed),
                    "{server} on {path}: expected the log to say {named:?}:\n{log}"
                );
            } else {
                assert!(
                    log.contains("module"),
                    "{server} on {path}: expected a missing-module refusal:\n{log}"
                );
                eprintln!("{server} refuses {path} for its module before reaching the duplicates");
            }
        }
    }
    eprintln!("{loads} server loads of known disagreements, all refused");
}

/// Where the servers' own checkers are installed, run each on every corpus
/// RDB (killed after 10 s: they hang on some truncated module values) and
/// print how often they agree with EXPECTED.json and with redcheck. Only
/// printed: EXPECTED.json already folds the checkers' verdicts in.
#[test]
fn server_checkers_on_the_corpus() {
    let Some((dir, entries)) = rdb_entries() else {
        return;
    };
    let checkers: Vec<(&str, PathBuf)> = common::SERVERS
        .iter()
        .filter_map(|s| common::rdb_checker(s).map(|p| (*s, p)))
        .collect();
    if checkers.is_empty() {
        note("no server checker installed: checker comparison skipped");
        return;
    }
    let ours: Arc<Vec<(String, String, bool)>> = Arc::new(
        entries
            .iter()
            .map(|e| {
                let r = verify_file(&dir.join(&e.path));
                (e.path.clone(), e.expect.clone(), r.ok)
            })
            .collect(),
    );
    let handles: Vec<_> = checkers
        .into_iter()
        .map(|(name, checker)| {
            let ours = Arc::clone(&ours);
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut agree_expected = 0;
                let mut agree_redcheck = 0;
                let mut timeouts = 0;
                let mut split = BTreeMap::new();
                for (path, expect, ok) in ours.iter() {
                    let out = common::run_with_timeout(
                        std::process::Command::new(&checker).arg(dir.join(path)),
                        Duration::from_secs(10),
                    );
                    if out == Outcome::Timeout {
                        timeouts += 1;
                    }
                    let accepted = out.accepted();
                    if (expect == "valid" && accepted) || (expect == "corrupt" && !accepted) {
                        agree_expected += 1;
                    }
                    if accepted == *ok {
                        agree_redcheck += 1;
                    }
                    let key = format!(
                        "{expect}/checker {}/redcheck {}",
                        if accepted { "ok" } else { "fail" },
                        if *ok { "ok" } else { "fail" }
                    );
                    *split.entry(key).or_insert(0u64) += 1;
                }
                format!(
                    "{name} checker on {} corpus RDBs: agrees with EXPECTED.json on {agree_expected} \
                     (valid+corrupt only), with redcheck on {agree_redcheck}; {timeouts} timeouts; \
                     {split:?}",
                    ours.len()
                )
            })
        })
        .collect();
    for h in handles {
        eprintln!("{}", h.join().expect("checker thread"));
    }
}
