//! redcheck's own LZF decoder (`redcheck::lzf::decompress`) and validator
//! (`redcheck::lzf::validate`) against the `lzf` crate's decompressor, on
//! every LZF string the servers wrote into the fixtures under testdata/rdb
//! (values, list items, packed blobs, hash fields, stream nodes), intact
//! and damaged: the same bytes out, or both refusing.

mod common;

use redcheck::rdb::error::Error;
use redcheck::rdb::value::{BlobKind, ValueVisitor, walk_value};
use redcheck::rdb::{Header, RdbString, Record, Records};

/// Every LZF string of one value: (compressed bytes, declared length).
#[derive(Default)]
struct LzfStrings(Vec<(Vec<u8>, u64)>);

impl LzfStrings {
    fn add(&mut self, s: RdbString<'_>) {
        if let RdbString::Lzf { compressed, len } = s
            && len > 0
        {
            self.0.push((compressed.to_vec(), len));
        }
    }
}

impl<'a> ValueVisitor<'a> for LzfStrings {
    fn string_value(&mut self, _at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        self.add(s);
        Ok(())
    }
    fn list_item(&mut self, _at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        self.add(s);
        Ok(())
    }
    fn set_member(&mut self, _at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        self.add(s);
        Ok(())
    }
    fn blob(&mut self, _at: &'a [u8], _kind: BlobKind, s: RdbString<'a>) -> Result<(), Error> {
        self.add(s);
        Ok(())
    }
    fn quicklist_plain(&mut self, _at: &'a [u8], s: RdbString<'a>) -> Result<(), Error> {
        self.add(s);
        Ok(())
    }
    fn stream_node(
        &mut self,
        _at: &'a [u8],
        key: RdbString<'a>,
        lp: RdbString<'a>,
    ) -> Result<(), Error> {
        self.add(key);
        self.add(lp);
        Ok(())
    }
}

fn server_written() -> Vec<(Vec<u8>, u64)> {
    let mut found = LzfStrings::default();
    for path in common::rdb_fixtures() {
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        let Ok(header) = Header::parse(&data) else {
            continue;
        };
        for item in Records::new(&data, header) {
            let Ok(item) = item else { break };
            if let Record::Key(k) = item.record {
                let _ = walk_value(k.value, k.value_type, header.version, &mut found);
            }
        }
    }
    found.0
}

/// The crate's verdict, held to the exact-length rule Redis applies.
fn reference(data: &[u8], want: u64) -> Option<Vec<u8>> {
    let out = lzf::decompress(data, usize::try_from(want).ok()?).ok()?;
    (out.len() as u64 == want).then_some(out)
}

fn agrees(data: &[u8], want: u64, what: &str) {
    if !redcheck::lzf::plausible(data.len() as u64, want) {
        assert!(redcheck::lzf::decompress(data, want).is_err(), "{what}");
        assert!(redcheck::lzf::validate(data, want).is_err(), "{what}");
        return;
    }
    let expected = reference(data, want);
    assert_eq!(
        redcheck::lzf::decompress(data, want).ok(),
        expected,
        "{what}"
    );
    assert_eq!(
        redcheck::lzf::validate(data, want).is_ok(),
        expected.is_some(),
        "{what}"
    );
}

#[test]
fn server_written_lzf_strings_inflate_as_the_crate_inflates_them() {
    let strings = server_written();
    eprintln!("{} server-written LZF strings", strings.len());
    assert!(
        strings.len() >= 10,
        "the fixtures hold LZF strings (list-lzf, all-types): found {}",
        strings.len()
    );
    let mut state = 0x5EED_u64;
    let mut rand = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for (i, (data, want)) in strings.iter().enumerate() {
        let want = *want;
        assert!(reference(data, want).is_some(), "string {i} inflates");
        agrees(data, want, &format!("string {i}"));
        agrees(data, want + 1, &format!("string {i}, one byte more"));
        agrees(data, want - 1, &format!("string {i}, one byte less"));
        // Truncations (a spread of them for long strings) and bit flips.
        let step = (data.len() / 64).max(1);
        for cut in (0..data.len()).step_by(step) {
            agrees(&data[..cut], want, &format!("string {i} cut at {cut}"));
        }
        let mut work = data.clone();
        for _ in 0..64 {
            let at = rand(data.len());
            work[at] ^= 1 << rand(8);
            agrees(&work, want, &format!("string {i} flipped at {at}"));
            work[at] = data[at];
        }
    }
}
