//! Ziplist: the packed list Redis 2.6 – 6.2 used for small lists, hashes and
//! sorted sets.
//!
//! ```text
//! offset 0        4        8      10
//!        +--------+--------+------+---------+---------+-----+------+
//!        | zlbytes| zltail | zllen| entry 0 | entry 1 | ... | 0xFF |
//!        | u32 LE | u32 LE |u16 LE|         |         |     | end  |
//!        +--------+--------+------+---------+---------+-----+------+
//!
//! entry = prevlen | encoding [+ length bytes] | data
//!
//! prevlen   1 byte  0x00..0xFD            raw length of the previous entry
//!           5 bytes 0xFE + u32 LE         (the long form may hold a small
//!                                          value: cascade-update avoidance)
//!
//! encoding  00pppppp                      string, length p (0..=63)
//!           01pppppp qqqqqqqq             string, 14-bit length, BIG-endian
//!           10______ + u32 BE             string, 32-bit length, BIG-endian
//!                                         (the low 6 bits are ignored)
//!           0xC0 + i16 LE | 0xD0 + i32 LE | 0xE0 + i64 LE
//!           0xF0 + i24 LE | 0xFE + i8
//!           0xF1..=0xFD                   immediate 0..=12 (low nibble − 1)
//!           anything else                 invalid
//! ```
//!
//! Mirrors `ziplistValidateIntegrity(zl, size, deep = 1, ...)` and
//! `zipEntrySafe` in Redis/Valkey `src/ziplist.c`. [`Ziplist::parse`] does the
//! header checks (`deep = 0`): size ≥ 11, `zlbytes` equals the blob size, the
//! last byte is 0xFF and `zltail` ≤ size − 1. [`Ziplist::elements`] does the
//! deep walk:
//!
//! * every entry header and payload lies in `[10, size − 1)`;
//! * only the encoding bytes listed above occur;
//! * each `prevlen` equals the raw length of the previous entry (0 for the
//!   first);
//! * the walk ends exactly on the final 0xFF (an earlier 0xFF where an entry
//!   should start is an error);
//! * `zltail` is the offset of the last entry, or 10 when there are none;
//! * `zllen` equals the entry count unless it is 65535 ("count unknown").
//!
//! One deliberate difference: Redis skips the `zltail` check for a ziplist
//! with no entries, while we require the value 10 that `ziplistNew` writes
//! (and `__ziplistDelete` restores) — no server ever writes anything else.
//!
//! Entries are numbered from 0 in error messages. Error offsets are relative
//! to the start of the blob and point at the field that is wrong.
//!
//! Used by RDB types 10 `LIST_ZIPLIST`, 12 `ZSET_ZIPLIST` (RDB v2+),
//! 13 `HASH_ZIPLIST` (v4+) and by every node of 14 `LIST_QUICKLIST` (v7+).
//! The int24, int8 and immediate encodings appeared with RDB v6 (Redis
//! 2.6.0); current servers accept them in any version, and so do we. Redis
//! 7.0+ no longer writes ziplists but converts them to listpacks on load.
//! Pair semantics (even count, unique fields) belong to `crate::verify`.

// Offsets are bounded by `blob.len()` (at most `isize::MAX`), so adding a
// small constant to one cannot overflow; lengths read from the blob are added
// with `checked_add` and every read goes through `get`.

use std::iter::FusedIterator;

use super::{Element, EncodingError, PackedElements};

/// `ZIPLIST_HEADER_SIZE`: zlbytes + zltail + zllen.
const HEADER_SIZE: usize = 10;
/// `ZIPLIST_HEADER_SIZE + ZIPLIST_END_SIZE`: the size of an empty ziplist.
const MIN_SIZE: usize = HEADER_SIZE + 1;
/// `ZIP_END`.
const ZIP_END: u8 = 0xFF;
/// `ZIP_BIG_PREVLEN`: first byte of the 5-byte prevlen form.
const ZIP_BIG_PREVLEN: u8 = 0xFE;
/// `zllen` value meaning "too many to count, walk the list".
const UNKNOWN_LEN: u16 = u16::MAX;

const ZIP_STR_MASK: u8 = 0xC0;
const ZIP_STR_06B: u8 = 0x00;
const ZIP_STR_14B: u8 = 0x40;
const ZIP_STR_32B: u8 = 0x80;
const ZIP_INT_16B: u8 = 0xC0;
const ZIP_INT_32B: u8 = 0xD0;
const ZIP_INT_64B: u8 = 0xE0;
const ZIP_INT_24B: u8 = 0xF0;
const ZIP_INT_8B: u8 = 0xFE;
const ZIP_INT_IMM_MIN: u8 = 0xF1;
const ZIP_INT_IMM_MAX: u8 = 0xFD;

/// A ziplist whose header has been checked; the entries have not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ziplist<'a> {
    blob: &'a [u8],
    tail: u32,
    len: u16,
}

impl<'a> Ziplist<'a> {
    /// Checks the header the way `ziplistValidateIntegrity` does with
    /// `deep = 0`. Inlined (it is a few compares); the errors are built
    /// out of line.
    #[inline]
    pub fn parse(blob: &'a [u8]) -> Result<Ziplist<'a>, EncodingError> {
        let size = blob.len();
        let (Some(zlbytes), Some(zltail), Some(zllen)) = (
            read_u32_le(blob, 0),
            read_u32_le(blob, 4),
            read_u16_le(blob, 8),
        ) else {
            return Err(header_error(blob));
        };
        if size < MIN_SIZE
            || u64::from(zlbytes) != size as u64
            || blob.last() != Some(&ZIP_END)
            || zltail as usize > size - 1
        {
            return Err(header_error(blob));
        }
        Ok(Ziplist {
            blob,
            tail: zltail,
            len: zllen,
        })
    }

    /// `zllen` from the header; 65535 means the count is unknown.
    pub fn declared_len(&self) -> u16 {
        self.len
    }

    /// `zltail` from the header: the offset of the last entry.
    pub fn tail_offset(&self) -> u32 {
        self.tail
    }

    /// The whole blob, header and end marker included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// Walks every entry, checking it as `zipEntrySafe` does, and checks the
    /// trailer invariants after the last one. Yields at most one `Err`, after
    /// which it is exhausted.
    pub fn elements(&self) -> Elements<'a> {
        Elements {
            blob: self.blob,
            pos: HEADER_SIZE,
            index: 0,
            prev_raw_len: 0,
            prev_start: None,
            tail: self.tail as usize,
            declared: self.len,
            done: false,
        }
    }
}

/// Iterator over the elements of a [`Ziplist`], doing the deep checks.
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    blob: &'a [u8],
    /// Offset of the next entry (or of the end marker).
    pos: usize,
    /// Number of entries yielded so far.
    index: usize,
    /// Raw length (prevlen + header + data) of the previous entry.
    prev_raw_len: usize,
    /// Offset of the previous entry.
    prev_start: Option<usize>,
    tail: usize,
    declared: u16,
    done: bool,
}

impl<'a> Elements<'a> {
    /// Offset within the blob of the entry most recently yielded, for callers
    /// that report their own findings (a duplicate field, say) at a position.
    pub fn last_entry_offset(&self) -> Option<usize> {
        self.prev_start
    }

    /// Number of entries yielded so far.
    pub fn entries_read(&self) -> usize {
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

    /// The checks that follow the walk, run when it reaches a 0xFF byte.
    fn finish(&mut self) -> Option<Result<Element<'a>, EncodingError>> {
        self.done = true;
        let end = self.blob.len().saturating_sub(1);
        let p = self.pos;
        if p != end {
            return self.fail(
                p,
                format!(
                    "ziplist entry {} starts with 0xFF at offset {p}, but the end marker is at offset {end}",
                    self.index
                ),
            );
        }
        let expected_tail = self.prev_start.unwrap_or(HEADER_SIZE);
        if self.tail != expected_tail {
            let what = match self.prev_start {
                Some(_) => "the last entry starts at",
                None => "with no entries it must be",
            };
            return self.fail(
                4,
                format!("ziplist zltail is {} but {what} {expected_tail}", self.tail),
            );
        }
        if self.declared != UNKNOWN_LEN && usize::from(self.declared) != self.index {
            return self.fail(
                8,
                format!(
                    "ziplist zllen is {} but the ziplist holds {} entries",
                    self.declared, self.index
                ),
            );
        }
        None
    }

    /// Decodes the entry at `self.pos`, which is not the 0xFF byte.
    fn entry(&mut self) -> Option<Result<Element<'a>, EncodingError>> {
        let blob = self.blob;
        let end = blob.len().saturating_sub(1);
        let p = self.pos;
        let i = self.index;

        // prevlen
        let first = blob.get(p).copied()?;
        let (prevlen_size, prevlen) = if first < ZIP_BIG_PREVLEN {
            (1, usize::from(first))
        } else {
            match read_u32_le(blob, p + 1) {
                Some(v) if p + 5 <= end => (5, v as usize),
                _ => {
                    return self.fail(
                        p,
                        format!(
                            "ziplist entry {i}: 5-byte prevlen at offset {p} runs into the end marker at offset {end}"
                        ),
                    );
                }
            }
        };

        // encoding and length
        let enc_at = p + prevlen_size;
        let Some(&raw_enc) = blob.get(enc_at) else {
            return self.fail(
                enc_at,
                format!("ziplist entry {i}: encoding byte is past the blob"),
            );
        };
        let enc = if raw_enc < ZIP_STR_MASK {
            raw_enc & ZIP_STR_MASK
        } else {
            raw_enc
        };
        let lensize = match enc {
            ZIP_STR_06B | ZIP_INT_16B | ZIP_INT_32B | ZIP_INT_24B | ZIP_INT_64B | ZIP_INT_8B => 1,
            ZIP_INT_IMM_MIN..=ZIP_INT_IMM_MAX => 1,
            ZIP_STR_14B => 2,
            ZIP_STR_32B => 5,
            _ => {
                return self.fail(
                    enc_at,
                    format!(
                        "ziplist entry {i}: invalid encoding byte 0x{raw_enc:02X} (expected a string form 00/01/10, \
                         0xC0, 0xD0, 0xE0, 0xF0, 0xFE or 0xF1..=0xFD)"
                    ),
                );
            }
        };
        let data_at = enc_at + lensize;
        if data_at > end {
            return self.fail(
                enc_at,
                format!(
                    "ziplist entry {i}: {lensize}-byte encoding header at offset {enc_at} runs into the end marker at offset {end}"
                ),
            );
        }
        let len: usize = match enc {
            ZIP_STR_06B => usize::from(raw_enc & 0x3F),
            ZIP_STR_14B => {
                let lo = blob.get(enc_at + 1).copied().unwrap_or_default();
                (usize::from(raw_enc & 0x3F) << 8) | usize::from(lo)
            }
            ZIP_STR_32B => match read_u32_be(blob, enc_at + 1) {
                Some(v) => v as usize,
                None => {
                    return self.fail(
                        enc_at,
                        format!("ziplist entry {i}: string length is truncated"),
                    );
                }
            },
            ZIP_INT_8B => 1,
            ZIP_INT_16B => 2,
            ZIP_INT_24B => 3,
            ZIP_INT_32B => 4,
            ZIP_INT_64B => 8,
            _ => 0,
        };
        let entry_end = match data_at.checked_add(len) {
            Some(e) if e <= end => e,
            _ => {
                let kind = if enc < ZIP_STR_MASK {
                    "string"
                } else {
                    "integer"
                };
                return self.fail(
                    enc_at,
                    format!(
                        "ziplist entry {i}: {kind} of {len} bytes at offset {data_at} runs past the end marker at offset {end}"
                    ),
                );
            }
        };

        // prevlen must describe the previous entry exactly
        if prevlen != self.prev_raw_len {
            let msg = if self.prev_start.is_none() {
                format!(
                    "ziplist entry {i}: prevlen {prevlen} but the first entry must have prevlen 0"
                )
            } else {
                format!(
                    "ziplist entry {i}: prevlen {prevlen} does not match the previous entry's length {}",
                    self.prev_raw_len
                )
            };
            return self.fail(p, msg);
        }

        let Some(data) = blob.get(data_at..entry_end) else {
            return self.fail(data_at, format!("ziplist entry {i}: data is out of range"));
        };
        let element = match enc {
            ZIP_STR_06B | ZIP_STR_14B | ZIP_STR_32B => Element::Bytes(data),
            _ => Element::Int(decode_int(enc, data)),
        };

        self.prev_raw_len = entry_end - p;
        self.prev_start = Some(p);
        self.pos = entry_end;
        self.index += 1;
        Some(Ok(element))
    }
}

impl<'a> Elements<'a> {
    /// [`common_entry`] at the walk's position, unless the walk is over.
    #[inline(always)]
    fn fast_entry(&self) -> Option<(Element<'a>, usize)> {
        if self.done {
            return None;
        }
        common_entry(self.blob, self.pos, self.prev_raw_len)
    }

    /// The walk is at the end marker, the blob's last byte, with zltail
    /// at the last entry and as many entries as zllen declares: the end
    /// [`Elements::finish`] accepts, without its call.
    #[inline(always)]
    fn clean_end(&self) -> bool {
        !self.done
            && self.pos + 1 == self.blob.len()
            && self.blob.get(self.pos) == Some(&ZIP_END)
            && self.tail == self.prev_start.unwrap_or(HEADER_SIZE)
            && (self.declared == UNKNOWN_LEN || usize::from(self.declared) == self.index)
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
        match self.blob.get(self.pos) {
            Some(&ZIP_END) => self.finish(),
            Some(_) => self.entry(),
            None => {
                // `parse` guarantees a 0xFF at the end and every entry stops
                // before it, so the walk cannot leave the blob.
                let pos = self.pos;
                self.fail(pos, format!("ziplist walk left the blob at offset {pos}"))
            }
        }
    }
}

/// The common entry at `blob[p..]` (after an entry of `prev_raw_len`
/// bytes), decoded with few branches: a 1-byte prevlen equal
/// to the previous entry's length, then a 6- or 14-bit string, an
/// integer or an immediate, ending before the end marker. Returns the
/// element and the offset where the entry ends, or `None` for anything
/// else (an error, the end marker, a 5-byte prevlen, a 32-bit string)
/// so that [`Elements::next_checked`] reads it and, when it is wrong,
/// says why. It accepts an entry only if `entry` would, and yields the
/// same element: the tests compare the two on every mutation of their
/// samples.
#[inline(always)]
fn common_entry(blob: &[u8], p: usize, prev_raw_len: usize) -> Option<(Element<'_>, usize)> {
    let prevlen = *blob.get(p)?;
    // 0xFE starts a 5-byte prevlen and 0xFF is the end marker: both
    // take the checked path.
    if prevlen >= ZIP_BIG_PREVLEN || usize::from(prevlen) != prev_raw_len {
        return None;
    }
    let raw_enc = *blob.get(p + 1)?;
    let (element, entry_end) = match raw_enc {
        0x00..=0x3F => {
            let end = p + 2 + usize::from(raw_enc);
            (Element::Bytes(blob.get(p + 2..end)?), end)
        }
        0x40..=0x7F => {
            let len = (usize::from(raw_enc & 0x3F) << 8) | usize::from(*blob.get(p + 2)?);
            let end = p + 3 + len;
            (Element::Bytes(blob.get(p + 3..end)?), end)
        }
        ZIP_INT_16B => {
            let &[a, b] = blob.get(p + 2..p + 4)? else {
                return None;
            };
            (Element::Int(i64::from(i16::from_le_bytes([a, b]))), p + 4)
        }
        ZIP_INT_32B => {
            let d: [u8; 4] = blob.get(p + 2..p + 6)?.try_into().ok()?;
            (Element::Int(i64::from(i32::from_le_bytes(d))), p + 6)
        }
        ZIP_INT_64B => {
            let d: [u8; 8] = blob.get(p + 2..p + 10)?.try_into().ok()?;
            (Element::Int(i64::from_le_bytes(d)), p + 10)
        }
        ZIP_INT_24B => {
            let &[a, b, c] = blob.get(p + 2..p + 5)? else {
                return None;
            };
            (
                Element::Int(i64::from(i32::from_le_bytes([0, a, b, c]) >> 8)),
                p + 5,
            )
        }
        ZIP_INT_8B => {
            let a = *blob.get(p + 2)?;
            (Element::Int(i64::from(i8::from_le_bytes([a]))), p + 3)
        }
        ZIP_INT_IMM_MIN..=ZIP_INT_IMM_MAX => (Element::Int(i64::from(raw_enc & 0x0F) - 1), p + 2),
        _ => return None,
    };
    // The entry must end before the end marker, the blob's last byte.
    if entry_end < blob.len() {
        Some((element, entry_end))
    } else {
        None
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Element<'a>, EncodingError>;

    // Always inlined: most packed values hold a handful of entries, and a
    // call per entry cost more than decoding it.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        match self.fast_entry() {
            Some((element, entry_end)) => {
                let p = self.pos;
                self.prev_raw_len = entry_end - p;
                self.prev_start = Some(p);
                self.pos = entry_end;
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

impl<'a> PackedElements<'a> for Ziplist<'a> {
    #[inline(always)]
    fn try_for_each_element<E>(
        &self,
        bad: impl FnOnce(EncodingError) -> E,
        mut f: impl FnMut(Element<'a>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut walk = self.elements();
        loop {
            match walk.fast_entry() {
                Some((element, entry_end)) => {
                    walk.prev_raw_len = entry_end - walk.pos;
                    walk.prev_start = Some(walk.pos);
                    walk.pos = entry_end;
                    walk.index += 1;
                    f(element)?;
                }
                None if walk.clean_end() => return Ok(walk.index),
                None => {
                    // On a copy, so that `walk` never has its address taken.
                    let (walked, item) = walk.next_checked_by_value();
                    walk = walked;
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
        let blob = self.blob;
        let mut pos = HEADER_SIZE;
        let mut prev_raw_len = 0;
        let mut prev_start = HEADER_SIZE;
        let mut n = 0;
        while let Some((element, end)) = common_entry(blob, pos, prev_raw_len) {
            *out.get_mut(n)? = element;
            n += 1;
            prev_raw_len = end - pos;
            prev_start = pos;
            pos = end;
        }
        // The end `Elements::clean_end` accepts.
        let declared = usize::from(self.len);
        (pos + 1 == blob.len()
            && blob.get(pos) == Some(&ZIP_END)
            && self.tail as usize == prev_start
            && (self.len == UNKNOWN_LEN || declared == n))
            .then_some(out.get(..n)?)
    }
}

/// Checks `blob` as a ziplist (header and deep walk) and returns its entry
/// count.
pub fn validate(blob: &[u8]) -> Result<usize, EncodingError> {
    let zl = Ziplist::parse(blob)?;
    let mut elements = zl.elements();
    for element in elements.by_ref() {
        element?;
    }
    Ok(elements.entries_read())
}

/// The value of an integer entry whose encoding and data length have been
/// checked; `0` for any other combination, which the caller cannot produce.
/// What is wrong with a ziplist header that [`Ziplist::parse`] rejects,
/// checked in `ziplistValidateIntegrity`'s order.
#[cold]
fn header_error(blob: &[u8]) -> EncodingError {
    let size = blob.len();
    if size < MIN_SIZE {
        return EncodingError::new(
            0,
            format!(
                "ziplist needs at least {MIN_SIZE} bytes (header and end marker), blob has {size}"
            ),
        );
    }
    let (Some(zlbytes), Some(zltail)) = (read_u32_le(blob, 0), read_u32_le(blob, 4)) else {
        // Unreachable after the size check; kept so no path can panic.
        return EncodingError::new(0, "ziplist header is truncated");
    };
    if u64::from(zlbytes) != size as u64 {
        return EncodingError::new(
            0,
            format!("ziplist zlbytes is {zlbytes} but the blob is {size} bytes"),
        );
    }
    let last = size - 1;
    if blob.get(last) != Some(&ZIP_END) {
        let found = blob.get(last).copied().unwrap_or_default();
        return EncodingError::new(
            last,
            format!("ziplist must end with 0xFF, last byte is 0x{found:02X}"),
        );
    }
    EncodingError::new(
        4,
        format!("ziplist zltail {zltail} is past the end marker at offset {last}"),
    )
}

fn decode_int(enc: u8, data: &[u8]) -> i64 {
    match (enc, data) {
        (ZIP_INT_8B, &[a]) => i64::from(i8::from_le_bytes([a])),
        (ZIP_INT_16B, &[a, b]) => i64::from(i16::from_le_bytes([a, b])),
        // Place the three bytes high and shift back down to sign-extend.
        (ZIP_INT_24B, &[a, b, c]) => i64::from(i32::from_le_bytes([0, a, b, c]) >> 8),
        (ZIP_INT_32B, &[a, b, c, d]) => i64::from(i32::from_le_bytes([a, b, c, d])),
        (ZIP_INT_64B, d) => d.try_into().map(i64::from_le_bytes).unwrap_or(0),
        (ZIP_INT_IMM_MIN..=ZIP_INT_IMM_MAX, _) => i64::from(enc & 0x0F) - 1,
        _ => 0,
    }
}

fn read_u16_le(blob: &[u8], at: usize) -> Option<u16> {
    let bytes = blob.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(bytes.try_into().ok()?))
}

fn read_u32_le(blob: &[u8], at: usize) -> Option<u32> {
    let bytes = blob.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

fn read_u32_be(blob: &[u8], at: usize) -> Option<u32> {
    let bytes = blob.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a well-formed ziplist from entry bodies (encoding + data, no
    /// prevlen), choosing the shortest prevlen form unless `force_big`.
    fn build(bodies: &[&[u8]], force_big: bool) -> Vec<u8> {
        let mut out = vec![0u8; HEADER_SIZE];
        let mut prev_len = 0usize;
        let mut tail = HEADER_SIZE;
        for body in bodies {
            tail = out.len();
            if prev_len < 254 && !force_big {
                out.push(prev_len as u8);
            } else {
                out.push(0xFE);
                out.extend_from_slice(&(prev_len as u32).to_le_bytes());
            }
            out.extend_from_slice(body);
            prev_len = out.len() - tail;
        }
        out.push(0xFF);
        let size = out.len() as u32;
        out[0..4].copy_from_slice(&size.to_le_bytes());
        out[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
        out[8..10].copy_from_slice(&(bodies.len() as u16).to_le_bytes());
        out
    }

    fn collect(blob: &[u8]) -> Result<Vec<Element<'_>>, EncodingError> {
        Ziplist::parse(blob)?.elements().collect()
    }

    fn err(blob: &[u8]) -> EncodingError {
        let e = validate(blob).expect_err("blob should be rejected");
        assert_eq!(
            collect(blob).unwrap_err(),
            e,
            "validate and elements disagree"
        );
        e
    }

    #[test]
    fn empty_ziplist_is_11_bytes() {
        let blob = [
            0x0B, 0x00, 0x00, 0x00, // zlbytes = 11
            0x0A, 0x00, 0x00, 0x00, // zltail = 10 (header end)
            0x00, 0x00, // zllen = 0
            0xFF, // end
        ];
        assert_eq!(validate(&blob), Ok(0));
        assert_eq!(Ziplist::parse(&blob).unwrap().declared_len(), 0);
        assert_eq!(build(&[], false), blob);
    }

    #[test]
    fn six_bit_string() {
        let blob = [
            0x10, 0x00, 0x00, 0x00, // zlbytes = 16
            0x0A, 0x00, 0x00, 0x00, // zltail = 10
            0x01, 0x00, // zllen = 1
            0x00, // entry 0 prevlen = 0
            0x03, b'a', b'b', b'c', // 00pppppp: length 3, "abc"
            0xFF,
        ];
        assert_eq!(collect(&blob).unwrap(), vec![Element::Bytes(b"abc")]);
        assert_eq!(build(&[&[0x03, b'a', b'b', b'c']], false), blob);
        // An empty string is a single 0x00 encoding byte.
        assert_eq!(
            collect(&build(&[&[0x00]], false)).unwrap(),
            vec![Element::Bytes(b"")]
        );
    }

    #[test]
    fn fourteen_bit_string_length_is_big_endian() {
        let data = vec![b'x'; 300];
        // 01pppppp qqqqqqqq: 300 = 0x012C, high bits in the first byte.
        let mut body = vec![0x41, 0x2C];
        body.extend_from_slice(&data);
        let blob = build(&[&body], false);
        assert_eq!(collect(&blob).unwrap(), vec![Element::Bytes(&data)]);
        // The 14-bit form may also hold a short length.
        assert_eq!(
            collect(&build(&[&[0x40, 0x01, b'z']], false)).unwrap(),
            vec![Element::Bytes(b"z")]
        );
    }

    #[test]
    fn thirty_two_bit_string_length_is_big_endian() {
        let data = vec![b'y'; 16384];
        // 10______ then u32 BE 0x00004000.
        let mut body = vec![0x80, 0x00, 0x00, 0x40, 0x00];
        body.extend_from_slice(&data);
        let blob = build(&[&body, &[0xF1]], false);
        assert_eq!(
            collect(&blob).unwrap(),
            vec![Element::Bytes(&data), Element::Int(0)]
        );
        // The low 6 bits of the first byte are ignored, as ZIP_ENTRY_ENCODING
        // masks them off.
        let blob = build(&[&[0xBF, 0x00, 0x00, 0x00, 0x02, b'h', b'i']], false);
        assert_eq!(collect(&blob).unwrap(), vec![Element::Bytes(b"hi")]);
    }

    #[test]
    fn every_integer_encoding() {
        let blob = build(
            &[
                &[0xFE, 0x80],                      // int8 -128
                &[0xC0, 0x00, 0x80],                // int16 LE -32768
                &[0xF0, 0x00, 0x00, 0x80],          // int24 LE -8388608
                &[0xF0, 0xFF, 0xFF, 0x7F],          // int24 LE 8388607
                &[0xD0, 0x00, 0x00, 0x00, 0x80],    // int32 LE i32::MIN
                &[0xE0, 0, 0, 0, 0, 0, 0, 0, 0x80], // int64 LE i64::MIN
                &[0xE0, 0x01, 0, 0, 0, 0, 0, 0, 0], // int64 LE 1
                &[0xF1],                            // immediate 0
                &[0xFD],                            // immediate 12
            ],
            false,
        );
        assert_eq!(
            collect(&blob).unwrap(),
            vec![
                Element::Int(-128),
                Element::Int(-32768),
                Element::Int(-8_388_608),
                Element::Int(8_388_607),
                Element::Int(i64::from(i32::MIN)),
                Element::Int(i64::MIN),
                Element::Int(1),
                Element::Int(0),
                Element::Int(12),
            ]
        );
    }

    #[test]
    fn five_byte_prevlen_with_small_value_is_legal() {
        let blob = [
            0x14, 0x00, 0x00, 0x00, // zlbytes = 20
            0x0D, 0x00, 0x00, 0x00, // zltail = 13
            0x02, 0x00, // zllen = 2
            0x00, 0x01, b'a', // entry 0 at 10: prevlen 0, "a" (3 bytes)
            0xFE, 0x03, 0x00, 0x00, 0x00, // entry 1 at 13: long-form prevlen = 3
            0xF1, // immediate 0
            0xFF,
        ];
        assert_eq!(
            collect(&blob).unwrap(),
            vec![Element::Bytes(b"a"), Element::Int(0)]
        );
        // Long form everywhere, including a first entry with prevlen 0.
        let blob = build(&[&[0x01, b'a'], &[0xF2], &[0xFE, 0x07]], true);
        assert_eq!(validate(&blob), Ok(3));
    }

    #[test]
    fn five_byte_prevlen_after_a_long_entry() {
        let mut body = vec![0x41, 0x2C];
        body.extend_from_slice(&[b'q'; 300]);
        let blob = build(&[&body, &[0xF5]], false);
        // entry 1 starts at 10 + 303 with 0xFE + u32 LE 303.
        assert_eq!(&blob[313..318], &[0xFE, 0x2F, 0x01, 0x00, 0x00]);
        assert_eq!(validate(&blob), Ok(2));
    }

    #[test]
    fn unknown_count_is_accepted() {
        let mut blob = build(&[&[0xF1], &[0xF2]], false);
        blob[8..10].copy_from_slice(&[0xFF, 0xFF]); // zllen = 65535
        assert_eq!(validate(&blob), Ok(2));
    }

    #[test]
    fn real_list_ziplist_with_integers() {
        // Key "ziplist_with_integers" (type 10) of
        // sripathikrishnan/redis-rdb-tools tests/dumps/ziplist_with_integers.rdb
        // (REDIS0006, written by Redis, loaded by every oracle server),
        // bytes 0x24..0x79: the uncompressed RDB string.
        let blob = hex(
            "550000004a000000180000f102f202f302f402f502f602f702f802f902fa02fb02fc02fd02fe\
             fe03fe0d03fe1903fec303fe3f03c0fc3f04c080c104f0ffff0005f00d00ff05f000004005e0ff\
             ffffffffffff7fff",
        );
        let values: Vec<i64> = collect(&blob)
            .unwrap()
            .into_iter()
            .map(|e| match e {
                Element::Int(i) => i,
                Element::Bytes(b) => panic!("unexpected string {b:?}"),
            })
            .collect();
        let mut expected: Vec<i64> = (0..=12).collect();
        expected.extend([
            -2,
            13,
            25,
            -61,
            63,
            16380,
            -16000,
            65535,
            -65523,
            4_194_304,
            i64::MAX,
        ]);
        assert_eq!(values, expected);
    }

    #[test]
    fn real_hash_ziplist() {
        // Key "hash" (type 13) of redis/redis tests/assets/hash-ziplist.rdb.
        let blob = hex("1b00000016000000040000026631040276310402663204027632ff");
        assert_eq!(
            collect(&blob).unwrap(),
            vec![
                Element::Bytes(b"f1"),
                Element::Bytes(b"v1"),
                Element::Bytes(b"f2"),
                Element::Bytes(b"v2"),
            ]
        );
    }

    #[test]
    fn too_short() {
        let e = err(&[0x0A, 0, 0, 0, 0x0A, 0, 0, 0, 0, 0]);
        assert_eq!(e.offset, 0);
        assert!(e.message.contains("at least 11"), "{e}");
        err(&[]);
    }

    #[test]
    fn zlbytes_mismatch() {
        // FORMATS.md §5 row 28.
        let mut blob = build(&[&[0xF1]], false);
        blob[0] += 1;
        let e = err(&blob);
        assert_eq!(e.offset, 0);
        assert_eq!(e.message, "ziplist zlbytes is 14 but the blob is 13 bytes");
    }

    #[test]
    fn last_byte_not_end_marker() {
        let mut blob = build(&[&[0xF1]], false);
        let last = blob.len() - 1;
        blob[last] = 0xFE;
        let e = err(&blob);
        assert_eq!(e.offset, last);
        assert!(e.message.contains("0xFE"), "{e}");
    }

    #[test]
    fn zltail_outside_blob() {
        let mut blob = build(&[&[0xF1]], false);
        blob[4] = 13; // size is 13, end marker at 12
        let e = err(&blob);
        assert_eq!(e.offset, 4);
        assert_eq!(
            e.message,
            "ziplist zltail 13 is past the end marker at offset 12"
        );
    }

    #[test]
    fn zltail_not_at_last_entry() {
        // FORMATS.md §5 row 29.
        let mut blob = build(&[&[0xF1], &[0xF2]], false);
        assert_eq!(blob[4], 12);
        blob[4] = 10; // points at the first entry
        let e = err(&blob);
        assert_eq!(e.offset, 4);
        assert_eq!(
            e.message,
            "ziplist zltail is 10 but the last entry starts at 12"
        );
        // Every element is still yielded before the trailer check fails.
        let items: Vec<_> = Ziplist::parse(&blob).unwrap().elements().collect();
        assert_eq!(items.len(), 3);
        assert!(items[2].is_err());
    }

    #[test]
    fn zltail_of_empty_ziplist_must_be_header_end() {
        let mut blob = build(&[], false);
        blob[4] = 9;
        let e = err(&blob);
        assert_eq!(e.offset, 4);
        assert_eq!(
            e.message,
            "ziplist zltail is 9 but with no entries it must be 10"
        );
    }

    #[test]
    fn zllen_mismatch() {
        // FORMATS.md §5 row 30.
        let mut blob = build(&[&[0xF1], &[0xF2]], false);
        blob[8] = 3;
        let e = err(&blob);
        assert_eq!(e.offset, 8);
        assert_eq!(
            e.message,
            "ziplist zllen is 3 but the ziplist holds 2 entries"
        );
    }

    #[test]
    fn invalid_encoding_bytes() {
        // FORMATS.md §5 row 31: only the exact integer encodings are valid.
        let invalid = (0xC1..=0xCF).chain(0xD1..=0xDF).chain(0xE1..=0xEF);
        for byte in invalid {
            let blob = build(&[&[0xF1], &[byte, 0, 0, 0, 0, 0, 0, 0, 0]], false);
            let e = err(&blob);
            assert_eq!(e.offset, 13, "byte 0x{byte:02X}");
            assert_eq!(
                e.message,
                format!(
                    "ziplist entry 1: invalid encoding byte 0x{byte:02X} (expected a string form 00/01/10, \
                     0xC0, 0xD0, 0xE0, 0xF0, 0xFE or 0xF1..=0xFD)"
                )
            );
        }
    }

    #[test]
    fn entry_header_runs_into_end_marker() {
        // The prevlen byte is the last byte before 0xFF, so the end marker
        // would be read as the encoding.
        let blob = [
            0x0C, 0x00, 0x00, 0x00, // zlbytes = 12
            0x0A, 0x00, 0x00, 0x00, // zltail = 10
            0x01, 0x00, // zllen = 1
            0x00, // entry 0: prevlen
            0xFF, // end marker where the encoding should be
        ];
        let e = err(&blob);
        assert_eq!(e.offset, 11);
        assert!(e.message.contains("invalid encoding byte 0xFF"), "{e}");

        // A 14-bit string length whose second byte is the end marker.
        let blob = [
            0x0D, 0x00, 0x00, 0x00, // zlbytes = 13
            0x0A, 0x00, 0x00, 0x00, // zltail = 10
            0x01, 0x00, // zllen = 1
            0x00, // entry 0: prevlen
            0x40, // 14-bit string form
            0xFF, // end marker
        ];
        let e = err(&blob);
        assert_eq!(e.offset, 11);
        assert!(e.message.contains("runs into the end marker"), "{e}");

        // A 5-byte prevlen that runs into the end marker.
        let blob = [
            0x0F, 0x00, 0x00, 0x00, // zlbytes = 15
            0x0A, 0x00, 0x00, 0x00, // zltail = 10
            0x01, 0x00, // zllen = 1
            0xFE, 0x00, 0x00, 0x00, // 0xFE + only 3 bytes before the end
            0xFF,
        ];
        let e = err(&blob);
        assert_eq!(e.offset, 10);
        assert!(e.message.contains("5-byte prevlen"), "{e}");
    }

    #[test]
    fn entry_data_past_end() {
        // FORMATS.md §5 row 31 ("encoded entry header reach outside the
        // allocation").
        let blob = [
            0x10, 0x00, 0x00, 0x00, // zlbytes = 16
            0x0A, 0x00, 0x00, 0x00, // zltail = 10
            0x01, 0x00, // zllen = 1
            0x00, // entry 0: prevlen
            0x0A, b'a', b'b', b'c', // string of 10 bytes, only 3 present
            0xFF,
        ];
        let e = err(&blob);
        assert_eq!(e.offset, 11);
        assert_eq!(
            e.message,
            "ziplist entry 0: string of 10 bytes at offset 12 runs past the end marker at offset 15"
        );

        // An int64 with only two data bytes.
        let blob = build(&[&[0xE0, 0x01, 0x02]], false);
        let e = err(&blob);
        assert!(e.message.contains("integer of 8 bytes"), "{e}");

        // A 32-bit string length of u32::MAX must not overflow anything.
        let blob = build(&[&[0x80, 0xFF, 0xFF, 0xFF, 0xFF]], false);
        let e = err(&blob);
        assert!(e.message.contains("string of 4294967295 bytes"), "{e}");

        // The data may not include the end marker itself.
        let blob = [
            0x0F, 0x00, 0x00, 0x00, // zlbytes = 15
            0x0A, 0x00, 0x00, 0x00, // zltail = 10
            0x01, 0x00, // zllen = 1
            0x00, 0x03, b'a', b'b', // string of 3 bytes, the third is the end
            0xFF,
        ];
        err(&blob);
    }

    #[test]
    fn prevlen_mismatch() {
        // FORMATS.md §5 row 27.
        let mut blob = build(&[&[0x01, b'a'], &[0x02, b'b', b'c'], &[0xF1]], false);
        // entry 0 at 10 (3 bytes), entry 1 at 13 (4 bytes), entry 2 at 17.
        assert_eq!(blob[17], 4);
        blob[17] = 7;
        let e = err(&blob);
        assert_eq!(e.offset, 17);
        assert_eq!(
            e.message,
            "ziplist entry 2: prevlen 7 does not match the previous entry's length 4"
        );
        let items: Vec<_> = Ziplist::parse(&blob).unwrap().elements().collect();
        assert_eq!(items.len(), 3, "two elements, then the error");

        let mut blob = build(&[&[0xF1]], false);
        blob[10] = 1;
        let e = err(&blob);
        assert_eq!(e.offset, 10);
        assert_eq!(
            e.message,
            "ziplist entry 0: prevlen 1 but the first entry must have prevlen 0"
        );
    }

    #[test]
    fn end_byte_before_the_end_marker() {
        // An entry boundary lands on a 0xFF that is not the last byte.
        let blob = [
            0x0F, 0x00, 0x00, 0x00, // zlbytes = 15
            0x0A, 0x00, 0x00, 0x00, // zltail = 10
            0x01, 0x00, // zllen = 1
            0x00, 0xF1, // entry 0: immediate 0
            0xFF, // early 0xFF
            0x00, // junk
            0xFF, // end marker
        ];
        let e = err(&blob);
        assert_eq!(e.offset, 12);
        assert_eq!(
            e.message,
            "ziplist entry 1 starts with 0xFF at offset 12, but the end marker is at offset 14"
        );
    }

    #[test]
    fn elements_are_fused_after_an_error() {
        let mut blob = build(&[&[0xF1], &[0xF2]], false);
        blob[12] = 9; // entry 1 prevlen
        let zl = Ziplist::parse(&blob).unwrap();
        let mut it = zl.elements();
        assert_eq!(it.next(), Some(Ok(Element::Int(0))));
        assert_eq!(it.last_entry_offset(), Some(10));
        assert!(matches!(it.next(), Some(Err(_))));
        for _ in 0..5 {
            assert_eq!(it.next(), None);
        }
        // And after a clean end.
        let blob = build(&[&[0xF1]], false);
        let mut it = Ziplist::parse(&blob).unwrap().elements();
        assert!(matches!(it.next(), Some(Ok(_))));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }

    fn samples() -> Vec<Vec<u8>> {
        let mut long = vec![0x41, 0x2C];
        long.extend_from_slice(&[b'q'; 300]);
        vec![
            build(&[], false),
            build(
                &[
                    &[0x03, b'a', b'b', b'c'],
                    &[0xFE, 0x80],
                    &[0xC0, 0x00, 0x80],
                ],
                false,
            ),
            build(
                &[
                    &[0xF0, 1, 2, 3],
                    &[0xD0, 1, 2, 3, 4],
                    &[0xE0, 1, 2, 3, 4, 5, 6, 7, 8],
                ],
                true,
            ),
            build(
                &[
                    &[0x80, 0, 0, 0, 2, b'h', b'i'],
                    &[0x40, 0x01, b'z'],
                    &[0xFD],
                ],
                false,
            ),
            build(&[&long, &[0xF5], &long], false),
            hex("1b00000016000000040000026631040276310402663204027632ff"),
        ]
    }

    fn exercise(blob: &[u8]) {
        let _ = validate(blob);
        if let Ok(zl) = Ziplist::parse(blob) {
            let mut it = zl.elements();
            let mut steps = 0;
            while it.next().is_some() {
                steps += 1;
                assert!(steps <= blob.len(), "iterator does not advance");
            }
            assert_eq!(it.next(), None);
        }
    }

    /// What a walk yields, step by step, with the iterator's position
    /// after each step.
    type Walk<'a> = Vec<(Result<Element<'a>, EncodingError>, usize, Option<usize>)>;

    /// Walks `zl` with `step`, recording each result and the state after it.
    fn walk<'a>(
        zl: &Ziplist<'a>,
        mut step: impl FnMut(&mut Elements<'a>) -> Option<Result<Element<'a>, EncodingError>>,
    ) -> Walk<'a> {
        let mut it = zl.elements();
        let mut out = Vec::new();
        while let Some(r) = step(&mut it) {
            out.push((r, it.entries_read(), it.last_entry_offset()));
            assert!(out.len() <= zl.as_bytes().len(), "walk does not advance");
        }
        assert!(step(&mut it).is_none(), "walk is not fused");
        out
    }

    /// The fast path (`next`) and the fully checked one (`next_checked`
    /// alone) must agree on every element, error and position; so must
    /// the callback walk and the small-value reader (see
    /// [`super::super::walks_agree`]).
    fn paths_agree(blob: &[u8]) {
        if let Ok(zl) = Ziplist::parse(blob) {
            let checked = walk(&zl, Elements::next_checked);
            assert_eq!(walk(&zl, Elements::next), checked, "{blob:02X?}");
            let checked: Vec<_> = checked.into_iter().map(|(r, _, _)| r).collect();
            if let Some(why) = super::super::walks_disagree(&zl, &checked) {
                panic!("{why}: {blob:?}");
            }
        }
    }

    /// One entry of each shape the fast path decodes, and of each it leaves
    /// to the checked path: every prevlen form, string length class and
    /// integer width, and immediates.
    fn every_shape() -> Vec<u8> {
        let s63 = [&[0x3F][..], &[b'a'; 63]].concat();
        let s64 = [&[0x40, 0x40][..], &[b'b'; 64]].concat();
        let s300 = [&[0x41, 0x2C][..], &[b'c'; 300]].concat();
        let s32 = [&[0x80, 0, 0, 0, 3][..], b"xyz"].concat();
        build(
            &[
                &[0x00],
                &[0x01, b'k'],
                &s63,
                &s64,
                &s300, // 303 bytes: the next entry needs a 5-byte prevlen
                &[0xFE, 0x80],
                &[0xC0, 0x00, 0x80],
                &[0xF0, 0xFF, 0xFF, 0x7F],
                &[0xD0, 0x00, 0x00, 0x00, 0x80],
                &[0xE0, 0, 0, 0, 0, 0, 0, 0, 0x80],
                &[0xF1],
                &[0xFD],
                &s32,
            ],
            false,
        )
    }

    #[test]
    fn fast_and_checked_paths_agree() {
        let mut blobs = samples();
        blobs.push(every_shape());
        blobs.push(build(&[&[0x01, b'k'], &[0xF5]], true));
        for blob in blobs {
            paths_agree(&blob);
            let every: Vec<u8> = (0..=255).collect();
            super::super::for_each_damaged(&blob, MIN_SIZE, ZIP_END, &every, &mut |b| {
                paths_agree(b)
            });
        }
    }

    #[test]
    fn every_shape_decodes() {
        let blob = every_shape();
        let got = Ziplist::parse(&blob)
            .expect("header")
            .elements()
            .collect::<Result<Vec<_>, _>>()
            .expect("valid");
        assert_eq!(got.len(), 13);
        assert_eq!(got[0], Element::Bytes(b""));
        assert_eq!(got[1], Element::Bytes(b"k"));
        assert_eq!(got[2], Element::Bytes(&[b'a'; 63]));
        assert_eq!(got[3], Element::Bytes(&[b'b'; 64]));
        assert_eq!(got[4], Element::Bytes(&[b'c'; 300]));
        assert_eq!(
            got[5..12],
            [
                Element::Int(-128),
                Element::Int(-32768),
                Element::Int(8_388_607),
                Element::Int(i64::from(i32::MIN)),
                Element::Int(i64::MIN),
                Element::Int(0),
                Element::Int(12),
            ]
        );
        assert_eq!(got[12], Element::Bytes(b"xyz"));
    }

    #[test]
    fn truncations_and_byte_flips_never_panic() {
        for blob in samples() {
            assert!(validate(&blob).is_ok());
            for cut in 0..blob.len() {
                exercise(&blob[..cut]);
            }
            let mut copy = blob.clone();
            for i in 0..blob.len() {
                for v in 0..=255u8 {
                    copy[i] = v;
                    exercise(&copy);
                }
                copy[i] = blob[i];
            }
        }
    }

    /// A transcription of Redis 7.2's `ziplistValidateIntegrity(deep = 1)`
    /// with pointer arithmetic done in `i64`, used as a differential oracle.
    /// `strict_empty_tail` adds our one deliberate extra rule.
    fn redis_model(zl: &[u8], strict_empty_tail: bool) -> bool {
        let size = zl.len() as i64;
        if size < 11 {
            return false;
        }
        let at = |i: i64| zl[i as usize];
        let u32le = |i: i64| u32::from_le_bytes(zl[i as usize..i as usize + 4].try_into().unwrap());
        if i64::from(u32le(0)) != size || at(size - 1) != 0xFF {
            return false;
        }
        let tail = i64::from(u32le(4));
        if tail > size - 1 {
            return false;
        }
        let oor = |q: i64| q < 10 || q > size - 1;
        let (mut p, mut prev, mut prev_raw, mut count) = (10i64, None, 0i64, 0i64);
        while at(p) != 0xFF {
            if oor(p) {
                return false;
            }
            let prevlensize = if at(p) < 254 { 1 } else { 5 };
            if oor(p + prevlensize) {
                return false;
            }
            let mut enc = at(p + prevlensize);
            if enc < 0xC0 {
                enc &= 0xC0;
            }
            let lensize = match enc {
                0xC0 | 0xD0 | 0xE0 | 0xF0 | 0xFE | 0xF1..=0xFD | 0x00 => 1,
                0x40 => 2,
                0x80 => 5,
                _ => return false,
            };
            let h = p + prevlensize;
            if oor(h + lensize) {
                return false;
            }
            let prevlen = if prevlensize == 1 {
                i64::from(at(p))
            } else {
                i64::from(u32le(p + 1))
            };
            let len = match enc {
                0x00 => i64::from(at(h) & 0x3F),
                0x40 => (i64::from(at(h) & 0x3F) << 8) | i64::from(at(h + 1)),
                0x80 => i64::from(u32::from_be_bytes(
                    zl[h as usize + 1..h as usize + 5].try_into().unwrap(),
                )),
                0xFE => 1,
                0xC0 => 2,
                0xF0 => 3,
                0xD0 => 4,
                0xE0 => 8,
                _ => 0,
            };
            let headersize = prevlensize + lensize;
            if oor(p + headersize + len) || oor(p - prevlen) || prevlen != prev_raw {
                return false;
            }
            prev_raw = headersize + len;
            prev = Some(p);
            p += headersize + len;
            count += 1;
        }
        if p != size - 1 {
            return false;
        }
        match prev {
            Some(q) if q != tail => return false,
            None if strict_empty_tail && tail != 10 => return false,
            _ => {}
        }
        let header_count = i64::from(u16::from_le_bytes([zl[8], zl[9]]));
        header_count == 65535 || header_count == count
    }

    #[test]
    fn verdicts_match_redis_on_every_mutation() {
        let mut checked = 0;
        let mut differs_only_on_empty_tail = 0;
        for blob in samples() {
            let mut copy = blob.clone();
            for i in 0..blob.len() {
                for v in 0..=255u8 {
                    copy[i] = v;
                    let ours = validate(&copy).is_ok();
                    assert_eq!(ours, redis_model(&copy, true), "blob {copy:02X?}");
                    if ours != redis_model(&copy, false) {
                        differs_only_on_empty_tail += 1;
                    }
                    checked += 1;
                }
                copy[i] = blob[i];
            }
            for cut in 0..blob.len() {
                assert_eq!(
                    validate(&blob[..cut]).is_ok(),
                    redis_model(&blob[..cut], true)
                );
            }
        }
        assert!(checked > 100_000);
        // Some mutations of the empty sample's zltail are accepted by Redis
        // and rejected by us: the one intended difference.
        assert!(differs_only_on_empty_tail > 0);
    }

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }
}
