//! Duplicate top-level keys, which make every server abort a load and
//! which no existing checker notices.
//!
//! Memory: one 64-bit fingerprint per key (the db is folded into it),
//! appended to one of 256 buckets chosen by the fingerprint's top byte:
//! 32 MiB for 4 million keys, with no load-factor slack and no rehashing
//! (and, when a RESIZEDB hint comes first, in one slab of huge pages:
//! `Slab`).
//! Appending is sequential and cheap; at the end each bucket (1/256 of the
//! keys, small enough for the cache) is searched for repeated values,
//! which become suspects. Suspects are only suspects: a second framing
//! pass, run only when there are some, compares the real keys, so a report
//! never rests on a hash alone.
//!
//! The fingerprints are held to a budget (`Options::dup_key_budget`).
//! A pass covers one range of fingerprint values, cut into up to 256
//! equal buckets. When the buckets outgrow the budget:
//! - the highest buckets are dropped and no longer filled; the range they
//!   covered is left to later passes;
//! - when one bucket is left, it is compacted: sorted, each repeated value
//!   moved to the suspects, one copy of each value kept. Hostile input
//!   (64 MB of zeros frames as 22 million records of the empty key) fills
//!   one bucket with one value, and compacting keeps it at a single entry;
//! - when compacting frees too little (a bucket of distinct values, only
//!   in files of more than a billion keys or with a tiny budget), the
//!   bucket's range is cut 256 ways and the upper part dropped, as above.
//!
//! After the main pass, extra framing-only passes each fingerprint the keys
//! of the next range, until every value was covered once. Memory stays at
//! the budget; a file with more keys than the budget holds (6 million per
//! 48 MiB) pays one framing scan per budget's worth of keys instead.
//!
//! Each range's suspects are confirmed before the next range is
//! fingerprinted. The confirming pass keeps the first place of each
//! suspected key; its map is held to the same budget: when it outgrows it,
//! the pass starts again with fewer suspects, and the rest wait for a
//! further pass.

use super::fingerprint::fingerprint64;
use crate::rdb::{Header, Record, Records};
use std::collections::HashMap;
use std::ops::ControlFlow;

const BUCKETS: usize = 256;

/// The smallest budget honoured: room for a bucket to hold a few values,
/// so that compacting it always frees some.
const MIN_BUDGET: usize = 256;

/// Buckets up to this many values are searched through bitmaps
/// ([`repeated_in`]); larger ones (only after shedding) are sorted in
/// place, so the search never needs more than a few MiB beside the budget.
const BITMAP_SEARCH_MAX: usize = 1 << 16;

pub struct DupKeys {
    buckets: Vec<Vec<u64>>,
    /// The first part of each bucket, when a size hint came before the
    /// first key: see [`Slab`]. Values overflow from it into `buckets`.
    slab: Option<Slab>,
    /// This pass covers fingerprints from `lo`, in buckets `0..end` each
    /// `1 << shift` values wide.
    lo: u64,
    shift: u32,
    end: usize,
    /// Bytes the fingerprints may hold.
    budget: usize,
    /// Bytes held now.
    held: usize,
    /// Fingerprints seen more than once; sorted and without repeats up to
    /// `tidy`, appended after it.
    suspects: Vec<u64>,
    tidy: usize,
}

pub struct Duplicate {
    pub db: u64,
    pub key: Vec<u8>,
    pub first_offset: u64,
    pub offset: u64,
}

/// Slabs smaller than this are not worth a separate allocation: the
/// buckets' own vectors fault in few pages. (Smaller in tests, so that
/// they exercise slabs with fewer keys.)
const SLAB_MIN_BYTES: usize = if cfg!(test) { 256 << 10 } else { 4 << 20 };

/// Room for `per` values in each of the 256 buckets, in one allocation
/// advised for huge pages: what the buckets' vectors would reserve for a
/// size hint, faulted in 2 MiB pages instead of 4 KiB ones (4 million keys
/// took 8,000 page faults, about 7 ms of CPU, where the slab takes 16).
/// Only for a pass over the whole range, bucketed by the top byte, and
/// only one (for the first large hint): a bucket's values are its slab
/// part and its vector, in no order; a bucket that outgrows its part
/// overflows into its vector; and narrowing the range (which cuts buckets
/// by other bits) folds the slab into the one vector left first.
struct Slab {
    values: Vec<u64>,
    per: usize,
    lens: Vec<usize>,
}

impl Slab {
    fn new(per: usize) -> Slab {
        Slab {
            values: crate::source::zeroed_words_in_huge_pages(per * BUCKETS),
            per,
            lens: vec![0; BUCKETS],
        }
    }

    fn bytes(&self) -> usize {
        self.values.len() * 8
    }

    /// Appends `h` to bucket `i`'s part; false when it is full (or `i` is
    /// out of range, or the bucket was forgotten).
    #[inline]
    fn push(&mut self, i: usize, h: u64) -> bool {
        let Some(len) = self.lens.get_mut(i) else {
            return false;
        };
        if *len >= self.per {
            return false;
        }
        match self.values.get_mut(i * self.per + *len) {
            Some(slot) => {
                *slot = h;
                *len += 1;
                true
            }
            None => false,
        }
    }

    /// Bucket `i` was shed: its part takes no more values and is empty.
    fn forget(&mut self, i: usize) {
        if let Some(len) = self.lens.get_mut(i) {
            // Full, so that `push` refuses; `part` reads it as empty.
            *len = usize::MAX;
        }
    }

    fn part(&self, i: usize) -> &[u64] {
        let len = self.lens.get(i).map_or(0, |&len| live(len, self.per));
        self.values
            .get(i * self.per..i * self.per + len)
            .unwrap_or_default()
    }

    /// Every bucket's part, in order.
    fn parts_mut(&mut self) -> impl Iterator<Item = &mut [u64]> {
        let per = self.per.max(1);
        self.values
            .chunks_mut(per)
            .zip(&self.lens)
            .map(move |(chunk, &len)| chunk.get_mut(..live(len, per)).unwrap_or_default())
    }
}

/// Values a slab part holds, given its length: none once forgotten.
fn live(len: usize, per: usize) -> usize {
    if len <= per { len } else { 0 }
}

impl Default for DupKeys {
    fn default() -> Self {
        DupKeys::with_budget(usize::MAX)
    }
}

/// The fingerprint of `key` in `db`. Key fingerprints are computed where the
/// key is read (possibly on another thread); the db is folded in later.
#[inline]
pub fn key_fingerprint(key: &[u8]) -> u64 {
    fingerprint64(key)
}

/// A key fingerprint with its db folded in.
#[inline]
pub fn in_db(fp: u64, db: u64) -> u64 {
    fp ^ db_fold(db)
}

/// What [`in_db`] folds into the fingerprints of `db`'s keys (by
/// exclusive or): computed once for a run of keys in one db.
#[inline]
pub fn db_fold(db: u64) -> u64 {
    // An odd multiplier keeps the map from db to offset one-to-one, so keys
    // of different dbs never look alike because of the db alone.
    db.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The values that occur more than once in `bucket`, each once, in no
/// particular order.
///
/// A small bucket is filtered through a bitmap of 32 bits per value
/// (`scratch`, reused between calls): each value sets its bit, and a value
/// whose bit was already set marks the bit in a second bitmap, of bits
/// seen twice. Probing a hash table of the values instead mispredicted
/// about one probe in four and stalled on each (a quarter more time,
/// measured on 256 buckets of 15,625 values). Only the values whose bit
/// was seen twice (about 3% of them: the repeats, and the values that
/// share a bit with another) are then sorted and compared whole. The bit
/// comes from a multiply of the value, so values alike in some bits still
/// spread. A large bucket (only after shedding) is sorted in place
/// instead, so that the search never holds more memory than the bucket.
///
/// The two bitmaps lie apart, and the second is written only on a hit (a
/// branch taken for 3% of the values): the first pass then reads and
/// writes the 64 KiB of the first alone. Interleaving them word by word
/// and writing both for every value, with no branch, took 13% more time
/// on those 256 buckets.
pub fn repeated_in(bucket: &mut [u64], scratch: &mut Vec<u64>) -> Vec<u64> {
    if bucket.len() > BITMAP_SEARCH_MAX {
        bucket.sort_unstable();
        return repeated_in_sorted(bucket);
    }
    if bucket.len() < 2 {
        return Vec::new();
    }
    let bits = (bucket.len() * 32).next_power_of_two().max(64);
    let shift = 64 - bits.trailing_zeros();
    let bit_of = |h: u64| (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize;
    // The bits seen, then the bits seen twice.
    let words = bits / 64;
    scratch.clear();
    scratch.resize(words * 2, 0);
    let (seen, again) = scratch.split_at_mut(words);
    let mut twice = false;
    for &h in bucket.iter() {
        let b = bit_of(h);
        let m = 1u64 << (b % 64);
        if let Some(word) = seen.get_mut(b / 64) {
            let hit = *word & m;
            *word |= m;
            if hit != 0 {
                if let Some(w) = again.get_mut(b / 64) {
                    *w |= hit;
                }
                twice = true;
            }
        }
    }
    if !twice {
        return Vec::new();
    }
    let seen_twice = |h: u64| {
        let b = bit_of(h);
        again
            .get(b / 64)
            .is_some_and(|w| w & (1u64 << (b % 64)) != 0)
    };
    let mut alike: Vec<u64> = bucket.iter().copied().filter(|&h| seen_twice(h)).collect();
    alike.sort_unstable();
    repeated_in_sorted(&alike)
}

/// The `k`-th smallest value (from 0) of two sorted slices taken together.
fn kth_of_two(a: &[u64], b: &[u64], k: usize) -> Option<u64> {
    let (mut i, mut j) = (0, 0);
    for _ in 0..k {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x <= y => i += 1,
            (_, Some(_)) => j += 1,
            (Some(_), None) => i += 1,
            (None, None) => return None,
        }
    }
    match (a.get(i).copied(), b.get(j).copied()) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// The values that occur more than once in a sorted `bucket`, each once.
fn repeated_in_sorted(bucket: &[u64]) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for pair in bucket.windows(2) {
        if let [a, b] = *pair
            && a == b
            && out.last() != Some(&a)
        {
            out.push(a);
        }
    }
    out
}

impl DupKeys {
    pub fn with_budget(budget: usize) -> Self {
        DupKeys {
            buckets: vec![Vec::new(); BUCKETS],
            slab: None,
            lo: 0,
            shift: 56,
            end: BUCKETS,
            budget: budget.max(MIN_BUDGET),
            held: 0,
            suspects: Vec::new(),
            tidy: 0,
        }
    }

    /// Whether this pass still covers every fingerprint, in buckets by the
    /// top byte.
    fn whole_range(&self) -> bool {
        self.lo == 0 && self.shift == 56 && self.end == BUCKETS
    }

    /// Where this pass's range ends: 2^64 when it reaches the top.
    fn range_end(&self) -> u128 {
        u128::from(self.lo) + ((self.end as u128) << self.shift)
    }

    /// Whether the passes so far covered every fingerprint.
    fn covered_all(&self) -> bool {
        self.range_end() >= 1 << 64
    }

    #[inline]
    fn bucket_of(&self, h: u64) -> Option<usize> {
        let i = h.checked_sub(self.lo)? >> self.shift;
        (i < self.end as u64).then_some(i as usize)
    }

    /// Records a key by its [`key_fingerprint`].
    #[inline]
    pub fn insert(&mut self, db: u64, fp: u64) {
        self.insert_folded(in_db(fp, db));
    }

    /// Records keys by their fingerprints [`in_db`], in order: the same as
    /// [`DupKeys::insert_folded`] one by one, with the checks that do not
    /// change from key to key made once.
    pub fn insert_all_folded(&mut self, fps: &[u64]) {
        if !self.whole_range() {
            fps.iter().for_each(|&h| self.insert_folded(h));
            return;
        }
        for (n, &h) in fps.iter().enumerate() {
            let i = (h >> 56) as usize;
            if self.slab.as_mut().is_some_and(|slab| slab.push(i, h)) {
                continue;
            }
            let Some(b) = self.buckets.get_mut(i) else {
                continue;
            };
            if b.len() == b.capacity() {
                // Growing may shed buckets: the rest go one by one.
                fps.get(n..)
                    .unwrap_or_default()
                    .iter()
                    .for_each(|&h| self.insert_folded(h));
                return;
            }
            b.push(h);
        }
    }

    /// Records a key by its fingerprint [`in_db`].
    #[inline]
    pub fn insert_folded(&mut self, h: u64) {
        // Each turn either pushes, or makes room, or narrows the range.
        while let Some(i) = self.bucket_of(h) {
            if self.slab.as_mut().is_some_and(|slab| slab.push(i, h)) {
                return;
            }
            let Some(b) = self.buckets.get_mut(i) else {
                return;
            };
            if b.len() < b.capacity() {
                b.push(h);
                return;
            }
            self.make_room(i);
        }
    }

    /// Bucket `i` is full. Grows it if the budget allows, after shedding
    /// the highest buckets if need be (bucket `i` itself among them); when
    /// it is the last bucket, compacts it, and narrows the range if that
    /// freed too little.
    #[cold]
    fn make_room(&mut self, i: usize) {
        let Some(cap) = self.buckets.get(i).map(Vec::capacity) else {
            return;
        };
        // Room, and at least half the bucket free. (A bucket whose values
        // all sit in the slab has no vector yet: no room.)
        let room_in = |d: &Self, i: usize| {
            d.buckets
                .get(i)
                .is_some_and(|b| b.len() <= cap / 2 && b.len() < b.capacity())
        };
        // Uniform hashes fill buckets evenly: one far above the average
        // holds repeats (a zeroed region frames as millions of the same
        // empty key), and compacting it spares shedding the others.
        if self.end > 1 && cap * 8 * self.end > 4 * self.held {
            self.compact(i);
            if room_in(self, i) && self.used() <= self.budget {
                return;
            }
        }
        let more = cap.max(16);
        let fits = |d: &Self| d.used().saturating_add(more * 8) <= d.budget;
        while !fits(self) && self.end > 1 {
            self.end -= 1;
            if let Some(b) = self.buckets.get_mut(self.end) {
                self.held -= b.capacity() * 8;
                *b = Vec::new();
            }
            if let Some(slab) = &mut self.slab {
                // Its memory stays held until the pass ends.
                slab.forget(self.end);
            }
            self.drop_suspects_outside();
            if self.end == i {
                return;
            }
        }
        if fits(self) {
            if let Some(b) = self.buckets.get_mut(i) {
                b.reserve_exact(more);
                self.held += (b.capacity() - cap) * 8;
            }
            return;
        }
        // One bucket left (i == 0), as big as the budget allows.
        self.compact(0);
        if !room_in(self, 0) || self.used() > self.budget {
            self.narrow();
        }
    }

    /// Bytes held: the fingerprints and the suspects found by compacting.
    fn used(&self) -> usize {
        self.held + self.suspects.capacity() * 8
    }

    /// Drops the suspects above this pass's range (after it shrank): a
    /// later pass finds them again. None lies below it: every suspect
    /// comes from this pass's buckets.
    fn drop_suspects_outside(&mut self) {
        if self.suspects.is_empty() {
            return;
        }
        self.tidy_suspects();
        let end = self.range_end();
        let n = self.suspects.partition_point(|&h| u128::from(h) < end);
        self.suspects.truncate(n);
        self.suspects.shrink_to_fit();
        self.tidy = n;
    }

    /// Sorts bucket `i`, moves its repeated values to the suspects and keeps
    /// one copy of each value.
    fn compact(&mut self, i: usize) {
        let Some(b) = self.buckets.get_mut(i) else {
            return;
        };
        b.sort_unstable();
        let repeated = repeated_in_sorted(b);
        b.dedup();
        self.add_suspects(repeated);
    }

    /// The last bucket, compacted, is still more than half full (its values
    /// are distinct), or it and the suspects its compactions found outgrow
    /// the budget (a file crafted so that its keys fall in one bucket, each
    /// twice). Cuts the range into 256 and keeps the lower buckets that hold
    /// at most half the budget of values and suspects together (the rest of
    /// the range is left to later passes, which find its suspects again).
    /// Briefly holds half as much again as the bucket.
    fn narrow(&mut self) {
        // The buckets are about to be cut by other bits than the top byte,
        // which the slab's layout follows: its part of the one bucket left
        // joins the rest, and its memory is freed.
        if let Some(slab) = self.slab.take() {
            self.held -= slab.bytes();
            if let Some(b) = self.buckets.first_mut() {
                let before = b.capacity();
                b.extend_from_slice(slab.part(0));
                self.held += (b.capacity() - before) * 8;
            }
            // Cutting it needs it sorted and without repeats again.
            self.compact(0);
        }
        let Some(mut b) = self.buckets.first_mut().map(std::mem::take) else {
            return;
        };
        self.tidy_suspects();
        let room = (b.capacity() / 2).min(self.budget / 16);
        while b.len() + self.suspects.len() > room && self.shift >= 8 {
            self.shift -= 8;
            let (lo, shift) = (self.lo, self.shift);
            let sub = |v: &u64| v.wrapping_sub(lo) >> shift;
            // Below the middle entry's bucket: at most half the entries.
            let half = (b.len() + self.suspects.len()) / 2;
            let Some(middle) = kth_of_two(&b, &self.suspects, half).map(|v| sub(&v)) else {
                break;
            };
            let keep = middle.max(1);
            b.truncate(b.partition_point(|v| sub(v) < keep));
            let n = self.suspects.partition_point(|v| sub(v) < keep);
            self.suspects.truncate(n);
            self.end = keep as usize;
        }
        self.suspects.shrink_to_fit();
        self.tidy = self.suspects.len();
        let (lo, shift) = (self.lo, self.shift);
        let mut rest = &b[..];
        self.held = 0;
        for (j, bucket) in self.buckets.iter_mut().take(self.end).enumerate() {
            let n = rest.partition_point(|v| v.wrapping_sub(lo) >> shift <= j as u64);
            let (run, tail) = rest.split_at(n);
            *bucket = run.to_vec();
            self.held += bucket.capacity() * 8;
            rest = tail;
        }
    }

    fn add_suspects(&mut self, found: Vec<u64>) {
        self.suspects.extend(found);
        // Compacting a bucket again and again finds the same values again.
        if self.suspects.len() > 2 * self.tidy + 1024 {
            self.tidy_suspects();
        }
    }

    fn tidy_suspects(&mut self) {
        self.suspects.sort_unstable();
        self.suspects.dedup();
        self.tidy = self.suspects.len();
    }

    /// Reserves room for `keys` more keys (a RESIZEDB hint, already
    /// bounded by the caller), so the buckets grow once instead of doubling.
    pub fn expect(&mut self, keys: u64) {
        // The share of the keys that falls in one bucket of this pass.
        let per = keys.checked_shr(64 - self.shift).unwrap_or(0);
        let per = usize::try_from(per).unwrap_or(usize::MAX);
        // Bucket sizes vary by a few standard deviations around the mean.
        let per = per.saturating_add(per / 16 + 16);
        let room = self.budget.saturating_sub(self.held);
        // A slab only when the hint fits with room to spare for buckets
        // that outgrow their part: shedding a bucket frees none of the
        // slab, so a slab that outgrew the budget would shed nearly every
        // bucket, and cover them with extra passes, where plain buckets
        // free what they shed and keep the most keys the budget holds.
        let slab_bytes = per.saturating_mul(BUCKETS * 8);
        if self.slab.is_none()
            && self.whole_range()
            && slab_bytes >= SLAB_MIN_BYTES
            && slab_bytes <= room / 8 * 7
        {
            let slab = Slab::new(per);
            self.held += slab.bytes();
            self.slab = Some(slab);
            return;
        }
        // Reserve only what the budget allows.
        let per = per.min(room / 8 / self.end.max(1));
        for b in self.buckets.iter_mut().take(self.end) {
            let before = b.capacity();
            b.reserve_exact(per.saturating_sub(b.capacity() - b.len()));
            self.held += (b.capacity() - before) * 8;
        }
    }

    /// Heap bytes held by the fingerprints.
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        let slab = self.slab.as_ref().map_or(0, Slab::bytes);
        slab + self.buckets.iter().map(|b| b.capacity() * 8).sum::<usize>()
    }

    /// Moves fingerprints seen more than once in this pass's buckets to
    /// `suspects`, and frees the buckets. `find` returns the repeated
    /// fingerprints of every bucket (see [`repeated_in`]): a driver runs
    /// it on several threads.
    pub fn settle_with(&mut self, find: impl FnOnce(&mut [&mut [u64]]) -> Vec<u64>) {
        let end = self.end.min(self.buckets.len());
        let mut slab = self.slab.take();
        let mut parts: Vec<&mut [u64]> = match &mut slab {
            // A bucket that overflowed the slab is searched whole: its slab
            // part joins the rest (a copy of 1/256 of the slab at most).
            Some(slab) => slab
                .parts_mut()
                .zip(&mut self.buckets)
                .take(end)
                .map(|(part, b)| {
                    if b.is_empty() {
                        part
                    } else {
                        b.extend_from_slice(part);
                        b.as_mut_slice()
                    }
                })
                .collect(),
            None => self
                .buckets
                .iter_mut()
                .take(end)
                .map(Vec::as_mut_slice)
                .collect(),
        };
        let repeated = find(&mut parts);
        drop(parts);
        self.add_suspects(repeated);
        for b in &mut self.buckets {
            *b = Vec::new();
        }
        self.held = 0;
    }

    fn collect_suspects(&mut self) {
        self.settle_with(|buckets| {
            let mut scratch = Vec::new();
            buckets
                .iter_mut()
                .flat_map(|b| repeated_in(b, &mut scratch))
                .collect()
        });
    }

    /// Ends this pass: its suspects, sorted, each once. Only those in the
    /// pass's range by now: a bucket compacted and then shed, or narrowed,
    /// is covered again by a later pass, which finds its repeats again.
    fn take_suspects(&mut self) -> Vec<u64> {
        self.collect_suspects();
        self.drop_suspects_outside();
        self.tidy = 0;
        std::mem::take(&mut self.suspects)
    }

    /// Starts the pass after this one: the rest of the range, in buckets
    /// by the top byte again. `false` when every value was covered.
    fn next_range(&mut self) -> bool {
        let from = self.range_end();
        if from >= 1 << 64 {
            return false;
        }
        self.lo = from as u64;
        self.shift = 56;
        let left = (1u128 << 64) - from;
        self.end = usize::try_from(left.div_ceil(1 << 56))
            .unwrap_or(BUCKETS)
            .min(BUCKETS);
        true
    }

    /// A framing-only pass that fingerprints the keys in this pass's range.
    fn fingerprint_pass(&mut self, data: &[u8], header: Header, passed: &dyn Fn(u64, u64)) {
        each_key(data, header, passed, |_, db, key| {
            self.insert(db, key_fingerprint(key));
            ControlFlow::Continue(())
        });
    }

    /// For an input that cannot be read again: how many fingerprints were
    /// seen more than once, and whether every key was covered (ranges
    /// shed over the budget cannot be covered by more passes).
    pub fn finish_unconfirmed(mut self) -> (usize, bool) {
        self.collect_suspects();
        self.tidy_suspects();
        (self.suspects.len(), self.covered_all())
    }

    /// Confirms suspects, and covers the fingerprint ranges the main pass
    /// left, with more passes over the file: the first `keep` duplicates
    /// found, in file order, and how many more there are (a
    /// zeroed region frames as millions of the same empty key, and the
    /// report keeps a few hundred findings: naming them all took a
    /// gigabyte).
    /// `passed(start, end)` is told, every few megabytes, which bytes these
    /// extra passes have read and will not read again (so that a mapped
    /// file's pages can be released behind them, as behind the main pass).
    pub fn finish(
        mut self,
        data: &[u8],
        header: Header,
        keep: usize,
        passed: &dyn Fn(u64, u64),
    ) -> (Vec<Duplicate>, u64) {
        let mut named = Vec::new();
        let mut found = 0u64;
        // Each range's suspects are confirmed before the next range is
        // fingerprinted, so that they too stay within the budget (a file
        // holding every key twice has as many suspects as keys).
        loop {
            let suspects = self.take_suspects();
            let mut rest = &suspects[..];
            while !rest.is_empty() {
                let mut take = rest.len();
                let confirmed = loop {
                    let some = rest.get(..take).unwrap_or_default();
                    match confirm(data, header, some, keep, self.budget, passed) {
                        Ok(confirmed) => break confirmed,
                        Err(fewer) => take = fewer,
                    }
                };
                named.extend(confirmed.0);
                found += confirmed.1;
                // Each part's first `keep` in file order: the first `keep`
                // of all are among them.
                named.sort_unstable_by_key(|d: &Duplicate| d.offset);
                named.truncate(keep);
                rest = rest.get(take..).unwrap_or_default();
            }
            if !self.next_range() {
                break;
            }
            self.fingerprint_pass(data, header, passed);
        }
        let more = found - named.len() as u64;
        (named, more)
    }
}

/// Bytes a first place kept by [`confirm`] is counted as, beside its key:
/// the map's entry, its key's allocation and their slack.
const FIRST_PLACE_BYTES: usize = 96;

/// One pass that names the duplicates among keys whose fingerprints are in
/// `suspects` (sorted): the first `keep` in file order, and how many
/// there are. When the first places of the keys outgrow `budget`, stops
/// and says how many of the suspects to try instead (fewer, at least one).
fn confirm(
    data: &[u8],
    header: Header,
    suspects: &[u64],
    keep: usize,
    budget: usize,
    passed: &dyn Fn(u64, u64),
) -> Result<(Vec<Duplicate>, u64), usize> {
    // The first place of each suspected key, and its suspect's index.
    let mut first: HashMap<(u64, Vec<u8>), (u64, usize)> = HashMap::new();
    let mut bytes = 0usize;
    let mut named = Vec::new();
    let mut found = 0u64;
    let mut fewer = None;
    each_key(data, header, passed, |offset, db, key| {
        let Ok(index) = suspects.binary_search(&in_db(key_fingerprint(key), db)) else {
            return ControlFlow::Continue(());
        };
        match first.get(&(db, key.to_vec())) {
            Some(&(first_offset, _)) => {
                found += 1;
                if named.len() < keep {
                    named.push(Duplicate {
                        db,
                        key: key.to_vec(),
                        first_offset,
                        offset,
                    });
                }
            }
            None => {
                bytes = bytes.saturating_add(key.len() + FIRST_PLACE_BYTES);
                first.insert((db, key.to_vec()), (offset, index));
                if bytes > budget && suspects.len() > 1 {
                    // Keep the suspects of at most half the places.
                    let mut at: Vec<usize> = first.values().map(|p| p.1).collect();
                    let half = at.len() / 2;
                    let (_, &mut middle, _) = at.select_nth_unstable(half);
                    fewer = Some(middle.clamp(1, suspects.len() - 1));
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    });
    match fewer {
        Some(n) => Err(n),
        None => Ok((named, found)),
    }
}

/// Reads the key records of `data` in order, handing each key to `each`
/// with its offset and db, until `each` breaks; tells `passed` what the
/// pass is done with.
fn each_key(
    data: &[u8],
    header: Header,
    passed: &dyn Fn(u64, u64),
    mut each: impl FnMut(u64, u64, &[u8]) -> ControlFlow<()>,
) {
    let mut db = 0u64;
    let mut behind = Behind::new(passed);
    for item in Records::new(data, header) {
        let Ok(item) = item else { break };
        behind.at(item.offset);
        match item.record {
            Record::SelectDb { db: n } => db = n,
            Record::Key(k) => {
                if let Ok(key) = k.key.to_bytes()
                    && each(item.offset, db, &key).is_break()
                {
                    return;
                }
            }
            _ => {}
        }
    }
    behind.done(data.len() as u64);
}

/// Tells a pass's reader, in steps of [`Behind::STEP`], which bytes the
/// pass is done with.
struct Behind<'f> {
    passed: &'f dyn Fn(u64, u64),
    from: u64,
}

impl<'f> Behind<'f> {
    const STEP: u64 = 32 << 20;

    fn new(passed: &'f dyn Fn(u64, u64)) -> Self {
        Behind { passed, from: 0 }
    }

    #[inline]
    fn at(&mut self, offset: u64) {
        if offset >= self.from + Self::STEP {
            (self.passed)(self.from, offset);
            self.from = offset;
        }
    }

    fn done(&mut self, end: u64) {
        if end > self.from {
            (self.passed)(self.from, end);
            self.from = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_in_one_db_is_a_suspect_and_in_two_dbs_is_not() {
        let mut d = DupKeys::default();
        d.insert(0, key_fingerprint(b"a"));
        d.insert(1, key_fingerprint(b"a"));
        d.insert(0, key_fingerprint(b"b"));
        d.insert(1, key_fingerprint(b"a"));
        d.collect_suspects();
        assert_eq!(d.suspects, vec![in_db(key_fingerprint(b"a"), 1)]);
    }

    #[test]
    fn over_budget_the_highest_buckets_are_shed_and_held_memory_stays_bounded() {
        let budget = 64 << 10;
        let mut d = DupKeys::with_budget(budget);
        for i in 0..100_000u32 {
            d.insert(0, key_fingerprint(&i.to_le_bytes()));
            assert!(d.held <= budget, "held {} over {budget}", d.held);
        }
        assert!(d.end < BUCKETS && d.end > 0);
        assert_eq!(d.heap_bytes(), d.held);
    }

    /// Every pass over `fps` within `budget`, as [`DupKeys::finish`] runs
    /// them over a file: the suspects, and how many passes it took. Checks
    /// the budget after every key.
    fn suspects_by_passes(fps: &[u64], budget: usize) -> (Vec<u64>, usize) {
        suspects_by_passes_hinted(fps, budget, None)
    }

    /// [`suspects_by_passes`], told ahead of the first key to expect
    /// `hint` keys, as a RESIZEDB record tells the main pass.
    fn suspects_by_passes_hinted(
        fps: &[u64],
        budget: usize,
        hint: Option<u64>,
    ) -> (Vec<u64>, usize) {
        let mut d = DupKeys::with_budget(budget);
        if let Some(keys) = hint {
            d.expect(keys);
            assert!(d.used() <= d.budget);
            if keys > 100_000 && budget == usize::MAX {
                assert!(d.slab.is_some(), "a slab for {keys} keys");
            }
        }
        let mut passes = 0;
        let mut suspects = Vec::new();
        loop {
            passes += 1;
            for (n, &h) in fps.iter().enumerate() {
                d.insert_folded(h);
                assert!(d.used() <= d.budget, "used {} over {}", d.used(), d.budget);
                if n % 256 == 0 {
                    assert_eq!(d.heap_bytes(), d.held);
                }
            }
            suspects.extend(d.take_suspects());
            if !d.next_range() {
                break;
            }
        }
        // Each suspect once, over all passes: a repeat confirmed twice
        // would be reported twice.
        let all = suspects.len();
        suspects.sort_unstable();
        suspects.dedup();
        assert_eq!(suspects.len(), all, "a suspect found in two passes");
        (suspects, passes)
    }

    /// The values that occur more than once, sorted.
    fn repeated(fps: &[u64]) -> Vec<u64> {
        let mut count: HashMap<u64, usize> = HashMap::new();
        fps.iter().for_each(|&h| *count.entry(h).or_default() += 1);
        let mut r: Vec<u64> = count
            .into_iter()
            .filter(|&(_, n)| n > 1)
            .map(|(h, _)| h)
            .collect();
        r.sort_unstable();
        r
    }

    fn spread(i: u64) -> u64 {
        i.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17) ^ i
    }

    #[test]
    fn millions_of_one_value_stay_one_entry_and_one_pass() {
        // A zeroed region: every record the empty key, in one bucket.
        let same = key_fingerprint(b"");
        let mut fps = vec![same; 2_000_000];
        fps.extend((1..500u64).map(spread));
        let budget = 64 << 10;
        let (suspects, passes) = suspects_by_passes(&fps, budget);
        assert_eq!(suspects, repeated(&fps));
        assert_eq!(suspects, vec![same]);
        assert_eq!(passes, 1);
    }

    #[test]
    fn a_bucket_of_distinct_values_over_the_budget_is_narrowed_and_covered_later() {
        // Distinct values sharing their top byte, a few repeated, and the
        // edges of the range: the last bucket cannot be compacted.
        let mut fps: Vec<u64> = (0..40_000u64)
            .map(|i| (7 << 56) | (spread(i) >> 8))
            .collect();
        fps.extend((0..20u64).map(|i| (7 << 56) | (spread(i * 997) >> 8)));
        fps.extend([0, 0, u64::MAX, u64::MAX, 1, u64::MAX - 1]);
        fps.extend((0..3000u64).map(spread));
        for budget in [2 << 10, 16 << 10, 64 << 10, usize::MAX] {
            let (suspects, passes) = suspects_by_passes(&fps, budget);
            assert_eq!(suspects, repeated(&fps), "budget {budget}");
            if budget < 64 << 10 {
                assert!(passes > 2, "budget {budget}: {passes} passes");
            }
        }
    }

    #[test]
    fn keys_crafted_into_one_bucket_each_twice_keep_their_suspects_within_the_budget() {
        // One key name in 256 has a fingerprint of a given top byte: easy
        // to find. Each such key twice, the copies far apart, makes every
        // compaction of that bucket find suspects.
        let one: Vec<u64> = (0..30_000u64)
            .map(|i| (9 << 56) | (spread(i) >> 8))
            .collect();
        let mut fps = one.clone();
        fps.extend(one.iter().rev());
        fps.extend((0..2000u64).map(spread));
        for budget in [8 << 10, 64 << 10, usize::MAX] {
            let (suspects, _) = suspects_by_passes(&fps, budget);
            assert_eq!(suspects, repeated(&fps), "budget {budget}");
        }
    }

    #[test]
    fn the_kth_of_two_sorted_slices_is_the_kth_of_their_union() {
        let a = [1, 4, 4, 9, 12];
        let b = [0, 4, 5, 13];
        let mut all: Vec<u64> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        for (k, &want) in all.iter().enumerate() {
            assert_eq!(kth_of_two(&a, &b, k), Some(want));
            assert_eq!(kth_of_two(&b, &a, k), Some(want));
        }
        assert_eq!(kth_of_two(&a, &b, all.len()), None);
        assert_eq!(kth_of_two(&[], &[], 0), None);
    }

    #[test]
    fn any_mix_finds_exactly_the_repeated_values_within_any_budget() {
        let mut state = 0x1234_5678u64;
        let mut next = || {
            state = spread(state.wrapping_add(1));
            state
        };
        for round in 0..6u64 {
            let pattern: Vec<u64> = (0..(50 << round)).map(|_| next()).collect();
            let mut fps = Vec::new();
            for i in 0..30_000usize {
                match next() % 4 {
                    0 => fps.push(pattern[i % pattern.len()]),
                    1 => fps.push(next() & (0xff << 48 | 0xffff)),
                    _ => fps.push(next()),
                }
            }
            for budget in [4 << 10, 40 << 10, usize::MAX] {
                let (suspects, _) = suspects_by_passes(&fps, budget);
                assert_eq!(suspects, repeated(&fps), "round {round}, budget {budget}");
            }
        }
    }

    #[test]
    fn inserting_a_batch_is_inserting_its_keys_one_by_one() {
        let fps: Vec<u64> = (0..60_000u32)
            .map(|i| {
                in_db(
                    key_fingerprint(&(i % 50_000).to_le_bytes()),
                    u64::from(i % 2),
                )
            })
            .collect();
        // Unbounded, and small enough that buckets are shed mid-batch.
        for budget in [usize::MAX, 96 << 10] {
            let mut one = DupKeys::with_budget(budget);
            let mut all = DupKeys::with_budget(budget);
            for chunk in fps.chunks(4096) {
                chunk.iter().for_each(|&h| one.insert_folded(h));
                all.insert_all_folded(chunk);
                assert_eq!(
                    (all.lo, all.shift, all.end, all.held),
                    (one.lo, one.shift, one.end, one.held)
                );
            }
            assert_eq!(all.buckets, one.buckets);
            one.collect_suspects();
            all.collect_suspects();
            assert_eq!(all.suspects, one.suspects);
            // Keys 50,000 apart repeat in the same db.
            assert!(!all.suspects.is_empty());
        }
    }

    #[test]
    fn repeated_values_are_found_once_whatever_their_count_and_zero_too() {
        let mut table = Vec::new();
        assert!(repeated_in(&mut [], &mut table).is_empty());
        assert!(repeated_in(&mut [7], &mut table).is_empty());
        let mut v: Vec<u64> = (1..5000u64).map(spread).collect();
        assert!(repeated_in(&mut v.clone(), &mut table).is_empty());
        v.push(v[1234]);
        v.push(0);
        v.push(0);
        v.push(v[10]);
        v.push(v[10]);
        let mut want = vec![0, v[10], v[1234]];
        want.sort_unstable();
        let mut r = repeated_in(&mut v.clone(), &mut table);
        r.sort_unstable();
        assert_eq!(r, want);
        // Values alike in their low bits, or in their high bits, still
        // compare whole.
        let mut same_low: Vec<u64> = (1..100u64).map(|i| i << 40).chain([3 << 40]).collect();
        assert_eq!(repeated_in(&mut same_low, &mut table), vec![3 << 40]);
        let mut same_high: Vec<u64> = (1..100u64)
            .map(|i| (7 << 56) | i)
            .chain([7 << 56 | 9])
            .collect();
        assert_eq!(repeated_in(&mut same_high, &mut table), vec![7 << 56 | 9]);
        // Every value the same: all of them share a bit, and sorting them
        // finds the one repeat.
        assert_eq!(repeated_in(&mut vec![42; 3000], &mut table), vec![42]);
        // A bucket too big for the table is sorted instead: same answer.
        let mut big: Vec<u64> = (0..BITMAP_SEARCH_MAX as u64 + 10).map(spread).collect();
        big.extend([big[5], big[5], big[77], 0, 0]);
        let mut want = vec![0, big[5], big[77]];
        want.sort_unstable();
        let mut r = repeated_in(&mut big, &mut table);
        r.sort_unstable();
        assert_eq!(r, want);
    }

    #[test]
    fn repeated_values_match_a_sort_whatever_the_bucket_size() {
        let mut scratch = Vec::new();
        let mut state = 0x1234_5678u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state
        };
        for len in [2usize, 3, 5, 64, 100, 1000, 4096, 20_000, BITMAP_SEARCH_MAX] {
            // Drawn from a pool a few times smaller than the bucket: many
            // repeats, some values three or more times.
            let pool = (len / 3).max(1) as u64;
            let bucket: Vec<u64> = (0..len).map(|_| spread(next() % pool)).collect();
            let mut sorted = bucket.clone();
            sorted.sort_unstable();
            let want = repeated_in_sorted(&sorted);
            let mut got = repeated_in(&mut bucket.clone(), &mut scratch);
            got.sort_unstable();
            assert_eq!(got, want, "bucket of {len}");
        }
    }

    /// The duplicates of `data` found within `budget`: every key inserted
    /// as a main pass would, then [`DupKeys::finish`].
    fn duplicates_within(data: &[u8], budget: usize, keep: usize) -> (Vec<Duplicate>, u64) {
        let header = Header::parse(data).unwrap();
        let mut d = DupKeys::with_budget(budget);
        let mut db = 0;
        for item in Records::new(data, header) {
            match item.unwrap().record {
                Record::SelectDb { db: n } => db = n,
                Record::Key(k) => d.insert(db, key_fingerprint(&k.key.to_bytes().unwrap())),
                _ => {}
            }
        }
        d.finish(data, header, keep, &|_, _| {})
    }

    #[test]
    fn many_duplicated_keys_are_named_the_same_within_any_budget() {
        use crate::inspect::testrdb::Rdb;
        let names: Vec<Vec<u8>> = (0..400).map(|i| format!("key:{i}").into_bytes()).collect();
        let mut rdb = Rdb::new().db(0);
        for n in &names {
            rdb = rdb.string(n, b"v");
        }
        // The same names in db 1 are no duplicates; again in db 0 they are,
        // in reverse order.
        rdb = rdb.db(1);
        for n in &names {
            rdb = rdb.string(n, b"v");
        }
        rdb = rdb.db(0);
        for n in names.iter().rev() {
            rdb = rdb.string(n, b"w");
        }
        let data = rdb.finish();
        let shown = |(dups, more): (Vec<Duplicate>, u64)| {
            let named: Vec<_> = dups
                .into_iter()
                .map(|d| (d.db, d.key, d.first_offset, d.offset))
                .collect();
            (named, more)
        };
        let (all, more) = shown(duplicates_within(&data, usize::MAX, 1000));
        assert_eq!((all.len(), more), (400, 0));
        assert!(all.windows(2).all(|w| w[0].3 < w[1].3));
        for (db, key, first, at) in &all {
            assert_eq!(*db, 0);
            assert!(first < at);
            let name = |o: u64| {
                data.get(o as usize + 2..o as usize + 2 + key.len())
                    .unwrap()
            };
            assert_eq!((name(*first), name(*at)), (&key[..], &key[..]));
        }
        for budget in [0, 2048, 30_000, usize::MAX] {
            for keep in [0, 7, 1000] {
                let want = (
                    all.iter().take(keep).cloned().collect(),
                    400 - keep.min(400) as u64,
                );
                assert_eq!(
                    shown(duplicates_within(&data, budget, keep)),
                    want,
                    "budget {budget}, keep {keep}"
                );
            }
        }
    }

    #[test]
    fn a_size_hint_fills_one_slab_and_finds_the_same_suspects_whatever_the_hint() {
        let n = 600_000u64;
        let mut fps: Vec<u64> = (0..n).map(spread).collect();
        // Repeats spread over every bucket, and a value many times over.
        fps.extend((0..5000u64).map(|i| spread(i * 97)));
        fps.extend(std::iter::repeat_n(spread(3), 50_000));
        let want = repeated(&fps);
        let len = fps.len() as u64;
        for hint in [len, len / 2, len / 40, 2 * len] {
            // Unbounded; the slab and a little more; less than the slab
            // wants (shedding with the slab held).
            for budget in [usize::MAX, 7 << 20, 7 << 19, 1 << 20] {
                let (suspects, _) = suspects_by_passes_hinted(&fps, budget, Some(hint));
                assert_eq!(suspects, want, "hint {hint}, budget {budget}");
            }
        }
        // A hint that fits 7/8 of the budget gets a slab even when the keys
        // are twice as many: shedding with the slab held (checked above).
        let mut d = DupKeys::with_budget(7 << 19);
        d.expect(len / 2);
        assert!(d.slab.is_some());
        // A hint beyond the budget gets none: plain buckets shed what the
        // budget cannot hold, and the passes are as many as without a hint.
        let mut d = DupKeys::with_budget(2 << 20);
        d.expect(len);
        assert!(d.slab.is_none());
        let (_, hinted) = suspects_by_passes_hinted(&fps, 2 << 20, Some(len));
        let (_, plain) = suspects_by_passes(&fps, 2 << 20);
        assert_eq!(hinted, plain);
        // A zeroed region after the hint: one value in one bucket, past
        // its slab part, compacts in the overflow and takes one pass.
        let same = key_fingerprint(b"");
        let mut flood: Vec<u64> = (0..n).map(spread).collect();
        flood.extend(std::iter::repeat_n(same, 1_000_000));
        let (suspects, passes) = suspects_by_passes_hinted(&flood, 8 << 20, Some(n));
        assert_eq!(suspects, repeated(&flood));
        assert_eq!(passes, 1);
    }

    #[test]
    fn memory_is_eight_bytes_per_key_plus_growth_slack() {
        let mut d = DupKeys::default();
        for i in 0..100_000u32 {
            d.insert(0, key_fingerprint(&i.to_le_bytes()));
        }
        // Doubling leaves at most 2x, per small bucket.
        assert!(d.heap_bytes() <= 2 * 8 * 100_000 + BUCKETS * 64);
    }
}
