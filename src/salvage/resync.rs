//! Deciding whether bytes are a real record, and finding the next real
//! record after damage.
//!
//! A record is *plausible* when it frames, its value deep-checks with the
//! verifier's [`check_value`], and it fits where it stands in the order the
//! servers write (`rdbSaveRio`): AUX fields with short printable names,
//! FUNCTION2 before the first SELECTDB, databases in ascending order, RESIZEDB right after SELECTDB, at
//! most one expiry and one LRU/LFU opcode before a key, an expiry between
//! 1970 and the year 4200, a non-empty key not seen before in its db, and an
//! EOF opcode only where the checksum trailer ends the file (or matches).
//!
//! A resync candidate must be plausible *and* be followed by more plausible
//! records bringing enough evidence (see [`Resync::confirm`]: key names in
//! text, packed values that deep-check, or a three times longer run of
//! binary-named plain keys), or by a plausible EOF. The scanner tries each
//! byte position at most once, moving forward only (plus at most
//! `MAX_INNER_RESCANS` searches inside a binary-named first key), and
//! every attempt reads at most `10 * confirm_records` records, so the work
//! is linear in the bytes skipped times the size of the few records read per
//! attempt.

use crate::crc64::Crc64;
use crate::rdb::consts::*;
use crate::rdb::primitives::parse_string;
use crate::rdb::value::walk_value;
use crate::rdb::{Header, Item, Magic, Record, Records, ValueType};
use crate::verify::fingerprint::fingerprint64;
use crate::verify::spill::SpillTo;
use crate::verify::value::{Scratch, check_value, check_value_with};
use std::cell::RefCell;
use std::collections::HashSet;

/// Latest plausible expiry: 2^53 ms is some 285,000 years away (tools
/// have written microseconds where milliseconds belong; random bytes are
/// still above it 99.9% of the time).
const MAX_PLAUSIBLE_EXPIRE_MS: i64 = 1 << 53;
/// Databases beyond this are not plausible (servers cap `databases` far
/// lower in practice; the default is 16).
pub const MAX_PLAUSIBLE_DB: u64 = 1 << 20;
/// Slots in a Redis or Valkey cluster.
const CLUSTER_SLOTS: u64 = 16384;
/// AUX field names are short words (`redis-ver`, `aof-base`, ...) or, in
/// Redis 3.x-4.x files, `__lua_script__` names (58 bytes).
const MAX_AUX_NAME: usize = 256;
/// Key names recognised inside a damaged region are at most this long.
const MAX_RECOGNISED_NAME: u64 = 1024;

/// UTF-8 without control characters.
pub fn is_text(b: &[u8]) -> bool {
    std::str::from_utf8(b).is_ok_and(|s| !s.chars().any(char::is_control))
}

/// Where the reader is in the file's structure: what the next record may be.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub db: u64,
    pub seen_select: bool,
    pub last_was_select: bool,
    pub pending_expire: bool,
    pub pending_lru: bool,
    /// Whether this writer puts a RESIZEDB right after each SELECTDB, as
    /// Redis, Valkey and KeyDB do (Dragonfly does not), learnt from the
    /// first SELECTDB: such writers also write each database once, in
    /// ascending order.
    pub resize_after_select: Option<bool>,
}

impl Context {
    /// The state after the key being read was lost to damage: its expiry
    /// and LRU/LFU opcodes went with it.
    pub fn lose_key(&mut self) {
        self.pending_expire = false;
        self.pending_lru = false;
    }

    /// Keys from here on are in `db`: a SELECTDB found inside damage.
    pub fn enter_db(&mut self, db: u64) {
        self.db = db;
        self.seen_select = true;
    }

    /// The state after `record` was accepted.
    pub fn advance(&mut self, record: &Record<'_>) {
        if self.last_was_select {
            self.resize_after_select
                .get_or_insert(matches!(record, Record::ResizeDb { .. }));
        }
        self.last_was_select = false;
        match *record {
            Record::SelectDb { db } => {
                self.db = db;
                self.seen_select = true;
                self.last_was_select = true;
            }
            Record::Expire { .. } => self.pending_expire = true,
            Record::Idle { .. } | Record::Freq { .. } => self.pending_lru = true,
            Record::Key(_) => {
                self.pending_expire = false;
                self.pending_lru = false;
            }
            _ => {}
        }
    }
}

/// The default [`SeenKeys`] budget.
pub const SEEN_KEYS_BUDGET: usize = 32 << 20;

/// Keys accepted so far, per db, as 64-bit fingerprints, within a memory
/// budget. While the set fits, every key is tracked. When it is full, only
/// fingerprints up to a limit are tracked, and the limit halves (dropping
/// the half above it) each time the set fills again: the check then covers
/// a fixed fraction of the keys instead of growing with them. A name seen
/// twice outside that fraction is not caught here; `extract` verifies its
/// output, where the verifier's duplicate check covers every key.
#[derive(Debug)]
pub struct SeenKeys {
    set: HashSet<u64>,
    /// Entries held at most.
    cap: usize,
    /// Fingerprints above this are not tracked.
    limit: u64,
}

impl Default for SeenKeys {
    fn default() -> Self {
        SeenKeys::with_budget(SEEN_KEYS_BUDGET)
    }
}

impl SeenKeys {
    /// A set whose table (8 bytes and a control byte per slot, at most 7/8
    /// full; while it grows or is rebuilt, old and new table coexist for a
    /// moment) stays within `budget` bytes.
    pub fn with_budget(budget: usize) -> Self {
        let slots = (budget / 18).max(16);
        let slots = if slots.is_power_of_two() {
            slots
        } else {
            slots.next_power_of_two() / 2
        };
        SeenKeys {
            set: HashSet::new(),
            cap: slots / 8 * 7,
            limit: u64::MAX,
        }
    }

    fn fingerprint(db: u64, key: &[u8]) -> u64 {
        // An odd multiplier keeps db -> offset one-to-one.
        fingerprint64(key) ^ db.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    pub fn contains(&self, db: u64, key: &[u8]) -> bool {
        self.set.contains(&Self::fingerprint(db, key))
    }

    pub fn insert(&mut self, db: u64, key: &[u8]) {
        let fp = Self::fingerprint(db, key);
        if fp > self.limit {
            return;
        }
        while self.set.len() >= self.cap && self.limit > 0 {
            self.limit /= 2;
            let limit = self.limit;
            // Rebuilt rather than `retain`ed: removals leave tombstones
            // that would make the table grow past its budget.
            let kept = self.set.iter().filter(|&&f| f <= limit).count();
            let mut next = HashSet::with_capacity(kept);
            next.extend(self.set.iter().copied().filter(|&f| f <= limit));
            self.set = next;
            if fp > self.limit {
                return;
            }
        }
        self.set.insert(fp);
    }

    pub fn remove(&mut self, db: u64, key: &[u8]) {
        self.set.remove(&Self::fingerprint(db, key));
    }

    /// Whether every key inserted so far is tracked.
    pub fn complete(&self) -> bool {
        self.limit == u64::MAX
    }
}

/// Why a record that framed is not accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// It does not fit the file's structure (message says why).
    Implausible(String),
    /// A key record whose value fails deep checks: framing may still be
    /// right, but the value is damaged.
    Value { offset: u64, message: String },
}

impl Rejection {
    pub fn message(&self) -> &str {
        match self {
            Rejection::Implausible(m) | Rejection::Value { message: m, .. } => m,
        }
    }
}

/// Judges one framed record `item` that ends at `end`, in context.
#[allow(clippy::too_many_arguments)]
pub fn judge(
    data: &[u8],
    header: &Header,
    item: &Item<'_>,
    end: u64,
    ctx: &Context,
    seen: &SeenKeys,
    crc: &PrefixCrc<'_>,
    spill: Option<SpillTo>,
) -> Result<(), Rejection> {
    let no = |m: String| Err(Rejection::Implausible(m));
    match item.record {
        Record::Eof => {
            // Trailing bytes after a real EOF are possible (servers ignore
            // them); so is a checksum of zero (`rdbchecksum no`) followed by
            // junk. A resync point needs more: see `Resync::confirm`.
            let stored = trailer(data, end);
            if eof_is_exact(crc, header, end) || (header.has_checksum() && stored == Some(0)) {
                Ok(())
            } else {
                no(format!(
                    "an EOF opcode followed by {} bytes that are not its checksum trailer",
                    data.len() as u64 - end.min(data.len() as u64)
                ))
            }
        }
        Record::SelectDb { db } if db > MAX_PLAUSIBLE_DB => {
            no(format!("SELECTDB {db}: not a plausible database number"))
        }
        Record::SelectDb { db } if ctx.resize_after_select == Some(true) => {
            if ctx.seen_select && db <= ctx.db {
                no(format!(
                    "SELECTDB {db} after db {}: this writer writes databases in ascending order",
                    ctx.db
                ))
            } else if data
                .get(end as usize)
                .is_some_and(|&b| b != RDB_OPCODE_RESIZEDB)
            {
                no(format!(
                    "SELECTDB {db} not followed by RESIZEDB, which this writer writes after every SELECTDB"
                ))
            } else {
                Ok(())
            }
        }
        // Valkey writes SLOT_IMPORT before the databases; Redis writes a
        // SLOT_INFO before each cluster slot's first key: a slot number,
        // its keys, and how many of them expire.
        Record::SlotImport { .. } if ctx.seen_select => {
            no("SLOT_IMPORT after the first SELECTDB".into())
        }
        Record::SlotInfo {
            slot,
            size,
            expires_size,
        } if slot >= CLUSTER_SLOTS || expires_size > size => no(format!(
            "SLOT_INFO slot {slot}, {size} keys, {expires_size} expiring: not a cluster slot's counts"
        )),
        Record::ResizeDb { .. } if !ctx.last_was_select => {
            no("RESIZEDB not directly after SELECTDB".into())
        }
        Record::Aux { key, value } => {
            // Redis writes AUX fields first, but Redis 4-5 (`lua`), KeyDB
            // and Dragonfly also write them after the databases, named in
            // words. Before the first SELECTDB only the name's size is
            // judged (old files hold long `__lua_script__` names).
            let name = key.to_bytes().unwrap_or_default();
            if value.to_bytes().is_err() {
                no("AUX value: invalid LZF data".into())
            } else if name.is_empty() || name.len() > MAX_AUX_NAME {
                no("AUX field name empty or too long".into())
            } else if ctx.seen_select && !is_text(&name) {
                // Damage framing as a late field can swallow any number of
                // real records.
                no("AUX field with a binary name after the first SELECTDB".into())
            } else {
                Ok(())
            }
        }
        Record::Function { .. } if ctx.seen_select => {
            no("FUNCTION2 after the first SELECTDB".into())
        }
        Record::Function { code } if code.to_bytes().is_err() => {
            no("FUNCTION2 library code: invalid LZF data".into())
        }
        Record::Expire { ms, .. } => {
            if ctx.pending_expire {
                no("two expiry opcodes before one key".into())
            } else if !(0..MAX_PLAUSIBLE_EXPIRE_MS).contains(&ms) {
                no(format!("expiry {ms} ms is not a plausible time"))
            } else {
                Ok(())
            }
        }
        Record::Idle { .. } | Record::Freq { .. } if ctx.pending_lru => {
            no("two LRU/LFU opcodes before one key".into())
        }
        Record::Key(k) => {
            let key = k
                .key
                .to_bytes()
                .map_err(|e| Rejection::Implausible(format!("key: {e}")))?;
            if key.is_empty() {
                return no("empty key name".into());
            }
            if header.magic == Magic::Redis && k.value_type.since_version() > header.version {
                return no(format!(
                    "type {} does not exist in RDB version {}",
                    k.type_byte, header.version
                ));
            }
            if seen.contains(ctx.db, &key) {
                // The record itself may be whole; it is left out because a
                // server aborts on the second copy.
                return Err(Rejection::Value {
                    offset: item.offset,
                    message: format!(
                        "duplicate key '{}' in db {}: every server aborts loading it, so it is left out",
                        crate::escape_bytes(&key),
                        ctx.db
                    ),
                });
            }
            let mut scratch = Scratch::default().with_spill(spill);
            let summary = match check_value_with(data, header, k.value_type, k.value, &mut scratch)
            {
                Ok(s) => s,
                // Too big to check here (no temporary file to spill to):
                // the record framed, so it is kept rather than called
                // damaged.
                Err(e) if e.is_memory_budget() => return Ok(()),
                Err(e) => {
                    return Err(Rejection::Value {
                        offset: e.offset_in(data),
                        message: e.to_string(),
                    });
                }
            };
            if summary.is_dropped_on_load(k.value_type.logical()) {
                return Err(Rejection::Value {
                    offset: item.offset,
                    message: "empty key: servers drop it silently on load".into(),
                });
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The 8 bytes after an EOF opcode ending at `end`, as the stored checksum.
fn trailer(data: &[u8], end: u64) -> Option<u64> {
    data.get(end as usize..(end as usize).checked_add(8)?)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
}

/// The CRC-64 of an input's first `end` bytes, for any `end`, carried
/// forward from the last one asked for. An EOF opcode's trailer is checked
/// against it wherever an EOF opcode turns up, and damaged bytes hold one
/// in every 256: computed from the start each time, a 4 MB region of
/// random bytes in a 150 MB file took 30 s of CRC alone. Going back
/// starts from the last checkpoint before `end` (one every MiB, 8 bytes
/// each): the search for records a key
/// was read over goes back over every key, where a ziplist's or
/// listpack's `FF` terminator reads as an EOF opcode (from the start
/// each time, 37% of a 44 MB file's salvage was CRC).
pub struct PrefixCrc<'d> {
    data: &'d [u8],
    /// How far the CRC has gone, and its state there.
    at: RefCell<(usize, Crc64)>,
    /// The CRC of the first `i * CRC_CHECKPOINT` bytes, for each `i` the
    /// CRC has passed.
    checkpoints: RefCell<Vec<u64>>,
}

/// Bytes between two [`PrefixCrc`] checkpoints: summed again, at most, to
/// go back (about 35 us).
const CRC_CHECKPOINT: usize = 1 << 20;

impl<'d> PrefixCrc<'d> {
    pub fn new(data: &'d [u8]) -> Self {
        PrefixCrc {
            data,
            at: RefCell::new((0, Crc64::new())),
            checkpoints: RefCell::new(vec![Crc64::new().finish()]),
        }
    }

    /// CRC-64 of `data[..end]` (`end` clamped to the input).
    fn of(&self, end: usize) -> u64 {
        let end = end.min(self.data.len());
        let mut at = self.at.borrow_mut();
        let mut checkpoints = self.checkpoints.borrow_mut();
        if end < at.0 {
            let i = (end / CRC_CHECKPOINT).min(checkpoints.len().saturating_sub(1));
            let from = i * CRC_CHECKPOINT;
            // (The CRC of no bytes is 0: CRC-64/Jones starts from 0.)
            let crc = checkpoints.get(i).copied().unwrap_or_default();
            *at = (from, Crc64::resume(crc, from as u64));
        }
        while at.0 < end {
            let next = (at.0 / CRC_CHECKPOINT + 1) * CRC_CHECKPOINT;
            let stop = end.min(next);
            let from = at.0;
            at.1.update(self.data.get(from..stop).unwrap_or_default());
            at.0 = stop;
            if stop == next && checkpoints.len() == next / CRC_CHECKPOINT {
                checkpoints.push(at.1.finish());
            }
        }
        at.1.finish()
    }
}

/// An EOF opcode ending at `end` is followed by exactly its trailer (or the
/// file is cut inside it), or by a trailer that matches the checksum.
fn eof_is_exact(crc: &PrefixCrc<'_>, header: &Header, end: u64) -> bool {
    let data = crc.data;
    let remaining = data.len() as u64 - end.min(data.len() as u64);
    let size = if header.has_checksum() { 8 } else { 0 };
    remaining <= size
        || (header.has_checksum() && trailer(data, end).is_some_and(|t| t == crc.of(end as usize)))
}

/// How a resync point was confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// A run of `n` plausible keys (and AUX fields), starting at the
    /// candidate, that brought enough evidence (see [`Resync::confirm`]).
    Records(usize),
    /// A plausible EOF opcode (with its trailer) within the chain.
    Eof,
}

/// What one record of a confirming chain is worth. A text name is hard to
/// come by in random bytes; so is a packed value (listpack, ziplist,
/// intset, zipmap, stream) that deep-checks, since its header states its
/// own size and count and every entry must agree. A key with a binary name
/// and a plain value (a string, or a list, set, hash or zset of strings)
/// is only a type byte and lengths that happen to fit: it counts for less.
pub const STRONG_RECORD: usize = 3;
const WEAK_RECORD: usize = 1;

/// The evidence a key record brings to a chain.
pub fn key_evidence(name: &[u8], t: ValueType) -> usize {
    if key_signs(name, t) > 0 {
        STRONG_RECORD
    } else {
        WEAK_RECORD
    }
}

/// How many signs of a real record a key shows, of two: a text name, and
/// a packed value that deep-checks.
pub fn key_signs(name: &[u8], t: ValueType) -> u8 {
    u8::from(is_text(name)) + u8::from(deep_checked(t))
}

/// Types whose values random bytes rarely pass as: packed blobs that
/// deep-check. A quicklist's nodes each state their container (plain or
/// packed), and packed ones deep-check, though a plain last node leaves its
/// end unchecked.
pub fn deep_checked(t: ValueType) -> bool {
    end_checked_by_encoding(t) || t == ValueType::ListQuicklist2
}

/// Types whose value ends in a packed blob whose own header and terminator
/// fix its size (ziplist, listpack, intset, zipmap, stream listpacks), so a
/// shifted end would fail deep checks.
pub fn end_checked_by_encoding(t: ValueType) -> bool {
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

/// The resync scanner's settings.
#[derive(Debug, Clone, Copy)]
pub struct Resync {
    /// Strong records (see [`key_evidence`]) in a row, candidate included,
    /// that confirm a resync point; weak ones count for a third.
    pub confirm_records: usize,
    /// Where the deep check of a value too big for the memory budget
    /// spills (see `verify::spill`); without it such a value is walked
    /// more often, or (an LZF blob) kept unchecked.
    pub spill: Option<SpillTo>,
}

impl Default for Resync {
    fn default() -> Self {
        Resync {
            confirm_records: 3,
            spill: None,
        }
    }
}

impl Resync {
    /// Whether a chain of plausible records starts at `at`: the candidate
    /// and what follows must bring `confirm_records` strong records' worth
    /// of evidence — keys with text names or packed values that deep-check,
    /// AUX fields with text names, or three times as many keys with binary
    /// names and plain values (UUIDs, hashes and packed ids are common key
    /// names) — with other records (SELECTDB, RESIZEDB, expiries) allowed
    /// between them, or, when its first key is strong, reach an EOF whose
    /// trailer ends the file or matches. Random bytes (LZF data especially) frame as short string
    /// records with binary names far more often than as text, hence the
    /// longer chain those need.
    pub fn confirm(
        &self,
        data: &[u8],
        header: &Header,
        at: usize,
        ctx: &Context,
        seen: &SeenKeys,
        crc: &PrefixCrc<'_>,
    ) -> Option<Confirmation> {
        self.confirm_chain(data, header, at, ctx, seen, crc)
            .map(|c| c.how)
    }

    /// [`Resync::confirm`], also saying where the chain's first key ends
    /// when that key is weak evidence.
    fn confirm_chain(
        &self,
        data: &[u8],
        header: &Header,
        at: usize,
        ctx: &Context,
        seen: &SeenKeys,
        crc: &PrefixCrc<'_>,
    ) -> Option<Chain> {
        let need = self.confirm_records.max(1) * STRONG_RECORD;
        let mut ctx = ctx.clone();
        let mut records = Records::starting_at(data, *header, at);
        let (mut evidence, mut keys) = (0, 0);
        let mut first_key: Option<FirstKey> = None;
        let mut first_was_select = false;
        // Opcodes between keys are bounded (expiry, LRU/LFU, KEY_META).
        for n in 0..need * 3 + STRONG_RECORD {
            let item = records.next()?.ok()?;
            let end = records.offset();
            judge(data, header, &item, end, &ctx, seen, crc, self.spill).ok()?;
            if n == 1
                && header.version >= 7
                && first_was_select
                && !matches!(item.record, Record::ResizeDb { .. })
            {
                // Since RDB 7 servers write RESIZEDB right after SELECTDB:
                // without it, a SELECTDB candidate is two stray bytes.
                return None;
            }
            first_was_select = n == 0 && matches!(item.record, Record::SelectDb { .. });
            match item.record {
                // An EOF ends a chain early, but it vouches only for a
                // chain that started on a strong key: damaged bytes framing
                // as a binary-named record or two just before the end
                // would otherwise pass.
                Record::Eof
                    if eof_is_exact(crc, header, end) && !first_key.is_some_and(|f| f.weak()) =>
                {
                    return Some(Chain {
                        how: Confirmation::Eof,
                        first_key,
                    });
                }
                Record::Eof => return None,
                Record::Key(k) => {
                    let name = k.key.to_bytes().ok()?;
                    if keys == 0 {
                        first_key = Some(FirstKey {
                            end: end as usize,
                            text: is_text(&name),
                            packed: deep_checked(k.value_type),
                        });
                    }
                    evidence += key_evidence(&name, k.value_type);
                    keys += 1;
                }
                Record::Aux { key, .. } if key.raw().is_some_and(is_text) => {
                    evidence += STRONG_RECORD;
                    keys += 1;
                }
                _ => {}
            }
            ctx.advance(&item.record);
            if evidence >= need {
                return Some(Chain {
                    how: Confirmation::Records(keys),
                    first_key,
                });
            }
        }
        None
    }

    /// The first confirmed record start at or after `from`, if any. Each
    /// position is tried at most once; bytes that cannot start a record
    /// (neither an object type of this dialect and version nor an opcode)
    /// cost one comparison.
    pub fn scan(
        &self,
        data: &[u8],
        header: &Header,
        from: usize,
        ctx: &Context,
        seen: &SeenKeys,
        crc: &PrefixCrc<'_>,
    ) -> Option<(usize, Confirmation)> {
        self.scan_counting(data, header, from, ctx, seen, crc).0
    }

    /// [`Resync::scan`], also returning how many candidate positions were
    /// tried (each reads at most `5 * confirm_records` records).
    pub fn scan_counting(
        &self,
        data: &[u8],
        header: &Header,
        from: usize,
        ctx: &Context,
        seen: &SeenKeys,
        crc: &PrefixCrc<'_>,
    ) -> (Option<(usize, Confirmation)>, u64) {
        self.scan_range(data, header, from..data.len(), ctx, seen, crc)
    }

    /// [`Resync::scan_counting`] over candidate positions in `range` only
    /// (the records that confirm them may lie beyond it).
    pub fn scan_range(
        &self,
        data: &[u8],
        header: &Header,
        range: std::ops::Range<usize>,
        ctx: &Context,
        seen: &SeenKeys,
        crc: &PrefixCrc<'_>,
    ) -> (Option<(usize, Confirmation)>, u64) {
        let start = range.start.max(crate::rdb::header::HEADER_LEN);
        let mut tried = 0;
        let mut first = |from: usize, to: usize, wins: &dyn Fn(&Chain) -> bool| {
            data.get(from..to.min(data.len())).and_then(|rest| {
                rest.iter()
                    .enumerate()
                    .filter(|&(_, &b)| could_start_record(header, b))
                    .find_map(|(i, _)| {
                        tried += 1;
                        self.confirm_chain(data, header, from + i, ctx, seen, crc)
                            .filter(|c| wins(c))
                            .map(|c| (from + i, c))
                    })
            })
        };
        let mut found = first(start, range.end, &|_| true);
        // A chain whose first key has a binary name may have started in
        // the damaged bytes (a fragment of a packed value deep-checks too)
        // and swallowed real records: a chain confirmed inside that first
        // record wins when it splits it, its own first key ending sooner.
        // Were the outer key real, it is lost, but it was doubtful anyway
        // (a plain one is marked suspect). A chain whose first key ends
        // where the outer one does is a fragment of it as often as the
        // real record under a fake one: only a first key showing more
        // signs of a real record (a text name, a packed value) wins.
        // (Letting any inner chain win walked from a real record
        // into fragments of it and past the records after it.)
        for _ in 0..MAX_INNER_RESCANS {
            let Some((
                at,
                Chain {
                    first_key: Some(outer),
                    ..
                },
            )) = found
            else {
                break;
            };
            if outer.text {
                break;
            }
            let splits = |inner: &Chain| {
                inner.first_key.is_some_and(|k| {
                    k.end < outer.end || (k.end == outer.end && k.signs() > outer.signs())
                })
            };
            match first(at + 1, outer.end, &splits) {
                Some(inner) => found = Some(inner),
                None => break,
            }
        }
        (found.map(|(at, c)| (at, c.how)), tried)
    }
}

/// Times a chain starting inside a binary-named first key replaces it, at
/// most (each search covers part of the one before, so this bounds the
/// work).
const MAX_INNER_RESCANS: usize = 4;

/// A confirmed chain.
#[derive(Debug, Clone, Copy)]
struct Chain {
    how: Confirmation,
    first_key: Option<FirstKey>,
}

/// The first key record of a chain.
#[derive(Debug, Clone, Copy)]
struct FirstKey {
    end: usize,
    /// Its name is text ([`is_text`]).
    text: bool,
    /// Its value is packed and deep-checked ([`deep_checked`]).
    packed: bool,
}

impl FirstKey {
    /// Weak evidence (see [`key_evidence`]): a binary name, a plain value.
    fn weak(&self) -> bool {
        !self.text && !self.packed
    }

    /// How many signs of a real record it shows, of two: a text name and a
    /// packed value.
    fn signs(&self) -> u8 {
        u8::from(self.text) + u8::from(self.packed)
    }
}

/// Whether `b` is an object type of this file's dialect and version, or an
/// opcode.
pub fn could_start_record(header: &Header, b: u8) -> bool {
    match ValueType::from_byte(header, b) {
        Ok(t) => header.magic != Magic::Redis || t.since_version() <= header.version,
        Err(_) => b >= RDB_OPCODE_SLOT_INFO || (b == RDB_OPCODE_KEY_META && header.version >= 13),
    }
}

/// The key of a key record that seems to start at `at`: a valid type byte
/// and a printable name of two characters or more, not longer than `MAX_RECOGNISED_NAME`.
pub fn key_header_at(data: &[u8], header: &Header, at: usize) -> Option<(ValueType, Vec<u8>)> {
    let b = *data.get(at)?;
    let t = ValueType::from_byte(header, b).ok()?;
    let (_, key) = parse_string(data.get(at + 1..)?, "key").ok()?;
    let name = key.raw()?;
    let printable = |c: &u8| (0x20..0x7f).contains(c);
    (name.len() >= 2 && name.len() as u64 <= MAX_RECOGNISED_NAME && name.iter().all(printable))
        .then(|| (t, name.to_vec()))
}

/// Key names recognisable in `data[start..end]`: a key header whose value
/// also deep-checks. These are guesses for triage, not keys that can be saved.
pub fn names_in_region(
    data: &[u8],
    header: &Header,
    start: usize,
    end: usize,
    max: usize,
) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end.min(data.len()) && out.len() < max {
        let found = key_header_at(data, header, at).and_then(|(t, name)| {
            let value_at = at + 1 + name.len() + length_prefix_len(name.len());
            let value = data.get(value_at..)?;
            let (rest, ()) = walk_value(value, t, header.version, &mut ()).ok()?;
            let framed = value.get(..value.len() - rest.len())?;
            check_value(data, header, t, framed).ok()?;
            Some(name)
        });
        match found {
            Some(name) => {
                let skip = 1 + name.len();
                out.push((at as u64, name));
                at += skip;
            }
            None => at += 1,
        }
    }
    out
}

/// Bytes `rdbSaveLen` uses for a raw string's length prefix.
fn length_prefix_len(n: usize) -> usize {
    match n {
        0..64 => 1,
        64..16384 => 2,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_crc_is_the_crc_of_the_prefix_whatever_order_it_is_asked_in() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let crc = PrefixCrc::new(&data);
        for end in [0, 10, 10, 4000, 17, 4999, 5000, 9000, 3] {
            let want = crate::crc64::crc64(&data[..end.min(data.len())]);
            assert_eq!(crc.of(end), want, "end {end}");
        }
    }

    fn header() -> Header {
        Header::parse(b"REDIS0011").unwrap()
    }

    /// A string key record: type 0, key, value (6-bit lengths).
    fn string_record(key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut r = vec![RDB_TYPE_STRING, key.len() as u8];
        r.extend_from_slice(key);
        r.push(value.len() as u8);
        r.extend_from_slice(value);
        r
    }

    /// A context after a SELECTDB: where keys are expected.
    fn selected() -> Context {
        Context {
            seen_select: true,
            ..Context::default()
        }
    }

    /// [`Resync::scan`] of `f` from `from`, no keys seen yet.
    fn scan(f: &[u8], h: &Header, from: usize, ctx: &Context) -> Option<(usize, Confirmation)> {
        Resync::default().scan(f, h, from, ctx, &SeenKeys::default(), &PrefixCrc::new(f))
    }

    /// [`Resync::scan_counting`] of `f` from `from`, no keys seen yet.
    fn scan_counting(
        f: &[u8],
        h: &Header,
        from: usize,
        ctx: &Context,
    ) -> (Option<(usize, Confirmation)>, u64) {
        Resync::default().scan_counting(f, h, from, ctx, &SeenKeys::default(), &PrefixCrc::new(f))
    }

    fn file(records: &[Vec<u8>]) -> Vec<u8> {
        let mut f = b"REDIS0011\xfe\x00".to_vec();
        for r in records {
            f.extend_from_slice(r);
        }
        f.push(RDB_OPCODE_EOF);
        let crc = crate::crc64::crc64(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    #[test]
    fn finds_the_next_record_after_garbage() {
        let a = string_record(b"alpha", b"1");
        let b = string_record(b"bravo", b"2");
        let c = string_record(b"charlie", b"3");
        let d = string_record(b"delta", b"4");
        let garbage = vec![0xee; 7];
        let f = file(&[a.clone(), garbage, b, c, d]);
        let ctx = selected();
        let from = 11 + a.len();
        let (at, how) = scan(&f, &header(), from, &ctx).expect("resynchronised");
        assert_eq!(at, from + 7);
        assert_eq!(how, Confirmation::Records(3));
    }

    #[test]
    fn a_lone_plausible_record_is_not_enough() {
        // A zeroed run parses as a string record with an empty key and
        // value: rejected (empty key), so the scan moves past it.
        let zeros = vec![0u8; 64];
        let b = string_record(b"bravo", b"2");
        let f = file(&[zeros, b]);
        let ctx = selected();
        let (at, how) = scan(&f, &header(), 11, &ctx).expect("resynchronised");
        assert_eq!(at, 11 + 64, "the key record after the zeros");
        // bravo, then EOF with its exact trailer.
        assert_eq!(how, Confirmation::Eof);
    }

    #[test]
    fn terminates_without_a_match_on_pure_garbage_and_advances() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut f = b"REDIS0011".to_vec();
        for _ in 0..64 * 1024 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            f.push(rng as u8);
        }
        let r = Resync::default();
        let mut from = 9;
        let mut hits = 0;
        // Every scan returns a position strictly after its start, so this
        // loop ends; random bytes almost never confirm.
        let crc = PrefixCrc::new(&f);
        while let Some((at, _)) = r.scan(
            &f,
            &header(),
            from,
            &Context::default(),
            &SeenKeys::default(),
            &crc,
        ) {
            assert!(at >= from);
            from = at + 1;
            hits += 1;
        }
        assert!(hits <= 2, "{hits} confirmed resync points in random bytes");
    }

    #[test]
    fn random_bytes_confirm_no_resync_in_any_dialect_now_that_binary_names_count() {
        // Binary-named keys with plain values count for a third of a text
        // name, so a chain of them must be three times longer: random
        // bytes still never make one. (4 MiB per dialect: no hit either.)
        for magic in [&b"REDIS0009"[..], b"REDIS0011", b"REDIS0012", b"VALKEY080"] {
            let h = Header::parse(magic).unwrap();
            let mut rng = 0x9e37_79b9_7f4a_7c15u64;
            let mut f = magic.to_vec();
            for _ in 0..256 * 1024 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                f.push(rng as u8);
            }
            let ctx = selected();
            let (found, tried) = scan_counting(&f, &h, 9, &ctx);
            assert_eq!(found, None, "{magic:?}");
            assert!(tried > 10_000, "{magic:?}: {tried} candidates");
        }
    }

    #[test]
    fn a_run_of_binary_named_plain_keys_confirms_when_long_enough() {
        let key = |i: u8| [0xde, 0xad, i, 0x00, 0xff, 0x80, 0x01, i];
        let records: Vec<Vec<u8>> = (0..12)
            .map(|i| string_record(&key(i), b"a plain value"))
            .collect();
        let mut garbage_then = vec![vec![0xee; 5]];
        garbage_then.extend(records.iter().cloned());
        let f = file(&garbage_then);
        let ctx = selected();
        let (at, how) = scan(&f, &header(), 11, &ctx).expect("resynchronised on binary names");
        assert_eq!(at, 16);
        assert_eq!(
            how,
            Confirmation::Records(9),
            "three weak keys per strong one"
        );
        // Two of them are not enough evidence, and an EOF right after them
        // does not vouch for a chain that starts on a weak key; after a
        // text-named key it does.
        let short = file(&[vec![0xee; 5], records[0].clone(), records[1].clone()]);
        let found = scan(&short, &header(), 11, &ctx);
        assert_eq!(
            found,
            Some((short.len() - 9, Confirmation::Eof)),
            "only the EOF itself"
        );
        let text_first = file(&[
            vec![0xee; 5],
            string_record(b"user:1", b"x"),
            records[0].clone(),
        ]);
        let found = scan(&text_first, &header(), 11, &ctx);
        assert_eq!(found, Some((16, Confirmation::Eof)));
    }

    #[test]
    fn a_chain_inside_a_binary_named_record_wins_only_when_it_splits_it() {
        let binary = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
        // Its value frames as a whole record of its own, ending where the
        // outer one does: a fragment, not a record it swallowed.
        let holds_a_fragment = string_record(&binary, b"\x00\x02\x99\x98\x03abc");
        let after: Vec<Vec<u8>> = ["user:1", "user:2", "user:3", "user:4", "user:5"]
            .iter()
            .map(|k| string_record(k.as_bytes(), b"v"))
            .collect();
        let mut records = vec![vec![0xee; 5], holds_a_fragment.clone()];
        records.extend(after.iter().cloned());
        let f = file(&records);
        assert_eq!(
            scan(&f, &header(), 11, &selected()).map(|(at, _)| at),
            Some(16)
        );
        // A fake record over real ones: the real chain inside it wins.
        let mut swallowed = Vec::new();
        for r in &after[..2] {
            swallowed.extend_from_slice(r);
        }
        let mut fake = vec![RDB_TYPE_STRING, binary.len() as u8];
        fake.extend_from_slice(&binary);
        fake.push(swallowed.len() as u8);
        let fake_end = 16 + fake.len();
        let mut records = vec![vec![0xee; 5], fake, swallowed];
        records.extend(after[2..].iter().cloned());
        let f = file(&records);
        assert_eq!(
            scan(&f, &header(), 11, &selected()).map(|(at, _)| at),
            Some(fake_end)
        );
    }

    #[test]
    fn each_position_is_tried_at_most_once() {
        // Zeros: every byte is a candidate (type 0), none confirms.
        let f = [&b"REDIS0011\xfe\x00"[..], &[0u8; 4096]].concat();
        let ctx = selected();
        let (found, tried) = scan_counting(&f, &header(), 11, &ctx);
        assert_eq!(found, None);
        assert!(tried <= 4096, "{tried} attempts for 4096 bytes");
        assert!(tried > 0);
    }

    /// [`judge`] of `item`, ending at `end` in `f`, with no keys seen.
    fn judge_in(f: &[u8], item: &Item<'_>, end: u64, ctx: &Context) -> Result<(), Rejection> {
        let seen = SeenKeys::default();
        judge(
            f,
            &header(),
            item,
            end,
            ctx,
            &seen,
            &PrefixCrc::new(f),
            None,
        )
    }

    /// Judges the record at `at` in `f`, in `ctx`.
    fn judge_at(f: &[u8], at: usize, ctx: &Context) -> Result<(), Rejection> {
        let mut records = Records::starting_at(f, header(), at);
        let item = records.next().unwrap().unwrap();
        judge_in(f, &item, records.offset(), ctx)
    }

    #[test]
    fn a_writer_that_resizes_after_select_selects_each_db_once_and_names_late_aux_in_words() {
        let mut f = b"REDIS0011\xfe\x01\xfb\x01\x00".to_vec();
        f.extend(string_record(b"k", b"v"));
        let after_key = f.len();
        f.extend(b"\xfe\x00\xfb\x01\x00"); // db 0 after db 1
        let lone_select = f.len();
        f.extend(b"\xfe\x05"); // db 5 without RESIZEDB
        f.extend(string_record(b"x", b"y"));
        let binary_aux = f.len();
        f.extend(b"\xfa\x02\x0f\xf8\x01z");
        let text_aux = f.len();
        f.extend(b"\xfa\x03lua\x01z");
        f.push(RDB_OPCODE_EOF);
        let mut ctx = Context::default();
        for at in [9, 11, 14] {
            let mut records = Records::starting_at(&f, header(), at);
            let item = records.next().unwrap().unwrap();
            assert_eq!(judge_at(&f, at, &ctx), Ok(()), "record at {at}");
            ctx.advance(&item.record);
        }
        assert_eq!(ctx.resize_after_select, Some(true));
        assert_eq!(ctx.db, 1);
        let rejected = |at: usize| judge_at(&f, at, &ctx).map_err(|e| e.message().to_owned());
        assert!(rejected(after_key).unwrap_err().contains("ascending order"));
        assert!(
            rejected(lone_select)
                .unwrap_err()
                .contains("not followed by RESIZEDB")
        );
        assert!(rejected(binary_aux).unwrap_err().contains("binary name"));
        assert_eq!(rejected(text_aux), Ok(()));
        // A writer seen to select without resizing (Dragonfly) is held to
        // neither rule; before the first SELECTDB, AUX names may be binary.
        let free = Context {
            resize_after_select: Some(false),
            ..ctx.clone()
        };
        assert_eq!(judge_at(&f, after_key, &free), Ok(()));
        assert_eq!(judge_at(&f, lone_select, &free), Ok(()));
        assert_eq!(judge_at(&f, binary_aux, &Context::default()), Ok(()));
    }

    #[test]
    fn slot_records_hold_a_cluster_slots_counts_and_slot_imports_come_before_the_dbs() {
        let f = file(&[]);
        let judge_record = |record: Record<'static>, ctx: &Context| {
            judge_in(&f, &Item { offset: 0, record }, 0, ctx)
        };
        let info = |slot, size, expires_size| Record::SlotInfo {
            slot,
            size,
            expires_size,
        };
        assert_eq!(judge_record(info(16383, 5, 5), &selected()), Ok(()));
        assert!(judge_record(info(16384, 5, 0), &selected()).is_err());
        assert!(judge_record(info(7, 5, 6), &selected()).is_err());
        let import = Record::SlotImport { ranges: 1 };
        assert_eq!(judge_record(import, &Context::default()), Ok(()));
        assert!(judge_record(import, &selected()).is_err());
    }

    #[test]
    fn rules_follow_the_servers_write_order() {
        let h = header();
        let seen = SeenKeys::default();
        let mut ctx = Context::default();
        let f = file(&[string_record(b"k", b"v")]);
        let items: Vec<_> = Records::new(&f, h).map(|i| i.unwrap()).collect();
        // SELECTDB 0, then RESIZEDB only right after a SELECTDB.
        assert!(
            judge(
                &f,
                &h,
                &items[0],
                11,
                &ctx,
                &seen,
                &PrefixCrc::new(&f),
                None
            )
            .is_ok()
        );
        let resize = Item {
            offset: 0,
            record: Record::ResizeDb {
                db_size: 1,
                expires_size: 0,
            },
        };
        assert!(judge(&f, &h, &resize, 0, &ctx, &seen, &PrefixCrc::new(&f), None).is_err());
        ctx.advance(&items[0].record);
        assert!(judge(&f, &h, &resize, 0, &ctx, &seen, &PrefixCrc::new(&f), None).is_ok());
        let expire = Item {
            offset: 0,
            record: Record::Expire {
                ms: -5,
                seconds: false,
            },
        };
        assert!(judge(&f, &h, &expire, 0, &ctx, &seen, &PrefixCrc::new(&f), None).is_err());
        let mut dup = SeenKeys::default();
        dup.insert(0, b"k");
        assert!(judge(&f, &h, &items[1], 15, &ctx, &dup, &PrefixCrc::new(&f), None).is_err());
        assert!(
            judge(
                &f,
                &h,
                &items[1],
                15,
                &ctx,
                &seen,
                &PrefixCrc::new(&f),
                None
            )
            .is_ok()
        );
        // EOF mid-file (not followed by exactly the trailer) is rejected.
        let eof = Item {
            offset: 0,
            record: Record::Eof,
        };
        assert!(judge(&f, &h, &eof, 5, &ctx, &seen, &PrefixCrc::new(&f), None).is_err());
        assert!(
            judge(
                &f,
                &h,
                &eof,
                f.len() as u64 - 8,
                &ctx,
                &seen,
                &PrefixCrc::new(&f),
                None
            )
            .is_ok()
        );
    }

    #[test]
    fn seen_keys_track_every_key_while_they_fit_and_stay_within_their_budget() {
        let mut small = SeenKeys::with_budget(1 << 20);
        for i in 0..1000u32 {
            small.insert(0, &i.to_le_bytes());
        }
        assert!(small.complete());
        assert!((0..1000u32).all(|i| small.contains(0, &i.to_le_bytes())));
        assert!(!small.contains(1, &0u32.to_le_bytes()), "per db");
        let budget = 64 << 10;
        let mut s = SeenKeys::with_budget(budget);
        for i in 0..100_000u32 {
            s.insert(0, &i.to_le_bytes());
            // hashbrown: 8/7 slots per item of capacity, 9 bytes per slot.
            assert!(s.set.capacity() * 8 / 7 * 9 <= budget / 2);
        }
        assert!(!s.complete());
        let tracked = (0..100_000u32)
            .filter(|i| s.contains(0, &i.to_le_bytes()))
            .count();
        assert!(tracked > s.cap / 4 && tracked <= s.cap, "{tracked}");
    }

    #[test]
    fn recognises_names_in_a_region() {
        let a = string_record(b"user:1", b"x");
        let mut region = vec![0xee, 0xee];
        region.extend_from_slice(&a);
        let f = file(&[region]);
        let names = names_in_region(&f, &header(), 11, f.len(), 10);
        assert_eq!(names, vec![(13, b"user:1".to_vec())]);
    }

    #[test]
    fn prefix_crc_goes_back_and_forth_over_checkpoints() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let data: Vec<u8> = (0..3 * CRC_CHECKPOINT + 777)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let crc = PrefixCrc::new(&data);
        let ends = [
            0,
            5,
            CRC_CHECKPOINT,
            3 * CRC_CHECKPOINT + 700,
            CRC_CHECKPOINT - 1,
            2 * CRC_CHECKPOINT + 3,
            7,
            data.len() + 10,
            CRC_CHECKPOINT + 1,
        ];
        for end in ends {
            let end = end.min(data.len());
            assert_eq!(
                crc.of(end),
                crate::crc64::crc64(&data[..end]),
                "prefix of {end}"
            );
        }
    }
}
