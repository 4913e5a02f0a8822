//! The temporary files a giant value spills to (see `verify::spill`),
//! unlinked, in `$TMPDIR`: its member fingerprints, written in chunks and
//! read back one partition at a time (16 bytes of disk a member, 8 bytes
//! of memory per chunk of up to 512 members); and an LZF blob too big to
//! inflate on the heap, inflated into a mapped file instead.

use crate::verify::spill::{SpillBuffer, SpillStore, SpillTo};
use std::fs::File;
use std::io;
#[cfg(not(unix))]
use std::io::{Read, Seek, SeekFrom, Write};

/// Most fingerprints in one chunk (its count is kept in 9 bits).
const MAX_CHUNK: usize = 512;

struct FileSpill {
    file: File,
    /// Fingerprints written so far (the file's length, in 16-byte units).
    written: u64,
    /// Per partition, its chunks in order: `start << 9 | (count - 1)`,
    /// with `start` in fingerprints from the file's beginning.
    chunks: Vec<Vec<u64>>,
    /// A chunk's bytes on their way to or from the file, kept from one
    /// call to the next.
    bytes: Vec<u8>,
}

/// What the command line gives `Options::spill`.
pub const SPILL_TO_TEMP_FILES: SpillTo = SpillTo {
    members: spill_store,
    blobs: spill_buffer,
};

/// A zeroed buffer of `len` bytes in an unlinked, mapped temporary file:
/// page cache that the kernel can write out, not heap.
pub fn spill_buffer(len: usize) -> io::Result<Box<dyn SpillBuffer>> {
    let file = tempfile::tempfile()?;
    file.set_len(len.max(1) as u64)?;
    // SAFETY: the file is unlinked and only this process has it, so no
    // other can truncate it under the map; the map outlives nothing it
    // points into (the file stays alive while mapped).
    let map = unsafe { memmap2::MmapOptions::new().len(len.max(1)).map_mut(&file) }?;
    Ok(Box::new(Exact { map, len }))
}

/// A mapping of at least one byte (an empty one cannot be mapped), seen
/// as exactly `len`.
struct Exact {
    map: memmap2::MmapMut,
    len: usize,
}

impl std::ops::Deref for Exact {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.map.get(..self.len).unwrap_or(&[])
    }
}

impl std::ops::DerefMut for Exact {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.map.get_mut(..self.len).unwrap_or(&mut [])
    }
}

/// A new spill store, for `Options::spill`.
pub fn spill_store() -> io::Result<Box<dyn SpillStore>> {
    Ok(Box::new(FileSpill {
        file: tempfile::tempfile()?,
        written: 0,
        chunks: vec![Vec::new(); 256],
        bytes: Vec::with_capacity(MAX_CHUNK * 16),
    }))
}

impl SpillStore for FileSpill {
    fn append(&mut self, part: usize, fingerprints: &[u128]) -> io::Result<()> {
        let Some(chunks) = self.chunks.get_mut(part) else {
            return Err(io::Error::other("no such spill partition"));
        };
        // Positioned reads and writes: no seek calls, and a chunk is one
        // call each way (a spilled set of 10 M members makes 40,000).
        for piece in fingerprints.chunks(MAX_CHUNK) {
            self.bytes.clear();
            self.bytes
                .extend(piece.iter().flat_map(|f| f.to_le_bytes()));
            write_all_at(&self.file, &self.bytes, self.written * 16)?;
            chunks.push(self.written << 9 | (piece.len() as u64 - 1));
            self.written += piece.len() as u64;
        }
        Ok(())
    }

    fn read(&mut self, part: usize, each: &mut dyn FnMut(&[u128])) -> io::Result<()> {
        let Some(chunks) = self.chunks.get(part) else {
            return Err(io::Error::other("no such spill partition"));
        };
        self.bytes.resize(MAX_CHUNK * 16, 0);
        let mut fingerprints = Vec::with_capacity(MAX_CHUNK);
        for &chunk in chunks {
            let (start, count) = (chunk >> 9, (chunk & 511) as usize + 1);
            let buf = self.bytes.get_mut(..count * 16).unwrap_or_default();
            read_exact_at(&self.file, buf, start * 16)?;
            fingerprints.clear();
            // (Every chunk is 16 bytes: `map`, not `filter_map`, keeps the
            // exact length known, so that `extend` writes without checks;
            // that was two thirds of reading a partition back.)
            fingerprints.extend(
                buf.chunks_exact(16)
                    .map(|b| u128::from_le_bytes(b.try_into().unwrap_or([0; 16]))),
            );
            each(&fingerprints);
        }
        Ok(())
    }
}

#[cfg(unix)]
fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(unix)]
fn read_exact_at(file: &File, bytes: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, bytes, offset)
}

/// Elsewhere, a seek and a read or write: `&File` implements both.
#[cfg(not(unix))]
fn write_all_at(mut file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn read_exact_at(mut file: &File, bytes: &mut [u8], offset: u64) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_read_back_what_was_appended_in_order() {
        let mut s = spill_store().unwrap();
        let mut expected: Vec<Vec<u128>> = vec![Vec::new(); 256];
        // Runs of 0 to 1200 fingerprints: several chunks each, some empty.
        for i in 0..40u128 {
            let part = (i * 7 % 5) as usize;
            let run: Vec<u128> = (0..(i * 31 % 1201)).map(|k| i << 64 | k).collect();
            s.append(part, &run).unwrap();
            expected[part].extend(&run);
        }
        for (part, want) in expected.iter().enumerate() {
            let mut got = Vec::new();
            s.read(part, &mut |f| got.extend_from_slice(f)).unwrap();
            assert!(&got == want, "partition {part}");
        }
        assert!(s.append(256, &[1]).is_err());
    }

    #[test]
    fn a_buffer_is_zeroed_writable_and_exactly_as_long_as_asked() {
        for len in [0, 1, 4095, 4096, 100_000] {
            let mut b = spill_buffer(len).unwrap();
            assert_eq!(b.len(), len);
            assert!(b.iter().all(|&x| x == 0));
            if let Some(last) = b.last_mut() {
                *last = 7;
            }
            assert!(len == 0 || b[len - 1] == 7);
        }
    }
}
