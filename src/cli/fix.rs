//! `redcheck fix`: repair an AOF safely. Shows the plan, asks on a terminal
//! (or takes `--yes`), keeps the original (backups, or `--output DIR`),
//! writes through temp file + fsync + rename, then verifies the result.
//!
//! Exit status: 0 the result is valid; 1 it could not be made valid, or the
//! user declined; 2 could not run (arguments, unreadable input, I/O).

use super::verify_aof::{aof_options, file_paths, is_aof};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, now_ms, out};
use clap::Args;
use redcheck::aof::apply::{self, ApplyOptions, ApplyOutcome};
use redcheck::aof::dir::AofInput;
use redcheck::aof::{self, AofReport, FixMode, FixPlan};
use redcheck::report;
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct FixArgs {
    /// The AOF: a single file, a multi-part manifest, or its directory.
    pub path: PathBuf,
    /// Cut everything after the first #TS annotation later than this unix
    /// time, across the whole multi-part set.
    #[arg(long, value_name = "UNIX", group = "mode")]
    pub to_timestamp: Option<i64>,
    /// Cut just before the last FLUSHALL/FLUSHDB (undo an accidental flush).
    #[arg(long, group = "mode")]
    pub before_flush: bool,
    /// Keep every valid command around damage in the middle, skipping only
    /// the broken regions.
    #[arg(long, group = "mode")]
    pub salvage: bool,
    /// Apply without asking.
    #[arg(long, short)]
    pub yes: bool,
    /// Show the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the repaired copy into DIR and leave the input untouched.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// One JSON object on stdout: the plan, what was written, the result.
    #[arg(long)]
    pub json: bool,
    /// Read files instead of memory-mapping them.
    #[arg(long)]
    pub no_mmap: bool,
}

impl FixArgs {
    fn mode(&self) -> FixMode {
        if let Some(t) = self.to_timestamp {
            FixMode::ToTimestamp(t)
        } else if self.before_flush {
            FixMode::BeforeLastFlush
        } else if self.salvage {
            FixMode::Salvage
        } else {
            FixMode::Tail
        }
    }
}

/// What a run did, for the JSON report.
#[derive(Default)]
struct Outcome {
    plan: Option<FixPlan>,
    refused: Option<String>,
    declined: bool,
    applied: Option<ApplyOutcome>,
    result: Option<(String, AofReport, Vec<String>)>,
}

pub fn run(a: FixArgs) -> u8 {
    let now = now_ms();
    let options = aof_options(now);
    let shown = a.path.display().to_string();
    if let Err(msg) = refuse_rdb(&a.path, a.no_mmap) {
        eprintln!("redcheck fix: {msg}");
        return EXIT_USAGE;
    }
    let input = match AofInput::open(&a.path, !a.no_mmap) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("redcheck fix: cannot read {shown}: {e}");
            return EXIT_USAGE;
        }
    };
    let report = input.verify(&options);
    let mode = a.mode();
    let mut outcome = Outcome::default();
    let say = |s: String| {
        if !a.json {
            out(&s);
        }
    };
    let code = 'run: {
        let plan = match input.plan(&report, mode, &options) {
            Ok(p) => p,
            Err(e) => {
                say(format!("{shown}: cannot {mode}: {e}\n"));
                outcome.refused = Some(e.message);
                break 'run EXIT_FAILED;
            }
        };
        let mut text = format!("{shown}: plan ({mode})\n");
        for line in plan.describe() {
            text.push_str(&format!("  {line}\n"));
        }
        say(text);
        if plan.is_noop() {
            let clean = report.clean();
            say(if clean {
                "nothing to change: the AOF is valid\n".to_string()
            } else {
                "nothing this mode can change, and the AOF is not valid; see `redcheck verify`\n"
                    .to_string()
            });
            outcome.plan = Some(plan);
            break 'run if clean { EXIT_OK } else { EXIT_FAILED };
        }
        if a.dry_run {
            say("dry run: nothing written\n".to_string());
            outcome.plan = Some(plan);
            break 'run EXIT_OK;
        }
        if !a.yes && !confirm(&a) {
            say("declined: nothing changed\n".to_string());
            outcome.plan = Some(plan);
            outcome.declined = true;
            break 'run EXIT_FAILED;
        }
        let applied = apply::apply(
            &input,
            &plan,
            &ApplyOptions {
                output_dir: a.output.clone(),
                backup_time: u64::try_from(now / 1000).unwrap_or(0),
            },
        );
        outcome.plan = Some(plan);
        let applied = match applied {
            Ok(o) => o,
            Err(e) => {
                eprintln!("redcheck fix: {e}");
                break 'run EXIT_USAGE;
            }
        };
        say(describe_applied(&applied));
        outcome.applied = Some(applied);
        // The input's mapping must go before the result is read again.
        let result_path = result_path(&input, a.output.as_deref());
        drop(input);
        match aof::dir::verify_path(&result_path, !a.no_mmap, &options) {
            Ok((result_input, result)) => {
                let clean = result.clean();
                say(if clean {
                    format!(
                        "result: {} is valid ({} commands)\n",
                        result_path.display(),
                        result.commands
                    )
                } else {
                    let (errors, _) = result.flattened_findings();
                    let first = errors.first().map(ToString::to_string).unwrap_or_default();
                    format!(
                        "result: {} is still not valid: {first}\n",
                        result_path.display()
                    )
                });
                let paths = file_paths(&result_input, &result);
                outcome.result = Some((result_path.display().to_string(), result, paths));
                if clean { EXIT_OK } else { EXIT_FAILED }
            }
            Err(e) => {
                eprintln!(
                    "redcheck fix: cannot read the result {}: {e}",
                    result_path.display()
                );
                EXIT_USAGE
            }
        }
    };
    if a.json {
        out(&format!(
            "{}\n",
            json_outcome(&shown, mode, &a, &outcome, code)
        ));
    }
    code
}

/// `fix` repairs AOFs only; an RDB given by mistake must not be "repaired"
/// as a RESP file with a preamble.
fn refuse_rdb(path: &Path, no_mmap: bool) -> Result<(), String> {
    if path.is_dir() {
        return Ok(());
    }
    let data = redcheck::source::Source::open(path, !no_mmap)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if is_aof(path, &data, None) || aof::detect(&data) != aof::Detected::RdbPreamble {
        return Ok(());
    }
    let rdb = redcheck::verify::verify_rdb(&data, &redcheck::verify::Options::default());
    if is_aof(path, &data, Some(&rdb)) {
        Ok(())
    } else {
        Err(format!(
            "{} is an RDB file, not an AOF; `redcheck verify` checks it",
            path.display()
        ))
    }
}

/// Asks on the terminal. Without one there is nobody to ask: a script must
/// say `--yes` (or `--dry-run`).
fn confirm(a: &FixArgs) -> bool {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        eprintln!(
            "redcheck fix: standard input is not a terminal; pass --yes to apply the plan, or --dry-run to only show it"
        );
        return false;
    }
    let target = match &a.output {
        Some(d) => format!("write the repaired copy into {}", d.display()),
        None => "repair in place (originals kept as *.bak.<time>)".to_string(),
    };
    eprint!("Apply this plan and {target}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer).is_ok() && answer.trim_start().starts_with(['y', 'Y'])
}

/// Where the repaired AOF is: in place, or in the output directory under
/// the same name.
fn result_path(input: &AofInput, output: Option<&Path>) -> PathBuf {
    match (input, output) {
        (_, None) => input.path().to_path_buf(),
        (AofInput::Single { path, .. }, Some(dir)) => {
            dir.join(aof::dir::name_to_os(&AofInput::single_name(path)))
        }
        (AofInput::MultiPart { manifest_path, .. }, Some(dir)) => match manifest_path.file_name() {
            Some(name) => dir.join(name),
            None => dir.to_path_buf(),
        },
    }
}

fn describe_applied(o: &ApplyOutcome) -> String {
    let mut s = String::new();
    if let Some(m) = &o.manifest {
        s.push_str(&format!("  wrote manifest {}\n", m.display()));
    }
    for p in &o.written {
        s.push_str(&format!("  wrote {}\n", p.display()));
    }
    for p in &o.backups {
        s.push_str(&format!("  kept the original as {}\n", p.display()));
    }
    for (from, to) in &o.removed {
        s.push_str(&format!(
            "  moved {} out of the set to {}\n",
            from.display(),
            to.display()
        ));
    }
    s
}

fn paths(list: &[PathBuf]) -> Vec<String> {
    list.iter().map(|p| p.display().to_string()).collect()
}

fn json_outcome(shown: &str, mode: FixMode, a: &FixArgs, o: &Outcome, code: u8) -> Value {
    let mode_name = match mode {
        FixMode::Tail => "tail",
        FixMode::ToTimestamp(_) => "to-timestamp",
        FixMode::BeforeLastFlush => "before-flush",
        FixMode::Salvage => "salvage",
    };
    let plan = o.plan.as_ref().map(|p| {
        let skipped: Vec<Value> = p
            .files
            .iter()
            .flat_map(|f| {
                f.skipped.iter().map(|s| {
                    json!({
                        "file": report::json::bytes_value(&f.name),
                        "start": s.start,
                        "end": s.end,
                        "reason": s.reason,
                    })
                })
            })
            .collect();
        json!({
            "changes": !p.is_noop(),
            "bytes_lost": p.bytes_lost,
            "commands_lost": p.commands_lost,
            "describe": p.describe(),
            "skipped": skipped,
        })
    });
    let applied = o.applied.as_ref().map(|ap| {
        json!({
            "written": paths(&ap.written),
            "backups": paths(&ap.backups),
            "removed": ap.removed.iter().map(|(f, t)| json!({"path": f.display().to_string(), "moved_to": t.display().to_string()})).collect::<Vec<_>>(),
            "manifest": ap.manifest.as_ref().map(|m| m.display().to_string()),
        })
    });
    let result = o.result.as_ref().map(|(path, r, file_paths)| {
        let (errors, warnings) = r.flattened_findings();
        report::json::aof_report(path, r, file_paths, &errors, &warnings)
    });
    json!({
        "schema_version": report::json::SCHEMA_VERSION,
        "path": shown,
        "mode": mode_name,
        "dry_run": a.dry_run,
        "ok": code == EXIT_OK,
        "refused": o.refused,
        "declined": o.declined,
        "plan": plan,
        "applied": applied,
        "result": result,
    })
}
