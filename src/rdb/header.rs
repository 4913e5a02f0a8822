//! The 9-byte magic: `REDIS` + 4 ASCII digits, or `VALKEY` + 3 ASCII digits
//! (Valkey 9). The magic and version choose the dialect, because Redis and
//! Valkey give different meanings to types 22/23 and opcode 243.

use super::consts::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Magic {
    Redis,
    Valkey,
}

impl Magic {
    pub fn as_str(self) -> &'static str {
        match self {
            Magic::Redis => "REDIS",
            Magic::Valkey => "VALKEY",
        }
    }
}

/// Which project's type and opcode table applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Redis,
    Valkey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub magic: Magic,
    pub version: u32,
}

pub const HEADER_LEN: usize = 9;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than 9 bytes.
    TooShort(usize),
    /// Neither `REDIS` nor `VALKEY`.
    WrongSignature([u8; HEADER_LEN]),
    /// Digits missing or the version is 0.
    BadVersion([u8; HEADER_LEN]),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::TooShort(n) => write!(
                f,
                "expected a 9-byte RDB header (REDISnnnn or VALKEYnnn), the file has only {n} bytes"
            ),
            HeaderError::WrongSignature(b) => write!(
                f,
                "Wrong signature trying to load DB from file: expected REDIS or VALKEY, found '{}'",
                crate::escape_bytes(b)
            ),
            HeaderError::BadVersion(b) => write!(
                f,
                "Can't handle RDB format version: '{}' has no valid version number",
                crate::escape_bytes(b)
            ),
        }
    }
}

impl Header {
    pub fn parse(data: &[u8]) -> Result<Header, HeaderError> {
        let raw: [u8; HEADER_LEN] = match data.get(..HEADER_LEN) {
            Some(b) => b
                .try_into()
                .map_err(|_| HeaderError::TooShort(data.len()))?,
            None => return Err(HeaderError::TooShort(data.len())),
        };
        let (magic, digits) = if raw.starts_with(b"REDIS") {
            (Magic::Redis, &raw[5..])
        } else if raw.starts_with(b"VALKEY") {
            (Magic::Valkey, &raw[6..])
        } else {
            return Err(HeaderError::WrongSignature(raw));
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(HeaderError::BadVersion(raw));
        }
        let version = digits
            .iter()
            .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
        if version == 0 {
            return Err(HeaderError::BadVersion(raw));
        }
        Ok(Header { magic, version })
    }

    /// The magic as the file spells it: `REDIS` and four digits, or
    /// `VALKEY` and three (`REDIS0011`, `VALKEY080`).
    pub fn magic_text(&self) -> String {
        match self.magic {
            Magic::Redis => format!("REDIS{:04}", self.version),
            Magic::Valkey => format!("VALKEY{:03}", self.version),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.magic {
            Magic::Valkey => Dialect::Valkey,
            Magic::Redis => Dialect::Redis,
        }
    }

    /// Whether the file carries a CRC-64 trailer (RDB version 5 and later).
    pub fn has_checksum(&self) -> bool {
        self.version >= 5
    }

    /// Where the checksummed body of an input of `len` bytes ends when it
    /// is a whole RDB file: before the 8-byte trailer, if the version has
    /// one. (Only a guess: the EOF opcode says where it really ends.)
    pub fn body_end_guess(&self, len: usize) -> usize {
        if self.has_checksum() {
            len.saturating_sub(8)
        } else {
            len
        }
    }

    /// Whether millisecond times are little-endian by definition (v9+)
    /// rather than host order (little-endian on every platform seen).
    pub fn version_notes(&self) -> Option<String> {
        match (self.magic, self.version) {
            (Magic::Redis, v) if v > REDIS_RDB_VERSION_MAX => Some(format!(
                "RDB version {v} is newer than any Redis release redcheck knows (max {REDIS_RDB_VERSION_MAX})"
            )),
            (Magic::Redis, v) if v >= 80 => Some(format!(
                "REDIS magic with version {v}: Valkey refuses REDIS0 magic above 79"
            )),
            (Magic::Valkey, v) if v <= RDB_FOREIGN_VERSION_MAX => Some(format!(
                "VALKEY magic with version {v}: Valkey requires version 80 or later with this magic"
            )),
            (Magic::Valkey, v) if v > VALKEY_RDB_VERSION_MAX => Some(format!(
                "RDB version {v} is newer than any Valkey release redcheck knows (max {VALKEY_RDB_VERSION_MAX})"
            )),
            _ => None,
        }
    }

    /// Servers that can load this version (with default configuration).
    pub fn loadable_by(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        match self.magic {
            Magic::Redis => {
                let v = self.version;
                if v <= 9 {
                    out.push("redis-5.0+");
                } else if v == 10 {
                    out.push("redis-7.0+");
                } else if v == 11 {
                    out.push("redis-7.2+");
                } else if v == 12 {
                    out.push("redis-7.4+");
                } else if v == 13 {
                    out.push("redis-8.6+");
                } else if v == 14 {
                    out.push("redis-8.8+");
                }
                if v <= 11 {
                    out.push("valkey-7.2+");
                }
            }
            Magic::Valkey => {
                if self.version == 80 {
                    out.push("valkey-9.0+");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_magics() {
        assert_eq!(
            Header::parse(b"REDIS0011rest").unwrap(),
            Header {
                magic: Magic::Redis,
                version: 11
            }
        );
        assert_eq!(
            Header::parse(b"VALKEY080").unwrap(),
            Header {
                magic: Magic::Valkey,
                version: 80
            }
        );
    }

    #[test]
    fn rejects_what_servers_reject() {
        assert!(matches!(
            Header::parse(b"RODIS0011"),
            Err(HeaderError::WrongSignature(_))
        ));
        assert!(matches!(
            Header::parse(b"REDIS00x1"),
            Err(HeaderError::BadVersion(_))
        ));
        assert!(matches!(
            Header::parse(b"REDIS0000"),
            Err(HeaderError::BadVersion(_))
        ));
        assert!(matches!(
            Header::parse(b"REDIS"),
            Err(HeaderError::TooShort(5))
        ));
        assert!(matches!(Header::parse(b""), Err(HeaderError::TooShort(0))));
    }
}
