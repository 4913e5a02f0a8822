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
