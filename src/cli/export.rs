//! `redcheck export FILE --format resp|jsonl`: the data as RESP commands
//! for `redis-cli --pipe` (`RESTORE` with DUMP payloads, or plain commands
//! with `--commands`), or as JSON lines; filters as for `keys`.

use super::keys::{FilterArgs, note_trailing, open, read_error};
use super::{EXIT_FAILED, EXIT_OK};
use clap::{Args, ValueEnum};
use redcheck::inspect::Keys;
use redcheck::inspect::dump::{payload_version, plain_commands, resp, restore_command};
use redcheck::inspect::value::materialise;
use redcheck::report::inspect::key_with_value;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct ExportArgs {
    /// The RDB file (`-` reads standard input).
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "resp")]
    pub format: ExportFormat,
    /// RESP: plain commands (SET, RPUSH, HSET, XADD, ... and PEXPIREAT)
    /// instead of RESTORE, for a server that cannot read this file's RDB
    /// version. Module values still use RESTORE.
    #[arg(long)]
    pub commands: bool,
    /// RESP: RESTORE ... REPLACE (and plain commands start with DEL
    /// anyway), to overwrite keys that exist.
    #[arg(long)]
    pub replace: bool,
    /// RESP: RESTORE payloads for a server that reads RDB versions up to N
    /// (Redis 6.2: 9, 7.0: 10, 7.2: 11, 7.4+: 12); keys whose type that
    /// server does not know are written as plain commands.
    #[arg(long, value_name = "N")]
    pub target_rdb_version: Option<u32>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Read the file instead of memory-mapping it.
    #[arg(long)]
    pub no_mmap: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Resp,
    Jsonl,
}

pub fn run(a: ExportArgs) -> u8 {
    let (data, header) = match open(&a.file, !a.no_mmap) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let filter = a.filter.filter();
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let mut buf = Vec::new();
    let mut db = None;
    let mut code = EXIT_OK;
    let mut keys = Keys::new(&data, header);
    for entry in keys.by_ref() {
        let e = match entry {
            Ok(e) => e,
            Err(err) => {
                read_error(&a.file, &data, &err);
                code = EXIT_FAILED;
                break;
            }
        };
        if !filter.accepts(&e) {
            continue;
        }
        buf.clear();
        if a.format == ExportFormat::Resp && db != Some(e.db) {
            resp(
                &vec![b"SELECT".to_vec(), e.db.to_string().into_bytes()],
                &mut buf,
            );
            db = Some(e.db);
        }
        let version = payload_version(&header, &e, a.target_rdb_version);
        let needs_value = a.format == ExportFormat::Jsonl || a.commands || version.is_none();
        let value = if needs_value {
            match materialise(&header, &e, None) {
                Ok(m) => Some(m),
                Err(err) => {
                    eprintln!(
                        "redcheck: db {} key '{}': [offset {}] {err}",
                        e.db,
                        redcheck::escape_bytes(&e.key),
                        err.offset_in(&data)
                    );
                    code = EXIT_FAILED;
                    continue;
                }
            }
        } else {
            None
        };
        // RESTORE when the target reads the type, else plain commands; a
        // module value the target cannot read is reported and skipped.
        let mut restore = |buf: &mut Vec<u8>| match version {
            Some(v) => resp(&restore_command(&e, v, a.replace), buf),
            None => {
                eprintln!(
                    "redcheck: db {} key '{}': a module value cannot be recreated for RDB version {}",
                    e.db,
                    redcheck::escape_bytes(&e.key),
                    a.target_rdb_version.unwrap_or(header.version)
                );
                code = EXIT_FAILED;
            }
        };
        match (a.format, value) {
            (ExportFormat::Jsonl, Some(m)) => {
                buf.extend_from_slice(key_with_value(&e, &m).to_string().as_bytes());
                buf.push(b'\n');
            }
            (_, Some(m)) => match plain_commands(&e.key, &m.value, e.expire_ms) {
                Some(cmds) => cmds.iter().for_each(|c| resp(c, &mut buf)),
                None => restore(&mut buf),
            },
            (_, None) => restore(&mut buf),
        }
        if w.write_all(&buf).is_err() {
            return code;
        }
    }
    if w.flush().is_err() {
        return code;
    }
    if code == EXIT_OK {
        note_trailing(&a.file, header, &keys);
    }
    code
}
