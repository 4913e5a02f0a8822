//! The command table: every command name a Redis 6.2-8.x or Valkey 9.x
//! server knows, with its arity, and whether a server writes it to an AOF.
//!
//! Loading an AOF, a server looks each record's name up in its command table
//! (`lookupCommand`, with a subcommand for container commands such as
//! `XGROUP CREATE`) and stops with "Unknown command '%s' reading the append
//! only file" when it is missing. It does not check the arity, so a record
//! with the wrong argument count reaches the command's code with an argv it
//! was never meant to see: both are errors here.
//!
//! Arity uses Redis's convention: positive = exact argument count, negative
//! = at least that many, both counting the command name (and, for a
//! subcommand, the subcommand name).
//!
//! Source (facts): the `COMMAND` reply of redis-server 6.2.14, 7.0.15,
//! 8.2.3 and valkey-server 9.1.2, merged (a command whose arity differs
//! between versions gets the most lenient one, e.g. `EXPIRE` 3 in 6.2 and
//! -3 from 7.0); plus `DELEX`, `DIGEST` (Redis 8.4) and `XCFGSET` (Redis
//! 8.6) from redis/redis `src/commands/*.json`. `AOF` marks commands a server
//! propagates to the AOF: the `write` and `may_replicate` ones (except
//! `PUBLISH`, which goes to replicas only), `MULTI`/`EXEC`/`SELECT`, and the
//! script commands old servers wrote verbatim (`EVAL`, `EVALSHA`, `FCALL`,
//! `SCRIPT LOAD`, `SCRIPT FLUSH`).
//!
//! Module commands are not in the table; by convention their names contain a
//! dot (`JSON.SET`, `GRAPH.QUERY`), which [`lookup`] reports separately so
//! the verifier can warn instead of failing.

use crate::verify::fingerprint::{Prehashed, fingerprint64};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Flag: the server marks the command `write`.
pub const WRITE: u8 = 1;
/// Flag: the command can appear in an AOF written by a server.
pub const AOF: u8 = 2;
/// Flag: implemented by a module that ships inside the server (Redis 8
/// vector sets); the server reports arity -1 for these.
pub const MODULE: u8 = 4;

/// One command or subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// Lowercase name (the subcommand's own name for a subcommand).
    pub name: &'static str,
    pub arity: i16,
    pub flags: u8,
    /// Sorted by name; empty unless this is a container command.
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub fn is_container(&self) -> bool {
        !self.subcommands.is_empty()
    }

    pub fn written_to_aof(&self) -> bool {
        self.flags & AOF != 0
    }

    /// Whether `argc` (counting the name) satisfies the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = i64::from(self.arity);
        let n = i64::try_from(argc).unwrap_or(i64::MAX);
        if a >= 0 {
            n == a
        } else {
            n >= a.saturating_neg()
        }
    }

    /// "exactly 3" / "at least 2" arguments, counting the name.
    pub fn arity_text(&self) -> String {
        if self.arity >= 0 {
            format!("exactly {}", self.arity)
        } else {
            format!("at least {}", i32::from(self.arity).saturating_neg())
        }
    }
}

const fn spec(
    name: &'static str,
    arity: i16,
    flags: u8,
    subcommands: &'static [CommandSpec],
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        subcommands,
    }
}

const NO_SUBCOMMANDS: &[CommandSpec] = &[];

/// What a record's name resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A command (or, for a container with a subcommand argument, the
    /// subcommand) and its container when it is a subcommand.
    Known {
        spec: &'static CommandSpec,
        container: Option<&'static CommandSpec>,
    },
    /// A container command whose subcommand is not known.
    UnknownSubcommand { container: &'static CommandSpec },
    /// The name contains a '.', the convention for module commands.
    Module,
    /// Not a command of any supported server.
    Unknown,
}

/// Longest command or subcommand name in the table, to bound the
/// lowercase copy.
const MAX_NAME: usize = 32;

fn find(table: &'static [CommandSpec], name: &[u8]) -> Option<&'static CommandSpec> {
    let mut buf = [0u8; MAX_NAME];
    let lower = lowercase(name, &mut buf)?;
    table
        .binary_search_by(|s| s.name.as_bytes().cmp(lower))
        .ok()
        .and_then(|i| table.get(i))
}

/// `name` in lowercase, in `buf`; `None` if longer than any name.
fn lowercase<'b>(name: &[u8], buf: &'b mut [u8; MAX_NAME]) -> Option<&'b [u8]> {
    let lower = buf.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    Some(lower)
}

/// A top-level command by name, through a table keyed by the
/// fingerprint of the name: one probe and one comparison, where the
/// binary search over [`COMMANDS`] made eight calls to `memcmp` (half the
/// time of verifying an AOF of small commands).
fn find_command(name: &[u8]) -> Option<&'static CommandSpec> {
    static BY_FINGERPRINT: OnceLock<HashMap<u64, &'static CommandSpec, Prehashed>> =
        OnceLock::new();
    let table = BY_FINGERPRINT.get_or_init(|| {
        COMMANDS
            .iter()
            .map(|s| (fingerprint64(s.name.as_bytes()), s))
            .collect()
    });
    let mut buf = [0u8; MAX_NAME];
    let lower = lowercase(name, &mut buf)?;
    table
        .get(&fingerprint64(lower))
        .copied()
        .filter(|s| s.name.as_bytes() == lower)
}

/// Resolves a record's arguments to a command, as `lookupCommand` does:
/// with two or more arguments, a container command resolves to its
/// subcommand.
pub fn lookup(args: &[&[u8]]) -> Lookup {
    let Some(name) = args.first() else {
        return Lookup::Unknown;
    };
    match find_command(name) {
        Some(spec) if spec.is_container() && args.len() >= 2 => {
            match args.get(1).and_then(|sub| find(spec.subcommands, sub)) {
                Some(sub) => Lookup::Known {
                    spec: sub,
                    container: Some(spec),
                },
                None => Lookup::UnknownSubcommand { container: spec },
            }
        }
        Some(spec) => Lookup::Known {
            spec,
            container: None,
        },
        None if name.contains(&b'.') => Lookup::Module,
        None => Lookup::Unknown,
    }
}

/// The display name of a resolved command: `SET`, `XGROUP CREATE`.
pub fn display_name(
    spec: &'static CommandSpec,
    container: Option<&'static CommandSpec>,
) -> &'static str {
    // Made once for the whole table, and found by where the specs lie in
    // it (a lookup returns references into COMMANDS), so that naming each
    // command of an AOF neither allocates nor hashes.
    static NAMES: OnceLock<Vec<(String, Vec<String>)>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        COMMANDS
            .iter()
            .map(|c| {
                let upper = c.name.to_ascii_uppercase();
                let subs = c
                    .subcommands
                    .iter()
                    .map(|s| format!("{upper} {}", s.name.to_ascii_uppercase()))
                    .collect();
                (upper, subs)
            })
            .collect()
    });
    let named = match container {
        None => index_in(COMMANDS, spec)
            .and_then(|i| names.get(i))
            .map(|n| &n.0),
        Some(c) => index_in(COMMANDS, c)
            .zip(index_in(c.subcommands, spec))
            .and_then(|(i, j)| names.get(i)?.1.get(j)),
    };
    named.map_or(spec.name, String::as_str)
}

/// Where `spec` lies in `table`, if it does.
fn index_in(table: &[CommandSpec], spec: &CommandSpec) -> Option<usize> {
    let offset = (spec as *const CommandSpec as usize).checked_sub(table.as_ptr() as usize)?;
    let i = offset / std::mem::size_of::<CommandSpec>();
    (offset % std::mem::size_of::<CommandSpec>() == 0 && i < table.len()).then_some(i)
}

pub static COMMANDS: &[CommandSpec] = &[
    spec("acl", -2, 0, ACL_SUBCOMMANDS),
    spec("append", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("asking", 1, 0, NO_SUBCOMMANDS),
    spec("auth", -2, 0, NO_SUBCOMMANDS),
    spec("bgrewriteaof", 1, 0, NO_SUBCOMMANDS),
    spec("bgsave", -1, 0, NO_SUBCOMMANDS),
    spec("bitcount", -2, 0, NO_SUBCOMMANDS),
    spec("bitfield", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("bitfield_ro", -2, 0, NO_SUBCOMMANDS),
    spec("bitop", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("bitpos", -3, 0, NO_SUBCOMMANDS),
    spec("blmove", 6, WRITE | AOF, NO_SUBCOMMANDS),
    spec("blmpop", -5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("blpop", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("brpop", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("brpoplpush", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("bzmpop", -5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("bzpopmax", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("bzpopmin", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("client", -2, 0, CLIENT_SUBCOMMANDS),
    spec("cluster", -2, 0, CLUSTER_SUBCOMMANDS),
    spec("clusterscan", -2, 0, NO_SUBCOMMANDS),
    spec("command", -1, 0, COMMAND_SUBCOMMANDS),
    spec("commandlog", -2, 0, COMMANDLOG_SUBCOMMANDS),
    spec("config", -2, 0, CONFIG_SUBCOMMANDS),
    spec("copy", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("dbsize", 1, 0, NO_SUBCOMMANDS),
    spec("debug", -2, 0, NO_SUBCOMMANDS),
    spec("decr", 2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("decrby", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("del", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("delex", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("delifeq", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("digest", 2, 0, NO_SUBCOMMANDS),
    spec("discard", 1, 0, NO_SUBCOMMANDS),
    spec("dump", 2, 0, NO_SUBCOMMANDS),
    spec("echo", 2, 0, NO_SUBCOMMANDS),
    spec("eval", -3, AOF, NO_SUBCOMMANDS),
    spec("eval_ro", -3, 0, NO_SUBCOMMANDS),
    spec("evalsha", -3, AOF, NO_SUBCOMMANDS),
    spec("evalsha_ro", -3, 0, NO_SUBCOMMANDS),
    spec("exec", 1, AOF, NO_SUBCOMMANDS),
    spec("exists", -2, 0, NO_SUBCOMMANDS),
    spec("expire", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("expireat", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("expiretime", 2, 0, NO_SUBCOMMANDS),
    spec("failover", -1, 0, NO_SUBCOMMANDS),
    spec("fcall", -3, AOF, NO_SUBCOMMANDS),
    spec("fcall_ro", -3, 0, NO_SUBCOMMANDS),
    spec("flushall", -1, WRITE | AOF, NO_SUBCOMMANDS),
    spec("flushdb", -1, WRITE | AOF, NO_SUBCOMMANDS),
    spec("function", -2, 0, FUNCTION_SUBCOMMANDS),
    spec("geoadd", -5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("geodist", -4, 0, NO_SUBCOMMANDS),
    spec("geohash", -2, 0, NO_SUBCOMMANDS),
    spec("geopos", -2, 0, NO_SUBCOMMANDS),
    spec("georadius", -6, WRITE | AOF, NO_SUBCOMMANDS),
    spec("georadius_ro", -6, 0, NO_SUBCOMMANDS),
    spec("georadiusbymember", -5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("georadiusbymember_ro", -5, 0, NO_SUBCOMMANDS),
    spec("geosearch", -7, 0, NO_SUBCOMMANDS),
    spec("geosearchstore", -8, WRITE | AOF, NO_SUBCOMMANDS),
    spec("get", 2, 0, NO_SUBCOMMANDS),
    spec("getbit", 3, 0, NO_SUBCOMMANDS),
    spec("getdel", 2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("getex", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("getrange", 4, 0, NO_SUBCOMMANDS),
    spec("getset", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hdel", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hello", -1, 0, NO_SUBCOMMANDS),
    spec("hexists", 3, 0, NO_SUBCOMMANDS),
    spec("hexpire", -6, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hexpireat", -6, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hexpiretime", -5, 0, NO_SUBCOMMANDS),
    spec("hget", 3, 0, NO_SUBCOMMANDS),
    spec("hgetall", 2, 0, NO_SUBCOMMANDS),
    spec("hgetdel", -5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hgetex", -5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hincrby", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hincrbyfloat", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hkeys", 2, 0, NO_SUBCOMMANDS),
    spec("hlen", 2, 0, NO_SUBCOMMANDS),
    spec("hmget", -3, 0, NO_SUBCOMMANDS),
    spec("hmset", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hpersist", -5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hpexpire", -6, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hpexpireat", -6, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hpexpiretime", -5, 0, NO_SUBCOMMANDS),
    spec("hpttl", -5, 0, NO_SUBCOMMANDS),
    spec("hrandfield", -2, 0, NO_SUBCOMMANDS),
    spec("hscan", -3, 0, NO_SUBCOMMANDS),
    spec("hset", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hsetex", -6, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hsetnx", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("hstrlen", 3, 0, NO_SUBCOMMANDS),
    spec("httl", -5, 0, NO_SUBCOMMANDS),
    spec("hvals", 2, 0, NO_SUBCOMMANDS),
    spec("incr", 2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("incrby", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("incrbyfloat", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("info", -1, 0, NO_SUBCOMMANDS),
    spec("keys", 2, 0, NO_SUBCOMMANDS),
    spec("lastsave", 1, 0, NO_SUBCOMMANDS),
    spec("latency", -2, 0, LATENCY_SUBCOMMANDS),
    spec("lcs", -3, 0, NO_SUBCOMMANDS),
    spec("lindex", 3, 0, NO_SUBCOMMANDS),
    spec("linsert", 5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("llen", 2, 0, NO_SUBCOMMANDS),
    spec("lmove", 5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("lmpop", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("lolwut", -1, 0, NO_SUBCOMMANDS),
    spec("lpop", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("lpos", -3, 0, NO_SUBCOMMANDS),
    spec("lpush", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("lpushx", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("lrange", 4, 0, NO_SUBCOMMANDS),
    spec("lrem", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("lset", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("ltrim", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("memory", -2, 0, MEMORY_SUBCOMMANDS),
    spec("mget", -2, 0, NO_SUBCOMMANDS),
    spec("migrate", -6, WRITE | AOF, NO_SUBCOMMANDS),
    spec("module", -2, 0, MODULE_SUBCOMMANDS),
    spec("monitor", 1, 0, NO_SUBCOMMANDS),
    spec("move", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("mset", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("msetex", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("msetnx", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("multi", 1, AOF, NO_SUBCOMMANDS),
    spec("object", -2, 0, OBJECT_SUBCOMMANDS),
    spec("persist", 2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("pexpire", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("pexpireat", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("pexpiretime", 2, 0, NO_SUBCOMMANDS),
    spec("pfadd", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("pfcount", -2, AOF, NO_SUBCOMMANDS),
    spec("pfdebug", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("pfmerge", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("pfselftest", 1, 0, NO_SUBCOMMANDS),
    spec("ping", -1, 0, NO_SUBCOMMANDS),
    spec("post", -1, 0, NO_SUBCOMMANDS),
    spec("psetex", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("psubscribe", -2, 0, NO_SUBCOMMANDS),
    spec("psync", -3, 0, NO_SUBCOMMANDS),
    spec("pttl", 2, 0, NO_SUBCOMMANDS),
    spec("publish", 3, 0, NO_SUBCOMMANDS),
    spec("pubsub", -2, 0, PUBSUB_SUBCOMMANDS),
    spec("punsubscribe", -1, 0, NO_SUBCOMMANDS),
    spec("quit", -1, 0, NO_SUBCOMMANDS),
    spec("randomkey", 1, 0, NO_SUBCOMMANDS),
    spec("readonly", 1, 0, NO_SUBCOMMANDS),
    spec("readwrite", 1, 0, NO_SUBCOMMANDS),
    spec("rename", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("renamenx", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("replconf", -1, 0, NO_SUBCOMMANDS),
    spec("replicaof", 3, 0, NO_SUBCOMMANDS),
    spec("reset", 1, 0, NO_SUBCOMMANDS),
    spec("restore", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("restore-asking", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("role", 1, 0, NO_SUBCOMMANDS),
    spec("rpop", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("rpoplpush", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("rpush", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("rpushx", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("sadd", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("save", 1, 0, NO_SUBCOMMANDS),
    spec("scan", -2, 0, NO_SUBCOMMANDS),
    spec("scard", 2, 0, NO_SUBCOMMANDS),
    spec("script", -2, AOF, SCRIPT_SUBCOMMANDS),
    spec("sdiff", -2, 0, NO_SUBCOMMANDS),
    spec("sdiffstore", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("select", 2, AOF, NO_SUBCOMMANDS),
    spec("set", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("setbit", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("setex", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("setnx", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("setrange", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("shutdown", -1, 0, NO_SUBCOMMANDS),
    spec("sinter", -2, 0, NO_SUBCOMMANDS),
    spec("sintercard", -3, 0, NO_SUBCOMMANDS),
    spec("sinterstore", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("sismember", 3, 0, NO_SUBCOMMANDS),
    spec("slaveof", 3, 0, NO_SUBCOMMANDS),
    spec("slowlog", -2, 0, SLOWLOG_SUBCOMMANDS),
    spec("smembers", 2, 0, NO_SUBCOMMANDS),
    spec("smismember", -3, 0, NO_SUBCOMMANDS),
    spec("smove", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("sort", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("sort_ro", -2, 0, NO_SUBCOMMANDS),
    spec("spop", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("spublish", 3, 0, NO_SUBCOMMANDS),
    spec("srandmember", -2, 0, NO_SUBCOMMANDS),
    spec("srem", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("sscan", -3, 0, NO_SUBCOMMANDS),
    spec("ssubscribe", -2, 0, NO_SUBCOMMANDS),
    spec("stralgo", -2, 0, NO_SUBCOMMANDS),
    spec("strlen", 2, 0, NO_SUBCOMMANDS),
    spec("subscribe", -2, 0, NO_SUBCOMMANDS),
    spec("substr", 4, 0, NO_SUBCOMMANDS),
    spec("sunion", -2, 0, NO_SUBCOMMANDS),
    spec("sunionstore", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("sunsubscribe", -1, 0, NO_SUBCOMMANDS),
    spec("swapdb", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("sync", 1, 0, NO_SUBCOMMANDS),
    spec("time", 1, 0, NO_SUBCOMMANDS),
    spec("touch", -2, 0, NO_SUBCOMMANDS),
    spec("ttl", 2, 0, NO_SUBCOMMANDS),
    spec("type", 2, 0, NO_SUBCOMMANDS),
    spec("unlink", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("unsubscribe", -1, 0, NO_SUBCOMMANDS),
    spec("unwatch", 1, 0, NO_SUBCOMMANDS),
    spec("vadd", -1, WRITE | AOF | MODULE, NO_SUBCOMMANDS),
    spec("vcard", -1, MODULE, NO_SUBCOMMANDS),
    spec("vdim", -1, MODULE, NO_SUBCOMMANDS),
    spec("vemb", -1, MODULE, NO_SUBCOMMANDS),
    spec("vgetattr", -1, MODULE, NO_SUBCOMMANDS),
    spec("vinfo", -1, MODULE, NO_SUBCOMMANDS),
    spec("vismember", -1, MODULE, NO_SUBCOMMANDS),
    spec("vlinks", -1, MODULE, NO_SUBCOMMANDS),
    spec("vrandmember", -1, MODULE, NO_SUBCOMMANDS),
    spec("vrem", -1, WRITE | AOF | MODULE, NO_SUBCOMMANDS),
    spec("vsetattr", -1, WRITE | AOF | MODULE, NO_SUBCOMMANDS),
    spec("vsim", -1, MODULE, NO_SUBCOMMANDS),
    spec("wait", 3, 0, NO_SUBCOMMANDS),
    spec("waitaof", 4, 0, NO_SUBCOMMANDS),
    spec("watch", -2, 0, NO_SUBCOMMANDS),
    spec("xack", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("xackdel", -6, WRITE | AOF, NO_SUBCOMMANDS),
    spec("xadd", -5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("xautoclaim", -6, WRITE | AOF, NO_SUBCOMMANDS),
    spec("xcfgset", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("xclaim", -6, WRITE | AOF, NO_SUBCOMMANDS),
    spec("xdel", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("xdelex", -5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("xgroup", -2, WRITE | AOF, XGROUP_SUBCOMMANDS),
    spec("xinfo", -2, 0, XINFO_SUBCOMMANDS),
    spec("xlen", 2, 0, NO_SUBCOMMANDS),
    spec("xpending", -3, 0, NO_SUBCOMMANDS),
    spec("xrange", -4, 0, NO_SUBCOMMANDS),
    spec("xread", -4, 0, NO_SUBCOMMANDS),
    spec("xreadgroup", -7, WRITE | AOF, NO_SUBCOMMANDS),
    spec("xrevrange", -4, 0, NO_SUBCOMMANDS),
    spec("xsetid", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("xtrim", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zadd", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zcard", 2, 0, NO_SUBCOMMANDS),
    spec("zcount", 4, 0, NO_SUBCOMMANDS),
    spec("zdiff", -3, 0, NO_SUBCOMMANDS),
    spec("zdiffstore", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zincrby", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zinter", -3, 0, NO_SUBCOMMANDS),
    spec("zintercard", -3, 0, NO_SUBCOMMANDS),
    spec("zinterstore", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zlexcount", 4, 0, NO_SUBCOMMANDS),
    spec("zmpop", -4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zmscore", -3, 0, NO_SUBCOMMANDS),
    spec("zpopmax", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zpopmin", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zrandmember", -2, 0, NO_SUBCOMMANDS),
    spec("zrange", -4, 0, NO_SUBCOMMANDS),
    spec("zrangebylex", -4, 0, NO_SUBCOMMANDS),
    spec("zrangebyscore", -4, 0, NO_SUBCOMMANDS),
    spec("zrangestore", -5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zrank", -3, 0, NO_SUBCOMMANDS),
    spec("zrem", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zremrangebylex", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zremrangebyrank", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zremrangebyscore", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("zrevrange", -4, 0, NO_SUBCOMMANDS),
    spec("zrevrangebylex", -4, 0, NO_SUBCOMMANDS),
    spec("zrevrangebyscore", -4, 0, NO_SUBCOMMANDS),
    spec("zrevrank", -3, 0, NO_SUBCOMMANDS),
    spec("zscan", -3, 0, NO_SUBCOMMANDS),
    spec("zscore", 3, 0, NO_SUBCOMMANDS),
    spec("zunion", -3, 0, NO_SUBCOMMANDS),
    spec("zunionstore", -4, WRITE | AOF, NO_SUBCOMMANDS),
];

const ACL_SUBCOMMANDS: &[CommandSpec] = &[
    spec("cat", -2, 0, NO_SUBCOMMANDS),
    spec("deluser", -3, 0, NO_SUBCOMMANDS),
    spec("dryrun", -4, 0, NO_SUBCOMMANDS),
    spec("genpass", -2, 0, NO_SUBCOMMANDS),
    spec("getuser", 3, 0, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("list", 2, 0, NO_SUBCOMMANDS),
    spec("load", 2, 0, NO_SUBCOMMANDS),
    spec("log", -2, 0, NO_SUBCOMMANDS),
    spec("save", 2, 0, NO_SUBCOMMANDS),
    spec("setuser", -3, 0, NO_SUBCOMMANDS),
    spec("users", 2, 0, NO_SUBCOMMANDS),
    spec("whoami", 2, 0, NO_SUBCOMMANDS),
];

const CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    spec("caching", 3, 0, NO_SUBCOMMANDS),
    spec("capa", -3, 0, NO_SUBCOMMANDS),
    spec("getname", 2, 0, NO_SUBCOMMANDS),
    spec("getredir", 2, 0, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("id", 2, 0, NO_SUBCOMMANDS),
    spec("import-source", 3, 0, NO_SUBCOMMANDS),
    spec("info", 2, 0, NO_SUBCOMMANDS),
    spec("kill", -3, 0, NO_SUBCOMMANDS),
    spec("list", -2, 0, NO_SUBCOMMANDS),
    spec("no-evict", 3, 0, NO_SUBCOMMANDS),
    spec("no-touch", 3, 0, NO_SUBCOMMANDS),
    spec("pause", -3, 0, NO_SUBCOMMANDS),
    spec("reply", 3, 0, NO_SUBCOMMANDS),
    spec("setinfo", 4, 0, NO_SUBCOMMANDS),
    spec("setname", 3, 0, NO_SUBCOMMANDS),
    spec("tracking", -3, 0, NO_SUBCOMMANDS),
    spec("trackinginfo", 2, 0, NO_SUBCOMMANDS),
    spec("unblock", -3, 0, NO_SUBCOMMANDS),
    spec("unpause", 2, 0, NO_SUBCOMMANDS),
];

const CLUSTER_SUBCOMMANDS: &[CommandSpec] = &[
    spec("addslots", -3, 0, NO_SUBCOMMANDS),
    spec("addslotsrange", -4, 0, NO_SUBCOMMANDS),
    spec("bumpepoch", 2, 0, NO_SUBCOMMANDS),
    spec("cancelslotmigrations", 2, 0, NO_SUBCOMMANDS),
    spec("count-failure-reports", 3, 0, NO_SUBCOMMANDS),
    spec("countkeysinslot", 3, 0, NO_SUBCOMMANDS),
    spec("delslots", -3, 0, NO_SUBCOMMANDS),
    spec("delslotsrange", -4, 0, NO_SUBCOMMANDS),
    spec("failover", -2, 0, NO_SUBCOMMANDS),
    spec("flushslot", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("flushslots", 2, 0, NO_SUBCOMMANDS),
    spec("forget", 3, 0, NO_SUBCOMMANDS),
    spec("getkeysinslot", 4, 0, NO_SUBCOMMANDS),
    spec("getslotmigrations", 2, 0, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("info", 2, 0, NO_SUBCOMMANDS),
    spec("keyslot", 3, 0, NO_SUBCOMMANDS),
    spec("links", 2, 0, NO_SUBCOMMANDS),
    spec("meet", -4, 0, NO_SUBCOMMANDS),
    spec("migrateslots", -4, 0, NO_SUBCOMMANDS),
    spec("myid", 2, 0, NO_SUBCOMMANDS),
    spec("myshardid", 2, 0, NO_SUBCOMMANDS),
    spec("nodes", 2, 0, NO_SUBCOMMANDS),
    spec("replicas", 3, 0, NO_SUBCOMMANDS),
    spec("replicate", -3, 0, NO_SUBCOMMANDS),
    spec("reset", -2, 0, NO_SUBCOMMANDS),
    spec("saveconfig", 2, 0, NO_SUBCOMMANDS),
    spec("set-config-epoch", 3, 0, NO_SUBCOMMANDS),
    spec("setslot", -4, 0, NO_SUBCOMMANDS),
    spec("shards", 2, 0, NO_SUBCOMMANDS),
    spec("slaves", 3, 0, NO_SUBCOMMANDS),
    spec("slot-stats", -4, 0, NO_SUBCOMMANDS),
    spec("slots", 2, 0, NO_SUBCOMMANDS),
    spec("syncslots", -3, 0, NO_SUBCOMMANDS),
];

const COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    spec("count", 2, 0, NO_SUBCOMMANDS),
    spec("docs", -2, 0, NO_SUBCOMMANDS),
    spec("getkeys", -3, 0, NO_SUBCOMMANDS),
    spec("getkeysandflags", -3, 0, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("info", -2, 0, NO_SUBCOMMANDS),
    spec("list", -2, 0, NO_SUBCOMMANDS),
];

const COMMANDLOG_SUBCOMMANDS: &[CommandSpec] = &[
    spec("get", 4, 0, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("len", 3, 0, NO_SUBCOMMANDS),
    spec("reset", 3, 0, NO_SUBCOMMANDS),
];

const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    spec("get", -3, 0, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("resetstat", 2, 0, NO_SUBCOMMANDS),
    spec("rewrite", 2, 0, NO_SUBCOMMANDS),
    spec("set", -4, 0, NO_SUBCOMMANDS),
];

const FUNCTION_SUBCOMMANDS: &[CommandSpec] = &[
    spec("delete", 3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("dump", 2, 0, NO_SUBCOMMANDS),
    spec("flush", -2, WRITE | AOF, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("kill", 2, 0, NO_SUBCOMMANDS),
    spec("list", -2, 0, NO_SUBCOMMANDS),
    spec("load", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("restore", -3, WRITE | AOF, NO_SUBCOMMANDS),
    spec("stats", 2, 0, NO_SUBCOMMANDS),
];

const LATENCY_SUBCOMMANDS: &[CommandSpec] = &[
    spec("doctor", 2, 0, NO_SUBCOMMANDS),
    spec("graph", 3, 0, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("histogram", -2, 0, NO_SUBCOMMANDS),
    spec("history", 3, 0, NO_SUBCOMMANDS),
    spec("latest", 2, 0, NO_SUBCOMMANDS),
    spec("reset", -2, 0, NO_SUBCOMMANDS),
];

const MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    spec("doctor", 2, 0, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("malloc-stats", 2, 0, NO_SUBCOMMANDS),
    spec("purge", 2, 0, NO_SUBCOMMANDS),
    spec("stats", 2, 0, NO_SUBCOMMANDS),
    spec("usage", -3, 0, NO_SUBCOMMANDS),
];

const MODULE_SUBCOMMANDS: &[CommandSpec] = &[
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("list", 2, 0, NO_SUBCOMMANDS),
    spec("load", -3, 0, NO_SUBCOMMANDS),
    spec("loadex", -3, 0, NO_SUBCOMMANDS),
    spec("unload", 3, 0, NO_SUBCOMMANDS),
];

const OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    spec("encoding", 3, 0, NO_SUBCOMMANDS),
    spec("freq", 3, 0, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("idletime", 3, 0, NO_SUBCOMMANDS),
    spec("refcount", 3, 0, NO_SUBCOMMANDS),
];

const PUBSUB_SUBCOMMANDS: &[CommandSpec] = &[
    spec("channels", -2, 0, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("numpat", 2, 0, NO_SUBCOMMANDS),
    spec("numsub", -2, 0, NO_SUBCOMMANDS),
    spec("shardchannels", -2, 0, NO_SUBCOMMANDS),
    spec("shardnumsub", -2, 0, NO_SUBCOMMANDS),
];

const SCRIPT_SUBCOMMANDS: &[CommandSpec] = &[
    spec("debug", -3, 0, NO_SUBCOMMANDS),
    spec("exists", -3, 0, NO_SUBCOMMANDS),
    spec("flush", -2, AOF, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("kill", 2, 0, NO_SUBCOMMANDS),
    spec("load", 3, AOF, NO_SUBCOMMANDS),
    spec("show", 3, 0, NO_SUBCOMMANDS),
];

const SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    spec("get", -2, 0, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("len", 2, 0, NO_SUBCOMMANDS),
    spec("reset", 2, 0, NO_SUBCOMMANDS),
];

const XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    spec("create", -5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("createconsumer", 5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("delconsumer", 5, WRITE | AOF, NO_SUBCOMMANDS),
    spec("destroy", 4, WRITE | AOF, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("setid", -5, WRITE | AOF, NO_SUBCOMMANDS),
];

const XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    spec("consumers", 4, 0, NO_SUBCOMMANDS),
    spec("groups", 3, 0, NO_SUBCOMMANDS),
    spec("help", 2, 0, NO_SUBCOMMANDS),
    spec("stream", -3, 0, NO_SUBCOMMANDS),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(t: &[CommandSpec]) -> bool {
        t.windows(2).all(|w| w[0].name < w[1].name)
    }

    #[test]
    fn tables_are_sorted_lowercase_and_short() {
        assert!(sorted(COMMANDS));
        for c in COMMANDS {
            assert!(sorted(c.subcommands), "{}", c.name);
            for s in std::iter::once(c).chain(c.subcommands) {
                assert_eq!(s.name, s.name.to_ascii_lowercase());
                assert!(s.name.len() <= MAX_NAME);
                assert_ne!(s.arity, 0, "{}", s.name);
            }
        }
    }

    #[test]
    fn covers_what_servers_write_to_an_aof() {
        let must = [
            "set",
            "del",
            "unlink",
            "expire",
            "pexpireat",
            "multi",
            "exec",
            "select",
            "swapdb",
            "flushall",
            "flushdb",
            "restore",
            "pfadd",
            "pfmerge",
            "setrange",
            "bitfield",
            "geoadd",
            "copy",
            "move",
            "hsetex",
            "hgetex",
            "hexpire",
            "hpexpire",
            "hexpireat",
            "hpexpireat",
            "hpersist",
            "hgetdel",
            "xadd",
            "xtrim",
            "xdel",
            "xgroup",
            "xack",
            "xclaim",
            "xautoclaim",
            "xsetid",
            "xdelex",
            "xackdel",
            "function",
            "eval",
            "evalsha",
            "fcall",
            "delifeq",
            "msetex",
            "delex",
            "xcfgset",
            "vadd",
        ];
        for name in must {
            match lookup(&[name.as_bytes()]) {
                Lookup::Known { spec, .. } => {
                    assert!(spec.written_to_aof() || spec.is_container(), "{name}")
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(
            matches!(lookup(&[b"PUBLISH"]), Lookup::Known { spec, .. } if !spec.written_to_aof())
        );
    }

    #[test]
    fn every_command_is_found_by_its_name_in_any_case() {
        for spec in COMMANDS {
            let upper = spec.name.to_ascii_uppercase();
            for name in [spec.name.as_bytes(), upper.as_bytes()] {
                let found = find_command(name).map(|s| s.name);
                assert_eq!(found, Some(spec.name));
                assert_eq!(found, find(COMMANDS, name).map(|s| s.name));
            }
        }
        for name in [&b"nosuch"[..], b"", b"sett", b"se", &[b'x'; 40]] {
            assert!(find_command(name).is_none(), "{name:?}");
        }
    }

    #[test]
    fn every_command_and_subcommand_has_its_uppercase_display_name() {
        for c in COMMANDS {
            let name = c.name.as_bytes();
            let Lookup::Known { spec, container } = lookup(&[name]) else {
                panic!("{}", c.name);
            };
            assert_eq!(display_name(spec, container), c.name.to_ascii_uppercase());
            for sub in c.subcommands {
                let Lookup::Known { spec, container } = lookup(&[name, sub.name.as_bytes()]) else {
                    panic!("{} {}", c.name, sub.name);
                };
                let want = format!("{} {}", c.name, sub.name).to_ascii_uppercase();
                assert_eq!(display_name(spec, container), want);
            }
        }
    }

    #[test]
    fn lookup_is_case_insensitive_and_resolves_subcommands() {
        match lookup(&[b"xGroup", b"CREATE", b"s", b"g", b"$"]) {
            Lookup::Known { spec, container } => {
                assert_eq!(spec.name, "create");
                assert_eq!(spec.arity, -5);
                assert!(spec.arity_ok(5));
                assert!(!spec.arity_ok(4));
                assert_eq!(display_name(spec, container), "XGROUP CREATE");
            }
            other => panic!("{other:?}"),
        }
        match lookup(&[b"FUNCTION", b"LOAD", b"code"]) {
            Lookup::Known { spec, .. } => assert!(spec.written_to_aof()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            lookup(&[b"xgroup", b"nosuch"]),
            Lookup::UnknownSubcommand { .. }
        ));
        // A container alone resolves to the container (arity -2 fails).
        match lookup(&[b"xgroup"]) {
            Lookup::Known { spec, .. } => assert!(!spec.arity_ok(1)),
            other => panic!("{other:?}"),
        }
        assert_eq!(lookup(&[b"JSON.SET", b"k"]), Lookup::Module);
        assert_eq!(lookup(&[b"NOSUCHCMD"]), Lookup::Unknown);
        assert_eq!(lookup(&[&[0xff; 100][..]]), Lookup::Unknown);
        assert_eq!(lookup(&[]), Lookup::Unknown);
    }

    #[test]
    fn arity_convention() {
        let set = match lookup(&[b"set"]) {
            Lookup::Known { spec, .. } => spec,
            other => panic!("{other:?}"),
        };
        assert!(set.arity_ok(3) && set.arity_ok(5) && !set.arity_ok(2));
        let get = match lookup(&[b"get"]) {
            Lookup::Known { spec, .. } => spec,
            other => panic!("{other:?}"),
        };
        assert!(get.arity_ok(2) && !get.arity_ok(3));
        assert_eq!(get.arity_text(), "exactly 2");
        assert_eq!(set.arity_text(), "at least 3");
    }
}
