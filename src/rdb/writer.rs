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
use super::header::{Header, Magic};
use crate::crc64::crc64;

/// An RDB under construction in memory.
pub struct RdbWriter {
    out: Vec<u8>,
    version: u32,
}

impl RdbWriter {
    /// Starts a file with the magic and version of `header`.
    pub fn new(header: &Header) -> Self {
        let magic = match header.magic {
            Magic::Redis => format!("REDIS{:04}", header.version),
            Magic::Valkey => format!("VALKEY{:03}", header.version),
        };
        RdbWriter {
            out: magic.into_bytes(),
            version: header.version,
        }
    }

    /// Appends bytes that already form whole records (copied from a file
    /// of the same magic and version).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub fn select_db(&mut self, db: u64) {
        self.out.push(RDB_OPCODE_SELECTDB);
        write_length(&mut self.out, db);
    }

    /// RESIZEDB hint; written only for RDB 7+, where the opcode exists.
    pub fn resize_db(&mut self, keys: u64, expires: u64) {
        if self.version >= 7 {
            self.out.push(RDB_OPCODE_RESIZEDB);
            write_length(&mut self.out, keys);
            write_length(&mut self.out, expires);
        }
    }

    /// An AUX field (RDB 7+) with raw string key and value.
    pub fn aux(&mut self, key: &[u8], value: &[u8]) {
        if self.version >= 7 {
            self.out.push(RDB_OPCODE_AUX);
            write_string(&mut self.out, key);
            write_string(&mut self.out, value);
        }
    }

    /// Ends the file: EOF opcode and, for RDB 5+, the CRC-64 of everything
    /// before the trailer, little-endian.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(RDB_OPCODE_EOF);
        if self.version >= 5 {
            let crc = crc64(&self.out);
            self.out.extend_from_slice(&crc.to_le_bytes());
        }
        self.out
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
