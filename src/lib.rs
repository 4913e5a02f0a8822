//! redcheck: offline verification and analysis of Redis and Valkey
//! persistence files.
//!
//! Layers, each pointing only downward:
//!
//! ```text
//! cli (binary only)      flags -> options -> library call -> report -> exit code
//! report                 JSON wire types and human text
//! inspect                keys, decoded values, server-exact digests, diff, sample, export
//! driver                 threads: framing -> rayon batches of deep checks -> ordered fold
//! salvage                reading past damage: resync, regions, suspects, extract
//! verify                 one pass over an RDB: framing + deep checks -> findings, stats
//! stats                  one pass over an RDB: counts, sizes, memory model (no deep checks)
//! aof                    RESP commands, manifest, multi-part sets, fix plans
//! rdb                    header, lengths, strings, records (framing), value walkers
//! encoding               ziplist, listpack, intset, zipmap, stream node listpacks
//! lzf  crc64  limits     primitives
//! source                 the one place that maps or reads files
//! ```
//!
//! The parsers are pure functions of bytes: they never open files, spawn
//! threads, print, or know about JSON. Only `driver` runs threads.
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod aof;
pub mod crc64;
pub mod driver;
pub mod encoding;
pub mod inspect;
pub mod limits;
pub mod lzf;
pub mod rdb;
pub mod report;
pub mod salvage;
pub mod source;
pub mod stats;
pub mod verify;

pub use verify::{Finding, Options, RdbReport, Severity, verify_rdb};

/// Renders bytes for a human: printable ASCII as is, everything else as
/// `\xHH`, so a binary key can be read and copied back.
pub fn escape_bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len().min(256));
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'\'' => s.push_str("\\'"),
            0x20..=0x7e => s.push(c as char),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

/// What the unit tests of several modules share.
#[cfg(test)]
pub(crate) mod test_support {
    /// Every server-written RDB fixture in `testdata/rdb/<server>/`, by
    /// path (none when the fixtures are absent: tests then skip).
    pub fn rdb_fixtures() -> Vec<(String, Vec<u8>)> {
        fixtures("rdb")
    }

    /// Every server-written single-file AOF fixture in
    /// `testdata/aof/<server>/`, by path (none when absent).
    pub fn aof_fixtures() -> Vec<(String, Vec<u8>)> {
        fixtures("aof")
    }

    /// Byte strings that start with every first byte an RDB string can
    /// start with (every length form and encoding), with a few second and
    /// third bytes each, cut at every length up to 70: for string readers
    /// held to one another.
    pub fn rdb_string_prefixes(mut check: impl FnMut(&[u8])) {
        let mut input = [0u8; 70];
        for first in 0..=255u8 {
            for (second, third) in [(0, 0), (5, 9), (0x40, 3), (3, 200), (0x81, 0x7f)] {
                input[0] = first;
                input[1] = second;
                input[2] = third;
                for cut in 0..=input.len() {
                    check(&input[..cut]);
                }
            }
        }
    }

    /// The files `testdata/<kind>/<server>/*.<kind>`, by path.
    fn fixtures(kind: &str) -> Vec<(String, Vec<u8>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(kind);
        let mut out = Vec::new();
        for server in std::fs::read_dir(root).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(server.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let p = f.path();
                if p.extension().is_some_and(|e| e == kind)
                    && let Ok(d) = std::fs::read(&p)
                {
                    out.push((p.display().to_string(), d));
                }
            }
        }
        out.sort();
        out
    }
}
