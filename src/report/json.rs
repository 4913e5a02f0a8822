//! The `verify --json` wire format, schema version 1. Field names and
//! meanings never change; fields may be added.
//!
//! A byte string (a key) is a JSON string when it is valid UTF-8, otherwise
//! `{"base64": "..."}`.

use crate::aof::AofReport;
use crate::rdb::LogicalType;
use crate::verify::{Finding, RdbReport};
use serde::Serialize;
use serde_json::{Value, json};

pub const SCHEMA_VERSION: u32 = 1;

/// A byte string in JSON.
pub fn bytes_value(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => json!({ "base64": base64(b) }),
    }
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(b: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = match *chunk {
            [a, b, c] => (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c),
            [a, b] => (u32::from(a) << 16) | (u32::from(b) << 8),
            [a] => u32::from(a) << 16,
            _ => 0,
        };
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[derive(Serialize)]
pub struct FindingJson {
    pub offset: u64,
    pub db: Option<u64>,
    pub key: Option<Value>,
    #[serde(rename = "type")]
    pub type_name: Option<&'static str>,
    pub message: String,
}

impl From<&Finding> for FindingJson {
    fn from(f: &Finding) -> Self {
        FindingJson {
            offset: f.offset,
            db: f.db,
            key: f.key.as_deref().map(bytes_value),
            type_name: f.type_name,
            message: f.message.clone(),
        }
    }
}

pub fn findings(list: &[Finding]) -> Vec<FindingJson> {
    list.iter().map(FindingJson::from).collect()
}

/// The verify report of one RDB, plus `extra` fields (gates, notes) merged
/// in by the caller.
pub fn rdb_report(path: &str, r: &RdbReport, errors: &[Finding], warnings: &[Finding]) -> Value {
    let dbs: Vec<Value> = r
        .dbs
        .iter()
        .map(|(db, s)| {
            json!({
                "db": db,
                "keys": s.keys,
                "expires": s.expires,
                "already_expired": s.already_expired,
                "slot_info": s.slot_info.map(|c| json!({
                    "slots": c.slots,
                    "keys": c.keys,
                    "expires": c.expires,
                })),
            })
        })
        .collect();
    let mut types = serde_json::Map::new();
    for t in LogicalType::ALL {
        if let Some(n) = r.types.get(&t) {
            types.insert(t.name().to_string(), json!(n));
        }
    }
    let aux: serde_json::Map<String, Value> = r
        .aux
        .iter()
        .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), bytes_value(v)))
        .collect();
    let checksum_detail = match r.checksum {
        crate::verify::Checksum::Mismatch { stored, computed } => {
            json!({"stored": format!("{stored:016x}"), "computed": format!("{computed:016x}")})
        }
        crate::verify::Checksum::Ok(v) => json!({"stored": format!("{v:016x}")}),
        _ => Value::Null,
    };
    json!({
        "schema_version": SCHEMA_VERSION,
        "path": path,
        "format": "rdb",
        "ok": errors.is_empty(),
        "magic": r.header.map(|h| h.magic.as_str()),
        "rdb_version": r.header.map(|h| h.version),
        "checksum": r.checksum.as_str(),
        "checksum_detail": checksum_detail,
        "size": r.size,
        "keys": r.keys,
        "expires": r.expires,
        "already_expired": r.already_expired,
        "keys_with_field_ttl": r.keys_with_field_ttl,
        "dbs": dbs,
        "types": types,
        "encodings": r.encodings,
        "aux": aux,
        "functions": r.functions,
        "modules": r.modules,
        "module_aux": r.module_aux,
        "loadable_by": r.header.map(|h| h.loadable_by()).unwrap_or_default(),
        "errors": findings(errors),
        "warnings": findings(warnings),
    })
}

/// The verify report of one AOF (single file or multi-part set).
/// `file_paths` holds the path to show for each entry of `r.files`;
/// `errors` and `warnings` are the final lists (see
/// [`AofReport::flattened_findings`]).
pub fn aof_report(
    path: &str,
    r: &AofReport,
    file_paths: &[String],
    errors: &[Finding],
    warnings: &[Finding],
) -> Value {
    let files: Vec<Value> = r
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let shown = file_paths
                .get(i)
                .cloned()
                .unwrap_or_else(|| String::from_utf8_lossy(&f.name).into_owned());
            let rdb = f.rdb.as_ref().map(|rdb| {
                json!({
                    "magic": rdb.header.map(|h| h.magic.as_str()),
                    "rdb_version": rdb.header.map(|h| h.version),
                    "checksum": rdb.checksum.as_str(),
                    "keys": rdb.keys,
                    "expires": rdb.expires,
                    "end_offset": rdb.end_offset,
                })
            });
            let first_error = f
                .first_error
                .as_ref()
                .map(|e| json!({"offset": e.offset, "line": e.line, "message": e.message}));
            json!({
                "path": shown,
                "name": bytes_value(&f.name),
                "kind": f.kind.as_str(),
                "seq": f.seq,
                "size": f.size,
                "commands": f.commands,
                "valid_up_to": f.valid_up_to,
                "ok": f.ok(),
                "checked": f.checked,
                "torn_tail": f.errors.is_empty() && f.tail.is_torn(),
                "first_error": first_error,
                "first_ts": f.first_ts,
                "last_ts": f.last_ts,
                "rdb": rdb,
            })
        })
        .collect();
    let flushes: Vec<Value> = r
        .flushes
        .iter()
        .map(|ev| {
            json!({
                "command": ev.command,
                "db": ev.db,
                "file": r.files.get(ev.file_index).map(|f| bytes_value(&f.name)),
                "offset": ev.offset,
                "cut_offset": ev.cut_offset,
                "last_ts": ev.last_ts,
            })
        })
        .collect();
    json!({
        "schema_version": SCHEMA_VERSION,
        "path": path,
        "format": r.form.as_str(),
        "ok": errors.is_empty(),
        "clean": r.clean(),
        "commands": r.commands,
        "commands_by_name": r.commands_by_name,
        "dbs_touched": r.dbs,
        "first_ts": r.first_ts,
        "last_ts": r.last_ts,
        "flush_count": r.flush_count,
        "flushes": flushes,
        "rdb_keys": r.rdb_keys,
        "files": files,
        "errors": findings(errors),
        "warnings": findings(warnings),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn non_utf8_bytes_become_base64_objects() {
        assert_eq!(bytes_value(b"key"), json!("key"));
        assert_eq!(bytes_value(&[0xff, 0x00]), json!({"base64": "/wA="}));
    }
}
