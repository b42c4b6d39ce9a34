//! What durability costs: ingest into an in-memory engine and into engines logging to a data
//! directory in each mode, in one run; then recovery of what was written, by replaying the
//! log and from a snapshot of the same state, and the snapshot itself.
//!
//! `cargo bench --bench durability` (set `TROPA_BENCH_EVENTS` for another stream length).

#![allow(missing_docs)]

mod common;

use common::{Rng, START};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::time::Duration;
use tropa::{rules, Durability, Engine, Event, IdType, Money, Payload};

const RULES: &str = "segment buyers = count(purchase) >= 2
segment carts = count(cart_add, 1d) >= 1 and since(purchase) > 1d
score purchase => 10
";

fn events(n: usize) -> Vec<Event> {
    let mut rng = Rng(5);
    (0..n)
        .map(|i| {
            let c = rng.next() % 20_000;
            let payload = match rng.next() % 10 {
                0 => Payload::Purchase {
                    order: format!("o-{i}").into(),
                    amount: Money(49_000_000),
                    currency: None,
                    items: Vec::new(),
                },
                1..=3 => Payload::CartAdd {
                    product: format!("p-{}", c % 300).into(),
                    qty: 1,
                    price: Some(Money(49_000_000)),
                    category: None,
                },
                _ => Payload::PageView {
                    url: Some("/c/shoes".into()),
                    category: None,
                },
            };
            Event::new(START + i as i64 * 50, payload)
                .with_id(IdType::Customer, &c.to_string())
                .unwrap()
        })
        .collect()
}

fn n_events() -> usize {
    std::env::var("TROPA_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000)
}

fn plan() -> rules::Plan {
    rules::compile(RULES).unwrap()
}

/// An engine with the bench's rules on `dir`, logging without syncs.
fn open(dir: &std::path::Path) -> Engine {
    Engine::builder()
        .rules(plan())
        .durability(Durability::None)
        .open(dir)
        .unwrap()
        .0
}

/// Removes the log segments of `dir` after the first `keep` (in number order). Only `.log`
/// files: the directory also holds its `LOCK` file and snapshots.
fn keep_segments(dir: &std::path::Path, keep: usize) {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    for extra in segments.iter().skip(keep) {
        std::fs::remove_file(extra).unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let stream = events(n_events());
    let mut g = c.benchmark_group("durability");
    g.sample_size(10);
    g.throughput(Throughput::Elements(stream.len() as u64));
    let modes: [(&str, Option<Durability>); 4] = [
        ("memory", None),
        ("none", Some(Durability::None)),
        (
            "batched_10ms",
            Some(Durability::Batched(Duration::from_millis(10))),
        ),
        ("sync", Some(Durability::Sync)),
    ];
    for (name, mode) in modes {
        // Batches of 256, as a backend taking a queue's worth of events at a time would.
        g.bench_function(format!("{name}/batches_of_256"), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let builder = Engine::builder().rules(plan());
                    let engine = match mode {
                        None => builder.build().unwrap(),
                        Some(m) => builder.durability(m).open(dir.path()).unwrap().0,
                    };
                    (dir, engine, stream.clone())
                },
                |(dir, engine, events)| {
                    let mut it = events.into_iter();
                    while it.len() > 0 {
                        engine.ingest_batch(it.by_ref().take(256));
                    }
                    engine.sync().unwrap();
                    (dir, engine)
                },
                BatchSize::PerIteration,
            )
        });
    }
    // One event per call and per sync: the worst case of `Sync`, next to `None`.
    let single = &stream[..stream.len().min(2_000)];
    g.throughput(Throughput::Elements(single.len() as u64));
    for (name, mode) in [("none", Durability::None), ("sync", Durability::Sync)] {
        g.bench_function(format!("{name}/one_per_call"), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let engine = Engine::builder()
                        .rules(plan())
                        .durability(mode)
                        .open(dir.path())
                        .unwrap()
                        .0;
                    (dir, engine, single.to_vec())
                },
                |(dir, engine, events)| {
                    for e in events {
                        engine.ingest(e).unwrap();
                    }
                    (dir, engine)
                },
                BatchSize::PerIteration,
            )
        });
    }
    // Recovery: open a directory holding the whole stream.
    let dir = tempfile::tempdir().unwrap();
    open(dir.path()).ingest_batch(stream.iter().cloned());
    g.throughput(Throughput::Elements(stream.len() as u64));
    g.bench_function("recover", |b| {
        b.iter_batched(
            // Each open adds an (empty) segment; keep only the first, which holds the stream.
            || keep_segments(dir.path(), 1),
            |()| open(dir.path()),
            BatchSize::PerIteration,
        )
    });
    // The same state from a snapshot: take one (the log behind it goes), then open.
    let snap_dir = tempfile::tempdir().unwrap();
    let engine = open(snap_dir.path());
    engine.ingest_batch(stream.iter().cloned());
    engine.flush();
    // One outside the timed function too: a filter that skips `snapshot` must still leave one.
    engine.snapshot().unwrap();
    g.bench_function("snapshot", |b| b.iter(|| engine.snapshot().unwrap()));
    drop(engine);
    g.bench_function("recover_from_snapshot", |b| {
        b.iter_batched(
            // Each open adds an (empty) segment after the snapshot; keep none.
            || keep_segments(snap_dir.path(), 0),
            |()| open(snap_dir.path()),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
