//! Writing an RDB: the header, opcodes with lengths encoded the way
//! `rdbSaveLen` does (smallest form), raw key records copied from another
//! file, and the EOF opcode with its CRC-64 trailer (`rdbSaveRio`'s tail).
//!
//! ```text
//! "REDIS0011" | AUX* | FUNCTION2* | (SELECTDB n, RESIZEDB k e, [EXPIRETIME_MS] key record)* | 0xFF | crc64 (v5+)
//! ```
//!
//! The writer copies records verbatim rather than re-encoding values, so a
//! value's bytes in the output are exactly the bytes a server wrote.

use super::consts::*;
use super::header::Header;
use crate::crc64::Crc64;
use std::io::{self, Write};

/// An RDB written as it is built, to any [`Write`], with the CRC-64
/// computed on the way: memory does not grow with the file.
pub struct RdbStreamWriter<W: Write> {
    out: W,
    crc: Crc64,
    version: u32,
    written: u64,
    scratch: Vec<u8>,
}

impl<W: Write> RdbStreamWriter<W> {
    /// Starts a file with the magic and version of `header`.
    pub fn new(header: &Header, out: W) -> io::Result<Self> {
        let mut w = Self::unstarted(header, out);
        w.raw(header.magic_text().as_bytes())?;
        Ok(w)
    }

    fn unstarted(header: &Header, out: W) -> Self {
        RdbStreamWriter {
            out,
            crc: Crc64::new(),
            version: header.version,
            written: 0,
            scratch: Vec::new(),
        }
    }

    /// Appends bytes that already form whole records (copied from a file
    /// of the same magic and version).
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.crc.update(bytes);
        self.written += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    /// Writes what `build` puts in a scratch buffer (opcodes are short).
    fn opcode(&mut self, build: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let mut b = std::mem::take(&mut self.scratch);
        b.clear();
        build(&mut b);
        let r = self.raw(&b);
        self.scratch = b;
        r
    }

    pub fn select_db(&mut self, db: u64) -> io::Result<()> {
        self.opcode(|b| {
            b.push(RDB_OPCODE_SELECTDB);
            write_length(b, db);
        })
    }

    /// RESIZEDB hint; written only for RDB 7+, where the opcode exists.
    pub fn resize_db(&mut self, keys: u64, expires: u64) -> io::Result<()> {
        if self.version < 7 {
            return Ok(());
        }
        self.opcode(|b| {
            b.push(RDB_OPCODE_RESIZEDB);
            write_length(b, keys);
            write_length(b, expires);
        })
    }

    /// An AUX field (RDB 7+) with raw string key and value.
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        if self.version < 7 {
            return Ok(());
        }
        self.opcode(|b| {
            b.push(RDB_OPCODE_AUX);
            write_string(b, key);
            write_string(b, value);
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Ends the file: EOF opcode and, for RDB 5+, the CRC-64 of everything
    /// before the trailer, little-endian. Returns the output and the
    /// file's size.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.raw(&[RDB_OPCODE_EOF])?;
        if self.version >= 5 {
            let crc = self.crc.finish();
            self.out.write_all(&crc.to_le_bytes())?;
            self.written += 8;
        }
        self.out.flush()?;
        Ok((self.out, self.written))
    }
}

/// An RDB under construction in memory.
pub struct RdbWriter(RdbStreamWriter<Vec<u8>>);

// Writing to a Vec cannot fail: the results below are always Ok.
impl RdbWriter {
    /// Starts a file with the magic and version of `header`.
    pub fn new(header: &Header) -> Self {
        let mut w = RdbStreamWriter::unstarted(header, Vec::new());
        let _ = w.raw(header.magic_text().as_bytes());
        RdbWriter(w)
    }

    /// Appends bytes that already form whole records (copied from a file
    /// of the same magic and version).
    pub fn raw(&mut self, bytes: &[u8]) {
        let _ = self.0.raw(bytes);
    }

    pub fn select_db(&mut self, db: u64) {
        let _ = self.0.select_db(db);
    }

    /// RESIZEDB hint; written only for RDB 7+, where the opcode exists.
    pub fn resize_db(&mut self, keys: u64, expires: u64) {
        let _ = self.0.resize_db(keys, expires);
    }

    /// An AUX field (RDB 7+) with raw string key and value.
    pub fn aux(&mut self, key: &[u8], value: &[u8]) {
        let _ = self.0.aux(key, value);
    }

    /// Ends the file: EOF opcode and, for RDB 5+, its CRC-64 trailer.
    pub fn finish(self) -> Vec<u8> {
        self.0.finish().map(|(v, _)| v).unwrap_or_default()
    }
}

/// `rdbSaveLen`: 6-bit, 14-bit big-endian, 32-bit (0x80) or 64-bit (0x81).
pub fn write_length(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(RDB_32BITLEN);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(RDB_64BITLEN);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A raw (uncompressed, not integer-encoded) RDB string.
pub fn write_string(out: &mut Vec<u8>, b: &[u8]) {
    write_length(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::primitives::{parse_length, parse_string};
    use crate::verify::{Options, verify_rdb};

    #[test]
    fn lengths_round_trip_through_the_reader_in_smallest_form() {
        for (n, size) in [
            (0u64, 1usize),
            (63, 1),
            (64, 2),
            (16383, 2),
            (16384, 5),
            (u64::from(u32::MAX), 5),
            (u64::from(u32::MAX) + 1, 9),
        ] {
            let mut b = Vec::new();
            write_length(&mut b, n);
            assert_eq!(b.len(), size, "length {n}");
            let (rest, back) = parse_length(&b, "test").unwrap();
            assert!(rest.is_empty());
            assert_eq!(back, n);
        }
    }

    #[test]
    fn a_written_file_verifies_with_a_correct_checksum() {
        let header = Header::parse(b"REDIS0011").unwrap();
        let mut w = RdbWriter::new(&header);
        w.aux(b"redis-ver", b"7.2.0");
        w.select_db(0);
        w.resize_db(1, 0);
        // A string key record: type 0, key "k", value "v".
        let mut rec = vec![RDB_TYPE_STRING];
        write_string(&mut rec, b"k");
        write_string(&mut rec, b"v");
        w.raw(&rec);
        let file = w.finish();
        let r = verify_rdb(&file, &Options::default());
        assert!(r.ok, "{:?}", r.errors);
        assert_eq!(r.keys, 1);
        assert_eq!(r.checksum.as_str(), "ok");
        let (_, s) = parse_string(&file[10..], "aux key").unwrap();
        assert_eq!(s.raw(), Some(&b"redis-ver"[..]));
    }

    #[test]
    fn old_versions_get_no_opcodes_they_lack_and_no_trailer_before_v5() {
        let header = Header::parse(b"REDIS0004").unwrap();
        let mut w = RdbWriter::new(&header);
        w.aux(b"a", b"b");
        w.select_db(0);
        w.resize_db(1, 0);
        let file = w.finish();
        assert_eq!(file, b"REDIS0004\xfe\x00\xff");
    }
}
