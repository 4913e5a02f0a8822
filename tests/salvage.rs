//! Salvage and extract on damage derived from the server-written fixtures:
//! garbage over one record in the middle, a zeroed page, a byte run
//! removed, junk inserted. Salvage must find every key outside the damage,
//! report a region where the damage is, invent no key, and the extracted
//! RDB must load in the real server of the same version with exactly the
//! intact keys (checked by SCAN per db and by DUMP against the server that
//! loaded the undamaged file).

mod common;

use common::{Server, Xorshift, note};
use redcheck::salvage::{
    SalvageOptions, SalvageReport, extract_rdb, extract_to, salvage_rdb, salvage_summary,
};
use redcheck::{Options, verify_rdb};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

type KeyId = (u64, Vec<u8>);

#[derive(Debug, Clone)]
enum Damage {
    Garbage(Range<usize>),
    Zeroed(Range<usize>),
    Removed(Range<usize>),
    Inserted { at: usize, junk: Vec<u8> },
}

impl Damage {
    fn apply(&self, data: &[u8]) -> Vec<u8> {
        let mut d = data.to_vec();
        match self {
            Damage::Garbage(r) => {
                let mut rng = Xorshift::new(r.start as u64);
                d[r.clone()].copy_from_slice(&rng.bytes(r.len()));
            }
            Damage::Zeroed(r) => d[r.clone()].fill(0),
            Damage::Removed(r) => {
                d.drain(r.clone());
            }
            Damage::Inserted { at, junk } => {
                d.splice(*at..*at, junk.iter().copied());
            }
        }
        d
    }

    /// Whether the record spanning `span` (original offsets) is touched.
    fn touches(&self, span: &Range<u64>) -> bool {
        let (s, e) = (span.start as usize, span.end as usize);
        match self {
            Damage::Garbage(r) | Damage::Zeroed(r) | Damage::Removed(r) => s < r.end && r.start < e,
            Damage::Inserted { at, .. } => s < *at && *at < e,
        }
    }

    /// The damaged bytes in the damaged file's offsets (a point for a removal).
    fn in_damaged_file(&self) -> Range<u64> {
        match self {
            Damage::Garbage(r) | Damage::Zeroed(r) => r.start as u64..r.end as u64,
            Damage::Removed(r) => r.start as u64..r.start as u64,
            Damage::Inserted { at, junk } => *at as u64..(*at + junk.len()) as u64,
        }
    }
}

/// The four kinds of damage, placed around the middle key of the file.
fn damages(data: &[u8], clean: &SalvageReport) -> Vec<(&'static str, Damage)> {
    let keys = &clean.keys;
    let mid = keys.len() / 2;
    let span = |i: usize| keys[i].span.start as usize..keys[i].span.end as usize;
    let end = clean.eof_offset.expect("the fixture has an EOF") as usize;
    // A 4 KiB page where the file has room for one, else a smaller
    // aligned block; inside the body either way.
    let page = if data.len() >= 3 * 4096 {
        4096
    } else {
        (data.len() / 4).next_power_of_two() / 2
    }
    .max(16);
    let page_start = ((data.len() / 2) / page * page).clamp(16, end.saturating_sub(page).max(16));
    let cut = span(mid + 1);
    let cut_at = cut.start + cut.len() / 2;
    let into = span(mid - 1);
    let mut rng = Xorshift::new(data.len() as u64);
    vec![
        ("garbage over one record", Damage::Garbage(span(mid))),
        (
            "zeroed page",
            Damage::Zeroed(page_start..(page_start + page).min(end)),
        ),
        (
            "byte run removed",
            Damage::Removed(cut_at..(cut_at + 64).min(cut.end)),
        ),
        (
            "junk inserted",
            Damage::Inserted {
                at: into.start + into.len() / 2,
                junk: rng.bytes(200),
            },
        ),
    ]
}

fn salvage(data: Vec<u8>) -> (Vec<u8>, SalvageReport) {
    common::within(Duration::from_secs(120), "salvage", move || {
        let r = salvage_rdb(&data, &SalvageOptions::default());
        (data, r)
    })
}

fn ids<'a>(keys: impl Iterator<Item = &'a redcheck::salvage::SalvagedKey>) -> BTreeSet<KeyId> {
    keys.map(|k| (k.db, k.key.clone())).collect()
}

/// Checks salvage's report on one damaged file against what the damage is
/// known to have touched. Returns the failures.
///
/// Everywhere: the damage is reported (a region at it, or, when the
/// structure survived, a ranked checksum suspect), and every key before the
/// damage is found (intact, or suspect when it ends where the damage
/// begins). For garbage over one record, also: every key after it is found,
/// no key is invented, and the overwritten key is not reported intact,
/// whatever the key names (binary names count toward resynchronisation:
/// see `salvage::resync`).
/// After a zeroed page, removed bytes or inserted junk, records that still
/// frame can hide the damage for a while (a plain hash's fields look like
/// keys; a string length can swallow the records after it); those cases
/// are counted and printed, not asserted.
fn judge(
    what: &str,
    kind: &str,
    clean: &SalvageReport,
    damage: &Damage,
    s: &SalvageReport,
    tally: &mut BTreeMap<&'static str, u64>,
) -> Vec<String> {
    let mut fail = Vec::new();
    let original = ids(clean.keys.iter());
    let found = ids(s.keys.iter());
    let strict = kind == "garbage over one record";
    let d = damage.in_damaged_file();
    for k in &clean.keys {
        let id = (k.db, k.key.clone());
        if damage.touches(&k.span)
            && ids(s.intact()).contains(&id)
            && !s.suspects.iter().any(|x| x.key == k.key && x.db == k.db)
        {
            if strict {
                fail.push(format!("{what}: damaged key {id:?} reported intact"));
            } else {
                *tally.entry("damaged keys reported intact").or_default() += 1;
            }
        }
        if damage.touches(&k.span) || found.contains(&id) {
            continue;
        }
        let before = (k.span.end as usize) <= d.start as usize;
        if before || strict {
            fail.push(format!(
                "{what}: untouched key {id:?} at {:?} not found",
                k.span
            ));
        } else {
            *tally
                .entry("untouched keys after the damage skipped")
                .or_default() += 1;
        }
    }
    let intact = ids(s.intact());
    for id in found.difference(&original) {
        let label = if intact.contains(id) {
            "invented keys reported intact"
        } else {
            "invented keys reported suspect"
        };
        if strict {
            fail.push(format!("{what}: invented key {id:?}"));
        } else {
            *tally.entry(label).or_default() += 1;
        }
    }
    if s.regions.is_empty() {
        if s.suspects.is_empty() {
            fail.push(format!("{what}: no damaged region and no checksum suspect"));
        }
    } else if !s
        .regions
        .iter()
        .any(|r| r.start <= d.end && d.start <= r.end)
    {
        if strict {
            fail.push(format!(
                "{what}: no region at the damage {d:?}: {:?}",
                s.regions
            ));
        } else {
            *tally
                .entry("damage first reported after its offset")
                .or_default() += 1;
        }
    }
    fail
}

/// Every fixture with enough keys to damage one in the middle.
fn subjects() -> Vec<(String, Vec<u8>, SalvageReport)> {
    common::rdb_fixtures()
        .into_iter()
        .filter_map(|p| {
            let data = std::fs::read(&p).expect("read fixture");
            let clean = salvage_rdb(&data, &SalvageOptions::default());
            (clean.keys.len() >= 4).then(|| (common::shown(&p), data, clean))
        })
        .collect()
}

#[test]
fn clean_fixtures_salvage_to_every_key_and_extract_to_the_same_counts() {
    let fixtures = common::rdb_fixtures();
    if fixtures.is_empty() {
        note("no fixtures in testdata/rdb: skipped");
        return;
    }
    for p in fixtures {
        let data = std::fs::read(&p).expect("read fixture");
        let v = verify_rdb(&data, &Options::default());
        let s = salvage_rdb(&data, &SalvageOptions::default());
        let name = common::shown(&p);
        assert!(s.is_clean(), "{name}: {:?}", s.regions);
        assert_eq!(s.intact().count() as u64, v.keys, "{name}");
        let out = extract_rdb(&data, &s, false).expect("a header");
        let w = verify_rdb(&out, &Options::default());
        assert!(w.ok, "{name}: extract does not verify: {:?}", w.errors);
        assert_eq!(
            w.checksum.as_str(),
            if v.checksum.as_str() == "absent" {
                "absent"
            } else {
                "ok"
            },
            "{name}"
        );
        let counts = |r: &redcheck::RdbReport| {
            r.dbs
                .iter()
                .map(|(d, s)| (*d, s.keys, s.expires))
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(&w), counts(&v), "{name}");
        assert_eq!(w.functions, v.functions, "{name}: functions kept");
        assert_eq!(&out[..9], &data[..9], "{name}: magic and version kept");
    }
}

#[test]
fn damage_in_the_middle_loses_only_what_it_touches() {
    let subjects = subjects();
    if subjects.is_empty() {
        note("no fixtures in testdata/rdb: skipped");
        return;
    }
    let mut fail = Vec::new();
    let mut tally = BTreeMap::new();
    for (name, data, clean) in &subjects {
        for (kind, damage) in damages(data, clean) {
            let (_, s) = salvage(damage.apply(data));
            fail.extend(judge(
                &format!("{name}: {kind}"),
                kind,
                clean,
                &damage,
                &s,
                &mut tally,
            ));
        }
    }
    for (what, n) in tally {
        note(format!("{what}: {n}"));
    }
    assert!(fail.is_empty(), "{}", fail.join("\n"));
}

/// Garbage over each record in turn, of every fixture: the damaged
/// key is lost, every other key is found (intact, or suspect when it sits
/// next to the damage), and no key that never existed is reported intact.
/// (The middle-record test above also checks the regions; this one covers
/// every position, where the garbage meets db switches, expiries, module
/// values and the EOF.)
#[test]
fn garbage_over_any_record_loses_only_that_key() {
    let subjects = subjects();
    if subjects.is_empty() {
        note("no fixtures in testdata/rdb: skipped");
        return;
    }
    let mut fail = Vec::new();
    let mut runs = 0;
    for (name, data, clean) in &subjects {
        let original = ids(clean.keys.iter());
        let end = clean.eof_offset.unwrap_or(data.len() as u64);
        for (i, k) in clean.keys.iter().enumerate() {
            if k.span.end > end {
                continue;
            }
            let damage = Damage::Garbage(k.span.start as usize..k.span.end as usize);
            let (_, s) = salvage(damage.apply(data));
            runs += 1;
            let found = ids(s.keys.iter());
            let intact = ids(s.intact());
            let what = format!("{name}: garbage over key {i} at {:?}", k.span);
            for other in &clean.keys {
                let id = (other.db, other.key.clone());
                if !damage.touches(&other.span) && !found.contains(&id) {
                    fail.push(format!("{what}: untouched key {id:?} not found"));
                }
            }
            if intact.contains(&(k.db, k.key.clone())) {
                fail.push(format!("{what}: the damaged key reported intact"));
            }
            for id in intact.difference(&original) {
                fail.push(format!("{what}: invented key {id:?} reported intact"));
            }
        }
    }
    note(format!("{runs} damaged files salvaged"));
    assert!(fail.is_empty(), "{}", fail.join("\n"));
}

/// Keys and value digests on a server, per db. `DEBUG DIGEST-VALUE` is
/// independent of a hash table's iteration order, which DUMP is not.
fn dumped(srv: &Server) -> BTreeMap<KeyId, Vec<u8>> {
    let mut c = srv.client();
    let dbs: Vec<u64> = (0..16).collect();
    let mut out = BTreeMap::new();
    for (db, keys) in common::keys_on_server(&mut c, &dbs) {
        c.ok(&[b"SELECT", db.to_string().as_bytes()]);
        for k in keys.into_keys() {
            let r = c.ok(&[b"DEBUG", b"DIGEST-VALUE", &k]);
            let d = r
                .array()
                .first()
                .and_then(|d| d.bytes())
                .unwrap_or_default()
                .to_vec();
            out.insert((db, k), d);
        }
    }
    out
}

fn server_of(p: &str) -> Option<&'static str> {
    common::SERVERS
        .into_iter()
        .find(|s| p.contains(&format!("/{s}/")))
}

#[test]
fn extracted_files_load_in_the_real_server_with_exactly_the_intact_keys() {
    let chosen = [
        "all-types.rdb",
        "module-graph.rdb",
        "module-vectorset.rdb",
        "hfe.rdb",
    ];
    let mut ran = 0;
    for (name, data, clean) in subjects() {
        if !chosen.iter().any(|c| name.ends_with(c)) {
            continue;
        }
        let Some(server) = server_of(&name) else {
            continue;
        };
        let module = (!clean.keys.is_empty()
            && !verify_rdb(&data, &Options::default()).modules.is_empty())
        .then(|| common::module_for(server))
        .flatten()
        .map(|p| p.to_string_lossy().into_owned());
        let mut config: Vec<(&str, &str)> = vec![("sanitize-dump-payload", "yes")];
        if server != "redis-6.2" {
            config.push(("enable-debug-command", "local"));
        }
        if let Some(m) = &module {
            config.push(("loadmodule", m));
        }
        let original = match Server::start_with(server, &config, Some(&data)) {
            None => {
                note(format!("{server} not installed: {name} skipped"));
                continue;
            }
            Some(Err(log)) => panic!("{server} refuses the undamaged {name}: {log}"),
            Some(Ok(s)) => s,
        };
        let before = dumped(&original);
        drop(original);
        for (kind, damage) in damages(&data, &clean) {
            let (damaged, s) = salvage(damage.apply(&data));
            let out = extract_rdb(&damaged, &s, false).expect("a header");
            let srv = match Server::start_with(server, &config, Some(&out)) {
                Some(Ok(srv)) => srv,
                Some(Err(log)) => {
                    panic!("{name}: {kind}: {server} refuses the extracted file:\n{log}")
                }
                None => unreachable!("the server ran a moment ago"),
            };
            let after = dumped(&srv);
            // The server drops keys that already expired; the original
            // server did the same, so compare against what it held.
            let original = ids(clean.keys.iter());
            let expected: BTreeSet<KeyId> = ids(s.intact())
                .into_iter()
                .filter(|id| before.contains_key(id) || !original.contains(id))
                .collect();
            let got: BTreeSet<KeyId> = after.keys().cloned().collect();
            assert_eq!(got, expected, "{name}: {kind}: keys on {server}");
            for (id, payload) in &after {
                if let Some(was) = before.get(id) {
                    assert!(
                        was == payload,
                        "{name}: {kind}: the value of {id:?} differs"
                    );
                }
            }
            let mut c = srv.client();
            let keyspace = c.keyspace();
            for (db, n) in s.intact_per_db() {
                let loaded = keyspace.get(&db).map_or(0, |k| k.0);
                let live = expected.iter().filter(|id| id.0 == db).count() as u64;
                assert!(
                    loaded == live && live <= n,
                    "{name}: {kind}: db {db}: DBSIZE {loaded}, {live} expected"
                );
            }
            note(format!(
                "{name}: {kind}: {server} loaded {} keys{}",
                got.len(),
                if module.is_some() {
                    " (with its module)"
                } else {
                    ""
                }
            ));
            ran += 1;
        }
    }
    if ran == 0 {
        note("no server installed: extract was not loaded anywhere");
    }
}

fn redcheck(args: &[&str]) -> (i32, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_redcheck"))
        .args(args)
        .output()
        .expect("run redcheck");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn extract_never_overwrites_the_input_and_reports_damage_by_exit_code() {
    let src = common::crate_dir().join("testdata/rdb/redis-7.0/all-types.rdb");
    let Ok(data) = std::fs::read(&src) else {
        note("fixture missing: skipped");
        return;
    };
    let clean = salvage_rdb(&data, &SalvageOptions::default());
    let (_, damage) = damages(&data, &clean).remove(0);
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("damaged.rdb");
    std::fs::write(&input, damage.apply(&data)).expect("write");
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let (code, _, err) = redcheck(&[
        "extract",
        &path(&input),
        "--output",
        &path(&input),
        "--force",
    ]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        std::fs::read(&input).unwrap(),
        damage.apply(&data),
        "input untouched"
    );
    let link = dir.path().join("link.rdb");
    std::os::unix::fs::symlink(&input, &link).expect("symlink");
    let (code, _, _) = redcheck(&[
        "extract",
        &path(&input),
        "--output",
        &path(&link),
        "--force",
    ]);
    assert_eq!(code, 2, "a link to the input is the input");
    let good = dir.path().join("good.rdb");
    let (code, text, err) = redcheck(&["extract", &path(&input), "--output", &path(&good)]);
    assert_eq!(
        code, 1,
        "damaged input: exit 1 with the output written; {err}"
    );
    assert!(text.contains("damaged region"), "{text}");
    let written = verify_rdb(
        &std::fs::read(&good).expect("output written"),
        &Options::default(),
    );
    assert!(written.ok, "{:?}", written.errors);
    let s = salvage_rdb(&damage.apply(&data), &SalvageOptions::default());
    assert_eq!(
        written.keys,
        s.intact().count() as u64,
        "the intact keys are written"
    );
    assert!(
        written.keys < clean.keys.len() as u64,
        "one record was overwritten"
    );
    let (code, _, err) = redcheck(&["extract", &path(&input), "--output", &path(&good)]);
    assert_eq!(code, 2, "an existing output needs --force: {err}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left behind");
    // verify --salvage --json keeps every verify field and adds `salvage`.
    let (code, json, _) = redcheck(&["verify", "--salvage", "--json", &path(&input)]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    for field in ["schema_version", "ok", "keys", "errors", "checksum", "dbs"] {
        assert!(v.get(field).is_some(), "{field} kept");
    }
    let s = &v["salvage"];
    assert_eq!(s["regions"].as_array().map(Vec::len), Some(1), "{s}");
    assert_eq!(s["intact_keys"], written.keys);
}

/// A string value of at least 18 text bytes stored raw: (key, db, the
/// value's file offset and length). Eighteen, so that zeroing ten of them
/// leaves the eight bytes of text a run of zeros is judged against.
fn text_values(data: &[u8], clean: &SalvageReport) -> Vec<(Vec<u8>, u64, usize, usize)> {
    use redcheck::rdb::primitives::parse_string;
    use redcheck::rdb::{Header, Record, Records, ValueType};
    let Ok(header) = Header::parse(data) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for k in clean
        .keys
        .iter()
        .filter(|k| k.value_type == ValueType::String)
    {
        let mut r = Records::starting_at(data, header, k.offset as usize);
        let Some(Ok(item)) = r.next() else { continue };
        let Record::Key(rec) = item.record else {
            continue;
        };
        let Ok((_, s)) = parse_string(rec.value, "value") else {
            continue;
        };
        let Some(b) = s.raw() else { continue };
        if b.len() >= 18 && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b' ') {
            let at = b.as_ptr() as usize - data.as_ptr() as usize;
            out.push((k.key.clone(), k.db, at, b.len()));
        }
    }
    out
}

#[test]
fn a_checksum_mismatch_with_intact_structure_ranks_the_changed_key_first() {
    let mut checked = 0;
    for p in common::rdb_fixtures() {
        let data = std::fs::read(&p).expect("read fixture");
        let clean = salvage_rdb(&data, &SalvageOptions::default());
        if !matches!(clean.checksum, redcheck::verify::Checksum::Ok(_)) {
            continue;
        }
        let name = common::shown(&p);
        // Real data has no anomalies: a wrong trailer alone names no key.
        let mut trailer = data.clone();
        if let Some(last) = trailer.last_mut() {
            *last ^= 0x55;
        }
        let s = salvage_rdb(&trailer, &SalvageOptions::default());
        assert!(s.regions.is_empty(), "{name}");
        assert!(
            s.suspects.is_empty(),
            "{name}: false suspects {:?}",
            s.suspects
        );
        let values = text_values(&data, &clean);
        let Some((key, db, at, len)) = values.get(values.len() / 2).cloned() else {
            continue;
        };
        for (what, change) in [
            ("a control byte in text", vec![(at + len / 2, 0x01u8)]),
            (
                "zeros in text",
                (at + 2..at + 12).map(|i| (i, 0u8)).collect(),
            ),
        ] {
            let mut d = data.clone();
            for (i, b) in change {
                d[i] = b;
            }
            let s = salvage_rdb(&d, &SalvageOptions::default());
            assert!(s.regions.is_empty(), "{name}: {what}: structure intact");
            let first = s
                .suspects
                .first()
                .unwrap_or_else(|| panic!("{name}: {what}: no suspect"));
            assert_eq!(
                (first.db, &first.key),
                (db, &key),
                "{name}: {what}: {:?}",
                s.suspects
            );
            checked += 1;
        }
    }
    note(format!(
        "{checked} single-byte and zeroed-run changes ranked first"
    ));
}

#[test]
fn whatever_the_damage_salvage_ends_and_the_extracted_file_verifies() {
    let subjects = subjects();
    if subjects.is_empty() {
        note("no fixtures in testdata/rdb: skipped");
        return;
    }
    let mut rng = Xorshift::new(0x5a17_a6e5);
    let mut runs = 0;
    for (name, data, _) in subjects {
        for _ in 0..8 {
            let len = data.len();
            let at = 9 + rng.below(len as u64 - 9) as usize;
            let mut d = data.clone();
            match rng.below(4) {
                0 => d[at] ^= 1 << rng.below(8),
                1 => d.truncate(at),
                2 => {
                    let n = (rng.below(512) as usize).min(len - at);
                    d.drain(at..at + n);
                }
                _ => {
                    let n = rng.below(512) as usize;
                    let junk = rng.bytes(n);
                    d.splice(at..at, junk);
                }
            }
            let (d, s) = salvage(d);
            let out = extract_rdb(&d, &s, true).expect("a header");
            let v = verify_rdb(&out, &Options::default());
            assert!(
                v.ok,
                "{name}: damage at {at}: the extract does not verify: {:?}",
                v.errors
            );
            assert_eq!(v.keys, s.keys.len() as u64, "{name}: damage at {at}");
            // The bounded-memory paths the command line takes agree with
            // the collected report: same counts, regions and suspects, and
            // the streamed extract is the same file byte for byte.
            let options = SalvageOptions::default();
            let summary = salvage_summary(&d, &options);
            let mut collected: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
            for k in &s.keys {
                let c = collected.entry(k.db).or_default();
                if k.suspect.is_some() {
                    c.1 += 1;
                } else {
                    c.0 += 1;
                }
            }
            let counted: BTreeMap<u64, (u64, u64)> = summary
                .dbs
                .iter()
                .map(|(db, c)| (*db, (c.intact, c.suspect)))
                .collect();
            assert_eq!(counted, collected, "{name}: damage at {at}");
            assert!(
                summary.regions == s.regions,
                "{name}: damage at {at}: regions differ"
            );
            // Names too long to report are counted, not listed.
            let listed: Vec<_> = s
                .suspect()
                .filter(|k| k.key.len() <= redcheck::salvage::MAX_REPORTED_NAME)
                .cloned()
                .collect();
            assert!(
                summary.listed_suspects == listed,
                "{name}: damage at {at}: listed suspects differ"
            );
            for include in [false, true] {
                let (streamed, written) = extract_to(&d, &summary, &options, include, Vec::new())
                    .expect("a header")
                    .expect("in memory");
                let whole = extract_rdb(&d, &s, include).expect("a header");
                assert!(
                    streamed == whole,
                    "{name}: damage at {at}: streamed extract differs"
                );
                assert_eq!(written.bytes, whole.len() as u64);
            }
            runs += 1;
        }
    }
    note(format!("{runs} random damages salvaged and extracted"));
}

#[test]
fn every_corpus_rdb_that_verifies_salvages_clean_and_extracts_whole() {
    let Some((dir, files)) = common::corpus_entries() else {
        note("no shared corpus: skipped");
        return;
    };
    let mut checked = 0;
    for f in files.iter().filter(|f| f["kind"] == "rdb") {
        let path = dir.join(f["path"].as_str().unwrap_or_default());
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        let v = verify_rdb(&data, &Options::default());
        if !v.ok {
            continue;
        }
        let (data, s) = salvage(data);
        let name = path.display();
        // Written by many tools (KeyDB, Dragonfly, rdb-tools, old Redis):
        // salvage's plausibility rules must not call any of them damaged.
        assert!(s.is_clean(), "{name}: {:?}", s.regions);
        let out = extract_rdb(&data, &s, false).expect("a header");
        let w = verify_rdb(&out, &Options::default());
        assert!(w.ok, "{name}: {:?}", w.errors);
        let counts = |r: &redcheck::RdbReport| {
            r.dbs
                .iter()
                .map(|(d, s)| (*d, s.keys, s.expires))
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(&w), counts(&v), "{name}");
        checked += 1;
    }
    note(format!("{checked} corpus files salvaged and extracted"));
}

/// Fills a server with keys whose names are random bytes (hashes, UUIDs,
/// packed ids), of every common type and encoding, some with expiries.
fn populate_binary_keys(c: &mut common::Client, rng: &mut Xorshift, n: usize) {
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    for i in 0..n {
        let len = [8, 16, 20, 32][i % 4];
        let key = rng.bytes(len);
        let mut cmd: Vec<Vec<u8>> = match i % 7 {
            0 => vec![b"SET".to_vec(), key.clone(), rng.bytes(1 + i % 40)],
            1 => vec![
                b"SET".to_vec(),
                key.clone(),
                (i * 7919).to_string().into_bytes(),
            ],
            2 => vec![
                b"SET".to_vec(),
                key.clone(),
                format!("{}{i}", "session-payload ".repeat(20)).into_bytes(),
            ],
            3 => {
                let mut c = vec![b"HSET".to_vec(), key.clone()];
                for _ in 0..3 {
                    c.push(rng.bytes(6));
                    c.push(rng.bytes(10));
                }
                c
            }
            4 => {
                let mut c = vec![b"RPUSH".to_vec(), key.clone()];
                c.extend((0..5).map(|_| rng.bytes(12)));
                c
            }
            5 => {
                let mut c = vec![b"SADD".to_vec(), key.clone()];
                if i % 2 == 0 {
                    c.extend((0..6).map(|j| (i * 10 + j).to_string().into_bytes()));
                } else {
                    c.extend((0..6).map(|_| rng.bytes(9)));
                }
                c
            }
            _ => {
                let mut c = vec![b"ZADD".to_vec(), key.clone()];
                for j in 0..4 {
                    c.push(format!("{}.5", i + j).into_bytes());
                    c.push(rng.bytes(7));
                }
                c
            }
        };
        cmds.push(std::mem::take(&mut cmd));
        if i % 5 == 0 {
            cmds.push(vec![b"PEXPIREAT".to_vec(), key, b"4102444800000".to_vec()]);
        }
    }
    for r in c.pipeline(&cmds) {
        assert!(!r.is_error(), "populate: {r:?}");
    }
}

/// The RDB `server` writes after [`populate_binary_keys`] with 700 keys
/// from `seed`; `None` (noted) when that server is not installed.
fn binary_keys_dump(server: &str, seed: u64) -> Option<Vec<u8>> {
    let Some(srv) = Server::start(server, &[]) else {
        note(format!("{server} not installed: skipped"));
        return None;
    };
    let mut c = srv.client();
    populate_binary_keys(&mut c, &mut Xorshift::new(seed), 700);
    c.ok(&[b"SAVE"]);
    Some(std::fs::read(srv.dir.path().join("dump.rdb")).expect("dump.rdb"))
}

#[test]
fn binary_key_names_resync_and_the_extract_loads_with_every_intact_key() {
    let mut ran = 0;
    for server in ["redis-7.0", "valkey-9.1", "redis-8.2", "redis-6.2"] {
        let Some(data) = binary_keys_dump(server, 0xb1_4a5e) else {
            continue;
        };
        let clean = salvage_rdb(&data, &SalvageOptions::default());
        assert!(clean.is_clean(), "{server}: {:?}", clean.regions);
        assert_eq!(clean.intact().count(), 700, "{server}");
        let original = ids(clean.keys.iter());
        for (kind, damage) in damages(&data, &clean) {
            let what = format!("{server}: {kind}");
            let (damaged, s) = salvage(damage.apply(&data));
            let found = ids(s.keys.iter());
            let untouched: BTreeSet<KeyId> = clean
                .keys
                .iter()
                .filter(|k| !damage.touches(&k.span))
                .map(|k| (k.db, k.key.clone()))
                .collect();
            let missing: Vec<_> = untouched.difference(&found).collect();
            let invented: Vec<_> = found.difference(&original).collect();
            note(format!(
                "{what}: {} regions, {} keys intact, {} suspect, {} untouched keys missing, {} invented",
                s.regions.len(),
                s.intact().count(),
                s.suspect().count(),
                missing.len(),
                invented.len()
            ));
            // Garbage over one record and a zeroed page leave every record
            // after them where it was: salvage must find them all, but for
            // one. With binary names, the damaged bytes just before the
            // first intact record can frame as a record (random bytes are
            // a plausible binary name and plain value) that ends inside
            // or past it; nothing in the bytes tells the two apart, so
            // that record may be lost, the fake one reported suspect.
            // (The key order, so where the damage falls, changes with
            // every server start.) Losing more is a bug.
            if matches!(damage, Damage::Garbage(_) | Damage::Zeroed(_)) {
                assert!(
                    missing.len() <= 1,
                    "{what}: {} untouched keys not found, first {:?}",
                    missing.len(),
                    missing.first()
                );
            }
            let invented_intact = s
                .intact()
                .filter(|k| !original.contains(&(k.db, k.key.clone())))
                .count();
            assert!(
                invented_intact <= 1,
                "{what}: invented keys reported intact: {invented:?}"
            );
            let out = extract_rdb(&damaged, &s, false).expect("a header");
            let srv = match Server::start_with(server, &[], Some(&out)) {
                Some(Ok(srv)) => srv,
                Some(Err(log)) => panic!("{what}: {server} refuses the extracted file:\n{log}"),
                None => unreachable!("the server ran a moment ago"),
            };
            let mut c = srv.client();
            let loaded: BTreeSet<KeyId> = common::keys_on_server(&mut c, &[0])
                .into_iter()
                .flat_map(|(db, keys)| keys.into_keys().map(move |k| (db, k)))
                .collect();
            // The server loads the intact keys: all of them, and (for the
            // one ambiguous record above) at most one other.
            let intact = ids(s.intact());
            let differ = loaded.symmetric_difference(&intact).count();
            assert!(
                differ <= 1,
                "{what}: the server loaded {} keys, salvage called {} intact, {differ} differ",
                loaded.len(),
                intact.len()
            );
            ran += 1;
        }
    }
    if ran == 0 {
        note("no server installed: skipped");
    }
}

/// Bytes removed from or inserted into a record shift everything after
/// them: the reading can go on from a wrong offset, where a fake record
/// header's length takes in the real records that follow and still ends on
/// a record boundary. Binary key names make such readings easy to frame.
/// Where the damage falls changes with every server start (key order);
/// this walks it over every fifth key of one file per server, so that a
/// rare framing shows up on every run, not on one run in a thousand. Each
/// time at most one key may be invented and reported intact (the damaged
/// record itself, its name cut), the damage must be reported, and over
/// all shifts few keys the damage did not touch may be lost.
#[test]
fn shifted_bytes_anywhere_never_pass_swallowing_records_off_as_intact() {
    let mut cases = 0;
    let mut lost = 0;
    for server in ["redis-7.0", "valkey-9.1", "redis-8.2", "redis-6.2"] {
        let Some(data) = binary_keys_dump(server, 0x5_41f7) else {
            continue;
        };
        let clean = salvage_rdb(&data, &SalvageOptions::default());
        let original = ids(clean.keys.iter());
        let mut rng = Xorshift::new(data.len() as u64);
        for (i, key) in clean.keys.iter().enumerate().step_by(5) {
            let span = key.span.start as usize..key.span.end as usize;
            let mid = span.start + span.len() / 2;
            let shifts = [
                Damage::Removed(mid..(mid + 1 + i % 64).min(span.end)),
                Damage::Inserted {
                    at: mid,
                    junk: rng.bytes(1 + i % 48),
                },
            ];
            for damage in shifts {
                let what = format!("{server}: key {i}: {damage:?}");
                let (_, s) = salvage(damage.apply(&data));
                assert!(!s.is_clean(), "{what}: reported clean");
                let invented: Vec<_> = s
                    .intact()
                    .filter(|k| !original.contains(&(k.db, k.key.clone())))
                    .map(|k| (k.span.clone(), k.key.len(), k.value_type))
                    .collect();
                assert!(
                    invented.len() <= 1,
                    "{what}: keys reported intact that the file never held: {invented:?}"
                );
                let found = ids(s.keys.iter());
                lost += clean
                    .keys
                    .iter()
                    .filter(|k| !damage.touches(&k.span) && !found.contains(&(k.db, k.key.clone())))
                    .count();
                cases += 1;
            }
        }
    }
    note(format!(
        "{cases} shifts salvaged, {lost} untouched keys lost in all"
    ));
    // Each shift loses about one key beyond the damaged one, in some runs
    // many more when a shifted reading swallowed a run of them. Reading
    // on without looking inside the records read over them lost five to
    // seven a shift.
    assert!(
        lost <= 2 * cases,
        "{lost} untouched keys lost over {cases} shifts"
    );
}

/// Key names that are packed integers (`struct.pack('>I4I4', ...)`) hold
/// zero bytes, and a zero byte is the string type: inside such a name, or
/// in the set members and hash fields after it, records frame by the
/// dozen. A flipped byte in one value (the checksum fails, nothing else
/// does) has salvage search every key record for records it was read
/// over; none of these may be split. (An early version of that search
/// split one record in about a thousand here.)
#[test]
fn a_checksum_mismatch_among_packed_binary_names_splits_no_record() {
    let mut checked = 0;
    for server in ["redis-7.0", "valkey-9.1", "redis-8.2", "redis-6.2"] {
        let Some(srv) = Server::start(server, &[]) else {
            note(format!("{server} not installed: skipped"));
            continue;
        };
        let mut c = srv.client();
        let script = b"for i = 1, tonumber(ARGV[1]) do \
            local k = struct.pack('>I4I4', i, (i * 2654435761) % 4294967296) \
            if i % 3 == 0 then redis.call('SADD', k, i, i + 1, 'm' .. i) \
            elseif i % 3 == 1 then redis.call('SET', k, 'value ' .. i) \
            else redis.call('HSET', k, 'f', i, string.char(i % 256), 'x') end \
            end return 1";
        let r = c.call(&[b"EVAL", script, b"0", b"30000"]);
        assert!(!r.is_error(), "{server}: {r:?}");
        c.ok(&[b"SAVE"]);
        let mut data = std::fs::read(srv.dir.path().join("dump.rdb")).expect("dump.rdb");
        drop(srv);
        let clean = salvage_rdb(&data, &SalvageOptions::default());
        assert!(clean.is_clean(), "{server}: {:?}", clean.regions);
        assert_eq!(clean.intact().count(), 30000, "{server}");
        // A byte of a string value: `value <i>`'s digits.
        let at = data
            .windows(6)
            .position(|w| w == b"value ")
            .expect("a string value")
            + 6;
        data[at] ^= 0x01;
        let (_, s) = salvage(data);
        assert!(s.regions.is_empty(), "{server}: {:?}", s.regions);
        assert_eq!(s.intact().count(), 30000, "{server}");
        checked += 1;
    }
    if checked == 0 {
        note("no server installed: skipped");
    }
}

/// Damage to the key after a plain string: a record chain that begins in
/// the string's last bytes and frames over the damage must not replace the
/// intact string (going back over it gains nothing that reading on after
/// the damage does not find, or only records made of the damage). Two
/// server-written cases where it did: zeroed bytes at the start of the
/// next key framed, with the string's last 21 bytes, as one set record up
/// to the next real key; 8 bytes removed inside the next key left a chain
/// starting one byte before the string's end whose records had binary
/// names, the second ending where the next real key ends.
#[test]
fn an_intact_string_before_the_damage_is_not_replaced_by_a_chain_from_its_tail() {
    let cases = [
        ("valkey-9.1/nocompress.rdb", &b"str:int-min"[..], "zeroed"),
        ("redis-6.2/nochecksum.rdb", &b"str:21"[..], "removed"),
    ];
    let subjects = subjects();
    let mut checked = 0;
    for (file, before, kind) in cases {
        let Some((name, data, clean)) = subjects.iter().find(|(n, ..)| n.ends_with(file)) else {
            note(format!("{file} not in testdata: skipped"));
            continue;
        };
        let Some(i) = clean.keys.iter().position(|k| k.key == before) else {
            note(format!("{name} has no key {before:?}: skipped"));
            continue;
        };
        let Some(next) = clean.keys.get(i + 1) else {
            continue;
        };
        let span = next.span.start as usize..next.span.end as usize;
        let damage = match kind {
            "zeroed" => Damage::Zeroed(span.start..span.start + 16),
            _ => {
                let mid = span.start + span.len() / 2;
                Damage::Removed(mid..(mid + 8).min(span.end))
            }
        };
        let (_, s) = salvage(damage.apply(data));
        let found = ids(s.keys.iter());
        assert!(
            found.contains(&(0, before.to_vec())),
            "{name}: {kind} after {before:?}: the intact string was dropped; regions {:?}",
            s.regions
        );
        let original = ids(clean.keys.iter());
        let invented: Vec<_> = s
            .intact()
            .filter(|k| !original.contains(&(k.db, k.key.clone())))
            .map(|k| (k.span.clone(), String::from_utf8_lossy(&k.key).into_owned()))
            .collect();
        assert!(
            invented.is_empty(),
            "{name}: {kind}: invented keys reported intact: {invented:?}"
        );
        checked += 1;
    }
    assert!(checked > 0 || subjects.is_empty(), "no case ran");
}
