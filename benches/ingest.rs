//! Ingest throughput at 1,000,000 contacts: typed events and JSON lines, on one and two
//! threads, plus the memory the population takes.
//!
//! `cargo bench --bench ingest` (set `TROPA_BENCH_CONTACTS` for another population size).

#![allow(missing_docs)]

mod common;

use common::{contacts, ingest_all, Rng, BATCH, START};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use tropa::{decode_line, Channel, Engine, Event, IdType, Money, Payload};

/// Counts live heap bytes, so that bytes per contact are measured, not estimated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A touchpoint of contact `c` at time `ts`, of a kind drawn like a shop's traffic mix.
fn touchpoint(rng: &mut Rng, c: u64, ts: i64) -> Event {
    let r = rng.next() % 100;
    let product = || tropa::Text::from(format!("p-{}", c % 400));
    let payload = match r {
        0..=39 => Payload::ProductView {
            product: product(),
            category: Some("shoes".into()),
            brand_name: None,
            price: Some(Money(99_000_000)),
            color: None,
            discount: r.is_multiple_of(4).then_some(0.3),
        },
        40..=59 => Payload::PageView {
            url: Some("/c/shoes".into()),
            category: Some("shoes".into()),
        },
        60..=69 => Payload::CartAdd {
            product: product(),
            qty: 1,
            price: Some(Money(99_000_000)),
            category: None,
        },
        70..=74 => Payload::Purchase {
            order: format!("o-{c}-{ts}").into(),
            amount: Money(99_000_000),
            currency: None,
            items: vec![],
        },
        75..=84 => Payload::Campaign {
            kind: tropa::Kind::EmailOpen,
            campaign: Some("cmp-1".into()),
        },
        85..=92 => Payload::AppSession {
            duration: Some(120_000),
        },
        _ => Payload::Beacon {
            zone: "store-1".into(),
            duration: Some(60_000),
        },
    };
    let brand = ["shop-a", "shop-b", "shop-c"][(c % 3) as usize];
    Event::new(ts, payload)
        .with_id(IdType::Cookie, &format!("c-{c}"))
        .unwrap()
        .with_brand(brand)
        .with_channel(Channel::Web)
}

/// An engine holding `n` contacts (every third also known by e-mail).
fn populated(n: u64) -> Engine {
    let engine = Engine::builder().build().unwrap();
    let before = LIVE.load(Ordering::Relaxed);
    ingest_all(
        &engine,
        (0..n).map(|c| {
            let mut e = Event::new(START + c as i64, Payload::Identify)
                .with_id(IdType::Cookie, &format!("c-{c}"))
                .unwrap();
            if c % 3 == 0 {
                e = e
                    .with_id(IdType::Email, &format!("u{c}@example.com"))
                    .unwrap();
            }
            e
        }),
    );
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    let m = engine.memory();
    eprintln!(
        "population: {} contacts, {} identifiers; heap {:.1} MiB = {:.0} bytes/contact \
         (structures: state {:.0} B/contact, identity {:.0} B/contact)",
        m.contacts,
        m.identifiers,
        bytes as f64 / 1048576.0,
        bytes as f64 / n as f64,
        m.state_bytes as f64 / n as f64,
        m.identity_bytes as f64 / n as f64,
    );
    engine
}

fn workload(n: u64, count: usize, seed: u64) -> Vec<Event> {
    let mut rng = Rng(seed | 1);
    (0..count)
        .map(|i| {
            let c = rng.next() % n;
            touchpoint(&mut rng, c, START + n as i64 + i as i64 * 10)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let n = contacts();
    let engine = populated(n);
    let events = workload(n, BATCH * 20, 7);
    let lines: Vec<String> = events.iter().map(to_json).collect();
    assert!(decode_line(&lines[0]).is_ok());

    let mut g = c.benchmark_group(format!("ingest_{n}_contacts"));
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(20);
    let mut round = 0usize;
    g.bench_function("typed_1_thread", |b| {
        b.iter_batched(
            || {
                round = (round + 1) % 20;
                events[round * BATCH..(round + 1) * BATCH].to_vec()
            },
            |batch| black_box(engine.ingest_batch(batch)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("typed_2_threads", |b| {
        b.iter_batched(
            || {
                round = (round + 1) % 20;
                events[round * BATCH..(round + 1) * BATCH].to_vec()
            },
            |mut batch| {
                let second = batch.split_off(BATCH / 2);
                std::thread::scope(|s| {
                    s.spawn(|| engine.ingest_batch(second));
                    engine.ingest_batch(batch);
                });
                engine.flush();
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("json_decode_only", |b| {
        b.iter(|| {
            round = (round + 1) % 20;
            for l in &lines[round * BATCH..(round + 1) * BATCH] {
                black_box(decode_line(l).unwrap());
            }
        })
    });
    g.bench_function("json_1_thread", |b| {
        b.iter(|| {
            round = (round + 1) % 20;
            for l in &lines[round * BATCH..(round + 1) * BATCH] {
                let _ = black_box(engine.ingest(decode_line(l).unwrap()));
            }
        })
    });
    g.finish();
}

/// The wire form of a benchmark event (only the kinds `touchpoint` makes).
fn to_json(e: &Event) -> String {
    let ids = format!("{{\"cookie\":\"{}\"}}", e.ids[0].value);
    let body = match &e.payload {
        Payload::ProductView {
            product, discount, ..
        } => format!(
            "\"type\":\"product_view\",\"product\":\"{product}\",\"category\":\"shoes\",\"price\":99{}",
            discount.map_or(String::new(), |d| format!(",\"discount\":{d}"))
        ),
        Payload::PageView { .. } => {
            "\"type\":\"page_view\",\"url\":\"/c/shoes\",\"category\":\"shoes\"".into()
        }
        Payload::CartAdd { product, .. } => {
            format!("\"type\":\"cart_add\",\"product\":\"{product}\",\"qty\":1,\"price\":99")
        }
        Payload::Purchase { order, .. } => {
            format!("\"type\":\"purchase\",\"order\":\"{order}\",\"amount\":99")
        }
        Payload::Campaign { .. } => "\"type\":\"email_open\",\"campaign\":\"cmp-1\"".into(),
        Payload::AppSession { .. } => "\"type\":\"app_session\",\"duration\":120".into(),
        _ => "\"type\":\"beacon\",\"zone\":\"store-1\",\"duration\":60".into(),
    };
    format!(
        "{{\"ts\":{},\"ids\":{ids},\"brand\":\"{}\",\"channel\":\"web\",{body}}}",
        e.ts, e.brand
    )
}

criterion_group!(benches, bench);
criterion_main!(benches);
