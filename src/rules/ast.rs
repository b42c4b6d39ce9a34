//! The syntax tree of a rules file, as written (names not yet resolved).

use super::error::Span;
use super::lexer::CmpOp;

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

impl ArithOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }
}

/// Binary operators, loosest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// A comparison.
    Cmp(CmpOp),
    /// Arithmetic.
    Arith(ArithOp),
}

impl BinOp {
    /// Binding strength: larger binds tighter.
    pub(crate) fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Cmp(_) => 4,
            BinOp::Arith(ArithOp::Add | ArithOp::Sub) => 5,
            BinOp::Arith(ArithOp::Mul | ArithOp::Div) => 6,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Cmp(c) => c.as_str(),
            BinOp::Arith(a) => a.as_str(),
        }
    }
}

/// `KIND[.FIELD] [where COND]`: the events a `count`, `sum` or `since` looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    /// Event kind name.
    pub kind: String,
    /// Where the kind name is.
    pub kind_span: Span,
    /// The summed field, for `sum`.
    pub field: Option<(String, Span)>,
    /// Condition over the event's own fields.
    pub cond: Option<Box<Expr>>,
}

/// An expression node.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A number.
    Num(f64),
    /// A duration literal, ms.
    Dur(i64),
    /// A string.
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// A bare name: a profile value (`score`, `stage` …) or, inside `where`, an event field.
    Name(String),
    /// `f(…)`; `count`, `sum` and `since` take a selector first.
    Call {
        /// Function name.
        name: String,
        /// The selector, for `count`, `sum` and `since`.
        selector: Option<Selector>,
        /// Other arguments.
        args: Vec<Expr>,
    },
    /// `not e`.
    Not(Box<Expr>),
    /// `-e`.
    Neg(Box<Expr>),
    /// `a op b`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// An expression and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

/// One statement of a rules file.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `segment NAME = EXPR`
    Segment {
        /// Segment name.
        name: String,
        /// Where the name is.
        name_span: Span,
        /// Membership predicate.
        expr: Expr,
    },
    /// `tag NAME when EXPR`
    Tag {
        /// Tag name.
        name: String,
        /// Where the name is.
        name_span: Span,
        /// Condition; the tag sticks from the first instant it holds.
        expr: Expr,
    },
    /// `score KIND [where COND] => N [cap N per D]`
    Score {
        /// Which events score.
        selector: Selector,
        /// Points per event.
        points: i64,
        /// Where the points are.
        points_span: Span,
        /// `cap N per D`: at most N points per period D.
        cap: Option<(i64, Expr)>,
    },
}

impl Statement {
    /// Where the statement starts (its name, or its kind for scores).
    pub fn span(&self) -> Span {
        match self {
            Statement::Segment { name_span, .. } | Statement::Tag { name_span, .. } => *name_span,
            Statement::Score { selector, .. } => selector.kind_span,
        }
    }
}

/// Clears every span, so that two trees can be compared by structure alone (used to check that
/// printing and parsing again gives the same tree).
pub fn strip_spans(stmts: &mut [Statement]) {
    fn sel(s: &mut Selector) {
        s.kind_span = Span::default();
        if let Some((_, sp)) = &mut s.field {
            *sp = Span::default();
        }
        if let Some(c) = &mut s.cond {
            expr(c);
        }
    }
    fn expr(e: &mut Expr) {
        e.span = Span::default();
        match &mut e.kind {
            ExprKind::Call { selector, args, .. } => {
                if let Some(s) = selector {
                    sel(s);
                }
                args.iter_mut().for_each(expr);
            }
            ExprKind::Not(x) | ExprKind::Neg(x) => expr(x),
            ExprKind::Binary(_, a, b) => {
                expr(a);
                expr(b);
            }
            _ => {}
        }
    }
    for s in stmts {
        match s {
            Statement::Segment {
                name_span, expr: e, ..
            }
            | Statement::Tag {
                name_span, expr: e, ..
            } => {
                *name_span = Span::default();
                expr(e);
            }
            Statement::Score {
                selector,
                points_span,
                cap,
                ..
            } => {
                sel(selector);
                *points_span = Span::default();
                if let Some((_, d)) = cap {
                    expr(d);
                }
            }
        }
    }
}
