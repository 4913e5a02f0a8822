//! Duplicate top-level keys, which make every server abort a load and
//! which no existing checker notices.
//!
//! Memory: one 64-bit fingerprint per key (a sorted vector per db would do
//! the same; a hash set keeps it one pass). Fingerprints that collide are
//! only suspects; a second framing pass, run only when there are suspects,
//! compares the real keys, so a report never rests on a hash alone.

use super::fingerprint::{Prehashed, fingerprint64};
use crate::rdb::{Header, Record, Records};
use std::collections::{HashMap, HashSet};

#[derive(Default)]
pub struct DupKeys {
    seen: HashMap<u64, HashSet<u64, Prehashed>>,
    suspects: HashSet<(u64, u64)>,
}

pub struct Duplicate {
    pub db: u64,
    pub key: Vec<u8>,
    pub first_offset: u64,
    pub offset: u64,
}

impl DupKeys {
    pub fn insert(&mut self, db: u64, key: &[u8], _offset: u64) {
        let h = fingerprint64(key);
        if !self.seen.entry(db).or_default().insert(h) {
            self.suspects.insert((db, h));
        }
    }

    /// Confirms suspects with a second pass over the file.
    pub fn finish(self, data: &[u8], header: Header) -> Vec<Duplicate> {
        if self.suspects.is_empty() {
            return Vec::new();
        }
        drop(self.seen);
        let mut first: HashMap<(u64, Vec<u8>), u64> = HashMap::new();
        let mut out = Vec::new();
        let mut db = 0u64;
        for item in Records::new(data, header) {
            let Ok(item) = item else { break };
            match item.record {
                Record::SelectDb { db: n } => db = n,
                Record::Key(k) => {
                    let Ok(key) = k.key.to_bytes() else { continue };
                    if !self.suspects.contains(&(db, fingerprint64(&key))) {
                        continue;
                    }
                    match first.get(&(db, key.to_vec())) {
                        Some(&at) => out.push(Duplicate {
                            db,
                            key: key.to_vec(),
                            first_offset: at,
                            offset: item.offset,
                        }),
                        None => {
                            first.insert((db, key.to_vec()), item.offset);
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}
