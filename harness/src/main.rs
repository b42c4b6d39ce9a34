//! tropa side by side with a naive engine and differential-dataflow, on one simulated
//! workload, in one process.
//!
//! ```text
//! cargo run --release -p tropa-harness -- [--quick] [--contacts N] [--days D] [--threads T] [--shards S] [--timeline N] [--dd-fresh N] [--out DIR] [--profile 1|50] [--scaling] [--durability] [--floor]
//! ```
//!
//! It generates the workload (see `workload`), then measures tropa (typed ingest with one
//! segment and with fifty, on 1..T threads; JSON ingest on 1..T threads; the latency from an
//! ingest call to its signal; `advance_to` per timer; queries; memory), the naive engine and
//! differential-dataflow (stepped every 100 events, and in large batches) on the same fifty
//! segments, checks that all of them reached the same memberships, and prints a table that it
//! also writes as JSON and Markdown. Stepped every 100 events, differential-dataflow is timed
//! over the last `--dd-fresh` events only (default 3,000,000, which is all of a
//! 200,000-contact month); the events before them are fed in batches of 100,000, untimed.
//! `--quick` runs the same comparison at a reduced size; `--profile 1|50` runs only tropa's ingest with one or fifty segments, for `perf record`;
//! `--scaling` runs only tropa's typed ingest with one and fifty segments (or the one that
//! `--profile` names) on 1, 2, 4, … T threads (for a machine with more cores), checking that
//! every run reaches the memberships of the one-thread run, and where each run's time went;
//! `--shards` sets the engines' shard count (default: the engine's); `--timeline` the events
//! kept per contact (default: the engine's ten; the full run also measures one segment with
//! none, the price of keeping them); `--durability` runs tropa with fifty segments on a data
//! directory: ingest with the log, recovery by replaying it, a snapshot, recovery from the snapshot
//! (times, sizes, and the memberships checked equal after each); `--floor` runs only the floor
//! (see `floor`: an identifier lookup and one 256-byte record per event) beside tropa's
//! one-segment ingest, which the full run also reports.

mod alloc;
mod dd;
mod floor;
mod naive;
mod report;
mod segments;
mod subset;
mod workload;

use report::{Report, Row};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tropa::event::time::DAY;
use tropa::rules::Plan;
use tropa::{Engine, Event};
use workload::{Rec, START};

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Allocations and reallocations made inside timed one-thread ingest, so far.
static TIMED_ALLOCS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Args {
    quick: bool,
    /// Only tropa's typed ingest with this many segments, 1 or 50 (for profiling).
    profile: Option<usize>,
    /// Only tropa's typed ingest on 1, 2, 4, … `threads` threads.
    scaling: bool,
    /// Only tropa on a data directory: log, replay, snapshot, recovery from it.
    durability: bool,
    /// Only the floor (see `floor`) beside tropa's one-segment ingest.
    floor: bool,
    contacts: u32,
    days: u32,
    threads: usize,
    /// At most this many events (the last) timed for differential-dataflow stepped every 100.
    dd_fresh: usize,
    out: std::path::PathBuf,
}

/// The events differential-dataflow stepped every 100 events is timed over (the last ones),
/// at most, unless `--dd-fresh` says otherwise: at about 3,000 events/s, the whole month of
/// a 1,000,000-contact workload (14 M events) would take over an hour, and this cap leaves
/// the 200,000-contact month (2.8 M events) whole. The events before them are fed in large
/// batches, untimed, so the timed ones meet arrangements as large as the month makes them
/// (over its first 200,000 events, with them still small, it ran 7x faster).
const DD_FRESH_MAX: usize = 3_000_000;

fn args() -> Result<Args, String> {
    let mut a = Args {
        quick: false,
        profile: None,
        scaling: false,
        durability: false,
        floor: false,
        contacts: 1_000_000,
        days: 30,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        dd_fresh: DD_FRESH_MAX,
        out: "target/harness".into(),
    };
    let mut it = std::env::args().skip(1);
    let mut set_size = false;
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--quick" => a.quick = true,
            "--scaling" => a.scaling = true,
            "--durability" => a.durability = true,
            "--floor" => a.floor = true,
            "--profile" => {
                a.profile = match value()?.as_str() {
                    "1" => Some(1),
                    "50" => Some(50),
                    other => return Err(format!("--profile takes 1 or 50, not `{other}`")),
                }
            }
            "--contacts" => {
                a.contacts = value()?.parse().map_err(|e| format!("--contacts: {e}"))?;
                set_size = true;
            }
            "--days" => a.days = value()?.parse().map_err(|e| format!("--days: {e}"))?,
            "--threads" => a.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--shards" => {
                let n: usize = value()?.parse().map_err(|e| format!("--shards: {e}"))?;
                if n == 0 {
                    return Err("--shards must be at least 1".into());
                }
                SHARDS.set(n).map_err(|_| "--shards given twice")?;
            }
            "--timeline" => {
                let n: usize = value()?.parse().map_err(|e| format!("--timeline: {e}"))?;
                TIMELINE.set(n).map_err(|_| "--timeline given twice")?;
            }
            "--dd-fresh" => {
                a.dd_fresh = value()?.parse().map_err(|e| format!("--dd-fresh: {e}"))?;
            }
            "--out" => a.out = value()?.into(),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if a.quick && !set_size {
        a.contacts = 20_000;
    }
    if a.contacts == 0 || a.days == 0 || a.threads == 0 || a.dd_fresh == 0 {
        return Err("--contacts, --days, --threads and --dd-fresh must be at least 1".into());
    }
    Ok(a)
}

fn compile(text: &str) -> Plan {
    tropa::rules::compile(text).expect("the harness's rules compile")
}

/// The engines' shard count when `--shards` sets one (else the engine's default).
static SHARDS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// The floor's look-aheads beside none (see `floor`).
const FLOOR_AHEAD: &[usize] = &[16, 32];

/// The engines' timeline length when `--timeline` sets one (else the engine's default, ten).
static TIMELINE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

fn builder(plan: &Plan) -> tropa::EngineBuilder {
    let b = Engine::builder()
        .rules(plan.clone())
        // Threads run up to a day apart between the harness's day boundaries.
        .lateness_ms(2 * DAY)
        .dedup_window_ms(2 * DAY);
    let b = match SHARDS.get() {
        Some(&n) => b.shards(n),
        None => b,
    };
    match TIMELINE.get() {
        Some(&n) => b.timeline_len(n),
        None => b,
    }
}

fn engine(plan: &Plan) -> Engine {
    builder(plan).build().expect("valid settings")
}

/// Every event must have been accepted: a rate over refused events would be worth nothing.
fn all_accepted(engine: &Engine, n: usize, what: &str) -> Result<(), String> {
    let s = engine.stats();
    if s.accepted != n as u64 {
        return Err(format!(
            "{what}: {} of {n} events accepted ({} late, {} invalid)",
            s.accepted, s.late, s.invalid
        ));
    }
    Ok(())
}

/// Records per chunk: events are built outside the timed region, a chunk at a time.
const CHUNK: usize = 1 << 20;
const BATCH: usize = 4096;

/// What the timed region is given: built events, or their JSON lines to decode.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    Typed,
    Json,
}

/// Typed ingest of the whole workload on `threads` threads (each owning the contacts
/// `c mod threads`, so a contact's events stay in order), with `advance_to` at each day's end.
/// Returns the time spent ingesting.
fn ingest_typed(engine: &Engine, recs: &[Rec], threads: usize) -> Duration {
    ingest(engine, recs, threads, Form::Typed).total()
}

/// Where an ingest run's time went: the parts ingested between the day boundaries, the
/// `advance_to` calls at those boundaries and the final `flush`; and, within the parts, how
/// long the first lane to finish each part waited for the last (zero on one thread).
#[derive(Clone, Copy, Default)]
struct Spent {
    parts: Duration,
    clock: Duration,
    flush: Duration,
    uneven: Duration,
}

impl Spent {
    fn total(&self) -> Duration {
        self.parts + self.clock + self.flush
    }
}

/// [`ingest_typed`], or the same with each event given as its JSON line and decoded inside
/// the timed region.
fn ingest(engine: &Engine, recs: &[Rec], threads: usize, form: Form) -> Spent {
    let mut spent = Spent::default();
    let mut day_end = START + DAY;
    for chunk in recs.chunks(CHUNK) {
        let mut i = 0;
        while i < chunk.len() {
            let end = chunk[i..]
                .iter()
                .position(|r| r.ts >= day_end)
                .map_or(chunk.len(), |p| i + p);
            if end > i {
                let (span, uneven) = ingest_part(engine, &chunk[i..end], threads, form);
                spent.parts += span;
                spent.uneven += uneven;
            }
            if end < chunk.len() {
                let t = Instant::now();
                engine.advance_to(day_end - 1);
                spent.clock += t.elapsed();
                day_end += DAY;
            }
            i = end;
        }
    }
    let t = Instant::now();
    engine.flush();
    spent.flush = t.elapsed();
    spent
}

/// One thread's share of a part, built before the clock starts, in batches of [`BATCH`].
enum Lane {
    Typed(Vec<Vec<Event>>),
    Json(Vec<Vec<String>>),
}

impl Lane {
    fn build<'a>(recs: impl Iterator<Item = &'a Rec>, form: Form) -> Lane {
        let recs: Vec<&Rec> = recs.collect();
        let chunks = recs.chunks(BATCH);
        match form {
            Form::Typed => Lane::Typed(
                chunks
                    .map(|c| c.iter().map(|r| workload::event(r)).collect())
                    .collect(),
            ),
            Form::Json => Lane::Json(
                chunks
                    .map(|c| c.iter().map(|r| workload::json(r)).collect())
                    .collect(),
            ),
        }
    }

    /// Ingests every batch (decoding JSON lines first), from and into vectors reused batch
    /// after batch (`ingest_batch_into`), as a backend that reads its input in batches would.
    /// Emptied batches are freed after the clock stops.
    fn drain(&mut self, engine: &Engine) {
        let mut outcomes = Vec::with_capacity(BATCH);
        match self {
            Lane::Typed(batches) => {
                for batch in batches.iter_mut() {
                    engine.ingest_batch_into(batch, &mut outcomes);
                }
            }
            Lane::Json(batches) => {
                let mut batch = Vec::with_capacity(BATCH);
                for lines in batches.iter() {
                    batch.extend(
                        lines
                            .iter()
                            .map(|l| tropa::decode_line(l).expect("the workload's JSON is valid")),
                    );
                    engine.ingest_batch_into(&mut batch, &mut outcomes);
                }
            }
        }
    }
}

/// Builds the events (or lines) of `part` (untimed), then ingests them on `threads` threads
/// (timed). With several threads, each builds its own lane before the clock starts, as a
/// backend decoding on its ingest threads would: an event's strings are then allocated by the
/// thread that ingests it, not all by one thread and freed by the others (which glibc's malloc
/// serves under the allocating arena's lock, and which made the harness measure that lock).
///
/// Returns the span from the start to the last lane's end, and the gap between the first
/// lane's end and the last's.
fn ingest_part(engine: &Engine, part: &[Rec], threads: usize, form: Form) -> (Duration, Duration) {
    if threads == 1 {
        let mut lane = Lane::build(part.iter(), form);
        let calls = ALLOC.calls();
        let t = Instant::now();
        lane.drain(engine);
        let d = t.elapsed();
        // The lane's own events are freed inside the drain, but freeing is not counted.
        if form == Form::Typed {
            TIMED_ALLOCS.fetch_add(ALLOC.calls() - calls, std::sync::atomic::Ordering::Relaxed);
        }
        return (d, Duration::ZERO);
    }
    let ready = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let lanes: Vec<_> = (0..threads)
            .map(|k| {
                let ready = &ready;
                s.spawn(move || {
                    let mut lane = Lane::build(
                        part.iter().filter(|r| r.contact as usize % threads == k),
                        form,
                    );
                    ready.wait();
                    lane.drain(engine);
                    (Instant::now(), lane)
                })
            })
            .collect();
        ready.wait();
        let t = Instant::now();
        let done: Vec<_> = lanes
            .into_iter()
            .map(|h| h.join().expect("an ingest thread panicked"))
            .collect();
        // The first and the last lane's end; the lanes are freed after.
        let ends = done.iter().map(|(end, _)| *end - t);
        let last = ends.clone().max().unwrap_or_default();
        let first = ends.min().unwrap_or_default();
        (last, last - first)
    })
}

/// Latency from an `ingest` call to its signal being available to a subscriber, for every
/// 16th event that produced one (one thread, event by event).
fn latencies(plan: &Plan, recs: &[Rec]) -> Vec<Duration> {
    let engine = engine(plan);
    let rx = engine.subscribe(1 << 16);
    let mut out = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        let e = workload::event(r);
        if i % 16 == 0 {
            let t = Instant::now();
            engine.ingest(e).expect("valid");
            if rx.try_recv().is_ok() {
                out.push(t.elapsed());
            }
        } else {
            engine.ingest(e).expect("valid");
        }
        rx.try_iter().for_each(drop);
    }
    out
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e9
}

/// Engine memberships by contact number (`customer:N` primary ids).
fn engine_memberships(engine: &Engine) -> Members {
    let plan_order = engine.segment_names();
    let all = engine.memberships();
    plan_order
        .into_iter()
        .map(|name| {
            let mut m: Vec<u32> = all[&name]
                .iter()
                .map(|id| {
                    id.strip_prefix("customer:")
                        .and_then(|n| n.parse().ok())
                        .expect("every contact is a customer number")
                })
                .collect();
            m.sort_unstable();
            (name, m)
        })
        .collect()
}

fn agree(
    name: &str,
    want: &[(String, Vec<u32>)],
    got: &[(String, Vec<u32>)],
) -> Result<(), String> {
    for ((n, a), (m, b)) in want.iter().zip(got) {
        if n != m || a != b {
            let only_a = a
                .iter()
                .filter(|x| b.binary_search(x).is_err())
                .take(5)
                .collect::<Vec<_>>();
            let only_b = b
                .iter()
                .filter(|x| a.binary_search(x).is_err())
                .take(5)
                .collect::<Vec<_>>();
            return Err(format!(
                "{name} disagrees with tropa on `{n}`: {} vs {} members (only tropa: {only_a:?}, only {name}: {only_b:?})",
                a.len(),
                b.len()
            ));
        }
    }
    if want.len() != got.len() {
        return Err(format!(
            "{name} has {} segments, tropa {}",
            got.len(),
            want.len()
        ));
    }
    Ok(())
}

/// Bytes of the files in `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Tropa with fifty segments on a data directory (`Durability::None`, synced at the end):
/// ingest with the log; close and recover by replaying it; a snapshot; close and recover from
/// the snapshot. Every recovered engine must reach the memberships of the first.
fn durability(recs: &[Rec], plan: &Plan) -> Result<(), String> {
    let n = recs.len();
    let dir = std::env::temp_dir().join(format!("tropa-harness-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let open = || {
        let t = Instant::now();
        let (e, rec) = builder(plan)
            .durability(tropa::Durability::None)
            .open(&dir)
            .map_err(|e| e.to_string())?;
        e.flush();
        Ok::<_, String>((e, rec, t.elapsed()))
    };
    let (e, _, _) = open()?;
    let d = ingest_typed(&e, recs, 1);
    let t = Instant::now();
    e.sync().map_err(|e| e.to_string())?;
    let d = d + t.elapsed();
    all_accepted(&e, n, "durability")?;
    let want = engine_memberships(&e);
    let contacts = e.contact_count();
    drop(e);
    let log = dir_bytes(&dir);
    println!(
        "ingest with the log (None, synced at the end): {:.0} events/s; log {:.1} MB ({:.0} B/event)",
        per_s(n, d),
        log as f64 / 1e6,
        log as f64 / n as f64
    );
    let (e, rec, replay) = open()?;
    agree("replayed", &want, &engine_memberships(&e))?;
    println!(
        "recovery by replay: {:.2} s for {} events ({:.0} events/s)",
        replay.as_secs_f64(),
        rec.events,
        per_s(rec.events as usize, replay)
    );
    let s = e.snapshot().map_err(|e| e.to_string())?;
    println!(
        "snapshot: {:.2} s, ingest held {:.2} s; {:.1} MB ({:.0} B/contact) for {} contacts; {} files replaced",
        s.took.as_secs_f64(),
        s.paused.as_secs_f64(),
        s.bytes as f64 / 1e6,
        s.bytes as f64 / contacts.max(1) as f64,
        s.contacts,
        s.removed
    );
    drop(e);
    let (e, rec, restore) = open()?;
    agree("restored", &want, &engine_memberships(&e))?;
    println!(
        "recovery from the snapshot: {:.2} s ({} contacts, {} events replayed after it); {:.1}x faster than replay",
        restore.as_secs_f64(),
        rec.snapshot_contacts,
        rec.events,
        replay.as_secs_f64() / restore.as_secs_f64().max(1e-9)
    );
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Memberships by segment, as [`engine_memberships`] gives them.
type Members = Vec<(String, Vec<u32>)>;

/// Ingests `recs` in `form` into a fresh engine of `plan` on `threads` threads and checks
/// that every event was accepted; then advances it to `until` and checks its memberships
/// against the first run's (`want`, which the first call sets). Returns the ingest time.
fn checked_run(
    plan: &Plan,
    recs: &[Rec],
    threads: usize,
    form: Form,
    until: i64,
    want: &mut Option<Members>,
    what: &str,
) -> Result<Spent, String> {
    let e = engine(plan);
    let d = ingest(&e, recs, threads, form);
    all_accepted(&e, recs.len(), &format!("{what}, {threads} threads"))?;
    e.advance_to(until);
    e.flush();
    let got = engine_memberships(&e);
    match want {
        None => *want = Some(got),
        Some(w) => agree(&format!("{what} on {threads} threads"), w, &got)?,
    }
    Ok(d)
}

/// Typed ingest of `recs` by each plan on 1, 2, 4, … `a.threads` threads; every run must
/// reach the memberships of the one-thread run.
fn scaling(a: &Args, recs: &[Rec], plans: &[(&str, &Plan)]) -> Result<(), String> {
    let n = recs.len();
    let until = START + i64::from(a.days) * DAY;
    let mut counts: Vec<usize> = std::iter::successors(Some(1), |t| Some(t * 2))
        .take_while(|&t| t < a.threads)
        .collect();
    counts.push(a.threads);
    for (what, plan) in plans {
        let mut want = None;
        let mut one = 0.0;
        for &threads in &counts {
            let d = checked_run(plan, recs, threads, Form::Typed, until, &mut want, what)?;
            let rate = per_s(n, d.total());
            if threads == 1 {
                one = rate;
            }
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            println!(
                "tropa, {what}, {threads:>2} threads: {rate:>10.0} events/s ({:.2}x one thread); ms: parts {:.0} (first lane done {:.0} before the last), advance_to {:.0}, flush {:.0}",
                rate / one,
                ms(d.parts),
                ms(d.uneven),
                ms(d.clock),
                ms(d.flush),
            );
        }
    }
    Ok(())
}

fn per_s(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tropa-harness: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&a) {
        eprintln!("tropa-harness: {e}");
        std::process::exit(1);
    }
}

fn run(a: &Args) -> Result<(), String> {
    let t = Instant::now();
    let recs = Arc::new(workload::generate(a.contacts, a.days, 7));
    let n = recs.len();
    let until = START + i64::from(a.days) * DAY;
    eprintln!(
        "workload: {} contacts, {} days, {n} events ({:.1} s to generate)",
        a.contacts,
        a.days,
        t.elapsed().as_secs_f64()
    );
    let simple = compile(segments::SIMPLE);
    let fifty = compile(&segments::fifty());
    if a.scaling {
        let plans: &[(&str, &Plan)] = match a.profile {
            Some(1) => &[("1 segment", &simple)],
            Some(_) => &[("50 segments", &fifty)],
            None => &[("1 segment", &simple), ("50 segments", &fifty)],
        };
        return scaling(a, &recs, plans);
    }
    if a.floor {
        let e = engine(&simple);
        let d = ingest_typed(&e, &recs, 1);
        all_accepted(&e, n, "1 segment")?;
        drop(e);
        let tropa = per_s(n, d);
        println!("tropa, 1 segment, 1 thread: {tropa:.0} events/s");
        for f in floor::run(&recs, a.contacts as usize, FLOOR_AHEAD) {
            println!(
                "floor, look-ahead {}: {:.0} events/s ({:.1}x tropa)",
                f.ahead,
                f.events_per_s,
                f.events_per_s / tropa
            );
        }
        return Ok(());
    }
    if let Some(k) = a.profile {
        let before = ALLOC.live();
        let e = engine(if k == 1 { &simple } else { &fifty });
        let calls = TIMED_ALLOCS.load(std::sync::atomic::Ordering::Relaxed);
        let d = ingest_typed(&e, &recs, 1);
        let calls = TIMED_ALLOCS.load(std::sync::atomic::Ordering::Relaxed) - calls;
        let heap = ALLOC.live().saturating_sub(before);
        all_accepted(&e, n, "profile")?;
        let m = e.memory();
        let per = |b: usize| b as f64 / m.contacts.max(1) as f64;
        println!(
            "tropa, {k} segment(s), 1 thread: {:.0} events/s; {:.2} allocations per event; {:.2} timers fired per event; heap {:.0} B/contact (slots {:.0}, timeline {:.0}, rule state {:.0}, identity {:.0}, carts {:.0})",
            per_s(n, d),
            calls as f64 / n as f64,
            e.stats().timers_fired as f64 / n as f64,
            per(heap),
            per(m.slot_bytes),
            per(m.timeline_bytes),
            per(m.rule_bytes),
            per(m.identity_bytes),
            per(m.cart_bytes),
        );
        return Ok(());
    }
    if a.durability {
        return durability(&recs, &fifty);
    }
    let mut rep = Report::new(a.contacts, a.days, n, a.quick);

    // tropa, one segment, one thread; and the memory of a contact with the least rule state
    // (the base state: profile, timeline, identity), then without a timeline.
    let before = ALLOC.live();
    let e1 = engine(&simple);
    let d = ingest_typed(&e1, &recs, 1);
    let base_heap = ALLOC.live().saturating_sub(before);
    all_accepted(&e1, n, "1 segment")?;
    rep.row(Row::new("tropa", "typed ingest, 1 segment, 1 thread").rate(per_s(n, d)));
    let base = e1.memory();
    drop(e1);
    let before = ALLOC.live();
    let e0 = builder(&simple)
        .timeline_len(0)
        .build()
        .expect("valid settings");
    let d0 = ingest_typed(&e0, &recs, 1);
    let bare_heap = ALLOC.live().saturating_sub(before);
    all_accepted(&e0, n, "1 segment, no timeline")?;
    drop(e0);
    // What keeping each contact's latest events (for backfill and the profile) costs.
    rep.row(
        Row::new(
            "tropa",
            "typed ingest, 1 segment, 1 thread, timeline_len(0)",
        )
        .rate(per_s(n, d0))
        .note("no events kept per contact: the price of the timeline"),
    );
    // What the memory allows for the least an engine must do per event.
    let floors = floor::run(&recs, a.contacts as usize, FLOOR_AHEAD);
    let best = floors.iter().map(|f| f.events_per_s).fold(0.0, f64::max);
    rep.row(
        Row::new(
            "floor",
            "identifier lookup and one 256-byte record per event",
        )
        .rate(best)
        .note(&format!(
            "{}; the best of them: {:.1}x tropa's one segment",
            floors
                .iter()
                .map(|f| format!("look-ahead {}: {:.0}/s", f.ahead, f.events_per_s))
                .collect::<Vec<_>>()
                .join(", "),
            best / per_s(n, d)
        )),
    );
    let per = |b: usize| b as f64 / base.contacts.max(1) as f64;
    rep.row(
        Row::new("tropa", "memory, base state (1 segment)")
            .note(&format!(
                "heap {:.0} B/contact (slots {:.0}, timeline {:.0}, identity {:.0}, carts {:.0}; the timeline's and rule state's fixed parts are in the slots); {:.0} B/contact with timeline_len(0)",
                per(base_heap),
                per(base.slot_bytes),
                per(base.timeline_bytes),
                per(base.identity_bytes),
                per(base.cart_bytes),
                per(bare_heap)
            ))
            .value("slot_bytes_per_contact", per(base.slot_bytes))
            .value("cart_bytes_per_contact", per(base.cart_bytes))
            .value("base_bytes_per_contact", per(base_heap))
            .value("bare_bytes_per_contact", per(bare_heap)),
    );

    // tropa, fifty segments, 1..T threads; the 1-thread engine is kept for the rest.
    let before = ALLOC.live();
    let e50 = engine(&fifty);
    let d = ingest_typed(&e50, &recs, 1);
    let heap = ALLOC.live().saturating_sub(before);
    all_accepted(&e50, n, "50 segments")?;
    let tropa_rate = per_s(n, d);
    rep.row(Row::new("tropa", "typed ingest, 50 segments, 1 thread").rate(tropa_rate));
    for threads in 2..=a.threads {
        let e = engine(&fifty);
        let d = ingest_typed(&e, &recs, threads);
        all_accepted(&e, n, &format!("{threads} threads"))?;
        rep.row(
            Row::new(
                "tropa",
                &format!("typed ingest, 50 segments, {threads} threads"),
            )
            .rate(per_s(n, d)),
        );
    }
    // JSON ingest on 1..T threads over the first `json_n` events; the runs on more threads
    // must reach the memberships of the one-thread run.
    let json_n = n.min(if a.quick { n } else { 4_000_000 });
    let json_until = recs[..json_n].last().map_or(START, |r| r.ts);
    let mut json_want = None;
    for threads in 1..=a.threads {
        let d = checked_run(
            &fifty,
            &recs[..json_n],
            threads,
            Form::Json,
            json_until,
            &mut json_want,
            "JSON",
        )?;
        let what = if threads == 1 { "thread" } else { "threads" };
        rep.row(
            Row::new(
                "tropa",
                &format!("JSON ingest (decoding included), 50 segments, {threads} {what}"),
            )
            .rate(per_s(json_n, d.total())),
        );
    }

    let lat_n = n.min(if a.quick { n } else { 2_000_000 });
    let mut lat = latencies(&fifty, &recs[..lat_n]);
    lat.sort_unstable();
    rep.row(
        Row::new("tropa", "latency, ingest call to signal (ns)")
            .note(&format!(
                "p50 {:.0}, p99 {:.0}, p999 {:.0} over {} sampled events with a signal",
                pct(&lat, 0.5),
                pct(&lat, 0.99),
                pct(&lat, 0.999),
                lat.len()
            ))
            .value("p50_ns", pct(&lat, 0.5))
            .value("p99_ns", pct(&lat, 0.99))
            .value("p999_ns", pct(&lat, 0.999)),
    );

    // Memory of the fifty-segment engine at the end of the month, and its memberships then:
    // the reference the baselines must reach.
    e50.advance_to(until);
    e50.flush();
    let want = engine_memberships(&e50);
    let mem = e50.memory();
    let contacts = mem.contacts.max(1) as f64;
    rep.row(
        Row::new("tropa", "memory")
            .note(&format!(
                "heap {:.0} B/contact (allocator-measured); state {:.0} B/contact (timeline {:.0}, rule state {:.0}), identity {:.0} B/contact; bitmaps {:.2} B/member over {} memberships (and {:.0} KB of logged changes); timers {:.1} B/timer over {}",
                heap as f64 / contacts,
                mem.state_bytes as f64 / contacts,
                mem.timeline_bytes as f64 / contacts,
                mem.rule_bytes as f64 / contacts,
                mem.identity_bytes as f64 / contacts,
                mem.bitmap_bytes as f64 / (mem.memberships.max(1) as f64),
                mem.memberships,
                mem.membership_log_bytes as f64 / 1024.0,
                mem.timer_bytes as f64 / (mem.timers.max(1) as f64),
                mem.timers
            ))
            .value("bytes_per_contact", heap as f64 / contacts)
            .value("bitmap_bytes_per_member", mem.bitmap_bytes as f64 / (mem.memberships.max(1) as f64)),
    );
    let bytes_per_contact = heap as f64 / contacts;

    // Queries.
    let names = e50.segment_names();
    let t = Instant::now();
    let total: u64 = names.iter().map(|s| e50.segment_size(s).unwrap_or(0)).sum();
    let size_ns = t.elapsed().as_secs_f64() * 1e9 / names.len() as f64;
    let biggest = names
        .iter()
        .max_by_key(|s| e50.segment_size(s).unwrap_or(0))
        .cloned()
        .unwrap_or_default();
    let t = Instant::now();
    let exported = e50.members(&biggest).map_or(0, |m| m.count());
    let export = t.elapsed();
    let t = Instant::now();
    let audience = e50
        .audience("email_engaged and not dormant and (store_visitor or app_regular)")
        .map_err(|e| e.to_string())?
        .total();
    let algebra = t.elapsed();
    rep.row(
        Row::new("tropa", "queries")
            .note(&format!(
                "segment size {size_ns:.0} ns; member export {:.1} ns/member ({exported} of `{biggest}`); three-way expression {:.2} ms ({audience} contacts); {total} memberships in all",
                export.as_secs_f64() * 1e9 / exported.max(1) as f64,
                algebra.as_secs_f64() * 1e3
            ))
            .value("segment_size_ns", size_ns),
    );

    // Time alone: fire every pending timer.
    let before = e50.stats().timers_fired;
    let t = Instant::now();
    e50.advance_to(until + 400 * DAY);
    e50.flush();
    let fired = (e50.stats().timers_fired - before).max(1);
    let per_timer = t.elapsed().as_secs_f64() * 1e9 / fired as f64;
    rep.row(
        Row::new("tropa", "advance_to, per fired timer (ns)")
            .note(&format!("{per_timer:.0} ns over {fired} timers"))
            .value("ns_per_timer", per_timer),
    );
    drop(e50);

    // The naive engine.
    let mut nv = naive::Naive::new(fifty.clone());
    let t = Instant::now();
    let mut day_end = START + DAY;
    for r in recs.iter() {
        while r.ts >= day_end {
            nv.advance_to(day_end - 1);
            day_end += DAY;
        }
        nv.ingest(r);
    }
    nv.advance_to(until);
    let naive_d = t.elapsed();
    agree("the naive engine", &want, &nv.memberships())?;
    let naive_rate = per_s(n, naive_d);
    rep.row(
        Row::new("naive", "ingest + daily rescans, 50 segments, 1 thread")
            .rate(naive_rate)
            .note(&format!(
                "{} B/contact of kept events",
                nv.heap_bytes() / a.contacts.max(1) as usize
            )),
    );
    drop(nv);

    // differential-dataflow at equal freshness (timed over the last `dd_fresh` events, the
    // ones before them fed in large batches), then in large batches.
    let mut dd_rates = Vec::new();
    for (batch, m) in [(100, n.min(a.dd_fresh)), (100_000, n)] {
        let run = dd::run(fifty.clone(), Arc::clone(&recs), batch, until, n - m)?;
        agree("differential-dataflow", &want, &run.memberships)?;
        let rate = per_s(m, run.ingest + run.catch_up);
        dd_rates.push(rate);
        let scope = if m == n {
            String::new()
        } else {
            format!(
                " (timed over the last {m} events; the {} before them fed every 100,000)",
                n - m
            )
        };
        rep.row(
            Row::new(
                "differential-dataflow",
                &format!("stepped every {batch} events, 50 segments, 1 worker"),
            )
            .rate(rate)
            .note(&format!("{} membership changes{scope}", run.changes)),
        );
    }
    rep.ratios(tropa_rate, naive_rate, dd_rates[0], dd_rates[1]);
    rep.print();
    rep.write(&a.out)
        .map_err(|e| format!("writing {}: {e}", a.out.display()))?;
    println!(
        "summary: events_per_s={:.0} ratio_vs_naive={:.1} ratio_vs_dd={:.1} bytes_per_contact={:.0}",
        tropa_rate,
        tropa_rate / naive_rate,
        tropa_rate / dd_rates[0],
        bytes_per_contact
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three contenders agree on a small month, on rules that use every `since`
    /// comparison both ways round, sums, revenue and segment references.
    #[test]
    fn all_contenders_agree_on_a_small_month() {
        let rules = "\
segment a = since(purchase) >= 2d or since(cart_add) > 1d
segment b = since(page_view) < 12h and 3d <= since(email_open)
segment c = since(beacon) == 1h or since(app_session) != 2h
segment d = sum(app_session.duration, 3d) > 1800 or revenue() > 300
segment e = segment(\"a\") and not segment(\"b\") and purchases(7d) == 0
segment f = count(product_view where discount >= 0.3 and price > 100, 5d) >= 1
";
        let plan = compile(rules);
        let recs = Arc::new(workload::generate(300, 10, 3));
        let until = START + 10 * DAY + 5 * 3_600_000;
        let e = engine(&plan);
        ingest_typed(&e, &recs, 1);
        e.advance_to(until);
        e.flush();
        let want = engine_memberships(&e);
        assert!(want.iter().all(|(_, m)| !m.is_empty()), "{want:?}");
        let mut nv = naive::Naive::new(plan.clone());
        for r in recs.iter() {
            nv.ingest(r);
        }
        nv.advance_to(until);
        agree("naive", &want, &nv.memberships()).unwrap();
        for batch in [1, 100, 1_000_000] {
            let run = dd::run(plan.clone(), Arc::clone(&recs), batch, until, 0).unwrap();
            agree("dd", &want, &run.memberships).unwrap();
        }
        // Timed over the last events only (`--dd-fresh`), after a prelude in large batches:
        // the same memberships.
        for from in [1, recs.len() / 3, recs.len() - 1] {
            let run = dd::run(plan.clone(), Arc::clone(&recs), 100, until, from).unwrap();
            agree("dd after a prelude", &want, &run.memberships).unwrap();
        }
    }
}
