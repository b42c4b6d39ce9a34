//! What the benches share: the population size and a small deterministic generator.
#![allow(dead_code)] // each bench uses part of it

/// 2026-03-01T00:00:00Z.
pub(crate) const START: i64 = 1_772_323_200_000;
/// Events handed over per batch.
pub(crate) const BATCH: usize = 10_000;

/// The population: `TROPA_BENCH_CONTACTS`, or a million.
pub(crate) fn contacts() -> u64 {
    std::env::var("TROPA_BENCH_CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// xorshift64: fast and the same on every run.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Ingests a stream in batches of [`BATCH`], then waits until all of it is applied.
pub(crate) fn ingest_all(engine: &tropa::Engine, events: impl Iterator<Item = tropa::Event>) {
    let mut batch = Vec::with_capacity(BATCH);
    for e in events {
        batch.push(e);
        if batch.len() == BATCH {
            engine.ingest_batch(batch.drain(..));
        }
    }
    engine.ingest_batch(batch.drain(..));
    engine.flush();
}
