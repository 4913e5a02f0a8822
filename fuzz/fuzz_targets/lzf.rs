//! LZF inflation with a declared length taken from the input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let declared = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let _ = redcheck::lzf::decompress(&data[4..], u64::from(declared));
});
