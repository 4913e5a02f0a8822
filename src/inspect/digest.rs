//! `DEBUG DIGEST` and `DEBUG DIGEST-VALUE`, computed from the file so that
//! they equal what a server holding the same data prints (`debug.c`:
//! `xorDigest`, `mixDigest`, `xorObjectDigest`, `computeDatasetDigest`).
//!
//! ```text
//! xor(d, s):  d ^= SHA1(s)                      order-free (sets, hashes, keys)
//! mix(d, s):  d = SHA1(d ^ SHA1(s))             ordered (lists, streams)
//! value:      mix(type as u32 BE); then by type:
//!   string    mix(bytes)                        integers as decimal text
//!   list      mix(item) for each, head to tail
//!   set       xor(member)
//!   zset      e = 0; mix(e, member); mix(e, score text); xor(d, e)
//!             (xor(d, e) hashes e again: d ^= SHA1(e))
//!   hash      e = 0; mix(e, field); mix(e, value);
//!             [Redis 7.4+: xor(e, "!!hexpire!!") if the field has a TTL]
//!             xor(d, e)
//!   stream    per live entry: mix("ms.seq"); mix(field); mix(value) ...
//!   module    the module's digest callback (not available offline)
//!   then xor("!!expire!!") when the key has an expiry
//! key:        start from mix(0, key), then as value
//! dataset:    final = 0; per db ascending, with keys:
//!               mix(final, db as u32 BE); xor(final, key digest), every key
//! ```
//!
//! What depends on the server: the score text (Redis before 7.2 prints
//! `%.17g`, Redis 7.2+ and Valkey `fpconv_dtoa`, reproduced in
//! [`super::fpconv`]), and hash field TTLs, which Redis 7.4+ marks (observed
//! against Redis 8.2: the marker, not the TTL's value, enters the field's
//! digest) and Valkey 9 ignores. Files say which: a Redis file with field
//! TTLs comes from Redis 7.4+, a `VALKEY` file from Valkey.

use super::decode::{ElementSink, decode_value};
use super::keys::KeyEntry;
use crate::encoding::stream::StreamId;
use crate::rdb::error::Error;
use crate::rdb::{Header, LogicalType};
use sha1::{Digest as _, Sha1};
use std::collections::BTreeMap;

/// A 20-byte digest.
pub type Digest = [u8; 20];

/// How the server formats a zset score inside a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreFormat {
    /// `snprintf("%.17g")`: Redis up to 7.0.
    Printf17g,
    /// `fpconv_dtoa` (Grisu2: round-trip digits, nearly always the
    /// shortest): Redis 7.2+ and Valkey.
    Shortest,
}

impl ScoreFormat {
    /// The format of the server that wrote a file, from its `redis-ver`
    /// aux field (`None` when absent: Valkey and Redis 7.2+ are assumed).
    pub fn for_server_version(redis_ver: Option<&[u8]>) -> ScoreFormat {
        let Some(v) = redis_ver.and_then(|v| std::str::from_utf8(v).ok()) else {
            return ScoreFormat::Shortest;
        };
        let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let major = parts.next().unwrap_or(0);
        let minor = parts.next().unwrap_or(0);
        if (major, minor) < (7, 2) {
            ScoreFormat::Printf17g
        } else {
            ScoreFormat::Shortest
        }
    }

    /// The format of the server that wrote `file`, from the aux fields
    /// before its first key.
    pub fn for_file(file: &[u8], header: Header) -> ScoreFormat {
        use crate::rdb::{Record, Records};
        let mut version = None;
        for item in Records::new(file, header) {
            match item.map(|i| i.record) {
                Ok(Record::Aux {
                    key: crate::rdb::RdbString::Raw(b"redis-ver"),
                    value,
                }) => {
                    version = value.to_bytes().ok().map(|v| v.into_owned());
                }
                Ok(Record::Aux { .. }) => {}
                _ => break,
            }
        }
        ScoreFormat::for_server_version(version.as_deref())
    }

    pub fn format(self, score: f64) -> String {
        match self {
            ScoreFormat::Printf17g => format_17g(score),
            ScoreFormat::Shortest => super::fpconv::dtoa(score),
        }
    }
}

/// Why a digest cannot be computed offline.
#[derive(Debug, Clone, PartialEq)]
pub enum DigestError {
    /// The value could not be decoded.
    Corrupt(Error),
    /// A module value: the server asks the module's digest callback.
    Module(String),
}

impl std::fmt::Display for DigestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DigestError::Corrupt(e) => write!(f, "{e}"),
            DigestError::Module(name) => write!(
                f,
                "module value of type {name}: its digest comes from the module's own callback, which redcheck cannot run"
            ),
        }
    }
}

fn sha1(data: &[u8]) -> Digest {
    Sha1::digest(data).into()
}

/// `xorDigest`.
pub fn xor(d: &mut Digest, data: &[u8]) {
    for (a, b) in d.iter_mut().zip(sha1(data)) {
        *a ^= b;
    }
}

/// `mixDigest`.
pub fn mix(d: &mut Digest, data: &[u8]) {
    xor(d, data);
    *d = sha1(d.as_slice());
}

/// `OBJ_*` as the server numbers its types.
fn object_type(t: LogicalType) -> u32 {
    match t {
        LogicalType::String => 0,
        LogicalType::List => 1,
        LogicalType::Set => 2,
        LogicalType::Zset => 3,
        LogicalType::Hash => 4,
        LogicalType::Module => 5,
        LogicalType::Stream => 6,
    }
}

struct ValueDigest {
    d: Digest,
    format: ScoreFormat,
    /// Redis 7.4+ marks a hash field that has a TTL (not its value);
    /// Valkey 9 leaves field TTLs out of digests.
    mark_field_ttl: bool,
    /// Leave out hash fields expired at this time, as loading does.
    now_ms: Option<i64>,
    live_fields: u64,
    module: Option<String>,
}

impl ElementSink for ValueDigest {
    fn string(&mut self, value: &[u8]) -> Result<(), Error> {
        mix(&mut self.d, value);
        Ok(())
    }
    fn list_item(&mut self, item: &[u8]) -> Result<(), Error> {
        mix(&mut self.d, item);
        Ok(())
    }
    fn set_member(&mut self, member: &[u8]) -> Result<(), Error> {
        xor(&mut self.d, member);
        Ok(())
    }
    fn zset_member(&mut self, member: &[u8], score: f64) -> Result<(), Error> {
        let mut e = [0u8; 20];
        mix(&mut e, member);
        mix(&mut e, self.format.format(score).as_bytes());
        xor(&mut self.d, &e);
        Ok(())
    }
    fn hash_field(
        &mut self,
        field: &[u8],
        value: &[u8],
        expire_ms: Option<i64>,
    ) -> Result<(), Error> {
        if let (Some(now), Some(at)) = (self.now_ms, expire_ms)
            && at < now
        {
            return Ok(());
        }
        self.live_fields += 1;
        let mut e = [0u8; 20];
        mix(&mut e, field);
        mix(&mut e, value);
        if self.mark_field_ttl && expire_ms.is_some() {
            xor(&mut e, b"!!hexpire!!");
        }
        xor(&mut self.d, &e);
        Ok(())
    }
    fn stream_entry(
        &mut self,
        id: StreamId,
        fields: &[&[u8]],
        values: &[&[u8]],
    ) -> Result<(), Error> {
        mix(&mut self.d, format!("{}.{}", id.ms, id.seq).as_bytes());
        for (f, v) in fields.iter().zip(values) {
            mix(&mut self.d, f);
            mix(&mut self.d, v);
        }
        Ok(())
    }
    fn module(&mut self, name: &str) -> Result<(), Error> {
        self.module = Some(name.to_string());
        Ok(())
    }
}

/// Continues `start` with the value of `e` (`xorObjectDigest`). `None`
/// when `now_ms` is given and loading at that time would drop the key
/// (expired, or a hash whose fields have all expired).
fn object_digest(
    header: &Header,
    e: &KeyEntry<'_>,
    start: Digest,
    format: ScoreFormat,
    now_ms: Option<i64>,
) -> Result<Option<Digest>, DigestError> {
    if let (Some(now), Some(at)) = (now_ms, e.expire_ms)
        && at < now
    {
        return Ok(None);
    }
    let mut v = ValueDigest {
        d: start,
        format,
        mark_field_ttl: header.dialect() == crate::rdb::Dialect::Redis,
        now_ms,
        live_fields: 0,
        module: None,
    };
    mix(&mut v.d, &object_type(e.logical()).to_be_bytes());
    decode_value(header, e.record.value_type, e.record.value, &mut v)
        .map_err(DigestError::Corrupt)?;
    if let Some(name) = v.module {
        return Err(DigestError::Module(name));
    }
    if now_ms.is_some() && e.logical() == LogicalType::Hash && v.live_fields == 0 {
        return Ok(None);
    }
    if e.expire_ms.is_some() {
        xor(&mut v.d, b"!!expire!!");
    }
    Ok(Some(v.d))
}

/// `DEBUG DIGEST-VALUE key`: the value, its type and whether it expires.
pub fn value_digest(
    header: &Header,
    e: &KeyEntry<'_>,
    format: ScoreFormat,
) -> Result<Digest, DigestError> {
    object_digest(header, e, [0; 20], format, None).map(|d| d.unwrap_or_default())
}

/// The key's share of `DEBUG DIGEST`: the key name, then as
/// [`value_digest`]. With `now_ms`, as a server loading the file at that
/// time would hold it: `None` for a key it would drop, and expired hash
/// fields left out.
pub fn key_digest(
    header: &Header,
    e: &KeyEntry<'_>,
    format: ScoreFormat,
    now_ms: Option<i64>,
) -> Result<Option<Digest>, DigestError> {
    let mut start = [0u8; 20];
    mix(&mut start, &e.key);
    object_digest(header, e, start, format, now_ms)
}

/// Folds key digests into `DEBUG DIGEST`; keys may come in any order.
#[derive(Debug, Default, Clone)]
pub struct DatasetDigest {
    per_db: BTreeMap<u64, Digest>,
}

impl DatasetDigest {
    pub fn add(&mut self, db: u64, key_digest: &Digest) {
        xor(self.per_db.entry(db).or_insert([0; 20]), key_digest);
    }

    pub fn finish(&self) -> Digest {
        let mut d = [0u8; 20];
        for (db, keys) in &self.per_db {
            // The server numbers dbs with an int; beyond that no server
            // could have loaded the file anyway.
            mix(&mut d, &(*db as u32).to_be_bytes());
            for (a, b) in d.iter_mut().zip(keys) {
                *a ^= b;
            }
        }
        d
    }
}

/// Lower-case hex, as the server prints digests.
pub fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decimal mantissa digits of `v` (finite, non-zero), correctly rounded
/// to `precision` significant digits, and the exponent of the first digit.
fn digits(v: f64, precision: usize) -> (String, i32) {
    let s = format!("{:.*e}", precision.saturating_sub(1), v.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some(if v.is_sign_negative() { "-nan" } else { "nan" }.into())
    } else if v.is_infinite() {
        Some(if v < 0.0 { "-inf" } else { "inf" }.into())
    } else {
        None
    }
}

/// C's `printf("%.17g", v)`.
pub fn format_17g(v: f64) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0");
    }
    const P: i32 = 17;
    let (digits, x) = digits(v, P as usize);
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if !(-4..P).contains(&x) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if x < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot}{rest}e{esign}{:02}", x.abs())
    } else if x < 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-x - 1) as usize))
    } else {
        let int_len = x as usize + 1;
        if digits.len() <= int_len {
            format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
        } else {
            let (i, f) = digits.split_at(int_len);
            format!("{sign}{i}.{f}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_17g_like_c() {
        // Expected strings are what glibc prints for "%.17g".
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.10000000000000001"),
            (100.0, "100"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (123456789.125, "123456789.125"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (1.5e300, "1.5000000000000001e+300"),
        ];
        for (v, want) in cases {
            assert_eq!(format_17g(*v), *want, "{v:e}");
        }
    }

    #[test]
    fn sha1_folds() {
        // SHA1("") and mixing are checked end to end against servers in
        // tests/inspect_keys.rs; here only the algebra.
        let mut a = [0u8; 20];
        xor(&mut a, b"x");
        xor(&mut a, b"x");
        assert_eq!(a, [0u8; 20]);
        let mut b = [0u8; 20];
        mix(&mut b, b"foo");
        mix(&mut b, b"bar");
        let mut c = [0u8; 20];
        mix(&mut c, b"fo");
        mix(&mut c, b"obar");
        assert_ne!(b, c);
    }

    #[test]
    fn score_format_by_version() {
        assert_eq!(
            ScoreFormat::for_server_version(Some(b"7.0.15")),
            ScoreFormat::Printf17g
        );
        assert_eq!(
            ScoreFormat::for_server_version(Some(b"6.2.6")),
            ScoreFormat::Printf17g
        );
        assert_eq!(
            ScoreFormat::for_server_version(Some(b"7.2.4")),
            ScoreFormat::Shortest
        );
        assert_eq!(
            ScoreFormat::for_server_version(Some(b"8.2.1")),
            ScoreFormat::Shortest
        );
        assert_eq!(ScoreFormat::for_server_version(None), ScoreFormat::Shortest);
    }
}

#[cfg(test)]
mod dataset_tests {
    use super::*;
    use crate::inspect::Keys;
    use crate::inspect::testrdb::Rdb;

    #[test]
    fn string_value_digest_by_hand() {
        let data = Rdb::new().string(b"k", b"v").finish();
        let header = Header::parse(&data).expect("header");
        let e = Keys::new(&data, header)
            .next()
            .expect("a key")
            .expect("frames");
        // DIGEST-VALUE: mix(type 0 as u32 BE), mix("v").
        let mut want = [0u8; 20];
        mix(&mut want, &0u32.to_be_bytes());
        mix(&mut want, b"v");
        assert_eq!(value_digest(&header, &e, ScoreFormat::Shortest), Ok(want));
        // The dataset share starts from mix(0, key).
        let mut key = [0u8; 20];
        mix(&mut key, b"k");
        mix(&mut key, &0u32.to_be_bytes());
        mix(&mut key, b"v");
        assert_eq!(
            key_digest(&header, &e, ScoreFormat::Shortest, None),
            Ok(Some(key))
        );
        // Expired at `now`: a server loading the file would not have it.
        let data = Rdb::new().expire(10).string(b"k", b"v").finish();
        let e = Keys::new(&data, header)
            .next()
            .expect("a key")
            .expect("frames");
        assert_eq!(
            key_digest(&header, &e, ScoreFormat::Shortest, Some(11)),
            Ok(None)
        );
        assert!(key_digest(&header, &e, ScoreFormat::Shortest, Some(9)).is_ok_and(|d| d.is_some()));
    }

    #[test]
    fn dataset_digest_ignores_key_order_not_dbs() {
        let (a, b) = ([1u8; 20], [2u8; 20]);
        let mut x = DatasetDigest::default();
        x.add(0, &a);
        x.add(1, &b);
        let mut y = DatasetDigest::default();
        y.add(1, &b);
        y.add(0, &a);
        assert_eq!(x.finish(), y.finish());
        let mut z = DatasetDigest::default();
        z.add(0, &b);
        z.add(1, &a);
        assert_ne!(x.finish(), z.finish());
        assert_eq!(DatasetDigest::default().finish(), [0u8; 20]);
    }
}
