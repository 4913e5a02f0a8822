//! Human-readable reports of one RDB or AOF verification.

use crate::aof::{AofForm, AofReport};
use crate::escape_bytes;
use crate::rdb::LogicalType;
use crate::verify::{Finding, RdbReport};
use std::fmt::Write;

/// An AUX field's value as the reports show it: escaped, and `ctime`
/// with its date.
pub fn aux_shown(key: &str, v: &[u8]) -> String {
    let shown = escape_bytes(v);
    let time = (key == "ctime")
        .then(|| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
        .flatten();
    match time {
        Some(t) => format!("{shown} ({})", utc(t)),
        None => shown,
    }
}

/// Renders the report for a terminal. `errors` and `warnings` are the
/// final lists (the verifier's plus any failed gates).
pub fn rdb_report(path: &str, r: &RdbReport, errors: &[Finding], warnings: &[Finding]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{path}");
    match r.header {
        Some(h) => {
            let _ = writeln!(
                s,
                "  format      {} (RDB version {}, {} bytes)",
                h.magic_text(),
                h.version,
                r.size,
            );
        }
        None => {
            let _ = writeln!(s, "  format      not an RDB file ({} bytes)", r.size);
        }
    }
    for key in [
        "redis-ver",
        "valkey-ver",
        "ctime",
        "used-mem",
        "aof-base",
        "aof-preamble",
    ] {
        if let Some(v) = r.aux_value(key) {
            let _ = writeln!(s, "  {key:<11} {}", aux_shown(key, v));
        }
    }
    let checksum = match r.checksum {
        crate::verify::Checksum::Ok(v) => format!("ok ({v:016x})"),
        crate::verify::Checksum::Mismatch { stored, computed } => {
            format!("MISMATCH (stored {stored:016x}, computed {computed:016x})")
        }
        crate::verify::Checksum::Disabled => "disabled (stored as zero: rdbchecksum no)".into(),
        crate::verify::Checksum::Absent => "absent".into(),
    };
    let _ = writeln!(s, "  checksum    {checksum}");
    let _ = writeln!(
        s,
        "  keys        {} ({} with expiry, {} already expired)",
        r.keys, r.expires, r.already_expired
    );
    for (db, d) in &r.dbs {
        let slots = match d.slot_info {
            Some(c) => format!(", {} cluster slots", c.slots),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "    db {db:<4} {} keys, {} expires, {} already expired{slots}",
            d.keys, d.expires, d.already_expired
        );
    }
    let types: Vec<String> = LogicalType::ALL
        .iter()
        .filter_map(|t| r.types.get(t).map(|n| format!("{} {n}", t.name())))
        .collect();
    if !types.is_empty() {
        let _ = writeln!(s, "  types       {}", types.join(", "));
    }
    if r.functions > 0 {
        let _ = writeln!(s, "  functions   {}", r.functions);
    }
    if !r.modules.is_empty() || !r.module_aux.is_empty() {
        let mut names: Vec<&str> = r.modules.keys().map(String::as_str).collect();
        names.extend(r.module_aux.iter().map(String::as_str));
        names.sort_unstable();
        names.dedup();
        let _ = writeln!(s, "  modules     {} (needed to load)", names.join(", "));
    }
    findings_and_verdict(&mut s, errors, warnings);
    s
}

/// The closing lines of every report: warnings, then errors and the verdict.
fn findings_and_verdict(s: &mut String, errors: &[Finding], warnings: &[Finding]) {
    for w in warnings {
        let _ = writeln!(s, "  warning     {w}");
    }
    if errors.is_empty() {
        let _ = writeln!(s, "  verdict     OK");
    } else {
        for e in errors {
            let _ = writeln!(s, "  error       {e}");
        }
        let _ = writeln!(s, "  verdict     FAILED ({} errors)", errors.len());
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a unix time (civil-from-days, no time zone
/// database needed).
pub fn utc(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Renders an AOF verification for a terminal. `file_paths` holds the path
/// to show for each entry of `r.files`; `errors` and `warnings` are the
/// final lists (the report's, each prefixed with its file, plus any gates).
pub fn aof_report(
    path: &str,
    r: &AofReport,
    file_paths: &[String],
    errors: &[Finding],
    warnings: &[Finding],
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{path}");
    let form = match r.form {
        AofForm::Single { preamble: true } => "AOF, single file with an RDB preamble".to_string(),
        AofForm::Single { preamble: false } => "AOF, single file".to_string(),
        AofForm::MultiPart => format!("multi-part AOF, {} files in the manifest", r.files.len()),
    };
    let _ = writeln!(s, "  format      {form}");
    for (i, f) in r.files.iter().enumerate() {
        let shown = file_paths
            .get(i)
            .map_or_else(|| f.name_lossy(), Clone::clone);
        let _ = writeln!(s, "  file        {shown}");
        let mut what = format!("{}, {} bytes", f.kind.as_str(), f.size);
        if let Some(rdb) = &f.rdb {
            if let Some(h) = rdb.header {
                let _ = write!(
                    what,
                    ", RDB {} with {} keys (checksum {})",
                    h.magic_text(),
                    rdb.keys,
                    rdb.checksum.as_str()
                );
            }
        }
        if f.checked {
            let _ = write!(
                what,
                ", {} commands, valid up to byte {}",
                f.commands, f.valid_up_to
            );
        } else {
            what.push_str(", not loaded by the server (not read)");
        }
        let verdict = if !f.checked {
            "-"
        } else if f.ok() {
            "ok"
        } else if f.errors.is_empty() {
            "ok, with a torn tail"
        } else {
            "FAILED"
        };
        let _ = writeln!(s, "              {what}: {verdict}");
        if let Some(e) = &f.first_error {
            let _ = writeln!(
                s,
                "              first problem at offset {} (line {}): {}",
                e.offset, e.line, e.message
            );
        }
    }
    let _ = write!(s, "  commands    {}", r.commands);
    if !r.commands_by_name.is_empty() {
        let mut by_count: Vec<(&String, &u64)> = r.commands_by_name.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let top: Vec<String> = by_count
            .iter()
            .take(8)
            .map(|(n, c)| format!("{n} {c}"))
            .collect();
        let more = by_count.len().saturating_sub(top.len());
        let _ = write!(s, " ({}", top.join(", "));
        if more > 0 {
            let _ = write!(s, ", {more} more");
        }
        s.push(')');
    }
    s.push('\n');
    if r.rdb_keys > 0 {
        let _ = writeln!(
            s,
            "  rdb keys    {} (in the RDB preamble or base)",
            r.rdb_keys
        );
    }
    if !r.dbs.is_empty() {
        let dbs: Vec<String> = r.dbs.iter().map(u64::to_string).collect();
        let _ = writeln!(s, "  dbs         {}", dbs.join(", "));
    }
    if let (Some(a), Some(b)) = (r.first_ts, r.last_ts) {
        let _ = writeln!(s, "  time span   {} .. {}", utc(a), utc(b));
    }
    for ev in &r.flushes {
        let file = r
            .files
            .get(ev.file_index)
            .map(|f| f.name_lossy())
            .unwrap_or_default();
        let when = ev
            .last_ts
            .map(|t| format!(", after #TS {t} ({})", utc(t)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  flush       {} in db {} at {file} offset {}{when}",
            ev.command, ev.db, ev.offset
        );
    }
    if r.flush_count > r.flushes.len() as u64 {
        let _ = writeln!(
            s,
            "  flush       ... {} more not listed",
            r.flush_count - r.flushes.len() as u64
        );
    }
    findings_and_verdict(&mut s, errors, warnings);
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
