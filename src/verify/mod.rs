//! Verification of a whole RDB: one framing pass over the records, deep
//! checks of every value, duplicate-key detection, the checksum, and the
//! counts a backup check needs. Findings are values; nothing is printed.

mod dupkeys;
pub mod finding;
pub mod fingerprint;
pub mod value;

pub use finding::{Finding, Severity};

use crate::crc64::crc64;
use crate::rdb::{Header, Item, LogicalType, Record, Records, ValueType};
use std::collections::BTreeMap;

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            embedded_in_aof: false,
            now_ms: 0,
            max_findings: 1000,
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

/// Verifies a whole RDB held in memory (or mapped).
pub fn verify_rdb(data: &[u8], options: &Options) -> RdbReport {
    let mut report = RdbReport::new(data.len() as u64);
    let max = options.max_findings;
    if data.is_empty() {
        report.push(Finding::error(0, "empty file: expected an RDB header"), max);
        return report;
    }
    let header = match Header::parse(data) {
        Ok(h) => h,
        Err(e) => {
            report.push(Finding::error(0, e.to_string()), max);
            return report;
        }
    };
    report.header = Some(header);
    if let Some(note) = header.version_notes() {
        report.push(Finding::error(5, note), max);
    }

    let mut db: Option<u64> = None;
    let mut pending = Pending::default();
    let mut dups = dupkeys::DupKeys::default();
    let mut records = Records::new(data, header);
    let mut eof_at = None;
    for item in records.by_ref() {
        let Item { offset, record } = match item {
            Ok(i) => i,
            Err(e) => {
                // The record that failed starts where the iterator stopped;
                // if it is a key, name it and its type.
                let (key, t) = partial_key(records.remaining(), &header);
                let f = Finding::error(e.offset_in(data), e.to_string())
                    .in_db(Some(db.unwrap_or(0)))
                    .with_key(key.as_deref())
                    .with_type(t);
                report.push(f, max);
                break;
            }
        };
        match record {
            Record::Eof => {
                eof_at = Some(offset);
            }
            Record::SelectDb { db: n } => {
                if n >= crate::limits::DEFAULT_DATABASES {
                    report.push(
                        Finding::warning(
                            offset,
                            format!("SELECTDB {n}: a server with the default 16 databases refuses to load this file"),
                        ),
                        max,
                    );
                }
                db = Some(n);
            }
            Record::ResizeDb {
                db_size,
                expires_size,
            } => {
                let d = db.unwrap_or(0);
                report.dbs.entry(d).or_default().resize_hint = Some((db_size, expires_size));
            }
            Record::Aux { key, value } => {
                let k = key.to_bytes().map(|c| c.into_owned());
                let v = value.to_bytes().map(|c| c.into_owned());
                match (k, v) {
                    (Ok(k), Ok(v)) => report.aux.push((k, v)),
                    _ => report.push(
                        Finding::error(offset, "AUX field: Invalid LZF compressed string"),
                        max,
                    ),
                }
            }
            Record::Expire { ms, .. } => {
                pending.expire_ms = Some(ms);
                pending.expire_offset = offset;
            }
            Record::Idle { .. }
            | Record::Freq { .. }
            | Record::SlotInfo { .. }
            | Record::SlotImport { .. } => {}
            Record::ModuleAux { module_id, .. } => {
                let (name, _) = crate::rdb::primitives::module_type_name(module_id);
                report.module_aux.push(name);
            }
            Record::Function { code } => {
                report.functions += 1;
                if let Err(e) = code.to_bytes() {
                    report.push(
                        Finding::error(offset, format!("FUNCTION2 library code: {e}")).in_db(db),
                        max,
                    );
                }
            }
            Record::KeyMeta { .. } => pending.key_meta = true,
            Record::Key(k) => {
                let d = db.unwrap_or(0);
                let key_bytes = match k.key.to_bytes() {
                    Ok(b) => b,
                    Err(e) => {
                        report.push(
                            Finding::error(offset, format!("key: {e}")).in_db(Some(d)),
                            max,
                        );
                        std::mem::take(&mut pending);
                        continue;
                    }
                };
                let logical = k.value_type.logical();
                let located = |f: Finding| {
                    f.in_db(Some(d))
                        .with_key(Some(&key_bytes))
                        .with_type(Some(logical.name()))
                };
                if k.value_type.since_version() > header.version
                    && header.magic == crate::rdb::Magic::Redis
                {
                    report.push(
                        located(Finding::warning(
                            offset,
                            format!(
                                "type {} ({}) is from RDB version {}, but the file says version {}",
                                k.type_byte,
                                k.value_type.checker_name(),
                                k.value_type.since_version(),
                                header.version
                            ),
                        )),
                        max,
                    );
                }
                match value::check_value(data, &header, k.value_type, k.value) {
                    Ok(summary) => {
                        for (at, w) in summary.warnings {
                            report.push(located(Finding::warning(at, w)), max);
                        }
                        // Empty streams are legal (XDEL can empty one and it stays);
                        // an empty list, set, zset or hash is dropped on load
                        // without a word: the restored dataset silently lacks
                        // the key, so a backup holding one is broken.
                        let collection = matches!(
                            logical,
                            LogicalType::List
                                | LogicalType::Set
                                | LogicalType::Zset
                                | LogicalType::Hash
                        );
                        if summary.elements == 0 && collection {
                            report.push(
                                located(Finding::error(
                                    offset,
                                    "empty key: servers drop it silently on load, so the restored dataset would lack it (redis-check-rdb rejects it too)",
                                )),
                                max,
                            );
                        }
                        if summary.fields_with_ttl > 0 {
                            report.keys_with_field_ttl += 1;
                        }
                        if let Some(m) = summary.module {
                            *report.modules.entry(m).or_default() += 1;
                        }
                    }
                    Err(e) => {
                        report.push(
                            located(Finding::error(e.offset_in(data), e.to_string())),
                            max,
                        );
                    }
                }
                dups.insert(d, &key_bytes, offset);
                report.keys += 1;
                *report.types.entry(logical).or_default() += 1;
                *report
                    .encodings
                    .entry(k.value_type.checker_name())
                    .or_default() += 1;
                let stats = report.dbs.entry(d).or_default();
                stats.keys += 1;
                if let Some(ms) = pending.expire_ms {
                    stats.expires += 1;
                    report.expires += 1;
                    if ms < options.now_ms {
                        stats.already_expired += 1;
                        report.already_expired += 1;
                    }
                }
                pending = Pending::default();
            }
        }
    }

    if let Some(eof) = eof_at {
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
                        let computed = crc64(body);
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
            && !options.embedded_in_aof
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
                records.offset(),
                "Unexpected EOF reading RDB file: no EOF opcode",
            ),
            max,
        );
    }

    for dup in dups.finish(data, header) {
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
    report
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
