//! `redcheck get FILE KEY...`: the whole value of the named keys, one JSON
//! object per key and line, in file order.

use super::keys::{note_trailing, open, read_error};
use super::{EXIT_FAILED, EXIT_OK, out};
use clap::Args;
use redcheck::inspect::Keys;
use redcheck::inspect::value::materialise;
use redcheck::report::inspect::key_with_value;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

#[derive(Args)]
pub struct GetArgs {
    /// The RDB file (`-` reads standard input).
    pub file: PathBuf,
    /// Keys to print (exact names; any bytes, e.g. `$'bin\xff'` in bash).
    #[arg(required = true)]
    pub keys: Vec<OsString>,
    /// Only look in this db (default: every db).
    #[arg(long, value_name = "N")]
    pub db: Option<u64>,
    /// Read the file instead of memory-mapping it.
    #[arg(long)]
    pub no_mmap: bool,
}

pub fn run(a: GetArgs) -> u8 {
    let (data, header) = match open(&a.file, !a.no_mmap) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let wanted: BTreeSet<&[u8]> = a.keys.iter().map(|k| k.as_bytes()).collect();
    let mut found: BTreeSet<&[u8]> = BTreeSet::new();
    let mut code = EXIT_OK;
    let mut keys = Keys::new(&data, header);
    for entry in keys.by_ref() {
        let e = match entry {
            Ok(e) => e,
            Err(err) => {
                read_error(&a.file, &data, &err);
                return EXIT_FAILED;
            }
        };
        if a.db.is_some_and(|db| db != e.db) {
            continue;
        }
        let Some(&k) = wanted.get(e.key.as_ref()) else {
            continue;
        };
        found.insert(k);
        match materialise(&header, &e, None) {
            Ok(m) => {
                if !out(&format!("{}\n", key_with_value(&e, &m))) {
                    return code;
                }
            }
            Err(err) => {
                eprintln!(
                    "redcheck: db {} key '{}': [offset {}] {err}",
                    e.db,
                    redcheck::escape_bytes(&e.key),
                    err.offset_in(&data)
                );
                code = EXIT_FAILED;
            }
        }
    }
    note_trailing(&a.file, header, &keys);
    for k in wanted.difference(&found) {
        eprintln!("redcheck: key '{}' not found", redcheck::escape_bytes(k));
        code = EXIT_FAILED;
    }
    code
}
