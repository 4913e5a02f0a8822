//! `redcheck stats`: what is in a backup and where its memory would go.
//! A table for a terminal, or one JSON object with `--json`.

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE, now_ms, out};
use clap::Args;
use redcheck::escape_bytes;
use redcheck::report::json::bytes_value;
use redcheck::source::Source;
use redcheck::stats::hist::{LogHistogram, TTL_BUCKETS};
use redcheck::stats::memory::{Allocator, ServerModel};
use redcheck::stats::prefix::PrefixGroup;
use redcheck::stats::{GroupStats, KeyFacts, StatsOptions, StatsReport, stats_rdb};
use serde_json::{Value, json};
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct StatsArgs {
    /// The RDB file (`-` reads standard input).
    pub file: PathBuf,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// How many biggest keys to list (by size in the file and by memory).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Key-prefix separator for the prefix breakdown ("" disables it).
    #[arg(long, value_name = "SEP", default_value = ":")]
    pub separator: String,
    /// Track at most this many distinct prefixes; later ones are "(other)".
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_prefixes: usize,
    /// Memory model: redis-6, redis-7.0, redis-7.2, redis-8, valkey-8
    /// (default: the server that wrote the file).
    #[arg(long, value_name = "SERVER", value_parser = parse_server)]
    pub server: Option<ServerModel>,
    /// Allocator size classes: jemalloc (Redis's own build), jemalloc-16
    /// (distribution packages), libc.
    #[arg(long, value_name = "NAME", default_value = "jemalloc", value_parser = parse_allocator)]
    pub allocator: Allocator,
    /// Read the file instead of memory-mapping it.
    #[arg(long)]
    pub no_mmap: bool,
}

fn parse_server(s: &str) -> Result<ServerModel, String> {
    ServerModel::parse(s)
        .ok_or_else(|| format!("expected one of {}", ServerModel::NAMES.join(", ")))
}

fn parse_allocator(s: &str) -> Result<Allocator, String> {
    Allocator::parse(s).ok_or_else(|| format!("expected one of {}", Allocator::NAMES.join(", ")))
}

pub fn run(a: StatsArgs) -> u8 {
    let shown = a.file.display().to_string();
    let source = if shown == "-" {
        Source::stdin()
    } else {
        Source::open(&a.file, !a.no_mmap)
    };
    let data = match source {
        Ok(d) => d,
        Err(e) => {
            eprintln!("redcheck: cannot read {shown}: {e}");
            return EXIT_USAGE;
        }
    };
    let options = StatsOptions {
        now_ms: now_ms(),
        top: a.top,
        separator: a.separator.into_bytes(),
        max_prefixes: a.max_prefixes,
        server: a.server,
        allocator: a.allocator,
        ..StatsOptions::default()
    };
    let r = stats_rdb(&data, &options);
    let text = if a.json {
        format!("{}\n", json_report(&shown, &r))
    } else {
        text_report(&shown, &r)
    };
    out(&text);
    if r.problems.is_empty() && r.complete {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

fn distribution(h: &LogHistogram) -> Value {
    json!({
        "max": h.max,
        "mean": (h.mean() * 10.0).round() / 10.0,
        "p50": h.quantile(0.5),
        "p90": h.quantile(0.9),
        "p99": h.quantile(0.99),
        "total": h.sum as u64,
    })
}

fn group_json(s: &GroupStats) -> Value {
    let ttl: serde_json::Map<String, Value> = TTL_BUCKETS
        .iter()
        .zip(s.ttl.0)
        .map(|(b, n)| (b.to_string(), json!(n)))
        .collect();
    json!({
        "keys": s.keys,
        "expires": s.expires,
        "already_expired": s.already_expired,
        "ttl": ttl,
        "elements": distribution(&s.elements),
        "serialized_bytes": distribution(&s.serialized),
        "memory_bytes": distribution(&s.memory),
    })
}

fn key_json(k: &KeyFacts) -> Value {
    json!({
        "db": k.db,
        "key": bytes_value(&k.key),
        "type": k.logical.name(),
        "encoding": k.encoding,
        "elements": k.elements,
        "serialized_bytes": k.serialized,
        "memory_bytes": k.memory,
        "expire_ms": k.expire_ms,
        "offset": k.offset,
    })
}

fn prefix_name(g: &PrefixGroup) -> Value {
    match g {
        PrefixGroup::Prefix(p) => bytes_value(p),
        PrefixGroup::NoPrefix => json!("(no prefix)"),
        PrefixGroup::Other => json!("(other)"),
    }
}

/// The `stats --json` object.
pub fn json_report(path: &str, r: &StatsReport) -> Value {
    let groups: Vec<Value> = r
        .groups
        .iter()
        .map(|(g, s)| {
            let mut v = group_json(s);
            v["db"] = json!(g.db);
            v["type"] = json!(g.logical.name());
            v["encoding"] = json!(g.encoding);
            v
        })
        .collect();
    let dbs: Vec<Value> = r
        .dbs()
        .iter()
        .map(|(db, s)| {
            let mut v = group_json(s);
            v["db"] = json!(db);
            v
        })
        .collect();
    let prefixes: Vec<Value> = r
        .prefixes
        .iter()
        .map(|(g, t)| {
            json!({
                "prefix": prefix_name(g),
                "keys": t.keys,
                "serialized_bytes": t.serialized_bytes,
                "memory_bytes": t.memory_bytes,
            })
        })
        .collect();
    let aux: serde_json::Map<String, Value> = r
        .aux
        .iter()
        .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), bytes_value(v)))
        .collect();
    json!({
        "path": path,
        "ok": r.problems.is_empty() && r.complete,
        "magic": r.header.map(|h| h.magic.as_str()),
        "rdb_version": r.header.map(|h| h.version),
        "size": r.size,
        "keys": r.total.keys,
        "expires": r.total.expires,
        "already_expired": r.total.already_expired,
        "keys_with_field_ttl": r.keys_with_field_ttl,
        "total": group_json(&r.total),
        "dbs": dbs,
        "groups": groups,
        "memory": {
            "model": r.model.server.name(),
            "model_guessed": r.model_guessed,
            "allocator": r.model.allocator.name(),
            "keys_bytes": r.memory_keys,
            "overhead_bytes": r.memory_overhead,
            "total_bytes": r.memory_keys + r.memory_overhead,
        },
        "top_by_serialized": r.top_by_serialized.iter().map(key_json).collect::<Vec<_>>(),
        "top_by_memory": r.top_by_memory.iter().map(key_json).collect::<Vec<_>>(),
        "prefixes": {
            "separator": bytes_value(&r.separator),
            "max_prefixes": r.max_prefixes,
            "groups": prefixes,
        },
        "aux": aux,
        "functions": r.functions.iter().map(|f| bytes_value(f)).collect::<Vec<_>>(),
        "modules": r.modules,
        "module_aux": r.module_aux,
        "problems": r.problems.iter().map(|p| json!({
            "offset": p.offset,
            "db": p.db,
            "key": p.key.as_deref().map(bytes_value),
            "message": p.message,
        })).collect::<Vec<_>>(),
    })
}

/// 1536 -> "1.5K": binary units, one decimal.
fn human(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

fn text_report(path: &str, r: &StatsReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{path}");
    if let Some(h) = r.header {
        let _ = writeln!(
            s,
            "  format      {} (RDB version {}, {} bytes)",
            h.magic_text(),
            h.version,
            r.size
        );
    }
    for key in ["redis-ver", "valkey-ver", "ctime", "used-mem"] {
        if let Some(v) = r.aux_value(key) {
            let _ = writeln!(
                s,
                "  {key:<11} {}",
                redcheck::report::text::aux_shown(key, v)
            );
        }
    }
    let _ = writeln!(
        s,
        "  keys        {} ({} with expiry, {} already expired)",
        r.total.keys, r.total.expires, r.total.already_expired
    );
    let _ = writeln!(
        s,
        "  memory      {} estimated ({} in keys + {} keyspace overhead; model {}, {})",
        human(r.memory_keys + r.memory_overhead),
        human(r.memory_keys),
        human(r.memory_overhead),
        r.model.server.name(),
        r.model.allocator.name(),
    );
    if !r.functions.is_empty() {
        let names: Vec<String> = r.functions.iter().map(|f| escape_bytes(f)).collect();
        let _ = writeln!(s, "  functions   {}", names.join(", "));
    }
    if !r.modules.is_empty() || !r.module_aux.is_empty() {
        let m: Vec<String> = r
            .modules
            .iter()
            .map(|(n, c)| format!("{n} ({c} keys)"))
            .collect();
        let _ = writeln!(
            s,
            "  modules     {} {}",
            m.join(", "),
            if r.module_aux.is_empty() {
                String::new()
            } else {
                format!("aux: {}", r.module_aux.join(", "))
            }
        );
    }

    let _ = writeln!(
        s,
        "\n  db  type    encoding     keys  expires  elements(p50/p99/max)      file bytes(p50/p99/max)    memory(total)"
    );
    for (g, st) in &r.groups {
        let _ = writeln!(
            s,
            "  {:<3} {:<7} {:<10} {:>6} {:>8}  {:>7}/{:>7}/{:>8}  {:>7}/{:>7}/{:>8}  {:>9}",
            g.db,
            g.logical.name(),
            g.encoding,
            st.keys,
            st.expires,
            st.elements.quantile(0.5),
            st.elements.quantile(0.99),
            st.elements.max,
            human(st.serialized.quantile(0.5)),
            human(st.serialized.quantile(0.99)),
            human(st.serialized.max),
            human(st.memory.sum as u64),
        );
    }

    let _ = writeln!(
        s,
        "\n  TTL         {}",
        TTL_BUCKETS
            .iter()
            .zip(r.total.ttl.0)
            .map(|(b, n)| format!("{b} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    for (title, list) in [
        ("biggest keys by memory", &r.top_by_memory),
        ("biggest keys in the file", &r.top_by_serialized),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(s, "\n  {title}");
        for k in list {
            let _ = writeln!(
                s,
                "    {:>9} mem {:>9} file  db {:<2} {:<6} {:<10} {:>8} el  {}",
                human(k.memory),
                human(k.serialized),
                k.db,
                k.logical.name(),
                k.encoding,
                k.elements,
                escape_bytes(&k.key)
            );
        }
    }

    if !r.prefixes.is_empty() && !r.separator.is_empty() {
        let _ = writeln!(
            s,
            "\n  prefixes (separator '{}', first {} distinct tracked)",
            escape_bytes(&r.separator),
            r.max_prefixes
        );
        for (g, t) in r.prefixes.iter().take(20) {
            let name = match g {
                PrefixGroup::Prefix(p) => escape_bytes(p),
                PrefixGroup::NoPrefix => "(no prefix)".into(),
                PrefixGroup::Other => "(other)".into(),
            };
            let _ = writeln!(
                s,
                "    {:>9} mem {:>9} file {:>8} keys  {name}",
                human(t.memory_bytes),
                human(t.serialized_bytes),
                t.keys
            );
        }
        if r.prefixes.len() > 20 {
            let _ = writeln!(s, "    ... {} more (see --json)", r.prefixes.len() - 20);
        }
    }
    for p in &r.problems {
        let _ = writeln!(s, "\n  problem     [offset {}] {}", p.offset, p.message);
    }
    if !r.complete && r.problems.is_empty() {
        let _ = writeln!(s, "\n  problem     the file ends before its EOF opcode");
    }
    s
}
