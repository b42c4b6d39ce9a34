//! Snapshots: taken while other threads ingest, they recover to the same state; they replace
//! the log behind them; a damaged, cut-short or newer snapshot is an error naming the file;
//! leftovers of a crash while snapshotting are cleaned up; and after an erasure and a
//! snapshot, no byte of the person's identifiers or events is left in the directory.

mod common;

use proptest::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};
use tropa::persist::{Durability, StoreError};
use tropa::{decode_line, Engine, Event, OpenError};

/// `browsing` and `fans` read counts of page views over two windows, `carts` and `carting`
/// of carts: such counts share one state in memory and are stored one per term.
const RULES: &str = "segment buyers = count(purchase) >= 1
segment carts = count(cart_add, 1h) >= 1 and since(purchase) > 30m
segment carting = count(cart_add, 3h) >= 2
segment browsing = count(page_view, 30m) >= 1 and count(page_view, 2h) < 5
tag fans when count(page_view, 2h) >= 3
score purchase => 10
";

const T0: i64 = 1_772_323_200_000;

fn open(dir: &Path) -> (Engine, tropa::Recovery) {
    common::builder()
        .rules(tropa::rules::compile(RULES).unwrap())
        .durability(Durability::None)
        .open(dir)
        .unwrap()
}

fn event(line: &str) -> Event {
    decode_line(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// Person `p`'s `i`-th event: a page view, a cart or a purchase.
fn step(p: u32, i: u32) -> Event {
    let ts = T0 + i64::from(i) * 60_000;
    let body = match i % 3 {
        0 => r#""type":"page_view""#.to_string(),
        1 => format!(r#""type":"cart_add","product":"sku-{}","price":20"#, i % 7),
        _ => format!(r#""type":"purchase","order":"o-{p}-{i}","amount":30"#),
    };
    event(&format!(
        r#"{{"ts":{ts},"id":"e-{p}-{i}","ids":{{"cookie":"c-{p}","email":"p{p}@x.pl"}},{body}}}"#
    ))
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    v.sort();
    v
}

fn open_err(dir: &Path) -> StoreError {
    match common::builder().open(dir) {
        Err(OpenError::Store(e)) => e,
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("opened"),
    }
}

/// A directory whose state is all in one snapshot, with the snapshot's path.
fn snapshotted(people: u32) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = open(dir.path());
    for i in 0..12 {
        for p in 0..people {
            engine.ingest(step(p, i)).unwrap();
        }
    }
    let snap = engine.snapshot().unwrap().file;
    (dir, snap)
}

#[test]
fn snapshots_taken_while_threads_ingest_recover_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = open(dir.path());
    let mut snaps = 0;
    std::thread::scope(|s| {
        for t in 0..3u32 {
            let engine = &engine;
            s.spawn(move || {
                for i in 0..60 {
                    for p in 0..20 {
                        engine.ingest(step(t * 100 + p, i)).unwrap();
                    }
                }
            });
        }
        for _ in 0..8 {
            let info = engine.snapshot().unwrap();
            assert!(info.bytes > 0 && info.paused <= info.took);
            snaps += 1;
            std::thread::yield_now();
        }
    });
    assert_eq!(snaps, 8);
    engine.advance_to(T0 + 3 * 3_600_000);
    engine.flush();
    let want = engine.profiles();
    let members = engine.memberships();
    drop(engine);
    assert_eq!(
        files(dir.path(), ".snap").len(),
        1,
        "older snapshots removed"
    );

    let (engine, rec) = open(dir.path());
    assert!(rec.snapshot.is_some());
    engine.flush();
    assert_eq!(engine.profiles(), want);
    assert_eq!(engine.memberships(), members);
    assert_eq!(engine.stats().accepted, 3 * 60 * 20);
}

/// The signals received so far, as JSON lines.
fn signals(rx: &crossbeam::channel::Receiver<tropa::Signal>) -> Vec<String> {
    rx.try_iter().map(|s| s.to_json()).collect()
}

#[test]
fn snapshots_change_no_signal() {
    // The same stream into an engine without a directory and into one that snapshots every
    // few operations: a snapshot fires no timer and applies nothing early, so the signals
    // are the same, in the same order.
    let plain = common::builder()
        .rules(tropa::rules::compile(RULES).unwrap())
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (logged, _) = open(dir.path());
    let (a, b) = (plain.subscribe(1 << 16), logged.subscribe(1 << 16));
    let mut k = 0;
    for i in 0..24 {
        for p in 0..6 {
            let e = step(p, i);
            plain.ingest(e.clone()).unwrap();
            logged.ingest(e).unwrap();
            k += 1;
            if k % 7 == 0 {
                logged.snapshot().unwrap();
            }
        }
        if i % 5 == 4 {
            // Far enough for `since(purchase) > 30m` to flip by time alone (timers fire
            // between snapshots); the next events arrive late, within the hour allowed.
            let t = T0 + i64::from(i) * 60_000 + 45 * 60_000;
            plain.advance_to(t);
            logged.advance_to(t);
            logged.snapshot().unwrap();
        }
    }
    plain.flush();
    logged.flush();
    let want = signals(&a);
    assert!(want.len() > 20, "the stream moves segments: {}", want.len());
    assert_eq!(signals(&b), want);
}

#[test]
fn a_snapshot_fires_no_timer_that_is_due_only_now() {
    // A's cart leaves its window at T0 + 1h; B's event makes that instant the engine time;
    // then A adds to the cart at exactly that instant. Without a snapshot in between, the
    // expiry and the new cart line are one evaluation (A stays in `carts`, no signal); a
    // snapshot must not fire the expiry on its own.
    let rules = || tropa::rules::compile("segment carts = count(cart_add, 1h) >= 1").unwrap();
    let plain = common::builder().rules(rules()).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (logged, _) = common::builder()
        .rules(rules())
        .durability(Durability::None)
        .open(dir.path())
        .unwrap();
    let (a, b) = (plain.subscribe(64), logged.subscribe(64));
    let cart = |who: &str, ts: i64| {
        event(&format!(
            r#"{{"ts":{ts},"ids":{{"cookie":"{who}"}},"type":"cart_add","product":"p","price":5}}"#
        ))
    };
    let hour = 3_600_000;
    for (e, snap) in [
        (cart("a", T0), false),
        (cart("b", T0 + hour), true),
        (cart("a", T0 + hour), false),
    ] {
        plain.ingest(e.clone()).unwrap();
        logged.ingest(e).unwrap();
        if snap {
            logged.snapshot().unwrap();
        }
    }
    plain.flush();
    logged.flush();
    let want = signals(&a);
    assert_eq!(want.len(), 2, "a and b enter once each: {want:?}");
    assert_eq!(signals(&b), want);
}

#[test]
fn a_snapshot_replaces_the_log_and_recovery_starts_from_it() {
    let (dir, snap) = snapshotted(5);
    let segs = files(dir.path(), ".log");
    assert_eq!(segs.len(), 1, "only the segment after the cut: {segs:?}");
    let (engine, rec) = open(dir.path());
    assert_eq!(rec.snapshot.as_deref(), Some(snap.as_path()));
    assert_eq!((rec.snapshot_contacts, rec.events), (5, 0));
    assert_eq!(engine.segment_size("buyers"), Some(5));
    engine.ingest(step(9, 20)).unwrap();
    drop(engine);
    let (engine, rec) = open(dir.path());
    assert_eq!(rec.events, 1, "the event after the snapshot is replayed");
    assert_eq!(engine.contact_count(), 6);
}

#[test]
fn leftovers_of_a_crash_while_snapshotting_are_ignored_and_removed() {
    let (dir, snap) = snapshotted(3);
    // A crash before the rename leaves a .tmp file; one after it leaves the replaced files.
    let tmp = dir.path().join("snap-00000099.snap.tmp");
    fs::write(&tmp, b"half a snapshot").unwrap();
    let stale = dir.path().join("wal-00000001.log");
    fs::write(&stale, b"TROPALOG stale and never read").unwrap();
    let (engine, rec) = open(dir.path());
    assert_eq!(rec.snapshot.as_deref(), Some(snap.as_path()));
    assert_eq!(engine.contact_count(), 3);
    assert!(!tmp.exists() && !stale.exists());
}

#[test]
fn a_damaged_snapshot_is_an_error_naming_it() {
    let (dir, snap) = snapshotted(4);
    let bytes = fs::read(&snap).unwrap();
    // A flipped byte in the middle.
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x10;
    fs::write(&snap, &flipped).unwrap();
    match open_err(dir.path()) {
        StoreError::Corrupt { path, offset, .. } => {
            assert_eq!(path, snap);
            assert!(offset >= 16 && offset <= bytes.len() as u64 / 2);
        }
        other => panic!("{other}"),
    }
    // Cut short anywhere, at a record boundary or not: never taken for a whole snapshot.
    for cut in [bytes.len() - 1, bytes.len() - 30, bytes.len() / 3, 20, 5] {
        fs::write(&snap, &bytes[..cut]).unwrap();
        let e = open_err(dir.path());
        assert!(
            matches!(e, StoreError::Corrupt { ref path, .. } if *path == snap),
            "cut {cut}: {e}"
        );
    }
    // Written by a newer tropa.
    let mut newer = bytes.clone();
    newer[8] = 7;
    fs::write(&snap, &newer).unwrap();
    assert!(matches!(
        open_err(dir.path()),
        StoreError::NewerFormat { found: 7, .. }
    ));
    // Intact again: it opens.
    fs::write(&snap, &bytes).unwrap();
    assert_eq!(open(dir.path()).0.contact_count(), 4);
}

#[test]
fn changed_settings_are_reported() {
    let (dir, _) = snapshotted(2);
    let (engine, rec) = common::builder()
        .lateness_ms(1000)
        .timeline_len(2)
        .open(dir.path())
        .unwrap();
    assert_eq!(rec.settings_changed, ["lateness", "timeline_len"]);
    // The snapshot's timelines held 4 events each (the tests' length): cut to the new 2.
    let profiles = engine.profiles();
    assert_eq!(profiles.len(), 2);
    assert!(
        profiles.iter().all(|p| p.last_events.len() == 2),
        "{profiles:?}"
    );
}

#[test]
fn snapshot_without_a_directory_is_an_error() {
    let engine = common::builder().build().unwrap();
    assert_eq!(engine.snapshot().unwrap_err(), StoreError::NoDirectory);
}

/// Every occurrence of `needle` in the files of `dir`.
fn found_in(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = fs::read(&path).unwrap();
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            hits.push(path.display().to_string());
        }
    }
    hits
}

#[test]
fn after_an_erasure_and_a_snapshot_no_byte_of_the_person_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = open(dir.path());
    let secrets = [
        "forget.me@example.org",
        "cookie-of-forgotten",
        "+48 600 100 200",
        "order-forgotten-1",
        "evt-forgotten-2",
    ];
    for (i, line) in [
        format!(r#"{{"ts":{T0},"id":"evt-forgotten-1","ids":{{"cookie":"cookie-of-forgotten"}},"type":"page_view"}}"#),
        format!(r#"{{"ts":{},"id":"evt-forgotten-2","ids":{{"cookie":"cookie-of-forgotten","email":"Forget.Me@example.org","phone":"+48 600 100 200"}},"type":"identify"}}"#, T0 + 1000),
        format!(r#"{{"ts":{},"ids":{{"email":"forget.me@example.org"}},"type":"purchase","order":"order-forgotten-1","amount":99}}"#, T0 + 2000),
    ]
    .iter()
    .enumerate()
    {
        engine.ingest(event(line)).unwrap_or_else(|e| panic!("{i}: {e}"));
    }
    // Someone else, who stays.
    for i in 0..6 {
        engine.ingest(step(1, i)).unwrap();
    }
    engine.snapshot().unwrap(); // the person is now in a snapshot too
    engine.sync().unwrap();
    for s in secrets {
        assert!(
            !found_in(dir.path(), s).is_empty(),
            "{s} is on disk before the erasure"
        );
    }
    engine
        .ingest(event(&format!(
            r#"{{"ts":{},"ids":{{"phone":"+48 600 100 200"}},"type":"erase"}}"#,
            T0 + 9000
        )))
        .unwrap();
    let info = engine.snapshot().unwrap(); // the call that makes the erasure reach the disk
    assert!(info.removed >= 2);
    engine.sync().unwrap();
    for s in secrets {
        assert_eq!(
            found_in(dir.path(), s),
            Vec::<String>::new(),
            "{s} left on disk"
        );
    }
    drop(engine);
    for s in secrets {
        assert_eq!(
            found_in(dir.path(), s),
            Vec::<String>::new(),
            "{s} left after close"
        );
    }
    let (engine, _) = open(dir.path());
    assert_eq!(engine.contact_count(), 1, "only the other person");
    assert_eq!(engine.stats().erased, 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::settings::cases(100), ..ProptestConfig::default() })]

    /// Damage anywhere in a snapshot gives an error or (where the damage happens to be
    /// harmless, like a byte of the reserved header) a clean open; never a panic.
    #[test]
    fn damaged_snapshots_never_panic(
        hits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let (dir, snap) = snapshotted(3);
        let mut bytes = fs::read(&snap).unwrap();
        for (at, b) in hits {
            let i = at.index(bytes.len());
            bytes[i] ^= b | 1;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        fs::write(&snap, &bytes).unwrap();
        match common::builder().open(dir.path()) {
            Ok(_) | Err(OpenError::Store(_)) => {}
            Err(other) => prop_assert!(false, "{}", other),
        }
    }
}
