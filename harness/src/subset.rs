//! The part of the rules language the baselines implement, and its meaning over workload
//! records: `count`, `sum` (of `amount`, `duration`, `price`), `since`, `purchases`,
//! `revenue` and `segment("…")`, with `where` conditions on `discount`, `amount`, `price`,
//! `duration`, `brand`, `channel` and `zone`; comparisons, arithmetic, `and`, `or`, `not`.
//! Values follow SPEC 4: numbers are floats, durations milliseconds, comparisons with null are
//! false, `since` is infinite without a matching event.
//!
//! These semantics are restated here on purpose rather than borrowed from the engine: the
//! baselines are then an independent reading of the SPEC, and the harness's agreement check
//! tests the engine's values as well as its speed.

use crate::workload::{Rec, BRANDS, ZONES};
use std::cmp::Ordering;
use tropa::rules::{ArithOp, CmpOp, Cond, Const, Field, Filter, PExpr, Plan, TermKind};
use tropa::Kind;

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Num(f64),
    Str(String),
    Bool(bool),
    Dur(i64),
    /// Time since the latest matching event; `None`: never.
    Since(Option<i64>),
}

impl V {
    pub fn truthy(&self) -> bool {
        *self == V::Bool(true)
    }
}

fn order(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Num(x), V::Num(y)) => x.partial_cmp(y),
        (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        (V::Dur(x), V::Dur(y)) => Some(x.cmp(y)),
        (V::Since(None), V::Dur(_)) => Some(Ordering::Greater),
        (V::Dur(_), V::Since(None)) => Some(Ordering::Less),
        (V::Since(Some(s)), V::Dur(d)) => Some(s.cmp(d)),
        (V::Dur(d), V::Since(Some(s))) => Some(d.cmp(s)),
        _ => None,
    }
}

pub fn compare(op: CmpOp, a: &V, b: &V) -> bool {
    let Some(o) = order(a, b) else {
        return false;
    };
    match op {
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
    }
}

pub fn arith(op: ArithOp, a: &V, b: &V) -> V {
    let (V::Num(x), V::Num(y)) = (a, b) else {
        return V::Null;
    };
    match op {
        ArithOp::Add => V::Num(x + y),
        ArithOp::Sub => V::Num(x - y),
        ArithOp::Mul => V::Num(x * y),
        ArithOp::Div if *y == 0.0 => V::Null,
        ArithOp::Div => V::Num(x / y),
    }
}

pub fn konst(c: &Const) -> V {
    match c {
        Const::Num(n) => V::Num(*n),
        Const::Str(s) => V::Str(s.clone()),
        Const::Bool(b) => V::Bool(*b),
        Const::Dur(d) => V::Dur(*d),
    }
}

fn field(r: &Rec, f: &Field) -> V {
    let money = |m: i64| V::Num(m as f64 / 1e6);
    match f {
        Field::Channel => V::Str(r.channel.as_str().to_owned()),
        Field::Brand => V::Str(BRANDS[r.brand as usize].to_owned()),
        Field::Named("discount") if r.kind == Kind::ProductView && r.discount > 0 => {
            V::Num(f64::from(r.discount) / 100.0)
        }
        Field::Named("amount") if r.kind == Kind::Purchase => money(r.value),
        Field::Named("price") if matches!(r.kind, Kind::ProductView | Kind::CartAdd) => {
            money(r.value)
        }
        Field::Named("duration") if matches!(r.kind, Kind::AppSession | Kind::Beacon) => {
            V::Num(r.value as f64 / 1000.0)
        }
        Field::Named("zone") if r.kind == Kind::Beacon => V::Str(ZONES[r.zone as usize].into()),
        _ => V::Null,
    }
}

/// A summed field in exact millionths (`None` when absent), as the engine sums it.
pub fn micros(r: &Rec, f: &Field) -> Option<i64> {
    match (r.kind, f) {
        (Kind::Purchase, Field::Named("amount")) => Some(r.value),
        (Kind::AppSession | Kind::Beacon, Field::Named("duration")) => Some(r.value * 1000),
        (Kind::ProductView | Kind::CartAdd, Field::Named("price")) => Some(r.value),
        _ => None,
    }
}

fn cond(c: &Cond, r: &Rec) -> V {
    match c {
        Cond::Const(k) => konst(k),
        Cond::Field(f) => field(r, f),
        Cond::Cmp(op, a, b) => V::Bool(compare(*op, &cond(a, r), &cond(b, r))),
        Cond::Arith(op, a, b) => arith(*op, &cond(a, r), &cond(b, r)),
        Cond::Not(a) => match cond(a, r) {
            V::Bool(b) => V::Bool(!b),
            _ => V::Null,
        },
        Cond::And(a, b) => V::Bool(cond(a, r).truthy() && cond(b, r).truthy()),
        Cond::Or(a, b) => V::Bool(cond(a, r).truthy() || cond(b, r).truthy()),
    }
}

pub fn matches(f: &Filter, r: &Rec) -> bool {
    f.kind == r.kind && f.cond.as_ref().is_none_or(|c| cond(c, r).truthy())
}

/// Whether the baselines can run `plan`: every term is one they implement.
pub fn check(plan: &Plan) -> Result<(), String> {
    if !plan.scores.is_empty() {
        return Err("score rules are outside the baselines' subset".into());
    }
    for t in &plan.terms {
        match &t.kind {
            TermKind::Count { .. }
            | TermKind::Sum { .. }
            | TermKind::Since { .. }
            | TermKind::Purchases { .. }
            | TermKind::Revenue { .. }
            | TermKind::Segment(_) => {}
            other => return Err(format!("`{other}` is outside the baselines' subset")),
        }
    }
    Ok(())
}

/// How a predicate's values are found.
pub trait Terms {
    /// Term `i`'s value.
    fn term(&mut self, i: usize) -> V;

    /// `since(term) op d` answered directly, for evaluators that keep no latest time.
    fn since_cmp(&mut self, _term: usize, _op: CmpOp, _d: i64) -> Option<bool> {
        None
    }
}

/// `since(…) op d` (or `d op since(…)`, turned round) when `e` has that shape.
pub fn since_shape(plan: &Plan, op: CmpOp, a: &PExpr, b: &PExpr) -> Option<(usize, CmpOp, i64)> {
    let is_since =
        |t: &tropa::rules::TermId| matches!(plan.terms[t.0 as usize].kind, TermKind::Since { .. });
    match (a, b) {
        (PExpr::Term(t), PExpr::Const(Const::Dur(d))) if is_since(t) => {
            Some((t.0 as usize, op, *d))
        }
        (PExpr::Const(Const::Dur(d)), PExpr::Term(t)) if is_since(t) => {
            let flipped = match op {
                CmpOp::Lt => CmpOp::Gt,
                CmpOp::Le => CmpOp::Ge,
                CmpOp::Gt => CmpOp::Lt,
                CmpOp::Ge => CmpOp::Le,
                same => same,
            };
            Some((t.0 as usize, flipped, *d))
        }
        _ => None,
    }
}

/// Evaluates a predicate of `plan`.
pub fn eval(plan: &Plan, e: &PExpr, terms: &mut impl Terms) -> V {
    match e {
        PExpr::Const(c) => konst(c),
        PExpr::Term(t) => terms.term(t.0 as usize),
        PExpr::Cmp(op, a, b) => {
            if let Some((t, op, d)) = since_shape(plan, *op, a, b) {
                if let Some(v) = terms.since_cmp(t, op, d) {
                    return V::Bool(v);
                }
            }
            V::Bool(compare(*op, &eval(plan, a, terms), &eval(plan, b, terms)))
        }
        PExpr::Arith(op, a, b) => arith(*op, &eval(plan, a, terms), &eval(plan, b, terms)),
        PExpr::Not(a) => match eval(plan, a, terms) {
            V::Bool(b) => V::Bool(!b),
            _ => V::Null,
        },
        PExpr::And(a, b) => V::Bool(eval(plan, a, terms).truthy() && eval(plan, b, terms).truthy()),
        PExpr::Or(a, b) => V::Bool(eval(plan, a, terms).truthy() || eval(plan, b, terms).truthy()),
    }
}
