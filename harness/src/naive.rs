//! The naive engine: what a straightforward implementation does. It keeps every event of every
//! contact, and on each event re-evaluates every segment of that contact from its whole event
//! list; time-driven changes are found by re-evaluating every contact at each `advance_to`.

use crate::subset::{self, V};
use crate::workload::Rec;
use tropa::rules::{Plan, PredicateKind, TermKind};
use tropa::Kind;

pub struct Naive {
    plan: Plan,
    events: Vec<Vec<Rec>>,
    held: Vec<Vec<bool>>,
    now: i64,
    /// Memberships entered or left so far.
    pub changes: u64,
}

impl Naive {
    pub fn new(plan: Plan) -> Naive {
        subset::check(&plan).expect("the harness's segments are in the subset");
        Naive {
            plan,
            events: Vec::new(),
            held: Vec::new(),
            now: i64::MIN,
            changes: 0,
        }
    }

    pub fn ingest(&mut self, r: &Rec) {
        let c = r.contact as usize;
        if c >= self.events.len() {
            self.events.resize_with(c + 1, Vec::new);
            self.held.resize_with(c + 1, Vec::new);
        }
        self.events[c].push(*r);
        self.now = self.now.max(r.ts);
        self.evaluate(c);
    }

    pub fn advance_to(&mut self, t: i64) {
        self.now = self.now.max(t);
        for c in 0..self.events.len() {
            if !self.events[c].is_empty() {
                self.evaluate(c);
            }
        }
    }

    fn term(&self, c: usize, t: usize, held: &[bool]) -> V {
        let now = self.now;
        let evs = &self.events[c];
        let inside = |r: &Rec, w: &Option<i64>| w.is_none_or(|w| r.ts > now - w);
        match &self.plan.terms[t].kind {
            TermKind::Count { filter, window } => V::Num(
                evs.iter()
                    .filter(|r| subset::matches(filter, r) && inside(r, window))
                    .count() as f64,
            ),
            TermKind::Sum {
                filter,
                field,
                window,
            } => V::Num(
                evs.iter()
                    .filter(|r| subset::matches(filter, r) && inside(r, window))
                    .filter_map(|r| subset::micros(r, field))
                    .sum::<i64>() as f64
                    / 1e6,
            ),
            TermKind::Since { filter } => V::Since(
                evs.iter()
                    .filter(|r| subset::matches(filter, r))
                    .map(|r| r.ts)
                    .max()
                    .map(|l| now - l),
            ),
            TermKind::Purchases { window } => V::Num(
                evs.iter()
                    .filter(|r| r.kind == Kind::Purchase && inside(r, window))
                    .count() as f64,
            ),
            TermKind::Revenue { window } => V::Num(
                evs.iter()
                    .filter(|r| r.kind == Kind::Purchase && inside(r, window))
                    .map(|r| r.value)
                    .sum::<i64>() as f64
                    / 1e6,
            ),
            TermKind::Segment(name) => V::Bool(
                self.plan
                    .predicates
                    .iter()
                    .position(|p| p.kind == PredicateKind::Segment && &p.name == name)
                    .is_some_and(|i| held[i]),
            ),
            other => unreachable!("checked: {other}"),
        }
    }

    fn evaluate(&mut self, c: usize) {
        let mut held = std::mem::take(&mut self.held[c]);
        held.resize(self.plan.predicates.len(), false);
        struct Scan<'a> {
            naive: &'a Naive,
            c: usize,
            held: &'a [bool],
        }
        impl subset::Terms for Scan<'_> {
            fn term(&mut self, t: usize) -> V {
                self.naive.term(self.c, t, self.held)
            }
        }
        for i in 0..self.plan.predicates.len() {
            let v = {
                let mut scan = Scan {
                    naive: self,
                    c,
                    held: &held,
                };
                subset::eval(&self.plan, &self.plan.predicates[i].expr, &mut scan).truthy()
            };
            if v != held[i] {
                held[i] = v;
                self.changes += 1;
            }
        }
        self.held[c] = held;
    }

    /// Members of each segment, by contact number, ascending.
    pub fn memberships(&self) -> Vec<(String, Vec<u32>)> {
        self.plan
            .predicates
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind == PredicateKind::Segment)
            .map(|(i, p)| {
                let members = (0..self.held.len())
                    .filter(|c| self.held[*c].get(i).copied().unwrap_or(false))
                    .map(|c| c as u32)
                    .collect();
                (p.name.clone(), members)
            })
            .collect()
    }

    /// Heap bytes of the kept events and memberships.
    pub fn heap_bytes(&self) -> usize {
        self.events
            .iter()
            .map(|e| e.capacity() * std::mem::size_of::<Rec>() + 24)
            .sum::<usize>()
            + self.held.iter().map(|h| h.capacity() + 24).sum::<usize>()
    }
}
