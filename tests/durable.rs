//! Data directories: an engine closed and reopened (any durability mode, rules kept or
//! replaced at reopen, rules replaced while running) equals the reference model over the same
//! operations; torn tails are cut and reported; corruption, bad magic and newer formats are
//! errors naming the file and offset.

mod common;

use common::gen::{steps, Step};
use common::rules::rules;
use proptest::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tropa::persist::{Durability, StoreError};
use tropa::{decode_line, Engine, OpenError};

fn compile(text: &str) -> tropa::rules::Plan {
    tropa::rules::compile(text).unwrap_or_else(|e| panic!("{text}\n{e}"))
}

fn open(dir: &Path, mode: Durability, rules: Option<&str>) -> (Engine, tropa::Recovery) {
    let mut b = common::builder().durability(mode);
    if let Some(text) = rules {
        b = b.rules(compile(text));
    }
    b.open(dir).unwrap()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}

/// The names of the files in `dir`, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn mode(m: u8) -> Durability {
    match m {
        0 => Durability::Sync,
        1 => Durability::Batched(Duration::from_millis(2)),
        _ => Durability::None,
    }
}

/// What the engine runs next: a step of the stream, a reopen of the directory (keeping the
/// recorded rules, or giving the rules text), or a rules change while running.
#[derive(Debug, Clone)]
enum Act {
    Step(Step),
    Reopen { mode: u8, give: Option<String> },
    Load(String),
    Snapshot,
}

fn run(first: &str, acts: &[Act]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let (mut engine, _) = open(dir.path(), Durability::Sync, Some(first));
    let mut model = common::model::Model::with_rules(common::model_config(), compile(first));
    let mut log = format!("rules:\n{first}");
    for (i, act) in acts.iter().enumerate() {
        match act {
            Act::Step(Step::Ingest(e)) => {
                model.ingest(e);
                let _ = engine.ingest((**e).clone());
            }
            Act::Step(Step::AdvanceTo(t)) => {
                engine.advance_to(*t);
                model.advance_to(*t);
            }
            Act::Reopen { mode: m, give } => {
                drop(engine);
                let (e, rec) = open(dir.path(), mode(*m), give.as_deref());
                engine = e;
                prop_assert!(rec.torn.is_none());
                if let Some(text) = give {
                    // Same text: nothing changes. Other rules: switched after the replay.
                    model.load_rules(compile(text));
                }
                log.push_str(&format!("--- reopened before act {i} with {give:?}\n"));
            }
            Act::Load(text) => {
                engine.load_rules(compile(text));
                model.load_rules(compile(text));
                log.push_str(&format!("--- loaded before act {i}:\n{text}"));
            }
            Act::Snapshot => {
                let info = engine.snapshot().unwrap();
                let files = files(dir.path());
                let snaps: Vec<_> = files.iter().filter(|f| f.ends_with(".snap")).collect();
                prop_assert_eq!(snaps.len(), 1, "{:?}", &files);
                prop_assert!(info.file.ends_with(snaps[0]));
                // Only the segment the cut started is left (and nothing older).
                prop_assert!(
                    files.iter().filter(|f| f.ends_with(".log")).count() == 1,
                    "{:?}",
                    &files
                );
                log.push_str(&format!("--- snapshot before act {i}\n"));
            }
        }
        engine.flush();
        model.flush();
        let (got, want) = (engine.profiles(), model.profiles());
        prop_assert_eq!(got.len(), want.len(), "contacts after act {}\n{}", i, &log);
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(g, w, "after act {}\n{}", i, &log);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::settings::cases(60), ..ProptestConfig::default() })]

    /// Reopening replays the log to the same state as if the engine had never stopped.
    #[test]
    fn reopened_engine_equals_model(
        a in rules(),
        b in rules(),
        stream in steps(40),
        cuts in prop::collection::vec((0..40usize, 0..3u8, 0..6u8), 1..6),
    ) {
        let mut acts: Vec<Act> = stream.into_iter().map(Act::Step).collect();
        let mut cuts = cuts;
        cuts.sort_by_key(|c| std::cmp::Reverse(c.0));
        for (at, m, what) in cuts {
            let at = at.min(acts.len());
            let act = match what {
                0 => Act::Reopen { mode: m, give: None },
                1 => Act::Reopen { mode: m, give: Some(a.clone()) },
                2 => Act::Reopen { mode: m, give: Some(b.clone()) },
                3 => Act::Load(b.clone()),
                _ => Act::Snapshot,
            };
            acts.insert(at, act);
        }
        run(&a, &acts)?;
    }
}

const RULES: &str = "segment buyers = count(purchase) >= 1\n";

fn purchase(n: u32) -> tropa::Event {
    decode_line(&format!(
        r#"{{"ts":{},"ids":{{"email":"p{n}@x.pl"}},"type":"purchase","order":"o{n}","amount":5}}"#,
        1_772_323_200_000i64 + i64::from(n) * 1000
    ))
    .unwrap()
}

/// A directory holding one segment with `n` purchases by `n` people.
fn written(n: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = open(dir.path(), Durability::Sync, Some(RULES));
    for i in 0..n {
        engine.ingest(purchase(i)).unwrap();
    }
    drop(engine);
    let seg = segments(dir.path()).pop().unwrap();
    (dir, seg)
}

fn open_err(dir: &Path) -> StoreError {
    match common::builder().open(dir) {
        Err(OpenError::Store(e)) => e,
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("opened"),
    }
}

#[test]
fn a_torn_tail_is_cut_and_reported_once() {
    let (dir, seg) = written(3);
    let len = fs::metadata(&seg).unwrap().len();
    // Half of a fourth record, as a crash in the middle of a write leaves it.
    let mut bytes = fs::read(&seg).unwrap();
    let whole = bytes.len();
    {
        let (engine, _) = open(dir.path(), Durability::Sync, None);
        engine.ingest(purchase(3)).unwrap();
    }
    let newest = segments(dir.path()).pop().unwrap();
    let extra = fs::read(&newest).unwrap()[16..].to_vec();
    fs::remove_file(&newest).unwrap();
    bytes.extend_from_slice(&extra[..extra.len() / 2]);
    fs::write(&seg, &bytes).unwrap();

    let (engine, rec) = open(dir.path(), Durability::Sync, None);
    let torn = rec.torn.expect("torn tail reported");
    assert_eq!(torn.file, seg);
    assert_eq!(torn.offset, len);
    assert_eq!(torn.bytes as usize, bytes.len() - whole);
    assert_eq!(rec.events, 3);
    assert_eq!(engine.segment_size("buyers"), Some(3));
    assert_eq!(fs::metadata(&seg).unwrap().len(), len, "tail cut off");
    drop(engine);
    let (_, rec) = open(dir.path(), Durability::Sync, None);
    assert!(rec.torn.is_none());
    assert_eq!(rec.events, 3);
}

#[test]
fn a_flipped_byte_in_the_middle_names_file_and_offset() {
    let (dir, seg) = written(4);
    let mut bytes = fs::read(&seg).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    fs::write(&seg, &bytes).unwrap();
    match open_err(dir.path()) {
        StoreError::Corrupt { path, offset, what } => {
            assert_eq!(path, seg);
            assert!(offset <= at as u64 && offset >= 16, "{offset} {what}");
        }
        other => panic!("{other}"),
    }
    // Nothing was written or cut: the same error again.
    assert_eq!(fs::read(&seg).unwrap(), bytes);
    assert!(matches!(open_err(dir.path()), StoreError::Corrupt { .. }));
}

#[test]
fn every_truncation_recovers_a_prefix() {
    let (dir, seg) = written(5);
    let bytes = fs::read(&seg).unwrap();
    // Record boundaries: after the 16-byte header, each record is a 12-byte header and
    // its payload; the first record holds the rules, the others one purchase each.
    let mut ends = vec![16usize];
    while *ends.last().unwrap() < bytes.len() {
        let at = *ends.last().unwrap();
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        ends.push(at + 12 + len);
    }
    assert_eq!(ends.len(), 7);
    for cut in 0..=bytes.len() {
        fs::write(&seg, &bytes[..cut]).unwrap();
        for extra in segments(dir.path()).into_iter().filter(|p| *p != seg) {
            fs::remove_file(extra).unwrap();
        }
        let (engine, rec) = open(dir.path(), Durability::None, None);
        let whole = ends.iter().filter(|&&e| e <= cut).count();
        let events = whole.saturating_sub(2) as u64;
        assert_eq!(rec.events, events, "cut {cut}");
        let members = if whole >= 2 { Some(events) } else { None };
        assert_eq!(engine.segment_size("buyers"), members, "cut {cut}");
        assert_eq!(rec.torn.is_some(), !ends.contains(&cut), "cut {cut}");
        drop(engine);
        if cut < 16 {
            // A segment whose header was cut short is removed; start again from the bytes.
            fs::write(&seg, &bytes[..0]).unwrap();
        }
    }
}

#[test]
fn one_engine_at_a_time_may_open_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = open(dir.path(), Durability::Sync, Some(RULES));
    engine.ingest(purchase(1)).unwrap();
    match common::builder().open(dir.path()) {
        Err(OpenError::Store(StoreError::Locked { path })) => {
            assert_eq!(path, dir.path().join("LOCK"));
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a second engine opened the directory"),
    }
    // The refused open changed nothing; once the first engine is gone, the directory opens.
    drop(engine);
    let (engine, rec) = open(dir.path(), Durability::Sync, None);
    assert_eq!(rec.events, 1);
    assert_eq!(engine.segment_size("buyers"), Some(1));
}

#[test]
fn a_newer_format_and_a_foreign_file_are_refused() {
    let (dir, seg) = written(1);
    let mut bytes = fs::read(&seg).unwrap();
    bytes[8] = 99;
    fs::write(&seg, &bytes).unwrap();
    match open_err(dir.path()) {
        StoreError::NewerFormat {
            path,
            found,
            supported,
        } => assert_eq!((path, found, supported), (seg.clone(), 99, 1)),
        other => panic!("{other}"),
    }
    fs::write(&seg, b"PK\x03\x04 this is a zip file, not a log").unwrap();
    let e = open_err(dir.path());
    assert!(e.to_string().contains("bad magic"), "{e}");
}

#[test]
fn different_settings_that_refuse_a_logged_event_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (engine, _) = open(dir.path(), Durability::Sync, None);
        engine.ingest(purchase(100)).unwrap();
        engine.ingest(purchase(0)).unwrap(); // 100 s late: within the hour
    }
    let e = match Engine::builder().lateness_ms(1000).open(dir.path()) {
        Err(OpenError::Store(e)) => e,
        _ => panic!("opened"),
    };
    assert!(matches!(e, StoreError::Replay { .. }), "{e}");
    assert!(e.to_string().contains("late"), "{e}");
}

#[test]
fn rules_given_at_reopen_replace_the_recorded_ones() {
    let (dir, _) = written(3);
    let (engine, rec) = open(dir.path(), Durability::Sync, None);
    assert!(!rec.rules_changed);
    assert_eq!(
        engine.segment_size("buyers"),
        Some(3),
        "recorded rules kept"
    );
    drop(engine);
    let other = "segment big = revenue >= 10\n";
    let (engine, rec) = open(dir.path(), Durability::Sync, Some(other));
    assert!(rec.rules_changed);
    assert_eq!(engine.segment_size("buyers"), None);
    assert_eq!(engine.segment_size("big"), Some(0));
    drop(engine);
    let (engine, rec) = open(dir.path(), Durability::Sync, None);
    assert!(!rec.rules_changed);
    assert_eq!(
        engine.segment_size("big"),
        Some(0),
        "the new rules were recorded"
    );
}

#[test]
fn concurrent_sync_ingests_are_all_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = open(dir.path(), Durability::Sync, Some(RULES));
    std::thread::scope(|s| {
        for t in 0..4 {
            let engine = &engine;
            s.spawn(move || {
                for i in 0..50 {
                    engine.ingest(purchase(t * 1000 + i)).unwrap();
                }
            });
        }
    });
    engine.flush();
    assert_eq!(engine.segment_size("buyers"), Some(200));
    // Kill-like: the files as they are now, before any shutdown work, copied to a directory
    // of their own (the engine still holds this one's lock).
    let copy = tempfile::tempdir().unwrap();
    for f in segments(dir.path()) {
        fs::copy(&f, copy.path().join(f.file_name().unwrap())).unwrap();
    }
    std::mem::forget(engine);
    let (engine, rec) = open(copy.path(), Durability::Sync, None);
    assert_eq!(rec.events, 200);
    assert_eq!(engine.segment_size("buyers"), Some(200));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::settings::cases(200), ..ProptestConfig::default() })]

    /// Damaged bytes anywhere give an error or a prefix of the events, never a panic.
    #[test]
    fn damaged_segments_never_panic(flips in prop::collection::vec((any::<usize>(), 1..=255u8), 1..4)) {
        let (dir, seg) = written(4);
        let mut bytes = fs::read(&seg).unwrap();
        for (at, x) in flips {
            let at = at % bytes.len();
            bytes[at] ^= x;
        }
        fs::write(&seg, &bytes).unwrap();
        if let Ok((engine, rec)) = common::builder().open(dir.path()) {
            prop_assert!(rec.events <= 4);
            prop_assert!(engine.segment_size("buyers").unwrap_or(0) <= 4);
        }
    }
}

#[test]
fn an_event_too_large_for_a_log_record_is_refused_and_changes_nothing() {
    let (dir, _) = written(2);
    let (engine, _) = open(dir.path(), Durability::Sync, None);
    let before = (engine.stats(), engine.profiles());
    let blob: String = "x".repeat(17 << 20);
    let mut huge = tropa::Event::new(
        1_772_323_300_000,
        tropa::Payload::Custom {
            name: "upload".into(),
            props: vec![("blob".into(), tropa::Value::Str(blob.into()))],
        },
    )
    .with_id(tropa::IdType::Email, "big@x.pl")
    .unwrap();
    huge.id = Some("e-huge".into());
    match engine.ingest(huge) {
        Err(tropa::IngestError::Storage(StoreError::TooLarge { bytes, max })) => {
            assert!(bytes > max && max == 16 << 20, "{bytes} {max}");
        }
        other => panic!("{other:?}"),
    }
    let after = engine.stats();
    assert_eq!(after.invalid, before.0.invalid + 1);
    assert_eq!(
        (after.accepted, engine.profiles()),
        (before.0.accepted, before.1)
    );
    // The log is not stopped, and what it holds still replays.
    engine.ingest(purchase(7)).unwrap();
    drop(engine);
    let (engine, rec) = open(dir.path(), Durability::Sync, None);
    assert_eq!(rec.events, 3);
    assert_eq!(engine.segment_size("buyers"), Some(3));
}
