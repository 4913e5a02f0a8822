//! Live round trip: start a real server on a unix socket in a temp dir,
//! write a seeded random dataset (every type, small and big encodings,
//! streams with consumer groups, expiring keys, binary keys, dbs 0, 1 and
//! 5, hash field TTLs where the server has them), `SAVE`, verify the
//! `dump.rdb`, and compare with what the server itself reports:
//! `INFO keyspace` per db, `TYPE` of every key found by `SCAN`, and which
//! keys have a TTL. One test per server; each is skipped with a note when
//! that server is not installed.

mod common;

use common::dataset::{Dataset, Written};
use common::{Reply, Server, Xorshift, keys_on_server, note};
use redcheck::rdb::{Header, Record, Records};
use redcheck::{Options, verify_rdb};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
/// db -> key -> (logical type, has expiry), re-read from the file with the
/// framing iterator.
fn keys_in_file(data: &[u8]) -> BTreeMap<u64, BTreeMap<Vec<u8>, (&'static str, bool)>> {
    let header = Header::parse(data).expect("header");
    let mut out: BTreeMap<u64, BTreeMap<Vec<u8>, (&'static str, bool)>> = BTreeMap::new();
    let mut db = 0;
    let mut expire = false;
    for item in Records::new(data, header) {
        match item.expect("the dump frames cleanly").record {
            Record::SelectDb { db: n } => db = n,
            Record::Expire { .. } => expire = true,
            Record::Key(k) => {
                let key = k.key.to_bytes().expect("key").into_owned();
                let t = k.value_type.logical().name();
                out.entry(db).or_default().insert(key, (t, expire));
                expire = false;
            }
            _ => {}
        }
    }
    out
}

fn roundtrip(server: &str, seed: u64) {
    let Some(mut srv) = Server::start(server, &[]) else {
        note(format!("{server} not installed: live round trip skipped"));
        return;
    };
    let mut c = srv.client();
    // Hash field TTLs where the server has them.
    let info = c.call(&[b"COMMAND", b"INFO", b"HPEXPIREAT"]);
    let hfe = matches!(info.array().first(), Some(Reply::Array(Some(_))));
    let mut ds = Dataset {
        c: &mut c,
        rng: Xorshift::new(seed),
        written: Written::default(),
        hfe,
    };
    ds.write();
    let written = std::mem::take(&mut ds.written);
    c.ok(&[b"SAVE"]);

    let data = std::fs::read(srv.dir.path().join("dump.rdb")).expect("dump.rdb after SAVE");
    let options = Options {
        now_ms: common::now_ms(),
        ..Options::default()
    };
    let r = {
        let data = data.clone();
        common::within(Duration::from_secs(60), server, move || {
            verify_rdb(&data, &options)
        })
    };
    assert!(
        r.ok,
        "{server}: the dump fails verification: {:?}",
        r.errors
    );
    assert!(
        r.warnings.is_empty(),
        "{server}: unexpected warnings: {:?}",
        r.warnings
    );
    assert!(
        matches!(r.checksum, redcheck::verify::Checksum::Ok(_)),
        "{server}: checksum {:?}",
        r.checksum
    );

    // INFO keyspace per db.
    let keyspace = c.keyspace();
    let ours: BTreeMap<u64, (u64, u64)> = r
        .dbs
        .iter()
        .map(|(db, s)| (*db, (s.keys, s.expires)))
        .collect();
    assert_eq!(
        ours, keyspace,
        "{server}: (keys, expires) per db vs INFO keyspace"
    );
    assert_eq!(r.already_expired, 0);
    let written_counts: BTreeMap<u64, (u64, u64)> = written
        .keys
        .iter()
        .map(|(db, ks)| {
            (
                *db,
                (ks.len() as u64, ks.values().filter(|e| **e).count() as u64),
            )
        })
        .collect();
    assert_eq!(ours, written_counts, "{server}: vs what the test wrote");

    // TYPE of every key, per db and in total.
    let dbs: Vec<u64> = keyspace.keys().copied().collect();
    let on_server = keys_on_server(&mut c, &dbs);
    let in_file = keys_in_file(&data);
    let mut type_totals: BTreeMap<String, u64> = BTreeMap::new();
    for (db, keys) in &on_server {
        let file_keys = in_file.get(db).cloned().unwrap_or_default();
        let a: BTreeSet<&Vec<u8>> = keys.keys().collect();
        let b: BTreeSet<&Vec<u8>> = file_keys.keys().collect();
        assert_eq!(a, b, "{server}: db {db}: keys by SCAN vs keys in the file");
        for (k, t) in keys {
            assert_eq!(
                file_keys[k].0,
                t,
                "{server}: db {db} key {}: type in the file vs TYPE",
                redcheck::escape_bytes(k)
            );
            assert_eq!(
                file_keys[k].1,
                written.keys[db][k],
                "{server}: db {db} key {}: expiry in the file vs written",
                redcheck::escape_bytes(k)
            );
            *type_totals.entry(t.clone()).or_default() += 1;
        }
    }
    let ours: BTreeMap<String, u64> = r
        .types
        .iter()
        .map(|(t, n)| (t.name().to_string(), *n))
        .collect();
    assert_eq!(
        ours, type_totals,
        "{server}: key count per type vs TYPE over SCAN"
    );
    if hfe {
        assert_eq!(
            r.keys_with_field_ttl, written.field_ttl_keys,
            "{server}: hashes with field TTLs"
        );
    }
    eprintln!(
        "{server}: {} keys in {} dbs, {} bytes, types {ours:?}, encodings {:?}, \
         {} hashes with field TTLs",
        r.keys,
        r.dbs.len(),
        data.len(),
        r.encodings,
        r.keys_with_field_ttl
    );
    drop(c);
    srv.shutdown();
}

#[test]
fn live_roundtrip_redis_7_0() {
    roundtrip("redis-7.0", 0x7_0);
}

#[test]
fn live_roundtrip_redis_6_2() {
    roundtrip("redis-6.2", 0x6_2);
}

#[test]
fn live_roundtrip_redis_8_2() {
    roundtrip("redis-8.2", 0x8_2);
}

#[test]
fn live_roundtrip_valkey_9_1() {
    roundtrip("valkey-9.1", 0x9_1);
}
