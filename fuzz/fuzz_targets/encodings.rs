//! Each packed encoding on its own; the first byte picks which.
#![no_main]
use libfuzzer_sys::fuzz_target;
use redcheck::encoding::{intset, listpack, stream, ziplist, zipmap};

fuzz_target!(|data: &[u8]| {
    let Some((&which, blob)) = data.split_first() else { return };
    match which % 5 {
        0 => drop(ziplist::validate(blob)),
        1 => drop(listpack::validate(blob)),
        2 => drop(intset::validate(blob)),
        3 => drop(zipmap::validate(blob)),
        _ => drop(stream::validate_node(blob, stream::StreamId { ms: 1, seq: 0 })),
    }
});
