//! The framing fast path: where a key record of a common layout ends, found
//! with plain index arithmetic and no error values.
//!
//! Framing runs once per record on a single thread, ahead of everything
//! else, so its cost bounds the whole pipeline. The full parser
//! ([`super::value::walk_value`] with the no-op visitor) builds a nom result
//! carrying a detailed error at every step; here each step is a bounds
//! check. Anything unusual (an error, a layout not handled here) returns
//! `None`, and the caller re-reads the record with the full parser, which
//! accepts exactly what this accepts and names the error for the rest. The
//! two are compared record by record in the tests below and by the
//! `rdb_differential` fuzz target.

use super::consts::*;
use super::primitives::RdbString;
use super::types::ValueType;

/// A length prefix at `b[pos..]`: `(value, is_encoding, next_pos)`.
#[inline(always)]
fn length(b: &[u8], pos: usize) -> Option<(u64, bool, usize)> {
    let first = *b.get(pos)?;
    // Tests in the order of how common they are (short lengths, then
    // encoded strings, then 14-bit lengths): fewer instructions per record
    // than the jump table a match on the top two bits compiles to.
    if first < 0x40 {
        return Some((u64::from(first), false, pos + 1));
    }
    if first >= 0xc0 {
        return Some((u64::from(first & 0x3f), true, pos + 1));
    }
    if first < 0x80 {
        let lo = *b.get(pos + 1)?;
        return Some((
            (u64::from(first & 0x3f) << 8) | u64::from(lo),
            false,
            pos + 2,
        ));
    }
    match first {
        RDB_32BITLEN => {
            let w = b.get(pos + 1..pos + 5)?;
            let v = u32::from_be_bytes(w.try_into().ok()?);
            Some((u64::from(v), false, pos + 5))
        }
        RDB_64BITLEN => {
            let w = b.get(pos + 1..pos + 9)?;
            let v = u64::from_be_bytes(w.try_into().ok()?);
            Some((v, false, pos + 9))
        }
        _ => None,
    }
}

/// A plain length (not a string-encoding marker).
#[inline(always)]
fn plain_length(b: &[u8], pos: usize) -> Option<(u64, usize)> {
    match length(b, pos)? {
        (n, false, next) => Some((n, next)),
        _ => None,
    }
}

/// `pos + n`, if the input holds `n` more bytes.
#[inline(always)]
fn advance(b: &[u8], pos: usize, n: u64) -> Option<usize> {
    let end = pos.checked_add(usize::try_from(n).ok()?)?;
    (end <= b.len()).then_some(end)
}

/// A count of items each at least `min_item` bytes long, rejected (as
/// `parse_count` does) when the input cannot hold them.
#[inline(always)]
fn count(b: &[u8], pos: usize, min_item: u64) -> Option<(u64, usize)> {
    let (n, next) = plain_length(b, pos)?;
    let left = (b.len() - next) as u64;
    (n.saturating_mul(min_item) <= left).then_some((n, next))
}

/// The end of the RDB string at `b[pos..]`.
#[inline(always)]
pub fn skip_string(b: &[u8], pos: usize) -> Option<usize> {
    let (n, encoded, next) = length(b, pos)?;
    if !encoded {
        return advance(b, next, n);
    }
    match n as u8 {
        RDB_ENC_INT8 => advance(b, next, 1),
        RDB_ENC_INT16 => advance(b, next, 2),
        RDB_ENC_INT32 => advance(b, next, 4),
        RDB_ENC_LZF => {
            let (clen, next) = plain_length(b, next)?;
            let (ulen, next) = plain_length(b, next)?;
            let end = advance(b, next, clen)?;
            (ulen == 0 || crate::lzf::plausible(clen, ulen)).then_some(end)
        }
        _ => None,
    }
}

/// The RDB string at the start of `b`, and the bytes after it: [`string`]
/// with a short raw string (most keys, most small values) split off
/// directly.
#[inline(always)]
pub fn split_string(b: &[u8]) -> Option<(RdbString<'_>, &[u8])> {
    let (&first, rest) = b.split_first()?;
    if first < 0x40 {
        let (raw, rest) = rest.split_at_checked(usize::from(first))?;
        return Some((RdbString::Raw(raw), rest));
    }
    let (s, end) = string(b, 0)?;
    Some((s, b.get(end..)?))
}

/// The RDB string at `b[pos..]` and its end (for keys).
#[inline(always)]
pub fn string(b: &[u8], pos: usize) -> Option<(RdbString<'_>, usize)> {
    let (n, encoded, next) = length(b, pos)?;
    if !encoded {
        let end = advance(b, next, n)?;
        return Some((RdbString::Raw(b.get(next..end)?), end));
    }
    let int = |w: &[u8]| -> i64 {
        match *w {
            [a] => i64::from(a as i8),
            [a, b] => i64::from(i16::from_le_bytes([a, b])),
            [a, b, c, d] => i64::from(i32::from_le_bytes([a, b, c, d])),
            _ => 0,
        }
    };
    let width = match n as u8 {
        RDB_ENC_INT8 => 1,
        RDB_ENC_INT16 => 2,
        RDB_ENC_INT32 => 4,
        RDB_ENC_LZF => {
            let (clen, next) = plain_length(b, next)?;
            let (ulen, next) = plain_length(b, next)?;
            let end = advance(b, next, clen)?;
            if ulen != 0 && !crate::lzf::plausible(clen, ulen) {
                return None;
            }
            let compressed = b.get(next..end)?;
            return Some((
                RdbString::Lzf {
                    compressed,
                    len: ulen,
                },
                end,
            ));
        }
        _ => return None,
    };
    let end = advance(b, next, width)?;
    Some((RdbString::Int(int(b.get(next..end)?)), end))
}

/// The end of a value of type `t` starting at `b[pos..]`, for the layouts
/// that make up nearly every real file; `None` for the others and for
/// anything the full parser would reject.
#[inline]
pub fn value_end(b: &[u8], pos: usize, t: ValueType) -> Option<usize> {
    use ValueType::*;
    match t {
        String | HashZipmap | ListZiplist | SetIntset | ZsetZiplist | HashZiplist
        | HashListpack | ZsetListpack | SetListpack | HashListpackExPreGa => skip_string(b, pos),
        ListLinked | SetHashtable => {
            let (n, mut at) = count(b, pos, 1)?;
            for _ in 0..n {
                at = skip_string(b, at)?;
            }
            Some(at)
        }
        HashHashtable => {
            let (n, mut at) = count(b, pos, 2)?;
            for _ in 0..n {
                at = skip_string(b, at)?;
                at = skip_string(b, at)?;
            }
            Some(at)
        }
        ZsetV2 => {
            let (n, mut at) = count(b, pos, 2)?;
            for _ in 0..n {
                at = skip_string(b, at)?;
                at = advance(b, at, 8)?;
            }
            Some(at)
        }
        ListQuicklist2 => {
            let (n, mut at) = count(b, pos, 2)?;
            for _ in 0..n {
                let (container, next) = plain_length(b, at)?;
                if container != QUICKLIST_NODE_CONTAINER_PLAIN
                    && container != QUICKLIST_NODE_CONTAINER_PACKED
                {
                    return None;
                }
                at = skip_string(b, next)?;
            }
            Some(at)
        }
        ListQuicklist => {
            let (n, mut at) = count(b, pos, 1)?;
            for _ in 0..n {
                at = skip_string(b, at)?;
            }
            Some(at)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::primitives::parse_string;
    use crate::rdb::value::walk_value;
    use crate::rdb::{Header, Record, Records};

    fn fixtures() -> Vec<Vec<u8>> {
        crate::test_support::rdb_fixtures()
            .into_iter()
            .map(|(_, d)| d)
            .collect()
    }

    /// The fast path agrees with the full parser wherever it answers.
    fn agrees(data: &[u8], pos: usize, t: ValueType, version: u32) -> bool {
        let Some(rest) = data.get(pos..) else {
            return true;
        };
        let full = walk_value(rest, t, version, &mut ()).map(|(r, ())| data.len() - r.len());
        match value_end(data, pos, t) {
            Some(end) => full == Ok(end),
            None => true,
        }
    }

    #[test]
    fn agrees_with_the_full_parser_on_every_fixture_value() {
        let files = fixtures();
        if files.is_empty() {
            eprintln!("note: no fixtures; skipping");
            return;
        }
        let mut fast = 0;
        for data in &files {
            let Ok(h) = Header::parse(data) else { continue };
            for item in Records::new(data, h).flatten() {
                if let Record::Key(k) = item.record {
                    let pos = k.value.as_ptr() as usize - data.as_ptr() as usize;
                    let end = value_end(data, pos, k.value_type);
                    if let Some(end) = end {
                        assert_eq!(end, pos + k.value.len(), "{:?}", k.value_type);
                        fast += 1;
                    }
                    let key_at = item.offset as usize + 1;
                    let (full_rest, full_key) = parse_string(&data[key_at..], "key").unwrap();
                    let (key, after) = string(data, key_at).unwrap();
                    assert_eq!(key, full_key);
                    assert_eq!(after, data.len() - full_rest.len());
                }
            }
        }
        assert!(fast > 100, "the fast path answers for common layouts");
    }

    #[test]
    fn agrees_with_the_full_parser_on_damaged_values() {
        // Every byte of every fixture value, replaced by values that hit
        // each length form, and truncations: wherever the fast path
        // answers, it gives the full parser's answer.
        let files = fixtures();
        let mut checked = 0u64;
        for data in files.iter().take(12) {
            let Ok(h) = Header::parse(data) else { continue };
            let keys: Vec<_> = Records::new(data, h)
                .flatten()
                .filter_map(|i| match i.record {
                    Record::Key(k) => Some((
                        k.value.as_ptr() as usize - data.as_ptr() as usize,
                        k.value.len(),
                        k.value_type,
                    )),
                    _ => None,
                })
                .take(40)
                .collect();
            for (pos, len, t) in keys {
                for i in 0..len.min(24) {
                    for byte in [0x00, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xc0, 0xc3, 0xff] {
                        let mut d = data.clone();
                        d[pos + i] = byte;
                        assert!(agrees(&d, pos, t, h.version), "{t:?} byte {i} = {byte:#x}");
                        checked += 1;
                    }
                }
                for cut in [1, len / 2, len.saturating_sub(1)] {
                    let d = &data[..pos + cut];
                    assert!(agrees(d, pos, t, h.version), "{t:?} cut at {cut}");
                }
            }
        }
        if !files.is_empty() {
            assert!(checked > 1000);
        }
    }

    /// The split reads what the positional reader reads, on every kind of
    /// string start, cut anywhere.
    #[test]
    fn a_split_string_is_the_positional_read() {
        crate::test_support::rdb_string_prefixes(|bytes| {
            let positional = string(bytes, 0).map(|(s, end)| (s, &bytes[end..]));
            assert_eq!(
                split_string(bytes),
                positional,
                "{:02x?}",
                &bytes[..bytes.len().min(4)]
            );
        });
    }

    #[test]
    fn lengths_of_every_form() {
        assert_eq!(length(&[0x05], 0), Some((5, false, 1)));
        assert_eq!(length(&[0x41, 0x02], 0), Some((0x102, false, 2)));
        assert_eq!(length(&[0x80, 0, 0, 1, 0], 0), Some((256, false, 5)));
        assert_eq!(
            length(&[0x81, 0, 0, 0, 0, 0, 0, 1, 0], 0),
            Some((256, false, 9))
        );
        assert_eq!(length(&[0xc3], 0), Some((3, true, 1)));
        assert_eq!(length(&[0x82], 0), None);
        assert_eq!(length(&[0x41], 0), None);
        assert_eq!(length(&[0x80, 0, 0], 0), None);
    }
}
