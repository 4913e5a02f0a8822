//! `redcheck check-aof`, and the binary run as `redis-check-aof` /
//! `valkey-check-aof`.

use super::EXIT_USAGE;
use clap::Args;
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Args)]
pub struct CheckAofArgs {
    /// Truncate a broken tail (asks first on a terminal).
    #[arg(long)]
    pub fix: bool,
    /// Truncate at the first #TS annotation later than this unix time.
    #[arg(long, value_name = "UNIX")]
    pub truncate_to_timestamp: Option<i64>,
    /// The AOF file or the multi-part manifest.
    pub file: PathBuf,
}

pub fn main_compat(name: &str, _args: &[OsString]) -> u8 {
    eprintln!("{name}: the AOF engine is not wired in yet");
    EXIT_USAGE
}

pub fn run(_a: CheckAofArgs) -> u8 {
    eprintln!("redcheck check-aof: the AOF engine is not wired in yet");
    EXIT_USAGE
}
