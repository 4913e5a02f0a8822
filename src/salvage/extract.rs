//! Writing the salvaged keys to a new RDB: the input's magic and version,
//! its intact AUX / FUNCTION2 / MODULE_AUX records, then per db a SELECTDB
//! and a RESIZEDB with the new counts and each kept key's bytes copied
//! verbatim (with its expiry and LRU/LFU opcodes), then EOF and a fresh
//! CRC-64.

use super::SalvageReport;
use crate::rdb::writer::RdbWriter;
use std::collections::BTreeMap;

/// The new file, or `None` when the input had no readable header.
/// `include_suspect` also keeps keys that checked out but sit next to
/// damage.
pub fn extract_rdb(data: &[u8], report: &SalvageReport, include_suspect: bool) -> Option<Vec<u8>> {
    let header = report.header?;
    let mut w = RdbWriter::new(&header);
    let bytes =
        |r: &std::ops::Range<u64>| data.get(r.start as usize..r.end as usize).unwrap_or(&[]);
    for m in report.meta.iter().filter(|m| m.before_keys) {
        w.raw(bytes(&m.span));
    }
    let mut dbs: BTreeMap<u64, Vec<_>> = BTreeMap::new();
    for k in &report.keys {
        if k.suspect.is_none() || include_suspect {
            dbs.entry(k.db).or_default().push(k);
        }
    }
    for (db, keys) in &dbs {
        w.select_db(*db);
        let expires = keys.iter().filter(|k| k.expire_ms.is_some()).count();
        w.resize_db(keys.len() as u64, expires as u64);
        for k in keys {
            w.raw(bytes(&k.span));
        }
    }
    for m in report.meta.iter().filter(|m| !m.before_keys) {
        w.raw(bytes(&m.span));
    }
    Some(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::Header;
    use crate::rdb::consts::RDB_TYPE_STRING;
    use crate::rdb::writer::write_string;
    use crate::salvage::{SalvageOptions, salvage_rdb};
    use crate::verify::{Options, verify_rdb};

    /// db 0: a, b (b with an expiry); db 2: c. AUX before, nothing after.
    fn file() -> Vec<u8> {
        let header = Header::parse(b"REDIS0011").unwrap();
        let mut w = RdbWriter::new(&header);
        w.aux(b"redis-ver", b"7.2.4");
        let key = |w: &mut RdbWriter, k: &[u8]| {
            let mut rec = vec![RDB_TYPE_STRING];
            write_string(&mut rec, k);
            write_string(&mut rec, b"a value long enough to be kept as intact");
            w.raw(&rec);
        };
        w.select_db(0);
        w.resize_db(2, 1);
        key(&mut w, b"a");
        // EXPIRETIME_MS 2100-01-01, little-endian.
        let mut expire = vec![0xfc];
        expire.extend_from_slice(&4_102_444_800_000i64.to_le_bytes());
        w.raw(&expire);
        key(&mut w, b"b");
        w.select_db(2);
        w.resize_db(1, 0);
        key(&mut w, b"c");
        w.finish()
    }

    #[test]
    fn suspect_keys_are_kept_only_when_asked_and_expiries_travel_with_keys() {
        let f = file();
        let mut r = salvage_rdb(&f, &SalvageOptions::default());
        r.keys[1].suspect = Some("test".into());
        let without = verify_rdb(&extract_rdb(&f, &r, false).unwrap(), &Options::default());
        assert!(without.ok, "{:?}", without.errors);
        assert_eq!(without.keys, 2);
        assert_eq!(without.expires, 0, "b's expiry left with b");
        let with = verify_rdb(&extract_rdb(&f, &r, true).unwrap(), &Options::default());
        assert_eq!((with.keys, with.expires), (3, 1));
        assert_eq!(with.aux_value("redis-ver"), Some(&b"7.2.4"[..]));
        assert_eq!(with.dbs.keys().copied().collect::<Vec<_>>(), [0, 2]);
    }
}
