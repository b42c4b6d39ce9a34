//! The reference model: a plain, slow, sequential restatement of SPEC 1–3, 5 and 7 that keeps
//! every accepted event per contact and recomputes each profile from scratch.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use tropa::rules::{
    ArithOp, CmpOp, Cond, Const, Field, Filter, PExpr, Plan, PredicateKind, ScoreRule, StateNeed,
    Term, TermKind,
};
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
    /// Per predicate of the rules: in the segment / holding the tag.
    held: Vec<bool>,
    /// Time up to which this contact's rules were evaluated.
    evaluated: Option<Ts>,
}

/// A signal as the model sees it: (contact key, kind, segment/tag/from, at).
pub type MSignal = (String, String, String, Ts);

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
    plan: Option<Plan>,
    /// Per accepted event (by arrival sequence): the term and score-rule keys it is hidden
    /// from, because those rules were loaded after the event had left its contact's timeline.
    hidden: HashMap<u64, BTreeSet<String>>,
    pub signals: Vec<MSignal>,
}

/// The key under which a term's state is carried across rule changes; `None` for terms read
/// off the profile, which every event reaches.
fn term_key(t: &Term) -> Option<String> {
    match t.need {
        StateNeed::Profile | StateNeed::BrandLastSeen => None,
        need => Some(format!("{:?}|{need:?}", t.kind)),
    }
}

/// The events a windowed count compared only with numbers counts, when it is one: such
/// counts of one filter share a state in the engine, and a new one starts from what the kept
/// ones hold (see `load_rules`).
fn shared_filter(t: &Term) -> Option<Filter> {
    if !matches!(t.need, StateNeed::LatestK(_)) {
        return None;
    }
    match &t.kind {
        TermKind::Count {
            filter,
            window: Some(_),
        } => Some(filter.clone()),
        TermKind::Purchases { window: Some(_) } => Some(Filter {
            kind: tropa::Kind::Purchase,
            cond: None,
        }),
        _ => None,
    }
}

fn term_window(t: &Term) -> Option<i64> {
    match &t.kind {
        TermKind::Count { window, .. } | TermKind::Purchases { window } => *window,
        _ => None,
    }
}

fn score_key(r: &ScoreRule) -> String {
    format!("score|{:?}|{}|{:?}", r.filter, r.points, r.cap)
}

fn gain_horizon(p: &Plan) -> i64 {
    p.terms
        .iter()
        .filter_map(|t| match t.kind {
            TermKind::ScoreGain { window } => Some(window),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

impl Model {
    pub fn new(cfg: ModelConfig) -> Model {
        Model {
            cfg,
            now: None,
            seq: 0,
            contacts: Vec::new(),
            seen: Vec::new(),
            plan: None,
            hidden: HashMap::new(),
            signals: Vec::new(),
        }
    }

    pub fn with_rules(cfg: ModelConfig, plan: Plan) -> Model {
        let mut m = Model::new(cfg);
        m.plan = Some(plan);
        m
    }

    fn n_preds(&self) -> usize {
        self.plan.as_ref().map_or(0, |p| p.predicates.len())
    }

    /// Every contact's rules, evaluated up to engine time (what a flush does).
    pub fn flush(&mut self) {
        if let Some(now) = self.now {
            for c in 0..self.contacts.len() {
                if self.contacts[c].is_some() {
                    self.catch_up(c as u32, now, true);
                }
            }
        }
    }

    pub fn now(&self) -> Option<Ts> {
        self.now
    }

    pub fn advance_to(&mut self, t: Ts) {
        self.now = Some(self.now.map_or(t, |n| n.max(t)));
    }

    /// Replaces the rules at engine time, as `Engine::load_rules` promises: old rules first
    /// catch up to now; members of removed segments leave them; terms and score rules new to
    /// the plan see only the events each contact's timeline still holds (its latest
    /// `timeline_len` by time and arrival) and everything after; segments and tags keep their
    /// memberships by name; then every contact is evaluated at now.
    pub fn load_rules(&mut self, plan: Plan) {
        self.flush();
        let old = self
            .plan
            .clone()
            .unwrap_or_else(|| tropa::rules::compile("").unwrap());
        let old_keys: BTreeSet<String> = old.terms.iter().filter_map(term_key).collect();
        let old_scores: BTreeSet<String> = old.scores.iter().map(score_key).collect();
        let longer_gain = gain_horizon(&plan) > gain_horizon(&old);
        let mut fresh: BTreeSet<String> = plan
            .terms
            .iter()
            .filter_map(term_key)
            .filter(|k| !old_keys.contains(k))
            .collect();
        fresh.extend(
            plan.scores
                .iter()
                .map(score_key)
                .filter(|k| longer_gain || !old_scores.contains(k)),
        );
        let now = self.now;
        for c in 0..self.contacts.len() {
            let Some(contact) = self.contacts[c].as_ref() else {
                continue;
            };
            let key = contact.key.to_string();
            for (i, p) in old.predicates.iter().enumerate() {
                let gone = !plan
                    .predicates
                    .iter()
                    .any(|q| q.kind == p.kind && q.name == p.name);
                if gone && p.kind == PredicateKind::Segment && contact.held[i] {
                    self.signals.push((
                        key.clone(),
                        "exit:rule_removed".into(),
                        p.name.clone(),
                        now.unwrap(),
                    ));
                }
            }
            let mut order: Vec<(Ts, u64)> = contact.events.iter().map(|x| (x.0, x.1)).collect();
            order.sort();
            let kept = order.len().saturating_sub(self.cfg.timeline_len);
            for (n, (_, seq)) in order.iter().enumerate() {
                let h = self.hidden.entry(*seq).or_default();
                for k in &fresh {
                    if n < kept {
                        h.insert(k.clone());
                    } else {
                        h.remove(k);
                    }
                }
            }
            // A new windowed count compared only with numbers also starts from what each kept
            // count of the same events holds: its latest k inside its window.
            if let Some(now) = now {
                for t in plan.terms.iter() {
                    let (Some(f), Some(key)) = (shared_filter(t), term_key(t)) else {
                        continue;
                    };
                    if !fresh.contains(&key) {
                        continue;
                    }
                    for o in plan.terms.iter() {
                        let Some(o_key) = term_key(o).filter(|k| !fresh.contains(k)) else {
                            continue;
                        };
                        let (Some(of), StateNeed::LatestK(k), Some(w)) =
                            (shared_filter(o), o.need, term_window(o))
                        else {
                            continue;
                        };
                        if of != f {
                            continue;
                        }
                        // What the kept count sees (it may itself have been new once).
                        let sees =
                            |seq: &u64| self.hidden.get(seq).is_none_or(|h| !h.contains(&o_key));
                        let mut held: Vec<(Ts, u64)> = contact
                            .events
                            .iter()
                            .filter(|x| x.0 > now - w && x.0 <= now && matches(&of, &x.2))
                            .filter(|x| sees(&x.1))
                            .map(|x| (x.0, x.1))
                            .collect();
                        held.sort();
                        for (_, seq) in held.iter().rev().take(k) {
                            if let Some(h) = self.hidden.get_mut(seq) {
                                h.remove(&key);
                            }
                        }
                    }
                }
            }
            let held = plan
                .predicates
                .iter()
                .map(|p| {
                    old.predicates
                        .iter()
                        .position(|o| o.kind == p.kind && o.name == p.name)
                        .is_some_and(|i| contact.held[i])
                })
                .collect();
            self.contacts[c].as_mut().unwrap().held = held;
        }
        self.plan = Some(plan);
        if let Some(now) = now {
            for c in 0..self.contacts.len() {
                if self.contacts[c].is_some() {
                    self.evaluate(c as u32, now);
                }
            }
        }
    }

    /// The events (in time order) that a term or score rule with state key `key` sees.
    fn visible_to<'e>(&self, evs: &[&'e (Ts, u64, Event)], key: &str) -> Vec<&'e (Ts, u64, Event)> {
        evs.iter()
            .copied()
            .filter(|x| self.hidden.get(&x.1).is_none_or(|h| !h.contains(key)))
            .collect()
    }

    /// A score rule's credits over the events it sees.
    fn credits(&self, r: &ScoreRule, evs: &[&(Ts, u64, Event)]) -> Vec<(Ts, i64)> {
        credits(r, &self.visible_to(evs, &score_key(r)))
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
        let n = self.n_preds();
        self.contacts.push(Some(Contact {
            key,
            ids,
            events: Vec::new(),
            held: vec![false; n],
            evaluated: None,
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
            let now = self.now.unwrap();
            let late = ev.ts < now;
            let mut gone: Vec<u32> = ev.ids.iter().filter_map(|i| self.owner(i)).collect();
            gone.sort();
            gone.dedup();
            for &c in &gone {
                self.catch_up(c, now, late);
                self.leave_all(c, "exit:erased", now);
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
        let now = self.now.unwrap();
        let late = ev.ts < now;
        let seq = self.seq;
        self.seq += 1;
        // Time passes for the contacts the event touches, up to its instant.
        let mut owners: Vec<u32> = ev.ids.iter().filter_map(|i| self.owner(i)).collect();
        owners.sort();
        owners.dedup();
        for &c in &owners {
            self.catch_up(c, now, late);
        }

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
                    self.leave_all(r, "exit:merged", now);
                    let gone = self.contacts[r as usize].take().unwrap();
                    let tag_kinds: Vec<bool> = self.plan.as_ref().map_or(vec![], |p| {
                        p.predicates
                            .iter()
                            .map(|x| x.kind == PredicateKind::Tag)
                            .collect()
                    });
                    let names: Vec<String> = self.plan.as_ref().map_or(vec![], |p| {
                        p.predicates.iter().map(|x| x.name.clone()).collect()
                    });
                    let s = self.contacts[survivor as usize].as_mut().unwrap();
                    let skey = s.key.to_string();
                    self.signals
                        .push((skey.clone(), "merged".into(), gone.key.to_string(), now));
                    for i in 0..tag_kinds.len() {
                        if tag_kinds[i] && gone.held[i] && !s.held[i] {
                            s.held[i] = true;
                            self.signals.push((
                                skey.clone(),
                                "tagged".into(),
                                names[i].clone(),
                                now,
                            ));
                        }
                    }
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
        self.evaluate(target, now);
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
        let mut p = self.profile_base(c);
        if let Some(plan) = &self.plan {
            let mut evs: Vec<&(Ts, u64, Event)> = c.events.iter().collect();
            evs.sort_by_key(|x| (x.0, x.1));
            p.score = plan
                .scores
                .iter()
                .map(|r| self.credits(r, &evs).iter().map(|x| x.1).sum::<i64>())
                .sum();
            for (i, pred) in plan.predicates.iter().enumerate() {
                if c.held[i] {
                    match pred.kind {
                        PredicateKind::Segment => p.segments.push(pred.name.clone()),
                        PredicateKind::Tag => p.tags.push(pred.name.clone()),
                    }
                }
            }
            p.segments.sort();
            p.tags.sort();
            p.tags.dedup();
        }
        p
    }

    fn profile_base(&self, c: &Contact) -> Profile {
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
                    first_purchase: None,
                    last_purchase: None,
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
                        let b = p.brands.get_mut(&*e.brand).unwrap();
                        b.first_purchase = Some(b.first_purchase.map_or(ts, |f| f.min(ts)));
                        b.last_purchase = Some(b.last_purchase.map_or(ts, |f| f.max(ts)));
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

// ---------------------------------------------------------------------------------------
// Rules, recomputed from scratch: every term from the contact's whole event list, at any
// instant; time-driven changes found by evaluating at every instant where some event could
// enter or leave a window, cross a `since` threshold or turn the lifecycle stage.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum V {
    Null,
    Num(f64),
    Str(String),
    Bool(bool),
    Dur(i64),
    /// elapsed ms, None = never happened
    Since(Option<i64>),
}

fn v_cmp(op: CmpOp, a: &V, b: &V) -> bool {
    use std::cmp::Ordering::*;
    let o = match (a, b) {
        (V::Num(x), V::Num(y)) => x.partial_cmp(y),
        (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        (V::Dur(x), V::Dur(y)) => Some(x.cmp(y)),
        (V::Since(None), V::Dur(_)) => Some(Greater),
        (V::Since(Some(s)), V::Dur(d)) => Some(s.cmp(d)),
        (V::Dur(_), V::Since(None)) => Some(Less),
        (V::Dur(d), V::Since(Some(s))) => Some(d.cmp(s)),
        _ => None,
    };
    let Some(o) = o else { return false };
    match op {
        CmpOp::Lt => o == Less,
        CmpOp::Le => o != Greater,
        CmpOp::Gt => o == Greater,
        CmpOp::Ge => o != Less,
        CmpOp::Eq => o == Equal,
        CmpOp::Ne => o != Equal,
    }
}

fn v_arith(op: ArithOp, a: &V, b: &V) -> V {
    match (a, b) {
        (V::Num(x), V::Num(y)) => match op {
            ArithOp::Add => V::Num(x + y),
            ArithOp::Sub => V::Num(x - y),
            ArithOp::Mul => V::Num(x * y),
            ArithOp::Div if *y == 0.0 => V::Null,
            ArithOp::Div => V::Num(x / y),
        },
        _ => V::Null,
    }
}

fn konst(c: &Const) -> V {
    match c {
        Const::Num(n) => V::Num(*n),
        Const::Str(s) => V::Str(s.clone()),
        Const::Bool(b) => V::Bool(*b),
        Const::Dur(d) => V::Dur(*d),
    }
}

/// A field of an event; durations in seconds; money as currency units.
fn ev_field(e: &Event, f: &Field) -> V {
    let s = |x: &str| V::Str(x.to_string());
    let os = |x: &Option<tropa::Text>| x.as_deref().map_or(V::Null, s);
    let om = |m: &Option<Money>| m.map_or(V::Null, |m| V::Num(m.as_f64()));
    match f {
        Field::Channel => return s(e.channel.as_str()),
        Field::Brand => return s(&e.brand),
        Field::Prop(p) => {
            if let Payload::Custom { props, .. } = &e.payload {
                for (k, v) in props {
                    if &**k == p.as_str() {
                        return match v {
                            Value::Num(n) => V::Num(*n),
                            Value::Str(x) => s(x),
                            Value::Bool(b) => V::Bool(*b),
                        };
                    }
                }
            }
            return V::Null;
        }
        Field::Named(_) => {}
    }
    let Field::Named(n) = f else { unreachable!() };
    match &e.payload {
        Payload::PageView { url, category } => match *n {
            "url" => os(url),
            "category" => os(category),
            _ => V::Null,
        },
        Payload::ProductView {
            product,
            category,
            brand_name,
            price,
            color,
            discount,
        } => match *n {
            "product" => s(product),
            "category" => os(category),
            "brand_name" => os(brand_name),
            "price" => om(price),
            "color" => os(color),
            "discount" => discount.map_or(V::Null, V::Num),
            _ => V::Null,
        },
        Payload::CartAdd {
            product,
            qty,
            price,
            category,
        }
        | Payload::CartRemove {
            product,
            qty,
            price,
            category,
        } => match *n {
            "product" => s(product),
            "qty" => V::Num(f64::from(*qty)),
            "price" => om(price),
            "category" => os(category),
            _ => V::Null,
        },
        Payload::Purchase {
            order,
            amount,
            currency,
            ..
        } => match *n {
            "order" => s(order),
            "amount" => V::Num(amount.as_f64()),
            "currency" => os(currency),
            _ => V::Null,
        },
        Payload::Refund { order, amount } => match *n {
            "order" => s(order),
            "amount" => V::Num(amount.as_f64()),
            _ => V::Null,
        },
        Payload::Campaign { campaign, .. } if *n == "campaign" => os(campaign),
        Payload::AppSession { duration } if *n == "duration" => {
            duration.map_or(V::Null, |d| V::Num(d as f64 / 1000.0))
        }
        Payload::Beacon { zone, duration } => match *n {
            "zone" => s(zone),
            "duration" => duration.map_or(V::Null, |d| V::Num(d as f64 / 1000.0)),
            _ => V::Null,
        },
        Payload::Geo { place } if *n == "place" => s(place),
        Payload::FormSubmit { form } if *n == "form" => os(form),
        Payload::Consent { topic, granted } => match *n {
            "topic" => s(topic),
            "granted" => V::Bool(*granted),
            _ => V::Null,
        },
        Payload::Custom { name, .. } if *n == "name" => s(name),
        _ => V::Null,
    }
}

/// A numeric field in exact millionths.
fn ev_micros(e: &Event, f: &Field) -> Option<i128> {
    match (&e.payload, f) {
        (
            Payload::Purchase { amount, .. } | Payload::Refund { amount, .. },
            Field::Named("amount"),
        ) => Some(i128::from(amount.0)),
        (
            Payload::AppSession { duration } | Payload::Beacon { duration, .. },
            Field::Named("duration"),
        ) => duration.map(|d| i128::from(d) * 1000),
        _ => match ev_field(e, f) {
            V::Num(n) if n.is_finite() => Some((n * 1e6).round() as i128),
            _ => None,
        },
    }
}

fn cond_val(c: &Cond, e: &Event) -> V {
    match c {
        Cond::Const(k) => konst(k),
        Cond::Field(f) => ev_field(e, f),
        Cond::Cmp(op, a, b) => V::Bool(v_cmp(*op, &cond_val(a, e), &cond_val(b, e))),
        Cond::Arith(op, a, b) => v_arith(*op, &cond_val(a, e), &cond_val(b, e)),
        Cond::Not(a) => match cond_val(a, e) {
            V::Bool(b) => V::Bool(!b),
            _ => V::Null,
        },
        Cond::And(a, b) => {
            V::Bool(cond_val(a, e) == V::Bool(true) && cond_val(b, e) == V::Bool(true))
        }
        Cond::Or(a, b) => {
            V::Bool(cond_val(a, e) == V::Bool(true) || cond_val(b, e) == V::Bool(true))
        }
    }
}

fn matches(f: &Filter, e: &Event) -> bool {
    f.kind == e.kind()
        && f.cond
            .as_ref()
            .is_none_or(|c| cond_val(c, e) == V::Bool(true))
}

fn in_window(ts: Ts, tau: Ts, w: Option<i64>) -> bool {
    w.is_none_or(|w| ts > tau - w)
}

/// Credited points per (event) of one score rule, in (ts, seq) order.
fn credits(rule: &ScoreRule, evs: &[&(Ts, u64, Event)]) -> Vec<(Ts, i64)> {
    let mut m: Vec<&(Ts, u64, Event)> = evs
        .iter()
        .copied()
        .filter(|x| matches(&rule.filter, &x.2))
        .collect();
    m.sort_by_key(|x| (x.0, x.1));
    let mut out = Vec::new();
    let mut given: BTreeMap<i64, i64> = BTreeMap::new();
    for x in m {
        let c = match rule.cap {
            None => rule.points,
            Some((max, d)) => {
                let g = given.entry(x.0.div_euclid(d)).or_default();
                let c = (max - *g).clamp(0, rule.points);
                *g += c;
                c
            }
        };
        out.push((x.0, c));
    }
    out
}

impl Model {
    fn plan(&self) -> &Plan {
        self.plan.as_ref().unwrap()
    }

    /// Evaluates rules at every candidate instant in (evaluated, upto) — or up to and
    /// including `upto` — in time order.
    fn catch_up(&mut self, c: u32, upto: Ts, inclusive: bool) {
        let Some(plan) = self.plan.clone() else {
            return;
        };
        let contact = self.contacts[c as usize].as_ref().unwrap();
        let from = contact.evaluated;
        let mut windows = Vec::new();
        let mut thresholds = Vec::new();
        for t in &plan.terms {
            match &t.kind {
                TermKind::Count {
                    window: Some(w), ..
                }
                | TermKind::Sum {
                    window: Some(w), ..
                }
                | TermKind::Purchases { window: Some(w) }
                | TermKind::Revenue { window: Some(w) } => windows.push(*w),
                TermKind::BrandsActive { window } | TermKind::ScoreGain { window } => {
                    windows.push(*window)
                }
                _ => {}
            }
        }
        fn walk(e: &PExpr, out: &mut Vec<i64>) {
            match e {
                PExpr::Cmp(_, a, b) => {
                    if let PExpr::Const(Const::Dur(d)) = &**a {
                        out.push(*d)
                    }
                    if let PExpr::Const(Const::Dur(d)) = &**b {
                        out.push(*d)
                    }
                    walk(a, out);
                    walk(b, out);
                }
                PExpr::Arith(_, a, b) | PExpr::And(a, b) | PExpr::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                PExpr::Not(a) => walk(a, out),
                _ => {}
            }
        }
        for p in &plan.predicates {
            walk(&p.expr, &mut thresholds);
        }
        let mut cands: Vec<Ts> = Vec::new();
        for (ts, _, e) in &contact.events {
            for w in &windows {
                cands.push(ts + w);
            }
            for d in &thresholds {
                cands.push(ts + d);
                cands.push(ts + d + 1);
            }
            if e.kind() == tropa::Kind::Purchase {
                cands.push(ts + self.cfg.dormancy);
                cands.push(ts + self.cfg.post_purchase);
            }
        }
        cands.sort();
        cands.dedup();
        for t in cands {
            let after = from.is_none_or(|f| t > f);
            let before = if inclusive { t <= upto } else { t < upto };
            if after && before {
                self.evaluate(c, t);
            }
        }
    }

    /// Evaluates every predicate of contact `c` at `tau` and records the changes.
    fn evaluate(&mut self, c: u32, tau: Ts) {
        if self.plan.is_none() {
            return;
        }
        let plan = self.plan.clone().unwrap();
        let mut held = self.contacts[c as usize].as_ref().unwrap().held.clone();
        let key = self.contacts[c as usize].as_ref().unwrap().key.to_string();
        for (i, p) in plan.predicates.iter().enumerate() {
            let v = self.pexpr(c, &p.expr, tau, &held) == V::Bool(true);
            match p.kind {
                PredicateKind::Segment if v != held[i] => {
                    held[i] = v;
                    let kind = if v { "enter" } else { "exit:predicate" };
                    self.signals
                        .push((key.clone(), kind.into(), p.name.clone(), tau));
                }
                PredicateKind::Tag if v && !held[i] => {
                    held[i] = true;
                    self.signals
                        .push((key.clone(), "tagged".into(), p.name.clone(), tau));
                }
                _ => {}
            }
        }
        let contact = self.contacts[c as usize].as_mut().unwrap();
        contact.held = held;
        contact.evaluated = Some(contact.evaluated.map_or(tau, |e| e.max(tau)));
    }

    fn leave_all(&mut self, c: u32, kind: &str, at: Ts) {
        let Some(plan) = self.plan.clone() else {
            return;
        };
        let contact = self.contacts[c as usize].as_ref().unwrap();
        let key = contact.key.to_string();
        let held = contact.held.clone();
        for (i, p) in plan.predicates.iter().enumerate() {
            if p.kind == PredicateKind::Segment && held[i] {
                self.signals
                    .push((key.clone(), kind.into(), p.name.clone(), at));
            }
        }
    }

    fn pexpr(&self, c: u32, e: &PExpr, tau: Ts, held: &[bool]) -> V {
        match e {
            PExpr::Const(k) => konst(k),
            PExpr::Term(t) => self.term(c, &self.plan().terms[t.0 as usize], tau, held),
            PExpr::Cmp(op, a, b) => V::Bool(v_cmp(
                *op,
                &self.pexpr(c, a, tau, held),
                &self.pexpr(c, b, tau, held),
            )),
            PExpr::Arith(op, a, b) => v_arith(
                *op,
                &self.pexpr(c, a, tau, held),
                &self.pexpr(c, b, tau, held),
            ),
            PExpr::Not(a) => match self.pexpr(c, a, tau, held) {
                V::Bool(b) => V::Bool(!b),
                _ => V::Null,
            },
            PExpr::And(a, b) => V::Bool(
                self.pexpr(c, a, tau, held) == V::Bool(true)
                    && self.pexpr(c, b, tau, held) == V::Bool(true),
            ),
            PExpr::Or(a, b) => V::Bool(
                self.pexpr(c, a, tau, held) == V::Bool(true)
                    || self.pexpr(c, b, tau, held) == V::Bool(true),
            ),
        }
    }

    fn pred_index(&self, kind: PredicateKind, name: &str) -> Option<usize> {
        self.plan()
            .predicates
            .iter()
            .position(|p| p.kind == kind && p.name == name)
    }

    fn term(&self, c: u32, term: &Term, tau: Ts, held: &[bool]) -> V {
        let contact = self.contacts[c as usize].as_ref().unwrap();
        let mut all: Vec<&(Ts, u64, Event)> = contact.events.iter().collect();
        all.sort_by_key(|x| (x.0, x.1));
        let evs = match term_key(term) {
            Some(k) => self.visible_to(&all, &k),
            None => all.clone(),
        };
        let scored = |r: &ScoreRule| self.credits(r, &all);
        let profile = self.profile_base(contact);
        match &term.kind {
            TermKind::Count { filter, window } => V::Num(
                evs.iter()
                    .filter(|x| matches(filter, &x.2) && in_window(x.0, tau, *window))
                    .count() as f64,
            ),
            TermKind::Sum {
                filter,
                field,
                window,
            } => V::Num(
                evs.iter()
                    .filter(|x| matches(filter, &x.2) && in_window(x.0, tau, *window))
                    .filter_map(|x| ev_micros(&x.2, field))
                    .sum::<i128>() as f64
                    / 1e6,
            ),
            TermKind::Since { filter } => V::Since(
                evs.iter()
                    .filter(|x| matches(filter, &x.2))
                    .map(|x| x.0)
                    .max()
                    .map(|l| tau - l),
            ),
            TermKind::Purchases { window } => V::Num(
                evs.iter()
                    .filter(|x| x.2.kind() == tropa::Kind::Purchase && in_window(x.0, tau, *window))
                    .count() as f64,
            ),
            TermKind::Revenue { window } => V::Num(
                evs.iter()
                    .filter(|x| in_window(x.0, tau, *window))
                    .map(|x| match &x.2.payload {
                        Payload::Purchase { amount, .. } => i128::from(amount.0),
                        Payload::Refund { amount, .. } => -i128::from(amount.0),
                        _ => 0,
                    })
                    .sum::<i128>() as f64
                    / 1e6,
            ),
            TermKind::BrandsActive { window } => {
                let mut b: Vec<&str> = evs
                    .iter()
                    .filter(|x| !x.2.brand.is_empty() && x.0 > tau - window)
                    .map(|x| &*x.2.brand)
                    .collect();
                b.sort();
                b.dedup();
                V::Num(b.len() as f64)
            }
            TermKind::Score => V::Num(
                self.plan()
                    .scores
                    .iter()
                    .map(|r| scored(r).iter().map(|x| x.1).sum::<i64>())
                    .sum::<i64>() as f64,
            ),
            TermKind::ScoreGain { window } => V::Num(
                self.plan()
                    .scores
                    .iter()
                    .map(|r| {
                        scored(r)
                            .iter()
                            .filter(|x| x.0 > tau - window && x.0 <= tau)
                            .map(|x| x.1)
                            .sum::<i64>()
                    })
                    .sum::<i64>() as f64,
            ),
            TermKind::Tag(name) => V::Bool(
                self.pred_index(PredicateKind::Tag, name)
                    .is_some_and(|i| held[i])
                    || profile.tags.contains(name),
            ),
            TermKind::Segment(name) => V::Bool(
                self.pred_index(PredicateKind::Segment, name)
                    .is_some_and(|i| held[i]),
            ),
            TermKind::Consent(topic) => {
                V::Bool(profile.consents.get(topic).copied().unwrap_or(false))
            }
            TermKind::Known => V::Bool(contact.ids.iter().any(|i| i.kind.identifies())),
            TermKind::Attr(k) => match profile.attributes.get(k) {
                None => V::Null,
                Some(Value::Num(n)) => V::Num(*n),
                Some(Value::Str(s)) => V::Str(s.to_string()),
                Some(Value::Bool(b)) => V::Bool(*b),
            },
            TermKind::Stage => {
                let identified = contact.ids.iter().any(|i| i.kind.identifies());
                V::Str(
                    match profile.last_purchase {
                        Some(lp) if tau - lp >= self.cfg.dormancy => "dormant",
                        _ if !profile.cart.is_empty() => "in_purchase",
                        Some(lp) if tau - lp < self.cfg.post_purchase => "post_purchase",
                        _ if identified => "monitored",
                        _ => "anonymous",
                    }
                    .into(),
                )
            }
            TermKind::CartItems => V::Num(profile.cart_items as f64),
            TermKind::CartValue => V::Num(profile.cart_value),
            other => panic!("model lacks {other:?}"),
        }
    }
}
