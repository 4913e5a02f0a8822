//! Salvage, extract and verify any bytes. See `fuzz/harness.rs`.
#![no_main]
#[path = "../harness.rs"]
#[allow(dead_code)] // each target uses one of its functions
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::salvage(data));
