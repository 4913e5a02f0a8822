//! The AOF engine: RESP command framing, the command table, the multi-part
//! manifest, verification of single files and multi-part sets, and repair
//! plans.
//!
//! ```text
//! resp       *N / $len / CRLF framing, #annotations -> Commands iterator
//! commands   command table (name, arity, AOF-writable) and lookup
//! manifest   appendonly.aof.manifest reader and writer
//! verify     per-file and per-set checks -> AofReport
//! fix        repair plans (pure): tail, to-timestamp, before-flush, salvage
//! compat     redis-check-aof / valkey-check-aof emulation (pure scan)
//! dir        the I/O layer: find and read a set on disk
//! apply      the I/O layer: carry out a FixPlan (temp file, fsync, rename)
//! ```
//!
//! Everything but `dir` and `apply` is a pure function of bytes.

pub mod apply;
pub mod commands;
pub mod compat;
pub mod dir;
pub mod fix;
pub mod manifest;
pub mod resp;
pub mod verify;

pub use fix::{FileAction, FixError, FixMode, FixPlan, plan_fix};
pub use manifest::{AofInfo, FileType, Manifest, ManifestError};
pub use resp::{Annotation, Command, Commands, Dialect, Item, RespError};
pub use verify::{
    AofForm, AofOptions, AofReport, FileKind, FileReport, FirstError, FlushEvent, SetFiles, Tail,
    starts_with_rdb, verify_multipart, verify_single,
};

/// What a path's content looks like, by the rules servers and
/// `redis-check-aof` use (content, not names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// A manifest: the first line that is not a `#` comment starts with `file`.
    Manifest,
    /// An AOF starting with an RDB (`REDIS` or `VALKEY`).
    RdbPreamble,
    /// Anything else is read as a RESP AOF.
    Resp,
}

/// Classifies file contents like `getInputFileType` in `redis-check-aof`
/// (which also accepts a `VALKEY` magic here, unlike valkey-check-aof 9.1).
pub fn detect(data: &[u8]) -> Detected {
    if manifest::looks_like_manifest(data) {
        Detected::Manifest
    } else if data.len() >= 8 && starts_with_rdb(data) {
        Detected::RdbPreamble
    } else {
        Detected::Resp
    }
}
