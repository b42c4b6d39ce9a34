//! Writes seed inputs for the file-reading fuzz targets from real files: a data directory
//! with a snapshot and a log after it, each file raw and as framed records.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --bin seeds -- fuzz/corpus
//! ```

use std::fs;
use std::path::Path;

fn records_input(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![1u8];
    for r in records {
        let len = r.len().min(u16::MAX as usize);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&r[..len]);
    }
    out
}

fn main() {
    let corpus = std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into());
    let dir = std::env::temp_dir().join(format!("tropa-fuzz-seeds-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let rules = tropa::rules::compile(
        "segment buyers = count(purchase) >= 1\nsegment carts = count(cart_add, 1h) >= 1 and since(purchase) > 30m\ntag fans when count(page_view, 2h) >= 3\nscore purchase => 10\n",
    )
    .unwrap();
    let sim = tropa::sim::Simulation::new(tropa::sim::SimConfig {
        contacts: 12,
        days: 2,
        seed: 3,
        brands: 3,
    });
    let events: Vec<tropa::Event> = sim
        .filter_map(|line| tropa::decode_line(&line).ok())
        .collect();
    {
        let (engine, _) = tropa::Engine::builder()
            .rules(rules)
            .durability(tropa::Durability::None)
            .open(&dir)
            .unwrap();
        let half = events.len() / 2;
        for e in &events[..half] {
            let _ = engine.ingest(e.clone());
        }
        engine.snapshot().unwrap();
        for e in &events[half..] {
            let _ = engine.ingest(e.clone());
        }
        engine.advance_to(events.last().map_or(0, |e| e.ts) + 3_600_000);
    }
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = fs::read(&path).unwrap();
        let snapshot = name.ends_with(".snap");
        let target = if snapshot { "snapshot_read" } else { "log_read" };
        let out = Path::new(&corpus).join(target);
        fs::create_dir_all(&out).unwrap();
        let mut raw = vec![0u8];
        raw.extend_from_slice(&bytes);
        fs::write(out.join(format!("seed-raw-{name}")), raw).unwrap();
        if let Some(records) = tropa::fuzzing::records_of(&bytes, snapshot) {
            fs::write(out.join(format!("seed-records-{name}")), records_input(&records)).unwrap();
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}
