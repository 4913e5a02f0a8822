//! Server-written fixtures: every `testdata/rdb/<server>/<name>.rdb` is
//! verified by the library and must match `<name>.expected.json`, written
//! beside it by `testdata/generate.py` from the writing server's own
//! `INFO keyspace`, `TYPE` census and `redis-check-rdb`. A few are also run
//! through the built binary to pin the `verify --json` contract and the exit
//! codes (0 verified, 1 failed verification, 2 could not run).
//!
//! Missing fixture directories (a server the generator could not install)
//! are skipped with a note.

mod common;

use common::{expected_json_path, note, rdb_fixtures, shown};
use redcheck::{Options, RdbReport, verify_rdb};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const TYPE_NAMES: [&str; 7] = ["string", "list", "set", "zset", "hash", "stream", "module"];

struct Fixture {
    rdb: PathBuf,
    expected: Value,
}

/// Fixtures that have their expected report (the generator writes the
/// `.rdb` first; one without its JSON yet is skipped with a note).
fn fixtures() -> Vec<Fixture> {
    let rdbs = rdb_fixtures();
    if rdbs.is_empty() {
        note("no testdata/rdb fixtures: run `python3 testdata/generate.py`");
    }
    let mut out = Vec::new();
    for rdb in rdbs {
        let json = expected_json_path(&rdb);
        let Ok(text) = std::fs::read_to_string(&json) else {
            note(format!(
                "{}: no expected JSON beside it, skipped",
                shown(&rdb)
            ));
            continue;
        };
        let expected: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", shown(&json)));
        out.push(Fixture { rdb, expected });
    }
    for server in common::SERVERS {
        if !out
            .iter()
            .any(|f| f.rdb.parent().is_some_and(|d| d.ends_with(server)))
        {
            note(format!("no fixtures from {server}: skipped"));
        }
    }
    out
}

/// "Now" for the library: the real clock, but never before the expired
/// dataset's keys are due (so `already_expired` cannot depend on a clock
/// that lags the generator's).
fn now_for(expected: &Value) -> i64 {
    let deadline = expected["expire_deadline_ms"].as_i64().unwrap_or(0);
    common::now_ms().max(deadline + 1)
}

fn u(v: &Value, what: &str) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{what}: expected an unsigned integer, found {v}"))
}

fn db_counts(r: &RdbReport) -> Vec<(u64, u64, u64)> {
    r.dbs
        .iter()
        .map(|(db, s)| (*db, s.keys, s.expires))
        .collect()
}

fn type_counts(r: &RdbReport) -> BTreeMap<String, u64> {
    r.types
        .iter()
        .map(|(t, n)| (t.name().to_string(), *n))
        .collect()
}

fn expected_dbs(e: &Value) -> Vec<(u64, u64, u64)> {
    e["dbs"]
        .as_array()
        .expect("expected.dbs is an array")
        .iter()
        .map(|d| {
            (
                u(&d["db"], "dbs[].db"),
                u(&d["keys"], "dbs[].keys"),
                u(&d["expires"], "dbs[].expires"),
            )
        })
        .collect()
}

fn expected_counts(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .map(|m| m.iter().map(|(k, n)| (k.clone(), u(n, k))).collect())
        .unwrap_or_default()
}

/// Compares one library report with the fixture's expected JSON; returns
/// every difference, so one run shows them all.
fn differences(f: &Fixture, r: &RdbReport) -> Vec<String> {
    let e = &f.expected;
    let mut diffs = Vec::new();
    let mut check = |what: &str, ours: String, theirs: String| {
        if ours != theirs {
            diffs.push(format!("{what}: redcheck {ours}, expected {theirs}"));
        }
    };
    // Server-written files are good files: the generator checks that each
    // one passes the server's own checker and loads back.
    let expected_ok = e["checker"]["ok"].as_bool().unwrap_or(true);
    check(
        "ok",
        format!("{} (errors {:?})", r.ok, r.errors),
        format!("{expected_ok} (errors [])"),
    );
    let header = r.header.expect("a fixture has an RDB header");
    check(
        "magic",
        header.magic.as_str().to_string(),
        e["magic"].as_str().unwrap_or("?").to_string(),
    );
    check(
        "rdb_version",
        header.version.to_string(),
        e["rdb_version"].to_string(),
    );
    check(
        "checksum",
        r.checksum.as_str().to_string(),
        e["checksum"].as_str().unwrap_or("?").to_string(),
    );
    check("keys", r.keys.to_string(), e["keys"].to_string());
    check("expires", r.expires.to_string(), e["expires"].to_string());
    check(
        "dbs (db, keys, expires)",
        format!("{:?}", db_counts(r)),
        format!("{:?}", expected_dbs(e)),
    );
    check(
        "types",
        format!("{:?}", type_counts(r)),
        format!("{:?}", expected_counts(&e["types"])),
    );
    // Keys whose expiry was already due when the generator saved them are
    // still in the file; later, more of them may be due.
    let want_expired = u(&e["already_expired"], "already_expired");
    if r.already_expired < want_expired || r.already_expired > r.expires {
        check(
            "already_expired",
            r.already_expired.to_string(),
            format!("at least {want_expired} and at most {}", r.expires),
        );
    }
    // Details the generator also records, checked when present.
    if let Some(rdb_types) = e.get("rdb_types") {
        let ours: BTreeMap<String, u64> = r
            .encodings
            .iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect();
        check(
            "encodings (redis-check-rdb type names)",
            format!("{ours:?}"),
            format!("{:?}", expected_counts(rdb_types)),
        );
    }
    if let Some(ops) = e.get("opcodes") {
        check(
            "functions",
            r.functions.to_string(),
            ops["FUNCTION2"].as_u64().unwrap_or(0).to_string(),
        );
    }
    if let Some(n) = e.get("keys_with_field_ttl") {
        check(
            "keys_with_field_ttl",
            r.keys_with_field_ttl.to_string(),
            n.to_string(),
        );
    }
    if let Some(m) = e.get("module_values") {
        let ours: BTreeMap<String, u64> = r.modules.clone().into_iter().collect();
        check(
            "module values",
            format!("{ours:?}"),
            format!("{:?}", expected_counts(m)),
        );
    }
    diffs
}

#[test]
fn every_fixture_matches_its_expected_report() {
    let fixtures = fixtures();
    let mut failures = Vec::new();
    for f in &fixtures {
        let data = std::fs::read(&f.rdb).expect("read fixture");
        let options = Options {
            now_ms: now_for(&f.expected),
            ..Options::default()
        };
        let name = shown(&f.rdb);
        let r = common::within(Duration::from_secs(60), &name, move || {
            verify_rdb(&data, &options)
        });
        for d in differences(f, &r) {
            failures.push(format!("{name}: {d}"));
        }
    }
    eprintln!("checked {} fixtures", fixtures.len());
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every dataset the generator knows ends up in the expected JSON with the
/// writing server's verdict; a fixture the server refused would never have
/// been kept. This pins that the datasets the issue asks for are present
/// for each server that has fixtures at all.
#[test]
fn fixtures_cover_the_required_datasets() {
    let fixtures = fixtures();
    let mut by_server: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &fixtures {
        let server = f.expected["server"].as_str().unwrap_or("?").to_string();
        let dir = f.rdb.parent().and_then(Path::file_name);
        assert_eq!(
            dir.map(|d| d.to_string_lossy().into_owned()),
            Some(server.clone()),
            "{}: expected.server does not name its directory",
            shown(&f.rdb)
        );
        let stem = f.rdb.file_stem().unwrap_or_default();
        by_server
            .entry(server)
            .or_default()
            .push(stem.to_string_lossy().into_owned());
    }
    for (server, names) in &by_server {
        for want in ["all-types", "empty", "expired", "nochecksum", "nocompress"] {
            assert!(
                names.iter().any(|n| n == want),
                "{server}: no {want} fixture (have {names:?})"
            );
        }
    }
    // The checksum-off fixture must really be checksum-off, and the
    // expired one must really hold expired keys: otherwise the tests
    // built on them prove nothing.
    for f in &fixtures {
        let stem = f.rdb.file_stem().unwrap_or_default().to_string_lossy();
        if stem == "nochecksum" {
            assert_eq!(f.expected["checksum"], "disabled", "{}", shown(&f.rdb));
        }
        if stem == "expired" {
            assert!(
                u(&f.expected["already_expired"], "already_expired") > 0,
                "{}: expired dataset without expired keys",
                shown(&f.rdb)
            );
        }
    }
}

/// An emptied stream (XADD then XDEL everything) is a real key: servers
/// load it (`TYPE` says stream, `XLEN` 0) and `redis-check-rdb` accepts the
/// file and counts it. The "empty key" error, which is right for lists,
/// sets, zsets and hashes, must not claim that for a stream.
#[test]
fn empty_stream_is_not_reported_as_skipped_on_load() {
    let mut wrong = Vec::new();
    for f in fixtures() {
        let data = std::fs::read(&f.rdb).expect("read fixture");
        let r = verify_rdb(&data, &Options::default());
        for w in r.warnings.iter().chain(&r.errors) {
            if w.type_name == Some("stream") && w.message.contains("empty key") {
                wrong.push(format!("{}: {w}", shown(&f.rdb)));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "servers keep empty streams, but redcheck says they are dropped:\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------
// The binary: JSON contract and exit codes

fn redcheck(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_redcheck"))
        .args(args)
        .output()
        .expect("run redcheck")
}

fn verify_json(paths: &[&Path]) -> (i32, Vec<Value>) {
    let mut args: Vec<&std::ffi::OsStr> = vec!["verify".as_ref(), "--json".as_ref()];
    args.extend(paths.iter().map(|p| p.as_os_str()));
    let out = redcheck(&args);
    let stdout = String::from_utf8(out.stdout).expect("JSON output is UTF-8");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (out.status.code().unwrap_or(-1), lines)
}

fn is_uint(v: &Value) -> bool {
    v.is_u64()
}

/// Checks one `verify --json` object against the contract in issue 2.
fn assert_contract(v: &Value, path: &str) {
    let ctx = format!("{path}: {v}");
    assert_eq!(v["schema_version"], 1, "schema_version, {ctx}");
    assert_eq!(v["path"], path, "path, {ctx}");
    assert_eq!(v["format"], "rdb", "format, {ctx}");
    assert!(v["ok"].is_boolean(), "ok, {ctx}");
    assert!(
        v["magic"].is_null() || v["magic"] == "REDIS" || v["magic"] == "VALKEY",
        "magic, {ctx}"
    );
    assert!(
        v["rdb_version"].is_null() || is_uint(&v["rdb_version"]),
        "rdb_version, {ctx}"
    );
    assert!(
        ["ok", "mismatch", "disabled", "absent"]
            .iter()
            .any(|c| v["checksum"] == *c),
        "checksum, {ctx}"
    );
    for f in ["keys", "expires", "already_expired"] {
        assert!(is_uint(&v[f]), "{f}, {ctx}");
    }
    let dbs = v["dbs"].as_array().expect("dbs is an array");
    let mut last = None;
    for d in dbs {
        for f in ["db", "keys", "expires"] {
            assert!(is_uint(&d[f]), "dbs[].{f}, {ctx}");
        }
        assert!(d["keys"].as_u64() > Some(0), "dbs lists empty dbs, {ctx}");
        let db = d["db"].as_u64();
        assert!(last < db, "dbs not ascending, {ctx}");
        last = db;
    }
    let types = v["types"].as_object().expect("types is an object");
    for (name, n) in types {
        assert!(TYPE_NAMES.contains(&name.as_str()), "type {name}, {ctx}");
        assert!(n.as_u64() > Some(0), "types.{name}, {ctx}");
    }
    for list in ["errors", "warnings"] {
        for f in v[list].as_array().expect("errors/warnings are arrays") {
            assert!(is_uint(&f["offset"]), "{list}[].offset, {ctx}");
            assert!(f["db"].is_null() || is_uint(&f["db"]), "{list}[].db, {ctx}");
            let key = &f["key"];
            assert!(
                key.is_null() || key.is_string() || key["base64"].is_string(),
                "{list}[].key, {ctx}"
            );
            assert!(
                f["type"].is_null() || f["type"].is_string(),
                "{list}[].type, {ctx}"
            );
            assert!(f["message"].is_string(), "{list}[].message, {ctx}");
        }
    }
    assert_eq!(
        v["ok"].as_bool(),
        Some(v["errors"].as_array().is_some_and(Vec::is_empty)),
        "ok must mean no errors, {ctx}"
    );
}

/// The JSON says what the library says.
fn assert_json_matches(v: &Value, r: &RdbReport) {
    let h = r.header.expect("header");
    assert_eq!(v["ok"], r.ok);
    assert_eq!(v["magic"], h.magic.as_str());
    assert_eq!(v["rdb_version"], h.version);
    assert_eq!(v["checksum"], r.checksum.as_str());
    assert_eq!(v["keys"], r.keys);
    assert_eq!(v["expires"], r.expires);
    let dbs: Vec<(u64, u64, u64)> = v["dbs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["db"].as_u64().unwrap(),
                d["keys"].as_u64().unwrap(),
                d["expires"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(dbs, db_counts(r));
    assert_eq!(expected_counts(&v["types"]), type_counts(r));
    assert_eq!(v["errors"].as_array().unwrap().len(), r.errors.len());
    assert_eq!(v["warnings"].as_array().unwrap().len(), r.warnings.len());
}

#[test]
fn json_contract_on_fixtures() {
    let fixtures = fixtures();
    // A few per server: the richest file and the expired one.
    let picked: Vec<&Fixture> = fixtures
        .iter()
        .filter(|f| {
            let stem = f.rdb.file_stem().unwrap_or_default();
            stem == "all-types" || stem == "expired" || stem == "nochecksum"
        })
        .collect();
    if picked.is_empty() {
        note("no fixtures for the JSON contract test: skipped");
        return;
    }
    // One invocation, several inputs: one object per input, in order.
    let paths: Vec<&Path> = picked.iter().map(|f| f.rdb.as_path()).collect();
    let (code, lines) = verify_json(&paths);
    assert_eq!(code, 0, "every fixture verifies: {lines:?}");
    assert_eq!(lines.len(), picked.len(), "one JSON line per input");
    for (f, v) in picked.iter().zip(&lines) {
        let path = f.rdb.to_string_lossy();
        assert_contract(v, &path);
        let data = std::fs::read(&f.rdb).unwrap();
        let r = verify_rdb(
            &data,
            &Options {
                now_ms: common::now_ms(),
                ..Options::default()
            },
        );
        assert_json_matches(v, &r);
        // And the expected report, through the binary this time.
        let e = &f.expected;
        assert_eq!(v["ok"], true, "{path}");
        assert_eq!(v["keys"], e["keys"], "{path}");
        assert_eq!(v["expires"], e["expires"], "{path}");
        assert_eq!(v["magic"], e["magic"], "{path}");
        assert_eq!(v["rdb_version"], e["rdb_version"], "{path}");
        assert_eq!(v["checksum"], e["checksum"], "{path}");
        assert_eq!(
            expected_counts(&v["types"]),
            expected_counts(&e["types"]),
            "{path}"
        );
        let deadline = e["expire_deadline_ms"].as_i64().unwrap_or(0);
        if common::now_ms() > deadline {
            assert!(
                v["already_expired"].as_u64() >= e["already_expired"].as_u64(),
                "{path}: already_expired {} < {}",
                v["already_expired"],
                e["already_expired"]
            );
        }
    }
    eprintln!("JSON contract checked on {} fixtures", picked.len());
}

/// A fixture to damage for the exit-code tests (any will do).
fn some_fixture() -> Option<PathBuf> {
    let all = rdb_fixtures();
    all.iter()
        .find(|p| p.file_stem().is_some_and(|s| s == "all-types"))
        .or(all.first())
        .cloned()
}

#[test]
fn exit_codes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let text = tmp.path().join("notes.txt");
    std::fs::write(&text, "this is not an RDB file\n").unwrap();
    let empty = tmp.path().join("empty.rdb");
    std::fs::write(&empty, b"").unwrap();
    let missing = tmp.path().join("no-such-file.rdb");

    // Not an RDB at all, or empty: a failed verification, not a usage error.
    for p in [&text, &empty] {
        let (code, lines) = verify_json(&[p]);
        assert_eq!(code, 1, "{}: {lines:?}", p.display());
        assert_eq!(lines.len(), 1);
        assert_contract(&lines[0], &p.to_string_lossy());
        assert_eq!(lines[0]["ok"], false);
        assert!(!lines[0]["errors"].as_array().unwrap().is_empty());
        let human = redcheck(&["verify".as_ref(), p.as_os_str()]);
        assert_eq!(human.status.code(), Some(1), "{}", p.display());
    }
    // A path that cannot be opened, and bad arguments: could not run.
    let out = redcheck(&["verify".as_ref(), missing.as_os_str()]);
    assert_eq!(out.status.code(), Some(2), "missing path");
    // A directory (not an AOF one) stands for its files: these two fail.
    let out = redcheck(&["verify".as_ref(), tmp.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "a directory of files");
    let empty_dir = tempfile::tempdir().expect("temp dir");
    let out = redcheck(&["verify".as_ref(), empty_dir.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(2), "an empty directory");
    for bad in [
        &["verify"][..],
        &["verify", "--no-such-flag", "x.rdb"],
        &["no-such-subcommand"],
        &[],
    ] {
        let args: Vec<&std::ffi::OsStr> = bad.iter().map(|a| a.as_ref()).collect();
        let out = redcheck(&args);
        assert_eq!(out.status.code(), Some(2), "arguments {bad:?}");
    }

    let Some(good) = some_fixture() else {
        note("no fixture: good/corrupt exit codes skipped");
        return;
    };
    let out = redcheck(&["verify".as_ref(), good.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", good.display());
    let out = redcheck(&["verify".as_ref(), "--quiet".as_ref(), good.as_os_str()]);
    assert_eq!(out.status.code(), Some(0));

    // A corrupted copy: one byte in the middle of the body flipped (the
    // CRC catches it even where the value still parses), and a truncation.
    let data = std::fs::read(&good).unwrap();
    let mut flipped = data.clone();
    let mid = data.len() / 2;
    flipped[mid] ^= 0xff;
    let bad = tmp.path().join("flipped.rdb");
    std::fs::write(&bad, &flipped).unwrap();
    let truncated = tmp.path().join("truncated.rdb");
    std::fs::write(&truncated, &data[..data.len() * 2 / 3]).unwrap();
    for p in [&bad, &truncated] {
        let (code, lines) = verify_json(&[p]);
        assert_eq!(code, 1, "{}: {lines:?}", p.display());
        assert_contract(&lines[0], &p.to_string_lossy());
        assert_eq!(lines[0]["ok"], false);
    }
    // Several inputs: the worst verdict wins, and every input is reported.
    let (code, lines) = verify_json(&[&good, &bad]);
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["ok"], true);
    assert_eq!(lines[1]["ok"], false);
    let (code, lines) = verify_json(&[&good, &missing, &bad]);
    assert_eq!(code, 2, "could-not-run outranks failed");
    assert_eq!(lines.len(), 2, "the unreadable input prints no object");
}
