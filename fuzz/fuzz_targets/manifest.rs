//! The multi-part manifest, and parse -> to_bytes -> parse round trip. See `fuzz/harness.rs`.
#![no_main]
#[path = "../harness.rs"]
#[allow(dead_code)] // each target uses one of its functions
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::manifest(data));
