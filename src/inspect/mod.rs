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
