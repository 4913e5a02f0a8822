//! Fixed-key hashing for duplicate detection. Deterministic across runs and
//! threads, so reports never depend on a random seed.
#![allow(deprecated)] // std's SipHasher is the keyed SipHash we want; it is only deprecated in name.

use std::hash::{Hasher, SipHasher};

fn sip(k0: u64, k1: u64, b: &[u8]) -> u64 {
    let mut h = SipHasher::new_with_keys(k0, k1);
    h.write(b);
    h.finish()
}

/// 64-bit fingerprint of a byte string. Where it is used, a collision only
/// costs a confirming second look, never a wrong verdict.
pub fn fingerprint64(b: &[u8]) -> u64 {
    sip(0x5eed_0f7e_d15c_a1e5, 0x0ddb_a11c_afe0_beef, b)
}

/// 128-bit fingerprint: two independent keyed hashes. Used where a
/// collision would be reported as a duplicate without a second look
/// (members inside one value); the chance of a false report among n
/// members is about n²/2^129.
pub fn fingerprint128(b: &[u8]) -> u128 {
    (u128::from(sip(0x0123_4567_89ab_cdef, 0x1111_2222_3333_4444, b)) << 64)
        | u128::from(sip(0xfedc_ba98_7654_3210, 0x5555_6666_7777_8888, b))
}

/// A `HashSet`/`HashMap` hasher for keys that already are fingerprints:
/// hashing them again would only cost time.
#[derive(Default, Clone, Copy)]
pub struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
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
