//! `redcheck verify` on AOF inputs: a single AOF (with or without an RDB
//! preamble), a multi-part manifest, or an `appendonlydir` directory.
//!
//! The form is recognised from the content, as the servers do; a file name
//! ending in `.aof` settles the one ambiguous case (an RDB preamble followed
//! by nothing).

use super::verify::VerifyArgs;
use redcheck::aof::dir::AofInput;
use redcheck::aof::{self, AofOptions, AofReport};
use redcheck::report;
use redcheck::source::Source;
use redcheck::verify::{Finding, RdbReport, Severity};
use std::path::{Path, PathBuf};

/// Whether `data`, read from `path`, is an AOF rather than an RDB. `rdb`
/// is the RDB verification of `data`, when done: an RDB followed by a RESP
/// command is an AOF with a preamble (without it, only a `.aof` name says
/// so).
pub fn is_aof(path: &Path, data: &[u8], rdb: Option<&RdbReport>) -> bool {
    let named_aof = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(".aof"));
    match aof::detect(data) {
        aof::Detected::Manifest => true,
        aof::Detected::Resp => named_aof || matches!(data.first(), Some(b'*' | b'#')),
        aof::Detected::RdbPreamble => {
            named_aof
                || rdb.and_then(|r| r.end_offset).is_some_and(|end| {
                    usize::try_from(end)
                        .ok()
                        .and_then(|end| data.get(end))
                        .is_some_and(|&b| b == b'*' || b == b'#')
                })
        }
    }
}

/// The options both `verify` and `fix` read AOFs with.
pub fn aof_options(now_ms: i64) -> AofOptions {
    AofOptions {
        rdb: super::rdb_options(now_ms),
        rdb_threads: 0,
        ..AofOptions::default()
    }
}

/// The path to show for each file of the report.
pub fn file_paths(input: &AofInput, r: &AofReport) -> Vec<String> {
    match input {
        AofInput::Single { path, .. } => vec![path.display().to_string()],
        AofInput::MultiPart { files, .. } => r
            .files
            .iter()
            .map(|f| files.path_of(&f.name).display().to_string())
            .collect(),
    }
}

/// What [`verify_one`] found: the report to print, the verdict, and the
/// facts for the input's line in a summary of several.
pub struct Verified {
    pub text: String,
    pub ok: bool,
    /// Checking stopped on `--max-memory`: then not a verdict.
    pub out_of_memory: bool,
    /// `multi-part AOF, 2 files, 15671 bytes, 52 commands, 24 keys in
    /// its RDB base` and the first error, for the summary line.
    pub summary: String,
    /// Keys in the RDB preamble or base.
    pub keys: u64,
    /// Bytes in all the files read.
    pub bytes: u64,
}

/// Verifies one AOF input (`data` is given for standard input, which
/// cannot be opened again).
pub fn verify_one(
    a: &VerifyArgs,
    path: &Path,
    data: Option<Source>,
    now_ms: i64,
    rdb_threads: usize,
) -> std::io::Result<Verified> {
    let shown = path.display().to_string();
    let input = match data {
        Some(data) => AofInput::Single {
            path: PathBuf::from(&shown),
            data,
        },
        None => AofInput::open(path, !a.no_mmap)?,
    };
    let mut options = aof_options(now_ms);
    options.rdb_threads = rdb_threads;
    if let Some(max) = a.max_memory {
        let threads = super::threads_for(rdb_threads);
        super::verify::split_max_memory(&mut options.rdb, max, 1, threads);
    }
    let r = input.verify(&options);
    let (mut errors, warnings) = r.flattened_findings();
    let out_of_memory = super::verify::out_of_memory(&errors);
    if let Some(e) = out_of_memory {
        eprintln!("redcheck: {shown}: {}", e.message);
    }
    let out_of_memory = out_of_memory.is_some();
    errors.extend(gates_not_applicable(a));
    if a.strict {
        errors.extend(warnings.iter().cloned().map(|mut w| {
            w.severity = Severity::Error;
            w
        }));
    }
    let ok = errors.is_empty();
    let paths = file_paths(&input, &r);
    let text = if a.json {
        format!(
            "{}\n",
            report::json::aof_report(&shown, &r, &paths, &errors, &warnings)
        )
    } else if a.quiet {
        errors.iter().map(|e| format!("{shown}: {e}\n")).collect()
    } else {
        report::text::aof_report(&shown, &r, &paths, &errors, &warnings)
    };
    let bytes = r.files.iter().map(|f| f.size).sum();
    let summary = summary_facts(&r, bytes) + &super::verify::first_error_suffix(&errors);
    Ok(Verified {
        text,
        ok,
        out_of_memory,
        summary,
        keys: r.rdb_keys,
        bytes,
    })
}

/// The form, size (`bytes`, over all its files) and counts of an AOF,
/// for its summary line.
fn summary_facts(r: &AofReport, bytes: u64) -> String {
    let rdb_base = r.files.iter().any(|f| f.rdb.is_some());
    let (form, rdb_part) = match r.form {
        aof::AofForm::MultiPart => (
            format!("multi-part AOF, {} files", r.files.len()),
            if rdb_base { "its RDB base" } else { "" },
        ),
        aof::AofForm::Single { preamble: true } => {
            ("AOF with an RDB preamble".to_string(), "the preamble")
        }
        aof::AofForm::Single { preamble: false } => ("AOF".to_string(), ""),
    };
    let mut facts = format!("{form}, {bytes} bytes, {} commands", r.commands);
    if !rdb_part.is_empty() {
        facts.push_str(&format!(", {} keys in {rdb_part}", r.rdb_keys));
    }
    facts
}

/// The backup gates read an RDB's keyspace and ctime, which an AOF does
/// not state: asking for one on an AOF fails rather than passing unchecked.
fn gates_not_applicable(a: &VerifyArgs) -> Vec<Finding> {
    let mut asked = Vec::new();
    if a.expect_keys.is_some() {
        asked.push("--expect-keys");
    }
    if !a.expect_key.is_empty() {
        asked.push("--expect-key");
    }
    if a.max_age.is_some() {
        asked.push("--max-age");
    }
    asked
        .into_iter()
        .map(|g| {
            Finding::error(
                0,
                format!("gate {g}: cannot be checked on an AOF (it applies to RDB files)"),
            )
        })
        .collect()
}
