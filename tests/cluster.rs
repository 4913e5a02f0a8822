//! Cluster-mode files written by real servers (`testdata/rdb/*/cluster.rdb`,
//! one node owning every slot): Redis 7.4+ writes a SLOT_INFO record before
//! each slot's keys, Valkey 8+ a `slot-info` AUX field. Their counts are
//! summed per db, and must add up to the keys the file holds; a key record
//! taken out of a server-written file makes them differ, which is reported
//! as a warning naming the db (servers read the records as hints only).

mod common;

use common::crate_dir;
use redcheck::rdb::{Header, Item, Record, Records};
use redcheck::verify::{RdbReport, SlotCounts};
use redcheck::{Options, verify_rdb};

fn fixture(server: &str) -> Option<Vec<u8>> {
    let path = crate_dir().join(format!("testdata/rdb/{server}/cluster.rdb"));
    std::fs::read(&path).ok()
}

fn slot_info(r: &RdbReport, db: u64) -> Option<SlotCounts> {
    r.dbs.get(&db).and_then(|s| s.slot_info)
}

fn slot_warnings(r: &RdbReport) -> Vec<String> {
    r.warnings
        .iter()
        .filter(|f| f.message.contains("cluster slot records"))
        .map(|f| format!("db {:?} at {}: {}", f.db, f.offset, f.message))
        .collect()
}

/// The file without the `n`-th key record that has no expiry before it,
/// its checksum zeroed ("disabled"), so that only the counts tell.
fn without_key(data: &[u8], n: usize) -> Vec<u8> {
    let header = Header::parse(data).expect("header");
    let items: Vec<Item> = Records::new(data, header)
        .map(|i| i.expect("a server-written file frames"))
        .collect();
    let mut plain_keys = items
        .windows(2)
        .filter(|w| {
            matches!(w[1].record, Record::Key(_)) && !matches!(w[0].record, Record::Expire { .. })
        })
        .map(|w| (w[1].offset as usize, w[1].offset));
    let (start, _) = plain_keys.nth(n).expect("enough keys");
    let end = items
        .iter()
        .map(|i| i.offset as usize)
        .find(|&o| o > start)
        .expect("a record after the key");
    let mut out = [&data[..start], &data[end..]].concat();
    let len = out.len();
    out[len - 8..].fill(0);
    out
}

#[test]
fn slot_records_of_every_server_add_up_to_the_keys_of_each_db() {
    let mut checked = 0;
    for server in ["redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1"] {
        let Some(data) = fixture(server) else {
            eprintln!("{server}: no cluster fixture, skipped");
            continue;
        };
        let r = verify_rdb(&data, &Options::default());
        assert!(r.ok, "{server}: {:?}", r.errors);
        assert_eq!(slot_warnings(&r), Vec::<String>::new(), "{server}");
        for (db, s) in &r.dbs {
            match (server, slot_info(&r, *db)) {
                // Redis before 7.4 writes no slot records.
                ("redis-6.2" | "redis-7.0", None) => {}
                (_, Some(c)) => {
                    assert_eq!((c.keys, c.expires), (s.keys, s.expires), "{server} db {db}");
                    // One record for each slot with keys.
                    assert!(c.slots > 0 && c.slots <= s.keys, "{server} db {db}: {c:?}");
                    checked += 1;
                }
                (_, None) => panic!("{server} db {db}: no slot records"),
            }
        }
    }
    eprintln!("{checked} dbs with slot records checked");
}

#[test]
fn a_key_taken_out_of_a_cluster_file_makes_its_db_count_differ() {
    // Redis 8.2: SLOT_INFO records; Valkey 9.1: slot-info AUX fields, in
    // two dbs (keys of db 2 come after those of db 0).
    for (server, nth, db) in [("redis-8.2", 100, 0), ("valkey-9.1", 920, 2)] {
        let Some(data) = fixture(server) else {
            eprintln!("{server}: no cluster fixture, skipped");
            continue;
        };
        let whole = verify_rdb(&data, &Options::default());
        let cut = without_key(&data, nth);
        let r = verify_rdb(&cut, &Options::default());
        assert!(
            r.ok,
            "{server}: a key less is still a loadable file: {:?}",
            r.errors
        );
        let keys = |r: &RdbReport| r.dbs.get(&db).map(|s| s.keys);
        assert_eq!(keys(&r), keys(&whole).map(|k| k - 1), "{server}");
        let warnings = slot_warnings(&r);
        assert_eq!(warnings.len(), 1, "{server}: {warnings:?}");
        let want = format!("of db {db} count {} keys", keys(&whole).unwrap_or(0));
        assert!(warnings[0].contains(&want), "{server}: {warnings:?}");
        assert!(
            warnings[0].starts_with(&format!("db Some({db})")),
            "{server}: {warnings:?}"
        );
        // The slot records themselves are as the server wrote them.
        assert_eq!(slot_info(&r, db), slot_info(&whole, db), "{server}");
    }
}
