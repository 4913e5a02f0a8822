//! Packed encodings that Redis stores inside RDB strings: ziplist, listpack,
//! intset, zipmap, and the stream node listpacks built on listpack.
//!
//! Each module is a pure function of a blob (`&[u8]`, already LZF-decompressed
//! by the caller). It checks the invariants of the *encoding* — the ones
//! Redis's `*ValidateIntegrity` functions check with `deep = 1` — and yields
//! the elements. Invariants of the RDB *type* that holds the blob (hash fields
//! unique, pairs even, zset scores numeric) live in `crate::verify`, mirroring
//! how Redis splits `lpValidateIntegrity` from its per-type callbacks.
//!
//! Offsets in [`EncodingError`] are relative to the start of the blob; the
//! caller knows where the blob sits in the file (or that it was compressed).

use std::borrow::Cow;
use std::fmt;

pub mod intset;
pub mod listpack;
pub mod stream;
pub mod ziplist;
pub mod zipmap;

/// One element of a packed encoding: Redis stores small integers as integers
/// and everything else as bytes, but both denote a string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Element<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl<'a> Element<'a> {
    /// The string the element denotes (integers in decimal), which is what
    /// Redis compares when it looks for duplicates.
    pub fn to_bytes(&self) -> Cow<'a, [u8]> {
        match *self {
            Element::Bytes(b) => Cow::Borrowed(b),
            Element::Int(i) => Cow::Owned(i.to_string().into_bytes()),
        }
    }

    /// The integer value when the element is an integer, or a string that is
    /// the canonical decimal text of one (as `string2ll` accepts it).
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Element::Int(i) => Some(i),
            Element::Bytes(b) => parse_canonical_i64(b),
        }
    }

    /// Whether the two elements denote the same string (`to_bytes` equal),
    /// without formatting an integer.
    #[inline]
    pub fn same_string(&self, other: &Element<'_>) -> bool {
        match (*self, *other) {
            (Element::Bytes(a), Element::Bytes(b)) => same_bytes(a, b),
            (Element::Int(a), Element::Int(b)) => a == b,
            // Only text starting with a digit or '-' can be an integer's.
            (Element::Int(i), Element::Bytes(b)) | (Element::Bytes(b), Element::Int(i)) => {
                matches!(b.first(), Some(b'-' | b'0'..=b'9')) && is_decimal_of(b, i)
            }
        }
    }

    /// Calls `f` with the string the element denotes, an integer's text
    /// formatted on the stack: [`Element::to_bytes`] without allocating.
    #[inline]
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match *self {
            Element::Bytes(b) => f(b),
            Element::Int(i) => f(Decimal::new(i).as_bytes()),
        }
    }

    /// Length of the denoted string in bytes.
    pub fn str_len(&self) -> usize {
        match *self {
            Element::Bytes(b) => b.len(),
            Element::Int(i) => decimal_len(i),
        }
    }
}

/// `a == b`, looking at the first bytes before calling `memcmp`: the
/// members of one value that have the same length mostly differ there.
#[inline(always)]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.first() == b.first() && a == b
}

/// A packed sequence (listpack, ziplist) walked with its deep checks,
/// each element handed to a closure: the same elements and errors as its
/// `Elements` iterator, in one loop whose state stays in registers (the
/// common small value has a handful of entries, and an iterator's
/// bookkeeping cost more than decoding them).
pub trait PackedElements<'a> {
    /// Hands every element to `f` in order and returns how many there
    /// were, or stops at the first error: `f`'s, or the walk's (an invalid
    /// entry or end) turned into an `E` by `bad`.
    fn try_for_each_element<E>(
        &self,
        bad: impl FnOnce(EncodingError) -> E,
        f: impl FnMut(Element<'a>) -> Result<(), E>,
    ) -> Result<usize, E>;

    /// The elements of a valid sequence of at most `out.len()` entries,
    /// every one of the common shapes the walk decodes on its fast path,
    /// read into `out`: what [`PackedElements::try_for_each_element`]
    /// hands out, in one loop that does nothing else. `None` for anything
    /// else (an error, more entries, a rarer shape), where that walk
    /// decides and says what is wrong.
    fn small_elements<'o>(&self, out: &'o mut [Element<'a>]) -> Option<&'o [Element<'a>]>;
}

/// Whether `b` is the decimal text of `i` (out of line: an integer and a
/// string member in one value are rare).
#[inline(never)]
fn is_decimal_of(b: &[u8], i: i64) -> bool {
    parse_canonical_i64(b) == Some(i)
}

/// The decimal text of an `i64`, held on the stack (at most 20 bytes:
/// `-9223372036854775808`).
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    buf: [u8; 20],
    start: u8,
}

impl Decimal {
    pub fn new(i: i64) -> Self {
        let mut buf = [0u8; 20];
        let mut start = buf.len() as u8;
        let mut v = i.unsigned_abs();
        loop {
            start -= 1;
            if let Some(digit) = buf.get_mut(usize::from(start)) {
                *digit = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if i < 0 {
            start -= 1;
            if let Some(sign) = buf.get_mut(usize::from(start)) {
                *sign = b'-';
            }
        }
        Decimal { buf, start }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(usize::from(self.start)..).unwrap_or_default()
    }
}

/// Number of characters in the decimal text of `i`.
pub fn decimal_len(i: i64) -> usize {
    let mut n = if i < 0 { 2 } else { 1 };
    let mut v = i.unsigned_abs();
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

/// Parses `b` as Redis's `string2ll` does: an optional `-`, no leading zeros,
/// no `+`, no spaces, within `i64`.
pub fn parse_canonical_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits[0] == b'0' || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i128).wrapping_neg() as i64)
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// A violated invariant inside a packed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodingError {
    /// Byte offset from the start of the blob where the problem was found.
    pub offset: usize,
    /// What was expected and what was found, in words.
    pub message: String,
}

impl EncodingError {
    pub fn new(offset: usize, message: impl Into<String>) -> Self {
        EncodingError {
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Display for EncodingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {} of the blob)", self.message, self.offset)
    }
}

impl std::error::Error for EncodingError {}

/// Where the ways of reading a packed sequence disagree, if they do: its
/// callback walk and its count against `iterated` (what its iterator
/// yields, the error last), and its reader for small values, which must
/// hand out all of the elements or nothing, and nothing unless the walk is
/// clean. The unit tests and the fuzz targets hold every encoding to it.
pub fn walks_disagree<'a>(
    packed: &impl PackedElements<'a>,
    iterated: &[Result<Element<'a>, EncodingError>],
) -> Option<String> {
    let mut each = Vec::new();
    let walked = packed.try_for_each_element(
        |e| e,
        |element| {
            each.push(Ok(element));
            Ok(())
        },
    );
    if let Err(e) = walked.clone() {
        each.push(Err(e));
    }
    if each != iterated {
        return Some(format!("callback walk {each:?}, iterator {iterated:?}"));
    }
    if let Ok(n) = walked
        && n != iterated.len()
    {
        return Some(format!(
            "callback walk counted {n}, iterator {}",
            iterated.len()
        ));
    }
    // Buffers smaller and larger than a small value's element count.
    for room in [4, 16, 64] {
        let mut out = vec![Element::Int(0); room];
        if let Some(small) = packed.small_elements(&mut out) {
            let small: Vec<_> = small.iter().copied().map(Ok).collect();
            if small != iterated {
                return Some(format!(
                    "small-value reader ({room}) {small:?}, iterator {iterated:?}"
                ));
            }
        }
    }
    None
}

/// Damaged copies of a ziplist or listpack (a total-bytes u32 at offset 0,
/// a terminator byte at the end) for tests that compare two readers of the
/// same encoding: every truncation; each of those from `min_repaired`
/// bytes on with the header and terminator repaired, so the walk itself
/// meets the cut; and every byte set to each of `values` and flipped.
#[cfg(test)]
pub(crate) fn for_each_damaged(
    blob: &[u8],
    min_repaired: usize,
    terminator: u8,
    values: &[u8],
    f: &mut dyn FnMut(&[u8]),
) {
    for len in 0..blob.len() {
        f(&blob[..len]);
        if len >= min_repaired {
            let mut fixed = blob[..len].to_vec();
            fixed[..4].copy_from_slice(&(len as u32).to_le_bytes());
            fixed[len - 1] = terminator;
            f(&fixed);
        }
    }
    let mut work = blob.to_vec();
    for i in 0..blob.len() {
        for &v in values {
            work[i] = v;
            f(&work);
        }
        work[i] = blob[i] ^ 0xFF;
        f(&work);
        work[i] = blob[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers_follow_string2ll() {
        assert_eq!(parse_canonical_i64(b"0"), Some(0));
        assert_eq!(parse_canonical_i64(b"-1"), Some(-1));
        assert_eq!(parse_canonical_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_canonical_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_canonical_i64(b"9223372036854775808"), None);
        assert_eq!(parse_canonical_i64(b"01"), None);
        assert_eq!(parse_canonical_i64(b"-0"), None);
        assert_eq!(parse_canonical_i64(b"+1"), None);
        assert_eq!(parse_canonical_i64(b""), None);
        assert_eq!(parse_canonical_i64(b" 1"), None);
    }

    #[test]
    fn decimal_text_matches_to_string() {
        let mut v: i64 = 1;
        let mut samples = vec![0, -1, 9, 10, -10, 99, 100, i64::MAX, i64::MIN, i64::MIN + 1];
        while let Some(next) = v.checked_mul(10) {
            samples.extend([v - 1, v, v + 1, -v + 1, -v, -v - 1]);
            v = next;
        }
        for i in samples {
            assert_eq!(Decimal::new(i).as_bytes(), i.to_string().as_bytes());
            assert_eq!(
                Element::Int(i).with_bytes(<[u8]>::to_vec),
                Element::Int(i).to_bytes().into_owned()
            );
        }
    }

    #[test]
    fn decimal_len_matches_to_string() {
        for v in [0i64, 9, 10, -1, -10, i64::MAX, i64::MIN, 12345] {
            assert_eq!(decimal_len(v), v.to_string().len());
        }
    }
}
