//! `redcheck keys FILE`: one line per key (JSON Lines with `--json`) with
//! db, key, type, encoding, len, expiry and size in the file; `--digest`
//! adds `DEBUG DIGEST-VALUE`. Also the filter flags and file opening that
//! the other inspection commands share.

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, out};
use clap::{Args, ValueEnum};
use redcheck::inspect::digest::{DigestError, ScoreFormat, hex, value_digest};
use redcheck::inspect::{Filter, Keys, element_count};
use redcheck::rdb::{Header, LogicalType};
use redcheck::report::json::bytes_value;
use redcheck::source::Source;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct KeysArgs {
    /// The RDB file (`-` reads standard input).
    pub file: PathBuf,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// One JSON object per key, one per line.
    #[arg(long)]
    pub json: bool,
    /// Add each key's `DEBUG DIGEST-VALUE`.
    #[arg(long)]
    pub digest: bool,
    #[command(flatten)]
    pub score: ScoreArgs,
    /// Read the file instead of memory-mapping it.
    #[arg(long)]
    pub no_mmap: bool,
}

/// Which keys to look at; all when no flag is given.
#[derive(Args, Default)]
pub struct FilterArgs {
    /// Only keys in this db.
    #[arg(long, value_name = "N")]
    pub db: Option<u64>,
    /// Only keys of these types (repeatable, or comma-separated).
    #[arg(long = "type", value_name = "TYPE", value_enum, value_delimiter = ',')]
    pub types: Vec<TypeArg>,
    /// Only keys matching this glob (Redis `KEYS`/`SCAN MATCH` syntax).
    #[arg(long = "match", value_name = "GLOB")]
    pub pattern: Option<OsString>,
    /// Only keys whose record takes at least this many bytes in the file.
    #[arg(long, value_name = "BYTES")]
    pub min_size: Option<u64>,
}

impl FilterArgs {
    pub fn filter(&self) -> Filter {
        Filter {
            db: self.db,
            types: self.types.iter().map(|t| t.logical()).collect(),
            pattern: self.pattern.as_ref().map(|p| p.as_bytes().to_vec()),
            min_size: self.min_size,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TypeArg {
    String,
    List,
    Set,
    Zset,
    Hash,
    Stream,
    Module,
}

impl TypeArg {
    fn logical(self) -> LogicalType {
        match self {
            TypeArg::String => LogicalType::String,
            TypeArg::List => LogicalType::List,
            TypeArg::Set => LogicalType::Set,
            TypeArg::Zset => LogicalType::Zset,
            TypeArg::Hash => LogicalType::Hash,
            TypeArg::Stream => LogicalType::Stream,
            TypeArg::Module => LogicalType::Module,
        }
    }
}

/// How zset scores are written into digests (the one version-dependent
/// part of `DEBUG DIGEST`).
#[derive(Args, Default)]
pub struct ScoreArgs {
    /// Digest as this server would: `auto` follows the `redis-ver` the file
    /// records; `printf` is Redis <= 7.0, `shortest` Redis 7.2+ and Valkey.
    #[arg(long, value_enum, default_value = "auto")]
    pub score_format: ScoreFormatArg,
}

#[derive(Clone, Copy, ValueEnum, Default)]
pub enum ScoreFormatArg {
    #[default]
    Auto,
    Printf,
    Shortest,
}

impl ScoreArgs {
    pub fn resolve(&self, data: &[u8], header: Header) -> ScoreFormat {
        match self.score_format {
            ScoreFormatArg::Auto => ScoreFormat::for_file(data, header),
            ScoreFormatArg::Printf => ScoreFormat::Printf17g,
            ScoreFormatArg::Shortest => ScoreFormat::Shortest,
        }
    }
}

/// Opens an RDB and reads its header, or says why not (exit code 2 for a
/// path that cannot be read, 1 for a file that is not an RDB).
pub fn open(path: &Path, mmap: bool) -> Result<(Source, Header), u8> {
    let shown = path.display();
    let source = if path.as_os_str() == "-" {
        Source::stdin()
    } else {
        Source::open(path, mmap)
    };
    let data = source.map_err(|e| {
        eprintln!("redcheck: cannot read {shown}: {e}");
        EXIT_USAGE
    })?;
    let header = Header::parse(&data).map_err(|e| {
        eprintln!("redcheck: {shown}: {e}");
        EXIT_FAILED
    })?;
    Ok((data, header))
}

/// Says where reading the file failed; the caller exits 1 (the file is
/// damaged: `redcheck verify` says more).
pub fn read_error(path: &Path, data: &[u8], err: &redcheck::rdb::Error) {
    eprintln!(
        "redcheck: {}: [offset {}] {err}",
        path.display(),
        err.offset_in(data)
    );
}

/// After a complete pass: says so when bytes follow the RDB's checksum, as
/// in an AOF with an RDB preamble, whose commands are not inspected.
pub fn note_trailing(path: &Path, header: Header, keys: &Keys<'_>) {
    let checksum = if header.has_checksum() { 8 } else { 0 };
    let extra = keys.remaining().len().saturating_sub(checksum);
    if extra > 0 {
        eprintln!(
            "redcheck: note: {}: {extra} bytes follow the RDB (an AOF with an RDB preamble?); only the RDB part is inspected",
            path.display()
        );
    }
}

pub fn run(a: KeysArgs) -> u8 {
    let (data, header) = match open(&a.file, !a.no_mmap) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let filter = a.filter.filter();
    let format = a.score.resolve(&data, header);
    let mut code = EXIT_OK;
    let mut buf = String::new();
    if !a.json {
        let digest = if a.digest {
            format!("{:<40} ", "DIGEST")
        } else {
            String::new()
        };
        buf.push_str(&format!(
            "{:<3} {:<7} {:<22} {:>8} {:>9} {:>14} {digest}KEY\n",
            "DB", "TYPE", "ENCODING", "LEN", "SIZE", "EXPIRE_MS"
        ));
    }
    let mut keys = Keys::new(&data, header);
    for entry in keys.by_ref() {
        let e = match entry {
            Ok(e) => e,
            Err(err) => {
                read_error(&a.file, &data, &err);
                return EXIT_FAILED;
            }
        };
        if !filter.accepts(&e) {
            continue;
        }
        let len = match element_count(&header, &e) {
            Ok(n) => Value::from(n),
            Err(err) => {
                eprintln!(
                    "redcheck: db {} key '{}': [offset {}] {err}",
                    e.db,
                    redcheck::escape_bytes(&e.key),
                    err.offset_in(&data)
                );
                code = EXIT_FAILED;
                Value::Null
            }
        };
        let digest = if a.digest {
            match value_digest(&header, &e, format) {
                Ok(d) => Some(hex(&d)),
                Err(DigestError::Module(_)) => None,
                Err(err) => {
                    eprintln!(
                        "redcheck: db {} key '{}': {err}",
                        e.db,
                        redcheck::escape_bytes(&e.key)
                    );
                    code = EXIT_FAILED;
                    None
                }
            }
        } else {
            None
        };
        if a.json {
            let mut v = json!({
                "db": e.db,
                "key": bytes_value(&e.key),
                "type": e.logical().name(),
                "encoding": e.encoding(),
                "len": len,
                "expire_ms": e.expire_ms,
                "size": e.size,
            });
            if a.digest {
                v["digest"] = digest.map_or(Value::Null, Value::from);
            }
            buf.push_str(&v.to_string());
        } else {
            let expire = e.expire_ms.map_or("-".to_string(), |ms| ms.to_string());
            buf.push_str(&format!(
                "{:<3} {:<7} {:<22} {:>8} {:>9} {:>14} ",
                e.db,
                e.logical().name(),
                e.encoding(),
                len.to_string(),
                e.size,
                expire
            ));
            if a.digest {
                buf.push_str(digest.as_deref().unwrap_or("-"));
                buf.push(' ');
            }
            buf.push_str(&redcheck::escape_bytes(&e.key));
        }
        buf.push('\n');
        if buf.len() > 1 << 16 {
            if !out(&buf) {
                return code;
            }
            buf.clear();
        }
    }
    out(&buf);
    note_trailing(&a.file, header, &keys);
    code
}
