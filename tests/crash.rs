//! Crash consistency: a child process ingests and is killed with SIGKILL at a random moment.
//! With `Durability::Sync` the reopened directory must hold exactly the acknowledged
//! operations (or those and the one in flight, whose sync may have finished before the kill);
//! with `Batched` and `None`, a prefix of them. Either way the recovered state must equal the
//! reference model over exactly the operations recovered.
//!
//! The child takes a snapshot every [`SNAP_EVERY`] operations, and half of the rounds kill it
//! just after it announces one, so that kills land while snapshotting too.
//!
//! The child is this same test binary, run with `TROPA_CRASH_DIR` set (the `child` test).

mod common;

use common::gen::Step;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use tropa::decode_line;
use tropa::persist::Durability;

const RULES: &str = "segment buyers = count(purchase) >= 1
segment carts = count(cart_add, 1h) >= 1 and since(purchase) > 30m
tag fans when count(page_view, 2h) >= 3
score purchase => 10
";

/// A deterministic stream: a few hundred people over a small identifier universe (links and
/// merges), purchases, carts, page views, now and then an erasure or a jump of the clock.
fn stream(seed: u64, n: usize) -> Vec<Step> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move |m: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % m
    };
    let mut clock = 1_772_323_200_000i64;
    (0..n)
        .map(|i| {
            clock += next(120_000) as i64;
            if next(50) == 0 {
                clock += 3_600_000;
                return Step::AdvanceTo(clock);
            }
            let cookie = next(300);
            let ids = match next(4) {
                0 => format!(r#""cookie":"c{cookie}","email":"p{}@x.pl""#, next(200)),
                _ => format!(r#""cookie":"c{cookie}""#),
            };
            let body = match next(10) {
                0..=3 => r#""type":"page_view""#.to_string(),
                4..=5 => format!(r#""type":"cart_add","product":"p{}","price":20"#, next(9)),
                6..=7 => format!(r#""type":"purchase","order":"o{i}","amount":30"#),
                8 if next(8) == 0 => r#""type":"erase""#.to_string(),
                _ => r#""type":"identify""#.to_string(),
            };
            let line = format!(r#"{{"ts":{clock},"id":"e{i}","ids":{{{ids}}},{body}}}"#);
            Step::Ingest(Box::new(decode_line(&line).unwrap()))
        })
        .collect()
}

/// Operations between the child's snapshots.
const SNAP_EVERY: usize = 400;

/// The child: ingests the stream and prints `ack N` after each operation returns, and
/// `snapping` before each snapshot.
#[test]
fn child() {
    let Ok(dir) = std::env::var("TROPA_CRASH_DIR") else {
        return; // not run as a child
    };
    let seed: u64 = std::env::var("TROPA_CRASH_SEED").unwrap().parse().unwrap();
    let mode = mode(std::env::var("TROPA_CRASH_MODE").unwrap().parse().unwrap());
    let (engine, _) = common::builder()
        .rules(tropa::rules::compile(RULES).unwrap())
        .durability(mode)
        .open(&dir)
        .unwrap();
    for (i, step) in stream(seed, 3000).into_iter().enumerate() {
        match step {
            Step::Ingest(e) => {
                engine.ingest(*e).unwrap();
            }
            Step::AdvanceTo(t) => engine.advance_to(t),
        }
        // Unbuffered: the parent counts what it has seen as acknowledged.
        println!("ack {i}");
        if (i + 1) % SNAP_EVERY == 0 {
            println!("snapping");
            engine.snapshot().unwrap();
        }
    }
}

/// The child's durability mode: two rounds in three `Sync`, then `Batched` or `None`.
fn mode(round: u64) -> Durability {
    match round % 6 {
        2 => Durability::Batched(std::time::Duration::from_millis(3)),
        5 => Durability::None,
        _ => Durability::Sync,
    }
}

fn model_over(steps: &[Step]) -> common::model::Model {
    let mut m = common::model::Model::with_rules(
        common::model_config(),
        tropa::rules::compile(RULES).unwrap(),
    );
    for s in steps {
        match s {
            Step::Ingest(e) => {
                m.ingest(e);
            }
            Step::AdvanceTo(t) => m.advance_to(*t),
        }
    }
    m.flush();
    m
}

#[test]
fn killed_at_random_moments_recovers_exactly_the_acknowledged() {
    let rounds: u64 = std::env::var("TROPA_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(18);
    let exe = std::env::current_exe().unwrap();
    for round in 0..rounds {
        let dir = tempfile::tempdir().unwrap();
        let seed = 7 + round;
        // Kill after this many acknowledgements (0: right at the start), or in odd rounds a
        // moment after the child announces its `snaps`-th snapshot.
        let target = (round * 397) % 2500;
        let snaps = (round % 6 + 1) as usize;
        let at_snapshot = round % 2 == 1;
        let mut child = Command::new(&exe)
            .args(["child", "--exact", "--nocapture", "--test-threads=1"])
            .env("TROPA_CRASH_DIR", dir.path())
            .env("TROPA_CRASH_SEED", seed.to_string())
            .env("TROPA_CRASH_MODE", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        // The first acknowledgement shares its line with the test runner's `test child ... `.
        let ack = |l: &str| l.split("ack ").nth(1).and_then(|n| n.parse::<usize>().ok());
        let mut acked = 0usize;
        let mut snapping = 0usize;
        let mut lines = out.lines();
        loop {
            if at_snapshot && snapping == snaps {
                std::thread::sleep(std::time::Duration::from_micros(round * 173 % 1500));
                break;
            }
            if !at_snapshot && acked >= target as usize {
                break;
            }
            match lines.next() {
                Some(Ok(l)) => {
                    acked = ack(&l).map_or(acked, |i| i + 1);
                    snapping += usize::from(l.contains("snapping"));
                }
                _ => break,
            }
        }
        child.kill().unwrap(); // SIGKILL
                               // Acknowledgements printed before the kill landed still count.
        for l in lines.map_while(Result::ok) {
            acked = ack(&l).map_or(acked, |i| i + 1);
        }
        child.wait().unwrap();

        let steps = stream(seed, 3000);
        let (engine, rec) = common::builder().open(dir.path()).unwrap();
        // Records: the rules, then one per step; after a snapshot, the steps it holds and one
        // record per step after its cut (segment `n` follows the `n - 1`-th snapshot).
        let recovered = match &rec.snapshot {
            None => rec.records.saturating_sub(1) as usize,
            Some(path) => {
                let name = path.file_name().unwrap().to_str().unwrap();
                let n: usize = name[5..13].parse().unwrap();
                (n - 1) * SNAP_EVERY + rec.records as usize
            }
        };
        if mode(round) == Durability::Sync {
            assert!(
                recovered == acked || recovered == acked + 1,
                "round {round}: {acked} acknowledged, {recovered} recovered"
            );
        } else {
            assert!(
                recovered <= acked + 1,
                "round {round}: {acked} acknowledged, {recovered} recovered"
            );
        }
        engine.flush();
        let model = model_over(&steps[..recovered]);
        let (got, want) = (engine.profiles(), model.profiles());
        assert_eq!(got.len(), want.len(), "round {round}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "round {round}");
        }
    }
}

/// The child of the storage-failure test: ingests until a write fails (its file-size limit is
/// reached), then checks that the stopped engine takes nothing more, and prints
/// `stopped N` with the number of events acknowledged.
#[test]
fn stopped_child() {
    let Ok(dir) = std::env::var("TROPA_STOP_DIR") else {
        return; // not run as a child
    };
    let (engine, _) = common::builder()
        .rules(tropa::rules::compile(RULES).unwrap())
        .durability(Durability::Sync)
        .open(&dir)
        .unwrap();
    let mut acked = 0usize;
    let mut events = stream(3, 3000).into_iter().filter_map(|s| match s {
        Step::Ingest(e) => Some(*e),
        Step::AdvanceTo(_) => None,
    });
    let failure = loop {
        let e = events.next().expect("the size limit is reached first");
        match engine.ingest(e) {
            Ok(_) => acked += 1,
            Err(tropa::IngestError::Storage(err)) => break err,
            Err(other) => panic!("{other}"),
        }
    };
    assert!(
        matches!(failure, tropa::StoreError::Io { op: "write", .. }),
        "{failure}"
    );
    engine.flush();
    let (profiles, stats, now) = (engine.profiles(), engine.stats(), engine.now());
    let refused = engine.ingest(events.next().unwrap()).unwrap_err();
    assert!(
        matches!(
            &refused,
            tropa::IngestError::Storage(tropa::StoreError::Stopped { cause }) if cause.contains("write failed")
        ),
        "{refused}"
    );
    engine.advance_to(now.unwrap() + 1_000_000_000);
    let loaded = engine.load_rules(tropa::rules::compile("segment other = known").unwrap());
    engine.flush();
    assert_eq!(loaded, tropa::RulesLoaded::default());
    assert_eq!(engine.now(), now);
    assert_eq!(engine.segment_names(), ["buyers", "carts"]);
    assert_eq!(engine.stats().accepted, stats.accepted);
    assert_eq!(engine.profiles(), profiles);
    assert!(matches!(
        engine.sync(),
        Err(tropa::StoreError::Stopped { .. })
    ));
    println!("stopped {acked}");
}

/// A write that fails (the process's file-size limit, `ulimit -f`, with SIGXFSZ ignored)
/// stops the log: later operations change nothing, and reopening recovers exactly the events
/// acknowledged before the failure.
#[cfg(unix)]
#[test]
fn a_failed_write_stops_the_engine_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 16; exec "$0" stopped_child --exact --nocapture --test-threads=1"#)
        .arg(std::env::current_exe().unwrap())
        .env("TROPA_STOP_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let acked: usize = stdout
        .split("stopped ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {stdout}"));
    assert!(acked > 10, "the limit leaves room for some events: {acked}");
    let (engine, rec) = common::builder().open(dir.path()).unwrap();
    assert_eq!(rec.events as usize, acked);
    engine.flush();
    let steps: Vec<Step> = stream(3, 3000)
        .into_iter()
        .filter(|s| matches!(s, Step::Ingest(_)))
        .take(acked)
        .collect();
    let model = model_over(&steps);
    assert_eq!(engine.profiles(), model.profiles());
}
