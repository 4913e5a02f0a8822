//! Backup gates: conditions a script puts on a verified file. A failed gate
//! is a verification failure (exit 1) with a message naming the gate.

use std::time::Duration;

/// `--expect-keys N` or `--expect-keys MIN..MAX` (either end may be empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRange {
    pub min: u64,
    pub max: u64,
}

impl std::str::FromStr for KeyRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let num = |t: &str, dflt: u64| -> Result<u64, String> {
            if t.is_empty() {
                Ok(dflt)
            } else {
                t.trim()
                    .parse()
                    .map_err(|_| format!("'{t}' is not a key count"))
            }
        };
        match s.split_once("..") {
            Some((a, b)) => {
                let r = KeyRange {
                    min: num(a, 0)?,
                    max: num(b, u64::MAX)?,
                };
                if r.min > r.max {
                    Err(format!("empty range {s}"))
                } else {
                    Ok(r)
                }
            }
            None => {
                let n = num(s, 0)?;
                Ok(KeyRange { min: n, max: n })
            }
        }
    }
}

impl std::fmt::Display for KeyRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else if self.max == u64::MAX {
            write!(f, "{}..", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

/// `30s`, `90m`, `36h`, `7d`, `2w`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (examples: 3600, 90m, 36h, 7d)"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "unknown duration unit '{unit}' in '{s}' (use s, m, h, d, w)"
            ));
        }
    };
    n.checked_mul(mult)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("duration '{s}' is too large"))
}

/// A size in bytes: `1048576`, `512K`, `256M`, `2G` (also `KB`/`KiB`
/// ...; binary multiples, as the servers read `maxmemory`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (examples: 512M, 2G, 1048576)"))?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "unknown size unit '{unit}' in '{s}' (use K, M, G, T)"
            ));
        }
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("256mb"), Ok(256 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn key_ranges() {
        assert_eq!("5".parse::<KeyRange>(), Ok(KeyRange { min: 5, max: 5 }));
        assert_eq!(
            "5..10".parse::<KeyRange>(),
            Ok(KeyRange { min: 5, max: 10 })
        );
        assert_eq!(
            "5..".parse::<KeyRange>(),
            Ok(KeyRange {
                min: 5,
                max: u64::MAX
            })
        );
        assert_eq!("..10".parse::<KeyRange>(), Ok(KeyRange { min: 0, max: 10 }));
        assert!("10..5".parse::<KeyRange>().is_err());
        assert!("x".parse::<KeyRange>().is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("36h").unwrap().as_secs(), 36 * 3600);
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("2d").unwrap().as_secs(), 172_800);
        assert!(parse_duration("2y").is_err());
        assert!(parse_duration("h").is_err());
    }
}
