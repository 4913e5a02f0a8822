//! The RDB container: header, primitives, framing, and value layouts.
//! Everything here is a pure function of bytes.

pub mod consts;
pub mod error;
pub mod extent;
pub mod header;
pub mod primitives;
pub mod records;
pub mod types;
pub mod value;
pub mod writer;

pub use error::{Error, ErrorKind};
pub use header::{Dialect, Header, HeaderError, Magic};
pub use primitives::RdbString;
pub use records::{Item, KeyRecord, Record, Records, StringKey};
pub use types::{LogicalType, ValueType};
