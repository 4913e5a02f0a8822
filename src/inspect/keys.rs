//! Every key of a file with what `keys` reports about it, in file order,
//! from the framing iterator alone: the value is located, not decoded,
//! until a caller asks for more.

use super::decode::{Detail, ElementSink, decode_value};
use crate::rdb::error::{Error, ErrorKind};
use crate::rdb::primitives::parse_string;
use crate::rdb::value::StreamMeta;
use crate::rdb::{Header, KeyRecord, LogicalType, Record, Records, ValueType};
use std::borrow::Cow;

/// One key record and its context.
#[derive(Debug, Clone)]
pub struct KeyEntry<'a> {
    pub db: u64,
    pub key: Cow<'a, [u8]>,
    pub record: KeyRecord<'a>,
    /// Absolute expiry in unix ms, from the EXPIRETIME(_MS) before the key.
    pub expire_ms: Option<i64>,
    /// File offset of the record's type byte.
    pub offset: u64,
    /// Bytes of the record in the file: type byte, key and value.
    pub size: u64,
}

impl KeyEntry<'_> {
    pub fn logical(&self) -> LogicalType {
        self.record.value_type.logical()
    }

    /// The on-disk layout's name, as `verify` reports encodings.
    pub fn encoding(&self) -> &'static str {
        self.record.value_type.checker_name()
    }
}

/// Iterator over the key records of an RDB, tracking SELECTDB and expiry
/// opcodes. Stops after the first framing error, which it yields.
pub struct Keys<'a> {
    file: &'a [u8],
    records: Records<'a>,
    db: u64,
    expire: Option<i64>,
}

impl<'a> Keys<'a> {
    pub fn new(file: &'a [u8], header: Header) -> Self {
        Keys {
            file,
            records: Records::new(file, header),
            db: 0,
            expire: None,
        }
    }

    /// The bytes after what has been read; after the last key, the
    /// checksum and anything that follows the RDB (the commands of an AOF
    /// with an RDB preamble, say).
    pub fn remaining(&self) -> &'a [u8] {
        self.records.remaining()
    }

    fn offset_of(&self, s: &[u8]) -> u64 {
        (s.as_ptr() as usize).saturating_sub(self.file.as_ptr() as usize) as u64
    }
}

impl<'a> Iterator for Keys<'a> {
    type Item = Result<KeyEntry<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let item = match self.records.next()? {
                Ok(item) => item,
                Err(e) => return Some(Err(e)),
            };
            match item.record {
                Record::SelectDb { db } => self.db = db,
                Record::Expire { ms, .. } => self.expire = Some(ms),
                Record::Key(k) => {
                    let expire_ms = self.expire.take();
                    let end = self.offset_of(k.value) + k.value.len() as u64;
                    let key = match k.key.to_bytes() {
                        Ok(b) => b,
                        Err(e) => {
                            let at = self.file.get(item.offset as usize..).unwrap_or_default();
                            return Some(Err(Error::at(at, ErrorKind::Lzf(e))));
                        }
                    };
                    return Some(Ok(KeyEntry {
                        db: self.db,
                        key,
                        record: k,
                        expire_ms,
                        offset: item.offset,
                        size: end.saturating_sub(item.offset),
                    }));
                }
                Record::Eof => return None,
                _ => {}
            }
        }
    }
}

/// Which keys a command looks at (`--db`, `--type`, `--match`,
/// `--min-size`); empty means all.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub db: Option<u64>,
    pub types: Vec<LogicalType>,
    /// A Redis glob (`KEYS` semantics).
    pub pattern: Option<Vec<u8>>,
    /// Minimum record size in the file, in bytes.
    pub min_size: Option<u64>,
}

impl Filter {
    pub fn accepts(&self, e: &KeyEntry<'_>) -> bool {
        self.db.is_none_or(|db| db == e.db)
            && (self.types.is_empty() || self.types.contains(&e.logical()))
            && self.min_size.is_none_or(|m| e.size >= m)
            && self
                .pattern
                .as_deref()
                .is_none_or(|p| super::glob::matches(p, &e.key))
    }
}

/// `len` as `keys` reports it: bytes for a string (`STRLEN`), elements for
/// a collection (`LLEN`, `SCARD`, `ZCARD`, `HLEN`), the stored length for a
/// stream (`XLEN`), 1 for a module value. Nothing is materialised: strings
/// are not inflated, packed blobs are walked in place.
pub fn element_count(header: &Header, e: &KeyEntry<'_>) -> Result<u64, Error> {
    let t = e.record.value_type;
    let value = e.record.value;
    if t == ValueType::String {
        let (_, s) = parse_string(value, "string value")
            .map_err(|err| crate::rdb::error::unwrap_nom(err, value))?;
        return Ok(s.len());
    }
    let mut c = Counter::default();
    decode_value(header, t, value, &mut c)?;
    Ok(c.stream_length.unwrap_or(c.n))
}

#[derive(Default)]
struct Counter {
    n: u64,
    stream_length: Option<u64>,
}

impl ElementSink for Counter {
    fn detail(&self) -> Detail {
        Detail::Count
    }
    fn list_item(&mut self, _: &[u8]) -> Result<(), Error> {
        self.n += 1;
        Ok(())
    }
    fn set_member(&mut self, _: &[u8]) -> Result<(), Error> {
        self.n += 1;
        Ok(())
    }
    fn zset_member(&mut self, _: &[u8], _: f64) -> Result<(), Error> {
        self.n += 1;
        Ok(())
    }
    fn hash_field(&mut self, _: &[u8], _: &[u8], _: Option<i64>) -> Result<(), Error> {
        self.n += 1;
        Ok(())
    }
    fn stream_meta(&mut self, meta: &StreamMeta) -> Result<(), Error> {
        self.stream_length = Some(meta.length);
        Ok(())
    }
    fn module(&mut self, _: &str) -> Result<(), Error> {
        self.n = 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::testrdb::sample;

    fn entries(data: &[u8]) -> Vec<KeyEntry<'_>> {
        let header = Header::parse(data).expect("header");
        Keys::new(data, header)
            .collect::<Result<_, _>>()
            .expect("frames")
    }

    #[test]
    fn keys_carry_db_expiry_and_size() {
        let data = sample();
        let keys = entries(&data);
        let shown: Vec<(u64, &[u8], &str, Option<i64>)> = keys
            .iter()
            .map(|e| (e.db, e.key.as_ref(), e.logical().name(), e.expire_ms))
            .collect();
        assert_eq!(
            shown,
            vec![
                (0, &b"s"[..], "string", Some(4_102_444_800_000)),
                (0, b"l", "list", None),
                (0, b"m", "set", None),
                (2, b"z", "zset", None),
                (2, b"h", "hash", None),
            ]
        );
        // Type byte + key (2) + value (2): the string record is 5 bytes.
        assert_eq!(keys[0].size, 5);
        assert_eq!(keys[0].offset, 9 + 2 + 9);
    }

    #[test]
    fn counts_without_materialising() {
        let data = sample();
        let header = Header::parse(&data).expect("header");
        let lens: Vec<u64> = entries(&data)
            .iter()
            .map(|e| element_count(&header, e).expect("len"))
            .collect();
        assert_eq!(lens, vec![1, 2, 2, 1, 1]);
    }

    #[test]
    fn filters() {
        let data = sample();
        let keys = entries(&data);
        let pick = |f: Filter| -> Vec<&[u8]> {
            keys.iter()
                .filter(|e| f.accepts(e))
                .map(|e| e.key.as_ref())
                .collect()
        };
        assert_eq!(
            pick(Filter {
                db: Some(2),
                ..Filter::default()
            }),
            vec![b"z", b"h"]
        );
        assert_eq!(
            pick(Filter {
                types: vec![LogicalType::List, LogicalType::Hash],
                ..Filter::default()
            }),
            vec![b"l", b"h"]
        );
        assert_eq!(
            pick(Filter {
                pattern: Some(b"[lm]".to_vec()),
                ..Filter::default()
            }),
            vec![b"l", b"m"]
        );
        assert_eq!(
            pick(Filter {
                min_size: Some(8),
                ..Filter::default()
            })
            .len(),
            4
        );
    }

    #[test]
    fn a_truncated_file_ends_with_an_error() {
        let data = sample();
        let cut = &data[..data.len() - 12];
        let header = Header::parse(cut).expect("header");
        let items: Vec<_> = Keys::new(cut, header).collect();
        assert!(items.last().is_some_and(|r| r.is_err()));
        assert_eq!(items.iter().filter(|r| r.is_ok()).count(), 4);
    }
}
