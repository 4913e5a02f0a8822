//! A whole value materialised, for `get`, `sample` and `export`. An
//! optional byte budget bounds what is kept (a preview): elements past it
//! are counted but not stored.

use super::decode::{ElementSink, decode_value};
use super::keys::KeyEntry;
use crate::encoding::stream::StreamId;
use crate::rdb::Header;
use crate::rdb::error::Error;
use crate::rdb::value::{StreamIdPair, StreamMeta};

#[derive(Debug, Clone, PartialEq)]
pub struct HashField {
    pub field: Vec<u8>,
    pub value: Vec<u8>,
    pub expire_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry {
    pub id: StreamId,
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PendingEntry {
    pub id: StreamId,
    pub delivery_ms: i64,
    pub delivery_count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    pub name: Vec<u8>,
    pub seen_ms: i64,
    pub active_ms: Option<i64>,
    pub pending: Vec<StreamId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: Vec<u8>,
    pub last_id: StreamIdPair,
    pub entries_read: Option<u64>,
    pub pending: Vec<PendingEntry>,
    pub consumers: Vec<Consumer>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stream {
    pub entries: Vec<StreamEntry>,
    pub meta: StreamMeta,
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Zset(Vec<(Vec<u8>, f64)>),
    Hash(Vec<HashField>),
    Stream(Stream),
    /// A module value, opaque without its module: the type name.
    Module(String),
}

/// A materialised value and whether the budget cut it short.
#[derive(Debug, Clone, PartialEq)]
pub struct Materialised {
    pub value: Value,
    /// Elements (or, for a string, bytes) left out by the budget.
    pub truncated: bool,
}

/// Decodes `e`'s value, keeping at most about `max_bytes` of element
/// bytes when given (at least one element is kept; a string is cut).
pub fn materialise(
    header: &Header,
    e: &KeyEntry<'_>,
    max_bytes: Option<usize>,
) -> Result<Materialised, Error> {
    use crate::rdb::LogicalType as T;
    let value = match e.logical() {
        T::String => Value::String(Vec::new()),
        T::List => Value::List(Vec::new()),
        T::Set => Value::Set(Vec::new()),
        T::Zset => Value::Zset(Vec::new()),
        T::Hash => Value::Hash(Vec::new()),
        T::Stream => Value::Stream(Stream::default()),
        T::Module => Value::Module(String::new()),
    };
    let mut c = Collector {
        value,
        budget: max_bytes.unwrap_or(usize::MAX),
        used: 0,
        truncated: false,
    };
    decode_value(header, e.record.value_type, e.record.value, &mut c)?;
    Ok(Materialised {
        value: c.value,
        truncated: c.truncated,
    })
}

struct Collector {
    value: Value,
    budget: usize,
    used: usize,
    truncated: bool,
}

impl Collector {
    /// Whether an element of `n` bytes still fits the budget.
    fn admit(&mut self, n: usize) -> bool {
        if self.used >= self.budget {
            self.truncated = true;
            return false;
        }
        self.used = self.used.saturating_add(n);
        true
    }
}

impl ElementSink for Collector {
    fn string(&mut self, value: &[u8]) -> Result<(), Error> {
        let keep = value.len().min(self.budget);
        self.truncated = keep < value.len();
        self.value = Value::String(value.get(..keep).unwrap_or(value).to_vec());
        Ok(())
    }
    fn list_item(&mut self, item: &[u8]) -> Result<(), Error> {
        if self.admit(item.len())
            && let Value::List(v) = &mut self.value
        {
            v.push(item.to_vec());
        }
        Ok(())
    }
    fn set_member(&mut self, member: &[u8]) -> Result<(), Error> {
        if self.admit(member.len())
            && let Value::Set(v) = &mut self.value
        {
            v.push(member.to_vec());
        }
        Ok(())
    }
    fn zset_member(&mut self, member: &[u8], score: f64) -> Result<(), Error> {
        if self.admit(member.len() + 8)
            && let Value::Zset(v) = &mut self.value
        {
            v.push((member.to_vec(), score));
        }
        Ok(())
    }
    fn hash_field(
        &mut self,
        field: &[u8],
        value: &[u8],
        expire_ms: Option<i64>,
    ) -> Result<(), Error> {
        if self.admit(field.len() + value.len())
            && let Value::Hash(v) = &mut self.value
        {
            v.push(HashField {
                field: field.to_vec(),
                value: value.to_vec(),
                expire_ms,
            });
        }
        Ok(())
    }
    fn stream_entry(
        &mut self,
        id: StreamId,
        fields: &[&[u8]],
        values: &[&[u8]],
    ) -> Result<(), Error> {
        let n = fields.iter().chain(values).map(|b| b.len()).sum::<usize>() + 16;
        if self.admit(n)
            && let Value::Stream(s) = &mut self.value
        {
            s.entries.push(StreamEntry {
                id,
                fields: fields
                    .iter()
                    .zip(values)
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect(),
            });
        }
        Ok(())
    }
    fn stream_meta(&mut self, meta: &StreamMeta) -> Result<(), Error> {
        if let Value::Stream(s) = &mut self.value {
            s.meta = *meta;
        }
        Ok(())
    }
    fn stream_group(
        &mut self,
        name: &[u8],
        last_id: StreamIdPair,
        entries_read: Option<u64>,
    ) -> Result<(), Error> {
        if let Value::Stream(s) = &mut self.value {
            s.groups.push(Group {
                name: name.to_vec(),
                last_id,
                entries_read,
                pending: Vec::new(),
                consumers: Vec::new(),
            });
        }
        Ok(())
    }
    fn stream_pel(
        &mut self,
        id: StreamId,
        delivery_ms: i64,
        delivery_count: u64,
    ) -> Result<(), Error> {
        if let Value::Stream(s) = &mut self.value
            && let Some(g) = s.groups.last_mut()
        {
            g.pending.push(PendingEntry {
                id,
                delivery_ms,
                delivery_count,
            });
        }
        Ok(())
    }
    fn stream_consumer(
        &mut self,
        name: &[u8],
        seen_ms: i64,
        active_ms: Option<i64>,
    ) -> Result<(), Error> {
        if let Value::Stream(s) = &mut self.value
            && let Some(g) = s.groups.last_mut()
        {
            g.consumers.push(Consumer {
                name: name.to_vec(),
                seen_ms,
                active_ms,
                pending: Vec::new(),
            });
        }
        Ok(())
    }
    fn stream_consumer_pel(&mut self, id: StreamId) -> Result<(), Error> {
        if let Value::Stream(s) = &mut self.value
            && let Some(c) = s.groups.last_mut().and_then(|g| g.consumers.last_mut())
        {
            c.pending.push(id);
        }
        Ok(())
    }
    fn module(&mut self, name: &str) -> Result<(), Error> {
        self.value = Value::Module(name.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::Keys;
    use crate::inspect::testrdb::{Rdb, sample};

    fn values(data: &[u8], budget: Option<usize>) -> Vec<Materialised> {
        let header = Header::parse(data).expect("header");
        Keys::new(data, header)
            .map(|e| materialise(&header, &e.expect("frames"), budget).expect("decodes"))
            .collect()
    }

    #[test]
    fn whole_values() {
        let v: Vec<Value> = values(&sample(), None)
            .into_iter()
            .map(|m| m.value)
            .collect();
        assert_eq!(
            v,
            vec![
                Value::String(b"1".to_vec()),
                Value::List(vec![b"x".to_vec(), b"y".to_vec()]),
                Value::Set(vec![b"a".to_vec(), b"b".to_vec()]),
                Value::Zset(vec![(b"a".to_vec(), 1.5)]),
                Value::Hash(vec![HashField {
                    field: b"f".to_vec(),
                    value: b"v".to_vec(),
                    expire_ms: None
                }]),
            ]
        );
    }

    #[test]
    fn budget_cuts_strings_and_collections() {
        let data = Rdb::new()
            .string(b"long", &[b'x'; 40])
            .items(1, b"many", &[b"aaaa", b"bbbb", b"cccc", b"dddd"])
            .finish();
        let m = values(&data, Some(6));
        assert_eq!(m[0].value, Value::String(vec![b'x'; 6]));
        assert!(m[0].truncated);
        // Elements are kept while the budget is not yet spent.
        assert_eq!(
            m[1].value,
            Value::List(vec![b"aaaa".to_vec(), b"bbbb".to_vec()])
        );
        assert!(m[1].truncated);
        let whole = values(&data, Some(1000));
        assert!(whole.iter().all(|m| !m.truncated));
    }
}
