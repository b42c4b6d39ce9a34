//! The reference model: a plain, slow, sequential restatement of SPEC 1–3, 5 and 7 that keeps
//! every accepted event per contact and recomputes each profile from scratch.

#![allow(dead_code)]

use std::collections::BTreeMap;
use tropa::{
    BrandView, CartLineView, Event, IdType, Identifier, Money, Payload, Profile, Stage,
    TimelineView, Ts, Value,
};

#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub lateness: i64,
    pub dedup_window: i64,
    pub limits: Vec<(IdType, usize)>,
    pub timeline_len: usize,
    pub dormancy: i64,
    pub post_purchase: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied {
        contact: u32,
        created: bool,
        merged: Vec<u32>,
        conflict: bool,
    },
    Duplicate,
    Late,
    Erased(usize),
}

#[derive(Clone, Debug)]
struct Contact {
    key: Identifier,
    ids: Vec<Identifier>,
    /// (event time, arrival sequence, event)
    events: Vec<(Ts, u64, Event)>,
}

#[derive(Clone, Debug)]
struct SeenId {
    id: String,
    ts: Ts,
    contact: Option<u32>,
}

pub struct Model {
    cfg: ModelConfig,
    now: Option<Ts>,
    seq: u64,
    contacts: Vec<Option<Contact>>,
    seen: Vec<SeenId>,
}

impl Model {
    pub fn new(cfg: ModelConfig) -> Model {
        Model {
            cfg,
            now: None,
            seq: 0,
            contacts: Vec::new(),
            seen: Vec::new(),
        }
    }

    pub fn now(&self) -> Option<Ts> {
        self.now
    }

    pub fn advance_to(&mut self, t: Ts) {
        self.now = Some(self.now.map_or(t, |n| n.max(t)));
    }

    fn owner(&self, id: &Identifier) -> Option<u32> {
        self.contacts
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.ids.contains(id)))
            .map(|i| i as u32)
    }

    fn breaks_limits(&self, ids: &[&Identifier]) -> bool {
        self.cfg.limits.iter().any(|(kind, max)| {
            let mut vals: Vec<&str> = ids
                .iter()
                .filter(|i| &i.kind == kind)
                .map(|i| &*i.value)
                .collect();
            vals.sort();
            vals.dedup();
            vals.len() > *max
        })
    }

    fn create(&mut self, ids: Vec<Identifier>) -> u32 {
        let key = ids.iter().min().unwrap().clone();
        self.contacts.push(Some(Contact {
            key,
            ids,
            events: Vec::new(),
        }));
        (self.contacts.len() - 1) as u32
    }

    pub fn ingest(&mut self, ev: &Event) -> Outcome {
        if let Some(id) = &ev.id {
            let fresh = self.seen.iter().any(|s| {
                *s.id == **id && self.now.is_none_or(|n| s.ts >= n - self.cfg.dedup_window)
            });
            if fresh {
                return Outcome::Duplicate;
            }
        }
        if let Some(n) = self.now {
            if ev.ts < n - self.cfg.lateness {
                return Outcome::Late;
            }
        }
        if let Payload::Erase = ev.payload {
            self.advance_to(ev.ts);
            let mut gone: Vec<u32> = ev.ids.iter().filter_map(|i| self.owner(i)).collect();
            gone.sort();
            gone.dedup();
            for &c in &gone {
                self.contacts[c as usize] = None;
            }
            self.seen
                .retain(|s| s.contact.is_none_or(|c| !gone.contains(&c)));
            return Outcome::Erased(gone.len());
        }
        if let Some(id) = &ev.id {
            self.seen.retain(|s| *s.id != **id);
        }
        self.advance_to(ev.ts);
        let seq = self.seq;
        self.seq += 1;

        // Identity, as SPEC 2 states it.
        let mut roots: Vec<u32> = ev.ids.iter().filter_map(|i| self.owner(i)).collect();
        roots.sort();
        roots.dedup();
        let unowned: Vec<Identifier> = ev
            .ids
            .iter()
            .filter(|i| self.owner(i).is_none())
            .cloned()
            .collect();
        let mut all: Vec<&Identifier> = roots
            .iter()
            .flat_map(|r| self.contacts[*r as usize].as_ref().unwrap().ids.iter())
            .collect();
        all.extend(unowned.iter());
        let conflict = self.breaks_limits(&all);
        let (target, created, merged) = if !conflict {
            if roots.is_empty() {
                (self.create(unowned.clone()), true, vec![])
            } else {
                let survivor = roots[0];
                for &r in &roots[1..] {
                    let gone = self.contacts[r as usize].take().unwrap();
                    let s = self.contacts[survivor as usize].as_mut().unwrap();
                    s.ids.extend(gone.ids);
                    s.events.extend(gone.events);
                    for seen in &mut self.seen {
                        if seen.contact == Some(r) {
                            seen.contact = Some(survivor);
                        }
                    }
                }
                let s = self.contacts[survivor as usize].as_mut().unwrap();
                s.ids.extend(unowned.iter().cloned());
                (survivor, false, roots[1..].to_vec())
            }
        } else {
            let top = ev.ids.iter().min().unwrap().clone();
            let (t, created) = match self.owner(&top) {
                Some(c) => (c, false),
                None => (self.create(vec![top.clone()]), true),
            };
            let mut rest = unowned.clone();
            rest.sort();
            for id in rest.into_iter().filter(|i| *i != top) {
                let mut with: Vec<&Identifier> = self.contacts[t as usize]
                    .as_ref()
                    .unwrap()
                    .ids
                    .iter()
                    .collect();
                with.push(&id);
                if !self.breaks_limits(&with) {
                    self.contacts[t as usize].as_mut().unwrap().ids.push(id);
                }
            }
            (t, created, vec![])
        };
        if let Some(id) = &ev.id {
            self.seen.push(SeenId {
                id: id.to_string(),
                ts: ev.ts,
                contact: Some(target),
            });
        }
        self.contacts[target as usize]
            .as_mut()
            .unwrap()
            .events
            .push((ev.ts, seq, ev.clone()));
        Outcome::Applied {
            contact: target,
            created,
            merged,
            conflict,
        }
    }

    pub fn profiles(&self) -> Vec<Profile> {
        let mut v: Vec<Profile> = self
            .contacts
            .iter()
            .flatten()
            .map(|c| self.profile(c))
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    fn profile(&self, c: &Contact) -> Profile {
        let mut evs: Vec<&(Ts, u64, Event)> = c.events.iter().collect();
        evs.sort_by_key(|(ts, seq, _)| (*ts, *seq));
        let mut ids = c.ids.clone();
        ids.sort();
        let mut id_map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for i in &ids {
            id_map
                .entry(i.kind.as_str().to_string())
                .or_default()
                .push(i.value.to_string());
        }
        let mut p = Profile {
            id: ids[0].to_string(),
            key: c.key.to_string(),
            ids: id_map,
            first_seen: evs.iter().map(|e| e.0).min().unwrap(),
            last_seen: evs.iter().map(|e| e.0).max().unwrap(),
            events: evs.len() as u64,
            purchases: 0,
            refunds: 0,
            revenue: 0.0,
            first_purchase: None,
            last_purchase: None,
            brands: BTreeMap::new(),
            channels: BTreeMap::new(),
            cart_items: 0,
            cart_value: 0.0,
            cart: vec![],
            score: 0,
            tags: vec![],
            segments: vec![],
            stage: Stage::Anonymous,
            consents: BTreeMap::new(),
            attributes: BTreeMap::new(),
            last_events: vec![],
        };
        let mut revenue = 0i64;
        let mut brand_rev: BTreeMap<String, i64> = BTreeMap::new();
        // product -> (qty, unit price); BTreeMap keeps products sorted.
        let mut cart: BTreeMap<String, (u64, Option<Money>)> = BTreeMap::new();
        let mut tags: BTreeMap<String, bool> = BTreeMap::new();
        let mut attrs: BTreeMap<String, Option<Value>> = BTreeMap::new();
        for (ts, _, e) in &evs {
            let ts = *ts;
            let ch = p
                .channels
                .entry(e.channel.as_str().to_string())
                .or_insert(ts);
            *ch = (*ch).max(ts);
            if !e.brand.is_empty() {
                let b = p.brands.entry(e.brand.to_string()).or_insert(BrandView {
                    purchases: 0,
                    revenue: 0.0,
                    last_seen: ts,
                });
                b.last_seen = b.last_seen.max(ts);
            }
            match &e.payload {
                Payload::Purchase { amount, .. } => {
                    p.purchases += 1;
                    revenue += amount.0;
                    p.first_purchase = Some(p.first_purchase.map_or(ts, |f| f.min(ts)));
                    p.last_purchase = Some(p.last_purchase.map_or(ts, |f| f.max(ts)));
                    if !e.brand.is_empty() {
                        p.brands.get_mut(&*e.brand).unwrap().purchases += 1;
                        *brand_rev.entry(e.brand.to_string()).or_default() += amount.0;
                    }
                    cart.clear();
                }
                Payload::Refund { amount, .. } => {
                    p.refunds += 1;
                    revenue -= amount.0;
                    if !e.brand.is_empty() {
                        *brand_rev.entry(e.brand.to_string()).or_default() -= amount.0;
                    }
                }
                Payload::CartAdd {
                    product,
                    qty,
                    price,
                    ..
                } => {
                    let line = cart.entry(product.to_string()).or_insert((0, None));
                    line.0 += u64::from(*qty);
                    if price.is_some() {
                        line.1 = *price;
                    }
                }
                Payload::CartRemove { product, qty, .. } => {
                    if let Some(line) = cart.get_mut(&**product) {
                        if line.0 <= u64::from(*qty) {
                            cart.remove(&**product);
                        } else {
                            line.0 -= u64::from(*qty);
                        }
                    }
                }
                Payload::Consent { topic, granted } => {
                    p.consents.insert(topic.to_string(), *granted);
                }
                Payload::Attribute { set } => {
                    for (k, v) in set {
                        attrs.insert(k.to_string(), v.clone());
                    }
                }
                Payload::Tag { add, remove } => {
                    for t in add {
                        tags.insert(t.to_string(), true);
                    }
                    for t in remove {
                        tags.insert(t.to_string(), false);
                    }
                }
                _ => {}
            }
        }
        p.revenue = Money(revenue).as_f64();
        for (b, r) in brand_rev {
            p.brands.get_mut(&b).unwrap().revenue = Money(r).as_f64();
        }
        let mut cart_value = 0i128;
        for (product, (qty, price)) in &cart {
            p.cart_items += qty;
            cart_value += i128::from(price.map_or(0, |m| m.0)) * i128::from(*qty);
            p.cart.push(CartLineView {
                product: product.clone(),
                qty: *qty,
                unit_price: price.map(|m| m.as_f64()),
            });
        }
        p.cart_value = Money(cart_value as i64).as_f64();
        p.tags = tags
            .into_iter()
            .filter(|(_, on)| *on)
            .map(|(t, _)| t)
            .collect();
        p.attributes = attrs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        let skip = evs.len().saturating_sub(self.cfg.timeline_len);
        p.last_events = evs[skip..]
            .iter()
            .map(|(ts, _, e)| TimelineView {
                ts: *ts,
                kind: e.kind().as_str().to_string(),
                channel: e.channel.as_str().to_string(),
                brand: e.brand.to_string(),
                subject: subject(&e.payload),
                amount: match &e.payload {
                    Payload::Purchase { amount, .. } | Payload::Refund { amount, .. } => {
                        Some(amount.as_f64())
                    }
                    _ => None,
                },
            })
            .collect();
        let now = self.now.unwrap_or(0);
        let identified = ids.iter().any(|i| i.kind.identifies());
        p.stage = match p.last_purchase {
            Some(lp) if now - lp >= self.cfg.dormancy => Stage::Dormant,
            _ if !p.cart.is_empty() => Stage::InPurchase,
            Some(lp) if now - lp < self.cfg.post_purchase => Stage::PostPurchase,
            _ if identified => Stage::Monitored,
            _ => Stage::Anonymous,
        };
        p
    }
}

fn subject(p: &Payload) -> Option<String> {
    let s: Option<&str> = match p {
        Payload::ProductView { product, .. }
        | Payload::CartAdd { product, .. }
        | Payload::CartRemove { product, .. } => Some(product),
        Payload::Purchase { order, .. } | Payload::Refund { order, .. } => Some(order),
        Payload::Campaign { campaign, .. } => campaign.as_deref(),
        Payload::Beacon { zone, .. } => Some(zone),
        Payload::Geo { place } => Some(place),
        Payload::FormSubmit { form } => form.as_deref(),
        Payload::Consent { topic, .. } => Some(topic),
        Payload::Custom { name, .. } => Some(name),
        _ => None,
    };
    s.map(str::to_string)
}
