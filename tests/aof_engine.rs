//! Whole-file behaviour of the AOF engine on real server-written fixtures
//! (testdata/aof/<server>/, made by testdata/generate.py) and on damage
//! derived from them in this file. Tests that need fixtures or a server's
//! check tool skip (with a note on stderr) when those are absent.

use redcheck::aof::dir::AofInput;
use redcheck::aof::{AofForm, AofOptions, AofReport, FileKind, Tail};
use std::path::{Path, PathBuf};

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/aof")
}

/// Every fixture: (server, case name, path to verify, expected.json).
fn fixtures() -> Vec<(String, String, PathBuf, serde_json::Value)> {
    let mut v = Vec::new();
    let Ok(servers) = std::fs::read_dir(fixtures_root()) else {
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
            let rel = json["path"].as_str().unwrap_or(case);
            v.push((
                s.file_name().unwrap().to_string_lossy().into_owned(),
                case.to_string(),
                s.join(rel),
                json,
            ));
        }
    }
    v
}

fn verify(path: &Path) -> (AofInput, AofReport) {
    redcheck::aof::dir::verify_path(path, false, &AofOptions::default()).unwrap()
}

#[test]
fn print_fixture_summary() {
    for (server, case, path, _json) in fixtures() {
        let (_, r) = verify(&path);
        eprintln!(
            "{server}/{case}: ok={} clean={} form={:?} commands={} files={:?} flushes={} ts={:?}..{:?} dbs={:?}",
            r.ok(),
            r.clean(),
            r.form,
            r.commands,
            r.files
                .iter()
                .map(|f| (
                    f.name_lossy(),
                    f.kind.as_str(),
                    f.size,
                    f.valid_up_to,
                    f.commands
                ))
                .collect::<Vec<_>>(),
            r.flushes.len(),
            r.first_ts,
            r.last_ts,
            r.dbs
        );
        for (f, x) in r.findings() {
            eprintln!("   {} {x}", f.map(|f| f.name_lossy()).unwrap_or_default());
        }
    }
}
