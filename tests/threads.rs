//! Many ingesting threads give the same profiles as one.

use tropa::sim::{SimConfig, Simulation};
use tropa::{decode_line, Engine, Event, IdLimits, IdType, Identifier, Payload, Profile};

const DAY: i64 = 86_400_000;

fn engine(limits: IdLimits) -> Engine {
    Engine::builder()
        .shards(8)
        .queue_capacity(4)
        .lateness_ms(60 * DAY)
        .dedup_window_ms(60 * DAY)
        .id_limits(limits)
        .build()
        .unwrap()
}

/// Profiles keyed by primary id, without the stable key (it names the identifier a contact was
/// created with, which depends on which thread got there first).
fn comparable(mut v: Vec<Profile>) -> Vec<Profile> {
    for p in &mut v {
        p.key.clear();
    }
    v
}

fn ingest_split(engine: &Engine, events: &[Event], threads: usize) {
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for e in events.iter().skip(t).step_by(threads) {
                    engine.ingest(e.clone()).unwrap();
                }
            });
        }
    });
    engine.flush();
}

#[test]
fn simulated_stream_on_four_threads_equals_one() {
    let events: Vec<Event> = Simulation::new(SimConfig {
        contacts: 3000,
        days: 20,
        seed: 11,
        brands: 3,
    })
    .map(|l| decode_line(&l).unwrap())
    .collect();
    let one = engine(IdLimits::default());
    for e in &events {
        one.ingest(e.clone()).unwrap();
    }
    one.flush();
    let four = engine(IdLimits::default());
    ingest_split(&four, &events, 4);
    assert!(one.stats().merges > 100, "the stream has merges");
    assert_eq!(one.stats().accepted, four.stats().accepted);
    assert_eq!(one.stats().duplicates, four.stats().duplicates);
    let (a, b) = (comparable(one.profiles()), comparable(four.profiles()));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
}

/// A tiny identifier universe makes nearly every event link or merge contacts, so threads race
/// on the same contacts and merges cross shards all the time. Without limits, the final
/// contacts are the connected components of the identifier graph whatever the order.
#[test]
fn racing_merges_lose_nothing() {
    let mut x: u64 = 0x1234_5678;
    let mut rnd = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let start = 1_772_323_200_000i64;
    let events: Vec<Event> = (0..20_000i64)
        .map(|i| {
            let payload = match rnd(4) {
                0 => Payload::Purchase {
                    order: format!("o{i}").into(),
                    amount: tropa::Money(1_000_000 * (1 + rnd(100) as i64)),
                    currency: None,
                    items: vec![],
                },
                1 => Payload::CartAdd {
                    product: format!("p{}", rnd(5)).into(),
                    qty: 1,
                    price: Some(tropa::Money(2_000_000)),
                    category: None,
                },
                2 => Payload::Consent {
                    topic: "email".into(),
                    granted: rnd(2) == 0,
                },
                _ => Payload::Identify,
            };
            let mut e = Event::new(start + i * 1000, payload).with_brand("shop-a");
            e = e
                .with_id(IdType::Cookie, &format!("c{}", rnd(400)))
                .unwrap();
            if rnd(3) == 0 {
                e = e
                    .with_id(IdType::Email, &format!("u{}@x", rnd(150)))
                    .unwrap();
            }
            if rnd(4) == 0 {
                e = e
                    .with_id(IdType::Device, &format!("d{}", rnd(150)))
                    .unwrap();
            }
            e
        })
        .collect();
    let one = engine(IdLimits::unlimited());
    for e in &events {
        one.ingest(e.clone()).unwrap();
    }
    one.flush();
    for threads in [2, 4, 8] {
        let many = engine(IdLimits::unlimited());
        ingest_split(&many, &events, threads);
        eprintln!(
            "{threads} threads: {} identity changes queued for another thread",
            many.stats().queued
        );
        let (a, b) = (comparable(one.profiles()), comparable(many.profiles()));
        assert_eq!(a, b, "{threads} threads");
        let total: u64 = b.iter().map(|p| p.events).sum();
        assert_eq!(
            total,
            events.len() as u64,
            "every event is in exactly one profile"
        );
        // Every identifier leads to the profile that lists it.
        for p in &b {
            for (kind, values) in &p.ids {
                for v in values {
                    let id = Identifier::new(IdType::parse(kind).unwrap(), v).unwrap();
                    assert_eq!(many.profile(&id).unwrap().id, p.id);
                }
            }
        }
    }
}

/// First events of new identifiers, each of one identifier, race on eight threads (every
/// thread sends every identifier, from its own place in the list): each identifier makes one
/// contact, counted as created once, that holds all of its events. Events of two identifiers,
/// which go through the writer section, are mixed in, so that changes queued for the writer
/// meet threads creating contacts beside it.
#[test]
fn racing_first_events_create_one_contact_each() {
    const N: usize = 3000;
    let start = 1_772_323_200_000i64;
    // Identifier k is a device when k ends in 1, else a cookie.
    let name = |k: usize| {
        let kind = if k % 10 == 1 {
            IdType::Device
        } else {
            IdType::Cookie
        };
        Identifier::new(kind, &format!("x{k}")).unwrap()
    };
    let event = |k: usize, i: usize| {
        let mut e = Event::new(start + i as i64, Payload::Identify);
        e.ids.push(name(k));
        if k.is_multiple_of(10) {
            // Joins x{k} and x{k+1}.
            e.ids.push(name(k + 1));
        }
        e
    };
    let engine = engine(IdLimits::unlimited());
    std::thread::scope(|s| {
        for t in 0..8 {
            let e = &engine;
            s.spawn(move || {
                for i in 0..N {
                    e.ingest(event((i + t * N / 8) % N, i)).unwrap();
                }
            });
        }
    });
    engine.flush();
    let joined = N / 10;
    let s = engine.stats();
    assert_eq!(s.accepted, 8 * N as u64);
    assert_eq!(
        s.contacts_created - s.merges,
        (N - joined) as u64,
        "each identifier alone, or pair joined, is one contact"
    );
    let profiles = engine.profiles();
    assert_eq!(profiles.len(), N - joined);
    for k in 0..N {
        let p = engine.profile(&name(k)).unwrap();
        let want = if k % 10 <= 1 { 8 * 2 } else { 8 };
        assert_eq!(p.events, want, "x{k}");
    }
}

#[test]
fn readers_run_while_writers_ingest() {
    let engine = engine(IdLimits::default());
    let lines: Vec<String> = Simulation::new(SimConfig {
        contacts: 1000,
        days: 10,
        seed: 3,
        brands: 2,
    })
    .collect();
    let events: Vec<Event> = lines.iter().map(|l| decode_line(l).unwrap()).collect();
    let probe = events[0].ids[0].clone();
    std::thread::scope(|s| {
        let e = &engine;
        let ev = &events;
        let writers: Vec<_> = (0..3)
            .map(|t| {
                s.spawn(move || {
                    for x in ev.iter().skip(t).step_by(3) {
                        e.ingest(x.clone()).unwrap();
                    }
                })
            })
            .collect();
        let probe = &probe;
        s.spawn(move || {
            let mut reads = 0;
            while reads < 2000 {
                if let Some(p) = e.profile(probe) {
                    assert!(p.events >= 1);
                }
                let _ = e.contact_count();
                reads += 1;
            }
        });
        for w in writers {
            w.join().unwrap();
        }
    });
    engine.flush();
    assert_eq!(
        engine.stats().accepted + engine.stats().duplicates,
        events.len() as u64
    );
}

/// With rules: four ingesting threads, a clock thread calling `advance_to` and a reader running
/// queries at the same time end with the same memberships and scores as one thread. (Sticky tags are history: with threads, the
/// instants a contact is evaluated at can differ, so they are left out of the comparison.)
#[test]
fn rules_on_four_threads_with_a_concurrent_reader_equal_one_thread() {
    let plan = tropa::rules::compile(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/rules/shop.tropa"
        ))
        .unwrap(),
    )
    .unwrap();
    let build = || {
        Engine::builder()
            .shards(8)
            .queue_capacity(8)
            .lateness_ms(60 * DAY)
            .dedup_window_ms(60 * DAY)
            .rules(plan.clone())
            .build()
            .unwrap()
    };
    let events: Vec<Event> = Simulation::new(SimConfig {
        contacts: 2000,
        days: 12,
        seed: 5,
        brands: 3,
    })
    .map(|l| decode_line(&l).unwrap())
    .collect();
    let one = build();
    for e in &events {
        one.ingest(e.clone()).unwrap();
    }
    let end = events.iter().map(|e| e.ts).max().unwrap() + 3 * DAY;
    one.advance_to(end);

    let four = build();
    let signals = four.subscribe(1 << 10);
    let done = std::sync::atomic::AtomicBool::new(false);
    let writing = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|s| {
        let (engine, events, done) = (&four, &events, &done);
        let drainer = s.spawn(move || {
            let mut n = 0u64;
            loop {
                match signals.recv_timeout(std::time::Duration::from_millis(20)) {
                    Ok(_) => n += 1,
                    Err(_) if done.load(std::sync::atomic::Ordering::Acquire) => return n,
                    Err(_) => {}
                }
            }
        });
        let reader = s.spawn(move || {
            let mut queries = 0u64;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let _ = engine.segment_size("multi_brand");
                let _ = engine
                    .audience("repeat_buyer or not going_quiet")
                    .unwrap()
                    .count();
                let _ = engine.members("vip").unwrap().count();
                queries += 1;
            }
            queries
        });
        // A clock thread moves time on while the writers ingest; it never waits for them.
        let writing = &writing;
        let clock = s.spawn(move || {
            let mut ticks = 0u64;
            while writing.load(std::sync::atomic::Ordering::Acquire) {
                if let Some(now) = engine.now() {
                    engine.advance_to((now + 3_600_000).min(end));
                    ticks += 1;
                }
                std::thread::yield_now();
            }
            ticks
        });
        let writers: Vec<_> = (0..4)
            .map(|t| {
                s.spawn(move || {
                    for e in events.iter().skip(t).step_by(4) {
                        engine.ingest(e.clone()).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        writing.store(false, std::sync::atomic::Ordering::Release);
        assert!(clock.join().unwrap() > 0);
        engine.advance_to(end);
        engine.flush();
        done.store(true, std::sync::atomic::Ordering::Release);
        assert!(reader.join().unwrap() > 0);
        assert!(drainer.join().unwrap() > 0);
    });
    assert_eq!(one.memberships(), four.memberships());
    let strip = |v: Vec<Profile>| -> Vec<(String, i64, Vec<String>)> {
        v.into_iter().map(|p| (p.id, p.score, p.segments)).collect()
    };
    assert_eq!(strip(one.profiles()), strip(four.profiles()));
    assert!(one.segment_size("multi_brand").unwrap() > 0);
}
