//! Criterion benchmarks on server-written data from testdata/.
//! Run: `cargo bench`. CI only compiles them (`cargo bench --no-run`).
//! `benches/compare.sh` compares whole runs with redis-check-rdb.
//!
//! - verify_rdb / driver: the whole sequential and parallel verification
//! - framing: the `Records` scan alone (what the driver's sequential stage does)
//! - encoding/*: each packed-encoding validator on every blob of that
//!   encoding the fixtures hold (ziplist, listpack, intset, zipmap, stream
//!   node listpacks), inflated from LZF where the server compressed them
//! - lzf: inflating and validating the LZF strings the servers wrote
//! - crc64: the trailer checksum over a fixture repeated to 16 MiB

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use redcheck::driver::{self, DriverOptions, NoProgress};
use redcheck::encoding::{intset::Intset, listpack::Listpack, ziplist::Ziplist, zipmap::Zipmap};
use redcheck::rdb::error::Error;
use redcheck::rdb::value::{BlobKind, ValueVisitor, walk_value};
use redcheck::rdb::{Header, RdbString, Record, Records};
use redcheck::verify::{Options, verify_rdb};
use std::hint::black_box;
use std::path::Path;

/// Every fixture under testdata/rdb, as (server/name, bytes).
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rdb");
    let mut out = Vec::new();
    let Ok(servers) = std::fs::read_dir(&root) else {
        return out;
    };
    for server in servers.flatten() {
        let Ok(files) = std::fs::read_dir(server.path()) else {
            continue;
        };
        for f in files.flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "rdb")
                && let Ok(data) = std::fs::read(&p)
            {
                let name = format!(
                    "{}/{}",
                    server.file_name().to_string_lossy(),
                    p.file_stem().unwrap_or_default().to_string_lossy()
                );
                out.push((name, data));
            }
        }
    }
    out.sort();
    out
}

fn all_types() -> Vec<(String, Vec<u8>)> {
    fixtures()
        .into_iter()
        .filter(|(n, _)| n.ends_with("/all-types"))
        .collect()
}

/// What the fixtures hold, by encoding: packed blobs (inflated) and LZF
/// strings (compressed, declared length).
#[derive(Default)]
struct Collected {
    blobs: Vec<(BlobKind, Vec<u8>)>,
    stream_nodes: Vec<([u8; 16], Vec<u8>)>,
    lzf: Vec<(Vec<u8>, u64)>,
}

impl Collected {
    fn string(&mut self, s: RdbString<'_>) {
        if let RdbString::Lzf { compressed, len } = s
            && len > 0
        {
            self.lzf.push((compressed.to_vec(), len));
        }
    }
}

impl<'a> ValueVisitor<'a> for Collected {
    fn string_value(&mut self, _at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        self.string(s);
        Ok(())
    }
    fn list_item(&mut self, _at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        self.string(s);
        Ok(())
    }
    fn blob(&mut self, _at: &'a [u8], kind: BlobKind, s: RdbString<'a>) -> Result<(), Error> {
        self.string(s);
        if let Ok(b) = s.to_bytes() {
            self.blobs.push((kind, b.into_owned()));
        }
        Ok(())
    }
    fn stream_node(
        &mut self,
        _at: &'a [u8],
        key: RdbString<'a>,
        lp: RdbString<'a>,
    ) -> Result<(), Error> {
        if let (Ok(k), Ok(b)) = (key.to_bytes(), lp.to_bytes())
            && let Ok(k16) = <[u8; 16]>::try_from(k.as_ref())
        {
            self.stream_nodes.push((k16, b.into_owned()));
        }
        Ok(())
    }
}

fn collect() -> Collected {
    let mut c = Collected::default();
    for (_, data) in fixtures() {
        let Ok(header) = Header::parse(&data) else {
            continue;
        };
        for item in Records::new(&data, header) {
            let Ok(item) = item else { break };
            if let Record::Key(k) = item.record {
                let _ = walk_value(k.value, k.value_type, header.version, &mut c);
            }
        }
    }
    c
}

fn bench_verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify_rdb");
    for (name, data) in all_types() {
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(&name, |b| {
            b.iter(|| verify_rdb(black_box(&data), &Options::default()))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("driver");
    for (name, data) in all_types() {
        g.throughput(Throughput::Bytes(data.len() as u64));
        for threads in [1, 2] {
            let d = DriverOptions {
                threads,
                ..Default::default()
            };
            g.bench_function(format!("{name}/threads-{threads}"), |b| {
                b.iter(|| driver::verify_rdb(black_box(&data), &Options::default(), d, &NoProgress))
            });
        }
    }
    g.finish();
}

fn bench_framing(c: &mut Criterion) {
    let mut g = c.benchmark_group("framing");
    for (name, data) in all_types() {
        let Ok(header) = Header::parse(&data) else {
            continue;
        };
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(&name, |b| {
            b.iter(|| Records::new(black_box(&data), header).count())
        });
    }
    g.finish();
}

fn bench_encodings(c: &mut Criterion) {
    let found = collect();
    let mut g = c.benchmark_group("encoding");
    let kinds: [(&str, &[BlobKind]); 4] = [
        (
            "ziplist",
            &[
                BlobKind::ListZiplist,
                BlobKind::QuicklistZiplist,
                BlobKind::ZsetZiplist,
                BlobKind::HashZiplist,
            ],
        ),
        (
            "listpack",
            &[
                BlobKind::QuicklistListpack,
                BlobKind::HashListpack,
                BlobKind::ZsetListpack,
                BlobKind::SetListpack,
                BlobKind::HashListpackEx,
            ],
        ),
        ("intset", &[BlobKind::SetIntset]),
        ("zipmap", &[BlobKind::HashZipmap]),
    ];
    for (name, members) in kinds {
        let blobs: Vec<&[u8]> = found
            .blobs
            .iter()
            .filter(|(k, _)| members.contains(k))
            .map(|(_, b)| b.as_slice())
            .collect();
        if blobs.is_empty() {
            eprintln!("note: no {name} blob in testdata/rdb; not benchmarked");
            continue;
        }
        let bytes: usize = blobs.iter().map(|b| b.len()).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0usize;
                for blob in &blobs {
                    n += match name {
                        "ziplist" => Ziplist::parse(blob).map(|z| z.elements().count()),
                        "listpack" => Listpack::parse(blob).map(|l| l.elements().count()),
                        "intset" => Intset::parse(blob).map(|i| i.values().count()),
                        _ => Zipmap::parse(blob).map(|z| z.entries().count()),
                    }
                    .unwrap_or(0);
                }
                black_box(n)
            })
        });
    }
    if !found.stream_nodes.is_empty() {
        let bytes: usize = found.stream_nodes.iter().map(|(_, b)| b.len()).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function("stream-node", |b| {
            b.iter(|| {
                for (k, blob) in &found.stream_nodes {
                    let master = redcheck::encoding::stream::StreamId::from_be_bytes(k);
                    let _ = black_box(redcheck::encoding::stream::validate_node(blob, master));
                }
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("lzf");
    let out: u64 = found.lzf.iter().map(|(_, n)| n).sum();
    if out > 0 {
        g.throughput(Throughput::Bytes(out));
        g.bench_function("decompress-server-strings", |b| {
            b.iter(|| {
                for (data, len) in &found.lzf {
                    let _ = black_box(redcheck::lzf::decompress(data, *len));
                }
            })
        });
        g.bench_function("validate-server-strings", |b| {
            b.iter(|| {
                for (data, len) in &found.lzf {
                    let _ = black_box(redcheck::lzf::validate(data, *len));
                }
            })
        });
    }
    g.finish();
}

fn bench_crc(c: &mut Criterion) {
    let Some((_, one)) = all_types().into_iter().next() else {
        return;
    };
    let mut data = Vec::with_capacity(16 << 20);
    while data.len() < (16 << 20) {
        data.extend_from_slice(&one);
    }
    let mut g = c.benchmark_group("crc64");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("16MiB-of-fixture", |b| {
        b.iter(|| redcheck::crc64::crc64(black_box(&data)))
    });
    g.finish();
}

/// The duplicate-key search at the end of a pass: 4 M key fingerprints
/// (the names `DEBUG POPULATE` gives, `key:0` to `key:3999999`) in the
/// 256 buckets of their top byte, each searched for repeats; and storing
/// them there as absorbing a pass's batches does.
fn bench_dupkeys(c: &mut Criterion) {
    use redcheck::verify::dupkeys::{DupKeys, key_fingerprint, repeated_in};
    let mut buckets: Vec<Vec<u64>> = vec![Vec::new(); 256];
    for i in 0..4_000_000u32 {
        let h = key_fingerprint(format!("key:{i}").as_bytes());
        buckets[(h >> 56) as usize].push(h);
    }
    let keys: usize = buckets.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("dupkeys");
    g.throughput(Throughput::Elements(keys as u64));
    g.bench_function("repeated_in-4M-keys", |b| {
        let mut scratch = Vec::new();
        b.iter(|| {
            buckets
                .iter_mut()
                .map(|bucket| repeated_in(bucket, &mut scratch).len())
                .sum::<usize>()
        })
    });
    // The same keys stored in batches of a segment's size, after a
    // RESIZEDB hint, by a fresh pass: its slab's pages are faulted in, as
    // in a real run. (About a quarter of it is the kernel zeroing them;
    // most of the rest is stores missing the cache.)
    let fps: Vec<u64> = (0..4_000_000u32)
        .map(|i| key_fingerprint(format!("key:{i}").as_bytes()))
        .collect();
    g.bench_function("insert-4M-keys-hinted", |b| {
        b.iter(|| {
            let mut dups = DupKeys::default();
            dups.expect(fps.len() as u64);
            for batch in fps.chunks(110_000) {
                dups.insert_all_folded(batch);
            }
            dups
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_verify,
    bench_framing,
    bench_encodings,
    bench_crc,
    bench_dupkeys
);
criterion_main!(benches);
