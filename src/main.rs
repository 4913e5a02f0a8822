//! The `redcheck` binary. Also answers to the names `redis-check-rdb`,
//! `valkey-check-rdb`, `redis-check-aof` and `valkey-check-aof`, so existing
//! scripts keep working through a symlink.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    redcheck::source::exit_on_sigbus();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let name = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let code = if name.contains("check-rdb") {
        cli::check_rdb::main_compat(&name, &args[1..])
    } else if name.contains("check-aof") {
        cli::check_aof::main_compat(&name, &args[1..])
    } else {
        cli::run(args)
    };
    ExitCode::from(code)
}
