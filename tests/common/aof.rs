//! AOF fixtures (testdata/aof/<server>/, with expected.json beside each),
//! the servers' own `redis-check-aof`, and loading a set into a real
//! server: shared by the AOF engine and AOF CLI tests.

use super::crate_dir;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, Stdio};

pub struct Fixture {
    pub server: String,
    pub case: String,
    pub path: PathBuf,
    pub json: serde_json::Value,
}

/// Every fixture with its expected.json.
pub fn fixtures() -> Vec<Fixture> {
    let mut v = Vec::new();
    let Ok(servers) = std::fs::read_dir(crate_dir().join("testdata/aof")) else {
        return v;
    };
    let mut servers: Vec<_> = servers.flatten().map(|e| e.path()).collect();
    servers.sort();
    for s in servers {
        let Ok(entries) = std::fs::read_dir(&s) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for e in entries {
            let name = e.file_name().unwrap().to_string_lossy().into_owned();
            let Some(case) = name.strip_suffix(".expected.json") else {
                continue;
            };
            let Ok(text) = std::fs::read_to_string(&e) else {
                continue;
            };
            let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            let rel = json["path"].as_str().unwrap_or(case).to_string();
            v.push(Fixture {
                server: s.file_name().unwrap().to_string_lossy().into_owned(),
                case: case.to_string(),
                path: s.join(rel),
                json,
            });
        }
    }
    if v.is_empty() {
        eprintln!("note: no AOF fixtures under testdata/aof; fixture tests skipped");
    }
    v
}

pub fn copy_fixture(f: &Fixture, dst: &Path) -> PathBuf {
    if f.json["form"] == "single" {
        let to = dst.join(f.path.file_name().unwrap());
        std::fs::copy(&f.path, &to).unwrap();
        return to;
    }
    let dir = f.path.parent().unwrap();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    dst.join(f.path.file_name().unwrap())
}

pub fn checker(server: &str) -> Option<PathBuf> {
    let out = Proc::new("python3")
        .arg(crate_dir().join("testdata/servers.py"))
        .args(["checker", server, "aof"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    p.exists().then_some(p)
}

pub fn run_tool(tool: &Path, args: &[&str], stdin: &str) -> (String, i32) {
    let mut child = Proc::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// `ok_up_to=N` from a check-aof report line.
pub fn ok_up_to(out: &str) -> Option<u64> {
    let line = out.lines().rfind(|l| l.starts_with("AOF analyzed:"))?;
    let v = line.split("ok_up_to=").nth(1)?;
    v.split(',').next()?.parse().ok()
}

/// The lines both tools print, without the RDB checker's report. When
/// `consumeNewline` prints the bytes after a NUL it shows stale stack
/// memory, which no emulation reproduces: those bytes are masked.
pub fn comparable(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.starts_with('[') && !l.contains("RDB preamble"))
        .map(|l| {
            let l = l.replace("Continue? [y/N]: ", "");
            match l.find("got: 00") {
                Some(i) => format!("{}got: 00??", &l[..i]),
                None => l,
            }
        })
        .collect()
}

/// Redis 6.2's check-aof prints an older report format (no file names,
/// no "Start checking" lines); only its `ok_up_to` is compared.
pub fn same_format(server: &str) -> bool {
    server != "redis-6.2"
}

/// Starts `server` on the AOF `file` (a single file, or an `appenddirname`)
/// in `dir`, with `module` loaded if given, and returns its key count per
/// db (`None`, with a note, when it is absent or refuses the AOF).
pub fn server_dbsizes(
    server: &str,
    single: bool,
    dir: &Path,
    file: &str,
    module: Option<&Path>,
) -> Option<BTreeMap<String, u64>> {
    let script = format!(
        r#"
import json, sys
sys.path.insert(0, {testdata:?})
from servers import Server, NotInstalled
try:
    cfg = {{"appendonly": "yes"}}
    if {single}:
        cfg["appendfilename"] = {file:?}
    else:
        cfg["appenddirname"] = {file:?}
    with Server({server:?}, config=cfg, dir={dir:?}, modules={modules}) as s:
        ks = s.client().keyspace()
        print(json.dumps({{str(k): v["keys"] for k, v in ks.items()}}))
except NotInstalled:
    print("absent")
"#,
        testdata = crate_dir().join("testdata").display().to_string(),
        single = if single { "True" } else { "False" },
        file = file,
        server = server,
        dir = dir.display().to_string(),
        modules = match module {
            Some(m) => format!("[{:?}]", m.display().to_string()),
            None => "[]".to_string(),
        },
    );
    let out = Proc::new("python3").arg("-c").arg(&script).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last()?;
    if line == "absent" || !out.status.success() {
        eprintln!(
            "note: could not load with {server}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let v: BTreeMap<String, u64> = serde_json::from_str(line).ok()?;
    Some(v)
}
