//! Verification of a whole RDB: one framing pass over the records, deep
//! checks of every value, duplicate-key detection, the checksum, and the
//! counts a backup check needs. Findings are values; nothing is printed.

pub mod dupkeys;
pub mod finding;
pub mod fingerprint;
pub mod framing;
pub mod members;
pub mod pel;
pub mod spill;
pub mod value;

pub use finding::{Finding, Severity};
pub use framing::{Across, BATCH_BYTES, BATCH_RECORDS, Batch, Framed};

use crate::crc64::crc64;
use crate::rdb::{
    Header, Item, KeyRecord, LogicalType, RdbString, Record, Records, StringKey, ValueType,
};
use framing::Sink;
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
    /// Bytes of memory each thread checking values may use for one value
    /// (see [`value::Scratch::with_budget`]): member fingerprints beyond
    /// it cost more walks of the value, not memory; an LZF blob inflating
    /// to more than half of it is an error ("could not run within
    /// --max-memory").
    pub value_budget: usize,
    /// Where a value too big for `value_budget` spills: the fingerprints
    /// of a collection with more members than it holds (so that its check
    /// stays linear in time, see [`members`]), and an LZF blob inflating
    /// to more than half of it. `None`: more walks of the value instead,
    /// and such a blob is not checked (exit status 2).
    pub spill: Option<spill::SpillTo>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            embedded_in_aof: false,
            now_ms: 0,
            max_findings: 1000,
            dup_key_budget: DUP_KEY_BUDGET,
            value_budget: value::VALUE_BUDGET,
            spill: None,
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
    /// What the db's cluster slot records say it holds, when it has some.
    pub slot_info: Option<SlotCounts>,
}

/// The sum of a db's cluster slot records: Redis 7.4+ writes a SLOT_INFO
/// record, Valkey 8+ a `slot-info` AUX field, before the keys of each slot
/// that has keys, from the server's own count of that slot's keys (and of
/// those with an expiry). Servers read them as sizing hints only; a file
/// as the server wrote it holds exactly the keys they add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlotCounts {
    /// Slot records read.
    pub slots: u64,
    /// The keys, and the keys with an expiry, they add up to.
    pub keys: u64,
    pub expires: u64,
    /// Where the first of them is.
    pub first_offset: u64,
}

impl SlotCounts {
    fn add(&mut self, other: SlotCounts) {
        if self.slots == 0 {
            self.first_offset = other.first_offset;
        }
        self.slots = self.slots.saturating_add(other.slots);
        self.keys = self.keys.saturating_add(other.keys);
        self.expires = self.expires.saturating_add(other.expires);
    }
}

/// The counts of a Valkey `slot-info` AUX value, `slot,keys,expires` with
/// more fields allowed after them (Valkey 9 adds the keys with volatile
/// fields); `None` when it does not read so.
fn parse_slot_info(value: &[u8]) -> Option<(u64, u64, u64)> {
    let text = std::str::from_utf8(value).ok()?;
    let mut fields = text.split(',').map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??, fields.next()??))
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
        push_capped(
            &mut self.errors,
            &mut self.warnings,
            &mut self.dropped_findings,
            f,
            max,
        );
    }
}

/// Keeps `f` in its list (errors or warnings) while that list holds fewer
/// than `max`, else counts it as dropped.
fn push_capped(
    errors: &mut Vec<Finding>,
    warnings: &mut Vec<Finding>,
    dropped: &mut u64,
    f: Finding,
    max: usize,
) {
    let list = match f.severity {
        Severity::Error => errors,
        Severity::Warning => warnings,
    };
    if list.len() < max {
        list.push(f);
    } else {
        *dropped += 1;
    }
}

/// The framing state at a record: the db being read, and an expiry opcode
/// waiting for the key it belongs to. Framing keeps it as it goes, so
/// that any batch of records can be tallied on its own, on any thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    db: Option<u64>,
    expire_ms: Option<i64>,
}

impl Cursor {
    /// The state after `record`.
    #[inline]
    pub fn advance(&mut self, record: &Record<'_>) {
        match *record {
            Record::SelectDb { db } => self.db = Some(db),
            Record::Expire { ms, .. } => self.expire_ms = Some(ms),
            Record::Key(_) => self.expire_ms = None,
            _ => {}
        }
    }

    /// The db a key read now belongs to.
    fn key_db(&self) -> u64 {
        self.db.unwrap_or(0)
    }

    /// The state at a record reached by jumping into the file rather than
    /// by reading up to it: the db not known yet (a placeholder, replaced
    /// by [`Tally::inherit`] once it is), no expiry waiting. See
    /// `driver`'s speculative segments.
    pub fn inherited() -> Self {
        Cursor {
            db: Some(INHERITED_DB),
            expire_ms: None,
        }
    }

    /// The state after a run of records read from [`Cursor::inherited`],
    /// given `before`, the state the run really started in.
    pub fn resolve(self, before: &Cursor) -> Cursor {
        Cursor {
            db: match self.db {
                Some(INHERITED_DB) => before.db,
                db => db,
            },
            expire_ms: self.expire_ms,
        }
    }

    /// Whether an expiry opcode is waiting for its key.
    pub fn expiry_pending(&self) -> bool {
        self.expire_ms.is_some()
    }

    /// The db alone: the state before a batch that follows others of the
    /// same run of records (an expiry waiting there was read in the run).
    pub fn db_only(&self) -> Cursor {
        Cursor {
            db: self.db,
            expire_ms: None,
        }
    }
}

/// The placeholder db of [`Cursor::inherited`]. A file may select this db
/// too (SELECTDB takes any 64-bit length): such a tally says so
/// ([`Tally::inherit`] then refuses), and the records are read again from
/// the real state.
const INHERITED_DB: u64 = u64::MAX;

/// What a batch of records contributes to the report: a pure function of
/// the batch, computed on any thread; [`Pass::absorb`] adds tallies up in
/// file order.
#[derive(Debug, PartialEq)]
pub struct Tally {
    keys: u64,
    expires: u64,
    already_expired: u64,
    keys_with_field_ttl: u64,
    functions: u64,
    /// Key counts by db, one entry per run of keys in the same db.
    db_runs: Vec<(u64, DbStats)>,
    /// RESIZEDB hints: db, sizes, and the most keys the bytes left after
    /// it could hold.
    resize_hints: Vec<(u64, (u64, u64), u64)>,
    by_type: [(u64, Option<ValueType>); TYPE_SLOTS],
    modules: Vec<String>,
    module_aux: Vec<String>,
    aux: Vec<(Vec<u8>, Vec<u8>)>,
    errors: Vec<Finding>,
    warnings: Vec<Finding>,
    dropped_findings: u64,
    /// Key fingerprints with their db folded in, in file order.
    fingerprints: Vec<u64>,
    eof_at: Option<u64>,
    /// Where framing stood after the batch.
    end: u64,
    /// A SELECTDB named [`INHERITED_DB`]: the batch, if read from
    /// [`Cursor::inherited`], cannot be resolved by [`Tally::inherit`].
    selects_placeholder: bool,
}

impl Tally {
    /// A tally for up to `max_keys` keys, its fingerprints kept in `spare`.
    fn new(max_keys: usize, mut spare: Vec<u64>) -> Self {
        spare.clear();
        spare.reserve(max_keys.min(BATCH_RECORDS));
        Tally {
            keys: 0,
            expires: 0,
            already_expired: 0,
            keys_with_field_ttl: 0,
            functions: 0,
            db_runs: Vec::new(),
            resize_hints: Vec::new(),
            by_type: [(0, None); TYPE_SLOTS],
            modules: Vec::new(),
            module_aux: Vec::new(),
            aux: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            dropped_findings: 0,
            fingerprints: spare,
            eof_at: None,
            end: 0,
            selects_placeholder: false,
        }
    }

    fn push(&mut self, f: Finding, max: usize) {
        push_capped(
            &mut self.errors,
            &mut self.warnings,
            &mut self.dropped_findings,
            f,
            max,
        );
    }

    /// Where framing stood after the batch.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Replaces the placeholder db of a batch read from
    /// [`Cursor::inherited`] by the state it really started in, `before`:
    /// what the tally would have been, had it been read from `before`.
    /// False, and the tally unchanged, when that cannot be told from the
    /// tally: an expiry was waiting (it belongs to the batch's first key),
    /// the file itself selects the placeholder db, or no db was selected
    /// yet and a finding names the placeholder (a key's finding then says
    /// db 0 and a function's says none). The batch is then read again.
    pub fn inherit(&mut self, before: &Cursor) -> bool {
        let inherited = |db: &Option<u64>| *db == Some(INHERITED_DB);
        if before.expiry_pending() || self.selects_placeholder {
            return false;
        }
        let findings = || self.errors.iter().chain(&self.warnings);
        if before.db.is_none() && findings().any(|f| inherited(&f.db)) {
            return false;
        }
        let db = before.key_db();
        for f in self.errors.iter_mut().chain(&mut self.warnings) {
            if inherited(&f.db) {
                f.db = Some(db);
            }
        }
        for hint in &mut self.resize_hints {
            if hint.0 == INHERITED_DB {
                hint.0 = db;
            }
        }
        // Keys (and slot records) before the batch's first SELECTDB are its
        // first run, and its keys the first of its fingerprints (both are
        // counted for the same keys, in file order).
        if let Some((d, stats)) = self.db_runs.first_mut()
            && *d == INHERITED_DB
        {
            *d = db;
            // Their fingerprints were left unfolded; db 0 folds to itself.
            if db != 0 {
                let n = usize::try_from(stats.keys).unwrap_or(usize::MAX);
                for fp in self.fingerprints.iter_mut().take(n) {
                    *fp = dupkeys::in_db(*fp, db);
                }
            }
        }
        true
    }

    /// Where the batch's EOF opcode is, if it has it.
    pub fn eof_offset(&self) -> Option<u64> {
        self.eof_at
    }

    /// Moves every offset by `base`: the batch was tallied over a window
    /// of the input that starts at `base`.
    pub fn rebase(&mut self, base: u64) {
        for f in self.errors.iter_mut().chain(&mut self.warnings) {
            f.offset += base;
        }
        if let Some(e) = &mut self.eof_at {
            *e += base;
        }
        for (_, stats) in &mut self.db_runs {
            if let Some(c) = &mut stats.slot_info {
                c.first_offset += base;
            }
        }
        self.end += base;
    }
}

/// What checking one key record found. It depends on that record alone, so
/// any thread may compute it. Kept to three words, with everything unusual
/// boxed: most keys have nothing unusual.
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
    value: Result<ValueSummary, ValueError>,
}

/// Why a value failed its deep check, located in the file.
struct ValueError {
    offset: u64,
    message: String,
    /// The check stopped at the memory budget: no verdict on the value.
    out_of_budget: bool,
}

impl KeyCheck {
    fn value(&self) -> Result<&ValueSummary, &ValueError> {
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
    /// A vector for the next tally's key fingerprints: one whose tally
    /// was absorbed ([`Scratch::recycle`]). A new one is new pages, a page
    /// fault every 512 keys.
    fingerprints: Vec<u64>,
}

impl Scratch {
    /// Scratch for one checking thread, held to `options.value_budget`.
    pub fn new(options: &Options) -> Self {
        Scratch {
            value: value::Scratch::with_budget(options.value_budget).with_spill(options.spill),
            fingerprints: Vec::new(),
        }
    }

    /// Keeps `spent`, the vector [`Pass::absorb`] gave back, for the next
    /// tally (unless one is kept already).
    pub fn recycle(&mut self, spent: Vec<u64>) {
        if self.fingerprints.capacity() < spent.capacity() {
            self.fingerprints = spent;
        }
    }
}

/// Checks one key record: the key readable, the value deep-checked. A pure
/// function of the record's bytes (`data` is the whole file, for offsets).
#[inline]
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
    // Strings are most keys of most files: one stored raw or as an
    // integer has nothing inside to check, and an LZF one only its
    // compressed stream. Anything else, or any problem, takes the value
    // checker's path, which says what is wrong.
    if k.value_type == ValueType::String {
        let plain = crate::rdb::extent::string(k.value, 0).is_some_and(|(s, _)| plain_string(s));
        if plain {
            return KeyCheck {
                fingerprint,
                elements: 1,
                unusual: None,
            };
        }
    }
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
                value: other.map_err(|e| ValueError {
                    offset: e.offset_in(data),
                    message: e.to_string(),
                    out_of_budget: e.is_memory_budget(),
                }),
            })),
        },
    }
}

/// Whether a string value, as its header says, has nothing more to check
/// or report: raw or an integer, or LZF that inflates to its length (an
/// empty LZF string is a warning, for the value checker to word).
#[inline(always)]
fn plain_string(s: RdbString<'_>) -> bool {
    match s {
        RdbString::Raw(_) | RdbString::Int(_) => true,
        RdbString::Lzf { compressed, len } => len > 0 && crate::lzf::is_valid(compressed, len),
    }
}

/// Every [`ValueType`] by its discriminant, for counting without a map
/// lookup per key.
const TYPE_SLOTS: usize = 32;

/// Tallies one batch: deep-checks every key and folds the records into a
/// [`Tally`]. A pure function of the batch (and the file, for offsets).
pub fn tally(
    data: &[u8],
    header: &Header,
    options: &Options,
    batch: &Batch<'_>,
    scratch: &mut Scratch,
) -> Tally {
    let mut tallier = Tallier::new(data, header, options, scratch, batch.items.len());
    let mut cursor = batch.cursor;
    for item in &batch.items {
        tallier.record(*item, &cursor);
        cursor.advance(&item.record);
    }
    tallier.finish(&cursor, batch.error.as_ref(), batch.end)
}

/// Frames records as [`Batch::frame_until`] does and tallies each as it
/// is read: the tally [`tally`] makes of that batch, where framing and
/// checking run on the same thread. Also says what was framed.
pub fn frame_and_tally<'a>(
    data: &[u8],
    header: &Header,
    options: &Options,
    records: &mut Records<'a>,
    cursor: &mut Cursor,
    limits: (usize, u64, Across),
    scratch: &mut Scratch,
) -> (Tally, Framed<'a>) {
    let mut tallier = Tallier::new(data, header, options, scratch, limits.0);
    let framed = framing::frame_into(records, cursor, limits, &mut tallier);
    let t = tallier.finish(cursor, framed.error.as_ref(), framed.end);
    (t, framed)
}

/// Folds records, in file order, into a [`Tally`]: each record with the
/// framing state before it.
pub struct Tallier<'d, 's> {
    data: &'d [u8],
    header: &'d Header,
    options: &'d Options,
    scratch: &'s mut Scratch,
    t: Tally,
    /// The db run being counted; pushed to `db_runs` when the db changes.
    run: Option<(u64, DbStats)>,
    /// What the run's key fingerprints are folded with
    /// ([`dupkeys::db_fold`]).
    fold: u64,
}

impl<'d, 's> Tallier<'d, 's> {
    /// A tallier for up to `records` records (its fingerprints' capacity).
    pub fn new(
        data: &'d [u8],
        header: &'d Header,
        options: &'d Options,
        scratch: &'s mut Scratch,
        records: usize,
    ) -> Self {
        let t = Tally::new(records, std::mem::take(&mut scratch.fingerprints));
        Tallier {
            data,
            header,
            options,
            scratch,
            t,
            run: None,
            fold: 0,
        }
    }

    /// The tally, once every record is taken: `cursor` is the state after
    /// the last, `error` what stopped framing at `end`, if anything did.
    pub fn finish(
        mut self,
        cursor: &Cursor,
        error: Option<&(crate::rdb::Error, &[u8])>,
        end: u64,
    ) -> Tally {
        let t = &mut self.t;
        if let Some(r) = self.run {
            t.db_runs.push(r);
        }
        if let Some((e, remaining)) = error {
            // The record that failed starts where framing stopped; if it is
            // a key, name it and its type.
            let (key, ty) = partial_key(remaining, self.header);
            let f = Finding::error(e.offset_in(self.data), e.to_string())
                .in_db(Some(cursor.key_db()))
                .with_key(key.as_deref())
                .with_type(ty);
            t.push(f, self.options.max_findings);
        }
        t.end = end;
        self.t
    }

    /// Counts a key of `value_type` that [`check_key`] (or its string
    /// shortcut) checked; `k` gives the record, for a key with something
    /// to report (only then is it built).
    #[inline(always)]
    fn counted<'k>(
        &mut self,
        offset: u64,
        value_type: ValueType,
        k: impl FnOnce() -> KeyRecord<'k>,
        before: &Cursor,
        checked: KeyCheck,
    ) {
        let d = before.key_db();
        let type_warning = value_type.since_version() > self.header.version
            && self.header.magic == crate::rdb::Magic::Redis;
        // Nearly every key: checked clean, not empty, of a type the file's
        // version has. Everything else is looked at out of line.
        if (checked.unusual.is_some() || checked.elements == 0 || type_warning)
            && !tally_unusual(
                &mut self.t,
                self.options,
                self.header,
                offset,
                &k(),
                d,
                type_warning,
                &checked,
            )
        {
            return;
        }
        if self.run.as_ref().is_none_or(|(db, _)| *db != d) {
            self.start_run(d);
        }
        let Some((_, stats)) = &mut self.run else {
            return;
        };
        let t = &mut self.t;
        t.fingerprints.push(checked.fingerprint ^ self.fold);
        t.keys += 1;
        if let Some(slot) = t.by_type.get_mut(value_type as usize) {
            slot.0 += 1;
            slot.1 = Some(value_type);
        }
        stats.keys += 1;
        if let Some(ms) = before.expire_ms {
            stats.expires += 1;
            t.expires += 1;
            if ms < self.options.now_ms {
                stats.already_expired += 1;
                t.already_expired += 1;
            }
        }
    }

    /// Starts counting a run of keys in db `d`.
    #[cold]
    fn start_run(&mut self, d: u64) {
        if let Some(r) = self.run.take() {
            self.t.db_runs.push(r);
        }
        self.run = Some((d, DbStats::default()));
        // A key of the placeholder db is folded in by `Tally::inherit`,
        // once its db is known (db 0, the usual one, folds to itself).
        self.fold = match d {
            INHERITED_DB => 0,
            d => dupkeys::db_fold(d),
        };
    }

    /// Counts a cluster slot record of db `db` at `offset` in that db's
    /// run, as its keys are.
    #[cold]
    fn slot_record(&mut self, db: u64, offset: u64, keys: u64, expires: u64) {
        if self.run.as_ref().is_none_or(|(d, _)| *d != db) {
            self.start_run(db);
        }
        if let Some((_, stats)) = &mut self.run {
            let counts = SlotCounts {
                slots: 1,
                keys,
                expires,
                first_offset: offset,
            };
            stats.slot_info.get_or_insert_default().add(counts);
        }
    }

    /// A Valkey `slot-info` AUX field at `offset`, read as
    /// [`parse_slot_info`] reads it (`None`: it does not read).
    #[cold]
    fn slot_info_field(&mut self, counts: Option<(u64, u64, u64)>, offset: u64, before: &Cursor) {
        match counts {
            Some((_, keys, expires)) => self.slot_record(before.key_db(), offset, keys, expires),
            None => self.t.push(
                Finding::warning(
                    offset,
                    "slot-info AUX field does not read as slot,keys,expires: Valkey in cluster mode refuses to load it",
                )
                .in_db(before.db),
                self.options.max_findings,
            ),
        }
    }
}

impl<'a> framing::Sink<'a> for Tallier<'_, '_> {
    #[inline(always)]
    fn record(&mut self, item: Item<'a>, before: &Cursor) {
        let (t, max) = (&mut self.t, self.options.max_findings);
        let offset = item.offset;
        match item.record {
            Record::Eof => t.eof_at = Some(offset),
            Record::SelectDb { db: n } => {
                t.selects_placeholder |= n == INHERITED_DB;
                if n >= crate::limits::DEFAULT_DATABASES {
                    t.push(Finding::warning(
                        offset,
                        format!("SELECTDB {n}: a server with the default 16 databases refuses to load this file"),
                    ), max);
                }
            }
            Record::ResizeDb {
                db_size,
                expires_size,
            } => {
                // A hint, so untrusted: never more keys than the bytes left
                // could hold (a key record is at least 3 bytes).
                let left = (self.data.len() as u64).saturating_sub(offset) / 3;
                t.resize_hints
                    .push((before.key_db(), (db_size, expires_size), left));
            }
            Record::Aux { key, value } => {
                let k = key.to_bytes().map(|c| c.into_owned());
                let v = value.to_bytes().map(|c| c.into_owned());
                match (k, v) {
                    (Ok(k), Ok(v)) => {
                        let slot_info = (k == b"slot-info").then(|| parse_slot_info(&v));
                        t.aux.push((k, v));
                        if let Some(counts) = slot_info {
                            self.slot_info_field(counts, offset, before);
                        }
                    }
                    _ => t.push(
                        Finding::error(offset, "AUX field: Invalid LZF compressed string"),
                        max,
                    ),
                }
            }
            Record::SlotInfo {
                size, expires_size, ..
            } => self.slot_record(before.key_db(), offset, size, expires_size),
            Record::Expire { .. }
            | Record::Idle { .. }
            | Record::Freq { .. }
            | Record::SlotImport { .. }
            | Record::KeyMeta { .. } => {}
            Record::ModuleAux { module_id, .. } => {
                let (name, _) = crate::rdb::primitives::module_type_name(module_id);
                t.module_aux.push(name);
            }
            Record::Function { code } => {
                t.functions += 1;
                if let Err(e) = code.to_bytes() {
                    let f = Finding::error(offset, format!("FUNCTION2 library code: {e}"))
                        .in_db(before.db);
                    t.push(f, max);
                }
            }
            Record::Key(k) => {
                let checked = check_key(self.data, self.header, &k, self.scratch);
                self.counted(offset, k.value_type, || k, before, checked);
            }
        }
    }

    #[inline(always)]
    fn string_key(&mut self, key: StringKey<'a>, before: &Cursor) {
        // A raw key whose value needs no more than its header says (or an
        // LZF stream checked): counted at once. Anything else goes the
        // general way, which words what is wrong.
        if let RdbString::Raw(bytes) = key.key
            && plain_string(key.string)
        {
            let checked = KeyCheck {
                fingerprint: dupkeys::key_fingerprint(bytes),
                elements: 1,
                unusual: None,
            };
            self.counted(
                key.offset,
                ValueType::String,
                || key.record(),
                before,
                checked,
            );
            return;
        }
        self.record(key.item(), before);
    }
}

/// The part of [`Tallier::counted`] for a key with something to report or
/// count aside: findings, field TTLs, module names. False when the key
/// itself could not be read (the key is then not counted).
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn tally_unusual(
    t: &mut Tally,
    options: &Options,
    header: &Header,
    offset: u64,
    k: &KeyRecord<'_>,
    d: u64,
    type_warning: bool,
    checked: &KeyCheck,
) -> bool {
    let max = options.max_findings;
    if let Some(msg) = checked.unusual.as_ref().and_then(|u| u.key_error.clone()) {
        t.push(Finding::error(offset, msg).in_db(Some(d)), max);
        return false;
    }
    let dropped = value::dropped_on_load(checked.elements, k.value_type.logical());
    let value_problem = match checked.value() {
        Ok(s) => !s.warnings.is_empty() || dropped,
        Err(_) => true,
    };
    if type_warning || value_problem {
        for f in key_findings(header, offset, k, d, type_warning, dropped, checked) {
            t.push(f, max);
        }
    }
    if let Some(Unusual {
        value: Ok(summary), ..
    }) = checked.unusual.as_deref()
    {
        if summary.fields_with_ttl > 0 {
            t.keys_with_field_ttl += 1;
        }
        if let Some(m) = &summary.module {
            t.modules.push(m.clone());
        }
    }
    true
}

/// The findings of one key, located by db, key and type (the slow path:
/// only keys with something to report get here).
fn key_findings(
    header: &Header,
    offset: u64,
    k: &KeyRecord<'_>,
    d: u64,
    type_warning: bool,
    dropped_on_load: bool,
    checked: &KeyCheck,
) -> Vec<Finding> {
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
                header.version
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
        Err(e) => {
            let f = Finding::error(e.offset, e.message.clone());
            found.push(located(if e.out_of_budget {
                f.out_of_budget()
            } else {
                f
            }));
        }
    }
    found
}

/// How an input ended, for [`Pass::finish_with`].
pub struct Ending<'d> {
    /// The bytes from just after the EOF opcode to the end of the input
    /// (at least the checksum trailer's 8, when the input has them).
    pub after_eof: &'d [u8],
    /// The input's length.
    pub size: u64,
    /// CRC-64 of the input up to and including the EOF opcode.
    pub body_crc: u64,
    /// The whole input, when it can be read again: duplicate keys are then
    /// confirmed and named by a second pass.
    pub file: Option<&'d [u8]>,
    /// Told which bytes of `file` such passes are done with.
    pub passed: &'d dyn Fn(u64, u64),
}

/// One verification pass: tallies of batches added up in file order, then
/// the checksum, trailer and duplicate-key results. The sequential
/// [`verify_rdb`] and the parallel driver (`crate::driver`) both run it,
/// which is why their reports are equal: only *where* [`tally`] runs
/// differs.
pub struct Pass {
    header: Header,
    options: Options,
    report: RdbReport,
    dups: dupkeys::DupKeys,
    eof_at: Option<u64>,
    /// Keys per value type (indexed by discriminant).
    by_type: [(u64, Option<ValueType>); TYPE_SLOTS],
    /// Where framing ended, for the "no EOF opcode" error.
    records_offset: u64,
}

impl Pass {
    /// Reads the header from the first bytes of the input. An input with no
    /// usable header gets its final report at once, as the error.
    pub fn new(data: &[u8], options: &Options) -> Result<Pass, Box<RdbReport>> {
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
            header,
            options: options.clone(),
            report,
            dups: dupkeys::DupKeys::with_budget(options.dup_key_budget),
            eof_at: None,
            by_type: [(0, None); TYPE_SLOTS],
            records_offset: crate::rdb::header::HEADER_LEN as u64,
        })
    }

    pub fn header(&self) -> Header {
        self.header
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Where the EOF opcode was absorbed, if it was.
    pub fn eof_offset(&self) -> Option<u64> {
        self.eof_at
    }

    /// Keys absorbed so far (for progress).
    pub fn keys(&self) -> u64 {
        self.report.keys
    }

    /// Adds the tally of the next batch, in file order. Gives back its
    /// fingerprints' vector, for [`Scratch::recycle`].
    pub fn absorb(&mut self, t: Tally) -> Vec<u64> {
        let max = self.options.max_findings;
        let r = &mut self.report;
        r.keys += t.keys;
        r.expires += t.expires;
        r.already_expired += t.already_expired;
        r.keys_with_field_ttl += t.keys_with_field_ttl;
        r.functions += t.functions;
        for (d, (size, expires), left) in t.resize_hints {
            r.dbs.entry(d).or_default().resize_hint = Some((size, expires));
            self.dups.expect(size.min(left));
        }
        for (d, s) in t.db_runs {
            let e = r.dbs.entry(d).or_default();
            e.keys += s.keys;
            e.expires += s.expires;
            e.already_expired += s.already_expired;
            if let Some(c) = s.slot_info {
                e.slot_info.get_or_insert_default().add(c);
            }
        }
        for (slot, (n, ty)) in self.by_type.iter_mut().zip(t.by_type) {
            if ty.is_some() {
                slot.0 += n;
                slot.1 = ty;
            }
        }
        for m in t.modules {
            *r.modules.entry(m).or_default() += 1;
        }
        r.module_aux.extend(t.module_aux);
        r.aux.extend(t.aux);
        for f in t.errors.into_iter().chain(t.warnings) {
            r.push(f, max);
        }
        r.dropped_findings += t.dropped_findings;
        self.dups.insert_all_folded(&t.fingerprints);
        if t.eof_at.is_some() {
            self.eof_at = t.eof_at;
        }
        self.records_offset = t.end;
        t.fingerprints
    }

    /// The checksum, trailer and duplicate-key results; the final report.
    /// `body_crc` is the CRC-64 of `data[..n]` when a caller computed it
    /// concurrently, as `(n, crc)`; it is used when `n` is where the
    /// checksummed body really ends, else the CRC is computed here.
    pub fn finish(self, data: &[u8], body_crc: Option<(usize, u64)>) -> RdbReport {
        self.finish_passing(data, body_crc, &|_, _| {})
    }

    /// [`Pass::finish`], telling `passed(start, end)` which bytes the
    /// passes it may still make (duplicate keys) are done with.
    pub fn finish_passing(
        self,
        data: &[u8],
        body_crc: Option<(usize, u64)>,
        passed: &dyn Fn(u64, u64),
    ) -> RdbReport {
        let after = self.eof_at.map(|eof| eof as usize + 1);
        let crc = after.map(|after| match body_crc {
            Some((n, crc)) if n == after => crc,
            _ => crc64(data.get(..after).unwrap_or(data)),
        });
        let ending = Ending {
            after_eof: after.and_then(|a| data.get(a..)).unwrap_or(&[]),
            size: data.len() as u64,
            body_crc: crc.unwrap_or(0),
            file: Some(data),
            passed,
        };
        self.finish_with(ending)
    }

    /// [`Pass::finish`] for an input read as a stream, of which only the
    /// end is still at hand.
    pub fn finish_with(mut self, ending: Ending<'_>) -> RdbReport {
        let header = self.header;
        let max = self.options.max_findings;
        for (count, t) in self.by_type {
            if let Some(t) = t {
                *self.report.types.entry(t.logical()).or_default() += count;
                *self.report.encodings.entry(t.checker_name()).or_default() += count;
            }
        }
        let report = &mut self.report;
        report.size = ending.size;
        if let Some(eof) = self.eof_at {
            report.eof_offset = Some(eof);
            let after = eof + 1;
            if header.has_checksum() {
                match ending.after_eof.first_chunk::<8>() {
                    Some(trailer) => {
                        let stored = u64::from_le_bytes(*trailer);
                        report.checksum = if stored == 0 {
                            Checksum::Disabled
                        } else {
                            let computed = ending.body_crc;
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
                                ending.size.saturating_sub(after)
                            ),
                        ),
                        max,
                    ),
                }
            } else {
                report.end_offset = Some(after);
            }
            if let Some(end) = report.end_offset
                && end < ending.size
                && !self.options.embedded_in_aof
            {
                report.push(
                    Finding::warning(
                        end,
                        format!(
                            "{} bytes after the end of the RDB: servers ignore them",
                            ending.size - end
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

        if self.eof_at.is_some() {
            for f in slot_count_findings(&report.dbs) {
                report.push(f, max);
            }
        }
        match ending.file {
            Some(data) => {
                // Duplicates beyond what the error list keeps are only
                // counted, as `push` would count them.
                let keep = max.saturating_sub(report.errors.len());
                let (dups, more) = self.dups.finish(data, header, keep, ending.passed);
                report.dropped_findings += more;
                for dup in dups {
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
            }
            None => {
                let (suspects, complete) = self.dups.finish_unconfirmed();
                if suspects > 0 {
                    report.push(
                        Finding::error(
                            self.records_offset,
                            format!(
                                "{suspects} duplicate key(s) by 64-bit fingerprint: every server aborts loading a file with a duplicate key (read from a stream, so the keys cannot be named; verify the file itself to name them)"
                            ),
                        ),
                        max,
                    );
                }
                if !complete {
                    report.push(
                        Finding::warning(
                            self.records_offset,
                            "duplicate keys were looked for among part of the keys only: more keys than the memory budget holds, and a stream cannot be read twice (verify the file itself for the full check)",
                        ),
                        max,
                    );
                }
            }
        }
        report.errors.sort_by_key(|f| f.offset);
        report.dbs.retain(|_, s| s.keys > 0);
        report.ok = report.errors.is_empty();
        self.report
    }

    /// Finds the repeated key fingerprints now, with `find` (see
    /// [`dupkeys::DupKeys::settle_with`]): a driver passes a parallel one.
    /// [`Pass::finish`] does it otherwise.
    pub fn settle_duplicates(&mut self, find: impl FnOnce(&mut [&mut [u64]]) -> Vec<u64>) {
        self.dups.settle_with(find);
    }
}

/// A warning for each db whose cluster slot records do not add up to the
/// keys (or the keys with an expiry) the file holds for it: the server
/// wrote each record from its count of the slot's keys, so in a file as
/// written they agree, and keys lost or added since make them differ (a
/// checksum, when the file has one, says whether the bytes changed).
fn slot_count_findings(dbs: &BTreeMap<u64, DbStats>) -> Vec<Finding> {
    dbs.iter()
        .filter_map(|(&db, s)| {
            let c = s.slot_info?;
            (c.keys != s.keys || c.expires != s.expires).then(|| {
                Finding::warning(
                    c.first_offset,
                    format!(
                        "the {} cluster slot records (SLOT_INFO or slot-info) of db {db} count {} keys, {} with an expiry, where the file holds {}, {} with an expiry: the server counted other keys when it wrote the file",
                        c.slots, c.keys, c.expires, s.keys, s.expires
                    ),
                )
                .in_db(Some(db))
            })
        })
        .collect()
}

/// Verifies a whole RDB held in memory (or mapped), on the calling thread.
pub fn verify_rdb(data: &[u8], options: &Options) -> RdbReport {
    verify_rdb_in_batches(data, options, BATCH_RECORDS, &mut |_, _| {}, &|_, _| {})
}

/// [`verify_rdb`] in batches of `per_batch` records, calling `consumed`
/// with the offset read up to and the keys counted after each, and
/// `passed` as [`Pass::finish_passing`] does.
pub fn verify_rdb_in_batches(
    data: &[u8],
    options: &Options,
    per_batch: usize,
    consumed: &mut dyn FnMut(u64, u64),
    passed: &dyn Fn(u64, u64),
) -> RdbReport {
    let mut pass = match Pass::new(data, options) {
        Ok(p) => p,
        Err(report) => return *report,
    };
    let header = pass.header();
    let mut scratch = Scratch::new(options);
    let mut records = Records::new(data, header);
    let mut cursor = Cursor::default();
    // The checksum as the batches go (a little ahead of them), so that
    // no page is read again at the end (a mapped file's pages are
    // released behind the reader).
    let mut crc = crate::crc64::CrcAhead::new(data, header.body_end_guess(data.len()));
    loop {
        crc.reader_at(records.offset() as usize);
        let limits = (per_batch.max(1), u64::MAX, Across::Take);
        let (t, framed) = frame_and_tally(
            data,
            &header,
            options,
            &mut records,
            &mut cursor,
            limits,
            &mut scratch,
        );
        let last = framed.is_last();
        scratch.recycle(pass.absorb(t));
        consumed(framed.end, pass.keys());
        if last {
            break;
        }
    }
    crc.cover(records.offset() as usize);
    pass.finish_passing(data, Some(crc.finish()), passed)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_info_values_read_as_slot_keys_expires_with_more_fields_allowed() {
        assert_eq!(parse_slot_info(b"14601,1,0,0"), Some((14601, 1, 0)));
        assert_eq!(parse_slot_info(b"0,7,3"), Some((0, 7, 3)));
        for bad in [&b"1,2"[..], b"", b"a,b,c", b"1,-2,3", b"1,,3", b"\xff,1,1"] {
            assert_eq!(parse_slot_info(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_dbs_whose_slot_records_disagree_with_their_keys_are_named() {
        let counts = |keys, expires| SlotCounts {
            slots: 2,
            keys,
            expires,
            first_offset: 40,
        };
        let db = |keys, expires, slot_info| DbStats {
            keys,
            expires,
            slot_info,
            ..DbStats::default()
        };
        let dbs = BTreeMap::from([
            (0, db(5, 1, Some(counts(5, 1)))),
            (1, db(5, 1, Some(counts(6, 1)))),
            (2, db(5, 1, Some(counts(5, 0)))),
            (3, db(5, 1, None)),
        ]);
        let found = slot_count_findings(&dbs);
        let named: Vec<_> = found.iter().map(|f| (f.db, f.offset)).collect();
        assert_eq!(named, [(Some(1), 40), (Some(2), 40)]);
        assert!(found.iter().all(|f| f.severity == Severity::Warning));
    }
}
