//! The RDB parsers' error: what was expected, what was found, and where.
//!
//! Parsers run over sub-slices of one input buffer, so an error records the
//! address of the byte where the failing read started; [`Error::offset_in`]
//! turns it into an offset relative to any enclosing slice (the whole file,
//! in practice). This keeps nom's plain `&[u8]` input zero-copy while every
//! error still carries a file offset.

use crate::lzf::LzfError;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    /// The input ended while reading `reading` (`needed` more bytes, when known).
    Eof {
        reading: &'static str,
    },
    /// A length byte `10xxxxxx` other than 0x80/0x81.
    LengthEncoding(u8),
    /// A string encoding `11xxxxxx` other than INT8/16/32/LZF.
    StringEncoding(u8),
    /// A length that exceeds the bytes that remain.
    LengthTooLong {
        reading: &'static str,
        length: u64,
        remaining: u64,
    },
    Lzf(LzfError),
    /// A type byte that is neither a known object type nor an opcode.
    UnknownType {
        byte: u8,
        why: &'static str,
    },
    /// Checking further would take more of redcheck's own memory than the
    /// caller allowed (`--max-memory`): not a fault of the file, and not a
    /// verdict on it. Its message starts with [`MEMORY_BUDGET_MESSAGE`].
    MemoryBudget {
        what: &'static str,
        needed: u64,
        allowed: u64,
    },
    /// Anything else, described in words.
    Invalid(String),
}

/// How every [`ErrorKind::MemoryBudget`] message begins: a reader of the
/// text alone (a JSON report) can tell "could not run" from a verdict.
/// Code asks [`Error::is_memory_budget`], or a finding's `out_of_budget`.
pub const MEMORY_BUDGET_MESSAGE: &str = "could not run within --max-memory";

#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    addr: usize,
    pub kind: ErrorKind,
}

pub type PResult<'a, T> = nom::IResult<&'a [u8], T, Error>;

impl Error {
    pub fn at(input: &[u8], kind: ErrorKind) -> Self {
        Error {
            addr: input.as_ptr() as usize,
            kind,
        }
    }

    pub fn eof(input: &[u8], reading: &'static str) -> Self {
        Error::at(input, ErrorKind::Eof { reading })
    }

    pub fn invalid(input: &[u8], msg: impl Into<String>) -> Self {
        Error::at(input, ErrorKind::Invalid(msg.into()))
    }

    /// Offset of the error relative to `base`, an enclosing slice of the
    /// same buffer the parser ran over. Clamped to `base`'s bounds.
    pub fn offset_in(&self, base: &[u8]) -> u64 {
        let start = base.as_ptr() as usize;
        self.addr.saturating_sub(start).min(base.len()) as u64
    }

    /// The check could not run within the memory budget: not a verdict
    /// on the bytes.
    pub fn is_memory_budget(&self) -> bool {
        matches!(self.kind, ErrorKind::MemoryBudget { .. })
    }

    pub fn is_eof(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Eof { .. } | ErrorKind::LengthTooLong { .. }
        )
    }

    /// Wraps as a nom failure (unrecoverable: no alternative parse is tried).
    pub fn fail<T>(self) -> Result<T, nom::Err<Error>> {
        Err(nom::Err::Failure(self))
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Eof { reading } => {
                write!(f, "Unexpected EOF reading RDB file while reading {reading}")
            }
            ErrorKind::LengthEncoding(b) => write!(
                f,
                "Unknown length encoding {} in rdbLoadLen(): expected a length byte, found 0x{b:02x}",
                b >> 6
            ),
            ErrorKind::StringEncoding(b) => write!(
                f,
                "Unknown RDB string encoding type {}: expected INT8/16/32 or LZF, found 0x{b:02x}",
                b & 0x3f
            ),
            ErrorKind::LengthTooLong {
                reading,
                length,
                remaining,
            } => write!(
                f,
                "Unexpected EOF reading RDB file: {reading} declares {length} bytes but only {remaining} remain"
            ),
            ErrorKind::Lzf(e) => write!(f, "{e}"),
            ErrorKind::UnknownType { byte, why } => {
                write!(f, "Invalid object type: {byte} ({why})")
            }
            ErrorKind::MemoryBudget {
                what,
                needed,
                allowed,
            } => write!(
                f,
                "{MEMORY_BUDGET_MESSAGE}: {what} needs {needed} bytes, more than the {allowed} a checking thread may use for it; the value was not checked (raise --max-memory)"
            ),
            ErrorKind::Invalid(s) => f.write_str(s),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for Error {}

impl<'a> nom::error::ParseError<&'a [u8]> for Error {
    fn from_error_kind(input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        // On complete input every nom failure we use (take, number parsers)
        // means "not enough bytes".
        Error::eof(input, "data")
    }

    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// Extracts our error from a nom result error (Incomplete cannot happen on
/// complete input; it is mapped to EOF at `input`).
pub fn unwrap_nom(e: nom::Err<Error>, input: &[u8]) -> Error {
    match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => Error::eof(input, "data"),
    }
}
