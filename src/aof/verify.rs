//! Verification of an AOF: one file (plain RESP, or an RDB preamble and a
//! RESP tail) or a multi-part set described by a manifest.
//!
//! Framing comes from [`super::resp::Commands`]; on top of it this layer
//! checks what the server's loader (`loadSingleAppendOnlyFile`,
//! `loadAppendOnlyFiles`) and `redis-check-aof` care about:
//!
//! * MULTI/EXEC balance (nested MULTI and EXEC without MULTI are errors; an
//!   open MULTI at the end of the last file is a recoverable torn tail);
//! * command names and arity against [`super::commands`] (unknown names are
//!   errors, module-looking names warnings);
//! * SELECT with a valid db index (warning from 16, the default
//!   `databases`);
//! * `#TS:` annotations well formed and never going backwards (warnings);
//! * per set: the manifest, files present, one base, the base's RDB through
//!   the RDB verifier.
//!
//! `valid_up_to` follows `redis-check-aof`'s `ok_up_to`: sampled at the
//! start of each item while no MULTI is open, frozen at the first problem,
//! so an unfinished transaction is cut back to its MULTI.
//!
//! A truncated record, or an open MULTI, at the end of the *last* file is a
//! warning: the server truncates it (`aof-load-truncated yes`, the default)
//! and loads. Anywhere else it is an error.

use super::commands::{self, Lookup};
use super::manifest::{AofInfo, FileType, Manifest, ManifestError};
use super::resp::{Annotation, Command, Commands, Dialect, Item, RespError, parse_strict_i64};
use crate::verify::{Finding, RdbReport, Severity};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;

pub use crate::limits::{MAX_DISTINCT_COMMAND_NAMES, MAX_FLUSH_EVENTS};
/// The bucket for names beyond [`MAX_DISTINCT_COMMAND_NAMES`].
pub const OTHER_COMMANDS: &str = "(other)";
/// The server's default `databases`.
pub const DEFAULT_DATABASES: u64 = crate::limits::DEFAULT_DATABASES;

/// How to verify.
#[derive(Debug, Clone)]
pub struct AofOptions {
    /// Options for the RDB verifier, used on preambles and RDB bases
    /// (`embedded_in_aof` is set by this module).
    pub rdb: crate::verify::Options,
    /// Framing rules. [`Dialect::CheckAof`] together with
    /// `semantic_checks: false` reproduces `redis-check-aof`.
    pub dialect: Dialect,
    /// Command table, arity, SELECT, annotations.
    pub semantic_checks: bool,
    /// Findings kept per file (the rest are counted).
    pub max_findings: usize,
    /// `databases` of the target server, for the SELECT range warning.
    pub databases: u64,
    /// Threads verifying an RDB preamble or base
    /// ([`crate::driver::DriverOptions::threads`]): 1, the default, on the
    /// calling thread; 0 one per core. The report is the same for any
    /// count.
    pub rdb_threads: usize,
}

impl Default for AofOptions {
    fn default() -> Self {
        AofOptions {
            rdb: crate::verify::Options::default(),
            dialect: Dialect::Strict,
            semantic_checks: true,
            max_findings: 1000,
            databases: DEFAULT_DATABASES,
            rdb_threads: 1,
        }
    }
}

/// What a file is in its set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// The manifest's base, starting with an RDB.
    BaseRdb,
    /// The manifest's base, in RESP.
    BaseAof,
    Incr,
    History,
    /// An old-style single AOF (with or without an RDB preamble).
    Single,
}

impl FileKind {
    /// The wire name: `base-rdb`, `base-aof`, `incr`, `history`, `single`.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::BaseRdb => "base-rdb",
            FileKind::BaseAof => "base-aof",
            FileKind::Incr => "incr",
            FileKind::History => "history",
            FileKind::Single => "single",
        }
    }
}

/// Which AOF form the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AofForm {
    /// One file; `preamble` when it starts with an RDB.
    Single { preamble: bool },
    /// A manifest and its files.
    MultiPart,
}

impl AofForm {
    /// The wire name: `aof` or `aof-multipart`.
    pub fn as_str(self) -> &'static str {
        match self {
            AofForm::Single { .. } => "aof",
            AofForm::MultiPart => "aof-multipart",
        }
    }
}

/// Why `valid_up_to` stops short of the end of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Everything is valid.
    Clean,
    /// The data ends inside a record.
    TornRecord,
    /// The data ends with a MULTI open.
    OpenMulti,
    /// A malformed record, or a command the server would refuse.
    Damaged,
    /// The RDB preamble or base is damaged; nothing after it was read.
    RdbDamaged,
    /// The file is listed but could not be read.
    Missing,
}

impl Tail {
    /// The server would cut this tail itself and load (for the last file).
    pub fn is_torn(self) -> bool {
        matches!(self, Tail::TornRecord | Tail::OpenMulti)
    }
}

/// The first problem in a file: where `valid_up_to` froze.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstError {
    pub severity: Severity,
    /// Where the failing read started.
    pub offset: u64,
    /// RESP line number there.
    pub line: u64,
    pub message: String,
}

/// A FLUSHALL or FLUSHDB, where it is and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushEvent {
    /// Index into [`AofReport::files`].
    pub file_index: usize,
    /// Offset of the FLUSHALL/FLUSHDB record.
    pub offset: u64,
    /// Where to cut to undo it: the record, or its MULTI.
    pub cut_offset: u64,
    /// `FLUSHALL` or `FLUSHDB`.
    pub command: &'static str,
    /// The selected db (for FLUSHDB the one flushed).
    pub db: u64,
    /// The last `#TS:` before it, anywhere earlier in the set.
    pub last_ts: Option<i64>,
    /// Commands of its file before `cut_offset` (the ones a cut keeps).
    pub commands_before_cut: u64,
    /// Inside the valid part of its file.
    pub valid: bool,
}

/// One file's verification.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// Name in the manifest, or the path given for a single file.
    pub name: Vec<u8>,
    pub kind: FileKind,
    /// The manifest's seq (0 for a single file).
    pub seq: i64,
    /// Last file in load order (the only one a server may truncate).
    pub is_last: bool,
    pub size: u64,
    /// The RDB preamble or base, verified by the RDB engine.
    pub rdb: Option<RdbReport>,
    /// Offset where the RESP part starts (after the RDB, or 0).
    pub resp_start: u64,
    /// Complete commands read (including any after a non-framing error).
    pub commands: u64,
    /// Commands ending at or before `valid_up_to`.
    pub commands_valid: u64,
    pub annotations: u64,
    pub valid_up_to: u64,
    pub tail: Tail,
    pub first_error: Option<FirstError>,
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// Findings beyond `max_findings`, counted only.
    pub dropped_findings: u64,
    /// `redis-check-aof`'s cumulative line counter after this file.
    pub end_line: u64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    /// History files are listed, never read.
    pub checked: bool,
}

impl FileReport {
    fn new(name: Vec<u8>, kind: FileKind, seq: i64, is_last: bool, size: u64) -> Self {
        FileReport {
            name,
            kind,
            seq,
            is_last,
            size,
            rdb: None,
            resp_start: 0,
            commands: 0,
            commands_valid: 0,
            annotations: 0,
            valid_up_to: 0,
            tail: Tail::Clean,
            first_error: None,
            errors: Vec::new(),
            warnings: Vec::new(),
            dropped_findings: 0,
            end_line: 1,
            first_ts: None,
            last_ts: None,
            checked: true,
        }
    }

    /// The name for messages.
    pub fn name_lossy(&self) -> String {
        crate::escape_bytes(&self.name)
    }

    /// Fully valid: no error, and `valid_up_to` is the end of the file.
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.valid_up_to == self.size && self.tail != Tail::Missing
    }

    /// Bytes after `valid_up_to`.
    pub fn invalid_bytes(&self) -> u64 {
        self.size.saturating_sub(self.valid_up_to)
    }

    fn push(&mut self, f: Finding, max: usize) {
        let list = match f.severity {
            Severity::Error => &mut self.errors,
            Severity::Warning => &mut self.warnings,
        };
        if list.len() < max {
            list.push(f);
        } else {
            self.dropped_findings = self.dropped_findings.saturating_add(1);
        }
    }
}

/// Everything verification learnt about an AOF.
#[derive(Debug, Clone)]
pub struct AofReport {
    pub form: AofForm,
    /// The parsed manifest (multi-part only).
    pub manifest: Option<Manifest>,
    /// Why the manifest was refused (multi-part only).
    pub manifest_error: Option<ManifestError>,
    /// Set-level findings: the manifest, missing files. Offsets are in the
    /// manifest.
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// Base, history, incr in manifest order (a single file: one entry).
    pub files: Vec<FileReport>,
    /// Complete commands in base and incr files.
    pub commands: u64,
    /// Commands by display name (`SET`, `XGROUP CREATE`).
    pub commands_by_name: BTreeMap<String, u64>,
    /// Dbs that commands ran in.
    pub dbs: BTreeSet<u64>,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    pub flushes: Vec<FlushEvent>,
    /// FLUSHALL/FLUSHDB count (may exceed `flushes.len()`).
    pub flush_count: u64,
    /// Keys in RDB preambles/bases.
    pub rdb_keys: u64,
}

impl AofReport {
    fn new(form: AofForm) -> Self {
        AofReport {
            form,
            manifest: None,
            manifest_error: None,
            errors: Vec::new(),
            warnings: Vec::new(),
            files: Vec::new(),
            commands: 0,
            commands_by_name: BTreeMap::new(),
            dbs: BTreeSet::new(),
            first_ts: None,
            last_ts: None,
            flushes: Vec::new(),
            flush_count: 0,
            rdb_keys: 0,
        }
    }

    /// No error anywhere: the set is fully valid (warnings allowed, which
    /// includes a torn tail of the last file the server would cut).
    pub fn ok(&self) -> bool {
        self.errors.is_empty() && self.files.iter().all(|f| f.errors.is_empty())
    }

    /// Every base/incr file is valid to its end: what `redis-check-aof`
    /// calls valid.
    pub fn clean(&self) -> bool {
        self.ok()
            && self
                .files
                .iter()
                .filter(|f| f.checked)
                .all(|f| f.valid_up_to == f.size)
    }

    /// The files a server loads, with their indices, in load order.
    pub fn loaded_files(&self) -> impl Iterator<Item = (usize, &FileReport)> {
        self.files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.kind != FileKind::History)
    }

    /// All findings with the file they belong to (`None`: the manifest or
    /// set), errors first, in file order.
    pub fn findings(&self) -> Vec<(Option<&FileReport>, &Finding)> {
        let mut v: Vec<(Option<&FileReport>, &Finding)> = Vec::new();
        for sev in [Severity::Error, Severity::Warning] {
            let set = if sev == Severity::Error {
                &self.errors
            } else {
                &self.warnings
            };
            v.extend(set.iter().map(|f| (None, f)));
            for file in &self.files {
                let list = if sev == Severity::Error {
                    &file.errors
                } else {
                    &file.warnings
                };
                v.extend(list.iter().map(|f| (Some(file), f)));
            }
        }
        v
    }

    /// Findings flattened into two lists, each message prefixed with its
    /// file name (offsets stay relative to that file).
    pub fn flattened_findings(&self) -> (Vec<Finding>, Vec<Finding>) {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        for (file, f) in self.findings() {
            let mut f = f.clone();
            if let Some(file) = file {
                if self.form == AofForm::MultiPart {
                    f.message = format!("{}: {}", file.name_lossy(), f.message);
                }
            }
            match f.severity {
                Severity::Error => errors.push(f),
                Severity::Warning => warnings.push(f),
            }
        }
        (errors, warnings)
    }
}

/// Access to the files of a multi-part set by manifest name. The pure
/// verifier asks for one file at a time; [`super::dir::DirFiles`] reads
/// them from disk, tests serve them from memory.
pub trait SetFiles {
    type Data: Deref<Target = [u8]>;
    fn open(&self, name: &[u8]) -> std::io::Result<Self::Data>;
}

/// An in-memory set (tests, fuzzing, callers that already hold the bytes).
impl SetFiles for BTreeMap<Vec<u8>, Vec<u8>> {
    type Data = Vec<u8>;
    fn open(&self, name: &[u8]) -> std::io::Result<Vec<u8>> {
        self.get(name).cloned().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory")
        })
    }
}

/// The data starts with an RDB: `REDIS` (what Redis checks) or `VALKEY`
/// (Valkey 9 bases).
pub fn starts_with_rdb(data: &[u8]) -> bool {
    data.starts_with(b"REDIS") || data.starts_with(b"VALKEY")
}

/// Runs the RDB verifier on a preamble or base, on `threads` threads (as
/// [`AofOptions::rdb_threads`]): the one place to change if the RDB
/// engine's entry point moves.
pub fn check_rdb_part(data: &[u8], options: &crate::verify::Options, threads: usize) -> RdbReport {
    let mut o = options.clone();
    o.embedded_in_aof = true;
    let driver = crate::driver::DriverOptions {
        threads,
        ..Default::default()
    };
    crate::driver::verify_rdb(data, &o, driver, &crate::driver::NoProgress)
}

/// State carried across the files of a set, in load order.
struct SetState {
    line: u64,
    last_ts: Option<i64>,
    first_ts: Option<i64>,
    commands: u64,
    commands_by_name: BTreeMap<String, u64>,
    /// Counts of known commands not yet added to `commands_by_name`: a
    /// command's name is looked up in that map once, and after that it
    /// is counted here by the address of its name (a few pointer
    /// comparisons instead of string ones). `(name, own key, count)`;
    /// `own key` false for a name counted under [`OTHER_COMMANDS`].
    known: Vec<(&'static str, bool, u64)>,
    dbs: BTreeSet<u64>,
    /// The db last added to `dbs`: most commands write to the same one.
    last_db: Option<u64>,
    flushes: Vec<FlushEvent>,
    flush_count: u64,
    rdb_keys: u64,
}

/// Known command names counted aside in [`SetState::known`] at most.
const KNOWN_COUNTED_ASIDE: usize = 32;

impl SetState {
    fn new() -> Self {
        SetState {
            line: 1,
            last_ts: None,
            first_ts: None,
            commands: 0,
            commands_by_name: BTreeMap::new(),
            known: Vec::new(),
            dbs: BTreeSet::new(),
            last_db: None,
            flushes: Vec::new(),
            flush_count: 0,
            rdb_keys: 0,
        }
    }

    /// Notes that db `db` is written to.
    fn written(&mut self, db: u64) {
        if self.last_db != Some(db) {
            self.dbs.insert(db);
            self.last_db = Some(db);
        }
    }

    /// [`SetState::count`] for a name from the command table.
    fn count_known(&mut self, name: &'static str) {
        if let Some(k) = self.known.iter_mut().find(|k| std::ptr::eq(k.0, name)) {
            k.2 = k.2.saturating_add(1);
            return;
        }
        self.count(name);
        if self.known.len() < KNOWN_COUNTED_ASIDE {
            let own = self.commands_by_name.contains_key(name);
            self.known.push((name, own, 0));
        }
    }

    fn count(&mut self, name: &str) {
        if let Some(n) = self.commands_by_name.get_mut(name) {
            *n = n.saturating_add(1);
            return;
        }
        let key = if self.commands_by_name.len() < MAX_DISTINCT_COMMAND_NAMES {
            name.to_string()
        } else {
            OTHER_COMMANDS.to_string()
        };
        let n = self.commands_by_name.entry(key).or_insert(0);
        *n = n.saturating_add(1);
    }

    fn finish(mut self, report: &mut AofReport) {
        for (name, own, n) in std::mem::take(&mut self.known) {
            let key = if own { name } else { OTHER_COMMANDS };
            let count = self.commands_by_name.entry(key.to_string()).or_insert(0);
            *count = count.saturating_add(n);
        }
        report.commands = self.commands;
        report.commands_by_name = self.commands_by_name;
        report.dbs = self.dbs;
        report.first_ts = self.first_ts;
        report.last_ts = self.last_ts;
        report.flushes = self.flushes;
        report.flush_count = self.flush_count;
        report.rdb_keys = self.rdb_keys;
    }
}

/// Parses a db index as `selectCommand` does (`getIntFromObjectOrReply`:
/// a canonical decimal integer).
fn parse_db(arg: &[u8]) -> Option<i64> {
    let canonical = match arg {
        [b'0'] => true,
        [b'-', rest @ ..] => rest.first().is_some_and(|c| (b'1'..=b'9').contains(c)),
        [first, ..] => (b'1'..=b'9').contains(first),
        [] => false,
    };
    if !canonical {
        return None;
    }
    parse_strict_i64(arg)
}

fn upper_lossy(name: &[u8]) -> String {
    crate::escape_bytes(&name.to_ascii_uppercase())
}

/// Per-file scanning state.
struct FileScan<'o> {
    options: &'o AofOptions,
    file_index: usize,
    db: u64,
    /// Offset, line and commands-before of the open MULTI.
    multi: Option<(u64, u64, u64)>,
    frozen: bool,
    /// What the names of recent records resolved to (see
    /// [`FileScan::lookup`]).
    recent: [(u64, usize, Lookup); RECENT_NAMES],
    /// The slot of `recent` the next name goes to.
    next_recent: usize,
}

/// Names remembered by [`FileScan::lookup`]: an AOF holds a few commands,
/// interleaved.
const RECENT_NAMES: usize = 8;

/// A name of at most 8 bytes as one word (zero-padded; its length is kept
/// beside it, so that the pair is the name).
fn name_word(name: &[u8]) -> Option<u64> {
    let mut w = [0u8; 8];
    w.get_mut(..name.len())?.copy_from_slice(name);
    Some(u64::from_le_bytes(w))
}

impl FileScan<'_> {
    /// [`commands::lookup`], answered from the last record's when this
    /// one's name (and subcommand argument) are the same bytes.
    fn lookup(&mut self, args: &[&[u8]]) -> Lookup {
        // A name of up to 8 bytes that resolved to a plain command (not a
        // container, whose answer depends on its second argument) is
        // remembered by its bytes: the same bytes resolve the same way.
        let Some((word, len)) = args
            .first()
            .and_then(|name| Some((name_word(name)?, name.len())))
        else {
            return commands::lookup(args);
        };
        if let Some(&(_, _, found)) = self.recent.iter().find(|&&(w, l, _)| w == word && l == len) {
            return found;
        }
        let found = commands::lookup(args);
        let plain = match found {
            Lookup::Known { spec, container } => container.is_none() && !spec.is_container(),
            Lookup::UnknownSubcommand { .. } => false,
            Lookup::Module | Lookup::Unknown => true,
        };
        if plain && len > 0 {
            if let Some(slot) = self.recent.get_mut(self.next_recent) {
                *slot = (word, len, found);
            }
            self.next_recent = (self.next_recent + 1) % RECENT_NAMES;
        }
        found
    }

    /// Records the first problem and freezes `valid_up_to` at the start of
    /// the item, or of its MULTI.
    fn freeze(
        &mut self,
        report: &mut FileReport,
        item_offset: u64,
        severity: Severity,
        at: u64,
        line: u64,
        message: &str,
    ) {
        if self.frozen {
            return;
        }
        self.frozen = true;
        match self.multi {
            Some((m, _, before)) => {
                report.valid_up_to = m;
                report.commands_valid = before;
            }
            None => {
                report.valid_up_to = item_offset;
                report.commands_valid = report.commands;
            }
        }
        report.first_error = Some(FirstError {
            severity,
            offset: at,
            line,
            message: message.to_string(),
        });
    }

    fn problem(
        &mut self,
        report: &mut FileReport,
        item_offset: u64,
        severity: Severity,
        line: u64,
        message: String,
    ) {
        if severity == Severity::Error {
            self.freeze(report, item_offset, severity, item_offset, line, &message);
            if report.tail == Tail::Clean {
                report.tail = Tail::Damaged;
            }
        }
        let f = match severity {
            Severity::Error => Finding::error(item_offset, message),
            Severity::Warning => Finding::warning(item_offset, message),
        }
        .in_db(Some(self.db));
        report.push(f, self.options.max_findings);
    }

    fn annotation(&mut self, a: &Annotation<'_>, report: &mut FileReport, set: &mut SetState) {
        report.annotations = report.annotations.saturating_add(1);
        if !self.options.semantic_checks {
            return;
        }
        let line = set.line;
        if a.is_split() {
            self.problem(
                report,
                a.offset,
                Severity::Warning,
                line,
                format!(
                    "annotation longer than {} bytes: servers read the rest of the line as the next record",
                    super::resp::ANNOTATION_READ_MAX
                ),
            );
            return;
        }
        match a.timestamp() {
            Some(Ok(ts)) => {
                if let Some(prev) = set.last_ts {
                    if ts < prev {
                        self.problem(
                            report,
                            a.offset,
                            Severity::Warning,
                            line,
                            format!(
                                "timestamp goes backwards: expected #TS: >= {prev}, found {ts}"
                            ),
                        );
                    }
                }
                set.first_ts.get_or_insert(ts);
                set.last_ts = Some(set.last_ts.map_or(ts, |p| p.max(ts)));
                report.first_ts.get_or_insert(ts);
                report.last_ts = Some(ts);
            }
            Some(Err(())) => self.problem(
                report,
                a.offset,
                Severity::Warning,
                line,
                format!(
                    "malformed timestamp annotation: expected #TS:<unix-seconds>\\r\\n, found {}",
                    super::resp::show_bytes(a.bytes)
                ),
            ),
            None => self.problem(
                report,
                a.offset,
                Severity::Warning,
                line,
                format!(
                    "unknown annotation {}: servers write only #TS:<unix-seconds>",
                    super::resp::show_bytes(a.bytes.get(..a.bytes.len().min(32)).unwrap_or(&[]))
                ),
            ),
        }
    }

    fn command(&mut self, c: &Command<'_>, report: &mut FileReport, set: &mut SetState) {
        report.commands = report.commands.saturating_add(1);
        set.commands = set.commands.saturating_add(1);
        let Some(name) = c.name() else {
            // `*0` in the check-aof dialect: nothing to look at.
            return;
        };
        // MULTI/EXEC balance, by name as redis-check-aof compares it.
        // redis-check-aof compares C strings; the server the whole name.
        let cname = match self.options.dialect {
            Dialect::CheckAof => super::resp::c_str(name),
            Dialect::Strict => name,
        };
        if cname.eq_ignore_ascii_case(b"multi") {
            if let Some((m, _, _)) = self.multi {
                self.problem(
                    report,
                    c.offset,
                    Severity::Error,
                    c.line,
                    format!(
                        "unexpected MULTI: expected EXEC for the MULTI at offset {m} first (nested MULTI)"
                    ),
                );
            } else {
                let before = report.commands.saturating_sub(1);
                self.multi = Some((c.offset, c.line, before));
            }
        } else if cname.eq_ignore_ascii_case(b"exec") && self.multi.is_none() {
            self.problem(
                report,
                c.offset,
                Severity::Error,
                c.line,
                "unexpected EXEC: expected a MULTI before it (EXEC without MULTI)".to_string(),
            );
        }
        // The MULTI stays open through the checks below, so an error inside
        // the transaction cuts at its MULTI; EXEC closes it afterwards.
        if self.options.semantic_checks {
            self.semantics(c, name, report, set);
        }
        if cname.eq_ignore_ascii_case(b"exec") {
            self.multi = None;
        }
    }

    fn semantics(
        &mut self,
        c: &Command<'_>,
        name: &[u8],
        report: &mut FileReport,
        set: &mut SetState,
    ) {
        let lookup = self.lookup(&c.args);
        let display: Cow<'static, str> = match lookup {
            Lookup::Known { spec, container } => {
                let display = commands::display_name(spec, container);
                if !spec.arity_ok(c.args.len()) {
                    self.problem(
                        report,
                        c.offset,
                        Severity::Error,
                        c.line,
                        format!(
                            "wrong number of arguments for {display}: expected {}, found {} (counting the name)",
                            spec.arity_text(),
                            c.args.len()
                        ),
                    );
                } else if !spec.written_to_aof() && !spec.is_container() {
                    self.problem(
                        report,
                        c.offset,
                        Severity::Warning,
                        c.line,
                        format!("{display} is a command servers never write to an AOF"),
                    );
                }
                Cow::Borrowed(display)
            }
            Lookup::UnknownSubcommand { container } => {
                let sub = c.args.get(1).copied().unwrap_or(&[]);
                let display = format!(
                    "{} {}",
                    container.name.to_ascii_uppercase(),
                    upper_lossy(sub)
                );
                self.problem(
                    report,
                    c.offset,
                    Severity::Error,
                    c.line,
                    format!(
                        "unknown subcommand {display}: the server stops loading with \"Unknown command\""
                    ),
                );
                Cow::Owned(display)
            }
            Lookup::Module => {
                let display = upper_lossy(name);
                self.problem(
                    report,
                    c.offset,
                    Severity::Warning,
                    c.line,
                    format!(
                        "unknown command {display}, probably a module command: the server loads it only with that module"
                    ),
                );
                Cow::Owned(display)
            }
            Lookup::Unknown => {
                let display = upper_lossy(name);
                self.problem(
                    report,
                    c.offset,
                    Severity::Error,
                    c.line,
                    format!(
                        "unknown command {display}: expected a Redis or Valkey command; the server stops with \"Unknown command '{}' reading the append only file\"",
                        crate::escape_bytes(name)
                    ),
                );
                Cow::Owned(display)
            }
        };
        // What the record is, by the table's (lowercase) name: a name the
        // table does not know is none of these.
        let base = match lookup {
            Lookup::Known { spec, container } => container.unwrap_or(spec).name,
            Lookup::UnknownSubcommand { container } => container.name,
            Lookup::Module | Lookup::Unknown => "",
        };
        match base {
            "select" => {
                if let Some(arg) = c.args.get(1) {
                    match parse_db(arg) {
                        Some(db) if db >= 0 => {
                            let db = db.unsigned_abs();
                            if db >= self.options.databases {
                                self.problem(
                                    report,
                                    c.offset,
                                    Severity::Warning,
                                    c.line,
                                    format!(
                                        "SELECT {db}: a server with the default {} databases refuses it (\"DB index is out of range\")",
                                        self.options.databases
                                    ),
                                );
                            }
                            self.db = db;
                        }
                        _ => self.problem(
                            report,
                            c.offset,
                            Severity::Error,
                            c.line,
                            format!(
                                "SELECT: expected a db index (a non-negative decimal integer), found {}",
                                super::resp::show_bytes(arg.get(..arg.len().min(32)).unwrap_or(&[]))
                            ),
                        ),
                    }
                }
            }
            "multi" | "exec" => {}
            "swapdb" => {
                for arg in c.args.iter().skip(1).take(2) {
                    if let Some(db) = parse_db(arg).filter(|d| *d >= 0) {
                        set.written(db.unsigned_abs());
                    }
                }
            }
            "flushall" | "flushdb" => {
                set.flush_count = set.flush_count.saturating_add(1);
                if set.flushes.len() < MAX_FLUSH_EVENTS {
                    let (cut_offset, before) = self.multi.map_or(
                        (c.offset, report.commands.saturating_sub(1)),
                        |(m, _, b)| (m, b),
                    );
                    set.flushes.push(FlushEvent {
                        file_index: self.file_index,
                        offset: c.offset,
                        cut_offset,
                        command: if base == "flushall" {
                            "FLUSHALL"
                        } else {
                            "FLUSHDB"
                        },
                        db: self.db,
                        last_ts: set.last_ts,
                        commands_before_cut: before,
                        valid: !self.frozen,
                    });
                }
                if base == "flushdb" {
                    set.written(self.db);
                }
            }
            _ => {
                set.written(self.db);
            }
        }
        match display {
            Cow::Borrowed(name) => set.count_known(name),
            Cow::Owned(name) => set.count(&name),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn verify_file_inner(
    data: &[u8],
    name: &[u8],
    kind: FileKind,
    seq: i64,
    is_last: bool,
    file_index: usize,
    options: &AofOptions,
    set: &mut SetState,
) -> FileReport {
    let size = data.len() as u64;
    let preamble = starts_with_rdb(data);
    let kind = match kind {
        FileKind::BaseRdb | FileKind::BaseAof if preamble => FileKind::BaseRdb,
        FileKind::BaseRdb | FileKind::BaseAof => FileKind::BaseAof,
        k => k,
    };
    let mut report = FileReport::new(name.to_vec(), kind, seq, is_last, size);
    let mut resp_start = 0u64;
    if preamble {
        let rdb = check_rdb_part(data, &options.rdb, options.rdb_threads);
        for f in rdb.warnings.iter().chain(rdb.errors.iter()) {
            report.push(f.clone(), options.max_findings);
        }
        set.rdb_keys = set.rdb_keys.saturating_add(rdb.keys);
        let end = rdb.end_offset.filter(|_| rdb.ok);
        match end {
            Some(end) => resp_start = end.min(size),
            None => {
                let first = rdb.errors.first();
                report.first_error = Some(FirstError {
                    severity: Severity::Error,
                    offset: first.map_or(0, |f| f.offset),
                    line: set.line,
                    message: format!(
                        "the RDB {} is damaged: {}",
                        if kind == FileKind::BaseRdb {
                            "base"
                        } else {
                            "preamble"
                        },
                        first.map_or_else(
                            || "no end of RDB found".to_string(),
                            |f| f.message.clone()
                        )
                    ),
                });
                if report.errors.is_empty() {
                    report.push(
                        Finding::error(0, "the RDB part is damaged: no end of RDB found"),
                        options.max_findings,
                    );
                }
                report.rdb = Some(rdb);
                report.tail = Tail::RdbDamaged;
                report.valid_up_to = 0;
                report.end_line = set.line;
                return report;
            }
        }
        report.rdb = Some(rdb);
    }
    report.resp_start = resp_start;
    report.valid_up_to = resp_start;
    let start = usize::try_from(resp_start)
        .unwrap_or(data.len())
        .min(data.len());
    let region = data.get(start..).unwrap_or(&[]);
    let mut scan = FileScan {
        options,
        file_index,
        db: 0,
        multi: None,
        frozen: false,
        recent: [(0, 0, Lookup::Unknown); RECENT_NAMES],
        next_recent: 0,
    };
    let mut items =
        Commands::with_dialect(region, resp_start, options.dialect).starting_line(set.line);
    let mut framing_error: Option<RespError> = None;
    loop {
        // redis-check-aof samples ok_up_to at each item while no MULTI is open.
        if !scan.frozen && scan.multi.is_none() {
            report.valid_up_to = items.offset();
            report.commands_valid = report.commands;
        }
        let Some(next) = items.next() else { break };
        set.line = items.line();
        match next {
            Ok(Item::Annotation(a)) => scan.annotation(&a, &mut report, set),
            Ok(Item::Command(c)) => {
                scan.command(&c, &mut report, set);
                items.recycle(c.args);
            }
            Err(e) => {
                framing_error = Some(e);
                break;
            }
        }
    }
    set.line = items.line();
    report.end_line = set.line;
    match framing_error {
        Some(e) => {
            let (severity, tail) = if e.is_truncated() {
                let sev = if is_last {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                (sev, Tail::TornRecord)
            } else {
                (Severity::Error, Tail::Damaged)
            };
            let mut message = e.to_string();
            if e.is_truncated() {
                message.push_str(if is_last {
                    "; the server cuts this torn tail and loads the rest (aof-load-truncated)"
                } else {
                    "; this is not the last file, so the server refuses to load the set"
                });
            }
            let was_frozen = scan.frozen;
            scan.freeze(
                &mut report,
                e.record_offset,
                severity,
                e.offset,
                e.line,
                &message,
            );
            if !was_frozen || report.tail == Tail::Clean {
                report.tail = tail;
            }
            let f = match severity {
                Severity::Error => Finding::error(e.offset, message),
                Severity::Warning => Finding::warning(e.offset, message),
            }
            .in_db(Some(scan.db))
            .with_type(Some(if e.is_truncated() {
                "truncated"
            } else {
                "framing"
            }));
            report.push(f, options.max_findings);
        }
        None => {
            if let Some((m, line, _)) = scan.multi {
                let sev = if is_last {
                    Severity::Warning
                } else {
                    Severity::Error
                };
                let message = format!(
                    "reached the end before EXEC for the MULTI at offset {m}: {}",
                    if is_last {
                        "the server reverts this incomplete transaction and loads the rest"
                    } else {
                        "this is not the last file, so the server refuses to load the set"
                    }
                );
                let was_frozen = scan.frozen;
                scan.freeze(&mut report, m, sev, m, line, &message);
                if !was_frozen {
                    report.tail = Tail::OpenMulti;
                }
                let f = match sev {
                    Severity::Error => Finding::error(m, message),
                    Severity::Warning => Finding::warning(m, message),
                };
                report.push(f.in_db(Some(scan.db)), options.max_findings);
            }
        }
    }
    report
}

/// Verifies an old-style single AOF (plain RESP or with an RDB preamble).
pub fn verify_single(data: &[u8], name: &[u8], options: &AofOptions) -> AofReport {
    let mut report = AofReport::new(AofForm::Single {
        preamble: starts_with_rdb(data),
    });
    let mut set = SetState::new();
    let file = verify_file_inner(data, name, FileKind::Single, 0, true, 0, options, &mut set);
    report.files.push(file);
    set.finish(&mut report);
    report
}

/// Verifies a multi-part set: the manifest bytes, and its files through
/// `files`. Base and incr files are read one at a time, in load order;
/// history files are only looked up.
pub fn verify_multipart<S: SetFiles>(
    manifest: &[u8],
    files: &S,
    options: &AofOptions,
) -> AofReport {
    let mut report = AofReport::new(AofForm::MultiPart);
    let m = match Manifest::parse(manifest, 0) {
        Ok(m) => m,
        Err(e) => {
            report
                .errors
                .push(Finding::error(e.offset, e.to_string()).with_type(Some("manifest")));
            report.manifest_error = Some(e);
            return report;
        }
    };
    for n in &m.notes {
        report.warnings.push(
            Finding::warning(n.offset, format!("manifest line {}: {}", n.line, n.message))
                .with_type(Some("manifest")),
        );
    }
    if m.base.is_none() && m.incr.is_empty() {
        report.warnings.push(
            Finding::warning(
                0,
                "the manifest lists no base and no incr file: the server starts empty",
            )
            .with_type(Some("manifest")),
        );
    }
    if m.base.is_none() && !m.incr.is_empty() {
        report.warnings.push(
            Finding::warning(
                0,
                "the manifest lists no base file: only incr files are loaded",
            )
            .with_type(Some("manifest")),
        );
    }
    let total = m.load_order().count();
    let mut set = SetState::new();
    let mut loaded = 0usize;
    let entries: Vec<&AofInfo> = m.entries().collect();
    for info in entries {
        let index = report.files.len();
        let kind = match info.file_type {
            FileType::Base => FileKind::BaseAof,
            FileType::History => FileKind::History,
            FileType::Incr => FileKind::Incr,
        };
        if kind == FileKind::History {
            let mut f = FileReport::new(info.file_name.clone(), kind, info.file_seq, false, 0);
            f.checked = false;
            match files.open(&info.file_name) {
                Ok(d) => {
                    f.size = d.len() as u64;
                    f.valid_up_to = f.size;
                }
                Err(_) => f.tail = Tail::Missing,
            }
            report.files.push(f);
            continue;
        }
        loaded = loaded.saturating_add(1);
        let is_last = loaded == total;
        match files.open(&info.file_name) {
            Ok(data) => {
                let f = verify_file_inner(
                    &data,
                    &info.file_name,
                    kind,
                    info.file_seq,
                    is_last,
                    index,
                    options,
                    &mut set,
                );
                report.files.push(f);
            }
            Err(e) => {
                let mut f =
                    FileReport::new(info.file_name.clone(), kind, info.file_seq, is_last, 0);
                f.tail = Tail::Missing;
                let message = format!(
                    "manifest line {}: {} file '{}' cannot be read: {e}; the server stops (\"Unable to obtain the AOF file length\")",
                    info.line,
                    if info.file_type == FileType::Base {
                        "base"
                    } else {
                        "incr"
                    },
                    info.name_lossy()
                );
                f.first_error = Some(FirstError {
                    severity: Severity::Error,
                    offset: 0,
                    line: set.line,
                    message: message.clone(),
                });
                f.push(Finding::error(0, message.clone()), options.max_findings);
                report
                    .errors
                    .push(Finding::error(info.offset, message).with_type(Some("manifest")));
                report.files.push(f);
            }
        }
    }
    report.manifest = Some(m);
    set.finish(&mut report);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names remembered by `FileScan::lookup` answer as the command
    /// table does, in any order: plain commands in any case, containers
    /// with and without subcommands (never remembered), unknown and module
    /// names, names that differ only past a NUL or in length, and names
    /// longer than a word.
    #[test]
    fn recent_names_resolve_as_the_table_does() {
        let records: Vec<Vec<&[u8]>> = vec![
            vec![b"SET", b"k", b"v"],
            vec![b"set", b"k", b"v"],
            vec![b"set\0", b"k", b"v"],
            vec![b"se", b"k"],
            vec![b"CONFIG"],
            vec![b"config", b"set", b"x", b"y"],
            vec![b"config", b"nosuch"],
            vec![b"XGROUP", b"CREATE", b"s", b"g", b"$"],
            vec![b"xgroup", b"DESTROY", b"s", b"g"],
            vec![b"incrbyfloat", b"k", b"1.5"],
            vec![b"ZRANGESTORE", b"d", b"s", b"0", b"-1"],
            vec![b"mod.cmd", b"x"],
            vec![b"nosuch"],
            vec![b""],
            vec![b"\0\0\0"],
            vec![b"MULTI"],
            vec![b"EXEC"],
        ];
        let options = AofOptions::default();
        let mut scan = FileScan {
            options: &options,
            file_index: 0,
            db: 0,
            multi: None,
            frozen: false,
            recent: [(0, 0, Lookup::Unknown); RECENT_NAMES],
            next_recent: 0,
        };
        // Every record after every other, more names than are remembered.
        for a in &records {
            for b in &records {
                for args in [a, b, a] {
                    assert_eq!(scan.lookup(args), commands::lookup(args), "{args:?}");
                }
            }
        }
    }

    #[test]
    fn known_commands_counted_aside_add_up_as_counted_one_by_one() {
        // More distinct names than get their own count, known ones
        // (from the table) interleaved with unknown ones, so that some
        // known names arrive after the cap and go to "(other)".
        let known: Vec<&'static str> = commands::COMMANDS
            .iter()
            .take(40)
            .map(|c| commands::display_name(c, None))
            .collect();
        let mut aside = SetState::new();
        let mut plain = SetState::new();
        for i in 0..MAX_DISTINCT_COMMAND_NAMES + 100 {
            let unknown = format!("NOSUCH{i}");
            aside.count(&unknown);
            plain.count(&unknown);
            let name = known[i % 7
                + if i > MAX_DISTINCT_COMMAND_NAMES {
                    20
                } else {
                    0
                }];
            aside.count_known(name);
            plain.count(name);
        }
        let form = AofForm::Single { preamble: false };
        let (mut a, mut p) = (AofReport::new(form), AofReport::new(form));
        aside.finish(&mut a);
        plain.finish(&mut p);
        assert_eq!(a.commands_by_name, p.commands_by_name);
        assert!(
            a.commands_by_name
                .get(OTHER_COMMANDS)
                .is_some_and(|&n| n > 100)
        );
    }

    /// Encodes a command the way the server does.
    pub(crate) fn resp(args: &[&str]) -> Vec<u8> {
        let mut v = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        v
    }

    fn single(data: &[u8]) -> AofReport {
        verify_single(data, b"appendonly.aof", &AofOptions::default())
    }

    #[test]
    fn clean_file() {
        let mut d = b"#TS:100\r\n".to_vec();
        d.extend(resp(&["SELECT", "2"]));
        d.extend(resp(&["SET", "k", "v"]));
        d.extend(resp(&["MULTI"]));
        d.extend(resp(&["INCR", "n"]));
        d.extend(resp(&["EXEC"]));
        d.extend(b"#TS:101\r\n");
        let r = single(&d);
        let f = &r.files[0];
        assert!(r.ok() && r.clean(), "{:?}", r.findings());
        assert_eq!(f.valid_up_to, d.len() as u64);
        assert_eq!(f.commands, 5);
        assert_eq!(f.commands_valid, 5);
        assert_eq!(r.commands_by_name.get("SET"), Some(&1));
        assert_eq!(r.dbs.iter().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!((r.first_ts, r.last_ts), (Some(100), Some(101)));
        // 2 + 3 + 3 + 1 + 2 + 1 records' lines, +1: check-aof's count.
        assert_eq!(f.end_line, 1 + 5 + 7 + 3 + 5 + 3);
    }

    #[test]
    fn torn_tail_of_last_file_is_a_warning_and_cut_at_record_start() {
        let mut d = resp(&["SET", "a", "1"]);
        let keep = d.len() as u64;
        d.extend(&resp(&["SET", "b", "2"])[..7]);
        let r = single(&d);
        let f = &r.files[0];
        assert!(r.ok());
        assert!(!r.clean());
        assert_eq!(f.valid_up_to, keep);
        assert_eq!(f.tail, Tail::TornRecord);
        assert_eq!(f.first_error.as_ref().unwrap().severity, Severity::Warning);
    }

    #[test]
    fn open_multi_cuts_back_to_multi() {
        let mut d = resp(&["SET", "a", "1"]);
        let keep = d.len() as u64;
        d.extend(resp(&["MULTI"]));
        d.extend(resp(&["SET", "b", "2"]));
        let r = single(&d);
        assert_eq!(r.files[0].valid_up_to, keep);
        assert_eq!(r.files[0].tail, Tail::OpenMulti);
        assert_eq!(r.files[0].commands_valid, 1);
        assert!(r.ok());
    }

    #[test]
    fn exec_without_multi_and_nested_multi_are_errors() {
        let mut d = resp(&["SET", "a", "1"]);
        let at = d.len() as u64;
        d.extend(resp(&["EXEC"]));
        let r = single(&d);
        assert!(!r.ok());
        assert_eq!(r.files[0].valid_up_to, at);

        let mut d = resp(&["MULTI"]);
        d.extend(resp(&["MULTI"]));
        d.extend(resp(&["EXEC"]));
        let r = single(&d);
        assert!(!r.ok());
        assert_eq!(r.files[0].valid_up_to, 0);
    }

    #[test]
    fn unknown_command_and_arity() {
        let mut d = resp(&["SET", "a", "1"]);
        let at = d.len() as u64;
        d.extend(resp(&["NOSUCH", "x"]));
        d.extend(resp(&["GET", "a", "b"]));
        d.extend(resp(&["JSON.SET", "k", "$", "1"]));
        let r = single(&d);
        let f = &r.files[0];
        assert_eq!(f.errors.len(), 2, "{:?}", f.errors);
        assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
        assert_eq!(f.valid_up_to, at);
        assert_eq!(f.commands, 4);
    }

    #[test]
    fn select_checks() {
        let mut d = resp(&["SELECT", "abc"]);
        d.extend(resp(&["SELECT", "20"]));
        let r = single(&d);
        assert_eq!(r.files[0].errors.len(), 1);
        assert!(
            r.files[0]
                .warnings
                .iter()
                .any(|w| w.message.contains("SELECT 20"))
        );
        assert!(parse_db(b"01").is_none());
        assert_eq!(parse_db(b"-1"), Some(-1));
    }

    #[test]
    fn timestamps_going_back_and_malformed_are_warnings() {
        let mut d = b"#TS:200\r\n#TS:100\r\n#TS:x\r\n#hello\r\n".to_vec();
        d.extend(resp(&["SET", "a", "1"]));
        let r = single(&d);
        assert!(r.ok());
        assert_eq!(r.files[0].warnings.len(), 3);
        assert_eq!(r.files[0].valid_up_to, d.len() as u64);
    }

    #[test]
    fn flush_events() {
        let mut d = b"#TS:5\r\n".to_vec();
        d.extend(resp(&["SET", "a", "1"]));
        let flush_at = d.len() as u64;
        d.extend(resp(&["FLUSHALL"]));
        d.extend(resp(&["MULTI"]).iter());
        let multi_at = flush_at + resp(&["FLUSHALL"]).len() as u64;
        d.extend(resp(&["FLUSHDB"]));
        d.extend(resp(&["EXEC"]));
        let r = single(&d);
        assert_eq!(r.flushes.len(), 2);
        assert_eq!(r.flushes[0].offset, flush_at);
        assert_eq!(r.flushes[0].cut_offset, flush_at);
        assert_eq!(r.flushes[0].last_ts, Some(5));
        assert_eq!(r.flushes[1].cut_offset, multi_at);
        assert_eq!(r.flushes[1].commands_before_cut, 2);
    }

    #[test]
    fn multipart_missing_files_and_last_file_rules() {
        let mut files = BTreeMap::new();
        let mut torn = resp(&["SET", "a", "1"]);
        torn.extend(b"*2\r\n$3");
        files.insert(b"a.1.incr.aof".to_vec(), torn.clone());
        files.insert(b"a.2.incr.aof".to_vec(), resp(&["SET", "b", "2"]));
        let manifest = b"file a.1.base.aof seq 1 type b\nfile a.0.incr.aof seq 1 type h\nfile a.1.incr.aof seq 1 type i\nfile a.2.incr.aof seq 2 type i\n";
        let r = verify_multipart(manifest, &files, &AofOptions::default());
        assert_eq!(r.files.len(), 4);
        // Missing base: an error; missing history: fine.
        assert_eq!(r.files[0].tail, Tail::Missing);
        assert_eq!(r.files[1].kind, FileKind::History);
        assert_eq!(r.files[1].tail, Tail::Missing);
        assert_eq!(r.errors.len(), 1);
        // The torn incr is not the last file: error.
        assert_eq!(r.files[2].errors.len(), 1);
        assert!(r.files[3].is_last);
        assert!(r.files[3].ok());
    }

    #[test]
    fn multipart_manifest_error() {
        let r = verify_multipart(
            b"file a seq 1 type b\nfile b seq 1 type b\n",
            &BTreeMap::new(),
            &AofOptions::default(),
        );
        assert!(!r.ok());
        assert!(r.manifest_error.is_some());
    }
}
