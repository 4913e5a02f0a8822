//! `stats`: one framing pass over an RDB that counts, sizes and estimates
//! the memory of every key, in memory bounded by the options (top-N heaps,
//! a capped prefix table, fixed-size histograms) whatever the file's size.
//!
//! Values are walked with a visitor that only counts and sizes
//! ([`shape`]); the memory model is in [`memory`]. Like the verifier this
//! is a pure function of the bytes and the options: "now" is passed in.

pub mod hist;
pub mod memory;
pub mod prefix;
pub mod rax;
pub mod shape;
pub mod top;

use crate::rdb::{Header, Item, LogicalType, Record, Records};
use hist::{LogHistogram, TtlHistogram};
use memory::{Allocator, Model, ServerModel};
use prefix::{PrefixGroup, PrefixTotals, Prefixes};
use std::collections::BTreeMap;
use top::TopN;

/// How to gather statistics.
#[derive(Debug, Clone)]
pub struct StatsOptions {
    /// "Now", unix ms, for TTL buckets and already-expired keys.
    pub now_ms: i64,
    /// How many biggest keys to keep (by size in the file, by memory).
    pub top: usize,
    /// Key-prefix separator; empty disables the breakdown.
    pub separator: Vec<u8>,
    /// At most this many distinct prefixes; later ones count as `(other)`.
    pub max_prefixes: usize,
    /// The server whose structures the memory model follows; `None` guesses
    /// from the file (the server that wrote it).
    pub server: Option<ServerModel>,
    pub allocator: Allocator,
    /// Keep at most this many problems.
    pub max_problems: usize,
}

impl Default for StatsOptions {
    fn default() -> Self {
        StatsOptions {
            now_ms: 0,
            top: 10,
            separator: b":".to_vec(),
            max_prefixes: 1000,
            server: None,
            allocator: Allocator::Jemalloc,
            max_problems: 100,
        }
    }
}

/// Keys are grouped by db, logical type and in-memory encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    pub db: u64,
    pub logical: LogicalType,
    /// `OBJECT ENCODING` once loaded by the modelled server.
    pub encoding: &'static str,
}

/// Counts and distributions of one group (or of everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupStats {
    pub keys: u64,
    pub expires: u64,
    pub already_expired: u64,
    pub ttl: TtlHistogram,
    /// Elements per key (1 for strings).
    pub elements: LogHistogram,
    /// Bytes per key in the file (type byte, key and value).
    pub serialized: LogHistogram,
    /// Estimated memory per key (as `MEMORY USAGE`).
    pub memory: LogHistogram,
}

impl GroupStats {
    fn record(&mut self, k: &KeyFacts, now_ms: i64) {
        self.keys += 1;
        if let Some(at) = k.expire_ms {
            self.expires += 1;
            if at < now_ms {
                self.already_expired += 1;
            }
        }
        self.ttl.record(k.expire_ms, now_ms);
        self.elements.record(k.elements);
        self.serialized.record(k.serialized);
        self.memory.record(k.memory);
    }

    pub fn merge(&mut self, o: &GroupStats) {
        self.keys += o.keys;
        self.expires += o.expires;
        self.already_expired += o.already_expired;
        self.ttl.merge(&o.ttl);
        self.elements.merge(&o.elements);
        self.serialized.merge(&o.serialized);
        self.memory.merge(&o.memory);
    }
}

/// One key's facts, as `stats` sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyFacts {
    pub db: u64,
    pub key: Vec<u8>,
    pub logical: LogicalType,
    pub encoding: &'static str,
    pub expire_ms: Option<i64>,
    pub elements: u64,
    pub serialized: u64,
    pub memory: u64,
    /// File offset of the key's record.
    pub offset: u64,
}

/// A problem that stopped or limited the pass, at a file offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub offset: u64,
    pub db: Option<u64>,
    pub key: Option<Vec<u8>>,
    pub message: String,
}

/// Everything one `stats` pass learnt.
#[derive(Debug, Clone)]
pub struct StatsReport {
    pub header: Option<Header>,
    pub size: u64,
    pub model: Model,
    /// Whether the model was guessed from the file.
    pub model_guessed: bool,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Function library names (from `#!<engine> name=<lib>`).
    pub functions: Vec<Vec<u8>>,
    /// Module type names of module values, with key counts.
    pub modules: BTreeMap<String, u64>,
    /// Modules that stored MODULE_AUX data.
    pub module_aux: Vec<String>,
    pub groups: BTreeMap<GroupKey, GroupStats>,
    pub total: GroupStats,
    /// Keys with at least one hash field TTL.
    pub keys_with_field_ttl: u64,
    /// Estimated memory of the keys (sum of per-key estimates).
    pub memory_keys: u64,
    /// Estimated keyspace overhead outside per-key usage (buckets, expires).
    pub memory_overhead: u64,
    pub top_by_serialized: Vec<KeyFacts>,
    pub top_by_memory: Vec<KeyFacts>,
    pub prefixes: Vec<(PrefixGroup, PrefixTotals)>,
    pub separator: Vec<u8>,
    pub max_prefixes: usize,
    pub problems: Vec<Problem>,
    pub dropped_problems: u64,
    /// The pass read to the EOF opcode.
    pub complete: bool,
}

impl StatsReport {
    /// Per-db totals, from the groups.
    pub fn dbs(&self) -> BTreeMap<u64, GroupStats> {
        let mut out: BTreeMap<u64, GroupStats> = BTreeMap::new();
        for (g, s) in &self.groups {
            out.entry(g.db).or_default().merge(s);
        }
        out
    }

    /// Per logical type × encoding totals over all dbs.
    pub fn by_type(&self) -> BTreeMap<(LogicalType, &'static str), GroupStats> {
        let mut out: BTreeMap<(LogicalType, &'static str), GroupStats> = BTreeMap::new();
        for (g, s) in &self.groups {
            out.entry((g.logical, g.encoding)).or_default().merge(s);
        }
        out
    }

    /// The server model of the server that wrote the file.
    fn writer(&self, header: &Header) -> ServerModel {
        ServerModel::guess(
            header.magic == crate::rdb::Magic::Valkey,
            self.aux_value("redis-ver"),
            self.aux_value("valkey-ver"),
        )
    }

    pub fn aux_value(&self, key: &str) -> Option<&[u8]> {
        self.aux
            .iter()
            .rev()
            .find(|(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }
}

/// The library name in a function's code: `#!lua name=mylib ...`.
fn library_name(code: &[u8]) -> Vec<u8> {
    let first_line = code.split(|&b| b == b'\n').next().unwrap_or(&[]);
    first_line
        .split(|&b| b == b' ')
        .find_map(|w| w.strip_prefix(b"name="))
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

struct Pass<'o> {
    options: &'o StatsOptions,
    report: StatsReport,
    by_serialized: TopN<KeyFacts>,
    by_memory: TopN<KeyFacts>,
    prefixes: Prefixes,
    /// Keys and expires per db, for the keyspace overhead.
    per_db: BTreeMap<u64, (u64, u64)>,
}

impl Pass<'_> {
    fn problem(&mut self, p: Problem) {
        if self.report.problems.len() < self.options.max_problems {
            self.report.problems.push(p);
        } else {
            self.report.dropped_problems += 1;
        }
    }
}

/// Gathers statistics over a whole RDB held in memory. A framing error
/// stops the pass (the report covers the keys before it and names the
/// problem); a value whose insides cannot be read is counted with what is
/// known and named as a problem.
pub fn stats_rdb(data: &[u8], options: &StatsOptions) -> StatsReport {
    stats_rdb_each(data, options, |_| {})
}

/// [`stats_rdb`], also handing every key's facts to `each` as it is read
/// (for listings and for checking the model key by key).
pub fn stats_rdb_each(
    data: &[u8],
    options: &StatsOptions,
    mut each: impl FnMut(&KeyFacts),
) -> StatsReport {
    let mut pass = Pass {
        options,
        report: StatsReport {
            header: None,
            size: data.len() as u64,
            model: Model {
                server: options.server.unwrap_or(ServerModel::Redis8),
                allocator: options.allocator,
            },
            model_guessed: options.server.is_none(),
            aux: Vec::new(),
            functions: Vec::new(),
            modules: BTreeMap::new(),
            module_aux: Vec::new(),
            groups: BTreeMap::new(),
            total: GroupStats::default(),
            keys_with_field_ttl: 0,
            memory_keys: 0,
            memory_overhead: 0,
            top_by_serialized: Vec::new(),
            top_by_memory: Vec::new(),
            prefixes: Vec::new(),
            separator: options.separator.clone(),
            max_prefixes: options.max_prefixes,
            problems: Vec::new(),
            dropped_problems: 0,
            complete: false,
        },
        by_serialized: TopN::new(options.top),
        by_memory: TopN::new(options.top),
        prefixes: Prefixes::new(&options.separator, options.max_prefixes),
        per_db: BTreeMap::new(),
    };
    let header = match Header::parse(data) {
        Ok(h) => h,
        Err(e) => {
            pass.problem(Problem {
                offset: 0,
                db: None,
                key: None,
                message: e.to_string(),
            });
            return pass.report;
        }
    };
    pass.report.header = Some(header);
    let mut model_chosen = options.server.is_some();
    let mut db = 0u64;
    let mut expire_ms: Option<i64> = None;
    let mut records = Records::new(data, header);
    for item in records.by_ref() {
        let Item { offset, record } = match item {
            Ok(i) => i,
            Err(e) => {
                pass.problem(Problem {
                    offset: e.offset_in(data),
                    db: Some(db),
                    key: None,
                    message: e.to_string(),
                });
                break;
            }
        };
        match record {
            Record::Eof => pass.report.complete = true,
            Record::SelectDb { db: n } => db = n,
            Record::Expire { ms, .. } => expire_ms = Some(ms),
            Record::Aux { key, value } => match (key.to_bytes(), value.to_bytes()) {
                (Ok(k), Ok(v)) => pass.report.aux.push((k.into_owned(), v.into_owned())),
                _ => pass.problem(Problem {
                    offset,
                    db: None,
                    key: None,
                    message: "AUX field: invalid LZF compressed string".into(),
                }),
            },
            Record::Function { code } => {
                let name = code
                    .to_bytes()
                    .map(|c| library_name(&c))
                    .unwrap_or_default();
                pass.report.functions.push(name);
            }
            Record::ModuleAux { module_id, .. } => {
                let name = crate::rdb::primitives::module_type_name(module_id).0;
                pass.report.module_aux.push(name);
            }
            Record::ResizeDb { .. }
            | Record::Idle { .. }
            | Record::Freq { .. }
            | Record::SlotInfo { .. }
            | Record::SlotImport { .. }
            | Record::KeyMeta { .. } => {}
            Record::Key(k) => {
                if !model_chosen {
                    // AUX fields come first: the writer is known by now.
                    pass.report.model.server = pass.report.writer(&header);
                    model_chosen = true;
                }
                let key = match k.key.to_bytes() {
                    Ok(b) => b.into_owned(),
                    Err(e) => {
                        pass.problem(Problem {
                            offset,
                            db: Some(db),
                            key: None,
                            message: format!("key: {e}"),
                        });
                        expire_ms = None;
                        continue;
                    }
                };
                let value_end = (k.value.as_ptr() as usize + k.value.len())
                    .saturating_sub(data.as_ptr() as usize) as u64;
                let model = pass.report.model;
                let shape = match shape::measure(k.value, k.value_type, header.version, &model) {
                    Ok(s) => s,
                    Err(e) => {
                        pass.problem(Problem {
                            offset: e.offset_in(data),
                            db: Some(db),
                            key: Some(key.clone()),
                            message: e.to_string(),
                        });
                        shape::Shape::default()
                    }
                };
                let expires = expire_ms.is_some();
                let key_len = key.len() as u64;
                let facts = KeyFacts {
                    db,
                    logical: k.value_type.logical(),
                    encoding: model.encoding(k.value_type, key_len, expires, &shape),
                    expire_ms,
                    elements: shape.elements,
                    serialized: value_end.saturating_sub(offset),
                    memory: model.key_usage(k.value_type, key_len, expires, &shape),
                    offset,
                    key,
                };
                expire_ms = None;
                each(&facts);
                pass.record(facts, &shape);
            }
        }
    }
    if !model_chosen {
        pass.report.model.server = pass.report.writer(&header);
    }
    pass.finish()
}

impl Pass<'_> {
    fn record(&mut self, k: KeyFacts, shape: &shape::Shape) {
        let now = self.options.now_ms;
        let r = &mut self.report;
        if shape.fields_with_ttl > 0 {
            r.keys_with_field_ttl += 1;
        }
        if let Some(m) = &shape.module {
            *r.modules.entry(m.clone()).or_default() += 1;
        }
        r.groups
            .entry(GroupKey {
                db: k.db,
                logical: k.logical,
                encoding: k.encoding,
            })
            .or_default()
            .record(&k, now);
        r.total.record(&k, now);
        r.memory_keys += k.memory;
        let d = self.per_db.entry(k.db).or_default();
        d.0 += 1;
        d.1 += u64::from(k.expire_ms.is_some());
        self.prefixes.record(&k.key, k.serialized, k.memory);
        if self.by_memory.admits(k.memory) {
            self.by_memory.offer(k.memory, || k.clone());
        }
        let weight = k.serialized;
        self.by_serialized.offer(weight, || k);
    }

    fn finish(mut self) -> StatsReport {
        let model = self.report.model;
        self.report.memory_overhead = self
            .per_db
            .values()
            .map(|&(keys, expires)| model.keyspace_overhead(keys, expires))
            .sum();
        self.report.top_by_serialized = self
            .by_serialized
            .into_sorted()
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        self.report.top_by_memory = self
            .by_memory
            .into_sorted()
            .into_iter()
            .map(|(_, k)| k)
            .collect();
        self.report.prefixes = self.prefixes.into_sorted();
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names() {
        assert_eq!(
            library_name(b"#!lua name=mylib\nredis.register_function(...)"),
            b"mylib"
        );
        assert_eq!(library_name(b"#!lua engine name=x y\n"), b"x");
        assert_eq!(library_name(b"garbage"), b"");
    }

    #[test]
    fn not_an_rdb_is_a_problem_not_a_panic() {
        let r = stats_rdb(b"hello", &StatsOptions::default());
        assert_eq!(r.problems.len(), 1);
        assert!(!r.complete);
        let r = stats_rdb(b"", &StatsOptions::default());
        assert_eq!(r.total.keys, 0);
    }
}
