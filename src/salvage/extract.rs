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
