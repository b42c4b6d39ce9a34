//! Proptest strategies: small identifier universes (so that links, merges and conflicts are
//! frequent), jittered times (late and out-of-order events), reused event ids (duplicates),
//! erasures and time jumps.

#![allow(dead_code)]

use proptest::prelude::*;
use tropa::{Channel, Event, IdType, Identifier, Item, Kind, Money, Payload, Value};

#[derive(Debug, Clone)]
pub enum Step {
    Ingest(Box<Event>),
    AdvanceTo(i64),
}

const MIN: i64 = 60_000;

fn id_strategy() -> impl Strategy<Value = Identifier> {
    prop_oneof![
        4 => (0..6u8).prop_map(|i| (IdType::Cookie, format!("c{i}"))),
        2 => (0..3u8).prop_map(|i| (IdType::Device, format!("d{i}"))),
        3 => (0..4u8).prop_map(|i| (IdType::Email, format!("E{i}@x.com"))),
        2 => (0..3u8).prop_map(|i| (IdType::Customer, format!("{i}"))),
        1 => (0..2u8).prop_map(|i| (IdType::Loyalty, format!("L{i}"))),
        1 => (0..2u8).prop_map(|i| (IdType::Custom("crm".into()), format!("k{i}"))),
    ]
    .prop_map(|(k, v)| Identifier::new(k, &v).unwrap())
}

fn ids_strategy() -> impl Strategy<Value = Vec<Identifier>> {
    prop::collection::vec(id_strategy(), 1..4).prop_map(|mut v| {
        // One identifier per type per event.
        let mut out: Vec<Identifier> = Vec::new();
        for i in v.drain(..) {
            if !out.iter().any(|o| o.kind == i.kind) {
                out.push(i);
            }
        }
        out
    })
}

fn small(prefix: &'static str, n: u8) -> impl Strategy<Value = tropa::Text> {
    (0..n).prop_map(move |i| format!("{prefix}{i}").into())
}

fn money() -> impl Strategy<Value = Money> {
    (0..50_000i64).prop_map(|c| Money(c * 10_000))
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        3 => small("cat", 3).prop_map(|c| Payload::PageView { url: None, category: Some(c) }),
        3 => (small("p", 4), prop::option::of(money()), prop::option::of(0.0..=1.0f64)).prop_map(
            |(product, price, discount)| Payload::ProductView {
                product, category: None, brand_name: None, price, color: None, discount
            }
        ),
        4 => (small("p", 4), 1..4u32, prop::option::of(money())).prop_map(|(product, qty, price)| {
            Payload::CartAdd { product, qty, price, category: None }
        }),
        2 => (small("p", 4), 1..4u32).prop_map(|(product, qty)| Payload::CartRemove {
            product, qty, price: None, category: None
        }),
        3 => (small("o", 6), money()).prop_map(|(order, amount)| Payload::Purchase {
            order, amount, currency: None,
            items: vec![Item { product: Some("p1".into()), category: None, qty: 1, price: None }],
        }),
        1 => (small("o", 6), money()).prop_map(|(order, amount)| Payload::Refund { order, amount }),
        2 => (small("t", 2), any::<bool>()).prop_map(|(topic, granted)| Payload::Consent { topic, granted }),
        2 => (small("a", 2), prop::option::of(prop_oneof![
                any::<bool>().prop_map(Value::Bool),
                (0..100i32).prop_map(|n| Value::Num(f64::from(n))),
                small("v", 3).prop_map(Value::Str),
            ])).prop_map(|(k, v)| Payload::Attribute { set: vec![(k, v)] }),
        2 => (small("tag", 3), any::<bool>()).prop_map(|(t, add)| if add {
                Payload::Tag { add: vec![t], remove: vec![] }
            } else {
                Payload::Tag { add: vec![], remove: vec![t] }
            }),
        2 => Just(Payload::Identify),
        1 => prop::option::of(small("cmp", 2)).prop_map(|campaign| Payload::Campaign {
            kind: Kind::EmailClick, campaign
        }),
        1 => prop::option::of(0..10_000i64).prop_map(|duration| Payload::AppSession { duration }),
        1 => small("z", 2).prop_map(|zone| Payload::Beacon { zone, duration: Some(1000) }),
        1 => small("name", 2).prop_map(|name| Payload::Custom { name, props: vec![] }),
        1 => Just(Payload::Erase),
    ]
}

fn channel() -> impl Strategy<Value = Channel> {
    prop::sample::select(Channel::ALL)
}

/// One step; `clock` is the generator's notion of time, moved by `advance` (minutes).
fn step_parts() -> impl Strategy<
    Value = (
        i64,
        i64,
        Option<u8>,
        Vec<Identifier>,
        u8,
        Channel,
        Payload,
        bool,
        i64,
    ),
> {
    (
        0..40i64,                  // minutes the clock moves before this step
        -90..5i64,                 // offset of the event from the clock, minutes (some late)
        prop::option::of(0..12u8), // event id from a small pool (duplicates)
        ids_strategy(),
        0..3u8, // brand
        channel(),
        payload(),
        prop::bool::weighted(0.05), // a time jump instead of an event
        0..(3 * 24 * 60i64),        // size of the jump, minutes
    )
}

/// A stream of steps with absolute times starting at `start`.
pub fn steps(max: usize) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step_parts(), 1..max).prop_map(|parts| {
        let mut clock = 1_772_323_200_000i64;
        parts
            .into_iter()
            .map(
                |(adv, off, eid, ids, brand, channel, payload, jump, size)| {
                    clock += adv * MIN;
                    if jump {
                        clock += size * MIN;
                        return Step::AdvanceTo(clock);
                    }
                    let brand = ["", "shop-a", "shop-b"][brand as usize];
                    // Mostly on the minute grid, so that equal times (arrival order decides) and events
                    // exactly at the lateness bound are common; now and then a few ms off it.
                    let noise = if adv % 4 == 0 { adv } else { 0 };
                    let mut e = Event::new(clock + off * MIN + noise, payload)
                        .with_brand(brand)
                        .with_channel(channel);
                    e.ids = ids.into_iter().collect();
                    if let Some(i) = eid {
                        e = e.with_event_id(&format!("ev{i}"));
                    }
                    Step::Ingest(Box::new(e))
                },
            )
            .collect()
    })
}
