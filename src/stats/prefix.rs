//! Key-prefix breakdown in bounded memory. A key's prefix is everything
//! before its first separator (`user:42:name` with `:` is `user`). A key
//! without the separator is counted under `(no prefix)`.
//!
//! At most `cap` distinct prefixes are tracked. Once the table is full, a
//! key with an unseen prefix is counted under `(other)`; prefixes already
//! tracked keep counting exactly. So for the first `cap` prefixes to appear
//! the counts are exact, and `(other)` holds the rest. Every prefix is
//! stored once, cut to [`MAX_PREFIX_BYTES`].

use std::collections::HashMap;

/// Longer prefixes are cut (they are grouped by their first bytes).
pub const MAX_PREFIX_BYTES: usize = 128;

/// Totals for one prefix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixTotals {
    pub keys: u64,
    pub serialized_bytes: u64,
    pub memory_bytes: u64,
}

impl PrefixTotals {
    fn add(&mut self, serialized: u64, memory: u64) {
        self.keys += 1;
        self.serialized_bytes += serialized;
        self.memory_bytes += memory;
    }
}

/// What a key is grouped under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrefixGroup {
    Prefix(Vec<u8>),
    /// The key has no separator.
    NoPrefix,
    /// The table was full when this prefix first appeared.
    Other,
}

#[derive(Debug, Clone)]
pub struct Prefixes {
    separator: Vec<u8>,
    cap: usize,
    table: HashMap<Vec<u8>, PrefixTotals>,
    no_prefix: PrefixTotals,
    other: PrefixTotals,
}

impl Prefixes {
    /// An empty separator groups every key under `(no prefix)`.
    pub fn new(separator: &[u8], cap: usize) -> Self {
        Prefixes {
            separator: separator.to_vec(),
            cap,
            table: HashMap::new(),
            no_prefix: PrefixTotals::default(),
            other: PrefixTotals::default(),
        }
    }

    fn prefix_of<'k>(&self, key: &'k [u8]) -> Option<&'k [u8]> {
        let sep = self.separator.as_slice();
        if sep.is_empty() || key.len() < sep.len() {
            return None;
        }
        let at = key.windows(sep.len()).position(|w| w == sep)?;
        key.get(..at.min(MAX_PREFIX_BYTES))
    }

    pub fn record(&mut self, key: &[u8], serialized: u64, memory: u64) {
        let Some(p) = self.prefix_of(key) else {
            self.no_prefix.add(serialized, memory);
            return;
        };
        if let Some(t) = self.table.get_mut(p) {
            t.add(serialized, memory);
        } else if self.table.len() < self.cap {
            self.table
                .entry(p.to_vec())
                .or_default()
                .add(serialized, memory);
        } else {
            self.other.add(serialized, memory);
        }
    }

    /// Every group with at least one key, largest memory first (ties by
    /// prefix, so the order is deterministic).
    pub fn into_sorted(self) -> Vec<(PrefixGroup, PrefixTotals)> {
        let mut v: Vec<(PrefixGroup, PrefixTotals)> = self
            .table
            .into_iter()
            .map(|(p, t)| (PrefixGroup::Prefix(p), t))
            .collect();
        for (g, t) in [
            (PrefixGroup::NoPrefix, self.no_prefix),
            (PrefixGroup::Other, self.other),
        ] {
            if t.keys > 0 {
                v.push((g, t));
            }
        }
        v.sort_by(|a, b| {
            b.1.memory_bytes
                .cmp(&a.1.memory_bytes)
                .then(b.1.keys.cmp(&a.1.keys))
                .then(a.0.cmp(&b.0))
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(p: &str) -> PrefixGroup {
        PrefixGroup::Prefix(p.as_bytes().to_vec())
    }

    #[test]
    fn groups_by_first_separator_and_folds_beyond_the_cap() {
        let mut p = Prefixes::new(b":", 2);
        for (k, size) in [
            ("user:1", 10),
            ("user:2:name", 10),
            ("session:9", 5),
            ("plain", 1),
            ("cart:1", 3),
            ("user:3", 10),
            (":lead", 2),
        ] {
            p.record(k.as_bytes(), size, size * 2);
        }
        let got = p.into_sorted();
        let t = |keys, s: u64| PrefixTotals {
            keys,
            serialized_bytes: s,
            memory_bytes: s * 2,
        };
        assert_eq!(
            got,
            vec![
                (group("user"), t(3, 30)),
                // Equal memory: more keys first.
                (PrefixGroup::Other, t(2, 5)),
                (group("session"), t(1, 5)),
                (PrefixGroup::NoPrefix, t(1, 1)),
            ]
        );
    }

    #[test]
    fn long_prefixes_are_cut_and_multibyte_separators_work() {
        let mut p = Prefixes::new(b"::", 10);
        let long = [vec![b'a'; 300], b"::x".to_vec()].concat();
        p.record(&long, 1, 1);
        p.record(b"a::b", 1, 1);
        p.record(b"a:b", 1, 1);
        let got = p.into_sorted();
        assert!(got.contains(&(
            PrefixGroup::Prefix(vec![b'a'; MAX_PREFIX_BYTES]),
            PrefixTotals {
                keys: 1,
                serialized_bytes: 1,
                memory_bytes: 1
            }
        )));
        assert!(got.iter().any(|(g, t)| *g == group("a") && t.keys == 1));
        assert!(
            got.iter()
                .any(|(g, t)| *g == PrefixGroup::NoPrefix && t.keys == 1)
        );
        let mut none = Prefixes::new(b"", 10);
        none.record(b"a:b", 1, 1);
        assert_eq!(none.into_sorted()[0].0, PrefixGroup::NoPrefix);
    }
}
