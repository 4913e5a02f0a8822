//! JSON for inspected keys and values (`get`, `sample`, `export --format
//! jsonl`). Byte strings follow the verify contract: a JSON string when
//! valid UTF-8, else `{"base64": ...}`. Scores are JSON numbers, or the
//! strings `"inf"` / `"-inf"`, which JSON cannot hold as numbers.

use super::json::bytes_value;
use crate::inspect::KeyEntry;
use crate::inspect::value::{Materialised, Value};
use serde_json::{Value as Json, json};

fn score(s: f64) -> Json {
    serde_json::Number::from_f64(s).map_or_else(
        || Json::String(crate::inspect::fpconv::dtoa(s)),
        Json::Number,
    )
}

fn id(ms: u64, seq: u64) -> Json {
    Json::String(format!("{ms}-{seq}"))
}

/// A value as JSON.
pub fn value(v: &Value) -> Json {
    match v {
        Value::String(b) => bytes_value(b),
        Value::List(items) | Value::Set(items) => items.iter().map(|b| bytes_value(b)).collect(),
        Value::Zset(m) => m
            .iter()
            .map(|(member, s)| json!({"member": bytes_value(member), "score": score(*s)}))
            .collect(),
        Value::Hash(fields) => fields
            .iter()
            .map(|f| {
                let mut o = json!({"field": bytes_value(&f.field), "value": bytes_value(&f.value)});
                if let Some(ms) = f.expire_ms {
                    o["expire_ms"] = json!(ms);
                }
                o
            })
            .collect(),
        Value::Stream(s) => json!({
            "length": s.meta.length,
            "last_id": id(s.meta.last_id.ms, s.meta.last_id.seq),
            "entries": s.entries.iter().map(|e| json!({
                "id": id(e.id.ms, e.id.seq),
                "fields": e.fields.iter().map(|(f, v)| json!([bytes_value(f), bytes_value(v)])).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "groups": s.groups.iter().map(|g| json!({
                "name": bytes_value(&g.name),
                "last_id": id(g.last_id.ms, g.last_id.seq),
                "entries_read": g.entries_read,
                "pending": g.pending.len(),
                "consumers": g.consumers.iter().map(|c| json!({
                    "name": bytes_value(&c.name),
                    "seen_ms": c.seen_ms,
                    "pending": c.pending.len(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }),
        Value::Module(name) => json!({ "module": name }),
    }
}

/// A key with its value: `db`, `key`, `type`, `encoding`, `expire_ms`,
/// `value`, and `truncated` when a preview budget cut the value.
pub fn key_with_value(e: &KeyEntry<'_>, m: &Materialised) -> Json {
    let mut o = json!({
        "db": e.db,
        "key": bytes_value(&e.key),
        "type": e.logical().name(),
        "encoding": e.encoding(),
        "expire_ms": e.expire_ms,
        "value": value(&m.value),
    });
    if m.truncated {
        o["truncated"] = Json::Bool(true);
    }
    o
}
