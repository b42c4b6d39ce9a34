//! Predicates compiled for re-checking: the usual shapes of a condition read their terms
//! directly, without the interpreter's values.
//!
//! A predicate is re-checked on nearly every event and timer of a contact, and most are built
//! from a few shapes: a count, sum or other number compared with a constant
//! (`count(page_view, 7d) >= 3`), `since(…)` compared with a duration, a segment, tag or
//! consent read as a condition, joined by `and`, `or` and `not`. [`Test`] holds those shapes
//! with their term and constant in place, and answers with a plain `bool`; anything else (a
//! string comparison, arithmetic, an attribute) is kept as the expression and goes through
//! the interpreter ([`super::Evaluator::expr`]). Both give the same answer for the same state:
//! the shapes here follow the interpreter's rules (a comparison involving a value that does
//! not compare — null, NaN — is false, `not` of a non-boolean is false), and the reference-
//! model tests run every predicate through them.

use super::value::holds;
use crate::rules::{CmpOp, Const, PExpr, TermKind};
use std::cmp::Ordering;

/// How a term's value reads, for the compiled shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reads {
    /// Always a number.
    Number,
    /// A number: a count of the times kept in a term slot ([`CountRead`]).
    Count(CountRead),
    /// Time since the latest matching event, or never.
    Since,
    /// Always a boolean.
    Flag,
    /// Anything else (an attribute can be null, a string, a number or a boolean; the stage
    /// is a string).
    Other,
}

impl Reads {
    pub(super) fn of(kind: &TermKind) -> Reads {
        match kind {
            TermKind::Count { .. }
            | TermKind::Sum { .. }
            | TermKind::Purchases { .. }
            | TermKind::Revenue { .. }
            | TermKind::BrandsActive { .. }
            | TermKind::Score
            | TermKind::ScoreGain { .. }
            | TermKind::CartItems
            | TermKind::CartValue => Reads::Number,
            TermKind::Since { .. } => Reads::Since,
            TermKind::Tag(_) | TermKind::Segment(_) | TermKind::Consent(_) | TermKind::Known => {
                Reads::Flag
            }
            TermKind::Attr(_) | TermKind::Stage => Reads::Other,
        }
    }
}

/// A count term read straight from its slot: the kept times after `tau - window` (all kept
/// times without a window), at most `k` of them (`0`: no bound), as
/// [`super::Evaluator::number`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CountRead {
    pub(super) slot: u32,
    pub(super) window: Option<i64>,
    pub(super) k: u32,
}

/// Counts up to this are answered by a mask: a count compared with a constant below it answers
/// as this for every count above it.
const MASKED: u32 = 63;

/// A predicate's condition, compiled (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Test {
    /// A number-valued term compared with a number: `term op c`.
    Number {
        term: usize,
        op: CmpOp,
        c: f64,
    },
    /// A count compared with a number: `count op c` holds when bit `min(count, cap)` of
    /// `mask` is set (see [`Test::count`]).
    Count {
        read: CountRead,
        cap: u32,
        mask: u64,
    },
    /// A count compared with a threshold: holds when `(count >= n) == want` (`n` at least 1
    /// and at most the count's bound). Most counts are compared so (`count(...) >= 3`,
    /// `count(...) < 1`), and the answer is then one look at the `n`-th latest kept time,
    /// without counting.
    CountAtLeast {
        read: CountRead,
        n: u32,
        want: bool,
    },
    /// A `since` term compared with a duration: `since op d`.
    Since {
        term: usize,
        op: CmpOp,
        d: i64,
    },
    /// A boolean term.
    Flag(usize),
    Not(Box<Test>),
    And(Box<Test>, Box<Test>),
    Or(Box<Test>, Box<Test>),
    /// Through the interpreter: true when the expression's value is `true`.
    Expr(PExpr),
}

/// What a [`Test`] reads of a contact: the evaluator answers these.
pub(super) trait Terms {
    fn number(&self, term: usize) -> f64;
    /// The count as [`CountRead`] describes it (not yet capped at its `k`).
    fn count(&self, read: &CountRead) -> u64;
    /// Whether that count is at least `n` (which is at least 1).
    fn count_at_least(&self, read: &CountRead, n: u32) -> bool {
        self.count(read) >= u64::from(n)
    }
    /// Milliseconds since the term's latest event; `None` when there is none.
    fn since(&self, term: usize) -> Option<i64>;
    fn flag(&self, term: usize) -> bool;
    fn expr(&self, e: &PExpr) -> bool;
}

impl Test {
    /// Compiles `e`; `reads(t)` tells how term `t` reads.
    pub(super) fn compile(e: &PExpr, reads: &impl Fn(usize) -> Reads) -> Test {
        Test::boolean(e, reads).unwrap_or_else(|| Test::Expr(e.clone()))
    }

    /// `e` as a test that always yields a boolean, when it has one of the compiled shapes
    /// (`None` otherwise: the caller keeps the expression).
    fn boolean(e: &PExpr, reads: &impl Fn(usize) -> Reads) -> Option<Test> {
        Some(match e {
            PExpr::Cmp(op, a, b) => {
                // The term on the left: a constant on the left compares the other way round.
                let (op, t, k) = match (&**a, &**b) {
                    (PExpr::Term(t), PExpr::Const(k)) => (*op, t, k),
                    (PExpr::Const(k), PExpr::Term(t)) => (op.flipped(), t, k),
                    _ => return None,
                };
                let term = t.0 as usize;
                match (reads(term), k) {
                    (Reads::Count(read), Const::Num(c)) => {
                        Test::count(read, op, *c).unwrap_or(Test::Number { term, op, c: *c })
                    }
                    (Reads::Number, Const::Num(c)) => Test::Number { term, op, c: *c },
                    (Reads::Since, Const::Dur(d)) => Test::Since { term, op, d: *d },
                    _ => return None,
                }
            }
            PExpr::Term(t) if reads(t.0 as usize) == Reads::Flag => Test::Flag(t.0 as usize),
            // Only around a test that yields a boolean: the interpreter's `not` of anything
            // else is false, not its negation.
            PExpr::Not(a) => Test::Not(Box::new(Test::boolean(a, reads)?)),
            PExpr::And(a, b) => Test::And(
                Box::new(Test::compile(a, reads)),
                Box::new(Test::compile(b, reads)),
            ),
            PExpr::Or(a, b) => Test::Or(
                Box::new(Test::compile(a, reads)),
                Box::new(Test::compile(b, reads)),
            ),
            _ => return None,
        })
    }

    /// `count op c` as a mask over the counts `0..=cap`, `cap` the count's own bound `k`
    /// when that is at most [`MASKED`]. An unbounded count (or one bounded above that) is
    /// capped at `MASKED` only when `c` is below it, so that every larger count answers as
    /// `MASKED` does; otherwise `None`, and the comparison stays a [`Test::Number`].
    fn count(read: CountRead, op: CmpOp, c: f64) -> Option<Test> {
        let cap = match read.k {
            k @ 1..=MASKED => k,
            _ if c.is_nan() || c < f64::from(MASKED) => MASKED,
            _ => return None,
        };
        let mask = (0..=cap)
            .filter(|n| f64::from(*n).partial_cmp(&c).is_some_and(|o| holds(op, o)))
            .fold(0u64, |m, n| m | 1 << n);
        // A threshold: the counts from `n` up (`count >= n`), or those below it.
        let full = u64::MAX >> (MASKED - cap);
        let above = |n: u32| full & !((1u64 << n) - 1);
        let n = mask.trailing_zeros();
        if (1..=cap).contains(&n) && mask == above(n) {
            return Some(Test::CountAtLeast {
                read,
                n,
                want: true,
            });
        }
        let n = mask.trailing_ones();
        if (1..=cap).contains(&n) && mask == full & !above(n) {
            return Some(Test::CountAtLeast {
                read,
                n,
                want: false,
            });
        }
        Some(Test::Count { read, cap, mask })
    }

    /// Whether the condition holds.
    ///
    /// The usual test, a count against its threshold, is answered here, inline at the
    /// caller's loop; the rest go through [`Test::holds_other`]. As one function, every
    /// re-check paid the whole match's entry and exit (about thirty instructions saving and
    /// restoring registers) for a read of a few.
    #[inline]
    pub(super) fn holds(&self, cx: &impl Terms) -> bool {
        if let Test::CountAtLeast { read, n, want } = self {
            return cx.count_at_least(read, *n) == *want;
        }
        self.holds_other(cx)
    }

    /// [`Test::holds`] of any shape.
    #[inline(never)]
    fn holds_other(&self, cx: &impl Terms) -> bool {
        match self {
            Test::Count { read, cap, mask } => {
                let n = cx.count(read).min(u64::from(*cap));
                mask >> n & 1 != 0
            }
            Test::CountAtLeast { read, n, want } => cx.count_at_least(read, *n) == *want,
            Test::Number { term, op, c } => cx
                .number(*term)
                .partial_cmp(c)
                .is_some_and(|o| holds(*op, o)),
            Test::Since { term, op, d } => {
                // Never is longer than any duration.
                let o = cx.since(*term).map_or(Ordering::Greater, |s| s.cmp(d));
                holds(*op, o)
            }
            Test::Flag(t) => cx.flag(*t),
            Test::Not(a) => !a.holds(cx),
            Test::And(a, b) => a.holds(cx) && b.holds(cx),
            Test::Or(a, b) => a.holds(cx) || b.holds(cx),
            Test::Expr(e) => cx.expr(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::value::{compare, Val};
    use crate::rules::TermId;
    use proptest::prelude::*;

    /// Term 0 is a number, 1 a `since`, 2 a flag, 3 a count bounded by `k`.
    fn reads_k(t: usize, k: u32) -> Reads {
        let count = Reads::Count(CountRead {
            slot: 7,
            window: Some(5),
            k,
        });
        [Reads::Number, Reads::Since, Reads::Flag, count][t]
    }

    fn reads(t: usize) -> Reads {
        reads_k(t, 3)
    }

    /// Values of terms 0..4; `expr` answers through the interpreter's own comparison.
    struct Fixed {
        number: f64,
        since: Option<i64>,
        flag: bool,
        /// Term 3's kept count, and its bound (`0`: none).
        count: u64,
        k: u32,
    }

    impl Fixed {
        /// Term 3's value as the evaluator's `number` reads it: capped at its `k`.
        fn capped(&self) -> f64 {
            match self.k {
                0 => self.count as f64,
                k => self.count.min(u64::from(k)) as f64,
            }
        }
    }

    impl Fixed {
        fn value<'a>(&self, e: &'a PExpr) -> Val<'a> {
            match e {
                PExpr::Const(c) => Val::from_const(c),
                PExpr::Term(t) => match t.0 {
                    0 => Val::Num(self.number),
                    1 => Val::Since(self.since),
                    2 => Val::Bool(self.flag),
                    _ => Val::Num(self.capped()),
                },
                PExpr::Cmp(op, a, b) => Val::Bool(compare(*op, &self.value(a), &self.value(b))),
                PExpr::Not(a) => match self.value(a) {
                    Val::Bool(b) => Val::Bool(!b),
                    _ => Val::Null,
                },
                PExpr::And(a, b) => Val::Bool(self.value(a).truthy() && self.value(b).truthy()),
                PExpr::Or(a, b) => Val::Bool(self.value(a).truthy() || self.value(b).truthy()),
                PExpr::Arith(..) => Val::Null,
            }
        }
    }

    impl Terms for Fixed {
        fn number(&self, t: usize) -> f64 {
            match t {
                0 => self.number,
                3 => self.capped(),
                _ => panic!("term {t} is not a number"),
            }
        }
        fn count(&self, read: &CountRead) -> u64 {
            assert_eq!((read.slot, read.window, read.k), (7, Some(5), self.k));
            self.count
        }
        fn since(&self, t: usize) -> Option<i64> {
            assert_eq!(t, 1);
            self.since
        }
        fn flag(&self, t: usize) -> bool {
            assert_eq!(t, 2);
            self.flag
        }
        fn expr(&self, e: &PExpr) -> bool {
            self.value(e).truthy()
        }
    }

    fn op() -> impl Strategy<Value = CmpOp> {
        prop_oneof![
            Just(CmpOp::Lt),
            Just(CmpOp::Le),
            Just(CmpOp::Gt),
            Just(CmpOp::Ge),
            Just(CmpOp::Eq),
            Just(CmpOp::Ne),
        ]
    }

    fn number() -> impl Strategy<Value = f64> {
        prop_oneof![Just(0.0), Just(1.0), Just(2.5), Just(f64::NAN), -3.0..3.0]
    }

    /// Constants a count is compared with: around small counts and around the mask's cap.
    fn count_constant() -> impl Strategy<Value = f64> {
        prop_oneof![
            (-1i32..7).prop_map(f64::from),
            (60i32..70).prop_map(f64::from),
            Just(2.5),
            Just(62.5),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
        ]
    }

    /// `term op k`, or `k op term`.
    fn cmp(op: CmpOp, term: u32, k: Const, left: bool) -> PExpr {
        let (t, k) = (
            Box::new(PExpr::Term(TermId(term))),
            Box::new(PExpr::Const(k)),
        );
        if left {
            PExpr::Cmp(op, t, k)
        } else {
            PExpr::Cmp(op, k, t)
        }
    }

    /// Conditions over the three terms, with shapes the compiler takes and shapes it leaves
    /// to the interpreter (a number alone, a constant, a `since` compared with a number).
    fn expr() -> impl Strategy<Value = PExpr> {
        let leaf = prop_oneof![
            (op(), number(), any::<bool>()).prop_map(|(op, c, l)| cmp(op, 0, Const::Num(c), l)),
            (op(), count_constant(), any::<bool>()).prop_map(|(op, c, l)| cmp(
                op,
                3,
                Const::Num(c),
                l
            )),
            (op(), -5i64..20, any::<bool>()).prop_map(|(op, d, l)| cmp(op, 1, Const::Dur(d), l)),
            Just(PExpr::Term(TermId(2))),
            Just(PExpr::Term(TermId(0))),
            any::<bool>().prop_map(|b| PExpr::Const(Const::Bool(b))),
            (op(), number()).prop_map(|(op, c)| cmp(op, 1, Const::Num(c), true)),
        ];
        leaf.prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|a| PExpr::Not(Box::new(a))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| PExpr::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| PExpr::Or(Box::new(a), Box::new(b))),
            ]
        })
    }

    proptest! {
        #[test]
        fn compiled_tests_answer_as_the_interpreter(
            e in expr(),
            number in number(),
            since in proptest::option::of(-5i64..20),
            flag in any::<bool>(),
            count in prop_oneof![0u64..8, 60u64..70, Just(1 << 40)],
            k in prop_oneof![Just(0u32), 1u32..6, 62u32..66],
        ) {
            let fixed = Fixed { number, since, flag, count, k };
            let test = Test::compile(&e, &|t| reads_k(t, k));
            prop_assert_eq!(test.holds(&fixed), fixed.expr(&e), "{:?}", test);
        }
    }

    #[test]
    fn the_usual_shapes_compile_and_the_rest_is_kept() {
        assert_eq!(
            Test::compile(&cmp(CmpOp::Lt, 0, Const::Num(3.0), false), &reads),
            Test::Number {
                term: 0,
                op: CmpOp::Gt,
                c: 3.0
            }
        );
        assert_eq!(
            Test::compile(&cmp(CmpOp::Ge, 1, Const::Dur(5), true), &reads),
            Test::Since {
                term: 1,
                op: CmpOp::Ge,
                d: 5
            }
        );
        assert_eq!(
            Test::compile(&PExpr::Term(TermId(2)), &reads),
            Test::Flag(2)
        );
        // A count compared with a threshold: one look at the n-th latest time.
        let read = CountRead {
            slot: 7,
            window: Some(5),
            k: 3,
        };
        assert_eq!(
            Test::compile(&cmp(CmpOp::Ge, 3, Const::Num(2.0), true), &reads),
            Test::CountAtLeast {
                read,
                n: 2,
                want: true
            }
        );
        assert_eq!(
            Test::compile(&cmp(CmpOp::Lt, 3, Const::Num(1.0), true), &reads),
            Test::CountAtLeast {
                read,
                n: 1,
                want: false
            }
        );
        // Any other comparison: a mask over the counts up to its bound.
        assert_eq!(
            Test::compile(&cmp(CmpOp::Eq, 3, Const::Num(2.0), true), &reads),
            Test::Count {
                read,
                cap: 3,
                mask: 0b0100
            }
        );
        // Unbounded, against a constant above the mask's reach: left as a number.
        assert!(matches!(
            Test::compile(&cmp(CmpOp::Ge, 3, Const::Num(70.0), true), &|t| reads_k(
                t, 0
            )),
            Test::Number { term: 3, .. }
        ));
        // `not` of a number stays with the interpreter (it is false, not a negation).
        let e = PExpr::Not(Box::new(PExpr::Term(TermId(0))));
        assert_eq!(Test::compile(&e, &reads), Test::Expr(e));
        assert_eq!(
            Reads::of(&TermKind::Stage),
            Reads::Other,
            "the stage is a string"
        );
    }
}
