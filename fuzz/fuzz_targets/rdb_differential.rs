//! The parallel verifier's report equals the sequential one: `[threads, batch, budget][RDB]`. See `fuzz/harness.rs`.
#![no_main]
#[path = "../harness.rs"]
#[allow(dead_code)] // each target uses one of its functions
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::rdb_differential(data));
