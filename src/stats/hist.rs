//! Bounded distributions: a log-scale histogram for sizes and counts, and
//! the fixed TTL buckets.
//!
//! [`LogHistogram`] keeps exact counts for values below 16 and, above, 8
//! buckets per power of two (each bucket spans 1/8 of its octave), so a
//! reported quantile is the upper edge of its bucket: never below the true
//! value and at most 12.5% above it. Memory is fixed: 8 × 64 + 16 counters
//! whatever the input. Max, min, count and sum are exact.

/// Sub-buckets per power of two.
const SUB: u32 = 8;
/// Values below this are counted exactly.
const LINEAR: u64 = 16;
const BUCKETS: usize = LINEAR as usize + (64 - 4) * SUB as usize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHistogram {
    counts: Box<[u64; BUCKETS]>,
    pub count: u64,
    pub sum: u128,
    pub max: u64,
}

impl Default for LogHistogram {
    fn default() -> Self {
        LogHistogram {
            counts: Box::new([0; BUCKETS]),
            count: 0,
            sum: 0,
            max: 0,
        }
    }
}

fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let octave = 63 - v.leading_zeros(); // >= 4
    let sub = (v >> (octave - 3)) & u64::from(SUB - 1);
    LINEAR as usize + (octave as usize - 4) * SUB as usize + sub as usize
}

/// The largest value that falls in bucket `b`.
fn upper_edge(b: usize) -> u64 {
    if b < LINEAR as usize {
        return b as u64;
    }
    let i = b - LINEAR as usize;
    let octave = (i / SUB as usize) as u32 + 4;
    let sub = (i % SUB as usize) as u64;
    let width = 1u64 << (octave - 3);
    let low = (1u64 << octave) + sub * width;
    low.saturating_add(width - 1)
}

impl LogHistogram {
    pub fn record(&mut self, v: u64) {
        if let Some(c) = self.counts.get_mut(bucket_of(v)) {
            *c += 1;
        }
        self.count += 1;
        self.sum += u128::from(v);
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, other: &LogHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The `q`-quantile (0..=1): the upper edge of the bucket holding the
    /// value of rank ceil(q·count), capped at the exact maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper_edge(b).min(self.max);
            }
        }
        self.max
    }
}

/// The TTL buckets `stats` reports, in order.
pub const TTL_BUCKETS: [&str; 8] = [
    "expired", "<1m", "<1h", "<1d", "<7d", "<30d", "more", "none",
];

/// Keys per TTL bucket, relative to "now".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TtlHistogram(pub [u64; 8]);

impl TtlHistogram {
    /// `expire_ms` is the absolute expiry, if any.
    pub fn record(&mut self, expire_ms: Option<i64>, now_ms: i64) {
        const MIN: i64 = 60_000;
        let b = match expire_ms {
            None => 7,
            Some(at) => {
                let left = at.saturating_sub(now_ms);
                match left {
                    i64::MIN..=-1 => 0,
                    l if l < MIN => 1,
                    l if l < 60 * MIN => 2,
                    l if l < 24 * 60 * MIN => 3,
                    l if l < 7 * 24 * 60 * MIN => 4,
                    l if l < 30 * 24 * 60 * MIN => 5,
                    _ => 6,
                }
            }
        };
        self.0[b] += 1;
    }

    pub fn merge(&mut self, other: &TtlHistogram) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for v in (0..5000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let b = bucket_of(v);
            assert!(b < BUCKETS, "{v}");
            assert!(b >= last, "bucket order at {v}");
            assert!(upper_edge(b) >= v, "{v} above its bucket's edge");
            last = b;
        }
    }

    #[test]
    fn quantiles_are_within_one_eighth_above() {
        let mut h = LogHistogram::default();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        for (q, exact) in [(0.5, 5000u64), (0.9, 9000), (0.99, 9900)] {
            let got = h.quantile(q);
            assert!(got >= exact, "q{q}: {got} < {exact}");
            assert!(got as f64 <= exact as f64 * 1.125, "q{q}: {got} vs {exact}");
        }
        assert_eq!(h.quantile(1.0), 10_000);
        assert_eq!(h.max, 10_000);
        assert_eq!(h.mean(), 5000.5);
        // Small values are exact.
        let mut s = LogHistogram::default();
        for v in [3, 3, 7, 9] {
            s.record(v);
        }
        assert_eq!(
            (s.quantile(0.5), s.quantile(0.75), s.quantile(1.0)),
            (3, 7, 9)
        );
    }

    #[test]
    fn merge_equals_recording_everything_once() {
        let (mut a, mut b, mut all) = Default::default();
        for v in 0..3000u64 {
            let v = v * v;
            if v % 3 == 0 {
                LogHistogram::record(&mut a, v);
            } else {
                LogHistogram::record(&mut b, v);
            }
            LogHistogram::record(&mut all, v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(LogHistogram::default().quantile(0.5), 0);
    }

    #[test]
    fn ttl_buckets() {
        let now = 1_000_000_000;
        let mut h = TtlHistogram::default();
        for at in [
            Some(now - 1),
            Some(now),
            Some(now + 59_999),
            Some(now + 3_600_000),
            Some(now + 86_400_000 * 3),
            Some(now + 86_400_000 * 29),
            Some(now + 86_400_000 * 31),
            None,
            Some(i64::MIN),
        ] {
            h.record(at, now);
        }
        assert_eq!(h.0, [2, 2, 0, 1, 1, 1, 1, 1]);
    }
}
