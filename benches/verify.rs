//! Criterion benchmarks on server-written data from testdata/.
//! Run: `cargo bench`. CI only compiles them (`cargo bench --no-run`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use redcheck::verify::{Options, verify_rdb};
use std::hint::black_box;
use std::path::Path;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/rdb");
    let mut out = Vec::new();
    for server in ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1"] {
        let p = root.join(server).join("all-types.rdb");
        if let Ok(data) = std::fs::read(&p) {
            out.push((server.to_string(), data));
        }
    }
    out
}

fn bench_verify(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify_rdb");
    for (name, data) in fixtures() {
        g.throughput(Throughput::Bytes(data.len() as u64));
        g.bench_function(&name, |b| {
            b.iter(|| verify_rdb(black_box(&data), &Options::default()))
        });
    }
    g.finish();
}

fn bench_crc(c: &mut Criterion) {
    let data: Vec<u8> = (0..(16u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut g = c.benchmark_group("crc64");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("16MiB", |b| {
        b.iter(|| redcheck::crc64::crc64(black_box(&data)))
    });
    g.finish();
}

fn bench_lzf(c: &mut Criterion) {
    let text: Vec<u8> = (0..1_000_000u32)
        .map(|i| b"redis-value-"[(i % 12) as usize] ^ ((i / 4096) as u8 & 1))
        .collect();
    let packed = lzf::compress(&text).expect("compressible");
    let mut g = c.benchmark_group("lzf");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("decompress-1MB", |b| {
        b.iter(|| redcheck::lzf::decompress(black_box(&packed), text.len() as u64))
    });
    g.finish();
}

criterion_group!(benches, bench_verify, bench_crc, bench_lzf);
criterion_main!(benches);
