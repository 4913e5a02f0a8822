//! CRC-64/Jones ("CRC-64/REDIS": reflected, poly 0xad93d23594c935a9,
//! init 0, xorout 0), the trailer checksum of RDB version 5 and later and
//! of DUMP payloads. `crc-fast` computes it with SIMD.

use crc_fast::{CrcAlgorithm, Digest};

/// CRC-64/Jones of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(CrcAlgorithm::Crc64Redis, data)
}

/// Incremental CRC-64/Jones, for input that arrives in pieces.
pub struct Crc64 {
    digest: Digest,
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc64 {
    pub fn new() -> Self {
        Crc64 {
            digest: Digest::new(CrcAlgorithm::Crc64Redis),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
    }

    pub fn finish(&self) -> u64 {
        self.digest.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_is_redis_crc64_test_vector() {
        // crc64Test in Redis's crc64.c
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut c = Crc64::new();
        for chunk in data.chunks(333) {
            c.update(chunk);
        }
        assert_eq!(c.finish(), crc64(&data));
    }

    #[test]
    fn formats_md_worked_example() {
        // FORMATS.md §1.12: a REDIS0011 file whose CRC is 0x409af75500bebadd.
        let hex = "524544495330303131fa0972656469732d76657205372e322e30fa0a72656469732d62697473023634fe00fb010000036b65790576616c7565ff";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(crc64(&bytes), 0x409af75500bebadd);
    }
}
