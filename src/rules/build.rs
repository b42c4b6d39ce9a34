//! Building rules in Rust, without a text file. The builder makes the same syntax tree the
//! parser makes, and the same checker compiles it, so both paths give the same [`Plan`].
//!
//! ```
//! use tropa::rules::{R, RuleSet};
//! use tropa::Kind;
//!
//! let plan = RuleSet::new()
//!     .score(Kind::EmailClick, 5)
//!     .score_capped(Kind::ProductView, Some(R::field("discount").ge(0.3)), 1, 10, R::days(1))
//!     .tag("bargain_hunter",
//!          R::count(Kind::ProductView).when(R::field("discount").ge(0.3)).within(R::days(30)).ge(3))
//!     .segment("dormant",
//!          R::count(Kind::Purchase).ge(1).and(R::since(Kind::Purchase).gt(R::days(90))))
//!     .segment("vip",
//!          R::revenue().within(R::days(365)).ge(1000)
//!              .and(R::segment("dormant").not())
//!              .and(R::consent("email")))
//!     .compile()
//!     .unwrap();
//! assert_eq!(plan.summary(), "2 segments, 1 tags, 2 scores, 6 terms");
//!
//! // The same rules as text compile to the same plan.
//! let text = tropa::rules::compile(&RuleSet::new()
//!     .segment("dormant", R::count(Kind::Purchase).ge(1).and(R::since(Kind::Purchase).gt(R::days(90))))
//!     .to_text()).unwrap();
//! assert_eq!(text.summary(), "1 segments, 0 tags, 0 scores, 2 terms");
//! ```

use super::ast::{ArithOp, BinOp, Expr, ExprKind, Selector, Statement};
use super::check;
use super::error::{RuleErrors, Span};
use super::lexer::CmpOp;
use super::plan::Plan;
use crate::event::time::{DAY, HOUR, MINUTE};
use crate::event::Kind;

/// A rule expression under construction.
#[derive(Debug, Clone, PartialEq)]
pub struct R(Expr);

fn node(kind: ExprKind) -> R {
    R(Expr {
        kind,
        span: Span::default(),
    })
}

fn call(name: &str, selector: Option<Selector>, args: Vec<Expr>) -> R {
    node(ExprKind::Call {
        name: name.into(),
        selector,
        args,
    })
}

fn selector(kind: Kind, field: Option<&str>) -> Selector {
    Selector {
        kind: kind.as_str().into(),
        kind_span: Span::default(),
        field: field.map(|f| (f.into(), Span::default())),
        cond: None,
    }
}

impl From<f64> for R {
    fn from(v: f64) -> R {
        if v < 0.0 {
            node(ExprKind::Neg(Box::new(node(ExprKind::Num(-v)).0)))
        } else {
            node(ExprKind::Num(v))
        }
    }
}

impl From<i64> for R {
    fn from(v: i64) -> R {
        R::from(v as f64)
    }
}

impl From<i32> for R {
    fn from(v: i32) -> R {
        R::from(f64::from(v))
    }
}

impl From<&str> for R {
    fn from(v: &str) -> R {
        node(ExprKind::Str(v.into()))
    }
}

impl From<bool> for R {
    fn from(v: bool) -> R {
        node(ExprKind::Bool(v))
    }
}

impl R {
    /// A duration of `ms` milliseconds.
    pub fn ms(ms: i64) -> R {
        node(ExprKind::Dur(ms))
    }
    /// Minutes.
    pub fn minutes(n: i64) -> R {
        R::ms(n * MINUTE)
    }
    /// Hours.
    pub fn hours(n: i64) -> R {
        R::ms(n * HOUR)
    }
    /// Days.
    pub fn days(n: i64) -> R {
        R::ms(n * DAY)
    }

    /// `count(KIND)`; add `.when(…)` and `.within(…)`.
    pub fn count(kind: Kind) -> R {
        call("count", Some(selector(kind, None)), vec![])
    }
    /// `sum(KIND.FIELD)`; add `.when(…)` and `.within(…)`.
    pub fn sum(kind: Kind, field: &str) -> R {
        call("sum", Some(selector(kind, Some(field))), vec![])
    }
    /// `since(KIND)`; add `.when(…)`; compare with a constant duration.
    pub fn since(kind: Kind) -> R {
        call("since", Some(selector(kind, None)), vec![])
    }
    /// `purchases()`; add `.within(…)`.
    pub fn purchases() -> R {
        call("purchases", None, vec![])
    }
    /// `revenue()`; add `.within(…)`.
    pub fn revenue() -> R {
        call("revenue", None, vec![])
    }
    /// `brands_active(window)`.
    pub fn brands_active(window: R) -> R {
        call("brands_active", None, vec![window.0])
    }
    /// `score_gain(window)`.
    pub fn score_gain(window: R) -> R {
        call("score_gain", None, vec![window.0])
    }
    /// `tag("t")`.
    pub fn tag(t: &str) -> R {
        call("tag", None, vec![R::from(t).0])
    }
    /// `segment("s")`.
    pub fn segment(s: &str) -> R {
        call("segment", None, vec![R::from(s).0])
    }
    /// `consent("topic")`.
    pub fn consent(topic: &str) -> R {
        call("consent", None, vec![R::from(topic).0])
    }
    /// `attr("key")`.
    pub fn attr(key: &str) -> R {
        call("attr", None, vec![R::from(key).0])
    }
    /// A profile value by name: `score`, `known`, `stage`, `cart_items`, `cart_value`.
    pub fn value(name: &str) -> R {
        node(ExprKind::Name(name.into()))
    }
    /// An event field, inside `.when(…)`.
    pub fn field(name: &str) -> R {
        node(ExprKind::Name(name.into()))
    }

    /// Adds `where cond` to a `count`, `sum` or `since`.
    pub fn when(mut self, cond: R) -> R {
        if let ExprKind::Call {
            selector: Some(s), ..
        } = &mut self.0.kind
        {
            s.cond = Some(Box::new(cond.0));
        }
        self
    }

    /// Adds a window to a `count`, `sum`, `purchases` or `revenue`.
    pub fn within(mut self, window: R) -> R {
        if let ExprKind::Call { args, .. } = &mut self.0.kind {
            args.push(window.0);
        }
        self
    }

    fn bin(self, op: BinOp, other: R) -> R {
        node(ExprKind::Binary(op, Box::new(self.0), Box::new(other.0)))
    }

    /// `self >= v`
    pub fn ge(self, v: impl Into<R>) -> R {
        self.bin(BinOp::Cmp(CmpOp::Ge), v.into())
    }
    /// `self > v`
    pub fn gt(self, v: impl Into<R>) -> R {
        self.bin(BinOp::Cmp(CmpOp::Gt), v.into())
    }
    /// `self <= v`
    pub fn le(self, v: impl Into<R>) -> R {
        self.bin(BinOp::Cmp(CmpOp::Le), v.into())
    }
    /// `self < v`
    pub fn lt(self, v: impl Into<R>) -> R {
        self.bin(BinOp::Cmp(CmpOp::Lt), v.into())
    }
    /// `self == v`
    pub fn eq(self, v: impl Into<R>) -> R {
        self.bin(BinOp::Cmp(CmpOp::Eq), v.into())
    }
    /// `self != v`
    pub fn ne(self, v: impl Into<R>) -> R {
        self.bin(BinOp::Cmp(CmpOp::Ne), v.into())
    }
    /// `self and other`
    pub fn and(self, other: R) -> R {
        self.bin(BinOp::And, other)
    }
    /// `self or other`
    pub fn or(self, other: R) -> R {
        self.bin(BinOp::Or, other)
    }
    /// `not self`
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> R {
        node(ExprKind::Not(Box::new(self.0)))
    }
    /// `self + other`
    pub fn plus(self, other: impl Into<R>) -> R {
        self.bin(BinOp::Arith(ArithOp::Add), other.into())
    }
    /// `self - other`
    pub fn minus(self, other: impl Into<R>) -> R {
        self.bin(BinOp::Arith(ArithOp::Sub), other.into())
    }
    /// `self * other`
    pub fn times(self, other: impl Into<R>) -> R {
        self.bin(BinOp::Arith(ArithOp::Mul), other.into())
    }
    /// `self / other`
    pub fn over(self, other: impl Into<R>) -> R {
        self.bin(BinOp::Arith(ArithOp::Div), other.into())
    }
}

/// A set of rules built in Rust.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSet {
    stmts: Vec<Statement>,
}

impl RuleSet {
    /// No rules yet.
    pub fn new() -> RuleSet {
        RuleSet::default()
    }

    /// `segment NAME = cond`
    pub fn segment(mut self, name: &str, cond: R) -> RuleSet {
        self.stmts.push(Statement::Segment {
            name: name.into(),
            name_span: Span::default(),
            expr: cond.0,
        });
        self
    }

    /// `tag NAME when cond`
    pub fn tag(mut self, name: &str, cond: R) -> RuleSet {
        self.stmts.push(Statement::Tag {
            name: name.into(),
            name_span: Span::default(),
            expr: cond.0,
        });
        self
    }

    /// `score KIND => points`
    pub fn score(self, kind: Kind, points: i64) -> RuleSet {
        self.push_score(kind, None, points, None)
    }

    /// `score KIND [where cond] => points cap max per period`
    pub fn score_capped(
        self,
        kind: Kind,
        cond: Option<R>,
        points: i64,
        max: i64,
        period: R,
    ) -> RuleSet {
        self.push_score(kind, cond, points, Some((max, period.0)))
    }

    fn push_score(
        mut self,
        kind: Kind,
        cond: Option<R>,
        points: i64,
        cap: Option<(i64, Expr)>,
    ) -> RuleSet {
        let mut sel = selector(kind, None);
        sel.cond = cond.map(|c| Box::new(c.0));
        self.stmts.push(Statement::Score {
            selector: sel,
            points,
            points_span: Span::default(),
            cap,
        });
        self
    }

    /// The rules as text, in the rules language.
    pub fn to_text(&self) -> String {
        super::print(&self.stmts)
    }

    /// Checks and compiles the rules.
    pub fn compile(&self) -> Result<Plan, RuleErrors> {
        check::compile(&self.stmts, "", false).map_err(RuleErrors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_errors_say_what_without_a_place() {
        let err = RuleSet::new()
            .segment("x", R::count(Kind::Purchase).ge("many"))
            .segment("x", R::value("known"))
            .compile()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("comparing a string with a number"), "{text}");
        assert!(text.contains("segment `x` is defined twice"), "{text}");
    }

    #[test]
    fn builder_and_text_give_the_same_plan() {
        let rules = RuleSet::new()
            .score_capped(
                Kind::ProductView,
                Some(R::field("discount").ge(0.3)),
                1,
                10,
                R::days(1),
            )
            .tag(
                "bargain_hunter",
                R::count(Kind::ProductView)
                    .when(R::field("discount").ge(0.3))
                    .within(R::days(30))
                    .ge(3),
            )
            .segment(
                "app_regular",
                R::sum(Kind::AppSession, "duration")
                    .within(R::days(7))
                    .ge(R::from(7).times(1800)),
            )
            .segment(
                "cart_abandoned",
                R::value("cart_items")
                    .gt(0)
                    .and(R::since(Kind::CartAdd).ge(R::hours(24))),
            );
        let from_text = crate::rules::compile(&rules.to_text()).unwrap();
        assert_eq!(rules.compile().unwrap(), from_text);
    }
}
