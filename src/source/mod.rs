//! Getting a file's bytes: memory-mapped by default, read into memory with
//! `--no-mmap` or when mapping fails; standard input and compressed backups
//! streamed through a decompressor. This is the one place with `unsafe`.

use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::ops::Deref;
use std::path::Path;

mod spill;
mod window;
pub use spill::{SPILL_TO_TEMP_FILES, spill_buffer, spill_store};
pub use window::{Filled, Window};

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

/// Opens `path` for reading, with its metadata; a directory (which
/// `File::open` accepts on Unix) is refused with the error every input
/// gets for it.
pub fn open_file(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory",
        ));
    }
    Ok((file, meta))
}

impl Source {
    /// Opens `path`. With `mmap`, maps it read-only, falling back to a plain
    /// read for empty files and for files that cannot be mapped (pipes,
    /// some network file systems).
    pub fn open(path: &Path, mmap: bool) -> io::Result<Source> {
        let (mut file, meta) = open_file(path)?;
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

/// Compressed backups, recognised by their magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// RFC 1952 (`1f 8b`), one or more members (`gzip`, `pigz`).
    Gzip,
    /// Zstandard frames (`28 b5 2f fd`).
    Zstd,
    /// LZ4 frame format (`04 22 4d 18`), as the `lz4` tool writes it.
    Lz4,
}

impl Compression {
    /// The compression `head` (a file's first bytes) starts with, if any.
    /// An RDB starts with `REDIS` or `VALKEY` and an AOF with `*`, `#` or
    /// a manifest's `file `, so none of these can be mistaken for one.
    pub fn detect(head: &[u8]) -> Option<Compression> {
        match head {
            [0x1f, 0x8b, ..] => Some(Compression::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
            [0x04, 0x22, 0x4d, 0x18, ..] => Some(Compression::Lz4),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
        }
    }

    /// A streaming decompressor over `r`. Each holds a bounded window
    /// (gzip 32 KiB, lz4 at most 4 MiB blocks, zstd the frame's window,
    /// which the decoder caps at 128 MiB), never the whole output.
    fn decoder<'r>(self, r: impl BufRead + 'r) -> io::Result<Box<dyn Read + 'r>> {
        Ok(match self {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
            Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(r)),
        })
    }
}

/// An input ready to verify: its bytes, and how they were stored.
pub struct Input {
    pub source: Source,
    pub compression: Option<Compression>,
    /// The decompressor failed (a truncated or corrupt archive): `source`
    /// holds what it produced before that, which is worth verifying too.
    pub decode_error: Option<io::Error>,
}

/// Opens `path` (`-` for standard input), decompressing gzip, zstd and lz4
/// as detected from the first bytes.
///
/// A plain file is mapped (or read, without `mmap`). Standard input and
/// compressed files are streamed, in fixed-size pieces, into an unlinked
/// temporary file in `$TMPDIR` which is then mapped: the verifier needs
/// random access to the whole RDB (the duplicate-key second pass, error
/// context), and spooling keeps the heap bounded whatever the size — the
/// cost is disk space for the uncompressed bytes (point `TMPDIR` at a
/// tmpfs to keep them in memory instead). Without `mmap` they are read
/// into memory.
pub fn open_input(path: &Path, mmap: bool) -> io::Result<Input> {
    if path.as_os_str() == "-" {
        let mut stdin = io::stdin().lock();
        let mut head = [0u8; 4];
        let n = read_up_to(&mut stdin, &mut head)?;
        let head = head.get(..n).unwrap_or(&[]);
        let compression = Compression::detect(head);
        // The bytes read to look at the magic go first, then the rest.
        let r = io::BufReader::with_capacity(1 << 20, head.chain(stdin));
        let (source, decode_error) = match compression {
            Some(c) => spool(c.decoder(r)?, mmap)?,
            None => spool(r, mmap)?,
        };
        return Ok(Input {
            source,
            compression,
            decode_error,
        });
    }
    let mut file = File::open(path)?;
    let mut head = [0u8; 4];
    let n = read_up_to(&mut file, &mut head)?;
    match Compression::detect(head.get(..n).unwrap_or(&[])) {
        Some(c) => {
            file.seek(SeekFrom::Start(0))?;
            let r = io::BufReader::with_capacity(1 << 20, file);
            let (source, decode_error) = spool(c.decoder(r)?, mmap)?;
            Ok(Input {
                source,
                compression: Some(c),
                decode_error,
            })
        }
        None => Ok(Input {
            source: Source::open(path, mmap)?,
            compression: None,
            decode_error: None,
        }),
    }
}

/// An input read once, front to back: standard input, or a compressed
/// file through its decompressor. Its first bytes (decompressed) are read
/// ahead to tell what it holds, and given back first by [`Stream::reader`].
pub struct Stream {
    reader: Box<dyn Read>,
    pub compression: Option<Compression>,
    /// The first bytes of the content (fewer when it is shorter).
    pub head: Vec<u8>,
}

/// Bytes of content [`Stream::head`] holds: an RDB's magic and version.
const STREAM_HEAD: usize = 9;

impl Stream {
    /// The content starts like an RDB.
    pub fn is_rdb(&self) -> bool {
        self.head.starts_with(b"REDIS") || self.head.starts_with(b"VALKEY")
    }

    /// The whole content, the head first.
    pub fn reader(&mut self) -> &mut dyn Read {
        &mut self.reader
    }

    /// Copies the content into a temporary file (or memory, without
    /// `mmap`), for readers that need to read it more than once.
    pub fn spool(self, mmap: bool) -> io::Result<Input> {
        let (source, decode_error) = spool(self.reader, mmap)?;
        Ok(Input {
            source,
            compression: self.compression,
            decode_error,
        })
    }
}

/// `path` as a [`Stream`] when it is standard input (`-`) or a compressed
/// file; `None` for a plain file, which is better mapped.
pub fn open_stream(path: &Path) -> io::Result<Option<Stream>> {
    let (raw, compression): (Box<dyn Read>, _) = if path.as_os_str() == "-" {
        let mut stdin = io::stdin().lock();
        let mut head = [0u8; 4];
        let n = read_up_to(&mut stdin, &mut head)?;
        let head = head.get(..n).unwrap_or(&[]).to_vec();
        let compression = Compression::detect(&head);
        let r = io::BufReader::with_capacity(1 << 20, io::Cursor::new(head).chain(stdin));
        match compression {
            Some(c) => (c.decoder(r)?, Some(c)),
            None => (Box::new(r), None),
        }
    } else {
        let mut file = File::open(path)?;
        if file.metadata()?.is_dir() {
            return Ok(None);
        }
        let mut head = [0u8; 4];
        let n = read_up_to(&mut file, &mut head)?;
        let Some(c) = Compression::detect(head.get(..n).unwrap_or(&[])) else {
            return Ok(None);
        };
        file.seek(SeekFrom::Start(0))?;
        (
            c.decoder(io::BufReader::with_capacity(1 << 20, file))?,
            Some(c),
        )
    };
    let mut raw = raw;
    let mut head = vec![0u8; STREAM_HEAD];
    // A decompressor failing this early leaves an empty head; the error
    // comes again on the first real read.
    let n = read_up_to(&mut raw, &mut head).unwrap_or(0);
    head.truncate(n);
    let reader = Box::new(io::Cursor::new(head.clone()).chain(raw));
    Ok(Some(Stream {
        reader,
        compression,
        head,
    }))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or(&mut [])) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Copies `r` into an unlinked temporary file and maps it (or, without
/// `mmap`, into memory). A read error (from a decompressor: a damaged
/// archive) ends the copy and is returned beside what was read; a write
/// error (disk full) is an error.
fn spool(mut r: impl Read, mmap: bool) -> io::Result<(Source, Option<io::Error>)> {
    let mut chunk = vec![0u8; 1 << 20];
    let mut read_error = None;
    let mut file = if mmap {
        Some(tempfile::tempfile()?)
    } else {
        None
    };
    let mut memory = Vec::new();
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                read_error = Some(e);
                break;
            }
        };
        let piece = chunk.get(..n).unwrap_or(&[]);
        match &mut file {
            Some(f) => f.write_all(piece)?,
            None => memory.extend_from_slice(piece),
        }
    }
    let Some(file) = file else {
        return Ok((Source::Owned(memory), read_error));
    };
    if file.metadata()?.len() == 0 {
        return Ok((Source::Owned(Vec::new()), read_error));
    }
    // SAFETY: as in `Source::open`; the file is unlinked and private to
    // this process, so nobody else can truncate it.
    let map = unsafe { memmap2::MmapOptions::new().map(&file) }?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok((Source::Mapped(map), read_error))
}

impl Source {
    /// Tells the kernel that bytes `start..end` will not be read soon, so
    /// their pages can leave memory: resident memory then stays flat as
    /// the verifier moves through a file larger than RAM. A later read
    /// of the range still works (the pages are read again from the file).
    /// Does nothing for bytes held in memory.
    pub fn release(&self, start: usize, end: usize) {
        #[cfg(unix)]
        if let Source::Mapped(map) = self
            && start < end
            && end <= map.len()
        {
            // SAFETY: the map is a read-only, never-written mapping of a
            // file, so it holds no private data that MADV_DONTNEED could
            // discard: dropping its pages only means the next access reads
            // them from the file again, and no reference into the range
            // sees different bytes. (It is unsafe in memmap2 because on a
            // private *written* mapping it would revert the writes.)
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }
}

/// What the SIGBUS handler prints before exiting.
pub const SIGBUS_MESSAGE: &str = "redcheck: an input file shrank while it was being read (SIGBUS on its memory map), so it was not verified; use redcheck verify --no-mmap for files that may change\n";

/// Makes a SIGBUS -- a read of a mapped file that another process has
/// truncated since -- end the process with [`SIGBUS_MESSAGE`] on stderr
/// and exit status 2 ("could not run") instead of a crash. A mapping gives
/// no other way to learn of the truncation, and the read that faulted
/// cannot be resumed, so ending the process is the only safe outcome;
/// whatever was printed before stays valid. Process-wide, so it is the
/// binary's choice (called once from `main`), not the library's.
#[cfg(unix)]
pub fn exit_on_sigbus() {
    extern "C" fn on_sigbus(_signal: libc::c_int) {
        let msg = SIGBUS_MESSAGE.as_bytes();
        // SAFETY: write(2) and _exit(2) are async-signal-safe; `msg` is a
        // static string.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(2);
        }
    }
    // SAFETY: a zeroed sigaction is a valid value (no flags, empty mask
    // filled in below); the handler only calls async-signal-safe functions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
    }
}

/// Elsewhere there is no SIGBUS to handle.
#[cfg(not(unix))]
pub fn exit_on_sigbus() {}

/// `len` zeroed words in one allocation whose whole 2 MiB pages the kernel
/// is asked to back with huge pages (Linux; elsewhere a plain zeroed
/// vector). For a large table filled once (the duplicate-key
/// fingerprints): tens of MiB faulted 4 KiB at a time cost more CPU than
/// filling them, where a huge page is one fault. The pages are faulted as
/// they are first written, as before; nothing is touched here.
pub fn zeroed_words_in_huge_pages(len: usize) -> Vec<u64> {
    let mut words = vec![0u64; len];
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = words.as_mut_ptr() as usize;
        let end = start + len * 8;
        let (lo, hi) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
        if lo < hi {
            // SAFETY: [lo, hi) lies inside `words`' own allocation, and
            // MADV_HUGEPAGE only changes which page size may back it: the
            // bytes read there stay the same (zero until written). A
            // failure (no THP in this kernel) changes nothing.
            unsafe {
                libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
            }
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_for_huge_pages_are_zero_and_writable_at_any_length() {
        for len in [0usize, 1, 511, 1 << 18, (3 << 18) + 5] {
            let mut words = zeroed_words_in_huge_pages(len);
            assert_eq!(words.len(), len);
            assert!(words.iter().all(|&w| w == 0));
            words
                .iter_mut()
                .enumerate()
                .for_each(|(i, w)| *w = i as u64);
            assert!(words.iter().enumerate().all(|(i, &w)| w == i as u64));
        }
    }

    #[test]
    fn compression_is_detected_by_magic_only() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8, 0]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::detect(&[0x04, 0x22, 0x4d, 0x18]),
            Some(Compression::Lz4)
        );
        for plain in [
            &b"REDIS0011"[..],
            b"VALKEY080",
            b"*2\r\n",
            b"file appendonly",
            b"",
            b"\x1f",
        ] {
            assert_eq!(Compression::detect(plain), None, "{plain:?}");
        }
    }

    #[test]
    fn released_pages_read_back_the_same_bytes() {
        let data: Vec<u8> = (0..(3u32 << 20)).map(|i| (i % 251) as u8).collect();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&data).unwrap();
        f.flush().unwrap();
        let s = Source::open(f.path(), true).unwrap();
        assert!(matches!(s, Source::Mapped(_)));
        assert_eq!(&s[..], &data[..]);
        // Unaligned bounds, the whole map, and out-of-range requests.
        s.release(100, 2 << 20);
        s.release(0, s.len());
        s.release(5, 4);
        s.release(0, s.len() + 1);
        assert_eq!(&s[..], &data[..]);
    }

    #[test]
    fn spooling_keeps_what_a_failing_reader_produced() {
        struct FailAfter(usize);
        impl Read for FailAfter {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "broken"));
                }
                let n = self.0.min(buf.len()).min(1000);
                buf[..n].fill(7);
                self.0 -= n;
                Ok(n)
            }
        }
        for mmap in [true, false] {
            let (s, e) = spool(FailAfter(2500), mmap).unwrap();
            assert_eq!(s.len(), 2500);
            assert!(s.iter().all(|&b| b == 7));
            assert_eq!(e.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
        }
    }
}
