//! Verification of a whole RDB: one framing pass over the records, deep
//! checks of every value, duplicate-key detection, the checksum, and the
//! counts a backup check needs. Findings are values; nothing is printed.

mod dupkeys;
pub mod finding;
pub mod fingerprint;
pub mod value;

pub use finding::{Finding, Severity};

use crate::crc64::crc64;
use crate::rdb::{Header, Item, KeyRecord, LogicalType, RdbString, Record, Records, ValueType};
use std::collections::BTreeMap;
use value::ValueSummary;

/// The default [`Options::dup_key_budget`]: 48 MiB, six million keys in
/// one pass, leaving room under a 64 MiB heap for everything else.
pub const DUP_KEY_BUDGET: usize = 48 << 20;

/// How to verify.
#[derive(Debug, Clone)]
pub struct Options {
    /// The RDB is the preamble or base of an AOF: bytes after it are the
    /// AOF's RESP tail, not trailing garbage.
    pub embedded_in_aof: bool,
    /// "Now", in unix ms, for counting already-expired keys. Passed in so
    /// that a report is a pure function of the file and the options.
    pub now_ms: i64,
    /// Stop collecting findings after this many (the count is still kept).
    pub max_findings: usize,
    /// Bytes of key fingerprints kept for duplicate-key detection (8 per
    /// key). Beyond it, extra framing passes cover the rest: memory stays
    /// bounded, time grows by one scan per budget's worth of keys.
    pub dup_key_budget: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            embedded_in_aof: false,
            now_ms: 0,
            max_findings: 1000,
            dup_key_budget: DUP_KEY_BUDGET,
        }
    }
}

/// The checksum trailer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checksum {
    Ok(u64),
    Mismatch {
        stored: u64,
        computed: u64,
    },
    /// Stored as zero: `rdbchecksum no`.
    Disabled,
    /// RDB < 5 has no trailer, or the file ends before it.
    #[default]
    Absent,
}

impl Checksum {
    pub fn as_str(&self) -> &'static str {
        match self {
            Checksum::Ok(_) => "ok",
            Checksum::Mismatch { .. } => "mismatch",
            Checksum::Disabled => "disabled",
            Checksum::Absent => "absent",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbStats {
    pub keys: u64,
    pub expires: u64,
    pub already_expired: u64,
    /// RESIZEDB hint, when present.
    pub resize_hint: Option<(u64, u64)>,
}

/// Everything one verification pass learnt.
#[derive(Debug, Clone, Default)]
pub struct RdbReport {
    pub header: Option<Header>,
    pub size: u64,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    pub checksum: Checksum,
    pub keys: u64,
    pub expires: u64,
    pub already_expired: u64,
    /// Keys with at least one hash field TTL ("subexpires").
    pub keys_with_field_ttl: u64,
    pub dbs: BTreeMap<u64, DbStats>,
    pub types: BTreeMap<LogicalType, u64>,
    /// Keys by on-disk layout (`redis-check-rdb`'s type names).
    pub encodings: BTreeMap<&'static str, u64>,
    pub functions: u64,
    /// Module type names seen in module values and MODULE_AUX.
    pub modules: BTreeMap<String, u64>,
    /// Modules that stored MODULE_AUX data (the server needs them loaded).
    pub module_aux: Vec<String>,
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// Offset just past the RDB (after the checksum when present).
    pub end_offset: Option<u64>,
    /// Offset where the EOF opcode was found.
    pub eof_offset: Option<u64>,
    pub ok: bool,
    /// Findings beyond `max_findings` that were counted but not kept.
    pub dropped_findings: u64,
}

impl RdbReport {
    fn new(size: u64) -> Self {
        RdbReport {
            size,
            ..RdbReport::default()
        }
    }

    /// The value of an AUX field, if present (last one wins, as in Redis).
    pub fn aux_value(&self, key: &str) -> Option<&[u8]> {
        self.aux
            .iter()
            .rev()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    fn push(&mut self, f: Finding, max: usize) {
        let list = match f.severity {
            Severity::Error => &mut self.errors,
            Severity::Warning => &mut self.warnings,
        };
        if list.len() < max {
            list.push(f);
        } else {
            self.dropped_findings += 1;
        }
    }
}

/// Per-key state set by opcodes and consumed by the next key.
#[derive(Default)]
struct Pending {
    expire_ms: Option<i64>,
    expire_offset: u64,
    key_meta: bool,
}

/// What checking one key record found. It depends on that record alone, so
/// any thread may compute it; [`Pass::record`] folds it into the report in
/// file order. Kept to three words, with everything unusual boxed: a batch
/// of these is written on one thread and read on another, and its size is
/// cache misses.
pub struct KeyCheck {
    /// [`dupkeys::key_fingerprint`] of the key.
    fingerprint: u64,
    /// Elements in the value (collections with none draw a warning).
    elements: u64,
    /// Anything else: an unreadable key, a failed check, warnings, a module
    /// name, field TTLs.
    unusual: Option<Box<Unusual>>,
}

struct Unusual {
    /// Why the key could not be read (its LZF is broken).
    key_error: Option<String>,
    /// The deep check's summary, or the error's offset and text.
    value: Result<ValueSummary, (u64, String)>,
}

impl KeyCheck {
    fn value(&self) -> Result<&ValueSummary, &(u64, String)> {
        match &self.unusual {
            Some(u) => u.value.as_ref(),
            None => Ok(&USUAL),
        }
    }
}

/// The summary of a value with nothing unusual about it (its element count
/// lives in [`KeyCheck::elements`]).
static USUAL: ValueSummary = ValueSummary {
    elements: 1,
    fields_with_ttl: 0,
    module: None,
    warnings: Vec::new(),
};

/// Reusable scratch memory for [`check_key`], one per thread, so that
/// checking a small key allocates nothing.
#[derive(Default)]
pub struct Scratch {
    value: value::Scratch,
}

/// Checks one key record: the key readable, the value deep-checked. A pure
/// function of the record's bytes (`data` is the whole file, for offsets).
pub fn check_key(
    data: &[u8],
    header: &Header,
    k: &KeyRecord<'_>,
    scratch: &mut Scratch,
) -> KeyCheck {
    let fingerprint = match k.key {
        RdbString::Raw(b) => dupkeys::key_fingerprint(b),
        other => match other.to_bytes() {
            Ok(b) => dupkeys::key_fingerprint(&b),
            Err(e) => {
                return KeyCheck {
                    fingerprint: 0,
                    elements: 0,
                    unusual: Some(Box::new(Unusual {
                        key_error: Some(format!("key: {e}")),
                        value: Ok(ValueSummary::default()),
                    })),
                };
            }
        },
    };
    match value::check_value_with(data, header, k.value_type, k.value, &mut scratch.value) {
        Ok(s) if s.warnings.is_empty() && s.module.is_none() && s.fields_with_ttl == 0 => {
            KeyCheck {
                fingerprint,
                elements: s.elements,
                unusual: None,
            }
        }
        other => KeyCheck {
            fingerprint,
            elements: other.as_ref().map(|s| s.elements).unwrap_or(0),
            unusual: Some(Box::new(Unusual {
                key_error: None,
                value: other.map_err(|e| (e.offset_in(data), e.to_string())),
            })),
        },
    }
}

/// Every [`ValueType`] by its discriminant, for counting without a map
/// lookup per key.
const TYPE_SLOTS: usize = 32;

/// One verification pass as a state machine over framed records, fed in
/// file order. The sequential [`verify_rdb`] and the parallel driver
/// (`crate::driver`) both run it, which is why their reports are equal:
/// only *where* [`check_key`] runs differs.
pub struct Pass<'a> {
    data: &'a [u8],
    header: Header,
    options: Options,
    report: RdbReport,
    db: Option<u64>,
    pending: Pending,
    dups: dupkeys::DupKeys,
    eof_at: Option<u64>,
    /// Keys per value type (indexed by discriminant) in the current db run.
    by_type: [(u64, Option<ValueType>); TYPE_SLOTS],
    /// Counts for the db being read, flushed into `report.dbs` when the db
    /// changes (one map lookup per SELECTDB, not per key).
    cur_db: (u64, DbStats),
    /// Where framing ended, for the "no EOF opcode" error.
    records_offset: u64,
}

impl<'a> Pass<'a> {
    /// Reads the header. A file with no usable header gets its final report
    /// at once, as the error.
    pub fn new(data: &'a [u8], options: &Options) -> Result<Pass<'a>, Box<RdbReport>> {
        let mut report = RdbReport::new(data.len() as u64);
        let max = options.max_findings;
        if data.is_empty() {
            report.push(Finding::error(0, "empty file: expected an RDB header"), max);
            return Err(Box::new(report));
        }
        let header = match Header::parse(data) {
            Ok(h) => h,
            Err(e) => {
                report.push(Finding::error(0, e.to_string()), max);
                return Err(Box::new(report));
            }
        };
        report.header = Some(header);
        if let Some(note) = header.version_notes() {
            report.push(Finding::error(5, note), max);
        }
        Ok(Pass {
            data,
            header,
            options: options.clone(),
            report,
            db: None,
            pending: Pending::default(),
            dups: dupkeys::DupKeys::with_budget(options.dup_key_budget),
            eof_at: None,
            by_type: [(0, None); TYPE_SLOTS],
            cur_db: (0, DbStats::default()),
            records_offset: crate::rdb::header::HEADER_LEN as u64,
        })
    }

    pub fn header(&self) -> Header {
        self.header
    }

    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Keys folded in so far (for progress).
    pub fn keys(&self) -> u64 {
        self.report.keys
    }

    fn push(&mut self, f: Finding) {
        self.report.push(f, self.options.max_findings);
    }

    fn flush_db(&mut self) {
        let (d, s) = std::mem::take(&mut self.cur_db);
        if s.keys > 0 {
            let e = self.report.dbs.entry(d).or_default();
            e.keys += s.keys;
            e.expires += s.expires;
            e.already_expired += s.already_expired;
        }
    }

    /// Framing stopped at an error; `remaining` is what was left unread.
    pub fn framing_error(&mut self, e: &crate::rdb::Error, remaining: &[u8]) {
        // The record that failed starts where the iterator stopped; if it
        // is a key, name it and its type.
        let (key, t) = partial_key(remaining, &self.header);
        let f = Finding::error(e.offset_in(self.data), e.to_string())
            .in_db(Some(self.db.unwrap_or(0)))
            .with_key(key.as_deref())
            .with_type(t);
        self.push(f);
    }

    /// Where the framing iterator stood when it ended (for the "no EOF
    /// opcode" error).
    pub fn set_records_offset(&mut self, offset: u64) {
        self.records_offset = offset;
    }

    /// Folds one record in. `checked` is [`check_key`]'s result for a key
    /// record (computed here when `None`).
    pub fn record(&mut self, item: Item<'a>, checked: Option<KeyCheck>, scratch: &mut Scratch) {
        let Item { offset, record } = item;
        match record {
            Record::Eof => {
                self.eof_at = Some(offset);
            }
            Record::SelectDb { db: n } => {
                if n >= crate::limits::DEFAULT_DATABASES {
                    self.push(Finding::warning(
                        offset,
                        format!("SELECTDB {n}: a server with the default 16 databases refuses to load this file"),
                    ));
                }
                self.db = Some(n);
            }
            Record::ResizeDb {
                db_size,
                expires_size,
            } => {
                let d = self.db.unwrap_or(0);
                self.report.dbs.entry(d).or_default().resize_hint = Some((db_size, expires_size));
                // A hint, so untrusted: never more keys than the bytes left
                // could hold (a key record is at least 3 bytes).
                let left = (self.data.len() as u64).saturating_sub(offset) / 3;
                self.dups.expect(db_size.min(left));
            }
            Record::Aux { key, value } => {
                let k = key.to_bytes().map(|c| c.into_owned());
                let v = value.to_bytes().map(|c| c.into_owned());
                match (k, v) {
                    (Ok(k), Ok(v)) => self.report.aux.push((k, v)),
                    _ => self.push(Finding::error(
                        offset,
                        "AUX field: Invalid LZF compressed string",
                    )),
                }
            }
            Record::Expire { ms, .. } => {
                self.pending.expire_ms = Some(ms);
                self.pending.expire_offset = offset;
            }
            Record::Idle { .. }
            | Record::Freq { .. }
            | Record::SlotInfo { .. }
            | Record::SlotImport { .. } => {}
            Record::ModuleAux { module_id, .. } => {
                let (name, _) = crate::rdb::primitives::module_type_name(module_id);
                self.report.module_aux.push(name);
            }
            Record::Function { code } => {
                self.report.functions += 1;
                if let Err(e) = code.to_bytes() {
                    let f = Finding::error(offset, format!("FUNCTION2 library code: {e}"))
                        .in_db(self.db);
                    self.push(f);
                }
            }
            Record::KeyMeta { .. } => self.pending.key_meta = true,
            Record::Key(k) => {
                let checked = match checked {
                    Some(c) => c,
                    None => check_key(self.data, &self.header, &k, scratch),
                };
                self.key(offset, &k, checked);
            }
        }
    }

    fn key(&mut self, offset: u64, k: &KeyRecord<'a>, checked: KeyCheck) {
        let d = self.db.unwrap_or(0);
        if let Some(msg) = checked.unusual.as_ref().and_then(|u| u.key_error.clone()) {
            self.push(Finding::error(offset, msg).in_db(Some(d)));
            self.pending = Pending::default();
            return;
        }
        let fp = checked.fingerprint;
        let logical = k.value_type.logical();
        let type_warning = k.value_type.since_version() > self.header.version
            && self.header.magic == crate::rdb::Magic::Redis;
        let dropped = value::dropped_on_load(checked.elements, logical);
        let value_problem = match checked.value() {
            Ok(s) => !s.warnings.is_empty() || dropped,
            Err(_) => true,
        };
        if type_warning || value_problem {
            self.key_findings(offset, k, d, type_warning, dropped, &checked);
        }
        if let Some(Unusual {
            value: Ok(summary), ..
        }) = checked.unusual.as_deref()
        {
            if summary.fields_with_ttl > 0 {
                self.report.keys_with_field_ttl += 1;
            }
            if let Some(m) = &summary.module {
                *self.report.modules.entry(m.clone()).or_default() += 1;
            }
        }
        self.dups.insert(d, fp);
        self.report.keys += 1;
        if let Some(slot) = self.by_type.get_mut(k.value_type as usize) {
            slot.0 += 1;
            slot.1 = Some(k.value_type);
        }
        if self.cur_db.0 != d {
            self.flush_db();
            self.cur_db.0 = d;
        }
        let stats = &mut self.cur_db.1;
        stats.keys += 1;
        if let Some(ms) = self.pending.expire_ms {
            stats.expires += 1;
            self.report.expires += 1;
            if ms < self.options.now_ms {
                stats.already_expired += 1;
                self.report.already_expired += 1;
            }
        }
        self.pending = Pending::default();
    }

    /// The findings of one key, located by db, key and type (the slow path:
    /// only keys with something to report get here).
    fn key_findings(
        &mut self,
        offset: u64,
        k: &KeyRecord<'a>,
        d: u64,
        type_warning: bool,
        dropped_on_load: bool,
        checked: &KeyCheck,
    ) {
        let key_bytes = k.key.to_bytes().map(|c| c.into_owned()).unwrap_or_default();
        let logical = k.value_type.logical();
        let located = |f: Finding| {
            f.in_db(Some(d))
                .with_key(Some(&key_bytes))
                .with_type(Some(logical.name()))
        };
        let mut found = Vec::new();
        if type_warning {
            found.push(located(Finding::warning(
                offset,
                format!(
                    "type {} ({}) is from RDB version {}, but the file says version {}",
                    k.type_byte,
                    k.value_type.checker_name(),
                    k.value_type.since_version(),
                    self.header.version
                ),
            )));
        }
        match checked.value() {
            Ok(summary) => {
                for (at, w) in &summary.warnings {
                    found.push(located(Finding::warning(*at, w.clone())));
                }
                // Dropped on load without a word: the restored dataset
                // silently lacks the key, so a backup holding one is broken.
                if dropped_on_load {
                    found.push(located(Finding::error(
                        offset,
                        "empty key: servers drop it silently on load, so the restored dataset would lack it (redis-check-rdb rejects it too)",
                    )));
                }
            }
            Err((at, msg)) => found.push(located(Finding::error(*at, msg.clone()))),
        }
        for f in found {
            self.push(f);
        }
    }

    /// The checksum, trailer and duplicate-key results; the final report.
    /// `body_crc` is the CRC-64 of `data[..n]` when a caller computed it
    /// concurrently, as `(n, crc)`; it is used when `n` is where the
    /// checksummed body really ends, else the CRC is computed here.
    pub fn finish(mut self, body_crc: Option<(usize, u64)>) -> RdbReport {
        let data = self.data;
        let header = self.header;
        let max = self.options.max_findings;
        self.flush_db();
        for (count, t) in self.by_type {
            if let Some(t) = t {
                *self.report.types.entry(t.logical()).or_default() += count;
                *self.report.encodings.entry(t.checker_name()).or_default() += count;
            }
        }
        let report = &mut self.report;
        if let Some(eof) = self.eof_at {
            report.eof_offset = Some(eof);
            let after = eof + 1;
            if header.has_checksum() {
                let body = data.get(..after as usize).unwrap_or(data);
                match data.get(after as usize..after as usize + 8) {
                    Some(trailer) => {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(trailer);
                        let stored = u64::from_le_bytes(b);
                        report.checksum = if stored == 0 {
                            Checksum::Disabled
                        } else {
                            let computed = match body_crc {
                                Some((n, crc)) if n == body.len() => crc,
                                _ => crc64(body),
                            };
                            if computed == stored {
                                Checksum::Ok(stored)
                            } else {
                                report.push(
                                    Finding::error(
                                        after,
                                        format!(
                                            "RDB CRC error: stored checksum {stored:016x}, computed {computed:016x}"
                                        ),
                                    ),
                                    max,
                                );
                                Checksum::Mismatch { stored, computed }
                            }
                        };
                        report.end_offset = Some(after + 8);
                    }
                    None => report.push(
                        Finding::error(
                            after,
                            format!(
                                "Unexpected EOF reading RDB file while reading the checksum: expected 8 bytes, found {}",
                                data.len() as u64 - after
                            ),
                        ),
                        max,
                    ),
                }
            } else {
                report.end_offset = Some(after);
            }
            if let Some(end) = report.end_offset
                && end < data.len() as u64
                && !self.options.embedded_in_aof
            {
                report.push(
                    Finding::warning(
                        end,
                        format!(
                            "{} bytes after the end of the RDB: servers ignore them",
                            data.len() as u64 - end
                        ),
                    ),
                    max,
                );
            }
        } else if report.errors.is_empty() {
            report.push(
                Finding::error(
                    self.records_offset,
                    "Unexpected EOF reading RDB file: no EOF opcode",
                ),
                max,
            );
        }

        for dup in self.dups.finish(data, header) {
            report.push(
                Finding::error(
                    dup.offset,
                    format!(
                        "duplicate key in db {} (first at offset {}): every server aborts loading this file",
                        dup.db, dup.first_offset
                    ),
                )
                .in_db(Some(dup.db))
                .with_key(Some(&dup.key)),
                max,
            );
        }
        report.errors.sort_by_key(|f| f.offset);
        report.dbs.retain(|_, s| s.keys > 0);
        report.ok = report.errors.is_empty();
        self.report
    }

    /// The duplicate-key fingerprints, for a driver that sorts their
    /// buckets in parallel before [`Pass::finish`].
    pub fn dup_buckets_mut(&mut self) -> &mut [Vec<u64>] {
        self.dups.buckets_mut()
    }
}

/// Verifies a whole RDB held in memory (or mapped), on the calling thread.
pub fn verify_rdb(data: &[u8], options: &Options) -> RdbReport {
    let mut pass = match Pass::new(data, options) {
        Ok(p) => p,
        Err(report) => return *report,
    };
    let mut scratch = Scratch::default();
    let mut records = Records::new(data, pass.header());
    for item in records.by_ref() {
        match item {
            Ok(item) => pass.record(item, None, &mut scratch),
            Err(e) => {
                pass.framing_error(&e, records.remaining());
                break;
            }
        }
    }
    pass.set_records_offset(records.offset());
    pass.finish(None)
}

/// The logical type name for JSON (`string list set zset hash stream module`).
pub fn type_name(t: ValueType) -> &'static str {
    t.logical().name()
}

/// The key and logical type of a key record starting at `rest`, as far as
/// they can be read (for locating framing errors).
fn partial_key(rest: &[u8], header: &Header) -> (Option<Vec<u8>>, Option<&'static str>) {
    let Some((&b, after)) = rest.split_first() else {
        return (None, None);
    };
    let Ok(t) = ValueType::from_byte(header, b) else {
        return (None, None);
    };
    let key = crate::rdb::primitives::parse_string(after, "key")
        .ok()
        .and_then(|(_, k)| k.to_bytes().ok().map(|c| c.into_owned()));
    (key, Some(t.logical().name()))
}

/// Which of `wanted` occur as keys in the file (in `db` only, when given).
/// A framing pass; stops at the first framing error.
pub fn find_keys(data: &[u8], wanted: &[&[u8]], db: Option<u64>) -> Vec<Vec<u8>> {
    let Ok(header) = Header::parse(data) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut cur = 0u64;
    for item in Records::new(data, header) {
        let Ok(item) = item else { break };
        match item.record {
            Record::SelectDb { db: n } => cur = n,
            Record::Key(k) if db.is_none_or(|d| d == cur) => {
                if let Ok(key) = k.key.to_bytes()
                    && wanted.contains(&key.as_ref())
                    && !found.iter().any(|f: &Vec<u8>| f.as_slice() == key.as_ref())
                {
                    found.push(key.into_owned());
                }
            }
            _ => {}
        }
    }
    found
}
