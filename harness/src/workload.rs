//! The workload: a multi-brand, multi-channel month of touchpoints for a population, in time
//! order, as compact records that every contender reads (tropa gets them as typed events or
//! JSON lines; the baselines read the records directly, already keyed by contact).
//!
//! Each person has a home brand (and a one-in-five chance per session of visiting another),
//! an activity level (a fifth are heavy users with about three sessions a week, the rest about
//! one every ten days), and sessions of one of five shapes: browsing (page and product views,
//! some at a discount), carting (views then a cart add, bought one time in five within the
//! hour), e-mail (an open, sometimes a click), app (a session with a duration) and store (a
//! beacon in one of five zones, sometimes a purchase at the till). Every event carries one
//! identifier, `customer:N`, so the baselines need no identity resolution: tropa still resolves
//! it, which is part of its measured cost.

use tropa::event::time::{DAY, HOUR, MINUTE, SECOND};
use tropa::{Channel, Event, IdType, Kind, Money, Payload};

/// 2026-03-01T00:00:00Z.
pub const START: i64 = 1_772_323_200_000;

pub const BRANDS: [&str; 3] = ["shop-a", "shop-b", "shop-c"];
pub const ZONES: [&str; 5] = ["z0", "z1", "z2", "z3", "z4"];

/// One touchpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rec {
    pub ts: i64,
    pub contact: u32,
    pub kind: Kind,
    pub channel: Channel,
    pub brand: u8,
    /// Purchase amount or cart price in millionths; session or dwell time in ms.
    pub value: i64,
    /// Product-view discount in percent (0 = none).
    pub discount: u8,
    pub zone: u8,
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The month's records, sorted by time (ties by contact).
pub fn generate(contacts: u32, days: u32, seed: u64) -> Vec<Rec> {
    let mut out = Vec::new();
    let span = i64::from(days) * DAY;
    for c in 0..contacts {
        let mut rng = Rng(seed ^ (u64::from(c) << 20) ^ 0x5eed);
        let home = (rng.below(3)) as u8;
        let heavy = rng.chance(20);
        // Sessions per 30 days.
        let rate = if heavy { 13 } else { 3 };
        let sessions = 1 + rng.below(2 * rate * u64::from(days) / 30 + 1);
        for _ in 0..sessions {
            let at = START + rng.below(span as u64) as i64;
            let brand = if rng.chance(20) {
                rng.below(3) as u8
            } else {
                home
            };
            session(&mut rng, c, brand, at, &mut out);
        }
    }
    out.retain(|r| r.ts < START + span);
    out.sort_unstable_by_key(|r| (r.ts, r.contact));
    out
}

fn session(rng: &mut Rng, contact: u32, brand: u8, at: i64, out: &mut Vec<Rec>) {
    let mut t = at;
    let mut push = |kind, channel, value, discount, zone, t: &mut i64, rng: &mut Rng| {
        out.push(Rec {
            ts: *t,
            contact,
            kind,
            channel,
            brand,
            value,
            discount,
            zone,
        });
        *t += SECOND * (5 + rng.below(90) as i64);
    };
    let price = |rng: &mut Rng| (20 + rng.below(480) as i64) * 1_000_000;
    match rng.below(100) {
        0..=39 => {
            for _ in 0..1 + rng.below(3) {
                push(Kind::PageView, Channel::Web, 0, 0, 0, &mut t, rng);
            }
            for _ in 0..rng.below(4) {
                let d = [0, 0, 0, 30, 50][rng.below(5) as usize];
                push(
                    Kind::ProductView,
                    Channel::Web,
                    price(rng),
                    d,
                    0,
                    &mut t,
                    rng,
                );
            }
        }
        40..=59 => {
            push(
                Kind::ProductView,
                Channel::Web,
                price(rng),
                0,
                0,
                &mut t,
                rng,
            );
            let p = price(rng);
            push(Kind::CartAdd, Channel::Web, p, 0, 0, &mut t, rng);
            if rng.chance(20) {
                t += MINUTE * rng.below(60) as i64;
                push(Kind::Purchase, Channel::Web, p, 0, 0, &mut t, rng);
            }
        }
        60..=74 => {
            push(Kind::EmailOpen, Channel::Email, 0, 0, 0, &mut t, rng);
            if rng.chance(40) {
                push(Kind::EmailClick, Channel::Email, 0, 0, 0, &mut t, rng);
            }
        }
        75..=89 => {
            let d = MINUTE * (1 + rng.below(40) as i64);
            push(Kind::AppSession, Channel::App, d, 0, 0, &mut t, rng);
        }
        _ => {
            let zone = rng.below(ZONES.len() as u64) as u8;
            let dwell = MINUTE * (1 + rng.below(30) as i64);
            push(Kind::Beacon, Channel::Store, dwell, 0, zone, &mut t, rng);
            if rng.chance(30) {
                t += HOUR / 4;
                push(Kind::Purchase, Channel::Pos, price(rng), 0, 0, &mut t, rng);
            }
        }
    }
}

/// The record as a typed tropa event.
pub fn event(r: &Rec) -> Event {
    let product = || tropa::Text::from(format!("p-{}", r.value % 997));
    let payload = match r.kind {
        Kind::PageView => Payload::PageView {
            url: None,
            category: Some("shoes".into()),
        },
        Kind::ProductView => Payload::ProductView {
            product: product(),
            category: Some("shoes".into()),
            brand_name: None,
            price: Some(Money(r.value)),
            color: None,
            discount: (r.discount > 0).then(|| f64::from(r.discount) / 100.0),
        },
        Kind::CartAdd => Payload::CartAdd {
            product: product(),
            qty: 1,
            price: Some(Money(r.value)),
            category: None,
        },
        Kind::Purchase => Payload::Purchase {
            order: format!("o-{}-{}", r.contact, r.ts).into(),
            amount: Money(r.value),
            currency: None,
            items: Vec::new(),
        },
        Kind::EmailOpen | Kind::EmailClick => Payload::Campaign {
            kind: r.kind,
            campaign: Some("spring".into()),
        },
        Kind::AppSession => Payload::AppSession {
            duration: Some(r.value),
        },
        Kind::Beacon => Payload::Beacon {
            zone: ZONES[r.zone as usize].into(),
            duration: Some(r.value),
        },
        other => unreachable!("the workload has no {other}"),
    };
    let mut e = Event::new(r.ts, payload)
        .with_id(IdType::Customer, &r.contact.to_string())
        .expect("a customer number is a valid identifier")
        .with_channel(r.channel);
    e.brand = BRANDS[r.brand as usize].into();
    e
}

/// The record as a JSON line (SPEC 1), as a shop backend would send it.
pub fn json(r: &Rec) -> String {
    let head = format!(
        r#"{{"ts":{},"ids":{{"customer":"{}"}},"brand":"{}","channel":"{}","type":"{}""#,
        r.ts,
        r.contact,
        BRANDS[r.brand as usize],
        r.channel.as_str(),
        r.kind.as_str()
    );
    let money = |m: i64| m as f64 / 1e6;
    let tail = match r.kind {
        Kind::PageView => r#","category":"shoes""#.to_string(),
        Kind::ProductView if r.discount > 0 => format!(
            r#","product":"p-{}","category":"shoes","price":{},"discount":{}"#,
            r.value % 997,
            money(r.value),
            f64::from(r.discount) / 100.0
        ),
        Kind::ProductView => format!(
            r#","product":"p-{}","category":"shoes","price":{}"#,
            r.value % 997,
            money(r.value)
        ),
        Kind::CartAdd => format!(
            r#","product":"p-{}","qty":1,"price":{}"#,
            r.value % 997,
            money(r.value)
        ),
        Kind::Purchase => format!(
            r#","order":"o-{}-{}","amount":{}"#,
            r.contact,
            r.ts,
            money(r.value)
        ),
        Kind::EmailOpen | Kind::EmailClick => r#","campaign":"spring""#.to_string(),
        Kind::AppSession => format!(r#","duration":{}"#, r.value as f64 / 1000.0),
        Kind::Beacon => format!(
            r#","zone":"{}","duration":{}"#,
            ZONES[r.zone as usize],
            r.value as f64 / 1000.0
        ),
        _ => String::new(),
    };
    format!("{head}{tail}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_typed_events_agree() {
        let recs = generate(200, 30, 1);
        assert!(recs.windows(2).all(|w| w[0].ts <= w[1].ts));
        for r in recs.iter().take(2000) {
            let decoded = tropa::decode_line(&json(r)).unwrap();
            assert_eq!(decoded, event(r), "{}", json(r));
        }
    }
}
