//! From storage layout to logical elements: a [`ValueVisitor`] for the one
//! value walker that unpacks every encoding (ziplist, listpack, intset,
//! zipmap, quicklist nodes, stream node listpacks) and hands a
//! [`ElementSink`] what `LRANGE`, `SMEMBERS`, `ZRANGE ... WITHSCORES`,
//! `HGETALL` and `XRANGE` would return, in the server's storage order.
//!
//! Elements are borrowed for the duration of one call; a sink that keeps
//! them copies them. A sink that only counts says so
//! ([`ElementSink::detail`]) and the decoder then skips inflating plain
//! strings and walking stream nodes.

use crate::encoding::stream::{NodeEntry, StreamId, walk_node};
use crate::encoding::{Element, EncodingError};
use crate::rdb::error::{Error, ErrorKind, unwrap_nom};
use crate::rdb::primitives::{RdbString, module_type_name};
use crate::rdb::value::{BlobKind, FieldTtl, StreamIdPair, StreamMeta, ValueVisitor, walk_value};
use crate::rdb::{Header, ValueType};
use std::borrow::Cow;

/// How much a sink needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Element counts only: plain strings are not inflated (sinks get
    /// empty slices for them) and stream entries are not walked.
    Count,
    /// Every element's bytes.
    Full,
}

/// The logical contents of a value. Every method has a no-op default.
#[allow(unused_variables)]
pub trait ElementSink {
    fn detail(&self) -> Detail {
        Detail::Full
    }
    fn string(&mut self, value: &[u8]) -> Result<(), Error> {
        Ok(())
    }
    fn list_item(&mut self, item: &[u8]) -> Result<(), Error> {
        Ok(())
    }
    fn set_member(&mut self, member: &[u8]) -> Result<(), Error> {
        Ok(())
    }
    fn zset_member(&mut self, member: &[u8], score: f64) -> Result<(), Error> {
        Ok(())
    }
    /// `expire_ms`: the field's absolute expiry (Redis 7.4+, Valkey 9).
    fn hash_field(
        &mut self,
        field: &[u8],
        value: &[u8],
        expire_ms: Option<i64>,
    ) -> Result<(), Error> {
        Ok(())
    }
    /// A live stream entry (entries flagged deleted are not reported).
    fn stream_entry(
        &mut self,
        id: StreamId,
        fields: &[&[u8]],
        values: &[&[u8]],
    ) -> Result<(), Error> {
        Ok(())
    }
    fn stream_meta(&mut self, meta: &StreamMeta) -> Result<(), Error> {
        Ok(())
    }
    fn stream_group(
        &mut self,
        name: &[u8],
        last_id: StreamIdPair,
        entries_read: Option<u64>,
    ) -> Result<(), Error> {
        Ok(())
    }
    /// An entry of the current group's PEL; `id` is 16 big-endian bytes.
    fn stream_pel(
        &mut self,
        id: StreamId,
        delivery_ms: i64,
        delivery_count: u64,
    ) -> Result<(), Error> {
        Ok(())
    }
    fn stream_consumer(
        &mut self,
        name: &[u8],
        seen_ms: i64,
        active_ms: Option<i64>,
    ) -> Result<(), Error> {
        Ok(())
    }
    /// An ID owned by the current consumer.
    fn stream_consumer_pel(&mut self, id: StreamId) -> Result<(), Error> {
        Ok(())
    }
    /// A module value: opaque without the module; `name` is its type name.
    fn module(&mut self, name: &str) -> Result<(), Error> {
        Ok(())
    }
}

/// Decodes the value of a key record into `sink`. `value` must be a
/// sub-slice of the file (errors carry offsets into it).
pub fn decode_value(
    header: &Header,
    t: ValueType,
    value: &[u8],
    sink: &mut impl ElementSink,
) -> Result<(), Error> {
    let mut d = Decoder {
        sink,
        min_expire: 0,
        full: false,
    };
    d.full = d.sink.detail() == Detail::Full;
    walk_value(value, t, header.version, &mut d).map_err(|e| unwrap_nom(e, value))?;
    Ok(())
}

struct Decoder<'s, S> {
    sink: &'s mut S,
    /// Redis 7.4 GA hashes store field TTLs relative to this.
    min_expire: u64,
    full: bool,
}

fn inflate<'a>(at: &[u8], s: RdbString<'a>) -> Result<Cow<'a, [u8]>, Error> {
    s.to_bytes().map_err(|e| Error::at(at, ErrorKind::Lzf(e)))
}

fn id_of(at: &[u8], raw: &[u8]) -> Result<StreamId, Error> {
    StreamId::from_slice(raw).ok_or_else(|| Error::invalid(at, "stream ID is not 16 bytes"))
}

impl<S: ElementSink> Decoder<'_, S> {
    /// A plain (non-packed) string: inflated only when the sink wants bytes.
    fn plain<'a>(&self, at: &[u8], s: RdbString<'a>) -> Result<Cow<'a, [u8]>, Error> {
        if self.full {
            inflate(at, s)
        } else {
            Ok(Cow::Borrowed(&[]))
        }
    }

    fn field_expiry(&self, ttl: FieldTtl) -> Option<i64> {
        match ttl {
            FieldTtl::None | FieldTtl::Absolute(0) | FieldTtl::Relative(0) => None,
            FieldTtl::Absolute(t) => Some(t as i64),
            FieldTtl::Relative(t) => {
                Some(t.saturating_add(self.min_expire).saturating_sub(1) as i64)
            }
            FieldTtl::Valkey(t) if t < 0 => None,
            FieldTtl::Valkey(t) => Some(t),
        }
    }

    fn blob_error(at: &[u8], what: &str, e: EncodingError) -> Error {
        Error::invalid(at, format!("{what} integrity check failed: {}", e.message))
    }

    /// Hands packed elements to the sink in tuples of `width`.
    fn tuples<'b>(
        &mut self,
        at: &[u8],
        kind: BlobKind,
        elements: impl Iterator<Item = Result<Element<'b>, EncodingError>>,
    ) -> Result<(), Error> {
        let width = match kind {
            BlobKind::SetListpack
            | BlobKind::QuicklistListpack
            | BlobKind::QuicklistZiplist
            | BlobKind::ListZiplist => 1,
            BlobKind::HashListpackEx => 3,
            _ => 2,
        };
        let mut tuple: [Option<Element<'b>>; 3] = [None; 3];
        let mut n = 0usize;
        for e in elements {
            let e = e.map_err(|e| Self::blob_error(at, "packed value", e))?;
            let pos = n % width;
            if let Some(slot) = tuple.get_mut(pos) {
                *slot = Some(e);
            }
            n += 1;
            if pos + 1 == width {
                self.emit(at, kind, &tuple)?;
            }
        }
        if n % width != 0 {
            return Err(Error::invalid(
                at,
                format!("packed value: {n} elements is not a multiple of {width}"),
            ));
        }
        Ok(())
    }

    fn emit(
        &mut self,
        at: &[u8],
        kind: BlobKind,
        tuple: &[Option<Element<'_>>; 3],
    ) -> Result<(), Error> {
        let bytes = |i: usize| {
            tuple
                .get(i)
                .copied()
                .flatten()
                .map(|e| e.to_bytes())
                .unwrap_or_default()
        };
        match kind {
            BlobKind::SetListpack => self.sink.set_member(&bytes(0)),
            BlobKind::QuicklistListpack | BlobKind::QuicklistZiplist | BlobKind::ListZiplist => {
                self.sink.list_item(&bytes(0))
            }
            BlobKind::ZsetZiplist | BlobKind::ZsetListpack => {
                let score = match tuple[1] {
                    Some(Element::Int(i)) => i as f64,
                    Some(Element::Bytes(b)) => crate::rdb::primitives::parse_double_text(b)
                        .ok_or_else(|| Error::invalid(at, "zset score is not a number"))?,
                    None => 0.0,
                };
                self.sink.zset_member(&bytes(0), score)
            }
            BlobKind::HashListpackEx => {
                let expire = match tuple[2] {
                    Some(Element::Int(t)) if t > 0 => Some(t),
                    _ => None,
                };
                self.sink.hash_field(&bytes(0), &bytes(1), expire)
            }
            _ => self.sink.hash_field(&bytes(0), &bytes(1), None),
        }
    }
}

impl<'a, S: ElementSink> ValueVisitor<'a> for Decoder<'_, S> {
    fn string_value(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        let b = self.plain(at, s)?;
        self.sink.string(&b)
    }

    fn list_item(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        let b = self.plain(at, s)?;
        self.sink.list_item(&b)
    }

    fn set_member(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        let b = self.plain(at, s)?;
        self.sink.set_member(&b)
    }

    fn zset_member(
        &mut self,
        at: &'a [u8],
        member: RdbString<'a>,
        score: f64,
    ) -> Result<(), Error> {
        let b = self.plain(at, member)?;
        self.sink.zset_member(&b, score)
    }

    fn hash_min_expire(&mut self, _at: &'a [u8], min_expire: u64) -> Result<(), Error> {
        self.min_expire = min_expire;
        Ok(())
    }

    fn hash_field(
        &mut self,
        at: &'a [u8],
        field: RdbString<'a>,
        value: RdbString<'a>,
        ttl: FieldTtl,
    ) -> Result<(), Error> {
        let f = self.plain(at, field)?;
        let v = self.plain(at, value)?;
        let expire = self.field_expiry(ttl);
        self.sink.hash_field(&f, &v, expire)
    }

    fn blob(&mut self, at: &'a [u8], kind: BlobKind, s: RdbString<'a>) -> Result<(), Error> {
        use crate::encoding::{
            intset::Intset, listpack::Listpack, ziplist::Ziplist, zipmap::Zipmap,
        };
        let blob = inflate(at, s)?;
        let bad = |e| Self::blob_error(at, "packed value", e);
        match kind {
            BlobKind::HashZipmap => {
                let zm = Zipmap::parse(&blob).map_err(bad)?;
                for pair in zm.entries() {
                    let (f, v) = pair.map_err(bad)?;
                    self.sink.hash_field(f, v, None)?;
                }
                Ok(())
            }
            BlobKind::SetIntset => {
                let is = Intset::parse(&blob).map_err(bad)?;
                let mut buf = itoa_buf();
                for v in is.values() {
                    let v = v.map_err(bad)?;
                    self.sink.set_member(decimal(&mut buf, v))?;
                }
                Ok(())
            }
            BlobKind::ListZiplist
            | BlobKind::QuicklistZiplist
            | BlobKind::ZsetZiplist
            | BlobKind::HashZiplist => {
                let zl = Ziplist::parse(&blob).map_err(bad)?;
                self.tuples(at, kind, zl.elements())
            }
            BlobKind::QuicklistListpack
            | BlobKind::HashListpack
            | BlobKind::ZsetListpack
            | BlobKind::SetListpack
            | BlobKind::HashListpackEx => {
                let lp = Listpack::parse(&blob).map_err(bad)?;
                self.tuples(at, kind, lp.elements())
            }
        }
    }

    fn quicklist_plain(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        let b = self.plain(at, s)?;
        self.sink.list_item(&b)
    }

    fn module_value(&mut self, _at: &'a [u8], module_id: u64, _items: u64) -> Result<(), Error> {
        let (name, _) = module_type_name(module_id);
        self.sink.module(&name)
    }

    fn stream_node(
        &mut self,
        at: &'a [u8],
        key: RdbString<'a>,
        lp: RdbString<'a>,
    ) -> Result<(), Error> {
        if !self.full {
            return Ok(());
        }
        let k = inflate(at, key)?;
        let master = id_of(at, &k)?;
        let blob = inflate(at, lp)?;
        let mut result = Ok(());
        let mut fields: Vec<Cow<'_, [u8]>> = Vec::new();
        let mut values: Vec<Cow<'_, [u8]>> = Vec::new();
        walk_node(&blob, master, |e: &NodeEntry<'_, '_>| {
            if e.deleted || result.is_err() {
                return;
            }
            fields.clear();
            values.clear();
            fields.extend(e.fields.iter().map(Element::to_bytes));
            values.extend(e.values.iter().map(Element::to_bytes));
            let f: Vec<&[u8]> = fields.iter().map(|c| c.as_ref()).collect();
            let v: Vec<&[u8]> = values.iter().map(|c| c.as_ref()).collect();
            result = self.sink.stream_entry(e.id, &f, &v);
        })
        .map_err(|e| Self::blob_error(at, "Stream listpack", e))?;
        result
    }

    fn stream_meta(&mut self, _at: &'a [u8], meta: &StreamMeta) -> Result<(), Error> {
        self.sink.stream_meta(meta)
    }

    fn stream_group(
        &mut self,
        at: &'a [u8],
        name: RdbString<'a>,
        last_id: StreamIdPair,
        entries_read: Option<u64>,
    ) -> Result<(), Error> {
        let n = self.plain(at, name)?;
        self.sink.stream_group(&n, last_id, entries_read)
    }

    fn stream_pel(
        &mut self,
        at: &'a [u8],
        id: &'a [u8],
        delivery_ms: i64,
        delivery_count: u64,
    ) -> Result<(), Error> {
        let id = id_of(at, id)?;
        self.sink.stream_pel(id, delivery_ms, delivery_count)
    }

    fn stream_consumer(
        &mut self,
        at: &'a [u8],
        name: RdbString<'a>,
        seen_ms: i64,
        active_ms: Option<i64>,
    ) -> Result<(), Error> {
        let n = self.plain(at, name)?;
        self.sink.stream_consumer(&n, seen_ms, active_ms)
    }

    fn stream_consumer_pel(&mut self, at: &'a [u8], id: &'a [u8]) -> Result<(), Error> {
        let id = id_of(at, id)?;
        self.sink.stream_consumer_pel(id)
    }
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// The decimal text of `v` in `buf` (`ll2string`), without allocating.
fn decimal(buf: &mut [u8; 20], v: i64) -> &[u8] {
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_matches_to_string() {
        let mut buf = itoa_buf();
        for v in [0i64, 7, -7, 10, i64::MAX, i64::MIN, -1000] {
            assert_eq!(decimal(&mut buf, v), v.to_string().as_bytes());
        }
    }
}
