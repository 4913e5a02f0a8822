//! One walker for every value layout (`rdbLoadObject`'s reading side),
//! reporting what it reads to a [`ValueVisitor`]. Framing uses the no-op
//! visitor `()` to find where a value ends; deep verification passes a
//! visitor that decompresses and validates. The layout is written once.

use super::consts::*;
use super::error::{Error, PResult};
use super::primitives::*;
use super::types::ValueType;

/// Which packed encoding a blob string holds, and for what type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    HashZipmap,
    ListZiplist,
    SetIntset,
    ZsetZiplist,
    HashZiplist,
    /// A node of a v1 quicklist (type 14).
    QuicklistZiplist,
    /// A PACKED node of a v2 quicklist (type 18).
    QuicklistListpack,
    HashListpack,
    ZsetListpack,
    SetListpack,
    /// Hash with field TTLs (types 23 and 25): field, value, ttl triples.
    HashListpackEx,
}

/// The TTL stored with a hash field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldTtl {
    /// A field of a hash without per-field expiry.
    None,
    /// Redis 7.4 RC (type 22): absolute ms, 0 = none.
    Absolute(u64),
    /// Redis 7.4 GA (type 24): relative to minExpire, 0 = none.
    Relative(u64),
    /// Valkey 9 HASH_2: absolute ms, -1 = none.
    Valkey(i64),
}

/// A stream ID as stored in lengths (ms, seq).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamIdPair {
    pub ms: u64,
    pub seq: u64,
}

/// The stream's scalar metadata, read after its node listpacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamMeta {
    pub length: u64,
    pub last_id: StreamIdPair,
    /// v2+: first entry, max deleted entry id, entries added.
    pub first_id: Option<StreamIdPair>,
    pub max_deleted_id: Option<StreamIdPair>,
    pub entries_added: Option<u64>,
    pub nodes: u64,
}

/// What the walker reports. Every method has a no-op default; `at` is the
/// input at the item's first byte, for offsets.
#[allow(unused_variables)]
pub trait ValueVisitor<'a> {
    /// A collection's declared count (elements, pairs or nodes).
    fn count(&mut self, at: &'a [u8], n: u64) -> Result<(), Error> {
        Ok(())
    }
    fn string_value(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        Ok(())
    }
    fn list_item(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        Ok(())
    }
    fn set_member(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        Ok(())
    }
    fn zset_member(
        &mut self,
        at: &'a [u8],
        member: RdbString<'a>,
        score: f64,
    ) -> Result<(), Error> {
        Ok(())
    }
    /// [`ValueVisitor::set_member`] for a member stored raw, as nearly
    /// every member of a big set is. The `_raw` methods take the bytes as
    /// a slice, which is passed in registers: an [`RdbString`] argument
    /// is written to memory by the walker and read back at once, and on
    /// these machines that store-to-load round trip stalled the walk of
    /// a big collection for about a sixth of its time.
    fn set_member_raw(&mut self, at: &'a [u8], member: &'a [u8]) -> Result<(), Error> {
        self.set_member(at, RdbString::Raw(member))
    }
    /// [`ValueVisitor::zset_member`] for a member stored raw.
    fn zset_member_raw(&mut self, at: &'a [u8], member: &'a [u8], score: f64) -> Result<(), Error> {
        self.zset_member(at, RdbString::Raw(member), score)
    }
    /// [`ValueVisitor::hash_field`] for a field and value both stored
    /// raw, in a hash without field TTLs.
    fn hash_field_raw(
        &mut self,
        at: &'a [u8],
        field: &'a [u8],
        value: &'a [u8],
    ) -> Result<(), Error> {
        self.hash_field(
            at,
            RdbString::Raw(field),
            RdbString::Raw(value),
            FieldTtl::None,
        )
    }
    fn hash_min_expire(&mut self, at: &'a [u8], min_expire: u64) -> Result<(), Error> {
        Ok(())
    }
    fn hash_field(
        &mut self,
        at: &'a [u8],
        field: RdbString<'a>,
        value: RdbString<'a>,
        ttl: FieldTtl,
    ) -> Result<(), Error> {
        Ok(())
    }
    fn blob(&mut self, at: &'a [u8], kind: BlobKind, s: RdbString<'a>) -> Result<(), Error> {
        Ok(())
    }
    fn quicklist_plain(&mut self, at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        Ok(())
    }
    fn module_value(&mut self, at: &'a [u8], module_id: u64, items: u64) -> Result<(), Error> {
        Ok(())
    }
    fn stream_node(
        &mut self,
        at: &'a [u8],
        key: RdbString<'a>,
        lp: RdbString<'a>,
    ) -> Result<(), Error> {
        Ok(())
    }
    fn stream_meta(&mut self, at: &'a [u8], meta: &StreamMeta) -> Result<(), Error> {
        Ok(())
    }
    fn stream_group(
        &mut self,
        at: &'a [u8],
        name: RdbString<'a>,
        last_id: StreamIdPair,
        entries_read: Option<u64>,
    ) -> Result<(), Error> {
        Ok(())
    }
    fn stream_pel(
        &mut self,
        at: &'a [u8],
        id: &'a [u8],
        delivery_ms: i64,
        delivery_count: u64,
    ) -> Result<(), Error> {
        Ok(())
    }
    /// The length of the group's PEL, before its entries.
    fn stream_pel_len(&mut self, at: &'a [u8], len: u64) -> Result<(), Error> {
        Ok(())
    }
    fn stream_consumer(
        &mut self,
        at: &'a [u8],
        name: RdbString<'a>,
        seen_ms: i64,
        active_ms: Option<i64>,
    ) -> Result<(), Error> {
        Ok(())
    }
    fn stream_consumer_pel(&mut self, at: &'a [u8], id: &'a [u8]) -> Result<(), Error> {
        Ok(())
    }
    fn stream_nack(&mut self, at: &'a [u8], id: &'a [u8]) -> Result<(), Error> {
        Ok(())
    }
    /// The end of one consumer group (after its consumers / NACK zone).
    fn stream_group_end(&mut self, at: &'a [u8]) -> Result<(), Error> {
        Ok(())
    }
    fn stream_idmp(&mut self, at: &'a [u8], duration: u64, max_entries: u64) -> Result<(), Error> {
        Ok(())
    }
    fn stream_idmp_producer(&mut self, at: &'a [u8], pid: RdbString<'a>) -> Result<(), Error> {
        Ok(())
    }
}

impl<'a> ValueVisitor<'a> for () {}

fn visit(r: Result<(), Error>) -> Result<(), nom::Err<Error>> {
    r.map_err(nom::Err::Failure)
}

/// Walks one value of type `t`, returning the input after it.
pub fn walk_value<'a, V: ValueVisitor<'a>>(
    input: &'a [u8],
    t: ValueType,
    rdb_version: u32,
    v: &mut V,
) -> PResult<'a, ()> {
    use ValueType::*;
    let mut rest = input;
    macro_rules! call {
        ($e:expr) => {
            visit($e)?
        };
    }
    match t {
        String => {
            let (r, s) = parse_string(rest, "string value")?;
            call!(v.string_value(rest, s));
            rest = r;
        }
        ListLinked | SetHashtable => {
            let (r, n) = parse_count(rest, "collection length", 1)?;
            call!(v.count(rest, n));
            rest = r;
            for _ in 0..n {
                if t == SetHashtable
                    && let Some((member, r)) = short_raw_string(rest)
                {
                    call!(v.set_member_raw(rest, member));
                    rest = r;
                    continue;
                }
                let (r, s) = parse_string(rest, "collection element")?;
                if t == ListLinked {
                    call!(v.list_item(rest, s));
                } else {
                    call!(v.set_member(rest, s));
                }
                rest = r;
            }
        }
        ZsetV1 | ZsetV2 => {
            let (r, n) = parse_count(rest, "zset length", 2)?;
            call!(v.count(rest, n));
            rest = r;
            for _ in 0..n {
                let at = rest;
                if t == ZsetV2
                    && let Some((member, r)) = short_raw_string(rest)
                    && let Some((score, r)) = r.split_first_chunk::<8>()
                {
                    call!(v.zset_member_raw(at, member, f64::from_le_bytes(*score)));
                    rest = r;
                    continue;
                }
                let (r, member) = parse_string(rest, "zset member")?;
                let (r, score) = if t == ZsetV1 {
                    parse_string_double(r, "zset score")?
                } else {
                    parse_le_f64(r, "zset score")?
                };
                call!(v.zset_member(at, member, score));
                rest = r;
            }
        }
        HashHashtable => {
            let (r, n) = parse_count(rest, "hash length", 2)?;
            call!(v.count(rest, n));
            rest = r;
            for _ in 0..n {
                let at = rest;
                if let Some((field, r)) = short_raw_string(rest)
                    && let Some((value, r)) = short_raw_string(r)
                {
                    call!(v.hash_field_raw(at, field, value));
                    rest = r;
                    continue;
                }
                let (r, field) = parse_string(rest, "hash field")?;
                let (r, value) = parse_string(r, "hash value")?;
                call!(v.hash_field(at, field, value, FieldTtl::None));
                rest = r;
            }
        }
        HashMetadataPreGa | HashMetadata => {
            if t == HashMetadata {
                let (r, min) = parse_le_i64(rest, "hash minExpire")?;
                call!(v.hash_min_expire(rest, min as u64));
                rest = r;
            }
            let (r, n) = parse_count(rest, "hash length", 3)?;
            call!(v.count(rest, n));
            rest = r;
            for _ in 0..n {
                let at = rest;
                let (r, ttl) = parse_length(rest, "hash field ttl")?;
                let (r, field) = parse_string(r, "hash field")?;
                let (r, value) = parse_string(r, "hash value")?;
                let ttl = if t == HashMetadata {
                    FieldTtl::Relative(ttl)
                } else {
                    FieldTtl::Absolute(ttl)
                };
                call!(v.hash_field(at, field, value, ttl));
                rest = r;
            }
        }
        ValkeyHash2 => {
            let (r, n) = parse_count(rest, "hash length", 10)?;
            call!(v.count(rest, n));
            rest = r;
            for _ in 0..n {
                let at = rest;
                let (r, field) = parse_string(rest, "hash field")?;
                let (r, value) = parse_string(r, "hash value")?;
                let (r, expiry) = parse_le_i64(r, "hash field expiry")?;
                call!(v.hash_field(at, field, value, FieldTtl::Valkey(expiry)));
                rest = r;
            }
        }
        HashZipmap | ListZiplist | SetIntset | ZsetZiplist | HashZiplist | HashListpack
        | ZsetListpack | SetListpack | HashListpackExPreGa => {
            let kind = match t {
                HashZipmap => BlobKind::HashZipmap,
                ListZiplist => BlobKind::ListZiplist,
                SetIntset => BlobKind::SetIntset,
                ZsetZiplist => BlobKind::ZsetZiplist,
                HashZiplist => BlobKind::HashZiplist,
                HashListpack => BlobKind::HashListpack,
                ZsetListpack => BlobKind::ZsetListpack,
                SetListpack => BlobKind::SetListpack,
                _ => BlobKind::HashListpackEx,
            };
            let (r, s) = parse_string(rest, "encoded blob")?;
            call!(v.blob(rest, kind, s));
            rest = r;
        }
        HashListpackEx => {
            let (r, min) = parse_le_i64(rest, "hash minExpire")?;
            call!(v.hash_min_expire(rest, min as u64));
            let (r2, s) = parse_string(r, "encoded blob")?;
            call!(v.blob(r, BlobKind::HashListpackEx, s));
            rest = r2;
        }
        ListQuicklist => {
            let (r, n) = parse_count(rest, "quicklist node count", 1)?;
            call!(v.count(rest, n));
            rest = r;
            for _ in 0..n {
                let (r, s) = parse_string(rest, "quicklist node")?;
                call!(v.blob(rest, BlobKind::QuicklistZiplist, s));
                rest = r;
            }
        }
        ListQuicklist2 => {
            let (r, n) = parse_count(rest, "quicklist node count", 2)?;
            call!(v.count(rest, n));
            rest = r;
            for _ in 0..n {
                let at = rest;
                let (r, container) = parse_length(rest, "quicklist container")?;
                let (r, s) = parse_string(r, "quicklist node")?;
                match container {
                    QUICKLIST_NODE_CONTAINER_PLAIN => call!(v.quicklist_plain(at, s)),
                    QUICKLIST_NODE_CONTAINER_PACKED => {
                        call!(v.blob(at, BlobKind::QuicklistListpack, s))
                    }
                    c => {
                        return Error::invalid(
                            at,
                            format!(
                                "Quicklist integrity check failed: expected container 1 (plain) or 2 (packed), found {c}"
                            ),
                        )
                        .fail();
                    }
                }
                rest = r;
            }
        }
        ModulePreGa => {
            return Error::invalid(rest, "Pre-release module format not supported").fail();
        }
        Module2 => {
            let (r, id) = parse_length(rest, "module id")?;
            let (r, items) = skip_module_opcodes(r, "module value")?;
            call!(v.module_value(rest, id, items));
            rest = r;
        }
        StreamListpacks | StreamListpacks2 | StreamListpacks3 | StreamListpacks4
        | StreamListpacks5 => {
            let version = t.stream_version().unwrap_or(1);
            rest = walk_stream(rest, version, v)?.0;
        }
    }
    let _ = rdb_version;
    Ok((rest, ()))
}

fn parse_id_pair<'a>(input: &'a [u8], reading: &'static str) -> PResult<'a, StreamIdPair> {
    let (r, ms) = parse_length(input, reading)?;
    let (r, seq) = parse_length(r, reading)?;
    Ok((r, StreamIdPair { ms, seq }))
}

/// Stream layouts v1..v5 (FORMATS.md §2.6).
fn walk_stream<'a, V: ValueVisitor<'a>>(
    input: &'a [u8],
    version: u8,
    v: &mut V,
) -> PResult<'a, ()> {
    let (mut rest, nodes) = parse_count(input, "stream listpack count", 2)?;
    visit(v.count(input, nodes))?;
    for _ in 0..nodes {
        let at = rest;
        let (r, key) = parse_string(rest, "stream node key")?;
        let (r, lp) = parse_string(r, "stream listpack")?;
        visit(v.stream_node(at, key, lp))?;
        rest = r;
    }
    let meta_at = rest;
    let (r, length) = parse_length(rest, "stream length")?;
    let (mut r, last_id) = parse_id_pair(r, "stream last id")?;
    let mut meta = StreamMeta {
        length,
        last_id,
        nodes,
        ..StreamMeta::default()
    };
    if version >= 2 {
        let (r2, first) = parse_id_pair(r, "stream first id")?;
        let (r2, maxdel) = parse_id_pair(r2, "stream max deleted id")?;
        let (r2, added) = parse_length(r2, "stream entries added")?;
        meta.first_id = Some(first);
        meta.max_deleted_id = Some(maxdel);
        meta.entries_added = Some(added);
        r = r2;
    }
    visit(v.stream_meta(meta_at, &meta))?;
    rest = r;
    let (r, groups) = parse_count(rest, "stream consumer group count", 3)?;
    rest = r;
    for _ in 0..groups {
        let at = rest;
        let (r, name) = parse_string(rest, "consumer group name")?;
        let (mut r, last) = parse_id_pair(r, "consumer group last id")?;
        let mut entries_read = None;
        if version >= 2 {
            let (r2, er) = parse_length(r, "consumer group entries read")?;
            entries_read = Some(er);
            r = r2;
        }
        visit(v.stream_group(at, name, last, entries_read))?;
        let (mut r, pel) = parse_count(r, "consumer group PEL size", 25)?;
        visit(v.stream_pel_len(at, pel))?;
        for _ in 0..pel {
            let at = r;
            let (r2, id) = take_bytes(r, 16, "PEL entry id")?;
            let (r2, delivery) = parse_le_i64(r2, "PEL delivery time")?;
            let (r2, count) = parse_length(r2, "PEL delivery count")?;
            visit(v.stream_pel(at, id, delivery, count))?;
            r = r2;
        }
        let (mut r, consumers) = parse_count(r, "consumer count", 10)?;
        for _ in 0..consumers {
            let at = r;
            let (r2, cname) = parse_string(r, "consumer name")?;
            let (mut r2, seen) = parse_le_i64(r2, "consumer seen time")?;
            let mut active = None;
            if version >= 3 {
                let (r3, a) = parse_le_i64(r2, "consumer active time")?;
                active = Some(a);
                r2 = r3;
            }
            visit(v.stream_consumer(at, cname, seen, active))?;
            let (mut r2, n) = parse_count(r2, "consumer PEL size", 16)?;
            for _ in 0..n {
                let (r3, id) = take_bytes(r2, 16, "consumer PEL id")?;
                visit(v.stream_consumer_pel(r2, id))?;
                r2 = r3;
            }
            r = r2;
        }
        if version >= 5 {
            let (mut r2, n) = parse_count(r, "NACK zone size", 16)?;
            for _ in 0..n {
                let (r3, id) = take_bytes(r2, 16, "NACK zone id")?;
                visit(v.stream_nack(r2, id))?;
                r2 = r3;
            }
            r = r2;
        }
        visit(v.stream_group_end(r))?;
        rest = r;
    }
    if version >= 4 {
        let at = rest;
        let (r, duration) = parse_length(rest, "stream IDMP duration")?;
        let (r, max_entries) = parse_length(r, "stream IDMP max entries")?;
        visit(v.stream_idmp(at, duration, max_entries))?;
        let (mut r, producers) = parse_count(r, "stream IDMP producer count", 2)?;
        for _ in 0..producers {
            let at = r;
            let (r2, pid) = parse_string(r, "IDMP producer id")?;
            visit(v.stream_idmp_producer(at, pid))?;
            let (mut r2, n) = parse_count(r2, "IDMP entry count", 3)?;
            for _ in 0..n {
                let (r3, _iid) = parse_string(r2, "IDMP entry id")?;
                let (r3, _) = parse_id_pair(r3, "IDMP stream id")?;
                r2 = r3;
            }
            r = r2;
        }
        let (r, _added) = parse_length(r, "stream IDMP iids added")?;
        let (r, _dups) = parse_length(r, "stream IDMP iids duplicates")?;
        rest = r;
    }
    Ok((rest, ()))
}
