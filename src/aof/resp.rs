//! RESP framing of AOF records: the command scanner.
//!
//! ```text
//! record      = "*" argc CRLF  argc × bulk          argc >= 1, decimal, no sign
//! bulk        = "$" len CRLF  <len bytes>  CRLF      len >= 0, decimal, no sign
//! annotation  = "#" <bytes up to and including LF>    at most 1023 bytes per read
//! ```
//!
//! Mirrors the reading half of `loadSingleAppendOnlyFile` (server) and
//! `processRESP` / `processAnnotations` (`redis-check-aof`). Two dialects:
//!
//! * [`Dialect::Strict`] (verification): lengths are plain decimal digits,
//!   `argc >= 1`, every CRLF is checked (the server does not check the one
//!   after a bulk, `redis-check-aof` does).
//! * [`Dialect::CheckAof`]: what `redis-check-aof` accepts, byte for byte:
//!   numbers through `strtol` (leading blanks and a sign accepted), `*0` and
//!   `*-1` accepted, lines read 127 bytes at a time; errors carry the exact
//!   message the tool prints, so `ok_up_to` and the report line match it.
//!
//! Annotations are read like the servers read them: at most 1023 bytes per
//! read (`AOF_ANNOTATION_LINE_MAX_LEN` is 1024 with `fgets`), so a longer
//! line's remainder is read as the next item, as the server would.
//!
//! Every length is checked against the bytes that remain; a count never
//! sizes an allocation. A record the data ends inside is *truncated* (a torn
//! tail the server cuts off and loads); a wrong byte makes it *malformed*.

use std::fmt;

/// Longest annotation read in one go (`fgets` into `AOF_ANNOTATION_LINE_MAX_LEN`
/// = 1024 bytes, so 1023 bytes of line).
pub const ANNOTATION_READ_MAX: usize = 1023;

/// `redis-check-aof` reads `*N` / `$N` lines with `fgets` into 128 bytes.
const CHECK_AOF_LINE_MAX: usize = 127;

use crate::limits::MAX_PREALLOC_ARGS;

/// Smallest possible bulk: `$0\r\n\r\n`.
const MIN_BULK_LEN: usize = 6;

/// Which reader's acceptance rules to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// Strict framing for verification.
    #[default]
    Strict,
    /// Exactly what `redis-check-aof` / `valkey-check-aof` accept.
    CheckAof,
}

/// One command record: a RESP array of bulk strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// Absolute offset of the `*`.
    pub offset: u64,
    /// Length of the whole record in bytes.
    pub len: u64,
    /// RESP line number of the `*` line (see [`Commands::line`]).
    pub line: u64,
    /// The arguments, borrowed from the input. Empty only in the
    /// [`Dialect::CheckAof`] dialect (`*0`).
    pub args: Vec<&'a [u8]>,
}

impl Command<'_> {
    /// Absolute offset just past the record.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }

    /// The command name, if any.
    pub fn name(&self) -> Option<&[u8]> {
        self.args.first().copied()
    }

    /// Whether the command name equals `name` ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name()
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// A `#...` line (or a 1023-byte piece of a longer one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation<'a> {
    /// Absolute offset of the `#`.
    pub offset: u64,
    /// The bytes read, including the `#` and the line feed when present.
    pub bytes: &'a [u8],
    /// The read stopped at a line feed (false at end of data or when the
    /// line is longer than [`ANNOTATION_READ_MAX`]).
    pub terminated: bool,
}

impl Annotation<'_> {
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.len())
    }

    /// The line was longer than one server read.
    pub fn is_split(&self) -> bool {
        !self.terminated && self.bytes.len() >= ANNOTATION_READ_MAX
    }

    /// `None` if this is not a `#TS:` annotation; otherwise the timestamp in
    /// the strict form the server writes (`#TS:<digits>\r\n`), or `Err` if it
    /// is malformed.
    pub fn timestamp(&self) -> Option<Result<i64, ()>> {
        let rest = self.bytes.strip_prefix(b"#TS:")?;
        let Some(body) = rest.strip_suffix(b"\r\n") else {
            return Some(Err(()));
        };
        Some(parse_strict_i64(body).ok_or(()))
    }

    /// The timestamp as `redis-check-aof --truncate-to-timestamp` reads it:
    /// `strtol` after `#TS:`, which must stop at a `\r`.
    pub fn timestamp_check_aof(&self) -> Option<Result<i64, ()>> {
        let rest = self.bytes.strip_prefix(b"#TS:")?;
        let c = c_str(rest);
        let (v, end, overflow) = strtol(c);
        if overflow || c.get(end) != Some(&b'\r') {
            return Some(Err(()));
        }
        Some(Ok(v))
    }
}

/// What the scanner yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    Command(Command<'a>),
    Annotation(Annotation<'a>),
}

impl Item<'_> {
    pub fn offset(&self) -> u64 {
        match self {
            Item::Command(c) => c.offset,
            Item::Annotation(a) => a.offset,
        }
    }

    pub fn end(&self) -> u64 {
        match self {
            Item::Command(c) => c.end(),
            Item::Annotation(a) => a.end(),
        }
    }
}

/// The piece of a record the reader wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// `*` (a command) or `#` (an annotation).
    RecordStart,
    /// The argument count after `*`.
    Argc,
    /// `\r\n` after the argument count.
    ArgcCrlf,
    /// `$` starting the bulk string `index` (0-based) of `argc`.
    BulkPrefix { index: u64, argc: i64 },
    /// The length after `$`.
    BulkLen,
    /// `\r\n` after the bulk length.
    BulkLenCrlf,
    /// `len` bytes of bulk data.
    BulkData { len: u64 },
    /// `\r\n` after the bulk data.
    BulkCrlf,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::RecordStart => write!(f, "'*' (a command) or '#' (an annotation)"),
            Expected::Argc => write!(f, "the argument count (decimal digits) after '*'"),
            Expected::ArgcCrlf => write!(f, "\\r\\n after the argument count"),
            Expected::BulkPrefix { index, argc } => {
                write!(
                    f,
                    "'$' starting argument {} of {argc}",
                    index.saturating_add(1)
                )
            }
            Expected::BulkLen => write!(f, "the bulk length (decimal digits) after '$'"),
            Expected::BulkLenCrlf => write!(f, "\\r\\n after the bulk length"),
            Expected::BulkData { len } => write!(f, "{len} bytes of bulk data"),
            Expected::BulkCrlf => write!(f, "\\r\\n after the bulk data"),
        }
    }
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespErrorKind {
    /// The data ends inside the record: a torn tail.
    Truncated { expected: Expected },
    /// A byte that cannot be there. `found` holds up to 4 bytes from there.
    Unexpected { expected: Expected, found: Vec<u8> },
    /// A count or length with more digits than fit in an `i64`.
    NumberTooLarge { expected: Expected },
    /// `*0` or less (the server rejects it: "Bad file format").
    ArgcOutOfRange { argc: i64 },
    /// A negative bulk length ([`Dialect::CheckAof`] only; strict reading
    /// reports the `-` as unexpected).
    BulkLenOutOfRange { len: i64 },
}

/// A record that could not be read, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespError {
    pub kind: RespErrorKind,
    /// Absolute offset of the record (or line) that failed.
    pub record_offset: u64,
    /// Absolute offset where the failing read started (`redis-check-aof`'s
    /// `epos`): the start of the `*`/`$` line, or of the bulk data.
    pub offset: u64,
    /// Absolute offset of the offending byte, or of the end of data.
    pub found_at: u64,
    /// RESP line number where the failing read started.
    pub line: u64,
    /// RESP line number of the record's first line.
    pub record_line: u64,
    /// In [`Dialect::CheckAof`], what `redis-check-aof` prints after
    /// `0x%16llx: ` for this error; `None` when it prints nothing there
    /// (end of file while reading a line, or "AOF ... format error").
    pub checker_message: Option<String>,
}

impl RespError {
    /// The record is cut short by the end of the data.
    pub fn is_truncated(&self) -> bool {
        matches!(self.kind, RespErrorKind::Truncated { .. })
    }

    /// A line that starts with neither `*` nor `#`: `redis-check-aof`
    /// prints "AOF `<name>` format error".
    pub fn is_format_error(&self) -> bool {
        matches!(
            self.kind,
            RespErrorKind::Unexpected {
                expected: Expected::RecordStart,
                ..
            }
        )
    }
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RespErrorKind::Truncated { expected } => write!(
                f,
                "truncated record: expected {expected}, found end of data at offset {} (record at offset {}, line {})",
                self.found_at, self.record_offset, self.line
            ),
            RespErrorKind::Unexpected { expected, found } => write!(
                f,
                "malformed record: expected {expected}, found {} at offset {} (record at offset {}, line {})",
                show_bytes(found),
                self.found_at,
                self.record_offset,
                self.line
            ),
            RespErrorKind::NumberTooLarge { expected } => write!(
                f,
                "malformed record: expected {expected}, found a number too large for 64 bits at offset {} (record at offset {}, line {})",
                self.found_at, self.record_offset, self.line
            ),
            RespErrorKind::ArgcOutOfRange { argc } => write!(
                f,
                "malformed record: expected an argument count of at least 1, found {argc} (record at offset {}, line {}); the server refuses it",
                self.record_offset, self.line
            ),
            RespErrorKind::BulkLenOutOfRange { len } => write!(
                f,
                "malformed record: expected a bulk length >= 0, found {len} (record at offset {}, line {})",
                self.record_offset, self.line
            ),
        }
    }
}

impl std::error::Error for RespError {}

/// Quotes up to a few bytes for a message: `'x' (0x78)` or `end of data`.
pub(crate) fn show_bytes(b: &[u8]) -> String {
    if b.is_empty() {
        return "end of data".to_string();
    }
    let mut text = String::new();
    let mut hex = String::new();
    for &c in b {
        match c {
            b'\r' => text.push_str("\\r"),
            b'\n' => text.push_str("\\n"),
            b'\t' => text.push_str("\\t"),
            b'\\' => text.push_str("\\\\"),
            b'\'' => text.push_str("\\'"),
            0x20..=0x7e => text.push(c as char),
            _ => text.push_str(&format!("\\x{c:02x}")),
        }
        hex.push_str(&format!("{c:02x}"));
    }
    format!("'{text}' (0x{hex})")
}

/// The scanner: an iterator of annotations and commands over a RESP region.
///
/// `data` is the region (for an RDB-preamble AOF, the bytes after the RDB);
/// `base` its absolute offset in the file. After an error the iterator ends;
/// [`Commands::resume_at`] restarts it elsewhere (salvage).
#[derive(Debug, Clone)]
pub struct Commands<'a> {
    data: &'a [u8],
    base: u64,
    pos: usize,
    line: u64,
    dialect: Dialect,
    failed: bool,
    record_line: u64,
    /// Well-formed commands are read by [`Commands::command_fast`], and
    /// well-formed bulk strings by [`bulk_at`].
    fast_path: bool,
    /// A command's argument vector handed back by [`Commands::recycle`],
    /// for the next command: one allocation per scan instead of one per
    /// command.
    spare: Vec<&'a [u8]>,
}

/// Arguments a recycled vector may have room for: a bigger one (a command
/// of a million arguments) is freed rather than kept for the whole scan.
const SPARE_ARGS_MAX: usize = 1024;

impl<'a> Commands<'a> {
    /// A strict scanner.
    pub fn new(data: &'a [u8], base: u64) -> Self {
        Self::with_dialect(data, base, Dialect::Strict)
    }

    pub fn with_dialect(data: &'a [u8], base: u64, dialect: Dialect) -> Self {
        Commands {
            data,
            base,
            pos: 0,
            line: 1,
            dialect,
            failed: false,
            record_line: 1,
            fast_path: true,
            spare: Vec::new(),
        }
    }

    /// Hands a command's argument vector back, to be reused for the next
    /// command's.
    pub fn recycle(&mut self, mut args: Vec<&'a [u8]>) {
        if args.capacity() <= SPARE_ARGS_MAX {
            args.clear();
            self.spare = args;
        }
    }

    /// Every bulk string read by the full parser: the same items and
    /// errors, slower (for the tests and the fuzz target that compare).
    #[doc(hidden)]
    pub fn without_fast_path(mut self) -> Self {
        self.fast_path = false;
        self
    }

    /// Continue the line count from an earlier region or file (the count of
    /// `redis-check-aof` is cumulative across the files of a set).
    pub fn starting_line(mut self, line: u64) -> Self {
        self.line = line;
        self
    }

    /// Absolute offset of the next item.
    pub fn offset(&self) -> u64 {
        self.base.saturating_add(self.pos as u64)
    }

    /// RESP line number: 1 plus the count of `\r\n` consumed by the
    /// `*`/`$` reads so far, including those of a record that later failed
    /// (`ok_up_to_line` in `redis-check-aof`). Annotations do not count.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Restart at an absolute offset (clamped to the region) after an error.
    pub fn resume_at(&mut self, offset: u64) {
        let rel = offset.saturating_sub(self.base);
        self.pos = usize::try_from(rel)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        self.failed = false;
    }

    /// The first argument of the record at absolute offset `record` and
    /// the absolute offset of its data, if that much of the record reads
    /// fine. `redis-check-aof` looks at the first argument (MULTI/EXEC) as
    /// soon as it is read, before the rest of the record.
    pub fn first_arg(&self, record: u64) -> Option<(u64, &'a [u8])> {
        let mut probe = self.clone();
        probe.resume_at(record);
        let rec = probe.pos;
        let argc = match probe.dialect {
            Dialect::Strict => probe
                .strict_number(
                    rec,
                    b'*',
                    Expected::RecordStart,
                    Expected::Argc,
                    Expected::ArgcCrlf,
                )
                .ok()?,
            Dialect::CheckAof => probe
                .check_aof_number(rec, b'*', Expected::RecordStart, Expected::ArgcCrlf)
                .ok()?,
        };
        if argc < 1 {
            return None;
        }
        let prefix = Expected::BulkPrefix { index: 0, argc };
        let len = match probe.dialect {
            Dialect::Strict => probe
                .strict_number(rec, b'$', prefix, Expected::BulkLen, Expected::BulkLenCrlf)
                .ok()?,
            Dialect::CheckAof => probe
                .check_aof_number(rec, b'$', prefix, Expected::BulkLenCrlf)
                .ok()?,
        };
        let len = u64::try_from(len).ok()?;
        let start = probe.pos;
        let arg = probe.read_bulk_data(rec, len).ok()?;
        Some((probe.abs(start), arg))
    }

    fn abs(&self, pos: usize) -> u64 {
        self.base.saturating_add(pos as u64)
    }

    fn peek(&self, from: usize, n: usize) -> Vec<u8> {
        let end = from.saturating_add(n).min(self.data.len());
        self.data.get(from..end).unwrap_or(&[]).to_vec()
    }

    fn error(
        &self,
        kind: RespErrorKind,
        record: usize,
        read_start: usize,
        found_at: usize,
        line: u64,
        checker_message: Option<String>,
    ) -> RespError {
        RespError {
            kind,
            record_offset: self.abs(record),
            offset: self.abs(read_start),
            found_at: self.abs(found_at),
            line,
            record_line: self.record_line,
            checker_message,
        }
    }

    fn read_annotation(&mut self) -> Annotation<'a> {
        let start = self.pos;
        let limit = start
            .saturating_add(ANNOTATION_READ_MAX)
            .min(self.data.len());
        let window = self.data.get(start..limit).unwrap_or(&[]);
        let (len, terminated) = match window.iter().position(|&b| b == b'\n') {
            Some(i) => (i.saturating_add(1), true),
            None => (window.len(), false),
        };
        let bytes = window.get(..len).unwrap_or(&[]);
        self.pos = start.saturating_add(len.max(1)).min(self.data.len());
        Annotation {
            offset: self.abs(start),
            bytes,
            terminated,
        }
    }

    /// Reads `<prefix><digits>\r\n` strictly at `self.pos`; returns the value.
    fn strict_number(
        &mut self,
        record: usize,
        prefix: u8,
        expected_prefix: Expected,
        expected_digits: Expected,
        expected_crlf: Expected,
    ) -> Result<i64, RespError> {
        let start = self.pos;
        let line = self.line;
        match self.data.get(start) {
            None => {
                return Err(self.error(
                    RespErrorKind::Truncated {
                        expected: expected_prefix,
                    },
                    record,
                    start,
                    start,
                    line,
                    None,
                ));
            }
            Some(&b) if b != prefix => {
                return Err(self.error(
                    RespErrorKind::Unexpected {
                        expected: expected_prefix,
                        found: self.peek(start, 4),
                    },
                    record,
                    start,
                    start,
                    line,
                    None,
                ));
            }
            Some(_) => {}
        }
        let mut p = start.saturating_add(1);
        let digits_start = p;
        let mut value: i64 = 0;
        while let Some(&b) = self.data.get(p) {
            if !b.is_ascii_digit() {
                break;
            }
            value = match value
                .checked_mul(10)
                .and_then(|v| v.checked_add(i64::from(b - b'0')))
            {
                Some(v) => v,
                None => {
                    return Err(self.error(
                        RespErrorKind::NumberTooLarge {
                            expected: expected_digits,
                        },
                        record,
                        start,
                        digits_start,
                        line,
                        None,
                    ));
                }
            };
            p = p.saturating_add(1);
        }
        if p == digits_start {
            let kind = if p >= self.data.len() {
                RespErrorKind::Truncated {
                    expected: expected_digits,
                }
            } else {
                RespErrorKind::Unexpected {
                    expected: expected_digits,
                    found: self.peek(p, 4),
                }
            };
            return Err(self.error(kind, record, start, p, line, None));
        }
        for want in [b'\r', b'\n'] {
            match self.data.get(p) {
                None => {
                    return Err(self.error(
                        RespErrorKind::Truncated {
                            expected: expected_crlf,
                        },
                        record,
                        start,
                        p,
                        line,
                        None,
                    ));
                }
                Some(&b) if b != want => {
                    return Err(self.error(
                        RespErrorKind::Unexpected {
                            expected: expected_crlf,
                            found: self.peek(p, 2),
                        },
                        record,
                        start,
                        p,
                        line,
                        None,
                    ));
                }
                Some(_) => p = p.saturating_add(1),
            }
        }
        self.pos = p;
        self.line = self.line.saturating_add(1);
        Ok(value)
    }

    /// `readLong` of `redis-check-aof`: `fgets` 127 bytes, the prefix, then
    /// `strtol`, then `\r\n` where `strtol` stopped.
    fn check_aof_number(
        &mut self,
        record: usize,
        prefix: u8,
        expected_prefix: Expected,
        expected_crlf: Expected,
    ) -> Result<i64, RespError> {
        let start = self.pos;
        let line = self.line;
        let len = self.data.len();
        if start >= len {
            // fgets returns NULL: the tool stops without a message.
            return Err(self.error(
                RespErrorKind::Truncated {
                    expected: expected_prefix,
                },
                record,
                start,
                start,
                line,
                None,
            ));
        }
        let limit = start.saturating_add(CHECK_AOF_LINE_MAX).min(len);
        let window = self.data.get(start..limit).unwrap_or(&[]);
        let (chunk_len, has_lf) = match window.iter().position(|&b| b == b'\n') {
            Some(i) => (i.saturating_add(1), true),
            None => (window.len(), false),
        };
        let chunk = window.get(..chunk_len).unwrap_or(&[]);
        let first = chunk.first().copied().unwrap_or(0);
        if first != prefix {
            // The tool formats into a C string buffer: a NUL byte found
            // there ends the message right after the opening quote.
            let msg = if first == 0 {
                format!("Expected prefix '{}', got: '", prefix as char)
            } else {
                format!(
                    "Expected prefix '{}', got: '{}'",
                    prefix as char,
                    c_char(first)
                )
            };
            return Err(self.error(
                RespErrorKind::Unexpected {
                    expected: expected_prefix,
                    found: self.peek(start, 4),
                },
                record,
                start,
                start,
                line,
                Some(msg),
            ));
        }
        let rest = chunk.get(1..).unwrap_or(&[]);
        let c = c_str(rest);
        let (value, end, _overflow) = strtol(c);
        let tail = c.get(end..).unwrap_or(&[]);
        if tail.starts_with(b"\r\n") {
            self.pos = start.saturating_add(chunk_len);
            self.line = self.line.saturating_add(1);
            return Ok(value);
        }
        // consumeNewline prints the two chars at strtol's end pointer; past
        // the string's NUL the buffer holds whatever fgets left there.
        let b0 = rest.get(end).copied().unwrap_or(0);
        let b1 = rest.get(end.saturating_add(1)).copied().unwrap_or(0);
        let msg = format!("Expected \\r\\n, got: {}{}", c_hex(b0), c_hex(b1));
        let at = start.saturating_add(1).saturating_add(end);
        let kind = if !has_lf && limit >= len {
            RespErrorKind::Truncated {
                expected: expected_crlf,
            }
        } else {
            RespErrorKind::Unexpected {
                expected: expected_crlf,
                found: self.peek(at, 2),
            }
        };
        Err(self.error(kind, record, start, at, line, Some(msg)))
    }

    fn read_command(&mut self) -> Result<Command<'a>, RespError> {
        let record = self.pos;
        let first_line = self.line;
        self.record_line = first_line;
        if self.fast_path {
            let mut args = std::mem::take(&mut self.spare);
            if let Some((end, argc)) = self.command_fast(&mut args) {
                self.pos = end;
                // The `*` line, then two lines an argument.
                let lines = (argc as u64).saturating_mul(2).saturating_add(1);
                self.line = self.line.saturating_add(lines);
                return Ok(Command {
                    offset: self.abs(record),
                    len: end.saturating_sub(record) as u64,
                    line: first_line,
                    args,
                });
            }
            args.clear();
            self.spare = args;
        }
        let argc = match self.dialect {
            Dialect::Strict => {
                let n = self.strict_number(
                    record,
                    b'*',
                    Expected::RecordStart,
                    Expected::Argc,
                    Expected::ArgcCrlf,
                )?;
                if n < 1 {
                    return Err(self.error(
                        RespErrorKind::ArgcOutOfRange { argc: n },
                        record,
                        record,
                        record.saturating_add(1),
                        first_line,
                        None,
                    ));
                }
                n
            }
            Dialect::CheckAof => {
                self.check_aof_number(record, b'*', Expected::RecordStart, Expected::ArgcCrlf)?
            }
        };
        let remaining = self.data.len().saturating_sub(self.pos);
        let reserve = usize::try_from(argc.max(0))
            .unwrap_or(usize::MAX)
            .min(remaining / MIN_BULK_LEN)
            .min(MAX_PREALLOC_ARGS);
        // Empty: `recycle` clears what it keeps.
        let mut args = std::mem::take(&mut self.spare);
        args.reserve(reserve);
        let mut index: u64 = 0;
        while i64::try_from(index).is_ok_and(|i| i < argc) {
            if self.fast_path
                && self.dialect == Dialect::Strict
                && let Some((arg, next)) = bulk_at(self.data, self.pos)
            {
                self.pos = next;
                self.line = self.line.saturating_add(2);
                args.push(arg);
                index = index.saturating_add(1);
                continue;
            }
            let expected_prefix = Expected::BulkPrefix { index, argc };
            let len = match self.dialect {
                Dialect::Strict => self.strict_number(
                    record,
                    b'$',
                    expected_prefix,
                    Expected::BulkLen,
                    Expected::BulkLenCrlf,
                )?,
                Dialect::CheckAof => {
                    let line_start = self.pos;
                    let line = self.line;
                    let n = self.check_aof_number(
                        record,
                        b'$',
                        expected_prefix,
                        Expected::BulkLenCrlf,
                    )?;
                    if !(0..=i64::MAX - 2).contains(&n) {
                        let msg = format!(
                            "Expected to read string of {n} bytes, which is not in the suitable range"
                        );
                        return Err(self.error(
                            RespErrorKind::BulkLenOutOfRange { len: n },
                            record,
                            line_start,
                            line_start,
                            line,
                            Some(msg),
                        ));
                    }
                    n
                }
            };
            let len = u64::try_from(len).unwrap_or(0);
            let arg = self.read_bulk_data(record, len)?;
            args.push(arg);
            index = index.saturating_add(1);
        }
        Ok(Command {
            offset: self.abs(record),
            len: self.pos.saturating_sub(record) as u64,
            line: first_line,
            args,
        })
    }

    /// A well-formed command at `self.pos`: `*<argc>\r\n` with
    /// `argc >= 1`, then `argc` well-formed bulk strings ([`bulk_at`]),
    /// their arguments pushed to `args`. Returns where it ends and its
    /// argument count. `None` for anything else, with `args` holding
    /// whatever was pushed: the full parser then reads the record from its
    /// start, and names what is wrong with it. Nearly every record of a
    /// real AOF is read here, without the bookkeeping of the full parser's
    /// errors. Both dialects read such a record alike: `redis-check-aof`'s
    /// `strtol` of plain digits followed by CRLF is those digits, and its
    /// bulk reads are the strict ones.
    #[inline(always)]
    fn command_fast(&self, args: &mut Vec<&'a [u8]>) -> Option<(usize, usize)> {
        let data = self.data;
        if *data.get(self.pos)? != b'*' {
            return None;
        }
        let (argc, mut p) = decimal_line(data, self.pos + 1)?;
        if argc == 0 {
            return None;
        }
        // As the full parser reserves: no more than what is left could
        // hold, nor than a fixed cap.
        let remaining = data.len().saturating_sub(p);
        args.reserve(argc.min(remaining / MIN_BULK_LEN).min(MAX_PREALLOC_ARGS));
        for _ in 0..argc {
            let (arg, next) = bulk_at(data, p)?;
            args.push(arg);
            p = next;
        }
        Some((p, argc))
    }

    /// Reads `len` bytes and the CRLF after them at `self.pos`.
    fn read_bulk_data(&mut self, record: usize, len: u64) -> Result<&'a [u8], RespError> {
        let start = self.pos;
        let line = self.line;
        let avail = self.data.len().saturating_sub(start);
        let want = usize::try_from(len).ok().filter(|&n| n <= avail);
        let Some(n) = want else {
            let msg = match self.dialect {
                Dialect::CheckAof => Some(format!(
                    "Expected to read {} bytes, got {} bytes",
                    len.saturating_add(2),
                    avail
                )),
                Dialect::Strict => None,
            };
            return Err(self.error(
                RespErrorKind::Truncated {
                    expected: Expected::BulkData { len },
                },
                record,
                start,
                self.data.len(),
                line,
                msg,
            ));
        };
        let data_end = start.saturating_add(n);
        let arg = self.data.get(start..data_end).unwrap_or(&[]);
        let crlf = self
            .data
            .get(data_end..data_end.saturating_add(2).min(self.data.len()))
            .unwrap_or(&[]);
        if crlf == b"\r\n" {
            self.pos = data_end.saturating_add(2);
            self.line = self.line.saturating_add(1);
            return Ok(arg);
        }
        let kind = if b"\r\n".starts_with(crlf) {
            // Fewer than 2 bytes left, and what is there is a prefix of CRLF.
            RespErrorKind::Truncated {
                expected: Expected::BulkCrlf,
            }
        } else {
            RespErrorKind::Unexpected {
                expected: Expected::BulkCrlf,
                found: crlf.to_vec(),
            }
        };
        let msg = match self.dialect {
            Dialect::CheckAof if crlf.len() < 2 => Some(format!(
                "Expected to read {} bytes, got {} bytes",
                len.saturating_add(2),
                avail
            )),
            Dialect::CheckAof => {
                let b0 = crlf.first().copied().unwrap_or(0);
                let b1 = crlf.get(1).copied().unwrap_or(0);
                Some(format!("Expected \\r\\n, got: {}{}", c_hex(b0), c_hex(b1)))
            }
            Dialect::Strict => None,
        };
        let kind = match (self.dialect, crlf.len() < 2) {
            // check-aof's fread came up short: a truncation, whatever the bytes.
            (Dialect::CheckAof, true) => RespErrorKind::Truncated {
                expected: Expected::BulkCrlf,
            },
            _ => kind,
        };
        Err(self.error(kind, record, start, data_end, line, msg))
    }
}

/// A decimal number of at most 15 digits at `data[p..]`, then CRLF: the
/// number and the position after the CRLF. `None` for anything else (no
/// digit, a sign, more digits, no CRLF), which the full parser reads.
#[inline(always)]
fn decimal_line(data: &[u8], p: usize) -> Option<(usize, usize)> {
    // One or two digits (nearly every count and length in an AOF): read
    // from one pattern, without a loop.
    match *data.get(p..)? {
        [d0 @ b'0'..=b'9', b'\r', b'\n', ..] => return Some((usize::from(d0 - b'0'), p + 3)),
        [d0 @ b'0'..=b'9', d1 @ b'0'..=b'9', b'\r', b'\n', ..] => {
            let n = usize::from(d0 - b'0') * 10 + usize::from(d1 - b'0');
            return Some((n, p + 4));
        }
        _ => {}
    }
    let digits = p;
    let mut p = p;
    let mut n = 0usize;
    while let Some(&b) = data.get(p) {
        if !b.is_ascii_digit() {
            break;
        }
        n = n * 10 + usize::from(b - b'0');
        p += 1;
        // Longer numbers (which cannot fit what remains anyway) are the
        // full parser's.
        if p - digits > 15 {
            return None;
        }
    }
    if p == digits || data.get(p..p + 2)? != b"\r\n" {
        return None;
    }
    Some((n, p + 2))
}

/// A well-formed bulk string, `$<len>\r\n<bytes>\r\n`, at `data[p..]`
/// (the strict dialect), and where it ends: read without building the
/// errors [`Commands::strict_number`] and [`Commands::read_bulk_data`]
/// would, which read anything else, and name what is wrong with it.
#[inline(always)]
fn bulk_at(data: &[u8], p: usize) -> Option<(&[u8], usize)> {
    if *data.get(p)? != b'$' {
        return None;
    }
    let (len, start) = decimal_line(data, p + 1)?;
    let end = start.checked_add(len)?;
    let arg = data.get(start..end)?;
    (data.get(end..end.checked_add(2)?)? == b"\r\n").then_some((arg, end + 2))
}

impl<'a> Iterator for Commands<'a> {
    type Item = Result<Item<'a>, RespError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let first = *self.data.get(self.pos)?;
        self.record_line = self.line;
        let result = match first {
            b'#' => Ok(Item::Annotation(self.read_annotation())),
            b'*' => self.read_command().map(Item::Command),
            _ => Err(self.error(
                RespErrorKind::Unexpected {
                    expected: Expected::RecordStart,
                    found: self.peek(self.pos, 4),
                },
                self.pos,
                self.pos,
                self.pos,
                self.line,
                None,
            )),
        };
        if result.is_err() {
            self.failed = true;
        }
        Some(result)
    }
}

/// Parses `-?[0-9]+` exactly, without overflow.
pub(crate) fn parse_strict_i64(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

/// The bytes up to the first NUL, as C string functions see them.
pub(crate) fn c_str(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => b.get(..i).unwrap_or(&[]),
        None => b,
    }
}

/// C `isspace` in the "C" locale.
pub(crate) fn c_isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C `strtol(s, &end, 10)`: returns (value, end index, overflowed). With no
/// digits, end is 0 (the start) and the value 0; on overflow the value is
/// clamped as glibc does.
pub(crate) fn strtol(s: &[u8]) -> (i64, usize, bool) {
    let mut i = 0;
    while s.get(i).is_some_and(|&c| c_isspace(c)) {
        i += 1;
    }
    let mut neg = false;
    if let Some(&c) = s.get(i) {
        if c == b'+' || c == b'-' {
            neg = c == b'-';
            i += 1;
        }
    }
    let digits_start = i;
    let mut acc: i64 = 0;
    let mut overflow = false;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        let d = i64::from(c - b'0');
        let next = acc.checked_mul(10).and_then(|v| {
            if neg {
                v.checked_sub(d)
            } else {
                v.checked_add(d)
            }
        });
        match next {
            Some(v) if !overflow => acc = v,
            _ => {
                overflow = true;
                acc = if neg { i64::MIN } else { i64::MAX };
            }
        }
        i += 1;
    }
    if i == digits_start {
        return (0, 0, false);
    }
    (acc, i, overflow)
}

/// `%c` of a byte in a C message (NUL prints as nothing visible; keep it
/// printable here).
fn c_char(b: u8) -> char {
    b as char
}

/// `%02x` of a plain (signed) `char`: bytes >= 0x80 print sign-extended.
fn c_hex(b: u8) -> String {
    if b >= 0x80 {
        format!("ffffff{b:02x}")
    } else {
        format!("{b:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(data: &[u8]) -> Vec<Result<Item<'_>, RespError>> {
        Commands::new(data, 0).collect()
    }

    fn cmd<'a>(r: &'a Result<Item<'a>, RespError>) -> &'a Command<'a> {
        match r {
            Ok(Item::Command(c)) => c,
            other => panic!("expected a command, got {other:?}"),
        }
    }

    #[test]
    fn the_fast_paths_read_what_the_full_parser_reads_on_damaged_copies() {
        let mut compared = 0u64;
        for (path, data) in crate::test_support::aof_fixtures() {
            // The RESP part only: the first 600 bytes where commands are.
            let start = data.iter().position(|&b| b == b'*').unwrap_or(0);
            let data = &data[start..data.len().min(start + 600)];
            // The items, and the line count and offset after them.
            let scan = |mut c: Commands<'_>| {
                let items: Vec<_> = c.by_ref().collect();
                (format!("{items:?}"), c.line(), c.offset())
            };
            let same = |d: &[u8]| {
                let fast = scan(Commands::new(d, 0));
                let full = scan(Commands::new(d, 0).without_fast_path());
                assert_eq!(fast, full, "{path}");
            };
            same(data);
            for i in 0..data.len() {
                for byte in [b'$', b'\r', b'\n', b'0', b'9', b'-', b'*', 0] {
                    let mut d = data.to_vec();
                    d[i] = byte;
                    same(&d);
                    compared += 1;
                }
                same(&data[..i]);
            }
        }
        if compared > 0 {
            assert!(compared > 1000, "{compared}");
        }
    }

    #[test]
    fn reads_commands_and_annotations_with_offsets() {
        // #TS:1\r\n          (0..7)    annotation
        // *2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n  (7..30)  SELECT 0
        let data = b"#TS:1\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n";
        let all = items(data);
        assert_eq!(all.len(), 2);
        match &all[0] {
            Ok(Item::Annotation(a)) => {
                assert_eq!(a.offset, 0);
                assert_eq!(a.len(), 7);
                assert_eq!(a.timestamp(), Some(Ok(1)));
            }
            other => panic!("{other:?}"),
        }
        let c = cmd(&all[1]);
        assert_eq!(c.offset, 7);
        assert_eq!(c.len, 23);
        assert_eq!(c.args, vec![&b"SELECT"[..], &b"0"[..]]);
        assert_eq!(c.line, 1);
    }

    #[test]
    fn base_offset_is_added() {
        let data = b"*1\r\n$5\r\nMULTI\r\n";
        let all: Vec<_> = Commands::new(data, 100).collect();
        assert_eq!(cmd(&all[0]).offset, 100);
        assert_eq!(cmd(&all[0]).end(), 100 + data.len() as u64);
    }

    #[test]
    fn truncation_at_every_byte_is_truncated_not_malformed() {
        let data = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n";
        for cut in 1..data.len() {
            let all = items(&data[..cut]);
            assert_eq!(all.len(), 1, "cut {cut}");
            let e = all[0].as_ref().unwrap_err();
            assert!(e.is_truncated(), "cut {cut}: {e}");
            assert_eq!(e.record_offset, 0);
        }
        assert!(items(data)[0].is_ok());
    }

    #[test]
    fn wrong_byte_is_malformed_with_offset_and_line() {
        // *2\r\n  line 1 ; $3\r\n line 2 ; "abc" then "XX" instead of \r\n
        let data = b"*2\r\n$3\r\nabcXX$1\r\nb\r\n";
        let e = items(data).pop().unwrap().unwrap_err();
        assert_eq!(
            e.kind,
            RespErrorKind::Unexpected {
                expected: Expected::BulkCrlf,
                found: b"XX".to_vec()
            }
        );
        assert_eq!(e.offset, 8); // start of the bulk data (epos)
        assert_eq!(e.found_at, 11);
        assert_eq!(e.line, 3);
    }

    #[test]
    fn garbage_line_is_a_format_error() {
        let e = items(b"garbage\r\n").pop().unwrap().unwrap_err();
        assert!(e.is_format_error());
        assert_eq!(e.offset, 0);
    }

    #[test]
    fn strict_rejects_sign_space_and_zero_argc() {
        for bad in [
            &b"*+1\r\n$1\r\na\r\n"[..],
            b"* 1\r\n",
            b"*1 \r\n",
            b"*-1\r\n",
        ] {
            let e = items(bad).pop().unwrap().unwrap_err();
            assert!(!e.is_truncated(), "{bad:?}: {e}");
        }
        let e = items(b"*0\r\n").pop().unwrap().unwrap_err();
        assert_eq!(e.kind, RespErrorKind::ArgcOutOfRange { argc: 0 });
        let e = items(b"*1\r\n$-1\r\n").pop().unwrap().unwrap_err();
        assert!(matches!(
            e.kind,
            RespErrorKind::Unexpected {
                expected: Expected::BulkLen,
                ..
            }
        ));
    }

    #[test]
    fn huge_counts_do_not_allocate_and_are_truncated() {
        let e = items(b"*9223372036854775807\r\n$1\r\na\r\n")
            .pop()
            .unwrap()
            .unwrap_err();
        assert!(e.is_truncated());
        let e = items(b"*1\r\n$9223372036854775807\r\nabc")
            .pop()
            .unwrap()
            .unwrap_err();
        assert!(e.is_truncated());
        let e = items(b"*99999999999999999999\r\n")
            .pop()
            .unwrap()
            .unwrap_err();
        assert!(matches!(e.kind, RespErrorKind::NumberTooLarge { .. }));
    }

    #[test]
    fn annotations_are_read_in_1023_byte_pieces() {
        let mut data = b"#".to_vec();
        data.extend(std::iter::repeat_n(b'a', 1100));
        data.extend_from_slice(b"\r\n");
        let all = items(&data);
        match &all[0] {
            Ok(Item::Annotation(a)) => {
                assert_eq!(a.len(), 1023);
                assert!(a.is_split());
            }
            other => panic!("{other:?}"),
        }
        // The remainder starts with 'a': not a record start.
        assert!(all[1].as_ref().unwrap_err().is_format_error());
    }

    #[test]
    fn timestamp_forms() {
        let a = |b: &'static [u8]| Annotation {
            offset: 0,
            bytes: b,
            terminated: true,
        };
        assert_eq!(
            a(b"#TS:1700000000\r\n").timestamp(),
            Some(Ok(1_700_000_000))
        );
        assert_eq!(a(b"#TS:17x\r\n").timestamp(), Some(Err(())));
        assert_eq!(a(b"#TS:17\n").timestamp(), Some(Err(())));
        assert_eq!(a(b"#other\r\n").timestamp(), None);
        assert_eq!(a(b"#TS: 17\r\n").timestamp_check_aof(), Some(Ok(17)));
        assert_eq!(a(b"#TS:17\n").timestamp_check_aof(), Some(Err(())));
    }

    #[test]
    fn line_counts_crlfs_of_failed_records_too() {
        // Record 1: 5 CRLFs (lines 1-5). Record 2 reads "*2\r\n" (line 6)
        // and "$1\r\n" (line 7), then fails on the data CRLF: line is 8.
        let data = b"*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$1\r\naXX";
        let mut it = Commands::new(data, 0);
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.line, 8);
        assert_eq!(it.line(), 8);
        assert!(it.next().is_none());
    }

    #[test]
    fn check_aof_dialect_messages() {
        let run = |d: &[u8]| -> RespError {
            Commands::with_dialect(d, 0, Dialect::CheckAof)
                .find_map(Result::err)
                .unwrap()
        };
        // Leniency: sign and blanks, *0 and *-1 accepted.
        let ok: Vec<_> =
            Commands::with_dialect(b"*+1\r\n$ 1\r\na\r\n*0\r\n*-1\r\n", 0, Dialect::CheckAof)
                .collect();
        assert!(ok.iter().all(Result::is_ok), "{ok:?}");
        let e = run(b"*1\r\n$1\r\naXX");
        assert_eq!(
            e.checker_message.as_deref(),
            Some("Expected \\r\\n, got: 5858")
        );
        assert_eq!(e.offset, 8);
        let e = run(b"*1\r\n#1\r\n");
        assert_eq!(
            e.checker_message.as_deref(),
            Some("Expected prefix '$', got: '#'")
        );
        let e = run(b"*1\r\n$5\r\nab");
        assert_eq!(
            e.checker_message.as_deref(),
            Some("Expected to read 7 bytes, got 2 bytes")
        );
        let e = run(b"*1\r\n$-3\r\n");
        assert_eq!(
            e.checker_message.as_deref(),
            Some("Expected to read string of -3 bytes, which is not in the suitable range")
        );
        let e = run(b"*3");
        assert_eq!(
            e.checker_message.as_deref(),
            Some("Expected \\r\\n, got: 0000")
        );
        assert!(e.is_truncated());
    }

    #[test]
    fn resume_after_error() {
        let data = b"junk*1\r\n$4\r\nPING\r\n";
        let mut it = Commands::new(data, 0);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        it.resume_at(4);
        assert_eq!(cmd(&it.next().unwrap()).offset, 4);
    }

    #[test]
    fn strtol_like_c() {
        assert_eq!(strtol(b"  -12x"), (-12, 5, false));
        assert_eq!(strtol(b"x"), (0, 0, false));
        assert_eq!(strtol(b"-"), (0, 0, false));
        assert_eq!(strtol(b"99999999999999999999"), (i64::MAX, 20, true));
        assert_eq!(strtol(b"\r\n"), (0, 0, false));
    }
}
