//! Intset: the sorted array of integers Redis uses for small sets of
//! integers.
//!
//! ```text
//! offset 0          4          8
//!        +----------+----------+---------+---------+-----+
//!        | encoding |  length  | value 0 | value 1 | ... |
//!        |  u32 LE  |  u32 LE  |         |         |     |
//!        +----------+----------+---------+---------+-----+
//!
//! encoding  2, 4 or 8: the width of every value (INTSET_ENC_INT16/32/64)
//! value     signed little-endian integer of that width
//! ```
//!
//! Mirrors `intsetValidateIntegrity(is, size, deep = 1)` in Redis/Valkey
//! `src/intset.c`. [`Intset::parse`] does the shallow checks, in Redis's
//! order:
//!
//! * the 8-byte header is present;
//! * `encoding` is 2, 4 or 8;
//! * the blob is exactly `8 + length × encoding` bytes;
//! * `length` is not 0.
//!
//! [`Intset::values`] adds the deep one: values strictly ascending, which
//! also rules out duplicates. Redis does not check that the encoding is the
//! narrowest that fits the values, and neither do we.
//!
//! Values are numbered from 0 in error messages; offsets are relative to the
//! start of the blob.
//!
//! Used by RDB type 11 `SET_INTSET` (RDB v2+, written by Redis 2.4 – 8.x and
//! Valkey).

// Offsets are bounded by `blob.len()` (at most `isize::MAX`); the size
// computed from the header uses checked arithmetic and every read goes
// through `get`.

use std::iter::FusedIterator;

use super::EncodingError;

/// `sizeof(intset)`: encoding + length.
const HEADER_SIZE: usize = 8;
/// `INTSET_ENC_INT16`, `INTSET_ENC_INT32`, `INTSET_ENC_INT64`.
const INTSET_ENC_INT16: u32 = 2;
const INTSET_ENC_INT32: u32 = 4;
const INTSET_ENC_INT64: u32 = 8;

/// An intset whose header and size have been checked; the order of the
/// values has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intset<'a> {
    blob: &'a [u8],
    encoding: u32,
    len: usize,
}

impl<'a> Intset<'a> {
    /// Checks the header and size as `intsetValidateIntegrity` does with
    /// `deep = 0`.
    pub fn parse(blob: &'a [u8]) -> Result<Intset<'a>, EncodingError> {
        let size = blob.len();
        let (Some(encoding), Some(length)) = (read_u32_le(blob, 0), read_u32_le(blob, 4)) else {
            return Err(EncodingError::new(
                0,
                format!("intset needs an {HEADER_SIZE}-byte header, blob has {size} bytes"),
            ));
        };
        if !matches!(
            encoding,
            INTSET_ENC_INT16 | INTSET_ENC_INT32 | INTSET_ENC_INT64
        ) {
            return Err(EncodingError::new(
                0,
                format!("intset encoding is {encoding}; expected 2, 4 or 8"),
            ));
        }
        let len = length as usize;
        let expected = len
            .checked_mul(encoding as usize)
            .and_then(|n| n.checked_add(HEADER_SIZE));
        if expected != Some(size) {
            let needed = u64::from(length) * u64::from(encoding) + HEADER_SIZE as u64;
            return Err(EncodingError::new(
                4,
                format!(
                    "intset of {length} values × {encoding} bytes needs {needed} bytes, blob has {size}"
                ),
            ));
        }
        if len == 0 {
            return Err(EncodingError::new(
                4,
                "intset length is 0; Redis rejects an empty intset".to_owned(),
            ));
        }
        Ok(Intset {
            blob,
            encoding,
            len,
        })
    }

    /// Number of values (`length` from the header).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: [`Intset::parse`] rejects an empty intset.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Width of each value in bytes: 2, 4 or 8.
    pub fn encoding(&self) -> u32 {
        self.encoding
    }

    /// The whole blob, header included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// The deep check alone: every value greater than the one before.
    /// Returns the number of values, or the error [`Intset::values`] meets
    /// first. One tight loop per width; the iterator runs only to describe
    /// a fault.
    pub fn check_values(&self) -> Result<usize, EncodingError> {
        let body = self.blob.get(HEADER_SIZE..).unwrap_or_default();
        let ascending = match self.encoding {
            INTSET_ENC_INT16 => strictly_ascending(
                body.chunks_exact(2)
                    .map(|c| i64::from(i16::from_le_bytes(c.try_into().unwrap_or_default()))),
            ),
            INTSET_ENC_INT32 => strictly_ascending(
                body.chunks_exact(4)
                    .map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap_or_default()))),
            ),
            _ => strictly_ascending(
                body.chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default())),
            ),
        };
        if !ascending {
            for value in self.values() {
                value?;
            }
        }
        Ok(self.len)
    }

    /// Yields the values, checking that each is greater than the one before.
    /// Yields at most one `Err`, after which it is exhausted.
    pub fn values(&self) -> Values<'a> {
        Values {
            blob: self.blob,
            width: self.encoding as usize,
            index: 0,
            len: self.len,
            prev: None,
            done: false,
        }
    }
}

/// Iterator over the values of an [`Intset`], doing the deep check.
#[derive(Debug, Clone)]
pub struct Values<'a> {
    blob: &'a [u8],
    width: usize,
    index: usize,
    len: usize,
    prev: Option<i64>,
    done: bool,
}

impl Values<'_> {
    fn fail(&mut self, offset: usize, message: String) -> Option<Result<i64, EncodingError>> {
        self.done = true;
        Some(Err(EncodingError::new(offset, message)))
    }
}

impl Iterator for Values<'_> {
    type Item = Result<i64, EncodingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.index >= self.len {
            self.done = true;
            return None;
        }
        let i = self.index;
        let at = i
            .checked_mul(self.width)
            .and_then(|n| n.checked_add(HEADER_SIZE));
        let value = at.and_then(|at| {
            let bytes = self.blob.get(at..at.checked_add(self.width)?)?;
            match *bytes {
                [a, b] => Some(i64::from(i16::from_le_bytes([a, b]))),
                [a, b, c, d] => Some(i64::from(i32::from_le_bytes([a, b, c, d]))),
                _ => bytes.try_into().ok().map(i64::from_le_bytes),
            }
        });
        let (Some(at), Some(value)) = (at, value) else {
            // `parse` sized the blob, so this cannot happen.
            let at = at.unwrap_or(HEADER_SIZE);
            return self.fail(at, format!("intset value {i} is outside the blob"));
        };
        if let Some(prev) = self.prev {
            if value == prev {
                return self.fail(
                    at,
                    format!("intset value {i} ({value}) duplicates the previous value"),
                );
            }
            if value < prev {
                return self.fail(
                    at,
                    format!(
                        "intset value {i} ({value}) is less than the previous value {prev}; values must be strictly ascending"
                    ),
                );
            }
        }
        self.prev = Some(value);
        self.index += 1;
        Some(Ok(value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            (0, Some(self.len.saturating_sub(self.index)))
        }
    }
}

impl FusedIterator for Values<'_> {}

fn strictly_ascending(mut values: impl Iterator<Item = i64>) -> bool {
    let Some(mut prev) = values.next() else {
        return true;
    };
    for v in values {
        if v <= prev {
            return false;
        }
        prev = v;
    }
    true
}

/// Checks `blob` as an intset (header, size and order) and returns the
/// number of values.
pub fn validate(blob: &[u8]) -> Result<usize, EncodingError> {
    Intset::parse(blob)?.check_values()
}

fn read_u32_le(blob: &[u8], at: usize) -> Option<u32> {
    let bytes = blob.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(blob: &[u8]) -> Result<Vec<i64>, EncodingError> {
        Intset::parse(blob)?.values().collect()
    }

    fn err(blob: &[u8]) -> EncodingError {
        let e = validate(blob).expect_err("blob should be rejected");
        assert_eq!(
            collect(blob).unwrap_err(),
            e,
            "validate and values disagree"
        );
        e
    }

    /// Builds an intset of the given width from values, in the given order.
    fn build(encoding: u32, values: &[i64]) -> Vec<u8> {
        let mut out = encoding.to_le_bytes().to_vec();
        out.extend_from_slice(&(values.len() as u32).to_le_bytes());
        for v in values {
            out.extend_from_slice(&v.to_le_bytes()[..encoding as usize]);
        }
        out
    }

    #[test]
    fn int16() {
        let blob = [
            0x02, 0x00, 0x00, 0x00, // encoding = 2 (int16)
            0x03, 0x00, 0x00, 0x00, // length = 3
            0x00, 0x80, // -32768
            0xFF, 0xFF, // -1
            0xFF, 0x7F, // 32767
        ];
        assert_eq!(collect(&blob).unwrap(), vec![-32768, -1, 32767]);
        let set = Intset::parse(&blob).unwrap();
        assert_eq!((set.len(), set.encoding(), set.is_empty()), (3, 2, false));
        assert_eq!(validate(&blob), Ok(3));
    }

    #[test]
    fn int32_and_int64() {
        let values = [i64::from(i32::MIN), 0, i64::from(i32::MAX)];
        assert_eq!(collect(&build(4, &values)).unwrap(), values);
        let values = [i64::MIN, -1, i64::MAX];
        assert_eq!(collect(&build(8, &values)).unwrap(), values);
        // A wider encoding than the values need is legal.
        assert_eq!(collect(&build(8, &[1, 2])).unwrap(), vec![1, 2]);
    }

    #[test]
    fn real_intsets() {
        // Keys "intset_16" and "intset_64" (type 11) of
        // sripathikrishnan/redis-rdb-tools tests/dumps/intset_16.rdb and
        // intset_64.rdb (REDIS0003, loaded by every oracle server).
        let blob = [
            0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0xfc, 0x7f, 0xfd, 0x7f, 0xfe, 0x7f,
        ];
        assert_eq!(collect(&blob).unwrap(), vec![0x7ffc, 0x7ffd, 0x7ffe]);
        let blob = [
            0x08, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0xfc, 0xff, 0xfe, 0xff, 0xfe, 0xff,
            0xfe, 0x7f, 0xfd, 0xff, 0xfe, 0xff, 0xfe, 0xff, 0xfe, 0x7f, 0xfe, 0xff, 0xfe, 0xff,
            0xfe, 0xff, 0xfe, 0x7f,
        ];
        assert_eq!(
            collect(&blob).unwrap(),
            vec![
                0x7ffe_fffe_fffe_fffc,
                0x7ffe_fffe_fffe_fffd,
                0x7ffe_fffe_fffe_fffe
            ]
        );
    }

    #[test]
    fn short_header() {
        let e = err(&[0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]);
        assert_eq!(e.offset, 0);
        assert_eq!(e.message, "intset needs an 8-byte header, blob has 7 bytes");
    }

    #[test]
    fn bad_encoding() {
        // FORMATS.md §5 row 41.
        for encoding in [0u32, 1, 3, 16, u32::MAX] {
            let mut blob = build(8, &[1]);
            blob[0..4].copy_from_slice(&encoding.to_le_bytes());
            let e = err(&blob);
            assert_eq!(e.offset, 0);
            assert_eq!(
                e.message,
                format!("intset encoding is {encoding}; expected 2, 4 or 8")
            );
        }
    }

    #[test]
    fn size_mismatch() {
        // FORMATS.md §5 row 41: size must be exactly 8 + n × enc.
        let mut blob = build(2, &[1, 2]);
        blob.push(0);
        let e = err(&blob);
        assert_eq!(e.offset, 4);
        assert_eq!(
            e.message,
            "intset of 2 values × 2 bytes needs 12 bytes, blob has 13"
        );
        blob.truncate(11);
        assert_eq!(err(&blob).offset, 4);
        // A huge length must not overflow the size computation.
        let mut blob = build(8, &[1]);
        blob[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = err(&blob);
        assert_eq!(
            e.message,
            "intset of 4294967295 values × 8 bytes needs 34359738368 bytes, blob has 16"
        );
    }

    #[test]
    fn zero_length() {
        // FORMATS.md §5 row 41, [T "empty intset"].
        let blob = [
            0x02, 0x00, 0x00, 0x00, // encoding = 2
            0x00, 0x00, 0x00, 0x00, // length = 0
        ];
        let e = err(&blob);
        assert_eq!(e.offset, 4);
        assert_eq!(
            e.message,
            "intset length is 0; Redis rejects an empty intset"
        );
    }

    #[test]
    fn unsorted() {
        // FORMATS.md §5 row 41.
        let blob = build(4, &[1, 5, 3]);
        let e = err(&blob);
        assert_eq!(e.offset, 16);
        assert_eq!(
            e.message,
            "intset value 2 (3) is less than the previous value 5; values must be strictly ascending"
        );
        // Sign matters: 0xFFFF is -1, which sorts before 1.
        err(&build(2, &[1, -1]));
    }

    #[test]
    fn duplicate() {
        // FORMATS.md §5 row 41.
        let blob = build(8, &[7, 7]);
        let e = err(&blob);
        assert_eq!(e.offset, 16);
        assert_eq!(
            e.message,
            "intset value 1 (7) duplicates the previous value"
        );
    }

    #[test]
    fn values_are_fused_after_an_error() {
        let blob = build(2, &[1, 1, 2]);
        let set = Intset::parse(&blob).unwrap();
        let mut it = set.values();
        assert_eq!(it.next(), Some(Ok(1)));
        assert!(matches!(it.next(), Some(Err(_))));
        for _ in 0..5 {
            assert_eq!(it.next(), None);
        }
    }

    /// `intsetValidateIntegrity(deep = 1)` as a differential oracle.
    fn redis_model(p: &[u8]) -> bool {
        if p.len() < 8 {
            return false;
        }
        let encoding = u64::from(u32::from_le_bytes(p[0..4].try_into().unwrap()));
        if ![2, 4, 8].contains(&encoding) {
            return false;
        }
        let count = u64::from(u32::from_le_bytes(p[4..8].try_into().unwrap()));
        if 8 + count * encoding != p.len() as u64 || count == 0 {
            return false;
        }
        let get = |i: u64| {
            let at = (8 + i * encoding) as usize;
            let mut buf = [0u8; 8];
            buf[..encoding as usize].copy_from_slice(&p[at..at + encoding as usize]);
            let shift = 64 - 8 * encoding as u32;
            (i64::from_le_bytes(buf) << shift) >> shift
        };
        (1..count).all(|i| get(i) > get(i - 1))
    }

    #[test]
    fn truncations_and_byte_flips_never_panic_and_match_redis() {
        let samples = [
            build(2, &[-300, -2, 0, 9, 300]),
            build(4, &[-70000, 1, 70000]),
            build(8, &[i64::MIN, 0, i64::MAX]),
        ];
        for blob in samples {
            assert!(validate(&blob).is_ok());
            for cut in 0..blob.len() {
                assert_eq!(validate(&blob[..cut]).is_ok(), redis_model(&blob[..cut]));
            }
            let mut copy = blob.clone();
            for i in 0..blob.len() {
                for v in 0..=255u8 {
                    copy[i] = v;
                    assert_eq!(validate(&copy).is_ok(), redis_model(&copy), "{copy:02X?}");
                    if let Ok(set) = Intset::parse(&copy) {
                        let mut it = set.values();
                        let walked = it.try_fold(0, |n, v| v.map(|_| n + 1));
                        assert_eq!(it.next(), None);
                        // The tight loop and the iterator agree, error included.
                        assert_eq!(set.check_values(), walked, "{copy:02X?}");
                    }
                }
                copy[i] = blob[i];
            }
        }
    }
}
