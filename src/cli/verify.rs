//! `redcheck verify`: deep verification with a verdict, gates, and an exit
//! code for scripts.

use super::gates::{KeyRange, parse_duration, parse_size};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, now_ms, out, progress, verify_aof};
use clap::Args;
use rayon::prelude::*;
use redcheck::driver::DriverOptions;
use redcheck::source::{self, Source};
use redcheck::verify::{self, Finding, Options};
use redcheck::{aof, report};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct VerifyArgs {
    /// Files to verify (`-` reads standard input).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// One JSON object per input, one per line, on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors (the exit code tells the verdict).
    #[arg(long, short)]
    pub quiet: bool,
    /// Read files instead of memory-mapping them.
    #[arg(long)]
    pub no_mmap: bool,
    /// Gate: the file holds exactly N keys, or MIN..MAX (either end optional).
    #[arg(long, value_name = "N|MIN..MAX")]
    pub expect_keys: Option<KeyRange>,
    /// Gate: this key is present (repeatable; scoped by --db).
    #[arg(long, value_name = "KEY")]
    pub expect_key: Vec<String>,
    /// Restrict --expect-key to this db.
    #[arg(long, value_name = "N")]
    pub db: Option<u64>,
    /// Gate: the snapshot is at most this old (from the `ctime` aux field):
    /// 3600, 90m, 36h, 7d.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_age: Option<std::time::Duration>,
    /// Treat warnings as failures.
    #[arg(long)]
    pub strict: bool,
    /// Worker threads (0: one per core). The report is the same for any
    /// count.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Cap redcheck's own heap (512M, 2G; default 64M): three quarters for
    /// the duplicate-key tracker (more framing passes beyond it), a quarter
    /// shared by the threads checking values (a value too big for it spills to
    /// unlinked temporary files in $TMPDIR; with none to be had, more
    /// walks of it, and an LZF blob that cannot be inflated is exit 2).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,
    /// Read past damage: report every damaged region and what is intact.
    #[arg(long)]
    pub salvage: bool,
}

pub fn run(a: VerifyArgs) -> u8 {
    let now = now_ms();
    let mut options = super::rdb_options(now);
    // Several inputs (or a directory of them): each verified on one
    // thread, the inputs in parallel, one summary line each (unless --json
    // or --quiet) and a total.
    let (paths, listed_dir) = expand_dirs(&a.paths);
    let several = paths.len() > 1 || listed_dir;
    // The cap holds however many cores and inputs: it is divided
    // between the inputs verified at once and their checking threads.
    let threads = super::threads_for(a.threads);
    let (inputs_at_once, threads_per_input) = if several {
        (threads.min(paths.len()), 1)
    } else {
        (1, threads)
    };
    let max = a.max_memory.unwrap_or(DEFAULT_MAX_MEMORY);
    split_max_memory(&mut options, max, inputs_at_once, threads_per_input);
    let driver = DriverOptions {
        threads: if several { 1 } else { a.threads },
        ..Default::default()
    };
    let one = |path: &PathBuf| verify_input(&a, path, &options, driver, !several, now);
    if !several {
        let mut worst = EXIT_OK;
        for path in &paths {
            let o = one(path);
            worst = worst.max(o.code);
            if !o.text.is_empty() && !out(&o.text) {
                break;
            }
        }
        return worst;
    }
    let outcomes: Vec<Outcome> = match rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads)
        .build()
    {
        Ok(pool) => pool.install(|| paths.par_iter().map(one).collect()),
        Err(_) => paths.iter().map(one).collect(),
    };
    let summaries = !a.json && !a.quiet;
    let mut text = String::new();
    for o in &outcomes {
        if summaries {
            text.push_str(&o.summary);
            text.push('\n');
        } else {
            text.push_str(&o.text);
        }
    }
    if summaries {
        let count = |c: u8| outcomes.iter().filter(|o| o.code == c).count();
        text.push_str(&format!(
            "total  {} inputs: {} ok, {} failed, {} unreadable; {} keys, {} bytes\n",
            outcomes.len(),
            count(EXIT_OK),
            count(EXIT_FAILED),
            count(EXIT_USAGE),
            outcomes.iter().map(|o| o.keys).sum::<u64>(),
            outcomes.iter().map(|o| o.bytes).sum::<u64>(),
        ));
    }
    out(&text);
    outcomes.iter().map(|o| o.code).max().unwrap_or(EXIT_OK)
}

/// The inputs to verify: each path as given, except that a directory that
/// is not an AOF directory stands for the regular files in it, sorted by
/// name. Also says whether such a directory was given.
fn expand_dirs(paths: &[PathBuf]) -> (Vec<PathBuf>, bool) {
    let mut out = Vec::new();
    let mut listed = false;
    for p in paths {
        match (p.is_dir() && !aof::dir::is_aof_dir(p))
            .then(|| aof::dir::files_in(p))
            .and_then(Result::ok)
        {
            Some(files) if !files.is_empty() => {
                listed = true;
                out.extend(files);
            }
            // Empty or unreadable: reported as an input that cannot be read.
            _ => out.push(p.clone()),
        }
    }
    (out, listed)
}

/// redcheck's own heap when `--max-memory` is not given.
pub const DEFAULT_MAX_MEMORY: u64 = 64 << 20;

/// Divides `--max-memory` between the inputs verified at once; each
/// input's share goes three quarters to its duplicate-key tracker (48 MiB
/// of the default 64: six million keys in one pass), a quarter to its
/// value-checking threads (a value too big for a thread's part spills to
/// temporary files, so a small part costs little).
pub fn split_max_memory(
    options: &mut Options,
    max: u64,
    inputs_at_once: usize,
    threads_per_input: usize,
) {
    let share = usize::try_from(max).unwrap_or(usize::MAX) / inputs_at_once.max(1);
    options.dup_key_budget = share / 4 * 3;
    options.value_budget = share / 4 / threads_per_input.max(1);
}

/// A finding that says verification could not go on within the memory
/// budget: not a verdict on the file, so exit status 2.
pub fn out_of_memory(errors: &[Finding]) -> Option<&Finding> {
    errors.iter().find(|e| e.out_of_budget)
}

/// One input's result: its exit status, the full text to print, and a
/// one-line summary for runs over several inputs.
struct Outcome {
    code: u8,
    text: String,
    summary: String,
    keys: u64,
    bytes: u64,
}

fn status(ok: bool) -> &'static str {
    if ok { "ok    " } else { "FAILED" }
}

fn verify_input(
    a: &VerifyArgs,
    path: &Path,
    options: &Options,
    driver: DriverOptions,
    bar: bool,
    now: i64,
) -> Outcome {
    let shown = path.display().to_string();
    let cannot_read = |why: &dyn std::fmt::Display| unreadable(&shown, why);
    if path.is_dir() && !aof::dir::is_aof_dir(path) {
        return cannot_read(
            &"a directory holding no regular file (nor an AOF manifest), or that cannot be listed",
        );
    }
    if path.is_dir() {
        return report_aof(a, path, None, now, driver.threads);
    }
    // Standard input and compressed files holding an RDB are verified as
    // they are read, unless something needs a second look at the bytes
    // (--salvage, --expect-key); everything else is mapped or spooled.
    let second_look = a.salvage || !a.expect_key.is_empty();
    let stream = match source::open_stream(path) {
        Ok(s) => s,
        Err(e) => return cannot_read(&e),
    };
    let input = match stream {
        Some(mut stream) if stream.is_rdb() && !second_look => {
            let tracker = progress::Tracker::stream(bar && !a.quiet && !a.json);
            let streamed =
                redcheck::driver::verify_rdb_stream(stream.reader(), options, driver, &tracker);
            tracker.finish();
            let aof_follows = |s: &redcheck::driver::Streamed| s.after_rdb.first() == Some(&b'*');
            match streamed {
                // An AOF with an RDB preamble: a compressed file can be
                // read again, whole, for the AOF verifier; a pipe cannot.
                Ok(s) if aof_follows(&s) && shown != "-" => source::open_input(path, !a.no_mmap),
                Ok(s) if aof_follows(&s) => {
                    return cannot_read(
                        &"the input is an AOF with an RDB preamble: read from a pipe, only its RDB part can be verified in one pass (save it to a file and verify that)",
                    );
                }
                Ok(s) => {
                    return rdb_outcome(
                        a,
                        &shown,
                        &s.report,
                        stream.compression,
                        s.read_error.as_ref(),
                        &[],
                        now,
                    );
                }
                Err(e) => return cannot_read(&e),
            }
        }
        Some(stream) => stream.spool(!a.no_mmap),
        None => source::open_input(path, !a.no_mmap),
    };
    let input = match input {
        Ok(i) => i,
        Err(e) => return cannot_read(&e),
    };
    let data = input.source;
    // Cheap signs first (a manifest, RESP, a `.aof` name); an RDB
    // followed by RESP is only known once the RDB has been read.
    let r = if verify_aof::is_aof(path, &data, None) {
        None
    } else {
        let tracker = progress::Tracker::new(&data, bar && !a.quiet && !a.json);
        let r = redcheck::driver::verify_rdb(&data, options, driver, &tracker);
        tracker.finish();
        Some(r)
    };
    let Some(r) = r.filter(|r| !verify_aof::is_aof(path, &data, Some(r))) else {
        // Standard input and decompressed bytes cannot be opened again.
        let given = (shown == "-" || input.compression.is_some()).then_some(data);
        return report_aof(a, path, given, now, driver.threads);
    };
    rdb_outcome(
        a,
        &shown,
        &r,
        input.compression,
        input.decode_error.as_ref(),
        &data,
        now,
    )
}

/// The outcome of one verified RDB. `data` is the whole file when it can
/// be read again (for --salvage and --expect-key), else empty.
fn rdb_outcome(
    a: &VerifyArgs,
    shown: &str,
    r: &verify::RdbReport,
    compression: Option<source::Compression>,
    decode_error: Option<&std::io::Error>,
    data: &[u8],
    now: i64,
) -> Outcome {
    let mut errors = r.errors.clone();
    let warnings = r.warnings.clone();
    if let (Some(c), Some(e)) = (compression, decode_error) {
        errors.push(Finding::error(
            r.size,
            format!(
                "{} stream broken after {} bytes: {e}; the bytes before it were verified",
                c.name(),
                r.size
            ),
        ));
    }
    errors.extend(gate_failures(a, data, r, now));
    if a.strict {
        errors.extend(warnings.iter().cloned().map(|mut w| {
            w.severity = verify::Severity::Error;
            w
        }));
    }
    let ok = errors.is_empty();
    let salvaged = a.salvage.then(|| super::salvage::salvage(data));
    let text = if a.json {
        let mut v = report::json::rdb_report(shown, r, &errors, &warnings);
        v["ok"] = serde_json::Value::Bool(ok);
        if let Some(c) = compression {
            v["compression"] = serde_json::Value::from(c.name());
        }
        if let Some(s) = &salvaged {
            v["salvage"] = super::salvage::json(s);
        }
        format!("{v}\n")
    } else if a.quiet {
        errors.iter().map(|e| format!("{shown}: {e}\n")).collect()
    } else {
        let t = report::text::rdb_report(shown, r, &errors, &warnings);
        t + &salvaged
            .as_ref()
            .map(super::salvage::text)
            .unwrap_or_default()
    };
    let format = r
        .header
        .map(|h| h.magic_text())
        .unwrap_or_else(|| "neither an RDB nor an AOF".into());
    let mut summary = format!(
        "{} {shown}  {format}, {} bytes{}, {} keys, checksum {}",
        status(ok),
        r.size,
        compression
            .map(|c| format!(" ({} compressed)", c.name()))
            .unwrap_or_default(),
        r.keys,
        r.checksum.as_str(),
    );
    summary.push_str(&first_error_suffix(&errors));
    let code = if let Some(e) = out_of_memory(&r.errors) {
        eprintln!("redcheck: {shown}: {}", e.message);
        EXIT_USAGE
    } else if ok {
        EXIT_OK
    } else {
        EXIT_FAILED
    };
    Outcome {
        code,
        text,
        summary,
        keys: r.keys,
        bytes: r.size,
    }
}

/// Verifies one AOF input, its RDB part on `rdb_threads` threads (as
/// [`DriverOptions::threads`]); returns its exit status and text.
fn report_aof(
    a: &VerifyArgs,
    path: &Path,
    stdin: Option<Source>,
    now: i64,
    rdb_threads: usize,
) -> Outcome {
    let shown = path.display().to_string();
    if a.salvage {
        eprintln!(
            "redcheck: {shown} is an AOF: --salvage reads RDB files; `redcheck fix --salvage` keeps the valid commands of a damaged AOF"
        );
    }
    match verify_aof::verify_one(a, path, stdin, now, rdb_threads) {
        Ok(v) => Outcome {
            code: if v.out_of_memory {
                EXIT_USAGE
            } else if v.ok {
                EXIT_OK
            } else {
                EXIT_FAILED
            },
            summary: format!("{} {shown}  {}", status(v.ok), v.summary),
            text: v.text,
            keys: v.keys,
            bytes: v.bytes,
        },
        Err(e) => unreadable(&shown, &e),
    }
}

/// How a summary line ends for an input with errors: their count and the
/// first; nothing without errors.
pub fn first_error_suffix(errors: &[Finding]) -> String {
    match errors.first() {
        Some(first) => format!("; {} errors, first {first}", errors.len()),
        None => String::new(),
    }
}

/// The outcome of an input that could not be read (exit status 2), with
/// the reason on standard error.
fn unreadable(shown: &str, why: &dyn std::fmt::Display) -> Outcome {
    eprintln!("redcheck: cannot read {shown}: {why}");
    Outcome {
        code: EXIT_USAGE,
        text: String::new(),
        summary: format!("ERROR  {shown}: cannot read: {why}"),
        keys: 0,
        bytes: 0,
    }
}

fn gate_failures(a: &VerifyArgs, data: &[u8], r: &verify::RdbReport, now_ms: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(range) = a.expect_keys
        && !(range.min..=range.max).contains(&r.keys)
    {
        out.push(Finding::error(
            0,
            format!("gate --expect-keys {range}: the file holds {} keys", r.keys),
        ));
    }
    if !a.expect_key.is_empty() {
        let wanted: Vec<&[u8]> = a.expect_key.iter().map(|k| k.as_bytes()).collect();
        let found = verify::find_keys(data, &wanted, a.db);
        for k in &a.expect_key {
            if !found.iter().any(|f| f == k.as_bytes()) {
                let scope = a.db.map(|d| format!(" in db {d}")).unwrap_or_default();
                out.push(
                    Finding::error(0, format!("gate --expect-key: key '{k}' not found{scope}"))
                        .in_db(a.db)
                        .with_key(Some(k.as_bytes())),
                );
            }
        }
    }
    if let Some(max_age) = a.max_age {
        let ctime = r
            .aux_value("ctime")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<i64>().ok());
        match ctime {
            None => out.push(Finding::error(
                0,
                "gate --max-age: the file has no ctime aux field to date it",
            )),
            Some(t) => {
                let age = now_ms / 1000 - t;
                if age > max_age.as_secs() as i64 {
                    out.push(Finding::error(
                        0,
                        format!(
                            "gate --max-age {}s: the snapshot was written {} ({age}s ago)",
                            max_age.as_secs(),
                            report::text::utc(t)
                        ),
                    ));
                }
            }
        }
    }
    out
}
