//! `redis-check-aof` / `valkey-check-aof`, reproduced: same arguments, same
//! output lines, same exit status, same `ok_up_to` (RU24
//! `src/redis-check-aof.c`, V91 `src/valkey-check-aof.c`; FORMATS.md §4.5).
//!
//! Differences, on purpose: a base file starting with `VALKEY` is read as an
//! RDB (valkey-check-aof 9.1 calls it a format error although the server
//! loads it, valkey-io/valkey#4739); a bulk length larger than the file is
//! reported instead of aborting on the allocation; the RDB part is checked
//! by redcheck's RDB verifier, and its output is left to the caller.
//!
//! This is a driver, not the pure core: it reads the files and, for `--fix`
//! and `--truncate-to-timestamp`, truncates the last file in place as the
//! tool does. Output and the confirmation prompt go through [`CompatIo`].

use super::dir::{name_to_os, parent_dir};
use super::manifest::{Manifest, looks_like_manifest};
use super::resp::{Commands, Dialect, Item, c_str, strtol};
use super::verify::{check_rdb_part, starts_with_rdb};
use crate::source::Source;
use crate::verify::RdbReport;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where the emulation prints and asks.
pub trait CompatIo {
    /// Writes text to standard output as is (it carries its own newlines).
    fn print(&mut self, s: &str);
    /// Shows what `redis-check-rdb` prints for the RDB preamble or base at
    /// `path` (the tool runs its RDB checker here and prints its report).
    fn rdb_check(&mut self, path: &Path, data: &[u8], report: &RdbReport);
    /// Reads the answer to "Continue? [y/N]: "; true when it starts with y.
    fn confirm(&mut self) -> bool;
}

/// What to do, as the tool's arguments say.
#[derive(Debug, Clone)]
pub struct CheckAofOptions {
    pub fix: bool,
    /// 0 or `None`: off (the tool treats 0 as off too).
    pub truncate_to_timestamp: Option<i64>,
    pub file: PathBuf,
    /// `redis-check-aof` or `valkey-check-aof` (used in messages).
    pub tool: String,
    pub rdb: crate::verify::Options,
    /// Threads verifying an RDB preamble or base, as
    /// [`super::AofOptions::rdb_threads`].
    pub rdb_threads: usize,
}

const EXIT_OK: u8 = 0;
const EXIT_FAIL: u8 = 1;

/// Entry point for the binary invoked as `redis-check-aof` or
/// `valkey-check-aof`: `args` excludes `argv[0]`, `tool` is `argv[0]`.
pub fn main(tool: &str, args: &[OsString], io: &mut dyn CompatIo) -> u8 {
    let usage = |io: &mut dyn CompatIo| {
        io.print(&format!(
            "Usage: {tool} [--fix|--truncate-to-timestamp $timestamp] <file.manifest|file.aof>\n"
        ));
        EXIT_FAIL
    };
    let name = Path::new(tool)
        .file_name()
        .map_or_else(|| tool.to_string(), |n| n.to_string_lossy().into_owned());
    let tool_kind = if name.contains("valkey") {
        "valkey-check-aof"
    } else {
        "redis-check-aof"
    };
    let mut opts = CheckAofOptions {
        fix: false,
        truncate_to_timestamp: None,
        file: PathBuf::new(),
        tool: tool_kind.to_string(),
        rdb: crate::verify::Options::default(),
        rdb_threads: 0,
    };
    let arg = |i: usize| args.get(i).map(|a| a.to_string_lossy().into_owned());
    match args.len() {
        1 => {
            let a = arg(0).unwrap_or_default();
            if a == "-v" || a == "--version" {
                io.print(&format!(
                    "{tool_kind} {} (redcheck)\n",
                    env!("CARGO_PKG_VERSION")
                ));
                return EXIT_OK;
            }
            opts.file = args.first().map(PathBuf::from).unwrap_or_default();
        }
        2 if arg(0).as_deref() == Some("--fix") => {
            opts.fix = true;
            opts.file = args.get(1).map(PathBuf::from).unwrap_or_default();
        }
        3 if arg(0).as_deref() == Some("--truncate-to-timestamp") => {
            let t = arg(1).unwrap_or_default();
            let (v, end, overflow) = strtol(t.as_bytes());
            // strtol with no digits leaves end at the start: only "" passes.
            if overflow || (end != t.len() && !(end == 0 && t.is_empty())) {
                io.print("Invalid timestamp, aborting...\n");
                return EXIT_FAIL;
            }
            opts.truncate_to_timestamp = Some(v);
            opts.file = args.get(2).map(PathBuf::from).unwrap_or_default();
        }
        _ => return usage(io),
    }
    run(&opts, io)
}

/// What checking one file ended with (`printAofStyle`).
enum Ret {
    Ok,
    Empty,
    Truncated,
    TimestampTruncated,
}

/// An exit with this status, after what was printed.
struct Exit(u8);

/// The tool's global state across the files of a set.
struct Checker<'a> {
    opts: &'a CheckAofOptions,
    io: &'a mut dyn CompatIo,
    /// `line`: cumulative across files.
    line: u64,
    /// `epos`: the start of the last read, global too.
    epos: u64,
}

/// The text of an OS error without Rust's " (os error N)" suffix, as
/// `strerror` prints it.
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

/// Runs the check with already-parsed options. Returns the exit status.
pub fn run(opts: &CheckAofOptions, io: &mut dyn CompatIo) -> u8 {
    let mut c = Checker {
        opts,
        io,
        line: 1,
        epos: 0,
    };
    match c.main() {
        Ok(()) => EXIT_OK,
        Err(Exit(code)) => code,
    }
}

fn to_ts(opts: &CheckAofOptions) -> i64 {
    opts.truncate_to_timestamp.unwrap_or(0)
}

/// Whether the run may truncate a file it reads (`--fix`,
/// `--truncate-to-timestamp`): such a file is read into memory rather than
/// mapped, so that truncating it cannot pull pages from under a read.
/// Otherwise it is mapped: no copy, and nothing held but the pages being
/// read.
fn may_truncate(opts: &CheckAofOptions) -> bool {
    opts.fix || to_ts(opts) != 0
}

/// The first bytes of the file at `path`, enough to tell an RDB from RESP
/// (`fileIsRDB` reads five).
fn file_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(16);
    crate::source::open_file(path)?
        .0
        .take(16)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// `%s` of a path.
fn show(p: &Path) -> String {
    p.display().to_string()
}

/// A log line in the server's format (`serverLog` goes to stdout in the
/// check tool): `pid:C dd Mon yyyy hh:mm:ss.mmm # message`.
fn server_log_line(msg: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = i64::try_from(now.as_secs()).unwrap_or(0);
    let ms = now.subsec_millis();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = usize::try_from(m.saturating_sub(1))
        .ok()
        .and_then(|i| MONTHS.get(i))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{}:C {:02} {} {} {:02}:{:02}:{:02}.{:03} # {}\n",
        std::process::id(),
        d,
        mon,
        y,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms,
        msg
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    // Clamped to +-2.7 million years so no step below can overflow.
    let z = z.clamp(-1_000_000_000, 1_000_000_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Checker<'_> {
    fn print(&mut self, s: &str) {
        self.io.print(s);
    }

    fn main(&mut self) -> Result<(), Exit> {
        let path = self.opts.file.clone();
        // Only looked at to tell a manifest from an AOF, and dropped before
        // anything is truncated.
        let data = match Source::open(&path, true) {
            Ok(d) => d,
            Err(e) => {
                self.print(&format!(
                    "Cannot open file {}: {}\n",
                    show(&path),
                    strerror(&e)
                ));
                return Err(Exit(EXIT_FAIL));
            }
        };
        if looks_like_manifest(&data) {
            self.multi_part(&path, &data)
        } else {
            let preamble = data.len() >= 8 && starts_with_rdb(&data);
            drop(data);
            self.print("Start checking Old-Style AOF\n");
            let name = show(&path);
            let ret = self.check_single(&name, &path, true, preamble)?;
            self.print_style(ret, &name, "AOF");
            Ok(())
        }
    }

    fn print_style(&mut self, ret: Ret, name: &str, kind: &str) {
        let s = match ret {
            Ret::Ok => format!("{kind} {name} is valid\n"),
            Ret::Empty => format!("{kind} {name} is empty\n"),
            Ret::TimestampTruncated => format!(
                "Successfully truncated AOF {name} to timestamp {}\n",
                to_ts(self.opts)
            ),
            Ret::Truncated => format!("Successfully truncated AOF {name}\n"),
        };
        self.print(&s);
    }

    fn multi_part(&mut self, manifest_path: &Path, manifest: &[u8]) -> Result<(), Exit> {
        self.print("Start checking Multi Part AOF\n");
        let m = match Manifest::parse(manifest, 0) {
            Ok(m) => m,
            Err(e) => {
                for msg in e.fatal_messages() {
                    let line = server_log_line(&msg);
                    self.print(&line);
                }
                return Err(Exit(EXIT_FAIL));
            }
        };
        let dir = parent_dir(manifest_path);
        let total = m.load_order().count();
        let mut n = 0usize;
        if let Some(base) = &m.base {
            let name = String::from_utf8_lossy(&base.file_name).into_owned();
            let path = dir.join(name_to_os(&base.file_name));
            n = n.saturating_add(1);
            let last = n == total;
            // fileIsRDB
            let preamble = match file_head(&path) {
                Ok(d) => d.len() >= 8 && starts_with_rdb(&d),
                Err(e) => {
                    self.print(&format!(
                        "Cannot open file {}: {}\n",
                        show(&path),
                        strerror(&e)
                    ));
                    return Err(Exit(EXIT_FAIL));
                }
            };
            self.print(&format!(
                "Start to check BASE AOF ({} format).\n",
                if preamble { "RDB" } else { "RESP" }
            ));
            let ret = self.check_single(&name, &path, last, preamble)?;
            self.print_style(ret, &name, "BASE AOF");
        }
        if !m.incr.is_empty() {
            self.print("Start to check INCR files.\n");
            for info in &m.incr {
                let name = String::from_utf8_lossy(&info.file_name).into_owned();
                let path = dir.join(name_to_os(&info.file_name));
                n = n.saturating_add(1);
                let last = n == total;
                let ret = self.check_single(&name, &path, last, false)?;
                self.print_style(ret, &name, "INCR AOF");
            }
        }
        self.print("All AOF files and manifest are valid\n");
        Ok(())
    }

    /// `checkSingleAof`.
    fn check_single(
        &mut self,
        name: &str,
        filepath: &Path,
        last_file: bool,
        preamble: bool,
    ) -> Result<Ret, Exit> {
        let fp = show(filepath);
        let data = match Source::open(filepath, !may_truncate(self.opts)) {
            Ok(d) => d,
            Err(e) => {
                self.print(&format!(
                    "Cannot open file {fp}: {}, aborting...\n",
                    strerror(&e)
                ));
                return Err(Exit(EXIT_FAIL));
            }
        };
        let size = data.len() as u64;
        if size == 0 {
            return Ok(Ret::Empty);
        }
        let mut resp_start = 0u64;
        if preamble {
            let report = check_rdb_part(&data, &self.opts.rdb, self.opts.rdb_threads);
            self.io.rdb_check(filepath, &data, &report);
            match report.end_offset.filter(|_| report.ok) {
                Some(end) => {
                    self.print("RDB preamble is OK, proceeding with AOF tail...\n");
                    resp_start = end.min(size);
                }
                None => {
                    self.print("RDB preamble of AOF file is not sane, aborting.\n");
                    return Err(Exit(EXIT_FAIL));
                }
            }
        }
        let start = usize::try_from(resp_start)
            .unwrap_or(data.len())
            .min(data.len());
        let region = data.get(start..).unwrap_or(&[]);
        let mut it =
            Commands::with_dialect(region, resp_start, Dialect::CheckAof).starting_line(self.line);
        let mut multi: i64 = 0;
        let mut pos: u64 = 0;
        let mut error: Option<String> = None;
        let mut eof = false;
        // The line counter when the tool stopped early (after a record's
        // first argument) rather than where the scanner stopped.
        let mut line_override: Option<u64> = None;
        let t = to_ts(self.opts);
        // Offset of a slice of `region` in the file.
        let offset_of = |s: &[u8]| -> u64 {
            let rel = (s.as_ptr() as usize).wrapping_sub(region.as_ptr() as usize);
            resp_start.saturating_add(rel as u64)
        };
        loop {
            if multi == 0 {
                pos = it.offset();
            }
            let Some(next) = it.next() else {
                eof = true;
                break;
            };
            match next {
                Ok(Item::Annotation(a)) => {
                    self.epos = a.offset;
                    if t != 0 && a.bytes.starts_with(b"#TS:") {
                        match a.timestamp_check_aof() {
                            Some(Err(())) | None => {
                                self.print("Invalid timestamp annotation\n");
                                return Err(Exit(EXIT_FAIL));
                            }
                            Some(Ok(ts)) if ts > t => {
                                return self.truncate_at_timestamp(filepath, a.offset, last_file);
                            }
                            Some(Ok(_)) => {}
                        }
                    }
                }
                Ok(Item::Command(c)) => {
                    self.epos = c.args.last().map_or(c.offset, |a| offset_of(a));
                    if let Some(a0) = c.args.first() {
                        if let Some(msg) = multi_exec(&mut multi, a0, &fp) {
                            self.epos = offset_of(a0);
                            error = Some(msg);
                            line_override = Some(c.line.saturating_add(3));
                            break;
                        }
                    }
                    it.recycle(c.args);
                }
                Err(e) => {
                    // The tool looks at the first argument as soon as it has
                    // read it, before the rest of the record.
                    if let Some((off, a0)) = it.first_arg(e.record_offset) {
                        if let Some(msg) = multi_exec(&mut multi, a0, &fp) {
                            self.epos = off;
                            error = Some(msg);
                            line_override = Some(e.record_line.saturating_add(3));
                            break;
                        }
                    }
                    if e.is_format_error() {
                        self.print(&format!("AOF {name} format error\n"));
                        break;
                    }
                    self.epos = e.offset;
                    match &e.checker_message {
                        Some(m) => error = Some(m.clone()),
                        None => eof = true,
                    }
                    if e.is_truncated() {
                        eof = true;
                    }
                    break;
                }
            }
        }
        self.line = line_override.unwrap_or_else(|| it.line());
        if eof && multi != 0 && error.is_none() {
            error = Some("Reached EOF before reading EXEC for MULTI".to_string());
        }
        if let Some(msg) = &error {
            let s = format!("0x{:>16x}: {msg}\n", self.epos);
            self.print(&s);
        }
        let diff = size.saturating_sub(pos);
        if diff == 0 && t != 0 {
            self.print(&format!(
                "Truncate nothing in AOF {name} to timestamp {t}\n"
            ));
            return Ok(Ret::Ok);
        }
        self.print(&format!(
            "AOF analyzed: filename={name}, size={size}, ok_up_to={pos}, ok_up_to_line={}, diff={diff}\n",
            self.line
        ));
        if diff > 0 {
            if !self.opts.fix {
                self.print(&format!(
                    "AOF {name} is not valid. Use the --fix option to try fixing it.\n"
                ));
                return Err(Exit(EXIT_FAIL));
            }
            if !last_file {
                self.print(&format!(
                    "Failed to truncate AOF {name} because it is not the last file\n"
                ));
                return Err(Exit(EXIT_FAIL));
            }
            self.print(&format!(
                "This will shrink the AOF {name} from {size} bytes, with {diff} bytes, to {pos} bytes\n"
            ));
            self.print("Continue? [y/N]: ");
            if !self.io.confirm() {
                self.print("Aborting...\n");
                return Err(Exit(EXIT_FAIL));
            }
            drop(data);
            if truncate(filepath, pos).is_err() {
                self.print(&format!("Failed to truncate AOF {name}\n"));
                return Err(Exit(EXIT_FAIL));
            }
            return Ok(Ret::Truncated);
        }
        Ok(Ret::Ok)
    }

    fn truncate_at_timestamp(
        &mut self,
        filepath: &Path,
        epos: u64,
        last_file: bool,
    ) -> Result<Ret, Exit> {
        let t = to_ts(self.opts);
        let fp = show(filepath);
        if epos == 0 {
            self.print(&format!(
                "AOF {fp} has nothing before timestamp {t}, aborting...\n"
            ));
            return Err(Exit(EXIT_FAIL));
        }
        if !last_file {
            self.print(&format!(
                "Failed to truncate AOF {fp} to timestamp {t} to offset {epos} because it is not the last file.\n"
            ));
            self.print(&format!(
                "If you insist, please delete all files after this file according to the manifest file and delete the corresponding records in manifest file manually. Then re-run {}.\n",
                self.opts.tool
            ));
            return Err(Exit(EXIT_FAIL));
        }
        if truncate(filepath, epos).is_err() {
            self.print(&format!("Failed to truncate AOF {fp} to timestamp {t}\n"));
            return Err(Exit(EXIT_FAIL));
        }
        Ok(Ret::TimestampTruncated)
    }
}

/// The tool's MULTI/EXEC bookkeeping on a record's first argument; the
/// error message when it fails.
fn multi_exec(multi: &mut i64, a0: &[u8], filepath: &str) -> Option<String> {
    let n = c_str(a0);
    if n.eq_ignore_ascii_case(b"multi") {
        let was = *multi;
        *multi = multi.saturating_add(1);
        if was != 0 {
            return Some(format!("Unexpected MULTI in AOF {filepath}"));
        }
    } else if n.eq_ignore_ascii_case(b"exec") {
        *multi = multi.saturating_sub(1);
        if *multi != 0 {
            return Some(format!("Unexpected EXEC in AOF {filepath}"));
        }
    }
    None
}

/// `ftruncate` in place, as the tool does.
fn truncate(path: &Path, len: u64) -> std::io::Result<()> {
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn multi_exec_like_the_tool() {
        let mut m = 0;
        assert!(multi_exec(&mut m, b"MULTI", "f").is_none());
        assert_eq!(
            multi_exec(&mut m, b"multi", "f").as_deref(),
            Some("Unexpected MULTI in AOF f")
        );
        let mut m = 0;
        assert_eq!(
            multi_exec(&mut m, b"EXEC", "f").as_deref(),
            Some("Unexpected EXEC in AOF f")
        );
        let mut m = 0;
        assert!(multi_exec(&mut m, b"multi\0junk", "f").is_none());
        assert_eq!(m, 1);
    }
}
