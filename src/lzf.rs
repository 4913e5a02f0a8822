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
///
/// Accepts exactly the streams the `lzf` crate's `decompress` (and Redis's
/// `lzf_decompress`) accepts with an output buffer of `uncompressed_len`,
/// and produces the same bytes; it copies literal runs and back references
/// a slice at a time where the crate copies byte by byte.
pub fn decompress(data: &[u8], uncompressed_len: u64) -> Result<Vec<u8>, LzfError> {
    let want = checked_want(data, uncompressed_len)?;
    // `want` is bounded by `plausible`: at most MAX_LZF_UNCOMPRESSED and
    // what `data` can expand to.
    let mut out = vec![0u8; want];
    decompress_into(data, &mut out)?;
    Ok(out)
}

/// [`decompress`] into `out`, which must be exactly as long as the
/// declared uncompressed length (a caller that allocates the output
/// elsewhere than the heap, after [`checked_want`]): the same checks, the
/// same errors, the same bytes.
pub fn decompress_into(data: &[u8], out: &mut [u8]) -> Result<(), LzfError> {
    if data.is_empty() {
        return Err(LzfError::Corrupt);
    }
    let (ip, op) = decompress_roomy(data, out);
    decompress_from(data, out, ip, op)
}

/// [`decompress_into`] without the fast loop: every token through the
/// checked steps. The reference the fast loop is tested and fuzzed
/// against.
pub fn decompress_into_stepwise(data: &[u8], out: &mut [u8]) -> Result<(), LzfError> {
    if data.is_empty() {
        return Err(LzfError::Corrupt);
    }
    decompress_from(data, out, 0, 0)
}

/// Input bytes a token of [`decompress_roomy`] may read from its control
/// byte on: a literal run is copied as 32 bytes whatever its length.
const ROOMY_IN: usize = 33;

/// Output bytes past its own a token of [`decompress_roomy`] may write.
const ROOMY_OUT: usize = 32;

/// The tokens of `data` that have room around them, inflated with copies
/// of a fixed size: a literal run as 32 bytes, a back reference 32, 16 or
/// 8 bytes at a time as far as it lies behind, a shorter period by
/// doubling. Bytes written past a token's end are garbage that the tokens
/// after it overwrite: a stream that inflates to exactly `out.len()`
/// bytes writes every byte in order, and a reference only reads bytes
/// already final. (A stream that fails leaves `out` unspecified, as it
/// always did.) Stops at the first token without that room or that is not
/// plainly valid (it may still be: the checked steps decide) and returns
/// where: the control byte and the output position, as the checked steps
/// would have reached them.
#[inline]
fn decompress_roomy(data: &[u8], out: &mut [u8]) -> (usize, usize) {
    let mut ip = 0usize;
    let mut op = 0usize;
    let want = out.len();
    while ip + ROOMY_IN < data.len() && op + ROOMY_OUT <= want {
        let ctrl = usize::from(data.get(ip).copied().unwrap_or(0));
        if ctrl < 32 {
            let (Some(src), Some(dst)) = (
                data.get(ip + 1..).and_then(|d| d.first_chunk::<32>()),
                out.get_mut(op..).and_then(|o| o.first_chunk_mut::<32>()),
            ) else {
                break;
            };
            *dst = *src;
            ip += ctrl + 2;
            op += ctrl + 1;
            continue;
        }
        let Some((len, distance, next)) = back_reference(data, ip + 1, ctrl) else {
            break;
        };
        let len = len + 2;
        if distance > op || op + len + ROOMY_OUT > want {
            break;
        }
        let start = op - distance;
        if distance >= 32 {
            copy_chunks::<32>(out, start, op, len);
        } else if distance >= 16 {
            copy_chunks::<16>(out, start, op, len);
        } else if distance >= 8 {
            copy_chunks::<8>(out, start, op, len);
        } else {
            // A short period (runs of one byte, mostly): 8 bytes copied
            // from `start` make `distance` more right, each time doubling
            // the period written out, until pieces of 8 apply.
            let mut to = op;
            while to - start < 8 {
                copy_piece::<8>(out, start, to);
                to += to - start;
            }
            copy_chunks::<8>(out, start, to, (op + len).saturating_sub(to));
        }
        ip = next;
        op += len;
    }
    (ip, op)
}

/// Copies `len` bytes from `start` to `op` in pieces of `N`, rounded up:
/// the caller makes sure `out` has room for the last piece, and that
/// `op - start >= N`, so that each piece reads only bytes already final.
#[inline(always)]
fn copy_chunks<const N: usize>(out: &mut [u8], start: usize, op: usize, len: usize) {
    // Most references take one piece: no loop set up for it.
    copy_piece::<N>(out, start, op);
    let mut copied = N;
    while copied < len {
        copy_piece::<N>(out, start + copied, op + copied);
        copied += N;
    }
}

/// `out[to..to + N] = out[from..from + N]`, the bytes read before any is
/// written; nothing when either is out of `out`.
#[inline(always)]
fn copy_piece<const N: usize>(out: &mut [u8], from: usize, to: usize) {
    let Some(piece) = out.get(from..).and_then(|o| o.first_chunk::<N>()).copied() else {
        return;
    };
    if let Some(dst) = out.get_mut(to..).and_then(|o| o.first_chunk_mut::<N>()) {
        *dst = piece;
    }
}

/// Copies `len` bytes from `start` to `op` (`start < op`), byte by byte in
/// effect: when the reference overlaps what it writes (distance < len)
/// the pattern repeats, which copying whole periods preserves (the region
/// to copy from doubles each time, and stays in phase).
#[inline(always)]
fn copy_reference(out: &mut [u8], start: usize, op: usize, len: usize) {
    let distance = op - start;
    let mut copied = 0;
    while copied < len {
        let chunk = (len - copied).min(distance + copied);
        out.copy_within(start..start + chunk, op + copied);
        copied += chunk;
    }
}

/// The checked steps of [`decompress_into`], from control byte `ip` and
/// output position `op` on.
fn decompress_from(data: &[u8], out: &mut [u8], ip: usize, op: usize) -> Result<(), LzfError> {
    let want = out.len();
    let mut ip = ip;
    let mut op = op;
    while let Some(&ctrl) = data.get(ip) {
        ip += 1;
        let ctrl = usize::from(ctrl);
        if ctrl < 32 {
            let run = ctrl + 1;
            let literal = data.get(ip..ip + run).ok_or(LzfError::Corrupt)?;
            let dst = out.get_mut(op..op + run).ok_or(LzfError::Corrupt)?;
            dst.copy_from_slice(literal);
            op += run;
            ip += run;
        } else {
            let (len, distance, next) = back_reference(data, ip, ctrl).ok_or(LzfError::Corrupt)?;
            ip = next;
            let len = len + 2;
            if op + len > want || distance > op {
                return Err(LzfError::Corrupt);
            }
            copy_reference(out, op - distance, op, len);
            op += len;
        }
    }
    if op == want {
        Ok(())
    } else {
        Err(LzfError::Corrupt)
    }
}

/// The declared length as a `usize`, once [`plausible`] for `data`.
pub fn checked_want(data: &[u8], uncompressed_len: u64) -> Result<usize, LzfError> {
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
    Ok(want)
}

/// Decodes the back reference whose control byte `ctrl` (32..=255) was just
/// read, with `ip` at the byte after it: the length code ((ctrl >> 5) - 2
/// bytes to copy, 7 meaning an extra length byte follows), the distance
/// (1..=8192, from the low 5 bits and one more byte), and the offset of the
/// next control byte. `None` when the stream ends inside the reference.
#[inline(always)]
fn back_reference(data: &[u8], ip: usize, ctrl: usize) -> Option<(usize, usize, usize)> {
    let mut len = ctrl >> 5;
    let mut ip = ip;
    if len == 7 {
        len += usize::from(*data.get(ip)?);
        ip += 1;
    }
    let distance = ((ctrl & 0x1f) << 8) + 1 + usize::from(*data.get(ip)?);
    Some((len, distance, ip + 1))
}

/// The farthest a back reference reaches: 13 bits of distance, plus one.
const LZF_WINDOW: usize = 8192;

/// Streams shorter than this are validated by the loop with checked reads.
const SHORT_STREAM: usize = 64;

/// Input bytes walked between two checks of the output length in
/// [`validate`]: bounds how far past the declared length the output
/// position can run before the walk stops (at most 132 output bytes per
/// input byte), so it cannot overflow even with a 32-bit `usize`.
const VALIDATE_CHUNK: usize = 4096;

/// Bytes [`skip_pairs`] reads from a position on.
const PAIR_READ: usize = 8;

/// Whether `ctrl` starts a short back reference (two bytes, 32 <= ctrl <
/// 224), in one comparison.
#[inline(always)]
fn short_reference(ctrl: u8) -> bool {
    ctrl.wrapping_sub(32) < 192
}

/// The walk of [`validate`] past the first 8 KiB of output, from control
/// byte `ip` while `ip + PAIR_READ <= window.len()`: returns where it
/// stopped and the output position then. Short back references are nine
/// in ten tokens of text: up to four of them are taken per step, from one
/// read of eight bytes, with a branch each that the predictor gets right
/// as often. (Taking four at once without branches, from their length codes
/// summed in a word, halved the instructions but doubled the time: each
/// step then waited for the bytes of the last.)
///
/// What is tracked is how far the output is ahead of the input, which a
/// short reference moves by its length code alone.
#[inline(always)]
fn skip_pairs(window: &[u8], mut ip: usize, out: usize) -> (usize, usize) {
    let Some(end) = window.len().checked_sub(PAIR_READ) else {
        return (ip, out);
    };
    let mut ahead = out.wrapping_sub(ip);
    while ip < end {
        let Some(&[c0, n0, c1, n1, c2, n2, c3, n3]) =
            window.get(ip..).and_then(|d| d.first_chunk::<8>())
        else {
            break;
        };
        if !short_reference(c0) {
            (ip, ahead) = any_far_token(ip, ahead, c0, n0);
            continue;
        }
        ahead = ahead.wrapping_add(usize::from(c0 >> 5));
        if !short_reference(c1) {
            (ip, ahead) = any_far_token(ip + 2, ahead, c1, n1);
            continue;
        }
        ahead = ahead.wrapping_add(usize::from(c1 >> 5));
        if !short_reference(c2) {
            (ip, ahead) = any_far_token(ip + 4, ahead, c2, n2);
            continue;
        }
        ahead = ahead.wrapping_add(usize::from(c2 >> 5));
        if !short_reference(c3) {
            (ip, ahead) = any_far_token(ip + 6, ahead, c3, n3);
            continue;
        }
        ahead = ahead.wrapping_add(usize::from(c3 >> 5));
        ip += 8;
    }
    (ip, ahead.wrapping_add(ip))
}

/// One token past the first 8 KiB of output, `ctrl` at `ip` and `next`
/// the byte after it, for [`skip_pairs`]: the next control byte, and how
/// far the output is then ahead of it.
#[inline(always)]
fn any_far_token(ip: usize, ahead: usize, ctrl: u8, next: u8) -> (usize, usize) {
    let ctrl = usize::from(ctrl);
    if ctrl < 32 {
        // ctrl + 2 bytes in, ctrl + 1 out.
        (ip + ctrl + 2, ahead.wrapping_sub(1))
    } else if ctrl < 7 << 5 {
        (ip + 2, ahead.wrapping_add(ctrl >> 5))
    } else {
        // 3 bytes in, 9 + next out.
        (ip + 3, ahead.wrapping_add(6 + usize::from(next)))
    }
}

/// Checks that `data` inflates to exactly `uncompressed_len` bytes, as
/// [`decompress`] would, without producing them: only the output position
/// is tracked, since a back reference is valid exactly when it points into
/// what was already produced. For strings whose bytes nobody reads (a
/// string value, a list item) this replaces an allocation and a copy with a
/// walk over the control bytes.
///
/// Only the back-reference distance must be checked as it comes; the other
/// conditions (input and output lengths) grow monotonically, so the main
/// loop checks them once per chunk, the loop for short streams once at the
/// end, and the verdict is the same as checking at every step.
#[inline]
pub fn validate(data: &[u8], uncompressed_len: u64) -> Result<(), LzfError> {
    let want = checked_want(data, uncompressed_len)?;
    let mut ip = 0usize;
    let mut out = 0usize;
    // While three bytes remain every back reference is complete: read
    // without per-step length checks. A short stream is left to the
    // loop with checked reads below, which costs less to start.
    let safe_end = if data.len() < SHORT_STREAM {
        0
    } else {
        data.len() - 2
    };
    while ip < safe_end {
        let chunk_end = safe_end.min(ip + VALIDATE_CHUNK);
        // `window` ends two bytes past `chunk_end`, so the bytes a token
        // at `ip < chunk_end` reads are inside it.
        let window = data.get(..chunk_end + 2).unwrap_or_default();
        if out >= LZF_WINDOW {
            // No back reference can reach before the start any more.
            let pairs = data
                .get(..data.len().min(chunk_end + PAIR_READ))
                .unwrap_or_default();
            (ip, out) = skip_pairs(pairs, ip, out);
            while ip < chunk_end {
                let ctrl = usize::from(window.get(ip).copied().unwrap_or(0));
                if ctrl < 32 {
                    // A literal run of ctrl+1 bytes; may overrun `data`,
                    // which the check after the chunk catches.
                    ip += ctrl + 2;
                    out += ctrl + 1;
                } else if ctrl < 7 << 5 {
                    ip += 2;
                    out += (ctrl >> 5) + 2;
                } else {
                    ip += 3;
                    out += 9 + usize::from(window.get(ip - 2).copied().unwrap_or(0));
                }
            }
        } else {
            while ip < chunk_end {
                let ctrl = usize::from(window.get(ip).copied().unwrap_or(0));
                if ctrl < 32 {
                    ip += ctrl + 2;
                    out += ctrl + 1;
                } else {
                    let Some((len, distance, next)) = back_reference(window, ip + 1, ctrl) else {
                        return Err(LzfError::Corrupt);
                    };
                    if distance > out {
                        return Err(LzfError::Corrupt);
                    }
                    ip = next;
                    out += len + 2;
                }
            }
        }
        if ip > data.len() || out > want {
            return Err(LzfError::Corrupt);
        }
    }
    // A short stream, or the last one or two bytes of a long one.
    if walk_checked(data, ip, out) == Some(want) {
        Ok(())
    } else {
        Err(LzfError::Corrupt)
    }
}

/// [`validate`]'s verdict alone, with the short streams of small values
/// (most LZF strings of most files) walked inline: no call, and no error
/// value to build.
#[inline(always)]
pub fn is_valid(data: &[u8], uncompressed_len: u64) -> bool {
    if data.len() >= SHORT_STREAM {
        return validate(data, uncompressed_len).is_ok();
    }
    match checked_want(data, uncompressed_len) {
        Ok(want) => walk_checked(data, 0, 0) == Some(want),
        Err(_) => false,
    }
}

/// The output length of the tokens from control byte `ip` to the end of
/// `data`, `out` bytes having been produced before them; `None` when a
/// back reference reaches before the start or the last token runs past
/// the end. Every read is checked; the output position is not, so this is
/// for the last 63 input bytes at most (it cannot overflow).
#[inline(always)]
fn walk_checked(data: &[u8], mut ip: usize, mut out: usize) -> Option<usize> {
    while let Some(&ctrl) = data.get(ip) {
        let ctrl = usize::from(ctrl);
        if ctrl < 32 {
            ip += ctrl + 2;
            out += ctrl + 1;
        } else {
            let (len, distance, next) = back_reference(data, ip + 1, ctrl)?;
            if distance > out {
                return None;
            }
            ip = next;
            out += len + 2;
        }
    }
    (ip == data.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `lzf` crate's decompressor, which redcheck used before writing
    /// its own, held to the same exact-length rule.
    fn reference(data: &[u8], want: u64) -> Option<Vec<u8>> {
        let out = ::lzf::decompress(data, usize::try_from(want).ok()?).ok()?;
        (out.len() as u64 == want).then_some(out)
    }

    /// Ours and the reference agree on `data` declared as `want` bytes:
    /// the same bytes or both a failure, and `validate` says the same.
    fn agrees(data: &[u8], want: u64) {
        if !plausible(data.len() as u64, want) {
            assert!(matches!(
                decompress(data, want),
                Err(LzfError::ImplausibleLength { .. })
            ));
            return;
        }
        let expected = reference(data, want);
        assert_eq!(
            decompress(data, want).ok(),
            expected,
            "decompress {data:02X?} as {want}"
        );
        let mut into = vec![0u8; want as usize];
        let into = decompress_into(data, &mut into).map(|()| into);
        assert_eq!(into.ok(), expected, "decompress_into {data:02X?} as {want}");
        let mut stepwise = vec![0u8; want as usize];
        let stepwise = decompress_into_stepwise(data, &mut stepwise).map(|()| stepwise);
        assert_eq!(stepwise.ok(), expected, "stepwise {data:02X?} as {want}");
        assert_eq!(
            validate(data, want).is_ok(),
            expected.is_some(),
            "validate {data:02X?} as {want}"
        );
        assert_eq!(
            is_valid(data, want),
            expected.is_some(),
            "is_valid {data:02X?} as {want}"
        );
    }

    /// Deterministic bytes for the differential tests: the sampler's
    /// generator, with `below` for slice indices.
    struct Rng(crate::inspect::sample::SplitMix64);

    impl Rng {
        fn new(seed: u64) -> Self {
            Rng(crate::inspect::sample::SplitMix64::new(seed))
        }

        fn next(&mut self) -> u64 {
            self.0.next_u64()
        }

        fn below(&mut self, n: usize) -> usize {
            self.0.below(n as u64) as usize
        }
    }

    /// Texts that make the compressor emit every kind of token: literals
    /// of every run length, short and long back references, references
    /// that overlap what they write (runs of one byte, short periods), and
    /// references up to the 8 KiB window.
    fn texts() -> Vec<Vec<u8>> {
        let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
        let mut out = vec![
            b"a".repeat(1000),
            b"ab".repeat(700),
            b"abc".repeat(5),
            b"hello hello hello hello hello world world world".repeat(30),
        ];
        // Every short period the fast loop copies differently (below 8,
        // below 16, beyond), each long enough to get past the first 8 KiB
        // that the validator checks distances in, with runs of it broken
        // by random bytes.
        for period in 1..=18usize {
            let unit: Vec<u8> = (0..period).map(|_| rng.next() as u8).collect();
            let mut t = Vec::new();
            while t.len() < 12_000 {
                let run = 1 + rng.below(300);
                t.extend(unit.iter().cycle().take(run));
                t.extend((0..rng.below(40)).map(|_| rng.next() as u8));
            }
            out.push(t);
        }
        for size in [3usize, 31, 32, 33, 100, 2000, 9000, 40_000] {
            // Words from a small vocabulary: many references, few literals.
            let words: [&[u8]; 6] = [b"lorem ", b"ipsum ", b"dolor ", b"x", b"yy", b"\0\0\0\0"];
            let mut t = Vec::new();
            while t.len() < size {
                t.extend_from_slice(words[rng.below(words.len())]);
            }
            t.truncate(size);
            out.push(t);
            // Random bytes with repeated stretches far apart.
            let mut t: Vec<u8> = (0..size).map(|_| rng.next() as u8).collect();
            for _ in 0..size / 50 {
                let len = 3 + rng.below(300);
                let from = rng.below(size);
                let to = rng.below(size);
                for i in 0..len {
                    if let (Some(&b), true) = (t.get(from + i), to + i < size) {
                        t[to + i] = b;
                    }
                }
            }
            out.push(t);
        }
        out
    }

    #[test]
    fn decompress_and_validate_match_the_reference() {
        for text in texts() {
            let packed = ::lzf::compress(&text).unwrap_or_else(|_| {
                // Incompressible: store it as literal runs of 32.
                text.chunks(32)
                    .flat_map(|c| std::iter::once((c.len() - 1) as u8).chain(c.iter().copied()))
                    .collect()
            });
            let n = text.len() as u64;
            assert_eq!(decompress(&packed, n).as_deref(), Ok(&text[..]));
            assert_eq!(validate(&packed, n), Ok(()));
            for want in [0, 1, n - 1, n + 1, n * 2] {
                agrees(&packed, want);
            }
            // Every truncation of the small ones, a spread of the large.
            let step = (packed.len() / 400).max(1);
            for cut in (0..packed.len()).step_by(step) {
                agrees(&packed[..cut], n);
            }
            let mut rng = Rng::new(packed.len() as u64 | 1);
            let mut work = packed.clone();
            for _ in 0..400.min(packed.len() * 8) {
                let at = rng.below(packed.len());
                work[at] ^= 1 << rng.below(8);
                agrees(&work, n);
                work[at] = packed[at];
            }
        }
    }

    #[test]
    fn random_streams_match_the_reference() {
        let mut rng = Rng::new(42);
        for _ in 0..20_000 {
            let len = 1 + rng.below(24);
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            agrees(&data, rng.below(120) as u64);
        }
    }

    #[test]
    fn overlapping_references_repeat_their_period() {
        // "abc", then a reference 3 back for 2+7+20 = 29 bytes.
        let data = [0x02, b'a', b'b', b'c', 0xE0, 20, 0x02];
        let got = decompress(&data, 32).expect("valid");
        assert_eq!(got, b"abc".repeat(11)[..32].to_vec());
        agrees(&data, 32);
        // One byte repeated: distance 1, 264 bytes (the longest reference).
        let data = [0x00, b'z', 0xE0, 255, 0x00];
        assert_eq!(decompress(&data, 265).expect("valid"), vec![b'z'; 265]);
        agrees(&data, 265);
        // The farthest distance, 8192 (low 5 bits 31, next byte 255), right
        // after 8192 literal bytes, then one byte too far.
        let text: Vec<u8> = (0..8192u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut data: Vec<u8> = text
            .chunks(32)
            .flat_map(|c| std::iter::once(31u8).chain(c.iter().copied()))
            .collect();
        data.extend_from_slice(&[0x3F, 0xFF]);
        let mut want = text.clone();
        want.extend_from_slice(&text[..3]);
        assert_eq!(decompress(&data, 8195), Ok(want));
        agrees(&data, 8195);
        // The same with a first run one byte shorter: 8191 bytes precede.
        let mut too_far = vec![30];
        too_far.extend_from_slice(&text[..31]);
        too_far.extend_from_slice(&data[33..]);
        assert_eq!(validate(&too_far[..too_far.len() - 2], 8191), Ok(()));
        assert_eq!(decompress(&too_far, 8194), Err(LzfError::Corrupt));
        agrees(&too_far, 8194);
    }

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
