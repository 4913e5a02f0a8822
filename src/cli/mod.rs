//! Command-line layer: flags -> validated options -> library call -> report
//! -> exit code. Exit codes: 0 verified, 1 verification failed, 2 could not
//! run.

pub mod check_aof;
pub mod check_rdb;
pub mod diff;
pub mod digest;
pub mod export;
pub mod extract;
pub mod fix;
pub mod gates;
pub mod get;
pub mod keys;
pub mod progress;
pub mod salvage;
pub mod sample;
pub mod stats;
pub mod verify;
pub mod verify_aof;

use clap::{Parser, Subcommand};
use std::ffi::OsString;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "redcheck",
    version,
    about = "Verify and analyse Redis and Valkey persistence files (RDB, AOF, multi-part AOF)",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify RDB and AOF files deeply: framing, every encoding, checksums,
    /// duplicate keys; AOF commands, manifests and multi-part sets.
    Verify(verify::VerifyArgs),
    /// Drop-in for `redis-check-rdb FILE`.
    CheckRdb(check_rdb::CheckRdbArgs),
    /// Drop-in for `redis-check-aof [--fix|--truncate-to-timestamp T] FILE`.
    CheckAof(check_aof::CheckAofArgs),
    /// Repair an AOF: torn tail (default), --to-timestamp, --before-flush,
    /// --salvage. Shows the plan, asks, keeps the original.
    Fix(fix::FixArgs),
    /// Keys, types, encodings, TTLs, sizes, biggest keys, prefixes and estimated memory.
    Stats(stats::StatsArgs),
    /// List keys with type, encoding, length, expiry and size in the file.
    Keys(keys::KeysArgs),
    /// Print the DEBUG DIGEST a server holding this data would print.
    Digest(digest::DigestArgs),
    /// Print whole values of named keys as JSON.
    Get(get::GetArgs),
    /// Keys added, removed and changed between two RDB files, per db.
    Diff(diff::DiffArgs),
    /// A uniform random sample of keys with value previews (JSON lines).
    Sample(sample::SampleArgs),
    /// Commands that recreate the data (RESP for redis-cli --pipe), or JSON lines.
    Export(export::ExportArgs),
    /// Write the intact keys of a (damaged) RDB to a new, valid RDB.
    Extract(extract::ExtractArgs),
}

pub fn run(args: Vec<OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Verify(a) => verify::run(a),
        Command::CheckRdb(a) => check_rdb::run(&a.file),
        Command::CheckAof(a) => check_aof::run(a),
        Command::Fix(a) => fix::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Keys(a) => keys::run(a),
        Command::Digest(a) => digest::run(a),
        Command::Get(a) => get::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Sample(a) => sample::run(a),
        Command::Export(a) => export::run(a),
        Command::Extract(a) => extract::run(a),
    }
}

/// The threads a thread count means: `n`, or one per core for 0 (the
/// convention of `--threads` and of `DriverOptions::threads`).
pub fn threads_for(n: usize) -> usize {
    match n {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Current time in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The RDB verification options every command starts from: "now" for
/// counting expired keys, and unlinked temporary files for what one value
/// too big for the memory budget needs (its member fingerprints, so that
/// its check stays linear in time; its LZF blob, inflated).
pub fn rdb_options(now_ms: i64) -> redcheck::verify::Options {
    redcheck::verify::Options {
        now_ms,
        spill: Some(redcheck::source::SPILL_TO_TEMP_FILES),
        ..redcheck::verify::Options::default()
    }
}

/// The salvage options every command starts from: a value too big for the
/// memory budget is deep-checked through temporary files, as in
/// [`rdb_options`].
pub fn salvage_options() -> redcheck::salvage::SalvageOptions {
    let mut o = redcheck::salvage::SalvageOptions::default();
    o.resync.spill = Some(redcheck::source::SPILL_TO_TEMP_FILES);
    o
}

/// Writes to stdout, treating a closed pipe as a request to stop quietly.
pub fn out(s: &str) -> bool {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes()).and_then(|()| o.flush()).is_ok()
}
