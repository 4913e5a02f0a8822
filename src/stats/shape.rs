//! What `stats` needs to know about one value, gathered by a visitor over
//! the one value walker: counts and sizes only. Element strings are never
//! copied; packed blobs stored LZF-compressed are inflated one at a time
//! (a blob is one server allocation, bounded by the LZF limits).

use super::memory::Model;
use super::rax::RaxShape;

/// Radix tree keys of streams: 128-bit big-endian IDs.
const STREAM_ID_BYTES: usize = 16;
use crate::encoding::{
    self, Element, intset::Intset, listpack::Listpack, ziplist::Ziplist, zipmap::Zipmap,
};
use crate::rdb::ValueType;
use crate::rdb::error::Error;
use crate::rdb::primitives::RdbString;
use crate::rdb::value::{BlobKind, FieldTtl, StreamIdPair, StreamMeta, ValueVisitor, walk_value};

/// Counts and sizes of one value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// Elements: list items, set/zset members, hash fields, stream entries;
    /// 1 for a string.
    pub elements: u64,
    /// String value length (strings only).
    pub string_len: u64,
    /// The string is the canonical text of an i64 (stored `int`).
    pub string_int: bool,
    /// Longest element string (member, field or value).
    pub max_elem_len: u64,
    /// Every set member is a canonical i64.
    pub all_int: bool,
    pub int_min: i64,
    pub int_max: i64,
    /// The value is stored packed (listpack/ziplist/intset/zipmap blob).
    pub packed: bool,
    /// The packed blob is a listpack (kept byte for byte on load).
    pub blob_is_listpack: bool,
    /// Bytes of the packed blobs as stored (uncompressed).
    pub blob_bytes: u64,
    /// Sum of the listpack entry sizes of every element, as a server would
    /// pack them (the 7-byte listpack header and end byte excluded).
    pub lp_bytes: u64,
    /// Sum of the per-element hashtable costs under the model.
    pub ht_bytes: u64,
    /// Quicklist or stream nodes as stored; their bytes, and their bytes
    /// rounded to the allocator's classes.
    pub nodes: u64,
    pub plain_nodes: u64,
    pub node_bytes: u64,
    pub node_alloc: u64,
    pub fields_with_ttl: u64,
    pub stream_groups: u64,
    pub stream_pel: u64,
    pub stream_consumers: u64,
    pub consumer_name_bytes: u64,
    /// Modelled memory of the stream's radix trees: the node index, and
    /// the PEL of every group and consumer (see [`super::rax`]).
    pub rax_bytes: u64,
    /// Module type name, for module values.
    pub module: Option<String>,
}

/// Size of a listpack entry holding `e`, back-length included.
pub fn listpack_entry_size(e: Element<'_>) -> u64 {
    let int = match e {
        Element::Int(i) => Some(i),
        Element::Bytes(b) => encoding::parse_canonical_i64(b),
    };
    let body = match int {
        Some(i) if (0..=127).contains(&i) => 1,
        Some(i) if (-4096..=4095).contains(&i) => 2,
        Some(i) if i16::try_from(i).is_ok() => 3,
        Some(i) if (-(1 << 23)..(1 << 23)).contains(&i) => 4,
        Some(i) if i32::try_from(i).is_ok() => 5,
        Some(_) => 9,
        None => {
            let n = e.str_len() as u64;
            n + if n < 64 {
                1
            } else if n < 4096 {
                2
            } else {
                5
            }
        }
    };
    body + encoding::listpack::backlen_size(body as usize) as u64
}

fn element_of<'a>(s: &RdbString<'a>) -> Element<'a> {
    match *s {
        RdbString::Raw(b) => Element::Bytes(b),
        RdbString::Int(i) => Element::Int(i),
        // LZF strings are longer than any integer text.
        RdbString::Lzf { .. } => Element::Bytes(&[]),
    }
}

/// Listpack entry size of an RDB string (LZF strings by length only).
fn rdb_string_entry_size(s: &RdbString<'_>) -> u64 {
    match s {
        RdbString::Lzf { len, .. } => {
            let n = *len;
            let head = if n < 64 {
                1
            } else if n < 4096 {
                2
            } else {
                5
            };
            n + head + encoding::listpack::backlen_size((n + head) as usize) as u64
        }
        other => listpack_entry_size(element_of(other)),
    }
}

/// Listpack entry size of a zset score as the server formats it.
fn score_entry_size(score: f64) -> u64 {
    if score.fract() == 0.0 && score.abs() < 9.0e15 {
        listpack_entry_size(Element::Int(score as i64))
    } else {
        let text = if score.is_infinite() {
            if score > 0.0 {
                "inf".to_string()
            } else {
                "-inf".to_string()
            }
        } else {
            format!("{score}")
        };
        listpack_entry_size(Element::Bytes(text.as_bytes()))
    }
}

struct Measure<'m> {
    model: &'m Model,
    shape: Shape,
    /// A Redis hash type that stores field TTLs.
    ttl_layout: bool,
    /// The radix tree being read (node index, or a group or consumer
    /// PEL), if any.
    open_rax: Option<RaxShape>,
}

impl Measure<'_> {
    /// Closes the radix tree being read, adding its modelled size.
    fn close_rax(&mut self) {
        if let Some(r) = self.open_rax.take() {
            let keys = r.keys;
            let (nodes, allocated) = r.finish(&|n| self.model.alloc(n));
            self.shape.rax_bytes += self.model.rax(keys, nodes, allocated);
        }
    }

    fn rax_key(&mut self, key: &[u8]) {
        let model = self.model;
        if let Some(r) = self.open_rax.as_mut() {
            r.push(key, &|n| model.alloc(n));
        }
    }

    fn element(&mut self, len: u64) {
        self.shape.max_elem_len = self.shape.max_elem_len.max(len);
    }

    fn member(&mut self, e: Element<'_>, len: u64, entry: u64) {
        self.shape.elements += 1;
        self.element(len);
        self.shape.lp_bytes += entry;
        match e.as_int() {
            Some(i) if self.shape.all_int => {
                self.shape.int_min = self.shape.int_min.min(i);
                self.shape.int_max = self.shape.int_max.max(i);
            }
            _ => self.shape.all_int = false,
        }
    }

    fn set_member(&mut self, e: Element<'_>, len: u64, entry: u64) {
        self.member(e, len, entry);
        self.shape.ht_bytes += self.model.set_entry(len);
    }

    fn zset_member(&mut self, len: u64, entry: u64, score_entry: u64) {
        self.shape.elements += 1;
        self.element(len);
        self.shape.lp_bytes += entry + score_entry;
        self.shape.ht_bytes += self.model.zset_entry(len);
    }

    fn hash_pair(&mut self, f: u64, v: u64, entries: u64, ttl: bool) {
        self.shape.elements += 1;
        self.element(f);
        self.element(v);
        self.shape.lp_bytes += entries;
        self.shape.ht_bytes += self.model.hash_entry(f, v, ttl, self.ttl_layout);
    }

    fn blob_error(at: &[u8], kind: BlobKind, e: impl std::fmt::Display) -> Error {
        Error::invalid(at, format!("{kind:?} blob: {e}"))
    }

    /// Counts and sizes the elements of one packed blob.
    fn walk_blob<'b>(&mut self, at: &[u8], kind: BlobKind, blob: &'b [u8]) -> Result<(), Error> {
        let fail = |e: encoding::EncodingError| Self::blob_error(at, kind, e);
        self.shape.packed = true;
        self.shape.blob_bytes += blob.len() as u64;
        match kind {
            BlobKind::SetIntset => {
                let is = Intset::parse(blob).map_err(fail)?;
                for v in is.values() {
                    let v = v.map_err(fail)?;
                    let e = Element::Int(v);
                    self.set_member(e, e.str_len() as u64, listpack_entry_size(e));
                }
            }
            BlobKind::HashZipmap => {
                let zm = Zipmap::parse(blob).map_err(fail)?;
                for pair in zm.entries() {
                    let (f, v) = pair.map_err(fail)?;
                    let (ef, ev) = (Element::Bytes(f), Element::Bytes(v));
                    self.hash_pair(
                        f.len() as u64,
                        v.len() as u64,
                        listpack_entry_size(ef) + listpack_entry_size(ev),
                        false,
                    );
                }
            }
            _ => {
                let listpack = matches!(
                    kind,
                    BlobKind::QuicklistListpack
                        | BlobKind::HashListpack
                        | BlobKind::ZsetListpack
                        | BlobKind::SetListpack
                        | BlobKind::HashListpackEx
                );
                self.shape.blob_is_listpack = listpack;
                let mut items: Vec<Element<'b>> = Vec::with_capacity(3);
                let group = match kind {
                    BlobKind::HashZiplist
                    | BlobKind::HashListpack
                    | BlobKind::ZsetZiplist
                    | BlobKind::ZsetListpack => 2,
                    BlobKind::HashListpackEx => 3,
                    _ => 1,
                };
                let mut handle = |this: &mut Self, e: Element<'b>| -> Result<(), Error> {
                    items.push(e);
                    if items.len() < group {
                        return Ok(());
                    }
                    let sizes: u64 = items.iter().map(|&e| listpack_entry_size(e)).sum();
                    let len = |e: &Element<'_>| e.str_len() as u64;
                    match (kind, items.as_slice()) {
                        (BlobKind::HashZiplist | BlobKind::HashListpack, [f, v]) => {
                            this.hash_pair(len(f), len(v), sizes, false);
                        }
                        (BlobKind::HashListpackEx, [f, v, ttl]) => {
                            let has_ttl = ttl.as_int().is_some_and(|t| t != 0);
                            if has_ttl {
                                this.shape.fields_with_ttl += 1;
                            }
                            this.hash_pair(len(f), len(v), sizes, has_ttl);
                        }
                        (BlobKind::ZsetZiplist | BlobKind::ZsetListpack, [m, _score]) => {
                            let member = listpack_entry_size(*m);
                            this.zset_member(len(m), member, sizes - member);
                        }
                        (BlobKind::SetListpack, [e]) => this.set_member(*e, len(e), sizes),
                        (_, [e]) => this.member(*e, len(e), sizes),
                        _ => {}
                    }
                    items.clear();
                    Ok(())
                };
                if listpack {
                    let lp = Listpack::parse(blob).map_err(fail)?;
                    for e in lp.elements() {
                        handle(self, e.map_err(fail)?)?;
                    }
                } else {
                    let zl = Ziplist::parse(blob).map_err(fail)?;
                    for e in zl.elements() {
                        handle(self, e.map_err(fail)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn inflate<'a>(at: &'a [u8], s: &RdbString<'a>) -> Result<std::borrow::Cow<'a, [u8]>, Error> {
    s.to_bytes()
        .map_err(|e| Error::at(at, crate::rdb::error::ErrorKind::Lzf(e)))
}

impl<'a> ValueVisitor<'a> for Measure<'_> {
    fn string_value(&mut self, _at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        self.shape.elements = 1;
        self.shape.string_len = s.len();
        self.shape.string_int = match s {
            RdbString::Int(_) => true,
            RdbString::Raw(b) => encoding::parse_canonical_i64(b).is_some(),
            RdbString::Lzf { .. } => false,
        };
        Ok(())
    }

    fn list_item(&mut self, _at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        self.member(element_of(&s), s.len(), rdb_string_entry_size(&s));
        Ok(())
    }

    fn set_member(&mut self, _at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        let e = match s {
            RdbString::Lzf { .. } => Element::Bytes(b"x"), // not an integer
            _ => element_of(&s),
        };
        Measure::set_member(self, e, s.len(), rdb_string_entry_size(&s));
        Ok(())
    }

    fn zset_member(
        &mut self,
        _at: &'a [u8],
        member: RdbString<'a>,
        score: f64,
    ) -> Result<(), Error> {
        Measure::zset_member(
            self,
            member.len(),
            rdb_string_entry_size(&member),
            score_entry_size(score),
        );
        Ok(())
    }

    fn hash_field(
        &mut self,
        _at: &'a [u8],
        field: RdbString<'a>,
        value: RdbString<'a>,
        ttl: FieldTtl,
    ) -> Result<(), Error> {
        let has_ttl = match ttl {
            FieldTtl::None => false,
            FieldTtl::Absolute(t) | FieldTtl::Relative(t) => t != 0,
            FieldTtl::Valkey(t) => t != -1,
        };
        if has_ttl {
            self.shape.fields_with_ttl += 1;
        }
        self.hash_pair(
            field.len(),
            value.len(),
            rdb_string_entry_size(&field) + rdb_string_entry_size(&value),
            has_ttl,
        );
        Ok(())
    }

    fn blob(&mut self, at: &'a [u8], kind: BlobKind, s: RdbString<'a>) -> Result<(), Error> {
        let blob = inflate(at, &s)?;
        if matches!(
            kind,
            BlobKind::QuicklistZiplist | BlobKind::QuicklistListpack
        ) {
            self.shape.nodes += 1;
            self.shape.node_bytes += blob.len() as u64;
            self.shape.node_alloc += self.model.alloc(blob.len() as u64);
        }
        self.walk_blob(at, kind, &blob)
    }

    fn quicklist_plain(&mut self, _at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        self.shape.nodes += 1;
        self.shape.plain_nodes += 1;
        self.shape.node_bytes += s.len();
        self.shape.node_alloc += self.model.alloc(s.len());
        self.member(element_of(&s), s.len(), rdb_string_entry_size(&s));
        Ok(())
    }

    fn module_value(&mut self, _at: &'a [u8], module_id: u64, _items: u64) -> Result<(), Error> {
        self.shape.module = Some(crate::rdb::primitives::module_type_name(module_id).0);
        Ok(())
    }

    fn stream_node(
        &mut self,
        _at: &'a [u8],
        key: RdbString<'a>,
        lp: RdbString<'a>,
    ) -> Result<(), Error> {
        if self.open_rax.is_none() {
            self.open_rax = Some(RaxShape::new(STREAM_ID_BYTES));
        }
        if let RdbString::Raw(k) = key {
            self.rax_key(k);
        }
        self.shape.nodes += 1;
        self.shape.node_bytes += lp.len();
        self.shape.node_alloc += self.model.alloc(lp.len());
        self.shape.blob_bytes += lp.len();
        Ok(())
    }

    fn stream_meta(&mut self, _at: &'a [u8], meta: &StreamMeta) -> Result<(), Error> {
        // The node index is complete (an empty stream has an empty one).
        if self.open_rax.is_none() {
            self.open_rax = Some(RaxShape::new(STREAM_ID_BYTES));
        }
        self.close_rax();
        self.shape.elements = meta.length;
        Ok(())
    }

    fn stream_group(
        &mut self,
        _at: &'a [u8],
        _name: RdbString<'a>,
        _last_id: StreamIdPair,
        _entries_read: Option<u64>,
    ) -> Result<(), Error> {
        self.close_rax();
        self.shape.stream_groups += 1;
        self.open_rax = Some(RaxShape::new(STREAM_ID_BYTES));
        Ok(())
    }

    fn stream_pel(
        &mut self,
        _at: &'a [u8],
        id: &'a [u8],
        _ms: i64,
        _count: u64,
    ) -> Result<(), Error> {
        self.shape.stream_pel += 1;
        self.rax_key(id);
        Ok(())
    }

    fn stream_consumer_pel(&mut self, _at: &'a [u8], id: &'a [u8]) -> Result<(), Error> {
        self.rax_key(id);
        Ok(())
    }

    fn stream_group_end(&mut self, _at: &'a [u8]) -> Result<(), Error> {
        self.close_rax();
        Ok(())
    }

    fn stream_consumer(
        &mut self,
        _at: &'a [u8],
        name: RdbString<'a>,
        _seen_ms: i64,
        _active_ms: Option<i64>,
    ) -> Result<(), Error> {
        self.close_rax();
        self.shape.stream_consumers += 1;
        self.shape.consumer_name_bytes += name.len();
        self.open_rax = Some(RaxShape::new(STREAM_ID_BYTES));
        Ok(())
    }
}

/// Measures a framed value (`value` as [`crate::rdb::KeyRecord::value`]).
pub fn measure(
    value: &[u8],
    t: ValueType,
    rdb_version: u32,
    model: &Model,
) -> Result<Shape, Error> {
    let mut m = Measure {
        model,
        shape: Shape {
            all_int: true,
            int_min: i64::MAX,
            int_max: i64::MIN,
            ..Shape::default()
        },
        open_rax: None,
        ttl_layout: matches!(
            t,
            ValueType::HashMetadataPreGa
                | ValueType::HashListpackExPreGa
                | ValueType::HashMetadata
                | ValueType::HashListpackEx
        ),
    };
    walk_value(value, t, rdb_version, &mut m)
        .map_err(|e| crate::rdb::error::unwrap_nom(e, value))?;
    if m.shape.elements == 0 {
        m.shape.all_int = false;
    }
    Ok(m.shape)
}

impl Shape {
    /// Bytes of an intset holding the (integer) members.
    pub fn intset_bytes(&self) -> u64 {
        let fits = |lo: i64, hi: i64| self.int_min >= lo && self.int_max <= hi;
        let width = if fits(i64::from(i16::MIN), i64::from(i16::MAX)) {
            2
        } else if fits(i64::from(i32::MIN), i64::from(i32::MAX)) {
            4
        } else {
            8
        };
        8 + width * self.elements
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::listpack::test_encoder::{self as build, Item};

    #[test]
    fn listpack_entry_sizes_match_a_built_listpack() {
        let items: Vec<Item> = vec![
            Item::from(5),
            Item::from(-100),
            Item::from(30_000),
            Item::from(1 << 20),
            Item::from(1 << 30),
            Item::from(1i64 << 40),
            Item::from("hello"),
            Item::from("x".repeat(100).as_str()),
            Item::from("y".repeat(5000).as_str()),
        ];
        let blob = build::build(&items);
        let lp = Listpack::parse(&blob).expect("built listpack");
        let total: u64 = lp
            .elements()
            .map(|e| listpack_entry_size(e.expect("element")))
            .sum();
        assert_eq!(total + 7, blob.len() as u64);
    }
}
