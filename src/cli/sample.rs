//! `redcheck sample FILE --count N [--seed S] [--max-bytes B]`: a uniform
//! random sample of keys with value previews, one JSON object per line,
//! in one pass over the file.

use super::keys::{FilterArgs, note_trailing, open, read_error};
use super::{EXIT_FAILED, EXIT_OK, out};
use clap::Args;
use redcheck::inspect::Keys;
use redcheck::inspect::sample::Reservoir;
use redcheck::inspect::value::materialise;
use redcheck::report::inspect::key_with_value;
use std::path::PathBuf;

#[derive(Args)]
pub struct SampleArgs {
    /// The RDB file (`-` reads standard input).
    pub file: PathBuf,
    /// How many keys.
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    /// Seed for a reproducible sample (default: from the clock, printed on
    /// stderr).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep about this many bytes of each value (`"truncated": true` when
    /// cut).
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub max_bytes: usize,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Read the file instead of memory-mapping it.
    #[arg(long)]
    pub no_mmap: bool,
}

pub fn run(a: SampleArgs) -> u8 {
    let (data, header) = match open(&a.file, !a.no_mmap) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let seed = a.seed.unwrap_or_else(|| {
        let s = super::now_ms() as u64;
        eprintln!("redcheck: sample seed {s}");
        s
    });
    let filter = a.filter.filter();
    let mut reservoir = Reservoir::new(a.count, seed);
    let mut keys = Keys::new(&data, header);
    for entry in keys.by_ref() {
        match entry {
            Ok(e) if filter.accepts(&e) => reservoir.offer(e),
            Ok(_) => {}
            Err(err) => {
                read_error(&a.file, &data, &err);
                return EXIT_FAILED;
            }
        }
    }
    note_trailing(&a.file, header, &keys);
    let mut code = EXIT_OK;
    let mut text = String::new();
    for e in reservoir.into_sorted() {
        match materialise(&header, &e, Some(a.max_bytes)) {
            Ok(m) => {
                text.push_str(&key_with_value(&e, &m).to_string());
                text.push('\n');
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
    out(&text);
    code
}
