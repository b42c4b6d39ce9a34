//! Segment evaluation costs at 1,000,000 contacts: typed ingest with 0, 10 and 100 segments
//! loaded, and `advance_to` over a day with a million pending timers.
//!
//! `cargo bench --bench segments` (`TROPA_BENCH_CONTACTS` sets the population).

#![allow(missing_docs)]

mod common;

use common::{contacts, ingest_all, Rng, BATCH, START};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::time::Instant;
use tropa::{Channel, Engine, Event, IdType, Money, Payload};

const HOUR: i64 = 3_600_000;

/// `n` segments drawn from the shapes shops use, with shared terms the way real rule sets
/// share them.
fn rules(n: usize) -> String {
    let shapes = [
        "segment s{i} = count(product_view, {h}h) >= {k}",
        "segment s{i} = cart_items > 0 and since(cart_add) >= {h}h",
        "segment s{i} = purchases({d}d) >= {k} and consent(\"email\")",
        "segment s{i} = revenue({d}d) > {v}",
        "segment s{i} = brands_active({d}d) >= 2",
        "segment s{i} = count(page_view where category == \"shoes\", {d}d) >= {k} and not known",
        "segment s{i} = count(purchase) >= 1 and since(purchase) > {d}d",
        "segment s{i} = score >= {v}",
        "segment s{i} = sum(app_session.duration, {d}d) >= {v}",
        "segment s{i} = stage == \"in_purchase\" and count(email_open, {d}d) == 0",
    ];
    let mut text = String::from("score purchase => 20\nscore product_view => 1 cap 5 per 1d\n");
    for i in 0..n {
        let shape = shapes[i % shapes.len()];
        let line = shape
            .replace("{i}", &i.to_string())
            .replace("{h}", &(1 + i % 48).to_string())
            .replace("{d}", &(1 + i % 30).to_string())
            .replace("{k}", &(1 + i % 4).to_string())
            .replace("{v}", &(50 + 10 * i).to_string());
        text.push_str(&line);
        text.push('\n');
    }
    text
}

fn event(rng: &mut Rng, c: u64, ts: i64) -> Event {
    let r = rng.next() % 100;
    let payload = match r {
        0..=44 => Payload::ProductView {
            product: "p-1".into(),
            category: Some("shoes".into()),
            brand_name: None,
            price: Some(Money(99_000_000)),
            color: None,
            discount: None,
        },
        45..=69 => Payload::PageView {
            url: None,
            category: Some("shoes".into()),
        },
        70..=84 => Payload::CartAdd {
            product: "p-1".into(),
            qty: 1,
            price: Some(Money(99_000_000)),
            category: None,
        },
        85..=92 => Payload::Purchase {
            order: format!("o-{ts}").into(),
            amount: Money(99_000_000),
            currency: None,
            items: vec![],
        },
        _ => Payload::AppSession {
            duration: Some(600_000),
        },
    };
    Event::new(ts, payload)
        .with_id(IdType::Cookie, &format!("c-{c}"))
        .unwrap()
        .with_brand(["shop-a", "shop-b"][(c % 2) as usize])
        .with_channel(Channel::Web)
}

fn populated(n: u64, segments: usize) -> Engine {
    let mut b = Engine::builder();
    if segments > 0 {
        b = b.rules(tropa::rules::compile(&rules(segments)).unwrap());
    }
    let engine = b.build().unwrap();
    let mut rng = Rng(7);
    ingest_all(
        &engine,
        (0..n).map(|c| event(&mut rng, c, START + (c as i64 % 1000))),
    );
    engine
}

fn bench(c: &mut Criterion) {
    let n = contacts();
    let mut g = c.benchmark_group(format!("segments_{n}_contacts"));
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);
    for segments in [0usize, 10, 100] {
        let started = Instant::now();
        let engine = populated(n, segments);
        let m = engine.memory();
        eprintln!(
            "{segments} segments: populated {n} contacts in {:.1} s; state {:.0} B/contact",
            started.elapsed().as_secs_f64(),
            m.state_bytes as f64 / n as f64
        );
        let mut rng = Rng(11);
        let events: Vec<Event> = (0..BATCH * 10)
            .map(|i| {
                let c = rng.next() % n;
                event(&mut rng, c, START + 1000 + i as i64)
            })
            .collect();
        let mut round = 0;
        g.bench_function(format!("ingest_{segments}_segments"), |b| {
            b.iter_batched(
                || {
                    round = (round + 1) % 10;
                    events[round * BATCH..(round + 1) * BATCH].to_vec()
                },
                |batch| black_box(engine.ingest_batch(batch)),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();

    // advance_to over a day with one pending timer per contact: every contact adds to its
    // cart at the start; a day later each abandoned cart enters the segment.
    let engine = Engine::builder()
        .rules(
            tropa::rules::compile(
                "segment cart_abandoned = cart_items > 0 and since(cart_add) >= 24h and since(cart_add) < 48h",
            )
            .unwrap(),
        )
        .build()
        .unwrap();
    ingest_all(
        &engine,
        (0..n).map(|c| {
            Event::new(
                START + (c as i64 % HOUR),
                Payload::CartAdd {
                    product: "p-1".into(),
                    qty: 1,
                    price: None,
                    category: None,
                },
            )
            .with_id(IdType::Cookie, &format!("c-{c}"))
            .unwrap()
        }),
    );
    let started = Instant::now();
    engine.advance_to(START + 25 * HOUR);
    let took = started.elapsed();
    let members = engine.segment_size("cart_abandoned").unwrap();
    assert_eq!(members, n);
    eprintln!(
        "advance_to over a day: {n} timers fired, {members} contacts entered, {:.3} s = {:.0} ns per fired timer",
        took.as_secs_f64(),
        took.as_nanos() as f64 / n as f64
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
