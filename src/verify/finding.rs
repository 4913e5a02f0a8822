//! Findings: what the verifier reports, with where and in what context.

use std::fmt;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The file loads, but something is abnormal (trailing bytes, an empty
    /// key the server would skip, an already-expired key).
    Warning,
    /// The file is corrupt or a server would refuse to load it.
    Error,
}

/// One problem found in a file, located by absolute byte offset and, where
/// known, the db, key and logical type being read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Absolute byte offset in the file where the offending item starts.
    pub offset: u64,
    pub db: Option<u64>,
    pub key: Option<Vec<u8>>,
    /// Logical type name (`string list set zset hash stream module`) or,
    /// outside keys, what was being read.
    pub type_name: Option<&'static str>,
    pub message: String,
    /// The check stopped here because going on would have taken more of
    /// redcheck's memory than allowed (`--max-memory`): an error that is
    /// not a verdict on the file (exit status 2, "could not run").
    pub out_of_budget: bool,
}

impl Finding {
    pub fn error(offset: u64, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            offset,
            db: None,
            key: None,
            type_name: None,
            message: message.into(),
            out_of_budget: false,
        }
    }

    /// Marks an error that is the memory budget's, not the file's.
    pub fn out_of_budget(mut self) -> Self {
        self.out_of_budget = true;
        self
    }

    pub fn warning(offset: u64, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(offset, message)
        }
    }

    pub fn in_db(mut self, db: Option<u64>) -> Self {
        self.db = db;
        self
    }

    pub fn with_key(mut self, key: Option<&[u8]>) -> Self {
        self.key = key.map(<[u8]>::to_vec);
        self
    }

    pub fn with_type(mut self, type_name: Option<&'static str>) -> Self {
        self.type_name = type_name;
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[offset {}]", self.offset)?;
        if let Some(db) = self.db {
            write!(f, " db {db}")?;
        }
        if let Some(key) = &self.key {
            write!(f, " key '{}'", crate::escape_bytes(key))?;
        }
        if let Some(t) = self.type_name {
            write!(f, " ({t})")?;
        }
        write!(f, ": {}", self.message)
    }
}
