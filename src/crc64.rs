//! CRC-64/Jones ("CRC-64/REDIS": reflected, poly 0xad93d23594c935a9,
//! init 0, xorout 0), the trailer checksum of RDB version 5 and later and
//! of DUMP payloads. `crc-fast` computes it with SIMD.

use crc_fast::{CrcAlgorithm, Digest};

/// CRC-64/Jones of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(CrcAlgorithm::Crc64Redis, data)
}

/// Incremental CRC-64/Jones, for input that arrives in pieces.
pub struct Crc64 {
    digest: Digest,
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc64 {
    pub fn new() -> Self {
        Crc64 {
            digest: Digest::new(CrcAlgorithm::Crc64Redis),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
    }

    pub fn finish(&self) -> u64 {
        self.digest.finalize()
    }
}

/// The CRC-64 of an input's first bytes, computed a little ahead of a
/// reader that goes through them record by record. The SIMD CRC sweeps
/// memory in long sequential reads, so the bytes are in cache when the
/// framing reaches them: framing that touched them first stalled on
/// memory for two thirds of its time.
pub struct CrcAhead<'a> {
    data: &'a [u8],
    crc: Crc64,
    /// `data[..pos]` is summed.
    pos: usize,
    /// Never sums beyond this (where the checksummed body should end).
    limit: usize,
}

/// How far ahead of the reader [`CrcAhead`] keeps: well within L2.
pub const CRC_AHEAD: usize = 256 << 10;

impl<'a> CrcAhead<'a> {
    /// Sums at most `data[..limit]`.
    pub fn new(data: &'a [u8], limit: usize) -> Self {
        CrcAhead {
            data,
            crc: Crc64::new(),
            pos: 0,
            limit: limit.min(data.len()),
        }
    }

    /// The reader is at `at`: sums up to [`CRC_AHEAD`] beyond it, in one
    /// sweep once the sum falls half that behind.
    #[inline]
    pub fn reader_at(&mut self, at: usize) {
        let want = at.saturating_add(CRC_AHEAD).min(self.limit);
        if want > self.pos + CRC_AHEAD / 2 || want == self.limit {
            self.cover(want);
        }
    }

    /// Sums up to `end` (within the limit).
    pub fn cover(&mut self, end: usize) {
        let end = end.min(self.limit);
        if end > self.pos {
            self.crc.update(self.data.get(self.pos..end).unwrap_or(&[]));
            self.pos = end;
        }
    }

    /// `(n, crc of data[..n])`.
    pub fn finish(&self) -> (usize, u64) {
        (self.pos, self.crc.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_is_redis_crc64_test_vector() {
        // crc64Test in Redis's crc64.c
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn ahead_of_a_reader_sums_exactly_up_to_its_limit() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 13 % 251) as u8).collect();
        for limit in [
            0,
            1,
            1000,
            CRC_AHEAD + 7,
            data.len() - 8,
            data.len(),
            usize::MAX,
        ] {
            let mut a = CrcAhead::new(&data, limit);
            let mut at = 0;
            while at < data.len() {
                a.reader_at(at);
                at += 4099;
            }
            a.cover(data.len());
            let n = limit.min(data.len());
            assert_eq!(a.finish(), (n, crc64(&data[..n])), "limit {limit}");
        }
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut c = Crc64::new();
        for chunk in data.chunks(333) {
            c.update(chunk);
        }
        assert_eq!(c.finish(), crc64(&data));
    }

    #[test]
    fn formats_md_worked_example() {
        // FORMATS.md §1.12: a REDIS0011 file whose CRC is 0x409af75500bebadd.
        let hex = "524544495330303131fa0972656469732d76657205372e322e30fa0a72656469732d62697473023634fe00fb010000036b65790576616c7565ff";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(crc64(&bytes), 0x409af75500bebadd);
    }
}
