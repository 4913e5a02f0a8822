//! The multi-part AOF manifest (Redis >= 7.0, Valkey).
//!
//! ```text
//! # comment lines start with '#'
//! file appendonly.aof.1.base.rdb seq 1 type b\n
//! file appendonly.aof.1.incr.aof seq 1 type h\n
//! file appendonly.aof.2.incr.aof seq 2 type i\n
//! ```
//!
//! Reader: mirrors `aofLoadManifestFromFile` (shared by the server and
//! `redis-check-aof`), error for error:
//!
//! * lines are read with `fgets` into 1025 bytes, so at most 1024 bytes per
//!   read; a read starting with `#` is a comment (checked before anything
//!   else); a read without `\n` (a long line, or a last line missing its
//!   newline, or a NUL before the newline) is "too long line";
//! * the line is trimmed of `" \t\r\n"`; empty is "Invalid AOF manifest file
//!   format";
//! * `sdssplitargs` tokenises it (`"..."` with `\xHH \n \r \t \b \a` and
//!   `\<any>` escapes, `'...'` with `\'`, a closing quote must be followed by
//!   a blank); at least 6 tokens and an even count;
//! * keys `file`, `seq`, `type` in any order and case; other pairs ignored;
//!   `file` must be a base name, `seq` goes through `atoll` and must be
//!   non-zero, `type` is the first byte of its value;
//! * one `b` at most, `i` seqs strictly increasing (gaps allowed), `h` only
//!   listed, anything else "Unknown AOF file type"; a 0-byte file is "Found an
//!   empty AOF manifest" (a file of comments only is an empty set).
//!
//! Writer: [`Manifest::to_bytes`] mirrors `getAofManifestAsString` /
//! `aofInfoFormat`: BASE, then HISTORY, then INCR, each
//! `file %s seq %lld type %c\n`, the name through `sdscatrepr` when
//! `sdsneedsrepr` says so.

use super::resp::{c_isspace, c_str, strtol};
use std::fmt;

/// One `fgets` read of the manifest: `MANIFEST_MAX_LINE` (1024) bytes.
pub const MANIFEST_MAX_LINE: usize = 1024;

/// The type letter of a manifest entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileType {
    /// `b`: the snapshot written by the last rewrite (RDB or RESP).
    Base,
    /// `h`: a previous base or incr, never loaded, may be gone.
    History,
    /// `i`: commands since the rewrite, loaded in manifest order.
    Incr,
}

impl FileType {
    pub fn letter(self) -> u8 {
        match self {
            FileType::Base => b'b',
            FileType::History => b'h',
            FileType::Incr => b'i',
        }
    }

    fn from_letter(c: u8) -> Option<Self> {
        match c {
            b'b' => Some(FileType::Base),
            b'h' => Some(FileType::History),
            b'i' => Some(FileType::Incr),
            _ => None,
        }
    }
}

/// One manifest entry (`aofInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofInfo {
    /// The file name as the server sees it (bytes up to any NUL).
    pub file_name: Vec<u8>,
    pub file_seq: i64,
    pub file_type: FileType,
    /// 1-based manifest line it was read from (0 if built in code).
    pub line: u64,
    /// Absolute offset of that line in the manifest.
    pub offset: u64,
    /// Other key/value pairs, in order: `startoffset` / `endoffset`
    /// (replication offsets, Redis >= 8.0), or keys of a later version.
    /// Written back as they were.
    pub extra: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Keys Redis 8 writes on incr and history entries (replication offsets;
/// on start the server takes `master_repl_offset` from the last incr's
/// `endoffset`).
pub const KNOWN_EXTRA_KEYS: [&str; 2] = ["startoffset", "endoffset"];

impl AofInfo {
    /// The value of an extra key (case-insensitive), if present.
    pub fn extra_value(&self, key: &str) -> Option<&[u8]> {
        self.extra
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    /// Removes an extra key (case-insensitive); true if it was there.
    pub fn remove_extra(&mut self, key: &str) -> bool {
        let before = self.extra.len();
        self.extra
            .retain(|(k, _)| !k.eq_ignore_ascii_case(key.as_bytes()));
        before != self.extra.len()
    }

    pub fn new(file_name: impl Into<Vec<u8>>, file_seq: i64, file_type: FileType) -> Self {
        AofInfo {
            file_name: file_name.into(),
            file_seq,
            file_type,
            line: 0,
            offset: 0,
            extra: Vec::new(),
        }
    }

    /// The name for messages (non-UTF-8 bytes escaped).
    pub fn name_lossy(&self) -> String {
        crate::escape_bytes(&self.file_name)
    }
}

/// Something legal but unusual in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestNote {
    pub line: u64,
    pub offset: u64,
    pub message: String,
}

/// A parsed manifest, in the server's three lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    pub base: Option<AofInfo>,
    pub history: Vec<AofInfo>,
    /// In manifest order, which is the load order.
    pub incr: Vec<AofInfo>,
    /// Accepted oddities: `type base` spelt as a word, unknown keys, a name
    /// listed twice.
    pub notes: Vec<ManifestNote>,
}

/// Why the server would refuse the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestErrorKind {
    /// A 0-byte manifest.
    Empty,
    /// A read without a line feed (includes a last line without one).
    TooLongLine,
    /// "Invalid AOF manifest file format", with what exactly was wrong.
    InvalidFormat(&'static str),
    /// `file` is a path.
    PathInFileName,
    DuplicateBase,
    NonMonotonic {
        seq: i64,
        previous: i64,
    },
    UnknownType(u8),
}

/// A manifest error, located like the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub kind: ManifestErrorKind,
    /// 1-based line (counting `fgets` reads, comments included). The server
    /// prints it only when it had a trimmed line ([`Self::server_shows_line`]).
    pub line: u64,
    /// Absolute offset of the start of that line.
    pub offset: u64,
    /// The trimmed line, when the server had one.
    pub text: Option<Vec<u8>>,
}

impl ManifestError {
    /// The reason exactly as the server and `redis-check-aof` print it.
    pub fn server_message(&self) -> &'static str {
        match self.kind {
            ManifestErrorKind::Empty => "Found an empty AOF manifest",
            ManifestErrorKind::TooLongLine => "The AOF manifest file contains too long line",
            ManifestErrorKind::InvalidFormat(_) => "Invalid AOF manifest file format",
            ManifestErrorKind::PathInFileName => "File can't be a path, just a filename",
            ManifestErrorKind::DuplicateBase => "Found duplicate base file information",
            ManifestErrorKind::NonMonotonic { .. } => "Found a non-monotonic sequence number",
            ManifestErrorKind::UnknownType(_) => "Unknown AOF file type",
        }
    }

    pub fn server_shows_line(&self) -> bool {
        self.text.is_some()
    }

    /// The server's log messages for this error, in order (each is one
    /// `serverLog` call): the FATAL banner, the line, the reason.
    pub fn fatal_messages(&self) -> Vec<String> {
        let mut v = vec!["\n*** FATAL AOF MANIFEST FILE ERROR ***\n".to_string()];
        if let Some(text) = &self.text {
            v.push(format!(
                "Reading the manifest file, at line {}\n",
                self.line
            ));
            v.push(format!(">>> '{}'\n", String::from_utf8_lossy(text)));
        }
        v.push(format!("{}\n", self.server_message()));
        v
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "manifest line {}: {}", self.line, self.server_message())?;
        match &self.kind {
            ManifestErrorKind::InvalidFormat(why) => write!(f, " ({why})")?,
            ManifestErrorKind::NonMonotonic { seq, previous } => write!(
                f,
                " (expected an incr seq greater than {previous}, found {seq})"
            )?,
            ManifestErrorKind::UnknownType(c) => write!(
                f,
                " (expected type b, h or i, found '{}')",
                crate::escape_bytes(&[*c])
            )?,
            ManifestErrorKind::TooLongLine => write!(
                f,
                " (expected a line feed within {MANIFEST_MAX_LINE} bytes; a last line must end with one too)"
            )?,
            _ => {}
        }
        if let Some(text) = &self.text {
            write!(f, ": '{}'", crate::escape_bytes(text))?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestError {}

/// Trims `" \t\r\n"` from both ends (`sdstrim`).
fn trim(mut s: &[u8]) -> &[u8] {
    let set = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    while let Some((first, rest)) = s.split_first() {
        if !set(first) {
            break;
        }
        s = rest;
    }
    while let Some((last, rest)) = s.split_last() {
        if !set(last) {
            break;
        }
        s = rest;
    }
    s
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `sdssplitargs`: `None` for unbalanced quotes or a closing quote followed
/// by something other than a blank. The input holds no NUL (it came through
/// a C string); its end plays the NUL.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut p = 0usize;
    let mut out = Vec::new();
    loop {
        while at(p) != 0 && c_isspace(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Some(out);
        }
        let (mut inq, mut insq, mut done) = (false, false, false);
        let mut cur = Vec::new();
        while !done {
            let c = at(p);
            if inq {
                let hex = (
                    hex_val(at(p.saturating_add(2))),
                    hex_val(at(p.saturating_add(3))),
                );
                if c == b'\\'
                    && at(p.saturating_add(1)) == b'x'
                    && hex.0.is_some()
                    && hex.1.is_some()
                {
                    let (Some(h), Some(l)) = hex else {
                        return None;
                    };
                    cur.push(h.wrapping_mul(16).wrapping_add(l));
                    p = p.saturating_add(3);
                } else if c == b'\\' && at(p.saturating_add(1)) != 0 {
                    p = p.saturating_add(1);
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    let next = at(p.saturating_add(1));
                    if next != 0 && !c_isspace(next) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p.saturating_add(1)) == b'\'' {
                    p = p.saturating_add(1);
                    cur.push(b'\'');
                } else if c == b'\'' {
                    let next = at(p.saturating_add(1));
                    if next != 0 && !c_isspace(next) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => cur.push(c),
                }
            }
            if at(p) != 0 {
                p = p.saturating_add(1);
            }
        }
        out.push(cur);
    }
}

/// `sdsneedsrepr`.
pub fn needs_repr(s: &[u8]) -> bool {
    s.iter().any(|&c| {
        matches!(c, b'\\' | b'"' | b'\n' | b'\r' | b'\t' | 0x07 | 0x08)
            || !(0x20..=0x7e).contains(&c)
            || c_isspace(c)
    })
}

/// `sdscatrepr`: a double-quoted, escaped form `sdssplitargs` reads back.
pub fn repr(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len().saturating_add(2));
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
    out
}

/// `pathIsBaseName`.
fn is_base_name(name: &[u8]) -> bool {
    !name.iter().any(|&c| c == b'/' || c == b'\\')
}

impl Manifest {
    /// Parses a manifest held in memory; `base` is its absolute offset
    /// (normally 0).
    pub fn parse(data: &[u8], base: u64) -> Result<Manifest, ManifestError> {
        let mut m = Manifest::default();
        let err = |kind, line, offset: usize, text: Option<&[u8]>| ManifestError {
            kind,
            line,
            offset: base.saturating_add(offset as u64),
            text: text.map(<[u8]>::to_vec),
        };
        if data.is_empty() {
            return Err(err(ManifestErrorKind::Empty, 0, 0, None));
        }
        let mut pos = 0usize;
        let mut linenum: u64 = 0;
        let mut maxseq: i64 = 0;
        let mut seen: std::collections::HashSet<Vec<u8>> = std::collections::HashSet::new();
        while pos < data.len() {
            let start = pos;
            let limit = start.saturating_add(MANIFEST_MAX_LINE).min(data.len());
            let window = data.get(start..limit).unwrap_or(&[]);
            let len = match window.iter().position(|&b| b == b'\n') {
                Some(i) => i.saturating_add(1),
                None => window.len(),
            };
            let chunk = window.get(..len).unwrap_or(&[]);
            pos = start.saturating_add(len.max(1));
            linenum = linenum.saturating_add(1);
            if chunk.first() == Some(&b'#') {
                continue;
            }
            let cs = c_str(chunk);
            if !cs.contains(&b'\n') {
                return Err(err(ManifestErrorKind::TooLongLine, linenum, start, None));
            }
            let line = trim(cs);
            let invalid = |why| {
                err(
                    ManifestErrorKind::InvalidFormat(why),
                    linenum,
                    start,
                    Some(line),
                )
            };
            if line.is_empty() {
                return Err(invalid("blank line"));
            }
            let Some(tokens) = split_args(line) else {
                return Err(invalid(
                    "unbalanced quotes, or a closing quote not followed by a space",
                ));
            };
            if tokens.len() < 6 {
                return Err(invalid(
                    "expected at least 6 tokens: file <name> seq <n> type <b|h|i>",
                ));
            }
            if tokens.len() % 2 != 0 {
                return Err(invalid(
                    "expected key value pairs, found an odd token count",
                ));
            }
            let mut name: Option<&[u8]> = None;
            let mut seq: i64 = 0;
            let mut ty: u8 = 0;
            let mut type_word = false;
            let mut extra: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for pair in tokens.chunks_exact(2) {
                let (Some(key), Some(value)) = (pair.first(), pair.get(1)) else {
                    continue;
                };
                let key = c_str(key);
                if key.eq_ignore_ascii_case(b"file") {
                    let n = c_str(value);
                    if !is_base_name(n) {
                        return Err(err(
                            ManifestErrorKind::PathInFileName,
                            linenum,
                            start,
                            Some(line),
                        ));
                    }
                    name = Some(n);
                } else if key.eq_ignore_ascii_case(b"seq") {
                    seq = strtol(c_str(value)).0;
                } else if key.eq_ignore_ascii_case(b"type") {
                    ty = value.first().copied().unwrap_or(0);
                    type_word = value.len() > 1;
                } else {
                    if !KNOWN_EXTRA_KEYS
                        .iter()
                        .any(|k| key.eq_ignore_ascii_case(k.as_bytes()))
                    {
                        m.notes.push(ManifestNote {
                            line: linenum,
                            offset: base.saturating_add(start as u64),
                            message: format!(
                                "unknown key '{}' ignored (as the server does)",
                                crate::escape_bytes(key)
                            ),
                        });
                    }
                    extra.push((key.to_vec(), value.clone()));
                }
            }
            let Some(name) = name else {
                return Err(invalid("missing 'file'"));
            };
            if seq == 0 {
                return Err(invalid("missing 'seq', or seq is 0"));
            }
            if ty == 0 {
                return Err(invalid("missing 'type'"));
            }
            let Some(file_type) = FileType::from_letter(ty) else {
                return Err(err(
                    ManifestErrorKind::UnknownType(ty),
                    linenum,
                    start,
                    Some(line),
                ));
            };
            let offset = base.saturating_add(start as u64);
            if type_word {
                m.notes.push(ManifestNote {
                    line: linenum,
                    offset,
                    message: format!(
                        "type given as a word; the server reads only its first letter '{}'",
                        ty as char
                    ),
                });
            }
            let info = AofInfo {
                file_name: name.to_vec(),
                file_seq: seq,
                file_type,
                line: linenum,
                offset,
                extra,
            };
            if !seen.insert(info.file_name.clone()) {
                m.notes.push(ManifestNote {
                    line: linenum,
                    offset,
                    message: format!("file '{}' is listed more than once", info.name_lossy()),
                });
            }
            match file_type {
                FileType::Base => {
                    if m.base.is_some() {
                        return Err(err(
                            ManifestErrorKind::DuplicateBase,
                            linenum,
                            start,
                            Some(line),
                        ));
                    }
                    m.base = Some(info);
                }
                FileType::History => m.history.push(info),
                FileType::Incr => {
                    if seq <= maxseq {
                        return Err(err(
                            ManifestErrorKind::NonMonotonic {
                                seq,
                                previous: maxseq,
                            },
                            linenum,
                            start,
                            Some(line),
                        ));
                    }
                    maxseq = seq;
                    m.incr.push(info);
                }
            }
        }
        Ok(m)
    }

    /// Every entry: base, history, incr.
    pub fn entries(&self) -> impl Iterator<Item = &AofInfo> {
        self.base
            .iter()
            .chain(self.history.iter())
            .chain(self.incr.iter())
    }

    /// The files a server loads, in load order: base, then incr.
    pub fn load_order(&self) -> impl Iterator<Item = &AofInfo> {
        self.base.iter().chain(self.incr.iter())
    }

    /// [`Self::to_bytes`], refused when a server could not read the result
    /// back: escaping a non-printable byte as `\xHH` can stretch a name that
    /// fitted one 1024-byte line read beyond it. Found by the `manifest`
    /// fuzz target; everything that writes a manifest to disk uses this.
    pub fn to_checked_bytes(&self) -> Result<Vec<u8>, ManifestError> {
        let bytes = self.to_bytes();
        Manifest::parse(&bytes, 0)?;
        Ok(bytes)
    }

    /// The manifest as the server writes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for e in self.entries() {
            out.extend_from_slice(b"file ");
            if needs_repr(&e.file_name) {
                out.extend_from_slice(&repr(&e.file_name));
            } else {
                out.extend_from_slice(&e.file_name);
            }
            out.extend_from_slice(format!(" seq {} type ", e.file_seq).as_bytes());
            out.push(e.file_type.letter());
            for (k, v) in &e.extra {
                // A quote anywhere in a key or a value starts a quoted
                // string when read back (sdssplitargs), so either is
                // written quoted (found by the `manifest` fuzz target: a
                // key `'` read back swallowed the next token).
                for part in [k, v] {
                    out.push(b' ');
                    if part.is_empty() {
                        out.extend_from_slice(b"\"\"");
                    } else if needs_repr(part) || part.contains(&b'\'') || part.contains(&b'"') {
                        out.extend_from_slice(&repr(part));
                    } else {
                        out.extend_from_slice(part);
                    }
                }
            }
            out.push(b'\n');
        }
        out
    }
}

/// `fileIsManifest` of `redis-check-aof`: non-empty, and the first read
/// that is not a comment starts with `file`.
pub fn looks_like_manifest(data: &[u8]) -> bool {
    let mut pos = 0usize;
    let mut found = false;
    while pos < data.len() {
        let limit = pos.saturating_add(MANIFEST_MAX_LINE).min(data.len());
        let window = data.get(pos..limit).unwrap_or(&[]);
        let len = match window.iter().position(|&b| b == b'\n') {
            Some(i) => i.saturating_add(1),
            None => window.len(),
        };
        let chunk = window.get(..len).unwrap_or(&[]);
        pos = pos.saturating_add(len.max(1));
        if chunk.first() == Some(&b'#') {
            continue;
        }
        if chunk.starts_with(b"file") {
            found = true;
        } else {
            break;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Result<Manifest, ManifestError> {
        Manifest::parse(s, 0)
    }

    fn kind(s: &[u8]) -> ManifestErrorKind {
        parse(s).unwrap_err().kind
    }

    #[test]
    fn server_written_manifest() {
        let m = parse(
            b"file appendonly.aof.2.base.rdb seq 2 type b\n\
              file appendonly.aof.1.incr.aof seq 1 type h\n\
              file appendonly.aof.3.incr.aof seq 3 type i\n\
              file appendonly.aof.4.incr.aof seq 4 type i\n",
        )
        .unwrap();
        assert_eq!(
            m.base.as_ref().unwrap().file_name,
            b"appendonly.aof.2.base.rdb"
        );
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.incr.len(), 2);
        assert_eq!(m.incr[1].line, 4);
        assert!(m.notes.is_empty());
        let names: Vec<_> = m.load_order().map(|e| e.file_seq).collect();
        assert_eq!(names, vec![2, 3, 4]);
    }

    #[test]
    fn keys_any_order_any_case_extra_pairs_comments() {
        let m = parse(b"# hello\nTYPE i SEQ 7 future x FILE a.aof\n").unwrap();
        assert_eq!(m.incr[0].file_seq, 7);
        assert_eq!(m.incr[0].line, 2);
        assert_eq!(m.notes.len(), 1);
        // Comments only: an empty set, not an error.
        let m = parse(b"# just a comment\n").unwrap();
        assert_eq!(m.entries().count(), 0);
    }

    #[test]
    fn redis_8_offsets_are_kept_and_written_back() {
        let text = b"file appendonly.aof.1.base.rdb seq 1 type b\n\
                     file appendonly.aof.1.incr.aof seq 1 type i startoffset 0 endoffset 96\n";
        let mut m = parse(text).unwrap();
        assert!(m.notes.is_empty());
        assert_eq!(m.incr[0].extra_value("endoffset"), Some(&b"96"[..]));
        assert_eq!(m.to_bytes(), text.to_vec());
        assert!(m.incr[0].remove_extra("endoffset"));
        assert_eq!(
            m.to_bytes(),
            b"file appendonly.aof.1.base.rdb seq 1 type b\n\
              file appendonly.aof.1.incr.aof seq 1 type i startoffset 0\n"
                .to_vec()
        );
    }

    #[test]
    fn row_69_type_word_is_its_first_letter() {
        let m = parse(b"file a seq 1 type base\n").unwrap();
        assert_eq!(m.base.unwrap().file_type, FileType::Base);
        assert_eq!(m.notes.len(), 1);
    }

    #[test]
    fn row_64_gaps_are_allowed() {
        let m = parse(b"file a seq 1 type i\nfile b seq 3 type i\n").unwrap();
        assert_eq!(m.incr.len(), 2);
    }

    #[test]
    fn row_65_non_monotonic() {
        let e = parse(b"file a seq 2 type i\nfile b seq 2 type i\n").unwrap_err();
        assert_eq!(
            e.kind,
            ManifestErrorKind::NonMonotonic {
                seq: 2,
                previous: 2
            }
        );
        assert_eq!(e.line, 2);
        assert_eq!(e.offset, 20);
        assert_eq!(e.server_message(), "Found a non-monotonic sequence number");
        // Negative incr seqs are never greater than the initial 0.
        assert!(matches!(
            kind(b"file a seq -1 type i\n"),
            ManifestErrorKind::NonMonotonic { .. }
        ));
        // The base seq is not compared with incr seqs.
        assert!(parse(b"file a seq 9 type b\nfile b seq 1 type i\n").is_ok());
    }

    #[test]
    fn row_66_duplicate_base() {
        assert_eq!(
            kind(b"file a seq 1 type b\nfile b seq 2 type b\n"),
            ManifestErrorKind::DuplicateBase
        );
    }

    #[test]
    fn row_67_format_errors() {
        assert!(matches!(
            kind(b"file a seq 1 type b\n\nfile b seq 1 type i\n"),
            ManifestErrorKind::InvalidFormat(_)
        ));
        assert!(matches!(
            kind(b"   \t\r\n"),
            ManifestErrorKind::InvalidFormat(_)
        ));
        assert!(matches!(
            kind(b"file a seq 1 type\n"),
            ManifestErrorKind::InvalidFormat(_)
        ));
        assert!(matches!(
            kind(b"file a seq 1 type b extra\n"),
            ManifestErrorKind::InvalidFormat(_)
        ));
        assert!(matches!(
            kind(b"file a seq 1 xtype b\n"),
            ManifestErrorKind::InvalidFormat(_)
        ));
        // Last line without its newline.
        let e = parse(b"file a seq 1 type b").unwrap_err();
        assert_eq!(e.kind, ManifestErrorKind::TooLongLine);
        assert!(!e.server_shows_line());
        // A line longer than 1024 bytes.
        let mut long = b"file ".to_vec();
        long.extend(std::iter::repeat_n(b'a', 1100));
        long.extend_from_slice(b" seq 1 type b\n");
        assert_eq!(kind(&long), ManifestErrorKind::TooLongLine);
        // A NUL before the newline hides it from strchr.
        assert_eq!(
            kind(b"file a\0 seq 1 type b\n"),
            ManifestErrorKind::TooLongLine
        );
        // Unbalanced or glued quotes.
        assert!(matches!(
            kind(b"file \"a seq 1 type b\n"),
            ManifestErrorKind::InvalidFormat(_)
        ));
        assert!(matches!(
            kind(b"file \"a\"b seq 1 type b\n"),
            ManifestErrorKind::InvalidFormat(_)
        ));
    }

    #[test]
    fn row_68_type_path_seq0() {
        assert_eq!(
            kind(b"file a seq 1 type x\n"),
            ManifestErrorKind::UnknownType(b'x')
        );
        assert_eq!(
            kind(b"file d/a seq 1 type b\n"),
            ManifestErrorKind::PathInFileName
        );
        assert_eq!(
            kind(b"file d\\a seq 1 type b\n"),
            ManifestErrorKind::PathInFileName
        );
        assert!(matches!(
            kind(b"file a seq 0 type b\n"),
            ManifestErrorKind::InvalidFormat(_)
        ));
        assert!(matches!(
            kind(b"file a seq abc type b\n"),
            ManifestErrorKind::InvalidFormat(_)
        ));
    }

    #[test]
    fn row_70_empty_manifest() {
        let e = parse(b"").unwrap_err();
        assert_eq!(e.kind, ManifestErrorKind::Empty);
        assert_eq!(e.server_message(), "Found an empty AOF manifest");
    }

    #[test]
    fn fatal_block_shows_the_trimmed_line() {
        let e = parse(b"file a seq 1 type b\n  file b seq 1 type b  \n").unwrap_err();
        assert_eq!(
            e.fatal_messages(),
            vec![
                "\n*** FATAL AOF MANIFEST FILE ERROR ***\n".to_string(),
                "Reading the manifest file, at line 2\n".to_string(),
                ">>> 'file b seq 1 type b'\n".to_string(),
                "Found duplicate base file information\n".to_string(),
            ]
        );
    }

    #[test]
    fn quoting_round_trips_like_the_server() {
        let m = parse(b"file \"a b\\x00\\n\" seq 1 type b\nfile 'c\\'d' seq 2 type i\n").unwrap();
        // The NUL cuts the name, as sdsnew(argv) does.
        assert_eq!(m.base.as_ref().unwrap().file_name, b"a b");
        assert_eq!(m.incr[0].file_name, b"c'd");
        let mut w = Manifest::default();
        w.incr
            .push(AofInfo::new(&b"x y\t\"\xff"[..], 3, FileType::Incr));
        w.base = Some(AofInfo::new(
            &b"appendonly.aof.1.base.rdb"[..],
            1,
            FileType::Base,
        ));
        w.history
            .push(AofInfo::new(&b"h"[..], 1, FileType::History));
        let bytes = w.to_bytes();
        assert_eq!(
            bytes,
            b"file appendonly.aof.1.base.rdb seq 1 type b\n\
              file h seq 1 type h\n\
              file \"x y\\t\\\"\\xff\" seq 3 type i\n"
                .to_vec()
        );
        let back = parse(&bytes).unwrap();
        assert_eq!(back.incr[0].file_name, b"x y\t\"\xff");
    }

    #[test]
    fn a_manifest_that_escaping_makes_unreadable_is_refused() {
        // 300 raw 0x01 bytes fit one line read; written as `\x01` each,
        // the line is 1200+ bytes, which no server reads.
        let mut text = b"file ".to_vec();
        text.extend(std::iter::repeat_n(1u8, 300));
        text.extend_from_slice(b" seq 1 type i\n");
        let m = parse(&text).unwrap();
        assert!(m.to_bytes().len() > MANIFEST_MAX_LINE);
        let e = m.to_checked_bytes().unwrap_err();
        assert_eq!(e.kind, ManifestErrorKind::TooLongLine);
        // A short escaped name is fine.
        let m = parse(b"file \"a\\x01b\" seq 1 type i\n").unwrap();
        assert_eq!(m.to_checked_bytes().unwrap(), m.to_bytes());
    }

    #[test]
    fn extra_keys_with_quotes_are_written_quoted() {
        let m = parse(b"file a seq 1 type i \"'\" x k \"v'\"\n").unwrap();
        assert_eq!(
            m.incr[0].extra,
            vec![
                (b"'".to_vec(), b"x".to_vec()),
                (b"k".to_vec(), b"v'".to_vec())
            ]
        );
        let back = parse(&m.to_checked_bytes().unwrap()).unwrap();
        assert_eq!(back.incr[0].extra, m.incr[0].extra);
    }

    #[test]
    fn split_args_like_sdssplitargs() {
        assert_eq!(
            split_args(b"  a  \"b c\" 'd\\'e' \"\\x41\\q\"").unwrap(),
            vec![
                b"a".to_vec(),
                b"b c".to_vec(),
                b"d'e".to_vec(),
                b"Aq".to_vec()
            ]
        );
        assert_eq!(
            split_args(b"ab\"cd\" e").unwrap(),
            vec![b"abcd".to_vec(), b"e".to_vec()]
        );
        assert!(split_args(b"'abc").is_none());
        assert!(split_args(b"\"abc\\\"").is_none());
        assert_eq!(split_args(b"").unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn detects_manifests_like_check_aof() {
        assert!(looks_like_manifest(b"# c\nfile a seq 1 type b\n"));
        assert!(!looks_like_manifest(b""));
        assert!(!looks_like_manifest(b"*1\r\n$4\r\nPING\r\n"));
        assert!(!looks_like_manifest(b"# only comments\n"));
    }
}
