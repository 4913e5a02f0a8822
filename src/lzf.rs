//! LZF decompression with the bounds Redis applies (`rdbLoadLzfStringObject`):
//! the output must be exactly the declared length. The declared length is
//! checked against what `clen` compressed bytes could possibly expand to, so
//! a hostile header cannot make us allocate.

use crate::limits::{LZF_MAX_RATIO, MAX_LZF_UNCOMPRESSED};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LzfError {
    /// The declared uncompressed length is larger than `clen` bytes of LZF
    /// can produce, or larger than [`MAX_LZF_UNCOMPRESSED`].
    ImplausibleLength { compressed: u64, uncompressed: u64 },
    /// The compressed stream is malformed or inflates to a different length.
    Corrupt,
}

impl std::fmt::Display for LzfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LzfError::ImplausibleLength {
                compressed,
                uncompressed,
            } => write!(
                f,
                "LZF header declares {uncompressed} uncompressed bytes, more than {compressed} compressed bytes can hold"
            ),
            LzfError::Corrupt => write!(f, "Invalid LZF compressed string"),
        }
    }
}

/// Whether `uncompressed` bytes could come from `compressed` bytes of LZF.
pub fn plausible(compressed: u64, uncompressed: u64) -> bool {
    uncompressed <= MAX_LZF_UNCOMPRESSED
        && uncompressed <= compressed.saturating_mul(LZF_MAX_RATIO).saturating_add(1)
}

/// Inflates `data`, which must produce exactly `uncompressed_len` bytes.
///
/// `uncompressed_len == 0` is rejected here; Redis accepts any data in that
/// case (its decompressor returns 0 on failure), and callers report it as a
/// warning rather than calling this.
pub fn decompress(data: &[u8], uncompressed_len: u64) -> Result<Vec<u8>, LzfError> {
    if !plausible(data.len() as u64, uncompressed_len) {
        return Err(LzfError::ImplausibleLength {
            compressed: data.len() as u64,
            uncompressed: uncompressed_len,
        });
    }
    let want = usize::try_from(uncompressed_len).map_err(|_| LzfError::Corrupt)?;
    match ::lzf::decompress(data, want) {
        Ok(out) if out.len() == want => Ok(out),
        _ => Err(LzfError::Corrupt),
    }
}

/// Checks that `data` inflates to exactly `uncompressed_len` bytes, as
/// [`decompress`] would, without producing them: only the output position
/// is tracked, since a back reference is valid exactly when it points into
/// what was already produced. For strings whose bytes nobody reads (a
/// string value, a list item) this replaces an allocation and a byte-wise
/// copy with a walk over the control bytes.
pub fn validate(data: &[u8], uncompressed_len: u64) -> Result<(), LzfError> {
    if !plausible(data.len() as u64, uncompressed_len) {
        return Err(LzfError::ImplausibleLength {
            compressed: data.len() as u64,
            uncompressed: uncompressed_len,
        });
    }
    let want = usize::try_from(uncompressed_len).map_err(|_| LzfError::Corrupt)?;
    if data.is_empty() {
        return Err(LzfError::Corrupt);
    }
    let mut ip = 0usize;
    let mut out = 0usize;
    while let Some(&ctrl) = data.get(ip) {
        ip += 1;
        let ctrl = usize::from(ctrl);
        if ctrl < 32 {
            // A literal run of ctrl+1 bytes.
            let run = ctrl + 1;
            if out + run > want || ip + run > data.len() {
                return Err(LzfError::Corrupt);
            }
            ip += run;
            out += run;
        } else {
            // A back reference: length (ctrl >> 5) + 2, with 7 meaning an
            // extra length byte; distance from the low 5 bits and one byte.
            let mut len = ctrl >> 5;
            if ip >= data.len() {
                return Err(LzfError::Corrupt);
            }
            if len == 7 {
                len += usize::from(data.get(ip).copied().unwrap_or(0));
                ip += 1;
                if ip >= data.len() {
                    return Err(LzfError::Corrupt);
                }
            }
            let distance =
                ((ctrl & 0x1f) << 8) + 1 + usize::from(data.get(ip).copied().unwrap_or(0));
            ip += 1;
            if out + len + 2 > want || distance > out {
                return Err(LzfError::Corrupt);
            }
            out += len + 2;
        }
    }
    if out == want {
        Ok(())
    } else {
        Err(LzfError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_agrees_with_decompress_on_damaged_streams() {
        // Differential: every single-byte change and every truncation of a
        // real compressed stream, and wrong declared lengths, judged the
        // same by the validator and by the decompressor.
        let text: Vec<u8> = (0..3000u32)
            .map(|i| b"redis-lzf-"[(i % 10) as usize] ^ ((i / 97) as u8 & 3))
            .collect();
        let packed = ::lzf::compress(&text).unwrap();
        let n = text.len() as u64;
        assert_eq!(validate(&packed, n), Ok(()));
        for len in [0, 1, n - 1, n + 1, n * 2] {
            assert_eq!(
                validate(&packed, len).is_ok(),
                decompress(&packed, len).is_ok()
            );
        }
        for cut in 0..packed.len() {
            let d = &packed[..cut];
            assert_eq!(
                validate(d, n).is_ok(),
                decompress(d, n).is_ok(),
                "cut {cut}"
            );
        }
        for at in 0..packed.len() {
            for bit in 0..8 {
                let mut d = packed.clone();
                d[at] ^= 1 << bit;
                assert_eq!(
                    validate(&d, n).is_ok(),
                    decompress(&d, n).is_ok(),
                    "byte {at} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn round_trips_with_the_reference_compressor() {
        let text = b"hello hello hello hello hello hello hello world world world".repeat(20);
        let packed = ::lzf::compress(&text).unwrap();
        assert_eq!(decompress(&packed, text.len() as u64).unwrap(), text);
    }

    #[test]
    fn wrong_declared_length_is_corrupt() {
        let text = b"abcabcabcabcabcabcabcabcabcabcabcabcabc".to_vec();
        let packed = ::lzf::compress(&text).unwrap();
        assert_eq!(
            decompress(&packed, text.len() as u64 + 1),
            Err(LzfError::Corrupt)
        );
        assert_eq!(
            decompress(&packed, text.len() as u64 - 1),
            Err(LzfError::Corrupt)
        );
    }

    #[test]
    fn absurd_lengths_are_refused_before_allocating() {
        assert!(matches!(
            decompress(&[0, 1, 2], u64::MAX),
            Err(LzfError::ImplausibleLength { .. })
        ));
        assert!(matches!(
            decompress(&[0, 1, 2], 10_000),
            Err(LzfError::ImplausibleLength { .. })
        ));
    }

    #[test]
    fn back_reference_before_start_is_corrupt() {
        // ctrl 0x20: back reference of length 1+2, offset byte 5 -> before output start
        assert_eq!(decompress(&[0x20, 0x05], 3), Err(LzfError::Corrupt));
    }
}
