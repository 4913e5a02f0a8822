//! Salvage: reading past damage in an RDB.
//!
//! Where `verify` stops at the first framing error, salvage records the
//! damaged region, resynchronises on the next plausible record (see
//! [`resync`] for what "plausible" means and why the scan is bounded), and
//! goes on. The result lists every damaged region (offsets, db, the key
//! being read when the damage began, key names still recognisable inside),
//! every key that survived (with the byte spans needed to copy it), and
//! keys that framed but sit where damage may have touched them (*suspect*).
//! [`extract`] turns that into a new RDB. For a file whose structure is
//! intact but whose checksum does not match, [`suspects`] ranks the keys
//! most likely to hold the corrupted bytes.
//!
//! Everything here is a pure function of the file's bytes.

pub mod extract;
pub mod resync;
pub mod suspects;

use crate::rdb::header::HEADER_LEN;
use crate::rdb::{Header, Item, LogicalType, Record, Records, ValueType};
use crate::verify::Checksum;
use resync::{Confirmation, Context, Rejection, Resync, SeenKeys, judge};
use std::collections::BTreeMap;
use std::ops::Range;

pub use extract::extract_rdb;
pub use suspects::{Suspect, rank_suspects};

/// How to salvage.
#[derive(Debug, Clone, Copy)]
pub struct SalvageOptions {
    pub resync: Resync,
    /// Key names listed per damaged region, at most.
    pub max_names_per_region: usize,
    /// Regions recorded, at most (the count goes on).
    pub max_regions: usize,
}

impl Default for SalvageOptions {
    fn default() -> Self {
        SalvageOptions {
            resync: Resync::default(),
            max_names_per_region: 32,
            max_regions: 10_000,
        }
    }
}

/// A key that framed and deep-checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SalvagedKey {
    pub db: u64,
    pub key: Vec<u8>,
    pub value_type: ValueType,
    /// Offset of the key record's type byte.
    pub offset: u64,
    /// The bytes to copy: its expiry / LRU / LFU / KEY_META opcodes, then
    /// the key record.
    pub span: Range<u64>,
    pub expire_ms: Option<i64>,
    /// Why the key may be damaged although it checks out; `None` when intact.
    pub suspect: Option<String>,
}

/// How reading resumed after a damaged region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// On a record confirmed as the [`Confirmation`] says.
    At(Confirmation),
    /// After a key record whose value failed deep checks: its framing held
    /// and the next record was confirmed.
    AfterValue,
    /// Nothing plausible followed: the region runs to the end of the file.
    EndOfFile,
}

impl Resumed {
    pub fn describe(&self, confirm_records: usize) -> String {
        match self {
            Resumed::At(Confirmation::Records(n)) => format!(
                "a record starting a run of {} keys with text names",
                (*n).min(confirm_records)
            ),
            Resumed::At(Confirmation::Eof) => "a record followed by a valid EOF".into(),
            Resumed::AfterValue => "the next record (this one framed)".into(),
            Resumed::EndOfFile => "nothing: the damage runs to the end of the file".into(),
        }
    }
}

/// A run of bytes that could not be read as records.
#[derive(Debug, Clone, PartialEq)]
pub struct DamagedRegion {
    pub start: u64,
    /// Exclusive; where reading resumed (or the file's size).
    pub end: u64,
    /// The db being read when the damage began.
    pub db: u64,
    /// Where the error was detected and what it was.
    pub error_offset: u64,
    pub message: String,
    /// The key whose record was being read when the damage began, when its
    /// name could still be read.
    pub key: Option<Vec<u8>>,
    pub key_type: Option<LogicalType>,
    /// Key names recognisable inside the region (offset, name): guesses.
    pub names: Vec<(u64, Vec<u8>)>,
    pub resumed: Resumed,
    /// A SELECTDB recognised inside the region switched the db to this.
    pub db_after: Option<u64>,
}

/// A record outside the keyspace (AUX, FUNCTION2, MODULE_AUX) kept for
/// extraction, as its byte span.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaRecord {
    pub span: Range<u64>,
    /// Seen before the first SELECTDB (else after the last key).
    pub before_keys: bool,
    pub aux: Option<(Vec<u8>, Vec<u8>)>,
    pub function: bool,
}

/// What salvage found.
#[derive(Debug, Clone, Default)]
pub struct SalvageReport {
    pub header: Option<Header>,
    pub size: u64,
    /// Why nothing could be salvaged (no RDB header).
    pub fatal: Option<String>,
    /// Every key that framed and checked, in file order.
    pub keys: Vec<SalvagedKey>,
    pub meta: Vec<MetaRecord>,
    pub regions: Vec<DamagedRegion>,
    /// Regions beyond `max_regions` (counted, not kept).
    pub dropped_regions: u64,
    pub eof_offset: Option<u64>,
    pub checksum: Checksum,
    /// For a checksum mismatch with no damaged region: keys ranked by how
    /// likely they hold the corrupted bytes.
    pub suspects: Vec<Suspect>,
    pub confirm_records: usize,
    /// RESIZEDB's key count per db, where the file has one.
    pub resize_hints: BTreeMap<u64, u64>,
    /// Times a key was found to have framed over the records after it.
    pub backtracks: u64,
}

impl SalvageReport {
    pub fn intact(&self) -> impl Iterator<Item = &SalvagedKey> {
        self.keys.iter().filter(|k| k.suspect.is_none())
    }

    pub fn suspect(&self) -> impl Iterator<Item = &SalvagedKey> {
        self.keys.iter().filter(|k| k.suspect.is_some())
    }

    /// Intact keys per db.
    pub fn intact_per_db(&self) -> BTreeMap<u64, u64> {
        let mut m = BTreeMap::new();
        for k in self.intact() {
            *m.entry(k.db).or_default() += 1;
        }
        m
    }

    /// Whether the file read cleanly from header to checksum.
    pub fn is_clean(&self) -> bool {
        self.fatal.is_none()
            && self.regions.is_empty()
            && self.eof_offset.is_some()
            && matches!(
                self.checksum,
                Checksum::Ok(_) | Checksum::Disabled | Checksum::Absent
            )
    }
}

/// Per-key opcodes read but not yet attached to a key.
#[derive(Default)]
struct Pending {
    start: Option<u64>,
    expire_ms: Option<i64>,
}

/// Salvages what can be read from `data`, a whole RDB.
pub fn salvage_rdb(data: &[u8], options: &SalvageOptions) -> SalvageReport {
    let mut report = SalvageReport {
        size: data.len() as u64,
        confirm_records: options.resync.confirm_records,
        ..SalvageReport::default()
    };
    let header = match Header::parse(data) {
        Ok(h) => h,
        Err(e) => {
            report.fatal = Some(e.to_string());
            return report;
        }
    };
    report.header = Some(header);
    let mut ctx = Context::default();
    let mut seen = SeenKeys::default();
    let mut pending = Pending::default();
    let mut pos = HEADER_LEN;
    while pos < data.len() {
        let mut records = Records::starting_at(data, header, pos);
        let Some(read) = records.next() else { break };
        let end = records.offset();
        let judged = match &read {
            Ok(item) => judge(data, &header, item, end, &ctx, &seen).map(|()| *item),
            Err(e) => Err(Rejection::Implausible(e.to_string())),
        };
        let mut error_offset = match &read {
            Err(e) => e.offset_in(data),
            Ok(_) => pos as u64,
        };
        match judged {
            Ok(item) => {
                match item.record {
                    Record::Eof => {
                        report.eof_offset = Some(item.offset);
                        report.checksum = checksum(data, &header, end);
                        break;
                    }
                    Record::Key(k) => {
                        let key = k.key.to_bytes().map(|c| c.into_owned()).unwrap_or_default();
                        seen.insert(ctx.db, &key);
                        report.keys.push(SalvagedKey {
                            db: ctx.db,
                            key,
                            value_type: k.value_type,
                            offset: item.offset,
                            span: pending.start.unwrap_or(item.offset)..end,
                            expire_ms: pending.expire_ms,
                            suspect: None,
                        });
                        pending = Pending::default();
                    }
                    Record::Expire { ms, .. } => {
                        pending.start.get_or_insert(item.offset);
                        pending.expire_ms = Some(ms);
                    }
                    Record::Idle { .. } | Record::Freq { .. } | Record::KeyMeta { .. } => {
                        pending.start.get_or_insert(item.offset);
                    }
                    Record::Aux { key, value } => report.meta.push(MetaRecord {
                        span: item.offset..end,
                        before_keys: !ctx.seen_select,
                        aux: key
                            .to_bytes()
                            .ok()
                            .zip(value.to_bytes().ok())
                            .map(|(k, v)| (k.into_owned(), v.into_owned())),
                        function: false,
                    }),
                    Record::Function { .. } | Record::ModuleAux { .. } => {
                        report.meta.push(MetaRecord {
                            span: item.offset..end,
                            before_keys: !ctx.seen_select,
                            aux: None,
                            function: matches!(item.record, Record::Function { .. }),
                        })
                    }
                    Record::ResizeDb { db_size, .. } => {
                        report.resize_hints.insert(ctx.db, db_size);
                    }
                    Record::SelectDb { .. }
                    | Record::SlotInfo { .. }
                    | Record::SlotImport { .. } => {}
                }
                ctx.advance(&item.record);
                pos = end as usize;
            }
            Err(Rejection::Value { offset, message }) => {
                error_offset = offset;
                // The value is damaged but its record framed: if what
                // follows is confirmed, only this key is lost.
                let start = pending.start.unwrap_or(pos as u64);
                let key_ctx = ctx.clone();
                let mut after = ctx.clone();
                if let Ok(item) = &read {
                    after.advance(&item.record);
                }
                if options
                    .resync
                    .confirm(data, &header, end as usize, &after, &seen)
                    .is_some()
                {
                    let (key, key_type) = match &read {
                        Ok(Item {
                            record: Record::Key(k),
                            ..
                        }) => (
                            k.key.to_bytes().ok().map(|c| c.into_owned()),
                            Some(k.value_type.logical()),
                        ),
                        _ => (None, None),
                    };
                    push_region(
                        &mut report,
                        options,
                        DamagedRegion {
                            start,
                            end,
                            db: key_ctx.db,
                            error_offset,
                            message,
                            key,
                            key_type,
                            names: Vec::new(),
                            resumed: Resumed::AfterValue,
                            db_after: None,
                        },
                    );
                    ctx = after;
                    pending = Pending::default();
                    pos = end as usize;
                } else {
                    pos = damaged(
                        data,
                        &header,
                        options,
                        &mut report,
                        &mut ctx,
                        &mut seen,
                        &mut pending,
                        pos,
                        error_offset,
                        message,
                    );
                }
            }
            Err(Rejection::Implausible(message)) => {
                pos = damaged(
                    data,
                    &header,
                    options,
                    &mut report,
                    &mut ctx,
                    &mut seen,
                    &mut pending,
                    pos,
                    error_offset,
                    message,
                );
            }
        }
    }
    if report.eof_offset.is_none()
        && report
            .regions
            .last()
            .is_none_or(|r| r.end < data.len() as u64)
    {
        let at = data.len() as u64;
        push_region(
            &mut report,
            options,
            DamagedRegion {
                start: at,
                end: at,
                db: ctx.db,
                error_offset: at,
                message: "Unexpected EOF reading RDB file: no EOF opcode (the file is truncated)"
                    .into(),
                key: None,
                key_type: None,
                names: Vec::new(),
                resumed: Resumed::EndOfFile,
                db_after: None,
            },
        );
    }
    mark_keys_beyond_hint(&mut report);
    mark_short_records_at_resync(&mut report);
    if report.regions.is_empty() && matches!(report.checksum, Checksum::Mismatch { .. }) {
        report.suspects = rank_suspects(data, &header, &report);
    }
    report
}

/// Records the region starting at `pos` (or at the opcodes of the key
/// being read), finds where reading resumes, and returns that position.
#[allow(clippy::too_many_arguments)]
fn damaged(
    data: &[u8],
    header: &Header,
    options: &SalvageOptions,
    report: &mut SalvageReport,
    ctx: &mut Context,
    seen: &mut SeenKeys,
    pending: &mut Pending,
    pos: usize,
    error_offset: u64,
    message: String,
) -> usize {
    let start = pending.start.unwrap_or(pos as u64);
    *pending = Pending::default();
    // The per-key opcodes belong to the lost key.
    ctx.pending_expire = false;
    ctx.pending_lru = false;
    if let Some(resumed) = backtrack(
        data,
        header,
        options,
        report,
        ctx,
        seen,
        start,
        error_offset,
        &message,
    ) {
        return resumed;
    }
    let (key, key_type) = key_of(data, header, pos);
    mark_previous_suspect(data, header, report, start, key.is_some());
    let db = ctx.db;
    // A SELECTDB inside the damage moves the keys after it to another db:
    // look for SELECTDB n RESIZEDB (servers write them together).
    let found = options.resync.scan(data, header, pos + 1, ctx, seen);
    let end = found.map_or(data.len(), |(at, _)| at);
    let db_after = found.and_then(|_| select_db_in(data, pos, end, ctx));
    if let Some(n) = db_after {
        ctx.db = n;
        ctx.seen_select = true;
    }
    let region = DamagedRegion {
        start,
        end: end as u64,
        db,
        error_offset,
        message,
        key,
        key_type,
        names: resync::names_in_region(data, header, pos + 1, end, options.max_names_per_region),
        resumed: found.map_or(Resumed::EndOfFile, |(_, c)| Resumed::At(c)),
        db_after,
    };
    push_region(report, options, region);
    end
}

/// Most times salvage goes back over keys it had accepted.
const MAX_BACKTRACKS: u64 = 10_000;
/// How many of the keys read just before an error are re-examined.
const BACKTRACK_KEYS: usize = 3;

/// Bytes removed (or a changed length) inside a string value can make its
/// record frame over the records that follow, so the error surfaces
/// later, at a misaligned offset. If a confirmed record chain starts inside
/// one of the last few keys read before the error, that key swallowed real
/// records: it and the keys read after it are dropped, the region covers
/// it, and reading resumes where the chain starts. The position where
/// reading resumes is past the dropped key's start, and at most
/// [`MAX_BACKTRACKS`] happen, so salvage still moves forward.
#[allow(clippy::too_many_arguments)]
fn backtrack(
    data: &[u8],
    header: &Header,
    options: &SalvageOptions,
    report: &mut SalvageReport,
    ctx: &mut Context,
    seen: &mut SeenKeys,
    start: u64,
    error_offset: u64,
    message: &str,
) -> Option<usize> {
    if report.backtracks >= MAX_BACKTRACKS {
        return None;
    }
    let since = report.regions.last().map_or(0, |r| r.end);
    let first = report
        .keys
        .iter()
        .rposition(|k| k.span.start < since)
        .map_or(0, |i| i + 1)
        .max(report.keys.len().saturating_sub(BACKTRACK_KEYS));
    for i in first..report.keys.len() {
        let k = &report.keys[i];
        // Only a string value: the elements of plain lists, sets and
        // hashes are length-prefixed strings themselves, where record
        // chains form by chance.
        if k.value_type != ValueType::String || k.span.end > start {
            continue;
        }
        let dropped: Vec<(u64, Vec<u8>)> = report.keys[i..]
            .iter()
            .map(|k| (k.db, k.key.clone()))
            .collect();
        for (db, key) in &dropped {
            seen.remove(*db, key);
        }
        let at = Context {
            db: k.db,
            pending_expire: false,
            pending_lru: false,
            last_was_select: false,
            ..ctx.clone()
        };
        // Strictly inside its record: the records after it are real (up to
        // the damage) and would confirm anyway.
        let inside = k.offset as usize + 1..k.span.end as usize;
        if let (Some((resume, how)), _) = options.resync.scan_range(data, header, inside, &at, seen)
        {
            let k = report.keys[i].clone();
            report.keys.truncate(i);
            report.backtracks += 1;
            *ctx = at;
            push_region(
                report,
                options,
                DamagedRegion {
                    start: k.span.start,
                    end: resume as u64,
                    db: k.db,
                    error_offset,
                    message: format!(
                        "{message} (found after '{}' at {} framed over the records that follow it)",
                        crate::escape_bytes(&k.key),
                        k.offset
                    ),
                    key: Some(k.key.clone()),
                    key_type: Some(k.value_type.logical()),
                    names: resync::names_in_region(
                        data,
                        header,
                        k.offset as usize + 1,
                        resume,
                        options.max_names_per_region,
                    ),
                    resumed: Resumed::At(how),
                    db_after: None,
                },
            );
            return Some(resume);
        }
        for (db, key) in &dropped {
            seen.insert(*db, key);
        }
    }
    None
}

/// The record just before a damaged region is suspect when nothing shows
/// that it really ended where the damage begins: its value ends in bytes
/// no encoding checks (a plain string), and no record header starts where
/// reading failed. Removed or zeroed bytes can leave such a record framing
/// "successfully" over bytes that were not its own.
fn mark_previous_suspect(
    data: &[u8],
    header: &Header,
    report: &mut SalvageReport,
    region_start: u64,
    boundary_seen: bool,
) {
    let opcode_follows = data.get(region_start as usize).is_some_and(|&b| {
        resync::could_start_record(header, b) && b >= crate::rdb::consts::RDB_OPCODE_SLOT_INFO
    });
    if boundary_seen || opcode_follows {
        return;
    }
    if let Some(prev) = report.keys.last_mut()
        && prev.span.end == region_start
        && prev.suspect.is_none()
        && !end_checked_by_encoding(prev.value_type)
    {
        prev.suspect = Some(format!(
            "ends at offset {region_start} where the damage begins, and its last bytes are a plain string that no encoding checks"
        ));
    }
}

/// A db holding more keys than its RESIZEDB hint after salvage has keys
/// that never existed: a resync that landed inside a damaged value whose
/// elements look like key records (a plain hash's field TTL of 0 is the
/// string type byte, and its field and value then read as key and value).
/// Such fragments follow a damaged region, so the first keys after the
/// regions of that db, as many as the excess, become suspect.
fn mark_keys_beyond_hint(report: &mut SalvageReport) {
    for (&db, &hint) in &report.resize_hints {
        let found = report.keys.iter().filter(|k| k.db == db).count() as u64;
        let mut excess = found.saturating_sub(hint);
        if excess == 0 {
            continue;
        }
        let ends: Vec<u64> = report
            .regions
            .iter()
            .filter(|r| matches!(r.resumed, Resumed::At(_)))
            .filter(|r| r.db == db || r.db_after == Some(db))
            .map(|r| r.end)
            .collect();
        for end in ends {
            for k in report
                .keys
                .iter_mut()
                .filter(|k| k.db == db && k.span.start >= end)
            {
                if excess == 0 {
                    break;
                }
                if k.suspect.is_none() {
                    k.suspect = Some(format!(
                        "db {db} holds more keys than its RESIZEDB count ({hint}): this key, read just after the damaged region ending at {end}, may be a fragment of a damaged value"
                    ));
                }
                excess -= 1;
            }
        }
    }
}

/// Below this size, a key record right at a resync point is as likely a
/// fragment of the damaged value (a listpack or ziplist entry, a hash field
/// and its value) as a real key.
const SHORT_RECORD: u64 = 32;

/// Marks a short key record starting exactly where reading resumed after a
/// region: the chain that confirmed the resync point runs through it and
/// on into real records, so the chain does not vouch for it.
fn mark_short_records_at_resync(report: &mut SalvageReport) {
    for r in &report.regions {
        if !matches!(r.resumed, Resumed::At(_)) {
            continue;
        }
        if let Some(k) = report.keys.iter_mut().find(|k| k.span.start == r.end)
            && k.span.end - k.span.start < SHORT_RECORD
            && k.suspect.is_none()
        {
            k.suspect = Some(format!(
                "a short record ({} bytes) exactly where reading resumed after damage: it may be a fragment of the damaged value",
                k.span.end - k.span.start
            ));
        }
    }
}

/// Types whose value ends in a packed blob whose own header and terminator
/// fix its size (ziplist, listpack, intset, zipmap, stream listpacks), so a
/// shifted end would fail deep checks.
fn end_checked_by_encoding(t: ValueType) -> bool {
    use ValueType::*;
    matches!(
        t,
        HashZipmap
            | ListZiplist
            | SetIntset
            | ZsetZiplist
            | HashZiplist
            | ListQuicklist
            | HashListpack
            | ZsetListpack
            | SetListpack
            | HashListpackEx
            | HashListpackExPreGa
            | StreamListpacks
            | StreamListpacks2
            | StreamListpacks3
            | StreamListpacks4
            | StreamListpacks5
    )
}

fn key_of(data: &[u8], header: &Header, pos: usize) -> (Option<Vec<u8>>, Option<LogicalType>) {
    match resync::key_header_at(data, header, pos) {
        Some((t, name)) => (Some(name), Some(t.logical())),
        None => (None, None),
    }
}

/// The last `SELECTDB n, RESIZEDB` pair in `data[from..to]` with `n` above
/// the current db.
fn select_db_in(data: &[u8], from: usize, to: usize, ctx: &Context) -> Option<u64> {
    use crate::rdb::consts::{RDB_OPCODE_RESIZEDB, RDB_OPCODE_SELECTDB};
    use crate::rdb::primitives::parse_length;
    let region = data.get(from..to)?;
    let mut found = None;
    for (i, &b) in region.iter().enumerate() {
        if b != RDB_OPCODE_SELECTDB {
            continue;
        }
        let Some(after) = region.get(i + 1..) else {
            continue;
        };
        if let Ok((rest, n)) = parse_length(after, "SELECTDB")
            && rest.first() == Some(&RDB_OPCODE_RESIZEDB)
            && (n > ctx.db || !ctx.seen_select)
            && n <= resync::MAX_PLAUSIBLE_DB
            && n > found.unwrap_or(0)
        {
            found = Some(n);
        }
    }
    found
}

fn push_region(report: &mut SalvageReport, options: &SalvageOptions, r: DamagedRegion) {
    if report.regions.len() < options.max_regions {
        report.regions.push(r);
    } else {
        report.dropped_regions += 1;
    }
}

fn checksum(data: &[u8], header: &Header, after_eof: u64) -> Checksum {
    if !header.has_checksum() {
        return Checksum::Absent;
    }
    let Some(trailer) = data
        .get(after_eof as usize..after_eof as usize + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
    else {
        return Checksum::Absent;
    };
    let stored = u64::from_le_bytes(trailer);
    if stored == 0 {
        return Checksum::Disabled;
    }
    let computed = crate::crc64::crc64(data.get(..after_eof as usize).unwrap_or(data));
    if stored == computed {
        Checksum::Ok(stored)
    } else {
        Checksum::Mismatch { stored, computed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::consts::*;
    use crate::rdb::writer::{RdbWriter, write_string};

    /// A REDIS0011 file with string keys k0..k{n} in db 0, and the offset
    /// of each key record.
    fn file(n: usize) -> (Vec<u8>, Vec<Range<usize>>) {
        let header = Header::parse(b"REDIS0011").unwrap();
        let mut w = RdbWriter::new(&header);
        w.select_db(0);
        w.resize_db(n as u64, 0);
        let mut spans = Vec::new();
        let mut at = 9 + 2 + 3;
        for i in 0..n {
            let mut rec = vec![RDB_TYPE_STRING];
            write_string(&mut rec, format!("key:{i}").as_bytes());
            write_string(
                &mut rec,
                format!("value {i}, long enough not to be a fragment").as_bytes(),
            );
            spans.push(at..at + rec.len());
            at += rec.len();
            w.raw(&rec);
        }
        (w.finish(), spans)
    }

    #[test]
    fn garbage_over_one_record_loses_that_key_only() {
        let (mut f, spans) = file(8);
        let hit = spans[4].clone();
        f[hit.clone()].fill(0xee);
        let r = salvage_rdb(&f, &SalvageOptions::default());
        assert_eq!(r.regions.len(), 1, "{:?}", r.regions);
        let region = &r.regions[0];
        assert_eq!(region.start as usize, hit.start);
        assert_eq!(region.end as usize, hit.end);
        let names: Vec<String> = r
            .keys
            .iter()
            .map(|k| String::from_utf8_lossy(&k.key).into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "key:0", "key:1", "key:2", "key:3", "key:5", "key:6", "key:7"
            ]
        );
        // key:3 is a plain string ending where the garbage begins: suspect,
        // not lost.
        assert!(r.keys[3].suspect.is_some());
        assert_eq!(r.intact().count(), 6);
        assert!(matches!(r.checksum, Checksum::Mismatch { .. }));
    }

    #[test]
    fn a_string_that_frames_over_the_next_records_is_dropped_and_they_are_read_again() {
        let (f, spans) = file(8);
        // Remove 5 bytes from key:3's value: its length now covers the
        // first bytes of key:4, and the error shows only after that.
        let cut = spans[3].start + 12;
        let d = [&f[..cut], &f[cut + 5..]].concat();
        let r = salvage_rdb(&d, &SalvageOptions::default());
        let names: Vec<String> = r
            .intact()
            .map(|k| String::from_utf8_lossy(&k.key).into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "key:0", "key:1", "key:2", "key:4", "key:5", "key:6", "key:7"
            ]
        );
        assert_eq!(r.backtracks, 1);
        assert_eq!(r.regions.len(), 1);
        assert_eq!(r.regions[0].start as usize, spans[3].start);
        assert_eq!(r.regions[0].end as usize, spans[4].start - 5);
        assert_eq!(r.regions[0].key.as_deref(), Some(&b"key:3"[..]));
    }

    #[test]
    fn a_value_that_frames_but_fails_deep_checks_loses_only_its_key() {
        let header = Header::parse(b"REDIS0011").unwrap();
        let mut w = RdbWriter::new(&header);
        w.select_db(0);
        w.resize_db(4, 0);
        let string = |w: &mut RdbWriter, k: &str| {
            let mut rec = vec![RDB_TYPE_STRING];
            write_string(&mut rec, k.as_bytes());
            write_string(&mut rec, b"some value that is long enough");
            w.raw(&rec);
        };
        string(&mut w, "before");
        // An intset of int16 (encoding 2, length 2) holding 2 then 1: it
        // frames (a string) but is not sorted, which deep checks refuse.
        let mut rec = vec![RDB_TYPE_SET_INTSET];
        write_string(&mut rec, b"ints");
        write_string(&mut rec, &[2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0]);
        w.raw(&rec);
        for k in ["after:1", "after:2", "after:3"] {
            string(&mut w, k);
        }
        let f = w.finish();
        let r = salvage_rdb(&f, &SalvageOptions::default());
        assert_eq!(r.regions.len(), 1, "{:?}", r.regions);
        assert_eq!(r.regions[0].resumed, Resumed::AfterValue);
        assert_eq!(r.regions[0].key.as_deref(), Some(&b"ints"[..]));
        assert_eq!(r.regions[0].end - r.regions[0].start, rec.len() as u64);
        assert_eq!(r.intact().count(), 4);
    }

    #[test]
    fn a_truncated_file_reports_the_missing_end_and_keeps_what_came_before() {
        let (f, spans) = file(5);
        // Inside key:3's value: its name can still be read.
        let cut = &f[..spans[3].start + 9];
        let r = salvage_rdb(cut, &SalvageOptions::default());
        assert_eq!(r.intact().count() + r.suspect().count(), 3);
        let last = r.regions.last().expect("a region");
        assert_eq!(last.end as usize, cut.len());
        assert_eq!(last.resumed, Resumed::EndOfFile);
        assert_eq!(last.key.as_deref(), Some(&b"key:3"[..]));
    }

    #[test]
    fn no_header_is_fatal_and_a_clean_file_is_clean() {
        let r = salvage_rdb(b"hello", &SalvageOptions::default());
        assert!(r.fatal.is_some());
        let (f, _) = file(3);
        let r = salvage_rdb(&f, &SalvageOptions::default());
        assert!(r.is_clean());
        assert_eq!(r.intact().count(), 3);
        let out = extract_rdb(&f, &r, false).unwrap();
        assert_eq!(out, f, "a clean file extracts to itself");
    }
}
