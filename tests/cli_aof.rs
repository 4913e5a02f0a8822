//! The AOF runbooks end to end, through the `redcheck` binary, on
//! server-written fixtures (testdata/aof/<server>/) and damage derived from
//! them here:
//!
//! * `verify --json` on every form follows the contract;
//! * torn tail: `fix --yes` leaves what the server itself would load, and
//!   what `redis-check-aof --fix` leaves, byte for byte;
//! * damage in the middle: `fix --salvage --output DIR` keeps every key but
//!   the one whose command was destroyed, and the server loads it;
//! * accidental FLUSHALL: `fix --before-flush --output DIR` gives back the
//!   key counts the server had just before the flush;
//! * `fix` is safe by default, and the `redis-check-aof` name behaves like
//!   the real tool.
//!
//! Real servers load every repaired set; tests skip (saying so) where a
//! server or checker is not installed.

mod common;

use common::aof::{
    Fixture, checker, comparable, copy_fixture, fixtures, run_tool, same_format, server_dbsizes,
};
use redcheck::aof::{Commands, Item};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn redcheck() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_redcheck"))
}

/// Runs redcheck with stdin closed (not a terminal); returns (stdout, exit).
fn run(args: &[&str]) -> (String, i32) {
    let out = Command::new(redcheck())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run redcheck");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn run_json(args: &[&str]) -> (Value, i32) {
    let (text, code) = run(args);
    let v = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("redcheck {args:?}: not JSON ({e}): {text}"));
    (v, code)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// Where a server keeps an AOF below `dir`: a single file in `dir` itself,
/// a multi-part set in `dir/appendonlydir`.
fn set_location(dir: &Path, single: bool) -> PathBuf {
    if single {
        dir.to_path_buf()
    } else {
        dir.join("appendonlydir")
    }
}

/// A fixture copied into `tmp` the way a server keeps it: a single file,
/// or the set inside `appendonlydir/`. Returns (path to give redcheck, the
/// name to give the server, single?).
fn stage(f: &Fixture, tmp: &Path) -> (PathBuf, String, bool) {
    let single = f.json["form"] == "single";
    let target = set_location(tmp, single);
    std::fs::create_dir_all(&target).unwrap();
    let path = copy_fixture(f, &target);
    let name = if single {
        path.file_name().unwrap().to_string_lossy().into_owned()
    } else {
        "appendonlydir".to_string()
    };
    (path, name, single)
}

/// The module a fixture's keys need, if any (and whether it is installed).
fn module_of(f: &Fixture) -> Result<Option<PathBuf>, ()> {
    if f.json.get("modules").is_none() {
        return Ok(None);
    }
    common::module_for(&f.server).map(Some).ok_or(())
}

/// Key counts per db when the server of `f` loads the AOF at `dir`/`name`.
fn load(f: &Fixture, dir: &Path, name: &str, single: bool) -> Option<BTreeMap<String, u64>> {
    let module = module_of(f).ok()?;
    server_dbsizes(&f.server, single, dir, name, module.as_deref())
}

fn total(m: &BTreeMap<String, u64>) -> u64 {
    m.values().sum()
}

/// The last file the server loads, from `verify --json`.
fn last_loaded_file(report: &Value) -> PathBuf {
    let files = report["files"].as_array().unwrap();
    let last = files.iter().rfind(|f| f["kind"] != "history").unwrap();
    PathBuf::from(last["path"].as_str().unwrap())
}

/// Removes `.bak.` files so only the set is left for the server.
fn drop_backups(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().contains(".bak.") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
}

fn tree_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    if dir.is_file() {
        m.insert(String::new(), std::fs::read(dir).unwrap());
        return m;
    }
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            continue;
        }
        m.insert(
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(e.path()).unwrap(),
        );
    }
    m
}

#[test]
fn verify_json_on_every_aof_fixture_follows_the_contract() {
    for f in fixtures() {
        let what = format!("{}/{}", f.server, f.case);
        let single = f.json["form"] == "single";
        let mut inputs = vec![f.path.clone()];
        if !single {
            inputs.push(f.path.parent().unwrap().to_path_buf());
        }
        for input in inputs {
            let (v, code) = run_json(&["verify", "--json", s(&input)]);
            assert_eq!(code, 0, "{what}: {v}");
            assert_eq!(v["schema_version"], 1, "{what}");
            assert_eq!(v["path"], s(&input), "{what}");
            assert_eq!(v["ok"], true, "{what}: {v}");
            assert_eq!(
                v["format"],
                if single { "aof" } else { "aof-multipart" },
                "{what}"
            );
            assert!(v["errors"].as_array().unwrap().is_empty(), "{what}");
            assert!(v["warnings"].is_array(), "{what}");
            let files = v["files"].as_array().unwrap();
            let mut commands = 0;
            for file in files {
                for field in ["path", "kind", "size", "commands", "valid_up_to", "ok"] {
                    assert!(file.get(field).is_some(), "{what}: files[].{field} missing");
                }
                let path = PathBuf::from(file["path"].as_str().unwrap());
                let size = std::fs::metadata(&path).unwrap().len();
                assert_eq!(file["size"], size, "{what}: {}", path.display());
                if file["kind"] != "history" {
                    assert_eq!(file["valid_up_to"], size, "{what}: {}", path.display());
                    assert_eq!(file["ok"], true, "{what}: {}", path.display());
                }
                commands += file["commands"].as_u64().unwrap();
            }
            assert_eq!(v["commands"], commands, "{what}: commands = sum over files");
            if single {
                assert_eq!(files.len(), 1, "{what}");
                assert_eq!(files[0]["kind"], "single", "{what}");
            } else {
                // The kinds follow the manifest the server wrote.
                let manifest = f.json["manifest"].as_array().unwrap();
                assert_eq!(files.len(), manifest.len(), "{what}");
                for (file, entry) in files.iter().zip(manifest) {
                    let name = entry["file"].as_str().unwrap();
                    let kind = match entry["type"].as_str().unwrap() {
                        "b" if name.ends_with(".rdb") => "base-rdb",
                        "b" => "base-aof",
                        "i" => "incr",
                        "h" => "history",
                        t => panic!("{what}: manifest type {t}"),
                    };
                    assert_eq!(file["kind"], kind, "{what}: {name}");
                    assert!(file["path"].as_str().unwrap().ends_with(name), "{what}");
                }
            }
        }
    }
}

#[test]
fn verify_reads_an_aof_from_standard_input() {
    let Some(f) = fixtures().into_iter().find(|f| f.json["form"] == "single") else {
        return;
    };
    let data = std::fs::File::open(&f.path).unwrap();
    let out = Command::new(redcheck())
        .args(["verify", "--json", "-"])
        .stdin(data)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["format"], "aof");
    assert_eq!(
        v["files"][0]["size"],
        std::fs::metadata(&f.path).unwrap().len()
    );
}

/// Runbook 1: the server will not start because the tail is torn (or it
/// starts and drops the tail: either way the operator wants a clean file).
#[test]
fn torn_tail_runbook_leaves_what_the_server_and_redis_check_aof_leave() {
    for f in fixtures() {
        let what = format!("{}/{}", f.server, f.case);
        if module_of(&f).is_err() {
            eprintln!("note: {what}: module not installed; skipped");
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        let (input, name, single) = stage(&f, tmp.path());
        let (before, _) = run_json(&["verify", "--json", s(&input)]);
        let last = last_loaded_file(&before);
        let data = std::fs::read(&last).unwrap();
        let resp_start = before["files"]
            .as_array()
            .unwrap()
            .iter()
            .rfind(|x| x["kind"] != "history")
            .and_then(|x| x["rdb"]["end_offset"].as_u64())
            .unwrap_or(0);
        let Some((offset, end)) = Commands::new(&data[resp_start as usize..], resp_start)
            .filter_map(|i| match i {
                Ok(Item::Command(c)) => Some((c.offset, c.end())),
                _ => None,
            })
            .last()
        else {
            continue;
        };
        // Cut inside the last command: after its header, before its end.
        let cut = offset + (end - offset) / 2;
        let file = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
        file.set_len(cut).unwrap();
        drop(file);

        let (torn, code) = run_json(&["verify", "--json", s(&input)]);
        assert_eq!(code, 0, "{what}: a torn tail loads (warning): {torn}");
        assert!(!torn["warnings"].as_array().unwrap().is_empty(), "{what}");
        let (_, strict) = run(&["verify", "--strict", s(&input)]);
        assert_eq!(strict, 1, "{what}: --strict fails on the torn tail");

        // What the real tool leaves, on a copy.
        // (valkey-check-aof 9.1 refuses sets with a VALKEY-magic base; the
        // generator records whether the real tool accepted the fixture.)
        let tool = checker(&f.server).filter(|_| f.json["checker"]["ok"] == true);
        let theirs = tool.map(|tool| {
            let copy = tmp.path().join("theirs");
            std::fs::create_dir_all(&copy).unwrap();
            let target = set_location(&copy, single);
            std::fs::create_dir_all(&target).unwrap();
            let copied = copy_fixture(&f, &target);
            let their_last = target.join(last.file_name().unwrap());
            std::fs::OpenOptions::new()
                .write(true)
                .open(&their_last)
                .unwrap()
                .set_len(cut)
                .unwrap();
            let (_, code) = run_tool(&tool, &["--fix", s(&copied)], "y\n");
            assert_eq!(code, 0, "{what}: redis-check-aof --fix");
            std::fs::read(&their_last).unwrap()
        });
        // What the server makes of the torn set by itself.
        let server_view = load(&f, tmp.path(), &name, single);

        let (out, code) = run(&["fix", "--yes", s(&input)]);
        assert_eq!(code, 0, "{what}: fix --yes: {out}");
        assert!(out.contains("is valid"), "{what}: {out}");
        let fixed = std::fs::read(&last).unwrap();
        assert_eq!(
            fixed.len() as u64,
            offset,
            "{what}: cut back to the last command"
        );
        if let Some(theirs) = theirs {
            assert!(
                fixed == theirs,
                "{what}: differs from redis-check-aof --fix"
            );
        }
        let (after, code) = run_json(&["verify", "--json", s(&input)]);
        assert_eq!(code, 0, "{what}: {after}");
        assert_eq!(after["clean"], true, "{what}: no torn tail left: {after}");
        drop_backups(last.parent().unwrap());
        if let Some(want) = server_view {
            let got = load(&f, tmp.path(), &name, single).expect("server loads the fixed set");
            assert_eq!(got, want, "{what}: the server sees the same data");
        }
    }
}

/// A `SET key value` in the last file whose key appears nowhere else in the
/// set: destroying its record must lose exactly that key.
fn lonely_set(files: &[Vec<u8>], last: &[u8], resp_start: u64) -> Option<(u64, u64)> {
    // Outside MULTI/EXEC: salvage drops a broken transaction whole.
    let mut in_multi = false;
    let mut commands: Vec<(u64, u64, Vec<u8>)> = Vec::new();
    for item in Commands::new(&last[resp_start as usize..], resp_start) {
        let Ok(Item::Command(c)) = item else {
            continue;
        };
        if c.is("MULTI") {
            in_multi = true;
        } else if c.is("EXEC") {
            in_multi = false;
        } else if !in_multi && c.is("SET") && c.args.len() == 3 {
            commands.push((c.offset, c.end(), c.args[1].to_vec()));
        }
    }
    // Prefer one in the middle, so valid commands follow the damage.
    let mid = commands.len() / 2;
    let order = commands[mid..].iter().chain(commands[..mid].iter());
    for (offset, end, key) in order {
        let occurrences: usize = files
            .iter()
            .map(|d| {
                d.windows(key.len())
                    .filter(|w| *w == key.as_slice())
                    .count()
            })
            .sum();
        if occurrences == 1 && key.len() >= 4 {
            return Some((*offset, *end));
        }
    }
    None
}

/// Runbook 2: a file is corrupt in the middle. `redis-check-aof --fix`
/// would cut everything after the damage; salvage keeps it.
#[test]
fn mid_file_damage_runbook_salvages_every_other_command() {
    let mut tried = 0;
    for f in fixtures() {
        let what = format!("{}/{}", f.server, f.case);
        if module_of(&f).is_err() {
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        let (input, name, single) = stage(&f, tmp.path());
        let (before, _) = run_json(&["verify", "--json", s(&input)]);
        let last = last_loaded_file(&before);
        let last_entry = before["files"]
            .as_array()
            .unwrap()
            .iter()
            .rfind(|x| x["kind"] != "history")
            .unwrap()
            .clone();
        let resp_start = last_entry["rdb"]["end_offset"].as_u64().unwrap_or(0);
        let all: Vec<Vec<u8>> = before["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|x| std::fs::read(x["path"].as_str().unwrap()).ok())
            .collect();
        let mut data = std::fs::read(&last).unwrap();
        let Some((offset, end)) = lonely_set(&all, &data, resp_start) else {
            continue;
        };
        let Some(original) = load(&f, tmp.path(), &name, single) else {
            continue;
        };
        tried += 1;
        // Garbage over the whole record (no CR/LF, so nothing in it parses).
        for b in &mut data[offset as usize..end as usize] {
            *b = b'X';
        }
        std::fs::write(&last, &data).unwrap();
        let input_bytes = tree_bytes(input.parent().unwrap());

        let (damaged, code) = run_json(&["verify", "--json", s(&input)]);
        assert_eq!(code, 1, "{what}: damage in the middle fails: {damaged}");
        assert_eq!(damaged["errors"][0]["offset"], offset, "{what}: {damaged}");

        let (plan, code) = run(&["fix", "--dry-run", s(&input)]);
        assert_eq!(code, 0, "{what}");
        assert!(plan.contains("fix --salvage` keeps them"), "{what}: {plan}");

        let out_dir = tmp.path().join("salvaged");
        let out_set = set_location(&out_dir, single);
        let (out, code) = run(&[
            "fix",
            "--salvage",
            "--yes",
            "--output",
            s(&out_set),
            s(&input),
        ]);
        assert_eq!(code, 0, "{what}: {out}");
        assert!(out.contains("1 region skipped"), "{what}: {out}");
        assert_eq!(
            tree_bytes(input.parent().unwrap()),
            input_bytes,
            "{what}: --output leaves the input untouched"
        );
        if let Some(tool) = checker(&f.server).filter(|_| f.json["checker"]["ok"] == true) {
            let result = if single {
                out_set.join(input.file_name().unwrap())
            } else {
                out_set.join("appendonly.aof.manifest")
            };
            let (text, code) = run_tool(&tool, &[s(&result)], "");
            assert_eq!(
                code, 0,
                "{what}: redis-check-aof on the salvaged set: {text}"
            );
        }
        let got = load(&f, &out_dir, &name, single).expect("server loads the salvaged set");
        assert_eq!(
            total(&got) + 1,
            total(&original),
            "{what}: every key but the destroyed one ({got:?} vs {original:?})"
        );
    }
    if tried == 0 {
        eprintln!("note: no fixture with a server to load it; mid-file runbook skipped");
    }
}

/// Runbook 3: someone ran FLUSHALL; the data must come back from just
/// before it, without touching the live files.
#[test]
fn accidental_flushall_runbook_restores_the_keys_before_the_flush() {
    for f in fixtures() {
        let Some(want) = f.json.get("dbsize_per_db_before_flush").cloned() else {
            continue;
        };
        let what = format!("{}/{}", f.server, f.case);
        let tmp = tempfile::tempdir().unwrap();
        let (input, name, single) = stage(&f, tmp.path());
        let input_bytes = tree_bytes(input.parent().unwrap());
        let (v, _) = run_json(&["verify", "--json", s(&input)]);
        assert!(v["flush_count"].as_u64().unwrap() >= 1, "{what}: {v}");

        let out_dir = tmp.path().join("restored");
        let out_set = set_location(&out_dir, single);
        let (out, code) = run(&[
            "fix",
            "--before-flush",
            "--yes",
            "--output",
            s(&out_set),
            s(&input),
        ]);
        assert_eq!(code, 0, "{what}: {out}");
        assert_eq!(tree_bytes(input.parent().unwrap()), input_bytes, "{what}");
        let result = if single {
            out_set.join(input.file_name().unwrap())
        } else {
            out_set.clone()
        };
        let (after, code) = run_json(&["verify", "--json", s(&result)]);
        assert_eq!(code, 0, "{what}: {after}");
        assert_eq!(after["flush_count"], 0, "{what}");
        let Some(got) = load(&f, &out_dir, &name, single) else {
            continue;
        };
        let want: BTreeMap<String, u64> = serde_json::from_value(want).unwrap();
        assert_eq!(got, want, "{what}: key counts just before the flush");
    }
}

#[test]
fn fix_is_safe_by_default() {
    let Some(f) = fixtures()
        .into_iter()
        .find(|f| f.json.get("dbsize_per_db_before_flush").is_some() && f.json["form"] != "single")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (input, _, _) = stage(&f, tmp.path());
    let dir = input.parent().unwrap().to_path_buf();
    let original = tree_bytes(&dir);

    // No terminal and no --yes: nothing is done, exit 1 (declined).
    let (out, code) = run(&["fix", "--before-flush", s(&input)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("declined"), "{out}");
    assert_eq!(tree_bytes(&dir), original);

    // --dry-run shows the plan and changes nothing.
    let (out, code) = run(&["fix", "--before-flush", "--dry-run", s(&input)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cut before the FLUSHALL"), "{out}");
    assert_eq!(tree_bytes(&dir), original);
    let (v, code) = run_json(&["fix", "--before-flush", "--dry-run", "--json", s(&input)]);
    assert_eq!(code, 0);
    assert_eq!(v["plan"]["changes"], true, "{v}");
    assert!(v["plan"]["commands_lost"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["applied"], Value::Null);

    // --output into the input's own directory is refused (could not run).
    let (_, code) = run(&[
        "fix",
        "--before-flush",
        "--yes",
        "--output",
        s(&dir),
        s(&input),
    ]);
    assert_eq!(code, 2);
    assert_eq!(tree_bytes(&dir), original);

    // In place: the originals are kept as backups, byte for byte.
    let (out, code) = run(&["fix", "--before-flush", "--yes", s(&input)]);
    assert_eq!(code, 0, "{out}");
    let after = tree_bytes(&dir);
    for (name, bytes) in &original {
        if after.get(name) != Some(bytes) {
            let kept = after
                .iter()
                .find(|(n, _)| n.starts_with(&format!("{name}.bak.")))
                .unwrap_or_else(|| panic!("{name} changed without a backup: {out}"));
            assert_eq!(kept.1, bytes, "{name}: the backup is the original");
        }
    }

    // Not an AOF, missing paths, conflicting modes: could not run.
    let rdb = common::crate_dir().join("testdata/rdb/redis-7.0/all-types.rdb");
    if rdb.exists() {
        assert_eq!(run(&["fix", "--yes", s(&rdb)]).1, 2);
    }
    assert_eq!(run(&["fix", "/nonexistent/appendonlydir"]).1, 2);
    assert_eq!(run(&["fix", "--salvage", "--before-flush", s(&input)]).1, 2);
}

#[test]
fn check_aof_names_behave_like_the_real_tool() {
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("redis-check-aof");
    std::os::unix::fs::symlink(redcheck(), &link).unwrap();
    let mut compared = 0;
    for f in fixtures() {
        let what = format!("{}/{}", f.server, f.case);
        let Some(tool) = checker(&f.server) else {
            continue;
        };
        if f.server.starts_with("valkey") {
            // valkey-check-aof 9.1 rejects VALKEY-magic bases; see README.
            continue;
        }
        let work = tempfile::tempdir().unwrap();
        let (input, _, _) = stage(&f, work.path());
        for damage in [false, true] {
            if damage {
                let (v, _) = run_json(&["verify", "--json", s(&input)]);
                let last = last_loaded_file(&v);
                let mut data = std::fs::read(&last).unwrap();
                let at = data.len() * 2 / 3;
                data[at..at + 2].copy_from_slice(b"\x00!");
                std::fs::write(&last, data).unwrap();
            }
            let (ours, our_code) = run_tool(&link, &[s(&input)], "");
            let (theirs, their_code) = run_tool(&tool, &[s(&input)], "");
            assert_eq!(
                our_code, their_code,
                "{what} damaged={damage}:\n{ours}\n{theirs}"
            );
            if same_format(&f.server) {
                assert_eq!(
                    comparable(&ours),
                    comparable(&theirs),
                    "{what} damaged={damage}"
                );
            }
            let (sub, sub_code) = run(&["check-aof", s(&input)]);
            assert_eq!(sub_code, their_code, "{what}: check-aof subcommand");
            assert_eq!(comparable(&sub), comparable(&ours), "{what}");
            compared += 1;
        }
    }
    if compared == 0 {
        eprintln!("note: no redis-check-aof installed; comparison skipped");
    }
}

/// Point in time: `fix --to-timestamp` leaves what `redis-check-aof
/// --truncate-to-timestamp` leaves when the cut is in the last file, and
/// the server loads the same data from both.
#[test]
fn to_timestamp_matches_redis_check_aof_and_loads() {
    let (mut loaded, mut compared) = (0, 0);
    for f in fixtures() {
        if f.json["timestamps"] != true || module_of(&f).is_err() {
            continue;
        }
        let what = format!("{}/{}", f.server, f.case);
        let tmp = tempfile::tempdir().unwrap();
        let (input, name, single) = stage(&f, tmp.path());
        let (v, _) = run_json(&["verify", "--json", s(&input)]);
        let (Some(first), Some(last)) = (v["first_ts"].as_i64(), v["last_ts"].as_i64()) else {
            panic!("{what}: a timestamped fixture without timestamps: {v}");
        };
        if first == last {
            eprintln!("note: {what}: one timestamp only; nothing to cut");
            continue;
        }
        let t = (last - 1).to_string();
        let ours_dir = tmp.path().join("ours");
        let ours_set = set_location(&ours_dir, single);
        let (out, code) = run(&[
            "fix",
            "--to-timestamp",
            &t,
            "--yes",
            "--output",
            s(&ours_set),
            s(&input),
        ]);
        assert_eq!(code, 0, "{what}: {out}");
        let (after, _) = run_json(&["verify", "--json", s(&ours_set)]);
        assert!(after["last_ts"].as_i64().unwrap() < last, "{what}: {after}");
        let ours = load(&f, &ours_dir, &name, single).expect("server loads the cut set");
        loaded += 1;

        let Some(tool) = checker(&f.server).filter(|_| f.json["checker"]["ok"] == true) else {
            continue;
        };
        // The real tool only cuts the last file; compare where it applies.
        let last_file = last_loaded_file(&v);
        let cut_in_last = after["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["kind"] != "history")
            .count()
            == v["files"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|x| x["kind"] != "history")
                .count();
        if !cut_in_last {
            continue;
        }
        let (text, code) = run_tool(&tool, &["--truncate-to-timestamp", &t, s(&input)], "y\n");
        assert_eq!(code, 0, "{what}: {text}");
        let theirs = std::fs::read(&last_file).unwrap();
        let ours_last = std::fs::read(ours_set.join(last_file.file_name().unwrap())).unwrap();
        assert!(
            ours_last == theirs,
            "{what}: differs from the real tool's cut"
        );
        drop_backups(input.parent().unwrap());
        let theirs_loaded = load(&f, tmp.path(), &name, single).expect("server loads theirs");
        assert_eq!(
            ours, theirs_loaded,
            "{what}: same data as the real tool's cut"
        );
        compared += 1;
    }
    eprintln!(
        "note: {loaded} cut sets loaded by their server, {compared} compared with redis-check-aof"
    );
}

#[test]
fn an_rdb_preamble_aof_is_recognised_by_content_whatever_its_name() {
    let Some(f) = fixtures()
        .into_iter()
        .find(|f| f.json["form"] == "single" && f.json["rdb_preamble"] == true)
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let renamed = tmp.path().join("backup.bin");
    std::fs::copy(&f.path, &renamed).unwrap();
    let (v, code) = run_json(&["verify", "--json", s(&renamed)]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["format"], "aof", "{v}");
    assert!(v["files"][0]["rdb"]["keys"].as_u64().unwrap() > 0, "{v}");
    assert!(v["commands"].as_u64().unwrap() > 0, "{v}");
    // The same bytes cut at the end of the RDB are an RDB.
    let end = v["files"][0]["rdb"]["end_offset"].as_u64().unwrap() as usize;
    let rdb = tmp.path().join("backup.rdb");
    std::fs::write(&rdb, &std::fs::read(&f.path).unwrap()[..end]).unwrap();
    let (v, code) = run_json(&["verify", "--json", s(&rdb)]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["format"], "rdb", "{v}");
}

#[test]
fn verify_salvage_on_an_aof_points_to_fix_salvage() {
    let Some(f) = fixtures().into_iter().next() else {
        return;
    };
    let out = Command::new(redcheck())
        .args(["verify", "--salvage", "--quiet"])
        .arg(&f.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("redcheck fix --salvage"), "{stderr}");
}
