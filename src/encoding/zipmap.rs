//! Zipmap: the packed string → string map Redis 2.0 – 2.4 used for small
//! hashes.
//!
//! ```text
//! offset 0
//!        +-------+--------+-------+--------+------+-------+------+-----+------+
//!        | zmlen | keylen | field | vallen | free | value | pad  | ... | 0xFF |
//!        |  u8   |  len   |       |  len   |  u8  |       | free |     | end  |
//!        +-------+--------+-------+--------+------+-------+------+-----+------+
//!                 \______________ one pair, repeated ______________/
//!
//! zmlen  pair count; 254 means "unknown, walk the map"
//! len    1 byte 0x00..=0xFD            the length itself
//!        5 bytes 0xFE + u32 LE         (the source says "host order"; every
//!                                       writer was little-endian)
//! free   number of unused bytes after the value, left by an in-place update
//! ```
//!
//! Mirrors `zipmapValidateIntegrity(zm, size, deep = 1)` in Redis/Valkey
//! `src/zipmap.c` (the RDB loader always asks for the deep check).
//! [`Zipmap::parse`] checks size ≥ 2 and that the last byte is 0xFF.
//! [`Zipmap::entries`] walks the pairs and checks:
//!
//! * every length field, field, value and padding lies before the final 0xFF;
//! * there is at least one pair;
//! * `zmlen` equals the pair count unless it is 254.
//!
//! Two rules are stricter than Redis, which only walks until it meets a 0xFF
//! where a field length should be, and reads a value length byte of 0xFF as
//! the 5-byte form:
//!
//! * the walk must end exactly on the final 0xFF (Redis silently ignores
//!   whatever follows an earlier 0xFF);
//! * a value length byte of 0xFF is rejected (no writer produces one).
//!
//! Redis never leaves more than 4 bytes of `free` padding, but its validator
//! does not check that and neither do we. Duplicate fields are rejected by
//! the loader, not by the encoding; that check lives in `crate::verify`.
//!
//! Pairs are numbered from 0 in error messages; offsets are relative to the
//! start of the blob.
//!
//! Used by RDB type 9 `HASH_ZIPMAP` (RDB v2+, written by Redis 2.4 and
//! earlier; later servers still load it and convert it on the fly).

// Offsets are bounded by `blob.len()` (at most `isize::MAX`), so adding a
// small constant to one cannot overflow; lengths read from the blob are added
// with `checked_add` and every read goes through `get`.

use std::iter::FusedIterator;

use super::EncodingError;

/// `ZIPMAP_BIGLEN`: as a length byte, "a u32 follows"; as `zmlen`, "unknown".
const ZIPMAP_BIGLEN: u8 = 254;
/// `ZIPMAP_END`.
const ZIPMAP_END: u8 = 255;

/// A zipmap whose framing (size, end marker) has been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zipmap<'a> {
    blob: &'a [u8],
}

impl<'a> Zipmap<'a> {
    /// Checks what `zipmapValidateIntegrity` checks before the walk.
    pub fn parse(blob: &'a [u8]) -> Result<Zipmap<'a>, EncodingError> {
        let size = blob.len();
        if size < 2 {
            return Err(EncodingError::new(
                0,
                format!("zipmap needs at least 2 bytes (zmlen and end marker), blob has {size}"),
            ));
        }
        let last = size - 1;
        match blob.get(last) {
            Some(&ZIPMAP_END) => Ok(Zipmap { blob }),
            found => Err(EncodingError::new(
                last,
                format!(
                    "zipmap must end with 0xFF, last byte is 0x{:02X}",
                    found.copied().unwrap_or_default()
                ),
            )),
        }
    }

    /// `zmlen`, the first byte: the pair count, or 254 when unknown.
    pub fn declared_len(&self) -> u8 {
        self.blob.first().copied().unwrap_or_default()
    }

    /// The whole blob, count and end marker included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// Walks the pairs, yielding `(field, value)` without the padding, and
    /// checks the count after the last one. Yields at most one `Err`, after
    /// which it is exhausted.
    pub fn entries(&self) -> Entries<'a> {
        Entries {
            blob: self.blob,
            pos: 1,
            index: 0,
            done: false,
        }
    }
}

/// Iterator over the pairs of a [`Zipmap`], doing the deep checks.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    blob: &'a [u8],
    /// Offset of the next pair's field length (or of a 0xFF).
    pos: usize,
    /// Number of pairs yielded so far.
    index: usize,
    done: bool,
}

type Pair<'a> = (&'a [u8], &'a [u8]);

impl<'a> Entries<'a> {
    /// Number of pairs yielded so far.
    pub fn pairs_read(&self) -> usize {
        self.index
    }

    fn fail(&mut self, offset: usize, message: String) -> Option<Result<Pair<'a>, EncodingError>> {
        self.done = true;
        Some(Err(EncodingError::new(offset, message)))
    }

    /// The checks after the walk meets a 0xFF where a field length would be.
    fn finish(&mut self) -> Option<Result<Pair<'a>, EncodingError>> {
        self.done = true;
        let end = self.blob.len().saturating_sub(1);
        let p = self.pos;
        if p != end {
            return self.fail(
                p,
                format!(
                    "zipmap pair {}: field length is 0xFF (end) at offset {p}, but the end marker is at offset {end}",
                    self.index
                ),
            );
        }
        if self.index == 0 {
            return self.fail(
                0,
                "zipmap holds no pairs; Redis rejects an empty zipmap".to_owned(),
            );
        }
        let zmlen = self.blob.first().copied().unwrap_or_default();
        if zmlen != ZIPMAP_BIGLEN && usize::from(zmlen) != self.index {
            return self.fail(
                0,
                format!(
                    "zipmap zmlen is {zmlen} but the zipmap holds {} pairs",
                    self.index
                ),
            );
        }
        None
    }

    /// Reads a length field at `at`, returning `(size of the field, length)`,
    /// or `None` when the 5-byte form runs past `end`.
    fn length(&self, at: usize, end: usize) -> Option<(usize, usize)> {
        let first = *self.blob.get(at)?;
        if first < ZIPMAP_BIGLEN {
            return Some((1, usize::from(first)));
        }
        if at + 5 > end {
            return None;
        }
        let bytes = self.blob.get(at + 1..at + 5)?;
        Some((5, u32::from_le_bytes(bytes.try_into().ok()?) as usize))
    }

    fn pair(&mut self) -> Option<Result<Pair<'a>, EncodingError>> {
        let blob = self.blob;
        let end = blob.len().saturating_sub(1);
        let i = self.index;
        let p = self.pos;

        // Field. `p < end` here: blob[p] is not 0xFF and blob[end] is.
        let Some((s, klen)) = self.length(p, end) else {
            return self.fail(
                p,
                format!("zipmap pair {i}: 5-byte field length at offset {p} runs into the end marker at offset {end}"),
            );
        };
        let field_at = p + s;
        let field_end = match field_at.checked_add(klen) {
            Some(e) if e <= end => e,
            _ => {
                return self.fail(
                    p,
                    format!(
                        "zipmap pair {i}: field of {klen} bytes at offset {field_at} runs past the end marker at offset {end}"
                    ),
                );
            }
        };

        // Value length, then the free byte.
        let v = field_end;
        if v < end && blob.get(v) == Some(&ZIPMAP_END) {
            return self.fail(
                v,
                format!(
                    "zipmap pair {i}: value length byte is 0xFF at offset {v}; expected a length below 254 or 0xFE"
                ),
            );
        }
        let (s, vlen) = match self.length(v, end) {
            Some((s, vlen)) if v + s <= end => (s, vlen),
            _ => {
                return self.fail(
                    v,
                    format!(
                        "zipmap pair {i}: value length and free byte at offset {v} run into the end marker at offset {end}"
                    ),
                );
            }
        };
        let free_at = v + s;
        let free = usize::from(blob.get(free_at).copied().unwrap_or_default());
        let value_at = free_at + 1;
        let value_end = match value_at.checked_add(vlen) {
            Some(e) if e <= end => e,
            _ => {
                return self.fail(
                    v,
                    format!(
                        "zipmap pair {i}: value of {vlen} bytes at offset {value_at} runs past the end marker at offset {end}"
                    ),
                );
            }
        };
        let next = value_end + free;
        if next > end {
            return self.fail(
                free_at,
                format!(
                    "zipmap pair {i}: free count {free} puts the padding after the value at offset {value_end} \
                     past the end marker at offset {end}"
                ),
            );
        }

        let (Some(field), Some(value)) =
            (blob.get(field_at..field_end), blob.get(value_at..value_end))
        else {
            return self.fail(p, format!("zipmap pair {i}: out of range"));
        };
        self.pos = next;
        self.index += 1;
        Some(Ok((field, value)))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), EncodingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.blob.get(self.pos) {
            Some(&ZIPMAP_END) => self.finish(),
            Some(_) => self.pair(),
            None => {
                // `parse` guarantees a final 0xFF and every pair stops at or
                // before it, so the walk cannot leave the blob.
                let pos = self.pos;
                self.fail(pos, format!("zipmap walk left the blob at offset {pos}"))
            }
        }
    }
}

impl FusedIterator for Entries<'_> {}

/// Checks `blob` as a zipmap and returns its pair count.
pub fn validate(blob: &[u8]) -> Result<usize, EncodingError> {
    let zm = Zipmap::parse(blob)?;
    let mut entries = zm.entries();
    for pair in entries.by_ref() {
        pair?;
    }
    Ok(entries.pairs_read())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(blob: &[u8]) -> Result<Vec<Pair<'_>>, EncodingError> {
        Zipmap::parse(blob)?.entries().collect()
    }

    fn err(blob: &[u8]) -> EncodingError {
        let e = validate(blob).expect_err("blob should be rejected");
        assert_eq!(
            collect(blob).unwrap_err(),
            e,
            "validate and entries disagree"
        );
        e
    }

    /// Encodes a zipmap length field.
    fn len_field(n: usize) -> Vec<u8> {
        if n < 254 {
            vec![n as u8]
        } else {
            let mut v = vec![0xFE];
            v.extend_from_slice(&(n as u32).to_le_bytes());
            v
        }
    }

    /// Builds a zipmap from (field, value, free) triples; padding is 0xAA.
    fn build(zmlen: u8, pairs: &[(&[u8], &[u8], u8)]) -> Vec<u8> {
        let mut out = vec![zmlen];
        for (field, value, free) in pairs {
            out.extend(len_field(field.len()));
            out.extend_from_slice(field);
            out.extend(len_field(value.len()));
            out.push(*free);
            out.extend_from_slice(value);
            out.extend(std::iter::repeat_n(0xAA, usize::from(*free)));
        }
        out.push(0xFF);
        out
    }

    #[test]
    fn one_pair() {
        let blob = [
            0x01, // zmlen = 1
            0x03, b'f', b'o', b'o', // field length 3, "foo"
            0x03, // value length 3
            0x00, // free = 0
            b'b', b'a', b'r', // "bar"
            0xFF, // end
        ];
        assert_eq!(collect(&blob).unwrap(), vec![(&b"foo"[..], &b"bar"[..])]);
        assert_eq!(build(1, &[(b"foo", b"bar", 0)]), blob);
        assert_eq!(Zipmap::parse(&blob).unwrap().declared_len(), 1);
    }

    #[test]
    fn free_padding_is_skipped() {
        let blob = [
            0x02, // zmlen = 2
            0x01, b'a', // field "a"
            0x01, // value length 1
            0x02, // free = 2
            b'x', 0x00, 0x00, // "x" then 2 padding bytes
            0x00, // field "" (empty)
            0x00, // value length 0
            0x00, // free = 0
            0xFF,
        ];
        assert_eq!(
            collect(&blob).unwrap(),
            vec![(&b"a"[..], &b"x"[..]), (&b""[..], &b""[..])]
        );
    }

    #[test]
    fn five_byte_lengths() {
        let field = vec![b'k'; 254];
        let value = vec![b'v'; 1000];
        let blob = build(1, &[(&field, &value, 1)]);
        assert_eq!(&blob[1..6], &[0xFE, 0xFE, 0x00, 0x00, 0x00]);
        assert_eq!(collect(&blob).unwrap(), vec![(&field[..], &value[..])]);
    }

    #[test]
    fn unknown_count_is_accepted() {
        let blob = build(254, &[(b"a", b"1", 0), (b"b", b"2", 0)]);
        assert_eq!(validate(&blob), Ok(2));
    }

    #[test]
    fn real_hash_zipmap() {
        // Key "hash" (type 9) of redis/redis tests/assets/hash-zipmap.rdb
        // (REDIS0003, loaded by every oracle server).
        let blob = [
            0x02, 0x02, b'f', b'1', 0x02, 0x00, b'v', b'1', 0x02, b'f', b'2', 0x02, 0x00, b'v',
            b'2', 0xFF,
        ];
        assert_eq!(
            collect(&blob).unwrap(),
            vec![(&b"f1"[..], &b"v1"[..]), (&b"f2"[..], &b"v2"[..])]
        );
        // Key "zimap_doesnt_compress" of sripathikrishnan/redis-rdb-tools
        // tests/dumps/zipmap_that_doesnt_compress.rdb.
        let blob = b"\x02\x06MKD1G6\x01\x002\x05YNNXK\x04\x00F7TI\xff";
        assert_eq!(
            collect(blob).unwrap(),
            vec![(&b"MKD1G6"[..], &b"2"[..]), (&b"YNNXK"[..], &b"F7TI"[..])]
        );
    }

    #[test]
    fn too_short_or_unterminated() {
        assert_eq!(err(&[]).offset, 0);
        assert_eq!(err(&[0xFF]).offset, 0);
        let e = err(&[0x00, 0x00]);
        assert_eq!(e.offset, 1);
        assert_eq!(e.message, "zipmap must end with 0xFF, last byte is 0x00");
    }

    #[test]
    fn zero_pairs() {
        // FORMATS.md §5 row 42, [T "hash empty zipmap"].
        let blob = [
            0x00, // zmlen = 0
            0xFF, // end
        ];
        let e = err(&blob);
        assert_eq!(e.offset, 0);
        assert_eq!(
            e.message,
            "zipmap holds no pairs; Redis rejects an empty zipmap"
        );
        // zmlen 254 does not excuse it.
        err(&[0xFE, 0xFF]);
    }

    #[test]
    fn zmlen_mismatch() {
        // FORMATS.md §5 row 42.
        let blob = build(3, &[(b"a", b"1", 0), (b"b", b"2", 0)]);
        let e = err(&blob);
        assert_eq!(e.offset, 0);
        assert_eq!(e.message, "zipmap zmlen is 3 but the zipmap holds 2 pairs");
        // 255 is not special.
        err(&build(255, &[(b"a", b"1", 0)]));
    }

    #[test]
    fn free_out_of_range() {
        // FORMATS.md §5 row 42 family: the padding must end before 0xFF.
        let blob = [
            0x01, // zmlen = 1
            0x01, b'a', // field "a"
            0x01, // value length 1
            0x03, // free = 3, but only 2 bytes follow the value
            b'x', 0x00, 0x00, // value and 2 padding bytes
            0xFF,
        ];
        let e = err(&blob);
        assert_eq!(e.offset, 4);
        assert_eq!(
            e.message,
            "zipmap pair 0: free count 3 puts the padding after the value at offset 6 \
             past the end marker at offset 8"
        );
        // free = 255 cannot overflow anything.
        let mut blob = build(1, &[(b"a", b"x", 0)]);
        blob[4] = 0xFF;
        err(&blob);
    }

    #[test]
    fn field_and_value_past_end() {
        let blob = [
            0x01, // zmlen = 1
            0x09, b'a', b'b', // field of 9 bytes, only 2 present
            0xFF,
        ];
        let e = err(&blob);
        assert_eq!(e.offset, 1);
        assert_eq!(
            e.message,
            "zipmap pair 0: field of 9 bytes at offset 2 runs past the end marker at offset 4"
        );

        let blob = [
            0x01, // zmlen = 1
            0x01, b'a', // field "a"
            0x05, // value length 5
            0x00, // free = 0
            b'x', // only 1 byte of value
            0xFF,
        ];
        let e = err(&blob);
        assert_eq!(e.offset, 3);
        assert!(e.message.contains("value of 5 bytes"), "{e}");

        // A field that ends right before the end marker leaves no room for the
        // value length and free byte.
        let blob = [0x01, 0x01, b'a', 0xFF];
        let e = err(&blob);
        assert_eq!(e.offset, 3);
        assert!(e.message.contains("run into the end marker"), "{e}");

        // A 5-byte length of u32::MAX.
        let blob = [0x01, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xFF];
        let e = err(&blob);
        assert!(e.message.contains("field of 4294967295 bytes"), "{e}");

        // A 5-byte field length cut short by the end marker.
        let blob = [0x01, 0xFE, 0x01, 0x00, 0xFF];
        let e = err(&blob);
        assert_eq!(e.offset, 1);
        assert!(e.message.contains("5-byte field length"), "{e}");
    }

    #[test]
    fn value_length_byte_ff_is_rejected() {
        let blob = [
            0x01, // zmlen = 1
            0x01, b'a', // field "a"
            0xFF, 0x01, 0x00, 0x00, 0x00, // Redis would read this as length 1
            0x00, // free
            b'x', // value
            0xFF,
        ];
        let e = err(&blob);
        assert_eq!(e.offset, 3);
        assert!(e.message.contains("value length byte is 0xFF"), "{e}");
        assert!(redis_model(&blob, false), "Redis accepts it");
    }

    #[test]
    fn walk_must_end_at_the_final_byte() {
        let blob = [
            0x01, // zmlen = 1
            0x01, b'a', 0x01, 0x00, b'x', // "a" => "x"
            0xFF, // early end
            0x12, 0x34, // trailing junk Redis would ignore
            0xFF,
        ];
        let e = err(&blob);
        assert_eq!(e.offset, 6);
        assert_eq!(
            e.message,
            "zipmap pair 1: field length is 0xFF (end) at offset 6, but the end marker is at offset 9"
        );
        assert!(redis_model(&blob, false), "Redis accepts it");
    }

    #[test]
    fn entries_are_fused_after_an_error() {
        let blob = build(3, &[(b"a", b"1", 0)]);
        let mut it = Zipmap::parse(&blob).unwrap().entries();
        assert_eq!(it.next(), Some(Ok((&b"a"[..], &b"1"[..]))));
        assert!(matches!(it.next(), Some(Err(_))));
        for _ in 0..5 {
            assert_eq!(it.next(), None);
        }
    }

    /// A transcription of `zipmapValidateIntegrity(deep = 1)` with pointer
    /// arithmetic in `i64`. `strict` adds our two extra rules.
    fn redis_model(zm: &[u8], strict: bool) -> bool {
        let size = zm.len() as i64;
        if size < 2 || zm[zm.len() - 1] != 0xFF {
            return false;
        }
        let at = |i: i64| zm[i as usize];
        let oor = |q: i64| q < 2 || q > size - 1;
        let decode = |q: i64| {
            if at(q) < 254 {
                i64::from(at(q))
            } else {
                i64::from(u32::from_le_bytes(
                    zm[q as usize + 1..q as usize + 5].try_into().unwrap(),
                ))
            }
        };
        let (mut p, mut count) = (1i64, 0i64);
        while at(p) != 0xFF {
            let s = if at(p) < 254 { 1 } else { 5 };
            if oor(p + s) {
                return false;
            }
            p += s + decode(p);
            if oor(p) {
                return false;
            }
            if strict && at(p) == 0xFF {
                return false;
            }
            let s = if at(p) < 254 { 1 } else { 5 };
            if oor(p + s) {
                return false;
            }
            let l = decode(p);
            p += s;
            let e = i64::from(at(p));
            p += 1 + l + e;
            count += 1;
            if oor(p) {
                return false;
            }
        }
        if strict && p != size - 1 {
            return false;
        }
        count != 0 && (zm[0] == 254 || i64::from(zm[0]) == count)
    }

    fn samples() -> Vec<Vec<u8>> {
        let long = vec![b'L'; 260];
        vec![
            build(1, &[(b"foo", b"bar", 0)]),
            build(2, &[(b"a", b"x", 2), (b"", b"", 0)]),
            build(254, &[(&long, b"v", 1), (b"k", &long, 0)]),
            b"\x02\x06MKD1G6\x01\x002\x05YNNXK\x04\x00F7TI\xff".to_vec(),
        ]
    }

    fn exercise(blob: &[u8]) {
        let ours = validate(blob);
        assert_eq!(ours.is_ok(), redis_model(blob, true), "blob {blob:02X?}");
        if let Ok(zm) = Zipmap::parse(blob) {
            let mut it = zm.entries();
            let mut steps = 0;
            while it.next().is_some() {
                steps += 1;
                assert!(steps <= blob.len(), "iterator does not advance");
            }
            assert_eq!(it.next(), None);
        }
    }

    #[test]
    fn truncations_and_byte_flips_never_panic_and_match_redis() {
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
}
