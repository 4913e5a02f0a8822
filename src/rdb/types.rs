//! Object types, resolved by dialect: the same byte means different things
//! to Redis and Valkey (22, 23), so a byte is never interpreted without the
//! header that says whose file this is.

use super::consts::*;
use super::header::{Dialect, Header};

/// An RDB object type (the value's on-disk layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueType {
    String,
    ListLinked,
    SetHashtable,
    ZsetV1,
    HashHashtable,
    ZsetV2,
    ModulePreGa,
    Module2,
    HashZipmap,
    ListZiplist,
    SetIntset,
    ZsetZiplist,
    HashZiplist,
    ListQuicklist,
    StreamListpacks,
    HashListpack,
    ZsetListpack,
    ListQuicklist2,
    StreamListpacks2,
    SetListpack,
    StreamListpacks3,
    HashMetadataPreGa,
    HashListpackExPreGa,
    HashMetadata,
    HashListpackEx,
    StreamListpacks4,
    StreamListpacks5,
    /// Valkey 9 `RDB_TYPE_HASH_2`.
    ValkeyHash2,
}

/// The user-visible type, as `TYPE key` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogicalType {
    String,
    List,
    Set,
    Zset,
    Hash,
    Stream,
    Module,
}

impl LogicalType {
    pub const ALL: [LogicalType; 7] = [
        LogicalType::String,
        LogicalType::List,
        LogicalType::Set,
        LogicalType::Zset,
        LogicalType::Hash,
        LogicalType::Stream,
        LogicalType::Module,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LogicalType::String => "string",
            LogicalType::List => "list",
            LogicalType::Set => "set",
            LogicalType::Zset => "zset",
            LogicalType::Hash => "hash",
            LogicalType::Stream => "stream",
            LogicalType::Module => "module",
        }
    }
}

impl ValueType {
    /// Resolves a type byte for a file with this header, or explains why it
    /// is not an object type.
    pub fn from_byte(header: &Header, b: u8) -> Result<ValueType, &'static str> {
        use ValueType::*;
        let t = match b {
            RDB_TYPE_STRING => String,
            RDB_TYPE_LIST => ListLinked,
            RDB_TYPE_SET => SetHashtable,
            RDB_TYPE_ZSET => ZsetV1,
            RDB_TYPE_HASH => HashHashtable,
            RDB_TYPE_ZSET_2 => ZsetV2,
            RDB_TYPE_MODULE_PRE_GA => ModulePreGa,
            RDB_TYPE_MODULE_2 => Module2,
            RDB_TYPE_HASH_ZIPMAP => HashZipmap,
            RDB_TYPE_LIST_ZIPLIST => ListZiplist,
            RDB_TYPE_SET_INTSET => SetIntset,
            RDB_TYPE_ZSET_ZIPLIST => ZsetZiplist,
            RDB_TYPE_HASH_ZIPLIST => HashZiplist,
            RDB_TYPE_LIST_QUICKLIST => ListQuicklist,
            RDB_TYPE_STREAM_LISTPACKS => StreamListpacks,
            RDB_TYPE_HASH_LISTPACK => HashListpack,
            RDB_TYPE_ZSET_LISTPACK => ZsetListpack,
            RDB_TYPE_LIST_QUICKLIST_2 => ListQuicklist2,
            RDB_TYPE_STREAM_LISTPACKS_2 => StreamListpacks2,
            RDB_TYPE_SET_LISTPACK => SetListpack,
            RDB_TYPE_STREAM_LISTPACKS_3 => StreamListpacks3,
            22 => match header.dialect() {
                Dialect::Valkey => ValkeyHash2,
                Dialect::Redis => HashMetadataPreGa,
            },
            23 => match header.dialect() {
                Dialect::Valkey => return Err("Valkey type 23 (PATH_HASH) is unreleased"),
                Dialect::Redis => HashListpackExPreGa,
            },
            RDB_TYPE_HASH_METADATA
            | RDB_TYPE_HASH_LISTPACK_EX
            | RDB_TYPE_STREAM_LISTPACKS_4
            | RDB_TYPE_STREAM_LISTPACKS_5
                if header.dialect() == Dialect::Valkey =>
            {
                return Err("not a Valkey object type");
            }
            RDB_TYPE_HASH_METADATA => HashMetadata,
            RDB_TYPE_HASH_LISTPACK_EX => HashListpackEx,
            RDB_TYPE_STREAM_LISTPACKS_4 => StreamListpacks4,
            RDB_TYPE_STREAM_LISTPACKS_5 => StreamListpacks5,
            8 => return Err("type 8 was never assigned"),
            28..=33 => return Err("Redis 8.8+ type whose encoding redcheck does not know"),
            _ => return Err("not a known object type or opcode"),
        };
        Ok(t)
    }

    /// The first RDB version that defines this type (for the dialect).
    pub fn since_version(self) -> u32 {
        use ValueType::*;
        match self {
            String | ListLinked | SetHashtable | ZsetV1 | HashHashtable => 1,
            HashZipmap | ListZiplist | SetIntset | ZsetZiplist => 2,
            HashZiplist => 4,
            ListQuicklist => 7,
            ZsetV2 | ModulePreGa | Module2 => 8,
            StreamListpacks => 9,
            HashListpack | ZsetListpack | ListQuicklist2 | StreamListpacks2 => 10,
            SetListpack | StreamListpacks3 => 11,
            HashMetadataPreGa | HashListpackExPreGa | HashMetadata | HashListpackEx => 12,
            StreamListpacks4 => 13,
            StreamListpacks5 => 14,
            ValkeyHash2 => 80,
        }
    }

    pub fn logical(self) -> LogicalType {
        use ValueType::*;
        match self {
            String => LogicalType::String,
            ListLinked | ListZiplist | ListQuicklist | ListQuicklist2 => LogicalType::List,
            SetHashtable | SetIntset | SetListpack => LogicalType::Set,
            ZsetV1 | ZsetV2 | ZsetZiplist | ZsetListpack => LogicalType::Zset,
            HashHashtable | HashZipmap | HashZiplist | HashListpack | HashMetadataPreGa
            | HashListpackExPreGa | HashMetadata | HashListpackEx | ValkeyHash2 => {
                LogicalType::Hash
            }
            StreamListpacks | StreamListpacks2 | StreamListpacks3 | StreamListpacks4
            | StreamListpacks5 => LogicalType::Stream,
            ModulePreGa | Module2 => LogicalType::Module,
        }
    }

    /// The name `redis-check-rdb` prints (`rdb_type_string[]`).
    pub fn checker_name(self) -> &'static str {
        use ValueType::*;
        match self {
            String => "string",
            ListLinked => "list-linked",
            SetHashtable => "set-hashtable",
            ZsetV1 => "zset-v1",
            HashHashtable => "hash-hashtable",
            ZsetV2 => "zset-v2",
            ModulePreGa => "module-pre-release",
            Module2 => "module-value",
            HashZipmap => "hash-zipmap",
            ListZiplist => "list-ziplist",
            SetIntset => "set-intset",
            ZsetZiplist => "zset-ziplist",
            HashZiplist => "hash-ziplist",
            ListQuicklist => "quicklist",
            StreamListpacks => "stream",
            HashListpack => "hash-listpack",
            ZsetListpack => "zset-listpack",
            ListQuicklist2 => "quicklist-v2",
            StreamListpacks2 => "stream-v2",
            SetListpack => "set-listpack",
            StreamListpacks3 => "stream-v3",
            HashMetadataPreGa => "hash-hashtable-md-pre-release",
            HashListpackExPreGa => "hash-listpack-md-pre-release",
            HashMetadata => "hash-hashtable-md",
            HashListpackEx => "hash-listpack-md",
            StreamListpacks4 => "stream-v4",
            StreamListpacks5 => "stream-v5",
            ValkeyHash2 => "hash-volatile-items",
        }
    }

    /// Stream layout version (1..=5) for stream types.
    pub fn stream_version(self) -> Option<u8> {
        use ValueType::*;
        match self {
            StreamListpacks => Some(1),
            StreamListpacks2 => Some(2),
            StreamListpacks3 => Some(3),
            StreamListpacks4 => Some(4),
            StreamListpacks5 => Some(5),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::header::Magic;

    #[test]
    fn colliding_bytes_follow_the_dialect() {
        let redis = Header {
            magic: Magic::Redis,
            version: 12,
        };
        let valkey = Header {
            magic: Magic::Valkey,
            version: 80,
        };
        assert_eq!(
            ValueType::from_byte(&redis, 22),
            Ok(ValueType::HashMetadataPreGa)
        );
        assert_eq!(
            ValueType::from_byte(&valkey, 22),
            Ok(ValueType::ValkeyHash2)
        );
        assert!(ValueType::from_byte(&valkey, 23).is_err());
        assert!(ValueType::from_byte(&valkey, 24).is_err());
        assert!(ValueType::from_byte(&redis, 8).is_err());
        assert!(ValueType::from_byte(&redis, 30).is_err());
    }
}
