//! Duplicate top-level keys, which make every server abort a load and
//! which no existing checker notices.
//!
//! Memory: exactly one 64-bit fingerprint per key (the db is folded into
//! it), appended to one of 256 buckets chosen by the fingerprint's top
//! byte: 32 MiB for 4 million keys, with no load-factor slack and no
//! rehashing. Appending is sequential and cheap; at the end each bucket
//! (1/256 of the keys, small enough for the cache) is sorted and equal
//! neighbours become suspects. Suspects are only suspects: a second framing
//! pass, run only when there are some, compares the real keys, so a report
//! never rests on a hash alone.

use super::fingerprint::fingerprint64;
use crate::rdb::{Header, Record, Records};
use std::collections::{HashMap, HashSet};

const BUCKETS: usize = 256;

pub struct DupKeys {
    buckets: Vec<Vec<u64>>,
    keys: u64,
}

pub struct Duplicate {
    pub db: u64,
    pub key: Vec<u8>,
    pub first_offset: u64,
    pub offset: u64,
}

impl Default for DupKeys {
    fn default() -> Self {
        DupKeys {
            buckets: vec![Vec::new(); BUCKETS],
            keys: 0,
        }
    }
}

/// The fingerprint of `key` in `db`. Key fingerprints are computed where the
/// key is read (possibly on another thread); the db is folded in later.
#[inline]
pub fn key_fingerprint(key: &[u8]) -> u64 {
    fingerprint64(key)
}

#[inline]
fn in_db(fp: u64, db: u64) -> u64 {
    // An odd multiplier keeps the map from db to offset one-to-one, so keys
    // of different dbs never look alike because of the db alone.
    fp ^ db.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl DupKeys {
    /// Records a key by its [`key_fingerprint`].
    #[inline]
    pub fn insert(&mut self, db: u64, fp: u64) {
        let h = in_db(fp, db);
        if let Some(b) = self.buckets.get_mut((h >> 56) as usize) {
            b.push(h);
        }
        self.keys += 1;
    }

    /// Reserves room for `keys` more keys (a RESIZEDB hint, already
    /// bounded by the caller), so the buckets grow once instead of doubling.
    pub fn expect(&mut self, keys: u64) {
        let per = usize::try_from(keys / BUCKETS as u64).unwrap_or(0);
        // Bucket sizes vary by a few standard deviations around the mean.
        let per = per + per / 16 + 16;
        for b in &mut self.buckets {
            b.reserve(per.saturating_sub(b.capacity() - b.len()));
        }
    }

    /// Heap bytes held by the fingerprints.
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        self.buckets.iter().map(|b| b.capacity() * 8).sum()
    }

    /// The buckets, for a caller that sorts them in parallel before
    /// [`DupKeys::finish`] (which then finds them sorted and only scans).
    pub fn buckets_mut(&mut self) -> &mut [Vec<u64>] {
        &mut self.buckets
    }

    /// Fingerprints seen more than once, in ascending order.
    fn suspects(&mut self) -> HashSet<u64> {
        let mut out = HashSet::new();
        for b in &mut self.buckets {
            b.sort_unstable();
            for w in b.windows(2) {
                if let [a, c] = w
                    && a == c
                {
                    out.insert(*a);
                }
            }
        }
        out
    }

    /// Confirms suspects with a second pass over the file.
    pub fn finish(mut self, data: &[u8], header: Header) -> Vec<Duplicate> {
        let suspects = self.suspects();
        drop(self.buckets);
        if suspects.is_empty() {
            return Vec::new();
        }
        let mut first: HashMap<(u64, Vec<u8>), u64> = HashMap::new();
        let mut out = Vec::new();
        let mut db = 0u64;
        for item in Records::new(data, header) {
            let Ok(item) = item else { break };
            match item.record {
                Record::SelectDb { db: n } => db = n,
                Record::Key(k) => {
                    let Ok(key) = k.key.to_bytes() else { continue };
                    if !suspects.contains(&in_db(key_fingerprint(&key), db)) {
                        continue;
                    }
                    match first.get(&(db, key.to_vec())) {
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
        out
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
        assert!(d.suspects().is_empty());
        d.insert(1, key_fingerprint(b"a"));
        let s = d.suspects();
        assert_eq!(s.len(), 1);
        assert!(s.contains(&in_db(key_fingerprint(b"a"), 1)));
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
