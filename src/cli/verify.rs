//! `redcheck verify`: deep verification with a verdict, gates, and an exit
//! code for scripts.

use super::gates::{KeyRange, parse_duration};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, now_ms, out, verify_aof};
use clap::Args;
use redcheck::report;
use redcheck::source::Source;
use redcheck::verify::{self, Finding, Options};
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
}

pub fn run(a: VerifyArgs) -> u8 {
    let now = now_ms();
    let options = Options {
        now_ms: now,
        ..Options::default()
    };
    let mut worst = EXIT_OK;
    for path in &a.paths {
        let shown = path.display().to_string();
        if path.is_dir() {
            worst = worst.max(report_aof(&a, path, None, now));
            continue;
        }
        let source = if shown == "-" {
            Source::stdin()
        } else {
            Source::open(path, !a.no_mmap)
        };
        let data = match source {
            Ok(d) => d,
            Err(e) => {
                eprintln!("redcheck: cannot read {shown}: {e}");
                worst = EXIT_USAGE;
                continue;
            }
        };
        // Cheap signs first (a manifest, RESP, a `.aof` name); an RDB
        // followed by RESP is only known once the RDB has been read.
        let r = if verify_aof::is_aof(path, &data, None) {
            None
        } else {
            let driver = redcheck::driver::DriverOptions {
                threads: a.threads,
                ..Default::default()
            };
            Some(redcheck::driver::verify_rdb(
                &data,
                &options,
                driver,
                &redcheck::driver::NoProgress,
            ))
        };
        let Some(r) = r.filter(|r| !verify_aof::is_aof(path, &data, Some(r))) else {
            let stdin = (shown == "-").then_some(data);
            worst = worst.max(report_aof(&a, path, stdin, now));
            continue;
        };
        let mut errors = r.errors.clone();
        let warnings = r.warnings.clone();
        errors.extend(gate_failures(&a, &data, &r, now));
        if a.strict {
            errors.extend(warnings.iter().cloned().map(|mut w| {
                w.severity = verify::Severity::Error;
                w
            }));
        }
        let ok = errors.is_empty();
        let text = if a.json {
            let mut v = report::json::rdb_report(&shown, &r, &errors, &warnings);
            v["ok"] = serde_json::Value::Bool(ok);
            format!("{v}\n")
        } else if a.quiet {
            errors.iter().map(|e| format!("{shown}: {e}\n")).collect()
        } else {
            report::text::rdb_report(&shown, &r, &errors, &warnings)
        };
        if !out(&text) {
            return worst.max(if ok { EXIT_OK } else { EXIT_FAILED });
        }
        if !ok && worst == EXIT_OK {
            worst = EXIT_FAILED;
        }
    }
    worst
}

/// Verifies and prints one AOF input; returns its exit status.
fn report_aof(a: &VerifyArgs, path: &Path, stdin: Option<Source>, now: i64) -> u8 {
    match verify_aof::verify_one(a, path, stdin, now) {
        Ok((text, ok)) => {
            out(&text);
            if ok { EXIT_OK } else { EXIT_FAILED }
        }
        Err(e) => {
            eprintln!("redcheck: cannot read {}: {e}", path.display());
            EXIT_USAGE
        }
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
