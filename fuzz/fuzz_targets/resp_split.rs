//! Differential: scanning RESP whole equals scanning it split at an item boundary. See `fuzz/harness.rs`.
#![no_main]
#[path = "../harness.rs"]
#[allow(dead_code)] // each target uses one of its functions
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::resp_split(data));
