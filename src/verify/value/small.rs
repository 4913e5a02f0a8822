//! The fast path of [`super::check_value_with`] for the values most files
//! are made of: a packed blob stored raw (intset, listpack, ziplist), a
//! quicklist of packed nodes, or a hashtable set, hash or zset of a few
//! raw strings.
//!
//! A file of small keys spends more on setting up a full walk (the nom
//! walker, a [`super::Checker`], member tables) than on checking the few
//! elements of each value. Here the value is read with plain index
//! arithmetic ([`crate::rdb::extent::string`], the framer's reader) and
//! its elements by the encoding modules' own walks, and members are
//! compared with each other directly, there being few ([`FEW`] of a
//! hashtable value, [`ELEMENTS`] elements of a packed one).
//!
//! [`elements`] answers only for a value that passes: its element count,
//! the one the full path counts. For anything else (an error anywhere, LZF,
//! integer-encoded members, more members, a rarer type) it answers `None`,
//! and the full path walks the value and names what is wrong. It never accepts what the full path rejects: the tests compare
//! the two on every fixture value and on damaged copies, and so does the
//! `rdb_value` fuzz target.

use crate::encoding::intset::Intset;
use crate::encoding::listpack::Listpack;
use crate::encoding::ziplist::Ziplist;
use crate::encoding::{Element, PackedElements, same_bytes};
use crate::rdb::ValueType;
use crate::rdb::consts::{QUICKLIST_NODE_CONTAINER_PACKED, RDB_32BITLEN};
use crate::rdb::extent;
use crate::rdb::primitives::RdbString;

/// Most members (set members, zset members, hash fields) a hashtable value
/// may have here. Comparing each with those before costs less than any
/// table up to about this many; past it, the full path's tables do.
const FEW: usize = 8;

/// Most elements a packed value may have here: [`FEW`] pairs, or twice as
/// many set members.
const ELEMENTS: usize = 2 * FEW;

/// The element count of a value of type `t` that passes every check of
/// the full path, or `None` when it does not or is not one of the common
/// layouts handled here.
#[inline(always)]
pub(super) fn elements(t: ValueType, value: &[u8]) -> Option<u64> {
    use ValueType::*;
    match t {
        HashListpack => tuples::<2>(&listpack(value)?, |_| true),
        ZsetListpack => tuples::<2>(&listpack(value)?, super::valid_score),
        SetListpack => tuples::<1>(&listpack(value)?, |_| true),
        SetIntset => {
            let intset = Intset::parse(raw_blob(value)?).ok()?;
            intset.check_values().ok().map(|n| n as u64)
        }
        ListQuicklist2 => quicklist2(value),
        HashZiplist => tuples::<2>(&ziplist(value)?, |_| true),
        ZsetZiplist => tuples::<2>(&ziplist(value)?, super::valid_score),
        ListZiplist => count(&Ziplist::parse(raw_blob(value)?).ok()?),
        ListQuicklist => quicklist(value),
        SetHashtable => hashtable::<1>(value, |_, _| Some(0)),
        HashHashtable => hashtable::<2>(value, |value, at| {
            // The value: any string but LZF, which has its own checks.
            match extent::string(value, at)? {
                (RdbString::Raw(_) | RdbString::Int(_), end) => Some(end - at),
                _ => None,
            }
        }),
        ZsetV2 => hashtable::<2>(value, |value, at| {
            let score = value.get(at..at + 8)?;
            let score = f64::from_le_bytes(score.try_into().ok()?);
            (!score.is_nan()).then_some(8)
        }),
        _ => None,
    }
}

/// The bytes of the value's one string, when stored raw.
#[inline(always)]
fn raw_blob(value: &[u8]) -> Option<&[u8]> {
    match extent::string(value, 0)? {
        (RdbString::Raw(blob), _) => Some(blob),
        _ => None,
    }
}

/// A listpack of at most [`ELEMENTS`] elements, or one that does not say
/// how many (the walk finds out).
#[inline(always)]
fn listpack(value: &[u8]) -> Option<Listpack<'_>> {
    let lp = Listpack::parse(raw_blob(value)?).ok()?;
    (usize::from(lp.declared_len()) <= ELEMENTS
        || lp.declared_len() == crate::encoding::listpack::LP_HDR_NUMELE_UNKNOWN)
        .then_some(lp)
}

/// [`listpack`] for a ziplist.
#[inline(always)]
fn ziplist(value: &[u8]) -> Option<Ziplist<'_>> {
    let zl = Ziplist::parse(raw_blob(value)?).ok()?;
    (usize::from(zl.declared_len()) <= ELEMENTS || zl.declared_len() == u16::MAX).then_some(zl)
}

/// The elements of a valid packed list.
#[inline(always)]
fn count<'b>(packed: &impl PackedElements<'b>) -> Option<u64> {
    packed
        .try_for_each_element(|_| (), |_| Ok(()))
        .ok()
        .map(|n| n as u64)
}

/// The elements of a packed set, zset or hash read as tuples of `W`, as
/// [`super::Checker::tuples`] reads them: whole tuples, the first of each
/// unlike every other, and `second` true of the second of each (a score).
/// Returns the number of tuples.
#[inline(always)]
fn tuples<'b, const W: usize>(
    packed: &impl PackedElements<'b>,
    second: impl Fn(Element<'b>) -> bool,
) -> Option<u64> {
    let mut read = [Element::Int(0); ELEMENTS];
    let elements = packed.small_elements(&mut read)?;
    if elements.len() % W != 0 {
        return None;
    }
    if W > 1 {
        let mut at = 1;
        while let Some(&e) = elements.get(at) {
            if !second(e) {
                return None;
            }
            at += W;
        }
    }
    // Two or three members (most small values) are compared in line.
    let same = |a: usize, b: usize| match (elements.get(a * W), elements.get(b * W)) {
        (Some(a), Some(b)) => a.same_string(b),
        _ => true,
    };
    let distinct = match elements.len() / W {
        0 | 1 => true,
        2 => !same(0, 1),
        3 => !same(0, 1) && !same(0, 2) && !same(1, 2),
        _ => distinct::<W>(elements),
    };
    distinct.then_some((elements.len() / W) as u64)
}

/// No two tuples of `elements` (of `W` each) start with the same string.
/// Out of line: inlined, the comparisons cost more than the call.
#[inline(never)]
fn distinct<const W: usize>(elements: &[Element<'_>]) -> bool {
    let mut rest = elements;
    while let Some((member, later)) = rest.split_first() {
        // The members of the later tuples: every `W`th of `later`.
        let mut i = W - 1;
        while let Some(other) = later.get(i) {
            if member.same_string(other) {
                return false;
            }
            i += W;
        }
        rest = later.get(W - 1..).unwrap_or_default();
    }
    true
}

/// A length at `b[pos..]` in its one- or two-byte form (every count this
/// path handles fits either), and where what follows starts.
#[inline(always)]
fn short_length(b: &[u8], pos: usize) -> Option<(usize, usize)> {
    let first = *b.get(pos)?;
    if first < 0x40 {
        return Some((usize::from(first), pos + 1));
    }
    if first < 0x80 {
        let lo = *b.get(pos + 1)?;
        return Some(((usize::from(first & 0x3f) << 8) | usize::from(lo), pos + 2));
    }
    // The 32-bit form, for counts written by a tool rather than a server.
    if first == RDB_32BITLEN {
        let w: [u8; 4] = b.get(pos + 1..pos + 5)?.try_into().ok()?;
        return Some((usize::try_from(u32::from_be_bytes(w)).ok()?, pos + 5));
    }
    None
}

/// A quicklist v2 (RDB 10+) of packed nodes, each a raw listpack: the
/// sum of their elements. A plain node (an element of 1 GB or more) takes
/// the full path.
fn quicklist2(value: &[u8]) -> Option<u64> {
    let (nodes, mut at) = short_length(value, 0)?;
    let mut total = 0u64;
    // Each node reads at least two bytes, so the count is bounded by the
    // input, as `parse_count` requires.
    for _ in 0..nodes {
        if *value.get(at)? != QUICKLIST_NODE_CONTAINER_PACKED as u8 {
            return None;
        }
        let (RdbString::Raw(blob), end) = extent::string(value, at + 1)? else {
            return None;
        };
        total = total.saturating_add(count(&Listpack::parse(blob).ok()?)?);
        at = end;
    }
    Some(total)
}

/// A quicklist v1 (RDB 7..9) of raw ziplist nodes: the sum of their
/// elements.
fn quicklist(value: &[u8]) -> Option<u64> {
    let (nodes, mut at) = short_length(value, 0)?;
    let mut total = 0u64;
    for _ in 0..nodes {
        let (RdbString::Raw(blob), end) = extent::string(value, at)? else {
            return None;
        };
        total = total.saturating_add(count(&Ziplist::parse(blob).ok()?)?);
        at = end;
    }
    Some(total)
}

/// A set, hash or zset stored as a count and then, per member (or field),
/// a raw string and what `rest` reads after it (`W == 2`: a value or a
/// score; returns its length): at most [`FEW`] members, each unlike the
/// others. Returns the count.
#[inline(always)]
fn hashtable<const W: usize>(
    value: &[u8],
    rest: impl Fn(&[u8], usize) -> Option<usize>,
) -> Option<u64> {
    let (n, mut at) = short_length(value, 0)?;
    if n > FEW {
        return None;
    }
    let mut members: [&[u8]; FEW] = [&[]; FEW];
    for i in 0..n {
        let (RdbString::Raw(member), end) = extent::string(value, at)? else {
            return None;
        };
        let earlier = members.get(..i)?;
        if earlier.iter().any(|m| same_bytes(m, member)) {
            return None;
        }
        *members.get_mut(i)? = member;
        at = end;
        if W > 1 {
            at += rest(value, at)?;
        }
    }
    Some(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::listpack::test_encoder::{Item, build};
    use crate::rdb::writer::{write_length, write_string};
    use crate::rdb::{Header, Record, Records};
    use crate::verify::value::{Scratch, check_value_with};

    /// The outcome of the full walk alone and of the fast path (with the
    /// full walk behind it), as text; and whether the fast path answered.
    fn both(file: &[u8], header: &Header, t: ValueType, value: &[u8]) -> (String, String, bool) {
        let full = check_value_with(
            file,
            header,
            t,
            value,
            &mut Scratch::default().without_fast_path(),
        );
        let fast = check_value_with(file, header, t, value, &mut Scratch::default());
        (
            format!("{full:?}"),
            format!("{fast:?}"),
            elements(t, value).is_some(),
        )
    }

    fn agree(file: &[u8], header: &Header, t: ValueType, value: &[u8]) -> bool {
        let (full, fast, answered) = both(file, header, t, value);
        assert_eq!(fast, full, "{t:?} {value:02x?}");
        if answered {
            assert!(full.starts_with("Ok("), "fast path accepted: {full}");
        }
        answered
    }

    /// Every value of every fixture: where the fast path answers, the full
    /// walk passes it with the same count.
    #[test]
    fn agrees_with_the_full_walk_on_every_fixture_value() {
        let files = crate::test_support::rdb_fixtures();
        if files.is_empty() {
            eprintln!("note: no fixtures; skipping");
            return;
        }
        let (mut values, mut answered) = (0, 0);
        for (_, data) in &files {
            let Ok(header) = Header::parse(data) else {
                continue;
            };
            for item in Records::new(data, header).flatten() {
                if let Record::Key(k) = item.record {
                    values += 1;
                    answered += usize::from(agree(data, &header, k.value_type, k.value));
                }
            }
        }
        assert!(
            answered > 100 && answered < values,
            "{answered} of {values}"
        );
    }

    /// Damaged copies of the fixture values the fast path answers for:
    /// every byte set to values at the edges of the length and entry
    /// encodings, flipped, and every truncation.
    #[test]
    fn agrees_with_the_full_walk_on_damaged_values() {
        let files = crate::test_support::rdb_fixtures();
        let mut seen = std::collections::HashSet::new();
        let mut checked = 0u64;
        for (_, data) in &files {
            let Ok(header) = Header::parse(data) else {
                continue;
            };
            for item in Records::new(data, header).flatten() {
                let Record::Key(k) = item.record else {
                    continue;
                };
                let t = k.value_type;
                // One value of each type and size per file suffices.
                if k.value.len() > 160
                    || elements(t, k.value).is_none()
                    || !seen.insert((t as u8, k.value.len()))
                {
                    continue;
                }
                let mut work = k.value.to_vec();
                for i in 0..work.len() {
                    let original = work[i];
                    for v in [
                        0x00, 0x01, 0x02, 0x3F, 0x40, 0x7F, 0x80, 0xC0, 0xF0, 0xFE, 0xFF,
                    ]
                    .into_iter()
                    .chain([
                        original ^ 0x01,
                        original ^ 0xFF,
                        original.wrapping_add(1),
                    ]) {
                        work[i] = v;
                        agree(&work, &header, t, &work);
                        checked += 1;
                    }
                    work[i] = original;
                    agree(&work[..i], &header, t, &work[..i]);
                }
            }
        }
        if !files.is_empty() {
            assert!(checked > 10_000, "{checked}");
        }
    }

    fn header() -> Header {
        Header::parse(b"REDIS0012").unwrap()
    }

    fn packed(items: &[Item]) -> Vec<u8> {
        let mut value = Vec::new();
        write_string(&mut value, &build(items));
        value
    }

    /// Members that are equal however they are stored (an integer entry
    /// and its decimal text), at every pair of places, and the scores and
    /// counts around them: the fast path answers only when the full walk
    /// passes the value.
    #[test]
    fn duplicates_scores_and_counts_in_packed_values() {
        let h = header();
        let s = |t: &str| Item::Str(t.as_bytes().to_vec());
        let mut answered = 0;
        for n in 1..=ELEMENTS + 1 {
            let members: Vec<Item> = (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        Item::Int(i as i64)
                    } else {
                        s(&format!("m{i}"))
                    }
                })
                .collect();
            for (from, to) in (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))) {
                for twin in [members[from].clone(), s(&format!("{from}"))] {
                    let mut dup = members.clone();
                    dup[to] = twin;
                    let value = packed(&dup);
                    agree(&value, &h, ValueType::SetListpack, &value);
                }
            }
            for t in [
                ValueType::SetListpack,
                ValueType::HashListpack,
                ValueType::ZsetListpack,
            ] {
                let value = packed(&members);
                answered += usize::from(agree(&value, &h, t, &value));
                let pairs: Vec<Item> = members.iter().flat_map(|m| [m.clone(), s("2.5")]).collect();
                let value = packed(&pairs);
                answered += usize::from(agree(&value, &h, t, &value));
            }
        }
        for score in ["nan", "inf", "-1e5", "abc", "", "1.", "0x1"] {
            let value = packed(&[s("a"), s(score)]);
            agree(&value, &h, ValueType::ZsetListpack, &value);
        }
        assert!(answered > 20, "{answered}");
    }

    /// Hashtable sets, hashes and zsets of raw, integer and LZF strings,
    /// with and without duplicates.
    #[test]
    fn hashtable_values_of_few_members() {
        let h = header();
        let raw = |s: &str| {
            let mut out = Vec::new();
            write_string(&mut out, s.as_bytes());
            out
        };
        let int10 = vec![0xc0, 10];
        // An LZF string: the encoding marker, compressed length 4,
        // inflated length 3, and one literal run of three bytes.
        let lzf = vec![0xc3, 4, 3, 2, b'a', b'b', b'c'];
        let strings = [
            raw("a"),
            raw("b"),
            raw(""),
            raw("10"),
            int10.clone(),
            raw("a"),
            lzf,
        ];
        let mut answered = 0;
        for n in 0..=FEW + 1 {
            for pick in 0..strings.len() {
                let members: Vec<&Vec<u8>> = (0..n)
                    .map(|i| {
                        if i + 1 == n {
                            &strings[pick]
                        } else {
                            &strings[i % 4]
                        }
                    })
                    .collect();
                let mut set = Vec::new();
                write_length(&mut set, n as u64);
                let mut hash = set.clone();
                let mut zset = set.clone();
                for (i, m) in members.iter().enumerate() {
                    set.extend_from_slice(m);
                    hash.extend_from_slice(m);
                    hash.extend_from_slice(&strings[(i + pick) % strings.len()]);
                    zset.extend_from_slice(m);
                    let score = if i == pick { f64::NAN } else { i as f64 };
                    zset.extend_from_slice(&score.to_le_bytes());
                }
                for (t, value) in [
                    (ValueType::SetHashtable, &set),
                    (ValueType::HashHashtable, &hash),
                    (ValueType::ZsetV2, &zset),
                ] {
                    answered += usize::from(agree(value, &h, t, value));
                }
            }
        }
        assert!(answered > 10, "{answered}");
    }
}
