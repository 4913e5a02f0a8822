//! Writing the salvaged keys to a new RDB: the input's magic and version,
//! then its intact AUX / FUNCTION2 / MODULE_AUX records and keys in file
//! order, each db opened by a SELECTDB (and, the first time, a RESIZEDB
//! with the new counts), each kept key's bytes copied verbatim (with its
//! expiry and LRU/LFU opcodes), then EOF and a fresh CRC-64.
//!
//! [`extract_to`] streams: it takes the counts from a salvage report, runs
//! one more salvage pass and writes each key as the pass hands it out, so
//! memory does not grow with the file.

use super::{DbCounts, Event, SalvageOptions, SalvageReport, salvage_pass};
use crate::rdb::writer::RdbStreamWriter;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

/// What an extraction wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    pub keys: u64,
    pub bytes: u64,
}

/// Writes salvage events as a new RDB.
pub struct ExtractWriter<'a, W: Write> {
    data: &'a [u8],
    w: RdbStreamWriter<W>,
    counts: &'a BTreeMap<u64, DbCounts>,
    include_suspect: bool,
    db: Option<u64>,
    opened: BTreeSet<u64>,
    keys: u64,
    error: Option<io::Error>,
}

impl<'a, W: Write> ExtractWriter<'a, W> {
    /// Starts the new file; `counts` (from the salvage report) give each
    /// db's RESIZEDB.
    pub fn new(
        data: &'a [u8],
        report: &'a SalvageReport,
        include_suspect: bool,
        out: W,
    ) -> Option<io::Result<Self>> {
        let header = report.header?;
        Some(RdbStreamWriter::new(&header, out).map(|w| ExtractWriter {
            data,
            w,
            counts: &report.dbs,
            include_suspect,
            db: None,
            opened: BTreeSet::new(),
            keys: 0,
            error: None,
        }))
    }

    fn bytes(&self, r: &std::ops::Range<u64>) -> &'a [u8] {
        self.data
            .get(r.start as usize..r.end as usize)
            .unwrap_or(&[])
    }

    /// Writes one event (the first write error is kept for [`Self::finish`]).
    pub fn event(&mut self, e: &Event) {
        if self.error.is_some() {
            return;
        }
        let r = match e {
            Event::Meta(m) => self.w.raw(self.bytes(&m.span)),
            Event::Key(k) if k.suspect.is_none() || self.include_suspect => {
                self.keys += 1;
                self.key(k.db, &k.span)
            }
            Event::Key(_) => Ok(()),
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    fn key(&mut self, db: u64, span: &std::ops::Range<u64>) -> io::Result<()> {
        if self.db != Some(db) {
            self.w.select_db(db)?;
            if self.opened.insert(db) {
                let (keys, expires) = self
                    .counts
                    .get(&db)
                    .map_or((0, 0), |c| c.kept(self.include_suspect));
                self.w.resize_db(keys, expires)?;
            }
            self.db = Some(db);
        }
        self.w.raw(self.bytes(span))
    }

    /// Ends the file.
    pub fn finish(self) -> io::Result<(W, Extracted)> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let keys = self.keys;
        let (w, bytes) = self.w.finish()?;
        Ok((w, Extracted { keys, bytes }))
    }
}

/// Writes the keys `report` (from [`super::salvage_summary`] with the same
/// options) counted to `out`, in one more salvage pass. `None` when the
/// input had no readable header.
pub fn extract_to<W: Write>(
    data: &[u8],
    report: &SalvageReport,
    options: &SalvageOptions,
    include_suspect: bool,
    out: W,
) -> Option<io::Result<(W, Extracted)>> {
    let mut w = match ExtractWriter::new(data, report, include_suspect, out)? {
        Ok(w) => w,
        Err(e) => return Some(Err(e)),
    };
    salvage_pass(data, options, Some(report), &mut |e| w.event(&e));
    Some(w.finish())
}

/// The new file, in memory, from a report of [`super::salvage_rdb`] (which
/// collected the keys and meta records), or `None` when the input had no
/// readable header. `include_suspect` also keeps keys that checked out but
/// sit next to damage.
pub fn extract_rdb(data: &[u8], report: &SalvageReport, include_suspect: bool) -> Option<Vec<u8>> {
    // The counts of the keys as they are now (a caller may have marked some).
    let mut counts: BTreeMap<u64, DbCounts> = BTreeMap::new();
    for k in &report.keys {
        let c = counts.entry(k.db).or_default();
        let e = u64::from(k.expire_ms.is_some());
        if k.suspect.is_some() {
            c.suspect += 1;
            c.suspect_expires += e;
        } else {
            c.intact += 1;
            c.intact_expires += e;
        }
    }
    let counted = SalvageReport {
        header: report.header,
        dbs: counts,
        ..SalvageReport::default()
    };
    let mut w = ExtractWriter::new(data, &counted, include_suspect, Vec::new())?.ok()?;
    let mut events: Vec<Event> = report
        .keys
        .iter()
        .cloned()
        .map(Event::Key)
        .chain(report.meta.iter().cloned().map(Event::Meta))
        .collect();
    events.sort_by_key(|e| match e {
        Event::Key(k) => k.span.start,
        Event::Meta(m) => m.span.start,
    });
    for e in &events {
        w.event(e);
    }
    w.finish().ok().map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::Header;
    use crate::rdb::consts::RDB_TYPE_STRING;
    use crate::rdb::writer::{RdbWriter, write_string};
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
