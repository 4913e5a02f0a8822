//! `redcheck extract FILE --output OUT`: salvage a (damaged) RDB and write
//! its intact keys to a new RDB. The input is never written to: the output
//! is streamed to a temporary file beside OUT (memory does not grow with
//! the file), synced, checked with `verify`, and renamed into place.
//!
//! Exit status: 0 the input was clean and OUT holds all of it; 1 the input
//! was damaged and OUT holds what was intact; 2 nothing was written.

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, out};
use clap::Args;
use redcheck::salvage::{extract_to, salvage_summary};
use redcheck::source::Source;
use redcheck::verify::{self, Options};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ExtractArgs {
    /// The RDB to salvage (`-` reads standard input).
    pub file: PathBuf,
    /// Where to write the new RDB.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Also keep keys that check out but sit right before damage.
    #[arg(long)]
    pub include_suspect: bool,
    /// Replace OUTPUT if it exists (never the input).
    #[arg(long)]
    pub force: bool,
    /// Print the salvage summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Read the input instead of memory-mapping it.
    #[arg(long)]
    pub no_mmap: bool,
}

pub fn run(a: ExtractArgs) -> u8 {
    let shown = a.file.display().to_string();
    let data = match if shown == "-" {
        Source::stdin()
    } else {
        Source::open(&a.file, !a.no_mmap)
    } {
        Ok(d) => d,
        Err(e) => {
            eprintln!("redcheck: cannot read {shown}: {e}");
            return EXIT_USAGE;
        }
    };
    if let Err(why) = check_output(&a) {
        eprintln!("redcheck: {why}");
        return EXIT_USAGE;
    }
    let options = super::salvage_options();
    let report = salvage_summary(&data, &options);
    if report.header.is_none() {
        eprintln!(
            "redcheck: {shown}: nothing to extract: {}",
            report.fatal.as_deref().unwrap_or("no RDB header")
        );
        return EXIT_USAGE;
    }
    // Written beside OUTPUT, and checked with `verify` before it replaces
    // anything.
    let written = write_atomically(&a.output, |f| {
        let out = io::BufWriter::with_capacity(1 << 20, f);
        let (out, extracted) = extract_to(&data, &report, &options, a.include_suspect, out)
            .unwrap_or_else(|| Err(io::Error::other("no RDB header")))?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(extracted.bytes)
    });
    let (size, check) = match written {
        Ok(done) => done,
        Err(Failure::Io(e)) => {
            eprintln!("redcheck: cannot write {}: {e}", a.output.display());
            return EXIT_USAGE;
        }
        Err(Failure::DoesNotVerify(first)) => {
            eprintln!("redcheck: the extracted file does not verify, nothing written: {first}");
            return EXIT_USAGE;
        }
    };
    let kept: u64 = check.keys;
    let text = if a.json {
        let mut v = super::salvage::json(&report);
        v["path"] = shown.clone().into();
        v["output"] = a.output.display().to_string().into();
        v["written_keys"] = kept.into();
        v["written_bytes"] = size.into();
        format!("{v}\n")
    } else {
        let per_db: Vec<String> = check
            .dbs
            .iter()
            .map(|(db, s)| format!("db {db}: {}", s.keys))
            .collect();
        let mut t = format!(
            "{shown} -> {}: {kept} keys ({}), {} bytes\n",
            a.output.display(),
            if per_db.is_empty() {
                "none".into()
            } else {
                per_db.join(", ")
            },
            size
        );
        let lost: u64 = report.regions.iter().map(|r| r.end - r.start).sum();
        if !report.regions.is_empty() {
            t.push_str(&format!(
                "  skipped {} damaged region(s), {lost} bytes (see `redcheck verify --salvage {shown}`)\n",
                report.regions.len()
            ));
        }
        let suspect = report.suspect_keys();
        if suspect > 0 {
            t.push_str(&format!(
                "  {} {suspect} suspect key(s){}\n",
                if a.include_suspect {
                    "kept"
                } else {
                    "left out"
                },
                if a.include_suspect {
                    ""
                } else {
                    " (--include-suspect keeps them)"
                }
            ));
        }
        t
    };
    out(&text);
    if report.is_clean() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// Refuses to write over the input (also through links) or, without
/// `--force`, over any existing file.
fn check_output(a: &ExtractArgs) -> Result<(), String> {
    let Ok(meta) = fs::metadata(&a.output) else {
        return Ok(());
    };
    if let Ok(input) = fs::metadata(&a.file)
        && input.dev() == meta.dev()
        && input.ino() == meta.ino()
    {
        return Err(format!(
            "{} is the input file: refusing to overwrite it",
            a.output.display()
        ));
    }
    if !a.force {
        return Err(format!(
            "{} exists (use --force to replace it)",
            a.output.display()
        ));
    }
    Ok(())
}

/// Why the new file did not replace OUTPUT.
enum Failure {
    Io(io::Error),
    DoesNotVerify(String),
}

/// Writes a temporary file beside `path` with `write` (which syncs it),
/// verifies it, renames it over `path` and syncs the directory, so `path`
/// is never half-written nor an RDB that does not verify. Returns the
/// size `write` reported and the new file's verify report.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(File) -> io::Result<u64>,
) -> Result<(u64, verify::RdbReport), Failure> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Failure::Io(io::Error::new(io::ErrorKind::InvalidInput, "no file name")))?;
    let tmp = dir.join(format!(
        ".{}.redcheck-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(Failure::Io)?;
        let size = write(f).map_err(Failure::Io)?;
        let check = verify::verify_rdb(
            &Source::open(&tmp, true).map_err(Failure::Io)?,
            &Options::default(),
        );
        if !check.ok {
            let first = check
                .errors
                .first()
                .map(|e| e.to_string())
                .unwrap_or_default();
            return Err(Failure::DoesNotVerify(first));
        }
        fs::rename(&tmp, path).map_err(Failure::Io)?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(Failure::Io)?;
        Ok((size, check))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
