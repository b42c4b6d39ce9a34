//! A realistic multi-brand, multi-channel touchpoint stream, for examples, tests and
//! benchmarks (`tropa simulate`).
//!
//! The journeys follow what shops describe: people arrive as anonymous web visitors (a cookie,
//! sometimes a second one later), many reveal an e-mail address by signing up or logging in,
//! some also use the app on a phone (a device id, linked at login), loyalty-card holders shop
//! in stores where beacons and geofences see them, carts are abandoned or bought, some orders
//! are refunded days later, consents are granted and withdrawn, the CRM tags people and sets
//! attributes, and a share of people go quiet for good. About 1 % of app events arrive up to
//! 20 minutes late (offline phones syncing) and about 0.5 % of events are sent twice with the
//! same id (client retries); otherwise lines are in time order.
//!
//! The stream depends only on the settings: the same seed gives the same bytes.
//!
//! ```
//! use tropa::sim::{SimConfig, Simulation};
//! let lines: Vec<String> = Simulation::new(SimConfig { contacts: 50, days: 3, seed: 7, brands: 2 })
//!     .collect();
//! assert!(lines.len() > 50);
//! assert!(lines.iter().all(|l| tropa::decode_line(l).is_ok()));
//! ```

use crate::event::time::{format_rfc3339, DAY, MINUTE, SECOND};
use std::fmt::Write as _;

/// Size and shape of a simulated stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    /// People in the population.
    pub contacts: u32,
    /// Days of activity.
    pub days: u32,
    /// Random seed.
    pub seed: u64,
    /// Brands (shops) of the group, at least 1.
    pub brands: u32,
}

/// 2026-03-01T00:00:00Z, the first simulated day.
pub const START: i64 = 1_772_323_200_000;

const CATEGORIES: [&str; 8] = [
    "shoes",
    "dresses",
    "bags",
    "cosmetics",
    "electronics",
    "home",
    "sport",
    "kids",
];
const CITIES: [&str; 6] = [
    "Kraków", "Warszawa", "Gdańsk", "Budapest", "Debrecen", "Wrocław",
];
const PRODUCTS: u32 = 400;
const STORES: u32 = 25;

/// SplitMix64: small, fast, and the same everywhere.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

#[derive(Debug, Clone)]
struct Person {
    activity: f64,
    quiet_from: u32,
    identify_day: Option<u32>,
    identified: bool,
    cookie_gen: u32,
    app: bool,
    app_linked: bool,
    customer: bool,
    loyalty: bool,
    phone: bool,
    brand: u32,
    second_brand: Option<u32>,
    store: u32,
    consent_email: bool,
    cart: Vec<(u32, u32)>,
    orders: u32,
    refunds: Vec<(u32, u32, i64)>,
}

/// An iterator over the JSON lines of a simulated stream, generated one day at a time.
#[derive(Debug)]
pub struct Simulation {
    cfg: SimConfig,
    rng: Rng,
    people: Vec<Person>,
    day: u32,
    next_event: u64,
    buffer: std::vec::IntoIter<String>,
}

/// One generated event before it is written: arrival time, order of generation, text.
struct Pending {
    arrival: i64,
    order: u64,
    line: String,
}

impl Simulation {
    /// A new stream.
    pub fn new(cfg: SimConfig) -> Simulation {
        let mut rng = Rng(cfg.seed ^ 0x0074_726F_7061);
        let brands = cfg.brands.max(1);
        let people = (0..cfg.contacts)
            .map(|_| {
                let heavy = rng.chance(0.15);
                Person {
                    activity: if heavy {
                        0.5
                    } else {
                        0.08 + rng.below(15) as f64 / 100.0
                    },
                    quiet_from: if rng.chance(0.25) {
                        rng.below(u64::from(cfg.days.max(1))) as u32
                    } else {
                        u32::MAX
                    },
                    identify_day: rng
                        .chance(0.6)
                        .then(|| rng.below(u64::from(cfg.days.max(1))) as u32),
                    identified: false,
                    cookie_gen: 0,
                    app: rng.chance(0.4),
                    app_linked: false,
                    customer: rng.chance(0.35),
                    loyalty: rng.chance(0.2),
                    phone: rng.chance(0.1),
                    brand: rng.below(u64::from(brands)) as u32,
                    second_brand: (brands > 1 && rng.chance(0.25))
                        .then(|| rng.below(u64::from(brands)) as u32),
                    store: rng.below(u64::from(STORES)) as u32,
                    consent_email: false,
                    cart: Vec::new(),
                    orders: 0,
                    refunds: Vec::new(),
                }
            })
            .collect();
        Simulation {
            cfg,
            rng,
            people,
            day: 0,
            next_event: 0,
            buffer: Vec::new().into_iter(),
        }
    }

    fn gen_day(&mut self) -> Vec<String> {
        let day = self.day;
        let day_start = START + i64::from(day) * DAY;
        let mut out: Vec<Pending> = Vec::new();
        for p in 0..self.people.len() {
            let mut person = self.people[p].clone();
            let mut g = Gen {
                rng: &mut self.rng,
                next_event: &mut self.next_event,
                out: &mut out,
                idx: p as u32,
                brands: self.cfg.brands.max(1),
            };
            g.person_day(&mut person, day, day_start);
            self.people[p] = person;
        }
        out.sort_by_key(|e| (e.arrival, e.order));
        out.into_iter().map(|e| e.line).collect()
    }
}

impl Iterator for Simulation {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            if let Some(l) = self.buffer.next() {
                return Some(l);
            }
            if self.day >= self.cfg.days {
                return None;
            }
            self.buffer = self.gen_day().into_iter();
            self.day += 1;
        }
    }
}

struct Gen<'a> {
    rng: &'a mut Rng,
    next_event: &'a mut u64,
    out: &'a mut Vec<Pending>,
    idx: u32,
    brands: u32,
}

/// The identifiers an event carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Web,
    WebLoggedIn,
    App,
    AppLoggedIn,
    Email,
    Store,
    Crm,
}

impl Gen<'_> {
    fn ids(&mut self, p: &Person, via: Via) -> String {
        let i = self.idx;
        let mut s = String::from("{");
        let add = |s: &mut String, k: &str, v: String| {
            if s.len() > 1 {
                s.push(',');
            }
            let _ = write!(s, "\"{k}\":\"{v}\"");
        };
        match via {
            Via::Web | Via::WebLoggedIn => {
                add(&mut s, "cookie", format!("c-{i}-{}", p.cookie_gen));
            }
            Via::App | Via::AppLoggedIn => add(&mut s, "device", format!("d-{i}")),
            _ => {}
        }
        let logged_in = matches!(via, Via::WebLoggedIn | Via::AppLoggedIn);
        if logged_in || via == Via::Email || via == Via::Crm {
            // Some systems send e-mails with capitals or spaces: the engine normalises them.
            let email = if self.rng.chance(0.1) {
                format!(" User{i}@Example.com")
            } else {
                format!("user{i}@example.com")
            };
            add(&mut s, "email", email);
        }
        if (logged_in || via == Via::Crm) && p.customer {
            add(&mut s, "customer", format!("cust-{i}"));
        }
        if via == Via::Store {
            if p.loyalty {
                add(&mut s, "loyalty", format!("L{i:07}"));
            } else if p.customer && p.identified {
                add(&mut s, "customer", format!("cust-{i}"));
            } else {
                add(&mut s, "device", format!("d-{i}"));
            }
        }
        if via == Via::Crm && p.phone {
            add(&mut s, "phone", format!("+48{:09}", i));
        }
        s.push('}');
        s
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(&mut self, p: &Person, via: Via, ts: i64, brand: u32, channel: &str, body: &str) {
        let ids = self.ids(p, via);
        let n = *self.next_event;
        *self.next_event += 1;
        let with_id = self.rng.chance(0.9);
        let id = if with_id {
            format!("\"id\":\"e-{n}\",")
        } else {
            String::new()
        };
        let late = matches!(via, Via::App | Via::AppLoggedIn) && self.rng.chance(0.01);
        let arrival = if late {
            ts + self.rng.range(MINUTE, 20 * MINUTE)
        } else {
            ts
        };
        let line = format!(
            "{{{id}\"ts\":\"{}\",\"ids\":{ids},\"brand\":\"shop-{}\",\"channel\":\"{channel}\",{body}}}",
            format_rfc3339(ts),
            (b'a' + brand as u8) as char
        );
        if with_id && self.rng.chance(0.005) {
            self.out.push(Pending {
                arrival: arrival + self.rng.range(SECOND, 30 * SECOND),
                order: n * 2 + 1,
                line: line.clone(),
            });
        }
        self.out.push(Pending {
            arrival,
            order: n * 2,
            line,
        });
    }

    fn product(&mut self) -> (u32, String) {
        let prod = self.rng.below(u64::from(PRODUCTS)) as u32;
        let category = CATEGORIES[(prod % CATEGORIES.len() as u32) as usize];
        let price = 20 + (prod * 37) % 480;
        (
            prod,
            format!("\"product\":\"p-{prod}\",\"category\":\"{category}\",\"price\":{price}"),
        )
    }

    fn person_day(&mut self, p: &mut Person, day: u32, day_start: i64) {
        if p.identify_day == Some(day) && !p.identified {
            let at = day_start + self.rng.range(8 * 3600, 20 * 3600) * SECOND;
            self.identify(p, at);
        }
        let quiet = day >= p.quiet_from;
        let refunds_due: Vec<(u32, u32, i64)> =
            p.refunds.iter().copied().filter(|r| r.0 == day).collect();
        p.refunds.retain(|r| r.0 != day);
        for (_, order, amount) in refunds_due {
            let ts = day_start + self.rng.range(9 * 3600, 17 * 3600) * SECOND;
            let body = format!(
                "\"type\":\"refund\",\"order\":\"o-{}-{order}\",\"amount\":{}.{:02}",
                self.idx,
                amount / 100,
                amount % 100
            );
            let via = if p.identified { Via::Crm } else { Via::Web };
            self.emit(p, via, ts, p.brand, "other", &body);
        }
        if quiet || !self.rng.chance(p.activity) {
            return;
        }
        if self.rng.chance(0.03) {
            p.cookie_gen += 1; // cleared cookies or a new browser
        }
        let mut t = day_start + self.rng.range(7 * 3600, 21 * 3600) * SECOND;
        let sessions = 1 + self.rng.below(2);
        for _ in 0..sessions {
            let brand = match p.second_brand {
                Some(b) if self.rng.chance(0.4) => b,
                _ => p.brand,
            };
            let r = self.rng.below(100);
            t = if r < 55 || !p.app {
                self.web_session(p, t, brand)
            } else if r < 80 {
                self.app_session(p, t, brand)
            } else {
                self.store_visit(p, t, brand)
            };
            t += self.rng.range(10, 240) * MINUTE;
        }
        if p.identified && p.consent_email && self.rng.chance(0.3) {
            self.campaign(p, t);
        }
        if p.identified && self.rng.chance(0.02) {
            let (k, v) = if self.rng.chance(0.5) {
                ("add", "newsletter_reader")
            } else {
                ("remove", "newsletter_reader")
            };
            let body = format!("\"type\":\"tag\",\"{k}\":[\"{v}\"]");
            self.emit(p, Via::Crm, t + MINUTE, p.brand, "other", &body);
        }
        if p.identified && p.consent_email && self.rng.chance(0.01) {
            p.consent_email = false;
            let body = "\"type\":\"consent\",\"topic\":\"email\",\"granted\":false";
            self.emit(p, Via::Email, t + 2 * MINUTE, p.brand, "email", body);
        }
    }

    fn identify(&mut self, p: &mut Person, ts: i64) {
        p.identified = true;
        let via = if p.app && self.rng.chance(0.4) {
            p.app_linked = true;
            Via::AppLoggedIn
        } else {
            Via::WebLoggedIn
        };
        let channel = if via == Via::AppLoggedIn {
            "app"
        } else {
            "web"
        };
        let form = if self.rng.chance(0.5) {
            "signup"
        } else {
            "login"
        };
        self.emit(
            p,
            via,
            ts,
            p.brand,
            channel,
            &format!("\"type\":\"form_submit\",\"form\":\"{form}\""),
        );
        self.emit(
            p,
            via,
            ts + 2 * SECOND,
            p.brand,
            channel,
            "\"type\":\"identify\"",
        );
        if self.rng.chance(0.7) {
            p.consent_email = true;
            self.emit(
                p,
                via,
                ts + 3 * SECOND,
                p.brand,
                channel,
                "\"type\":\"consent\",\"topic\":\"email\",\"granted\":true",
            );
        }
        let city = CITIES[self.rng.below(CITIES.len() as u64) as usize];
        let vip = self.rng.chance(0.05);
        let body = format!("\"type\":\"attribute\",\"set\":{{\"city\":\"{city}\",\"newsletter\":true,\"vip_candidate\":{vip}}}");
        self.emit(p, Via::Crm, ts + 4 * SECOND, p.brand, "other", &body);
    }

    fn web_session(&mut self, p: &mut Person, mut t: i64, brand: u32) -> i64 {
        let via = if p.identified && self.rng.chance(0.5) {
            Via::WebLoggedIn
        } else {
            Via::Web
        };
        let cat = CATEGORIES[self.rng.below(CATEGORIES.len() as u64) as usize];
        self.emit(
            p,
            via,
            t,
            brand,
            "web",
            &format!("\"type\":\"page_view\",\"url\":\"/c/{cat}\",\"category\":\"{cat}\""),
        );
        self.browse(p, via, &mut t, brand, "web");
        t
    }

    fn app_session(&mut self, p: &mut Person, mut t: i64, brand: u32) -> i64 {
        if p.identified && !p.app_linked && self.rng.chance(0.5) {
            p.app_linked = true;
            self.emit(
                p,
                Via::AppLoggedIn,
                t,
                brand,
                "app",
                "\"type\":\"identify\"",
            );
            t += 5 * SECOND;
        }
        let via = if p.app_linked && self.rng.chance(0.3) {
            Via::AppLoggedIn
        } else {
            Via::App
        };
        let start = t;
        self.emit(p, via, t, brand, "app", "\"type\":\"app_open\"");
        self.browse(p, via, &mut t, brand, "app");
        t += self.rng.range(5, 60) * SECOND;
        let secs = (t - start) / SECOND;
        self.emit(
            p,
            via,
            t,
            brand,
            "app",
            &format!("\"type\":\"app_session\",\"duration\":{secs}"),
        );
        t
    }

    fn browse(&mut self, p: &mut Person, via: Via, t: &mut i64, brand: u32, channel: &str) {
        for _ in 0..1 + self.rng.below(5) {
            *t += self.rng.range(10, 200) * SECOND;
            let (_, fields) = self.product();
            let discount = if self.rng.chance(0.25) {
                format!(",\"discount\":0.{}", 1 + self.rng.below(5))
            } else {
                String::new()
            };
            self.emit(
                p,
                via,
                *t,
                brand,
                channel,
                &format!("\"type\":\"product_view\",{fields}{discount}"),
            );
        }
        if self.rng.chance(0.25) {
            *t += self.rng.range(10, 120) * SECOND;
            let (prod, fields) = self.product();
            let qty = 1 + self.rng.below(2) as u32;
            p.cart.push((prod, qty));
            self.emit(
                p,
                via,
                *t,
                brand,
                channel,
                &format!("\"type\":\"cart_add\",{fields},\"qty\":{qty}"),
            );
        }
        if !p.cart.is_empty() && self.rng.chance(0.08) {
            *t += self.rng.range(10, 60) * SECOND;
            let (prod, _) = p.cart.remove(0);
            self.emit(
                p,
                via,
                *t,
                brand,
                channel,
                &format!("\"type\":\"cart_remove\",\"product\":\"p-{prod}\""),
            );
        }
        if !p.cart.is_empty() && self.rng.chance(0.35) {
            *t += self.rng.range(60, 600) * SECOND;
            self.checkout(p, via, *t, brand, channel);
        }
    }

    fn checkout(&mut self, p: &mut Person, via: Via, t: i64, brand: u32, channel: &str) {
        let mut items = String::new();
        let mut cents = 0i64;
        for (i, (prod, qty)) in p.cart.drain(..).enumerate() {
            let price = i64::from(20 + (prod * 37) % 480);
            cents += price * 100 * i64::from(qty);
            if i > 0 {
                items.push(',');
            }
            let cat = CATEGORIES[(prod % CATEGORIES.len() as u32) as usize];
            let _ = write!(items, "{{\"product\":\"p-{prod}\",\"category\":\"{cat}\",\"qty\":{qty},\"price\":{price}}}");
        }
        p.orders += 1;
        let order = p.orders;
        let body = format!(
            "\"type\":\"purchase\",\"order\":\"o-{}-{order}\",\"amount\":{}.{:02},\"currency\":\"PLN\",\"items\":[{items}]",
            self.idx,
            cents / 100,
            cents % 100
        );
        self.emit(p, via, t, brand, channel, &body);
        if self.rng.chance(0.05) {
            let day = ((t - START) / DAY) as u32 + 2 + self.rng.below(10) as u32;
            p.refunds.push((day, order, cents / 2));
        }
    }

    fn store_visit(&mut self, p: &mut Person, mut t: i64, brand: u32) -> i64 {
        let store = p.store;
        self.emit(
            p,
            Via::App,
            t,
            brand,
            "app",
            &format!("\"type\":\"geo\",\"place\":\"store-{store}\""),
        );
        t += self.rng.range(60, 600) * SECOND;
        for z in 0..1 + self.rng.below(3) {
            let dwell = self.rng.range(30, 900);
            self.emit(
                p,
                Via::App,
                t,
                brand,
                "store",
                &format!(
                    "\"type\":\"beacon\",\"zone\":\"store-{store}-z{z}\",\"duration\":{dwell}"
                ),
            );
            t += dwell * SECOND;
        }
        if self.rng.chance(0.4) {
            let (prod, _) = self.product();
            p.cart.push((prod, 1));
            self.checkout(p, Via::Store, t, brand, "pos");
        }
        t
    }

    fn campaign(&mut self, p: &mut Person, t: i64) {
        let c = format!("cmp-{}", self.rng.below(12));
        let brand = self.rng.below(u64::from(self.brands)) as u32;
        self.emit(
            p,
            Via::Email,
            t,
            brand,
            "email",
            &format!("\"type\":\"email_open\",\"campaign\":\"{c}\""),
        );
        if self.rng.chance(0.3) {
            self.emit(
                p,
                Via::Email,
                t + 40 * SECOND,
                brand,
                "email",
                &format!("\"type\":\"email_click\",\"campaign\":\"{c}\""),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_all_valid() {
        let cfg = SimConfig {
            contacts: 200,
            days: 5,
            seed: 42,
            brands: 3,
        };
        let a: Vec<String> = Simulation::new(cfg).collect();
        let b: Vec<String> = Simulation::new(cfg).collect();
        assert_eq!(a, b);
        let c: Vec<String> = Simulation::new(SimConfig { seed: 43, ..cfg }).collect();
        assert_ne!(a, c);
        let mut kinds = std::collections::BTreeSet::new();
        for l in &a {
            let e = crate::decode_line(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            kinds.insert(e.kind().as_str());
        }
        for k in [
            "purchase",
            "cart_add",
            "identify",
            "beacon",
            "geo",
            "app_session",
            "consent",
            "attribute",
        ] {
            assert!(kinds.contains(k), "{k} missing from {kinds:?}");
        }
    }
}
