//! Human-readable report of one RDB verification.

use crate::escape_bytes;
use crate::rdb::LogicalType;
use crate::verify::{Finding, RdbReport};
use std::fmt::Write;

/// Renders the report for a terminal. `errors` and `warnings` are the
/// final lists (the verifier's plus any failed gates).
pub fn rdb_report(path: &str, r: &RdbReport, errors: &[Finding], warnings: &[Finding]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{path}");
    match r.header {
        Some(h) => {
            let _ = writeln!(
                s,
                "  format      {}{:0w$} (RDB version {}, {} bytes)",
                h.magic.as_str(),
                h.version,
                h.version,
                r.size,
                w = if h.magic == crate::rdb::Magic::Redis {
                    4
                } else {
                    3
                }
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
            let mut shown = escape_bytes(v);
            if key == "ctime"
                && let Some(t) = std::str::from_utf8(v)
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok())
            {
                shown = format!("{shown} ({})", crate::report::text::utc(t));
            }
            let _ = writeln!(s, "  {key:<11} {shown}");
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
        let _ = writeln!(
            s,
            "    db {db:<4} {} keys, {} expires, {} already expired",
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
    s
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

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
