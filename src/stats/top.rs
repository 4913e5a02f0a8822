//! The N largest items by some weight, in O(N) memory: a min-heap of the
//! current top N, so each offered item costs O(log N) and the key bytes are
//! copied only when the item is kept.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// An item kept in a [`TopN`]. Ties in weight are broken by `seq` (the
/// earlier item wins), so the result does not depend on heap internals.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Entry<T: Ord> {
    weight: u64,
    seq: Reverse<u64>,
    item: T,
}

#[derive(Debug, Clone)]
pub struct TopN<T: Ord> {
    n: usize,
    seq: u64,
    heap: BinaryHeap<Reverse<Entry<T>>>,
}

impl<T: Ord> TopN<T> {
    pub fn new(n: usize) -> Self {
        TopN {
            n,
            seq: 0,
            heap: BinaryHeap::new(),
        }
    }

    /// Whether an item of this weight would be kept (so the caller can skip
    /// building it).
    pub fn admits(&self, weight: u64) -> bool {
        if self.n == 0 {
            return false;
        }
        self.heap.len() < self.n || self.heap.peek().is_some_and(|m| weight > m.0.weight)
    }

    /// Offers an item; `make` is called only if it is kept.
    pub fn offer(&mut self, weight: u64, make: impl FnOnce() -> T) {
        let seq = self.seq;
        self.seq += 1;
        if !self.admits(weight) {
            return;
        }
        if self.heap.len() >= self.n {
            self.heap.pop();
        }
        self.heap.push(Reverse(Entry {
            weight,
            seq: Reverse(seq),
            item: make(),
        }));
    }

    /// The kept items, heaviest first (ties: first offered first).
    pub fn into_sorted(self) -> Vec<(u64, T)> {
        let mut v: Vec<Entry<T>> = self.heap.into_iter().map(|r| r.0).collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|e| (e.weight, e.item)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_heaviest_in_order_with_stable_ties() {
        let mut t = TopN::new(3);
        let mut built = 0;
        for (w, name) in [
            (5, "a"),
            (1, "b"),
            (9, "c"),
            (5, "d"),
            (7, "e"),
            (2, "f"),
            (9, "g"),
        ] {
            t.offer(w, || {
                built += 1;
                name
            });
        }
        assert_eq!(t.into_sorted(), vec![(9, "c"), (9, "g"), (7, "e")]);
        // Only "f" arrives when the heap is full of heavier items.
        assert_eq!(built, 6);
    }

    #[test]
    fn zero_and_short() {
        let mut t = TopN::new(0);
        t.offer(1, || 1);
        assert!(t.into_sorted().is_empty());
        let mut t = TopN::new(10);
        t.offer(1, || 1);
        t.offer(2, || 2);
        assert_eq!(t.into_sorted(), vec![(2, 2), (1, 1)]);
    }
}
