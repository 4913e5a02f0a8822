//! Repair plans: what to cut, drop or rewrite, computed from a verified set
//! and its bytes, without touching anything. [`super::apply`] carries a plan
//! out.
//!
//! * [`FixMode::Tail`]: truncate the last file to `valid_up_to`, which is
//!   where `redis-check-aof --fix` truncates (its `ok_up_to`); refused when
//!   a file before the last one is damaged (a server would not load the set,
//!   and truncating there would throw away every later file).
//! * [`FixMode::ToTimestamp`]: cut at the first `#TS:` annotation later than
//!   T, anywhere in the set (like `--truncate-to-timestamp`, which only works
//!   on the last file); incr files wholly after the cut leave the manifest.
//! * [`FixMode::BeforeLastFlush`]: cut just before the last FLUSHALL or
//!   FLUSHDB, or before its MULTI when it is inside a transaction.
//! * [`FixMode::Salvage`]: keep every valid command of every file; after a
//!   malformed record, resynchronise on the next `*<digits>\r\n$` that
//!   parses as a valid command (confirmed by the next one when it is not at
//!   a line start), recording each skipped region. Broken transactions are
//!   dropped whole; a `SELECT` found in a skipped region is re-issued so
//!   later commands keep their db.
//!
//! A cut never leaves a MULTI open: it moves back to the MULTI.

use super::commands::{self, Lookup};
use super::manifest::Manifest;
use super::resp::{Commands, Item, RespError};
use super::verify::{AofForm, AofOptions, AofReport, FileKind, SetFiles, Tail};
use std::fmt;

/// What to repair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixMode {
    Tail,
    ToTimestamp(i64),
    BeforeLastFlush,
    Salvage,
}

impl fmt::Display for FixMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixMode::Tail => write!(f, "truncate the broken tail"),
            FixMode::ToTimestamp(t) => write!(f, "cut at the first timestamp after {t}"),
            FixMode::BeforeLastFlush => write!(f, "cut before the last FLUSHALL/FLUSHDB"),
            FixMode::Salvage => write!(f, "salvage every valid command"),
        }
    }
}

/// A piece of a rewritten file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes `[start, end)` of the original file.
    Copy { start: u64, end: u64 },
    /// New bytes (a re-issued SELECT).
    Insert(Vec<u8>),
}

/// A region salvage skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRegion {
    pub start: u64,
    pub end: u64,
    pub reason: String,
}

impl SkippedRegion {
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What happens to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAction {
    Keep,
    /// Keep bytes `[0, len)`.
    Truncate {
        len: u64,
    },
    /// Remove from the manifest (and, in place, move it to a backup name
    /// so the server never reopens it).
    Drop,
    /// Write these pieces instead.
    Rewrite {
        pieces: Vec<Piece>,
        new_len: u64,
    },
}

/// The plan for one file of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePlan {
    /// Index into [`AofReport::files`].
    pub index: usize,
    pub name: Vec<u8>,
    pub kind: FileKind,
    pub size: u64,
    pub action: FileAction,
    pub bytes_lost: u64,
    /// Complete commands removed (a damaged record is not counted).
    pub commands_lost: u64,
    pub skipped: Vec<SkippedRegion>,
}

impl FilePlan {
    pub fn changes(&self) -> bool {
        !matches!(self.action, FileAction::Keep)
    }

    /// Size after the fix (0 when dropped).
    pub fn new_size(&self) -> u64 {
        match &self.action {
            FileAction::Keep => self.size,
            FileAction::Truncate { len } => *len,
            FileAction::Drop => 0,
            FileAction::Rewrite { new_len, .. } => *new_len,
        }
    }

    /// The file's new contents, given its current bytes (`None` when dropped).
    pub fn materialize(&self, data: &[u8]) -> Option<Vec<u8>> {
        if self.action == FileAction::Drop {
            return None;
        }
        let cap = usize::try_from(self.new_size())
            .unwrap_or(0)
            .min(data.len().saturating_add(4096));
        let mut out = Vec::with_capacity(cap);
        self.write_contents(data, &mut out).ok()?;
        Some(out)
    }

    /// Writes the file's new contents, given its current bytes (nothing
    /// when it is dropped). Ranges are clamped to `data`.
    pub fn write_contents(&self, data: &[u8], out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let clamp = |v: u64| usize::try_from(v).unwrap_or(data.len()).min(data.len());
        match &self.action {
            FileAction::Keep => out.write_all(data),
            FileAction::Truncate { len } => out.write_all(data.get(..clamp(*len)).unwrap_or(&[])),
            FileAction::Drop => Ok(()),
            FileAction::Rewrite { pieces, .. } => {
                for p in pieces {
                    match p {
                        Piece::Copy { start, end } => {
                            let (s, e) = (clamp(*start), clamp(*end));
                            out.write_all(data.get(s..e.max(s)).unwrap_or(&[]))?;
                        }
                        Piece::Insert(b) => out.write_all(b)?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// Where a cut lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub file_index: usize,
    pub offset: u64,
}

/// A whole repair plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixPlan {
    pub mode: FixMode,
    pub form: AofForm,
    /// One entry per file of the report, same order.
    pub files: Vec<FilePlan>,
    /// The manifest to write, when files leave it.
    pub manifest: Option<Manifest>,
    pub cut: Option<Cut>,
    pub bytes_lost: u64,
    pub commands_lost: u64,
    /// Things the operator should know (nothing to do, what the result
    /// holds).
    pub notes: Vec<String>,
}

impl FixPlan {
    /// Nothing would change.
    pub fn is_noop(&self) -> bool {
        self.manifest.is_none() && self.files.iter().all(|f| !f.changes())
    }

    /// A human description, one line per change, then the totals.
    pub fn describe(&self) -> Vec<String> {
        let mut v = Vec::new();
        for f in &self.files {
            let name = crate::escape_bytes(&f.name);
            let loss = format!(
                "{} bytes and {} command{} lost",
                f.bytes_lost,
                f.commands_lost,
                if f.commands_lost == 1 { "" } else { "s" }
            );
            match &f.action {
                FileAction::Keep => {}
                FileAction::Truncate { len } => v.push(format!(
                    "{name}: truncate from {} to {len} bytes ({loss})",
                    f.size
                )),
                FileAction::Drop => v.push(format!(
                    "{name}: remove from the set, {} bytes ({loss})",
                    f.size
                )),
                FileAction::Rewrite { new_len, .. } => {
                    v.push(format!(
                        "{name}: rewrite from {} to {new_len} bytes, {} region{} skipped ({loss})",
                        f.size,
                        f.skipped.len(),
                        if f.skipped.len() == 1 { "" } else { "s" }
                    ));
                    for s in &f.skipped {
                        v.push(format!(
                            "  skipped [{}, {}) {} bytes: {}",
                            s.start,
                            s.end,
                            s.len(),
                            s.reason
                        ));
                    }
                }
            }
        }
        if self.manifest.is_some() {
            v.push("manifest: rewritten".to_string());
        }
        v.extend(self.notes.iter().cloned());
        v.push(format!(
            "total: {} bytes and {} complete commands lost",
            self.bytes_lost, self.commands_lost
        ));
        v
    }
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixError {
    pub message: String,
}

impl fmt::Display for FixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FixError {}

fn refuse<T>(message: impl Into<String>) -> Result<T, FixError> {
    Err(FixError {
        message: message.into(),
    })
}

/// A single file served as a set of one, for planning.
pub struct SingleFile<'a> {
    pub name: &'a [u8],
    pub data: &'a [u8],
}

impl<'a> SetFiles for SingleFile<'a> {
    type Data = &'a [u8];
    fn open(&self, name: &[u8]) -> std::io::Result<&'a [u8]> {
        if name == self.name {
            Ok(self.data)
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "No such file or directory",
            ))
        }
    }
}

fn keep_plans(report: &AofReport) -> Vec<FilePlan> {
    report
        .files
        .iter()
        .enumerate()
        .map(|(index, f)| FilePlan {
            index,
            name: f.name.clone(),
            kind: f.kind,
            size: f.size,
            action: FileAction::Keep,
            bytes_lost: 0,
            commands_lost: 0,
            skipped: Vec::new(),
        })
        .collect()
}

fn finish(mut plan: FixPlan, report: &AofReport) -> FixPlan {
    plan.bytes_lost = plan
        .files
        .iter()
        .map(|f| f.bytes_lost)
        .fold(0u64, u64::saturating_add);
    plan.commands_lost = plan
        .files
        .iter()
        .map(|f| f.commands_lost)
        .fold(0u64, u64::saturating_add);
    // Files leaving the set leave the manifest; a changed file loses its
    // `endoffset` (Redis 8 restores the replication offset from the last
    // incr's, which no longer matches its contents).
    if report.form == AofForm::MultiPart {
        if let Some(m) = &report.manifest {
            let dropped: Vec<&[u8]> = plan
                .files
                .iter()
                .filter(|f| f.action == FileAction::Drop)
                .map(|f| f.name.as_slice())
                .collect();
            let changed: Vec<&[u8]> = plan
                .files
                .iter()
                .filter(|f| f.changes() && f.action != FileAction::Drop)
                .map(|f| f.name.as_slice())
                .collect();
            let mut nm = m.clone();
            nm.notes.clear();
            if nm
                .base
                .as_ref()
                .is_some_and(|b| dropped.contains(&b.file_name.as_slice()))
            {
                nm.base = None;
            }
            nm.incr
                .retain(|e| !dropped.contains(&e.file_name.as_slice()));
            let mut cleared = false;
            for e in nm.incr.iter_mut().chain(nm.base.iter_mut()) {
                if changed.contains(&e.file_name.as_slice()) {
                    cleared |= e.remove_extra("endoffset");
                }
            }
            if !dropped.is_empty() {
                if let Some(last) = nm.incr.last_mut() {
                    cleared |= last.remove_extra("endoffset");
                }
            }
            let mut original = m.clone();
            original.notes.clear();
            if nm != original {
                if cleared {
                    plan.notes.push(
                        "manifest: the endoffset of a changed incr file is removed, so the server does not restore a replication offset that no longer matches".to_string(),
                    );
                }
                plan.manifest = Some(nm);
            }
        }
    }
    if plan.is_noop() && plan.notes.is_empty() {
        plan.notes.push("nothing to change".to_string());
    }
    plan
}

/// Set-level problems no mode can repair.
fn check_set(report: &AofReport, mode: FixMode) -> Result<(), FixError> {
    if let Some(e) = &report.manifest_error {
        return refuse(format!(
            "the manifest is invalid ({e}); repair it by hand first"
        ));
    }
    if mode != FixMode::Salvage {
        if let Some(f) = report
            .files
            .iter()
            .find(|f| f.tail == Tail::Missing && f.kind != FileKind::History)
        {
            return refuse(format!(
                "{} is listed in the manifest but missing; restore it, or use --salvage to remove it from the set",
                f.name_lossy()
            ));
        }
    }
    Ok(())
}

/// Computes the plan for `mode`. `files` serves the bytes of the set's
/// files by manifest name (for a single file, [`SingleFile`]).
pub fn plan_fix<S: SetFiles>(
    report: &AofReport,
    files: &S,
    mode: FixMode,
    options: &AofOptions,
) -> Result<FixPlan, FixError> {
    check_set(report, mode)?;
    let plan = FixPlan {
        mode,
        form: report.form,
        files: keep_plans(report),
        manifest: None,
        cut: None,
        bytes_lost: 0,
        commands_lost: 0,
        notes: Vec::new(),
    };
    let plan = match mode {
        FixMode::Tail => {
            let mut tail = plan_tail(report, plan.clone())?;
            if let Some((index, commands, note)) = salvage_hint(report, files, plan, options) {
                if let Some(p) = tail.files.get_mut(index) {
                    p.commands_lost = p.commands_lost.saturating_add(commands);
                }
                tail.notes.push(note);
            }
            tail
        }
        FixMode::ToTimestamp(t) => plan_timestamp(report, files, plan, t)?,
        FixMode::BeforeLastFlush => plan_flush(report, plan)?,
        FixMode::Salvage => plan_salvage(report, files, plan, options)?,
    };
    Ok(finish(plan, report))
}

/// When the last file is damaged in the middle rather than torn at the
/// end, truncating it throws away the valid commands after the damage (what
/// `redis-check-aof --fix` does). Returns the file, the complete commands
/// that salvage finds after the damage, and a note saying so.
fn salvage_hint<S: SetFiles>(
    report: &AofReport,
    files: &S,
    plan: FixPlan,
    options: &AofOptions,
) -> Option<(usize, u64, String)> {
    let (last, f) = report.loaded_files().last()?;
    if f.tail != Tail::Damaged {
        return None;
    }
    let salvage = plan_salvage(report, files, plan, options).ok()?;
    let FileAction::Rewrite { pieces, .. } = &salvage.files.get(last)?.action else {
        return None;
    };
    let data = files.open(&f.name).ok()?;
    let (mut commands, mut bytes) = (0u64, 0u64);
    for piece in pieces {
        let Piece::Copy { start, end } = *piece else {
            continue;
        };
        let start = start.max(f.valid_up_to);
        if start >= end {
            continue;
        }
        bytes = bytes.saturating_add(end - start);
        let range = usize::try_from(start).ok()?..usize::try_from(end).ok()?;
        let region = data.get(range)?;
        commands = commands.saturating_add(
            Commands::new(region, start)
                .map_while(Result::ok)
                .filter(|item| matches!(item, Item::Command(_)))
                .count() as u64,
        );
    }
    (commands > 0).then(|| {
        (
            last,
            commands,
            format!(
                "the damage is in the middle of {}: {commands} valid commands ({bytes} bytes) follow it, which truncating throws away; `redcheck fix --salvage` keeps them",
                f.name_lossy()
            ),
        )
    })
}

fn plan_tail(report: &AofReport, mut plan: FixPlan) -> Result<FixPlan, FixError> {
    let loaded: Vec<usize> = report.loaded_files().map(|(i, _)| i).collect();
    let Some(&last) = loaded.last() else {
        plan.notes.push("the set has no file to load".to_string());
        return Ok(plan);
    };
    for &i in &loaded {
        let Some(f) = report.files.get(i) else {
            continue;
        };
        if i == last || f.ok() {
            continue;
        }
        let at = f.first_error.as_ref().map_or_else(String::new, |e| {
            format!(" at offset {} ({})", e.offset, e.message)
        });
        return refuse(format!(
            "{} is damaged{at} but is not the last file: truncating it would drop every later file; use --salvage, or --to-timestamp/--before-flush to cut before the damage",
            f.name_lossy()
        ));
    }
    let Some(f) = report.files.get(last) else {
        return Ok(plan);
    };
    if f.tail == Tail::RdbDamaged {
        return refuse(format!(
            "the RDB part of {} is damaged; a truncation cannot repair it",
            f.name_lossy()
        ));
    }
    if f.valid_up_to >= f.size && f.errors.is_empty() {
        plan.notes
            .push(format!("{} is valid: nothing to truncate", f.name_lossy()));
        return Ok(plan);
    }
    if let Some(p) = plan.files.get_mut(last) {
        p.action = FileAction::Truncate { len: f.valid_up_to };
        p.bytes_lost = f.size.saturating_sub(f.valid_up_to);
        p.commands_lost = f.commands.saturating_sub(f.commands_valid);
    }
    plan.cut = Some(Cut {
        file_index: last,
        offset: f.valid_up_to,
    });
    if f.valid_up_to == 0 {
        plan.notes.push(format!(
            "{} keeps nothing: its first record is already damaged",
            f.name_lossy()
        ));
    }
    Ok(plan)
}

/// Applies a cut at (`file_index`, `offset`): that file truncated (or
/// dropped when nothing of it remains and it is an incr file), every later
/// loaded file dropped. Damage before the cut is refused.
fn apply_cut(
    report: &AofReport,
    plan: &mut FixPlan,
    cut: Cut,
    commands_after_in_file: u64,
    what: &str,
) -> Result<(), FixError> {
    let mut seen_cut = false;
    for (i, f) in report.loaded_files() {
        if i < cut.file_index {
            if !f.ok() {
                return refuse(format!(
                    "{} is damaged before the cut for {what}; run `redcheck fix --salvage` first",
                    f.name_lossy()
                ));
            }
            continue;
        }
        let Some(p) = plan.files.get_mut(i) else {
            continue;
        };
        if i == cut.file_index {
            seen_cut = true;
            if f.valid_up_to < cut.offset || (f.tail == Tail::RdbDamaged) {
                return refuse(format!(
                    "{} is damaged at offset {} before the cut at offset {} for {what}; run `redcheck fix --salvage` first",
                    f.name_lossy(),
                    f.valid_up_to,
                    cut.offset
                ));
            }
            if cut.offset == 0 && f.kind == FileKind::Incr {
                p.action = FileAction::Drop;
                p.bytes_lost = f.size;
                p.commands_lost = f.commands;
            } else if cut.offset < f.size {
                p.action = FileAction::Truncate { len: cut.offset };
                p.bytes_lost = f.size.saturating_sub(cut.offset);
                p.commands_lost = commands_after_in_file;
            }
        } else if seen_cut {
            p.action = FileAction::Drop;
            p.bytes_lost = f.size;
            p.commands_lost = f.commands;
        }
    }
    if matches!(report.form, AofForm::Single { .. }) {
        // A single file cannot be dropped, only emptied.
        for p in &mut plan.files {
            if p.action == FileAction::Drop {
                p.action = FileAction::Truncate { len: 0 };
            }
        }
    }
    plan.cut = Some(cut);
    Ok(())
}

fn plan_timestamp<S: SetFiles>(
    report: &AofReport,
    files: &S,
    mut plan: FixPlan,
    t: i64,
) -> Result<FixPlan, FixError> {
    let loaded: Vec<usize> = report.loaded_files().map(|(i, _)| i).collect();
    for (pos, &i) in loaded.iter().enumerate() {
        let Some(f) = report.files.get(i) else {
            continue;
        };
        if f.tail == Tail::RdbDamaged {
            return refuse(format!("the RDB part of {} is damaged", f.name_lossy()));
        }
        let data = files.open(&f.name).map_err(|e| FixError {
            message: format!("cannot read {}: {e}", f.name_lossy()),
        })?;
        let start = usize::try_from(f.resp_start)
            .unwrap_or(data.len())
            .min(data.len());
        let region = data.get(start..).unwrap_or(&[]);
        // Commands read so far, and the MULTI open with the count before it.
        let mut count: u64 = 0;
        let mut multi: Option<(u64, u64)> = None;
        for item in Commands::new(region, f.resp_start) {
            match item {
                Ok(Item::Annotation(a)) => match a.timestamp_check_aof() {
                    None => {}
                    Some(Err(())) => {
                        return refuse(format!(
                            "{}: invalid timestamp annotation at offset {}: {}",
                            f.name_lossy(),
                            a.offset,
                            super::resp::show_bytes(
                                a.bytes.get(..a.bytes.len().min(40)).unwrap_or(&[])
                            )
                        ));
                    }
                    Some(Ok(ts)) if ts > t => {
                        let (offset, before) = multi.unwrap_or((a.offset, count));
                        if pos == 0 && offset == 0 {
                            return refuse(format!(
                                "{} has nothing before timestamp {t}",
                                f.name_lossy()
                            ));
                        }
                        apply_cut(
                            report,
                            &mut plan,
                            Cut {
                                file_index: i,
                                offset,
                            },
                            f.commands.saturating_sub(before),
                            &format!("timestamp {t}"),
                        )?;
                        let only_rdb_base = match pos {
                            0 => f.kind == FileKind::BaseRdb,
                            1 => {
                                offset == 0
                                    && loaded
                                        .first()
                                        .and_then(|&j| report.files.get(j))
                                        .is_some_and(|b| {
                                            b.kind == FileKind::BaseRdb && b.resp_start == b.size
                                        })
                            }
                            _ => false,
                        };
                        if only_rdb_base {
                            plan.notes.push(
                                "only the RDB base is kept: it was written at the last rewrite, which may be later than the timestamp"
                                    .to_string(),
                            );
                        }
                        return Ok(plan);
                    }
                    Some(Ok(_)) => {}
                },
                Ok(Item::Command(c)) => {
                    if c.is("multi") && multi.is_none() {
                        multi = Some((c.offset, count));
                    }
                    count = count.saturating_add(1);
                    if c.is("exec") {
                        multi = None;
                    }
                }
                Err(_) => break,
            }
        }
    }
    plan.notes
        .push(format!("no #TS: annotation later than {t}: nothing to cut"));
    Ok(plan)
}

fn plan_flush(report: &AofReport, mut plan: FixPlan) -> Result<FixPlan, FixError> {
    if report.flush_count > report.flushes.len() as u64 {
        return refuse(format!(
            "too many FLUSHALL/FLUSHDB ({}) to find the last one",
            report.flush_count
        ));
    }
    let Some(ev) = report.flushes.last() else {
        plan.notes
            .push("no FLUSHALL or FLUSHDB in the set: nothing to cut".to_string());
        return Ok(plan);
    };
    let Some(f) = report.files.get(ev.file_index) else {
        return refuse("internal: flush event outside the set");
    };
    let after = f.commands.saturating_sub(ev.commands_before_cut);
    apply_cut(
        report,
        &mut plan,
        Cut {
            file_index: ev.file_index,
            offset: ev.cut_offset,
        },
        after,
        &format!("the {} at offset {}", ev.command, ev.offset),
    )?;
    plan.notes.push(format!(
        "cut before the {} in {} at offset {}{}",
        ev.command,
        f.name_lossy(),
        ev.offset,
        ev.last_ts.map_or_else(String::new, |ts| format!(
            " (last timestamp before it: {ts})"
        ))
    ));
    Ok(plan)
}

/// A `*<digits>\r\n$` at or after `from` that parses as a complete, known
/// command with a valid arity. Returns its offset in `region`.
///
/// At a line start that is enough. Elsewhere (right after garbage with no
/// line feed, such as a zeroed page) the command must also be followed by
/// another valid command or by the end of the data, so that a piece of a
/// value that happens to look like a command is not taken for one.
fn find_resync(region: &[u8], from: usize) -> Option<usize> {
    let mut p = from;
    while p < region.len() {
        let rel = region.get(p..)?.iter().position(|&b| b == b'*')?;
        let at = p.saturating_add(rel);
        p = at.saturating_add(1);
        let line_start = at == 0 || region.get(at.saturating_sub(1)) == Some(&b'\n');
        let rest = region.get(at..).unwrap_or(&[]);
        let digits = rest
            .get(1..)
            .unwrap_or(&[])
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            continue;
        }
        let after = rest.get(digits.saturating_add(1)..).unwrap_or(&[]);
        if !after.starts_with(b"\r\n$") {
            continue;
        }
        if let Some(Ok(Item::Command(c))) = Commands::new(rest, 0).next() {
            if command_ok(&c.args) && (line_start || confirmed_after(rest, c.len)) {
                return Some(at);
            }
        }
    }
    None
}

/// The bytes after a candidate command of `len` bytes are the end of the
/// data or another valid command.
fn confirmed_after(rest: &[u8], len: u64) -> bool {
    let Some(next) = usize::try_from(len).ok().and_then(|l| rest.get(l..)) else {
        return false;
    };
    if next.is_empty() {
        return true;
    }
    matches!(
        Commands::new(next, 0).next(),
        Some(Ok(Item::Command(c))) if command_ok(&c.args)
    )
}

/// A command a server loads: known (or module-named) with a valid arity,
/// and for SELECT a valid db index.
fn command_ok(args: &[&[u8]]) -> bool {
    match commands::lookup(args) {
        Lookup::Known { spec, .. } => {
            if !spec.arity_ok(args.len()) {
                return false;
            }
            if args
                .first()
                .is_some_and(|n| n.eq_ignore_ascii_case(b"select"))
            {
                return args.get(1).and_then(|a| select_db(a)).is_some();
            }
            true
        }
        Lookup::Module => true,
        Lookup::Unknown | Lookup::UnknownSubcommand { .. } => false,
    }
}

fn select_db(arg: &[u8]) -> Option<u64> {
    let canonical = arg == b"0" || arg.first().is_some_and(|c| (b'1'..=b'9').contains(c));
    if !canonical {
        return None;
    }
    super::resp::parse_strict_i64(arg).and_then(|v| u64::try_from(v).ok())
}

fn select_record(db: u64) -> Vec<u8> {
    let s = db.to_string();
    format!("*2\r\n$6\r\nSELECT\r\n${}\r\n{s}\r\n", s.len()).into_bytes()
}

/// The last well-formed `SELECT <db>` record inside `bytes`.
fn last_select_in(bytes: &[u8]) -> Option<u64> {
    let mut found = None;
    let mut p = 0usize;
    let needle = b"$6\r\nselect\r\n$";
    while p < bytes.len() {
        let Some(rel) = bytes
            .get(p..)?
            .windows(needle.len())
            .position(|w| w.eq_ignore_ascii_case(needle))
        else {
            break;
        };
        let at = p.saturating_add(rel).saturating_add(needle.len());
        p = at;
        let rest = bytes.get(at..).unwrap_or(&[]);
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let len = std::str::from_utf8(rest.get(..n).unwrap_or(&[]))
            .ok()
            .and_then(|s| s.parse::<usize>().ok());
        let Some(len) = len.filter(|&l| l > 0 && l <= 20) else {
            continue;
        };
        let body_start = n.saturating_add(2);
        if rest.get(n..body_start) != Some(&b"\r\n"[..]) {
            continue;
        }
        let body_end = body_start.saturating_add(len);
        if let Some(db) = rest.get(body_start..body_end).and_then(select_db) {
            if rest.get(body_end..body_end.saturating_add(2)) == Some(&b"\r\n"[..]) {
                found = Some(db);
            }
        }
    }
    found
}

/// Salvage of one file's RESP region: the skipped regions (absolute
/// offsets), SELECTs to insert (absolute position, db), and the complete
/// commands dropped.
struct Salvage {
    skipped: Vec<SkippedRegion>,
    inserts: Vec<(u64, u64)>,
    commands_dropped: u64,
}

fn push_skip(skipped: &mut Vec<SkippedRegion>, start: u64, end: u64, reason: String) {
    if end <= start {
        return;
    }
    if let Some(last) = skipped.last_mut() {
        if start <= last.end {
            last.end = last.end.max(end);
            return;
        }
    }
    skipped.push(SkippedRegion { start, end, reason });
}

fn salvage_region(region: &[u8], base: u64) -> Salvage {
    let mut s = Salvage {
        skipped: Vec::new(),
        inserts: Vec::new(),
        commands_dropped: 0,
    };
    let end_abs = base.saturating_add(region.len() as u64);
    let mut it = Commands::new(region, base);
    let mut db: u64 = 0;
    // Open transaction: start offset, commands in it, and whether it is bad.
    let mut multi: Option<(u64, u64, bool)> = None;
    // Just resynchronised: no MULTI seen since (position of the resync).
    let mut resynced_at: Option<(u64, u64)> = None;
    while let Some(next) = it.next() {
        match next {
            Ok(Item::Annotation(_)) => {}
            Ok(Item::Command(c)) => {
                let ok = command_ok(&c.args);
                if c.is("multi") {
                    if let Some((m, n, _)) = multi.take() {
                        push_skip(
                            &mut s.skipped,
                            m,
                            c.offset,
                            "a MULTI without EXEC (nested MULTI)".to_string(),
                        );
                        s.commands_dropped = s.commands_dropped.saturating_add(n);
                    }
                    multi = Some((c.offset, 1, !ok));
                    resynced_at = None;
                } else if c.is("exec") {
                    match multi.take() {
                        Some((m, n, bad)) => {
                            if bad || !ok {
                                push_skip(
                                    &mut s.skipped,
                                    m,
                                    c.end(),
                                    "a transaction holding a command the server refuses"
                                        .to_string(),
                                );
                                s.commands_dropped =
                                    s.commands_dropped.saturating_add(n.saturating_add(1));
                            }
                        }
                        None => {
                            let (start, n) = match resynced_at.take() {
                                // The end of a transaction whose MULTI was lost.
                                Some((r, n)) => (r, n),
                                None => (c.offset, 0),
                            };
                            push_skip(
                                &mut s.skipped,
                                start,
                                c.end(),
                                "EXEC without MULTI (the rest of a transaction whose start was lost)".to_string(),
                            );
                            s.commands_dropped =
                                s.commands_dropped.saturating_add(n.saturating_add(1));
                        }
                    }
                } else if let Some((_, n, bad)) = multi.as_mut() {
                    *n = n.saturating_add(1);
                    *bad |= !ok;
                } else {
                    if let Some((_, n)) = resynced_at.as_mut() {
                        *n = n.saturating_add(1);
                    }
                    if !ok {
                        push_skip(
                            &mut s.skipped,
                            c.offset,
                            c.end(),
                            format!(
                                "a command the server refuses ({})",
                                crate::escape_bytes(
                                    c.name()
                                        .unwrap_or(&[])
                                        .get(..c.name().map_or(0, |n| n.len().min(32)))
                                        .unwrap_or(&[])
                                )
                            ),
                        );
                        s.commands_dropped = s.commands_dropped.saturating_add(1);
                    } else if c.is("select") {
                        if let Some(d) = c.args.get(1).and_then(|a| select_db(a)) {
                            db = d;
                        }
                    }
                }
            }
            Err(e) => {
                let start = match multi.take() {
                    Some((m, n, _)) => {
                        s.commands_dropped = s.commands_dropped.saturating_add(n);
                        m
                    }
                    None => e.record_offset,
                };
                let resync = if e.is_truncated() {
                    None
                } else {
                    let from = usize::try_from(e.record_offset.saturating_sub(base))
                        .unwrap_or(region.len())
                        .saturating_add(1);
                    find_resync(region, from)
                };
                let stop = resync.map_or(end_abs, |r| base.saturating_add(r as u64));
                push_skip(&mut s.skipped, start, stop, reason(&e));
                let Some(r) = resync else { break };
                let lo = usize::try_from(start.saturating_sub(base)).unwrap_or(0);
                if let Some(d) = region.get(lo..r).and_then(last_select_in) {
                    if d != db {
                        s.inserts.push((stop, d));
                        db = d;
                    }
                }
                it.resume_at(stop);
                resynced_at = Some((stop, 0));
            }
        }
    }
    if let Some((m, n, _)) = multi {
        push_skip(
            &mut s.skipped,
            m,
            end_abs,
            "a MULTI without EXEC at the end".to_string(),
        );
        s.commands_dropped = s.commands_dropped.saturating_add(n);
    }
    s
}

fn reason(e: &RespError) -> String {
    e.to_string()
}

fn plan_salvage<S: SetFiles>(
    report: &AofReport,
    files: &S,
    mut plan: FixPlan,
    options: &AofOptions,
) -> Result<FixPlan, FixError> {
    let _ = options;
    for (i, f) in report.loaded_files() {
        let Some(p) = plan.files.get_mut(i) else {
            continue;
        };
        if f.tail == Tail::Missing {
            p.action = FileAction::Drop;
            plan.notes.push(format!(
                "{} is missing: removed from the manifest (its commands are lost)",
                f.name_lossy()
            ));
            continue;
        }
        if f.ok() {
            continue;
        }
        if f.tail == Tail::RdbDamaged {
            return refuse(format!(
                "the RDB part of {} is damaged; salvage works on RESP commands only",
                f.name_lossy()
            ));
        }
        let data = files.open(&f.name).map_err(|e| FixError {
            message: format!("cannot read {}: {e}", f.name_lossy()),
        })?;
        let start = usize::try_from(f.resp_start)
            .unwrap_or(data.len())
            .min(data.len());
        let region = data.get(start..).unwrap_or(&[]);
        let s = salvage_region(region, f.resp_start);
        if s.skipped.is_empty() {
            continue;
        }
        // Pieces: the kept ranges between skipped regions, with SELECTs.
        let mut pieces = Vec::new();
        let mut cursor = 0u64;
        let mut inserts = s.inserts.iter().peekable();
        for sk in &s.skipped {
            if sk.start > cursor {
                pieces.push(Piece::Copy {
                    start: cursor,
                    end: sk.start,
                });
            }
            cursor = sk.end.max(cursor);
            while let Some((pos, db)) = inserts.peek() {
                if *pos <= cursor {
                    pieces.push(Piece::Insert(select_record(*db)));
                    inserts.next();
                } else {
                    break;
                }
            }
        }
        if cursor < f.size {
            pieces.push(Piece::Copy {
                start: cursor,
                end: f.size,
            });
        }
        let lost: u64 = s
            .skipped
            .iter()
            .map(SkippedRegion::len)
            .fold(0u64, u64::saturating_add);
        let inserted: u64 = pieces
            .iter()
            .map(|p| match p {
                Piece::Insert(b) => b.len() as u64,
                Piece::Copy { .. } => 0,
            })
            .fold(0u64, u64::saturating_add);
        let new_len = f.size.saturating_sub(lost).saturating_add(inserted);
        // A single kept prefix is a plain truncation.
        p.action = match pieces.as_slice() {
            [Piece::Copy { start: 0, end }] => FileAction::Truncate { len: *end },
            [] => FileAction::Truncate { len: 0 },
            _ => FileAction::Rewrite { pieces, new_len },
        };
        p.bytes_lost = lost;
        p.commands_lost = s.commands_dropped;
        p.skipped = s.skipped;
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::verify::{verify_multipart, verify_single};
    use std::collections::BTreeMap;

    fn resp(args: &[&str]) -> Vec<u8> {
        let mut v = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        v
    }

    fn plan_single(data: &[u8], mode: FixMode) -> Result<FixPlan, FixError> {
        let o = AofOptions::default();
        let r = verify_single(data, b"a.aof", &o);
        plan_fix(
            &r,
            &SingleFile {
                name: b"a.aof",
                data,
            },
            mode,
            &o,
        )
    }

    fn fixed(data: &[u8], mode: FixMode) -> Vec<u8> {
        let p = plan_single(data, mode).unwrap();
        p.files[0].materialize(data).unwrap()
    }

    #[test]
    fn tail_truncates_to_valid_up_to() {
        let mut d = resp(&["SET", "a", "1"]);
        let keep = d.len();
        d.extend(b"*3\r\n$3\r\nSET\r\n$1");
        let p = plan_single(&d, FixMode::Tail).unwrap();
        assert_eq!(p.files[0].action, FileAction::Truncate { len: keep as u64 });
        assert_eq!(p.bytes_lost, (d.len() - keep) as u64);
        assert_eq!(fixed(&d, FixMode::Tail), d[..keep].to_vec());
        // A valid file: nothing to do.
        assert!(plan_single(&d[..keep], FixMode::Tail).unwrap().is_noop());
    }

    #[test]
    fn tail_refuses_damage_in_a_non_last_file() {
        let mut files = BTreeMap::new();
        files.insert(b"i1".to_vec(), b"garbage\r\n".to_vec());
        files.insert(b"i2".to_vec(), resp(&["SET", "a", "1"]));
        let m = b"file i1 seq 1 type i\nfile i2 seq 2 type i\n";
        let o = AofOptions::default();
        let r = verify_multipart(m, &files, &o);
        let e = plan_fix(&r, &files, FixMode::Tail, &o).unwrap_err();
        assert!(e.message.contains("not the last file"), "{e}");
    }

    #[test]
    fn timestamp_cut_across_files_drops_later_incr() {
        let mut i1 = b"#TS:10\r\n".to_vec();
        i1.extend(resp(&["SET", "a", "1"]));
        let cut = i1.len() as u64;
        i1.extend(b"#TS:20\r\n");
        i1.extend(resp(&["SET", "b", "2"]));
        let mut i2 = b"#TS:30\r\n".to_vec();
        i2.extend(resp(&["SET", "c", "3"]));
        let mut files = BTreeMap::new();
        files.insert(b"i1".to_vec(), i1.clone());
        files.insert(b"i2".to_vec(), i2);
        let m = b"file i1 seq 1 type i\nfile i2 seq 2 type i\n";
        let o = AofOptions::default();
        let r = verify_multipart(m, &files, &o);
        let p = plan_fix(&r, &files, FixMode::ToTimestamp(15), &o).unwrap();
        assert_eq!(p.files[0].action, FileAction::Truncate { len: cut });
        assert_eq!(p.files[0].commands_lost, 1);
        assert_eq!(p.files[1].action, FileAction::Drop);
        assert_eq!(p.commands_lost, 2);
        let nm = p.manifest.as_ref().unwrap();
        assert_eq!(nm.incr.len(), 1);
        assert_eq!(nm.to_bytes(), b"file i1 seq 1 type i\n".to_vec());
        // Cut at the very start of the second file: it is dropped whole.
        let p = plan_fix(&r, &files, FixMode::ToTimestamp(25), &o).unwrap();
        assert_eq!(p.files[0].action, FileAction::Keep);
        assert_eq!(p.files[1].action, FileAction::Drop);
        // Nothing before: refused like redis-check-aof.
        assert!(plan_fix(&r, &files, FixMode::ToTimestamp(5), &o).is_err());
        // Nothing after: no-op.
        assert!(
            plan_fix(&r, &files, FixMode::ToTimestamp(99), &o)
                .unwrap()
                .is_noop()
        );
    }

    #[test]
    fn timestamp_inside_multi_cuts_at_multi() {
        let mut d = b"#TS:1\r\n".to_vec();
        d.extend(resp(&["SET", "a", "1"]));
        let multi = d.len();
        d.extend(resp(&["MULTI"]));
        d.extend(b"#TS:9\r\n");
        d.extend(resp(&["SET", "b", "2"]));
        d.extend(resp(&["EXEC"]));
        assert_eq!(fixed(&d, FixMode::ToTimestamp(5)), d[..multi].to_vec());
    }

    #[test]
    fn before_last_flush() {
        let mut d = resp(&["SET", "a", "1"]);
        d.extend(resp(&["FLUSHALL"]));
        d.extend(resp(&["SET", "b", "2"]));
        let cut = d.len();
        d.extend(resp(&["MULTI"]));
        d.extend(resp(&["FLUSHDB"]));
        d.extend(resp(&["EXEC"]));
        d.extend(resp(&["SET", "c", "3"]));
        let p = plan_single(&d, FixMode::BeforeLastFlush).unwrap();
        assert_eq!(p.files[0].action, FileAction::Truncate { len: cut as u64 });
        assert_eq!(p.commands_lost, 4);
        let none = resp(&["SET", "a", "1"]);
        assert!(
            plan_single(&none, FixMode::BeforeLastFlush)
                .unwrap()
                .is_noop()
        );
    }

    #[test]
    fn salvage_skips_garbage_and_keeps_the_rest() {
        let mut d = resp(&["SET", "a", "1"]);
        let bad = d.len();
        d.extend(b"*3\r\n$3\r\nSET\r\nXXXXgarbage\r\n");
        let good = d.len();
        d.extend(resp(&["SET", "b", "2"]));
        d.extend(resp(&["SET", "c", "3"]));
        let p = plan_single(&d, FixMode::Salvage).unwrap();
        let f = &p.files[0];
        assert_eq!(f.skipped.len(), 1);
        assert_eq!(
            (f.skipped[0].start, f.skipped[0].end),
            (bad as u64, good as u64)
        );
        let out = f.materialize(&d).unwrap();
        let mut want = d[..bad].to_vec();
        want.extend_from_slice(&d[good..]);
        assert_eq!(out, want);
        let r = verify_single(&out, b"a.aof", &AofOptions::default());
        assert!(r.clean(), "{:?}", r.findings());
    }

    #[test]
    fn salvage_drops_torn_transactions_and_reissues_select() {
        let mut d = resp(&["SELECT", "0"]);
        d.extend(resp(&["SET", "a", "1"]));
        // A record broken after "k" (\x00\x00 instead of \r\n) whose damage
        // swallows a SELECT 5 (not at a line start) and a MULTI (mangled).
        d.extend(b"*3\r\n$3\r\nSET\r\n$1\r\nk\x00\x00");
        d.extend(b"*2\r\n$6\r\nSELECT\r\n$1\r\n5\r\n");
        d.extend(b"*1\r\n$5\r\nMUXTI\r\n");
        let resync = d.len();
        d.extend(resp(&["SET", "in-tx", "1"]));
        d.extend(resp(&["EXEC"]));
        d.extend(resp(&["SET", "after", "1"]));
        let p = plan_single(&d, FixMode::Salvage).unwrap();
        let out = p.files[0].materialize(&d).unwrap();
        let r = verify_single(&out, b"a.aof", &AofOptions::default());
        assert!(
            r.clean(),
            "{:?}\n{:?}",
            r.findings(),
            String::from_utf8_lossy(&out)
        );
        // SET in-tx and EXEC dropped; SET after kept, in db 5.
        assert!(out.windows(5).any(|w| w == b"after"));
        assert!(!out.windows(5).any(|w| w == b"in-tx"));
        assert!(out.windows(17).any(|w| w == b"SELECT\r\n$1\r\n5\r\n*3"));
        assert!(p.files[0].skipped[0].end > resync as u64);
        assert_eq!(p.files[0].skipped.len(), 1);
        assert_eq!(p.files[0].commands_lost, 2);
    }

    #[test]
    fn salvage_of_a_torn_tail_is_a_truncation() {
        let mut d = resp(&["SET", "a", "1"]);
        let keep = d.len();
        // A value that looks like a command, inside a record the data ends in.
        d.extend(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$30\r\n*1\r\n$4\r\nPING\r\nab");
        let p = plan_single(&d, FixMode::Salvage).unwrap();
        assert_eq!(p.files[0].action, FileAction::Truncate { len: keep as u64 });
    }

    #[test]
    fn resync_needs_a_line_start_and_a_known_command() {
        let r = b"x*1\r\n$4\r\nPING\r\n\n*1\r\n$5\r\nBOGUS\r\n\n*1\r\n$4\r\nPING\r\n";
        assert_eq!(find_resync(r, 0), Some(32));
    }

    #[test]
    fn resync_after_garbage_without_a_line_feed_needs_a_confirmation() {
        // A zeroed run, then two valid commands: the first one is found.
        let mut r = vec![0u8; 7];
        r.extend(resp(&["SET", "a", "1"]));
        r.extend(resp(&["SET", "b", "2"]));
        assert_eq!(find_resync(&r, 0), Some(7));
        // A lone command-looking piece followed by more garbage is not.
        let mut r = b"xx".to_vec();
        r.extend(resp(&["SET", "a", "1"]));
        r.extend(b"\x00\x00garbage");
        assert_eq!(find_resync(&r, 0), None);
    }

    #[test]
    fn select_scan() {
        assert_eq!(
            last_select_in(b"..$6\r\nselect\r\n$2\r\n12\r\n..$6\r\nSELECT\r\n$1\r\n3\r\n"),
            Some(3)
        );
        assert_eq!(last_select_in(b"$6\r\nSELECT\r\n$1\r\nx\r\n"), None);
    }
}
