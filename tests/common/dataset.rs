//! A seeded random dataset written to a live server through the RESP
//! client: every type, small and big encodings (listpack/ziplist/intset
//! and hashtable/skiplist/quicklist), integer strings, streams with
//! consumer groups and deleted entries, far-future expiries, binary keys,
//! dbs 0, 1 and 5, hash field TTLs where the server has them. Shared by the
//! live round-trip and inspection tests.

use super::{Client, Reply, Xorshift};
use std::collections::BTreeMap;

/// 2100-01-01T00:00:00Z: far enough that no key expires during the test.
pub const FAR_FUTURE_MS: u64 = 4_102_444_800_000;
pub const DBS: [u64; 3] = [0, 1, 5];

pub type Cmd = Vec<Vec<u8>>;

pub fn cmd(parts: &[&[u8]]) -> Cmd {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// What the dataset should hold, tracked while writing it.
#[derive(Default)]
pub struct Written {
    /// db -> key -> has an expiry
    pub keys: BTreeMap<u64, BTreeMap<Vec<u8>, bool>>,
    /// Hash keys given at least one field TTL.
    pub field_ttl_keys: u64,
}

/// A seeded random dataset, written through `c`.
pub struct Dataset<'a> {
    pub c: &'a mut Client,
    pub rng: Xorshift,
    pub written: Written,
    pub hfe: bool,
}

impl Dataset<'_> {
    fn send(&mut self, cmds: &[Cmd]) {
        for (r, c) in self.c.pipeline(cmds).iter().zip(cmds) {
            if let Reply::Error(e) = r {
                panic!(
                    "server refused {}: {e}",
                    String::from_utf8_lossy(&c.concat())
                );
            }
        }
    }

    fn key(&mut self, db: u64, prefix: &str) -> Vec<u8> {
        let mut k = format!("{prefix}:{}:{}", db, self.rng.word(6)).into_bytes();
        if self.rng.chance(10) {
            // Binary keys: any byte, including invalid UTF-8.
            k.extend(self.rng.bytes(4));
        }
        k
    }

    fn value(&mut self) -> Vec<u8> {
        let kind = self.rng.below(6);
        let len = self.rng.below(40) as usize;
        match kind {
            0 => self.rng.below(1_000_000).to_string().into_bytes(),
            1 => self.rng.bytes(1 + len / 2),
            2 => vec![b'z'; 50 + len * 8], // compressible
            _ => self.rng.word(1 + len).into_bytes(),
        }
    }

    /// Records `key` and maybe gives it a far-future expiry.
    fn finish_key(&mut self, db: u64, key: Vec<u8>) {
        let expires = self.rng.chance(20);
        if expires {
            let at = (FAR_FUTURE_MS + self.rng.below(1_000_000)).to_string();
            self.send(&[cmd(&[b"PEXPIREAT", &key, at.as_bytes()])]);
        }
        let keys = self.written.keys.entry(db).or_default();
        assert!(
            keys.insert(key, expires).is_none(),
            "the dataset wrote a key twice"
        );
    }

    fn string(&mut self, db: u64) {
        let k = self.key(db, "str");
        let v = if self.rng.chance(30) {
            // Integer-encoded, including negatives and 64-bit values.
            (self.rng.next_u64() as i64 >> self.rng.below(60))
                .to_string()
                .into_bytes()
        } else {
            self.value()
        };
        self.send(&[cmd(&[b"SET", &k, &v])]);
        self.finish_key(db, k);
    }

    fn list(&mut self, db: u64, big: bool) {
        let k = self.key(db, "list");
        let n = if big {
            600 + self.rng.below(1500)
        } else {
            1 + self.rng.below(10)
        };
        let mut cmds = Vec::new();
        for chunk in 0..n.div_ceil(100) {
            let mut c = cmd(&[b"RPUSH", &k]);
            for _ in chunk * 100..(chunk * 100 + 100).min(n) {
                c.push(self.value());
            }
            cmds.push(c);
        }
        self.send(&cmds);
        self.finish_key(db, k);
    }

    fn set(&mut self, db: u64, big: bool, ints: bool) {
        let k = self.key(db, "set");
        let n = if big {
            200 + self.rng.below(700)
        } else {
            1 + self.rng.below(12)
        };
        let mut c = cmd(&[b"SADD", &k]);
        for i in 0..n {
            let m = if ints {
                (i as i64 * 7 - 1000 + self.rng.below(5) as i64)
                    .to_string()
                    .into_bytes()
            } else {
                format!("m{i}:{}", self.rng.word(5)).into_bytes()
            };
            c.push(m);
        }
        self.send(&[c]);
        self.finish_key(db, k);
    }

    fn zset(&mut self, db: u64, big: bool) {
        let k = self.key(db, "zset");
        let n = if big {
            150 + self.rng.below(400)
        } else {
            1 + self.rng.below(12)
        };
        let mut c = cmd(&[b"ZADD", &k]);
        for i in 0..n {
            let score = match self.rng.below(4) {
                0 => (self.rng.below(1000) as i64 - 500).to_string(),
                1 => format!("{}.{}", self.rng.below(100), self.rng.below(1000)),
                2 => "inf".into(),
                _ => format!("-{}e-3", self.rng.below(10_000)),
            };
            c.push(score.into_bytes());
            c.push(format!("z{i}:{}", self.rng.word(4)).into_bytes());
        }
        self.send(&[c]);
        self.finish_key(db, k);
    }

    fn hash(&mut self, db: u64, big: bool) {
        let k = self.key(db, "hash");
        let n = if big {
            150 + self.rng.below(600)
        } else {
            1 + self.rng.below(12)
        };
        let mut c = cmd(&[b"HSET", &k]);
        let mut fields = Vec::new();
        for i in 0..n {
            let f = format!("f{i}:{}", self.rng.word(3)).into_bytes();
            c.push(f.clone());
            c.push(self.value());
            fields.push(f);
        }
        self.send(&[c]);
        if self.hfe && self.rng.chance(30) {
            // Far-future field TTLs (Redis 7.4+, Valkey 9).
            let at = FAR_FUTURE_MS.to_string();
            let picked = 1 + self.rng.below(fields.len() as u64) as usize;
            let count = picked.to_string();
            let mut c = cmd(&[
                b"HPEXPIREAT",
                &k,
                at.as_bytes(),
                b"FIELDS",
                count.as_bytes(),
            ]);
            c.extend(fields.into_iter().take(picked));
            self.send(&[c]);
            self.written.field_ttl_keys += 1;
        }
        self.finish_key(db, k);
    }

    fn stream(&mut self, db: u64) {
        let k = self.key(db, "stream");
        let n = 1 + self.rng.below(120);
        let mut cmds = Vec::new();
        let mut ms = 1_700_000_000_000u64;
        let mut ids = Vec::new();
        for seq in 0..n {
            ms += self.rng.below(3);
            let id = format!("{ms}-{seq}");
            let mut c = cmd(&[b"XADD", &k, id.as_bytes()]);
            for f in 0..1 + self.rng.below(4) {
                c.push(format!("field{f}").into_bytes());
                c.push(self.value());
            }
            cmds.push(c);
            ids.push(id);
        }
        self.send(&cmds);
        if self.rng.chance(70) {
            self.send(&[
                cmd(&[b"XGROUP", b"CREATE", &k, b"g1", b"0"]),
                cmd(&[
                    b"XREADGROUP",
                    b"GROUP",
                    b"g1",
                    b"alice",
                    b"COUNT",
                    b"10",
                    b"STREAMS",
                    &k,
                    b">",
                ]),
                cmd(&[
                    b"XREADGROUP",
                    b"GROUP",
                    b"g1",
                    b"bob",
                    b"COUNT",
                    b"5",
                    b"STREAMS",
                    &k,
                    b">",
                ]),
                cmd(&[b"XACK", &k, b"g1", ids[0].as_bytes()]),
                cmd(&[b"XGROUP", b"CREATE", &k, b"g2", b"$"]),
            ]);
        }
        if n > 3 && self.rng.chance(30) {
            self.send(&[cmd(&[b"XDEL", &k, ids[1].as_bytes()])]);
        }
        self.finish_key(db, k);
    }

    pub fn write(&mut self) {
        for db in DBS {
            let d = db.to_string();
            self.send(&[cmd(&[b"SELECT", d.as_bytes()])]);
            let n = if db == 0 { 300 } else { 80 };
            for _ in 0..n {
                match self.rng.below(12) {
                    0..=2 => self.string(db),
                    3 => self.list(db, false),
                    4 => {
                        let big = self.rng.chance(25);
                        self.list(db, big)
                    }
                    5 => self.set(db, false, true),
                    6 => {
                        let big = self.rng.chance(40);
                        let ints = self.rng.chance(50);
                        self.set(db, big, ints)
                    }
                    7 | 8 => {
                        let big = self.rng.chance(30);
                        self.zset(db, big)
                    }
                    9 | 10 => {
                        let big = self.rng.chance(30);
                        self.hash(db, big)
                    }
                    _ => self.stream(db),
                }
            }
        }
    }
}
