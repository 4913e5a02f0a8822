//! `stats` against real servers: a seeded random dataset covering every
//! type and encoding the server writes (small and big collections, integer
//! and string sets, long members, expiring keys, hash field TTLs where the
//! server has them) is written, `SAVE`d, and the dump loaded into a second
//! server. Then, for every key, the type and encoding `stats` predicts must
//! equal `TYPE` and `OBJECT ENCODING` on the server that loaded the file,
//! the per-db counts must equal `INFO keyspace`, and the memory estimate
//! must land within the bounds below of `MEMORY USAGE key SAMPLES 0`, and
//! the total estimate within 15% of what the loaded data takes
//! (`used_memory - used_memory_startup`).
//! The allocator's size classes are a property of the server build, read
//! from the server (`INFO memory`, `MEMORY MALLOC-STATS`).

mod common;

use common::{Client, Reply, Server, Xorshift, note};
use redcheck::stats::memory::Allocator;
use redcheck::stats::{KeyFacts, StatsOptions, stats_rdb_each};
use std::collections::BTreeMap;

type Cmd = Vec<Vec<u8>>;

/// 2100-01-01T00:00:00Z.
const FAR_FUTURE_MS: u64 = 4_102_444_800_000;
const DBS: [u64; 3] = [0, 2, 9];

fn cmd(parts: &[&[u8]]) -> Cmd {
    parts.iter().map(|p| p.to_vec()).collect()
}

struct Writer<'a> {
    c: &'a mut Client,
    rng: Xorshift,
    hfe: bool,
    seq: u64,
}

impl Writer<'_> {
    fn send(&mut self, cmds: &[Cmd]) {
        for chunk in cmds.chunks(200) {
            for (r, c) in self.c.pipeline(chunk).iter().zip(chunk) {
                if let Reply::Error(e) = r {
                    panic!("server refused {}: {e}", String::from_utf8_lossy(&c[0]));
                }
            }
        }
    }

    fn key(&mut self, prefix: &str) -> Vec<u8> {
        self.seq += 1;
        let len = self.rng.below(30) as usize;
        let mut k = format!("{prefix}:{}:{}", self.seq, self.rng.word(len)).into_bytes();
        if self.rng.chance(5) {
            k.extend(self.rng.bytes(3));
        }
        k
    }

    fn text(&mut self, max: u64) -> Vec<u8> {
        let len = 1 + self.rng.below(max) as usize;
        match self.rng.below(4) {
            0 => self.rng.below(100_000).to_string().into_bytes(),
            1 => vec![b'z'; len],
            _ => self.rng.word(len).into_bytes(),
        }
    }

    fn expire(&mut self, k: &[u8]) -> Option<Cmd> {
        match self.rng.below(10) {
            0 | 1 => Some(cmd(&[
                b"PEXPIREAT",
                k,
                (FAR_FUTURE_MS + self.rng.below(1000))
                    .to_string()
                    .as_bytes(),
            ])),
            2 => Some(cmd(&[b"EXPIRE", k, b"7200"])),
            _ => None,
        }
    }

    fn string(&mut self) -> Vec<Cmd> {
        let k = self.key("str");
        let v = match self.rng.below(5) {
            0 => ((self.rng.next_u64() as i64) >> self.rng.below(63))
                .to_string()
                .into_bytes(),
            1 => self.text(44),
            2 => self.text(120),
            3 => vec![b'c'; 100 + self.rng.below(3000) as usize],
            _ => {
                let n = 1 + self.rng.below(400) as usize;
                self.rng.bytes(n)
            }
        };
        vec![cmd(&[b"SET", &k, &v])]
    }

    fn list(&mut self) -> Vec<Cmd> {
        let k = self.key("list");
        let n = [
            1 + self.rng.below(10),
            20 + self.rng.below(200),
            500 + self.rng.below(2500),
        ][self.rng.below(3) as usize];
        let long = self.rng.chance(20);
        let mut out = Vec::new();
        for chunk in 0..n.div_ceil(100) {
            let mut c = cmd(&[b"RPUSH", &k]);
            for _ in chunk * 100..(chunk * 100 + 100).min(n) {
                c.push(if long { self.text(300) } else { self.text(20) });
            }
            out.push(c);
        }
        out
    }

    fn set(&mut self) -> Vec<Cmd> {
        let k = self.key("set");
        let ints = self.rng.chance(50);
        let n = [
            1 + self.rng.below(20),
            100 + self.rng.below(100),
            400 + self.rng.below(400),
        ][self.rng.below(3) as usize];
        let long = self.rng.chance(15);
        let mut c = cmd(&[b"SADD", &k]);
        for i in 0..n {
            c.push(if ints {
                (i as i64 * 3 - 500 + self.rng.below(3) as i64 * 1_000_000)
                    .to_string()
                    .into_bytes()
            } else if long {
                format!("{i}:{}", self.rng.word(70)).into_bytes()
            } else {
                format!("{i}:{}", self.rng.word(8)).into_bytes()
            });
        }
        if ints && self.rng.chance(30) {
            // A string member added and removed again: the set keeps the
            // encoding the string forced (listpack or hashtable) with only
            // integers left, which the server keeps or re-packs on load.
            c.push(b"not-an-int".to_vec());
            return vec![c, cmd(&[b"SREM", &k, b"not-an-int"])];
        }
        vec![c]
    }

    fn zset(&mut self) -> Vec<Cmd> {
        let k = self.key("zset");
        let n = [
            1 + self.rng.below(20),
            100 + self.rng.below(60),
            200 + self.rng.below(400),
        ][self.rng.below(3) as usize];
        let long = self.rng.chance(15);
        let mut c = cmd(&[b"ZADD", &k]);
        for i in 0..n {
            let score = match self.rng.below(3) {
                0 => self.rng.below(1000).to_string(),
                1 => format!("{}.{}", self.rng.below(100), self.rng.below(1000)),
                _ => format!("-{}e-3", self.rng.below(10_000)),
            };
            c.push(score.into_bytes());
            let w = if long { 80 } else { 6 };
            c.push(format!("m{i}:{}", self.rng.word(w)).into_bytes());
        }
        vec![c]
    }

    fn hash(&mut self) -> Vec<Cmd> {
        let k = self.key("hash");
        let n = [
            1 + self.rng.below(20),
            60 + self.rng.below(60),
            200 + self.rng.below(400),
        ][self.rng.below(3) as usize];
        let long = self.rng.chance(15);
        let mut c = cmd(&[b"HSET", &k]);
        let mut fields = Vec::new();
        for i in 0..n {
            let f = format!("f{i}").into_bytes();
            c.push(f.clone());
            c.push(if long { self.text(200) } else { self.text(30) });
            fields.push(f);
        }
        let mut out = vec![c];
        if self.hfe && self.rng.chance(30) {
            let picked = 1 + self.rng.below(fields.len() as u64) as usize;
            let mut c = cmd(&[
                b"HPEXPIREAT",
                &k,
                FAR_FUTURE_MS.to_string().as_bytes(),
                b"FIELDS",
                picked.to_string().as_bytes(),
            ]);
            c.extend(fields.into_iter().take(picked));
            out.push(c);
        }
        out
    }

    fn stream(&mut self) -> Vec<Cmd> {
        let k = self.key("stream");
        let n = 1 + self.rng.below(300);
        let mut out = Vec::new();
        for _ in 0..n {
            let mut c = cmd(&[b"XADD", &k, b"*"]);
            for f in 0..1 + self.rng.below(4) {
                c.push(format!("field{f}").into_bytes());
                c.push(self.text(30));
            }
            out.push(c);
        }
        if self.rng.chance(50) {
            out.push(cmd(&[b"XGROUP", b"CREATE", &k, b"g1", b"0"]));
            out.push(cmd(&[
                b"XREADGROUP",
                b"GROUP",
                b"g1",
                b"alice",
                b"COUNT",
                b"10",
                b"STREAMS",
                &k,
                b">",
            ]));
        }
        out
    }

    /// Writes the dataset; returns how many keys it wrote.
    fn write(&mut self, per_db: u64) -> u64 {
        let mut keys = 0;
        for db in DBS {
            self.send(&[cmd(&[b"SELECT", db.to_string().as_bytes()])]);
            for _ in 0..per_db {
                let mut cmds = match self.rng.below(7) {
                    0 | 1 => self.string(),
                    2 => self.list(),
                    3 => self.set(),
                    4 => self.zset(),
                    5 => self.hash(),
                    _ => self.stream(),
                };
                let k = cmds[0][1].clone();
                if let Some(e) = self.expire(&k) {
                    cmds.push(e);
                }
                self.send(&cmds);
                keys += 1;
            }
        }
        keys
    }
}

/// A numeric `INFO memory` field.
fn info_field(c: &mut Client, name: &str) -> u64 {
    let text = c.ok(&[b"INFO", b"memory"]).text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("INFO memory without {name}"))
}

/// The allocator the server was built with.
fn allocator_of(c: &mut Client) -> Allocator {
    let info = c.ok(&[b"INFO", b"memory"]).text();
    if info.contains("mem_allocator:libc") {
        return Allocator::Libc;
    }
    let stats = c.ok(&[b"MEMORY", b"MALLOC-STATS"]).text();
    if stats.contains("Quantum size: 16") {
        Allocator::Jemalloc16
    } else {
        Allocator::Jemalloc
    }
}

/// What the server says about one key.
struct OnServer {
    logical: String,
    encoding: String,
    usage: u64,
}

fn server_keys(c: &mut Client, dbs: &[u64]) -> BTreeMap<(u64, Vec<u8>), OnServer> {
    let mut out = BTreeMap::new();
    for &db in dbs {
        c.ok(&[b"SELECT", db.to_string().as_bytes()]);
        let mut cursor = b"0".to_vec();
        loop {
            let r = c.ok(&[b"SCAN", &cursor, b"COUNT", b"1000"]);
            let [next, batch] = r.array() else {
                panic!("SCAN reply: {r:?}");
            };
            for k in batch.array() {
                let k = k.bytes().expect("a key").to_vec();
                let logical = c.ok(&[b"TYPE", &k]).text();
                let encoding = c.ok(&[b"OBJECT", b"ENCODING", &k]).text();
                let usage = c
                    .ok(&[b"MEMORY", b"USAGE", &k, b"SAMPLES", b"0"])
                    .int()
                    .expect("MEMORY USAGE") as u64;
                out.insert(
                    (db, k),
                    OnServer {
                        logical,
                        encoding,
                        usage,
                    },
                );
            }
            cursor = next.bytes().expect("cursor").to_vec();
            if cursor == b"0" {
                break;
            }
        }
    }
    out
}

/// Relative error of the estimate, per type: (keys, mean |error|, max
/// |error|, error of the type's total).
#[derive(Default)]
struct Errors {
    keys: u64,
    sum_abs: f64,
    max_abs: f64,
    estimated: u64,
    actual: u64,
}

impl Errors {
    fn add(&mut self, est: u64, actual: u64) {
        let e = (est as f64 - actual as f64).abs() / actual.max(1) as f64;
        self.keys += 1;
        self.sum_abs += e;
        self.max_abs = self.max_abs.max(e);
        self.estimated += est;
        self.actual += actual;
    }
    fn total_error(&self) -> f64 {
        (self.estimated as f64 - self.actual as f64).abs() / self.actual.max(1) as f64
    }
}

/// Bounds on the relative memory error (per key, per type total), from
/// the errors measured on these datasets with margin; the README lists the
/// measured values. Valkey's `hashtable` encoding (chained buckets depend
/// on where elements hash; the model uses their expected number) is the
/// least precise.
fn bounds(server: &str, t: &str) -> (f64, f64) {
    match (server, t) {
        ("valkey-9.1", "hash/hashtable" | "set/hashtable") => (0.35, 0.1),
        // In each run a few Valkey keys, different ones each time, report
        // 16 bytes more than in other runs: not modelled; it matters most
        // for the smallest keys.
        ("valkey-9.1", t) if t.starts_with("string/") => (0.35, 0.03),
        _ => (0.2, 0.03),
    }
}

fn check(server: &str, seed: u64, per_db: u64) {
    let Some(mut writer_srv) = Server::start(server, &[]) else {
        note(format!("{server} not installed: stats test skipped"));
        return;
    };
    let mut c = writer_srv.client();
    let info = c.call(&[b"COMMAND", b"INFO", b"HPEXPIREAT"]);
    let hfe = matches!(info.array().first(), Some(Reply::Array(Some(_))));
    let written = Writer {
        c: &mut c,
        rng: Xorshift::new(seed),
        hfe,
        seq: 0,
    }
    .write(per_db);
    c.ok(&[b"SAVE"]);
    let dump = std::fs::read(writer_srv.dir.path().join("dump.rdb")).expect("dump.rdb");
    writer_srv.shutdown();

    let loaded = Server::start_with(server, &[], Some(&dump))
        .expect("installed")
        .unwrap_or_else(|log| panic!("{server} refused its own dump:\n{log}"));
    let mut c = loaded.client();
    let used = info_field(&mut c, "used_memory") - info_field(&mut c, "used_memory_startup");
    let keyspace = c.keyspace();
    let on_server = server_keys(&mut c, &DBS);
    let allocator = allocator_of(&mut c);

    let options = StatsOptions {
        now_ms: common::now_ms(),
        allocator,
        ..StatsOptions::default()
    };
    let mut ours: BTreeMap<(u64, Vec<u8>), KeyFacts> = BTreeMap::new();
    let report = stats_rdb_each(&dump, &options, |k| {
        ours.insert((k.db, k.key.clone()), k.clone());
    });
    assert!(
        report.problems.is_empty() && report.complete,
        "{server}: {:?}",
        report.problems
    );
    assert_eq!(
        report.total.keys, written,
        "{server}: keys written vs counted"
    );

    // Per db: keys and expires as INFO keyspace.
    let per_db: BTreeMap<u64, (u64, u64)> = report
        .dbs()
        .iter()
        .map(|(db, s)| (*db, (s.keys, s.expires)))
        .collect();
    assert_eq!(
        per_db, keyspace,
        "{server}: (keys, expires) per db vs INFO keyspace"
    );

    // Per key: type and encoding; and the per-group counts that follow.
    assert_eq!(ours.len(), on_server.len(), "{server}: key count vs SCAN");
    let mut mismatches = Vec::new();
    let mut server_groups: BTreeMap<(u64, String, String), u64> = BTreeMap::new();
    let mut errors: BTreeMap<String, Errors> = BTreeMap::new();
    for ((db, key), s) in &on_server {
        let k = ours.get(&(*db, key.clone())).unwrap_or_else(|| {
            panic!(
                "{server}: key {} missing from stats",
                redcheck::escape_bytes(key)
            )
        });
        *server_groups
            .entry((*db, s.logical.clone(), s.encoding.clone()))
            .or_default() += 1;
        if k.logical.name() != s.logical || k.encoding != s.encoding {
            mismatches.push(format!(
                "{} {}: stats says {}/{} ({} elements), server {}/{}",
                db,
                redcheck::escape_bytes(key),
                k.logical.name(),
                k.encoding,
                k.elements,
                s.logical,
                s.encoding
            ));
        }
        if std::env::var_os("REDCHECK_STATS_DEBUG").is_some() {
            eprintln!(
                "{server} {}/{} {} elements: estimate {} actual {} ({}) expire {:?}",
                s.logical,
                s.encoding,
                k.elements,
                k.memory,
                s.usage,
                redcheck::escape_bytes(key),
                k.expire_ms
            );
        }
        errors
            .entry(format!("{}/{}", s.logical, s.encoding))
            .or_default()
            .add(k.memory, s.usage);
    }
    let our_groups: BTreeMap<(u64, String, String), u64> = report
        .groups
        .iter()
        .map(|(g, s)| {
            (
                (g.db, g.logical.name().to_string(), g.encoding.to_string()),
                s.keys,
            )
        })
        .collect();

    let estimated = report.memory_keys + report.memory_overhead;
    let total_error = (estimated as f64 - used as f64).abs() / used as f64;
    let mut table = format!(
        "{server} ({}): total estimate {estimated} vs used_memory - used_memory_startup {used} ({:+.1}%)\n  memory estimate vs MEMORY USAGE\n",
        allocator.name(),
        100.0 * (estimated as f64 / used as f64 - 1.0)
    );
    for (t, e) in &errors {
        table.push_str(&format!(
            "  {t:<20} {:>5} keys  mean {:>5.1}%  max {:>5.1}%  total {:>5.1}% (estimate/actual {:.3})\n",
            e.keys,
            100.0 * e.sum_abs / e.keys as f64,
            100.0 * e.max_abs,
            100.0 * e.total_error(),
            e.estimated as f64 / e.actual.max(1) as f64
        ));
    }
    note(&table);
    assert!(
        mismatches.is_empty(),
        "{server}: {} of {} keys with another type/encoding:\n{}",
        mismatches.len(),
        on_server.len(),
        mismatches
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        our_groups, server_groups,
        "{server}: keys per db/type/encoding"
    );
    // The whole: used_memory also holds this test's client and small
    // server structures, and the per-key part follows MEMORY USAGE, which
    // on Redis 8 counts more than it allocates; hence the wider bound
    // (measured: -2.8% .. +8.9%).
    assert!(
        total_error <= 0.15,
        "{server}: total estimate off by more than 15%\n{table}"
    );
    for (t, e) in &errors {
        let (per_key, total) = bounds(server, t);
        assert!(
            e.max_abs <= per_key && e.total_error() <= total,
            "{server} {t}: memory error max {:.1}% / total {:.1}% exceeds {:.0}% / {:.0}%\n{table}",
            100.0 * e.max_abs,
            100.0 * e.total_error(),
            100.0 * per_key,
            100.0 * total
        );
    }
}

#[test]
fn stats_match_redis_6_2() {
    check("redis-6.2", 0x5eed_0062, 120);
}

#[test]
fn stats_match_redis_7_0() {
    check("redis-7.0", 0x5eed_0070, 120);
}

#[test]
fn stats_match_redis_8_2() {
    check("redis-8.2", 0x5eed_0082, 120);
}

#[test]
fn stats_match_valkey_9_1() {
    check("valkey-9.1", 0x5eed_0091, 120);
}

/// On every server-written fixture, `stats` counts what the verifier counts
/// (whose counts the fixture tests check against the servers): keys,
/// expiries and already-expired keys per db, keys per type, functions and
/// module types; and the per-db sums of the groups equal the totals.
#[test]
fn fixtures_count_what_verify_counts() {
    let fixtures = common::rdb_fixtures();
    if fixtures.is_empty() {
        note("no fixtures under testdata/rdb: skipped");
        return;
    }
    let now = common::now_ms();
    for path in fixtures {
        let data = std::fs::read(&path).expect("fixture");
        let shown = common::shown(&path);
        let v = redcheck::verify_rdb(
            &data,
            &redcheck::Options {
                now_ms: now,
                ..redcheck::Options::default()
            },
        );
        let s = redcheck::stats::stats_rdb(
            &data,
            &StatsOptions {
                now_ms: now,
                ..StatsOptions::default()
            },
        );
        assert_eq!(
            s.complete && s.problems.is_empty(),
            v.ok,
            "{shown}: {:?}",
            s.problems
        );
        assert_eq!(
            (s.total.keys, s.total.expires, s.total.already_expired),
            (v.keys, v.expires, v.already_expired),
            "{shown}: totals"
        );
        let ours: BTreeMap<u64, (u64, u64, u64)> = s
            .dbs()
            .iter()
            .map(|(db, g)| (*db, (g.keys, g.expires, g.already_expired)))
            .collect();
        let theirs: BTreeMap<u64, (u64, u64, u64)> = v
            .dbs
            .iter()
            .map(|(db, d)| (*db, (d.keys, d.expires, d.already_expired)))
            .collect();
        assert_eq!(ours, theirs, "{shown}: per db");
        let mut types: BTreeMap<redcheck::rdb::LogicalType, u64> = BTreeMap::new();
        for ((t, _), g) in s.by_type() {
            *types.entry(t).or_default() += g.keys;
        }
        assert_eq!(types, v.types, "{shown}: per type");
        assert_eq!(s.functions.len() as u64, v.functions, "{shown}: functions");
        assert_eq!(s.modules, v.modules, "{shown}: module types");
        assert_eq!(
            s.keys_with_field_ttl, v.keys_with_field_ttl,
            "{shown}: hash field TTLs"
        );
        let ttl_total: u64 = s.total.ttl.0.iter().sum();
        assert_eq!(
            ttl_total, s.total.keys,
            "{shown}: every key in one TTL bucket"
        );
        assert!(s.top_by_memory.len() <= 10 && s.top_by_serialized.len() <= 10);
        if let (Some(a), Some(b)) = (s.top_by_memory.first(), s.top_by_memory.last()) {
            assert!(a.memory >= b.memory, "{shown}: top list order");
        }
    }
}

/// Damaged input never panics: truncations of a fixture (300 points) are
/// reported as problems (`stats` does not check the checksum trailer:
/// `verify` does), and single-bit corruptions give a consistent report.
#[test]
fn damaged_files_are_reported_not_fatal() {
    let path = common::crate_dir().join("testdata/rdb/redis-7.0/all-types.rdb");
    let Ok(data) = std::fs::read(&path) else {
        note("fixture redis-7.0/all-types.rdb missing: skipped");
        return;
    };
    let whole = redcheck::stats::stats_rdb(&data, &StatsOptions::default());
    let step = (data.len() / 300).max(1);
    for cut in (0..data.len()).step_by(step) {
        let r = redcheck::stats::stats_rdb(&data[..cut], &StatsOptions::default());
        assert!(
            !r.complete || !r.problems.is_empty() || cut >= data.len() - 8,
            "cut at {cut}"
        );
        assert!(r.total.keys <= whole.total.keys);
    }
    let mut rng = Xorshift::new(7);
    for _ in 0..300 {
        let mut bad = data.clone();
        let at = 9 + rng.below(data.len() as u64 - 9) as usize;
        bad[at] ^= 1 << rng.below(8);
        let r = redcheck::stats::stats_rdb(&bad, &StatsOptions::default());
        // Whatever was counted is counted consistently.
        let grouped: u64 = r.groups.values().map(|g| g.keys).sum();
        assert_eq!(grouped, r.total.keys, "flip at {at}");
        assert_eq!(
            r.total.ttl.0.iter().sum::<u64>(),
            r.total.keys,
            "flip at {at}"
        );
    }
}

fn redcheck(args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_redcheck"))
        .args(args)
        .output()
        .expect("run redcheck");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The command line: `--json` is one object whose counts are the library's,
/// `--top`, `--separator`, `--server` and `--allocator` take effect, and the
/// exit status says whether the whole file was read.
#[test]
fn cli_stats_json_and_exit_codes() {
    let path = common::crate_dir().join("testdata/rdb/redis-7.0/all-types.rdb");
    let Ok(data) = std::fs::read(&path) else {
        note("fixture redis-7.0/all-types.rdb missing: skipped");
        return;
    };
    let p = path.to_string_lossy().into_owned();
    let (code, out) = redcheck(&["stats", "--json", "--top", "2", &p]);
    assert_eq!(code, Some(0), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    let lib = redcheck::stats::stats_rdb(&data, &StatsOptions::default());
    assert_eq!(v["keys"], lib.total.keys);
    assert_eq!(v["ok"], true);
    assert_eq!(v["memory"]["model"], "redis-7.0");
    assert_eq!(v["top_by_memory"].as_array().map(Vec::len), Some(2));
    let groups = v["groups"].as_array().expect("groups");
    let grouped: u64 = groups.iter().filter_map(|g| g["keys"].as_u64()).sum();
    assert_eq!(grouped, lib.total.keys);
    for g in groups {
        for field in [
            "db",
            "type",
            "encoding",
            "keys",
            "expires",
            "already_expired",
            "ttl",
        ] {
            assert!(!g[field].is_null(), "group without {field}: {g}");
        }
        for dist in ["elements", "serialized_bytes", "memory_bytes"] {
            for q in ["max", "mean", "p50", "p90", "p99"] {
                assert!(g[dist][q].is_number(), "{dist}.{q} in {g}");
            }
        }
    }
    // A binary key is a base64 object, as in verify --json.
    let (_, out) = redcheck(&["stats", "--json", "--top", "100", &p]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert!(
        v["top_by_serialized"]
            .as_array()
            .expect("top")
            .iter()
            .any(|k| k["key"]["base64"].is_string()),
        "the fixture's binary key"
    );

    let (_, out) = redcheck(&["stats", "--json", "--separator", "", &p]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["prefixes"]["groups"][0]["prefix"], "(no prefix)");
    assert_eq!(v["prefixes"]["groups"].as_array().map(Vec::len), Some(1));

    let (_, a) = redcheck(&[
        "stats",
        "--json",
        "--server",
        "valkey-8",
        "--allocator",
        "libc",
        &p,
    ]);
    let v: serde_json::Value = serde_json::from_str(&a).expect("JSON");
    assert_eq!(
        (
            &v["memory"]["model"],
            &v["memory"]["allocator"],
            &v["memory"]["model_guessed"]
        ),
        (
            &serde_json::json!("valkey-8"),
            &serde_json::json!("libc"),
            &serde_json::json!(false)
        )
    );

    let (code, out) = redcheck(&["stats", &p]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("biggest keys by memory") && out.contains("prefixes"),
        "{out}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let cut = dir.path().join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() / 2]).expect("write");
    let (code, out) = redcheck(&["stats", "--json", &cut.to_string_lossy()]);
    assert_eq!(code, Some(1), "a truncated file: {out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["ok"], false);
    assert!(v["problems"][0]["offset"].is_u64());
    let (code, _) = redcheck(&["stats", &dir.path().join("absent.rdb").to_string_lossy()]);
    assert_eq!(code, Some(2));
    let (code, _) = redcheck(&["stats", "--server", "redis-99", &p]);
    assert_eq!(code, Some(2));
}
