//! The drop-in for `redis-check-rdb`: the binary run through a link of
//! that name, and `redcheck check-rdb`, on every RDB fixture. Each prints
//! the checker's lines and exits as the real checker did when the fixture
//! was written (`checker` in its `.expected.json`: exit status, keys read,
//! expires). A cut copy fails with the checker's error block. The
//! verification runs on every core beside the framing pass of the running
//! commentary, so the test also holds that split to the same output on
//! every input.

mod common;

use common::aof::run_tool;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn redcheck() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_redcheck"))
}

/// Runs `program` with `args` and nothing on standard input; returns
/// (stdout, exit status).
fn run(program: &Path, args: &[&str]) -> (String, i32) {
    run_tool(program, args, "")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn the_drop_in_prints_and_exits_as_the_checker_did_on_every_fixture() {
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("redis-check-rdb");
    std::os::unix::fs::symlink(redcheck(), &link).unwrap();
    let mut checked = 0;
    for path in common::rdb_fixtures() {
        let expected_path = path.with_extension("expected.json");
        let expected: Value =
            serde_json::from_slice(&std::fs::read(&expected_path).unwrap()).unwrap();
        let checker = &expected["checker"];
        let what = path.display().to_string();

        let (out, code) = run(&link, &[s(&path)]);
        let (sub, sub_code) = run(&redcheck(), &["check-rdb", s(&path)]);
        assert_eq!(
            (&sub, sub_code),
            (&out, code),
            "{what}: check-rdb subcommand"
        );
        assert_eq!(
            out.lines().next(),
            Some(format!("[offset 0] Checking RDB file {}", path.display()).as_str()),
            "{what}"
        );
        let want_exit = checker["exit"].as_i64().unwrap();
        assert_eq!(i64::from(code), want_exit, "{what}:\n{out}");
        if want_exit == 0 {
            assert!(out.contains("\\o/ RDB looks OK! \\o/"), "{what}:\n{out}");
            assert!(!out.contains("--- RDB ERROR DETECTED ---"), "{what}");
            for (field, line) in [("keys_read", "keys read"), ("expires", "expires")] {
                let n = checker[field].as_u64().unwrap();
                assert!(
                    out.contains(&format!("\n[info] {n} {line}\n")),
                    "{what}: {line} {n}:\n{out}"
                );
            }
        }

        // Cut at two thirds: the error block, exit status 1.
        let data = std::fs::read(&path).unwrap();
        let cut = tmp.path().join("cut.rdb");
        std::fs::write(&cut, &data[..data.len() * 2 / 3]).unwrap();
        let (out, code) = run(&link, &[s(&cut)]);
        assert_eq!(code, 1, "{what} cut:\n{out}");
        assert!(
            out.contains("--- RDB ERROR DETECTED ---"),
            "{what} cut:\n{out}"
        );
        assert!(!out.contains("RDB looks OK"), "{what} cut");
        checked += 1;
    }
    assert!(checked > 0, "no RDB fixtures");
}
