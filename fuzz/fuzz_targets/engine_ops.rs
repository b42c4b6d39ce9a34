//! Engine operations against the reference model: bytes become a stream of events (a small
//! identifier universe, so links, merges and conflicts are common; late and duplicate events;
//! erasures), clock jumps and rule changes; after each flush the engine's profiles must equal
//! the model's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use settings::HOUR;
use tropa::{Engine, Event, IdType, Money, Payload};

#[allow(unreachable_pub)]
#[path = "../../tests/common/model.rs"]
mod model;

#[allow(unreachable_pub, dead_code)]
#[path = "../../tests/common/settings.rs"]
mod settings;

const MIN: i64 = 60_000;

const RULES: [&str; 3] = [
    "segment buyers = count(purchase) >= 1
segment carts = count(cart_add, 1h) >= 1 and since(purchase) > 30m
tag fans when count(page_view, 2h) >= 3
score purchase => 10
",
    "segment big = revenue() >= 100 and consent(\"news\")
segment browsing = count(product_view, 30m) >= 2 or cart_items > 0
segment lapsed = purchases() >= 1 and since(purchase) > 2h
score product_view where price >= 50 => 2 cap 6 per 1h
",
    "",
];

fn engine(rules: &str) -> Engine {
    settings::builder()
        .rules(tropa::rules::compile(rules).unwrap())
        .build()
        .unwrap()
}

fn model(rules: &str) -> model::Model {
    model::Model::with_rules(settings::model_config(), tropa::rules::compile(rules).unwrap())
}

fn event(clock: i64, a: u8, b: u8, c: u8) -> Event {
    let ts = clock + (i64::from(a % 80) - 70) * MIN; // some late, some beyond the bound
    let product = format!("p{}", c % 3);
    let money = Money::from_f64(f64::from(c % 4) * 40.0);
    let payload = match c % 8 {
        0 => Payload::PageView { url: None, category: None },
        1 => Payload::ProductView {
            product: product.into(),
            category: None,
            brand_name: None,
            price: money,
            color: None,
            discount: None,
        },
        2 => Payload::CartAdd { product: product.into(), qty: 1 + u32::from(a % 2), price: money, category: None },
        3 => Payload::CartRemove { product: product.into(), qty: 1, price: None, category: None },
        4 => Payload::Purchase { order: format!("o{a}").into(), amount: money.unwrap_or_default(), currency: None, items: vec![] },
        5 => Payload::Refund { order: format!("o{a}").into(), amount: money.unwrap_or_default() },
        6 => Payload::Consent { topic: "news".into(), granted: a.is_multiple_of(2) },
        _ => Payload::Identify,
    };
    let mut e = Event::new(ts, payload).with_brand(["", "shop-a", "shop-b"][usize::from(b % 3)]);
    e = e.with_id(IdType::Cookie, &format!("c{}", b % 6)).unwrap();
    if b & 0x40 != 0 {
        e = e.with_id(IdType::Email, &format!("e{}@x.pl", c % 4)).unwrap();
    }
    if b & 0x80 != 0 {
        e = e.with_id(IdType::Customer, &format!("k{}", a % 3)).unwrap();
    }
    if a & 1 == 1 {
        e = e.with_event_id(&format!("ev{}", c % 5));
    }
    e
}

fn same(engine: &Engine, model: &mut model::Model) {
    engine.flush();
    model.flush();
    assert_eq!(engine.profiles(), model.profiles());
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, ops)) = data.split_first() else {
        return;
    };
    let rules = RULES[usize::from(pick) % RULES.len()];
    let engine = engine(rules);
    let mut model = model(rules);
    let mut clock = 1_772_323_200_000i64;
    for op in ops.chunks_exact(4).take(200) {
        let (a, b, c) = (op[1], op[2], op[3]);
        match op[0] % 16 {
            0..=9 => {
                let e = event(clock, a, b, c);
                clock = clock.max(e.ts);
                model.ingest(&e);
                let _ = engine.ingest(e);
            }
            10 | 11 => clock += i64::from(a) * MIN,
            12 => {
                clock += i64::from(a) * HOUR / 4;
                engine.advance_to(clock);
                model.advance_to(clock);
            }
            13 => {
                let e = Event::new(clock, Payload::Erase)
                    .with_id(IdType::Cookie, &format!("c{}", b % 6))
                    .unwrap();
                model.ingest(&e);
                let _ = engine.ingest(e);
            }
            14 => {
                let text = RULES[usize::from(a) % RULES.len()];
                engine.load_rules(tropa::rules::compile(text).unwrap());
                model.load_rules(tropa::rules::compile(text).unwrap());
            }
            _ => same(&engine, &mut model),
        }
    }
    same(&engine, &mut model);
});
