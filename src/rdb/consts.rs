//! RDB format constants under the names Redis and Valkey give them in
//! `rdb.h`, so `git grep RDB_TYPE_LIST_QUICKLIST_2` finds the same thing in
//! both code bases. No reading logic lives here.

pub const RDB_TYPE_STRING: u8 = 0;
pub const RDB_TYPE_LIST: u8 = 1;
pub const RDB_TYPE_SET: u8 = 2;
pub const RDB_TYPE_ZSET: u8 = 3;
pub const RDB_TYPE_HASH: u8 = 4;
pub const RDB_TYPE_ZSET_2: u8 = 5;
pub const RDB_TYPE_MODULE_PRE_GA: u8 = 6;
pub const RDB_TYPE_MODULE_2: u8 = 7;
pub const RDB_TYPE_HASH_ZIPMAP: u8 = 9;
pub const RDB_TYPE_LIST_ZIPLIST: u8 = 10;
pub const RDB_TYPE_SET_INTSET: u8 = 11;
pub const RDB_TYPE_ZSET_ZIPLIST: u8 = 12;
pub const RDB_TYPE_HASH_ZIPLIST: u8 = 13;
pub const RDB_TYPE_LIST_QUICKLIST: u8 = 14;
pub const RDB_TYPE_STREAM_LISTPACKS: u8 = 15;
pub const RDB_TYPE_HASH_LISTPACK: u8 = 16;
pub const RDB_TYPE_ZSET_LISTPACK: u8 = 17;
pub const RDB_TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const RDB_TYPE_STREAM_LISTPACKS_2: u8 = 19;
pub const RDB_TYPE_SET_LISTPACK: u8 = 20;
pub const RDB_TYPE_STREAM_LISTPACKS_3: u8 = 21;
/// Redis 7.4 release candidates; Valkey 9 uses 22 for `RDB_TYPE_HASH_2`.
pub const RDB_TYPE_HASH_METADATA_PRE_GA: u8 = 22;
pub const RDB_TYPE_HASH_LISTPACK_EX_PRE_GA: u8 = 23;
pub const RDB_TYPE_HASH_METADATA: u8 = 24;
pub const RDB_TYPE_HASH_LISTPACK_EX: u8 = 25;
pub const RDB_TYPE_STREAM_LISTPACKS_4: u8 = 26;
pub const RDB_TYPE_STREAM_LISTPACKS_5: u8 = 27;
/// Valkey 9 (`VALKEY080`): hash with per-field expiry.
pub const VALKEY_RDB_TYPE_HASH_2: u8 = 22;

pub const RDB_OPCODE_KEY_META: u8 = 243;
pub const VALKEY_RDB_OPCODE_SLOT_IMPORT: u8 = 243;
pub const RDB_OPCODE_SLOT_INFO: u8 = 244;
pub const RDB_OPCODE_FUNCTION2: u8 = 245;
pub const RDB_OPCODE_FUNCTION_PRE_GA: u8 = 246;
pub const RDB_OPCODE_MODULE_AUX: u8 = 247;
pub const RDB_OPCODE_IDLE: u8 = 248;
pub const RDB_OPCODE_FREQ: u8 = 249;
pub const RDB_OPCODE_AUX: u8 = 250;
pub const RDB_OPCODE_RESIZEDB: u8 = 251;
pub const RDB_OPCODE_EXPIRETIME_MS: u8 = 252;
pub const RDB_OPCODE_EXPIRETIME: u8 = 253;
pub const RDB_OPCODE_SELECTDB: u8 = 254;
pub const RDB_OPCODE_EOF: u8 = 255;

pub const RDB_6BITLEN: u8 = 0;
pub const RDB_14BITLEN: u8 = 1;
pub const RDB_32BITLEN: u8 = 0x80;
pub const RDB_64BITLEN: u8 = 0x81;
pub const RDB_ENCVAL: u8 = 3;

pub const RDB_ENC_INT8: u8 = 0;
pub const RDB_ENC_INT16: u8 = 1;
pub const RDB_ENC_INT32: u8 = 2;
pub const RDB_ENC_LZF: u8 = 3;

pub const RDB_MODULE_OPCODE_EOF: u64 = 0;
pub const RDB_MODULE_OPCODE_SINT: u64 = 1;
pub const RDB_MODULE_OPCODE_UINT: u64 = 2;
pub const RDB_MODULE_OPCODE_FLOAT: u64 = 3;
pub const RDB_MODULE_OPCODE_DOUBLE: u64 = 4;
pub const RDB_MODULE_OPCODE_STRING: u64 = 5;

pub const QUICKLIST_NODE_CONTAINER_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_CONTAINER_PACKED: u64 = 2;

/// `REDISMODULE_AUX_BEFORE_RDB` / `_AFTER_RDB`.
pub const REDISMODULE_AUX_BEFORE_RDB: u64 = 1;
pub const REDISMODULE_AUX_AFTER_RDB: u64 = 2;

/// Hash field expiry bound (`EB_EXPIRE_TIME_MAX`, 2^48 - 1 ms).
pub const EB_EXPIRE_TIME_MAX: u64 = (1 << 48) - 1;
pub const EB_EXPIRE_TIME_INVALID: u64 = 1 << 48;

/// Highest RDB version written by a Redis release that redcheck knows.
pub const REDIS_RDB_VERSION_MAX: u32 = 14;
/// Valkey's "foreign" version range (`RDB_FOREIGN_VERSION_MIN/MAX`).
pub const RDB_FOREIGN_VERSION_MIN: u32 = 12;
pub const RDB_FOREIGN_VERSION_MAX: u32 = 79;
/// Highest released Valkey RDB version (`VALKEY080`, Valkey 9.0/9.1).
pub const VALKEY_RDB_VERSION_MAX: u32 = 80;

/// Stream listpack entry flags.
pub const STREAM_ITEM_FLAG_DELETED: i64 = 1;
pub const STREAM_ITEM_FLAG_SAMEFIELDS: i64 = 2;
