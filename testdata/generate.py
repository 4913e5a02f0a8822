#!/usr/bin/env python3
"""Regenerate redcheck's RDB / AOF fixtures with the real servers.

    python3 testdata/generate.py                       # all installed servers
    python3 testdata/generate.py --only redis-7.0      # one server (repeatable / comma list)
    python3 testdata/generate.py --list                # show the datasets per server
    python3 testdata/generate.py --dataset cluster     # only these datasets (repeatable / comma
                                                       # list); the others are left as they are

Writes testdata/rdb/<server>/<dataset>.rdb + <dataset>.expected.json and
testdata/aof/<server>/<dataset>/ (multi-part: manifest + files) or <dataset>.aof (Redis 6.2
single file) + <dataset>.expected.json.  A server that is not installed is skipped with a
message (see .ci/install-servers.sh).  Every server runs in its own temp dir and listens only
on a unix socket (port 0).  The servers run in parallel, one thread each.

Exit status: 0 when every fixture was written and every RDB passed the server's own
redis-check-rdb / valkey-check-rdb (and loads back into the server); 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # keep testdata/ free of __pycache__

import rdbinfo  # noqa: E402
import servers  # noqa: E402
from servers import Client, NotInstalled, RespError, Server  # noqa: E402

FAR_FUTURE_MS = 4102444800000  # 2100-01-01T00:00:00Z: never expires before verification
STREAM_MS = 1700000000000  # explicit stream IDs keep stream content deterministic
SHORT_TTL_MS = 2000  # the "expired" dataset: keys die ~2 s after creation

BASIC_TYPES = ("string", "list", "set", "zset", "hash", "stream")

_print_lock = threading.Lock()


def log(server: str, msg: str):
    with _print_lock:
        print(f"[{server}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# Capabilities


class Caps:
    def __init__(self, name: str, version: str):
        self.name = name
        self.version = version
        self.valkey = servers.is_valkey(name)
        v = tuple(int(x) for x in version.split(".")[:3])
        self.v = v
        # Valkey forked from Redis 7.2.4: every Redis <= 7.2 feature is there.
        redis_equiv = (7, 2, 4) if self.valkey else v
        self.functions = redis_equiv >= (7, 0, 0)
        self.listpack_names = redis_equiv >= (7, 0, 0)  # *-max-listpack-* config names
        self.set_listpack = redis_equiv >= (7, 2, 0)
        self.list_listpack = redis_equiv >= (7, 2, 0)
        self.plain_nodes = redis_equiv >= (7, 0, 0)
        # 7.0/7.1 only make plain nodes for elements >= packed_threshold (1 GB unless lowered
        # with DEBUG QUICKLIST-PACKED-THRESHOLD); 7.2+ for elements bigger than the fill limit.
        self.plain_needs_debug = (7, 0, 0) <= redis_equiv < (7, 2, 0)
        self.hfe = (self.valkey and v >= (9, 0, 0)) or (not self.valkey and v >= (7, 4, 0))
        self.multipart_aof = redis_equiv >= (7, 0, 0)
        self.aof_timestamps = redis_equiv >= (7, 0, 0)
        self.vectorset = not self.valkey and v >= (8, 0, 0)
        self.falkordb = name == "redis-8.2"

    def cfg(self, old: str) -> str:
        """Config directive name: ziplist-era name on 6.2, listpack name on 7.0+."""
        if self.listpack_names:
            return old.replace("ziplist", "listpack")
        return old


# --------------------------------------------------------------------------------------------
# Helpers


def rand_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def rand_word(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))


_CRC_TABLE = None


def crc64_redis(data: bytes) -> int:
    """CRC-64/Jones as used by Redis (reflected, poly 0xad93d23594c935a9, init 0, no xorout)."""
    global _CRC_TABLE
    if _CRC_TABLE is None:
        poly = 0x95AC9329AC4BC9B5  # reflected 0xad93d23594c935a9
        t = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ poly if c & 1 else c >> 1
            t.append(c)
        _CRC_TABLE = t
    t = _CRC_TABLE
    crc = 0
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


assert crc64_redis(b"123456789") == 0xE9C6D914C4B8D9CA


def rdb_header(path: str) -> tuple[str, int]:
    with open(path, "rb") as f:
        head = f.read(9)
    if head.startswith(b"REDIS") and head[5:9].isdigit():
        return "REDIS", int(head[5:9])
    if head.startswith(b"VALKEY") and head[6:9].isdigit():
        return "VALKEY", int(head[6:9])
    raise ValueError(f"{path}: unknown RDB magic {head!r}")


def rdb_checksum_state(path: str) -> str:
    """'ok' when the CRC64 trailer matches, 'disabled' when it is 0 (rdbchecksum no)."""
    with open(path, "rb") as f:
        data = f.read()
    stored = struct.unpack("<Q", data[-8:])[0]
    if stored == 0:
        return "disabled"
    calc = crc64_redis(data[:-8])
    if calc != stored:
        raise ValueError(f"{path}: CRC64 mismatch stored={stored:016x} computed={calc:016x}")
    return "ok"


def parse_checker_info(out: str) -> dict:
    """Pick the '[info] N keys read' style counters out of redis-check-rdb output."""
    res = {}
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("[info] "):
            continue
        parts = line[7:].split(" ", 1)
        if len(parts) == 2 and parts[0].isdigit():
            key = parts[1].strip().replace(" ", "_")
            res[key] = int(parts[0])
    return res


def write_json(path: str, obj: dict):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def census(c: Client, dbs) -> tuple[dict, dict, dict]:
    """TYPE and OBJECT ENCODING of every key (SCAN per db).
    Returns (types, encodings, module_types) with module-typed keys counted as 'module'."""
    types: dict[str, int] = {}
    encs: dict[str, int] = {}
    mods: dict[str, int] = {}
    for db in dbs:
        c.call("SELECT", db)
        keys = c.scan_keys()
        if not keys:
            continue
        tys = c.pipeline([("TYPE", k) for k in keys])
        ens = c.pipeline([("OBJECT", "ENCODING", k) for k in keys], raise_errors=False)
        for t, e in zip(tys, ens):
            t = t if isinstance(t, str) else t.decode()
            norm = t if t in BASIC_TYPES else "module"
            if norm == "module":
                mods[t] = mods.get(t, 0) + 1
            types[norm] = types.get(norm, 0) + 1
            e = "?" if isinstance(e, RespError) or e is None else e.decode()
            k = f"{norm}/{e}"
            encs[k] = encs.get(k, 0) + 1
    c.call("SELECT", 0)
    order = {t: i for i, t in enumerate(BASIC_TYPES + ("module",))}
    types = dict(sorted(types.items(), key=lambda kv: order[kv[0]]))
    encs = dict(sorted(encs.items(), key=lambda kv: (order[kv[0].split("/")[0]], kv[0])))
    return types, encs, dict(sorted(mods.items()))


def keyspace_summary(ks: dict) -> tuple[list, int, int, int]:
    dbs = []
    keys = expires = field_ttl = 0
    for db, f in sorted(ks.items()):
        if not f.get("keys"):
            continue
        dbs.append({"db": db, "keys": f["keys"], "expires": f.get("expires", 0)})
        keys += f["keys"]
        expires += f.get("expires", 0)
        # Redis 7.4+: subexpiry=, Valkey 9: keys_with_volatile_items=
        field_ttl += f.get("subexpiry", 0) + f.get("keys_with_volatile_items", 0)
    return dbs, keys, expires, field_ttl


# --------------------------------------------------------------------------------------------
# Data set builders (deterministic: fixed seeds, explicit stream IDs, absolute expiry times)


def cmds_strings(caps: Caps, rng: random.Random, p: str = "") -> list:
    return [
        ("SET", p + "str:int", "12345"),
        ("SET", p + "str:int8", "-7"),
        ("SET", p + "str:int16", "-30000"),
        ("SET", p + "str:int32", "2000000000"),
        ("SET", p + "str:int64", "9223372036854775807"),
        ("SET", p + "str:int-min", "-9223372036854775808"),
        ("SET", p + "str:leading-zero", "007"),  # not integer-encodable
        ("SET", p + "str:20digits", "12345678901234567890"),  # too big for int64
        ("SET", p + "str:float", "3.14159"),
        ("SET", p + "str:empty", ""),
        ("SET", p + "str:short", "hello world"),
        ("SET", p + "str:21", "x" * 21),  # LZF threshold edge (> 20 bytes)
        ("SET", p + "str:lzf", "compressible-" * 40),  # long, compressible -> LZF
        ("SET", p + "str:lzf-big", ("0123456789abcdef" * 1024)[:12000]),
        ("SET", p + "str:random", rand_bytes(rng, 300)),  # incompressible, binary
        ("SET", p.encode() + b"bin:\xff\xfe\x00\x80key", bytes(range(256))),
        ("SET", p.encode() + b"\x00", b"\x00"),
        ("SET", p + "str:utf8:ключ:ü", "значение ✓"),
        ("SET", p + "str:crlf", "line1\r\nline2\r\n*3\r\n$3\r\n"),
        ("INCRBY", p + "str:counter", 42),
        ("APPEND", p + "str:appended", "abc"),
        ("APPEND", p + "str:appended", "def" * 10),
        ("SETRANGE", p + "str:setrange", 100, "tail"),  # zero padded
    ]


def cmds_lists(caps: Caps, rng: random.Random, p: str = "", big: int = 2000) -> list:
    out = [
        ("RPUSH", p + "list:small", "a", "1", "-2", "hello", 1 << 40, -(1 << 62), b"\xff\x00bin",
         "x" * 30),
        # every listpack/ziplist integer width
        ("RPUSH", p + "list:ints", 0, 12, 127, -128, 4095, -4096, 32767, -32768, 8388607,
         -8388608, 2147483647, -2147483648, 9223372036854775807, -9223372036854775808),
        ("RPUSH", p + "list:strlens", "", "a" * 63, "b" * 64, "c" * 4095, "d" * 4096),
        ("LPUSH", p + "list:one", "only"),
    ]
    items = []
    for i in range(big):
        r = i % 5
        if r == 0:
            items.append(i)
        elif r == 1:
            items.append(f"item-{i:05d}")
        elif r == 2:
            items.append(rand_word(rng, 12))
        elif r == 3:
            items.append(-i * 1000003)
        else:
            items.append(f"value number {i} " + "z" * (i % 40))
    for i in range(0, len(items), 500):
        out.append(("RPUSH", p + "list:big", *items[i:i + 500]))
    return out


def cmds_plain_list(caps: Caps, rng: random.Random, p: str = "") -> list:
    """Quicklist PLAIN nodes (7.0+): elements bigger than the node limit."""
    if not caps.plain_nodes:
        return []
    return [
        ("RPUSH", p + "list:plain", "head", "p" * 9000, "mid", rand_bytes(rng, 8500), "tail"),
    ]


def cmds_sets(caps: Caps, rng: random.Random, p: str = "", big: int = 600) -> list:
    out = [
        ("SADD", p + "set:intset16", 1, 2, 3, -5, 300, 32767, -32768),
        ("SADD", p + "set:intset32", 1, 70000, -2147483648, 2147483647),
        ("SADD", p + "set:intset64", 1, 9223372036854775807, -9223372036854775808, 1 << 40),
        ("SADD", p + "set:small-strings", "apple", "banana", "cherry", b"\xff\x01", "1x"),
        ("SADD", p + "set:big-strings", *[f"member:{i}:{rand_word(rng, 6)}" for i in range(big)]),
        ("SADD", p + "set:big-ints", *range(0, big * 3, 3)),  # > set-max-intset-entries
        ("SADD", p + "set:longmember", "m" * 100, "short"),  # > *-max-listpack-value
    ]
    return out


def cmds_zsets(caps: Caps, rng: random.Random, p: str = "", big: int = 300) -> list:
    out = [
        ("ZADD", p + "zset:small", 0, "zero", 1.5, "one-and-half", -2, "neg", "inf", "pinf",
         "-inf", "ninf", 1e300, "huge", 123456789, "int-score", 0.1, "tenth"),
        ("ZADD", p + "zset:one", 42, "answer"),
    ]
    args = []
    for i in range(big):
        args += [round(rng.uniform(-1e6, 1e6), 3), f"zm:{i:04d}"]
    args += ["+inf", "top", "-inf", "bottom", 0, "zero", 2.5e-300, "tiny"]
    out.append(("ZADD", p + "zset:big", *args))
    out.append(("ZADD", p + "zset:longmember", 1, "q" * 100, 2, "short"))
    return out


def cmds_hashes(caps: Caps, rng: random.Random, p: str = "", big: int = 600) -> list:
    out = [
        ("HSET", p + "hash:small", "name", "redcheck", "count", 7, "neg", -123456789,
         "empty", "", b"\xffbin", b"\x00\x01", "float", "2.5"),
        ("HSET", p + "hash:longvalue", "f", "v" * 100, "g", "w"),  # > hash-max-*-value
    ]
    fv = []
    for i in range(big):
        fv += [f"field:{i:04d}", rand_word(rng, 10) if i % 3 else i * 7]
    out.append(("HSET", p + "hash:big", *fv))
    return out


def cmds_streams(caps: Caps, rng: random.Random, p: str = "", n: int = 60) -> list:
    s = p + "stream:main"
    out = []
    for i in range(n):
        sid = f"{STREAM_MS + i * 10}-{i % 3}"
        if i % 7 == 3:  # different field names -> no SAMEFIELDS flag
            out.append(("XADD", s, sid, "other", i, "extra", rand_word(rng, 5)))
        else:
            out.append(("XADD", s, sid, "sensor", f"s{i % 4}", "temp", 20 + i % 9,
                        "note", "n" * (i % 6)))
    out += [
        ("XGROUP", "CREATE", s, "g1", "0"),
        ("XGROUP", "CREATE", s, "g2", f"{STREAM_MS + 200}-0"),  # mid-stream: entries_read -1
        ("XGROUP", "CREATE", s, "g-empty", "$"),
        ("XREADGROUP", "GROUP", "g1", "alice", "COUNT", 10, "STREAMS", s, ">"),
        ("XREADGROUP", "GROUP", "g1", "bob", "COUNT", 8, "STREAMS", s, ">"),
        ("XREADGROUP", "GROUP", "g2", "carol", "COUNT", 5, "STREAMS", s, ">"),
        ("XACK", s, "g1", f"{STREAM_MS}-0", f"{STREAM_MS + 20}-2"),
        ("XCLAIM", s, "g1", "bob", 0, f"{STREAM_MS + 30}-0", f"{STREAM_MS + 40}-1"),
        # deletions: a few entries inside nodes, then trim the head
        ("XDEL", s, f"{STREAM_MS + 50}-2", f"{STREAM_MS + 250}-1", f"{STREAM_MS + 260}-2"),
        ("XTRIM", s, "MAXLEN", n - 8),
    ]
    if caps.v >= (6, 2, 0):
        out.append(("XGROUP", "CREATECONSUMER", s, "g1", "dave"))  # consumer with empty PEL
    # a stream whose entries were all deleted (length 0, no nodes, last-id kept)
    out += [
        ("XADD", p + "stream:emptied", f"{STREAM_MS}-1", "a", 1),
        ("XADD", p + "stream:emptied", f"{STREAM_MS}-2", "b", 2),
        ("XDEL", p + "stream:emptied", f"{STREAM_MS}-1", f"{STREAM_MS}-2"),
        ("XADD", p + "stream:small", f"{STREAM_MS}-0", "k", "v"),
        ("XADD", p + "stream:small", f"{STREAM_MS + 1}-0", "k", "v2", "k2", b"\xff"),
    ]
    return out


def cmds_hfe(caps: Caps, rng: random.Random, p: str = "", big: int = 600) -> list:
    """Hash field TTLs (Redis 7.4+: listpackex + hashtable; Valkey 9: hashtable only)."""
    if not caps.hfe:
        return []
    small = p + "hfe:small"
    bigk = p + "hfe:big"
    out = [
        ("HSET", small, "a", 1, "b", "two", "c", "three", "d", 4),
        ("HPEXPIREAT", small, FAR_FUTURE_MS + 5000, "FIELDS", 1, "c"),
        ("HPEXPIREAT", small, FAR_FUTURE_MS + 1000, "FIELDS", 2, "a", "b"),
    ]
    fv = []
    for i in range(big):
        fv += [f"f{i:04d}", rand_word(rng, 8)]
    out.append(("HSET", bigk, *fv))
    ttl_fields = [f"f{i:04d}" for i in range(0, big, 2)]
    out.append(("HPEXPIREAT", bigk, FAR_FUTURE_MS + 7000, "FIELDS", len(ttl_fields), *ttl_fields))
    out.append(("HPEXPIREAT", bigk, FAR_FUTURE_MS + 3000, "FIELDS", 2, "f0001", "f0003"))
    # few fields but a value > hash-max-listpack-value: hashtable with field TTLs
    out.append(("HSET", p + "hfe:longval", "long", "L" * 100, "short", "s"))
    out.append(("HPEXPIREAT", p + "hfe:longval", FAR_FUTURE_MS + 4000, "FIELDS", 1, "short"))
    # HSETEX (Redis 8.0+ / Valkey 9.0+) creating a hash whose every field has a TTL
    if caps.valkey:
        out.append(("HSETEX", p + "hfe:hsetex", "PXAT", FAR_FUTURE_MS + 9000, "FIELDS", 2,
                    "x", 1, "y", 2))
    elif caps.v >= (8, 0, 0):
        out.append(("HSETEX", p + "hfe:hsetex", "PXAT", FAR_FUTURE_MS + 9000, "FIELDS", 2,
                    "x", 1, "y", 2))
    # the key itself volatile as well
    out.append(("HSET", p + "hfe:both", "k", "v", "k2", "v2"))
    out.append(("HPEXPIREAT", p + "hfe:both", FAR_FUTURE_MS + 100, "FIELDS", 1, "k"))
    out.append(("PEXPIREAT", p + "hfe:both", FAR_FUTURE_MS + 200))
    return out


def cmds_volatile(caps: Caps, rng: random.Random, p: str = "") -> list:
    """Keys with far-future expiry times (not expired when a test runs)."""
    return [
        ("SET", p + "vol:str", "temp"),
        ("PEXPIREAT", p + "vol:str", FAR_FUTURE_MS),
        ("RPUSH", p + "vol:list", 1, 2, 3),
        ("PEXPIREAT", p + "vol:list", FAR_FUTURE_MS + 1),
        ("SADD", p + "vol:set", "a"),
        ("EXPIREAT", p + "vol:set", FAR_FUTURE_MS // 1000 + 3600),
        ("ZADD", p + "vol:zset", 1, "a"),
        ("PEXPIREAT", p + "vol:zset", FAR_FUTURE_MS + 12345),
        ("HSET", p + "vol:hash", "f", "v"),
        ("PEXPIREAT", p + "vol:hash", FAR_FUTURE_MS + 999),
        ("XADD", p + "vol:stream", f"{STREAM_MS}-0", "f", "v"),
        ("PEXPIREAT", p + "vol:stream", FAR_FUTURE_MS + 7),
    ]


FUNCTION_LIB = """#!lua name=redcheck_lib
local function echo(keys, args)
  return args[1]
end
local function setget(keys, args)
  redis.call('SET', keys[1], args[1])
  return redis.call('GET', keys[1])
end
redis.register_function('rc_echo', echo)
redis.register_function('rc_setget', setget)
"""

FUNCTION_LIB2 = """#!lua name=redcheck_lib2
redis.register_function{function_name='rc_ro', callback=function(keys, args) return #keys end, flags={'no-writes'}}
"""


def cmds_functions(caps: Caps) -> list:
    if not caps.functions:
        return []
    return [("FUNCTION", "LOAD", FUNCTION_LIB), ("FUNCTION", "LOAD", FUNCTION_LIB2)]


def cmds_other_dbs(caps: Caps, rng: random.Random) -> list:
    out = [("SELECT", 3)]
    out += cmds_strings(caps, rng, "db3:")[:6]
    out += [
        ("RPUSH", "db3:list", "x", "y", "z"),
        ("SADD", "db3:set", 1, 2, 3),
        ("ZADD", "db3:zset", 1, "a", 2, "b"),
        ("HSET", "db3:hash", "a", "1"),
        ("XADD", "db3:stream", f"{STREAM_MS}-5", "f", "v"),
        ("SET", "db3:vol", "v"),
        ("PEXPIREAT", "db3:vol", FAR_FUTURE_MS + 3),
        ("SELECT", 15),
        ("SET", "db15:only", "last db"),
        ("SET", "db15:vol", "v"),
        ("PEXPIREAT", "db15:vol", FAR_FUTURE_MS + 15),
        ("SELECT", 0),
    ]
    return out


def build_all_types(c: Client, caps: Caps, seed: int = 1, scale: float = 1.0) -> dict:
    rng = random.Random(seed)
    cmds = []
    cmds += cmds_strings(caps, rng)
    cmds += cmds_lists(caps, rng, big=int(2000 * scale))
    cmds += cmds_sets(caps, rng, big=max(600, int(600 * scale)))
    cmds += cmds_zsets(caps, rng, big=int(300 * scale))
    cmds += cmds_hashes(caps, rng, big=max(600, int(600 * scale)))
    cmds += cmds_streams(caps, rng)
    cmds += cmds_hfe(caps, rng)
    cmds += cmds_volatile(caps, rng)
    cmds += cmds_functions(caps)
    c.pipeline(cmds)
    make_plain_list(c, caps, rng)
    c.pipeline(cmds_other_dbs(caps, rng))
    return {}


def make_plain_list(c: Client, caps: Caps, rng: random.Random, p: str = ""):
    if not caps.plain_nodes:
        return
    if caps.plain_needs_debug:
        c.call("DEBUG", "QUICKLIST-PACKED-THRESHOLD", 4096)
    c.pipeline(cmds_plain_list(caps, rng, p))
    if caps.plain_needs_debug:
        c.call("DEBUG", "QUICKLIST-PACKED-THRESHOLD", 1 << 30)


def build_small_mix(c: Client, caps: Caps, seed: int) -> list[bytes]:
    """A few keys of every type; returns the key names."""
    rng = random.Random(seed)
    cmds = [
        ("SET", "s:int", 99), ("SET", "s:str", "short"), ("SET", "s:lzf", "abcd" * 30),
        ("RPUSH", "l:small", 1, "two", 3), ("RPUSH", "l:big", *range(300)),
        ("SADD", "set:int", 1, 2, 3), ("SADD", "set:str", "a", "b"),
        ("SADD", "set:big", *[f"m{i}" for i in range(200)]),
        ("ZADD", "z:small", 1, "a", "inf", "b"),
        ("ZADD", "z:big", *[x for i in range(200) for x in (i, f"m{i}")]),
        ("HSET", "h:small", "a", 1, "b", 2),
        ("HSET", "h:big", *[x for i in range(200) for x in (f"f{i}", rand_word(rng, 5))]),
        ("XADD", "x:stream", f"{STREAM_MS}-0", "a", 1),
        ("XADD", "x:stream", f"{STREAM_MS}-1", "a", 2),
        ("SET", "vol", "x"), ("PEXPIREAT", "vol", FAR_FUTURE_MS),
    ]
    c.pipeline(cmds)
    return c.scan_keys()


def cluster_config(caps: Caps) -> dict:
    """Cluster mode on a free 127.0.0.1 bus port (6.2 has no `cluster-port`: its bus listens
    on port + 10000, that is 10000 with port 0). Valkey 9 also keeps 16 dbs in cluster mode."""
    conf = {"cluster-enabled": "yes", "cluster-config-file": "nodes.conf",
            "cluster-node-timeout": "60000"}
    if caps.listpack_names:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            conf["cluster-port"] = str(s.getsockname()[1])
    if caps.valkey and caps.v >= (9, 0, 0):
        conf["cluster-databases"] = "16"
    return conf


def build_cluster(c: Client, caps: Caps) -> dict:
    """A one-node cluster owning every slot: keys of every type spread over the slots, hash
    tags putting several keys in one slot, some with a TTL; Valkey 9 also uses db 2."""
    try:
        c.call("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    except RespError:  # 6.2 has no ADDSLOTSRANGE
        c.call("CLUSTER", "ADDSLOTS", *range(16384))
    deadline = time.monotonic() + 30
    while b"cluster_state:ok" not in c.call("CLUSTER", "INFO"):
        if time.monotonic() > deadline:
            raise RuntimeError("cluster state not ok after 30 s")
        time.sleep(0.05)
    rng = random.Random(31)
    cmds = []
    # 1000 keys: the salvage tests damage every record of every fixture, and
    # their time grows with the square of the keys in one file.
    for i in range(1000):
        k = f"{{user:{i % 250}}}:k{i}" if i % 3 == 0 else f"c:{i}"
        kind = i % 6
        if kind == 0:
            cmds.append(("SET", k, rand_word(rng, rng.randrange(1, 40))))
        elif kind == 1:
            cmds.append(("HSET", k, "name", rand_word(rng), "n", i))
        elif kind == 2:
            cmds.append(("SADD", k, *range(i, i + rng.randrange(1, 9))))
        elif kind == 3:
            cmds.append(("ZADD", k, *[x for j in range(3) for x in (j * 1.5, f"m{j}")]))
        elif kind == 4:
            cmds.append(("RPUSH", k, *[rand_word(rng, 4) for _ in range(5)]))
        else:
            cmds.append(("XADD", k, f"{STREAM_MS}-{i}", "f", i))
        if i % 10 == 0:
            cmds.append(("PEXPIREAT", k, FAR_FUTURE_MS))
    if caps.valkey and caps.v >= (9, 0, 0):
        cmds.append(("SELECT", 2))
        cmds += [("SET", f"db2:{i}", i) for i in range(50)]
        cmds.append(("SELECT", 0))
    c.pipeline(cmds)
    return {}


def build_lfu(c: Client, caps: Caps) -> dict:
    keys = build_small_mix(c, caps, seed=11)
    # Give every key a distinct LFU counter via RESTORE ... FREQ (deterministic), and touch a
    # few keys to let the server bump counters itself.
    for i, k in enumerate(keys):
        dump = c.call("DUMP", k)
        pttl = c.call("PTTL", k)
        c.call("DEL", k)
        args = ["RESTORE", k, 0, dump, "FREQ", (i * 17) % 256]
        if pttl > 0:
            args = ["RESTORE", k, FAR_FUTURE_MS, dump, "ABSTTL", "FREQ", (i * 17) % 256]
        c.call(*args)
    c.pipeline([("GET", "s:str")] * 50)
    return {"object_freq": {k.decode(errors="replace"): c.call("OBJECT", "FREQ", k)
                            for k in keys}}


def build_lru(c: Client, caps: Caps) -> dict:
    keys = build_small_mix(c, caps, seed=12)
    for i, k in enumerate(keys):
        dump = c.call("DUMP", k)
        pttl = c.call("PTTL", k)
        c.call("DEL", k)
        if pttl > 0:
            c.call("RESTORE", k, FAR_FUTURE_MS, dump, "ABSTTL", "IDLETIME", 1000 * (i + 1))
        else:
            c.call("RESTORE", k, 0, dump, "IDLETIME", 1000 * (i + 1))
    # 100000 s idle: IDLE is written as seconds (rdbSaveLen)
    c.call("SET", "very-idle", "v")
    dump = c.call("DUMP", "very-idle")
    c.call("RESTORE", "very-idle", 0, dump, "REPLACE", "IDLETIME", 100000)
    keys = c.scan_keys()
    return {"object_idletime": {k.decode(errors="replace"): c.call("OBJECT", "IDLETIME", k)
                                for k in keys}}


def build_expired(c: Client, caps: Caps) -> dict:
    """Keys that expire SHORT_TTL_MS after creation; the RDB is saved before that."""
    rng = random.Random(21)
    deadline = int(time.time() * 1000) + SHORT_TTL_MS
    short = []
    cmds = []
    for i in range(6):
        k = f"short:{i}"
        short.append(k)
        cmds.append(("SET", k, f"dies soon {i}"))
        cmds.append(("PEXPIREAT", k, deadline))
    cmds += [("RPUSH", "short:list", 1, 2), ("PEXPIREAT", "short:list", deadline),
             ("HSET", "short:hash", "f", "v"), ("PEXPIREAT", "short:hash", deadline)]
    short += ["short:list", "short:hash"]
    cmds += [("SET", "long:str", "stays"), ("PEXPIREAT", "long:str", FAR_FUTURE_MS),
             ("SET", "persist:str", "no ttl"), ("ZADD", "persist:zset", 1, "m")]
    cmds += [("SELECT", 2), ("SET", "short:db2", "x"), ("PEXPIREAT", "short:db2", deadline),
             ("SET", "persist:db2", "y"), ("SELECT", 0)]
    short.append("short:db2")
    if caps.hfe:
        # the key stays, three of its fields expire
        cmds += [("HSET", "fields:expiring", "keep1", 1, "keep2", 2, "gone1", 3, "gone2", 4,
                  "gone3", rand_word(rng)),
                 ("HPEXPIREAT", "fields:expiring", deadline, "FIELDS", 3, "gone1", "gone2",
                  "gone3")]
    c.pipeline(cmds)
    return {"already_expired": len(short), "expire_deadline_ms": deadline,
            "expiring_fields": 3 if caps.hfe else 0}


def build_list_lzf(c: Client, caps: Caps) -> dict:
    """Quicklist with small count-limited nodes and list-compress-depth 1: the inner nodes are
    LZF-compressed in memory and are written as LZF blobs even with rdbcompression no."""
    items = [f"compressible list element {i:05d} " + "abc" * 8 for i in range(600)]
    c.pipeline([("RPUSH", "list:lzf", *items[i:i + 200]) for i in range(0, 600, 200)])
    c.call("RPUSH", "list:lzf-ints", *range(1000))
    return {}


def build_hfe(c: Client, caps: Caps) -> dict:
    rng = random.Random(31)
    c.pipeline(cmds_hfe(caps, rng, big=700))
    c.pipeline([("HSET", "plain:hash", "a", 1), ("HSET", "plain:bighash",
                                                  *[x for i in range(300) for x in (f"k{i}", i)])])
    return {}


def build_empty(c: Client, caps: Caps) -> dict:
    return {}


def build_functions_only(c: Client, caps: Caps) -> dict:
    c.pipeline(cmds_functions(caps))
    return {}


GRAPH_QUERIES = [
    "CREATE (:Person {name:'Alice', age:30})-[:KNOWS {since:2020}]->(:Person {name:'Bob', age:25})",
    "CREATE (:Person {name:'Carol', age:41, tags:['a','b']})-[:WORKS_AT]->(:Company {name:'Acme'})",
    "MATCH (a:Person {name:'Alice'}), (c:Company) CREATE (a)-[:WORKS_AT {role:'dev'}]->(c)",
    "CREATE INDEX FOR (p:Person) ON (p.name)",
]


def build_graph(c: Client, caps: Caps) -> dict:
    for q in GRAPH_QUERIES:
        c.call("GRAPH.QUERY", "graph:social", q)
    c.call("GRAPH.QUERY", "graph:tiny", "CREATE (:N {v:1})")
    c.call("SELECT", 1)
    c.call("GRAPH.QUERY", "graph:db1", "UNWIND range(1, 50) AS i CREATE (:Item {id:i})")
    c.call("SELECT", 0)
    c.pipeline([("SET", "plain:str", "next to a graph"), ("RPUSH", "plain:list", 1, 2)])
    return {}


def build_vectorset(c: Client, caps: Caps) -> dict:
    rng = random.Random(41)
    cmds = []
    for i in range(40):
        vec = [round(rng.uniform(-1, 1), 4) for _ in range(8)]
        cmds.append(("VADD", "vset:f32", "VALUES", 8, *vec, f"elem:{i}", "NOQUANT"))
    for i in range(20):
        vec = [round(rng.uniform(-1, 1), 4) for _ in range(4)]
        cmds.append(("VADD", "vset:q8attr", "VALUES", 4, *vec, f"e{i}", "Q8", "SETATTR",
                     json.dumps({"i": i, "even": i % 2 == 0})))
    for i in range(10):
        vec = [round(rng.uniform(-1, 1), 4) for _ in range(16)]
        cmds.append(("VADD", "vset:bin", "VALUES", 16, *vec, f"b{i}", "BIN"))
    cmds.append(("SET", "plain:str", "next to a vector set"))
    c.pipeline(cmds)
    return {}


# --------------------------------------------------------------------------------------------
# AOF builders: sequences of writes; far-future TTLs only, so the end state is stable


def aof_writes(c: Client, caps: Caps, seed: int, tag: str, n: int = 30):
    rng = random.Random(seed)
    cmds = [
        ("SET", f"{tag}:int", 123), ("SET", f"{tag}:str", "hello"),
        ("SET", f"{tag}:lzf", "aof-compressible-" * 20),
        ("SET", f"{tag}:bin".encode() + b"\xff\x00", rand_bytes(rng, 64)),
        ("SET", f"{tag}:crlf", "a\r\nb"),
        ("INCR", f"{tag}:counter"), ("INCRBYFLOAT", f"{tag}:float", "1.5"),
        ("APPEND", f"{tag}:str", " world"),
        ("RPUSH", f"{tag}:list", *range(n)), ("LPOP", f"{tag}:list"),
        ("RPUSH", f"{tag}:biglist", "e" * 9000, "small"),
        ("SADD", f"{tag}:set", *range(n)), ("SADD", f"{tag}:sset", "a", "b", "c"),
        ("SREM", f"{tag}:sset", "b"),
        ("ZADD", f"{tag}:zset", *[x for i in range(n) for x in (i * 1.5, f"m{i}")]),
        ("ZADD", f"{tag}:zset", "inf", "top", "-inf", "bottom"),
        ("HSET", f"{tag}:hash", *[x for i in range(n) for x in (f"f{i}", rand_word(rng, 6))]),
        ("HDEL", f"{tag}:hash", "f0"),
        ("XADD", f"{tag}:stream", f"{STREAM_MS}-1", "a", 1),
        ("XADD", f"{tag}:stream", f"{STREAM_MS}-2", "b", 2),
        ("XADD", f"{tag}:stream", f"{STREAM_MS}-3", "c", 3),
        ("XGROUP", "CREATE", f"{tag}:stream", "grp", "0"),
        ("XREADGROUP", "GROUP", "grp", "consumer1", "COUNT", 2, "STREAMS", f"{tag}:stream", ">"),
        ("XACK", f"{tag}:stream", "grp", f"{STREAM_MS}-1"),
        ("SET", f"{tag}:vol", "v"), ("PEXPIREAT", f"{tag}:vol", FAR_FUTURE_MS),
        ("SET", f"{tag}:gone", "x"), ("DEL", f"{tag}:gone"),
        ("MULTI",), ("SET", f"{tag}:tx1", 1), ("INCR", f"{tag}:tx2"), ("EXEC",),
        ("EVAL", "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])", 2,
         f"{tag}:lua1", f"{tag}:lua2", "from-lua"),
        ("SELECT", 2), ("SET", f"{tag}:db2", "in db 2"), ("HSET", f"{tag}:db2h", "a", 1),
        ("SELECT", 9), ("RPUSH", f"{tag}:db9", "x"), ("SELECT", 0),
    ]
    if caps.functions:
        cmds.insert(0, ("FUNCTION", "LOAD", "REPLACE", FUNCTION_LIB))
        cmds.append(("FCALL", "rc_setget", 1, f"{tag}:fcall", "via function"))
    if caps.hfe:
        cmds += [("HSET", f"{tag}:hfe", "a", 1, "b", 2, "c", 3),
                 ("HPEXPIREAT", f"{tag}:hfe", FAR_FUTURE_MS, "FIELDS", 2, "a", "b")]
    c.pipeline(cmds)


def wait_rewrite(c: Client, srv: Server):
    before = int(c.info("persistence").get("aof_rewrites", "-1"))
    try:
        c.call("BGREWRITEAOF")
    except RespError as e:
        if "already in progress" not in str(e) and "scheduled" not in str(e):
            raise
    srv.wait_persistence_idle()
    if before >= 0:  # 7.0+: make sure our rewrite is the one that completed
        deadline = time.monotonic() + 30
        while int(c.info("persistence").get("aof_rewrites", "0")) <= before:
            if time.monotonic() > deadline:
                raise RuntimeError("BGREWRITEAOF did not complete")
            time.sleep(0.02)
            srv.wait_persistence_idle()


def aof_plain(c, srv, caps):
    aof_writes(c, caps, 100, "a")
    return {}


def aof_rewrite_then_writes(c, srv, caps):
    aof_writes(c, caps, 101, "before")
    wait_rewrite(c, srv)
    aof_writes(c, caps, 102, "after")
    c.call("DEL", "before:str")
    return {}


def aof_history(c, srv, caps):
    aof_writes(c, caps, 103, "one")
    wait_rewrite(c, srv)
    aof_writes(c, caps, 104, "two")
    wait_rewrite(c, srv)
    aof_writes(c, caps, 105, "three")
    return {}


def aof_timestamps(c, srv, caps):
    aof_writes(c, caps, 106, "t1")
    wait_rewrite(c, srv)  # the RESP base starts with #TS:
    time.sleep(1.05)  # a new second -> the incr file starts with #TS:
    aof_writes(c, caps, 107, "t2")
    time.sleep(1.05)  # and another #TS: in the middle of the incr file
    aof_writes(c, caps, 108, "t3")
    return {}


def aof_flushall(c, srv, caps):
    aof_writes(c, caps, 109, "pre")
    ks = c.keyspace()
    before = {str(db): f["keys"] for db, f in ks.items() if f.get("keys")}
    c.call("FLUSHALL")
    aof_writes(c, caps, 110, "post", n=10)
    c.call("SET", "post:last", "end")
    return {"keys_before_flush": sum(before.values()), "dbsize_per_db_before_flush": before}


def aof_module(c, srv, caps):
    for q in GRAPH_QUERIES[:2]:
        c.call("GRAPH.QUERY", "graph:aof", q)
    c.call("VADD", "vset:aof", "VALUES", 3, 0.1, 0.2, 0.3, "e1")
    c.call("VADD", "vset:aof", "VALUES", 3, 0.3, 0.2, 0.1, "e2")
    c.call("SET", "plain", "x")
    wait_rewrite(c, srv)
    c.call("GRAPH.QUERY", "graph:aof", GRAPH_QUERIES[2])
    c.call("VADD", "vset:aof", "VALUES", 3, 0.5, 0.5, 0.5, "e3")
    return {}


# --------------------------------------------------------------------------------------------
# Per-server generator


class ServerGen:
    def __init__(self, name: str, root: str, errors: list, datasets: list | None = None):
        self.name = name
        # Only these datasets (None: all); the other fixtures stay as they are.
        self.datasets = datasets
        self.root = root
        self.errors = errors
        self.version = servers.server_version(name)
        self.caps = Caps(name, self.version)
        self.modules_all = []
        self.falkordb = None
        if self.caps.falkordb:
            try:
                self.falkordb = servers.module_path(name)
            except NotInstalled as e:
                log(name, f"FalkorDB module missing, skipping module datasets: {e}")
        self.stage = tempfile.mkdtemp(prefix=f"rcgen-{name}-")
        self.rdb_dir = os.path.join(self.stage, "rdb", name)
        self.aof_dir = os.path.join(self.stage, "aof", name)
        os.makedirs(self.rdb_dir)
        os.makedirs(self.aof_dir)
        self.deferred = []
        self.written = []

    def err(self, msg: str):
        log(self.name, "ERROR: " + msg)
        self.errors.append(f"{self.name}: {msg}")

    # ---------------------------------------------------------------------------- datasets
    def rdb_datasets(self):
        caps = self.caps
        zl = caps.cfg
        small_nodes = {zl("list-max-ziplist-size"): "-1", "stream-node-max-entries": "8"}
        all_desc = "every type x encoding this server writes, volatile keys, dbs 0/3/15"
        if caps.plain_nodes:
            all_desc += ", quicklist PLAIN nodes"
        if caps.functions:
            all_desc += ", functions"
        if caps.hfe:
            all_desc += ", hash field TTLs"
        ds = [
            # name, config, builder, modules, description
            ("expired", {}, build_expired, [],
             "keys expiring ~2 s after creation, saved before they expire"),
            ("all-types", small_nodes, build_all_types, [], all_desc),
            ("nocompress", dict(small_nodes, rdbcompression="no"), build_all_types, [],
             "all-types with rdbcompression no"),
            ("nochecksum", dict(small_nodes, rdbchecksum="no"), build_all_types, [],
             "all-types with rdbchecksum no (CRC trailer is 0)"),
            ("lfu", {"maxmemory-policy": "allkeys-lfu", "maxmemory": "256mb"}, build_lfu, [],
             "FREQ opcodes (allkeys-lfu)"),
            ("lru", {"maxmemory-policy": "allkeys-lru", "maxmemory": "256mb"}, build_lru, [],
             "IDLE opcodes (allkeys-lru)"),
            ("list-lzf", {zl("list-max-ziplist-size"): "16", "list-compress-depth": "1",
                          "rdbcompression": "no"}, build_list_lzf, [],
             "quicklist nodes LZF-compressed in memory, saved as LZF with rdbcompression no"),
            ("empty", {}, build_empty, [], "no keys at all"),
            ("cluster", cluster_config(caps), build_cluster, [],
             "cluster mode, one node owning all 16384 slots: SLOT_INFO opcodes (Redis 7.4+) "
             "or slot-info AUX fields (Valkey 8+)"),
        ]
        if caps.functions:
            ds.append(("functions-only", {}, build_functions_only, [],
                       "FUNCTION2 records and no keys"))
        if caps.hfe:
            ds.append(("hfe", {}, build_hfe, [], "hash field TTLs"))
        if caps.falkordb and self.falkordb:
            ds.append(("module-graph", {}, build_graph, [self.falkordb],
                       "FalkorDB graph keys (module type graphdata) + MODULE_AUX"))
        if caps.vectorset:
            ds.append(("module-vectorset", {}, build_vectorset, [],
                       "built-in vectorset module keys (no external module needed)"))
        return ds

    def aof_datasets(self):
        caps = self.caps
        if not caps.multipart_aof:
            return [
                ("preamble", {"aof-use-rdb-preamble": "yes"}, aof_rewrite_then_writes, [],
                 "single appendonly.aof: RDB preamble (after BGREWRITEAOF) + RESP tail"),
                ("resp", {"aof-use-rdb-preamble": "no"}, aof_rewrite_then_writes, [],
                 "single appendonly.aof, RESP only, rewritten then appended"),
                ("plain", {"aof-use-rdb-preamble": "no"}, aof_plain, [],
                 "single appendonly.aof, never rewritten"),
                ("flushall", {"aof-use-rdb-preamble": "no"}, aof_flushall, [],
                 "single appendonly.aof with FLUSHALL in the middle"),
            ]
        ds = [
            ("rdb-base", {"aof-use-rdb-preamble": "yes"}, aof_rewrite_then_writes, [],
             "multi-part: RDB base (after BGREWRITEAOF) + incr"),
            ("resp-base", {"aof-use-rdb-preamble": "no"}, aof_rewrite_then_writes, [],
             "multi-part: RESP base (after BGREWRITEAOF) + incr"),
            ("no-rewrite", {"aof-use-rdb-preamble": "yes"}, aof_plain, [],
             "multi-part: empty base created at start-up + incr with every write"),
            ("timestamps", {"aof-use-rdb-preamble": "no", "aof-timestamp-enabled": "yes"},
             aof_timestamps, [], "multi-part with #TS: annotations in base and incr"),
            ("history", {"aof-use-rdb-preamble": "yes", "aof-disable-auto-gc": "yes"},
             aof_history, [], "two rewrites with auto-gc off: history files kept"),
            ("flushall", {"aof-use-rdb-preamble": "yes"}, aof_flushall, [],
             "FLUSHALL in the middle of the incr file"),
        ]
        if caps.falkordb and self.falkordb:
            # RDB preamble only: neither FalkorDB nor the vectorset module implement the
            # aof_rewrite callback, a RESP rewrite crashes the child (invalidFunctionWasCalled).
            ds.append(("module", {"aof-use-rdb-preamble": "yes"}, aof_module, [self.falkordb],
                       "RDB base with module values (FalkorDB graph + vectorset) + incr with "
                       "GRAPH.QUERY / VADD"))
        return ds

    # ---------------------------------------------------------------------------- RDB
    def make_rdb(self, ds_name, config, build, modules, desc):
        t0 = time.monotonic()
        srv = Server(self.name, config=config, modules=modules)
        try:
            srv.start()
            with srv.client() as c:
                extra = build(c, self.caps) or {}
                ks = c.keyspace()
                types, encs, mods = census(c, ks.keys())
                ks2 = c.keyspace()
                if ks2 != ks:
                    raise RuntimeError(f"keyspace changed during census: {ks} -> {ks2}")
                c.call("SAVE")
                info_srv = c.info("server")
            srv.shutdown(save=False)
            src = os.path.join(srv.dir, "dump.rdb")
            dst = os.path.join(self.rdb_dir, ds_name + ".rdb")
            shutil.copyfile(src, dst)
        except Exception:
            srv.kill()
            log(self.name, srv.log_tail())
            raise
        finally:
            srv.cleanup()
        dbs, keys, expires, field_ttl = keyspace_summary(ks)
        magic, rdbver = rdb_header(dst)
        scan = rdbinfo.scan(dst)
        if (scan["keys"], scan["expires"]) != (keys, expires) or scan["magic"] != magic:
            raise RuntimeError(f"rdbinfo walk disagrees with INFO keyspace: {scan['keys']} keys "
                               f"{scan['expires']} expires vs {keys}/{expires}")
        exp = {
            "server": self.name,
            "server_version": info_srv.get("valkey_version") or info_srv.get("redis_version"),
            "rdb_version": rdbver,
            "magic": magic,
            "checksum": rdb_checksum_state(dst),
            "keys": keys,
            "expires": expires,
            "dbs": dbs,
            "types": types,
            "encodings": encs,
            "already_expired": extra.get("already_expired", 0),
            # independent top-level walk (testdata/rdbinfo.py); names as redis-check-rdb prints
            "rdb_types": scan["rdb_types"],
            "opcodes": scan["opcodes"],
            "aux_fields": sorted(scan["aux"]),
            "quicklist_nodes": scan["quicklist_nodes"],
            "lzf_strings": scan["lzf_strings"],
            "description": desc,
            "config": config,
        }
        if mods:
            exp["module_types"] = mods
            exp["module_values"] = scan["module_values"]
        if modules:
            exp["modules"] = [os.path.basename(m) for m in modules]
        if self.caps.hfe:
            exp["keys_with_field_ttl"] = field_ttl
        if "expire_deadline_ms" in extra:
            exp["expire_deadline_ms"] = extra["expire_deadline_ms"]
            exp["expiring_fields"] = extra.get("expiring_fields", 0)
        if "object_freq" in extra:  # OBJECT FREQ just before SAVE = the FREQ byte written
            exp["object_freq"] = extra["object_freq"]
        if "object_idletime" in extra:  # OBJECT IDLETIME (s) just before SAVE; IDLE may be +1
            exp["object_idletime"] = extra["object_idletime"]
        json_path = os.path.join(self.rdb_dir, ds_name + ".expected.json")

        def finish():
            if "expire_deadline_ms" in extra:  # run the checker once the keys are past due
                wait = extra["expire_deadline_ms"] / 1000 + 0.3 - time.time()
                if wait > 0:
                    time.sleep(wait)
            r = servers.run_checker(self.name, "rdb", dst)
            exp["checker"] = {"exit": r.returncode, "ok": r.returncode == 0}
            exp["checker"].update(parse_checker_info(r.stdout))
            if r.returncode != 0:
                self.err(f"rdb/{ds_name}.rdb rejected by check-rdb (exit {r.returncode}):\n"
                         + r.stdout[-2000:] + r.stderr[-2000:])
            ci = exp["checker"]
            if ci.get("keys_read") is not None and ci["keys_read"] != keys:
                self.err(f"rdb/{ds_name}: checker read {ci['keys_read']} keys, INFO said {keys}")
            if "already_expired" in ci and ci["already_expired"] != exp["already_expired"]:
                self.err(f"rdb/{ds_name}: checker says {ci['already_expired']} already expired, "
                         f"expected {exp['already_expired']}")
            self.verify_rdb_load(ds_name, dst, modules, keys - exp["already_expired"])
            write_json(json_path, exp)
            self.written += [dst, json_path]

        if "expire_deadline_ms" in extra:
            self.deferred.append(finish)
        else:
            finish()
        log(self.name, f"rdb {ds_name}: {os.path.getsize(dst)} bytes, {keys} keys "
                       f"({time.monotonic() - t0:.2f}s)")

    def verify_rdb_load(self, ds_name, path, modules, want_keys):
        """Load the saved file into a fresh server and compare the key count."""
        srv = Server(self.name, modules=modules)
        try:
            shutil.copyfile(path, os.path.join(srv.dir, "dump.rdb"))
            srv.start()
            with srv.client() as c:
                ks = c.keyspace()
            got = sum(f.get("keys", 0) for f in ks.values())
            if got != want_keys:
                self.err(f"rdb/{ds_name}: reloaded {got} keys, expected {want_keys}")
            srv.shutdown()
        except Exception as e:
            self.err(f"rdb/{ds_name}: reload failed: {e}\n{srv.log_tail()}")
        finally:
            srv.cleanup()

    # ---------------------------------------------------------------------------- AOF
    def make_aof(self, ds_name, config, steps, modules, desc):
        t0 = time.monotonic()
        single = not self.caps.multipart_aof
        conf = {"appendonly": "yes", "appendfsync": "always"}
        conf.update(config)
        srv = Server(self.name, config=conf, modules=modules)
        try:
            srv.start()
            with srv.client() as c:
                extra = steps(c, srv, self.caps) or {}
                srv.wait_persistence_idle()
                ks = c.keyspace()
                info_srv = c.info("server")
            srv.shutdown(save=False)
            if single:
                dst = os.path.join(self.aof_dir, ds_name + ".aof")
                shutil.copyfile(os.path.join(srv.dir, "appendonly.aof"), dst)
                files = [os.path.basename(dst)]
                check_target = dst
            else:
                dst = os.path.join(self.aof_dir, ds_name)
                shutil.copytree(os.path.join(srv.dir, "appendonlydir"), dst)
                files = sorted(os.listdir(dst))
                check_target = os.path.join(dst, "appendonly.aof.manifest")
        except Exception:
            srv.kill()
            log(self.name, srv.log_tail())
            raise
        finally:
            srv.cleanup()

        dbs, keys, expires, field_ttl = keyspace_summary(ks)
        exp = {
            "server": self.name,
            "server_version": info_srv.get("valkey_version") or info_srv.get("redis_version"),
            "form": "single" if single else "multipart",
            "path": os.path.basename(check_target) if single
            else f"{ds_name}/appendonly.aof.manifest",
            "dbsize_per_db": {str(d["db"]): d["keys"] for d in dbs},
            "keys": keys,
            "expires": expires,
            "timestamps": config.get("aof-timestamp-enabled") == "yes",
            "rdb_preamble": config.get("aof-use-rdb-preamble") == "yes",
            "description": desc,
            "config": conf,
        }
        for k in ("keys_before_flush", "dbsize_per_db_before_flush"):
            if k in extra:
                exp[k] = extra[k]
        if modules:
            exp["modules"] = [os.path.basename(m) for m in modules]
        if not single:
            exp["files"] = files
            exp["manifest"] = self.read_manifest(os.path.join(dst, "appendonly.aof.manifest"))
            base = [e for e in exp["manifest"] if e["type"] == "b"]
            exp["base"] = (None if not base else
                           ("rdb" if base[0]["file"].endswith(".rdb") else "resp"))
        else:
            with open(dst, "rb") as f:
                exp["base"] = "rdb" if f.read(5) == b"REDIS" else "resp"
        # the "has #TS: annotations" claim, checked on the bytes
        has_ts = False
        for fn in files:
            p = os.path.join(dst, fn) if not single else dst
            with open(p, "rb") as f:
                data = f.read()
            if data.startswith(b"#TS:") or b"\n#TS:" in data:
                has_ts = True
        if has_ts != exp["timestamps"]:
            self.err(f"aof/{ds_name}: timestamps={exp['timestamps']} but #TS found={has_ts}")
        r = servers.run_checker(self.name, "aof", check_target)
        exp["checker"] = {"exit": r.returncode, "ok": r.returncode == 0}
        valkey_rdb_base = self.caps.valkey and exp.get("base") == "rdb"
        if r.returncode != 0:
            if valkey_rdb_base and "format error" in r.stdout:
                exp["checker"]["known_issue"] = (
                    "valkey-check-aof 9.1 only recognises a REDIS-magic RDB base and rejects a "
                    "VALKEY080 base the server loads fine (FORMATS.md 4.5, valkey-io/valkey#4739)")
            else:
                self.err(f"aof/{ds_name} rejected by check-aof (exit {r.returncode}):\n"
                         + r.stdout[-2000:])
        self.verify_aof_load(ds_name, dst, single, modules, ks)
        json_path = os.path.join(self.aof_dir, ds_name + ".expected.json")
        write_json(json_path, exp)
        self.written += [dst, json_path]
        size = (os.path.getsize(dst) if single else
                sum(os.path.getsize(os.path.join(dst, f)) for f in files))
        log(self.name, f"aof {ds_name}: {size} bytes, {keys} keys, files={files} "
                       f"checker exit {r.returncode} ({time.monotonic() - t0:.2f}s)")

    @staticmethod
    def read_manifest(path):
        out = []
        with open(path) as f:
            for line in f:
                tok = line.split()
                if not tok or tok[0].startswith("#"):
                    continue
                d = dict(zip(tok[0::2], tok[1::2]))
                out.append({"file": d["file"], "seq": int(d["seq"]), "type": d["type"]})
        return out

    def verify_aof_load(self, ds_name, dst, single, modules, want_ks):
        srv = Server(self.name, config={"appendonly": "yes"}, modules=modules)
        try:
            if single:
                shutil.copyfile(dst, os.path.join(srv.dir, "appendonly.aof"))
            else:
                shutil.copytree(dst, os.path.join(srv.dir, "appendonlydir"))
            srv.start()
            with srv.client() as c:
                ks = c.keyspace()
            strip = lambda k: {d: {"keys": f.get("keys"), "expires": f.get("expires")}
                               for d, f in k.items() if f.get("keys")}
            if strip(ks) != strip(want_ks):
                self.err(f"aof/{ds_name}: reloaded keyspace {strip(ks)} != {strip(want_ks)}")
            srv.shutdown()
        except Exception as e:
            self.err(f"aof/{ds_name}: reload failed: {e}\n{srv.log_tail()}")
        finally:
            srv.cleanup()

    # ---------------------------------------------------------------------------- driver
    def run(self, what=("rdb", "aof")):
        try:
            if "rdb" in what:
                for ds in self.rdb_datasets():
                    if self.datasets and ds[0] not in self.datasets:
                        continue
                    try:
                        self.make_rdb(*ds)
                    except Exception as e:
                        self.err(f"rdb/{ds[0]} failed: {e!r}\n{traceback.format_exc()}")
            if "aof" in what:
                for ds in self.aof_datasets():
                    if self.datasets and ds[0] not in self.datasets:
                        continue
                    try:
                        self.make_aof(*ds)
                    except Exception as e:
                        self.err(f"aof/{ds[0]} failed: {e!r}\n{traceback.format_exc()}")
            for f in self.deferred:
                try:
                    f()
                except Exception as e:
                    self.err(f"deferred check failed: {e!r}\n{traceback.format_exc()}")
            self.install(what)
        finally:
            shutil.rmtree(self.stage, ignore_errors=True)

    def install(self, what):
        """Replace testdata/{rdb,aof}/<server>/ with the freshly generated tree."""
        for kind in what:
            src = os.path.join(self.stage, kind, self.name)
            dst = os.path.join(self.root, kind, self.name)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if self.datasets:
                # Some datasets only: add or replace their files, keep the rest.
                shutil.copytree(src, dst, dirs_exist_ok=True)
                continue
            tmp_old = dst + ".old"
            shutil.rmtree(tmp_old, ignore_errors=True)
            if os.path.exists(dst):
                os.rename(dst, tmp_old)
            shutil.copytree(src, dst)
            shutil.rmtree(tmp_old, ignore_errors=True)


def dir_size(path: str) -> int:
    total = 0
    for dp, _, fns in os.walk(path):
        for fn in fns:
            total += os.path.getsize(os.path.join(dp, fn))
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", action="append", default=[],
                    help="server name(s) to regenerate (repeatable or comma separated)")
    ap.add_argument("--what", choices=("rdb", "aof", "all"), default="all")
    ap.add_argument("--list", action="store_true", help="list the datasets and exit")
    ap.add_argument("--dataset", action="append", default=[],
                    help="dataset name(s) to regenerate (repeatable or comma separated); "
                         "the other fixtures are kept")
    ap.add_argument("--out", default=HERE, help="output root (default: testdata/)")
    args = ap.parse_args()

    wanted = [n for o in args.only for n in o.split(",") if n] or list(servers.NAMES)
    for n in wanted:
        if n not in servers.NAMES:
            ap.error(f"unknown server {n!r}; known: {', '.join(servers.NAMES)}")
    what = ("rdb", "aof") if args.what == "all" else (args.what,)

    gens = []
    errors: list[str] = []
    skipped = []
    for n in wanted:
        try:
            servers.server_path(n)
        except NotInstalled as e:
            print(f"[{n}] SKIPPED: {e}", flush=True)
            skipped.append(n)
            continue
        datasets = [d for o in args.dataset for d in o.split(",") if d] or None
        gens.append(ServerGen(n, args.out, errors, datasets))

    if args.list:
        for g in gens:
            for ds in g.rdb_datasets():
                print(f"{g.name}\trdb/{g.name}/{ds[0]}.rdb\t{ds[4]}")
            for ds in g.aof_datasets():
                print(f"{g.name}\taof/{g.name}/{ds[0]}\t{ds[4]}")
            shutil.rmtree(g.stage, ignore_errors=True)
        return 0

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, len(gens))) as ex:
        futs = [ex.submit(g.run, what) for g in gens]
        for f in futs:
            try:
                f.result()
            except Exception as e:
                errors.append(f"{e!r}\n{traceback.format_exc()}")
    print(f"done in {time.monotonic() - t0:.1f}s")
    for g in gens:
        for kind in what:
            d = os.path.join(args.out, kind, g.name)
            if os.path.isdir(d):
                print(f"  {kind}/{g.name}: {dir_size(d)} bytes")
    for kind in ("rdb", "aof"):
        d = os.path.join(args.out, kind)
        if os.path.isdir(d):
            print(f"  {kind}/ total: {dir_size(d)} bytes")
    if skipped:
        print("skipped (not installed): " + ", ".join(skipped))
    if errors:
        print(f"\n{len(errors)} ERROR(S):")
        for e in errors:
            print(" - " + e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
