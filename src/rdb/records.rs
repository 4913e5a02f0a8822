//! Framing: the sequence of opcodes and key records after the header
//! (`rdbLoadRioWithLoadingCtx`'s loop). Each item is located and its extent
//! found; the value's insides are only walked far enough to find its end.

use super::consts::*;
use super::error::{Error, ErrorKind, unwrap_nom};
use super::extent;
use super::header::{Dialect, HEADER_LEN, Header};
use super::primitives::*;
use super::types::ValueType;
use super::value::walk_value;
use std::cell::Cell;

/// A key and its value's bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyRecord<'a> {
    pub value_type: ValueType,
    pub type_byte: u8,
    pub key: RdbString<'a>,
    /// The serialized value, from its first byte to its last.
    pub value: &'a [u8],
}

/// One item of the file body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Record<'a> {
    Aux {
        key: RdbString<'a>,
        value: RdbString<'a>,
    },
    SelectDb {
        db: u64,
    },
    ResizeDb {
        db_size: u64,
        expires_size: u64,
    },
    /// EXPIRETIME (seconds, v1) or EXPIRETIME_MS, normalised to ms.
    Expire {
        ms: i64,
        seconds: bool,
    },
    Idle {
        seconds: u64,
    },
    Freq {
        counter: u8,
    },
    ModuleAux {
        module_id: u64,
        when: u64,
    },
    Function {
        code: RdbString<'a>,
    },
    SlotInfo {
        slot: u64,
        size: u64,
        expires_size: u64,
    },
    /// Valkey 9 SLOT_IMPORT.
    SlotImport {
        ranges: u64,
    },
    /// Redis 8.6 key metadata, always directly before a key.
    KeyMeta {
        classes: u64,
    },
    Key(KeyRecord<'a>),
    /// The 0xFF opcode. The checksum trailer follows it.
    Eof,
}

/// A record and where it starts (file offset of its opcode/type byte).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Item<'a> {
    pub offset: u64,
    pub record: Record<'a>,
}

/// A key record with a string value, its header decoded
/// ([`Records::read_string_key_fast`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StringKey<'a> {
    /// Where the record starts (its type byte).
    pub offset: u64,
    pub key: RdbString<'a>,
    /// The serialized value, header included.
    pub value: &'a [u8],
    /// The value as its header says: raw, an integer, or LZF.
    pub string: RdbString<'a>,
}

impl<'a> StringKey<'a> {
    /// The key record as the other reads give it.
    #[inline(always)]
    pub fn record(&self) -> KeyRecord<'a> {
        KeyRecord {
            value_type: ValueType::String,
            type_byte: RDB_TYPE_STRING,
            key: self.key,
            value: self.value,
        }
    }

    /// The record as the other reads give it, with its offset.
    #[inline(always)]
    pub fn item(&self) -> Item<'a> {
        Item {
            offset: self.offset,
            record: Record::Key(self.record()),
        }
    }
}

/// Iterator over the records of an RDB body. It stops after `Eof` or the
/// first error.
pub struct Records<'a> {
    file: &'a [u8],
    rest: &'a [u8],
    header: Header,
    done: bool,
    /// Object types by type byte, for this file's dialect (`None`: an
    /// opcode, or a byte the full parser must explain).
    types: [Option<ValueType>; 256],
}

fn type_table(header: &Header) -> [Option<ValueType>; 256] {
    // Built once per header and thread: salvage starts a reader at every
    // candidate position in damaged bytes, and building the table (256
    // lookups, most of them failures that word an error) was half of its
    // time there.
    type Table = [Option<ValueType>; 256];
    thread_local! {
        static LAST: Cell<Option<(Header, Table)>> = const { Cell::new(None) };
    }
    LAST.with(|last| {
        if let Some((h, table)) = last.get()
            && h == *header
        {
            return table;
        }
        let mut table = [None; 256];
        for (b, slot) in (0u8..=255).zip(table.iter_mut()) {
            *slot = ValueType::from_byte(header, b).ok();
        }
        last.set(Some((*header, table)));
        table
    })
}

impl<'a> Records<'a> {
    /// `file` is the whole RDB (header included).
    pub fn new(file: &'a [u8], header: Header) -> Self {
        Records {
            file,
            rest: file.get(HEADER_LEN..).unwrap_or(&[]),
            header,
            done: false,
            types: type_table(&header),
        }
    }

    /// Reads from `offset` (clamped to the file) instead of just after the
    /// header: salvage resumes here after skipping damaged bytes.
    pub fn starting_at(file: &'a [u8], header: Header, offset: usize) -> Self {
        Records {
            file,
            rest: file.get(offset.max(HEADER_LEN)..).unwrap_or(&[]),
            header,
            done: false,
            types: type_table(&header),
        }
    }

    /// Reads `window`, a piece of a file's body, from `pos`: offsets are
    /// then relative to the window. A record cut by the window's end fails
    /// like one cut by the file's end ([`Error::is_eof`]); a reader of a
    /// stream then moves the window on and reads that record again.
    pub fn within(window: &'a [u8], header: Header, pos: usize) -> Self {
        Records {
            file: window,
            rest: window.get(pos..).unwrap_or(&[]),
            header,
            done: false,
            types: type_table(&header),
        }
    }

    /// Offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        (self.file.len() - self.rest.len()) as u64
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    pub fn file(&self) -> &'a [u8] {
        self.file
    }

    /// A key record of a common layout, read by [`extent`] (the fast
    /// path); `None` leaves everything else to `Records::read`.
    #[inline(always)]
    pub fn read_key_fast(&mut self) -> Option<Item<'a>> {
        if self.done {
            return None;
        }
        let (&b, after_type) = self.rest.split_first()?;
        let value_type = (*self.types.get(usize::from(b))?)?;
        let offset = self.file.len() - self.rest.len();
        let (key, after_key) = extent::split_string(after_type)?;
        let value_at = self.file.len() - after_key.len();
        // A string value (most keys) inline; other layouts by a call.
        let end = if value_type == ValueType::String {
            extent::skip_string(self.file, value_at)?
        } else {
            extent::value_end(self.file, value_at, value_type)?
        };
        let value = self.file.get(value_at..end)?;
        self.rest = self.file.get(end..)?;
        Some(Item {
            offset: offset as u64,
            record: Record::Key(KeyRecord {
                value_type,
                type_byte: b,
                key,
                value,
            }),
        })
    }

    /// A key record whose value is a string (most keys of most files),
    /// with the value's header decoded: [`Records::read_key_fast`]'s
    /// record, and the value as [`RdbString`], so a checker need not read
    /// the header again. `None` leaves everything else to the other reads.
    #[inline(always)]
    pub fn read_string_key_fast(&mut self) -> Option<StringKey<'a>> {
        if self.done {
            return None;
        }
        // Type 0 is a string in every dialect and version.
        let (&b, after_type) = self.rest.split_first()?;
        if b != RDB_TYPE_STRING {
            return None;
        }
        let (key, after_key) = extent::split_string(after_type)?;
        let (string, after_value) = extent::split_string(after_key)?;
        let value = after_key.get(..after_key.len() - after_value.len())?;
        let offset = self.offset();
        self.rest = after_value;
        Some(StringKey {
            offset,
            key,
            value,
            string,
        })
    }

    /// An EXPIRETIME_MS record (the one non-key record most files have
    /// one of per expiring key), read without the full parser; `None`
    /// leaves anything else, and a cut one, to `Records::read`.
    #[inline(always)]
    pub fn read_expire_fast(&mut self) -> Option<Item<'a>> {
        if self.done {
            return None;
        }
        let (&b, rest) = self.rest.split_first()?;
        if b != RDB_OPCODE_EXPIRETIME_MS {
            return None;
        }
        let (ms, rest) = rest.split_first_chunk::<8>()?;
        let offset = self.offset();
        self.rest = rest;
        Some(Item {
            offset,
            record: Record::Expire {
                ms: i64::from_le_bytes(*ms),
                seconds: false,
            },
        })
    }

    fn read(&mut self) -> Result<Item<'a>, Error> {
        let start = self.rest;
        let offset = self.offset();
        let (rest, b) = parse_u8(start, "record type").map_err(|e| unwrap_nom(e, start))?;
        let result = self.read_body(start, rest, b);
        match result {
            Ok((rest, record)) => {
                self.rest = rest;
                Ok(Item { offset, record })
            }
            Err(e) => Err(unwrap_nom(e, start)),
        }
    }

    fn read_body(
        &self,
        start: &'a [u8],
        input: &'a [u8],
        b: u8,
    ) -> Result<(&'a [u8], Record<'a>), nom::Err<Error>> {
        let valkey = self.header.dialect() == Dialect::Valkey;
        match b {
            RDB_OPCODE_EOF => Ok((input, Record::Eof)),
            RDB_OPCODE_SELECTDB => {
                let (r, db) = parse_length(input, "SELECTDB db number")?;
                Ok((r, Record::SelectDb { db }))
            }
            RDB_OPCODE_RESIZEDB => {
                let (r, db_size) = parse_length(input, "RESIZEDB db size")?;
                let (r, expires_size) = parse_length(r, "RESIZEDB expires size")?;
                Ok((r, Record::ResizeDb { db_size, expires_size }))
            }
            RDB_OPCODE_EXPIRETIME_MS => {
                let (r, ms) = parse_le_i64(input, "EXPIRETIME_MS")?;
                Ok((r, Record::Expire { ms, seconds: false }))
            }
            RDB_OPCODE_EXPIRETIME => {
                let (r, s) = parse_le_i32(input, "EXPIRETIME")?;
                Ok((r, Record::Expire { ms: i64::from(s) * 1000, seconds: true }))
            }
            RDB_OPCODE_AUX => {
                let (r, key) = parse_string(input, "AUX field name")?;
                let (r, value) = parse_string(r, "AUX field value")?;
                Ok((r, Record::Aux { key, value }))
            }
            RDB_OPCODE_IDLE => {
                let (r, seconds) = parse_length(input, "IDLE")?;
                Ok((r, Record::Idle { seconds }))
            }
            RDB_OPCODE_FREQ => {
                let (r, counter) = parse_u8(input, "FREQ")?;
                Ok((r, Record::Freq { counter }))
            }
            RDB_OPCODE_MODULE_AUX => {
                let (r, module_id) = parse_length(input, "MODULE_AUX module id")?;
                let (r2, when_op) = parse_length(r, "MODULE_AUX when opcode")?;
                if when_op != RDB_MODULE_OPCODE_UINT {
                    return Error::invalid(
                        r,
                        format!("bad when_opcode: expected 2 (UINT), found {when_op}"),
                    )
                    .fail();
                }
                let (r3, when) = parse_length(r2, "MODULE_AUX when")?;
                if when != REDISMODULE_AUX_BEFORE_RDB && when != REDISMODULE_AUX_AFTER_RDB {
                    return Error::invalid(
                        r2,
                        format!("MODULE_AUX when: expected 1 (before RDB) or 2 (after RDB), found {when}"),
                    )
                    .fail();
                }
                let (r, _) = skip_module_opcodes(r3, "MODULE_AUX value")?;
                Ok((r, Record::ModuleAux { module_id, when }))
            }
            RDB_OPCODE_FUNCTION_PRE_GA => Error::invalid(
                start,
                "Pre-release function format not supported (opcode 246, Redis 7.0 release candidates)",
            )
            .fail(),
            RDB_OPCODE_FUNCTION2 => {
                let (r, code) = parse_string(input, "FUNCTION2 library code")?;
                Ok((r, Record::Function { code }))
            }
            RDB_OPCODE_SLOT_INFO => {
                let (r, slot) = parse_length(input, "SLOT_INFO slot id")?;
                let (r, size) = parse_length(r, "SLOT_INFO slot size")?;
                let (r, expires_size) = parse_length(r, "SLOT_INFO expires size")?;
                Ok((r, Record::SlotInfo { slot, size, expires_size }))
            }
            243 if valkey => {
                let (r, _name) = parse_string(input, "SLOT_IMPORT job name")?;
                let (mut r, ranges) = parse_count(r, "SLOT_IMPORT range count", 2)?;
                for _ in 0..ranges {
                    let (r2, _start) = parse_length(r, "SLOT_IMPORT start slot")?;
                    let (r2, _end) = parse_length(r2, "SLOT_IMPORT end slot")?;
                    r = r2;
                }
                Ok((r, Record::SlotImport { ranges }))
            }
            RDB_OPCODE_KEY_META if self.header.version >= 13 => self.read_key_meta(input),
            _ => self.read_key(start, input, b),
        }
    }

    /// Redis 8.6 KEY_META: classes, then the key it belongs to. Reported as
    /// a record of its own; the key record follows.
    fn read_key_meta(&self, input: &'a [u8]) -> Result<(&'a [u8], Record<'a>), nom::Err<Error>> {
        let (mut r, classes) = parse_length(input, "KEY_META class count")?;
        if classes == 0 || classes > crate::limits::MAX_KEY_META_CLASSES {
            return Error::invalid(
                input,
                format!("Too many metadata classes: expected 1..7 classes, found {classes}"),
            )
            .fail();
        }
        for _ in 0..classes {
            let (r2, _spec) = take_bytes(r, 4, "KEY_META class spec")?;
            let (r2, _) = skip_module_opcodes(r2, "KEY_META class value")?;
            r = r2;
        }
        // The type byte must follow directly and be an object type.
        if let Some(&t) = r.first()
            && ValueType::from_byte(&self.header, t).is_err()
        {
            return Error::invalid(
                r,
                format!("KEY_META must be followed by an object type, found byte {t}"),
            )
            .fail();
        }
        Ok((r, Record::KeyMeta { classes }))
    }

    fn read_key(
        &self,
        start: &'a [u8],
        input: &'a [u8],
        b: u8,
    ) -> Result<(&'a [u8], Record<'a>), nom::Err<Error>> {
        let value_type = match ValueType::from_byte(&self.header, b) {
            Ok(t) => t,
            Err(why) => {
                return Error::at(start, ErrorKind::UnknownType { byte: b, why }).fail();
            }
        };
        let (value, key) = parse_string(input, "key")?;
        let (rest, ()) = walk_value(value, value_type, self.header.version, &mut ())?;
        let len = value.len() - rest.len();
        Ok((
            rest,
            Record::Key(KeyRecord {
                value_type,
                type_byte: b,
                key,
                value: value.get(..len).unwrap_or(&[]),
            }),
        ))
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Item<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(item) = self.read_key_fast().or_else(|| self.read_expire_fast()) {
            return Some(Ok(item));
        }
        let item = self.read();
        match &item {
            Ok(Item {
                record: Record::Eof,
                ..
            })
            | Err(_) => self.done = true,
            Ok(_) => {}
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_string_key_read_is_the_full_parsers_and_declines_cut_ones() {
        let mut seen = 0;
        for (name, data) in crate::test_support::rdb_fixtures() {
            let Ok(h) = Header::parse(&data) else {
                continue;
            };
            let mut full = Records::new(&data, h);
            while let Ok(item) = full.read() {
                let at = item.offset as usize;
                let mut fast = Records::starting_at(&data, h, at);
                let read = fast.read_string_key_fast();
                match item.record {
                    Record::Key(k) if k.value_type == ValueType::String => {
                        let Some(read) = read else {
                            panic!("{name} at {at}: a string key not read");
                        };
                        assert_eq!(read.item(), item, "{name} at {at}");
                        assert_eq!(fast.offset(), full.offset(), "{name} at {at}");
                        // The decoded value is the one the value's bytes hold.
                        let (_, whole) = parse_string(read.value, "value").unwrap();
                        assert_eq!(read.string, whole, "{name} at {at}");
                        for end in at + 1..full.offset() as usize {
                            let d = &data[..end];
                            let mut r = Records::starting_at(d, h, at);
                            assert_eq!(r.read_string_key_fast(), None, "{name} cut at {end}");
                            assert!(r.read().is_err(), "{name} cut at {end}");
                        }
                        seen += 1;
                    }
                    _ => assert_eq!(read, None, "{name} at {at}"),
                }
                if item.record == Record::Eof {
                    break;
                }
            }
        }
        if std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/rdb")
            .exists()
        {
            assert!(seen > 100, "{seen} string keys in the fixtures");
        }
    }

    #[test]
    fn the_fast_expire_read_is_the_full_parsers_and_declines_cut_ones() {
        let mut seen = 0;
        for (name, data) in crate::test_support::rdb_fixtures() {
            let Ok(h) = Header::parse(&data) else {
                continue;
            };
            // The full parser alone, record by record.
            let mut full = Records::new(&data, h);
            while let Ok(item) = full.read() {
                let at = item.offset as usize;
                if let Record::Expire { seconds: false, .. } = item.record {
                    let mut fast = Records::starting_at(&data, h, at);
                    assert_eq!(fast.read_expire_fast(), Some(item), "{name} at {at}");
                    assert_eq!(fast.offset(), full.offset(), "{name} at {at}");
                    for cut in 1..9 {
                        let d = &data[..at + cut];
                        let mut r = Records::starting_at(d, h, at);
                        assert_eq!(r.read_expire_fast(), None, "{name} cut {cut}");
                        assert!(r.read().is_err(), "{name} cut {cut}");
                    }
                    seen += 1;
                } else {
                    let mut fast = Records::starting_at(&data, h, at);
                    assert_eq!(fast.read_expire_fast(), None, "{name} at {at}");
                }
                if item.record == Record::Eof {
                    break;
                }
            }
        }
        if std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/rdb")
            .exists()
        {
            assert!(seen > 10, "{seen} expiry records in the fixtures");
        }
    }
}
