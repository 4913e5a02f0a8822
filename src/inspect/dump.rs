//! Recreating keys on a server: `RESTORE` with a DUMP payload built from
//! the file's own bytes, or plain commands, encoded as RESP for
//! `redis-cli --pipe`.
//!
//! A DUMP payload is the value as an RDB stores it, framed:
//!
//! ```text
//! type byte | serialized value | RDB version (u16 LE) | CRC-64/Jones of all before (u64 LE)
//! ```
//!
//! The value bytes are copied, not re-encoded. A payload claims the file's
//! RDB version, which the same or a newer server reads; for an older
//! server it may claim that server's version when the value's type existed
//! then (the layout of a type never changes), and plain commands recreate
//! the rest.

use super::keys::KeyEntry;
use super::value::Value;
use crate::rdb::Header;

/// One command: its arguments.
pub type Command = Vec<Vec<u8>>;

/// Arguments per command when a collection is split (`RPUSH k a b ...`),
/// well under any server's limits.
const ARGS_PER_COMMAND: usize = 512;

/// The RDB version a DUMP payload of `e` can claim for a server that reads
/// RDB versions up to `target` (`None`: the file's own version). `None`
/// when that server does not know the value's type, so only plain
/// commands can recreate it. Type bytes 22 and up mean different things to
/// Redis and Valkey, so they are only copied to the file's own version.
pub fn payload_version(header: &Header, e: &KeyEntry<'_>, target: Option<u32>) -> Option<u16> {
    let own = header.version.min(u32::from(u16::MAX)) as u16;
    let Some(target) = target else {
        return Some(own);
    };
    let t = e.record.value_type;
    let portable = e.record.type_byte < 22 || target == header.version;
    (portable && t.since_version() <= target).then(|| target.min(u32::from(u16::MAX)) as u16)
}

/// The `DUMP` payload of `e`'s value, claiming RDB version `version`.
pub fn dump_payload(e: &KeyEntry<'_>, version: u16) -> Vec<u8> {
    let value = e.record.value;
    let mut p = Vec::with_capacity(value.len() + 11);
    p.push(e.record.type_byte);
    p.extend_from_slice(value);
    p.extend_from_slice(&version.to_le_bytes());
    let crc = crate::crc64::crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

/// `RESTORE key ttl payload [ABSTTL] [REPLACE]`.
pub fn restore_command(e: &KeyEntry<'_>, version: u16, replace: bool) -> Command {
    let mut c = vec![
        b"RESTORE".to_vec(),
        e.key.to_vec(),
        e.expire_ms.unwrap_or(0).to_string().into_bytes(),
        dump_payload(e, version),
    ];
    if e.expire_ms.is_some() {
        c.push(b"ABSTTL".to_vec());
    }
    if replace {
        c.push(b"REPLACE".to_vec());
    }
    c
}

fn cmd(parts: &[&[u8]]) -> Command {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// `name key` followed by `items`, split into commands of bounded size.
fn batched(name: &[u8], key: &[u8], items: Vec<Vec<u8>>, per_item: usize) -> Vec<Command> {
    let per = (ARGS_PER_COMMAND / per_item.max(1)).max(1) * per_item.max(1);
    items
        .chunks(per)
        .map(|chunk| {
            let mut c = cmd(&[name, key]);
            c.extend(chunk.iter().cloned());
            c
        })
        .collect()
}

fn id(ms: u64, seq: u64) -> Vec<u8> {
    format!("{ms}-{seq}").into_bytes()
}

/// Plain commands that recreate `value` under `key` (expiry included).
/// `None` for a module value, which only `RESTORE` can recreate. Stream
/// consumer groups are created at their last-delivered ID with their
/// consumers; pending-entry lists are not recreated.
pub fn plain_commands(key: &[u8], value: &Value, expire_ms: Option<i64>) -> Option<Vec<Command>> {
    let mut out = vec![cmd(&[b"DEL", key])];
    match value {
        Value::String(v) => out.push(cmd(&[b"SET", key, v])),
        Value::List(items) => out.extend(batched(b"RPUSH", key, items.clone(), 1)),
        Value::Set(members) => out.extend(batched(b"SADD", key, members.clone(), 1)),
        Value::Zset(m) => {
            let flat = m
                .iter()
                .flat_map(|(member, s)| [super::fpconv::dtoa(*s).into_bytes(), member.clone()])
                .collect();
            out.extend(batched(b"ZADD", key, flat, 2));
        }
        Value::Hash(fields) => {
            let flat = fields
                .iter()
                .flat_map(|f| [f.field.clone(), f.value.clone()])
                .collect();
            out.extend(batched(b"HSET", key, flat, 2));
            for f in fields {
                if let Some(ms) = f.expire_ms {
                    out.push(cmd(&[
                        b"HPEXPIREAT",
                        key,
                        ms.to_string().as_bytes(),
                        b"FIELDS",
                        b"1",
                        &f.field,
                    ]));
                }
            }
        }
        Value::Stream(s) => {
            for e in &s.entries {
                let mut c = cmd(&[b"XADD", key, &id(e.id.ms, e.id.seq)]);
                for (f, v) in &e.fields {
                    c.push(f.clone());
                    c.push(v.clone());
                }
                out.push(c);
            }
            if s.entries.is_empty() {
                // XADD cannot create an empty stream; trim one entry away.
                out.push(cmd(&[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"", b""]));
            }
            out.push(cmd(&[
                b"XSETID",
                key,
                &id(s.meta.last_id.ms, s.meta.last_id.seq),
            ]));
            for g in &s.groups {
                out.push(cmd(&[
                    b"XGROUP",
                    b"CREATE",
                    key,
                    &g.name,
                    &id(g.last_id.ms, g.last_id.seq),
                ]));
                for c in &g.consumers {
                    out.push(cmd(&[b"XGROUP", b"CREATECONSUMER", key, &g.name, &c.name]));
                }
            }
        }
        Value::Module(_) => return None,
    }
    if let Some(ms) = expire_ms {
        out.push(cmd(&[b"PEXPIREAT", key, ms.to_string().as_bytes()]));
    }
    Some(out)
}

/// RESP encoding of a command (an array of bulk strings).
pub fn resp(c: &Command, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", c.len()).as_bytes());
    for a in c {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_for_older_servers() {
        use crate::inspect::Keys;
        use crate::inspect::testrdb::sample;
        let data = sample();
        let header = Header::parse(&data).expect("header");
        let keys: Vec<_> = Keys::new(&data, header)
            .map(|e| e.expect("frames"))
            .collect();
        let string = &keys[0];
        let zset_v2 = &keys[3];
        assert_eq!(payload_version(&header, string, None), Some(11));
        assert_eq!(payload_version(&header, string, Some(6)), Some(6));
        // ZSET_2 (binary scores) arrived with RDB 8.
        assert_eq!(payload_version(&header, zset_v2, Some(8)), Some(8));
        assert_eq!(payload_version(&header, zset_v2, Some(7)), None);
        // type, value ("1" as a raw string), version, CRC-64 of all before.
        let p = dump_payload(string, 9);
        assert_eq!(&p[..5], &[0, 1, b'1', 9, 0]);
        assert_eq!(p[5..], crate::crc64::crc64(&p[..5]).to_le_bytes());
    }

    #[test]
    fn resp_arrays_of_bulks() {
        let mut out = Vec::new();
        resp(&cmd(&[b"SET", b"k", b""]), &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn big_collections_are_split() {
        let items: Vec<Vec<u8>> = (0..1500).map(|i| i.to_string().into_bytes()).collect();
        let cmds = plain_commands(b"k", &Value::List(items), Some(5)).expect("commands");
        // DEL, 3 RPUSH, PEXPIREAT
        assert_eq!(cmds.len(), 5);
        assert_eq!(cmds[1].len(), 2 + ARGS_PER_COMMAND);
        assert_eq!(
            cmds.iter()
                .skip(1)
                .take(3)
                .map(|c| c.len() - 2)
                .sum::<usize>(),
            1500
        );
        assert_eq!(cmds[4], cmd(&[b"PEXPIREAT", b"k", b"5"]));
    }
}
