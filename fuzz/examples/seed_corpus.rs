//! Seeds `fuzz/corpus/<target>/` from server-written files (run by
//! `fuzz/seed.sh`): whole files for the file targets, and for the
//! narrower targets the pieces redcheck's own framing finds inside them —
//! each value, each packed blob, each stream node, each LZF string, each
//! AOF's RESP part — framed as that target's input expects (see
//! `fuzz/harness.rs`). Seeds are named by a hash of their content, so reruns add
//! nothing twice.
//!
//! Usage: `seed_corpus OUT_DIR INPUT...` (inputs are files or directories,
//! walked recursively).

use redcheck::aof::{Detected, detect};
use redcheck::rdb::value::{BlobKind, ValueVisitor, walk_value};
use redcheck::rdb::{Error, Header, Magic, RdbString, Record, Records, ValueType};
use std::path::{Path, PathBuf};

/// Inputs larger than this are not seeds: libFuzzer mutates small inputs
/// best, and the fixtures' structure is all in their first few kilobytes.
const MAX_SEED: usize = 256 << 10;

struct Seeds {
    out: PathBuf,
    written: usize,
}

impl Seeds {
    fn add(&mut self, target: &str, bytes: &[u8]) {
        if bytes.is_empty() || bytes.len() > MAX_SEED {
            return;
        }
        let dir = self.out.join(target);
        let path = dir.join(format!("{:016x}", content_hash(bytes)));
        if path.exists() {
            return;
        }
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        std::fs::write(&path, bytes).expect("write a seed");
        self.written += 1;
    }
}

/// A name for a seed. Not CRC-64: every RDB ending in its own checksum has
/// the same CRC (the residue), so all fixtures would collide.
fn content_hash(bytes: &[u8]) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Collects the pieces of one value for the encoding targets.
struct Pieces<'s> {
    seeds: &'s mut Seeds,
}

impl Pieces<'_> {
    fn lzf(&mut self, s: &RdbString) {
        if let RdbString::Lzf { compressed, len } = *s
            && let Ok(declared) = u32::try_from(len)
        {
            let mut seed = declared.to_le_bytes().to_vec();
            seed.extend_from_slice(compressed);
            self.seeds.add("lzf", &seed);
        }
    }
}

impl<'a> ValueVisitor<'a> for Pieces<'_> {
    fn string_value(&mut self, _at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        self.lzf(&s);
        Ok(())
    }

    fn blob(&mut self, _at: &'a [u8], kind: BlobKind, s: RdbString<'a>) -> Result<(), Error> {
        self.lzf(&s);
        let Ok(blob) = s.to_bytes() else {
            return Ok(());
        };
        let target = match kind {
            BlobKind::HashZipmap => "zipmap",
            BlobKind::SetIntset => "intset",
            BlobKind::ListZiplist
            | BlobKind::ZsetZiplist
            | BlobKind::HashZiplist
            | BlobKind::QuicklistZiplist => "ziplist",
            BlobKind::QuicklistListpack
            | BlobKind::HashListpack
            | BlobKind::ZsetListpack
            | BlobKind::SetListpack
            | BlobKind::HashListpackEx => "listpack",
        };
        self.seeds.add(target, &blob);
        Ok(())
    }

    fn stream_node(
        &mut self,
        _at: &'a [u8],
        key: RdbString<'a>,
        lp: RdbString<'a>,
    ) -> Result<(), Error> {
        self.lzf(&lp);
        if let (Ok(key), Ok(lp)) = (key.to_bytes(), lp.to_bytes()) {
            self.seeds.add("listpack", &lp);
            let mut seed = key.into_owned();
            seed.extend_from_slice(&lp);
            self.seeds.add("stream_node", &seed);
        }
        Ok(())
    }
}

/// The `rdb_value` selector byte for a header (see `header_for` in the
/// harness).
fn version_selector(header: &Header) -> u8 {
    match header.magic {
        Magic::Valkey => 0x80,
        Magic::Redis => u8::try_from(header.version.clamp(1, 14) - 1).unwrap_or(0),
    }
}

/// Seeds from an RDB (or the RDB preamble of an AOF); returns where the
/// RDB's records ended.
fn seed_rdb(seeds: &mut Seeds, data: &[u8]) -> Option<usize> {
    let header = Header::parse(data).ok()?;
    let mut records = Records::new(data, header);
    for item in records.by_ref() {
        let Ok(item) = item else { break };
        match item.record {
            Record::Key(k) => {
                let mut seed = vec![version_selector(&header), k.type_byte];
                seed.extend_from_slice(k.value);
                seeds.add("rdb_value", &seed);
                match k.value_type {
                    ValueType::ListQuicklist => seeds.add("quicklist", &[&[0], k.value].concat()),
                    ValueType::ListQuicklist2 => seeds.add("quicklist", &[&[1], k.value].concat()),
                    _ => {}
                }
                let _ = walk_value(k.value, k.value_type, header.version, &mut Pieces { seeds });
            }
            Record::Eof => break,
            _ => {}
        }
    }
    // Past the EOF opcode and the 8-byte checksum.
    usize::try_from(records.offset())
        .ok()
        .map(|o| o.saturating_add(if header.has_checksum() { 9 } else { 1 }))
}

fn seed_file(seeds: &mut Seeds, path: &Path) {
    let Ok(data) = std::fs::read(path) else {
        return;
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    match detect(&data) {
        Detected::Manifest => seeds.add("manifest", &data),
        Detected::RdbPreamble => {
            let end = seed_rdb(seeds, &data);
            if name.ends_with(".rdb") {
                seeds.add("rdb_file", &data);
                seeds.add("salvage", &data);
                // Two threads in batches of 3 records, with an 8-key
                // tracker; four threads in batches of 1, an ample tracker.
                seeds.add("rdb_differential", &[&[2, 3, 1], &data[..]].concat());
                seeds.add("rdb_differential", &[&[4, 1, 255], &data[..]].concat());
            } else {
                seeds.add("aof_file", &data);
            }
            if let Some(tail) = end.and_then(|e| data.get(e..)).filter(|t| !t.is_empty()) {
                seeds.add("resp", &[&[0], tail].concat());
                seeds.add("resp_split", &[&[0, 7], tail].concat());
            }
        }
        Detected::Resp if name.contains(".aof") => {
            seeds.add("aof_file", &data);
            seeds.add("resp", &[&[0], &data[..]].concat());
            seeds.add("resp", &[&[1], &data[..]].concat());
            seeds.add("resp_split", &[&[0, 3], &data[..]].concat());
            seeds.add("resp_split", &[&[1, 11], &data[..]].concat());
        }
        Detected::Resp => {}
    }
}

fn walk(seeds: &mut Seeds, path: &Path) {
    if path.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            walk(seeds, &p);
        }
    } else if path.is_file() {
        seed_file(seeds, path);
    }
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next() else {
        eprintln!("usage: seed_corpus OUT_DIR INPUT...");
        std::process::exit(2);
    };
    let mut seeds = Seeds {
        out: PathBuf::from(out),
        written: 0,
    };
    for input in args {
        walk(&mut seeds, Path::new(&input));
    }
    println!("{} new seeds in {}", seeds.written, seeds.out.display());
}
