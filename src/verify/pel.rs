//! The PEL entries of one consumer group, remembered by fingerprint while
//! the group's consumers and NACK zone are checked against them.
//!
//! A table of its own rather than a `HashMap<u128, u8>`: that map keeps
//! each entry in a 32-byte slot (a 16-byte key aligned to 16 and a flag)
//! and, while it grows, its old table beside the new one, so that a walk
//! could remember about one entry per 64 bytes of its budget. Here keys
//! and flags lie in two arrays (17 bytes a slot), the table is sized once
//! per group from the PEL's length, which the file states before the
//! entries, and it is not rehashed while the group is read: about 20
//! bytes an entry. A PEL too large for the budget is checked in several
//! walks, one range of fingerprints each, so the fewer bytes an entry
//! costs, the fewer walks a stream with long PELs takes.
//!
//! Keys are [`pel_fingerprint`](super::value)s: uniform, so a slot is
//! picked from the key's low bits (its top bits pick the walk's range and
//! are alike within one) and linear probing stays short.

/// Bytes one slot takes: a 16-byte key and a flag byte.
pub const SLOT_BYTES: u64 = 17;

/// Entries held per slot at most: probes stay short below 7/8 full.
const LOAD_NUM: usize = 7;
const LOAD_DEN: usize = 8;

/// Slots of the smallest table.
const MIN_SLOTS: usize = 16;

/// Fingerprints with a flag byte each. The key 0 marks a free slot, so a
/// fingerprint of 0 is held aside.
#[derive(Default)]
pub struct PelTable {
    keys: Vec<u128>,
    flags: Vec<u8>,
    len: usize,
    zero: Option<u8>,
}

impl PelTable {
    /// Empties the table and sizes it for `expected` entries, with at most
    /// `max_slots` slots (the caller's budget; at least [`MIN_SLOTS`]).
    /// The memory is kept from group to group and reallocated only to
    /// grow.
    pub fn reset(&mut self, expected: u64, max_slots: usize) {
        let wanted = usize::try_from(expected)
            .unwrap_or(usize::MAX)
            .saturating_mul(LOAD_DEN)
            .div_ceil(LOAD_NUM)
            .saturating_add(1);
        let slots = wanted.clamp(MIN_SLOTS, max_slots.max(MIN_SLOTS));
        self.keys.clear();
        self.keys.resize(slots, 0);
        self.flags.clear();
        self.flags.resize(slots, 0);
        self.len = 0;
        self.zero = None;
    }

    /// Entries held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len + usize::from(self.zero.is_some())
    }

    /// Whether the table holds as many entries as its size allows (the
    /// caller then narrows its range, or inserts anyway: see
    /// [`PelTable::insert`]).
    pub fn is_full(&self) -> bool {
        !self.keys.is_empty() && self.len * LOAD_DEN >= self.keys.len() * LOAD_NUM
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
        // last slot (`insert` grows it first), so this visits at most
        // every slot once.
        for _ in 0..n {
            match self.keys.get(i) {
                Some(&k) if k == fp || k == 0 => return Some(i),
                Some(_) => i = if i + 1 == n { 0 } else { i + 1 },
                None => return None,
            }
        }
        None
    }

    /// Adds `fp` with no flags; false if it was held already. Over
    /// [`PelTable::is_full`] it still goes in, the table doubled when its
    /// last free slots would go (a caller that could not narrow its range
    /// any further: that bound is the caller's, this only never fails).
    pub fn insert(&mut self, fp: u128) -> bool {
        if fp == 0 {
            let fresh = self.zero.is_none();
            self.zero.get_or_insert(0);
            return fresh;
        }
        if self.keys.len() < MIN_SLOTS || self.len + 1 >= self.keys.len() {
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

    /// The flags of `fp`, if it is held.
    pub fn flags_mut(&mut self, fp: u128) -> Option<&mut u8> {
        if fp == 0 {
            return self.zero.as_mut();
        }
        let i = self.probe(fp)?;
        if self.keys.get(i) != Some(&fp) {
            return None;
        }
        self.flags.get_mut(i)
    }

    /// Whether any entry satisfies `f(fingerprint, flags)`.
    pub fn any(&self, f: impl Fn(u128, u8) -> bool) -> bool {
        self.zero.is_some_and(|flags| f(0, flags))
            || self
                .keys
                .iter()
                .zip(&self.flags)
                .any(|(&k, &flags)| k != 0 && f(k, flags))
    }

    /// Keeps the entries whose fingerprint `keep` accepts. Each removal
    /// shifts the rest of its run of slots back (so that no probe meets a
    /// hole before its key), in place: this runs when memory is short.
    pub fn retain(&mut self, keep: impl Fn(u128) -> bool) {
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
                let flag = self.flags.get(j).copied().unwrap_or(0);
                if let Some(slot) = self.keys.get_mut(hole) {
                    *slot = k;
                }
                if let Some(slot) = self.flags.get_mut(hole) {
                    *slot = flag;
                }
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

    /// Doubles the table (its entries inserted again).
    #[cold]
    fn grow(&mut self) {
        let slots = (self.keys.len() * 2).max(MIN_SLOTS);
        let keys = std::mem::replace(&mut self.keys, vec![0; slots]);
        let flags = std::mem::replace(&mut self.flags, vec![0; slots]);
        self.len = 0;
        for (k, f) in keys.into_iter().zip(flags) {
            if k != 0
                && self.insert(k)
                && let Some(slot) = self.flags_mut(k)
            {
                *slot = f;
            }
        }
    }

    /// Bytes the table holds.
    #[cfg(test)]
    fn bytes(&self) -> u64 {
        self.keys.len() as u64 * SLOT_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Keys that crowd together: many with the same low bits (so the same
    /// home slot), and 0.
    fn crowded(n: u128) -> Vec<u128> {
        (0..n)
            .map(|i| match i % 3 {
                0 => i << 64,
                1 => (i << 64) | 5,
                _ => i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835),
            })
            .collect()
    }

    /// Every operation against a `HashMap` doing the same.
    #[test]
    fn agrees_with_a_map() {
        for &(n, max_slots) in &[(0u128, 16usize), (10, 16), (200, 64), (5000, 1 << 20)] {
            let mut table = PelTable::default();
            table.reset(n as u64, max_slots);
            let mut map: HashMap<u128, u8> = HashMap::new();
            let keys = crowded(n);
            for (i, &k) in keys.iter().chain(&keys).enumerate() {
                let fresh = !map.contains_key(&k);
                if fresh {
                    map.insert(k, 0);
                }
                assert_eq!(table.insert(k), fresh, "insert {i}: {k:#x}");
                if i % 7 == 0 {
                    *table.flags_mut(k).unwrap() |= 1;
                    *map.get_mut(&k).unwrap() |= 1;
                }
                assert_eq!(table.len(), map.len());
            }
            let keep = |k: u128| (k >> 64) % 4 != 1 && k % 3 != 2;
            table.retain(keep);
            map.retain(|&k, _| keep(k));
            assert_eq!(table.len(), map.len());
            for &k in &keys {
                assert_eq!(table.flags_mut(k).copied(), map.get(&k).copied(), "{k:#x}");
            }
            for flag in [0u8, 1] {
                let want = map.values().any(|&f| f == flag);
                assert_eq!(table.any(|_, f| f == flag), want);
            }
        }
    }

    #[test]
    fn sized_from_the_expected_length_within_the_budget() {
        let mut table = PelTable::default();
        table.reset(1000, 1 << 20);
        assert!(table.bytes() <= 1200 * SLOT_BYTES);
        for k in 1..=1000u128 {
            assert!(!table.is_full(), "{k}");
            assert!(table.insert(k.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)));
        }
        table.reset(1 << 40, 1000);
        assert_eq!(table.bytes(), 1000 * SLOT_BYTES);
    }

    #[test]
    fn a_full_table_still_takes_entries() {
        let mut table = PelTable::default();
        table.reset(4, 16);
        for k in 1..=1000u128 {
            assert!(table.insert(k << 64));
        }
        assert_eq!(table.len(), 1000);
        assert!((1..=1000u128).all(|k| table.flags_mut(k << 64).is_some()));
    }
}
