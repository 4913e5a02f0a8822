//! The one library call behind each fuzz target.
//!
//! Shared by `fuzz/fuzz_targets/*.rs` (each is `fuzz_target!(|d| harness::NAME(d))`)
//! and by `tests/fuzz_regressions.rs`, which replays every file under
//! `testdata/fuzz-regressions/<target>/` through the function of the same
//! name — so a crasher is replayed by exactly the code that found it.
//! Depends only on the `redcheck` library; panics (including the round-trip
//! and split assertions) are the findings.

use redcheck::aof::manifest::Manifest;
use redcheck::aof::resp::{Commands, Dialect, Item, RespError};
use redcheck::aof::{AofOptions, verify_single};
use redcheck::encoding::{intset, listpack, stream, walks_disagree, ziplist, zipmap};
use redcheck::rdb::{Header, ValueType};
use redcheck::verify::value::{Scratch, check_value, check_value_with};

/// A fuzz target's body: takes the input, panics on a finding.
pub type Target = fn(&[u8]);

/// Every target, by the name of its file in `fuzz/fuzz_targets/` and its
/// folder in `testdata/fuzz-regressions/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("rdb_file", rdb_file),
    ("rdb_differential", rdb_differential),
    ("salvage", salvage),
    ("rdb_value", rdb_value),
    ("quicklist", quicklist),
    ("ziplist", ziplist),
    ("listpack", listpack),
    ("intset", intset),
    ("zipmap", zipmap),
    ("stream_node", stream_node),
    ("lzf", lzf),
    ("resp", resp),
    ("resp_split", resp_split),
    ("aof_file", aof_file),
    ("manifest", manifest),
];

/// A whole RDB file: framing, every value's deep checks, checksum,
/// duplicate keys.
pub fn rdb_file(data: &[u8]) {
    let _ = redcheck::verify_rdb(data, &redcheck::Options::default());
}

/// The differential target: `[threads, batch, budget][RDB]`. The report
/// of the parallel driver (1-4 threads, batches of 1-8 records, a
/// duplicate-key tracker of `budget` keys, which forces extra passes;
/// for half the inputs, speculative segments of 8-248 bytes whose first
/// boundary 1-4 records confirm, so that guesses land everywhere) must
/// equal the sequential verifier's with default options, field for field;
/// so must the report of the same bytes read as a stream through a small
/// window.
pub fn rdb_differential(data: &[u8]) {
    let Some((&[threads, batch, budget], rdb)) = data.split_first_chunk::<3>() else {
        return;
    };
    let base = redcheck::Options {
        now_ms: 1_800_000_000_000,
        ..redcheck::Options::default()
    };
    let sequential = redcheck::verify_rdb(rdb, &base);
    let options = redcheck::Options {
        dup_key_budget: usize::from(budget).saturating_mul(8),
        ..base.clone()
    };
    let driver = redcheck::driver::DriverOptions {
        threads: usize::from(threads % 4) + 1,
        batch_records: usize::from(batch % 8) + 1,
        // Windows of 9 to 520 bytes cut records everywhere.
        stream_window: 9 + usize::from(budget) * 2,
        stream_max_record: 0,
        segment_bytes: match batch {
            0x80.. => 0,
            _ => 8 + usize::from(batch >> 3) * 16,
        },
        sync_records: 1 + usize::from((threads >> 2) & 3),
        max_wasted_segments: match threads {
            0x80.. => usize::MAX,
            _ => 0,
        },
    };
    let parallel =
        redcheck::driver::verify_rdb(rdb, &options, driver, &redcheck::driver::NoProgress);
    assert_eq!(
        format!("{parallel:?}"),
        format!("{sequential:?}"),
        "{driver:?}, budget {budget} keys"
    );
    // Read as a stream, the report is the same, except that duplicate
    // keys cannot be named without a second pass.
    let has_duplicates = sequential
        .errors
        .iter()
        .any(|e| e.message.starts_with("duplicate key"));
    let mut input = rdb;
    if let Ok(streamed) = redcheck::driver::verify_rdb_stream(
        &mut input,
        &base,
        driver,
        &redcheck::driver::NoProgress,
    ) && !has_duplicates
    {
        assert_eq!(
            format!("{:?}", streamed.report),
            format!("{sequential:?}"),
            "stream, {driver:?}"
        );
    }
}

/// Salvage of any bytes, then extraction of what it kept, then
/// verification of the extracted file: none may panic or hang, however
/// little of the input is an RDB. (The CLI refuses to write an extract
/// that does not verify; that is a verdict, not a finding.) The
/// bounded-memory path the CLI takes must agree with the collecting one:
/// same regions and counts, and the same extracted bytes.
pub fn salvage(data: &[u8]) {
    use redcheck::salvage::{
        SalvageOptions, extract_rdb, extract_to, salvage_rdb, salvage_summary,
    };
    let options = SalvageOptions::default();
    let report = salvage_rdb(data, &options);
    let summary = salvage_summary(data, &options);
    assert!(summary.regions == report.regions, "streamed regions differ");
    assert_eq!(
        summary.intact_keys() + summary.suspect_keys(),
        report.keys.len() as u64
    );
    for include_suspect in [false, true] {
        let whole = extract_rdb(data, &report, include_suspect);
        let streamed = extract_to(data, &summary, &options, include_suspect, Vec::new())
            .map(|r| r.expect("writing to memory").0);
        assert!(whole == streamed, "streamed extract differs");
        if let Some(out) = whole {
            let _ = redcheck::verify_rdb(&out, &redcheck::Options::default());
        }
    }
}

/// The header a one-value input is read under: Redis RDB 1..=14 for
/// selector bytes below 0x80 (each version has its own rules for some
/// types), Valkey 9's `VALKEY080` above.
fn header_for(selector: u8) -> Header {
    let magic: Vec<u8> = if selector & 0x80 != 0 {
        b"VALKEY080".to_vec()
    } else {
        format!("REDIS{:04}", u32::from(selector % 14) + 1).into_bytes()
    };
    Header::parse(&magic).expect("a well-formed magic")
}

/// One value of any type: `[version selector][type byte][payload]`, the
/// payload walked by `walk_value` with the deep-checking visitor, and
/// checked again by the fast path for small values, which must agree.
pub fn rdb_value(data: &[u8]) {
    let [selector, type_byte, payload @ ..] = data else {
        return;
    };
    let header = header_for(*selector);
    if let Ok(t) = ValueType::from_byte(&header, *type_byte) {
        let unbounded = check_value(payload, &header, t, payload);
        // The fast path for small values answers as the full walk does.
        let walked = check_value_with(
            payload,
            &header,
            t,
            payload,
            &mut Scratch::default().without_fast_path(),
        );
        assert_eq!(
            format!("{walked:?}"),
            format!("{unbounded:?}"),
            "the fast path changed the verdict"
        );
        // The smallest budget (a few thousand members): walks by range,
        // and spilling to temporary files, must say what one unbounded
        // walk says.
        let spill = Some(redcheck::source::SPILL_TO_TEMP_FILES);
        for mut scratch in [
            Scratch::with_budget(0),
            Scratch::with_budget(0).with_spill(spill),
        ] {
            let bounded = check_value_with(payload, &header, t, payload, &mut scratch);
            if !matches!(&bounded, Err(e) if e.to_string().contains("could not run")) {
                assert_eq!(
                    format!("{bounded:?}"),
                    format!("{unbounded:?}"),
                    "budget changed the verdict"
                );
            }
        }
    }
}

/// A quicklist value (v1: ziplist nodes, RDB 7+; v2: plain and packed
/// listpack nodes, RDB 10+): `[selector][payload]`, the selector's low bit
/// choosing the version.
pub fn quicklist(data: &[u8]) {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let (t, version) = if selector & 1 == 0 {
        (ValueType::ListQuicklist, "REDIS0009")
    } else {
        (ValueType::ListQuicklist2, "REDIS0011")
    };
    let header = Header::parse(version.as_bytes()).expect("a well-formed magic");
    let _ = check_value(payload, &header, t, payload);
}

pub fn ziplist(data: &[u8]) {
    let _ = ziplist::validate(data);
    if let Ok(zl) = ziplist::Ziplist::parse(data) {
        let iterated: Vec<_> = zl.elements().collect();
        assert_eq!(walks_disagree(&zl, &iterated), None);
    }
}

pub fn listpack(data: &[u8]) {
    let _ = listpack::validate(data);
    if let Ok(lp) = listpack::Listpack::parse(data) {
        let iterated: Vec<_> = lp.elements().collect();
        assert_eq!(walks_disagree(&lp, &iterated), None);
    }
}

pub fn intset(data: &[u8]) {
    let _ = intset::validate(data);
}

pub fn zipmap(data: &[u8]) {
    let _ = zipmap::validate(data);
}

/// A stream node listpack: `[16-byte big-endian master ID][listpack]`, as
/// the node's key in the stream's radix tree gives it.
pub fn stream_node(data: &[u8]) {
    let Some((id, blob)) = data.split_first_chunk::<16>() else {
        return;
    };
    let master = stream::StreamId::from_be_bytes(id);
    let stepwise = stream::validate_node_stepwise(blob, master);
    // The one-pass check says valid exactly when the slot-by-slot walk
    // does, with the same summary.
    assert_eq!(
        stream::fast::node_summary(blob, master),
        stepwise.as_ref().ok().copied(),
        "the one-pass node check differs from the stepwise walk"
    );
    assert_eq!(stream::validate_node(blob, master).ok(), stepwise.ok());
}

/// LZF inflation with a declared length from the input:
/// `[u32 little-endian declared length][compressed bytes]`.
pub fn lzf(data: &[u8]) {
    let Some((declared, compressed)) = data.split_first_chunk::<4>() else {
        return;
    };
    let declared = u64::from(u32::from_le_bytes(*declared));
    let heap = redcheck::lzf::decompress(compressed, declared);
    // The decoder into a buffer allocated elsewhere (a spill file), the
    // validator that inflates nothing, the checked steps without the fast
    // loops, and the `lzf` crate redcheck's decoder replaced all agree
    // with it.
    if let Ok(want) = redcheck::lzf::checked_want(compressed, declared) {
        let mut out = vec![0u8; want];
        let into = redcheck::lzf::decompress_into(compressed, &mut out).map(|()| out);
        assert!(
            into.as_ref().ok() == heap.as_ref().ok(),
            "decompress_into differs"
        );
        let mut out = vec![0u8; want];
        let stepwise = redcheck::lzf::decompress_into_stepwise(compressed, &mut out).map(|()| out);
        assert!(
            stepwise.as_ref().ok() == heap.as_ref().ok(),
            "the fast loop differs from the checked steps"
        );
        let reference = ::lzf::decompress(compressed, want)
            .ok()
            .filter(|v| v.len() == want);
        assert!(
            reference.as_ref() == heap.as_ref().ok(),
            "differs from the lzf crate"
        );
        assert_eq!(
            redcheck::lzf::validate(compressed, declared).is_ok(),
            heap.is_ok()
        );
    }
}

/// The dialect a RESP input is read in, from its selector byte.
fn dialect_for(selector: u8) -> Dialect {
    if selector & 1 == 0 {
        Dialect::Strict
    } else {
        Dialect::CheckAof
    }
}

/// The RESP command scanner: `[dialect selector][RESP bytes]`, scanned to
/// the end or the first error.
pub fn resp(data: &[u8]) {
    let Some((&selector, resp)) = data.split_first() else {
        return;
    };
    // The fast paths (whole commands, bulk strings) read exactly what the
    // full parser does, and leave the line count and offset where it does.
    fn scan(mut c: Commands<'_>) -> (Vec<Result<Item<'_>, RespError>>, u64, u64) {
        let items: Vec<_> = c.by_ref().collect();
        (items, c.line(), c.offset())
    }
    let fast = scan(Commands::with_dialect(resp, 0, dialect_for(selector)));
    let full = scan(Commands::with_dialect(resp, 0, dialect_for(selector)).without_fast_path());
    assert_eq!(fast, full);
}

/// Differential: scanning must not depend on where the input is split. The
/// items scanned from the whole input equal those scanned from the part
/// before an item boundary followed by those from the part after it
/// (rebased to its absolute offset, line count carried over) — the
/// property a parallel scan of an AOF split at record boundaries relies
/// on. `[dialect selector][split selector][RESP bytes]`.
pub fn resp_split(data: &[u8]) {
    let [selector, split, resp @ ..] = data else {
        return;
    };
    let dialect = dialect_for(*selector);
    let whole: Vec<Result<Item, _>> = Commands::with_dialect(resp, 0, dialect).collect();
    let good = whole.iter().take_while(|i| i.is_ok()).count();
    if good == 0 {
        return;
    }
    // Split just after item `k` (0-based) of the good prefix.
    let k = usize::from(*split) % good;
    let Some(Ok(at_item)) = whole.get(k) else {
        return;
    };
    let cut = usize::try_from(at_item.end()).expect("an offset within the input");
    let (front, back) = resp.split_at(cut);
    let mut first = Commands::with_dialect(front, 0, dialect);
    let mut parts: Vec<Result<Item, _>> = first.by_ref().collect();
    let line = first.line();
    parts.extend(Commands::with_dialect(back, cut as u64, dialect).starting_line(line));
    assert_eq!(whole, parts, "scan split at offset {cut} differs");
}

/// An old-style AOF file, plain RESP or with an RDB preamble: the whole
/// verifier (framing, MULTI/EXEC, command table, annotations, the
/// preamble's RDB).
pub fn aof_file(data: &[u8]) {
    let _ = verify_single(data, b"appendonly.aof", &AofOptions::default());
}

/// The multi-part manifest, and its writer: whatever parses with at least
/// one entry either writes back to bytes that parse to the same entries,
/// or is refused by `to_checked_bytes` (escaping made a line too long for
/// a server to read). A manifest of comments only parses, as the server
/// reads it, but writing it gives an empty file, which no server writes.
pub fn manifest(data: &[u8]) {
    let Ok(m) = Manifest::parse(data, 0) else {
        return;
    };
    if m.entries().next().is_none() {
        return;
    }
    let Ok(written) = m.to_checked_bytes() else {
        return;
    };
    let again = Manifest::parse(&written, 0).expect("checked bytes parse");
    let entries = |m: &Manifest| -> Vec<_> {
        m.entries()
            .map(|i| {
                (
                    i.file_name.clone(),
                    i.file_seq,
                    i.file_type,
                    i.extra.clone(),
                )
            })
            .collect()
    };
    assert_eq!(entries(&m), entries(&again), "manifest round trip");
}
