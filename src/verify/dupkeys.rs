//! Duplicate top-level keys, which make every server abort a load and
//! which no existing checker notices.
//!
//! Memory: one 64-bit fingerprint per key (the db is folded into it),
//! appended to one of 256 buckets chosen by the fingerprint's top byte:
//! 32 MiB for 4 million keys, with no load-factor slack and no rehashing.
//! Appending is sequential and cheap; at the end each bucket (1/256 of the
//! keys, small enough for the cache) is sorted and equal neighbours become
//! suspects. Suspects are only suspects: a second framing pass, run only
//! when there are some, compares the real keys, so a report never rests on
//! a hash alone.
//!
//! The fingerprints are held to a budget (`Options::dup_key_budget`). When
//! the buckets outgrow it, the highest-numbered ones are dropped and no
//! longer filled; after the main pass, extra framing-only passes each
//! fingerprint the keys of as many of the dropped buckets as fit, until
//! every bucket was covered once. Memory stays at the budget; a file with
//! more keys than the budget holds (6 million per 48 MiB) pays one framing
//! scan per budget's worth of keys instead.

use super::fingerprint::fingerprint64;
use crate::rdb::{Header, Record, Records};
use std::collections::{HashMap, HashSet};

const BUCKETS: usize = 256;

pub struct DupKeys {
    buckets: Vec<Vec<u64>>,
    keys: u64,
    /// Buckets `first..end` are being filled in this pass.
    first: usize,
    end: usize,
    /// Bytes the fingerprints may hold.
    budget: usize,
    /// Bytes held now.
    held: usize,
    /// Suspects from passes already done.
    suspects: HashSet<u64>,
}

pub struct Duplicate {
    pub db: u64,
    pub key: Vec<u8>,
    pub first_offset: u64,
    pub offset: u64,
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
    // An odd multiplier keeps the map from db to offset one-to-one, so keys
    // of different dbs never look alike because of the db alone.
    fp ^ db.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The values that occur more than once in `bucket`, found with an
/// open-addressing table of at least twice as many slots (`table`,
/// reused between calls): a few instructions per value, where sorting the
/// bucket cost fifty. The bucket's values are uniform hashes, so their low
/// bits index the table directly.
pub fn repeated_in(bucket: &[u64], table: &mut Vec<u64>) -> Vec<u64> {
    let mut out = Vec::new();
    if bucket.len() < 2 {
        return out;
    }
    let slots = (bucket.len() * 2).next_power_of_two();
    let mask = slots - 1;
    table.clear();
    table.resize(slots, 0);
    // 0 marks a free slot, so the value 0 is counted aside.
    let mut zero_seen = false;
    for &h in bucket {
        if h == 0 {
            if zero_seen {
                out.push(0);
            }
            zero_seen = true;
            continue;
        }
        // More slots than values: a free slot is always found.
        let mut i = (h as usize) & mask;
        while let Some(slot) = table.get_mut(i) {
            if *slot == 0 {
                *slot = h;
                break;
            }
            if *slot == h {
                out.push(h);
                break;
            }
            i = (i + 1) & mask;
        }
    }
    out
}

impl DupKeys {
    pub fn with_budget(budget: usize) -> Self {
        DupKeys {
            buckets: vec![Vec::new(); BUCKETS],
            keys: 0,
            first: 0,
            end: BUCKETS,
            budget,
            held: 0,
            suspects: HashSet::new(),
        }
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
        if self.first != 0 || self.end != BUCKETS {
            fps.iter().for_each(|&h| self.insert_folded(h));
            return;
        }
        for (n, &h) in fps.iter().enumerate() {
            let Some(b) = self.buckets.get_mut((h >> 56) as usize) else {
                continue;
            };
            if b.len() == b.capacity() {
                // Growing may shed buckets: the rest go one by one.
                self.keys += n as u64;
                fps.get(n..)
                    .unwrap_or_default()
                    .iter()
                    .for_each(|&h| self.insert_folded(h));
                return;
            }
            b.push(h);
        }
        self.keys += fps.len() as u64;
    }

    /// Records a key by its fingerprint [`in_db`].
    #[inline]
    pub fn insert_folded(&mut self, h: u64) {
        self.keys += 1;
        let i = (h >> 56) as usize;
        if i < self.first || i >= self.end {
            return;
        }
        if let Some(b) = self.buckets.get_mut(i) {
            if b.len() == b.capacity() {
                let before = b.capacity();
                b.reserve(1);
                self.held += (b.capacity() - before) * 8;
                if self.held > self.budget {
                    self.shed();
                }
            }
            if let Some(b) = self.buckets.get_mut(i)
                && i < self.end
            {
                b.push(h);
            }
        }
    }

    /// Over budget: stop tracking the highest buckets of this pass (always
    /// keeping one, so that every pass makes progress).
    #[cold]
    fn shed(&mut self) {
        while self.held > self.budget && self.end > self.first + 1 {
            self.end -= 1;
            if let Some(b) = self.buckets.get_mut(self.end) {
                self.held -= b.capacity() * 8;
                *b = Vec::new();
            }
        }
    }

    /// Reserves room for `keys` more keys (a RESIZEDB hint, already
    /// bounded by the caller), so the buckets grow once instead of doubling.
    pub fn expect(&mut self, keys: u64) {
        let per = usize::try_from(keys / BUCKETS as u64).unwrap_or(0);
        // Bucket sizes vary by a few standard deviations around the mean.
        let per = per + per / 16 + 16;
        // Reserve only what the budget allows for the buckets of this pass.
        let tracked = (self.end - self.first).max(1);
        let per = per.min(self.budget.saturating_sub(self.held) / 8 / tracked);
        for b in self.buckets.iter_mut().take(self.end).skip(self.first) {
            let before = b.capacity();
            b.reserve(per.saturating_sub(b.capacity() - b.len()));
            self.held += (b.capacity() - before) * 8;
        }
    }

    /// Heap bytes held by the fingerprints.
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        self.buckets.iter().map(|b| b.capacity() * 8).sum()
    }

    /// Moves fingerprints seen more than once in this pass's buckets to
    /// `suspects`, and frees the buckets. `find` returns the repeated
    /// fingerprints of every bucket (see [`repeated_in`]): a driver runs
    /// it on several threads.
    pub fn settle_with(&mut self, find: impl FnOnce(&[Vec<u64>]) -> Vec<u64>) {
        let repeated = find(&self.buckets);
        self.suspects.extend(repeated);
        for b in &mut self.buckets {
            *b = Vec::new();
        }
        self.held = 0;
    }

    fn collect_suspects(&mut self) {
        self.settle_with(|buckets| {
            let mut table = Vec::new();
            buckets
                .iter()
                .flat_map(|b| repeated_in(b, &mut table))
                .collect()
        });
    }

    /// Fingerprints the keys of the buckets no pass covered yet, in as
    /// many framing-only passes as the budget requires.
    fn remaining_passes(&mut self, data: &[u8], header: Header, passed: &dyn Fn(u64, u64)) {
        while self.end < BUCKETS {
            self.first = self.end;
            self.end = BUCKETS;
            let mut db = 0u64;
            let mut behind = Behind::new(passed);
            for item in Records::new(data, header) {
                let Ok(item) = item else { break };
                behind.at(item.offset);
                match item.record {
                    Record::SelectDb { db: n } => db = n,
                    Record::Key(k) => {
                        if let Ok(key) = k.key.to_bytes() {
                            self.insert(db, key_fingerprint(&key));
                        }
                    }
                    _ => {}
                }
            }
            behind.done(data.len() as u64);
            self.collect_suspects();
        }
    }

    /// For an input that cannot be read again: how many fingerprints were
    /// seen more than once, and whether every key was covered (buckets
    /// shed over the budget cannot be covered by more passes).
    pub fn finish_unconfirmed(mut self) -> (usize, bool) {
        self.collect_suspects();
        (self.suspects.len(), self.end == BUCKETS)
    }

    /// Confirms suspects with a second pass over the file: the first
    /// `keep` duplicates found, in file order, and how many more there are
    /// (a zeroed region frames as millions of the same empty key, and the
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
        self.collect_suspects();
        self.remaining_passes(data, header, passed);
        let suspects = std::mem::take(&mut self.suspects);
        if suspects.is_empty() {
            return (Vec::new(), 0);
        }
        let mut first: HashMap<(u64, Vec<u8>), u64> = HashMap::new();
        let mut out = Vec::new();
        let mut more = 0u64;
        let mut db = 0u64;
        let mut behind = Behind::new(passed);
        for item in Records::new(data, header) {
            let Ok(item) = item else { break };
            behind.at(item.offset);
            match item.record {
                Record::SelectDb { db: n } => db = n,
                Record::Key(k) => {
                    let Ok(key) = k.key.to_bytes() else { continue };
                    if !suspects.contains(&in_db(key_fingerprint(&key), db)) {
                        continue;
                    }
                    match first.get(&(db, key.to_vec())) {
                        Some(_) if out.len() >= keep => more += 1,
                        Some(&at) => out.push(Duplicate {
                            db,
                            key: key.to_vec(),
                            first_offset: at,
                            offset: item.offset,
                        }),
                        None => {
                            first.insert((db, key.to_vec()), item.offset);
                        }
                    }
                }
                _ => {}
            }
        }
        behind.done(data.len() as u64);
        (out, more)
    }
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
        assert_eq!(d.suspects.len(), 1);
        assert!(d.suspects.contains(&in_db(key_fingerprint(b"a"), 1)));
    }

    #[test]
    fn over_budget_the_highest_buckets_are_shed_and_held_memory_stays_bounded() {
        let budget = 64 << 10;
        let mut d = DupKeys::with_budget(budget);
        for i in 0..100_000u32 {
            d.insert(0, key_fingerprint(&i.to_le_bytes()));
            assert!(d.held <= budget, "held {} over {budget}", d.held);
        }
        assert!(d.end < BUCKETS && d.end > d.first);
        assert_eq!(d.heap_bytes(), d.held);
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
                    (all.keys, all.first, all.end, all.held),
                    (one.keys, one.first, one.end, one.held)
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
    fn repeated_values_are_found_whatever_their_count_and_zero_too() {
        let mut table = Vec::new();
        assert!(repeated_in(&[], &mut table).is_empty());
        assert!(repeated_in(&[7], &mut table).is_empty());
        let mut v: Vec<u64> = (1..5000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        assert!(repeated_in(&v, &mut table).is_empty());
        v.push(v[1234]);
        v.push(0);
        v.push(0);
        v.push(v[10]);
        v.push(v[10]);
        let mut r = repeated_in(&v, &mut table);
        r.sort_unstable();
        r.dedup();
        let mut want = vec![0, v[10], v[1234]];
        want.sort_unstable();
        assert_eq!(r, want);
        // Colliding low bits probe on and still compare whole values.
        let same_low: Vec<u64> = (1..100u64).map(|i| i << 40).chain([3 << 40]).collect();
        assert_eq!(repeated_in(&same_low, &mut table), vec![3 << 40]);
    }

    #[test]
    fn memory_is_eight_bytes_per_key_plus_growth_slack() {
        let mut d = DupKeys::default();
        for i in 0..100_000u32 {
            d.insert(0, key_fingerprint(&i.to_le_bytes()));
        }
        // Vec doubling leaves at most 2x, per small bucket.
        assert!(d.heap_bytes() <= 2 * 8 * 100_000 + BUCKETS * 64);
    }
}
