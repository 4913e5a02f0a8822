//! The inspection layer on damaged input: server-written fixtures with
//! bytes flipped and tails cut (seeded, so a failure repeats), run through
//! every inspection entry point (key listing, counts, digests, values,
//! DUMP payloads, plain commands, diff). Nothing may panic or hang; errors
//! are values.

mod common;

use common::{Xorshift, within};
use redcheck::inspect::digest::{ScoreFormat, key_digest, value_digest};
use redcheck::inspect::dump::{dump_payload, payload_version, plain_commands};
use redcheck::inspect::value::materialise;
use redcheck::inspect::{Keys, element_count};
use redcheck::rdb::Header;
use std::time::Duration;

/// Runs everything on `data`; returns how many keys decoded cleanly.
fn inspect_all(data: &[u8]) -> usize {
    let Ok(header) = Header::parse(data) else {
        return 0;
    };
    let mut clean = 0;
    for e in Keys::new(data, header) {
        let Ok(e) = e else { break };
        let _ = element_count(&header, &e);
        let _ = value_digest(&header, &e, ScoreFormat::Shortest);
        let _ = key_digest(&header, &e, ScoreFormat::Printf17g, Some(0));
        if let Some(v) = payload_version(&header, &e, Some(9)) {
            let _ = dump_payload(&e, v);
        }
        if let Ok(m) = materialise(&header, &e, Some(256)) {
            let _ = plain_commands(&e.key, &m.value, e.expire_ms);
            clean += 1;
        }
    }
    clean
}

fn damage(rel: &str, seed: u64) {
    let path = common::crate_dir().join("testdata/rdb").join(rel);
    let Ok(original) = std::fs::read(&path) else {
        common::note(format!("{rel} missing: skipped"));
        return;
    };
    let clean = inspect_all(&original);
    assert!(clean > 0, "{rel}: the undamaged fixture decodes");
    let mut rng = Xorshift::new(seed);
    for round in 0..40 {
        let mut d = original.clone();
        let what = if round % 5 == 4 {
            let cut = rng.below(d.len() as u64) as usize;
            d.truncate(cut);
            format!("cut at {cut}")
        } else {
            let mut flips = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let at = 9 + rng.below((d.len() - 9) as u64) as usize;
                d[at] ^= 1 << rng.below(8);
                flips.push(at);
            }
            format!("flipped bytes at {flips:?}")
        };
        let label = format!("{rel}: {what}");
        let orig = original.clone();
        within(Duration::from_secs(30), &label, move || {
            inspect_all(&d);
            if round % 4 == 0
                && let (Ok(ha), Ok(hb)) = (Header::parse(&orig), Header::parse(&d))
            {
                let _ = redcheck::inspect::diff::diff(&orig, ha, &d, hb, true);
            }
        });
    }
}

#[test]
fn damaged_fixtures_never_panic() {
    for (i, rel) in [
        "redis-7.0/all-types.rdb",
        "redis-6.2/all-types.rdb",
        "redis-8.2/hfe.rdb",
        "valkey-9.1/all-types.rdb",
        "redis-8.2/module-graph.rdb",
    ]
    .iter()
    .enumerate()
    {
        damage(rel, 0xbad0 + i as u64);
    }
}

/// Every RDB of the shared corpus that the corpus calls valid and the
/// verifier accepts (RDB versions 2 to 12, Valkey 9, zipmaps, ziplists,
/// quicklists, module values...) decodes for inspection: each key's `len`
/// equals the elements (or string bytes) its materialised value holds, and
/// its digest is computed (module values excepted). Skipped without the
/// corpus; files over 512 KiB are left out for time.
#[test]
fn valid_corpus_files_decode() {
    use redcheck::inspect::value::Value;
    let Some((dir, files)) = common::corpus_entries() else {
        common::note("corpus not found: skipped");
        return;
    };
    let mut keys = 0;
    for f in files {
        if f["kind"] != "rdb" || f["expect"] != "valid" {
            continue;
        }
        let rel = f["path"].as_str().expect("path");
        let data = std::fs::read(dir.join(rel)).expect("corpus file");
        // The big files repeat encodings the small ones have; keep the
        // debug-build runtime modest.
        if data.len() > 512 * 1024 {
            continue;
        }
        if !redcheck::verify_rdb(&data, &redcheck::Options::default()).ok {
            continue;
        }
        let header = Header::parse(&data).expect("header");
        for e in Keys::new(&data, header) {
            let e = e.unwrap_or_else(|err| panic!("{rel}: {err}"));
            let what = format!("{rel}: db {} key {}", e.db, redcheck::escape_bytes(&e.key));
            let len = element_count(&header, &e).unwrap_or_else(|err| panic!("{what}: {err}"));
            let m = materialise(&header, &e, None).unwrap_or_else(|err| panic!("{what}: {err}"));
            let held = match &m.value {
                Value::String(b) => b.len(),
                Value::List(v) | Value::Set(v) => v.len(),
                Value::Zset(v) => v.len(),
                Value::Hash(v) => v.len(),
                Value::Stream(s) => s.entries.len(),
                Value::Module(_) => 1,
            };
            assert_eq!(len, held as u64, "{what}: len vs materialised value");
            let digest = value_digest(&header, &e, ScoreFormat::Shortest);
            assert!(
                digest.is_ok() || matches!(m.value, Value::Module(_)),
                "{what}: {digest:?}"
            );
            keys += 1;
        }
    }
    common::note(format!("{keys} corpus keys decoded"));
}
