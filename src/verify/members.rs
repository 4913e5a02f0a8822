//! Uniqueness of the members of one value (set and zset members, hash
//! fields, stream node keys and names) in bounded memory, however many
//! members the value has.
//!
//! A value's members are visited by a *walk* ([`crate::rdb::value::walk_value`]
//! over bytes that are in memory or mapped, so a value can be walked
//! again). Each member's 128-bit fingerprint is offered to [`Members::insert`]
//! in walk order; its *position* is how many were offered before it in
//! that walk, the same in every walk of the same value.
//!
//! - **Small values** (at most [`SMALL`] members, nearly all of them in
//!   real files) keep their fingerprints in an inline array searched
//!   linearly: no hashing, no allocation, and a duplicate is known at once.
//! - **Larger values** append fingerprints to a vector held to a byte
//!   budget (16 bytes a member, no load-factor slack). At the end of the
//!   walk the vector is sorted and equal neighbours are duplicates; a
//!   *confirming* walk then finds where the first of them sits (as
//!   `dupkeys` does for top-level keys). That walk only runs for a value
//!   that has a duplicate.
//! - **Values with more members than the budget holds** are checked in
//!   several walks, each covering a range of the fingerprint space: when
//!   the vector is full, the upper half of the current range is dropped
//!   (and left to a later walk). After the first walk the member count is
//!   known, so later ranges are sized to fill the budget: `k` walks for
//!   `n` members, `k ≈ n·24 / budget` (16 bytes a member, plus the slack
//!   a growing vector needs while it is copied).
//!
//! - **Giant values, when a spill store is given** ([`SpillFactory`]): the
//!   first walk that outgrows the budget hands its fingerprints to the
//!   store instead, split by their top byte into 256 partitions, and each
//!   partition is then checked on its own within the budget. Time stays
//!   linear in the member count (one walk, one write and one read of 16
//!   bytes a member, plus the confirming walk if there is a duplicate)
//!   where the walks by range above grow with its square. The command
//!   line gives an unlinked temporary file; without a store, or if it
//!   fails, the walks by range do the work.
//!
//! The verdict does not depend on the budget: every walk checks the
//! members of its range against each other, and the caller keeps the
//! duplicate at the lowest position across walks ([`Members::next_walk`]
//! says when the space is covered) — the duplicate a single walk with
//! unbounded memory would have found first.

/// Members kept in the inline array before switching to the vector.
pub const SMALL: usize = 16;

/// Fewest fingerprints a walk may hold, whatever the budget: enough that
/// every walk makes progress.
const MIN_HELD: usize = 256;

/// Partitions of the fingerprint space (by top byte) a spilled value is
/// split into.
const SPILL_PARTS: usize = 256;

pub use super::spill::{SpillFactory, SpillStore};

/// A value's fingerprints on their way to the store.
struct Spill {
    store: Box<dyn SpillStore>,
    /// One buffer per partition, written out when full.
    buffers: Vec<Vec<u128>>,
    buffer_len: usize,
    counts: Vec<u64>,
    /// A write failed: the store is incomplete, and the walks by range
    /// take over.
    failed: bool,
}

impl Spill {
    #[inline(always)]
    fn push(&mut self, fp: u128) {
        let part = (fp >> 120) as usize;
        if let (Some(buf), Some(count)) = (self.buffers.get_mut(part), self.counts.get_mut(part)) {
            buf.push(fp);
            *count += 1;
            if buf.len() >= self.buffer_len {
                self.write_out(part);
            }
        }
    }

    /// Appends partition `part`'s full buffer to the store.
    #[cold]
    #[inline(never)]
    fn write_out(&mut self, part: usize) {
        if let Some(buf) = self.buffers.get_mut(part) {
            self.failed |= self.store.append(part, buf).is_err();
            buf.clear();
        }
    }

    fn flush(&mut self) {
        for (part, buf) in self.buffers.iter_mut().enumerate() {
            if !buf.is_empty() {
                self.failed |= self.store.append(part, buf).is_err();
            }
            *buf = Vec::new();
        }
    }
}

/// What [`Members::insert`] makes of one fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not known to be a duplicate (yet: in a collecting walk, duplicates
    /// surface at its end).
    New,
    /// An earlier member of this value has the same fingerprint: the walk
    /// should stop with a duplicate error at [`Members::position`].
    Duplicate,
    /// A duplicate at an earlier position is already known: nothing this
    /// walk finds from here on can matter, so it may stop.
    Stop,
}

/// What the next walk of a value does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Inline array, whole fingerprint space (the first walk, while small).
    Small,
    /// Appending the fingerprints within `lo..=hi` to `held`.
    Collect,
    /// `held` is the sorted list of duplicated fingerprints of `lo..=hi`;
    /// `marks` says which were seen once already in this walk.
    Confirm,
    /// Handing every fingerprint to the spill store (the first walk of a
    /// giant value).
    Spill,
}

/// Fingerprint memory for one value at a time, reused across values.
pub struct Members {
    small: [u128; SMALL],
    small_len: usize,
    held: Vec<u128>,
    marks: Vec<u64>,
    /// Fingerprints `held` may hold.
    max_held: usize,
    mode: Mode,
    lo: u128,
    hi: u128,
    /// Fingerprints offered in this walk.
    position: u64,
    /// Fingerprints offered in the first walk (the value's member count,
    /// when that walk ran to the end), not counting a caller's ticks.
    first_walk: u64,
    /// A caller's [`Members::tick`]s in this walk: its lookups, which
    /// take positions but hold no fingerprint here.
    ticks: u64,
    /// The narrowest range a walk of this value had to be cut to, so that
    /// the walks after it start no wider (the members' count alone does
    /// not tell what a caller's own table needs).
    narrowed: Option<u128>,
    /// Positions at or beyond this cannot hold the first duplicate.
    limit: u64,
    walks: u32,
    spill_factory: Option<SpillFactory>,
    /// Whether the current value may spill (a caller keeping its own
    /// table by range, a stream's PEL, needs the walks by range).
    spill_allowed: bool,
    spill: Option<Spill>,
}

impl Default for Members {
    fn default() -> Self {
        Members::with_budget(usize::MAX)
    }
}

impl Members {
    /// Fingerprints held to about `bytes` of heap: 16 bytes each, with a
    /// third more while the vector grows (old and new both allocated).
    pub fn with_budget(bytes: usize) -> Self {
        Members {
            small: [0; SMALL],
            small_len: 0,
            held: Vec::new(),
            marks: Vec::new(),
            max_held: (bytes / 24).max(MIN_HELD),
            mode: Mode::Small,
            lo: 0,
            hi: u128::MAX,
            position: 0,
            first_walk: 0,
            ticks: 0,
            narrowed: None,
            limit: u64::MAX,
            walks: 1,
            spill_factory: None,
            spill_allowed: false,
            spill: None,
        }
    }

    /// Lets giant values spill their fingerprints to stores `factory` makes.
    pub fn with_spill(mut self, factory: Option<SpillFactory>) -> Self {
        self.spill_factory = factory;
        self
    }

    /// Heap bytes the fingerprints may take at most.
    pub fn budget_bytes(&self) -> usize {
        self.max_held.saturating_mul(24)
    }

    /// Heap bytes held now.
    pub fn heap_bytes(&self) -> usize {
        let spill = self.spill.as_ref().map_or(0, |s| {
            s.buffers.iter().map(|b| b.capacity() * 16).sum::<usize>() + s.counts.capacity() * 8
        });
        self.held.capacity() * 16 + self.marks.capacity() * 8 + spill
    }

    /// Prepares for the first walk of a new value. Memory grown for a big
    /// value before is kept only up to `keep` fingerprints.
    #[inline]
    pub fn start_value(&mut self, keep: usize, spill_allowed: bool) {
        if self.held.capacity() > keep {
            self.held = Vec::new();
        }
        self.spill = None;
        self.spill_allowed = spill_allowed;
        self.small_len = 0;
        self.mode = Mode::Small;
        self.position = 0;
        self.ticks = 0;
        self.narrowed = None;
        self.limit = u64::MAX;
        self.walks = 1;
    }

    /// True after a first walk that held every member in the inline
    /// array: it found any duplicate there is, and no other walk is due.
    #[inline]
    pub fn single_walk(&self) -> bool {
        self.mode == Mode::Small
    }

    /// Walks of the current value so far (the first counts as one).
    pub fn walks(&self) -> u32 {
        self.walks
    }

    /// Fingerprints offered so far in this walk: the position of the next.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// A duplicate was found at `position`: later walks need not look
    /// beyond it.
    pub fn found_at(&mut self, position: u64) {
        self.limit = self.limit.min(position);
    }

    /// Counts one event of the walk that is not a member (a lookup, the
    /// end of a group) but may find an error a position is needed for.
    #[inline]
    pub fn tick(&mut self) -> Seen {
        self.ticks += 1;
        self.step()
    }

    /// Takes the next position.
    #[inline]
    fn step(&mut self) -> Seen {
        let pos = self.position;
        self.position += 1;
        if pos >= self.limit {
            Seen::Stop
        } else {
            Seen::New
        }
    }

    /// Whether `fp` lies in the part of the fingerprint space this walk
    /// covers: a caller keeping its own table for lookups (a stream's PEL)
    /// remembers only those, and checks the rest in other walks.
    #[inline]
    pub fn in_range(&self, fp: u128) -> bool {
        self.mode == Mode::Small || (fp >= self.lo && fp <= self.hi)
    }

    /// Drops the upper half of this walk's range, for a caller whose own
    /// table outgrew its budget, leaving it to later walks. False when the
    /// range is down to one fingerprint, or in a confirming walk (whose
    /// range a collecting walk already fitted).
    pub fn narrow(&mut self) -> bool {
        if self.mode == Mode::Small {
            self.leave_small();
        }
        if self.mode != Mode::Collect || self.hi == self.lo {
            return false;
        }
        self.halve_range();
        true
    }

    /// Drops the upper half of this walk's range and what `held` has of
    /// it, and remembers the width the range was cut to.
    fn halve_range(&mut self) {
        self.hi = self.lo + (self.hi - self.lo) / 2;
        let hi = self.hi;
        self.held.retain(|&f| f <= hi);
        let width = self.hi - self.lo;
        self.narrowed = Some(self.narrowed.map_or(width, |w| w.min(width)));
    }

    /// Offers the next member's fingerprint.
    #[inline(always)]
    pub fn insert(&mut self, fp: u128) -> Seen {
        // The usual case for a big value, inlined into the caller: a
        // collecting walk with room left; the rest is out of line.
        if self.mode == Mode::Collect
            && self.position < self.limit
            && fp >= self.lo
            && fp <= self.hi
            && self.held.len() < self.held.capacity()
        {
            self.position += 1;
            self.held.push(fp);
            return Seen::New;
        }
        // A giant value's first walk, spilling: every member goes to its
        // partition's buffer.
        if self.mode == Mode::Spill
            && self.position < self.limit
            && let Some(spill) = &mut self.spill
        {
            self.position += 1;
            spill.push(fp);
            return Seen::New;
        }
        self.insert_any(fp)
    }

    /// [`Members::insert`] in every mode.
    #[inline(never)]
    fn insert_any(&mut self, fp: u128) -> Seen {
        if self.step() == Seen::Stop {
            return Seen::Stop;
        }
        match self.mode {
            Mode::Small => self.insert_small(fp),
            Mode::Collect => {
                if fp >= self.lo && fp <= self.hi {
                    self.collect(fp);
                }
                Seen::New
            }
            Mode::Confirm => self.confirm(fp),
            Mode::Spill => {
                if let Some(spill) = &mut self.spill {
                    spill.push(fp);
                }
                Seen::New
            }
        }
    }

    #[inline]
    fn insert_small(&mut self, fp: u128) -> Seen {
        let known = self.small.get(..self.small_len).unwrap_or(&[]);
        if known.contains(&fp) {
            return Seen::Duplicate;
        }
        if let Some(slot) = self.small.get_mut(self.small_len) {
            *slot = fp;
            self.small_len += 1;
            return Seen::New;
        }
        self.leave_small();
        self.collect(fp);
        Seen::New
    }

    /// The value outgrew the array (or a caller narrows the range):
    /// collect from here on, over the whole fingerprint space, starting
    /// with what the array holds.
    fn leave_small(&mut self) {
        self.mode = Mode::Collect;
        self.lo = 0;
        self.hi = u128::MAX;
        self.held.clear();
        self.marks.clear();
        let small = self.small;
        for &f in small.get(..self.small_len).unwrap_or(&[]) {
            self.collect(f);
        }
    }

    #[inline(always)]
    fn collect(&mut self, fp: u128) {
        if self.held.len() < self.held.capacity() {
            // `hi` only shrinks in `make_room`, which keeps `held` below it.
            self.held.push(fp);
            return;
        }
        self.collect_full(fp);
    }

    /// [`Members::collect`] when `held` is full: grow it, shed the upper
    /// half of the range, or spill.
    #[cold]
    #[inline(never)]
    fn collect_full(&mut self, fp: u128) {
        self.make_room();
        if let Some(spill) = &mut self.spill {
            spill.push(fp);
            return;
        }
        // Full even after shedding: the range is down to one fingerprint,
        // held more than once already, so the duplicate is known.
        if fp <= self.hi && self.held.len() < self.held.capacity() {
            self.held.push(fp);
        }
    }

    /// Grows `held` within the budget, or drops the upper half of the
    /// range (as often as needed) to free room.
    #[cold]
    fn make_room(&mut self) {
        let len = self.held.len();
        if len < self.max_held {
            let want = (len * 2).clamp(SMALL * 4, self.max_held);
            self.held.reserve_exact(want - len);
            return;
        }
        if self.walks == 1 && self.lo == 0 && self.hi == u128::MAX && self.start_spill() {
            return;
        }
        while self.held.len() >= self.max_held && self.hi > self.lo {
            self.halve_range();
        }
    }

    /// The first walk outgrew the budget: from here on every fingerprint
    /// goes to a new spill store, starting with those held. False (and
    /// nothing changes) when there is no store to be had.
    #[cold]
    fn start_spill(&mut self) -> bool {
        let Some(factory) = self.spill_factory.filter(|_| self.spill_allowed) else {
            return false;
        };
        let Ok(store) = factory() else {
            return false;
        };
        // The buffers take the place of `held` within the budget.
        let buffer_len = (self.max_held / SPILL_PARTS / 2).clamp(4, 256);
        let mut spill = Spill {
            store,
            buffers: vec![Vec::new(); SPILL_PARTS],
            buffer_len,
            counts: vec![0; SPILL_PARTS],
            failed: false,
        };
        for &f in &self.held {
            spill.push(f);
        }
        self.held = Vec::new();
        self.spill = Some(spill);
        self.mode = Mode::Spill;
        true
    }

    /// After the spilling walk: checks each partition within the budget
    /// and keeps the fingerprints seen more than once for a confirming
    /// walk. True if another walk is due.
    fn settle_spill(&mut self) -> bool {
        let Some(mut spill) = self.spill.take() else {
            return false;
        };
        spill.flush();
        if spill.failed {
            return self.start_range(0);
        }
        let cap = self.max_held;
        let largest = spill.counts.iter().copied().max().unwrap_or(0);
        self.held = Vec::with_capacity(cap.min(usize::try_from(largest).unwrap_or(cap)));
        let mut dups: Vec<u128> = Vec::new();
        // Set when `dups` filled up: the fingerprints above it are left to
        // the walks by range.
        let mut dups_end: Option<u128> = None;
        'parts: for (part, &count) in spill.counts.iter().enumerate() {
            if count < 2 {
                continue;
            }
            let part_lo = (part as u128) << 120;
            // Ranges still to check, lowest on top; one that does not fit
            // the budget is halved.
            let mut ranges = vec![(part_lo, part_lo | ((1u128 << 120) - 1))];
            while let Some((lo, hi)) = ranges.pop() {
                self.held.clear();
                let mut over = false;
                let held = &mut self.held;
                let read = spill.store.read(part, &mut |fps| {
                    for &f in fps {
                        if f >= lo && f <= hi {
                            if held.len() < cap {
                                held.push(f);
                            } else {
                                over = true;
                            }
                        }
                    }
                });
                if read.is_err() {
                    self.held.clear();
                    return self.start_range(0);
                }
                if over && hi > lo {
                    let mid = lo + (hi - lo) / 2;
                    ranges.push((mid + 1, hi));
                    ranges.push((lo, mid));
                    continue;
                }
                // (A range of one fingerprint held more than once is a
                // duplicate, whatever did not fit.)
                keep_repeated(&mut self.held);
                for &a in &self.held {
                    if dups.len() >= cap {
                        dups_end = Some(a.saturating_sub(1));
                        break 'parts;
                    }
                    dups.push(a);
                }
            }
        }
        self.held = dups;
        if self.held.is_empty() && dups_end.is_none() {
            return false;
        }
        self.marks = vec![0; self.held.len().div_ceil(64)];
        self.lo = 0;
        self.hi = dups_end.unwrap_or(u128::MAX);
        self.mode = Mode::Confirm;
        true
    }

    fn confirm(&mut self, fp: u128) -> Seen {
        if fp < self.lo || fp > self.hi {
            return Seen::New;
        }
        let Ok(i) = self.held.binary_search(&fp) else {
            return Seen::New;
        };
        let (word, bit) = (i / 64, 1u64 << (i % 64));
        match self.marks.get_mut(word) {
            Some(w) if *w & bit != 0 => Seen::Duplicate,
            Some(w) => {
                *w |= bit;
                Seen::New
            }
            None => Seen::New,
        }
    }

    /// Ends a walk. Returns true when another walk of the same value is
    /// needed (to confirm where a duplicate sits, or to cover the rest of
    /// the fingerprint space), having prepared it.
    pub fn next_walk(&mut self) -> bool {
        if self.walks == 1 {
            // The value's member count, if the first walk went to the end.
            self.first_walk = self.position.saturating_sub(self.ticks);
        }
        let again = match self.mode {
            Mode::Small => false,
            Mode::Collect => {
                if self.keep_duplicates() {
                    self.mode = Mode::Confirm;
                    true
                } else {
                    self.next_range()
                }
            }
            Mode::Confirm => self.next_range(),
            Mode::Spill => self.settle_spill(),
        };
        if again {
            self.position = 0;
            self.ticks = 0;
            self.walks += 1;
        }
        again
    }

    /// Sorts `held` and keeps one copy of each fingerprint seen more than
    /// once. True if there is any.
    fn keep_duplicates(&mut self) -> bool {
        keep_repeated(&mut self.held);
        self.marks = vec![0; self.held.len().div_ceil(64)];
        !self.held.is_empty()
    }

    /// Moves to the part of the fingerprint space after this walk's range,
    /// sized from the first walk's member count to fill the budget.
    fn next_range(&mut self) -> bool {
        if self.hi == u128::MAX {
            return false;
        }
        self.start_range(self.hi + 1)
    }

    /// A collecting walk of the range from `lo`, sized from the first
    /// walk's member count to fill the budget.
    fn start_range(&mut self, lo: u128) -> bool {
        self.lo = lo;
        let members = u128::from(self.first_walk.max(1));
        // Nine tenths of the budget: ranges are not filled exactly evenly.
        let per_walk = (self.max_held as u128 * 9 / 10).max(1);
        let mut width = (u128::MAX / members).saturating_mul(per_walk);
        if let Some(w) = self.narrowed {
            width = width.min(w.saturating_add(1));
        }
        self.hi = self.lo.saturating_add(width.saturating_sub(1));
        self.held.clear();
        self.marks = Vec::new();
        self.mode = Mode::Collect;
        true
    }
}

/// Leaves in `held` one copy of each fingerprint it held more than once,
/// sorted.
fn keep_repeated(held: &mut Vec<u128>) {
    // Nearly every value has none, and sorting all its fingerprints
    // was a seventh of the time on files of big collections. First
    // only those that share a slot of a counting table with another
    // are kept; equal fingerprints always share a slot, so the sort
    // below finds the same duplicates among far fewer. The table has
    // 16 to 32 slots a fingerprint (one in 20 to 40 then shares), of
    // two bits each: one, and more than one. That is 4 to 8 bytes a
    // fingerprint, within the third of the budget a growing `held`
    // may take (16 bytes each, see `with_budget`; a spilled partition's
    // `held` does not grow), and not branching on the counts made it
    // cheaper than a table a quarter the size. On a spilled set of 10 M
    // members, sorting each partition whole was a third of the time.
    if held.len() > SMALL * 4 {
        let slots = (held.len() * 16).next_power_of_two();
        let mask = slots - 1;
        // Word pairs: slots seen once, slots seen more than once.
        let mut counts = vec![[0u64; 2]; slots.div_ceil(64)];
        let place = |f: u128| {
            let i = (f as usize) & mask;
            (i / 64, 1u64 << (i % 64))
        };
        for &f in held.iter() {
            let (word, bit) = place(f);
            if let Some([once, more]) = counts.get_mut(word) {
                *more |= *once & bit;
                *once |= bit;
            }
        }
        held.retain(|&f| {
            let (word, bit) = place(f);
            counts.get(word).is_some_and(|[_, more]| more & bit != 0)
        });
    }
    held.sort_unstable();
    let mut dups = 0;
    let mut i = 0;
    while i < held.len() {
        let f = held.get(i).copied();
        let mut j = i + 1;
        while j < held.len() && held.get(j).copied() == f {
            j += 1;
        }
        if j - i > 1
            && let (Some(f), Some(slot)) = (f, held.get_mut(dups))
        {
            *slot = f;
            dups += 1;
        }
        i = j;
    }
    held.truncate(dups);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::fingerprint::fingerprint128;

    /// Runs `members` through `m` as the caller in `value.rs` does: walk
    /// after walk, keeping the duplicate at the lowest position.
    fn first_duplicate(m: &mut Members, members: &[u64]) -> Option<u64> {
        m.start_value(0, true);
        let mut best: Option<u64> = None;
        loop {
            for &x in members {
                match m.insert(fingerprint128(&x.to_le_bytes())) {
                    Seen::New => {}
                    Seen::Duplicate => {
                        let p = m.position() - 1;
                        best = Some(best.map_or(p, |b| b.min(p)));
                        m.found_at(p);
                        break;
                    }
                    Seen::Stop => break,
                }
            }
            if !m.next_walk() {
                return best;
            }
        }
    }

    fn reference(members: &[u64]) -> Option<u64> {
        let mut seen = std::collections::HashSet::new();
        members
            .iter()
            .position(|x| !seen.insert(*x))
            .map(|p| p as u64)
    }

    #[test]
    fn small_values_take_one_walk_and_allocate_nothing() {
        let mut m = Members::with_budget(1 << 20);
        assert_eq!(first_duplicate(&mut m, &[1, 2, 3]), None);
        assert_eq!(m.walks(), 1);
        assert_eq!(first_duplicate(&mut m, &[1, 2, 3, 2, 1]), Some(3));
        assert_eq!(m.walks(), 1);
        assert_eq!(m.heap_bytes(), 0);
    }

    #[test]
    fn a_value_that_fits_takes_one_walk_or_two_with_a_duplicate() {
        let mut m = Members::with_budget(1 << 20);
        let mut v: Vec<u64> = (0..1000).collect();
        assert_eq!(first_duplicate(&mut m, &v), None);
        assert_eq!(m.walks(), 1);
        v.push(500);
        v.push(7);
        assert_eq!(first_duplicate(&mut m, &v), reference(&v));
        assert_eq!(m.walks(), 2);
    }

    #[test]
    fn the_duplicates_kept_are_exactly_the_repeated_fingerprints() {
        // Fingerprints that share their low bits (one slot of the counting
        // table) without being equal, uniform ones, and real repeats.
        let mut m = Members::with_budget(1 << 20);
        let same_slot = (1..200u128).map(|i| (i << 64) | 0xabcd);
        let uniform =
            (1..5000u128).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
        m.held = same_slot.chain(uniform).collect();
        assert!(!m.keep_duplicates());
        let repeats = [
            (7u128 << 64) | 0xabcd,
            3u128.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
        ];
        m.held = (1..200u128)
            .map(|i| (i << 64) | 0xabcd)
            .chain((1..5000u128).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)))
            .chain(repeats)
            .chain([repeats[0]])
            .collect();
        assert!(m.keep_duplicates());
        let mut want = repeats.to_vec();
        want.sort_unstable();
        assert_eq!(m.held, want);
    }

    #[test]
    fn any_budget_finds_the_same_first_duplicate() {
        let n = 20_000u64;
        let cases: Vec<Vec<u64>> = vec![
            (0..n).collect(),
            // A duplicate late in the value, another early of a member
            // whose first copy is late.
            (0..n).chain([n - 3]).chain(0..5).collect(),
            (0..n).chain([n / 2]).collect(),
            [42].into_iter().chain(0..n).collect(),
            (0..n).map(|i| i % (n / 3)).collect(),
        ];
        for v in &cases {
            let expected = reference(v);
            for budget in [0, 4 << 10, 64 << 10, 1 << 20, usize::MAX] {
                let mut m = Members::with_budget(budget);
                assert_eq!(first_duplicate(&mut m, v), expected, "budget {budget}");
            }
        }
    }

    /// A spill store in memory; the one made by [`failing_store`] fails
    /// its third write.
    struct MemorySpill {
        parts: Vec<Vec<u128>>,
        writes_left: Option<u32>,
    }

    impl SpillStore for MemorySpill {
        fn append(&mut self, part: usize, fingerprints: &[u128]) -> std::io::Result<()> {
            if let Some(n) = &mut self.writes_left {
                if *n == 0 {
                    return Err(std::io::Error::other("disk full"));
                }
                *n -= 1;
            }
            self.parts[part].extend_from_slice(fingerprints);
            Ok(())
        }

        fn read(&mut self, part: usize, each: &mut dyn FnMut(&[u128])) -> std::io::Result<()> {
            for piece in self.parts[part].chunks(100) {
                each(piece);
            }
            Ok(())
        }
    }

    fn memory_store() -> std::io::Result<Box<dyn SpillStore>> {
        Ok(Box::new(MemorySpill {
            parts: vec![Vec::new(); SPILL_PARTS],
            writes_left: None,
        }))
    }

    fn failing_store() -> std::io::Result<Box<dyn SpillStore>> {
        Ok(Box::new(MemorySpill {
            parts: vec![Vec::new(); SPILL_PARTS],
            writes_left: Some(2),
        }))
    }

    #[test]
    fn a_spilled_value_takes_one_walk_or_two_with_a_duplicate_whatever_the_budget() {
        let n = 20_000u64;
        let few_duplicates: Vec<Vec<u64>> = vec![
            (0..n).collect(),
            (0..n).chain([n - 3]).chain(0..5).collect(),
            (0..n).chain([n / 2]).collect(),
            [42].into_iter().chain(0..n).collect(),
        ];
        let many_duplicates: Vec<u64> = (0..n).map(|i| i % (n / 3)).collect();
        for budget in [0, 4 << 10, 64 << 10, 1 << 20] {
            for v in few_duplicates.iter().chain([&many_duplicates]) {
                let expected = reference(v);
                for factory in [memory_store, failing_store] {
                    let mut m = Members::with_budget(budget).with_spill(Some(factory));
                    assert_eq!(first_duplicate(&mut m, v), expected, "budget {budget}");
                }
                // Spilling, the number of walks no longer grows with the
                // members (unless thousands of them are duplicated).
                if v != &many_duplicates {
                    let mut m = Members::with_budget(budget).with_spill(Some(memory_store));
                    first_duplicate(&mut m, v);
                    let walks = if expected.is_some() { 2 } else { 1 };
                    assert_eq!(m.walks(), walks, "budget {budget}");
                }
            }
        }
        // The buffers on their way to the store stay within the budget.
        let mut m = Members::with_budget(1 << 20).with_spill(Some(memory_store));
        m.start_value(0, true);
        for x in 0..200_000u64 {
            m.insert(fingerprint128(&x.to_le_bytes()));
            assert!(m.heap_bytes() <= m.budget_bytes());
        }
        assert!(m.spill.is_some(), "200,000 members do not fit 1 MiB");
        assert!(!m.next_walk(), "no duplicate: no second walk");
        // Not allowed for this value (a stream's): the walks by range.
        let mut m = Members::with_budget(4 << 10).with_spill(Some(memory_store));
        m.start_value(0, false);
        for x in 0..n {
            m.insert(fingerprint128(&x.to_le_bytes()));
        }
        assert!(m.next_walk(), "more walks by range");
    }

    #[test]
    fn walks_grow_linearly_with_members_over_budget_and_memory_stays_within_it() {
        let n = 100_000u64;
        let v: Vec<u64> = (0..n).collect();
        let budget = 240_000;
        let mut m = Members::with_budget(budget);
        m.start_value(0, true);
        let mut walks = 0;
        loop {
            walks += 1;
            for &x in &v {
                m.insert(fingerprint128(&x.to_le_bytes()));
                assert!(m.heap_bytes() <= m.budget_bytes());
            }
            if !m.next_walk() {
                break;
            }
        }
        // 10,000 fingerprints a walk at most: at least 10 walks; the first
        // may end half full, the others are sized to nine tenths.
        let ideal = (n as usize * 24).div_ceil(budget) as u32;
        assert!(walks >= ideal && walks <= 2 * ideal + 2, "{walks} walks");
        assert_eq!(m.walks(), walks);
    }

    #[test]
    fn a_walk_past_a_known_duplicate_stops() {
        let mut m = Members::with_budget(0);
        m.start_value(0, true);
        m.found_at(2);
        assert_eq!(m.insert(1), Seen::New);
        assert_eq!(m.insert(2), Seen::New);
        assert_eq!(m.insert(3), Seen::Stop);
    }
}
