//! Helpers shared by the integration tests: where the fixtures and the
//! corpus live, how to find the real servers and their checkers (through
//! `testdata/servers.py`, the same locator the fixture generator uses), a
//! time bound for code that might hang, a seeded PRNG, and a tiny RESP
//! client plus a server handle for the live round-trip test.
//!
//! Every test file includes this module and uses a different part of it.
#![allow(dead_code)]

pub mod aof;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub mod dataset;

/// The servers the fixtures come from, in the order tests prefer them.
pub const SERVERS: [&str; 4] = ["redis-7.0", "redis-6.2", "redis-8.2", "valkey-9.1"];

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Prints a note that survives `cargo test`'s output capture only with
/// `--nocapture`, and is shown with a failing test otherwise.
pub fn note(msg: impl AsRef<str>) {
    eprintln!("note: {}", msg.as_ref());
}

/// `testdata/rdb/**/*.rdb`, sorted. Empty when the directory is absent.
pub fn rdb_fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(&crate_dir().join("testdata/rdb"), "rdb", &mut out);
    out.sort();
    out
}

fn collect(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// `<name>.expected.json` beside `<name>.rdb`.
pub fn expected_json_path(rdb: &Path) -> PathBuf {
    let stem = rdb.file_stem().unwrap_or_default().to_string_lossy();
    rdb.with_file_name(format!("{stem}.expected.json"))
}

/// `testdata/rdb/<server>/<name>.rdb`, relative to the crate, for messages.
pub fn shown(p: &Path) -> String {
    p.strip_prefix(crate_dir())
        .unwrap_or(p)
        .display()
        .to_string()
}

/// The shared corpus (`../shared/corpus`, or `$REDCHECK_CORPUS`), when it
/// holds an `EXPECTED.json`.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("REDCHECK_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_dir().join("../shared/corpus"));
    dir.join("EXPECTED.json").is_file().then_some(dir)
}

/// The corpus's `EXPECTED.json` entries (`files`), when the corpus is there.
pub fn corpus_entries() -> Option<(PathBuf, Vec<serde_json::Value>)> {
    let dir = corpus_dir()?;
    let text = std::fs::read_to_string(dir.join("EXPECTED.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).expect("EXPECTED.json is JSON");
    let files = v["files"]
        .as_array()
        .expect("EXPECTED.json has a files array")
        .clone();
    Some((dir, files))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Servers and checkers, located by testdata/servers.py

fn servers_py(args: &[&str]) -> Option<PathBuf> {
    let script = crate_dir().join("testdata/servers.py");
    if !script.is_file() {
        return None;
    }
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    path.is_file().then_some(path)
}

/// The server binary for `name` (`redis-7.0` ...), when installed.
pub fn server_binary(name: &str) -> Option<PathBuf> {
    servers_py(&["path", name])
}

/// The server's own `redis-check-rdb` / `valkey-check-rdb`, when installed.
pub fn rdb_checker(name: &str) -> Option<PathBuf> {
    servers_py(&["checker", name, "rdb"])
}

/// The server's own `redis-check-aof` / `valkey-check-aof`, when installed.
pub fn aof_checker(name: &str) -> Option<PathBuf> {
    servers_py(&["checker", name, "aof"])
}

/// The module shipped with a server (FalkorDB, for redis-8.2), when installed.
pub fn module_for(name: &str) -> Option<PathBuf> {
    servers_py(&["module", name])
}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Exit(i32),
    /// Killed by a signal (a crash).
    Signal,
    /// Still running at the deadline; it was killed.
    Timeout,
}

impl Outcome {
    pub fn accepted(self) -> bool {
        self == Outcome::Exit(0)
    }
}

/// Runs `cmd` with output discarded, killing it after `limit`.
pub fn run_with_timeout(cmd: &mut Command, limit: Duration) -> Outcome {
    let mut child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot run {cmd:?}: {e}"),
    };
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return outcome(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Outcome::Timeout;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("waiting for {cmd:?}: {e}"),
        }
    }
}

fn outcome(status: ExitStatus) -> Outcome {
    match status.code() {
        Some(c) => Outcome::Exit(c),
        None => Outcome::Signal,
    }
}

/// Runs a checker on `data` written to a temp file.
pub fn run_checker_on(checker: &Path, data: &[u8], limit: Duration) -> Outcome {
    let mut f = tempfile::Builder::new()
        .prefix("redcheck-damaged-")
        .suffix(".rdb")
        .tempfile()
        .expect("temp file");
    f.write_all(data).expect("write temp file");
    f.flush().expect("flush temp file");
    run_with_timeout(Command::new(checker).arg(f.path()), limit)
}

// ---------------------------------------------------------------------------
// Time bounds

/// Runs `f` on its own thread and panics if it has not finished within
/// `limit` (the thread is left behind; the test fails either way). A panic
/// inside `f` is re-raised here.
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = handle.join();
            v
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: did not finish within {limit:?} (hang?)")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(p) => std::panic::resume_unwind(p),
            Ok(()) => panic!("{what}: worker ended without a result"),
        },
    }
}

// ---------------------------------------------------------------------------
// A seeded PRNG (xorshift64*), so datasets and samples are reproducible.

pub struct Xorshift(u64);

impl Xorshift {
    pub fn new(seed: u64) -> Self {
        Xorshift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// Lowercase letters and digits.
    pub fn word(&mut self, n: usize) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| A[self.below(A.len() as u64) as usize] as char)
            .collect()
    }
}

// ---------------------------------------------------------------------------
// RESP2 over a unix socket

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(Some(b)) => Some(b),
            Reply::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.bytes().unwrap_or_default()).into_owned()
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn array(&self) -> &[Reply] {
        match self {
            Reply::Array(Some(a)) => a,
            _ => &[],
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    pub fn connect(sock: &Path) -> std::io::Result<Client> {
        let s = UnixStream::connect(sock)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client {
            writer: s.try_clone()?,
            reader: BufReader::new(s),
        })
    }

    pub fn encode(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Sends one command and reads its reply (errors are returned, not raised).
    pub fn call(&mut self, args: &[&[u8]]) -> Reply {
        self.writer
            .write_all(&Self::encode(args))
            .expect("write to server");
        self.read_reply()
    }

    /// Like `call`, but a `-ERR` reply fails the test.
    pub fn ok(&mut self, args: &[&[u8]]) -> Reply {
        let r = self.call(args);
        if let Reply::Error(e) = &r {
            let shown: Vec<String> = args
                .iter()
                .take(3)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            panic!("server refused {shown:?}: {e}");
        }
        r
    }

    /// Sends pre-encoded commands (e.g. `redis-cli --pipe` input), then a
    /// PING, and returns every reply before the PONG.
    pub fn pipe_raw(&mut self, bytes: &[u8]) -> Vec<Reply> {
        self.writer.write_all(bytes).expect("write to server");
        self.writer
            .write_all(&Self::encode(&[b"PING", b"end-of-pipe"]))
            .expect("write to server");
        let mut replies = Vec::new();
        loop {
            match self.read_reply() {
                Reply::Bulk(Some(b)) if b == b"end-of-pipe" => return replies,
                r => replies.push(r),
            }
        }
    }

    /// Sends many commands at once and reads all replies.
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Vec<Reply> {
        let mut buf = Vec::new();
        for c in cmds {
            let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
            buf.extend_from_slice(&Self::encode(&args));
        }
        self.writer.write_all(&buf).expect("write to server");
        cmds.iter().map(|_| self.read_reply()).collect()
    }

    fn line(&mut self) -> std::io::Result<Vec<u8>> {
        let mut l = Vec::new();
        self.reader.read_until(b'\n', &mut l)?;
        if !l.ends_with(b"\r\n") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "server closed the connection",
            ));
        }
        l.truncate(l.len() - 2);
        Ok(l)
    }

    pub fn read_reply(&mut self) -> Reply {
        self.try_read_reply().expect("read from server")
    }

    /// Sends one command; I/O errors (a server that died) are returned.
    pub fn try_call(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        self.writer.write_all(&Self::encode(args))?;
        self.try_read_reply()
    }

    pub fn try_read_reply(&mut self) -> std::io::Result<Reply> {
        let l = self.line()?;
        let (t, rest) = l.split_first().expect("empty RESP line");
        let rest = String::from_utf8_lossy(rest).into_owned();
        let n = || rest.parse::<i64>().expect("RESP length");
        Ok(match t {
            b'+' => Reply::Simple(rest),
            b'-' => Reply::Error(rest),
            b':' => Reply::Int(n()),
            b'$' if n() < 0 => Reply::Bulk(None),
            b'$' => {
                let mut b = vec![0; n() as usize + 2];
                self.reader.read_exact(&mut b)?;
                b.truncate(b.len() - 2);
                Reply::Bulk(Some(b))
            }
            b'*' if n() < 0 => Reply::Array(None),
            b'*' => {
                let mut items = Vec::new();
                for _ in 0..n() {
                    items.push(self.try_read_reply()?);
                }
                Reply::Array(Some(items))
            }
            _ => panic!("unexpected RESP reply: {}", String::from_utf8_lossy(&l)),
        })
    }

    /// `INFO keyspace` as db -> (keys, expires).
    pub fn keyspace(&mut self) -> std::collections::BTreeMap<u64, (u64, u64)> {
        let text = self.ok(&[b"INFO", b"keyspace"]).text();
        let mut out = std::collections::BTreeMap::new();
        for line in text.lines() {
            let Some((db, fields)) = line.split_once(':') else {
                continue;
            };
            let Some(Ok(db)) = db.strip_prefix("db").map(str::parse::<u64>) else {
                continue;
            };
            let mut keys = 0;
            let mut expires = 0;
            for kv in fields.split(',') {
                match kv.split_once('=') {
                    Some(("keys", v)) => keys = v.parse().unwrap_or(0),
                    Some(("expires", v)) => expires = v.parse().unwrap_or(0),
                    _ => {}
                }
            }
            out.insert(db, (keys, expires));
        }
        out
    }
}

/// Every key of `dbs` on the server (SCAN) with its `TYPE`.
pub fn keys_on_server(
    c: &mut Client,
    dbs: &[u64],
) -> std::collections::BTreeMap<u64, std::collections::BTreeMap<Vec<u8>, String>> {
    let mut out = std::collections::BTreeMap::new();
    for &db in dbs {
        let d = db.to_string();
        c.ok(&[b"SELECT", d.as_bytes()]);
        let mut cursor = b"0".to_vec();
        let keys: &mut std::collections::BTreeMap<Vec<u8>, String> = out.entry(db).or_default();
        loop {
            let r = c.ok(&[b"SCAN", &cursor, b"COUNT", b"1000"]);
            let [next, batch] = r.array() else {
                panic!("SCAN reply: {r:?}");
            };
            for k in batch.array() {
                let k = k.bytes().expect("a key").to_vec();
                let t = c.ok(&[b"TYPE", &k]).text();
                keys.insert(k, t);
            }
            cursor = next.bytes().expect("cursor").to_vec();
            if cursor == b"0" {
                break;
            }
        }
    }
    out
}

/// A server process on a unix socket in its own temp dir; killed and
/// cleaned up on drop.
pub struct Server {
    pub name: String,
    child: Child,
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
}

impl Server {
    /// Starts `name` if installed. `extra` is appended to the config file.
    pub fn start(name: &str, extra: &[(&str, &str)]) -> Option<Server> {
        Server::start_with(name, extra, None)
            .map(|r| r.unwrap_or_else(|log| panic!("{name} exited during start:\n{log}")))
    }

    /// Starts `name` (if installed) on `dump` as its `dump.rdb`: `Err` with
    /// the server's log when it refuses the file and exits.
    pub fn start_with(
        name: &str,
        extra: &[(&str, &str)],
        dump: Option<&[u8]>,
    ) -> Option<Result<Server, String>> {
        let binary = server_binary(name)?;
        // Unix socket paths are limited to ~100 bytes: keep the dir short.
        let base = if Path::new("/tmp").is_dir() {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("rc-live-")
            .tempdir_in(base)
            .expect("temp dir");
        let sock = dir.path().join("s.sock");
        let conf = dir.path().join("server.conf");
        let mut text = String::new();
        for (k, v) in [
            ("port", "0"),
            ("bind", "127.0.0.1"),
            ("unixsocket", &*sock.to_string_lossy()),
            ("unixsocketperm", "700"),
            ("dir", &*dir.path().to_string_lossy()),
            ("dbfilename", "dump.rdb"),
            ("daemonize", "no"),
            ("save", "\"\""),
            ("appendonly", "no"),
            ("databases", "16"),
            ("logfile", &*dir.path().join("server.log").to_string_lossy()),
        ] {
            text.push_str(&format!("{k} {v}\n"));
        }
        for (k, v) in extra {
            text.push_str(&format!("{k} {v}\n"));
        }
        std::fs::write(&conf, text).expect("write server config");
        if let Some(d) = dump {
            std::fs::write(dir.path().join("dump.rdb"), d).expect("write dump.rdb");
        }
        let child = Command::new(&binary)
            .arg(&conf)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut server = Server {
            name: name.to_string(),
            child,
            dir,
            sock,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = server.child.try_wait() {
                return Some(Err(format!("exit {st}\n{}", server.log())));
            }
            if server.sock.exists()
                && let Ok(mut c) = Client::connect(&server.sock)
                && matches!(c.try_call(&[b"PING"]), Ok(Reply::Simple(p)) if p == "PONG")
            {
                return Some(Ok(server));
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not come up:\n{}",
                server.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.sock).expect("connect to server socket")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Asks the server to exit without saving; kills it if it does not.
    pub fn shutdown(&mut self) {
        if let Ok(mut c) = Client::connect(&self.sock) {
            let _ = c
                .writer
                .write_all(&Client::encode(&[b"SHUTDOWN", b"NOSAVE"]));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
