//! `redcheck diff A B`: keys added, removed and changed (by digest and
//! expiry) from A to B, per db. Exit 0 when the data is the same, 1 when
//! it differs, 2 when a file cannot be read.

use super::keys::open;
use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, out};
use clap::Args;
use redcheck::inspect::diff::diff;
use redcheck::report::json::bytes_value;
use serde_json::{Value, json};
use std::path::PathBuf;

#[derive(Args)]
pub struct DiffArgs {
    /// The earlier file.
    pub a: PathBuf,
    /// The later file.
    pub b: PathBuf,
    /// One JSON object: {"added", "removed", "changed", "dbs": [...]}.
    #[arg(long)]
    pub json: bool,
    /// Also list the keys (JSON: `added_keys`, `removed_keys`,
    /// `changed_keys` per db).
    #[arg(long)]
    pub list: bool,
    /// Read the files instead of memory-mapping them.
    #[arg(long)]
    pub no_mmap: bool,
}

pub fn run(a: DiffArgs) -> u8 {
    let (da, ha) = match open(&a.a, !a.no_mmap) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let (db_, hb) = match open(&a.b, !a.no_mmap) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let d = match diff(&da, ha, &db_, hb, a.list) {
        Ok(d) => d,
        Err(e) => {
            let (path, data) = if e.file == 0 {
                (&a.a, &da)
            } else {
                (&a.b, &db_)
            };
            eprintln!(
                "redcheck: {}: [offset {}] {}",
                path.display(),
                e.error.offset_in(data),
                e.error
            );
            return EXIT_USAGE;
        }
    };
    let (added, removed, changed) = d.totals();
    let keys = |ks: &[Vec<u8>]| ks.iter().map(|k| bytes_value(k)).collect::<Vec<Value>>();
    let text = if a.json {
        let dbs: Vec<Value> = d
            .dbs
            .iter()
            .map(|(db, x)| {
                let mut o =
                    json!({"db": db, "added": x.added, "removed": x.removed, "changed": x.changed});
                if a.list {
                    o["added_keys"] = keys(&x.added_keys).into();
                    o["removed_keys"] = keys(&x.removed_keys).into();
                    o["changed_keys"] = keys(&x.changed_keys).into();
                }
                o
            })
            .collect();
        format!(
            "{}\n",
            json!({"added": added, "removed": removed, "changed": changed, "dbs": dbs})
        )
    } else {
        let mut s = format!("added {added}, removed {removed}, changed {changed}\n");
        for (db, x) in &d.dbs {
            s.push_str(&format!(
                "  db {db:<4} added {}, removed {}, changed {}\n",
                x.added, x.removed, x.changed
            ));
            for (mark, ks) in [
                ("+", &x.added_keys),
                ("-", &x.removed_keys),
                ("~", &x.changed_keys),
            ] {
                for k in ks {
                    s.push_str(&format!("    {mark} {}\n", redcheck::escape_bytes(k)));
                }
            }
        }
        s
    };
    out(&text);
    if d.is_empty() { EXIT_OK } else { EXIT_FAILED }
}
