//! The main job: simulate a month of a three-brand shop group's touchpoints (web, app, e-mail,
//! stores), replay them through tropa with the rules of `examples/rules/shop.tropa`, and show
//! what the profiles learned and how segments move, day by day and as time passes.
//!
//! `cargo run --release --example journeys [-- CONTACTS DAYS SEED]`

use std::collections::BTreeMap;
use std::time::Instant;
use tropa::event::time::{format_rfc3339, DAY};
use tropa::sim::{SimConfig, Simulation, START};
use tropa::{decode_line, Engine, Ingested, Profile, Signal, SignalKind};

const SHOWN: [(&str, &str); 9] = [
    ("cart_abandoned", "abandoned"),
    ("new_buyer", "new_buyer"),
    ("repeat_buyer", "repeat"),
    ("multi_brand", "multi_br"),
    ("app_regular", "app_reg"),
    ("store_visitor", "in_store"),
    ("going_quiet", "quiet"),
    ("vip", "vip"),
    ("sale_audience", "sale_aud"),
];

/// The segment added half way through the run.
const WINDOW_SHOPPERS: &str =
    "segment window_shoppers = count(product_view, 14d) >= 3 and purchases(30d) == 0";

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
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rules/shop.tropa");
    let shop_rules = std::fs::read_to_string(rules).expect("rules file");
    let plan = tropa::rules::compile(&shop_rules).expect("the shop rules compile");
    println!(
        "tropa: replaying {} days of touchpoints from {} people across {} brands\nrules: examples/rules/shop.tropa ({})\n",
        cfg.days,
        cfg.contacts,
        cfg.brands,
        plan.summary()
    );
    let engine = Engine::builder()
        .rules(plan)
        .build()
        .expect("default settings are valid");
    let signals = engine.subscribe(1 << 20);

    print!(
        "{:>10} {:>7} {:>8} {:>6} |",
        "day", "events", "contacts", "known"
    );
    for (_, short) in SHOWN {
        print!(" {short:>9}");
    }
    println!(" | {:>7} {:>6}", "enters", "exits");

    let started = Instant::now();
    let mut day_end = START + DAY;
    let mut events = 0u64;
    let mut total = 0u64;
    let mut per_day = (0u64, 0u64);
    let mut history: BTreeMap<String, Vec<Signal>> = BTreeMap::new();
    let mut merged_example = None;
    let drain = |per_day: &mut (u64, u64), history: &mut BTreeMap<String, Vec<Signal>>| {
        for s in signals.try_iter() {
            match &s.kind {
                SignalKind::Enter { .. } => per_day.0 += 1,
                SignalKind::Exit { .. } => per_day.1 += 1,
                _ => {}
            }
            history.entry(s.contact.clone()).or_default().push(s);
        }
    };
    let report_day = |engine: &Engine,
                      day_end: i64,
                      events: u64,
                      per_day: &mut (u64, u64),
                      history: &mut BTreeMap<String, Vec<Signal>>| {
        engine.advance_to(day_end - 1);
        drain(per_day, history);
        let profiles = engine.profiles();
        let known = profiles
            .iter()
            .filter(|p| {
                p.ids
                    .keys()
                    .any(|k| ["customer", "email", "phone", "loyalty"].contains(&k.as_str()))
            })
            .count();
        print!(
            "{:>10} {:>7} {:>8} {:>6} |",
            &format_rfc3339(day_end - DAY)[..10],
            events,
            profiles.len(),
            known
        );
        for (name, _) in SHOWN {
            print!(" {:>9}", engine.segment_size(name).unwrap_or(0));
        }
        println!(" | {:>7} {:>6}", per_day.0, per_day.1);
        *per_day = (0, 0);
    };
    // Half way through, marketing adds a segment to the running engine: it is backfilled from
    // each contact's timeline and kept up to date from then on.
    let change_at = START + i64::from(cfg.days / 2) * DAY;
    let mut changed = false;
    for line in Simulation::new(cfg) {
        let event = decode_line(&line).expect("the simulator writes valid events");
        while event.ts >= day_end {
            report_day(&engine, day_end, events, &mut per_day, &mut history);
            events = 0;
            day_end += DAY;
        }
        if !changed && event.ts >= change_at {
            changed = true;
            let t = Instant::now();
            let change = engine.load_rules(
                tropa::rules::compile(&format!("{shop_rules}\n{WINDOW_SHOPPERS}"))
                    .expect("the extra rule compiles"),
            );
            println!(
                "{:>10} rules changed while running: added {:?}, {} kept, {} term(s) backfilled for {} contacts in {:.1} ms; `window_shoppers` has {} members",
                "",
                change.added,
                change.kept.len(),
                change.rebuilt,
                change.contacts,
                t.elapsed().as_secs_f64() * 1e3,
                engine.segment_size("window_shoppers").unwrap_or(0)
            );
        }
        events += 1;
        total += 1;
        if let Ok(Ingested::Applied {
            contact, merged, ..
        }) = engine.ingest(event)
        {
            if !merged.is_empty() {
                merged_example = Some(contact);
            }
        }
    }
    report_day(&engine, day_end, events, &mut per_day, &mut history);
    // Two weeks with no traffic: time alone moves people (carts expire, buyers go quiet).
    println!("\n… two quiet weeks later (no events, only time):");
    for _ in 0..2 {
        day_end += 7 * DAY;
        report_day(&engine, day_end, 0, &mut per_day, &mut history);
    }
    let elapsed = started.elapsed();

    let profiles = engine.profiles();
    let stats = engine.stats();
    println!(
        "\n{total} events in {:.2} s ({:.0} events/s with JSON decoding, rules and the daily reports); {} signals",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        engine.signals_emitted()
    );
    println!(
        "{} contacts created, {} merged into another, {} live",
        stats.contacts_created,
        stats.merges,
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
    let tagged = engine.tagged("bargain_hunter").count();
    let audience = engine
        .audience("multi_brand and not going_quiet and tag(\"bargain_hunter\")")
        .expect("a valid audience");
    println!(
        "`window_shoppers` (added on day {}): {} members",
        cfg.days / 2 + 1,
        engine.segment_size("window_shoppers").unwrap_or(0)
    );
    println!(
        "\n{tagged} bargain hunters (sticky tag); audience `multi_brand and not going_quiet and tag(\"bargain_hunter\")`: {} contacts",
        audience.total()
    );

    // One person's journey, as the signals told it.
    let busiest = history
        .iter()
        .filter(|(_, v)| v.len() >= 4 && v.len() <= 12)
        .max_by_key(|(_, v)| v.len());
    if let Some((who, sigs)) = busiest {
        println!("\nthe journey of {who}, as marketing automation saw it:");
        for s in sigs {
            let what = match &s.kind {
                SignalKind::Enter { segment } => format!("enter {segment}"),
                SignalKind::Exit { segment, reason } => {
                    format!("exit  {segment} ({})", reason.as_str())
                }
                SignalKind::Tagged { tag } => format!("tag   {tag}"),
                SignalKind::Merged { from } => format!("merged with {from}"),
                _ => "other".into(),
            };
            println!("  {}  {what}", format_rfc3339(s.at));
        }
    }
    if let Some(c) = merged_example.and_then(|c| engine.profile_of(c)) {
        println!("\none person seen as several visitors, now one profile:");
        let mut short: Profile = c.clone();
        short.last_events.truncate(3);
        println!("{}", serde_json::to_string_pretty(&short).unwrap());
        if let Some(why) = engine
            .contact_of(&tropa::Identifier::parse_pair(&c.id).unwrap())
            .and_then(|id| engine.explain(id, "vip"))
        {
            println!("\nexplain(vip):\n{why}");
        }
    }
    let m = engine.memory();
    println!(
        "memory: {} contacts, {} identifiers, {} remembered event ids; state {:.0} B/contact, identity {:.0} B/contact",
        m.contacts,
        m.identifiers,
        m.dedup_ids,
        m.state_bytes as f64 / m.contacts.max(1) as f64,
        m.identity_bytes as f64 / m.contacts.max(1) as f64
    );
}
