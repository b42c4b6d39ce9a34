//! Linking a checked file into a plan: dependency order of predicates (and the cycles that
//! prevent one), what feeds each term and whether time can change it, and the smallest state
//! each term needs given how the predicates use it.

use super::check::{kind_name, Checker};
use super::error::Span;
use super::lexer::CmpOp;
use super::plan::{
    Const, KindSet, PExpr, Plan, Predicate, PredicateKind, ScoreRule, StateNeed, TermKind,
};
use crate::event::Kind;
use std::collections::HashMap;

impl Checker<'_> {
    /// Dependency order of predicates; reports each cycle once, naming it.
    pub(super) fn order(
        &mut self,
        compiled: &[(PredicateKind, String, Span, PExpr)],
    ) -> Vec<usize> {
        let pos: HashMap<(PredicateKind, &str), usize> = compiled
            .iter()
            .enumerate()
            .map(|(i, (k, n, ..))| ((*k, n.as_str()), i))
            .collect();
        let deps: Vec<Vec<usize>> = compiled
            .iter()
            .map(|(_, _, _, e)| {
                let mut reads = Vec::new();
                e.terms(&mut reads);
                reads
                    .iter()
                    .filter_map(|t| match &self.terms[t.0 as usize].kind {
                        TermKind::Segment(s) => {
                            pos.get(&(PredicateKind::Segment, s.as_str())).copied()
                        }
                        TermKind::Tag(s) => pos.get(&(PredicateKind::Tag, s.as_str())).copied(),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state = vec![0u8; compiled.len()];
        let mut order = Vec::new();
        let mut reported: Vec<Vec<usize>> = Vec::new();
        fn visit(
            i: usize,
            deps: &[Vec<usize>],
            state: &mut [u8],
            stack: &mut Vec<usize>,
            order: &mut Vec<usize>,
            cycles: &mut Vec<Vec<usize>>,
        ) {
            state[i] = 1;
            stack.push(i);
            for &d in &deps[i] {
                match state[d] {
                    0 => visit(d, deps, state, stack, order, cycles),
                    1 => {
                        let from = stack.iter().position(|&x| x == d).expect("on the stack");
                        cycles.push(stack[from..].to_vec());
                    }
                    _ => {}
                }
            }
            stack.pop();
            state[i] = 2;
            order.push(i);
        }
        for i in 0..compiled.len() {
            if state[i] == 0 {
                visit(
                    i,
                    &deps,
                    &mut state,
                    &mut Vec::new(),
                    &mut order,
                    &mut reported,
                );
            }
        }
        for cycle in reported {
            let start = *cycle.iter().min().expect("non-empty");
            let at = cycle.iter().position(|&x| x == start).expect("present");
            let mut names: Vec<String> = cycle[at..]
                .iter()
                .chain(&cycle[..at])
                .map(|&i| format!("{} {}", kind_name(compiled[i].0), compiled[i].1))
                .collect();
            names.push(names[0].clone());
            self.error(compiled[start].2, format!("cycle: {}", names.join(" -> ")));
        }
        order
    }

    pub(super) fn finish(
        mut self,
        compiled: Vec<(PredicateKind, String, Span, PExpr)>,
        order: Vec<usize>,
        scores: Vec<ScoreRule>,
    ) -> Plan {
        let mut score_kinds = KindSet::default();
        for s in &scores {
            score_kinds.insert(s.filter.kind);
        }
        // Base terms.
        for t in &mut self.terms {
            let mut one = KindSet::default();
            let (feeds, time) = match &t.kind {
                TermKind::Count { filter, window } | TermKind::Sum { filter, window, .. } => {
                    one.insert(filter.kind);
                    (one, window.is_some())
                }
                TermKind::Since { filter } => {
                    one.insert(filter.kind);
                    (one, true)
                }
                TermKind::Purchases { window } => {
                    one.insert(Kind::Purchase);
                    (one, window.is_some())
                }
                TermKind::Revenue { window } => {
                    one.insert(Kind::Purchase);
                    one.insert(Kind::Refund);
                    (one, window.is_some())
                }
                TermKind::BrandsActive { .. } => (KindSet::all(), true),
                TermKind::Score => (score_kinds, false),
                TermKind::ScoreGain { .. } => (score_kinds, true),
                TermKind::Tag(_) => {
                    one.insert(Kind::Tag);
                    (one, false)
                }
                TermKind::Consent(_) => {
                    one.insert(Kind::Consent);
                    (one, false)
                }
                TermKind::Attr(_) => {
                    one.insert(Kind::Attribute);
                    (one, false)
                }
                TermKind::Known => (KindSet::all(), false),
                TermKind::Stage => (KindSet::all(), true),
                TermKind::CartItems | TermKind::CartValue => {
                    one.insert(Kind::CartAdd);
                    one.insert(Kind::CartRemove);
                    one.insert(Kind::Purchase);
                    (one, false)
                }
                TermKind::Segment(_) => (KindSet::default(), false),
            };
            t.feeds = feeds;
            t.time_sensitive = time;
        }
        // Predicates and the terms that reference them, in dependency order.
        let mut predicates = Vec::with_capacity(order.len());
        for i in order {
            let (kind, name, _, expr) = compiled[i].clone();
            let mut reads = Vec::new();
            expr.terms(&mut reads);
            let feeds = reads.iter().fold(KindSet::default(), |f, t| {
                f.union(self.terms[t.0 as usize].feeds)
            });
            let time = reads
                .iter()
                .any(|t| self.terms[t.0 as usize].time_sensitive);
            let target = match kind {
                PredicateKind::Segment => TermKind::Segment(name.clone()),
                PredicateKind::Tag => TermKind::Tag(name.clone()),
            };
            if let Some(id) = self.index.get(&target.to_string()) {
                let t = &mut self.terms[id.0 as usize];
                t.feeds = t.feeds.union(feeds);
                t.time_sensitive |= time;
            }
            predicates.push(Predicate {
                kind,
                name,
                expr,
                reads,
                feeds,
                time_sensitive: time,
            });
        }
        // Smallest state per term, from how predicates use it.
        let mut k_needed: Vec<Option<Option<usize>>> = vec![None; self.terms.len()];
        for p in &predicates {
            uses(&p.expr, &mut k_needed);
        }
        for (i, t) in self.terms.iter_mut().enumerate() {
            t.need = match &t.kind {
                TermKind::Count { window: None, .. } => StateNeed::Counter,
                // Counted by the profile, so a rule loaded later sees every purchase.
                TermKind::Purchases { window: None } => StateNeed::Profile,
                TermKind::Count { .. } | TermKind::Purchases { .. } => match k_needed[i] {
                    Some(Some(k)) => StateNeed::LatestK(k.max(1)),
                    _ => StateNeed::Window,
                },
                TermKind::Sum { window: None, .. } | TermKind::Revenue { window: None } => {
                    StateNeed::Total
                }
                TermKind::Sum { .. } | TermKind::Revenue { .. } => StateNeed::Window,
                TermKind::Since { .. } => StateNeed::Latest,
                TermKind::BrandsActive { .. } => StateNeed::BrandLastSeen,
                // `score` and `score_gain` read the score rules' own state.
                _ => StateNeed::Profile,
            };
        }
        Plan {
            predicates,
            scores,
            terms: self.terms,
            text: std::sync::Arc::from(""),
        }
    }
}

/// Records, per term, the largest `k` such that knowing `min(value, k)` decides every
/// comparison it appears in (`Some(Some(k))`), or that some use needs the exact value
/// (`Some(None)`).
fn uses(e: &PExpr, out: &mut [Option<Option<usize>>]) {
    let mut mark = |t: &super::plan::TermId, k: Option<usize>| {
        let slot = &mut out[t.0 as usize];
        *slot = match (*slot, k) {
            (Some(None), _) | (_, None) => Some(None),
            (Some(Some(a)), Some(b)) => Some(Some(a.max(b))),
            (None, Some(b)) => Some(Some(b)),
        };
    };
    match e {
        PExpr::Cmp(op, a, b) => match (&**a, &**b) {
            (PExpr::Term(t), PExpr::Const(Const::Num(c))) => mark(t, Some(threshold(*op, *c))),
            (PExpr::Const(Const::Num(c)), PExpr::Term(t)) => {
                mark(t, Some(threshold(op.flipped(), *c)))
            }
            _ => {
                uses(a, out);
                uses(b, out);
            }
        },
        PExpr::Term(t) => mark(t, None),
        PExpr::Const(_) => {}
        PExpr::Not(a) => uses(a, out),
        PExpr::Arith(_, a, b) | PExpr::And(a, b) | PExpr::Or(a, b) => {
            uses(a, out);
            uses(b, out);
        }
    }
}

/// How many of the latest matching events decide `count OP c`: `min(count, k)` gives the same
/// answer as the exact count. `>= c` and `< c` need `ceil(c)`; `> c`, `<= c`, `==` and `!=`
/// need `floor(c) + 1`.
fn threshold(op: CmpOp, c: f64) -> usize {
    if c <= 0.0 {
        return 1;
    }
    match op {
        CmpOp::Ge | CmpOp::Lt => c.ceil() as usize,
        CmpOp::Gt | CmpOp::Le | CmpOp::Eq | CmpOp::Ne => c.floor() as usize + 1,
    }
}
