//! Two files compared key by key: added, removed, changed, per db. A key
//! has changed when its `DEBUG DIGEST-VALUE` differs (type and contents)
//! or its expiry time does. Module values, which have no offline digest,
//! are compared by their serialized bytes.
//!
//! Memory: one entry per key of the first file (a 128-bit fingerprint of
//! db and key, the 20-byte digest, the expiry: about 80 bytes with the
//! table's overhead), never the values or the key names; the second file
//! is streamed against it, and with `list` the first is read again for the
//! names of removed keys. Key lists, when asked for, are kept in full.

use super::digest::{Digest, DigestError, ScoreFormat, value_digest};
use super::keys::{KeyEntry, Keys};
use crate::rdb::Header;
use crate::rdb::error::Error;
use crate::verify::fingerprint::fingerprint128;
use sha1::{Digest as _, Sha1};
use std::collections::{BTreeMap, HashMap};

/// Differences in one db.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbDiff {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    /// Key names, when asked for.
    pub added_keys: Vec<Vec<u8>>,
    pub removed_keys: Vec<Vec<u8>>,
    pub changed_keys: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diff {
    /// Only dbs with at least one difference.
    pub dbs: BTreeMap<u64, DbDiff>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }
    pub fn totals(&self) -> (u64, u64, u64) {
        self.dbs.values().fold((0, 0, 0), |(a, r, c), d| {
            (a + d.added, r + d.removed, c + d.changed)
        })
    }
}

/// Which file an error came from.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffError {
    /// 0 for the first file, 1 for the second.
    pub file: usize,
    pub error: Error,
}

/// What identifies a key's contents: its value digest (or, for a module
/// value, a hash of its bytes) and its expiry.
type State = (Digest, Option<i64>);

fn state(header: &Header, e: &KeyEntry<'_>) -> Result<State, Error> {
    // One score format for both files, so a file written by an older
    // server compares equal to the same data written by a newer one.
    let d = match value_digest(header, e, ScoreFormat::Shortest) {
        Ok(d) => d,
        Err(DigestError::Module(_)) => Sha1::digest(e.record.value).into(),
        Err(DigestError::Corrupt(err)) => return Err(err),
    };
    Ok((d, e.expire_ms))
}

fn slot(db: u64, key: &[u8]) -> u128 {
    fingerprint128(key) ^ u128::from(db).rotate_left(64)
}

/// Compares `a` (before) with `b` (after). With `list`, the key names of
/// every difference are collected.
pub fn diff(a: &[u8], ha: Header, b: &[u8], hb: Header, list: bool) -> Result<Diff, DiffError> {
    let fail = |file| move |error| DiffError { file, error };
    let mut before: HashMap<u128, State> = HashMap::new();
    for e in Keys::new(a, ha) {
        let e = e.map_err(fail(0))?;
        before.insert(slot(e.db, &e.key), state(&ha, &e).map_err(fail(0))?);
    }
    let mut out = Diff::default();
    for e in Keys::new(b, hb) {
        let e = e.map_err(fail(1))?;
        let now = state(&hb, &e).map_err(fail(1))?;
        match before.remove(&slot(e.db, &e.key)) {
            None => {
                let d = out.dbs.entry(e.db).or_default();
                d.added += 1;
                if list {
                    d.added_keys.push(e.key.into_owned());
                }
            }
            Some(was) if was != now => {
                let d = out.dbs.entry(e.db).or_default();
                d.changed += 1;
                if list {
                    d.changed_keys.push(e.key.into_owned());
                }
            }
            Some(_) => {}
        }
    }
    if before.is_empty() {
        return Ok(out);
    }
    // What is left was removed; read the first file again for db and name.
    for e in Keys::new(a, ha) {
        let e = e.map_err(fail(0))?;
        if before.remove(&slot(e.db, &e.key)).is_some() {
            let d = out.dbs.entry(e.db).or_default();
            d.removed += 1;
            if list {
                d.removed_keys.push(e.key.into_owned());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::testrdb::{Rdb, sample};

    fn run(a: &[u8], b: &[u8]) -> Diff {
        let h = |d: &[u8]| Header::parse(d).expect("header");
        diff(a, h(a), b, h(b), true).expect("diff")
    }

    #[test]
    fn same_data_no_difference() {
        assert!(run(&sample(), &sample()).is_empty());
    }

    #[test]
    fn added_removed_changed_per_db() {
        let before = Rdb::new()
            .db(0)
            .string(b"same", b"1")
            .string(b"gone", b"1")
            .string(b"value", b"1")
            .string(b"ttl", b"1")
            .finish();
        let after = Rdb::new()
            .db(0)
            .string(b"same", b"1")
            .string(b"value", b"2")
            .expire(5)
            .string(b"ttl", b"1")
            .db(3)
            .string(b"same", b"1")
            .finish();
        let d = run(&before, &after);
        assert_eq!(d.totals(), (1, 1, 2));
        assert_eq!(d.dbs[&0].removed_keys, vec![b"gone".to_vec()]);
        assert_eq!(
            d.dbs[&0].changed_keys,
            vec![b"value".to_vec(), b"ttl".to_vec()]
        );
        // The same key in another db is another key.
        assert_eq!(d.dbs[&3].added_keys, vec![b"same".to_vec()]);
    }

    #[test]
    fn errors_name_the_file() {
        let good = sample();
        let bad = &good[..good.len() - 12];
        let h = |d: &[u8]| Header::parse(d).expect("header");
        let e = diff(&good, h(&good), bad, h(bad), false).expect_err("truncated");
        assert_eq!(e.file, 1);
    }
}
