//! The main job: simulate a month of a three-brand shop group's touchpoints (web, app, e-mail,
//! stores), replay them through tropa day by day, and show what the profiles learned.
//!
//! `cargo run --release --example journeys [-- CONTACTS DAYS SEED]`

use std::collections::BTreeMap;
use std::time::Instant;
use tropa::event::time::{format_rfc3339, DAY};
use tropa::sim::{SimConfig, Simulation, START};
use tropa::{decode_line, Engine, Ingested, Profile};

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let cfg = SimConfig {
        contacts: arg(1, 20_000) as u32,
        days: arg(2, 30) as u32,
        seed: arg(3, 2026),
        brands: 3,
    };
    println!(
        "tropa: replaying {} days of touchpoints from {} people across {} brands\n",
        cfg.days, cfg.contacts, cfg.brands
    );
    let engine = Engine::builder()
        .build()
        .expect("default settings are valid");
    println!(
        "{:>10} {:>8} {:>6} {:>7} {:>8} {:>8} {:>7} | {:>9} {:>10} {:>13} {:>8} {:>9}",
        "day",
        "events",
        "dupes",
        "rejects",
        "contacts",
        "known",
        "merges",
        "anonymous",
        "monitored",
        "in_purchase",
        "post_buy",
        "dormant"
    );
    let started = Instant::now();
    let mut day_end = START + DAY;
    let (mut events, mut dupes, mut late, mut total) = (0u64, 0u64, 0u64, 0u64);
    let mut merged_example = None;
    let report_day = |engine: &Engine, day_end: i64, events, dupes, late| {
        engine.advance_to(day_end - 1);
        engine.flush();
        let profiles = engine.profiles();
        let mut stages: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &profiles {
            *stages.entry(p.stage.as_str()).or_default() += 1;
        }
        let known = profiles
            .iter()
            .filter(|p| {
                p.ids
                    .keys()
                    .any(|k| ["customer", "email", "phone", "loyalty"].contains(&k.as_str()))
            })
            .count();
        let s = |k| stages.get(k).copied().unwrap_or(0);
        println!(
            "{:>10} {:>8} {:>6} {:>7} {:>8} {:>8} {:>7} | {:>9} {:>10} {:>13} {:>8} {:>9}",
            &format_rfc3339(day_end - DAY)[..10],
            events,
            dupes,
            late,
            profiles.len(),
            known,
            engine.stats().merges,
            s("anonymous"),
            s("monitored"),
            s("in_purchase"),
            s("post_purchase"),
            s("dormant"),
        );
    };
    for line in Simulation::new(cfg) {
        let event = decode_line(&line).expect("the simulator writes valid events");
        while event.ts >= day_end {
            report_day(&engine, day_end, events, dupes, late);
            (events, dupes, late) = (0, 0, 0);
            day_end += DAY;
        }
        events += 1;
        total += 1;
        match engine.ingest(event) {
            Ok(Ingested::Duplicate) => dupes += 1,
            Ok(Ingested::Applied {
                contact, merged, ..
            }) if !merged.is_empty() => {
                merged_example = Some(contact);
            }
            Ok(_) => {}
            Err(_) => late += 1,
        }
    }
    report_day(&engine, day_end, events, dupes, late);
    let elapsed = started.elapsed();

    let profiles = engine.profiles();
    let stats = engine.stats();
    println!(
        "\n{total} events in {:.2} s ({:.0} events/s including JSON decoding and the daily reports)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "{} contacts created, {} merged into another ({} identity conflicts), {} live",
        stats.contacts_created,
        stats.merges,
        stats.conflicts,
        profiles.len()
    );

    let mut by_brand: BTreeMap<&str, (u64, f64, usize)> = BTreeMap::new();
    for p in &profiles {
        for (b, v) in &p.brands {
            let e = by_brand.entry(b).or_default();
            e.0 += v.purchases;
            e.1 += v.revenue;
            e.2 += 1;
        }
    }
    println!("\nper brand: active contacts, orders, net revenue");
    for (b, (orders, revenue, people)) in &by_brand {
        println!("  {b:8} {people:>8} {orders:>8} {revenue:>14.2}");
    }
    let multi = profiles.iter().filter(|p| p.brands.len() >= 2).count();
    let channels = profiles.iter().filter(|p| p.channels.len() >= 3).count();
    let buyers: Vec<&Profile> = profiles.iter().filter(|p| p.purchases > 0).collect();
    let repeat = buyers.iter().filter(|p| p.purchases >= 2).count();
    println!(
        "\n{multi} people shop with two or more brands; {channels} reached us on three or more channels"
    );
    println!(
        "{} buyers, {} of them repeat buyers; {} carts left open",
        buyers.len(),
        repeat,
        profiles.iter().filter(|p| p.cart_items > 0).count()
    );

    if let Some(c) = merged_example.and_then(|c| engine.profile_of(c)) {
        println!("\none person seen as several visitors, now one profile:");
        let mut short = c.clone();
        short.last_events.truncate(4);
        println!("{}", serde_json::to_string_pretty(&short).unwrap());
    }
    let m = engine.memory();
    println!(
        "\nmemory: {} contacts, {} identifiers, {} remembered event ids; state {:.0} B/contact, identity {:.0} B/contact",
        m.contacts,
        m.identifiers,
        m.dedup_ids,
        m.state_bytes as f64 / m.contacts.max(1) as f64,
        m.identity_bytes as f64 / m.contacts.max(1) as f64
    );
}
