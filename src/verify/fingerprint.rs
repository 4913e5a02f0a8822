//! Fixed-key hashing for duplicate detection. Deterministic across runs,
//! machines and threads, so reports never depend on a random seed.
//!
//! The mixer is the folded 64×64→128-bit multiply of wyhash/foldhash,
//! written here in a few lines rather than pulled in as a crate: it hashes
//! a 16-byte key in a handful of cycles, where the keyed SipHash used
//! before cost a fifth of a whole verification. Nothing here needs to
//! resist a chosen-input attacker: a 64-bit collision only costs a
//! confirming second look (duplicate keys), and a 128-bit one is as likely
//! as with any other fixed public key.

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
const P3: u64 = 0x5899_65cc_7537_4cc3;

#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let r = u128::from(a).wrapping_mul(u128::from(b));
    (r as u64) ^ ((r >> 64) as u64)
}

/// The first 8 bytes of `b` as a little-endian word, zero-padded when
/// shorter. Built from overlapping fixed-size loads: copying a
/// variable-length prefix into a buffer became a `memcpy` call per word,
/// a twentieth of a whole verification.
#[inline(always)]
fn le64(b: &[u8]) -> u64 {
    let n = b.len();
    if let Some(w) = b.first_chunk::<8>() {
        return u64::from_le_bytes(*w);
    }
    if n >= 4 {
        // Bytes n-4..4 are in both halves, at the same place: OR is exact.
        let lo = b.first_chunk::<4>().map_or(0, |w| u32::from_le_bytes(*w));
        let hi = b.last_chunk::<4>().map_or(0, |w| u32::from_le_bytes(*w));
        return u64::from(lo) | (u64::from(hi) << (8 * (n - 4)));
    }
    // 0..=3 bytes: the first, the middle and the last cover them all.
    match (b.first(), b.get(n / 2), b.last()) {
        (Some(&first), Some(&mid), Some(&last)) => {
            u64::from(first)
                | (u64::from(mid) << (8 * (n / 2)))
                | (u64::from(last) << (8 * (n - 1)))
        }
        _ => 0,
    }
}

/// One 64-bit lane of the hash, keyed by `seed`.
#[inline]
fn hash_with(seed: u64, b: &[u8]) -> u64 {
    let len = b.len() as u64;
    let mut h = fold(seed ^ P0, len ^ P1);
    let mut chunks = b.chunks_exact(16);
    for c in chunks.by_ref() {
        let (lo, hi) = c.split_at(8);
        h = fold(le64(lo) ^ P2 ^ h, le64(hi) ^ P3);
    }
    let tail = chunks.remainder();
    // The tail is 0..15 bytes: two zero-padded words. Equal tails of
    // different length differ through `len`, folded in at the start.
    let (lo, hi) = tail.split_at(tail.len().min(8));
    h = fold(le64(lo) ^ P2 ^ h, le64(hi) ^ P1);
    fold(h ^ P0, len ^ P3)
}

/// The words a string of at most 16 bytes is hashed from: one zero-padded
/// word below 8 bytes, else the first and the last 8 (overlapping below
/// 16: with the length they still determine the string). `None` for a
/// longer one.
#[inline(always)]
fn short_words(b: &[u8]) -> Option<(u64, u64)> {
    match (b.first_chunk::<8>(), b.last_chunk::<8>()) {
        (Some(first), Some(last)) => {
            (b.len() <= 16).then(|| (u64::from_le_bytes(*first), u64::from_le_bytes(*last)))
        }
        _ => Some((le64(b), 0)),
    }
}

/// One lane of the hash of a string of at most 16 bytes ([`short_words`]):
/// the two words folded with the seed, then once more with the length.
/// Two multiplies instead of three, and no branch on the tail; most keys
/// and members are this short.
#[inline(always)]
fn short_hash(seed: u64, (first, last): (u64, u64), len: u64) -> u64 {
    let h = fold(first ^ seed ^ P2, last ^ seed.rotate_left(32) ^ P1);
    fold(h ^ P0, len ^ P3)
}

/// 64-bit fingerprint of a byte string. Where it is used, a collision only
/// costs a confirming second look, never a wrong verdict.
#[inline]
pub fn fingerprint64(b: &[u8]) -> u64 {
    const SEED: u64 = 0x5eed_0f7e_d15c_a1e5;
    match short_words(b) {
        Some(words) => short_hash(SEED, words, b.len() as u64),
        None => hash_with(SEED, b),
    }
}

/// 128-bit fingerprint: two independently seeded lanes. Used where a
/// collision would be reported as a duplicate without a second look
/// (members inside one value).
#[inline]
pub fn fingerprint128(b: &[u8]) -> u128 {
    const SEEDS: [u64; 2] = [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210];
    let (hi, lo) = match short_words(b) {
        Some(words) => {
            let len = b.len() as u64;
            (
                short_hash(SEEDS[0], words, len),
                short_hash(SEEDS[1], words, len),
            )
        }
        None => (hash_with(SEEDS[0], b), hash_with(SEEDS[1], b)),
    };
    (u128::from(hi) << 64) | u128::from(lo)
}

/// A `HashSet`/`HashMap` hasher for keys that already are fingerprints:
/// hashing them again would only cost time.
#[derive(Default, Clone, Copy)]
pub struct PrehashedHasher(u64);

impl std::hash::Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for non-u64/u128 keys; fold the bytes in.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }

    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }
}

pub type Prehashed = std::hash::BuildHasherDefault<PrehashedHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn le64_is_the_zero_padded_prefix_for_every_length() {
        let bytes: Vec<u8> = (0u8..20)
            .map(|i| i.wrapping_mul(37).wrapping_add(0x91))
            .collect();
        for n in 0..=bytes.len() {
            let b = &bytes[..n];
            let mut w = [0u8; 8];
            let k = n.min(8);
            w[..k].copy_from_slice(&b[..k]);
            assert_eq!(le64(b), u64::from_le_bytes(w), "length {n}");
        }
    }

    #[test]
    fn deterministic_and_length_sensitive() {
        assert_eq!(fingerprint64(b"key:1"), fingerprint64(b"key:1"));
        assert_ne!(fingerprint64(b""), fingerprint64(b"\0"));
        assert_ne!(fingerprint64(b"\0"), fingerprint64(b"\0\0"));
        // Zero padding of the tail must not make these equal.
        assert_ne!(fingerprint64(&[0u8; 16]), fingerprint64(&[0u8; 17]));
        assert_ne!(fingerprint128(b"a"), fingerprint128(b"b"));
    }

    #[test]
    fn no_collisions_among_similar_keys() {
        // The shapes DEBUG POPULATE and typical apps produce: a prefix and
        // a counter, every length from 1 to 40 bytes.
        let mut seen64 = HashSet::new();
        let mut seen128 = HashSet::new();
        for i in 0..200_000u32 {
            let k = format!("key:{i}");
            assert!(seen64.insert(fingerprint64(k.as_bytes())), "{k}");
            assert!(seen128.insert(fingerprint128(k.as_bytes())), "{k}");
        }
        for len in 1..40 {
            let k = vec![b'x'; len];
            assert!(seen64.insert(fingerprint64(&k)));
        }
    }

    #[test]
    fn short_inputs_differing_anywhere_differ() {
        // Every input of 0..=2 bytes, then inputs of 8..=17 bytes that
        // differ in one byte at every position, including the bytes both
        // words of the short path read, and the lengths around 16.
        let mut seen64 = HashSet::new();
        let mut seen128 = HashSet::new();
        let mut offer = |b: &[u8]| {
            assert!(seen64.insert(fingerprint64(b)), "{b:?}");
            assert!(seen128.insert(fingerprint128(b)), "{b:?}");
        };
        offer(b"");
        for a in 0..=255u8 {
            offer(&[a]);
            for c in 0..=255u8 {
                offer(&[a, c]);
            }
        }
        for len in 8..=17 {
            for pos in 0..len {
                for v in 1..=255u8 {
                    let mut b = vec![0u8; len];
                    b[pos] = v;
                    offer(&b);
                }
            }
            offer(&vec![0u8; len]);
        }
    }
}
