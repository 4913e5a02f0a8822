//! Finding and reading an AOF on disk: a single file, a manifest, or an
//! `appendonlydir` directory. The only module of the AOF engine that reads
//! files (through [`crate::source::Source`]); everything it returns is then
//! checked by the pure functions of [`super::verify`] and [`super::fix`].

use super::fix::{FixError, FixMode, FixPlan, SingleFile, plan_fix};
use super::manifest::looks_like_manifest;
use super::verify::{AofOptions, AofReport, SetFiles, verify_multipart, verify_single};
use crate::source::Source;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

/// Turns a manifest file name (bytes) into a path component.
pub fn name_to_os(name: &[u8]) -> std::borrow::Cow<'_, OsStr> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::borrow::Cow::Borrowed(OsStr::from_bytes(name))
    }
    #[cfg(not(unix))]
    {
        std::borrow::Cow::Owned(String::from_utf8_lossy(name).into_owned().into())
    }
}

/// The files of a multi-part set, read from its directory.
#[derive(Debug, Clone)]
pub struct DirFiles {
    pub dir: PathBuf,
    pub mmap: bool,
}

impl DirFiles {
    pub fn path_of(&self, name: &[u8]) -> PathBuf {
        self.dir.join(name_to_os(name))
    }
}

impl SetFiles for DirFiles {
    type Data = Source;
    fn open(&self, name: &[u8]) -> io::Result<Source> {
        Source::open(&self.path_of(name), self.mmap)
    }
}

/// An AOF found on disk.
pub enum AofInput {
    /// An old-style AOF file.
    Single { path: PathBuf, data: Source },
    /// A manifest and the directory holding its files.
    MultiPart {
        manifest_path: PathBuf,
        manifest: Source,
        files: DirFiles,
    },
}

/// The manifests (`*.manifest`, not `temp-*`) in a directory, sorted.
fn manifests_in(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let s = name.to_string_lossy();
        if s.ends_with(".manifest") && !s.starts_with("temp-") && entry.path().is_file() {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Whether `dir` is an AOF directory: it holds a `*.manifest`, or it is
/// named `appendonlydir` (the server's default), where a missing manifest
/// is an error of that AOF rather than a directory of other files.
pub fn is_aof_dir(dir: &Path) -> bool {
    dir.file_name() == Some(OsStr::new("appendonlydir"))
        || manifests_in(dir).is_ok_and(|m| !m.is_empty())
}

/// The regular files directly in `dir` (not in its subdirectories; links
/// followed), sorted by name.
pub fn files_in(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

impl AofInput {
    /// Opens `path`: a directory (its one `*.manifest`, preferring
    /// `appendonly.aof.manifest`), a manifest (by content, or an empty file
    /// named `*.manifest`), or a single AOF.
    pub fn open(path: &Path, mmap: bool) -> io::Result<AofInput> {
        if path.is_dir() {
            let found = manifests_in(path)?;
            let chosen = match found.as_slice() {
                [] => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("no *.manifest file in directory {}", path.display()),
                    ));
                }
                [one] => one.clone(),
                many => match many
                    .iter()
                    .find(|p| p.file_name() == Some(OsStr::new("appendonly.aof.manifest")))
                {
                    Some(p) => p.clone(),
                    None => {
                        let names: Vec<String> =
                            many.iter().map(|p| p.display().to_string()).collect();
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!(
                                "several manifests in {}: {}; give the one to use",
                                path.display(),
                                names.join(", ")
                            ),
                        ));
                    }
                },
            };
            return Self::open_manifest(&chosen, mmap);
        }
        let data = Source::open(path, mmap)?;
        let named_manifest = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with(".manifest"));
        if looks_like_manifest(&data) || (data.is_empty() && named_manifest) {
            return Ok(AofInput::MultiPart {
                manifest_path: path.to_path_buf(),
                manifest: data,
                files: DirFiles {
                    dir: parent_dir(path),
                    mmap,
                },
            });
        }
        Ok(AofInput::Single {
            path: path.to_path_buf(),
            data,
        })
    }

    fn open_manifest(path: &Path, mmap: bool) -> io::Result<AofInput> {
        Ok(AofInput::MultiPart {
            manifest_path: path.to_path_buf(),
            manifest: Source::open(path, false)?,
            files: DirFiles {
                dir: parent_dir(path),
                mmap,
            },
        })
    }

    /// The path to show: the file, or the manifest.
    pub fn path(&self) -> &Path {
        match self {
            AofInput::Single { path, .. } => path,
            AofInput::MultiPart { manifest_path, .. } => manifest_path,
        }
    }

    /// Where the files live.
    pub fn dir(&self) -> PathBuf {
        match self {
            AofInput::Single { path, .. } => parent_dir(path),
            AofInput::MultiPart { files, .. } => files.dir.clone(),
        }
    }

    /// The name a single file has in its report (its file name).
    pub fn single_name(path: &Path) -> Vec<u8> {
        let name = path.file_name().unwrap_or(path.as_os_str());
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            name.as_bytes().to_vec()
        }
        #[cfg(not(unix))]
        {
            name.to_string_lossy().as_bytes().to_vec()
        }
    }

    /// Verifies it.
    pub fn verify(&self, options: &AofOptions) -> AofReport {
        match self {
            AofInput::Single { path, data } => {
                verify_single(data, &Self::single_name(path), options)
            }
            AofInput::MultiPart {
                manifest, files, ..
            } => verify_multipart(manifest, files, options),
        }
    }

    /// Plans a repair of what [`Self::verify`] reported.
    pub fn plan(
        &self,
        report: &AofReport,
        mode: FixMode,
        options: &AofOptions,
    ) -> Result<FixPlan, FixError> {
        match self {
            AofInput::Single { path, data } => {
                let name = Self::single_name(path);
                plan_fix(report, &SingleFile { name: &name, data }, mode, options)
            }
            AofInput::MultiPart { files, .. } => plan_fix(report, files, mode, options),
        }
    }
}

/// The directory of a file path (`.` for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Opens and verifies `path` in one call.
pub fn verify_path(
    path: &Path,
    mmap: bool,
    options: &AofOptions,
) -> io::Result<(AofInput, AofReport)> {
    let input = AofInput::open(path, mmap)?;
    let report = input.verify(options);
    Ok((input, report))
}
