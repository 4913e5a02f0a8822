//! Ranking the keys of a file whose structure is intact but whose CRC-64
//! does not match: somewhere a byte changed without breaking the framing or
//! any encoding. Each key is scored by anomalies a server's writer never
//! produces, or that stand out against the rest of the value:
//!
//! - a length or integer stored in a wider form than `rdbSaveLen` /
//!   `rdbEncodeInteger` pick (servers always use the smallest);
//! - a raw string that is a decimal integer of at most 11 characters in the
//!   32-bit range (`rdbSaveRawString` would have integer-encoded it);
//! - a few non-text bytes inside an otherwise printable string;
//! - a run of eight or more zero bytes in a string that is otherwise text;
//! - an expiry before the year 2000 or more than 1000 years after the
//!   file's `ctime` (a flipped high bit; far-future expiries such as the
//!   year 2100 are common and not counted).
//!
//! Only strings stored as RDB strings are examined (string values, key
//! names, and elements of unpacked lists, sets, zsets and hashes); elements
//! inside listpacks and ziplists, stream entries and module values are not.
//! A flipped bit that yields another plausible value leaves no trace at all.

use crate::rdb::primitives::RdbString;
use crate::rdb::value::{FieldTtl, ValueVisitor, walk_value};
use crate::rdb::{Header, Record, Records};

/// Most suspects listed.
const MAX_SUSPECTS: usize = 20;
/// Strings shorter than this are too short to call a byte odd.
const MIN_TEXT_LEN: usize = 16;
const ZERO_RUN: usize = 8;
const MILLENNIUM_MS: i64 = 1000 * 365 * 24 * 3600 * 1000;
/// 2000-01-01T00:00:00Z.
const Y2K_MS: i64 = 946_684_800_000;

/// A key and why it may hold the corrupted bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Suspect {
    pub db: u64,
    pub key: Vec<u8>,
    pub offset: u64,
    pub score: u32,
    /// (file offset, what is odd there).
    pub reasons: Vec<(u64, String)>,
}

/// Keys with at least one anomaly, highest score first (then file order),
/// in one framing pass over a file whose structure is intact; `ctime_ms`
/// is the file's `ctime` AUX field, in seconds. Memory: the best few
/// suspects only.
pub fn rank_suspects(data: &[u8], header: &Header, ctime: Option<i64>) -> Vec<Suspect> {
    let ctime_ms = ctime.map(|s| s.saturating_mul(1000));
    let mut out = Vec::new();
    let mut db = 0;
    // Where the current key's opcodes began, and its expiry.
    let mut opcodes: Option<u64> = None;
    let mut expire_ms = None;
    for item in Records::new(data, *header) {
        let Ok(item) = item else { break };
        let rec = match item.record {
            Record::SelectDb { db: n } => {
                db = n;
                continue;
            }
            Record::Expire { ms, .. } => {
                opcodes.get_or_insert(item.offset);
                expire_ms = Some(ms);
                continue;
            }
            Record::Idle { .. } | Record::Freq { .. } | Record::KeyMeta { .. } => {
                opcodes.get_or_insert(item.offset);
                continue;
            }
            Record::Key(rec) => rec,
            _ => continue,
        };
        let start = opcodes.take().unwrap_or(item.offset);
        let mut a = Anomalies {
            file: data,
            reasons: Vec::new(),
            score: 0,
        };
        if let Some(ms) = expire_ms.take()
            && (ms < Y2K_MS || ctime_ms.is_some_and(|c| ms > c.saturating_add(MILLENNIUM_MS)))
        {
            a.note(
                start,
                2,
                format!("expiry {ms} ms is before 2000 or over 1000 years after the file's ctime"),
            );
        }
        a.string(key_at(data, item.offset), rec.key);
        let _ = walk_value(rec.value, rec.value_type, header.version, &mut a);
        if a.score > 0 {
            out.push(Suspect {
                db,
                key: rec
                    .key
                    .to_bytes()
                    .map(|k| k.into_owned())
                    .unwrap_or_default(),
                offset: item.offset,
                score: a.score,
                reasons: a.reasons,
            });
            if out.len() >= 4 * MAX_SUSPECTS {
                rank(&mut out);
            }
        }
    }
    rank(&mut out);
    out
}

fn rank(suspects: &mut Vec<Suspect>) {
    suspects.sort_by(|a, b| b.score.cmp(&a.score).then(a.offset.cmp(&b.offset)));
    suspects.truncate(MAX_SUSPECTS);
}

/// The key string's bytes: just after the type byte.
fn key_at(data: &[u8], offset: u64) -> &[u8] {
    data.get(offset as usize + 1..).unwrap_or(&[])
}

struct Anomalies<'a> {
    file: &'a [u8],
    reasons: Vec<(u64, String)>,
    score: u32,
}

impl<'a> Anomalies<'a> {
    fn offset(&self, at: &[u8]) -> u64 {
        (at.as_ptr() as usize).saturating_sub(self.file.as_ptr() as usize) as u64
    }

    fn note(&mut self, offset: u64, weight: u32, why: String) {
        self.score += weight;
        self.reasons.push((offset, why));
    }

    /// Examines one RDB string whose encoding starts at `at`.
    fn string(&mut self, at: &'a [u8], s: RdbString<'a>) {
        let off = self.offset(at);
        if let Some(why) = wide_length(at) {
            self.note(off, 3, why);
        }
        match s {
            RdbString::Int(i) => {
                let enc = at.first().map_or(0, |b| b & 0x3f);
                let fits_smaller = match enc {
                    1 => i8::try_from(i).is_ok(),
                    2 => i16::try_from(i).is_ok(),
                    _ => false,
                };
                if fits_smaller {
                    self.note(
                        off,
                        3,
                        format!("integer {i} stored wider than a server writes it"),
                    );
                }
            }
            RdbString::Raw(b) => {
                let body = self.offset(b);
                if b.len() <= 11
                    && crate::encoding::parse_canonical_i64(b)
                        .is_some_and(|v| i32::try_from(v).is_ok())
                {
                    self.note(
                        off,
                        2,
                        format!(
                            "'{}' stored as text, though a server integer-encodes it",
                            crate::escape_bytes(b)
                        ),
                    );
                }
                self.text(body, b);
            }
            RdbString::Lzf { .. } => {
                if let Ok(b) = s.to_bytes() {
                    // Offsets inside inflated data point at the string.
                    let before = self.reasons.len();
                    self.text(off, &b);
                    for r in &mut self.reasons[before..] {
                        r.0 = off;
                        r.1.push_str(" (inside LZF data)");
                    }
                }
            }
        }
    }

    /// Text anomalies in `b`, found at file offset `base`: a run of zeros
    /// amid text (a zeroed page), else a few non-text bytes amid text (a
    /// flipped bit). Binary strings are left alone.
    fn text(&mut self, base: u64, b: &[u8]) {
        if b.len() < MIN_TEXT_LEN {
            return;
        }
        let is_text = |c: &u8| (0x20..0x7f).contains(c) || matches!(c, b'\t' | b'\n' | b'\r');
        let text_bytes = b.iter().filter(|c| is_text(c)).count();
        let zeros = b.iter().filter(|&&c| c == 0).count();
        if text_bytes >= ZERO_RUN && text_bytes + zeros == b.len() {
            let mut run = 0;
            for (i, &c) in b.iter().enumerate() {
                run = if c == 0 { run + 1 } else { 0 };
                if run == ZERO_RUN {
                    self.note(
                        base + (i + 1 - ZERO_RUN) as u64,
                        2,
                        "a run of zero bytes inside text".into(),
                    );
                    return;
                }
            }
        }
        let odd: Vec<usize> = (0..b.len())
            .filter(|&i| !b.get(i).is_some_and(is_text))
            .collect();
        let budget = (b.len() / 50).max(2);
        if !odd.is_empty() && odd.len() <= budget {
            let first = odd.first().copied().unwrap_or(0);
            self.note(
                base + first as u64,
                2,
                format!(
                    "{} non-text byte(s) inside {} bytes of text (first 0x{:02x})",
                    odd.len(),
                    b.len(),
                    b.get(first).copied().unwrap_or(0)
                ),
            );
        }
    }
}

/// A length prefix in a wider form than `rdbSaveLen` would write.
fn wide_length(at: &[u8]) -> Option<String> {
    let (&b, rest) = at.split_first()?;
    let (n, min) = match b >> 6 {
        1 => (u64::from(b & 0x3f) << 8 | u64::from(*rest.first()?), 1 << 6),
        2 if b == 0x80 => (
            u64::from(u32::from_be_bytes(rest.get(..4)?.try_into().ok()?)),
            1 << 14,
        ),
        2 if b == 0x81 => (u64::from_be_bytes(rest.get(..8)?.try_into().ok()?), 1 << 32),
        _ => return None,
    };
    (n < min).then(|| format!("length {n} stored in a wider form than a server writes it"))
}

impl<'a> ValueVisitor<'a> for Anomalies<'a> {
    fn string_value(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), crate::rdb::Error> {
        self.string(at, s);
        Ok(())
    }
    fn list_item(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), crate::rdb::Error> {
        self.string(at, s);
        Ok(())
    }
    fn set_member(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), crate::rdb::Error> {
        self.string(at, s);
        Ok(())
    }
    fn zset_member(
        &mut self,
        at: &'a [u8],
        s: RdbString<'a>,
        _score: f64,
    ) -> Result<(), crate::rdb::Error> {
        self.string(at, s);
        Ok(())
    }
    fn hash_field(
        &mut self,
        at: &'a [u8],
        field: RdbString<'a>,
        value: RdbString<'a>,
        _ttl: FieldTtl,
    ) -> Result<(), crate::rdb::Error> {
        self.string(at, field);
        // The value's encoding follows the field's; `at` covers the field
        // only, so examine the value's bytes without a length check.
        if let RdbString::Raw(b) = value {
            let base = self.offset(b);
            self.text(base, b);
        }
        Ok(())
    }
    fn quicklist_plain(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), crate::rdb::Error> {
        self.string(at, s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_lengths_are_noticed_and_canonical_ones_are_not() {
        assert!(wide_length(&[0x40, 0x05]).is_some());
        assert!(wide_length(&[0x40, 0x40]).is_none());
        assert!(wide_length(&[0x80, 0, 0, 0, 5]).is_some());
        assert!(wide_length(&[0x80, 0, 0, 0x40, 0]).is_none());
        assert!(wide_length(&[0x05]).is_none());
    }

    #[test]
    fn a_non_text_byte_in_text_and_a_zero_run_score() {
        let file = b"the quick brown fox jumps over\x01the lazy dog".to_vec();
        let mut a = Anomalies {
            file: &file,
            reasons: Vec::new(),
            score: 0,
        };
        a.text(0, &file);
        assert_eq!(a.reasons.len(), 1);
        assert_eq!(a.reasons[0].0, 30);
        let z = b"abcdefgh\0\0\0\0\0\0\0\0ijklmnopqrstuvwxyz".to_vec();
        let mut b = Anomalies {
            file: &z,
            reasons: Vec::new(),
            score: 0,
        };
        b.text(0, &z);
        assert!(
            b.reasons.iter().any(|r| r.1.contains("zero") && r.0 == 8),
            "{:?}",
            b.reasons
        );
        // Binary data is not "text with odd bytes".
        let bin: Vec<u8> = (0..=255).collect();
        let mut c = Anomalies {
            file: &bin,
            reasons: Vec::new(),
            score: 0,
        };
        c.text(0, &bin);
        assert_eq!(c.score, 0);
    }
}
