//! Where time alone can flip a comparison: the offsets after a `since` term's latest event,
//! and the counts at which a windowed `count` crosses a threshold.
//!
//! Both come from the predicates' text, once per plan. They let a contact's timer be set for
//! the instant a predicate's answer can actually change, instead of every instant a term's
//! value changes: `count(page_view, 7d) >= 5` of a contact with two page views in the week
//! needs no timer at all, and one with nine needs one when the fifth latest leaves the week,
//! not at each of the nine.

use crate::rules::{CmpOp, Const, PExpr, TermId};

/// The offsets after a `since` term's latest event at which its comparisons with constant
/// durations can flip: `since >= d` and `since < d` at `+d`, `since > d` and `since <= d` at
/// `+d + 1 ms`, `==` and `!=` at both.
pub(super) fn since_thresholds(e: &PExpr, out: &mut Vec<(TermId, i64)>) {
    match e {
        PExpr::Cmp(op, a, b) => {
            let found = match (&**a, &**b) {
                (PExpr::Term(t), PExpr::Const(Const::Dur(d))) => Some((*t, *op, *d)),
                (PExpr::Const(Const::Dur(d)), PExpr::Term(t)) => Some((*t, op.flipped(), *d)),
                _ => None,
            };
            if let Some((t, op, d)) = found {
                match op {
                    CmpOp::Ge | CmpOp::Lt => out.push((t, d)),
                    CmpOp::Gt | CmpOp::Le => out.push((t, d.saturating_add(1))),
                    CmpOp::Eq | CmpOp::Ne => out.extend([(t, d), (t, d.saturating_add(1))]),
                }
            }
            since_thresholds(a, out);
            since_thresholds(b, out);
        }
        PExpr::Arith(_, a, b) | PExpr::And(a, b) | PExpr::Or(a, b) => {
            since_thresholds(a, out);
            since_thresholds(b, out);
        }
        PExpr::Not(a) => since_thresholds(a, out),
        PExpr::Const(_) | PExpr::Term(_) => {}
    }
}

/// How predicates read a count-like term, gathered over every use of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum CountUse {
    /// Not read at all (yet).
    #[default]
    Unread,
    /// Only compared with number constants: the answer of every comparison changes only
    /// where the count crosses one of these boundaries (`b`: from `b` to `b - 1`), ascending.
    Boundaries(Vec<u64>),
    /// Read some other way (arithmetic, compared with another term): every change matters.
    Exact,
}

impl CountUse {
    fn add(&mut self, found: Option<(CmpOp, f64)>) {
        let Some((op, c)) = found else {
            *self = CountUse::Exact;
            return;
        };
        let mut list = match std::mem::take(self) {
            CountUse::Exact => {
                *self = CountUse::Exact;
                return;
            }
            CountUse::Unread => Vec::new(),
            CountUse::Boundaries(v) => v,
        };
        list.extend(boundaries(op, c));
        list.sort_unstable();
        list.dedup();
        *self = CountUse::Boundaries(list);
    }
}

/// The counts `b >= 1` at which `count OP c` changes its answer between `b - 1` and `b`: for a
/// count `m`, `m >= c` and `m < c` flip at `ceil(c)`; `m > c` and `m <= c` at `floor(c) + 1`;
/// `m == c` and `m != c` at `c` and `c + 1` when `c` is a whole number (never otherwise).
fn boundaries(op: CmpOp, c: f64) -> impl Iterator<Item = u64> {
    // Counts are far below 2^53; a larger constant is a boundary no count reaches.
    let whole = |x: f64| (x >= 1.0).then(|| x.min(9.0e15) as u64);
    let (a, b) = match op {
        CmpOp::Ge | CmpOp::Lt => (whole(c.ceil()), None),
        CmpOp::Gt | CmpOp::Le => (whole(c.floor() + 1.0), None),
        CmpOp::Eq | CmpOp::Ne if c.fract() == 0.0 => (whole(c), whole(c + 1.0)),
        CmpOp::Eq | CmpOp::Ne => (None, None),
    };
    a.into_iter().chain(b)
}

/// Records in `out[term]` how `e` reads each term.
pub(super) fn count_uses(e: &PExpr, out: &mut [CountUse]) {
    match e {
        PExpr::Cmp(op, a, b) => match (&**a, &**b) {
            (PExpr::Term(t), PExpr::Const(Const::Num(c))) => {
                out[t.0 as usize].add(Some((*op, *c)));
            }
            (PExpr::Const(Const::Num(c)), PExpr::Term(t)) => {
                out[t.0 as usize].add(Some((op.flipped(), *c)));
            }
            _ => {
                count_uses(a, out);
                count_uses(b, out);
            }
        },
        PExpr::Term(t) => out[t.0 as usize].add(None),
        PExpr::Const(_) => {}
        PExpr::Not(a) => count_uses(a, out),
        PExpr::Arith(_, a, b) | PExpr::And(a, b) | PExpr::Or(a, b) => {
            count_uses(a, out);
            count_uses(b, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(op: CmpOp, c: f64) -> Vec<u64> {
        boundaries(op, c).collect()
    }

    #[test]
    fn boundaries_are_where_the_answer_flips() {
        // Checked against the comparison itself over counts 0..12.
        for op in [
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
            CmpOp::Eq,
            CmpOp::Ne,
        ] {
            for c in [-1.0, 0.0, 0.5, 1.0, 2.5, 3.0, 7.0] {
                let holds = |m: u64| {
                    crate::eval::value::compare(
                        op,
                        &crate::eval::value::Val::Num(m as f64),
                        &crate::eval::value::Val::Num(c),
                    )
                };
                let flips: Vec<u64> = (1..12).filter(|m| holds(*m) != holds(m - 1)).collect();
                assert_eq!(all(op, c), flips, "{op:?} {c}");
            }
        }
    }

    #[test]
    fn a_use_outside_a_comparison_with_a_number_makes_every_change_matter() {
        let mut u = CountUse::default();
        u.add(Some((CmpOp::Ge, 5.0)));
        u.add(Some((CmpOp::Lt, 2.0)));
        assert_eq!(u, CountUse::Boundaries(vec![2, 5]));
        u.add(None);
        assert_eq!(u, CountUse::Exact);
        u.add(Some((CmpOp::Ge, 1.0)));
        assert_eq!(u, CountUse::Exact);
    }
}
