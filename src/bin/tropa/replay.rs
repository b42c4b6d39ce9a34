//! `tropa replay`: ingest a JSON Lines file and write what the engine learned.

use crate::args::{ArgError, Args};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::time::Instant;
use tropa::event::time::parse_time_arg;
use tropa::Engine;

pub(crate) fn run(mut a: Args) -> Result<(), ArgError> {
    if a.value("--rules")?.is_some() {
        return Err(ArgError(
            "--rules: the rules language is not part of this build yet".into(),
        ));
    }
    let until = match a.value("--until")? {
        None => None,
        Some(v) => Some(parse_time_arg(&v).map_err(|e| ArgError(format!("--until: {e}")))?),
    };
    let profiles = a.value("--profiles")?;
    let lateness: Option<i64> = a.num("--lateness")?;
    let input = a.positional("EVENTS.jsonl")?;
    a.finish()?;

    let mut builder = Engine::builder();
    if let Some(l) = lateness {
        builder = builder
            .lateness_ms(l)
            .dedup_window_ms(l.max(24 * 3_600_000));
    }
    let engine = builder
        .build()
        .map_err(|e| ArgError(format!("--lateness: {e}")))?;
    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        let f = File::open(&input).map_err(|e| ArgError(format!("cannot read {input}: {e}")))?;
        Box::new(BufReader::with_capacity(1 << 20, f))
    };
    // Open outputs before the work, so a bad path fails fast.
    let profile_out = match &profiles {
        Some(p) => Some(BufWriter::new(
            File::create(p).map_err(|e| ArgError(format!("cannot create {p}: {e}")))?,
        )),
        None => None,
    };

    let started = Instant::now();
    let report = engine
        .ingest_jsonl(reader)
        .map_err(|e| ArgError(format!("reading {input}: {e}")))?;
    if let Some(t) = until {
        engine.advance_to(t);
    }
    engine.flush();
    let elapsed = started.elapsed();

    if let (Some(mut w), Some(path)) = (profile_out, &profiles) {
        let werr = |e: std::io::Error| ArgError(format!("writing {path}: {e}"));
        for p in engine.profiles() {
            serde_json::to_writer(&mut w, &p).map_err(|e| werr(e.into()))?;
            w.write_all(b"\n").map_err(werr)?;
        }
        w.flush().map_err(werr)?;
    }

    let stats = engine.stats();
    let secs = elapsed.as_secs_f64();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "events read: {}\naccepted: {}\nduplicates: {}\nrejected: {}",
        report.read,
        report.accepted,
        report.duplicates,
        report.rejected_total()
    );
    for (reason, n) in &report.rejected {
        let _ = writeln!(err, "  {reason}: {n}");
    }
    for e in &report.errors {
        let _ = writeln!(err, "  {e}");
    }
    let _ = writeln!(
        err,
        "contacts: {}\nmerges: {}\nconflicts: {}\nerased: {}\nelapsed: {:.3} s\nevents/s: {:.0}",
        engine.contact_count(),
        stats.merges,
        stats.conflicts,
        stats.erased,
        secs,
        report.read as f64 / secs.max(1e-9)
    );
    Ok(())
}
