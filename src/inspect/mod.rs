//! Looking inside a backup: every key with its metadata, values decoded to
//! their logical elements, server-exact digests, differences between two
//! files, and the commands that recreate the data.
//!
//! Built on the RDB framing iterator ([`crate::rdb::Records`]) and the one
//! value walker ([`crate::rdb::value::walk_value`]); pure functions of
//! bytes like the rest of the library.
//!
//! ```text
//! keys       Keys iterator: db, key, type, encoding, expiry, size in the file
//! decode     ValueVisitor -> logical elements -> ElementSink
//! value      a whole value materialised (get, sample, export)
//! digest     DEBUG DIGEST / DEBUG DIGEST-VALUE
//! fpconv     doubles printed as Redis 7.2+ / Valkey print scores
//! diff       two files compared key by key, by digest
//! dump       DUMP payloads and RESP commands (export)
//! sample     reservoir sampling of keys
//! glob       Redis's KEYS/SCAN MATCH glob
//! ```

pub mod decode;
pub mod diff;
pub mod digest;
pub mod dump;
pub mod fpconv;
pub mod glob;
pub mod keys;
pub mod sample;
pub mod value;

pub use decode::{Detail, ElementSink, decode_value};
pub use keys::{Filter, KeyEntry, Keys, element_count};

/// A tiny RDB written byte by byte for the unit tests of this module:
/// plain (non-packed) layouts only, so every byte is explained here.
/// Server-written files are exercised by the integration tests.
#[cfg(test)]
pub(crate) mod testrdb {
    /// A length below 64: one byte, `00xxxxxx`.
    fn len(out: &mut Vec<u8>, n: usize) {
        assert!(n < 64);
        out.push(n as u8);
    }

    /// A raw string: length, bytes.
    pub fn string(out: &mut Vec<u8>, s: &[u8]) {
        len(out, s.len());
        out.extend_from_slice(s);
    }

    pub struct Rdb(Vec<u8>);

    impl Rdb {
        /// `REDIS0011`.
        pub fn new() -> Rdb {
            Rdb(b"REDIS0011".to_vec())
        }
        /// SELECTDB (0xFE) n.
        pub fn db(mut self, n: u8) -> Rdb {
            self.0.extend_from_slice(&[0xFE, n]);
            self
        }
        /// EXPIRETIME_MS (0xFC), 8 bytes little-endian.
        pub fn expire(mut self, ms: i64) -> Rdb {
            self.0.push(0xFC);
            self.0.extend_from_slice(&ms.to_le_bytes());
            self
        }
        /// Type 0: a string.
        pub fn string(mut self, key: &[u8], value: &[u8]) -> Rdb {
            self.0.push(0);
            string(&mut self.0, key);
            string(&mut self.0, value);
            self
        }
        /// Type 1 (linked list) or 2 (hashtable set): count, elements.
        pub fn items(mut self, t: u8, key: &[u8], items: &[&[u8]]) -> Rdb {
            self.0.push(t);
            string(&mut self.0, key);
            len(&mut self.0, items.len());
            for i in items {
                string(&mut self.0, i);
            }
            self
        }
        /// Type 5 (zset v2): count, then member and 8-byte LE double.
        pub fn zset(mut self, key: &[u8], members: &[(&[u8], f64)]) -> Rdb {
            self.0.push(5);
            string(&mut self.0, key);
            len(&mut self.0, members.len());
            for (m, s) in members {
                string(&mut self.0, m);
                self.0.extend_from_slice(&s.to_le_bytes());
            }
            self
        }
        /// Type 4 (hashtable hash): count, then field and value.
        pub fn hash(mut self, key: &[u8], pairs: &[(&[u8], &[u8])]) -> Rdb {
            self.0.push(4);
            string(&mut self.0, key);
            len(&mut self.0, pairs.len());
            for (f, v) in pairs {
                string(&mut self.0, f);
                string(&mut self.0, v);
            }
            self
        }
        /// EOF (0xFF) and a zero checksum (checking disabled).
        pub fn finish(mut self) -> Vec<u8> {
            self.0.push(0xFF);
            self.0.extend_from_slice(&[0; 8]);
            self.0
        }
    }

    /// db 0: `s` = "1" (expiring), list `l` = [x, y], set `m` = {a, b};
    /// db 2: zset `z` = {(a, 1.5)}, hash `h` = {f: v}.
    pub fn sample() -> Vec<u8> {
        Rdb::new()
            .db(0)
            .expire(4_102_444_800_000)
            .string(b"s", b"1")
            .items(1, b"l", &[b"x", b"y"])
            .items(2, b"m", &[b"a", b"b"])
            .db(2)
            .zset(b"z", &[(b"a", 1.5)])
            .hash(b"h", &[(b"f", b"v")])
            .finish()
    }
}
