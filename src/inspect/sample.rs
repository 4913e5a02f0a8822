//! A uniform random sample of k items from a stream of unknown length in
//! one pass (reservoir sampling, Algorithm R), reproducible from a seed.

/// SplitMix64: small, fast, and fully determined by its seed, so a sample
/// can be repeated on another machine.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In `0..n` (n > 0), by multiply-shift: the bias is below n / 2^64.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Keeps a uniform sample of at most `k` of the items offered.
#[derive(Debug, Clone)]
pub struct Reservoir<T> {
    k: usize,
    seen: u64,
    rng: SplitMix64,
    /// (arrival index, item)
    picks: Vec<(u64, T)>,
}

impl<T> Reservoir<T> {
    pub fn new(k: usize, seed: u64) -> Self {
        Reservoir {
            k,
            seen: 0,
            rng: SplitMix64::new(seed),
            picks: Vec::new(),
        }
    }

    pub fn offer(&mut self, item: T) {
        let i = self.seen;
        self.seen += 1;
        if self.picks.len() < self.k {
            self.picks.push((i, item));
            return;
        }
        let j = self.rng.below(i + 1);
        if let Some(slot) = usize::try_from(j).ok().and_then(|j| self.picks.get_mut(j)) {
            *slot = (i, item);
        }
    }

    /// Items offered so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The sample, in the order the items were offered.
    pub fn into_sorted(mut self) -> Vec<T> {
        self.picks.sort_by_key(|(i, _)| *i);
        self.picks.into_iter().map(|(_, t)| t).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sample() {
        let run = |seed| {
            let mut r = Reservoir::new(5, seed);
            (0..1000).for_each(|i| r.offer(i));
            r.into_sorted()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
        assert_eq!(run(42).len(), 5);
    }

    #[test]
    fn fewer_items_than_k_keeps_all() {
        let mut r = Reservoir::new(10, 1);
        (0..4).for_each(|i| r.offer(i));
        assert_eq!(r.into_sorted(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn every_item_equally_likely() {
        // 100 items, samples of 10, 4000 seeds: each item is expected
        // 400 times (binomial, sd ~19); allow +-25%.
        let mut hits = [0u32; 100];
        for seed in 0..4000 {
            let mut r = Reservoir::new(10, seed);
            (0..100usize).for_each(|i| r.offer(i));
            for i in r.into_sorted() {
                hits[i] += 1;
            }
        }
        for (i, h) in hits.iter().enumerate() {
            assert!((300..=500).contains(h), "item {i} picked {h} times");
        }
    }
}
