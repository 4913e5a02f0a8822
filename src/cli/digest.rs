//! `redcheck digest FILE`: the 40-hex `DEBUG DIGEST` a server holding the
//! file's data would print.

use super::keys::{ScoreArgs, note_trailing, open, read_error};
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, out};
use clap::Args;
use redcheck::inspect::Keys;
use redcheck::inspect::digest::{DatasetDigest, DigestError, hex, key_digest};
use std::path::PathBuf;

#[derive(Args)]
pub struct DigestArgs {
    /// The RDB file (`-` reads standard input).
    pub file: PathBuf,
    #[command(flatten)]
    pub score: ScoreArgs,
    /// Digest what a server loading the file now would hold: keys and hash
    /// fields already expired left out.
    #[arg(long)]
    pub as_loaded: bool,
    /// Read the file instead of memory-mapping it.
    #[arg(long)]
    pub no_mmap: bool,
}

pub fn run(a: DigestArgs) -> u8 {
    let (data, header) = match open(&a.file, !a.no_mmap) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let format = a.score.resolve(&data, header);
    let now_ms = a.as_loaded.then(super::now_ms);
    let mut dataset = DatasetDigest::default();
    let mut keys = Keys::new(&data, header);
    for entry in keys.by_ref() {
        let e = match entry {
            Ok(e) => e,
            Err(err) => {
                read_error(&a.file, &data, &err);
                return EXIT_FAILED;
            }
        };
        match key_digest(&header, &e, format, now_ms) {
            Ok(Some(d)) => dataset.add(e.db, &d),
            Ok(None) => {}
            Err(err) => {
                let key = redcheck::escape_bytes(&e.key);
                eprintln!("redcheck: cannot digest db {} key '{key}': {err}", e.db);
                return match err {
                    DigestError::Module(_) => EXIT_USAGE,
                    DigestError::Corrupt(_) => EXIT_FAILED,
                };
            }
        }
    }
    note_trailing(&a.file, header, &keys);
    out(&format!("{}\n", hex(&dataset.finish())));
    EXIT_OK
}
