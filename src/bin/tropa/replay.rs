//! `tropa replay`: ingest a JSON Lines file and write what the engine learned.

use crate::args::{ArgError, Args};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::time::Instant;
use tropa::event::time::parse_time_arg;
use tropa::Engine;

pub(crate) fn run(mut a: Args) -> Result<(), ArgError> {
    let rules = match a.value("--rules")? {
        None => None,
        Some(path) => {
            let src = std::fs::read_to_string(&path)
                .map_err(|e| ArgError(format!("cannot read rules {path}: {e}")))?;
            let plan = tropa::rules::compile(&src).map_err(|errors| {
                let text: Vec<String> = errors.0.iter().map(|e| format!("{path}:{e}")).collect();
                ArgError(format!("the rules do not compile:\n{}", text.join("\n")))
            })?;
            Some(plan)
        }
    };
    let signals = a.value("--signals")?;
    let memberships = a.value("--memberships")?;
    let data_dir = a.value("--data-dir")?;
    if rules.is_none() && data_dir.is_none() && (signals.is_some() || memberships.is_some()) {
        return Err(ArgError(
            "--signals and --memberships need --rules (or a --data-dir that has rules)".into(),
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
    if let Some(plan) = rules {
        builder = builder.rules(plan);
    }
    // With a data directory: recover what earlier runs took, log this run's events (synced
    // once, at the end: a run cut short keeps a prefix of its events), and keep the rules
    // recorded there unless --rules gives others.
    let (engine, recovery) = match &data_dir {
        None => (
            builder
                .build()
                .map_err(|e| ArgError(format!("--lateness: {e}")))?,
            None,
        ),
        Some(dir) => {
            let (engine, rec) = builder
                .durability(tropa::Durability::None)
                .open(dir)
                .map_err(|e| ArgError(format!("--data-dir {dir}: {e}")))?;
            (engine, Some(rec))
        }
    };
    if let Some(r) = &recovery {
        let mut err = std::io::stderr().lock();
        if let Some(s) = &r.snapshot {
            let _ = writeln!(
                err,
                "recovered: {} contacts from {}",
                r.snapshot_contacts,
                s.display()
            );
        }
        let _ = writeln!(
            err,
            "recovered: {} events ({} records, {} segments)",
            r.events, r.records, r.segments
        );
        if !r.settings_changed.is_empty() {
            let _ = writeln!(
                err,
                "settings changed since the snapshot: {}",
                r.settings_changed.join(", ")
            );
        }
        if let Some(t) = &r.torn {
            let _ = writeln!(
                err,
                "cut a torn tail of {} bytes at byte {} of {}",
                t.bytes,
                t.offset,
                t.file.display()
            );
        }
    }
    let create = |p: &String| {
        File::create(p)
            .map(BufWriter::new)
            .map_err(|e| ArgError(format!("cannot create {p}: {e}")))
    };
    // Signals are written by their own thread while ingest goes on: the channel is bounded,
    // and a reader that keeps up is what lets ingest proceed.
    let signal_writer = match &signals {
        Some(p) => {
            let mut w = create(p)?;
            let rx = engine.subscribe(1 << 16);
            Some(std::thread::spawn(move || -> std::io::Result<u64> {
                let mut n = 0;
                for s in rx {
                    w.write_all(s.to_json().as_bytes())?;
                    w.write_all(b"\n")?;
                    n += 1;
                }
                w.flush()?;
                Ok(n)
            }))
        }
        None => None,
    };
    let memberships_out = memberships.as_ref().map(create).transpose()?;
    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        let f = File::open(&input).map_err(|e| ArgError(format!("cannot read {input}: {e}")))?;
        Box::new(BufReader::with_capacity(1 << 20, f))
    };
    // Open outputs before the work, so a bad path fails fast.
    let profile_out = profiles.as_ref().map(create).transpose()?;

    let started = Instant::now();
    let report = engine
        .ingest_jsonl(reader)
        .map_err(|e| ArgError(format!("reading {input}: {e}")))?;
    if let Some(t) = until {
        engine.advance_to(t);
    }
    engine.flush();
    // With a data directory, end with a snapshot: the next run starts from it instead of
    // replaying every earlier run's log, which the snapshot replaces.
    let snapshot = match &data_dir {
        Some(dir) => Some(
            engine
                .snapshot()
                .map_err(|e| ArgError(format!("--data-dir {dir}: {e}")))?,
        ),
        None => None,
    };
    let elapsed = started.elapsed();

    if let (Some(mut w), Some(path)) = (profile_out, &profiles) {
        let werr = |e: std::io::Error| ArgError(format!("writing {path}: {e}"));
        for p in engine.profiles() {
            serde_json::to_writer(&mut w, &p).map_err(|e| werr(e.into()))?;
            w.write_all(b"\n").map_err(werr)?;
        }
        w.flush().map_err(werr)?;
    }

    if let (Some(mut w), Some(path)) = (memberships_out, &memberships) {
        let werr = |e: std::io::Error| ArgError(format!("writing {path}: {e}"));
        serde_json::to_writer(&mut w, &engine.memberships()).map_err(|e| werr(e.into()))?;
        w.write_all(b"\n").map_err(werr)?;
        w.flush().map_err(werr)?;
    }
    let sizes: Vec<(String, u64)> = engine
        .segment_names()
        .into_iter()
        .map(|s| {
            let n = engine.segment_size(&s).unwrap_or(0);
            (s, n)
        })
        .collect();
    let stats = engine.stats();
    let contacts = engine.contact_count();
    drop(engine);
    let signals_written = match signal_writer {
        Some(h) => Some(
            h.join()
                .expect("the signal writer does not panic")
                .map_err(|e| ArgError(format!("writing signals: {e}")))?,
        ),
        None => None,
    };
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
        contacts,
        stats.merges,
        stats.conflicts,
        stats.erased,
        secs,
        report.read as f64 / secs.max(1e-9)
    );
    if let Some(n) = signals_written {
        let _ = writeln!(err, "signals: {n}");
    }
    if let Some(s) = snapshot {
        let _ = writeln!(
            err,
            "snapshot: {} contacts, {} bytes, ingest held {:.1} ms, {}",
            s.contacts,
            s.bytes,
            s.paused.as_secs_f64() * 1e3,
            s.file.display()
        );
    }
    for (s, n) in sizes {
        let _ = writeln!(err, "segment {s}: {n}");
    }
    Ok(())
}
