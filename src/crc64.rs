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
    /// Bytes summed.
    len: u64,
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
            len: 0,
        }
    }

    /// The sum of `len` bytes whose CRC is `crc`, to go on from.
    pub fn resume(crc: u64, len: u64) -> Self {
        Crc64 {
            digest: Digest::new_with_init_state(CrcAlgorithm::Crc64Redis, crc),
            len,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
        self.len += data.len() as u64;
    }

    pub fn finish(&self) -> u64 {
        self.digest.finalize()
    }

    /// Adds the sum of the bytes that follow those summed here: the sum
    /// of both, in microseconds. (`crc-fast`'s own combine squares 64x64
    /// bit matrices, about 200 us a call: on a file read in 4 MiB
    /// segments, more than summing the bytes again.)
    pub fn append(&mut self, next: &Crc64) {
        let crc = concatenated(self.finish(), next.finish(), next.len);
        self.digest = Digest::new_with_init_state(CrcAlgorithm::Crc64Redis, crc);
        self.len += next.len;
    }
}

/// The polynomial in the register's bit order (reflected: bit 63 holds
/// the coefficient of x^0).
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

/// `a * x mod P`, in the register's order: the step of summing a zero bit.
#[inline]
fn times_x(a: u64) -> u64 {
    (a >> 1) ^ if a & 1 == 1 { POLY_REFLECTED } else { 0 }
}

/// `a * b mod P`, in the register's order.
fn multiply(a: u64, mut b: u64) -> u64 {
    let mut product = 0;
    for k in 0..64 {
        if (a >> (63 - k)) & 1 == 1 {
            product ^= b;
        }
        b = times_x(b);
    }
    product
}

/// The CRC of `A` followed by `B`, from the CRCs of both and the length
/// of `B`. With a zero init and xorout the CRC is linear, and summing a
/// zero byte multiplies it by x^8: so CRC(A B) = CRC(A) x^(8|B|) + CRC(B),
/// the power found by squaring.
pub fn concatenated(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    let mut power = 1 << 63; // x^0
    let mut square = 1 << 55; // x^8
    let mut n = len_b;
    while n > 0 {
        if n & 1 == 1 {
            power = multiply(power, square);
        }
        square = multiply(square, square);
        n >>= 1;
    }
    multiply(crc_a, power) ^ crc_b
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
        self.reader_at_until(at, usize::MAX);
    }

    /// [`CrcAhead::reader_at`], summing no further than `until` (or `at`,
    /// if the reader is past it): a reader that stops there.
    #[inline]
    pub fn reader_at_until(&mut self, at: usize, until: usize) {
        let want = at
            .saturating_add(CRC_AHEAD)
            .min(self.limit)
            .min(until.max(at));
        if want > self.pos + CRC_AHEAD / 2 || want == self.limit || want == until {
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

    /// Sums `data[start..limit]` only: a piece of the input, for
    /// [`CrcAhead::append`] to one summing the rest.
    pub fn piece(data: &'a [u8], start: usize, limit: usize) -> Self {
        let limit = limit.min(data.len());
        CrcAhead {
            data,
            crc: Crc64::new(),
            pos: start.min(limit),
            limit,
        }
    }

    /// The sum of the piece's `start..end`, the reader having stopped at
    /// `end` (summed again if the sum had gone past it).
    pub fn piece_to(mut self, start: usize, end: usize) -> Crc64 {
        if self.pos > end {
            let mut crc = Crc64::new();
            crc.update(self.data.get(start..end).unwrap_or(&[]));
            return crc;
        }
        self.cover(end);
        self.crc
    }

    /// Appends the sum of `data[at..end]`, computed elsewhere: true if the
    /// sum had reached exactly `at`; false (and nothing done) otherwise.
    pub fn append(&mut self, at: usize, piece: &Crc64, end: usize) -> bool {
        if self.pos != at || end > self.limit || end < at {
            return false;
        }
        self.crc.append(piece);
        self.pos = end;
        true
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
    fn a_concatenation_sums_as_the_whole() {
        let data: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for cut in [0, 1, 7, 8, 9, 63, 64, 1000, 4999, 5000] {
            let (a, b) = data.split_at(cut);
            let sum = concatenated(crc64(a), crc64(b), b.len() as u64);
            assert_eq!(sum, crc64(&data), "cut at {cut}");
            let mut first = Crc64::new();
            first.update(a);
            let mut second = Crc64::new();
            second.update(b);
            first.append(&second);
            first.update(b"tail");
            assert_eq!(first.finish(), crc64(&[&data[..], b"tail"].concat()));
        }
    }

    #[test]
    fn pieces_appended_in_order_sum_as_the_whole() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 13 % 241) as u8).collect();
        for cuts in [vec![0, 7, 30_000, 50_000], vec![0, 1, 2, 49_999, 50_000]] {
            let mut whole = CrcAhead::new(&data, data.len());
            for w in cuts.windows(2) {
                let (start, end) = (w[0], w[1]);
                let mut piece = CrcAhead::piece(&data, start, data.len());
                piece.reader_at_until(start + 3, end);
                assert!(piece.finish().0 <= end);
                let sum = piece.piece_to(start, end);
                assert!(whole.append(start, &sum, end));
            }
            assert_eq!(whole.finish(), (data.len(), crc64(&data)));
        }
        // Out of order, or past the limit: refused, nothing summed.
        let mut whole = CrcAhead::new(&data, 100);
        let sum = CrcAhead::piece(&data, 10, 20).piece_to(10, 20);
        assert!(!whole.append(10, &sum, 20));
        assert!(!whole.append(0, &sum, 200));
        assert_eq!(whole.finish(), (0, crc64(&[])));
        // A piece whose sum went past where its reader stopped.
        let mut piece = CrcAhead::piece(&data, 0, data.len());
        piece.reader_at(0);
        assert_eq!(piece.piece_to(0, 5).finish(), crc64(&data[..5]));
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
