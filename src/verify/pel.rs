//! The PEL entries of one consumer group, remembered while the group's
//! consumers and NACK zone are checked against them.
//!
//! Servers write a PEL in ID order (it is a radix tree, saved by walking
//! it), and each consumer's PEL too. So the table first keeps the entries
//! as a sorted array of IDs: a new entry is appended after comparing it
//! with the last one (equal is a duplicate), and a consumer's entries are
//! found by searching forward from where the last one was found, mostly
//! the next slot. Both walk memory in order. An entry out of order (a
//! file no server wrote, or a damaged one) turns the table, in place, into
//! a hash table keyed by the entries' [`fingerprint`]s, with linear
//! probing: random access, but any order.
//!
//! A table of its own rather than a `HashMap<u128, u8>`: that map keeps
//! each entry in a 32-byte slot (a 16-byte key aligned to 16 and a flag)
//! and, while it grows, its old table beside the new one, so that a walk
//! could remember about one entry per 64 bytes of its budget. Here keys
//! and flags lie in two arrays (17 bytes a slot), and the table is sized
//! once per group from the PEL's length, which the file states before
//! the entries: about 20 bytes an entry. A PEL too large for the budget is
//! checked in several walks, one range of fingerprints each, so the fewer
//! bytes an entry costs, the fewer walks a stream with long PELs takes.

/// Where a PEL entry falls among the walks' fingerprint ranges, and its
/// key in the hashed table. A bijection of the 128-bit ID (odd multipliers
/// and a shift-xor are each one-to-one), so two entries never share a
/// key, with every bit of the ID mixed into the top bits that pick a range
/// and the low bits that pick a slot; a third of the cost of hashing the
/// ID's 16 bytes.
#[inline]
pub fn fingerprint(id: u128) -> u128 {
    const SALT: u128 = 0x7065_6c00_0000_0000_0000_0000_0000_0005;
    const ODD: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835;
    let x = (id ^ SALT).wrapping_mul(ODD);
    (x ^ (x >> 64)).wrapping_mul(ODD)
}

/// Bytes one slot takes: a 16-byte key and a flag byte.
pub const SLOT_BYTES: u64 = 17;

/// Entries held per slot at most: probes stay short below 7/8 full.
const LOAD_NUM: usize = 7;
const LOAD_DEN: usize = 8;

/// Slots of the smallest table.
const MIN_SLOTS: usize = 16;

/// A flag bit of no caller's: a key not yet placed while the sorted array
/// is turned into the hashed table.
const UNPLACED: u8 = 0x80;

/// PEL entries by ID, each with a flag byte for the caller.
#[derive(Default)]
pub struct PelTable {
    /// Sorted: the IDs, in increasing order, one per entry. Hashed: one
    /// fingerprint per slot, 0 for a free one.
    keys: Vec<u128>,
    flags: Vec<u8>,
    /// Slots the table is sized for (the hashed table's length).
    slots: usize,
    hashed: bool,
    /// Hashed: keys held in `keys` (the fingerprint 0 is held aside in
    /// `zero`, since 0 marks a free slot).
    len: usize,
    zero: Option<u8>,
    /// Sorted: where the search for the next lookup starts.
    finger: usize,
}

impl PelTable {
    /// Empties the table and sizes it for `expected` entries, with at most
    /// `max_slots` slots (the caller's budget; at least `MIN_SLOTS`).
    /// The memory is kept from group to group and reallocated only to
    /// grow.
    pub fn reset(&mut self, expected: u64, max_slots: usize) {
        let wanted = usize::try_from(expected)
            .unwrap_or(usize::MAX)
            .saturating_mul(LOAD_DEN)
            .div_ceil(LOAD_NUM)
            .saturating_add(1);
        self.slots = wanted.clamp(MIN_SLOTS, max_slots.max(MIN_SLOTS));
        self.keys.clear();
        self.flags.clear();
        self.keys.reserve_exact(self.slots);
        self.flags.reserve_exact(self.slots);
        self.hashed = false;
        self.len = 0;
        self.zero = None;
        self.finger = 0;
    }

    /// Entries held.
    fn entries(&self) -> usize {
        if self.hashed {
            self.len + usize::from(self.zero.is_some())
        } else {
            self.keys.len()
        }
    }

    /// Whether the table holds as many entries as its size allows (the
    /// caller then narrows its range, or inserts anyway: see
    /// [`PelTable::insert`]).
    pub fn is_full(&self) -> bool {
        self.slots > 0 && self.entries() * LOAD_DEN >= self.slots * LOAD_NUM
    }

    /// Adds the entry `id` with no flags; false if it was held already.
    /// Past [`PelTable::is_full`] it still goes in, the table grown (a
    /// caller that could not narrow its range any further: that bound is
    /// the caller's, this only never fails).
    pub fn insert(&mut self, id: u128) -> bool {
        if !self.hashed {
            match self.keys.last() {
                Some(&last) if last == id => return false,
                Some(&last) if last > id => {
                    if self.keys.binary_search(&id).is_ok() {
                        return false;
                    }
                    self.rehash_in_place();
                }
                _ => {
                    self.keys.push(id);
                    self.flags.push(0);
                    return true;
                }
            }
        }
        self.insert_hashed(fingerprint(id))
    }

    /// The flags of the entry `id`, if it is held.
    pub fn flags_mut(&mut self, id: u128) -> Option<&mut u8> {
        let i = if self.hashed {
            let fp = fingerprint(id);
            if fp == 0 {
                return self.zero.as_mut();
            }
            let i = self.probe(fp)?;
            (self.keys.get(i) == Some(&fp)).then_some(i)?
        } else {
            self.find_sorted(id)?
        };
        self.flags.get_mut(i)
    }

    /// Whether any entry satisfies `f(fingerprint, flags)`.
    pub fn any(&self, f: impl Fn(u128, u8) -> bool) -> bool {
        if !self.hashed {
            return self
                .keys
                .iter()
                .zip(&self.flags)
                .any(|(&id, &flags)| f(fingerprint(id), flags));
        }
        self.zero.is_some_and(|flags| f(0, flags))
            || self
                .keys
                .iter()
                .zip(&self.flags)
                .any(|(&k, &flags)| k != 0 && f(k, flags))
    }

    /// Keeps the entries whose fingerprint `keep` accepts, in place: this
    /// runs when memory is short.
    pub fn retain(&mut self, keep: impl Fn(u128) -> bool) {
        if !self.hashed {
            let mut kept = 0;
            for i in 0..self.keys.len() {
                if let (Some(&id), Some(&flags)) = (self.keys.get(i), self.flags.get(i))
                    && keep(fingerprint(id))
                {
                    if let Some(k) = self.keys.get_mut(kept) {
                        *k = id;
                    }
                    if let Some(f) = self.flags.get_mut(kept) {
                        *f = flags;
                    }
                    kept += 1;
                }
            }
            self.keys.truncate(kept);
            self.flags.truncate(kept);
            self.finger = 0;
            return;
        }
        if self.zero.is_some() && !keep(0) {
            self.zero = None;
        }
        let n = self.keys.len();
        let mut i = 0;
        // After a removal slot `i` is looked at again: a key moved back
        // into it may be one to drop too. Keys move back only from slots
        // after the hole (cyclically), so every key is looked at in the
        // slot it ends in, and each removal frees a slot for good.
        while i < n {
            match self.keys.get(i) {
                Some(&k) if k != 0 && !keep(k) => self.remove_at(i),
                _ => i += 1,
            }
        }
    }

    /// Sorted: the index of `id`, searched from the finger: forward by
    /// doubling steps (a consumer's entries come in order, mostly one
    /// after the other), or from the start when `id` lies before it.
    fn find_sorted(&mut self, id: u128) -> Option<usize> {
        let ids = self.keys.as_slice();
        let mut lo = self.finger.min(ids.len());
        if lo > 0 && ids.get(lo - 1).is_some_and(|&x| x >= id) {
            lo = 0;
        }
        // ids[..lo] < id. Gallop: find `hi` with ids[hi] >= id (or the end).
        let mut step = 1;
        let mut hi = lo;
        while let Some(&x) = ids.get(hi) {
            if x >= id {
                break;
            }
            lo = hi + 1;
            hi = hi.saturating_add(step);
            step = step.saturating_mul(2);
        }
        let hi = hi.min(ids.len());
        let i = lo + ids.get(lo..hi)?.partition_point(|&x| x < id);
        if ids.get(i) != Some(&id) {
            return None;
        }
        self.finger = i + 1;
        Some(i)
    }

    /// The slot where a probe for `fp` starts: the low 64 bits scaled to
    /// the table (any size, not only powers of two).
    #[inline]
    fn home(&self, fp: u128) -> usize {
        ((u128::from(fp as u64) * self.keys.len() as u128) >> 64) as usize
    }

    /// The slot holding `fp`, or the free slot where it would go.
    #[inline]
    fn probe(&self, fp: u128) -> Option<usize> {
        let n = self.keys.len();
        let mut i = self.home(fp);
        // A free slot ends every probe: the table is never full to the
        // last slot (`insert_hashed` grows it first), so this visits at
        // most every slot once.
        for _ in 0..n {
            match self.keys.get(i) {
                Some(&k) if k == fp || k == 0 => return Some(i),
                Some(_) => i = if i + 1 == n { 0 } else { i + 1 },
                None => return None,
            }
        }
        None
    }

    fn insert_hashed(&mut self, fp: u128) -> bool {
        if fp == 0 {
            let fresh = self.zero.is_none();
            self.zero.get_or_insert(0);
            return fresh;
        }
        if self.len + 1 >= self.keys.len() {
            self.grow();
        }
        let Some(i) = self.probe(fp) else {
            return false;
        };
        match self.keys.get_mut(i) {
            Some(k) if *k == fp => false,
            Some(k) => {
                *k = fp;
                if let Some(f) = self.flags.get_mut(i) {
                    *f = 0;
                }
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Turns the sorted array into the hashed table, in the same memory:
    /// the IDs become fingerprints, the arrays grow to the table's size,
    /// and each key is moved to where its probe finds it, swapping with a
    /// key not yet placed (a placed key is never moved again, so a probe
    /// that passes it stays valid).
    #[cold]
    fn rehash_in_place(&mut self) {
        let n = self.keys.len();
        let slots = self
            .slots
            .max(
                n.saturating_mul(LOAD_DEN)
                    .div_ceil(LOAD_NUM)
                    .saturating_add(1),
            )
            .max(MIN_SLOTS);
        self.slots = slots;
        self.hashed = true;
        self.len = 0;
        self.zero = None;
        for (k, f) in self.keys.iter_mut().zip(self.flags.iter_mut()) {
            *k = fingerprint(*k);
            *f |= UNPLACED;
        }
        self.keys.resize(slots, 0);
        self.flags.resize(slots, 0);
        for i in 0..n {
            if self.keys.get(i) == Some(&0) {
                // The fingerprint 0 is held aside.
                if let Some(f) = self.flags.get_mut(i) {
                    self.zero = Some(*f & !UNPLACED);
                    *f = 0;
                }
            }
        }
        for i in 0..slots {
            // Each turn places a key: at `i`, in a free slot, or in the
            // place of an unplaced one, whose key comes to `i` in turn.
            while self.flags.get(i).is_some_and(|&f| f & UNPLACED != 0) {
                self.place_from(i);
            }
        }
        self.len = self.keys.iter().filter(|&&k| k != 0).count();
    }

    /// One step of [`PelTable::rehash_in_place`] for the unplaced key in slot
    /// `i`: its probe stops at the first slot that is free or unplaced, or
    /// at `i` itself.
    fn place_from(&mut self, i: usize) {
        let n = self.keys.len();
        let Some(&k) = self.keys.get(i) else {
            return;
        };
        let mut j = self.home(k);
        for _ in 0..n {
            if j == i {
                if let Some(f) = self.flags.get_mut(i) {
                    *f &= !UNPLACED;
                }
                return;
            }
            match (self.keys.get(j).copied(), self.flags.get(j).copied()) {
                (Some(0), _) => {
                    let f = self.flags.get(i).copied().unwrap_or(0) & !UNPLACED;
                    self.keys.swap(i, j);
                    self.flags.swap(i, j);
                    if let Some(slot) = self.flags.get_mut(j) {
                        *slot = f;
                    }
                    return;
                }
                (Some(_), Some(g)) if g & UNPLACED != 0 => {
                    self.keys.swap(i, j);
                    self.flags.swap(i, j);
                    if let Some(slot) = self.flags.get_mut(j) {
                        *slot &= !UNPLACED;
                    }
                    return;
                }
                _ => j = if j + 1 == n { 0 } else { j + 1 },
            }
        }
    }

    /// Empties slot `i` and moves back the keys after it in its run that
    /// may sit there (backward-shift deletion for linear probing).
    fn remove_at(&mut self, mut hole: usize) {
        let n = self.keys.len();
        let next = |i: usize| if i + 1 == n { 0 } else { i + 1 };
        let mut j = next(hole);
        // A run ends at a free slot; the table always has one.
        for _ in 0..n {
            let Some(&k) = self.keys.get(j) else {
                break;
            };
            if k == 0 {
                break;
            }
            let home = self.home(k);
            // `k` may move to the hole unless its home lies cyclically
            // in (hole, j]: then the hole is before where its probe starts.
            let home_after_hole = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !home_after_hole {
                self.keys.swap(hole, j);
                self.flags.swap(hole, j);
                hole = j;
            }
            j = next(j);
        }
        if let Some(slot) = self.keys.get_mut(hole) {
            *slot = 0;
        }
        if let Some(slot) = self.flags.get_mut(hole) {
            *slot = 0;
        }
        self.len -= 1;
    }

    /// Doubles the hashed table (its entries inserted again).
    #[cold]
    fn grow(&mut self) {
        let slots = (self.keys.len() * 2).max(MIN_SLOTS);
        self.slots = slots;
        let keys = std::mem::replace(&mut self.keys, vec![0; slots]);
        let flags = std::mem::replace(&mut self.flags, vec![0; slots]);
        self.len = 0;
        for (k, f) in keys.into_iter().zip(flags) {
            if k != 0 && self.insert_hashed(k) {
                let i = self.probe(k);
                if let Some(slot) = i.and_then(|i| self.flags.get_mut(i)) {
                    *slot = f;
                }
            }
        }
    }

    /// Whether the entries are kept as a sorted array (all came in order).
    #[cfg(test)]
    fn is_sorted_array(&self) -> bool {
        !self.hashed
    }

    /// Entries held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries()
    }

    /// Bytes the table holds.
    #[cfg(test)]
    fn bytes(&self) -> u64 {
        self.keys.capacity().max(self.slots) as u64 * SLOT_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const ODD: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835;

    /// IDs as servers write them: a millisecond and a small sequence
    /// number, four a millisecond, in increasing order.
    fn busy(n: u128) -> Vec<u128> {
        (0..n)
            .map(|i| ((1_700_000_000_000 + (i >> 2)) << 64) | (i & 3))
            .collect()
    }

    /// Every operation against a `HashMap` doing the same, on IDs in
    /// order (the sorted array), out of order from some point on (turned
    /// into the hashed table there), and in any order.
    #[test]
    fn agrees_with_a_map() {
        for &(n, max_slots) in &[(0u128, 16usize), (10, 16), (200, 64), (5000, 1 << 20)] {
            let ordered = busy(n);
            let mut late = ordered.clone();
            late.rotate_left(ordered.len() / 3);
            let scrambled: Vec<u128> = ordered.iter().map(|&id| id.wrapping_mul(ODD)).collect();
            // The ID whose fingerprint is 0, held aside by the hashed table.
            let zero_fp = 0x7065_6c00_0000_0000_0000_0000_0000_0005;
            assert_eq!(fingerprint(zero_fp), 0);
            let mut with_zero = scrambled.clone();
            with_zero.push(zero_fp);
            for ids in [&ordered, &late, &scrambled, &with_zero] {
                let mut table = PelTable::default();
                table.reset(ids.len() as u64, max_slots);
                let mut map: HashMap<u128, u8> = HashMap::new();
                for (i, &id) in ids.iter().chain(ids.iter()).enumerate() {
                    let fresh = !map.contains_key(&id);
                    if fresh {
                        map.insert(id, 0);
                    }
                    assert_eq!(table.insert(id), fresh, "insert {i}: {id:#x}");
                    assert_eq!(table.len(), map.len());
                }
                for (i, &id) in ids.iter().enumerate() {
                    if i % 7 == 0 {
                        *table.flags_mut(id).unwrap() |= 1;
                        *map.get_mut(&id).unwrap() |= 1;
                    }
                }
                let keep = |fp: u128| fp % 4 != 1;
                table.retain(keep);
                map.retain(|&id, _| keep(fingerprint(id)));
                assert_eq!(table.len(), map.len());
                // Looked up in order, backwards, and absent ones.
                for &id in ids.iter().chain(ids.iter().rev()) {
                    assert_eq!(
                        table.flags_mut(id).copied(),
                        map.get(&id).copied(),
                        "{id:#x}"
                    );
                    assert_eq!(table.flags_mut(id ^ 1 << 100), None);
                }
                for flag in [0u8, 1] {
                    let want = map
                        .iter()
                        .any(|(&id, &f)| f == flag && fingerprint(id) % 3 == 0);
                    assert_eq!(table.any(|fp, f| f == flag && fp % 3 == 0), want);
                }
            }
        }
    }

    #[test]
    fn ids_in_order_stay_a_sorted_array() {
        let mut table = PelTable::default();
        let ids = busy(1000);
        table.reset(1000, 1 << 20);
        for &id in &ids {
            assert!(table.insert(id));
        }
        assert!(!table.insert(ids[999]), "the last one again");
        assert!(!table.insert(ids[500]), "an earlier one again");
        assert!(table.is_sorted_array());
        // A consumer's entries, every third one, found from the finger.
        for &id in ids.iter().step_by(3) {
            *table.flags_mut(id).unwrap() = 1;
        }
        assert!(table.any(|_, f| f == 0) && table.any(|_, f| f == 1));
        table.retain(|fp| fp % 2 == 0);
        assert!(table.is_sorted_array());
        // One out of order turns it into the hashed table, flags kept.
        let earlier = ids[0] - 1;
        assert!(table.insert(earlier));
        assert!(!table.is_sorted_array());
        for (i, &id) in ids.iter().enumerate() {
            let want = (fingerprint(id) % 2 == 0).then_some(u8::from(i % 3 == 0));
            assert_eq!(table.flags_mut(id).copied(), want, "{i}");
        }
        assert_eq!(table.flags_mut(earlier).copied(), Some(0));
    }

    #[test]
    fn keys_are_distinct_and_spread_over_the_walks_ranges() {
        // IDs as servers write them, and IDs that differ only in their
        // top bits.
        let high = (0..1u128 << 16).map(|i| i << 112);
        for ids in [busy(1 << 16), high.collect()] {
            let mut fps: Vec<u128> = ids.iter().map(|&id| fingerprint(id)).collect();
            // Ranges are picked by the top bits: all 256 top bytes in use.
            let tops: std::collections::HashSet<u8> =
                fps.iter().map(|f| (f >> 120) as u8).collect();
            assert_eq!(tops.len(), 256);
            fps.sort_unstable();
            fps.dedup();
            assert_eq!(fps.len(), ids.len());
        }
    }

    #[test]
    fn sized_from_the_expected_length_within_the_budget() {
        let mut table = PelTable::default();
        table.reset(1000, 1 << 20);
        assert!(table.bytes() <= 1200 * SLOT_BYTES);
        for k in 1..=1000u128 {
            assert!(!table.is_full(), "{k}");
            assert!(table.insert(k.wrapping_mul(ODD)));
        }
        let mut table = PelTable::default();
        table.reset(1 << 40, 1000);
        assert_eq!(table.bytes(), 1000 * SLOT_BYTES);
    }

    /// Random runs of every operation, as a consumer group's walk makes
    /// them (inserts mostly in order with some out of order, duplicates,
    /// flag updates, lookups of present and absent entries, retains by
    /// fingerprint range, resets between groups), against a `HashMap`.
    #[test]
    fn random_runs_agree_with_a_map() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for run in 0..300 {
            let mut table = PelTable::default();
            let mut map: HashMap<u128, u8> = HashMap::new();
            let n = next() % 600;
            let max_slots = [16, 64, 700, 1 << 20][run % 4];
            table.reset(n, max_slots);
            let mut id = u128::from(next() % 1000) << 64;
            let mut seen = Vec::new();
            for _ in 0..n * 2 {
                match next() % 16 {
                    0..=8 => {
                        // The next ID in order, or (one time in 9) an
                        // earlier or repeated one.
                        let new = if next() % 9 == 0 && !seen.is_empty() {
                            seen[(next() as usize) % seen.len()] ^ u128::from(next() % 2)
                        } else {
                            id += u128::from(1 + next() % 3);
                            id
                        };
                        seen.push(new);
                        let fresh = !map.contains_key(&new);
                        map.entry(new).or_insert(0);
                        assert_eq!(table.insert(new), fresh, "run {run}: {new:#x}");
                    }
                    9..=12 if !seen.is_empty() => {
                        let probe = seen[(next() as usize) % seen.len()] ^ u128::from(next() % 2);
                        let flag = 1 << (next() % 2);
                        assert_eq!(table.flags_mut(probe).copied(), map.get(&probe).copied());
                        if let (Some(t), Some(m)) = (table.flags_mut(probe), map.get_mut(&probe)) {
                            *t |= flag;
                            *m |= flag;
                        }
                    }
                    13 => {
                        let cut = u128::from(next()) << 64;
                        table.retain(|fp| fp < cut);
                        map.retain(|&id, _| fingerprint(id) < cut);
                    }
                    _ => {
                        let want = map
                            .iter()
                            .any(|(&id, &f)| f == 0 && fingerprint(id) % 5 == 0);
                        assert_eq!(table.any(|fp, f| f == 0 && fp % 5 == 0), want);
                    }
                }
                assert_eq!(table.len(), map.len(), "run {run}");
            }
            for (&id, &flags) in &map {
                assert_eq!(
                    table.flags_mut(id).copied(),
                    Some(flags),
                    "run {run}: {id:#x}"
                );
            }
        }
    }

    #[test]
    fn a_full_table_still_takes_entries() {
        for step in [1u128, ODD] {
            let mut table = PelTable::default();
            table.reset(4, 16);
            for k in 1..=1000u128 {
                assert!(table.insert(k.wrapping_mul(step)));
            }
            assert_eq!(table.len(), 1000);
            assert!((1..=1000u128).all(|k| table.flags_mut(k.wrapping_mul(step)).is_some()));
        }
    }
}
