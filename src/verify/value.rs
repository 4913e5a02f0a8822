//! Deep checks of one value: every string inflated, every packed blob
//! walked by its encoding module, and the invariants of the RDB *type*
//! (pairs even, members unique, scores numeric, TTLs in order, stream
//! groups consistent) — what `rdbLoadObject` checks with
//! `sanitize-dump-payload yes`, and more.

use crate::encoding::{self, Element, EncodingError, PackedElements};
use crate::rdb::consts::*;
use crate::rdb::error::{Error, ErrorKind};
use crate::rdb::primitives::RdbString;
use crate::rdb::value::{BlobKind, FieldTtl, StreamIdPair, StreamMeta, ValueVisitor, walk_value};
use crate::rdb::{Header, ValueType};
use crate::verify::fingerprint::fingerprint128;
use crate::verify::members::{Members, SMALL, Seen};
use crate::verify::pel::{self, PelTable};
use crate::verify::spill::{BufferFactory, SpillBuffer, SpillTo};
use std::borrow::Cow;

mod small;

/// What deep checking learnt about a value that passed.
#[derive(Debug, Default, Clone)]
pub struct ValueSummary {
    /// Elements (list items, set/zset members, hash fields, stream entries)
    /// or, for strings, 1.
    pub elements: u64,
    /// Hash fields carrying a TTL.
    pub fields_with_ttl: u64,
    /// Module type name, for module values.
    pub module: Option<String>,
    /// Non-fatal observations (e.g. LZF with declared length 0).
    pub warnings: Vec<(u64, String)>,
}

/// An empty list, set, zset or hash: servers drop it silently on load.
/// (Empty streams are legal: XDEL can empty one and it stays.)
pub fn dropped_on_load(elements: u64, t: crate::rdb::LogicalType) -> bool {
    use crate::rdb::LogicalType::*;
    elements == 0 && matches!(t, List | Set | Zset | Hash)
}

impl ValueSummary {
    pub fn is_dropped_on_load(&self, t: crate::rdb::LogicalType) -> bool {
        dropped_on_load(self.elements, t)
    }
}

/// Memory a `Checker` reuses from one value to the next, so that the
/// common small value allocates nothing, and the bound on what one value
/// may cost, however many members it has.
pub struct Scratch {
    members: Members,
    /// See [`Checker::unique`].
    firsts: Vec<std::ops::Range<usize>>,
    /// Where packed blobs stored with LZF are inflated, kept from one to
    /// the next (see [`Checker::with_blob`]).
    inflated: Vec<u8>,
    /// Largest LZF payload inflated into memory.
    inflate_limit: u64,
    /// Where a larger one is inflated instead, if anywhere.
    spill_blobs: Option<BufferFactory>,
    budget: usize,
    /// Whether a small value may take the fast path of [`small`] (off
    /// only to compare the two).
    fast_path: bool,
}

/// Heap one checking thread may use for one value when the caller says
/// nothing (`Options::value_budget`): half for member fingerprints, half
/// for an inflated LZF blob. Two threads' worth and the duplicate-key
/// tracker's 48 MiB stay under 64 MiB.
pub const VALUE_BUDGET: usize = 6 << 20;

/// The least a thread gets, whatever it is given: below it the
/// fingerprint walks multiply for no real saving.
pub const MIN_VALUE_BUDGET: usize = 64 << 10;

impl Default for Scratch {
    fn default() -> Self {
        Scratch::with_budget(VALUE_BUDGET)
    }
}

impl Scratch {
    /// Scratch for one checking thread using at most about `bytes` of heap
    /// per value (at least [`MIN_VALUE_BUDGET`]): half for remembering
    /// members (more walks of a value beyond it, same verdict), half for an
    /// inflated LZF blob (a larger one is an [`ErrorKind::MemoryBudget`]
    /// error).
    pub fn with_budget(bytes: usize) -> Self {
        let bytes = bytes.max(MIN_VALUE_BUDGET);
        Scratch {
            members: Members::with_budget(bytes / 2),
            firsts: Vec::new(),
            inflated: Vec::new(),
            inflate_limit: (bytes / 2) as u64,
            spill_blobs: None,
            budget: bytes,
            fast_path: true,
        }
    }

    /// Every value takes the full walk, none the fast path for small
    /// values, and every member of a walk goes through the general
    /// visitor methods, none through the `_raw` ones: for tests and fuzz
    /// targets that compare the two.
    pub fn without_fast_path(mut self) -> Self {
        self.fast_path = false;
        self
    }

    /// Lets a value too big for the budget spill (see [`super::spill`]):
    /// its member fingerprints, or its LZF blob to inflate.
    pub fn with_spill(mut self, spill: Option<SpillTo>) -> Self {
        self.members = std::mem::take(&mut self.members).with_spill(spill.map(|s| s.members));
        self.spill_blobs = spill.map(|s| s.blobs);
        self
    }

    /// The budget in force, after the floor.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// How many walks the last value checked took (1 unless its members
    /// did not fit at once or it had a duplicate to locate).
    pub fn last_walks(&self) -> u32 {
        self.members.walks()
    }
}

/// Member fingerprints kept from one big value for the next: the rest is
/// freed, so a giant value does not pin its memory for the small ones.
const SCRATCH_KEEP: usize = 1 << 16;

/// Checks a framed value. `value` must be a sub-slice of `file` (for
/// offsets). Returns the summary, or the first problem found.
pub fn check_value<'a>(
    file: &'a [u8],
    header: &Header,
    t: ValueType,
    value: &'a [u8],
) -> Result<ValueSummary, Error> {
    check_value_with(file, header, t, value, &mut Scratch::default())
}

/// [`check_value`] with scratch memory (and its budget) from the caller.
///
/// A value with more members than the budget remembers at once is walked
/// again, once per range of member fingerprints (see [`super::members`]);
/// the first walk does every other check, and the report is the one a
/// single walk with unbounded memory would give.
///
/// Inlined: for the common small value it is the fast path for small
/// values (the `small` module) and nothing else, so that its caller
/// builds the summary in place.
#[inline(always)]
pub fn check_value_with<'a>(
    file: &'a [u8],
    header: &Header,
    t: ValueType,
    value: &'a [u8],
    scratch: &mut Scratch,
) -> Result<ValueSummary, Error> {
    // A stream keeps its own table by range (its PEL): no spilling.
    let spill = t.logical() != crate::rdb::LogicalType::Stream;
    scratch.members.start_value(SCRATCH_KEEP, spill);
    if scratch.fast_path
        && let Some(elements) = small::elements(t, value)
    {
        return Ok(ValueSummary {
            elements,
            ..ValueSummary::default()
        });
    }
    walk_checking(file, header, t, value, scratch)
}

/// [`check_value_with`] by walking the value with a [`Checker`], as many
/// times as its members need.
#[inline(never)]
fn walk_checking<'a>(
    file: &'a [u8],
    header: &Header,
    t: ValueType,
    value: &'a [u8],
    scratch: &mut Scratch,
) -> Result<ValueSummary, Error> {
    let (found_at, first) = walk_once(file, header, t, value, scratch, false);
    if scratch.members.single_walk() {
        return first;
    }
    more_walks(file, header, t, value, scratch, found_at, first)
}

/// One walk of the value: where it found a duplicate (a position, see
/// [`Members::position`]) and its outcome. Inlined: for the usual
/// small value it is all `check_value_with` does. `nodes_checked`: an
/// earlier walk found every stream node valid (see [`Checker::nodes_checked`]).
#[inline(always)]
fn walk_once<'a>(
    file: &'a [u8],
    header: &Header,
    t: ValueType,
    value: &'a [u8],
    scratch: &mut Scratch,
    nodes_checked: bool,
) -> (Option<u64>, Result<ValueSummary, Error>) {
    let direct = scratch.members.single_walk() && scratch.members.position() == 0;
    scratch.firsts.clear();
    let mut c = Checker {
        file,
        t,
        summary: ValueSummary::default(),
        members: &mut scratch.members,
        duplicate_at: None,
        inflate_limit: scratch.inflate_limit,
        spill_blobs: scratch.spill_blobs,
        direct,
        firsts: &mut scratch.firsts,
        inflated: &mut scratch.inflated,
        min_expire: 0,
        last_ttl: None,
        stream: None,
        nodes_checked,
        raw_path: scratch.fast_path,
    };
    let result = match walk_value(value, t, header.version, &mut c) {
        Ok(_) => c.finish(value),
        Err(e) => Err(crate::rdb::error::unwrap_nom(e, value)),
    };
    (c.duplicate_at, result.map(|()| c.summary))
}

/// The walks after the first, for a value whose members did not all fit
/// at once or that has a duplicate to locate. Every other check repeats
/// the first walk's, so only a duplicate (at the lowest position any walk
/// finds) can change the outcome.
#[cold]
#[inline(never)]
fn more_walks<'a>(
    file: &'a [u8],
    header: &Header,
    t: ValueType,
    value: &'a [u8],
    scratch: &mut Scratch,
    found_at: Option<u64>,
    first: Result<ValueSummary, Error>,
) -> Result<ValueSummary, Error> {
    let mut duplicate = None;
    if let (Some(at), Err(e)) = (found_at, &first) {
        scratch.members.found_at(at);
        duplicate = Some(e.clone());
    }
    // A first walk without error checked every stream node: later walks
    // read only what they need to tell ranges apart (node keys, groups,
    // PELs), not the listpacks again (two thirds of a walk of a stream).
    let nodes_checked = first.is_ok();
    while scratch.members.next_walk() {
        if let (Some(at), Err(e)) = walk_once(file, header, t, value, scratch, nodes_checked) {
            // Later walks stop before this position.
            scratch.members.found_at(at);
            duplicate = Some(e);
        }
    }
    match duplicate {
        Some(e) => Err(e),
        None => first,
    }
}

#[derive(Default)]
struct StreamState {
    live_entries: u64,
    max_entry_id: Option<encoding::stream::StreamId>,
    /// Groups read so far: consumer names are unique within a group, so
    /// their fingerprints are salted with it.
    groups: u64,
    consumer_salt: u128,
    /// This group's PEL entries whose fingerprint ([`pel::fingerprint`])
    /// lies in the walk's range ([`Members::in_range`]), by ID, with what
    /// claimed them ([`OWNED`], [`NACKED`]).
    pel: PelTable,
    meta: Option<StreamMeta>,
}

/// A consumer's PEL holds the entry.
const OWNED: u8 = 1;
/// The group's NACK zone holds the entry.
const NACKED: u8 = 2;

struct Checker<'a, 'm> {
    file: &'a [u8],
    t: ValueType,
    summary: ValueSummary,
    /// Fingerprints of members/fields seen so far in this value's walk.
    members: &'m mut Members,
    /// Where (in [`Members::position`]s) this walk found a duplicate.
    duplicate_at: Option<u64>,
    inflate_limit: u64,
    spill_blobs: Option<BufferFactory>,
    /// Members stored as strings are still compared directly
    /// ([`Checker::unique`]): the first walk, nothing offered to
    /// `members` yet.
    direct: bool,
    /// Those members, as byte ranges of `file` (kept in [`Scratch`], so
    /// that a value costs no array to set up).
    firsts: &'m mut Vec<std::ops::Range<usize>>,
    /// [`Scratch::inflated`].
    inflated: &'m mut Vec<u8>,
    min_expire: u64,
    /// Last non-zero field TTL in an HFE listpack (None before the first
    /// field; Some(0) after a field without TTL).
    last_ttl: Option<u64>,
    /// Only streams need it; built on first use, since seven empty hash
    /// sets per value are a measurable cost on files of small keys.
    stream: Option<Box<StreamState>>,
    /// An earlier walk found every stream node's listpack valid: this one
    /// skips them. Its own outcome then counts only for the errors that
    /// depend on the walk's range ([`Checker::range_error`]), which never
    /// come from a listpack; `more_walks` ignores the rest.
    nodes_checked: bool,
    /// Members stored raw come through the `_raw` visitor methods (off
    /// with [`Scratch::without_fast_path`], to compare the two).
    raw_path: bool,
}

/// A string's bytes as a check reads them: borrowed from the file,
/// inflated on the heap, or inflated into a spill buffer.
enum Inflated<'a> {
    Borrowed(&'a [u8]),
    /// An integer-encoded string's text.
    Int(encoding::Decimal),
    Heap(Vec<u8>),
    Spilled(Box<dyn SpillBuffer>),
}

impl std::ops::Deref for Inflated<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Inflated::Borrowed(b) => b,
            Inflated::Int(d) => d.as_bytes(),
            Inflated::Heap(v) => v,
            Inflated::Spilled(b) => b,
        }
    }
}

fn err(at: &[u8], msg: impl Into<String>) -> Error {
    Error::invalid(at, msg)
}

impl<'a> Checker<'a, '_> {
    /// The bytes of `s`: borrowed when it is stored raw (inlined, it is
    /// nearly every string), else inflated.
    #[inline(always)]
    fn inflate(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<Inflated<'a>, Error> {
        match s {
            RdbString::Raw(b) => Ok(Inflated::Borrowed(b)),
            _ => self.inflate_encoded(at, s),
        }
    }

    /// Runs `check` on the bytes of the packed blob `s`: borrowed when it
    /// is stored raw, else inflated into [`Scratch::inflated`], which grows
    /// to the largest blob inflated so far (within the inflate limit) and
    /// is reused, so that a blob costs no allocation and no zeroing.
    /// Quicklist nodes and stream listpacks are stored with LZF, one every
    /// few kilobytes of a list or stream. Larger blobs, and the other
    /// encodings, take [`Checker::inflate`].
    fn with_blob<R>(
        &mut self,
        at: &'a [u8],
        s: RdbString<'a>,
        check: impl FnOnce(&mut Self, &[u8]) -> Result<R, Error>,
    ) -> Result<R, Error> {
        match s {
            RdbString::Raw(raw) => check(self, raw),
            RdbString::Lzf { len, compressed } if len > 0 && len <= self.inflate_limit => {
                let lzf = |e| Error::at(at, ErrorKind::Lzf(e));
                let want = crate::lzf::checked_want(compressed, len).map_err(lzf)?;
                let mut buffer = std::mem::take(self.inflated);
                if buffer.len() < want {
                    buffer.resize(want, 0);
                }
                let out = buffer.get_mut(..want).unwrap_or_default();
                let result = match crate::lzf::decompress_into(compressed, out) {
                    Ok(()) => check(self, buffer.get(..want).unwrap_or_default()),
                    Err(e) => Err(lzf(e)),
                };
                *self.inflated = buffer;
                result
            }
            _ => {
                let b = self.inflate(at, s)?;
                check(self, &b)
            }
        }
    }

    #[inline(never)]
    fn inflate_encoded(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<Inflated<'a>, Error> {
        if let RdbString::Int(i) = s {
            // Sets of integers are stored so, a member each: no allocation.
            return Ok(Inflated::Int(encoding::Decimal::new(i)));
        }
        if let RdbString::Lzf { len, compressed } = s
            && len > self.inflate_limit
        {
            return self.inflate_outside_heap(at, compressed, len);
        }
        if let RdbString::Lzf { len: 0, compressed } = s {
            if !compressed.is_empty() {
                self.summary.warnings.push((
                    self.offset(at),
                    "LZF string with uncompressed length 0 and non-empty data: servers accept it, no writer produces it".into(),
                ));
            }
            return Ok(Inflated::Borrowed(&[]));
        }
        match s.to_bytes() {
            Ok(Cow::Borrowed(b)) => Ok(Inflated::Borrowed(b)),
            Ok(Cow::Owned(v)) => Ok(Inflated::Heap(v)),
            Err(e) => Err(Error::at(at, ErrorKind::Lzf(e))),
        }
    }

    /// An LZF string too big for the heap's share: inflated into a spill
    /// buffer when there is one (the same checks and errors as on the
    /// heap), else not checked at all ("could not run", exit status 2).
    #[cold]
    fn inflate_outside_heap(
        &mut self,
        at: &'a [u8],
        compressed: &'a [u8],
        len: u64,
    ) -> Result<Inflated<'a>, Error> {
        let budget = || {
            Error::at(
                at,
                ErrorKind::MemoryBudget {
                    what: "inflating an LZF-compressed string",
                    needed: len,
                    allowed: self.inflate_limit,
                },
            )
        };
        let Some(make) = self.spill_blobs else {
            return Err(budget());
        };
        // Lengths first: an implausible one must not cost a file.
        let want = crate::lzf::checked_want(compressed, len)
            .map_err(|e| Error::at(at, ErrorKind::Lzf(e)))?;
        let mut buffer = make(want).map_err(|_| budget())?;
        crate::lzf::decompress_into(compressed, &mut buffer)
            .map_err(|e| Error::at(at, ErrorKind::Lzf(e)))?;
        Ok(Inflated::Spilled(buffer))
    }

    fn stream(&mut self) -> &mut StreamState {
        self.stream.get_or_insert_with(Default::default)
    }

    /// Like [`Checker::inflate`] for a string whose bytes are not needed:
    /// LZF is validated without being inflated.
    fn check_inflates(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        match s {
            RdbString::Lzf { len, compressed } if len > 0 => {
                crate::lzf::validate(compressed, len).map_err(|e| Error::at(at, ErrorKind::Lzf(e)))
            }
            _ => self.inflate(at, s).map(drop),
        }
    }

    /// Where `s` lies in the file, if it does (an empty string lies
    /// anywhere).
    fn range_in_file(&self, s: &[u8]) -> Option<std::ops::Range<usize>> {
        if s.is_empty() {
            return Some(0..0);
        }
        let start = (s.as_ptr() as usize).checked_sub(self.file.as_ptr() as usize)?;
        let end = start.checked_add(s.len())?;
        (end <= self.file.len()).then_some(start..end)
    }

    fn offset(&self, at: &[u8]) -> u64 {
        (at.as_ptr() as usize).saturating_sub(self.file.as_ptr() as usize) as u64
    }

    /// Offers a member to [`Members`]: `Ok(false)` for a duplicate (the
    /// caller words the error), an error when this walk may stop.
    #[inline]
    fn first_time(&mut self, at: &'a [u8], member: &[u8]) -> Result<bool, Error> {
        self.first_time_in(at, member, 0)
    }

    /// [`Checker::first_time`] among the names of one kind (`salt`): a
    /// stream's node keys, group names, each group's consumers ... share
    /// the value's [`Members`] without meeting each other.
    fn first_time_in(&mut self, at: &'a [u8], member: &[u8], salt: u128) -> Result<bool, Error> {
        match self.members.insert(fingerprint128(member) ^ salt) {
            Seen::New => Ok(true),
            Seen::Duplicate => {
                self.duplicate_at = Some(self.members.position() - 1);
                Ok(false)
            }
            Seen::Stop => Err(err(at, STOPPED)),
        }
    }

    /// An error only a walk covering the right fingerprint range can see
    /// (a duplicate, a PEL entry missing): located by position, so that
    /// the one at the lowest position across walks is reported.
    fn range_error(&mut self, at: &'a [u8], msg: &str) -> Result<(), Error> {
        self.duplicate_at = Some(self.members.position().saturating_sub(1));
        Err(err(at, msg))
    }

    /// A stream ID read in a consumer group, as the key of
    /// [`StreamState::pel`], when its fingerprint lies in this walk's range.
    fn pel_id_in_range(&mut self, at: &'a [u8], id: &[u8]) -> Result<Option<u128>, Error> {
        if self.members.tick() == Seen::Stop {
            return Err(err(at, STOPPED));
        }
        let id = u128::from_be_bytes(id16(id));
        Ok(self.members.in_range(pel::fingerprint(id)).then_some(id))
    }

    /// Slots of the PEL table at most, from the budget's inflation half
    /// (stream listpacks, read before the groups, are inflated one at a
    /// time and freed).
    fn pel_slots(&self) -> usize {
        usize::try_from(self.inflate_limit / pel::SLOT_BYTES)
            .unwrap_or(usize::MAX)
            .max(256)
    }

    /// Full: narrows the walk's range until the entries of this group that
    /// stay in it leave room. False if the entry `id` is no longer in the
    /// range.
    #[cold]
    fn shed_pel(&mut self, id: u128) -> bool {
        while self.stream().pel.is_full() && self.members.narrow() {
            let members = &*self.members;
            if let Some(st) = self.stream.as_deref_mut() {
                st.pel.retain(|fp| members.in_range(fp));
            }
        }
        self.members.in_range(pel::fingerprint(id))
    }

    /// A set/zset member or hash field stored as its own string must be
    /// new. The first ones of the first walk, read straight from the file,
    /// are compared directly (most such values have a handful, and
    /// fingerprinting each cost more than comparing); from the first
    /// that is not, or past SMALL, they go to `members` in order, as if
    /// they had been fingerprinted one by one, so the outcome and any
    /// later walk are the same either way.
    #[inline(always)]
    fn unique(&mut self, at: &'a [u8], b: &Inflated<'a>, what: &str) -> Result<(), Error> {
        if let Inflated::Borrowed(member) = *b
            && self.direct
            && self.firsts.len() < SMALL
            && let Some(range) = self.range_in_file(member)
        {
            let file = self.file;
            if self
                .firsts
                .iter()
                .any(|r| file.get(r.clone()).unwrap_or_default() == member)
            {
                self.duplicate_at = Some(self.firsts.len() as u64);
                return Err(duplicate_member(at, b, what));
            }
            self.firsts.push(range);
            return Ok(());
        }
        self.unique_by_fingerprint(at, b, what)
    }

    /// [`Checker::unique`] past the direct comparisons: the members compared
    /// so far are offered to `members` first, in order (once a value, out
    /// of line), then this one. Inlined into the member visitors: for a
    /// big collection this is the whole cost of a member after parsing,
    /// and the calls and the `Result` returned through memory were a
    /// third of it.
    #[inline(always)]
    fn unique_by_fingerprint(
        &mut self,
        at: &'a [u8],
        b: &Inflated<'a>,
        what: &str,
    ) -> Result<(), Error> {
        if self.direct {
            self.offer_firsts(at)?;
        }
        let seen = self.members.insert(fingerprint128(b));
        if seen == Seen::New {
            Ok(())
        } else {
            Err(self.not_new(at, b, what, seen))
        }
    }

    /// Offers the members compared directly so far to `members`, in order:
    /// from here on every member is fingerprinted.
    #[cold]
    #[inline(never)]
    fn offer_firsts(&mut self, at: &'a [u8]) -> Result<(), Error> {
        self.direct = false;
        let file = self.file;
        for i in 0..self.firsts.len() {
            let r = self.firsts.get(i).cloned().unwrap_or_default();
            self.first_time(at, file.get(r).unwrap_or_default())?;
        }
        Ok(())
    }

    /// The error for a member [`Members::insert`] did not find new: a
    /// duplicate (at the position just offered), or a walk that may stop.
    #[cold]
    #[inline(never)]
    fn not_new(&mut self, at: &'a [u8], member: &[u8], what: &str, seen: Seen) -> Error {
        if seen == Seen::Duplicate {
            self.duplicate_at = Some(self.members.position() - 1);
            duplicate_member(at, member, what)
        } else {
            err(at, STOPPED)
        }
    }

    /// Error inside a blob: at the exact file byte when the blob is stored
    /// raw, else at the blob's string with the decompressed offset named.
    #[cold]
    #[inline(never)]
    fn blob_error(at: &'a [u8], s: &RdbString<'a>, what: &str, e: EncodingError) -> Error {
        match s.raw() {
            Some(raw) => err(
                raw.get(e.offset..).unwrap_or(raw),
                format!("{what} integrity check failed: {}", e.message),
            ),
            None => err(
                at,
                format!(
                    "{what} integrity check failed: {} (at byte {} of the decompressed blob)",
                    e.message, e.offset
                ),
            ),
        }
    }

    #[inline(always)]
    fn set_member_bytes(&mut self, at: &'a [u8], member: &Inflated<'a>) -> Result<(), Error> {
        self.unique(at, member, "set member")
            .map_err(|e| err(at, format!("Duplicate set members detected: {e}")))?;
        self.summary.elements += 1;
        Ok(())
    }

    #[inline(always)]
    fn zset_member_bytes(
        &mut self,
        at: &'a [u8],
        member: &Inflated<'a>,
        score: f64,
    ) -> Result<(), Error> {
        self.unique(at, member, "zset member")
            .map_err(|e| err(at, format!("Duplicate zset fields detected: {e}")))?;
        self.check_score(at, score)?;
        self.summary.elements += 1;
        Ok(())
    }

    #[inline(always)]
    fn hash_field_unique(&mut self, at: &'a [u8], field: &Inflated<'a>) -> Result<(), Error> {
        self.unique(at, field, "hash field")
            .map_err(|e| err(at, format!("Duplicate hash fields detected: {e}")))
    }

    fn check_score(&self, at: &'a [u8], score: f64) -> Result<(), Error> {
        if score.is_nan() {
            Err(err(at, "Zset with NAN score detected"))
        } else {
            Ok(())
        }
    }

    #[inline(always)]
    fn finish(&mut self, value: &'a [u8]) -> Result<(), Error> {
        if self.t.stream_version().is_some() {
            return self.finish_stream(value);
        }
        Ok(())
    }

    #[cold]
    fn finish_stream(&mut self, value: &'a [u8]) -> Result<(), Error> {
        let Some(meta) = self.stream().meta else {
            return Ok(());
        };
        if meta.length > 0 && meta.nodes == 0 {
            return Err(err(value, "Stream length inconsistent with rax entries"));
        }
        let live = self.stream().live_entries;
        if meta.length != live {
            // Servers load such streams (XLEN then reports the stored
            // length), so this is a warning, not a load failure.
            let at = self.offset(value);
            self.summary.warnings.push((
                at,
                format!(
                    "stream length {} does not match the {live} live entries in its listpacks",
                    meta.length
                ),
            ));
        }
        if let Some(max) = self.stream().max_entry_id
            && (meta.last_id.ms, meta.last_id.seq) < (max.ms, max.seq)
        {
            return Err(err(
                value,
                format!(
                    "stream last id {}-{} is lower than entry {}-{}",
                    meta.last_id.ms, meta.last_id.seq, max.ms, max.seq
                ),
            ));
        }
        self.summary.elements = meta.length;
        Ok(())
    }
}

/// Salts of the stream name kinds remembered in [`Members`] (any distinct
/// constants: a salted fingerprint equals another kind's only by chance).
const NODE_KEY_SALT: u128 = 0x6e6f_6465_6b65_7973_0000_0000_0000_0001;
const GROUP_SALT: u128 = 0x6772_6f75_7073_0000_0000_0000_0000_0002;
const CONSUMER_SALT: u128 = 0x636f_6e73_756d_6572_0000_0000_0000_0003;
const PRODUCER_SALT: u128 = 0x7072_6f64_7563_6572_0000_0000_0000_0004;

/// The error of a walk stopped past a duplicate already found at an
/// earlier position: never reported, that duplicate is.
const STOPPED: &str = "walk stopped past a known duplicate";

fn truncated(b: &[u8]) -> &[u8] {
    b.get(..64).unwrap_or(b)
}

fn id16(id: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    if let Some(src) = id.get(..16) {
        out.copy_from_slice(src);
    }
    out
}

impl<'a> ValueVisitor<'a> for Checker<'a, '_> {
    fn string_value(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        self.check_inflates(at, s)?;
        self.summary.elements = 1;
        Ok(())
    }

    fn list_item(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        self.check_inflates(at, s)?;
        self.summary.elements += 1;
        Ok(())
    }

    fn set_member(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        let b = self.inflate(at, s)?;
        self.set_member_bytes(at, &b)
    }

    fn set_member_raw(&mut self, at: &'a [u8], member: &'a [u8]) -> Result<(), Error> {
        if !self.raw_path {
            return self.set_member(at, RdbString::Raw(member));
        }
        self.set_member_bytes(at, &Inflated::Borrowed(member))
    }

    fn zset_member(
        &mut self,
        at: &'a [u8],
        member: RdbString<'a>,
        score: f64,
    ) -> Result<(), Error> {
        let b = self.inflate(at, member)?;
        self.zset_member_bytes(at, &b, score)
    }

    fn zset_member_raw(&mut self, at: &'a [u8], member: &'a [u8], score: f64) -> Result<(), Error> {
        if !self.raw_path {
            return self.zset_member(at, RdbString::Raw(member), score);
        }
        self.zset_member_bytes(at, &Inflated::Borrowed(member), score)
    }

    fn hash_field_raw(
        &mut self,
        at: &'a [u8],
        field: &'a [u8],
        value: &'a [u8],
    ) -> Result<(), Error> {
        if !self.raw_path {
            let (field, value) = (RdbString::Raw(field), RdbString::Raw(value));
            return self.hash_field(at, field, value, FieldTtl::None);
        }
        // A value stored raw has nothing to check, and there is no TTL.
        self.hash_field_unique(at, &Inflated::Borrowed(field))?;
        self.summary.elements += 1;
        Ok(())
    }

    fn hash_min_expire(&mut self, at: &'a [u8], min_expire: u64) -> Result<(), Error> {
        if min_expire > EB_EXPIRE_TIME_INVALID {
            return Err(err(
                at,
                format!("Hash read invalid minExpire value: {min_expire} is above 2^48"),
            ));
        }
        self.min_expire = min_expire;
        Ok(())
    }

    fn hash_field(
        &mut self,
        at: &'a [u8],
        field: RdbString<'a>,
        value: RdbString<'a>,
        ttl: FieldTtl,
    ) -> Result<(), Error> {
        let f = self.inflate(at, field)?;
        // A value stored raw has nothing to check: no call for it.
        if !matches!(value, RdbString::Raw(_)) {
            self.check_inflates(at, value)?;
        }
        self.hash_field_unique(at, &f)?;
        let has_ttl = match ttl {
            FieldTtl::None => false,
            FieldTtl::Absolute(0) | FieldTtl::Relative(0) => false,
            FieldTtl::Absolute(t) => {
                if t > EB_EXPIRE_TIME_MAX {
                    return Err(err(at, format!("invalid expireAt time: {t}")));
                }
                true
            }
            FieldTtl::Relative(t) => {
                let expire_at = t
                    .checked_add(self.min_expire)
                    .and_then(|v| v.checked_sub(1));
                match expire_at {
                    Some(v) if v <= EB_EXPIRE_TIME_MAX => true,
                    _ => {
                        return Err(err(
                            at,
                            format!(
                                "invalid expireAt time: relative TTL {t} + minExpire {} - 1 exceeds 2^48-1",
                                self.min_expire
                            ),
                        ));
                    }
                }
            }
            FieldTtl::Valkey(-1) => false,
            FieldTtl::Valkey(t) if t < -1 => {
                return Err(err(
                    at,
                    format!("hash field expiry {t}: expected -1 (none) or a time in ms"),
                ));
            }
            FieldTtl::Valkey(_) => true,
        };
        if has_ttl {
            self.summary.fields_with_ttl += 1;
        }
        self.summary.elements += 1;
        Ok(())
    }

    fn blob(&mut self, at: &'a [u8], kind: BlobKind, s: RdbString<'a>) -> Result<(), Error> {
        self.with_blob(at, s, |c, bytes| c.blob_owned(at, kind, &s, bytes))
    }

    fn quicklist_plain(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        if s.is_empty() {
            return Err(err(
                at,
                "Quicklist integrity check failed: plain node of length 0",
            ));
        }
        self.check_inflates(at, s)?;
        self.summary.elements += 1;
        Ok(())
    }

    fn module_value(&mut self, _at: &'a [u8], module_id: u64, _items: u64) -> Result<(), Error> {
        let (name, _) = crate::rdb::primitives::module_type_name(module_id);
        self.summary.module = Some(name);
        self.summary.elements = 1;
        Ok(())
    }

    fn stream_node(
        &mut self,
        at: &'a [u8],
        key: RdbString<'a>,
        lp: RdbString<'a>,
    ) -> Result<(), Error> {
        let k = self.inflate(at, key)?;
        let Ok(k16) = <[u8; 16]>::try_from(&*k) else {
            return Err(err(
                at,
                format!(
                    "Stream node key entry is not the size of a stream ID: expected 16 bytes, found {}",
                    k.len()
                ),
            ));
        };
        if !self.first_time_in(at, &k16, NODE_KEY_SALT)? {
            return Err(err(at, "Listpack re-added with existing key"));
        }
        if lp.is_empty() {
            return Err(err(at, "Empty listpack inside stream"));
        }
        if self.nodes_checked {
            return Ok(());
        }
        let master = encoding::stream::StreamId::from_be_bytes(&k16);
        let summary = self.with_blob(at, lp, |_, blob| {
            encoding::stream::validate_node(blob, master)
                .map_err(|e| Self::blob_error(at, &lp, "Stream listpack", e))
        })?;
        let st = self.stream();
        st.live_entries = st.live_entries.saturating_add(summary.live_entries);
        if let Some(last) = summary.last_any {
            self.stream().max_entry_id = Some(match self.stream().max_entry_id {
                Some(m) if m > last => m,
                _ => last,
            });
        }
        Ok(())
    }

    fn stream_meta(&mut self, _at: &'a [u8], meta: &StreamMeta) -> Result<(), Error> {
        self.stream().meta = Some(*meta);
        Ok(())
    }

    fn stream_group(
        &mut self,
        at: &'a [u8],
        name: RdbString<'a>,
        _last_id: StreamIdPair,
        _entries_read: Option<u64>,
    ) -> Result<(), Error> {
        let n = self.inflate(at, name)?;
        if !self.first_time_in(at, &n, GROUP_SALT)? {
            return Err(err(
                at,
                format!(
                    "Duplicated consumer group name {}",
                    crate::escape_bytes(truncated(&n))
                ),
            ));
        }
        let st = self.stream();
        st.groups += 1;
        st.consumer_salt = fingerprint128(&st.groups.to_le_bytes()) ^ CONSUMER_SALT;
        Ok(())
    }

    fn stream_pel(
        &mut self,
        at: &'a [u8],
        id: &'a [u8],
        _delivery_ms: i64,
        _count: u64,
    ) -> Result<(), Error> {
        let Some(id) = self.pel_id_in_range(at, id)? else {
            return Ok(());
        };
        if self.stream().pel.is_full() && !self.shed_pel(id) {
            return Ok(());
        }
        if !self.stream().pel.insert(id) {
            return self.range_error(
                at,
                "Duplicated global PEL entry loading stream consumer group",
            );
        }
        Ok(())
    }

    fn stream_pel_len(&mut self, _at: &'a [u8], len: u64) -> Result<(), Error> {
        // Sized for the group's entries in this walk's range (all of
        // them, on the first walk); a table still too small for them
        // narrows the range, see `shed_pel`.
        let slots = self.pel_slots();
        self.stream().pel.reset(len, slots);
        Ok(())
    }

    fn stream_consumer(
        &mut self,
        at: &'a [u8],
        name: RdbString<'a>,
        _seen: i64,
        _active: Option<i64>,
    ) -> Result<(), Error> {
        let n = self.inflate(at, name)?;
        let salt = self.stream().consumer_salt;
        if !self.first_time_in(at, &n, salt)? {
            return Err(err(at, "Duplicate stream consumer detected."));
        }
        Ok(())
    }

    fn stream_consumer_pel(&mut self, at: &'a [u8], id: &'a [u8]) -> Result<(), Error> {
        let Some(id) = self.pel_id_in_range(at, id)? else {
            return Ok(());
        };
        match self.stream().pel.flags_mut(id) {
            None => self.range_error(at, "Consumer entry not found in group global PEL"),
            Some(flags) if *flags & OWNED != 0 => self.range_error(
                at,
                "Duplicated consumer PEL entry loading a stream consumer group",
            ),
            Some(flags) => {
                *flags |= OWNED;
                Ok(())
            }
        }
    }

    fn stream_nack(&mut self, at: &'a [u8], id: &'a [u8]) -> Result<(), Error> {
        let Some(id) = self.pel_id_in_range(at, id)? else {
            return Ok(());
        };
        match self.stream().pel.flags_mut(id) {
            None => self.range_error(at, "Stream NACK zone entry not found in group global PEL"),
            Some(flags) if *flags & OWNED != 0 => {
                self.range_error(at, "Stream NACK zone entry has a consumer assigned")
            }
            Some(flags) => {
                *flags |= NACKED;
                Ok(())
            }
        }
    }

    fn stream_group_end(&mut self, at: &'a [u8]) -> Result<(), Error> {
        // Every walk looks at the entries of its own range: the message
        // cannot name a count without depending on the budget.
        if self.members.tick() == Seen::Stop {
            return Err(err(at, STOPPED));
        }
        // The range may have narrowed since the PEL was read (more member
        // fingerprints than fit): entries outside it now are another
        // walk's, and their consumers were not looked at.
        let members = &*self.members;
        let unowned = self
            .stream
            .as_deref()
            .is_some_and(|st| st.pel.any(|fp, flags| flags == 0 && members.in_range(fp)));
        if unowned {
            return self.range_error(at, "Stream CG PEL entry without consumer");
        }
        Ok(())
    }

    fn stream_idmp(&mut self, at: &'a [u8], duration: u64, max_entries: u64) -> Result<(), Error> {
        if !(1..=86400).contains(&duration) {
            return Err(err(
                at,
                format!("Stream IDMP duration out of range: {duration}, expected 1..86400"),
            ));
        }
        if !(1..=10000).contains(&max_entries) {
            return Err(err(
                at,
                format!("Stream IDMP max entries out of range: {max_entries}, expected 1..10000"),
            ));
        }
        Ok(())
    }

    fn stream_idmp_producer(&mut self, at: &'a [u8], pid: RdbString<'a>) -> Result<(), Error> {
        let p = self.inflate(at, pid)?;
        if !self.first_time_in(at, &p, PRODUCER_SALT)? {
            return Err(err(at, "Stream IDMP duplicate producer id"));
        }
        Ok(())
    }
}

impl<'a> Checker<'a, '_> {
    /// Validates one packed blob (already inflated) by its encoding, then
    /// the type's rules.
    fn blob_owned(
        &mut self,
        at: &'a [u8],
        kind: BlobKind,
        s: &RdbString<'a>,
        blob: &[u8],
    ) -> Result<(), Error> {
        use encoding::{intset::Intset, listpack::Listpack, ziplist::Ziplist, zipmap::Zipmap};
        // Packed elements borrow `blob`, which may be a temporary; check
        // uniqueness through owned fingerprints so nothing outlives it.
        let what = blob_name(kind);
        let bad = |e: EncodingError| Self::blob_error(at, s, what, e);
        let n = match kind {
            BlobKind::HashZipmap => {
                let zm = Zipmap::parse(blob).map_err(bad)?;
                let mut n = 0u64;
                for pair in zm.entries() {
                    let (f, _v) = pair.map_err(bad)?;
                    if !self.first_time(at, f)? {
                        return Err(err(
                            at,
                            format!(
                                "Hash zipmap with dup elements: '{}'",
                                crate::escape_bytes(truncated(f))
                            ),
                        ));
                    }
                    n += 1;
                }
                n
            }
            BlobKind::SetIntset => {
                let is = Intset::parse(blob).map_err(bad)?;
                is.check_values().map_err(bad)? as u64
            }
            BlobKind::ListZiplist | BlobKind::QuicklistZiplist => {
                count(&Ziplist::parse(blob).map_err(bad)?, bad)?
            }
            BlobKind::QuicklistListpack => count(&Listpack::parse(blob).map_err(bad)?, bad)?,
            BlobKind::HashZiplist => {
                let zl = Ziplist::parse(blob).map_err(bad)?;
                self.tuples(at, what, &zl, bad, |_, &[_, _]| Ok(()))?
            }
            BlobKind::ZsetZiplist => {
                let zl = Ziplist::parse(blob).map_err(bad)?;
                self.tuples(at, what, &zl, bad, |_, &[_, score]| {
                    check_score_element(at, what, score)
                })?
            }
            BlobKind::HashListpack => {
                let lp = Listpack::parse(blob).map_err(bad)?;
                self.tuples(at, what, &lp, bad, |_, &[_, _]| Ok(()))?
            }
            BlobKind::ZsetListpack => {
                let lp = Listpack::parse(blob).map_err(bad)?;
                self.tuples(at, what, &lp, bad, |_, &[_, score]| {
                    check_score_element(at, what, score)
                })?
            }
            BlobKind::SetListpack => {
                let lp = Listpack::parse(blob).map_err(bad)?;
                self.tuples(at, what, &lp, bad, |_, &[_]| Ok(()))?
            }
            BlobKind::HashListpackEx => {
                let lp = Listpack::parse(blob).map_err(bad)?;
                self.tuples(at, what, &lp, bad, |c, &[_, _, ttl]| {
                    c.check_field_ttl(at, what, ttl)
                })?
            }
        };
        self.summary.elements = self.summary.elements.saturating_add(n);
        Ok(())
    }

    /// Reads the elements of a packed set, zset or hash as tuples of `W`
    /// (member; member and score; field and value; field, value and TTL):
    /// the first of each must be unique in the value, and `check` looks at
    /// each whole tuple. Returns the number of tuples.
    ///
    /// Inlined into each caller, so that every kind gets its own loop with
    /// the element walk and the check in it.
    #[inline(always)]
    fn tuples<'b, const W: usize>(
        &mut self,
        at: &'a [u8],
        what: &str,
        packed: &impl PackedElements<'b>,
        bad: impl Fn(EncodingError) -> Error,
        mut check: impl FnMut(&mut Self, &[Element<'b>; W]) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let mut firsts = Firsts::new(self.members.single_walk() && self.members.position() == 0);
        let mut tuple = [Element::Int(0); W];
        // Where the next element goes in `tuple`.
        let mut slot = 0;
        let n = packed.try_for_each_element(
            bad,
            #[inline(always)]
            |e| {
                if slot == 0 && !firsts.first_time(self, at, e)? {
                    return Err(duplicate_in_blob(at, what, W, e));
                }
                if let Some(place) = tuple.get_mut(slot) {
                    *place = e;
                }
                slot += 1;
                if slot == W {
                    slot = 0;
                    check(self, &tuple)?;
                }
                Ok(())
            },
        )?;
        if slot != 0 {
            return Err(not_a_multiple(at, what, n as u64, W));
        }
        Ok((n / W) as u64)
    }

    /// A field's TTL in an HFE listpack: an integer in range, and no lower
    /// than the one before (fields without TTL come last).
    fn check_field_ttl(&mut self, at: &'a [u8], what: &str, ttl: Element<'_>) -> Result<(), Error> {
        let ttl = match ttl {
            Element::Int(v) if v >= 0 && (v as u64) <= EB_EXPIRE_TIME_MAX => v as u64,
            other => {
                return Err(err(
                    at,
                    format!(
                        "{what} integrity check failed: field TTL must be an integer in 0..2^48-1, found '{}'",
                        crate::escape_bytes(truncated(&other.to_bytes()))
                    ),
                ));
            }
        };
        match (self.last_ttl, ttl) {
            (Some(0), t) if t != 0 => {
                return Err(err(
                    at,
                    format!(
                        "{what} integrity check failed: a field with TTL {t} follows a field without TTL"
                    ),
                ));
            }
            (Some(prev), t) if t != 0 && t < prev => {
                return Err(err(
                    at,
                    format!(
                        "{what} integrity check failed: field TTLs not ascending ({t} after {prev})"
                    ),
                ));
            }
            _ => {}
        }
        if ttl != 0 {
            self.summary.fields_with_ttl += 1;
        }
        self.last_ttl = Some(ttl);
        Ok(())
    }
}

/// The first members (or fields) of a packed value walked for the first
/// time, compared with each other directly: nearly every packed value has
/// a handful, and comparing them costs less than fingerprinting each (and
/// formats no integer). Past [`SMALL`] they are handed to [`Members`] in
/// order, as if they had been fingerprinted one by one, so the outcome and
/// every later walk are the same either way.
struct Firsts<'b> {
    held: [Element<'b>; SMALL],
    len: usize,
    direct: bool,
}

impl<'b> Firsts<'b> {
    #[inline(always)]
    fn new(direct: bool) -> Self {
        Firsts {
            // Not all zeros: sixteen stores, where zeros were a memset call.
            held: [Element::Bytes(&[]); SMALL],
            len: 0,
            direct,
        }
    }

    /// Whether `e` is new in the value; an error when the walk may stop
    /// (see [`Checker::first_time`]).
    #[inline(always)]
    fn first_time<'a>(
        &mut self,
        c: &mut Checker<'a, '_>,
        at: &'a [u8],
        e: Element<'b>,
    ) -> Result<bool, Error> {
        if self.direct {
            if let Some((earlier, [slot, ..])) = self.held.split_at_mut_checked(self.len) {
                if earlier.iter().any(|m| m.same_string(&e)) {
                    c.duplicate_at = Some(self.len as u64);
                    return Ok(false);
                }
                *slot = e;
                self.len += 1;
                return Ok(true);
            }
            self.direct = false;
            for m in self.held {
                m.with_bytes(|b| c.first_time(at, b))?;
            }
        }
        e.with_bytes(|b| c.first_time(at, b))
    }
}

/// Counts the elements of a packed list, each checked by the walk.
#[inline(always)]
fn count<'b>(
    packed: &impl PackedElements<'b>,
    bad: impl Fn(EncodingError) -> Error,
) -> Result<u64, Error> {
    packed
        .try_for_each_element(bad, |_| Ok(()))
        .map(|n| n as u64)
}

#[cold]
#[inline(never)]
fn duplicate_member(at: &[u8], member: &[u8], what: &str) -> Error {
    err(
        at,
        format!(
            "duplicate {what} '{}'",
            crate::escape_bytes(truncated(member))
        ),
    )
}

#[cold]
#[inline(never)]
fn duplicate_in_blob(at: &[u8], what: &str, width: usize, e: Element<'_>) -> Error {
    err(
        at,
        format!(
            "{what} integrity check failed: duplicate {} '{}'",
            if width == 1 { "member" } else { "field/member" },
            crate::escape_bytes(truncated(&e.to_bytes()))
        ),
    )
}

#[cold]
#[inline(never)]
fn not_a_multiple(at: &[u8], what: &str, n: u64, width: usize) -> Error {
    err(
        at,
        format!("{what} integrity check failed: {n} elements is not a multiple of {width}"),
    )
}

/// A score in a packed zset: an integer entry always is one; text must
/// parse as a number other than NaN.
#[inline(always)]
fn check_score_element(at: &[u8], what: &str, score: Element<'_>) -> Result<(), Error> {
    match score {
        Element::Bytes(b) if !valid_score(score) => Err(err(
            at,
            format!(
                "{what}: score '{}' is not a valid number",
                crate::escape_bytes(truncated(b))
            ),
        )),
        _ => Ok(()),
    }
}

/// Whether a packed zset's score element is a number other than NaN.
#[inline(always)]
fn valid_score(score: Element<'_>) -> bool {
    match score {
        Element::Bytes(b) if !plain_decimal(b) => {
            crate::rdb::primitives::parse_double_text(b).is_some_and(|v| !v.is_nan())
        }
        _ => true,
    }
}

/// `-?[0-9]+(\.[0-9]+)?`: the text servers write for most scores that are
/// not integers ("2.5"). Every such text parses as a number that is not
/// NaN, so [`check_score_element`] skips the full parse for it.
fn plain_decimal(b: &[u8]) -> bool {
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    let (whole, fraction) = match digits.iter().position(|&c| c == b'.') {
        Some(dot) => (
            digits.get(..dot).unwrap_or_default(),
            Some(digits.get(dot + 1..).unwrap_or_default()),
        ),
        None => (digits, None),
    };
    let all_digits = |d: &[u8]| !d.is_empty() && d.iter().all(u8::is_ascii_digit);
    all_digits(whole) && fraction.is_none_or(all_digits)
}

fn blob_name(kind: BlobKind) -> &'static str {
    match kind {
        BlobKind::HashZipmap => "Zipmap",
        BlobKind::ListZiplist => "List ziplist",
        BlobKind::SetIntset => "Intset",
        BlobKind::ZsetZiplist => "Zset ziplist",
        BlobKind::HashZiplist => "Hash ziplist",
        BlobKind::QuicklistZiplist => "Ziplist",
        BlobKind::QuicklistListpack => "Listpack",
        BlobKind::HashListpack => "Hash listpack",
        BlobKind::ZsetListpack => "Zset listpack",
        BlobKind::SetListpack => "Set listpack",
        BlobKind::HashListpackEx => "Hash listpack",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::listpack::test_encoder::{Item, build};
    use crate::rdb::writer::write_string;

    fn check(t: ValueType, items: &[Item]) -> Result<ValueSummary, String> {
        let header = Header::parse(b"REDIS0012").unwrap();
        let mut value = Vec::new();
        write_string(&mut value, &build(items));
        let mut scratch = Scratch::with_budget(VALUE_BUDGET);
        check_value_with(&value, &header, t, &value, &mut scratch).map_err(|e| e.to_string())
    }

    /// A hashtable-encoded set: a count, then each member as its own
    /// RDB string (already encoded, so that tests can mix in integers).
    fn set_of(members: &[Vec<u8>]) -> Result<ValueSummary, String> {
        hashtable_of(ValueType::SetHashtable, members)
    }

    /// A hashtable-encoded value of type `t`: the count, then the records
    /// (a member, a member and its score, a field and its value), each
    /// already encoded. Checked with the `_raw` visitor methods and
    /// without them, which must agree.
    fn hashtable_of(t: ValueType, records: &[Vec<u8>]) -> Result<ValueSummary, String> {
        let header = Header::parse(b"REDIS0012").unwrap();
        let mut value = Vec::new();
        crate::rdb::writer::write_length(&mut value, records.len() as u64);
        for m in records {
            value.extend_from_slice(m);
        }
        let check = |mut scratch: Scratch| {
            check_value_with(&value, &header, t, &value, &mut scratch).map_err(|e| e.to_string())
        };
        let raw = check(Scratch::with_budget(VALUE_BUDGET));
        let general = check(Scratch::with_budget(VALUE_BUDGET).without_fast_path());
        assert_eq!(format!("{raw:?}"), format!("{general:?}"));
        raw
    }

    /// The walker hands a member, field or value stored raw in under 64
    /// bytes to the `_raw` visitor methods, and any other form to the
    /// general ones: duplicates are found across the two (a short member
    /// and its integer encoding, two long members), in hashes and zsets
    /// as in sets, with NaN scores and cut records reported either way.
    #[test]
    fn hashtable_records_read_the_same_by_the_raw_and_the_general_path() {
        let long = |tag: &str| raw(&format!("{tag}-{}", "x".repeat(70)));
        let int10 = vec![0xc0, 10];
        let hash = |fields: &[Vec<u8>], value: &[u8]| {
            let records: Vec<Vec<u8>> = fields
                .iter()
                .map(|f| [f.as_slice(), value].concat())
                .collect();
            hashtable_of(ValueType::HashHashtable, &records)
        };
        let zset = |members: &[Vec<u8>], score: f64| {
            let records: Vec<Vec<u8>> = members
                .iter()
                .map(|m| [m.as_slice(), &score.to_le_bytes()].concat())
                .collect();
            hashtable_of(ValueType::ZsetV2, &records)
        };
        for n in [2, SMALL + 4] {
            let mut members: Vec<Vec<u8>> = (0..n).map(|i| raw(&format!("m{i}"))).collect();
            members.push(long("a"));
            members.push(raw("10"));
            for value in [raw("v"), long("value"), int10.clone()] {
                assert_eq!(hash(&members, &value).unwrap().elements, n as u64 + 2);
            }
            assert_eq!(zset(&members, 1.5).unwrap().elements, n as u64 + 2);
            let e = zset(&members, f64::NAN).unwrap_err();
            assert!(e.contains("NAN score"), "{e}");
            for dup in [int10.clone(), long("a"), raw("m1")] {
                let mut m = members.clone();
                m.push(dup);
                let e = hash(&m, &raw("v")).unwrap_err();
                assert!(e.contains("Duplicate hash fields detected"), "{n}: {e}");
                let e = zset(&m, 2.0).unwrap_err();
                assert!(e.contains("Duplicate zset fields detected"), "{n}: {e}");
                let e = set_of(&m).unwrap_err();
                assert!(e.contains("Duplicate set members detected"), "{n}: {e}");
            }
            // A record cut in its value or score: an error, on either path.
            let mut records: Vec<Vec<u8>> = members
                .iter()
                .map(|f| [f.as_slice(), b"\x01v"].concat())
                .collect();
            let last = records.len() - 1;
            records[last].pop();
            assert!(hashtable_of(ValueType::HashHashtable, &records).is_err());
            let mut records: Vec<Vec<u8>> = members
                .iter()
                .map(|m| [m.as_slice(), &[0u8; 8]].concat())
                .collect();
            let cut = records[last].len() - 3;
            records[last].truncate(cut);
            assert!(hashtable_of(ValueType::ZsetV2, &records).is_err());
        }
    }

    fn raw(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_string(&mut out, s.as_bytes());
        out
    }

    /// Members stored as their own strings: the direct comparisons and the
    /// fingerprints agree, and an integer-encoded member equals its text.
    /// A packed blob stored with LZF: `c3`, the compressed and the
    /// uncompressed length, the compressed bytes.
    fn lzf_string(bytes: &[u8]) -> Vec<u8> {
        let packed = ::lzf::compress(bytes).unwrap();
        let mut out = vec![0xc3];
        crate::rdb::writer::write_length(&mut out, packed.len() as u64);
        crate::rdb::writer::write_length(&mut out, bytes.len() as u64);
        out.extend_from_slice(&packed);
        out
    }

    #[test]
    fn blobs_inflated_into_the_kept_buffer_read_as_in_a_fresh_one() {
        let header = Header::parse(b"REDIS0012").unwrap();
        let lp = |n: usize, tag: &str| {
            let items: Vec<Item> = (0..n)
                .map(|i| Item::Str(format!("{tag}-member-{i:05}").into_bytes()))
                .collect();
            lzf_string(&build(&items))
        };
        let big = lp(400, "big");
        let small = lp(30, "small");
        // The small one again with a duplicate member, and cut short of
        // its declared length (a stream that inflates short).
        let mut dup_items: Vec<Item> = (0..30)
            .map(|i| Item::Str(format!("small-member-{i:05}").into_bytes()))
            .collect();
        dup_items.push(Item::Str(b"small-member-00007".to_vec()));
        let dup = lzf_string(&build(&dup_items));
        let mut short = small.clone();
        short.truncate(short.len() - 3);
        let fresh = |v: &[u8]| {
            let mut scratch = Scratch::with_budget(VALUE_BUDGET);
            check_value_with(v, &header, ValueType::SetListpack, v, &mut scratch)
                .map_err(|e| e.to_string())
        };
        let mut kept = Scratch::with_budget(VALUE_BUDGET);
        for v in [&big, &small, &dup, &short, &big, &small] {
            let r = check_value_with(v, &header, ValueType::SetListpack, v, &mut kept)
                .map_err(|e| e.to_string());
            assert_eq!(format!("{r:?}"), format!("{:?}", fresh(v)));
        }
        assert_eq!(fresh(&small).unwrap().elements, 30);
        let e = fresh(&dup).unwrap_err();
        assert!(e.contains("duplicate member"), "{e}");
        assert!(fresh(&short).is_err());
        assert!(kept.inflated.len() >= 400 * 16);
    }

    #[test]
    fn duplicates_among_members_stored_as_strings_are_found_however_stored() {
        for n in [3, SMALL, SMALL + 1, 40] {
            let members: Vec<Vec<u8>> = (0..n).map(|i| raw(&format!("m{i}"))).collect();
            assert_eq!(set_of(&members).unwrap().elements, n as u64);
            for (from, to) in [(0, 1), (1, n - 1), (n - 2, n - 1)] {
                let mut m = members.clone();
                m[to] = raw(&format!("m{from}"));
                let e = set_of(&m).unwrap_err();
                assert!(
                    e.contains(&format!("duplicate set member 'm{from}'")),
                    "{n} {from}->{to}: {e}"
                );
            }
        }
        // 10 stored as text, then as an 8-bit integer (0xc0): one member.
        let int10 = vec![0xc0, 10];
        for before in [0, 25] {
            let mut m: Vec<Vec<u8>> = (0..before).map(|i| raw(&format!("m{i}"))).collect();
            m.push(raw("10"));
            m.push(raw("010"));
            assert!(set_of(&m).is_ok());
            m.push(int10.clone());
            let e = set_of(&m).unwrap_err();
            assert!(e.contains("duplicate set member '10'"), "{e}");
        }
    }

    fn strs(n: usize) -> Vec<Item> {
        (0..n)
            .map(|i| Item::Str(format!("m{i}").into_bytes()))
            .collect()
    }

    /// Members compared directly (the first SMALL) and by fingerprint
    /// (the rest) agree on every duplicate, wherever it sits, and on
    /// integers equal to a string member.
    #[test]
    fn duplicates_in_a_packed_value_are_found_before_and_past_the_direct_comparisons() {
        for n in [3, SMALL - 1, SMALL, SMALL + 1, 40] {
            let ok = check(ValueType::SetListpack, &strs(n)).unwrap();
            assert_eq!(ok.elements, n as u64);
            for (from, to) in [(0, 1), (1, n - 1), (n - 2, n - 1), (0, n / 2 + 1)] {
                if from >= to {
                    continue;
                }
                let mut items = strs(n);
                items[to] = Item::Str(format!("m{from}").into_bytes());
                let e = check(ValueType::SetListpack, &items).unwrap_err();
                assert!(
                    e.contains(&format!("duplicate member 'm{from}'")),
                    "{n} {from}->{to}: {e}"
                );
            }
        }
        // 10 as an integer entry and as the string "10" are one member;
        // "010" is another.
        for n in [2, 30] {
            let mut items = strs(n);
            items[0] = Item::Int(10);
            items.push(Item::Str(b"010".to_vec()));
            assert!(check(ValueType::SetListpack, &items).is_ok());
            items.push(Item::Str(b"10".to_vec()));
            let e = check(ValueType::SetListpack, &items).unwrap_err();
            assert!(e.contains("duplicate member '10'"), "{e}");
        }
        // Hash fields are compared, values are not.
        let pairs = |fields: &[&str]| -> Vec<Item> {
            fields
                .iter()
                .flat_map(|f| [Item::Str(f.as_bytes().to_vec()), Item::Str(b"f1".to_vec())])
                .collect()
        };
        assert!(check(ValueType::HashListpack, &pairs(&["f1", "f2"])).is_ok());
        let e = check(ValueType::HashListpack, &pairs(&["f1", "f2", "f1"])).unwrap_err();
        assert!(e.contains("duplicate field/member 'f1'"), "{e}");
    }

    /// The type rules on packed tuples: whole tuples, valid scores, field
    /// TTLs in range and in order; each error names what it found.
    #[test]
    fn packed_tuples_are_whole_with_valid_scores_and_ordered_ttls() {
        let s = |t: &str| Item::Str(t.as_bytes().to_vec());
        // An odd element count, wherever the walk runs out.
        for (t, items, n, w) in [
            (ValueType::HashListpack, vec![s("f"), s("v"), s("g")], 3, 2),
            (ValueType::ZsetListpack, vec![s("m")], 1, 2),
            (
                ValueType::HashListpackExPreGa,
                vec![s("f"), s("v"), Item::Int(0), s("g")],
                4,
                3,
            ),
            (ValueType::HashListpackExPreGa, vec![s("f"), s("v")], 2, 3),
        ] {
            let e = check(t, &items).unwrap_err();
            assert!(
                e.contains(&format!("{n} elements is not a multiple of {w}")),
                "{t:?}: {e}"
            );
        }
        // Scores: integers, decimals, exponents and infinities pass; NaN,
        // words and padded text do not.
        for good in [
            "2.5", "-0.125", "007", "1e5", "-inf", "inf", "1.", ".5", "-3",
        ] {
            let items = [s("a"), s(good), s("b"), Item::Int(3)];
            assert!(check(ValueType::ZsetListpack, &items).is_ok(), "{good}");
        }
        for bad in [
            "nan", "abc", " 1", "1 ", "", "-", ".", "1.2.3", "--1", "0x10",
        ] {
            let items = [s("a"), Item::Int(1), s("b"), s(bad)];
            let e = check(ValueType::ZsetListpack, &items).unwrap_err();
            assert!(
                e.contains(&format!(
                    "Zset listpack: score '{bad}' is not a valid number"
                )),
                "{bad}: {e}"
            );
        }
        // Field TTLs: integers in range, ascending, none after a field
        // without one.
        let hfe = |ttls: &[Item]| {
            let items: Vec<Item> = ttls
                .iter()
                .enumerate()
                .flat_map(|(i, t)| [s(&format!("f{i}")), s("v"), t.clone()])
                .collect();
            check(ValueType::HashListpackExPreGa, &items)
        };
        let ok = hfe(&[Item::Int(5), Item::Int(5), Item::Int(9), Item::Int(0)]).unwrap();
        assert_eq!((ok.elements, ok.fields_with_ttl), (4, 3));
        for (ttls, want) in [
            (
                vec![Item::Int(9), Item::Int(5)],
                "field TTLs not ascending (5 after 9)",
            ),
            (
                vec![Item::Int(0), Item::Int(5)],
                "a field with TTL 5 follows a field without TTL",
            ),
            (vec![Item::Int(-1)], "found '-1'"),
            (vec![s("12")], "found '12'"),
            (vec![Item::Int(1 << 48)], "found '281474976710656'"),
        ] {
            let e = hfe(&ttls).unwrap_err();
            assert!(e.contains(want), "{ttls:?}: {e}");
        }
    }

    /// The shortcut for plain decimal scores accepts only text the full
    /// parse accepts as a number other than NaN.
    #[test]
    fn plain_decimal_scores_are_valid_numbers() {
        let alphabet = b"-.09e";
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..5 {
            let longer: Vec<Vec<u8>> = texts
                .iter()
                .filter(|t| t.len() == texts.last().map_or(0, Vec::len))
                .flat_map(|t| alphabet.iter().map(move |&c| [t.as_slice(), &[c]].concat()))
                .collect();
            texts.extend(longer);
        }
        let mut plain = 0;
        for t in &texts {
            if plain_decimal(t) {
                plain += 1;
                let v = crate::rdb::primitives::parse_double_text(t);
                assert!(v.is_some_and(|v| !v.is_nan()), "{t:?}");
            }
        }
        assert!(plain > 100, "{plain}");
        assert!(plain_decimal(b"-12345678901234567890123.5"));
        assert!(!plain_decimal(b"1.5 ") && !plain_decimal(b"+1") && !plain_decimal(b"-"));
    }
}
