//! Every length read from a file is checked against the bytes that remain
//! and, where memory would be allocated from it, against a named limit here.

/// Largest uncompressed LZF payload redcheck will inflate into memory
/// (Redis itself caps ziplists and listpacks at 1 GiB, and a string at
/// `proto-max-bulk-len`, 512 MiB by default).
pub const MAX_LZF_UNCOMPRESSED: u64 = 1 << 30;

/// LZF cannot expand by more than this factor: the longest back reference
/// (3 bytes) produces 264 bytes.
pub const LZF_MAX_RATIO: u64 = 88;

/// Ziplist and listpack blobs are capped at 1 GiB by Redis
/// (`ZIPLIST_MAX_SAFETY_SIZE`, `LISTPACK_MAX_SAFETY_SIZE`).
pub const MAX_PACKED_BLOB: u64 = 1 << 30;

/// Maximum number of key-metadata classes on one key (Redis 8.6
/// `KEY_META_MAX_NUM_MODULES`).
pub const MAX_KEY_META_CLASSES: u64 = 7;

/// Collections larger than this are checked for duplicate members with a
/// fingerprint set bounded by this many entries per value; beyond it the
/// duplicate check for that one value is sampled, not exhaustive.
pub const MAX_DUP_CHECK_ELEMENTS: usize = 4 << 20;

/// Databases: servers default to 16, and a SELECTDB beyond the configured
/// count makes them exit. Above this a db number is a warning.
pub const DEFAULT_DATABASES: u64 = 16;

/// Distinct AOF command names counted individually; the rest are counted
/// under one "(other)" bucket, so hostile input cannot grow the map.
pub const MAX_DISTINCT_COMMAND_NAMES: usize = 4096;

/// FLUSHALL/FLUSHDB events kept in an AOF report (the count is exact).
pub const MAX_FLUSH_EVENTS: usize = 10_000;

/// Upper bound of an AOF command's argument vector reserved up front from
/// its `*N` header; it grows past this only as arguments are actually read.
pub const MAX_PREALLOC_ARGS: usize = 1024;
