//! The memory model: what a key costs in a server's memory once the file is
//! loaded, in the terms `MEMORY USAGE key SAMPLES 0` reports it.
//!
//! # What is modelled
//!
//! A loaded key is an object header (`robj`, 16 bytes) plus its value's
//! structures, plus the key's own string and its slot in the keyspace:
//!
//! * **Strings** (`sds`): a 1, 3, 5, 9 or 17-byte header (by length: < 32,
//!   < 256, < 64 Ki, < 4 Gi), the bytes, a NUL. `int` strings live in the
//!   header's pointer; `embstr` (short strings) share one allocation with the
//!   header; `raw` strings are a second allocation.
//! * **Packed encodings** (listpack, ziplist, intset): one allocation, sized
//!   as in the file. A blob the server converts on load (a ziplist into a
//!   listpack, a small hashtable-encoded set into an intset or listpack) is
//!   sized as the server would build it: a listpack entry is 1–9 bytes for
//!   an integer, or 1, 2 or 5 header bytes plus the string, plus 1–5 bytes
//!   of back-length; a listpack adds 7 bytes; an intset 8 + n × width.
//! * **quicklist**: the list header (40), a 32-byte node per node, each
//!   node's listpack.
//! * **hashtable** (`dict`): the table header, 8 bytes per bucket (a power
//!   of two ≥ the element count, as `dictExpand` sizes it on load), a
//!   24-byte entry per element and the element strings. Valkey 8.1+'s
//!   `hashtable` instead has 64-byte buckets of 7 slots (plus the expected
//!   number of chained child buckets) and no entries; its hash entries embed
//!   the field, and the value when the entry stays within 128 bytes.
//! * **skiplist** (sorted sets): a dict as above plus a skiplist node per
//!   member (24 + 16 bytes per level; levels are random with p = 1/4, so the
//!   model uses the expected allocation) and the 32-level header node.
//! * **streams**: the radix tree of node listpacks, the listpacks, consumer
//!   groups, consumers, and their PEL radix trees, each rebuilt node for
//!   node from the IDs in the file ([`super::rax`], [`Model::rax`]), with a
//!   24-byte NACK per pending entry.
//! * **keyspace**: the key string and its 24-byte `dictEntry` (Redis ≤ 7);
//!   Redis 8 and Valkey 8+ embed the key (and its expiry) in the object
//!   header's allocation instead.
//!
//! Constants marked *measured* were fitted against the servers' `MEMORY
//! USAGE` where the source could not be followed (Redis 8 is not BSD
//! licensed: only its behaviour was observed).
//!
//! Every allocation is rounded up to the allocator's size class
//! ([`Allocator`]): jemalloc as Redis builds it (8-byte quantum: 8, 16, 24,
//! … 64, then four classes per power of two), jemalloc with a 16-byte
//! quantum (distribution packages), or glibc malloc (16-byte chunks with an
//! 8-byte header, at least 24 usable).
//!
//! # What the server reports vs what it uses
//!
//! Per key the estimate follows `MEMORY USAGE` (so it can be checked against
//! it). The total adds what `MEMORY USAGE` leaves out: the keyspace's own
//! bucket arrays, the expires dict (an entry per key with a TTL plus its
//! buckets) — the `overhead.hashtable.*` lines of `MEMORY STATS` — and the
//! allocator's rounding of the 24-byte keyspace entries `MEMORY USAGE`
//! counts unrounded.
//! The measured error against real servers is in the README.
//!
//! Not modelled: module values (their size is the module's business; they
//! count 0), allocator fragmentation, and server configurations other than
//! the defaults (`hash-max-listpack-entries 512`, `…-value 64`,
//! `set-max-intset-entries 512`, `list-max-listpack-size -2`, …).

use super::shape::Shape;
use crate::rdb::ValueType;

/// Malloc size classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// jemalloc 5 as bundled with Redis/Valkey (`--with-lg-quantum=3`).
    Jemalloc,
    /// jemalloc 5 with its default 16-byte quantum (distribution builds).
    Jemalloc16,
    /// glibc malloc (`malloc_usable_size`).
    Libc,
}

impl Allocator {
    pub const NAMES: [&str; 3] = ["jemalloc", "jemalloc-16", "libc"];

    pub fn parse(s: &str) -> Option<Allocator> {
        match s {
            "jemalloc" => Some(Allocator::Jemalloc),
            "jemalloc-16" => Some(Allocator::Jemalloc16),
            "libc" => Some(Allocator::Libc),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Allocator::Jemalloc => "jemalloc",
            Allocator::Jemalloc16 => "jemalloc-16",
            Allocator::Libc => "libc",
        }
    }

    /// The usable size of an allocation of `n` bytes.
    pub fn usable(self, n: u64) -> u64 {
        let n = n.max(1);
        match self {
            Allocator::Libc => {
                if n >= 128 * 1024 {
                    // mmap'd chunk: page granularity, 16-byte header.
                    (n + 16).next_multiple_of(4096) - 16
                } else {
                    ((n + 8).next_multiple_of(16) - 8).max(24)
                }
            }
            Allocator::Jemalloc | Allocator::Jemalloc16 => {
                let quantum = if self == Allocator::Jemalloc { 8 } else { 16 };
                if n <= 8 {
                    8
                } else if n <= 8 * quantum {
                    n.next_multiple_of(quantum)
                } else {
                    // Four classes per power of two.
                    let lg = 63 - (n - 1).leading_zeros();
                    n.next_multiple_of(1u64 << (lg - 2))
                }
            }
        }
    }
}

/// Which server's structures the model follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerModel {
    /// Redis 6.x: ziplists, `dict` of 96 bytes.
    Redis6,
    /// Redis 7.0 and 7.1: listpacks for hashes and zsets, lists always
    /// quicklists.
    Redis70,
    /// Redis 7.2–7.4: also listpack lists and sets. Memory as Redis 7.0
    /// (not measured).
    Redis72,
    /// Redis 8: keys embedded in the object header, no keyspace dictEntry.
    Redis8,
    /// Valkey 8.1+: keys embedded, `hashtable` instead of `dict`.
    Valkey8,
}

impl ServerModel {
    pub const NAMES: [&str; 5] = ["redis-6", "redis-7.0", "redis-7.2", "redis-8", "valkey-8"];

    pub fn parse(s: &str) -> Option<ServerModel> {
        Some(match s {
            "redis-6" => ServerModel::Redis6,
            "redis-7.0" => ServerModel::Redis70,
            "redis-7.2" => ServerModel::Redis72,
            "redis-8" => ServerModel::Redis8,
            "valkey-8" => ServerModel::Valkey8,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ServerModel::Redis6 => "redis-6",
            ServerModel::Redis70 => "redis-7.0",
            ServerModel::Redis72 => "redis-7.2",
            ServerModel::Redis8 => "redis-8",
            ServerModel::Valkey8 => "valkey-8",
        }
    }

    /// The server that would load this file: the one that wrote it, from
    /// the magic and the `redis-ver`/`valkey-ver` aux fields.
    pub fn guess(valkey_magic: bool, redis_ver: Option<&[u8]>, valkey_ver: Option<&[u8]>) -> Self {
        if valkey_magic || valkey_ver.is_some() {
            return ServerModel::Valkey8;
        }
        let v = redis_ver
            .and_then(|v| std::str::from_utf8(v).ok())
            .unwrap_or("");
        let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        match (major, minor) {
            (0, _) => ServerModel::Redis8,
            (1..=6, _) => ServerModel::Redis6,
            (7, 0 | 1) => ServerModel::Redis70,
            (7, _) => ServerModel::Redis72,
            _ => ServerModel::Redis8,
        }
    }

    fn embeds_key(self) -> bool {
        matches!(self, ServerModel::Redis8 | ServerModel::Valkey8)
    }

    fn listpack_name(self) -> &'static str {
        if self == ServerModel::Redis6 {
            "ziplist"
        } else {
            "listpack"
        }
    }

    /// Lists and sets may be listpacks (7.2+).
    fn small_lists_and_sets(self) -> bool {
        !matches!(self, ServerModel::Redis6 | ServerModel::Redis70)
    }
}

/// Server defaults for the encoding thresholds.
const HASH_MAX_LISTPACK_ENTRIES: u64 = 512;
const HASH_MAX_LISTPACK_VALUE: u64 = 64;
const ZSET_MAX_LISTPACK_ENTRIES: u64 = 128;
const ZSET_MAX_LISTPACK_VALUE: u64 = 64;
const SET_MAX_INTSET_ENTRIES: u64 = 512;
const SET_MAX_LISTPACK_ENTRIES: u64 = 128;
const SET_MAX_LISTPACK_VALUE: u64 = 64;
/// `list-max-listpack-size -2`: 8 KiB per node.
pub const LIST_NODE_BYTES: u64 = 8192;

const ROBJ: u64 = 16;
/// Valkey's `hashtable` struct as `MEMORY USAGE` counts it (measured).
const VALKEY_HASHTABLE: u64 = 80;
/// Valkey's index of expiring hash fields, per field (measured).
const VALKEY_VOLATILE_FIELD: u64 = 10;
/// Redis 8's expiry index of hash fields, per expiring field (measured).
const REDIS_EXPIRING_FIELD: u64 = 16;
const DICT_ENTRY: u64 = 24;
const QUICKLIST: u64 = 40;
const QUICKLIST_NODE: u64 = 32;
const ZSET_STRUCT: u64 = 16;
const ZSKIPLIST: u64 = 32;
const STREAM_STRUCT: u64 = 80;
/// Redis 8's stream struct (IDMP state) is larger (measured).
const STREAM_STRUCT_8: u64 = 112;
/// Redis 6 does not count the stream struct; what it counts beyond the
/// modelled parts is a constant 50 bytes (measured).
const STREAM_STRUCT_6: u64 = 50;
const STREAM_CG: u64 = 40;
const STREAM_CG_6: u64 = 32;
const STREAM_NACK: u64 = 24;
/// The `rax` struct: head, element and node counts, allocation size.
const RAX_STRUCT: u64 = 32;
/// Redis 7.2+ and Valkey consumers have an active time.
const STREAM_CONSUMER: u64 = 32;
const STREAM_CONSUMER_7: u64 = 24;

/// The model: a server family and an allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    pub server: ServerModel,
    pub allocator: Allocator,
}

/// Bytes of an sds string holding `n` bytes, before allocator rounding.
pub fn sds_bytes(n: u64) -> u64 {
    let header = match n {
        0..32 => 1,
        32..256 => 3,
        256..65_536 => 5,
        65_536..4_294_967_296 => 9,
        _ => 17,
    };
    header + n + 1
}

/// Bytes of an sds with at least an 8-bit header (`embstr` never uses the
/// 5-bit form).
fn sds8_bytes(n: u64) -> u64 {
    sds_bytes(n.max(32)) - n.max(32) + n
}

impl Model {
    pub fn alloc(&self, n: u64) -> u64 {
        self.allocator.usable(n)
    }

    pub fn sds(&self, n: u64) -> u64 {
        self.alloc(sds_bytes(n))
    }

    /// Buckets of a `dict` sized for `n` elements on load.
    fn dict_buckets(n: u64) -> u64 {
        n.max(4).next_power_of_two()
    }

    fn dict_header(&self) -> u64 {
        match self.server {
            ServerModel::Redis6 => 96,
            _ => 56,
        }
    }

    /// Table memory of a hashtable holding `n` elements (not the elements).
    fn table(&self, n: u64) -> u64 {
        match self.server {
            ServerModel::Valkey8 => {
                // 64-byte buckets of 7 slots, as many as needed at full fill
                // (a power of two), plus the child buckets chained from
                // overflowing ones: expected from a Poisson spread of the
                // elements over the buckets (measured on Valkey 9.1).
                let buckets = n.div_ceil(7).max(1).next_power_of_two();
                let children = buckets as f64 * expected_overflow(n as f64 / buckets as f64);
                VALKEY_HASHTABLE
                    + self.alloc(buckets * 64)
                    + (children * self.alloc(64) as f64).round() as u64
            }
            _ => self.dict_header() + 8 * Self::dict_buckets(n),
        }
    }

    /// Per-element cost in a hashtable-encoded set (beyond the table).
    pub fn set_entry(&self, len: u64) -> u64 {
        match self.server {
            ServerModel::Valkey8 => self.sds(len),
            _ => self.sds(len) + DICT_ENTRY,
        }
    }

    /// Per-pair cost in a hashtable-encoded hash; `ttl`: the field has an
    /// expiry; `ttl_layout`: the hash is stored with field TTLs (Redis 7.4+
    /// hash types with metadata).
    pub fn hash_entry(&self, field: u64, value: u64, ttl: bool, ttl_layout: bool) -> u64 {
        match self.server {
            // The field in the entry, with the value embedded when the
            // entry stays small, else pointed to (measured).
            // A field with an expiry carries it in the entry (8 bytes) and
            // is tracked in the volatile-fields index (~10 bytes, measured).
            ServerModel::Valkey8 => {
                let expiry = if ttl { 8 } else { 0 };
                let tracked = if ttl { VALKEY_VOLATILE_FIELD } else { 0 };
                let embedded = 1 + sds_bytes(field) + sds_bytes(value) + expiry;
                tracked
                    + if embedded <= 128 {
                        self.alloc(embedded)
                    } else {
                        self.alloc(1 + sds_bytes(field) + 8 + expiry) + self.sds(value)
                    }
            }
            // Redis 7.4+: in a hash with field TTLs every field string has
            // room for an expiry (8 bytes), and each expiring field costs
            // ~16 bytes in the hash's expiry index (measured on 8.2).
            _ if ttl_layout => {
                self.alloc(sds_bytes(field) + 8)
                    + self.sds(value)
                    + DICT_ENTRY
                    + if ttl { REDIS_EXPIRING_FIELD } else { 0 }
            }
            _ => self.sds(field) + self.sds(value) + DICT_ENTRY,
        }
    }

    /// Expected allocation of a skiplist node of `extra` more bytes
    /// (random level, p = 1/4).
    fn skiplist_node(&self, extra: u64) -> u64 {
        let mut expected = 0.0;
        let mut p = 0.75;
        for level in 1..=8u64 {
            expected += p * self.alloc(24 + 16 * level + extra) as f64;
            p *= 0.25;
        }
        expected.round() as u64
    }

    /// Per-member cost in a skiplist-encoded zset. Valkey 8+ embeds the
    /// member string in its skiplist node; Redis 8's dict entry has no
    /// value pointer (16 bytes).
    pub fn zset_entry(&self, len: u64) -> u64 {
        match self.server {
            ServerModel::Valkey8 => self.skiplist_node(sds_bytes(len)),
            ServerModel::Redis8 => self.sds(len) + 16 + self.skiplist_node(0),
            _ => self.sds(len) + DICT_ENTRY + self.skiplist_node(0),
        }
    }

    /// The `OBJECT ENCODING` a server of this model gives the value once
    /// loaded.
    pub fn encoding(&self, t: ValueType, key_len: u64, expires: bool, s: &Shape) -> &'static str {
        use ValueType::*;
        let lp = self.server.listpack_name();
        match t {
            String => match self.string_encoding(key_len, expires, s) {
                StringEnc::Int => "int",
                StringEnc::Embstr => "embstr",
                StringEnc::Raw => "raw",
            },
            ListLinked | ListZiplist | ListQuicklist | ListQuicklist2 => {
                if self.server.small_lists_and_sets() && self.list_fits_one_node(s) {
                    "listpack"
                } else {
                    "quicklist"
                }
            }
            SetHashtable | SetIntset | SetListpack => self.set_encoding(t, s),
            ZsetV1 | ZsetV2 | ZsetZiplist | ZsetListpack => {
                if s.elements <= ZSET_MAX_LISTPACK_ENTRIES
                    && (s.max_elem_len <= ZSET_MAX_LISTPACK_VALUE || s.packed)
                {
                    lp
                } else {
                    "skiplist"
                }
            }
            HashHashtable | HashZipmap | HashZiplist | HashListpack => {
                if self.hash_is_small(s) {
                    lp
                } else {
                    "hashtable"
                }
            }
            HashMetadataPreGa | HashListpackExPreGa | HashMetadata | HashListpackEx => {
                if self.hash_is_small(s) {
                    "listpackex"
                } else {
                    "hashtable"
                }
            }
            ValkeyHash2 => "hashtable",
            StreamListpacks | StreamListpacks2 | StreamListpacks3 | StreamListpacks4
            | StreamListpacks5 => "stream",
            ModulePreGa | Module2 => "module",
        }
    }

    fn hash_is_small(&self, s: &Shape) -> bool {
        s.elements <= HASH_MAX_LISTPACK_ENTRIES
            && (s.max_elem_len <= HASH_MAX_LISTPACK_VALUE || s.packed)
    }

    /// A packed set is kept as it is unless it is too big; a
    /// hashtable-encoded one is packed when small (as `rdbLoadObject` does).
    fn set_encoding(&self, t: ValueType, s: &Shape) -> &'static str {
        let small_listpack = self.server.small_lists_and_sets()
            && s.elements <= SET_MAX_LISTPACK_ENTRIES
            && s.max_elem_len <= SET_MAX_LISTPACK_VALUE;
        match t {
            ValueType::SetIntset if s.elements <= SET_MAX_INTSET_ENTRIES => "intset",
            ValueType::SetListpack if s.elements <= SET_MAX_LISTPACK_ENTRIES => "listpack",
            ValueType::SetHashtable if s.all_int && s.elements <= SET_MAX_INTSET_ENTRIES => {
                "intset"
            }
            ValueType::SetHashtable if small_listpack => "listpack",
            _ => "hashtable",
        }
    }

    /// A loaded list stays (or becomes) a plain listpack when it is one
    /// packed node that fits the node size limit.
    fn list_fits_one_node(&self, s: &Shape) -> bool {
        s.plain_nodes == 0 && s.nodes <= 1 && s.lp_bytes + 7 <= LIST_NODE_BYTES
    }

    fn string_encoding(&self, key_len: u64, expires: bool, s: &Shape) -> StringEnc {
        if s.string_int {
            return StringEnc::Int;
        }
        let v = s.string_len;
        let embstr = match self.server {
            // One allocation of at most 64 bytes (a cache line), counting
            // the key with a 1-byte header whatever its length (measured).
            ServerModel::Redis8 => {
                ROBJ + 1 + key_len + 2 + sds8_bytes(v) + 8 * u64::from(expires) <= 64
            }
            ServerModel::Valkey8 => {
                8 + 1 + sds_bytes(key_len) + sds8_bytes(v) + 8 * u64::from(expires) <= 128
            }
            _ => v <= 44,
        };
        if embstr {
            StringEnc::Embstr
        } else {
            StringEnc::Raw
        }
    }

    /// The object header, with the key (and expiry) embedded where the
    /// server embeds them.
    fn header(&self, key_len: u64, expires: bool) -> u64 {
        match self.server {
            ServerModel::Redis8 => {
                self.alloc(ROBJ + 1 + sds_bytes(key_len) + 8 * u64::from(expires))
            }
            ServerModel::Valkey8 => {
                self.alloc(ROBJ + 1 + sds_bytes(key_len) + 8 * u64::from(expires))
            }
            _ => ROBJ,
        }
    }

    /// The key's own cost outside the object: its string and keyspace
    /// entry, where not embedded.
    fn key_outside(&self, key_len: u64) -> u64 {
        if self.server.embeds_key() {
            0
        } else {
            self.sds(key_len) + DICT_ENTRY
        }
    }

    /// What `MEMORY USAGE key SAMPLES 0` would report for this key.
    pub fn key_usage(&self, t: ValueType, key_len: u64, expires: bool, s: &Shape) -> u64 {
        use ValueType::*;
        let enc = self.encoding(t, key_len, expires, s);
        let head = self.header(key_len, expires);
        let value = match t {
            String => {
                let v = s.string_len;
                match (enc, self.server) {
                    ("int", _) => head,
                    ("embstr", ServerModel::Redis6) => ROBJ + v + 2,
                    ("embstr", ServerModel::Redis8) => self.alloc(
                        ROBJ + 1 + sds_bytes(key_len) + sds8_bytes(v) + 8 * u64::from(expires),
                    ),
                    ("embstr", ServerModel::Valkey8) => self
                        .alloc(8 + 1 + sds_bytes(key_len) + sds8_bytes(v) + 8 * u64::from(expires)),
                    ("embstr", _) => self.alloc(ROBJ + sds8_bytes(v)),
                    _ => head + self.sds(v),
                }
            }
            ListLinked | ListZiplist | ListQuicklist | ListQuicklist2 => {
                if enc == "listpack" {
                    head + self.alloc(s.lp_bytes + 7)
                } else {
                    head + QUICKLIST + self.quicklist_nodes(t, s)
                }
            }
            SetHashtable | SetIntset | SetListpack => {
                head + match enc {
                    "intset" => self.alloc(s.intset_bytes()),
                    "listpack" => self.alloc(s.lp_bytes + 7),
                    _ => self.table(s.elements) + s.ht_bytes,
                }
            }
            ZsetV1 | ZsetV2 | ZsetZiplist | ZsetListpack => {
                head + if enc == "skiplist" {
                    ZSET_STRUCT
                        + ZSKIPLIST
                        + self.table(s.elements)
                        + self.alloc(24 + 16 * 32)
                        + s.ht_bytes
                } else {
                    self.packed(s)
                }
            }
            HashHashtable | HashZipmap | HashZiplist | HashListpack | HashMetadataPreGa
            | HashListpackExPreGa | HashMetadata | HashListpackEx | ValkeyHash2 => {
                head + if enc == "hashtable" {
                    self.table(s.elements) + s.ht_bytes
                } else {
                    self.packed(s)
                }
            }
            StreamListpacks | StreamListpacks2 | StreamListpacks3 | StreamListpacks4
            | StreamListpacks5 => head + self.stream(s),
            ModulePreGa | Module2 => head,
        };
        value + self.key_outside(key_len)
    }

    /// A packed value kept as loaded, or built from its elements.
    fn packed(&self, s: &Shape) -> u64 {
        let bytes = if s.packed && s.blob_is_listpack {
            s.blob_bytes
        } else {
            s.lp_bytes + 7
        };
        self.alloc(bytes)
    }

    fn quicklist_nodes(&self, t: ValueType, s: &Shape) -> u64 {
        let as_loaded = matches!(t, ValueType::ListQuicklist2)
            || (self.server == ServerModel::Redis6 && t == ValueType::ListQuicklist);
        let (nodes, raw, allocated) = if as_loaded {
            (s.nodes, s.node_bytes, s.node_alloc)
        } else {
            // Rebuilt: elements packed into 8 KiB nodes.
            let nodes = (s.lp_bytes + 7).div_ceil(LIST_NODE_BYTES).max(1);
            let bytes = s.lp_bytes + 7 * nodes;
            (nodes, bytes, self.alloc(bytes / nodes) * nodes)
        };
        // Redis 6 counts a ziplist's bytes, later servers the allocation.
        let data = match self.server {
            ServerModel::Redis6 => raw,
            _ => allocated,
        };
        nodes * QUICKLIST_NODE + data
    }

    /// A radix tree of `keys` keys in `nodes` nodes whose node
    /// allocations sum to `allocated` ([`super::rax`]): Redis counts 16
    /// bytes per key and 244 per node (`streamRadixTreeMemoryUsage`),
    /// Valkey the tree's allocations (`raxAllocSize`).
    pub fn rax(&self, keys: u64, nodes: u64, allocated: u64) -> u64 {
        match self.server {
            ServerModel::Valkey8 => self.alloc(RAX_STRUCT) + allocated,
            _ => 16 * keys + 244 * nodes,
        }
    }

    fn stream(&self, s: &Shape) -> u64 {
        let (stream_struct, group, consumer) = match self.server {
            ServerModel::Redis6 => (STREAM_STRUCT_6, STREAM_CG_6, STREAM_CONSUMER_7),
            ServerModel::Redis70 => (STREAM_STRUCT, STREAM_CG, STREAM_CONSUMER_7),
            ServerModel::Redis8 => (STREAM_STRUCT_8, STREAM_CG, STREAM_CONSUMER),
            _ => (STREAM_STRUCT, STREAM_CG, STREAM_CONSUMER),
        };
        let lists = match self.server {
            ServerModel::Redis6 => s.node_bytes,
            _ => s.node_alloc,
        };
        stream_struct
            + lists
            + s.stream_groups * group
            + s.stream_pel * STREAM_NACK
            + s.stream_consumers * consumer
            + s.consumer_name_bytes
            + s.rax_bytes
    }

    /// Memory outside every key's `MEMORY USAGE`: keyspace buckets and the
    /// expires dict, for a db of `keys` keys of which `expires` have a TTL.
    /// `MEMORY USAGE` counts a keyspace `dictEntry` as its 24-byte size;
    /// the allocator rounds it up (to 32 with a 16-byte quantum), and that
    /// difference is added here too.
    pub fn keyspace_overhead(&self, keys: u64, expires: u64) -> u64 {
        let entry = self.alloc(DICT_ENTRY);
        let expires_dict = if expires == 0 {
            0
        } else {
            self.table(expires)
                // Servers that embed keys keep no entries in the expires
                // table either.
                + if self.server.embeds_key() {
                    0
                } else {
                    expires * entry
                }
        };
        let main = if keys == 0 { 0 } else { self.table(keys) };
        let rounding = if self.server.embeds_key() {
            0
        } else {
            keys * (entry - DICT_ENTRY)
        };
        main + expires_dict + rounding
    }
}

/// Expected child buckets per bucket when a bucket of 7 slots receives a
/// Poisson(`mean`) number of elements and each child holds 7 more.
fn expected_overflow(mean: f64) -> f64 {
    let mut p = (-mean).exp();
    let mut expected = 0.0;
    for k in 1..=64u32 {
        p *= mean / f64::from(k);
        if k > 7 {
            expected += p * f64::from((k - 7).div_ceil(7));
        }
    }
    expected
}

enum StringEnc {
    Int,
    Embstr,
    Raw,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes() {
        let je: Vec<u64> = [1, 8, 9, 24, 25, 64, 65, 128, 129, 1025, 14337, 16385]
            .iter()
            .map(|&n| Allocator::Jemalloc.usable(n))
            .collect();
        assert_eq!(je, [8, 8, 16, 24, 32, 64, 80, 128, 160, 1280, 16384, 20480]);
        let je16: Vec<u64> = [1, 9, 17, 33, 100, 129]
            .iter()
            .map(|&n| Allocator::Jemalloc16.usable(n))
            .collect();
        assert_eq!(je16, [8, 16, 32, 48, 112, 160]);
        let libc: Vec<u64> = [1, 24, 25, 40, 41, 100, 200_000]
            .iter()
            .map(|&n| Allocator::Libc.usable(n))
            .collect();
        assert_eq!(libc, [24, 24, 40, 40, 56, 104, 200_688]);
    }

    #[test]
    fn sds_headers() {
        assert_eq!(sds_bytes(0), 2);
        assert_eq!(sds_bytes(31), 33);
        assert_eq!(sds_bytes(32), 36);
        assert_eq!(sds_bytes(300), 306);
        assert_eq!(sds8_bytes(1), 5);
        assert_eq!(sds8_bytes(100), 104);
    }

    #[test]
    fn server_guess() {
        let g = |v: &str| ServerModel::guess(false, Some(v.as_bytes()), None);
        assert_eq!(g("6.2.14"), ServerModel::Redis6);
        assert_eq!(g("7.0.15"), ServerModel::Redis70);
        assert_eq!(g("7.2.4"), ServerModel::Redis72);
        assert_eq!(g("8.2.3"), ServerModel::Redis8);
        assert_eq!(ServerModel::guess(true, None, None), ServerModel::Valkey8);
        assert_eq!(ServerModel::guess(false, None, None), ServerModel::Redis8);
    }
}
