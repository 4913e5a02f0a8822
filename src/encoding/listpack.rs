//! Listpack: the packed sequence behind hashes, zsets and sets (RDB types 16,
//! 17, 20, 23, 25), quicklist v2 PACKED nodes (type 18) and every stream node
//! (types 15, 19, 21, 26, 27). Written since Redis 5.0 (streams, RDB 9) and
//! 7.0 (everything else, RDB 10).
//!
//! ```text
//! offset 0      4          6
//!        +------+----------+---------+---------+-----+------+
//!        | u32  | u16      | entry 0 | entry 1 | ... | 0xFF |
//!        +------+----------+---------+---------+-----+------+
//!        total_bytes (LE)  num_elements (LE, 65535 = "unknown, count them")
//!
//! entry = encoding byte [+ length bytes] [+ data] + backlen
//!
//!   0xxxxxxx                     7-bit uint                        1 byte
//!   10llllll  data               string, len < 64                  1 + len
//!   110xxxxx  yyyyyyyy           13-bit signed int                 2 bytes
//!   1110llll  llllllll  data     string, 12-bit len, high nibble   2 + len
//!                                in the first byte
//!   0xF0  u32 LE len  data       string, 32-bit len                5 + len
//!   0xF1  i16 LE                                                   3 bytes
//!   0xF2  i24 LE                                                   4 bytes
//!   0xF3  i32 LE                                                   5 bytes
//!   0xF4  i64 LE                                                   9 bytes
//!   0xF5 ..= 0xFE                invalid
//!   0xFF                         end of the listpack
//!
//! backlen = the entry's length (encoding + data, not the backlen itself) in
//! 1..=5 bytes, 7 bits per byte, readable right to left: the rightmost byte
//! holds the lowest 7 bits, every byte but the leftmost has 0x80 set.
//! ```
//!
//! Mirrors `lpValidateIntegrity(lp, size, deep = 1)` and `lpValidateNext`
//! (Redis `src/listpack.c`):
//!
//! * header: at least 7 bytes, `total_bytes` equals the blob length, the last
//!   byte is 0xFF ([`Listpack::parse`]);
//! * per entry: a valid encoding byte, length bytes and the whole entry plus
//!   its backlen before the terminator, and a backlen that decodes to the
//!   entry length ([`Listpack::elements`]);
//! * after the walk: it stopped exactly at the final 0xFF, and
//!   `num_elements` matches unless it is 65535.
//!
//! One check is stricter than Redis: the backlen must occupy exactly the
//! canonical number of bytes that `lpEncodeBacklen` would write. Redis finds
//! the next entry with the canonical size but decodes the backlen by reading
//! leftwards until a byte without 0x80, so it accepts e.g. `0x83` (with a zero
//! data byte before it) for a 3-byte entry. Redis never writes such a
//! backlen; it only appears in a damaged file.

use std::fmt;
use std::iter::FusedIterator;

use super::{Element, EncodingError, PackedElements};

/// Bytes before the first entry: `total_bytes` and `num_elements`.
pub const LP_HDR_SIZE: usize = 6;
/// `num_elements` value meaning the count did not fit and must be walked.
pub const LP_HDR_NUMELE_UNKNOWN: u16 = 65535;
/// The terminator byte, and the encoding byte no entry may start with.
pub const LP_EOF: u8 = 0xFF;
/// Longest backlen `lpDecodeBacklen` accepts.
pub const LP_MAX_BACKLEN_SIZE: usize = 5;

pub const LP_ENCODING_32BIT_STR: u8 = 0xF0;
pub const LP_ENCODING_16BIT_INT: u8 = 0xF1;
pub const LP_ENCODING_24BIT_INT: u8 = 0xF2;
pub const LP_ENCODING_32BIT_INT: u8 = 0xF3;
pub const LP_ENCODING_64BIT_INT: u8 = 0xF4;

/// A listpack whose header has been checked; [`Listpack::elements`] does the
/// deep walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listpack<'a> {
    blob: &'a [u8],
    num_elements: u16,
}

impl<'a> Listpack<'a> {
    /// Checks the header as `lpValidateIntegrity` does with `deep = 0`.
    /// Inlined (it is a few compares); the errors are built out of line.
    #[inline(always)]
    pub fn parse(blob: &'a [u8]) -> Result<Listpack<'a>, EncodingError> {
        let (Some(&[t0, t1, t2, t3]), Some(&[n0, n1])) = (blob.get(0..4), blob.get(4..6)) else {
            return Err(too_short(blob.len()));
        };
        if blob.len() < LP_HDR_SIZE + 1 {
            return Err(too_short(blob.len()));
        }
        let total_bytes = u32::from_le_bytes([t0, t1, t2, t3]);
        if u64::from(total_bytes) != blob.len() as u64 {
            return Err(total_bytes_mismatch(total_bytes, blob.len()));
        }
        let last = blob.len() - 1;
        match blob.get(last) {
            Some(&LP_EOF) => {}
            other => return Err(no_terminator(last, other.copied())),
        }
        Ok(Listpack {
            blob,
            num_elements: u16::from_le_bytes([n0, n1]),
        })
    }

    /// The `num_elements` header field; [`LP_HDR_NUMELE_UNKNOWN`] means the
    /// count was too large to store.
    pub fn declared_len(&self) -> u16 {
        self.num_elements
    }

    /// The whole blob, header and terminator included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// True when the listpack holds no elements (the first entry position is
    /// the terminator). This is a header-level look, not a validation.
    pub fn is_empty(&self) -> bool {
        self.blob.get(LP_HDR_SIZE) == Some(&LP_EOF)
    }

    /// Walks and validates every entry, yielding elements in order. The walk
    /// ends with `None` only after the terminator and the element count have
    /// been checked, so an iterator that ran dry without an error means the
    /// listpack is valid.
    pub fn elements(&self) -> Elements<'a> {
        Elements {
            blob: self.blob,
            pos: LP_HDR_SIZE,
            index: 0,
            declared: self.num_elements,
            done: false,
        }
    }
}

#[cold]
fn total_bytes_mismatch(total_bytes: u32, len: usize) -> EncodingError {
    EncodingError::new(
        0,
        format!("listpack header says total_bytes = {total_bytes} but the blob is {len} bytes"),
    )
}

#[cold]
fn no_terminator(last: usize, found: Option<u8>) -> EncodingError {
    EncodingError::new(
        last,
        format!(
            "listpack must end with the 0xFF terminator, found {}",
            ByteDesc(found)
        ),
    )
}

#[cold]
fn too_short(len: usize) -> EncodingError {
    EncodingError::new(
        0,
        format!(
            "listpack of {len} bytes is shorter than the {} byte minimum (6-byte header + terminator)",
            LP_HDR_SIZE + 1
        ),
    )
}

/// Checks a listpack completely (header and every entry) and returns how
/// many elements it holds.
pub fn validate(blob: &[u8]) -> Result<usize, EncodingError> {
    let lp = Listpack::parse(blob)?;
    let mut elements = lp.elements();
    for element in &mut elements {
        element?;
    }
    Ok(elements.index())
}

/// Number of bytes `lpEncodeBacklen` uses for an entry of `entry_len` bytes.
/// The thresholds are the encoder's own, including its off-by-one: 16383
/// takes three bytes although two could hold it.
pub fn backlen_size(entry_len: usize) -> usize {
    let l = entry_len as u64;
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2_097_151 {
        3
    } else if l < 268_435_455 {
        4
    } else {
        5
    }
}

/// Reads a backlen as `lpDecodeBacklen` does: starting at `blob[last]` and
/// moving left while bytes have 0x80 set. Returns the value and how many
/// bytes it took, or `None` if no terminating byte appears within five bytes
/// (or before the start of the blob).
pub fn decode_backlen(blob: &[u8], last: usize) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for n in 0..LP_MAX_BACKLEN_SIZE {
        let byte = *blob.get(last.checked_sub(n)?)?;
        value |= u64::from(byte & 0x7F) << (7 * n);
        if byte & 0x80 == 0 {
            return Some((value, n + 1));
        }
    }
    None
}

/// The shape of an entry as its first byte announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Uint7,
    Str6,
    Int13,
    Str12,
    Str32,
    Int16,
    Int24,
    Int32,
    Int64,
}

impl Encoding {
    fn of(byte: u8) -> Option<Encoding> {
        Some(match byte {
            0x00..=0x7F => Encoding::Uint7,
            0x80..=0xBF => Encoding::Str6,
            0xC0..=0xDF => Encoding::Int13,
            0xE0..=0xEF => Encoding::Str12,
            LP_ENCODING_32BIT_STR => Encoding::Str32,
            LP_ENCODING_16BIT_INT => Encoding::Int16,
            LP_ENCODING_24BIT_INT => Encoding::Int24,
            LP_ENCODING_32BIT_INT => Encoding::Int32,
            LP_ENCODING_64BIT_INT => Encoding::Int64,
            _ => return None,
        })
    }

    /// Encoding byte plus length bytes (`lpCurrentEncodedSizeBytes`).
    fn header_len(self) -> usize {
        match self {
            Encoding::Str12 => 2,
            Encoding::Str32 => 5,
            _ => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Encoding::Uint7 => "7-bit uint",
            Encoding::Str6 => "6-bit-length string",
            Encoding::Int13 => "13-bit int",
            Encoding::Str12 => "12-bit-length string",
            Encoding::Str32 => "32-bit-length string",
            Encoding::Int16 => "16-bit int",
            Encoding::Int24 => "24-bit int",
            Encoding::Int32 => "32-bit int",
            Encoding::Int64 => "64-bit int",
        }
    }
}

/// Iterator over the elements of a [`Listpack`], validating as it goes.
/// After the first error it yields nothing more.
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    blob: &'a [u8],
    pos: usize,
    index: usize,
    declared: u16,
    done: bool,
}

impl<'a> Elements<'a> {
    /// Byte offset (within the blob) of the entry the next call to `next`
    /// will read; at the end of a clean walk, the offset of the terminator.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Number of elements yielded so far.
    pub fn index(&self) -> usize {
        self.index
    }

    fn fail(
        &mut self,
        offset: usize,
        message: String,
    ) -> Option<Result<Element<'a>, EncodingError>> {
        self.done = true;
        Some(Err(EncodingError::new(offset, message)))
    }

    /// Reads the entry at `self.pos`, which is known not to be the
    /// terminator byte. Returns the element and the entry's total size
    /// including the backlen.
    fn read_entry(&self, first: u8) -> Result<(Element<'a>, usize), EncodingError> {
        let blob = self.blob;
        let pos = self.pos;
        let index = self.index;
        // Everything must end before the terminator, the blob's last byte.
        let limit = blob.len().saturating_sub(1);
        let room = limit.saturating_sub(pos);

        let Some(enc) = Encoding::of(first) else {
            return Err(EncodingError::new(
                pos,
                format!(
                    "listpack entry {index}: expected an encoding byte (0x00-0xF4), found invalid 0x{first:02X}"
                ),
            ));
        };

        let header_len = enc.header_len();
        if header_len > room {
            return Err(EncodingError::new(
                pos,
                format!(
                    "listpack entry {index}: {} header needs {header_len} bytes but only {room} remain before the terminator",
                    enc.name()
                ),
            ));
        }
        let header = blob.get(pos..pos + header_len).unwrap_or_default();
        let at = |i: usize| header.get(i).copied().unwrap_or(0);

        // At most 5 + (2^32 - 1): fits in u64 on every target, and is
        // compared against `room` before it is used as a usize.
        let entry_len_u64: u64 = match enc {
            Encoding::Uint7 => 1,
            Encoding::Str6 => 1 + u64::from(first & 0x3F),
            Encoding::Int13 => 2,
            Encoding::Str12 => 2 + ((u64::from(first & 0x0F) << 8) | u64::from(at(1))),
            Encoding::Str32 => 5 + u64::from(u32::from_le_bytes([at(1), at(2), at(3), at(4)])),
            Encoding::Int16 => 3,
            Encoding::Int24 => 4,
            Encoding::Int32 => 5,
            Encoding::Int64 => 9,
        };
        let backlen_len = backlen_size(usize::try_from(entry_len_u64).unwrap_or(usize::MAX));
        let full_len = entry_len_u64 + backlen_len as u64;
        if full_len > room as u64 {
            return Err(EncodingError::new(
                pos,
                format!(
                    "listpack entry {index}: {} of {entry_len_u64} bytes plus a {backlen_len}-byte backlen needs {full_len} bytes but only {room} remain before the terminator",
                    enc.name()
                ),
            ));
        }
        // Both fit within `room`, which is a usize.
        let entry_len = entry_len_u64 as usize;
        let full_len = full_len as usize;

        let backlen_start = pos + entry_len;
        let backlen_last = pos + full_len - 1;
        match decode_backlen(blob, backlen_last) {
            None => {
                return Err(EncodingError::new(
                    backlen_start,
                    format!(
                        "listpack entry {index}: backlen of the {entry_len}-byte entry does not end within {LP_MAX_BACKLEN_SIZE} bytes"
                    ),
                ));
            }
            Some((value, _)) if value != entry_len_u64 => {
                return Err(EncodingError::new(
                    backlen_start,
                    format!(
                        "listpack entry {index}: backlen says {value} bytes but the entry is {entry_len} bytes"
                    ),
                ));
            }
            Some((_, used)) if used != backlen_len => {
                return Err(EncodingError::new(
                    backlen_last + 1 - used,
                    format!(
                        "listpack entry {index}: backlen for {entry_len} bytes takes {used} bytes, but the canonical encoding takes {backlen_len}"
                    ),
                ));
            }
            Some(_) => {}
        }

        let data = blob
            .get(pos + header_len..pos + entry_len)
            .unwrap_or_default();
        let d = |i: usize| data.get(i).copied().unwrap_or(0);
        let element = match enc {
            Encoding::Uint7 => Element::Int(i64::from(first & 0x7F)),
            Encoding::Int13 => {
                let u = (i64::from(first & 0x1F) << 8) | i64::from(d(0));
                Element::Int(if u >= 4096 { u - 8192 } else { u })
            }
            Encoding::Int16 => Element::Int(i64::from(i16::from_le_bytes([d(0), d(1)]))),
            Encoding::Int24 => {
                // Place the three bytes high in an i32 and shift back down to
                // sign-extend.
                let v = i32::from_le_bytes([0, d(0), d(1), d(2)]) >> 8;
                Element::Int(i64::from(v))
            }
            Encoding::Int32 => {
                Element::Int(i64::from(i32::from_le_bytes([d(0), d(1), d(2), d(3)])))
            }
            Encoding::Int64 => Element::Int(i64::from_le_bytes([
                d(0),
                d(1),
                d(2),
                d(3),
                d(4),
                d(5),
                d(6),
                d(7),
            ])),
            Encoding::Str6 | Encoding::Str12 | Encoding::Str32 => Element::Bytes(data),
        };
        Ok((element, full_len))
    }

    /// The walk reached a 0xFF encoding byte: it must be the blob's last
    /// byte, and the count must match the header.
    fn finish(&mut self) -> Option<Result<Element<'a>, EncodingError>> {
        let last = self.blob.len().saturating_sub(1);
        if self.pos != last {
            let (pos, index) = (self.pos, self.index);
            return self.fail(
                pos,
                format!(
                    "listpack entry {index}: found the 0xFF terminator at offset {pos}, but the listpack ends at offset {last}"
                ),
            );
        }
        if self.declared != LP_HDR_NUMELE_UNKNOWN && usize::from(self.declared) != self.index {
            let (declared, index) = (self.declared, self.index);
            return self.fail(
                4,
                format!(
                    "listpack header says num_elements = {declared} but the listpack holds {index} elements"
                ),
            );
        }
        self.done = true;
        None
    }
}

impl<'a> Elements<'a> {
    /// [`common_entry`] at the walk's position, unless the walk is over.
    #[inline(always)]
    fn fast_entry(&self) -> Option<(Element<'a>, usize)> {
        if self.done {
            return None;
        }
        let rest = self.blob.get(self.pos..)?;
        let (element, next) = common_entry(rest)?;
        Some((element, rest.len() - next.len()))
    }

    /// The walk is at the terminator, the blob's last byte, with as many
    /// elements as the header declares: the end [`Elements::finish`]
    /// accepts, without its call.
    #[inline(always)]
    fn clean_end(&self) -> bool {
        !self.done
            && self.pos + 1 == self.blob.len()
            && self.blob.get(self.pos) == Some(&LP_EOF)
            && (self.declared == LP_HDR_NUMELE_UNKNOWN || usize::from(self.declared) == self.index)
    }

    #[inline(never)]
    fn next_checked_by_value(mut self) -> (Self, Option<Result<Element<'a>, EncodingError>>) {
        let item = self.next_checked();
        (self, item)
    }

    /// Reads the next entry with every check spelt out, producing the
    /// error that describes what is wrong.
    #[inline(never)]
    fn next_checked(&mut self) -> Option<Result<Element<'a>, EncodingError>> {
        if self.done {
            return None;
        }
        let Some(&first) = self.blob.get(self.pos) else {
            // Only reachable for a blob that `Listpack::parse` would reject;
            // report rather than panic.
            let pos = self.pos;
            return self.fail(
                pos,
                "listpack walk ran past the end of the blob".to_string(),
            );
        };
        if first == LP_EOF {
            return self.finish();
        }
        match self.read_entry(first) {
            Ok((element, full_len)) => {
                // full_len >= 2, so the walk always advances.
                self.pos += full_len;
                self.index += 1;
                Some(Ok(element))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The common entry at the start of `rest` (the blob from the entry on),
/// decoded with few branches: every encoding but the 32-bit string, with a
/// canonical 1- or 2-byte backlen, the whole entry before the terminator.
/// Returns the element and what follows the entry's backlen, or `None`
/// for anything else (an error, the terminator, a rarer shape) so that
/// [`Elements::next_checked`] reads it and, when it is wrong, says why. It
/// accepts an entry only if `read_entry` would, and yields the same
/// element: the tests compare the two on every mutation of their samples.
///
/// Read from a slice rather than at an index, so that each length is
/// checked once, against what remains.
#[inline(always)]
fn common_entry(rest: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let (&first, tail) = rest.split_first()?;
    // Each arm ends with the backlen check, so that it is specialised to
    // the entry lengths the arm can have.
    match first {
        0x00..=0x7F => backlen_then(Element::Int(i64::from(first)), rest, 1),
        0x80..=0xBF => {
            let len = usize::from(first & 0x3F);
            backlen_then(Element::Bytes(tail.get(..len)?), rest, 1 + len)
        }
        0xC0..=0xDF => {
            let u = (i64::from(first & 0x1F) << 8) | i64::from(*tail.first()?);
            backlen_then(Element::Int(if u >= 4096 { u - 8192 } else { u }), rest, 2)
        }
        0xE0..=0xEF => {
            let (&lo, data) = tail.split_first()?;
            let len = (usize::from(first & 0x0F) << 8) | usize::from(lo);
            backlen_then(Element::Bytes(data.get(..len)?), rest, 2 + len)
        }
        LP_ENCODING_16BIT_INT => {
            let &[a, b, ..] = tail else {
                return None;
            };
            backlen_then(Element::Int(i64::from(i16::from_le_bytes([a, b]))), rest, 3)
        }
        LP_ENCODING_24BIT_INT => {
            let &[a, b, c, ..] = tail else {
                return None;
            };
            let v = i32::from_le_bytes([0, a, b, c]) >> 8;
            backlen_then(Element::Int(i64::from(v)), rest, 4)
        }
        LP_ENCODING_32BIT_INT => {
            let d: [u8; 4] = *tail.first_chunk()?;
            backlen_then(Element::Int(i64::from(i32::from_le_bytes(d))), rest, 5)
        }
        LP_ENCODING_64BIT_INT => {
            let d: [u8; 8] = *tail.first_chunk()?;
            backlen_then(Element::Int(i64::from_le_bytes(d)), rest, 9)
        }
        _ => None,
    }
}

/// [`common_entry`]'s end: the canonical backlen of an entry of
/// `entry_len` bytes at the start of `rest`, and at least the terminator
/// after it. An entry there is at most 2 + 4095 bytes, so its backlen takes
/// one byte below 128, else two. Returns the element and what follows.
#[inline(always)]
fn backlen_then<'a>(
    element: Element<'a>,
    rest: &'a [u8],
    entry_len: usize,
) -> Option<(Element<'a>, &'a [u8])> {
    if entry_len < 128 {
        if rest.len() > entry_len + 1 && usize::from(*rest.get(entry_len)?) == entry_len {
            return Some((element, rest.get(entry_len + 1..)?));
        }
    } else if rest.len() > entry_len + 2
        && rest.get(entry_len..entry_len + 2)
            == Some(&[(entry_len >> 7) as u8, (entry_len as u8 & 0x7F) | 0x80])
    {
        return Some((element, rest.get(entry_len + 2..)?));
    }
    None
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Element<'a>, EncodingError>;

    // Always inlined: most packed values hold a handful of entries, and a
    // call per entry cost more than decoding it.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        match self.fast_entry() {
            Some((element, full_len)) => {
                self.pos += full_len;
                self.index += 1;
                Some(Ok(element))
            }
            None if self.clean_end() => {
                self.done = true;
                None
            }
            None => self.next_checked(),
        }
    }
}

impl FusedIterator for Elements<'_> {}

impl<'a> PackedElements<'a> for Listpack<'a> {
    #[inline(always)]
    fn try_for_each_element<E>(
        &self,
        bad: impl FnOnce(EncodingError) -> E,
        mut f: impl FnMut(Element<'a>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut walk = self.elements();
        // The fast path walks the rest of the blob as a slice, its
        // position kept as what remains; `walk.done` is set only where
        // this returns, so it need not look at it.
        let mut rest = self.blob.get(LP_HDR_SIZE..).unwrap_or_default();
        loop {
            match common_entry(rest) {
                Some((element, next)) => {
                    rest = next;
                    walk.index += 1;
                    f(element)?;
                }
                None => {
                    walk.pos = self.blob.len() - rest.len();
                    if walk.clean_end() {
                        return Ok(walk.index);
                    }
                    // On a copy, so that `walk` never has its address taken.
                    let (walked, item) = walk.next_checked_by_value();
                    walk = walked;
                    rest = self.blob.get(walk.pos..).unwrap_or_default();
                    match item {
                        Some(Ok(element)) => f(element)?,
                        Some(Err(e)) => return Err(bad(e)),
                        None => return Ok(walk.index),
                    }
                }
            }
        }
    }

    #[inline(always)]
    fn small_elements<'o>(&self, out: &'o mut [Element<'a>]) -> Option<&'o [Element<'a>]> {
        let mut rest = self.blob.get(LP_HDR_SIZE..)?;
        let mut n = 0;
        while let Some((element, next)) = common_entry(rest) {
            *out.get_mut(n)? = element;
            n += 1;
            rest = next;
        }
        // The end `Elements::clean_end` accepts.
        let declared = usize::from(self.num_elements);
        (rest == [LP_EOF] && (self.num_elements == LP_HDR_NUMELE_UNKNOWN || declared == n))
            .then_some(out.get(..n)?)
    }
}

/// Formats an optional byte as `0xNN` or "nothing".
struct ByteDesc(Option<u8>);

impl fmt::Display for ByteDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(b) => write!(f, "0x{b:02X}"),
            None => f.write_str("nothing"),
        }
    }
}

/// A minimal listpack writer for tests (here and in `stream`), choosing
/// encodings as `lpEncodeGetType` / `lpEncodeString` do.
#[cfg(test)]
pub(crate) mod test_encoder {
    use super::backlen_size;

    /// What to put in one entry.
    #[derive(Debug, Clone)]
    pub enum Item {
        Int(i64),
        Str(Vec<u8>),
    }

    impl From<i64> for Item {
        fn from(v: i64) -> Self {
            Item::Int(v)
        }
    }

    impl From<&str> for Item {
        fn from(s: &str) -> Self {
            Item::Str(s.as_bytes().to_vec())
        }
    }

    /// Appends `l` as `lpEncodeBacklen` would.
    pub fn push_backlen(out: &mut Vec<u8>, l: usize) {
        let n = backlen_size(l);
        for i in (0..n).rev() {
            let group = ((l >> (7 * i)) & 0x7F) as u8;
            // Every byte except the leftmost carries the continuation bit.
            out.push(if i + 1 == n { group } else { group | 0x80 });
        }
    }

    /// Encoding + data of one entry, without backlen.
    pub fn encode_item(item: &Item) -> Vec<u8> {
        match item {
            Item::Int(v) => {
                let v = *v;
                if (0..=127).contains(&v) {
                    vec![v as u8]
                } else if (-4096..=4095).contains(&v) {
                    let u = if v < 0 { v + 8192 } else { v } as u16;
                    vec![0xC0 | (u >> 8) as u8, u as u8]
                } else if (-32768..=32767).contains(&v) {
                    let mut e = vec![0xF1];
                    e.extend_from_slice(&(v as i16).to_le_bytes());
                    e
                } else if (-8_388_608..=8_388_607).contains(&v) {
                    let mut e = vec![0xF2];
                    e.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                    e
                } else if (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
                    let mut e = vec![0xF3];
                    e.extend_from_slice(&(v as i32).to_le_bytes());
                    e
                } else {
                    let mut e = vec![0xF4];
                    e.extend_from_slice(&v.to_le_bytes());
                    e
                }
            }
            Item::Str(s) => {
                let len = s.len();
                let mut e = if len < 64 {
                    vec![0x80 | len as u8]
                } else if len < 4096 {
                    vec![0xE0 | (len >> 8) as u8, len as u8]
                } else {
                    let mut e = vec![0xF0];
                    e.extend_from_slice(&(len as u32).to_le_bytes());
                    e
                };
                e.extend_from_slice(s);
                e
            }
        }
    }

    /// Entry bytes (encoding + data + backlen) for each item.
    pub fn entry(item: &Item) -> Vec<u8> {
        let mut e = encode_item(item);
        let l = e.len();
        push_backlen(&mut e, l);
        e
    }

    /// Wraps raw entry bytes in a header and terminator.
    pub fn wrap(entries: &[u8], num_elements: u16) -> Vec<u8> {
        let total = (6 + entries.len() + 1) as u32;
        let mut out = total.to_le_bytes().to_vec();
        out.extend_from_slice(&num_elements.to_le_bytes());
        out.extend_from_slice(entries);
        out.push(0xFF);
        out
    }

    /// A well-formed listpack holding `items`.
    pub fn build(items: &[Item]) -> Vec<u8> {
        let mut body = Vec::new();
        for item in items {
            body.extend(entry(item));
        }
        let n = u16::try_from(items.len()).unwrap_or(u16::MAX);
        wrap(&body, n)
    }
}

#[cfg(test)]
mod tests {
    use super::test_encoder::{Item, build, entry, wrap};
    use super::*;

    fn collect(blob: &[u8]) -> Result<Vec<Element<'_>>, EncodingError> {
        Listpack::parse(blob)?.elements().collect()
    }

    fn err(blob: &[u8]) -> EncodingError {
        match validate(blob) {
            Ok(n) => panic!("expected an error, listpack validated with {n} elements"),
            Err(e) => e,
        }
    }

    #[test]
    fn empty_listpack() {
        let blob = [
            0x07, 0x00, 0x00, 0x00, // total_bytes = 7
            0x00, 0x00, // num_elements = 0
            0xFF, // terminator
        ];
        assert_eq!(validate(&blob), Ok(0));
        assert!(
            Listpack::parse(&blob)
                .map(|lp| lp.is_empty())
                .unwrap_or(false)
        );
        // "unknown" count is also fine.
        let blob = [0x07, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF];
        assert_eq!(validate(&blob), Ok(0));
    }

    #[test]
    fn every_encoding_form() {
        let mut body = vec![
            0x05, 0x01, // 7-bit uint 5, backlen 1
            0x7F, 0x01, // 7-bit uint 127, backlen 1
            0x83, b'a', b'b', b'c', 0x04, // 6-bit str "abc", backlen 4
            0x80, 0x01, // 6-bit str "" (empty), backlen 1
            0xC1, 0x00, 0x02, // 13-bit int 0x100 = 256, backlen 2
            0xDF, 0xFF, 0x02, // 13-bit int 8191 - 8192 = -1, backlen 2
            0xD0, 0x00, 0x02, // 13-bit int 4096 - 8192 = -4096, backlen 2
            0xCF, 0xFF, 0x02, // 13-bit int 4095, backlen 2
            0xF1, 0x00, 0x80, 0x03, // int16 LE 0x8000 = -32768, backlen 3
            0xF1, 0x39, 0x30, 0x03, // int16 LE 0x3039 = 12345, backlen 3
            0xF2, 0xFF, 0xFF, 0xFF, 0x04, // int24 LE -1, backlen 4
            0xF2, 0x00, 0x00, 0x80, 0x04, // int24 LE -8388608, backlen 4
            0xF3, 0x00, 0x00, 0x00, 0x80, 0x05, // int32 LE i32::MIN, backlen 5
            0xF4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80,
            0x09, // int64 i64::MIN, backlen 9
            0xF4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F,
            0x09, // int64 i64::MAX, backlen 9
        ];
        // 12-bit str: 0xE0 | high nibble, then low byte; len 0x041 = 65, so
        // entry = 2 + 65 = 67 bytes, backlen 1 byte (67 <= 127).
        body.extend_from_slice(&[0xE0, 0x41]);
        body.extend(std::iter::repeat_n(b'x', 65));
        body.push(67);
        // 12-bit str with a high nibble: len 0x1FF = 511, entry 513 bytes,
        // backlen 2 bytes: 513 = 4 << 7 | 1 -> [0x04, 0x81].
        body.extend_from_slice(&[0xE1, 0xFF]);
        body.extend(std::iter::repeat_n(b'y', 511));
        body.extend_from_slice(&[0x04, 0x81]);
        // 32-bit str: 0xF0, len u32 LE = 3, "xyz"; entry 8 bytes, backlen 8.
        body.extend_from_slice(&[0xF0, 0x03, 0x00, 0x00, 0x00, b'x', b'y', b'z', 0x08]);
        let blob = wrap(&body, 18);

        let got = collect(&blob).expect("valid");
        let x65 = vec![b'x'; 65];
        let y511 = vec![b'y'; 511];
        let want = vec![
            Element::Int(5),
            Element::Int(127),
            Element::Bytes(b"abc"),
            Element::Bytes(b""),
            Element::Int(256),
            Element::Int(-1),
            Element::Int(-4096),
            Element::Int(4095),
            Element::Int(-32768),
            Element::Int(12345),
            Element::Int(-1),
            Element::Int(-8_388_608),
            Element::Int(i64::from(i32::MIN)),
            Element::Int(i64::MIN),
            Element::Int(i64::MAX),
            Element::Bytes(&x65),
            Element::Bytes(&y511),
            Element::Bytes(b"xyz"),
        ];
        assert_eq!(got, want);
        assert_eq!(validate(&blob), Ok(18));
    }

    #[test]
    fn encoder_round_trips() {
        let ints = [
            0i64,
            1,
            127,
            128,
            -1,
            4095,
            -4096,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::MAX,
            i64::MIN,
        ];
        let mut items: Vec<Item> = ints.iter().map(|&v| Item::Int(v)).collect();
        for len in [
            0usize, 63, 64, 125, 126, 127, 128, 4095, 4096, 16380, 16381, 16382, 70000,
        ] {
            items.push(Item::Str(vec![b's'; len]));
        }
        let blob = build(&items);
        let got = collect(&blob).expect("valid");
        assert_eq!(got.len(), items.len());
        for (g, i) in got.iter().zip(&items) {
            match i {
                Item::Int(v) => assert_eq!(*g, Element::Int(*v)),
                Item::Str(s) => assert_eq!(*g, Element::Bytes(s)),
            }
        }
    }

    #[test]
    fn backlen_sizes_follow_the_encoder() {
        assert_eq!(backlen_size(1), 1);
        assert_eq!(backlen_size(127), 1);
        assert_eq!(backlen_size(128), 2);
        assert_eq!(backlen_size(16382), 2);
        assert_eq!(backlen_size(16383), 3);
        assert_eq!(backlen_size(2_097_150), 3);
        assert_eq!(backlen_size(2_097_151), 4);
        assert_eq!(backlen_size(268_435_454), 4);
        assert_eq!(backlen_size(268_435_455), 5);
        assert_eq!(decode_backlen(&[0x04, 0x81], 1), Some((513, 2)));
        assert_eq!(decode_backlen(&[0x81], 0), None);
        assert_eq!(decode_backlen(&[0x80; 6], 5), None);
    }

    #[test]
    fn entry_of_128_bytes_has_two_byte_backlen() {
        // 6-bit strings stop at 63, so 126 payload bytes take a 12-bit
        // string: 2 + 126 = 128 bytes, backlen 128 = 1 << 7 | 0 -> [0x01, 0x80].
        let e = entry(&Item::Str(vec![b'z'; 126]));
        assert_eq!(&e[..2], &[0xE0, 0x7E]);
        assert_eq!(&e[128..], &[0x01, 0x80]);
        assert_eq!(validate(&wrap(&e, 1)), Ok(1));
        // 125 bytes: entry 127, one-byte backlen.
        let e = entry(&Item::Str(vec![b'z'; 125]));
        assert_eq!(e.len(), 128);
        assert_eq!(e[127], 127);
    }

    #[test]
    fn too_short() {
        for blob in [&[][..], &[0x06, 0, 0, 0, 0, 0][..]] {
            let e = err(blob);
            assert_eq!(e.offset, 0);
            assert!(e.message.contains("shorter than"), "{e}");
        }
    }

    #[test]
    fn total_bytes_mismatch() {
        let mut blob = build(&[Item::Int(1)]);
        blob[0] += 1; // total_bytes one more than the blob
        let e = err(&blob);
        assert_eq!(e.offset, 0);
        assert_eq!(
            e.message,
            "listpack header says total_bytes = 10 but the blob is 9 bytes"
        );
    }

    #[test]
    fn bad_terminator() {
        let mut blob = build(&[Item::Int(1)]);
        let last = blob.len() - 1;
        blob[last] = 0xFE;
        let e = err(&blob);
        assert_eq!(e.offset, last);
        assert!(e.message.contains("found 0xFE"), "{e}");
    }

    #[test]
    fn terminator_in_the_middle() {
        let blob = wrap(
            &[
                0x01, 0x01, // 7-bit uint 1
                0xFF, // a terminator where entry 1 should start
                0x02, 0x01, // 7-bit uint 2
            ],
            2,
        );
        let e = err(&blob);
        assert_eq!(e.offset, 8);
        assert!(
            e.message.contains("entry 1: found the 0xFF terminator"),
            "{e}"
        );
    }

    #[test]
    fn backlen_mismatch() {
        let blob = wrap(
            &[
                0x83, b'a', b'b', b'c', // 6-bit str "abc": entry is 4 bytes
                0x05, // backlen claims 5
            ],
            1,
        );
        let e = err(&blob);
        assert_eq!(e.offset, 10);
        assert_eq!(
            e.message,
            "listpack entry 0: backlen says 5 bytes but the entry is 4 bytes"
        );
    }

    #[test]
    fn two_byte_backlen_mismatch() {
        let mut e = entry(&Item::Str(vec![b'z'; 126]));
        e[129] = 0x81; // says 129 instead of 128
        let e = err(&wrap(&e, 1));
        assert_eq!(e.offset, 6 + 128);
        assert!(
            e.message
                .contains("backlen says 129 bytes but the entry is 128"),
            "{e}"
        );
    }

    #[test]
    fn non_canonical_backlen_size() {
        // Entry "\x82 a \0" is 3 bytes; the canonical backlen is one byte 0x03.
        // 0x83 decodes, right to left, as 3 plus a continuation into the
        // zero data byte: value 3 in two bytes. Redis would accept it.
        let blob = wrap(
            &[
                0x82, b'a', 0x00, // 6-bit str "a\0"
                0x83, // backlen 3 with the continuation bit set
            ],
            1,
        );
        let e = err(&blob);
        assert_eq!(e.offset, 8);
        assert_eq!(
            e.message,
            "listpack entry 0: backlen for 3 bytes takes 2 bytes, but the canonical encoding takes 1"
        );

        // 16383 is written in 3 bytes (00 FF FF), but 2 bytes (7F FF) also
        // decode to it: the leftover byte in front makes it non-canonical.
        let mut e = entry(&Item::Str(vec![b'q'; 16378])); // 5 + 16378 = 16383
        assert_eq!(&e[16383..], &[0x00, 0xFF, 0xFF]);
        e[16384] = 0x7F;
        let e = err(&wrap(&e, 1));
        assert_eq!(e.offset, 6 + 16384);
        assert!(
            e.message
                .contains("takes 2 bytes, but the canonical encoding takes 3"),
            "{e}"
        );
    }

    #[test]
    fn backlen_without_end() {
        let blob = wrap(
            &[
                0x84, 0x80, 0x80, 0x80, 0x80, // 6-bit str of four 0x80 bytes: 5 bytes
                0x85, // backlen 5, but with the continuation bit set
            ],
            1,
        );
        let e = err(&blob);
        assert_eq!(e.offset, 11);
        assert_eq!(
            e.message,
            "listpack entry 0: backlen of the 5-byte entry does not end within 5 bytes"
        );
    }

    #[test]
    fn count_mismatch() {
        let mut blob = build(&[Item::Int(1), Item::Int(2)]);
        blob[4] = 3;
        let e = err(&blob);
        assert_eq!(e.offset, 4);
        assert_eq!(
            e.message,
            "listpack header says num_elements = 3 but the listpack holds 2 elements"
        );
    }

    /// FORMATS.md §5 row 35, from Redis's corrupt-dump test "set with invalid
    /// length causes smembers to hang": the RESTORE payload is
    /// `\x14` (SET_LISTPACK) `\x16` (string of 22 bytes) + the listpack.
    #[test]
    fn restore_set_listpack_header_says_12_holds_6() {
        let payload: &[u8] = b"\x14\x16\x16\x00\x00\x00\x0c\x00\x81\x61\x02\x81\x62\x02\x81\x63\x02\x01\x01\x02\x01\x03\x01\xff";
        let blob = &payload[2..2 + 0x16];
        let lp = Listpack::parse(blob).expect("header is fine");
        assert_eq!(lp.declared_len(), 12);
        let got: Vec<_> = lp
            .elements()
            .take(6)
            .collect::<Result<_, _>>()
            .expect("entries fine");
        assert_eq!(
            got,
            vec![
                Element::Bytes(b"a"),
                Element::Bytes(b"b"),
                Element::Bytes(b"c"),
                Element::Int(1),
                Element::Int(2),
                Element::Int(3),
            ]
        );
        let e = err(blob);
        assert_eq!(e.offset, 4);
        assert!(
            e.message
                .contains("num_elements = 12 but the listpack holds 6"),
            "{e}"
        );
    }

    #[test]
    fn invalid_encoding_byte() {
        for b in 0xF5..=0xFE {
            let blob = wrap(&[0x01, 0x01, b, 0x01], 2);
            let e = err(&blob);
            assert_eq!(e.offset, 8);
            assert_eq!(
                e.message,
                format!(
                    "listpack entry 1: expected an encoding byte (0x00-0xF4), found invalid 0x{b:02X}"
                )
            );
        }
    }

    #[test]
    fn entry_past_end() {
        // 6-bit str claiming 10 bytes with 2 present.
        let e = err(&wrap(&[0x8A, b'a', b'b'], 1));
        assert_eq!(e.offset, 6);
        assert!(
            e.message.contains("needs 12 bytes but only 3 remain"),
            "{e}"
        );
        // 32-bit str whose header itself runs into the terminator.
        let e = err(&wrap(&[0xF0, 0x01, 0x00], 1));
        assert!(
            e.message.contains("header needs 5 bytes but only 3 remain"),
            "{e}"
        );
        // 32-bit str with a length near 4 GiB.
        let e = err(&wrap(&[0xF0, 0xFF, 0xFF, 0xFF, 0xFF, 0x00], 1));
        assert!(
            e.message.contains("4294967300 bytes plus a 5-byte backlen"),
            "{e}"
        );
        // int64 without its data.
        let e = err(&wrap(&[0xF4, 0x00, 0x00], 1));
        assert!(e.message.contains("64-bit int of 9 bytes"), "{e}");
        // 7-bit uint without room for its backlen.
        let e = err(&wrap(&[0x05], 1));
        assert!(e.message.contains("needs 2 bytes but only 1 remain"), "{e}");
    }

    #[test]
    fn iterator_is_fused_after_error() {
        let blob = wrap(&[0x01, 0x01, 0xF5, 0x01, 0x02, 0x01], 3);
        let mut it = Listpack::parse(&blob).expect("header").elements();
        assert_eq!(it.next(), Some(Ok(Element::Int(1))));
        assert!(matches!(it.next(), Some(Err(_))));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn offsets_track_entries() {
        let blob = build(&[Item::Int(1), "ab".into(), Item::Int(1000)]);
        let mut it = Listpack::parse(&blob).expect("header").elements();
        let mut offsets = Vec::new();
        loop {
            offsets.push(it.offset());
            match it.next() {
                Some(r) => {
                    r.expect("valid");
                }
                None => break,
            }
        }
        assert_eq!(offsets, vec![6, 8, 12, 15]);
        assert_eq!(blob.len(), 16);
    }

    /// A valid listpack with every encoding, used by the robustness test.
    fn sample() -> Vec<u8> {
        build(&[
            Item::Int(7),
            Item::Int(-5),
            Item::Int(3000),
            Item::Int(-30000),
            Item::Int(8_000_000),
            Item::Int(2_000_000_000),
            Item::Int(1 << 40),
            "hello".into(),
            Item::Str(vec![b'm'; 130]),
            Item::Str(vec![b'n'; 4100]),
        ])
    }

    /// What a walk yields, step by step, with the iterator's position and
    /// count after each step.
    type Walk<'a> = Vec<(Result<Element<'a>, EncodingError>, usize, usize)>;

    fn walk<'a>(
        lp: &Listpack<'a>,
        mut step: impl FnMut(&mut Elements<'a>) -> Option<Result<Element<'a>, EncodingError>>,
    ) -> Walk<'a> {
        let mut it = lp.elements();
        let mut out = Vec::new();
        while let Some(r) = step(&mut it) {
            out.push((r, it.offset(), it.index()));
            assert!(out.len() <= lp.as_bytes().len(), "walk does not advance");
        }
        assert!(step(&mut it).is_none(), "walk is not fused");
        out
    }

    /// The fast path (`next`) and the fully checked one (`next_checked`
    /// alone) must agree on every element, error and position; so must
    /// the callback walk and the small-value reader (see
    /// [`super::super::walks_agree`]).
    fn paths_agree(blob: &[u8]) {
        if let Ok(lp) = Listpack::parse(blob) {
            let checked = walk(&lp, Elements::next_checked);
            assert_eq!(walk(&lp, Elements::next), checked, "{blob:02X?}");
            let checked: Vec<_> = checked.into_iter().map(|(r, _, _)| r).collect();
            if let Some(why) = super::super::walks_disagree(&lp, &checked) {
                panic!("{why}: {blob:?}");
            }
        }
    }

    /// Entries at every boundary of the encodings and backlen sizes: ints
    /// of each width at both ends, strings of 0..=130 bytes (6- and 12-bit,
    /// 1- and 2-byte backlens), the 12-bit maximum and the first 32-bit
    /// length.
    fn boundaries() -> Vec<Item> {
        let mut items: Vec<Item> = [
            0i64,
            127,
            128,
            -1,
            4095,
            -4096,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::from(i32::MAX) + 1,
            i64::MAX,
            i64::MIN,
        ]
        .into_iter()
        .map(Item::Int)
        .collect();
        for len in (0..=130).chain([4094, 4095, 4096]) {
            items.push(Item::Str(vec![b'b'; len]));
        }
        items
    }

    #[test]
    fn fast_and_checked_paths_agree() {
        paths_agree(&build(&boundaries()));
        for blob in [sample(), build(&[Item::Int(1), "ab".into(), Item::Int(-2)])] {
            paths_agree(&blob);
            // Every value at every byte of the small one; values at the
            // edges of the encodings and backlen bytes in the large one.
            let values: Vec<u8> = if blob.len() < 64 {
                (0..=255).collect()
            } else {
                vec![
                    0x00, 0x01, 0x02, 0x7E, 0x7F, 0x80, 0x81, 0xBF, 0xC0, 0xDF, 0xE0, 0xEF, 0xF0,
                    0xF1, 0xF4, 0xF5, 0xFE, 0xFF,
                ]
            };
            super::super::for_each_damaged(&blob, LP_HDR_SIZE + 1, LP_EOF, &values, &mut |b| {
                paths_agree(b)
            });
        }
        // Every single entry of the boundary set, alone and damaged in its
        // encoding byte, its length byte and its backlen.
        for item in boundaries() {
            let e = entry(&item);
            paths_agree(&wrap(&e, 1));
            for at in [0, 1, e.len().saturating_sub(2), e.len() - 1] {
                for v in [0x00, 0x01, 0x3F, 0x7F, 0x80, 0x81, 0xFF] {
                    let mut bad = e.clone();
                    if let Some(b) = bad.get_mut(at) {
                        *b = v;
                    }
                    paths_agree(&wrap(&bad, 1));
                }
            }
        }
    }

    #[test]
    fn boundaries_round_trip() {
        let items = boundaries();
        let blob = build(&items);
        let got = collect(&blob).expect("valid");
        assert_eq!(got.len(), items.len());
        for (g, i) in got.iter().zip(&items) {
            match i {
                Item::Int(v) => assert_eq!(*g, Element::Int(*v)),
                Item::Str(s) => assert_eq!(*g, Element::Bytes(s)),
            }
        }
    }

    #[test]
    fn truncations_and_byte_flips_never_panic() {
        let blob = sample();
        assert_eq!(validate(&blob), Ok(10));
        for len in 0..blob.len() {
            let cut = &blob[..len];
            assert!(validate(cut).is_err());
            // A truncation with a repaired header must still not panic.
            if len >= 7 {
                let mut fixed = cut.to_vec();
                fixed[..4].copy_from_slice(&(len as u32).to_le_bytes());
                let _ = validate(&fixed);
                fixed[len - 1] = 0xFF;
                let _ = validate(&fixed);
            }
        }
        let mut work = blob.clone();
        for i in 0..blob.len() {
            for v in [
                0x00, 0x01, 0x7F, 0x80, 0xBF, 0xC0, 0xE0, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF,
            ] {
                work[i] = v;
                let _ = validate(&work);
            }
            work[i] ^= 0xFF;
            let _ = validate(&work);
            work[i] = blob[i];
        }
    }
}
