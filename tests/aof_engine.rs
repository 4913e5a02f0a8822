//! Whole-file behaviour of the AOF engine on real server-written fixtures
//! (testdata/aof/<server>/, written by testdata/generate.py with
//! expected.json beside each) and on damage derived from them here: torn
//! tails at every byte of the last command, garbage in the middle,
//! unbalanced MULTI, EXEC without MULTI, missing manifest entries, and
//! every manifest error of FORMATS.md §5 rows 63-70.
//!
//! Where the servers' own `redis-check-aof` is installed
//! (`testdata/servers.py checker`), its `ok_up_to`, output lines and
//! `--fix` result are compared with redcheck's; where a server is
//! installed, repaired sets are loaded by it. Tests skip (saying so on
//! stderr) when fixtures, tools or servers are absent.

mod common;

use common::aof::{
    checker, comparable, copy_fixture, fixtures, ok_up_to, run_tool, same_format, server_dbsizes,
};
use redcheck::aof::compat::{self, CompatIo};
use redcheck::aof::dir::{AofInput, verify_path};
use redcheck::aof::fix::{FileAction, FixMode, SingleFile, plan_fix};
use redcheck::aof::{
    AofForm, AofOptions, AofReport, Commands, FileKind, Item, Tail, verify_multipart, verify_single,
};
use redcheck::verify::RdbReport;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn opts() -> AofOptions {
    AofOptions::default()
}

fn verify(path: &Path) -> (AofInput, AofReport) {
    verify_path(path, false, &opts()).unwrap()
}

/// A command encoded as the server writes it.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    v
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Copies a fixture (file or the directory holding its manifest) into
/// `dst`; returns the path to verify there.
/// The last file a server loads, as (path, bytes).
fn last_loaded(input_path: &Path, r: &AofReport) -> PathBuf {
    let (_, f) = r.loaded_files().last().unwrap();
    match r.form {
        AofForm::MultiPart => input_path
            .parent()
            .unwrap()
            .join(String::from_utf8_lossy(&f.name).into_owned()),
        AofForm::Single { .. } => input_path.to_path_buf(),
    }
}

/// (offset, end) of every command in a file's RESP part.
fn commands_of(data: &[u8], resp_start: u64) -> Vec<(u64, u64)> {
    let region = &data[resp_start as usize..];
    Commands::new(region, resp_start)
        .filter_map(|i| match i {
            Ok(Item::Command(c)) => Some((c.offset, c.end())),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------- tools

/// `redis-check-aof` of a server, if installed.
/// Captures the compat emulation's output.
struct Capture {
    out: String,
    answer: bool,
}

impl CompatIo for Capture {
    fn print(&mut self, s: &str) {
        self.out.push_str(s);
    }
    fn rdb_check(&mut self, _path: &Path, _data: &[u8], _report: &RdbReport) {}
    fn confirm(&mut self) -> bool {
        self.answer
    }
}

fn run_compat(args: &[&str], answer: bool) -> (String, u8) {
    let mut io = Capture {
        out: String::new(),
        answer,
    };
    let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    let code = compat::main("redis-check-aof", &args, &mut io);
    (io.out, code)
}

// ---------------------------------------------------------------- fixtures

#[test]
fn aof_fixtures_verify_clean_and_match_expected() {
    for f in fixtures() {
        let what = format!("{}/{}", f.server, f.case);
        let (_, r) = verify(&f.path);
        assert!(r.ok() && r.clean(), "{what}: {:?}", r.findings());
        assert!(r.commands > 0, "{what}");
        match f.json["form"].as_str() {
            Some("single") => assert!(matches!(r.form, AofForm::Single { .. }), "{what}"),
            _ => assert_eq!(r.form, AofForm::MultiPart, "{what}"),
        }
        let base = f.json["base"].as_str().unwrap_or("");
        match r.form {
            AofForm::Single { preamble } => assert_eq!(preamble, base == "rdb", "{what}"),
            AofForm::MultiPart => {
                let b = r
                    .files
                    .iter()
                    .find(|x| matches!(x.kind, FileKind::BaseRdb | FileKind::BaseAof));
                let want = if base == "rdb" {
                    FileKind::BaseRdb
                } else {
                    FileKind::BaseAof
                };
                assert_eq!(b.map(|b| b.kind), Some(want), "{what}");
                let m = r.manifest.as_ref().unwrap();
                let listed: Vec<(String, i64, String)> = m
                    .entries()
                    .map(|e| {
                        (
                            String::from_utf8_lossy(&e.file_name).into_owned(),
                            e.file_seq,
                            (e.file_type.letter() as char).to_string(),
                        )
                    })
                    .collect();
                let mut listed = listed;
                listed.sort();
                let mut want: Vec<(String, i64, String)> = f.json["manifest"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        (
                            e["file"].as_str().unwrap().to_string(),
                            e["seq"].as_i64().unwrap(),
                            e["type"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect();
                want.sort();
                assert_eq!(listed, want, "{what}");
            }
        }
        if f.json["timestamps"] == true {
            assert!(r.first_ts.is_some() && r.first_ts <= r.last_ts, "{what}");
        }
        if f.json.get("keys_before_flush").is_some() {
            assert!(!r.flushes.is_empty(), "{what}: no FLUSHALL found");
        }
        assert!(r.dbs.contains(&0), "{what}");
    }
}

/// The RDB preamble or base is verified by the parallel driver when
/// `rdb_threads` asks for it: the report is the same for 1, 2 and one
/// thread per core, on every fixture whole and with its RDB part damaged
/// (a byte flipped halfway into it, or the file cut there).
#[test]
fn rdb_parts_report_the_same_on_any_number_of_threads() {
    let report = |path: &Path, threads: usize| {
        let o = AofOptions {
            rdb_threads: threads,
            ..opts()
        };
        format!("{:?}", verify_path(path, false, &o).unwrap().1)
    };
    let same = |path: &Path, what: &str| {
        let one = report(path, 1);
        assert_eq!(report(path, 2), one, "{what}: 2 threads");
        assert_eq!(report(path, 0), one, "{what}: one per core");
    };
    let mut damaged = 0;
    for f in fixtures() {
        let what = format!("{}/{}", f.server, f.case);
        same(&f.path, &what);
        let (_, r) = verify(&f.path);
        let Some((_, rdb_file)) = r.loaded_files().find(|(_, x)| x.rdb.is_some()) else {
            continue;
        };
        let half = usize::try_from(rdb_file.resp_start / 2).unwrap();
        for cut in [false, true] {
            let dir = tempdir();
            let copied = copy_fixture(&f, dir.path());
            let file = match r.form {
                AofForm::MultiPart => dir
                    .path()
                    .join(String::from_utf8_lossy(&rdb_file.name).into_owned()),
                AofForm::Single { .. } => copied.clone(),
            };
            let mut data = std::fs::read(&file).unwrap();
            if cut {
                data.truncate(half);
            } else {
                data[half] ^= 0x5a;
            }
            std::fs::write(&file, data).unwrap();
            same(
                &copied,
                &format!("{what}, RDB part {}", if cut { "cut" } else { "flipped" }),
            );
            damaged += 1;
        }
    }
    if damaged > 0 {
        assert!(damaged >= 4, "{damaged}");
    }
}

#[test]
fn aof_fixtures_pass_the_compat_checker_like_the_real_tool() {
    for f in fixtures() {
        let what = format!("{}/{}", f.server, f.case);
        let p = f.path.to_str().unwrap();
        let (ours, code) = run_compat(&[p], false);
        assert_eq!(code, 0, "{what}: {ours}");
        // valkey-check-aof 9.1 rejects Valkey 9 RDB bases (valkey#4739);
        // redcheck accepts them, so compare only where the tool is right.
        let server_tool = checker(&f.server);
        let Some(tool) = server_tool else { continue };
        let (theirs, tcode) = run_tool(&tool, &[p], "");
        if f.server.starts_with("valkey") && f.json["base"] == "rdb" {
            continue;
        }
        assert_eq!(tcode, 0, "{what}: {theirs}");
        assert_eq!(ok_up_to(&ours), ok_up_to(&theirs), "{what}");
        if same_format(&f.server) {
            assert_eq!(comparable(&ours), comparable(&theirs), "{what}");
        }
    }
}

// ---------------------------------------------------------------- torn tails

#[test]
fn aof_torn_tail_at_every_byte_of_the_last_command() {
    let tools: BTreeMap<String, Option<PathBuf>> =
        ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1"]
            .iter()
            .map(|s| (s.to_string(), checker(s)))
            .collect();
    for f in fixtures() {
        let what = format!("{}/{}", f.server, f.case);
        let tmp = tempdir();
        let input = copy_fixture(&f, tmp.path());
        let (_, r) = verify(&input);
        let last_path = last_loaded(&input, &r);
        let (_, lf) = r.loaded_files().last().unwrap();
        let resp_start = lf.resp_start;
        let original = std::fs::read(&last_path).unwrap();
        let cmds = commands_of(&original, resp_start);
        let Some(&(start, end)) = cmds.last() else {
            continue;
        };
        // Where the previous complete command ends, as verified on its own
        // (an open MULTI there cuts back to the MULTI).
        std::fs::write(&last_path, &original[..start as usize]).unwrap();
        let expected = verify(&input)
            .1
            .loaded_files()
            .last()
            .unwrap()
            .1
            .valid_up_to;
        let tool = tools.get(&f.server).cloned().flatten();
        for cut in start + 1..end {
            std::fs::write(&last_path, &original[..cut as usize]).unwrap();
            let (_, r) = verify(&input);
            let (_, lf) = r.loaded_files().last().unwrap();
            assert_eq!(lf.valid_up_to, expected, "{what} cut at {cut}");
            assert!(lf.tail.is_torn(), "{what} cut at {cut}: {:?}", lf.tail);
            assert!(
                r.ok(),
                "{what} cut at {cut}: a torn tail of the last file is a warning"
            );
            // The compat emulation agrees with the strict verifier here.
            let (out, code) = run_compat(&[input.to_str().unwrap()], false);
            assert_eq!(code, 1, "{what} cut at {cut}: {out}");
            assert_eq!(ok_up_to(&out), Some(expected), "{what} cut at {cut}: {out}");
            // And with the real tool, on every 7th byte (and the last).
            if let Some(tool) = &tool {
                if (cut - start) % 7 == 1 || cut + 1 == end {
                    let (theirs, tcode) = run_tool(tool, &[input.to_str().unwrap()], "");
                    if f.server.starts_with("valkey")
                        && r.files.iter().any(|x| x.kind == FileKind::BaseRdb)
                    {
                        continue;
                    }
                    assert_eq!(tcode, 1, "{what} cut at {cut}: {theirs}");
                    assert_eq!(
                        ok_up_to(&theirs),
                        Some(expected),
                        "{what} cut at {cut}: {theirs}"
                    );
                    if same_format(&f.server) {
                        assert_eq!(comparable(&out), comparable(&theirs), "{what} cut at {cut}");
                    }
                }
            }
        }
    }
}

#[test]
fn aof_tail_fix_is_byte_identical_to_redis_check_aof_fix() {
    for f in fixtures() {
        let what = format!("{}/{}", f.server, f.case);
        let Some(tool) = checker(&f.server) else {
            continue;
        };
        if f.server.starts_with("valkey") && f.json["base"] == "rdb" {
            continue;
        }
        // Three copies, the same damage: the tool's --fix, redcheck's plan,
        // redcheck's compat --fix.
        let dirs = [tempdir(), tempdir(), tempdir()];
        let inputs: Vec<PathBuf> = dirs.iter().map(|d| copy_fixture(&f, d.path())).collect();
        let (_, r) = verify(&inputs[0]);
        let mut damaged = Vec::new();
        for input in &inputs {
            let p = last_loaded(input, &r);
            let mut data = std::fs::read(&p).unwrap();
            // Half of a command, then junk in place of its end.
            data.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva");
            std::fs::write(&p, &data).unwrap();
            damaged.push(p);
        }
        let (theirs, code) = run_tool(&tool, &["--fix", inputs[0].to_str().unwrap()], "y\n");
        assert_eq!(code, 0, "{what}: {theirs}");

        let input = AofInput::open(&inputs[1], false).unwrap();
        let report = input.verify(&opts());
        let plan = input.plan(&report, FixMode::Tail, &opts()).unwrap();
        redcheck::aof::apply::apply(
            &input,
            &plan,
            &redcheck::aof::apply::ApplyOptions {
                output_dir: None,
                backup_time: 1,
            },
        )
        .unwrap();

        let (ours, ccode) = run_compat(&["--fix", inputs[2].to_str().unwrap()], true);
        assert_eq!(ccode, 0, "{what}: {ours}");
        if same_format(&f.server) {
            let ours = ours.replace(inputs[2].parent().unwrap().to_str().unwrap(), "DIR");
            let theirs = theirs.replace(inputs[0].parent().unwrap().to_str().unwrap(), "DIR");
            assert_eq!(comparable(&ours), comparable(&theirs), "{what}");
        }

        let a = std::fs::read(&damaged[0]).unwrap();
        let b = std::fs::read(&damaged[1]).unwrap();
        let c = std::fs::read(&damaged[2]).unwrap();
        assert_eq!(
            a, b,
            "{what}: plan result differs from redis-check-aof --fix"
        );
        assert_eq!(
            a, c,
            "{what}: compat --fix differs from redis-check-aof --fix"
        );
        // The original is kept beside the repaired file.
        let backup = PathBuf::from(format!("{}.bak.1", damaged[1].display()));
        assert!(backup.exists(), "{what}: no backup");
        assert!(verify(&inputs[1]).1.clean(), "{what}");
    }
}

// ---------------------------------------------------------------- damage

/// A RESP single file built here: SET k0..k9, one per record.
fn small_aof() -> Vec<u8> {
    let mut d = b"#TS:1000\r\n".to_vec();
    d.extend(resp(&["SELECT", "0"]));
    for i in 0..10 {
        d.extend(resp(&["SET", &format!("k{i}"), &format!("v{i}")]));
    }
    d
}

#[test]
fn aof_garbage_in_the_middle() {
    let clean = small_aof();
    let cmds = commands_of(&clean, 0);
    let at = cmds[5].0 as usize;
    let mut d = clean[..at].to_vec();
    d.extend_from_slice(b"\x00garbage\xff\r\n");
    d.extend_from_slice(&clean[at..]);
    let r = verify_single(&d, b"a.aof", &opts());
    let f = &r.files[0];
    assert!(!r.ok());
    assert_eq!(f.valid_up_to, at as u64);
    assert_eq!(f.tail, Tail::Damaged);
    assert_eq!(f.first_error.as_ref().unwrap().offset, at as u64);
    let single = SingleFile {
        name: b"a.aof",
        data: &d,
    };
    // Default fix: truncate (what redis-check-aof would do), losing 6 commands.
    let plan = plan_fix(&r, &single, FixMode::Tail, &opts()).unwrap();
    assert_eq!(
        plan.files[0].action,
        FileAction::Truncate { len: at as u64 }
    );
    // Salvage keeps every command.
    let plan = plan_fix(&r, &single, FixMode::Salvage, &opts()).unwrap();
    assert_eq!(plan.commands_lost, 0);
    assert_eq!(plan.files[0].skipped.len(), 1);
    assert_eq!(plan.files[0].skipped[0].len(), 11);
    let out = plan.files[0].materialize(&d).unwrap();
    assert_eq!(out, clean);
}

#[test]
fn aof_garbage_inside_a_record_salvages_the_rest() {
    let clean = small_aof();
    let cmds = commands_of(&clean, 0);
    let (s, e) = cmds[4];
    let mut d = clean.clone();
    // Overwrite the middle of one record: it is lost, the others are kept.
    let mid = ((s + e) / 2) as usize;
    d[mid] = b'!';
    d[mid + 1] = b'!';
    let r = verify_single(&d, b"a.aof", &opts());
    assert!(!r.ok());
    let plan = plan_fix(
        &r,
        &SingleFile {
            name: b"a.aof",
            data: &d,
        },
        FixMode::Salvage,
        &opts(),
    )
    .unwrap();
    let out = plan.files[0].materialize(&d).unwrap();
    let r2 = verify_single(&out, b"a.aof", &opts());
    assert!(r2.clean(), "{:?}", r2.findings());
    assert_eq!(r2.commands, 10);
    let skipped = &plan.files[0].skipped[0];
    assert_eq!((skipped.start, skipped.end), (s, e));
}

#[test]
fn aof_unbalanced_multi_and_exec_without_multi() {
    let mut d = small_aof();
    let before = d.len() as u64;
    d.extend(resp(&["MULTI"]));
    d.extend(resp(&["INCR", "n"]));
    let r = verify_single(&d, b"a.aof", &opts());
    assert!(
        r.ok(),
        "open MULTI at the end of the last file is recoverable"
    );
    assert_eq!(r.files[0].tail, Tail::OpenMulti);
    assert_eq!(r.files[0].valid_up_to, before);

    let mut d = small_aof();
    let at = d.len() as u64;
    d.extend(resp(&["EXEC"]));
    d.extend(resp(&["SET", "x", "y"]));
    let r = verify_single(&d, b"a.aof", &opts());
    assert!(!r.ok());
    assert_eq!(r.files[0].valid_up_to, at);
    assert!(
        r.files[0]
            .first_error
            .as_ref()
            .unwrap()
            .message
            .contains("EXEC without MULTI")
    );
}

/// A multi-part set in a temp dir: base (RESP), incr 1, incr 2.
fn small_set(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("appendonly.aof.1.base.aof"), small_aof()).unwrap();
    let mut i1 = b"#TS:2000\r\n".to_vec();
    i1.extend(resp(&["SET", "a", "1"]));
    i1.extend(resp(&["FLUSHALL"]));
    i1.extend(resp(&["SET", "b", "2"]));
    std::fs::write(dir.join("appendonly.aof.1.incr.aof"), &i1).unwrap();
    let mut i2 = b"#TS:3000\r\n".to_vec();
    i2.extend(resp(&["SET", "c", "3"]));
    std::fs::write(dir.join("appendonly.aof.2.incr.aof"), &i2).unwrap();
    let m = dir.join("appendonly.aof.manifest");
    std::fs::write(
        &m,
        "file appendonly.aof.1.base.aof seq 1 type b\n\
         file appendonly.aof.1.incr.aof seq 1 type i\n\
         file appendonly.aof.2.incr.aof seq 2 type i\n",
    )
    .unwrap();
    m
}

#[test]
fn aof_missing_manifest_entries_row_63() {
    let tmp = tempdir();
    let m = small_set(tmp.path());
    std::fs::remove_file(tmp.path().join("appendonly.aof.1.incr.aof")).unwrap();
    let (input, r) = verify(&m);
    assert!(!r.ok());
    assert_eq!(r.files[1].tail, Tail::Missing);
    assert!(r.errors[0].message.contains("appendonly.aof.1.incr.aof"));
    // The default fix refuses; salvage removes the entry.
    assert!(input.plan(&r, FixMode::Tail, &opts()).is_err());
    let plan = input.plan(&r, FixMode::Salvage, &opts()).unwrap();
    let nm = plan.manifest.as_ref().unwrap();
    assert_eq!(nm.incr.len(), 1);
    // The directory given instead of the manifest finds the same set.
    let (_, r2) = verify(tmp.path());
    assert_eq!(r2.files.len(), 3);
    // Missing history files are fine.
    let tmp = tempdir();
    let m = small_set(tmp.path());
    let mut text = std::fs::read_to_string(&m).unwrap();
    text.push_str("file appendonly.aof.0.incr.aof seq 9 type h\n");
    std::fs::write(&m, text).unwrap();
    assert!(verify(&m).1.clean());
}

#[test]
fn aof_manifest_rows_64_to_70() {
    let cases: &[(&str, &str, bool)] = &[
        // (manifest, what the server says, loads)
        (
            "file b seq 1 type b\nfile i1 seq 1 type i\nfile i3 seq 3 type i\n",
            "",
            true,
        ),
        (
            "file b seq 1 type b\nfile i1 seq 2 type i\nfile i3 seq 2 type i\n",
            "Found a non-monotonic sequence number",
            false,
        ),
        (
            "file b seq 1 type b\nfile i1 seq 1 type b\n",
            "Found duplicate base file information",
            false,
        ),
        (
            "file b seq 1 type b\n\nfile i1 seq 1 type i\n",
            "Invalid AOF manifest file format",
            false,
        ),
        (
            "file b seq 1 type b extra\n",
            "Invalid AOF manifest file format",
            false,
        ),
        ("file b seq 1\n", "Invalid AOF manifest file format", false),
        (
            "file b seq 1 type b",
            "The AOF manifest file contains too long line",
            false,
        ),
        ("file b seq 1 type x\n", "Unknown AOF file type", false),
        (
            "file d/b seq 1 type b\n",
            "File can't be a path, just a filename",
            false,
        ),
        (
            "file b seq 0 type b\n",
            "Invalid AOF manifest file format",
            false,
        ),
        ("file b seq 1 type base\n", "", true),
        ("", "Found an empty AOF manifest", false),
    ];
    let mut files = BTreeMap::new();
    files.insert(b"b".to_vec(), resp(&["SET", "a", "1"]));
    files.insert(b"i1".to_vec(), resp(&["SET", "b", "1"]));
    files.insert(b"i3".to_vec(), resp(&["SET", "c", "1"]));
    let mut long = String::from("file ");
    long.push_str(&"x".repeat(1100));
    long.push_str(" seq 1 type b\n");
    let mut all: Vec<(String, &str, bool)> = cases
        .iter()
        .map(|(m, e, ok)| (m.to_string(), *e, *ok))
        .collect();
    all.push((long, "The AOF manifest file contains too long line", false));
    for (m, err, loads) in all {
        let r = verify_multipart(m.as_bytes(), &files, &opts());
        assert_eq!(r.ok(), loads, "{m:?}: {:?}", r.findings());
        if !err.is_empty() {
            let e = r.manifest_error.as_ref().unwrap();
            assert_eq!(e.server_message(), err, "{m:?}");
        }
    }
    // Row 69: accepted, with a warning.
    let r = verify_multipart(b"file b seq 1 type base\n", &files, &opts());
    assert_eq!(r.warnings.len(), 1);
}

#[test]
fn aof_manifest_errors_match_the_real_tool() {
    let Some(tool) = checker("redis-7.0") else {
        eprintln!("note: redis-7.0 check tool absent; skipped");
        return;
    };
    let cases = [
        "file b seq 1 type b\nfile i1 seq 2 type i\nfile i3 seq 2 type i\n",
        "file b seq 1 type b\nfile i1 seq 1 type b\n",
        "file b seq 1 type b\n\n",
        "file b seq 1 type x\n",
        "file d/b seq 1 type b\n",
        "file b seq 1 type b",
        "file 'b seq 1 type b\n",
    ];
    for m in cases {
        let tmp = tempdir();
        std::fs::write(tmp.path().join("b"), resp(&["SET", "a", "1"])).unwrap();
        let p = tmp.path().join("appendonly.aof.manifest");
        std::fs::write(&p, m).unwrap();
        let (theirs, code) = run_tool(&tool, &[p.to_str().unwrap()], "");
        let (ours, ocode) = run_compat(&[p.to_str().unwrap()], false);
        assert_eq!(code, 1, "{m:?}: {theirs}");
        assert_eq!(ocode, 1, "{m:?}: {ours}");
        // Same messages after the log prefix (pid and time differ).
        let strip = |s: &str| -> Vec<String> {
            s.lines()
                .map(|l| l.split_once(" # ").map_or(l, |(_, m)| m).to_string())
                .filter(|l| !l.trim().is_empty())
                .collect()
        };
        assert_eq!(strip(&ours), strip(&theirs), "{m:?}");
    }
}

// ---------------------------------------------------------------- fix modes

#[test]
fn aof_to_timestamp_across_the_set() {
    let tmp = tempdir();
    let m = small_set(tmp.path());
    let (input, r) = verify(&m);
    assert!(r.clean());
    // T = 2500: cut at incr 2's #TS:3000 (its offset 0): incr 2 leaves.
    let plan = input.plan(&r, FixMode::ToTimestamp(2500), &opts()).unwrap();
    assert_eq!(plan.files[2].action, FileAction::Drop);
    assert_eq!(plan.commands_lost, 1);
    let out = tempdir();
    let outcome = redcheck::aof::apply::apply(
        &input,
        &plan,
        &redcheck::aof::apply::ApplyOptions {
            output_dir: Some(out.path().to_path_buf()),
            backup_time: 7,
        },
    )
    .unwrap();
    assert!(outcome.backups.is_empty());
    let (_, r2) = verify(out.path());
    assert!(r2.clean());
    assert_eq!(r2.files.len(), 2);
    assert_eq!(r2.last_ts, Some(2000));
    // The input was not touched.
    assert!(verify(&m).1.files.len() == 3);
    // In place: the dropped file moves to a backup name, manifest backed up.
    let plan = input.plan(&r, FixMode::ToTimestamp(2500), &opts()).unwrap();
    let outcome = redcheck::aof::apply::apply(
        &input,
        &plan,
        &redcheck::aof::apply::ApplyOptions {
            output_dir: None,
            backup_time: 7,
        },
    )
    .unwrap();
    assert_eq!(outcome.removed.len(), 1);
    assert!(!tmp.path().join("appendonly.aof.2.incr.aof").exists());
    assert!(tmp.path().join("appendonly.aof.2.incr.aof.bak.7").exists());
    assert!(tmp.path().join("appendonly.aof.manifest.bak.7").exists());
    assert!(verify(&m).1.clean());
}

#[test]
fn aof_before_last_flush_in_a_set() {
    let tmp = tempdir();
    let m = small_set(tmp.path());
    let (input, r) = verify(&m);
    assert_eq!(r.flushes.len(), 1);
    let plan = input.plan(&r, FixMode::BeforeLastFlush, &opts()).unwrap();
    // incr 1 cut before FLUSHALL (SET b lost), incr 2 dropped (SET c lost).
    assert!(matches!(plan.files[1].action, FileAction::Truncate { .. }));
    assert_eq!(plan.files[2].action, FileAction::Drop);
    assert_eq!(plan.commands_lost, 3);
    redcheck::aof::apply::apply(&input, &plan, &Default::default()).unwrap();
    let (_, r2) = verify(&m);
    assert!(r2.clean());
    assert_eq!(r2.flush_count, 0);
    assert_eq!(r2.commands, 11 + 1);
}

/// Loads an AOF with a real server and returns its keyspace sizes by db,
/// or None when the server is not installed.

#[test]
fn aof_before_flush_runbook_against_real_servers() {
    for f in fixtures() {
        let Some(want) = f.json.get("dbsize_per_db_before_flush").cloned() else {
            continue;
        };
        let what = format!("{}/{}", f.server, f.case);
        let tmp = tempdir();
        let single = f.json["form"] == "single";
        let target = if single {
            tmp.path().to_path_buf()
        } else {
            tmp.path().join("appendonlydir")
        };
        std::fs::create_dir_all(&target).unwrap();
        let input_path = copy_fixture(&f, &target);
        let input = AofInput::open(&input_path, false).unwrap();
        let r = input.verify(&opts());
        let plan = input.plan(&r, FixMode::BeforeLastFlush, &opts()).unwrap();
        assert!(!plan.is_noop(), "{what}");
        redcheck::aof::apply::apply(&input, &plan, &Default::default()).unwrap();
        let (_, r2) = verify(&input_path);
        assert!(
            r2.clean() && r2.flush_count == 0,
            "{what}: {:?}",
            r2.findings()
        );
        // Backups must not be in the way of the server.
        for e in std::fs::read_dir(&target).unwrap().flatten() {
            if e.file_name().to_string_lossy().contains(".bak.") {
                std::fs::remove_file(e.path()).unwrap();
            }
        }
        let file = if single {
            input_path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        } else {
            "appendonlydir".to_string()
        };
        let Some(got) = server_dbsizes(&f.server, single, tmp.path(), &file, None) else {
            continue;
        };
        let want: BTreeMap<String, u64> = serde_json::from_value(want).unwrap();
        eprintln!("{what}: {} loaded the repaired set: {got:?}", f.server);
        assert_eq!(got, want, "{what}: key counts after --before-flush");
    }
}

#[test]
fn aof_to_timestamp_on_real_timestamped_sets() {
    for f in fixtures() {
        if f.json["timestamps"] != true {
            continue;
        }
        let what = format!("{}/{}", f.server, f.case);
        let tmp = tempdir();
        let input_path = copy_fixture(&f, tmp.path());
        let input = AofInput::open(&input_path, false).unwrap();
        let r = input.verify(&opts());
        let (Some(first), Some(last)) = (r.first_ts, r.last_ts) else {
            panic!("{what}: no timestamps")
        };
        if first == last {
            continue;
        }
        let plan = input
            .plan(&r, FixMode::ToTimestamp(last - 1), &opts())
            .unwrap();
        assert!(plan.commands_lost > 0, "{what}");
        redcheck::aof::apply::apply(&input, &plan, &Default::default()).unwrap();
        let (_, r2) = verify(&input_path);
        assert!(r2.clean(), "{what}: {:?}", r2.findings());
        assert!(r2.last_ts.unwrap() < last, "{what}");
        // Nothing after the last timestamp: no change.
        let r3 = input.verify(&opts());
        let plan = input
            .plan(&r3, FixMode::ToTimestamp(last + 100), &opts())
            .unwrap();
        assert!(plan.is_noop(), "{what}");
    }
}

#[test]
fn aof_salvage_of_a_damaged_real_incr_keeps_the_rest() {
    for f in fixtures() {
        if f.json["form"] == "single" {
            continue;
        }
        let what = format!("{}/{}", f.server, f.case);
        let tmp = tempdir();
        let input_path = copy_fixture(&f, tmp.path());
        let (_, r) = verify(&input_path);
        let last = last_loaded(&input_path, &r);
        let data = std::fs::read(&last).unwrap();
        let cmds = commands_of(&data, 0);
        if cmds.len() < 10 {
            continue;
        }
        // Smash one byte of the `$` line of a command in the middle.
        let (s, _) = cmds[cmds.len() / 2];
        let mut bad = data.clone();
        let dollar = s as usize + bad[s as usize..].iter().position(|&b| b == b'$').unwrap();
        bad[dollar] = b'%';
        std::fs::write(&last, &bad).unwrap();
        let input = AofInput::open(&input_path, false).unwrap();
        let r = input.verify(&opts());
        assert!(!r.ok(), "{what}");
        let plan = input.plan(&r, FixMode::Salvage, &opts()).unwrap();
        let fp = plan.files.iter().find(|p| p.changes()).unwrap();
        assert_eq!(fp.skipped.len(), 1, "{what}: {:?}", fp.skipped);
        assert!(
            fp.bytes_lost < (data.len() as u64) / 4,
            "{what}: lost too much"
        );
        redcheck::aof::apply::apply(&input, &plan, &Default::default()).unwrap();
        let (_, r2) = verify(&input_path);
        assert!(r2.clean(), "{what}: {:?}", r2.findings());
        assert!(r2.commands + 2 >= r.commands, "{what}");
    }
}

#[test]
fn aof_check_aof_compat_arguments() {
    let (out, code) = run_compat(&[], false);
    assert_eq!(code, 1);
    assert!(out.starts_with("Usage: redis-check-aof [--fix|--truncate-to-timestamp $timestamp]"));
    let (out, code) = run_compat(&["--truncate-to-timestamp", "12x", "f"], false);
    assert_eq!(
        (out.as_str(), code),
        ("Invalid timestamp, aborting...\n", 1)
    );
    let (_, code) = run_compat(&["--version"], false);
    assert_eq!(code, 0);
    // --fix declined.
    let tmp = tempdir();
    let p = tmp.path().join("a.aof");
    let mut d = small_aof();
    d.extend_from_slice(b"*2\r\n$3");
    std::fs::write(&p, &d).unwrap();
    let (out, code) = run_compat(&["--fix", p.to_str().unwrap()], false);
    assert_eq!(code, 1);
    assert!(out.ends_with("Aborting...\n"), "{out}");
    assert_eq!(std::fs::read(&p).unwrap(), d);
    // An empty file is "empty", exit 0 (also an empty manifest, row 70).
    let e = tmp.path().join("appendonly.aof.manifest");
    std::fs::write(&e, b"").unwrap();
    let (out, code) = run_compat(&[e.to_str().unwrap()], false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("is empty"));
    // redcheck itself calls the empty manifest an error.
    let (_, r) = verify(&e);
    assert!(r.manifest_error.is_some());
}

#[test]
fn aof_timestamp_truncation_compat_matches_the_tool() {
    let Some(tool) = checker("redis-7.0") else {
        eprintln!("note: redis-7.0 check tool absent; skipped");
        return;
    };
    let mut d = small_aof();
    d.extend_from_slice(b"#TS:1005\r\n");
    d.extend(resp(&["SET", "late", "1"]));
    for (t, _) in [("1003", 0), ("999", 0), ("2000", 0)] {
        let a = tempdir();
        let b = tempdir();
        let pa = a.path().join("x.aof");
        let pb = b.path().join("x.aof");
        std::fs::write(&pa, &d).unwrap();
        std::fs::write(&pb, &d).unwrap();
        let (theirs, tc) = run_tool(
            &tool,
            &["--truncate-to-timestamp", t, pa.to_str().unwrap()],
            "",
        );
        let (ours, oc) = run_compat(&["--truncate-to-timestamp", t, pb.to_str().unwrap()], false);
        assert_eq!(i32::from(oc), tc, "T={t}: {ours} / {theirs}");
        let ours = ours.replace(b.path().to_str().unwrap(), "DIR");
        let theirs = theirs.replace(a.path().to_str().unwrap(), "DIR");
        assert_eq!(ours, theirs, "T={t}");
        assert_eq!(
            std::fs::read(&pa).unwrap(),
            std::fs::read(&pb).unwrap(),
            "T={t}"
        );
    }
}

/// A small deterministic generator for the mutation test.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Hostile input: thousands of mutants of real fixtures and of a built
/// AOF go through every entry point; nothing may panic, and every plan's
/// result must stay within the input.
#[test]
fn aof_mutants_never_panic() {
    let mut seeds: Vec<Vec<u8>> = vec![small_aof()];
    for f in fixtures().into_iter().take(6) {
        if f.json["form"] == "single" {
            seeds.push(std::fs::read(&f.path).unwrap());
        }
    }
    let manifest = b"file appendonly.aof.1.base.rdb seq 1 type b\nfile \"x y\" seq 2 type i startoffset 0 endoffset 9\n".to_vec();
    seeds.push(manifest.clone());
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let o = opts();
    let mut lenient = opts();
    lenient.dialect = redcheck::aof::Dialect::CheckAof;
    lenient.semantic_checks = false;
    let modes = [
        FixMode::Tail,
        FixMode::Salvage,
        FixMode::BeforeLastFlush,
        FixMode::ToTimestamp(1500),
    ];
    for round in 0..3000 {
        let mut d = seeds[round % seeds.len()].clone();
        for _ in 0..1 + rng.below(4) {
            if d.is_empty() {
                break;
            }
            let at = rng.below(d.len());
            match rng.below(5) {
                0 => d[at] = rng.next() as u8,
                1 => d.truncate(at),
                2 => d.insert(at, b"*$#\r\n0123456789"[rng.below(15)]),
                3 => {
                    let n = rng.below(64).min(d.len() - at);
                    d.drain(at..at + n);
                }
                _ => {
                    let n = rng.below(32).min(d.len() - at);
                    let chunk = d[at..at + n].to_vec();
                    let to = rng.below(d.len());
                    d.splice(to..to, chunk);
                }
            }
        }
        let _ = redcheck::aof::Manifest::parse(&d, 0);
        let _ = redcheck::aof::detect(&d);
        let _ = verify_single(&d, b"m.aof", &lenient);
        let r = verify_single(&d, b"m.aof", &o);
        for f in &r.files {
            assert!(f.valid_up_to <= f.size);
        }
        let single = SingleFile {
            name: b"m.aof",
            data: &d,
        };
        for mode in modes {
            if let Ok(plan) = plan_fix(&r, &single, mode, &o) {
                for fp in &plan.files {
                    if let Some(out) = fp.materialize(&d) {
                        assert!(out.len() <= d.len() + 64 * fp.skipped.len().max(1));
                    }
                }
            }
        }
    }
}
