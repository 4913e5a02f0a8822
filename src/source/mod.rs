//! Getting a file's bytes: memory-mapped by default, read into memory with
//! `--no-mmap` or when mapping fails. This is the one place with `unsafe`.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;
use std::path::Path;

/// A file's contents, mapped or owned.
pub enum Source {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Deref for Source {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Source::Mapped(m) => m,
            Source::Owned(v) => v,
        }
    }
}

impl Source {
    /// Opens `path`. With `mmap`, maps it read-only, falling back to a plain
    /// read for empty files and for files that cannot be mapped (pipes,
    /// some network file systems).
    pub fn open(path: &Path, mmap: bool) -> io::Result<Source> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory",
            ));
        }
        if mmap && meta.is_file() && meta.len() > 0 {
            // SAFETY: the map is read-only and private to this process. The
            // remaining hazard is another process truncating the file while
            // it is mapped, which turns reads past the new end into SIGBUS;
            // verifying a file that is being rewritten is not meaningful, and
            // `--no-mmap` reads it instead for callers who cannot rule that
            // out. Nothing here writes through the mapping.
            let map = unsafe { memmap2::MmapOptions::new().map(&file) };
            if let Ok(map) = map {
                #[cfg(unix)]
                let _ = map.advise(memmap2::Advice::Sequential);
                return Ok(Source::Mapped(map));
            }
        }
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        Ok(Source::Owned(buf))
    }

    /// Reads all of standard input.
    pub fn stdin() -> io::Result<Source> {
        let mut buf = Vec::new();
        io::stdin().lock().read_to_end(&mut buf)?;
        Ok(Source::Owned(buf))
    }
}
