//! A whole RDB file: framing, every value's deep checks, checksum, duplicates.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = redcheck::verify_rdb(data, &redcheck::Options::default());
});
