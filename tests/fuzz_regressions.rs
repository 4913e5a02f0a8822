//! Replays every input under `testdata/fuzz-regressions/<target>/` through
//! the fuzz target of the same name (`fuzz/harness.rs`, the very functions
//! the fuzz targets call), so a crash once found stays fixed.
//!
//! Each target folder has a `NOTES.md` with one line per input, starting
//! with its file name in backticks: what it is and what it used to do.
//! Inputs come from `cargo fuzz tmin` (crashes found by fuzzing) or are
//! hand-made inputs of the kinds that broke parsers before; the notes say
//! which.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz-regressions")
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    v.sort();
    v
}

#[test]
fn every_regression_input_replays_without_panic() {
    let root = regressions_dir();
    let mut replayed = 0;
    for dir in sorted_entries(&root) {
        if !dir.is_dir() {
            continue;
        }
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        let run = harness::TARGETS
            .iter()
            .find(|(name, _)| *name == target)
            .map(|(_, f)| *f)
            .unwrap_or_else(|| panic!("{}: no fuzz target named {target}", dir.display()));
        let notes = std::fs::read_to_string(dir.join("NOTES.md"))
            .unwrap_or_else(|e| panic!("{}/NOTES.md: {e}", dir.display()));
        for input in sorted_entries(&dir) {
            let name = input.file_name().unwrap().to_string_lossy().into_owned();
            if name == "NOTES.md" {
                continue;
            }
            assert!(
                notes.contains(&format!("`{name}`")),
                "{}: no line for `{name}` in NOTES.md",
                dir.display()
            );
            let data = std::fs::read(&input).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {name} panics again");
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no inputs found under {}", root.display());
    println!("replayed {replayed} inputs");
}

/// The harness lists every fuzz target, so every target has a replay path.
#[test]
fn harness_covers_every_fuzz_target() {
    let targets_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for file in sorted_entries(&targets_dir) {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            harness::TARGETS.iter().any(|(n, _)| *n == stem),
            "fuzz target {stem} is missing from fuzz/harness.rs TARGETS"
        );
    }
}
