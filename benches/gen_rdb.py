#!/usr/bin/env python3
"""Writes a large RDB with a real Redis server, for benches/compare.sh.

usage: gen_rdb.py mixed|values|giant|streams|aof OUT [SCALE]

mixed   ~4M small keys (SCALE=1.0): strings from DEBUG POPULATE plus small
        hashes, lists, sets (intset and listpack/hashtable), zsets and
        streams written through a pipelined RESP connection: about 150 MB
        (DEBUG POPULATE's 80-byte values are 20 bytes of LZF).
values  value-heavy: large strings (LZF-compressible and not), big hashes,
        sets, zsets and lists in their hashtable/skiplist/quicklist forms,
        about 60 MB at SCALE=1.0.
giant   two giant collections: a set of 10M members and a hash of 2M
        fields (SCALE=1.0), about 190 MB: more members than any memory
        budget holds at once.
streams four streams of 250K entries each (SCALE=1.0), with 20
        consumer groups: one has read every entry (a PEL as long as the
        stream), one spread over 1000 consumers, some entries acknowledged:
        about 115 MB, PELs larger than a thread's memory share.
aof     an append-only file rather than an RDB: 1M commands (SCALE=1.0;
        SET, HSET, RPUSH, ZADD and INCRBY on 200K keys, a MULTI/EXEC every
        1000), about 60 MB, written by the server with appendonly yes and
        no RDB preamble; OUT is its one incr file.

The server is started in a temp dir on a unix socket and stopped after
SAVE; the file is the server's own dump.rdb. Uses redis-server 7.0 from
testdata/servers.py (the Debian package) and no Python packages.
"""

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


# GEN_RDB_SERVER=redis-6.2 writes the same keys with Redis 6.2, whose small
# hashes, lists and zsets are ziplists (for profiling the ziplist walker).
SERVER = os.environ.get("GEN_RDB_SERVER", "redis-7.0")


def server_path():
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "..", "testdata", "servers.py"), "path", SERVER],
        capture_output=True, text=True)
    p = out.stdout.strip()
    return p if p else "/usr/bin/redis-server"


def resp(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def reply_end(buf, pos):
    """Where the RESP reply at `pos` of `buf` ends, or None if incomplete."""
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        return None
    kind, head, pos = buf[pos:pos + 1], buf[pos + 1:nl], nl + 2
    if kind == b"$":
        n = int(head)
        return pos if n < 0 else (pos + n + 2 if len(buf) >= pos + n + 2 else None)
    if kind == b"*":
        for _ in range(max(0, int(head))):
            pos = reply_end(buf, pos)
            if pos is None:
                return None
    return pos


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.buf = bytearray()
        self.pending = 0
        self.out = []
        self.out_len = 0

    def send(self, *args):
        cmd = resp(*args)
        self.out.append(cmd)
        self.out_len += len(cmd)
        self.pending += 1
        if self.pending >= 5000 or self.out_len > (4 << 20):
            self.flush()

    def flush(self):
        self.s.sendall(b"".join(self.out))
        self.out, self.out_len = [], 0
        self.drain()

    def drain(self):
        # Replies are skipped whole (arrays too: XREADGROUP answers with
        # one), only errors looked at.
        while self.pending:
            end = reply_end(self.buf, 0)
            if end is None:
                chunk = self.s.recv(1 << 20)
                if not chunk:
                    raise SystemExit("server closed the connection")
                self.buf += chunk
                continue
            if self.buf.startswith(b"-"):
                raise SystemExit("server error: %r" % bytes(self.buf[:200]))
            del self.buf[:end]
            self.pending -= 1

    def call(self, *args):
        self.send(*args)
        self.flush()


def mixed(c, scale, rnd):
    n = int(4_000_000 * scale)
    strings = int(n * 0.55)
    c.call("DEBUG", "POPULATE", strings, "key", 80)
    rest = n - strings
    for i in range(rest):
        kind = i % 9
        k = "m:%d:%d" % (kind, i)
        if kind in (0, 1):
            c.send("HSET", k, "name", "user%d" % i, "age", i % 90, "city", "c%d" % (i % 500))
        elif kind == 2:
            c.send("RPUSH", k, "a%d" % i, "b", "c%d" % (i % 7))
        elif kind == 3:
            c.send("SADD", k, i, i + 1, i + 7)
        elif kind == 4:
            c.send("SADD", k, "m%d" % i, "x", "y%d" % (i % 13))
        elif kind == 5:
            c.send("ZADD", k, 1, "a", i % 100, "b%d" % i, 2.5, "c")
        elif kind == 6:
            c.send("SET", k, i * 1000003)
        elif kind == 7:
            c.send("SET", k, "v" * (i % 60), "PX", 10**10)
        else:
            if i % 90 == 8:
                c.send("XADD", k, "*", "f", i, "g", "h")
            else:
                c.send("INCRBY", k, i)
    c.flush()


def values(c, scale, rnd):
    words = [b"lorem", b"ipsum", b"dolor", b"sit", b"amet", b"consectetur",
             b"adipiscing", b"elit", b"sed", b"do", b"eiusmod", b"tempor"]
    words += [b"%x" % rnd.getrandbits(24) for _ in range(52)]
    n = max(1, int(200 * scale))
    for i in range(n):
        # 400 KB of random words (stored LZF, about 2:1) and 100 KB of
        # random bytes (stored raw).
        text = b" ".join(rnd.choices(words, k=60_000))[:400_000]
        c.send("SET", "big:lzf:%d" % i, text)
        c.send("SET", "big:raw:%d" % i, rnd.randbytes(100_000))
        if i % 4 == 0:
            h, s, z, l = "big:hash:%d" % i, "big:set:%d" % i, "big:zset:%d" % i, "big:list:%d" % i
            for j in range(0, 5000, 500):
                c.send("HSET", h, *[x for f in range(j, j + 500) for x in ("field%d" % f, "value-%d-%d" % (f, i))])
                c.send("SADD", s, *["member%d" % f for f in range(j, j + 500)])
                c.send("ZADD", z, *[x for f in range(j, j + 500) for x in (f * 1.5, "m%d" % f)])
                c.send("RPUSH", l, *["item-%d-%s" % (f, "z" * (f % 40)) for f in range(j, j + 500)])
    c.flush()


def giant(c, scale, rnd):
    n = max(1, int(10_000_000 * scale))
    for j in range(0, n, 1000):
        c.send("SADD", "giant:set", *["member:%d" % f for f in range(j, min(n, j + 1000))])
    m = max(1, n // 5)
    for j in range(0, m, 1000):
        c.send("HSET", "giant:hash",
               *[x for f in range(j, min(m, j + 1000)) for x in ("field:%d" % f, "v%d" % f)])
    c.flush()


def entry_id(i):
    # Four entries a millisecond, as a busy producer writes them.
    return "%d-%d" % (1_700_000_000_000 + i // 4, i % 4)


def streams(c, scale, rnd):
    n = max(1, int(250_000 * scale))
    for s in range(4):
        k = "stream:%d" % s
        for i in range(n):
            c.send("XADD", k, entry_id(i), "sensor", i % 97, "reading", "%.3f" % rnd.random(),
                   "tag", "t%d" % (i % 13))
        for g in range(20):
            c.send("XGROUP", "CREATE", k, "g%d" % g, "0")
        # Read in small replies: a reply is parsed again each time more of
        # it arrives.
        for _ in range(0, n, 2000):
            c.send("XREADGROUP", "GROUP", "g0", "reader", "COUNT", 2000, "STREAMS", k, ">")
        for r in range(1000):
            c.send("XREADGROUP", "GROUP", "g1", "c%d" % r, "COUNT", max(1, n // 1000),
                   "STREAMS", k, ">")
        for _ in range(0, n // 2, 2000):
            c.send("XREADGROUP", "GROUP", "g2", "half", "COUNT", 2000, "STREAMS", k, ">")
        # Every tenth entry g2 read is acknowledged (leaves its PEL).
        for j in range(0, n // 2, 10_000):
            c.send("XACK", k, "g2", *[entry_id(i) for i in range(j, min(n // 2, j + 10_000), 10)])
        c.flush()


def aof(c, scale, rnd):
    n = int(1_000_000 * scale)
    for i in range(n):
        if i % 1000 == 0:
            c.send("MULTI")
        k = i % 10
        if k < 4:
            c.send("SET", "key:%d" % (i % 200_000), "value-%d-%s" % (i, "x" * (i % 40)))
        elif k < 6:
            c.send("HSET", "h:%d" % (i % 50_000), "f%d" % (i % 97), i)
        elif k == 6:
            c.send("RPUSH", "l:%d" % (i % 1000), "item%d" % i)
        elif k == 7:
            c.send("ZADD", "z:%d" % (i % 1000), i % 1013, "m%d" % (i % 4999))
        else:
            c.send("INCRBY", "n:%d" % (i % 5000), i % 100)
        if i % 1000 == 999:
            c.send("EXEC")
    if n % 1000 != 0:
        c.send("EXEC")
    c.flush()


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("mixed", "values", "giant", "streams", "aof"):
        raise SystemExit(__doc__)
    kind, out = sys.argv[1], sys.argv[2]
    scale = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    rnd = random.Random(20261123)
    d = tempfile.mkdtemp(prefix="redcheck-gen-")
    sock = os.path.join(d, "s.sock")
    # The aof kind: every command appended (no fsync, no RDB preamble) to
    # the one incr file of appendonlydir/.
    appendonly = (["--appendonly", "yes", "--appendfsync", "no",
                   "--aof-use-rdb-preamble", "no"]
                  if kind == "aof" else ["--appendonly", "no"])
    srv = subprocess.Popen(
        [server_path(), "--port", "0", "--unixsocket", sock, "--dir", d,
         "--save", ""] + appendonly
        # DEBUG is always on before 7.0, which does not know the flag.
        + ([] if SERVER == "redis-6.2" else ["--enable-debug-command", "yes"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        c = Conn(sock)
        {"mixed": mixed, "values": values, "giant": giant, "streams": streams,
         "aof": aof}[kind](c, scale, rnd)
        if kind == "aof":
            # Every reply read: every command is in the file (appendfsync
            # no leaves it to the kernel, which a reader sees all the same).
            incr = [f for f in os.listdir(os.path.join(d, "appendonlydir"))
                    if f.endswith(".incr.aof")]
            shutil.move(os.path.join(d, "appendonlydir", incr[0]), out)
        else:
            c.call("SAVE")
            shutil.move(os.path.join(d, "dump.rdb"), out)
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
