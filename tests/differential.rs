//! Differential checks of the AOF verdict. For every AOF fixture in
//! `testdata/aof/<server>/` and every AOF in the shared corpus
//! (`../shared/corpus`, skipped when absent), redcheck's verdict
//! (`AofInput::open(..).verify(..)`, `ok()`) is compared with
//!
//! * the real `redis-check-aof` / `valkey-check-aof` of every installed
//!   server (`testdata/servers.py checker NAME aof`), wherever that checker
//!   can read the file at all: a checker older than the file's format
//!   (multi-part sets and `#TS:` annotations before Redis 7.0, an RDB
//!   preamble or base of a version its server does not read) is not an
//!   oracle for it, and is counted as such;
//! * the real server loading the file (the server that wrote a fixture;
//!   for a corpus file the newest installed server that reads its RDB part),
//!   which arbitrates when a checker and redcheck disagree.
//!
//! Every disagreement must be one of the kinds listed in
//! `testdata/DISAGREEMENTS.md` ("AOF verdicts"), recognised here by a rule
//! that re-checks its evidence on every run; anything else fails the test.
//! RDB verdicts are compared with `redis-check-rdb` and the servers in
//! `tests/corpus.rs` and `tests/corruption.rs`.

mod common;

use common::{
    Outcome, Server, aof_checker, corpus_entries, crate_dir, note, run_with_timeout, shown,
};
use redcheck::aof::compat::{self, CheckAofOptions, CompatIo};
use redcheck::aof::dir::AofInput;
use redcheck::aof::{AofOptions, AofReport};
use redcheck::rdb::{Header, Magic};
use redcheck::verify::RdbReport;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SERVERS: [&str; 4] = ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1"];

/// A checker that has not finished in this long is hanging.
const CHECKER_LIMIT: Duration = Duration::from_secs(30);

struct Case {
    what: String,
    /// The AOF file, or the manifest of a multi-part set.
    path: PathBuf,
    /// The server that wrote a fixture.
    writer: Option<&'static str>,
    /// `expect` of EXPECTED.json for a corpus file.
    expect: Option<String>,
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let root = crate_dir().join("testdata/aof");
    for server in SERVERS {
        let Ok(entries) = std::fs::read_dir(root.join(server)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let path = if p.is_dir() {
                p.join("appendonly.aof.manifest")
            } else if p.extension().is_some_and(|x| x == "aof") {
                p.clone()
            } else {
                continue;
            };
            v.push(Case {
                what: shown(&p),
                path,
                writer: Some(server),
                expect: None,
            });
        }
    }
    match corpus_entries() {
        None => {
            note("differential: no shared corpus (../shared/corpus/EXPECTED.json); fixtures only")
        }
        Some((dir, files)) => {
            for f in files {
                if !f["kind"].as_str().is_some_and(|k| k.starts_with("aof")) {
                    continue;
                }
                let rel = f["path"].as_str().expect("corpus path");
                v.push(Case {
                    what: format!("corpus {rel}"),
                    path: dir.join(rel),
                    writer: None,
                    expect: f["expect"].as_str().map(str::to_string),
                });
            }
        }
    }
    v
}

/// The headers of the RDB parts (preamble, base) redcheck found.
fn rdb_headers(r: &AofReport) -> Vec<Header> {
    r.files
        .iter()
        .filter_map(|f| f.rdb.as_ref().and_then(|rdb| rdb.header))
        .collect()
}

/// Whether `server` reads an RDB with this header (what its loader
/// accepts: Redis 6.2 up to RDB 9, 7.0 up to 10, 8.2 up to 12; Valkey 9.1
/// Redis RDB up to 11 and its own `VALKEY080`).
fn server_reads_rdb(server: &str, h: &Header) -> bool {
    match (server, h.magic) {
        ("redis-6.2", Magic::Redis) => h.version <= 9,
        ("redis-7.0", Magic::Redis) => h.version <= 10,
        ("redis-8.2", Magic::Redis) => h.version <= 12,
        ("valkey-9.1", Magic::Redis) => h.version <= 11,
        ("valkey-9.1", Magic::Valkey) => h.version == 80,
        _ => false,
    }
}

/// Why `server` (its checker and its loader) cannot read this input at
/// all, or `None` when it can.
fn unreadable_by(server: &str, r: &AofReport, multipart: bool) -> Option<String> {
    if server == "redis-6.2" {
        if multipart {
            return Some("multi-part AOF is Redis 7.0+".into());
        }
        if r.files.iter().any(|f| f.annotations > 0) {
            return Some("#TS: annotations are Redis 7.0+".into());
        }
    }
    rdb_headers(r)
        .iter()
        .find(|h| !server_reads_rdb(server, h))
        .map(|h| format!("its RDB part is {} version {}", h.magic.as_str(), h.version))
}

/// Loads the input into `server` (a copy, in a temp dir): `Ok` when the
/// server starts with it, `Err(log)` when it refuses. `None` when the
/// server is not installed.
fn server_loads(server: &str, case: &Case, multipart: bool) -> Option<Result<(), String>> {
    let dir = tempfile::Builder::new()
        .prefix("rc-diff-")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let appendfilename = if multipart {
        let src = case.path.parent().expect("manifest dir");
        let dst = dir.path().join("appendonlydir");
        std::fs::create_dir(&dst).unwrap();
        for e in std::fs::read_dir(src).unwrap().flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
            }
        }
        let name = case
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        name.strip_suffix(".manifest").unwrap_or(&name).to_string()
    } else {
        std::fs::copy(&case.path, dir.path().join("appendonly.aof")).unwrap();
        "appendonly.aof".to_string()
    };
    let data_dir = dir.path().to_string_lossy().into_owned();
    let mut config = vec![
        ("appendonly", "yes"),
        ("appendfilename", appendfilename.as_str()),
        ("dir", data_dir.as_str()),
    ];
    if multipart {
        // Redis 6.2 does not know this option (and reads no multi-part set).
        config.push(("appenddirname", "appendonlydir"));
    }
    // The module shipped with a server (FalkorDB with redis-8.2), so its
    // fixtures that hold module data load.
    let module = common::module_for(server).map(|m| m.to_string_lossy().into_owned());
    if let Some(m) = &module {
        config.push(("loadmodule", m.as_str()));
    }
    let started = Server::start_with(server, &config, None)?;
    Some(started.map(|mut s| s.shutdown()))
}

/// A recognised, documented disagreement (testdata/DISAGREEMENTS.md,
/// "AOF verdicts"), or `None`. Each rule checks its evidence.
fn known_disagreement(
    who: &str,
    r: &AofReport,
    ours: bool,
    loaded: Option<&Result<(), String>>,
) -> Option<&'static str> {
    if !ours {
        return None;
    }
    let valkey_base = rdb_headers(r).iter().any(|h| h.magic == Magic::Valkey);
    // valkey-check-aof 9.1 reads a VALKEY-magic base as RESP and calls it a
    // format error (valkey-io/valkey#4739); valkey-server 9.1 loads it.
    if who == "valkey-9.1 checker" && valkey_base && matches!(loaded, Some(Ok(()))) {
        return Some("valkey-check-aof 9.1 rejects a VALKEY base the server loads (valkey#4739)");
    }
    // The server refuses for a module it does not have loaded, and
    // redcheck names that module's data or commands (a warning, as for an
    // RDB with module values: with the module the server loads it).
    if let Some(Err(log)) = loaded {
        let module_types: Vec<&String> = r
            .files
            .iter()
            .filter_map(|f| f.rdb.as_ref())
            .flat_map(|rdb| rdb.modules.keys())
            .collect();
        let missing_type = log.lines().any(|l| {
            l.contains("module data I can't load: no matching module type")
                && module_types.iter().any(|t| l.contains(&format!("'{t}'")))
        });
        let module_commands: Vec<String> = r
            .findings()
            .iter()
            .filter(|(_, f)| f.message.contains("probably a module command"))
            .filter_map(|(_, f)| {
                f.message
                    .split_whitespace()
                    .nth(2)
                    .map(|c| c.trim_end_matches(',').to_lowercase())
            })
            .collect();
        let unknown_command = log.lines().any(|l| {
            l.contains("reading the append only file")
                && module_commands
                    .iter()
                    .any(|c| l.contains(&format!("Unknown command '{c}'")))
        });
        if missing_type || unknown_command {
            return Some("needs a module the server does not have; redcheck warns which");
        }
    }
    None
}

#[test]
fn aof_verdicts_agree_with_the_real_checkers_and_servers() {
    let checkers: Vec<(&str, PathBuf)> = SERVERS
        .iter()
        .filter_map(|s| aof_checker(s).map(|c| (*s, c)))
        .collect();
    if checkers.is_empty() {
        note("differential: no redis-check-aof / valkey-check-aof installed; skipped");
        return;
    }
    let mut failures = Vec::new();
    let (mut compared, mut not_oracle, mut known, mut loads) = (0, 0, 0, 0);
    for case in cases() {
        let input =
            AofInput::open(&case.path, true).unwrap_or_else(|e| panic!("{}: {e}", case.what));
        let multipart = matches!(input, AofInput::MultiPart { .. });
        let r = input.verify(&AofOptions::default());
        let ours = r.ok();
        let findings: Vec<String> = r.findings().iter().map(|(_, f)| f.to_string()).collect();

        if let Some(expect) = &case.expect {
            let want = match expect.as_str() {
                "valid" => Some(true),
                "corrupt" => Some(false),
                _ => None,
            };
            if want.is_some_and(|w| w != ours) {
                failures.push(format!(
                    "{}: EXPECTED.json says {expect}, redcheck ok={ours}: {findings:?}",
                    case.what
                ));
            }
        }

        // The checkers that can read the file, run side by side; the
        // others are not run.
        let oracles: Vec<&(&str, PathBuf)> = checkers
            .iter()
            .filter(|(server, _)| match unreadable_by(server, &r, multipart) {
                Some(why) => {
                    not_oracle += 1;
                    println!("{}: {server}'s checker is no oracle: {why}", case.what);
                    false
                }
                None => true,
            })
            .collect();
        let verdicts: Vec<(&str, Outcome)> = std::thread::scope(|scope| {
            let runs: Vec<_> = oracles
                .iter()
                .map(|(server, checker)| {
                    let path = &case.path;
                    let run = scope.spawn(move || {
                        run_with_timeout(Command::new(checker).arg(path), CHECKER_LIMIT)
                    });
                    (*server, run)
                })
                .collect();
            runs.into_iter()
                .map(|(server, run)| (server, run.join().expect("checker thread")))
                .collect()
        });
        compared += verdicts.len();

        // The server arbitrates for corpus files (nobody has loaded them
        // here before) and wherever a checker disagrees (the fixtures were
        // loaded by their writer when generated). It is the writer, else
        // the newest server that reads the file.
        let disputed = verdicts
            .iter()
            .any(|(_, o)| (*o == Outcome::Exit(0)) != ours);
        let loader = case.writer.or_else(|| {
            ["redis-8.2", "valkey-9.1"]
                .into_iter()
                .find(|s| unreadable_by(s, &r, multipart).is_none())
        });
        let loaded = loader
            .filter(|_| case.writer.is_none() || disputed)
            .and_then(|s| server_loads(s, &case, multipart));
        loads += usize::from(loaded.is_some());
        if let (Some(s), Some(l)) = (loader, &loaded)
            && l.is_ok() != ours
        {
            match known_disagreement(&format!("{s} server"), &r, ours, Some(l)) {
                Some(why) => {
                    known += 1;
                    println!(
                        "{}: {s} refuses it, redcheck ok={ours}: known: {why}",
                        case.what
                    );
                }
                None => failures.push(format!(
                    "{}: {s} {} it, redcheck ok={ours}: {findings:?}\n{}",
                    case.what,
                    if l.is_ok() { "loads" } else { "refuses" },
                    l.as_ref()
                        .err()
                        .map(|log| log.lines().rev().take(5).collect::<Vec<_>>().join("\n"))
                        .unwrap_or_default()
                )),
            }
        }

        for (server, outcome) in verdicts {
            if (outcome == Outcome::Exit(0)) == ours {
                continue;
            }
            match known_disagreement(&format!("{server} checker"), &r, ours, loaded.as_ref()) {
                Some(why) => {
                    known += 1;
                    println!(
                        "{}: {server}'s checker {outcome:?}, redcheck ok={ours}: known: {why}",
                        case.what
                    );
                }
                None => failures.push(format!(
                    "{}: {server}'s checker {outcome:?}, redcheck ok={ours}: {findings:?}",
                    case.what
                )),
            }
        }
    }
    println!(
        "differential: {compared} checker verdicts and {loads} server loads compared, {known} known disagreements, {not_oracle} checkers skipped on files too new for them"
    );
    assert!(compared > 0, "nothing compared");
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Output of the emulation, discarded: only its exit status is compared.
struct Quiet;

impl CompatIo for Quiet {
    fn print(&mut self, _: &str) {}
    fn rdb_check(&mut self, _: &Path, _: &[u8], _: &RdbReport) {}
    fn confirm(&mut self) -> bool {
        false
    }
}

/// `redcheck check-aof` (the emulation) exits as the newest real
/// `redis-check-aof` does on every input that checker can read, corpus
/// files included (`tests/aof_engine.rs` compares its output lines on the
/// fixtures).
#[test]
fn check_aof_emulation_agrees_with_redis_check_aof() {
    let server = "redis-8.2";
    let Some(checker) = aof_checker(server) else {
        note("differential: redis-check-aof 8.2 not installed; skipped");
        return;
    };
    let mut compared = 0;
    for case in cases() {
        let input = AofInput::open(&case.path, true).unwrap();
        let multipart = matches!(input, AofInput::MultiPart { .. });
        let r = input.verify(&AofOptions::default());
        if unreadable_by(server, &r, multipart).is_some() {
            continue;
        }
        let theirs = run_with_timeout(Command::new(&checker).arg(&case.path), CHECKER_LIMIT);
        let opts = CheckAofOptions {
            fix: false,
            truncate_to_timestamp: None,
            file: case.path.clone(),
            tool: "redis-check-aof".into(),
            rdb: redcheck::verify::Options::default(),
            rdb_threads: 0,
        };
        let ours = compat::run(&opts, &mut Quiet);
        assert_eq!(Outcome::Exit(i32::from(ours)), theirs, "{}", case.what);
        compared += 1;
    }
    assert!(compared > 0);
    println!("check-aof emulation: {compared} exit statuses equal to redis-check-aof 8.2");
}
