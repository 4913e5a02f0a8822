//! `redcheck check-rdb FILE`, and the binary run as `redis-check-rdb` /
//! `valkey-check-rdb`: the same arguments, exit status (0 sane, 1 not) and
//! line format (`[offset N] ...`) as the servers' own checkers, with
//! redcheck's deeper verdict.

use super::progress::Tracker;
use super::verify::DEFAULT_MAX_MEMORY;
use super::{EXIT_FAILED, EXIT_OK, now_ms, out};
use clap::Args;
use redcheck::driver::DriverOptions;
use redcheck::escape_bytes;
use redcheck::rdb::{Header, Record, Records};
use redcheck::source::Source;
use redcheck::verify::{Checksum, RdbReport};
use std::ffi::OsString;
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CheckRdbArgs {
    /// The RDB file to check.
    pub file: PathBuf,
}

/// Entry point when invoked through a `*-check-rdb` link. Accepts the
/// Valkey options (`--format`, `--stats`, `--output`) and ignores them.
pub fn main_compat(name: &str, args: &[OsString]) -> u8 {
    let mut file = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("-v") | Some("--version") => {
                println!("{name} {} (redcheck)", env!("CARGO_PKG_VERSION"));
                return EXIT_OK;
            }
            Some("--format") | Some("--output") => {
                it.next();
            }
            Some("--stats") => {}
            _ if file.is_none() => file = Some(PathBuf::from(a)),
            _ => {
                eprintln!("Usage: {name} <rdb-file-name>");
                return EXIT_FAILED;
            }
        }
    }
    match file {
        Some(f) => run(&f),
        None => {
            eprintln!("Usage: {name} <rdb-file-name>");
            EXIT_FAILED
        }
    }
}

pub fn run(path: &Path) -> u8 {
    let mut o = String::new();
    let code = check(path, &mut o);
    out(&o);
    code
}

fn check(path: &Path, o: &mut String) -> u8 {
    let shown = path.display().to_string();
    let _ = writeln!(o, "[offset 0] Checking RDB file {shown}");
    let data = match Source::open(path, true) {
        Ok(d) => d,
        Err(e) => {
            let _ = writeln!(o, "--- RDB ERROR DETECTED ---");
            let _ = writeln!(o, "[offset 0] Cannot open file {shown}: {e}");
            return EXIT_FAILED;
        }
    };
    // As `verify` runs by default: every core, the default memory cap
    // split between the duplicate-key tracker and the checking threads,
    // pages released behind the reader. The report is the sequential
    // one's, byte for byte.
    let mut options = super::rdb_options(now_ms());
    let threads = super::threads_for(0);
    super::verify::split_max_memory(&mut options, DEFAULT_MAX_MEMORY, 1, threads);
    // The running commentary takes a framing pass of its own: on a thread
    // of its own, beside the verification.
    let commentary = || {
        let mut c = String::new();
        print_progress(&data, &mut c);
        c
    };
    let verify = || {
        let tracker = Tracker::new(&data, false);
        redcheck::driver::verify_rdb(&data, &options, DriverOptions::default(), &tracker)
    };
    let (commentary, r) =
        std::thread::scope(
            |s| match std::thread::Builder::new().spawn_scoped(s, commentary) {
                Ok(thread) => {
                    let r = verify();
                    (thread.join().unwrap_or_default(), r)
                }
                Err(_) => (commentary(), verify()),
            },
        );
    o.push_str(&commentary);
    render_verdict(&r, o)
}

/// The checker's report of `data` after its "Checking RDB file" line:
/// also what `redis-check-aof` prints for an RDB preamble or base.
pub fn render(data: &[u8], r: &RdbReport, o: &mut String) -> u8 {
    print_progress(data, o);
    render_verdict(r, o)
}

/// The checker's lines after its running commentary: warnings, the first
/// error or the checksum and verdict, and the counts.
fn render_verdict(r: &RdbReport, o: &mut String) -> u8 {
    let end = r.end_offset.unwrap_or(r.size);
    for w in &r.warnings {
        let _ = writeln!(o, "[offset {}] warning: {}", w.offset, w.message);
    }
    if let Some(e) = r.errors.first() {
        let _ = writeln!(o, "--- RDB ERROR DETECTED ---");
        let _ = writeln!(o, "[offset {}] {}", e.offset, e.message);
        if let Some(k) = &e.key {
            let _ = writeln!(o, "[additional info] Reading key '{}'", escape_bytes(k));
        }
        if let Some(t) = e.type_name {
            let _ = writeln!(o, "[additional info] Reading type {t}");
        }
        for more in r.errors.iter().skip(1) {
            let _ = writeln!(o, "[offset {}] {}", more.offset, more.message);
        }
    } else {
        match r.checksum {
            Checksum::Ok(_) => {
                let _ = writeln!(o, "[offset {end}] Checksum OK");
            }
            Checksum::Disabled => {
                let _ = writeln!(
                    o,
                    "[offset {end}] RDB file was saved with checksum disabled: no check performed."
                );
            }
            _ => {}
        }
        let _ = writeln!(o, "[offset {end}] \\o/ RDB looks OK! \\o/");
    }
    let _ = writeln!(o, "[info] {} keys read", r.keys);
    let _ = writeln!(o, "[info] {} expires", r.expires);
    let _ = writeln!(o, "[info] {} already expired", r.already_expired);
    let _ = writeln!(o, "[info] {} subexpires", r.keys_with_field_ttl);
    if r.errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// The checker's running commentary: AUX fields, db selection, module aux.
fn print_progress(data: &[u8], o: &mut String) {
    let Ok(header) = Header::parse(data) else {
        return;
    };
    let mut records = Records::new(data, header);
    while let Some(Ok(item)) = records.next() {
        let at = records.offset();
        match item.record {
            Record::Aux { key, value } => {
                let k = key.to_bytes().map(|b| escape_bytes(&b)).unwrap_or_default();
                let v = value
                    .to_bytes()
                    .map(|b| escape_bytes(&b))
                    .unwrap_or_default();
                let _ = writeln!(o, "[offset {at}] AUX FIELD {k} = '{v}'");
            }
            Record::SelectDb { db } => {
                let _ = writeln!(o, "[offset {at}] Selecting DB ID {db}");
            }
            Record::ModuleAux { module_id, .. } => {
                let (name, _) = redcheck::rdb::primitives::module_type_name(module_id);
                let _ = writeln!(o, "[offset {at}] MODULE AUX for: {name}");
            }
            _ => {}
        }
    }
}
