//! Carrying out a [`FixPlan`]: the one place the AOF engine writes.
//!
//! Every new file is written to a temporary file in its target directory,
//! fsynced, renamed over its destination, and the directory fsynced, so a
//! crash leaves either the old or the new file, never half of one.
//!
//! * In place: each changed file keeps its original as
//!   `<name>.bak.<unix-seconds>` (a hard link to the old inode when the file
//!   system allows, a copy otherwise); a file dropped from the set is moved to
//!   that name, so a server that later creates an incr file with the same
//!   sequence number does not append to old data; the manifest is replaced
//!   the same way. The manifest is rewritten first, so every intermediate
//!   state on disk is a prefix of the log.
//! * `output_dir`: the repaired set is written there and the input is not
//!   touched; existing files there are never overwritten.

use super::dir::{AofInput, name_to_os, parent_dir};
use super::fix::{FileAction, FixPlan};
use super::verify::SetFiles;
use crate::source::Source;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How to apply.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Write the repaired set into this directory (created if missing)
    /// instead of changing the input.
    pub output_dir: Option<PathBuf>,
    /// The suffix of backups, `<name>.bak.<backup_time>`: pass the current
    /// unix time.
    pub backup_time: u64,
}

/// What was done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Files written (replaced in place, or created in the output dir).
    pub written: Vec<PathBuf>,
    /// Backups of the originals (in place only).
    pub backups: Vec<PathBuf>,
    /// Files dropped from the set, as (original path, backup path).
    pub removed: Vec<(PathBuf, PathBuf)>,
    /// The manifest written, if any.
    pub manifest: Option<PathBuf>,
}

fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// fsync a directory so renames in it are durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| context(e, "cannot fsync directory", dir))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// A name for a backup of `path` that does not exist yet.
fn backup_path(path: &Path, time: u64) -> PathBuf {
    let base = format!("{}.bak.{time}", path.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1u32;
    while candidate.exists() && n < 10_000 {
        candidate = PathBuf::from(format!("{base}.{n}"));
        n = n.saturating_add(1);
    }
    candidate
}

/// Keeps the current content of `path` at a backup name without copying
/// when possible.
fn make_backup(path: &Path, time: u64) -> io::Result<PathBuf> {
    let backup = backup_path(path, time);
    if fs::hard_link(path, &backup).is_err() {
        fs::copy(path, &backup).map_err(|e| context(e, "cannot back up", path))?;
        File::open(&backup)
            .and_then(|f| f.sync_all())
            .map_err(|e| context(e, "cannot fsync", &backup))?;
    }
    Ok(backup)
}

/// Writes `dest` atomically from a writer callback: temp file in the same
/// directory, fsync, rename, fsync the directory.
fn write_atomic(
    dest: &Path,
    permissions_from: Option<&Path>,
    fill: &mut dyn FnMut(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = parent_dir(dest);
    let file_name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "aof".to_string());
    let tmp = dir.join(format!("temp-redcheck-{}-{file_name}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| context(e, "cannot create", &tmp))?;
        fill(&mut f).map_err(|e| context(e, "cannot write", &tmp))?;
        f.flush()?;
        f.sync_all().map_err(|e| context(e, "cannot fsync", &tmp))?;
        if let Some(src) = permissions_from {
            if let Ok(meta) = fs::metadata(src) {
                let _ = fs::set_permissions(&tmp, meta.permissions());
            }
        }
        fs::rename(&tmp, dest).map_err(|e| context(e, "cannot rename onto", dest))?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Carries out `plan` on `input` (the same input the plan was made from).
pub fn apply(input: &AofInput, plan: &FixPlan, options: &ApplyOptions) -> io::Result<ApplyOutcome> {
    match &options.output_dir {
        Some(out) => apply_to_output(input, plan, out),
        None => apply_in_place(input, plan, options.backup_time),
    }
}

fn file_path(input: &AofInput, name: &[u8]) -> PathBuf {
    match input {
        AofInput::Single { path, .. } => path.clone(),
        AofInput::MultiPart { files, .. } => files.path_of(name),
    }
}

fn open_data(input: &AofInput, name: &[u8]) -> io::Result<Source> {
    match input {
        // Read again rather than borrow: the caller's mapping stays as it was.
        AofInput::Single { path, .. } => Source::open(path, false),
        AofInput::MultiPart { files, .. } => files.open(name),
    }
}

/// A rewritten manifest's bytes, or an error instead of a manifest no
/// server could read.
fn checked_manifest_bytes(m: &super::Manifest) -> io::Result<Vec<u8>> {
    m.to_checked_bytes().map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the rewritten manifest would not be readable by a server, so it is not written: {e}"),
        )
    })
}

fn apply_in_place(input: &AofInput, plan: &FixPlan, time: u64) -> io::Result<ApplyOutcome> {
    let mut outcome = ApplyOutcome::default();
    // 1. The manifest first: from here on the dropped files are out of the set.
    if let (Some(m), AofInput::MultiPart { manifest_path, .. }) = (&plan.manifest, input) {
        let bytes = checked_manifest_bytes(m)?;
        let backup = make_backup(manifest_path, time)?;
        outcome.backups.push(backup);
        write_atomic(manifest_path, Some(manifest_path), &mut |f| {
            f.write_all(&bytes)
        })?;
        outcome.manifest = Some(manifest_path.clone());
    }
    // 2. Truncated and rewritten files.
    for fp in &plan.files {
        if !matches!(
            fp.action,
            FileAction::Truncate { .. } | FileAction::Rewrite { .. }
        ) {
            continue;
        }
        let path = file_path(input, &fp.name);
        let data = open_data(input, &fp.name).map_err(|e| context(e, "cannot read", &path))?;
        if data.len() as u64 != fp.size {
            return Err(io::Error::other(format!(
                "{} changed size since it was verified ({} bytes, expected {}); verify again",
                path.display(),
                data.len(),
                fp.size
            )));
        }
        let backup = make_backup(&path, time)?;
        outcome.backups.push(backup);
        write_atomic(&path, Some(&path), &mut |f| fp.write_contents(&data, f))?;
        outcome.written.push(path);
    }
    // 3. Dropped files move to their backup names.
    for fp in &plan.files {
        if fp.action != FileAction::Drop {
            continue;
        }
        let path = file_path(input, &fp.name);
        if !path.exists() {
            continue;
        }
        let backup = backup_path(&path, time);
        fs::rename(&path, &backup).map_err(|e| context(e, "cannot move away", &path))?;
        sync_dir(&parent_dir(&path))?;
        outcome.removed.push((path, backup));
    }
    Ok(outcome)
}

fn apply_to_output(input: &AofInput, plan: &FixPlan, out: &Path) -> io::Result<ApplyOutcome> {
    fs::create_dir_all(out).map_err(|e| context(e, "cannot create", out))?;
    let same = match (fs::canonicalize(out), fs::canonicalize(input.dir())) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--output {} is the input's own directory; give another directory, or omit --output to repair in place (with backups)",
                out.display()
            ),
        ));
    }
    let mut outcome = ApplyOutcome::default();
    let mut targets: Vec<(PathBuf, &super::fix::FilePlan)> = Vec::new();
    for fp in &plan.files {
        if fp.action == FileAction::Drop {
            continue;
        }
        let name = match input {
            AofInput::Single { path, .. } => AofInput::single_name(path),
            AofInput::MultiPart { .. } => fp.name.clone(),
        };
        targets.push((out.join(name_to_os(&name)), fp));
    }
    let manifest_target = match input {
        AofInput::MultiPart { manifest_path, .. } => Some(
            out.join(
                manifest_path
                    .file_name()
                    .unwrap_or(std::ffi::OsStr::new("appendonly.aof.manifest")),
            ),
        ),
        AofInput::Single { .. } => None,
    };
    for p in targets.iter().map(|(p, _)| p).chain(manifest_target.iter()) {
        if p.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists; not overwriting it", p.display()),
            ));
        }
    }
    for (dest, fp) in targets {
        let data = match open_data(input, &fp.name) {
            Ok(d) => d,
            // A missing history file is allowed by servers: skip it.
            Err(_) if fp.kind == super::verify::FileKind::History => continue,
            Err(e) => return Err(context(e, "cannot read", &file_path(input, &fp.name))),
        };
        write_atomic(&dest, None, &mut |f| fp.write_contents(&data, f))?;
        outcome.written.push(dest);
    }
    if let (Some(dest), AofInput::MultiPart { manifest, .. }) = (manifest_target, input) {
        let bytes = match &plan.manifest {
            Some(m) => checked_manifest_bytes(m)?,
            None => manifest.to_vec(),
        };
        write_atomic(&dest, None, &mut |f| f.write_all(&bytes))?;
        outcome.manifest = Some(dest);
    }
    Ok(outcome)
}
