//! `redcheck check-aof`, and the binary run as `redis-check-aof` /
//! `valkey-check-aof`: the same arguments, prompts, output and exit status
//! as those tools (see `redcheck::aof::compat`), reading Valkey 9 bases too.

use super::check_rdb;
use clap::Args;
use redcheck::aof::compat::{self, CheckAofOptions, CompatIo};
use redcheck::verify::RdbReport;
use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CheckAofArgs {
    /// Truncate a broken tail of the last file in place (asks first).
    #[arg(long, conflicts_with = "truncate_to_timestamp")]
    pub fix: bool,
    /// Truncate the last file at the first #TS annotation later than this
    /// unix time (asks first).
    #[arg(long, value_name = "UNIX")]
    pub truncate_to_timestamp: Option<i64>,
    /// The AOF file or the multi-part manifest.
    pub file: PathBuf,
}

/// The terminal: prints as the tools do (unbuffered, so a prompt shows
/// before the answer is read) and reads the y/N answer from stdin.
struct Terminal;

impl CompatIo for Terminal {
    fn print(&mut self, s: &str) {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(s.as_bytes()).and_then(|()| o.flush());
    }

    fn rdb_check(&mut self, path: &Path, data: &[u8], report: &RdbReport) {
        let mut o = format!("[offset 0] Checking RDB file {}\n", path.display());
        check_rdb::render(data, report, &mut o);
        self.print(&o);
    }

    fn confirm(&mut self) -> bool {
        let mut answer = String::new();
        match std::io::stdin().lock().read_line(&mut answer) {
            Ok(_) => answer.starts_with(['y', 'Y']),
            Err(_) => false,
        }
    }
}

/// Entry point when invoked through a `*-check-aof` link: `args` excludes
/// argv[0].
pub fn main_compat(name: &str, args: &[OsString]) -> u8 {
    compat::main(name, args, &mut Terminal)
}

pub fn run(a: CheckAofArgs) -> u8 {
    let opts = CheckAofOptions {
        fix: a.fix,
        truncate_to_timestamp: a.truncate_to_timestamp,
        file: a.file,
        tool: "redis-check-aof".to_string(),
        rdb: super::rdb_options(super::now_ms()),
        rdb_threads: 0,
    };
    compat::run(&opts, &mut Terminal)
}
