//! Inputs other than one plain file: standard input, gzip / zstd / lz4
//! backups (compressed here, in test code, from server-written fixtures),
//! damaged archives, and several files at once with one summary line each
//! and a total.

mod common;

use common::{Server, Xorshift, note, rdb_fixtures};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixture() -> Option<PathBuf> {
    rdb_fixtures()
        .into_iter()
        .find(|p| p.ends_with("redis-7.0/all-types.rdb"))
}

/// The `testdata` directory, when its fixtures are present.
fn testdata() -> Option<PathBuf> {
    fixture()?
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
}

fn redcheck(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_redcheck"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redcheck runs");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("stdin piped");
        // The verifier reads until EOF; a write error means it exited
        // early, which the assertions below then show.
        let _ = pipe.write_all(bytes);
    }
    child.wait_with_output().expect("redcheck finishes")
}

fn json_of(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().next().unwrap_or("null")).expect("a JSON line")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).expect("in memory")
}

fn lz4(data: &[u8]) -> Vec<u8> {
    let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

/// The report's fields that do not name the input.
fn without_path(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("path");
        o.remove("compression");
    }
    v
}

#[test]
fn standard_input_gives_the_same_report_as_the_file() {
    let Some(f) = fixture() else {
        note("redis-7.0 fixture absent; skipping");
        return;
    };
    let data = std::fs::read(&f).expect("fixture");
    let from_file = redcheck(&["verify", "--json", f.to_str().expect("utf-8")], None);
    let from_stdin = redcheck(&["verify", "--json", "-"], Some(&data));
    assert_eq!(from_file.status.code(), Some(0));
    assert_eq!(from_stdin.status.code(), Some(0), "{from_stdin:?}");
    let v = json_of(&from_stdin);
    assert_eq!(v["path"], "-");
    assert_eq!(without_path(v), without_path(json_of(&from_file)));
}

#[test]
fn compressed_backups_are_detected_and_verified() {
    let Some(f) = fixture() else {
        note("redis-7.0 fixture absent; skipping");
        return;
    };
    let data = std::fs::read(&f).expect("fixture");
    let plain = json_of(&redcheck(
        &["verify", "--json", f.to_str().expect("utf-8")],
        None,
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, packed) in [
        ("gzip", gzip(&data)),
        ("zstd", zstd(&data)),
        ("lz4", lz4(&data)),
    ] {
        // From a file (named without a telling extension: the magic decides).
        let p = dir.path().join(format!("backup-{name}"));
        std::fs::write(&p, &packed).expect("write");
        let out = redcheck(&["verify", "--json", p.to_str().expect("utf-8")], None);
        assert_eq!(out.status.code(), Some(0), "{name}: {out:?}");
        let v = json_of(&out);
        assert_eq!(v["compression"], name);
        assert_eq!(v["size"], data.len() as u64);
        assert_eq!(without_path(v), without_path(plain.clone()), "{name}");
        // From standard input, and with --no-mmap (read into memory).
        let out = redcheck(&["verify", "--json", "-"], Some(&packed));
        assert_eq!(out.status.code(), Some(0), "{name} on stdin: {out:?}");
        assert_eq!(json_of(&out)["compression"], name);
        let out = redcheck(
            &["verify", "--json", "--no-mmap", p.to_str().expect("utf-8")],
            None,
        );
        assert_eq!(without_path(json_of(&out)), without_path(plain.clone()));
    }
}

#[test]
fn damaged_compressed_backups_fail_verification() {
    let Some(f) = fixture() else {
        note("redis-7.0 fixture absent; skipping");
        return;
    };
    let data = std::fs::read(&f).expect("fixture");
    // An archive cut in half: the decompressor fails, what came before it
    // is verified, and the verdict is a failure (exit 1), not "could not
    // run".
    let packed = gzip(&data);
    let out = redcheck(
        &["verify", "--json", "-"],
        Some(&packed[..packed.len() / 2]),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = json_of(&out);
    let errors = v["errors"].as_array().expect("errors");
    assert!(
        errors.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("gzip stream broken"))),
        "{errors:?}"
    );
    // A well-formed archive of a damaged RDB: the RDB's own error.
    let mut bad = data.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let out = redcheck(&["verify", "--json", "-"], Some(&zstd(&bad)));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["checksum"], "mismatch");
}

#[test]
fn several_files_give_one_summary_line_each_and_a_total() {
    let Some(f) = fixture() else {
        note("redis-7.0 fixture absent; skipping");
        return;
    };
    let data = std::fs::read(&f).expect("fixture");
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("good.rdb");
    let packed = dir.path().join("good.rdb.gz");
    let cut = dir.path().join("cut.rdb");
    let missing = dir.path().join("missing.rdb");
    std::fs::write(&good, &data).expect("write");
    std::fs::write(&packed, gzip(&data)).expect("write");
    std::fs::write(&cut, &data[..data.len() / 2]).expect("write");
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    let args = [
        "verify".to_string(),
        s(&good),
        s(&packed),
        s(&cut),
        s(&missing),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = redcheck(&args, None);
    // A missing file is "could not run", which outranks a failure.
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    // In the order given, whatever order they finished in.
    assert!(
        lines[0].starts_with("ok") && lines[0].contains(&s(&good)),
        "{text}"
    );
    assert!(lines[0].contains("65 keys"), "{text}");
    assert!(
        lines[1].starts_with("ok") && lines[1].contains("gzip"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("FAILED") && lines[2].contains(&s(&cut)),
        "{text}"
    );
    assert!(
        lines[3].starts_with("ERROR") && lines[3].contains(&s(&missing)),
        "{text}"
    );
    assert!(
        lines[4].starts_with("total  4 inputs: 2 ok, 1 failed, 1 unreadable"),
        "{text}"
    );
    // Without the missing file: exit 1; with --json, one object per input.
    let out = redcheck(&args[..4], None);
    assert_eq!(out.status.code(), Some(1));
    let mut json_args = vec!["verify", "--json"];
    json_args.extend(&args[1..4]);
    let out = redcheck(&json_args, None);
    let objects: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let oks: Vec<bool> = objects.iter().map(|o| o["ok"] == true).collect();
    assert_eq!(oks, [true, true, false]);
}

/// Each summary line, and each full report's `format` line, names the
/// magic as the file spells it: `REDIS` and four digits, `VALKEY` and
/// three (a Valkey 9 file's summary once read `VALKEY0080`).
#[test]
fn summary_lines_name_the_magic_as_the_file_spells_it() {
    let files: Vec<PathBuf> = rdb_fixtures()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rdb"))
        .collect();
    if files.is_empty() {
        note("no RDB fixtures; skipping");
        return;
    }
    let paths: Vec<&str> = files.iter().map(|p| p.to_str().expect("utf-8")).collect();
    let mut args = vec!["verify"];
    args.extend(&paths);
    let out = redcheck(&args, None);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut valkey = 0;
    for (path, line) in files.iter().zip(text.lines()) {
        let data = std::fs::read(path).expect("fixture");
        let Some(magic) = data.get(..9).map(String::from_utf8_lossy) else {
            continue;
        };
        if !(magic.starts_with("REDIS") || magic.starts_with("VALKEY")) {
            continue;
        }
        valkey += usize::from(magic.starts_with("VALKEY"));
        assert!(
            line.contains(&format!("  {magic}, ")),
            "{}: {line}",
            path.display()
        );
        let one = redcheck(&["verify", path.to_str().expect("utf-8")], None);
        let report = String::from_utf8_lossy(&one.stdout);
        assert!(
            report.contains(&format!("  format      {magic} (RDB version")),
            "{report}"
        );
    }
    if paths.iter().any(|p| p.contains("valkey")) {
        assert!(valkey > 0, "no Valkey magic read: {text}");
    }
}

/// A server-written AOF with an RDB preamble (redis-6.2 writes one file).
fn preamble_aof() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/aof/redis-6.2/preamble.aof");
    p.exists().then_some(p)
}

#[test]
fn a_compressed_aof_with_an_rdb_preamble_is_verified_as_an_aof() {
    let Some(f) = preamble_aof() else {
        note("redis-6.2 preamble AOF absent; skipping");
        return;
    };
    let data = std::fs::read(&f).expect("fixture");
    let plain = redcheck(&["verify", "--json", f.to_str().expect("utf-8")], None);
    assert_eq!(plain.status.code(), Some(0), "{plain:?}");
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path().join("appendonly.aof.gz");
    std::fs::write(&p, gzip(&data)).expect("write");
    // Read as a stream first (it starts like an RDB), then, once the RESP
    // after the preamble shows it is an AOF, read again whole.
    let out = redcheck(&["verify", "--json", p.to_str().expect("utf-8")], None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let (a, b) = (json_of(&out), json_of(&plain));
    assert_eq!(a["commands"], b["commands"]);
    assert_eq!(a["format"], b["format"]);
    assert!(a["commands"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn an_aof_with_an_rdb_preamble_on_a_pipe_is_refused_with_a_reason() {
    let Some(f) = preamble_aof() else {
        note("redis-6.2 preamble AOF absent; skipping");
        return;
    };
    let data = std::fs::read(&f).expect("fixture");
    let out = redcheck(&["verify", "-"], Some(&data));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AOF with an RDB preamble"), "{err}");
}

#[test]
fn a_directory_of_backups_verifies_each_file_in_name_order_and_an_aof_directory_stays_one_aof() {
    let Some(f) = fixture() else {
        note("redis-7.0 fixture absent; skipping");
        return;
    };
    let aof_dir = testdata()
        .map(|t| t.join("aof/redis-7.0/flushall"))
        .filter(|d| d.is_dir());
    let data = std::fs::read(&f).expect("fixture");
    let dir = tempfile::tempdir().expect("temp dir");
    // Written out of name order; the nested directory is not read.
    std::fs::write(dir.path().join("c-cut.rdb"), &data[..data.len() / 2]).expect("write");
    std::fs::write(dir.path().join("a-good.rdb"), &data).expect("write");
    std::fs::write(dir.path().join("b-notes.txt"), "checksums: see ops wiki\n").expect("write");
    std::fs::create_dir(dir.path().join("old")).expect("mkdir");
    std::fs::write(dir.path().join("old/ignored.rdb"), &data).expect("write");
    let shown = dir.path().to_str().expect("utf-8");
    let out = redcheck(&["verify", shown], None);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[0].starts_with("ok")
            && lines[0].contains("a-good.rdb")
            && lines[0].contains("65 keys"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("FAILED")
            && lines[1].contains("b-notes.txt")
            && lines[1].contains("neither an RDB nor an AOF"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("FAILED") && lines[2].contains("c-cut.rdb"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("total  3 inputs: 1 ok, 2 failed, 0 unreadable"),
        "{text}"
    );
    // --json: the same objects the three files given by name produce.
    let json = |args: &[&str]| -> Vec<Value> {
        String::from_utf8_lossy(&redcheck(args, None).stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    };
    let names: Vec<String> = ["a-good.rdb", "b-notes.txt", "c-cut.rdb"]
        .iter()
        .map(|n| dir.path().join(n).to_str().expect("utf-8").to_string())
        .collect();
    let mut by_name = vec!["verify", "--json"];
    by_name.extend(names.iter().map(String::as_str));
    assert_eq!(json(&["verify", "--json", shown]), json(&by_name));
    // A directory with a single file still gets its summary line and total.
    std::fs::remove_file(dir.path().join("b-notes.txt")).expect("rm");
    std::fs::remove_file(dir.path().join("c-cut.rdb")).expect("rm");
    let out = redcheck(&["verify", shown], None);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.starts_with("total  1 inputs: 1 ok")),
        "{text}"
    );
    // An empty directory cannot be verified.
    let empty = tempfile::tempdir().expect("temp dir");
    let out = redcheck(&["verify", empty.path().to_str().expect("utf-8")], None);
    assert_eq!(out.status.code(), Some(2));
    // A multi-part AOF directory is still one AOF, with its own report.
    let Some(aof_dir) = aof_dir else {
        note("redis-7.0 AOF fixture absent; skipping the AOF directory case");
        return;
    };
    let out = redcheck(&["verify", aof_dir.to_str().expect("utf-8")], None);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("multi-part AOF"), "{text}");
    assert!(!text.contains("total "), "{text}");
}

/// Among several inputs, an AOF's summary line gives its form, bytes,
/// commands and the keys of its RDB part, the numbers its own report
/// gives, and they count in the total; a damaged one names its first
/// error.
#[test]
fn an_aof_among_several_inputs_gets_a_summary_line_with_its_counts() {
    let Some(testdata) = testdata() else {
        note("fixtures absent; skipping");
        return;
    };
    let set = testdata.join("aof/redis-7.0/rdb-base");
    let preamble = testdata.join("aof/redis-6.2/preamble.aof");
    let plain = testdata.join("aof/redis-6.2/plain.aof");
    if !(set.is_dir() && preamble.is_file() && plain.is_file()) {
        note("AOF fixtures absent; skipping");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    // A command in the middle that does not start with '*': damage a
    // server refuses to load (a torn tail it would load).
    let damaged = dir.path().join("damaged.aof");
    let mut data = std::fs::read(&plain).expect("fixture");
    let middle = data.len() / 2;
    let at = data[middle..]
        .windows(3)
        .position(|w| w == b"\r\n*")
        .expect("a command after the middle")
        + middle
        + 2;
    data[at] = b'?';
    std::fs::write(&damaged, &data).expect("write");
    let inputs = [&set, &preamble, &plain, &damaged];
    let paths: Vec<&str> = inputs.iter().map(|p| p.to_str().expect("utf-8")).collect();
    let mut args = vec!["verify"];
    args.extend(&paths);
    let out = redcheck(&args, None);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    let (mut keys, mut bytes) = (0, 0);
    for (line, path) in lines.iter().zip(&paths) {
        let report = json_of(&redcheck(&["verify", "--json", path], None));
        let commands = report["commands"].as_u64().expect("commands");
        let rdb_keys = report["rdb_keys"].as_u64().expect("rdb_keys");
        let size: u64 = report["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["size"].as_u64().expect("size"))
            .sum();
        assert!(
            line.contains(&format!(", {size} bytes, {commands} commands")),
            "{line}"
        );
        keys += rdb_keys;
        bytes += size;
        if report["ok"] == true {
            assert!(
                line.starts_with("ok ") && !line.contains("errors"),
                "{line}"
            );
        } else {
            assert!(
                line.starts_with("FAILED ") && line.contains("errors, first"),
                "{line}"
            );
        }
    }
    assert!(
        lines[0].contains("multi-part AOF, 2 files") && lines[0].contains("keys in its RDB base")
    );
    assert!(
        lines[1].contains("AOF with an RDB preamble") && lines[1].contains("keys in the preamble")
    );
    assert!(lines[2].contains("  AOF, ") && !lines[2].contains("keys in"));
    assert!(
        lines[4].contains(&format!("; {keys} keys, {bytes} bytes")),
        "{text}"
    );
    assert!(keys > 0, "{text}");
}

#[test]
fn a_value_larger_than_the_stream_window_is_verified_from_a_pipe() {
    // 10 MiB of random bytes (LZF cannot shrink them) in one string and a
    // 10 MiB list, written by a real server: both records are larger than
    // the stream's 8 MiB window, so the window moves to a temporary file
    // and back; the report is the file's.
    let Some(srv) = Server::start("redis-7.0", &[]) else {
        note("redis-7.0 not installed: giant-record stream test skipped");
        return;
    };
    let mut c = srv.client();
    let mut rng = Xorshift::new(20261124);
    c.ok(&[b"SET", b"small:1", b"x"]);
    c.ok(&[b"SET", b"giant", &rng.bytes(10 << 20)]);
    let items: Vec<Vec<u8>> = (0..2500).map(|_| rng.bytes(4096)).collect();
    let mut rpush: Vec<&[u8]> = vec![b"RPUSH", b"biglist"];
    rpush.extend(items.iter().map(|v| v.as_slice()));
    c.ok(&rpush);
    c.ok(&[b"SET", b"small:2", b"y"]);
    c.ok(&[b"SAVE"]);
    let path = srv.dir.path().join("dump.rdb");
    let data = std::fs::read(&path).expect("dump.rdb after SAVE");
    let from_file = redcheck(&["verify", "--json", path.to_str().expect("utf-8")], None);
    let from_stdin = redcheck(&["verify", "--json", "-"], Some(&data));
    assert_eq!(from_stdin.status.code(), Some(0), "{from_stdin:?}");
    let v = json_of(&from_stdin);
    assert_eq!(v["keys"], 4, "{v}");
    assert_eq!(without_path(v), without_path(json_of(&from_file)));
    let gz = redcheck(&["verify", "--json", "-"], Some(&gzip(&data)));
    assert_eq!(gz.status.code(), Some(0), "{gz:?}");
    assert_eq!(
        without_path(json_of(&gz)),
        without_path(json_of(&from_file))
    );
}
