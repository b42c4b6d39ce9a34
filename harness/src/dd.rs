//! The same segments maintained incrementally by differential-dataflow (one timely worker).
//!
//! Every aggregate becomes a keyed sum: a matching event adds its weight (1 for counts, the
//! field in millionths for sums) to `(contact, term)` at its time, and a windowed term takes it
//! back at `time + window`, so time-driven changes come out of the dataflow's own timestamps.
//! `since(x) op d` becomes a windowed count (`since(x) >= d` ⇔ nothing in the last `d`,
//! `since(x) > d` ⇔ nothing in the last `d + 1 ms`). A `reduce` per contact evaluates every
//! predicate from the sums, in dependency order, and outputs the memberships. Timestamps are
//! event times in milliseconds; the input is advanced, flushed and stepped every `batch` events.

use crate::subset::{self, Terms, V};
use crate::workload::Rec;
use differential_dataflow::input::Input;
use differential_dataflow::operators::CountTotal;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tropa::rules::{CmpOp, Field, Filter, PExpr, Plan, PredicateKind, TermKind};
use tropa::Kind;

#[derive(Debug, Clone)]
enum Weight {
    One,
    Field(Field),
}

/// One keyed sum of the dataflow.
#[derive(Debug, Clone)]
struct DdTerm {
    filter: Option<Filter>,
    weight: Weight,
    window: Option<i64>,
}

/// The plan, turned into keyed sums.
struct Compiled {
    plan: Plan,
    terms: Vec<DdTerm>,
    /// Plan term → its sum (counts, sums, purchases, revenue).
    of_term: HashMap<usize, usize>,
    /// (plan `since` term, window) → its windowed count.
    of_since: HashMap<(usize, i64), usize>,
}

/// Term 0 says the contact exists (its first event), so that predicates true at zero
/// (`count(x) == 0`) are evaluated for every contact.
const PRESENT: usize = 0;

fn since_window(op: CmpOp, d: i64) -> Vec<i64> {
    match op {
        CmpOp::Ge | CmpOp::Lt => vec![d],
        CmpOp::Gt | CmpOp::Le => vec![d + 1],
        CmpOp::Eq | CmpOp::Ne => vec![d, d + 1],
    }
}

impl Compiled {
    fn new(plan: Plan) -> Result<Compiled, String> {
        subset::check(&plan)?;
        let mut c = Compiled {
            terms: vec![DdTerm {
                filter: None,
                weight: Weight::One,
                window: None,
            }],
            of_term: HashMap::new(),
            of_since: HashMap::new(),
            plan,
        };
        for (i, t) in c.plan.terms.iter().enumerate() {
            let term = match &t.kind {
                TermKind::Count { filter, window } => DdTerm {
                    filter: Some(filter.clone()),
                    weight: Weight::One,
                    window: *window,
                },
                TermKind::Sum {
                    filter,
                    field,
                    window,
                } => DdTerm {
                    filter: Some(filter.clone()),
                    weight: Weight::Field(field.clone()),
                    window: *window,
                },
                TermKind::Purchases { window } | TermKind::Revenue { window } => DdTerm {
                    filter: Some(Filter {
                        kind: Kind::Purchase,
                        cond: None,
                    }),
                    weight: if matches!(t.kind, TermKind::Revenue { .. }) {
                        Weight::Field(Field::Named("amount"))
                    } else {
                        Weight::One
                    },
                    window: *window,
                },
                _ => continue,
            };
            c.of_term.insert(i, c.terms.len());
            c.terms.push(term);
        }
        let mut since = Vec::new();
        for p in &c.plan.predicates {
            collect_since(&c.plan, &p.expr, &mut since)?;
        }
        for (t, op, d) in since {
            let TermKind::Since { filter } = &c.plan.terms[t].kind else {
                unreachable!("since_shape only matches since terms")
            };
            for w in since_window(op, d) {
                if let std::collections::hash_map::Entry::Vacant(e) = c.of_since.entry((t, w)) {
                    e.insert(c.terms.len());
                    c.terms.push(DdTerm {
                        filter: Some(filter.clone()),
                        weight: Weight::One,
                        window: Some(w),
                    });
                }
            }
        }
        Ok(c)
    }

    /// The updates one record makes: (term, weight, window).
    fn updates(&self, r: &Rec, first: bool, out: &mut Vec<(u32, i64, Option<i64>)>) {
        out.clear();
        if first {
            out.push((PRESENT as u32, 1, None));
        }
        for (i, t) in self.terms.iter().enumerate().skip(1) {
            let Some(f) = &t.filter else { continue };
            if !subset::matches(f, r) {
                continue;
            }
            let w = match &t.weight {
                Weight::One => Some(1),
                Weight::Field(field) => subset::micros(r, field),
            };
            if let Some(w) = w.filter(|w| *w != 0) {
                out.push((i as u32, w, t.window));
            }
        }
    }

    /// The segments a contact is in, given its non-zero sums.
    fn evaluate(&self, sums: &HashMap<u32, i64>, out: &mut Vec<(u32, isize)>) {
        struct Sums<'a> {
            c: &'a Compiled,
            sums: &'a HashMap<u32, i64>,
            held: &'a [bool],
        }
        impl Terms for Sums<'_> {
            fn term(&mut self, t: usize) -> V {
                let sum = |i: usize| self.sums.get(&(i as u32)).copied().unwrap_or(0);
                match &self.c.plan.terms[t].kind {
                    TermKind::Count { .. } | TermKind::Purchases { .. } => {
                        V::Num(sum(self.c.of_term[&t]) as f64)
                    }
                    TermKind::Sum { .. } | TermKind::Revenue { .. } => {
                        V::Num(sum(self.c.of_term[&t]) as f64 / 1e6)
                    }
                    TermKind::Segment(name) => V::Bool(
                        self.c
                            .plan
                            .predicates
                            .iter()
                            .position(|p| p.kind == PredicateKind::Segment && &p.name == name)
                            .is_some_and(|i| self.held[i]),
                    ),
                    other => unreachable!("compiled away: {other}"),
                }
            }

            fn since_cmp(&mut self, t: usize, op: CmpOp, d: i64) -> Option<bool> {
                let none_in = |w: i64| {
                    let i = self.c.of_since[&(t, w)] as u32;
                    self.sums.get(&i).copied().unwrap_or(0) == 0
                };
                Some(match op {
                    CmpOp::Ge => none_in(d),
                    CmpOp::Gt => none_in(d + 1),
                    CmpOp::Lt => !none_in(d),
                    CmpOp::Le => !none_in(d + 1),
                    CmpOp::Eq => none_in(d) && !none_in(d + 1),
                    CmpOp::Ne => !none_in(d) || none_in(d + 1),
                })
            }
        }
        let mut held = vec![false; self.plan.predicates.len()];
        for (i, p) in self.plan.predicates.iter().enumerate() {
            let v = subset::eval(
                &self.plan,
                &p.expr,
                &mut Sums {
                    c: self,
                    sums,
                    held: &held,
                },
            )
            .truthy();
            held[i] = v;
            if v && p.kind == PredicateKind::Segment {
                out.push((i as u32, 1));
            }
        }
    }
}

fn collect_since(plan: &Plan, e: &PExpr, out: &mut Vec<(usize, CmpOp, i64)>) -> Result<(), String> {
    match e {
        PExpr::Cmp(op, a, b) => {
            if let Some(s) = subset::since_shape(plan, *op, a, b) {
                out.push(s);
                return Ok(());
            }
            for x in [a, b] {
                if let PExpr::Term(t) = &**x {
                    if matches!(plan.terms[t.0 as usize].kind, TermKind::Since { .. }) {
                        return Err("since(…) compared with anything but a duration".into());
                    }
                }
            }
            collect_since(plan, a, out)?;
            collect_since(plan, b, out)
        }
        PExpr::Arith(_, a, b) | PExpr::And(a, b) | PExpr::Or(a, b) => {
            collect_since(plan, a, out)?;
            collect_since(plan, b, out)
        }
        PExpr::Not(a) => collect_since(plan, a, out),
        PExpr::Const(_) | PExpr::Term(_) => Ok(()),
    }
}

/// What one run produced.
pub struct DdRun {
    /// Ingest and stepping time, excluding the final catch-up to `until`.
    pub ingest: Duration,
    /// Time to step the dataflow from the last event to `until`.
    pub catch_up: Duration,
    /// Membership changes output.
    pub changes: u64,
    /// Members per segment, by contact number, ascending.
    pub memberships: Vec<(String, Vec<u32>)>,
}

/// Events between steps before `timed_from` (see [`run`]): its best case.
const PRELUDE: usize = 100_000;

/// Feeds `recs` (in time order) through the dataflow, then advances to `until` and reads the
/// memberships at `until`. The events from `timed_from` on are stepped every `batch` events
/// and timed; those before it are a prelude, stepped every [`PRELUDE`] events and not timed,
/// so that a long month can be measured at equal freshness over its last events, with the
/// arrangements as large as the month makes them (its first events, with the arrangements
/// still small, run several times faster).
pub fn run(
    plan: Plan,
    recs: Arc<Vec<Rec>>,
    batch: usize,
    until: i64,
    timed_from: usize,
) -> Result<DdRun, String> {
    // Checked here, built again inside the worker (which needs its own, not `Send`, handle).
    Compiled::new(plan.clone())?;
    let segments: Vec<(u32, String)> = plan
        .predicates
        .iter()
        .enumerate()
        .filter(|(_, p)| p.kind == PredicateKind::Segment)
        .map(|(i, p)| (i as u32, p.name.clone()))
        .collect();
    let out = timely::execute_directly(move |worker| {
        let compiled = Rc::new(Compiled::new(plan).expect("checked above"));
        let acc: Rc<RefCell<HashMap<(u32, u32), isize>>> = Rc::default();
        let changes = Rc::new(RefCell::new(0u64));
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, updates) = scope.new_collection::<(u32, u32), i64>();
            let logic = Rc::clone(&compiled);
            let (acc, changes) = (Rc::clone(&acc), Rc::clone(&changes));
            let (probe, _) = updates
                .count_total()
                .map(|((c, t), v)| (c, (t, v)))
                .reduce(move |_c, input: &[(&(u32, i64), isize)], output| {
                    let sums: HashMap<u32, i64> =
                        input.iter().map(|(tv, _)| (tv.0, tv.1)).collect();
                    logic.evaluate(&sums, output);
                })
                .inspect(move |((c, p), t, d)| {
                    *changes.borrow_mut() += 1;
                    if *t <= until as u64 {
                        *acc.borrow_mut().entry((*c, *p)).or_default() += *d;
                    }
                })
                .probe();
            (input, probe)
        });
        let mut seen = vec![
            false;
            recs.iter()
                .map(|r| r.contact as usize + 1)
                .max()
                .unwrap_or(0)
        ];
        let mut ups = Vec::new();
        let mut started = Instant::now();
        for (n, r) in recs.iter().enumerate() {
            let ts = r.ts as u64;
            if n == timed_from && n > 0 {
                // The prelude's last events, stepped before the clock starts.
                if ts > *input.time() {
                    input.advance_to(ts);
                }
                input.flush();
                worker.step_while(|| probe.less_than(input.time()));
                started = Instant::now();
            }
            let (k, every) = if n < timed_from {
                (n, PRELUDE)
            } else {
                (n - timed_from, batch)
            };
            if k % every == 0 && ts > *input.time() {
                input.advance_to(ts);
                input.flush();
                worker.step_while(|| probe.less_than(input.time()));
            }
            let first = !std::mem::replace(&mut seen[r.contact as usize], true);
            compiled.updates(r, first, &mut ups);
            for &(term, w, window) in &ups {
                input.update_at((r.contact, term), ts.max(*input.time()), w);
                if let Some(win) = window {
                    input.update_at((r.contact, term), ts + win as u64, -w);
                }
            }
        }
        let ingest = started.elapsed();
        let started = Instant::now();
        input.advance_to(until as u64 + 1);
        input.flush();
        worker.step_while(|| probe.less_than(input.time()));
        let catch_up = started.elapsed();
        let acc = acc.borrow();
        let memberships = segments
            .iter()
            .map(|(i, name)| {
                let mut m: Vec<u32> = acc
                    .iter()
                    .filter(|((_, p), n)| p == i && **n > 0)
                    .map(|((c, _), _)| *c)
                    .collect();
                m.sort_unstable();
                (name.clone(), m)
            })
            .collect();
        let changes = *changes.borrow();
        DdRun {
            ingest,
            catch_up,
            changes,
            memberships,
        }
    });
    Ok(out)
}
