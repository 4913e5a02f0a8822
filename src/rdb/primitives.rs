//! Lengths, strings, integers and doubles as `rdb.c` writes them
//! (`rdbLoadLenByRef`, `rdbGenericLoadStringObject`, `rdbLoadDoubleValue`,
//! `rdbLoadMillisecondTime`). Every length is checked against the bytes that
//! remain before it is used.

use super::consts::*;
use super::error::{Error, ErrorKind, PResult};
use crate::lzf::{self, LzfError};
use nom::Parser;
use nom::number::complete::{le_f32, le_f64, le_i16, le_i32, le_i64, u8 as byte};
use std::borrow::Cow;

/// Takes `n` bytes, or fails with an EOF error naming what was being read.
pub fn take_bytes<'a>(input: &'a [u8], n: u64, reading: &'static str) -> PResult<'a, &'a [u8]> {
    match usize::try_from(n)
        .ok()
        .and_then(|n| input.split_at_checked(n))
    {
        Some((taken, rest)) => Ok((rest, taken)),
        _ => Error::at(
            input,
            ErrorKind::LengthTooLong {
                reading,
                length: n,
                remaining: input.len() as u64,
            },
        )
        .fail(),
    }
}

fn eof_as<'a, T>(
    reading: &'static str,
    mut p: impl Parser<&'a [u8], Output = T, Error = Error>,
) -> impl FnMut(&'a [u8]) -> PResult<'a, T> {
    move |input| {
        p.parse(input)
            .map_err(|_| nom::Err::Failure(Error::eof(input, reading)))
    }
}

/// A decoded length prefix: either a plain length or the `11xxxxxx` form
/// announcing a special string encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    Plain(u64),
    Encoded(u8),
}

/// `rdbLoadLenByRef`: 6-bit, 14-bit BE, 32-bit BE (0x80), 64-bit BE (0x81),
/// or the encoded marker.
pub fn parse_length_or_encoding<'a>(input: &'a [u8], reading: &'static str) -> PResult<'a, Length> {
    // Written out by hand rather than with nom combinators: this runs for
    // every string and length in the file, and is its hottest function.
    let eof = |at: &'a [u8]| nom::Err::Failure(Error::eof(at, reading));
    let Some((&b, rest)) = input.split_first() else {
        return Err(eof(input));
    };
    match b >> 6 {
        0 => Ok((rest, Length::Plain(u64::from(b & 0x3f)))),
        1 => match rest.split_first() {
            Some((&lo, after)) => Ok((
                after,
                Length::Plain((u64::from(b & 0x3f) << 8) | u64::from(lo)),
            )),
            None => Err(eof(rest)),
        },
        3 => Ok((rest, Length::Encoded(b & 0x3f))),
        _ => match b {
            RDB_32BITLEN => match rest.split_first_chunk::<4>() {
                Some((v, after)) => Ok((after, Length::Plain(u64::from(u32::from_be_bytes(*v))))),
                None => Err(eof(rest)),
            },
            RDB_64BITLEN => match rest.split_first_chunk::<8>() {
                Some((v, after)) => Ok((after, Length::Plain(u64::from_be_bytes(*v)))),
                None => Err(eof(rest)),
            },
            _ => Error::at(input, ErrorKind::LengthEncoding(b)).fail(),
        },
    }
}

/// A plain length where Redis expects one. Redis itself would read an
/// `11xxxxxx` byte here as its low 6 bits; no writer produces that, so it
/// is an error for us.
pub fn parse_length<'a>(input: &'a [u8], reading: &'static str) -> PResult<'a, u64> {
    match parse_length_or_encoding(input, reading)? {
        (rest, Length::Plain(n)) => Ok((rest, n)),
        (_, Length::Encoded(e)) => Error::invalid(
            input,
            format!(
                "expected a length for {reading}, found the string-encoding marker 0x{:02x}",
                0xc0 | e
            ),
        )
        .fail(),
    }
}

/// A count of items, each at least `min_item_bytes` long: checked against
/// the bytes that remain so that no caller can be made to loop (or
/// allocate) for items that cannot exist.
pub fn parse_count<'a>(
    input: &'a [u8],
    reading: &'static str,
    min_item_bytes: u64,
) -> PResult<'a, u64> {
    let (rest, n) = parse_length(input, reading)?;
    if n.saturating_mul(min_item_bytes.max(1)) > rest.len() as u64 {
        return Error::at(
            input,
            ErrorKind::LengthTooLong {
                reading,
                length: n,
                remaining: rest.len() as u64,
            },
        )
        .fail();
    }
    Ok((rest, n))
}

/// An RDB string as stored: raw bytes, an integer, or LZF-compressed bytes.
/// Nothing is copied or inflated until asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdbString<'a> {
    Raw(&'a [u8]),
    Int(i64),
    Lzf { compressed: &'a [u8], len: u64 },
}

impl<'a> RdbString<'a> {
    /// Length of the string in bytes (for integers, of their decimal text).
    pub fn len(&self) -> u64 {
        match *self {
            RdbString::Raw(b) => b.len() as u64,
            RdbString::Int(i) => crate::encoding::decimal_len(i) as u64,
            RdbString::Lzf { len, .. } => len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The string's bytes, inflating LZF data (bounded by
    /// [`crate::limits::MAX_LZF_UNCOMPRESSED`]).
    pub fn to_bytes(&self) -> Result<Cow<'a, [u8]>, LzfError> {
        match *self {
            RdbString::Raw(b) => Ok(Cow::Borrowed(b)),
            RdbString::Int(i) => Ok(Cow::Owned(i.to_string().into_bytes())),
            RdbString::Lzf { len: 0, .. } => Ok(Cow::Borrowed(&[])),
            RdbString::Lzf { compressed, len } => lzf::decompress(compressed, len).map(Cow::Owned),
        }
    }

    /// The stored bytes, if the string is stored raw.
    pub fn raw(&self) -> Option<&'a [u8]> {
        match *self {
            RdbString::Raw(b) => Some(b),
            _ => None,
        }
    }
}

/// `rdbGenericLoadStringObject`, without inflating: raw, INT8/16/32
/// (little-endian), or LZF (`clen`, `ulen`, data).
///
/// A short raw string (a length under 64 in its one byte, and that many
/// bytes) is read inline: it is nearly every member, field and name of a
/// big collection, and the general path (a length parser that tells
/// every prefix apart, then a checked take) cost a fifth of a giant set's
/// walk. Anything else, and any error, takes that path. (Framing's reader,
/// `extent::string`, which reads every form without error values, cost a
/// sixth more than this on a giant set: it builds the general result.)
#[inline]
pub fn parse_string<'a>(input: &'a [u8], reading: &'static str) -> PResult<'a, RdbString<'a>> {
    if let Some((bytes, rest)) = short_raw_string(input) {
        return Ok((rest, RdbString::Raw(bytes)));
    }
    parse_string_any(input, reading)
}

/// A raw string of under 64 bytes at the start of `input` (its one-byte
/// length and that many bytes), as `(bytes, rest)`; `None` for any other
/// form or a cut one, which [`parse_string`] reads.
#[inline(always)]
pub fn short_raw_string(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = input.split_first()?;
    if len < 0x40 {
        rest.split_at_checked(usize::from(len))
    } else {
        None
    }
}

/// [`parse_string`] for every form, with its errors.
fn parse_string_any<'a>(input: &'a [u8], reading: &'static str) -> PResult<'a, RdbString<'a>> {
    let (rest, len) = parse_length_or_encoding(input, reading)?;
    match len {
        Length::Plain(n) => {
            let (rest, b) = take_bytes(rest, n, reading)?;
            Ok((rest, RdbString::Raw(b)))
        }
        Length::Encoded(RDB_ENC_INT8) => {
            let (rest, v) = eof_as(reading, byte).parse(rest)?;
            Ok((rest, RdbString::Int(i64::from(v as i8))))
        }
        Length::Encoded(RDB_ENC_INT16) => {
            let (rest, v) = eof_as(reading, le_i16).parse(rest)?;
            Ok((rest, RdbString::Int(i64::from(v))))
        }
        Length::Encoded(RDB_ENC_INT32) => {
            let (rest, v) = eof_as(reading, le_i32).parse(rest)?;
            Ok((rest, RdbString::Int(i64::from(v))))
        }
        Length::Encoded(RDB_ENC_LZF) => {
            let (rest, clen) = parse_length(rest, reading)?;
            let (rest, ulen) = parse_length(rest, reading)?;
            let (rest, data) = take_bytes(rest, clen, reading)?;
            if ulen != 0 && !lzf::plausible(clen, ulen) {
                return Error::at(
                    input,
                    ErrorKind::Lzf(LzfError::ImplausibleLength {
                        compressed: clen,
                        uncompressed: ulen,
                    }),
                )
                .fail();
            }
            Ok((
                rest,
                RdbString::Lzf {
                    compressed: data,
                    len: ulen,
                },
            ))
        }
        Length::Encoded(e) => Error::at(input, ErrorKind::StringEncoding(0xc0 | e)).fail(),
    }
}

pub fn parse_u8<'a>(input: &'a [u8], reading: &'static str) -> PResult<'a, u8> {
    eof_as(reading, byte).parse(input)
}

pub fn parse_le_i64<'a>(input: &'a [u8], reading: &'static str) -> PResult<'a, i64> {
    eof_as(reading, le_i64).parse(input)
}

pub fn parse_le_i32<'a>(input: &'a [u8], reading: &'static str) -> PResult<'a, i32> {
    eof_as(reading, le_i32).parse(input)
}

pub fn parse_le_f64<'a>(input: &'a [u8], reading: &'static str) -> PResult<'a, f64> {
    eof_as(reading, le_f64).parse(input)
}

pub fn parse_le_f32<'a>(input: &'a [u8], reading: &'static str) -> PResult<'a, f32> {
    eof_as(reading, le_f32).parse(input)
}

/// `rdbLoadDoubleValue`: one length byte, 253 NaN, 254 +inf, 255 -inf,
/// else that many ASCII bytes parsed as `%lg`.
pub fn parse_string_double<'a>(input: &'a [u8], reading: &'static str) -> PResult<'a, f64> {
    let (rest, n) = parse_u8(input, reading)?;
    match n {
        253 => Ok((rest, f64::NAN)),
        254 => Ok((rest, f64::INFINITY)),
        255 => Ok((rest, f64::NEG_INFINITY)),
        n => {
            let (rest, text) = take_bytes(rest, u64::from(n), reading)?;
            match parse_double_text(text) {
                Some(v) => Ok((rest, v)),
                None => Error::invalid(
                    input,
                    format!(
                        "expected a decimal number for {reading}, found '{}'",
                        crate::escape_bytes(text)
                    ),
                )
                .fail(),
            }
        }
    }
}

/// Parses a double the way Redis's `strtod`-based helpers accept one
/// (`inf`, `-inf`, `nan` spelled as libc prints them included).
pub fn parse_double_text(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    let t = s.trim_start();
    if t.is_empty() || t.len() != s.len() {
        return None;
    }
    // Every spelled-out value ends with a letter; a number never does, so
    // the common case skips the comparisons.
    if t.as_bytes().last().is_some_and(u8::is_ascii_alphabetic) {
        let is = |words: &[&str]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
        if is(&["inf", "+inf", "infinity", "+infinity"]) {
            return Some(f64::INFINITY);
        }
        if is(&["-inf", "-infinity"]) {
            return Some(f64::NEG_INFINITY);
        }
        if is(&["nan", "-nan", "+nan"]) {
            return Some(f64::NAN);
        }
    }
    t.parse::<f64>().ok()
}

/// The generic module value skipper (`rdbLoadCheckModuleValue`): opcodes
/// until `RDB_MODULE_OPCODE_EOF`. Unlike Redis, an unknown opcode is an
/// error (Redis silently reads on) and running out of input ends the walk
/// (Redis's checker loops forever there).
pub fn skip_module_opcodes<'a>(input: &'a [u8], reading: &'static str) -> PResult<'a, u64> {
    let mut rest = input;
    let mut items = 0u64;
    loop {
        let at = rest;
        let (r, op) = parse_length(rest, reading)?;
        rest = r;
        match op {
            RDB_MODULE_OPCODE_EOF => return Ok((rest, items)),
            RDB_MODULE_OPCODE_SINT | RDB_MODULE_OPCODE_UINT => {
                rest = parse_length(rest, reading)?.0;
            }
            RDB_MODULE_OPCODE_FLOAT => rest = take_bytes(rest, 4, reading)?.0,
            RDB_MODULE_OPCODE_DOUBLE => rest = take_bytes(rest, 8, reading)?.0,
            RDB_MODULE_OPCODE_STRING => {
                // Redis inflates module strings on load; a broken one fails.
                let (r, s) = parse_string(rest, reading)?;
                if let RdbString::Lzf { len, .. } = s
                    && len > 0
                    && let Err(e) = s.to_bytes()
                {
                    return Error::at(rest, ErrorKind::Lzf(e)).fail();
                }
                rest = r;
            }
            other => {
                return Error::invalid(
                    at,
                    format!(
                        "unknown module opcode {other} in {reading}: expected 0 (EOF) .. 5 (STRING)"
                    ),
                )
                .fail();
            }
        }
        items += 1;
    }
}

/// Module type name from a 64-bit module id (`moduleTypeNameByID`): nine
/// 6-bit characters, high bits first, then a 10-bit encoding version.
pub fn module_type_name(id: u64) -> (String, u64) {
    const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut name = String::with_capacity(9);
    for i in 0..9 {
        let idx = (id >> (64 - 6 * (i + 1))) & 63;
        name.push(CHARSET[idx as usize] as char);
    }
    (name, id & 1023)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok<T>(r: PResult<'_, T>) -> (usize, T) {
        let (rest, v) = r.unwrap();
        (rest.len(), v)
    }

    #[test]
    fn lengths_in_every_form() {
        assert_eq!(ok(parse_length(&[0x05], "x")), (0, 5));
        assert_eq!(ok(parse_length(&[0x41, 0x02], "x")), (0, 0x102));
        assert_eq!(ok(parse_length(&[0x80, 0, 1, 0, 0], "x")), (0, 65536));
        assert_eq!(
            ok(parse_length(&[0x81, 0, 0, 0, 1, 0, 0, 0, 0], "x")),
            (0, 1 << 32)
        );
        let e = parse_length(&[0x82], "x").unwrap_err();
        assert!(matches!(
            e,
            nom::Err::Failure(Error {
                kind: ErrorKind::LengthEncoding(0x82),
                ..
            })
        ));
        assert!(parse_length(&[0x80, 0, 1], "x").is_err());
        assert!(parse_length(&[], "x").is_err());
    }

    /// The inline path reads what the general path reads, and leaves every
    /// error, with its wording, to it: every first byte (every length form
    /// and encoding), cut at every length up to 70 bytes, with LZF lengths
    /// plausible and not.
    #[test]
    fn strings_read_as_by_the_general_path() {
        crate::test_support::rdb_string_prefixes(|bytes| {
            let inline = format!("{:?}", parse_string(bytes, "s"));
            let general = format!("{:?}", parse_string_any(bytes, "s"));
            assert_eq!(inline, general, "{:02x?}", &bytes[..bytes.len().min(4)]);
        });
        assert_eq!(ok(parse_string(&[0], "s")), (0, RdbString::Raw(b"")));
    }

    #[test]
    fn strings_in_every_form() {
        assert_eq!(ok(parse_string(b"\x03abc", "s")).1, RdbString::Raw(b"abc"));
        assert_eq!(ok(parse_string(&[0xc0, 0xff], "s")).1, RdbString::Int(-1));
        assert_eq!(
            ok(parse_string(&[0xc1, 0x00, 0x80], "s")).1,
            RdbString::Int(-32768)
        );
        assert_eq!(
            ok(parse_string(&[0xc2, 0x78, 0x56, 0x34, 0x12], "s")).1,
            RdbString::Int(0x12345678)
        );
        assert!(parse_string(b"\x05abc", "s").is_err());
        assert!(matches!(
            parse_string(&[0xc4], "s"),
            Err(nom::Err::Failure(Error {
                kind: ErrorKind::StringEncoding(0xc4),
                ..
            }))
        ));
        let text = b"abcabcabcabcabcabcabcabcabcabc".to_vec();
        let packed = ::lzf::compress(&text).unwrap();
        let mut enc = vec![0xc3, packed.len() as u8, text.len() as u8];
        enc.extend_from_slice(&packed);
        let (_, s) = ok(parse_string(&enc, "s"));
        assert_eq!(s.len(), text.len() as u64);
        assert_eq!(s.to_bytes().unwrap().as_ref(), &text[..]);
    }

    #[test]
    fn huge_declared_length_is_an_error_not_an_allocation() {
        let e = parse_string(&[0x80, 0x7f, 0xff, 0xff, 0xff, b'a'], "s").unwrap_err();
        assert!(matches!(
            e,
            nom::Err::Failure(Error {
                kind: ErrorKind::LengthTooLong { .. },
                ..
            })
        ));
        let e = parse_string(
            &[
                0xc3, 0x01, 0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
            ],
            "s",
        );
        assert!(e.is_err());
    }

    #[test]
    fn string_doubles() {
        assert!(ok(parse_string_double(&[253], "d")).1.is_nan());
        assert_eq!(ok(parse_string_double(&[254], "d")).1, f64::INFINITY);
        assert_eq!(ok(parse_string_double(&[255], "d")).1, f64::NEG_INFINITY);
        assert_eq!(ok(parse_string_double(b"\x031.5", "d")).1, 1.5);
        assert!(parse_string_double(b"\x03abc", "d").is_err());
    }

    #[test]
    fn double_text_spellings() {
        for t in ["inf", "INF", "+Inf", "infinity", "+INFINITY"] {
            assert_eq!(parse_double_text(t.as_bytes()), Some(f64::INFINITY), "{t}");
        }
        for t in ["-inf", "-Infinity"] {
            assert_eq!(
                parse_double_text(t.as_bytes()),
                Some(f64::NEG_INFINITY),
                "{t}"
            );
        }
        for t in ["nan", "NaN", "-nan", "+NAN"] {
            assert!(
                parse_double_text(t.as_bytes()).is_some_and(f64::is_nan),
                "{t}"
            );
        }
        for (t, v) in [
            ("0", 0.0),
            ("-2.5", -2.5),
            ("1e3", 1000.0),
            ("1E-2", 0.01),
            ("17", 17.0),
            (".5", 0.5),
            ("5.", 5.0),
        ] {
            assert_eq!(parse_double_text(t.as_bytes()), Some(v), "{t}");
        }
        for t in [
            &b""[..],
            b" 1",
            b"1 ",
            b"abc",
            b"1x",
            b"infin",
            b"nanx",
            b"--1",
            "\u{a0}1".as_bytes(),
            b"\xff",
        ] {
            assert_eq!(parse_double_text(t), None, "{t:?}");
        }
    }

    #[test]
    fn module_names_decode() {
        // FORMATS.md §2.8: ReJSON-RL v3
        assert_eq!(
            module_type_name(0x45e25238df912c03),
            ("ReJSON-RL".to_string(), 3)
        );
    }

    #[test]
    fn module_skipper_stops_on_unknown_opcode_and_eof() {
        // UINT 7, STRING "ab", EOF
        assert_eq!(
            ok(skip_module_opcodes(&[2, 7, 5, 2, b'a', b'b', 0], "m")),
            (0, 2)
        );
        assert!(skip_module_opcodes(&[9, 0], "m").is_err());
        assert!(skip_module_opcodes(&[2, 7], "m").is_err());
    }
}
