#!/usr/bin/env python3
"""Tiny independent RDB walker used only to describe the generated fixtures.

    python3 testdata/rdbinfo.py FILE.rdb      # prints a JSON summary

It walks the top level of an RDB written by Redis 2.6 - 8.4 (RDB 5 - 12) or Valkey 9
(VALKEY080) and counts object types (named like redis-check-rdb does), opcodes, quicklist
PLAIN/PACKED nodes and LZF / integer-encoded strings.  It does not validate blob contents
(ziplists, listpacks, ...): it is a cross-check for generate.py, which refuses a file unless
this walk ends exactly at EOF+CRC and its key count matches the server's own INFO keyspace.
See /work/shared/docs/FORMATS.md sections 1 and 2 for the layouts.
"""

from __future__ import annotations

import json
import struct
import sys

TYPE_NAMES = [
    "string", "list-linked", "set-hashtable", "zset-v1", "hash-hashtable", "zset-v2",
    "module-pre-release", "module-value", "", "hash-zipmap", "list-ziplist", "set-intset",
    "zset-ziplist", "hash-ziplist", "quicklist", "stream", "hash-listpack", "zset-listpack",
    "quicklist-v2", "stream-v2", "set-listpack", "stream-v3",
    "hash-hashtable-md-pre-release", "hash-listpack-md-pre-release", "hash-hashtable-md",
    "hash-listpack-md",
]
VALKEY_TYPE_NAMES = dict(enumerate(TYPE_NAMES[:22]))
VALKEY_TYPE_NAMES[22] = "hash-volatile-items"

OPCODES = {
    0xFF: "EOF", 0xFE: "SELECTDB", 0xFD: "EXPIRETIME", 0xFC: "EXPIRETIME_MS", 0xFB: "RESIZEDB",
    0xFA: "AUX", 0xF9: "FREQ", 0xF8: "IDLE", 0xF7: "MODULE_AUX", 0xF6: "FUNCTION_PRE_GA",
    0xF5: "FUNCTION2", 0xF4: "SLOT_INFO",
}


class RdbError(Exception):
    pass


class Reader:
    def __init__(self, data: bytes):
        self.d = data
        self.p = 0
        self.lzf = 0
        self.intstr = 0

    def take(self, n: int) -> bytes:
        if self.p + n > len(self.d):
            raise RdbError(f"unexpected EOF at {self.p} (wanted {n} bytes)")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def u8(self) -> int:
        return self.take(1)[0]

    def length(self) -> tuple[int, bool]:
        b = self.u8()
        t = b >> 6
        if t == 0:
            return b & 0x3F, False
        if t == 1:
            return ((b & 0x3F) << 8) | self.u8(), False
        if t == 2:
            if b == 0x80:
                return struct.unpack(">I", self.take(4))[0], False
            if b == 0x81:
                return struct.unpack(">Q", self.take(8))[0], False
            raise RdbError(f"bad length byte {b:#x} at {self.p - 1}")
        return b & 0x3F, True

    def len(self) -> int:
        n, enc = self.length()
        if enc:
            raise RdbError(f"encoded length where a plain length is expected at {self.p - 1}")
        return n

    def string(self) -> bytes | int:
        n, enc = self.length()
        if not enc:
            return self.take(n)
        if n == 0:
            self.intstr += 1
            return struct.unpack("<b", self.take(1))[0]
        if n == 1:
            self.intstr += 1
            return struct.unpack("<h", self.take(2))[0]
        if n == 2:
            self.intstr += 1
            return struct.unpack("<i", self.take(4))[0]
        if n == 3:
            self.lzf += 1
            clen = self.len()
            ulen = self.len()
            self.take(clen)
            return b"<lzf %d>" % ulen
        raise RdbError(f"unknown string encoding {n} at {self.p - 1}")

    def strdouble(self):
        n = self.u8()
        if n < 253:
            self.take(n)

    def module_stream(self):
        while True:
            op = self.len()
            if op == 0:
                return
            if op in (1, 2):
                self.len()
            elif op == 3:
                self.take(4)
            elif op == 4:
                self.take(8)
            elif op == 5:
                self.string()
            else:
                raise RdbError(f"unknown module opcode {op} at {self.p}")


def scan(path: str) -> dict:
    with open(path, "rb") as f:
        data = f.read()
    r = Reader(data)
    head = r.take(9)
    if head.startswith(b"REDIS"):
        magic, ver = "REDIS", int(head[5:9])
    elif head.startswith(b"VALKEY"):
        magic, ver = "VALKEY", int(head[6:9])
    else:
        raise RdbError(f"bad magic {head!r}")
    valkey = magic == "VALKEY"
    names = VALKEY_TYPE_NAMES if valkey else dict(enumerate(TYPE_NAMES))
    types: dict[str, int] = {}
    ops: dict[str, int] = {}
    aux: dict[str, str] = {}
    dbs: dict[int, dict] = {}
    db = 0
    ql = {"plain": 0, "packed": 0}
    pending_expire = False
    modules: dict[str, int] = {}

    def bump(d, k, n=1):
        d[k] = d.get(k, 0) + n

    while True:
        t = r.u8()
        if t in OPCODES:
            bump(ops, OPCODES[t])
            if t == 0xFF:
                break
            if t == 0xFE:
                db = r.len()
            elif t == 0xFD:
                r.take(4)
                pending_expire = True
            elif t == 0xFC:
                r.take(8)
                pending_expire = True
            elif t == 0xFB:
                r.len()
                r.len()
            elif t == 0xFA:
                k = r.string()
                v = r.string()
                k = k.decode(errors="replace") if isinstance(k, bytes) else str(k)
                aux[k] = v.decode(errors="replace") if isinstance(v, bytes) else str(v)
            elif t == 0xF9:
                r.take(1)
            elif t == 0xF8:
                r.len()
            elif t == 0xF7:
                r.len()
                r.module_stream()
            elif t == 0xF5:
                r.string()
            elif t == 0xF4:
                r.len()
                r.len()
                r.len()
            else:
                raise RdbError(f"unsupported opcode {t:#x}")
            continue
        name = names.get(t)
        if not name:
            raise RdbError(f"unknown type {t} at {r.p - 1}")
        bump(types, name)
        r.string()  # key
        d = dbs.setdefault(db, {"keys": 0, "expires": 0})
        d["keys"] += 1
        if pending_expire:
            d["expires"] += 1
            pending_expire = False
        if t == 0:
            r.string()
        elif t in (1, 2):
            for _ in range(r.len()):
                r.string()
        elif t == 3:
            for _ in range(r.len()):
                r.string()
                r.strdouble()
        elif t == 4:
            for _ in range(r.len()):
                r.string()
                r.string()
        elif t == 5:
            for _ in range(r.len()):
                r.string()
                r.take(8)
        elif t == 7:
            mid = r.len()
            cs = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            mname = "".join(cs[(mid >> (64 - 6 * (i + 1))) & 63] for i in range(9))
            bump(modules, mname)
            r.module_stream()
        elif t in (9, 10, 11, 12, 13, 16, 17, 20):
            r.string()
        elif t == 14:
            for _ in range(r.len()):
                r.string()
                ql["packed"] += 1
        elif t == 18:
            for _ in range(r.len()):
                c = r.len()
                r.string()
                ql["plain" if c == 1 else "packed"] += 1
        elif t in (15, 19, 21):
            sv = {15: 1, 19: 2, 21: 3}[t]
            for _ in range(r.len()):
                r.string()
                r.string()
            r.len(), r.len(), r.len()
            if sv >= 2:
                for _ in range(5):
                    r.len()
            for _ in range(r.len()):
                r.string()
                r.len(), r.len()
                if sv >= 2:
                    r.len()
                for _ in range(r.len()):
                    r.take(16 + 8)
                    r.len()
                for _ in range(r.len()):
                    r.string()
                    r.take(8)
                    if sv >= 3:
                        r.take(8)
                    r.take(16 * r.len())
        elif t == 22 and valkey:
            for _ in range(r.len()):
                r.string()
                r.string()
                r.take(8)
        elif t == 22:
            for _ in range(r.len()):
                r.len()
                r.string()
                r.string()
        elif t == 23:
            r.string()
        elif t == 24:
            r.take(8)
            for _ in range(r.len()):
                r.len()
                r.string()
                r.string()
        elif t == 25:
            r.take(8)
            r.string()
        else:
            raise RdbError(f"type {t} not handled")
    crc = None
    if ver >= 5:
        crc = struct.unpack("<Q", r.take(8))[0]
    if r.p != len(data):
        raise RdbError(f"{len(data) - r.p} trailing bytes after EOF")
    return {
        "magic": magic,
        "rdb_version": ver,
        "aux": aux,
        "rdb_types": dict(sorted(types.items())),
        "opcodes": dict(sorted(ops.items())),
        "dbs": {str(k): v for k, v in sorted(dbs.items())},
        "keys": sum(v["keys"] for v in dbs.values()),
        "expires": sum(v["expires"] for v in dbs.values()),
        "quicklist_nodes": ql,
        "lzf_strings": r.lzf,
        "int_encoded_strings": r.intstr,
        "module_values": dict(sorted(modules.items())),
        "crc_zero": crc == 0,
    }


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(json.dumps(scan(p), indent=2))
