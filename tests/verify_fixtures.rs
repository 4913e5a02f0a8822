//! Every server-written fixture in testdata/rdb verifies, with the counts the
//! writing server itself reported (INFO keyspace, TYPE over SCAN) recorded in
//! the `.expected.json` beside it by testdata/generate.py.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rdb");
    let mut out = Vec::new();
    for server in std::fs::read_dir(&root).expect("testdata/rdb exists") {
        let server = server.expect("readable").path();
        for f in std::fs::read_dir(&server).expect("readable") {
            let p = f.expect("readable").path();
            if p.extension().is_some_and(|e| e == "rdb") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn verify_json(path: &Path) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_redcheck"))
        .args(["verify", "--json"])
        .arg(path)
        .output()
        .expect("redcheck runs");
    let line = String::from_utf8(out.stdout).expect("utf-8 JSON");
    let v: Value = serde_json::from_str(line.lines().next().unwrap_or("null"))
        .expect("one JSON object per line");
    (out.status.code().unwrap_or(-1), v)
}

/// `(db, keys, expires)` per entry of a report's or an expectation's `dbs`.
fn db_counts(v: &Value) -> Vec<(u64, u64, u64)> {
    let n = |d: &Value, k: &str| d[k].as_u64().expect("a count");
    v["dbs"]
        .as_array()
        .expect("dbs array")
        .iter()
        .map(|d| (n(d, "db"), n(d, "keys"), n(d, "expires")))
        .collect()
}

#[test]
fn every_fixture_matches_what_its_server_reported() {
    let files = fixtures();
    assert!(
        files.len() >= 30,
        "expected the generated fixtures, found {}",
        files.len()
    );
    for rdb in files {
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(rdb.with_extension("expected.json"))
                .expect("expected.json beside the fixture"),
        )
        .expect("valid JSON");
        let (code, got) = verify_json(&rdb);
        let name = rdb.display();
        assert_eq!(code, 0, "{name}: exit code; errors: {}", got["errors"]);
        assert_eq!(got["schema_version"], 1, "{name}");
        assert_eq!(got["format"], "rdb", "{name}");
        assert_eq!(got["ok"], true, "{name}");
        for field in ["keys", "expires", "rdb_version", "magic", "checksum"] {
            assert_eq!(got[field], expected[field], "{name}: {field}");
        }
        let (dbs, want) = (db_counts(&got), db_counts(&expected));
        assert_eq!(dbs, want, "{name}: per-db counts");
        assert_eq!(got["types"], expected["types"], "{name}: types");
        let already = expected["already_expired"].as_u64().unwrap_or(0);
        assert!(
            got["already_expired"].as_u64().unwrap() >= already,
            "{name}: already_expired"
        );
        for w in got["warnings"].as_array().unwrap() {
            for k in ["offset", "db", "key", "type", "message"] {
                assert!(w.get(k).is_some(), "{name}: warning lacks {k}");
            }
        }
    }
}

#[test]
fn exit_codes_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rdb/redis-7.0/all-types.rdb");
    let data = std::fs::read(&good).unwrap();

    // A flipped byte inside the body: the CRC catches it.
    let mut flipped = data.clone();
    flipped[data.len() / 2] ^= 0xff;
    let bad = dir.path().join("flipped.rdb");
    std::fs::write(&bad, &flipped).unwrap();
    let (code, v) = verify_json(&bad);
    assert_eq!(code, 1);
    assert_eq!(v["ok"], false);
    assert!(!v["errors"].as_array().unwrap().is_empty());

    // Not an RDB, and empty: verification failures, not usage errors.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hello world\n").unwrap();
    assert_eq!(verify_json(&text).0, 1);
    let empty = dir.path().join("empty.rdb");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(verify_json(&empty).0, 1);

    // Cannot run: a missing path, bad arguments.
    assert_eq!(verify_json(&dir.path().join("missing.rdb")).0, 2);
    let status = Command::new(env!("CARGO_BIN_EXE_redcheck"))
        .args(["verify", "--expect-keys", "ten", "x.rdb"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

#[test]
fn gates_fail_with_a_message_naming_the_gate() {
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rdb/redis-7.0/all-types.rdb");
    let (_, v) = verify_json(&good);
    let keys = v["keys"].as_u64().unwrap();
    let run = |args: &[String]| {
        let out = Command::new(env!("CARGO_BIN_EXE_redcheck"))
            .arg("verify")
            .args(args)
            .arg(&good)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(run(&["--expect-keys".into(), keys.to_string()]).0, Some(0));
    assert_eq!(
        run(&["--expect-keys".into(), format!("{}..", keys + 1)]).0,
        Some(1)
    );
    let (code, text) = run(&["--expect-key".into(), "no-such-key-anywhere".into()]);
    assert_eq!(code, Some(1));
    assert!(text.contains("gate --expect-key"), "{text}");
    // The fixture was written in the past; a one-second max age must fail.
    let (code, text) = run(&["--max-age".into(), "1s".into()]);
    assert_eq!(code, Some(1));
    assert!(text.contains("gate --max-age"), "{text}");
}

#[test]
fn truncation_anywhere_fails_without_panicking() {
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rdb/valkey-9.1/hfe.rdb");
    let data = std::fs::read(good).unwrap();
    let options = redcheck::Options::default();
    for cut in (0..data.len()).step_by(7) {
        let r = redcheck::verify_rdb(&data[..cut], &options);
        assert!(!r.ok, "truncated at {cut} still verified");
        let first = r.errors.first().expect("an error");
        assert!(
            first.offset <= cut as u64,
            "error offset {} beyond the cut {cut}",
            first.offset
        );
    }
}

/// The report without its `path`, which names how the input was given.
fn without_path(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("path");
    }
    v
}

#[test]
fn mapped_read_and_stdin_inputs_give_the_same_report() {
    for f in fixtures() {
        let (code, mapped) = verify_json(&f);
        let out = Command::new(env!("CARGO_BIN_EXE_redcheck"))
            .args(["verify", "--json", "--no-mmap"])
            .arg(&f)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{}", f.display());
        let read: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(read, mapped, "{}: --no-mmap", f.display());
        let out = Command::new(env!("CARGO_BIN_EXE_redcheck"))
            .args(["verify", "--json", "-"])
            .stdin(std::fs::File::open(&f).unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{}", f.display());
        let piped: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(piped["path"], "-");
        assert_eq!(
            without_path(piped),
            without_path(mapped),
            "{}: stdin",
            f.display()
        );
    }
}

#[test]
fn several_inputs_give_one_line_each_and_the_worst_exit_code() {
    let all = fixtures();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("truncated.rdb");
    let data = std::fs::read(&all[0]).unwrap();
    std::fs::write(&bad, &data[..data.len() / 2]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_redcheck"))
        .args(["verify", "--json"])
        .arg(&all[0])
        .arg(&bad)
        .arg(&all[1])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verdicts: Vec<(String, bool)> = lines
        .iter()
        .map(|v| (v["path"].as_str().unwrap().to_string(), v["ok"] == true))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            (all[0].display().to_string(), true),
            (bad.display().to_string(), false),
            (all[1].display().to_string(), true),
        ]
    );
}
