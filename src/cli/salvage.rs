//! `verify --salvage`: the salvage report appended to verify's output, as
//! text or as the `salvage` object of the JSON report.

use redcheck::escape_bytes;
use redcheck::report::json::bytes_value;
use redcheck::salvage::{DamagedRegion, SalvageReport, salvage_summary};
use serde_json::{Value, json};
use std::fmt::Write;

pub fn salvage(data: &[u8]) -> SalvageReport {
    salvage_summary(data, &super::salvage_options())
}

fn named(k: &[u8]) -> String {
    format!("'{}'", escape_bytes(k))
}

/// The text section, indented like verify's report.
pub fn text(s: &SalvageReport) -> String {
    let mut o = String::new();
    let intact = s.intact_keys();
    let suspect = s.suspect_keys();
    let _ = writeln!(
        o,
        "  salvage     {} damaged region(s); {intact} keys intact, {suspect} suspect",
        s.regions.len() as u64 + s.dropped_regions
    );
    if let Some(f) = &s.fatal {
        let _ = writeln!(o, "    nothing to salvage: {f}");
        return o;
    }
    for (i, r) in s.regions.iter().enumerate() {
        region_text(&mut o, i + 1, r);
    }
    for k in &s.listed_suspects {
        let _ = writeln!(
            o,
            "    suspect   {} (db {}, offset {}): {}",
            named(&k.key),
            k.db,
            k.offset,
            k.suspect.as_deref().unwrap_or_default()
        );
    }
    if s.header.is_some() && !s.duplicates_fully_checked {
        let _ = writeln!(
            o,
            "    note      more keys than the duplicate-name check holds at once: a repeated name is caught for a fraction of them here, and for all by the verification `extract` runs on its output"
        );
    }
    if s.unlisted_suspects > 0 {
        let _ = writeln!(o, "    suspect   and {} more", s.unlisted_suspects);
    }
    let per_db: Vec<String> = s
        .intact_per_db()
        .iter()
        .map(|(db, n)| format!("db {db}: {n}"))
        .collect();
    if !per_db.is_empty() {
        let _ = writeln!(o, "    intact    {}", per_db.join(", "));
    }
    if !s.suspects.is_empty() {
        let _ = writeln!(
            o,
            "    checksum mismatch with intact structure; most likely corrupted keys (heuristic):"
        );
        for (i, x) in s.suspects.iter().enumerate() {
            let reasons: Vec<String> = x
                .reasons
                .iter()
                .map(|(at, why)| format!("@{at} {why}"))
                .collect();
            let _ = writeln!(
                o,
                "      {}. {} (db {}, offset {}, score {}): {}",
                i + 1,
                named(&x.key),
                x.db,
                x.offset,
                x.score,
                reasons.join("; ")
            );
        }
    }
    o
}

fn region_text(o: &mut String, n: usize, r: &DamagedRegion) {
    let _ = writeln!(
        o,
        "    region {n}  bytes {}..{} ({} bytes), db {}: [offset {}] {}",
        r.start,
        r.end,
        r.end - r.start,
        r.db,
        r.error_offset,
        r.message
    );
    if let Some(k) = &r.key {
        let t = r.key_type.map(|t| t.name()).unwrap_or("?");
        let _ = writeln!(
            o,
            "              lost: {} ({t}), being read when the damage began",
            named(k)
        );
    }
    if !r.names.is_empty() {
        let names: Vec<String> = r
            .names
            .iter()
            .map(|(at, k)| format!("{} @{at}", named(k)))
            .collect();
        let _ = writeln!(
            o,
            "              names seen inside (keys or fields, guesses): {}",
            names.join(", ")
        );
    }
    if let Some(db) = r.db_after {
        let _ = writeln!(
            o,
            "              a SELECTDB {db} inside the region: keys after it are in db {db}"
        );
    }
    let _ = writeln!(
        o,
        "              resumed at {}: {}",
        r.end,
        r.resumed.describe()
    );
}

/// The `salvage` object of the verify JSON report.
pub fn json(s: &SalvageReport) -> Value {
    let dbs: Vec<Value> = s
        .dbs
        .iter()
        .map(|(db, c)| json!({"db": db, "intact": c.intact, "suspect": c.suspect}))
        .collect();
    let regions: Vec<Value> = s
        .regions
        .iter()
        .map(|r| {
            json!({
                "start": r.start,
                "end": r.end,
                "length": r.end - r.start,
                "db": r.db,
                "error_offset": r.error_offset,
                "message": r.message,
                "key": r.key.as_deref().map(bytes_value),
                "type": r.key_type.map(|t| t.name()),
                "names_inside": r.names.iter().map(|(at, k)| json!({"offset": at, "key": bytes_value(k)})).collect::<Vec<_>>(),
                "resumed": r.resumed.describe(),
                "db_after": r.db_after,
            })
        })
        .collect();
    let suspect: Vec<Value> = s
        .listed_suspects
        .iter()
        .map(|k| {
            json!({"offset": k.offset, "db": k.db, "key": bytes_value(&k.key),
                   "type": k.value_type.logical().name(), "reason": k.suspect})
        })
        .collect();
    let ranked: Vec<Value> = s
        .suspects
        .iter()
        .map(|x| {
            json!({"offset": x.offset, "db": x.db, "key": bytes_value(&x.key), "score": x.score,
                   "reasons": x.reasons.iter().map(|(at, why)| json!({"offset": at, "reason": why})).collect::<Vec<_>>()})
        })
        .collect();
    json!({
        "fatal": s.fatal,
        "intact_keys": s.intact_keys(),
        "suspect_keys": s.suspect_keys(),
        "unlisted_suspects": s.unlisted_suspects,
        "duplicates_fully_checked": s.duplicates_fully_checked,
        "dbs": dbs,
        "regions": regions,
        "dropped_regions": s.dropped_regions,
        "suspect": suspect,
        "checksum_suspects": ranked,
    })
}
