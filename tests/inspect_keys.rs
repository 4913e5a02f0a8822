//! `keys`, `digest` and `keys --digest` against real servers. For each
//! installed server: write the seeded random dataset (every type and
//! encoding the server writes), SAVE, and check that
//! * `DEBUG DIGEST` equals our dataset digest of the dump,
//! * `DEBUG DIGEST-VALUE` of every key equals our value digest,
//! * the keys per db equal `INFO keyspace`, and every key's `len` equals
//!   the server's STRLEN / LLEN / SCARD / ZCARD / HLEN / XLEN;
//! * every materialised value (`get`) equals GET / LRANGE / SMEMBERS /
//!   ZRANGE WITHSCORES / HGETALL / XRANGE;
//!
//! and, for every fixture that server wrote (testdata/rdb/<server>), that
//! the server started on the fixture prints our digest of it (keys already
//! expired, and expired hash fields, are left out on both sides: the
//! server drops them on load).

mod common;

use common::dataset::Dataset;
use common::{Client, Reply, Server, Xorshift, note};
use redcheck::inspect::digest::{DatasetDigest, ScoreFormat, hex, key_digest, value_digest};
use redcheck::inspect::value::{Value, materialise};
use redcheck::inspect::{KeyEntry, Keys, element_count};
use redcheck::rdb::{Header, LogicalType};
use std::collections::BTreeMap;

/// Redis 7+ and Valkey refuse DEBUG unless enabled; 6.2 has no such option.
pub fn debug_config(server: &str) -> Vec<(&'static str, &'static str)> {
    if server.starts_with("redis-6") {
        vec![]
    } else {
        vec![("enable-debug-command", "yes")]
    }
}

fn entries(data: &[u8]) -> (Header, Vec<KeyEntry<'_>>) {
    let header = Header::parse(data).expect("header");
    let keys = Keys::new(data, header)
        .collect::<Result<Vec<_>, _>>()
        .expect("the dump frames cleanly");
    (header, keys)
}

fn dataset_digest(data: &[u8], now_ms: Option<i64>) -> String {
    let (header, keys) = entries(data);
    let format = ScoreFormat::for_file(data, header);
    let mut d = DatasetDigest::default();
    for e in &keys {
        if let Some(k) = key_digest(&header, e, format, now_ms).expect("digest") {
            d.add(e.db, &k);
        }
    }
    hex(&d.finish())
}

fn server_len(c: &mut Client, e: &KeyEntry<'_>) -> u64 {
    let cmd: &[u8] = match e.logical() {
        LogicalType::String => b"STRLEN",
        LogicalType::List => b"LLEN",
        LogicalType::Set => b"SCARD",
        LogicalType::Zset => b"ZCARD",
        LogicalType::Hash => b"HLEN",
        LogicalType::Stream => b"XLEN",
        LogicalType::Module => return 1,
    };
    c.ok(&[cmd, &e.key]).int().expect("an integer length") as u64
}

fn bulks(r: &Reply) -> Vec<Vec<u8>> {
    r.array()
        .iter()
        .map(|x| x.bytes().expect("bulk").to_vec())
        .collect()
}

/// The value as the server returns it, in our shape.
fn server_value(c: &mut Client, e: &KeyEntry<'_>) -> Value {
    let k: &[u8] = &e.key;
    match e.logical() {
        LogicalType::String => Value::String(c.ok(&[b"GET", k]).bytes().expect("GET").to_vec()),
        LogicalType::List => Value::List(bulks(&c.ok(&[b"LRANGE", k, b"0", b"-1"]))),
        LogicalType::Set => {
            let mut m = bulks(&c.ok(&[b"SMEMBERS", k]));
            m.sort();
            Value::Set(m)
        }
        LogicalType::Zset => {
            let flat = bulks(&c.ok(&[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]));
            let mut m: Vec<(Vec<u8>, f64)> = flat
                .chunks(2)
                .map(|p| {
                    (
                        p[0].clone(),
                        String::from_utf8_lossy(&p[1])
                            .parse::<f64>()
                            .expect("score"),
                    )
                })
                .collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Zset(m)
        }
        LogicalType::Hash => {
            let flat = bulks(&c.ok(&[b"HGETALL", k]));
            let mut m: Vec<(Vec<u8>, Vec<u8>)> = flat
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect();
            m.sort();
            Value::List(m.into_iter().flat_map(|(f, v)| [f, v]).collect())
        }
        LogicalType::Stream => {
            let r = c.ok(&[b"XRANGE", k, b"-", b"+"]);
            let mut flat = Vec::new();
            for entry in r.array() {
                let [id, fields] = entry.array() else {
                    panic!("XRANGE entry {entry:?}")
                };
                flat.push(id.bytes().expect("id").to_vec());
                flat.extend(bulks(fields));
            }
            Value::List(flat)
        }
        LogicalType::Module => Value::Module(String::new()),
    }
}

/// Our value normalised to what `server_value` can compare: unordered
/// collections sorted, hashes and streams flattened.
fn comparable(v: Value) -> Value {
    match v {
        Value::Set(mut m) => {
            m.sort();
            Value::Set(m)
        }
        Value::Zset(mut m) => {
            m.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Zset(m)
        }
        Value::Hash(fields) => {
            let mut m: Vec<(Vec<u8>, Vec<u8>)> =
                fields.into_iter().map(|f| (f.field, f.value)).collect();
            m.sort();
            Value::List(m.into_iter().flat_map(|(f, v)| [f, v]).collect())
        }
        Value::Stream(s) => Value::List(
            s.entries
                .into_iter()
                .flat_map(|e| {
                    std::iter::once(format!("{}-{}", e.id.ms, e.id.seq).into_bytes())
                        .chain(e.fields.into_iter().flat_map(|(f, v)| [f, v]))
                })
                .collect(),
        ),
        Value::Module(_) => Value::Module(String::new()),
        other => other,
    }
}

/// The key's expiry and its hash fields' expiries equal PEXPIRETIME and
/// HPEXPIRETIME (where the server has them).
fn expiries_match(server: &str, c: &mut Client, e: &KeyEntry<'_>, v: &Value) {
    let key: &[u8] = &e.key;
    let r = c.call(&[b"PEXPIRETIME", key]);
    if let Some(ms) = r.int() {
        assert_eq!(
            e.expire_ms.unwrap_or(-1),
            ms,
            "{server}: expiry of {}",
            redcheck::escape_bytes(key)
        );
    }
    if let Value::Hash(fields) = v {
        for f in fields.iter().filter(|f| f.expire_ms.is_some()) {
            let r = c.ok(&[b"HPEXPIRETIME", key, b"FIELDS", b"1", &f.field]);
            assert_eq!(
                r.array().first().and_then(Reply::int),
                f.expire_ms,
                "{server}: field expiry in {}",
                redcheck::escape_bytes(key)
            );
        }
    }
}

fn live(server: &str, seed: u64) {
    let Some(mut srv) = Server::start(server, &debug_config(server)) else {
        note(format!("{server} not installed: live digest test skipped"));
        return;
    };
    let mut c = srv.client();
    let info = c.call(&[b"COMMAND", b"INFO", b"HPEXPIREAT"]);
    let hfe = matches!(info.array().first(), Some(Reply::Array(Some(_))));
    let mut ds = Dataset {
        c: &mut c,
        rng: Xorshift::new(seed),
        written: Default::default(),
        hfe,
    };
    ds.write();
    c.ok(&[b"SAVE"]);
    let data = std::fs::read(srv.dir.path().join("dump.rdb")).expect("dump.rdb after SAVE");

    let (header, keys) = entries(&data);
    let format = ScoreFormat::for_file(&data, header);
    let mut per_db: BTreeMap<u64, u64> = BTreeMap::new();
    let mut db = u64::MAX;
    let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &keys {
        if e.db != db {
            db = e.db;
            c.ok(&[b"SELECT", db.to_string().as_bytes()]);
        }
        *per_db.entry(e.db).or_default() += 1;
        *by_type.entry(e.encoding()).or_default() += 1;
        let theirs = c.ok(&[b"DEBUG", b"DIGEST-VALUE", &e.key]);
        let theirs = theirs.array().first().map(Reply::text).unwrap_or_default();
        let ours = hex(&value_digest(&header, e, format).expect("value digest"));
        assert_eq!(
            ours,
            theirs,
            "{server}: db {} key {} ({}): DEBUG DIGEST-VALUE",
            e.db,
            redcheck::escape_bytes(&e.key),
            e.encoding()
        );
        let ours = materialise(&header, e, None).expect("materialise");
        assert!(!ours.truncated);
        expiries_match(server, &mut c, e, &ours.value);
        assert!(
            comparable(ours.value) == server_value(&mut c, e),
            "{server}: db {} key {} ({}): value differs from the server's",
            e.db,
            redcheck::escape_bytes(&e.key),
            e.encoding()
        );
        assert_eq!(
            element_count(&header, e).expect("len"),
            server_len(&mut c, e),
            "{server}: db {} key {} ({}): len",
            e.db,
            redcheck::escape_bytes(&e.key),
            e.encoding()
        );
    }
    let server_digest = c.ok(&[b"DEBUG", b"DIGEST"]).text();
    assert_eq!(
        dataset_digest(&data, None),
        server_digest,
        "{server}: DEBUG DIGEST"
    );
    let keyspace: BTreeMap<u64, u64> = c
        .keyspace()
        .into_iter()
        .map(|(db, (k, _))| (db, k))
        .collect();
    assert_eq!(per_db, keyspace, "{server}: keys per db vs INFO keyspace");
    eprintln!(
        "{server}: {} keys, digests equal; encodings {by_type:?}",
        keys.len()
    );
    drop(c);
    srv.shutdown();
}

/// Every fixture the server wrote, loaded back into that server.
fn fixtures(server: &str) {
    if common::server_binary(server).is_none() {
        note(format!(
            "{server} not installed: fixture digest test skipped"
        ));
        return;
    }
    let dir = common::crate_dir().join("testdata/rdb").join(server);
    let Ok(list) = std::fs::read_dir(&dir) else {
        note(format!("no fixtures for {server}"));
        return;
    };
    let mut paths: Vec<_> = list
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
        .collect();
    paths.sort();
    for path in paths {
        let data = std::fs::read(&path).expect("fixture");
        let (header, keys) = entries(&data);
        if keys.iter().any(|e| e.logical() == LogicalType::Module) {
            // The server asks the module's digest callback; we report the
            // value as undigestable instead (checked below).
            let e = keys
                .iter()
                .find(|e| e.logical() == LogicalType::Module)
                .expect("module key");
            let r = value_digest(&header, e, ScoreFormat::Shortest);
            assert!(
                r.is_err(),
                "{}: a module value must not get a digest",
                common::shown(&path)
            );
            continue;
        }
        let mut srv = match Server::start_with(server, &debug_config(server), Some(&data)) {
            Some(Ok(s)) => s,
            Some(Err(log)) => panic!(
                "{server} refused its own fixture {}:\n{log}",
                path.display()
            ),
            None => return,
        };
        let mut c = srv.client();
        let now = common::now_ms();
        let theirs = c.ok(&[b"DEBUG", b"DIGEST"]).text();
        let ours = dataset_digest(&data, Some(now));
        assert_eq!(
            ours,
            theirs,
            "{}: DEBUG DIGEST of the loaded fixture",
            common::shown(&path)
        );
        drop(c);
        srv.shutdown();
    }
}

#[test]
fn digests_redis_7_0() {
    live("redis-7.0", 0x070d);
    fixtures("redis-7.0");
}

#[test]
fn digests_redis_6_2() {
    live("redis-6.2", 0x062d);
    fixtures("redis-6.2");
}

#[test]
fn digests_redis_8_2() {
    live("redis-8.2", 0x082d);
    fixtures("redis-8.2");
}

#[test]
fn digests_valkey_9_1() {
    live("valkey-9.1", 0x091d);
    fixtures("valkey-9.1");
}

/// The first installed server, for tests that need one but not each.
fn any_server() -> Option<(&'static str, Server)> {
    common::SERVERS
        .iter()
        .find_map(|s| Server::start(s, &debug_config(s)).map(|srv| (*s, srv)))
}

fn save(srv: &Server, c: &mut Client) -> Vec<u8> {
    c.ok(&[b"SAVE"]);
    std::fs::read(srv.dir.path().join("dump.rdb")).expect("dump.rdb after SAVE")
}

/// `diff` of two SAVEs around known changes reports exactly those.
#[test]
fn diff_reports_exactly_the_changes() {
    use redcheck::inspect::diff::diff;
    let Some((server, mut srv)) = any_server() else {
        note("no server installed: diff test skipped");
        return;
    };
    let mut c = srv.client();
    let hfe = false;
    let mut ds = Dataset {
        c: &mut c,
        rng: Xorshift::new(0xd1ff),
        written: Default::default(),
        hfe,
    };
    ds.write();
    let written = std::mem::take(&mut ds.written);
    let before = save(&srv, &mut c);

    // Pick keys of db 0 and db 1 by position in the written (sorted) sets.
    let db0: Vec<&Vec<u8>> = written.keys[&0].keys().collect();
    let db1: Vec<&Vec<u8>> = written.keys[&1].keys().collect();
    let removed = [db0[3].clone(), db1[7].clone()];
    let changed = [db0[10].clone(), db0[20].clone()];
    c.ok(&[b"SELECT", b"0"]);
    c.ok(&[b"DEL", &removed[0]]);
    // A changed value (whatever its type: replaced by a string) and a
    // changed expiry only.
    c.ok(&[b"SET", &changed[0], b"new value"]);
    c.ok(&[b"PEXPIREAT", &changed[1], b"4102444800123"]);
    c.ok(&[b"SET", b"added:0", b"x"]);
    c.ok(&[b"SELECT", b"1"]);
    c.ok(&[b"DEL", &removed[1]]);
    c.ok(&[b"SELECT", b"7"]);
    c.ok(&[b"SET", b"added:7", b"y"]);
    let after = save(&srv, &mut c);

    let h = |d: &[u8]| Header::parse(d).expect("header");
    let d = diff(&before, h(&before), &after, h(&after), true).expect("diff");
    assert_eq!(d.totals(), (2, 2, 2), "{server}: {d:?}");
    assert_eq!(d.dbs[&0].added_keys, vec![b"added:0".to_vec()]);
    assert_eq!(d.dbs[&7].added_keys, vec![b"added:7".to_vec()]);
    assert_eq!(d.dbs[&0].removed_keys, vec![removed[0].clone()]);
    assert_eq!(d.dbs[&1].removed_keys, vec![removed[1].clone()]);
    let mut ch = d.dbs[&0].changed_keys.clone();
    ch.sort();
    let mut want = changed.to_vec();
    want.sort();
    assert_eq!(ch, want, "{server}");
    assert!(
        diff(&after, h(&after), &after, h(&after), false)
            .expect("diff")
            .is_empty()
    );

    // The CLI's JSON contract: totals, dbs with counts, keys with --list;
    // exit 1 when the files differ, 0 when they do not.
    let a = srv.dir.path().join("before.rdb");
    let b = srv.dir.path().join("after.rdb");
    std::fs::write(&a, &before).expect("write");
    std::fs::write(&b, &after).expect("write");
    let o = redcheck(&[
        "diff".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "--json".as_ref(),
        "--list".as_ref(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(
        (
            v["added"].as_u64(),
            v["removed"].as_u64(),
            v["changed"].as_u64()
        ),
        (Some(2), Some(2), Some(2))
    );
    let dbs: Vec<u64> = v["dbs"]
        .as_array()
        .expect("dbs")
        .iter()
        .map(|d| d["db"].as_u64().expect("db"))
        .collect();
    assert_eq!(dbs, vec![0, 1, 7]);
    assert_eq!(v["dbs"][2]["added_keys"], serde_json::json!(["added:7"]));
    let o = redcheck(&["diff".as_ref(), b.as_os_str(), b.as_os_str()]);
    assert_eq!(o.status.code(), Some(0));
    drop(c);
    srv.shutdown();
}

fn redcheck(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_redcheck"))
        .args(args)
        .output()
        .expect("run redcheck")
}

/// `export` (RESTORE payloads, and plain commands) piped into an empty
/// server of the same version reproduces `DEBUG DIGEST`; `sample` with a
/// seed is stable; `digest` prints one hex line equal to the server's.
fn export_and_sample(server: &str, seed: u64) {
    let Some(mut srv) = Server::start(server, &debug_config(server)) else {
        note(format!("{server} not installed: export test skipped"));
        return;
    };
    let mut c = srv.client();
    let info = c.call(&[b"COMMAND", b"INFO", b"HPEXPIREAT"]);
    let hfe = matches!(info.array().first(), Some(Reply::Array(Some(_))));
    let mut ds = Dataset {
        c: &mut c,
        rng: Xorshift::new(seed),
        written: Default::default(),
        hfe,
    };
    ds.write();
    let data = save(&srv, &mut c);
    let digest = c.ok(&[b"DEBUG", b"DIGEST"]).text();
    let path = srv.dir.path().join("dump.rdb");
    let p = path.as_os_str();

    let o = redcheck(&["digest".as_ref(), p]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{digest}\n"),
        "{server}: redcheck digest"
    );

    for flags in [&[][..], &["--commands"][..]] {
        let mut args: Vec<&std::ffi::OsStr> = vec!["export".as_ref(), p];
        args.extend(flags.iter().map(std::ffi::OsStr::new));
        let o = redcheck(&args);
        assert!(
            o.status.success(),
            "{server}: export {flags:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let target = Server::start(server, &debug_config(server)).expect("second server");
        let mut t = target.client();
        for r in t.pipe_raw(&o.stdout) {
            assert!(
                !r.is_error(),
                "{server}: export {flags:?}: the server refused a command: {r:?}"
            );
        }
        assert_eq!(
            t.ok(&[b"DEBUG", b"DIGEST"]).text(),
            digest,
            "{server}: export {flags:?} piped into an empty server"
        );
    }

    // Filters: only db 1 is exported, and all of it.
    let o = redcheck(&["export".as_ref(), p, "--db".as_ref(), "1".as_ref()]);
    let target = Server::start(server, &debug_config(server)).expect("third server");
    let mut t = target.client();
    for r in t.pipe_raw(&o.stdout) {
        assert!(!r.is_error(), "{server}: export --db 1: {r:?}");
    }
    let want: BTreeMap<u64, u64> = c
        .keyspace()
        .into_iter()
        .filter(|(db, _)| *db == 1)
        .map(|(db, (k, _))| (db, k))
        .collect();
    let got: BTreeMap<u64, u64> = t
        .keyspace()
        .into_iter()
        .map(|(db, (k, _))| (db, k))
        .collect();
    assert_eq!(got, want, "{server}: export --db 1 into an empty server");

    // JSON lines: one object per key, each the `get` of that key.
    let o = redcheck(&["export".as_ref(), p, "--format".as_ref(), "jsonl".as_ref()]);
    let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let total = Keys::new(&data, Header::parse(&data).expect("header")).count();
    assert_eq!(lines.len(), total, "{server}: export --format jsonl");
    let first = &lines[0];
    if let Some(k) = first["key"].as_str() {
        let o = redcheck(&[
            "get".as_ref(),
            p,
            k.as_ref(),
            "--db".as_ref(),
            first["db"].to_string().as_ref(),
        ]);
        let got: serde_json::Value = serde_json::from_slice(&o.stdout).expect("get JSON");
        assert_eq!(&got, first, "{server}: export jsonl line vs get");
    }

    let sample = |seed: &str| {
        let o = redcheck(&[
            "sample".as_ref(),
            p,
            "--count".as_ref(),
            "25".as_ref(),
            "--seed".as_ref(),
            seed.as_ref(),
        ]);
        assert!(o.status.success());
        String::from_utf8(o.stdout).expect("utf-8 JSON")
    };
    let first = sample("7");
    assert_eq!(first, sample("7"), "{server}: same seed, same sample");
    assert_ne!(first, sample("8"), "{server}: another seed, another sample");
    assert_eq!(first.lines().count(), 25);
    assert!(total > 25, "{server}: the dataset holds {total} keys");
    drop(c);
    srv.shutdown();
}

#[test]
fn export_redis_7_0() {
    export_and_sample("redis-7.0", 0x0e70);
}

#[test]
fn export_redis_6_2() {
    export_and_sample("redis-6.2", 0x0e62);
}

#[test]
fn export_redis_8_2() {
    export_and_sample("redis-8.2", 0x0e82);
}

#[test]
fn export_valkey_9_1() {
    export_and_sample("valkey-9.1", 0x0e91);
}

/// The `keys --json` contract on every fixture: exactly the documented
/// fields, one line per key the verifier counts, and filters that select
/// what the unfiltered listing says they should.
#[test]
fn keys_json_contract_and_filters() {
    let want: std::collections::BTreeSet<&str> =
        ["db", "key", "type", "encoding", "len", "expire_ms", "size"].into();
    for path in common::rdb_fixtures() {
        let shown = common::shown(&path);
        let data = std::fs::read(&path).expect("fixture");
        let r = redcheck::verify_rdb(&data, &redcheck::Options::default());
        let p = path.as_os_str();
        let o = redcheck(&["keys".as_ref(), "--json".as_ref(), p]);
        assert!(
            o.status.success(),
            "{shown}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let lines: Vec<serde_json::Value> = String::from_utf8(o.stdout)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(lines.len() as u64, r.keys, "{shown}: one line per key");
        for l in &lines {
            let fields: std::collections::BTreeSet<&str> = l
                .as_object()
                .expect("object")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(fields, want, "{shown}: {l}");
        }
        let count = |args: &[&str]| {
            let mut a: Vec<&std::ffi::OsStr> = vec!["keys".as_ref(), "--json".as_ref(), p];
            a.extend(args.iter().map(std::ffi::OsStr::new));
            String::from_utf8(redcheck(&a).stdout)
                .expect("utf-8")
                .lines()
                .count()
        };
        let strings = lines.iter().filter(|l| l["type"] == "string").count();
        assert_eq!(count(&["--type", "string"]), strings, "{shown}: --type");
        let db0 = lines.iter().filter(|l| l["db"] == 0).count();
        assert_eq!(count(&["--db", "0"]), db0, "{shown}: --db");
        let big = lines
            .iter()
            .filter(|l| l["size"].as_u64().unwrap_or(0) >= 100)
            .count();
        assert_eq!(count(&["--min-size", "100"]), big, "{shown}: --min-size");
        let prefixed = lines
            .iter()
            .filter(|l| l["key"].as_str().is_some_and(|k| k.starts_with("str:")))
            .count();
        assert_eq!(count(&["--match", "str:*"]), prefixed, "{shown}: --match");
    }
}

/// Doubles with random bit patterns, short decimals, large integers and
/// edge values: the scores whose text could differ between formatters.
fn tricky_scores(seed: u64) -> Vec<f64> {
    let mut rng = Xorshift::new(seed);
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        0.1,
        1e-7,
        1e21,
        1e22,
        123456789012345680.0,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    while v.len() < 1500 {
        let x = f64::from_bits(rng.next_u64());
        if x.is_finite() {
            v.push(x);
        }
        v.push(rng.below(1_000_000) as f64 / 1000.0);
        v.push((rng.next_u64() >> rng.below(64)) as f64);
    }
    v
}

/// Zset scores enter digests as text: every score's digest, in a small
/// (listpack) zset of its own and all together in a big (skiplist) one,
/// equals `DEBUG DIGEST-VALUE`.
fn scores(server: &str) {
    let Some(mut srv) = Server::start(server, &debug_config(server)) else {
        note(format!("{server} not installed: score digest test skipped"));
        return;
    };
    let mut c = srv.client();
    let all = tricky_scores(0x5c0e);
    let mut cmds = Vec::new();
    let mut big = vec![b"ZADD".to_vec(), b"zbig".to_vec()];
    for (i, s) in all.iter().enumerate() {
        let score = format!("{s:e}").into_bytes();
        cmds.push(vec![
            b"ZADD".to_vec(),
            format!("z:{i}").into_bytes(),
            score.clone(),
            b"m".to_vec(),
        ]);
        big.push(score);
        big.push(i.to_string().into_bytes());
    }
    cmds.push(big);
    for r in c.pipeline(&cmds) {
        assert!(!r.is_error(), "{server}: {r:?}");
    }
    let data = save(&srv, &mut c);
    let (header, keys) = entries(&data);
    let format = ScoreFormat::for_file(&data, header);
    let asks: Vec<Vec<Vec<u8>>> = keys
        .iter()
        .map(|e| vec![b"DEBUG".to_vec(), b"DIGEST-VALUE".to_vec(), e.key.to_vec()])
        .collect();
    let mut wrong = Vec::new();
    for (e, r) in keys.iter().zip(c.pipeline(&asks)) {
        let theirs = r.array().first().map(Reply::text).unwrap_or_default();
        let ours = hex(&value_digest(&header, e, format).expect("digest"));
        if ours != theirs {
            let score = String::from_utf8_lossy(&e.key)
                .strip_prefix("z:")
                .and_then(|i| i.parse::<usize>().ok())
                .map(|i| format!("{:e} -> {:?}", all[i], format.format(all[i])));
            wrong.push(format!("{} {score:?}", redcheck::escape_bytes(&e.key)));
        }
    }
    assert!(
        wrong.is_empty(),
        "{server}: {} of {} zsets digest differently: {:?}",
        wrong.len(),
        keys.len(),
        &wrong[..wrong.len().min(8)]
    );
    drop(c);
    srv.shutdown();
}

#[test]
fn score_digests_redis_6_2() {
    scores("redis-6.2");
}

#[test]
fn score_digests_redis_7_0() {
    scores("redis-7.0");
}

#[test]
fn score_digests_redis_8_2() {
    scores("redis-8.2");
}

#[test]
fn score_digests_valkey_9_1() {
    scores("valkey-9.1");
}

/// Module values have no offline digest: `digest` refuses (exit 2, naming
/// the key) rather than print a wrong value, and `keys --digest` gives
/// them `null` while digesting every other key.
#[test]
fn module_values_are_reported_not_digested() {
    let path = common::crate_dir().join("testdata/rdb/redis-8.2/module-graph.rdb");
    if !path.is_file() {
        note("module fixture missing: skipped");
        return;
    }
    let p = path.as_os_str();
    let o = redcheck(&["digest".as_ref(), p]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("module value") && err.contains("key"), "{err}");
    assert!(o.stdout.is_empty());
    let o = redcheck(&["keys".as_ref(), "--json".as_ref(), "--digest".as_ref(), p]);
    assert!(o.status.success());
    let mut modules = 0;
    for l in String::from_utf8(o.stdout).expect("utf-8").lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
        if v["type"] == "module" {
            modules += 1;
            assert!(v["digest"].is_null(), "{l}");
        } else {
            assert_eq!(v["digest"].as_str().map(str::len), Some(40), "{l}");
        }
    }
    assert!(modules > 0);
}

/// `export --target-rdb-version` into an older server: RESTORE for the
/// types it knows, plain commands for the rest; the older server's
/// `DEBUG DIGEST` equals `redcheck digest` of the newer server's dump
/// with the older server's score format.
fn export_to_older(source: &str, target: &str, rdb_version: &str, score_format: &str) {
    let Some(mut src) = Server::start(source, &debug_config(source)) else {
        note(format!("{source} not installed: skipped"));
        return;
    };
    if common::server_binary(target).is_none() {
        note(format!("{target} not installed: skipped"));
        return;
    }
    let mut c = src.client();
    let mut ds = Dataset {
        c: &mut c,
        rng: Xorshift::new(0x01d),
        written: Default::default(),
        hfe: false,
    };
    ds.write();
    save(&src, &mut c);
    let path = src.dir.path().join("dump.rdb");
    let p = path.as_os_str();
    let o = redcheck(&[
        "export".as_ref(),
        p,
        "--target-rdb-version".as_ref(),
        rdb_version.as_ref(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let has = |needle: &[u8]| o.stdout.windows(needle.len()).any(|w| w == needle);
    assert!(
        has(b"$7\r\nRESTORE\r\n") && has(b"$3\r\nDEL\r\n"),
        "{source} -> {target}: expected both RESTORE payloads and plain commands"
    );
    let dst = Server::start(target, &debug_config(target)).expect("target server");
    let mut t = dst.client();
    for r in t.pipe_raw(&o.stdout) {
        assert!(!r.is_error(), "{source} -> {target}: {r:?}");
    }
    let o = redcheck(&[
        "digest".as_ref(),
        p,
        "--score-format".as_ref(),
        score_format.as_ref(),
    ]);
    assert_eq!(
        t.ok(&[b"DEBUG", b"DIGEST"]).text() + "\n",
        String::from_utf8_lossy(&o.stdout),
        "{source} -> {target}: DEBUG DIGEST of the older server vs redcheck digest"
    );
    drop(c);
    src.shutdown();
}

#[test]
fn export_redis_7_0_to_redis_6_2() {
    export_to_older("redis-7.0", "redis-6.2", "9", "printf");
}

#[test]
fn export_redis_8_2_to_redis_7_0() {
    export_to_older("redis-8.2", "redis-7.0", "10", "printf");
}

/// An AOF with an RDB preamble: its commands are not inspected, and the
/// commands say so instead of presenting the preamble as the whole data.
#[test]
fn an_aof_preamble_is_noted() {
    let aof = common::crate_dir().join("testdata/aof/redis-6.2/preamble.aof");
    let rdb = common::crate_dir().join("testdata/rdb/redis-6.2/all-types.rdb");
    if !aof.is_file() || !rdb.is_file() {
        note("fixtures missing: skipped");
        return;
    }
    for cmd in ["digest", "keys", "export"] {
        let o = redcheck(&[cmd.as_ref(), aof.as_os_str()]);
        assert!(o.status.success(), "{cmd}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("follow the RDB"), "{cmd}: {err}");
        let o = redcheck(&[cmd.as_ref(), rdb.as_os_str()]);
        assert!(
            o.stderr.is_empty(),
            "{cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
