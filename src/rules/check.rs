//! The checker: resolves names, checks types and the constant-window rules, finds duplicate
//! names, undefined references and cycles, and compiles the file into a [`Plan`].

use super::ast::{ArithOp, BinOp, Expr, ExprKind, Selector, Statement};
use super::error::{RuleError, Span};
use super::lexer::CmpOp;
use super::plan::{
    Cond, Const, Field, Filter, KindSet, PExpr, Plan, PredicateKind, ScoreRule, StateNeed, Term,
    TermId, TermKind,
};
use super::schema::{self, Ty, PROFILE_NAMES, STAGES};
use crate::event::{Channel, Kind};
use std::collections::HashMap;

/// Checks and compiles parsed statements. `partial` says some statements did not parse: then
/// a reference to an undefined segment may only mean its definition had a syntax error, and is
/// not reported again.
pub(crate) fn compile(
    stmts: &[Statement],
    src: &str,
    partial: bool,
) -> Result<Plan, Vec<RuleError>> {
    let mut c = Checker {
        src,
        errors: Vec::new(),
        terms: Vec::new(),
        index: HashMap::new(),
    };
    // Names first, so that references can be checked wherever they stand.
    let mut defined: HashMap<(PredicateKind, &str), Span> = HashMap::new();
    let mut preds: Vec<(PredicateKind, &str, Span, &Expr)> = Vec::new();
    for s in stmts {
        let (kind, name, span, expr) = match s {
            Statement::Segment {
                name,
                name_span,
                expr,
            } => (PredicateKind::Segment, name, *name_span, expr),
            Statement::Tag {
                name,
                name_span,
                expr,
            } => (PredicateKind::Tag, name, *name_span, expr),
            Statement::Score { .. } => continue,
        };
        if let Some(first) = defined.get(&(kind, name.as_str())) {
            let what = kind_name(kind);
            c.error(
                span,
                format!(
                    "{what} `{name}` is defined twice (first on line {})",
                    first.line
                ),
            );
            continue;
        }
        defined.insert((kind, name), span);
        preds.push((kind, name, span, expr));
    }
    let mut compiled: Vec<(PredicateKind, String, Span, PExpr)> = Vec::new();
    for (kind, name, span, expr) in &preds {
        if let Some(t) = c.pexpr(expr) {
            if t.ty != Ty::Bool {
                c.error(
                    expr.span,
                    format!(
                        "a {} needs a true/false condition, this is {}",
                        kind_name(*kind),
                        t.ty.name()
                    ),
                );
            } else {
                compiled.push((*kind, name.to_string(), *span, t.expr));
            }
        }
    }
    let mut scores = Vec::new();
    for s in stmts {
        if let Statement::Score {
            selector,
            points,
            points_span,
            cap,
        } = s
        {
            if let Some(r) = c.score(selector, *points, *points_span, cap.as_ref()) {
                scores.push(r);
            }
        }
    }
    // References to segments must name a defined segment.
    let undefined: Vec<(usize, String)> = c
        .terms
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match &t.kind {
            TermKind::Segment(s)
                if !defined.contains_key(&(PredicateKind::Segment, s.as_str())) =>
            {
                Some((i, s.clone()))
            }
            _ => None,
        })
        .collect();
    for (i, s) in undefined.into_iter().filter(|_| !partial) {
        let span = c.first_use_span(&compiled, TermId(i as u32), &preds);
        c.error(
            span,
            format!("segment(\"{s}\") names no segment defined in this file"),
        );
    }
    let order = c.order(&compiled);
    if !c.errors.is_empty() {
        c.errors.sort_by_key(|e| (e.span.line, e.span.col));
        return Err(c.errors);
    }
    let mut plan = c.finish(compiled, order, scores);
    plan.text = super::print(stmts).into();
    Ok(plan)
}

pub(super) fn kind_name(k: PredicateKind) -> &'static str {
    match k {
        PredicateKind::Segment => "segment",
        PredicateKind::Tag => "tag",
    }
}

struct Typed {
    expr: PExpr,
    ty: Ty,
}

impl Typed {
    fn constant(&self) -> Option<&Const> {
        match &self.expr {
            PExpr::Const(c) => Some(c),
            _ => None,
        }
    }
}

pub(super) struct Checker<'a> {
    pub(super) src: &'a str,
    pub(super) errors: Vec<RuleError>,
    pub(super) terms: Vec<Term>,
    pub(super) index: HashMap<String, TermId>,
}

fn const_ty(c: &Const) -> Ty {
    match c {
        Const::Num(_) => Ty::Num,
        Const::Str(_) => Ty::Str,
        Const::Bool(_) => Ty::Bool,
        Const::Dur(_) => Ty::Dur,
    }
}

/// Folds arithmetic on constants; `None` when the types do not combine.
fn fold(op: ArithOp, a: &Const, b: &Const) -> Option<Result<Const, &'static str>> {
    use ArithOp::{Add, Div, Mul, Sub};
    Some(Ok(match (op, a, b) {
        (_, Const::Num(x), Const::Num(y)) => match op {
            Add => Const::Num(x + y),
            Sub => Const::Num(x - y),
            Mul => Const::Num(x * y),
            Div if *y == 0.0 => return Some(Err("division by zero")),
            Div => Const::Num(x / y),
        },
        (Add, Const::Dur(x), Const::Dur(y)) => Const::Dur(x.saturating_add(*y)),
        (Sub, Const::Dur(x), Const::Dur(y)) => Const::Dur(x.saturating_sub(*y)),
        (Mul, Const::Dur(d), Const::Num(n)) | (Mul, Const::Num(n), Const::Dur(d)) => {
            Const::Dur((*d as f64 * n).round() as i64)
        }
        (Div, Const::Dur(_), Const::Num(n)) if *n == 0.0 => return Some(Err("division by zero")),
        (Div, Const::Dur(d), Const::Num(n)) => Const::Dur((*d as f64 / n).round() as i64),
        _ => return None,
    }))
}

fn cmp_consts(op: CmpOp, a: &Const, b: &Const) -> Option<bool> {
    let ord = match (a, b) {
        (Const::Num(x), Const::Num(y)) => x.partial_cmp(y)?,
        (Const::Dur(x), Const::Dur(y)) => x.cmp(y),
        (Const::Str(x), Const::Str(y)) => x.cmp(y),
        (Const::Bool(x), Const::Bool(y)) => x.cmp(y),
        _ => return None,
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    Some(match op {
        CmpOp::Lt => ord == Less,
        CmpOp::Le => ord != Greater,
        CmpOp::Gt => ord == Greater,
        CmpOp::Ge => ord != Less,
        CmpOp::Eq => ord == Equal,
        CmpOp::Ne => ord != Equal,
    })
}

impl Checker<'_> {
    pub(super) fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.errors.push(RuleError::new(span, msg, self.src));
    }

    fn term(&mut self, kind: TermKind) -> TermId {
        let key = kind.to_string();
        if let Some(id) = self.index.get(&key) {
            return *id;
        }
        let id = TermId(self.terms.len() as u32);
        self.terms.push(Term {
            kind,
            feeds: KindSet::default(),
            time_sensitive: false,
            need: StateNeed::Profile,
        });
        self.index.insert(key, id);
        id
    }

    fn term_expr(&mut self, kind: TermKind, ty: Ty) -> Option<Typed> {
        Some(Typed {
            expr: PExpr::Term(self.term(kind)),
            ty,
        })
    }

    /// A constant expression: literals, arithmetic and parentheses only.
    fn constant(&mut self, e: &Expr, what: &str) -> Option<Const> {
        match &e.kind {
            ExprKind::Num(n) => Some(Const::Num(*n)),
            ExprKind::Dur(d) => Some(Const::Dur(*d)),
            ExprKind::Neg(x) => match self.constant(x, what)? {
                Const::Num(n) => Some(Const::Num(-n)),
                Const::Dur(d) => Some(Const::Dur(-d)),
                _ => None,
            },
            ExprKind::Binary(BinOp::Arith(op), a, b) => {
                let (x, y) = (self.constant(a, what)?, self.constant(b, what)?);
                match fold(*op, &x, &y) {
                    Some(Ok(c)) => Some(c),
                    Some(Err(m)) => {
                        self.error(e.span, m);
                        None
                    }
                    None => {
                        self.error(
                            e.span,
                            format!("cannot apply `{}` to these values", op.as_str()),
                        );
                        None
                    }
                }
            }
            _ => {
                self.error(
                    e.span,
                    format!("{what} must be a constant duration like 30d or 2 * 12h"),
                );
                None
            }
        }
    }

    fn duration(&mut self, e: &Expr, what: &str) -> Option<i64> {
        match self.constant(e, what)? {
            Const::Dur(d) if d > 0 => Some(d),
            Const::Dur(_) => {
                self.error(e.span, format!("{what} must be longer than zero"));
                None
            }
            c => {
                self.error(
                    e.span,
                    format!(
                        "{what} must be a duration like 30d, not {}",
                        const_ty(&c).name()
                    ),
                );
                None
            }
        }
    }

    fn pexpr(&mut self, e: &Expr) -> Option<Typed> {
        let c = |k: Const| {
            let ty = const_ty(&k);
            Some(Typed {
                expr: PExpr::Const(k),
                ty,
            })
        };
        match &e.kind {
            ExprKind::Num(n) => c(Const::Num(*n)),
            ExprKind::Dur(d) => c(Const::Dur(*d)),
            ExprKind::Str(s) => c(Const::Str(s.clone())),
            ExprKind::Bool(b) => c(Const::Bool(*b)),
            ExprKind::Name(n) => self.name(n, e.span),
            ExprKind::Call {
                name,
                selector,
                args,
            } => self.call(name, selector.as_ref(), args, e.span),
            ExprKind::Not(x) => {
                let t = self.pexpr(x)?;
                if t.ty != Ty::Bool {
                    self.error(
                        x.span,
                        format!("`not` needs true/false, this is {}", t.ty.name()),
                    );
                    return None;
                }
                Some(Typed {
                    expr: match t.expr {
                        PExpr::Const(Const::Bool(b)) => PExpr::Const(Const::Bool(!b)),
                        other => PExpr::Not(Box::new(other)),
                    },
                    ty: Ty::Bool,
                })
            }
            ExprKind::Neg(x) => {
                let zero = Expr {
                    kind: ExprKind::Num(0.0),
                    span: e.span,
                };
                let t = self.pexpr(x)?;
                if t.ty == Ty::Dur {
                    let d = self.constant(x, "a duration")?;
                    return c(match d {
                        Const::Dur(d) => Const::Dur(-d),
                        other => other,
                    });
                }
                let z = self.pexpr(&zero)?;
                self.arith(ArithOp::Sub, z, t, e.span)
            }
            ExprKind::Binary(BinOp::And | BinOp::Or, a, b) => {
                let or = matches!(e.kind, ExprKind::Binary(BinOp::Or, ..));
                let (ta, tb) = (self.pexpr(a), self.pexpr(b));
                let (ta, tb) = (ta?, tb?);
                for (t, x) in [(&ta, a), (&tb, b)] {
                    if t.ty != Ty::Bool {
                        let word = if or { "or" } else { "and" };
                        self.error(
                            x.span,
                            format!(
                                "`{word}` needs true/false on both sides, this is {}",
                                t.ty.name()
                            ),
                        );
                        return None;
                    }
                }
                let (x, y) = (Box::new(ta.expr), Box::new(tb.expr));
                Some(Typed {
                    expr: if or {
                        PExpr::Or(x, y)
                    } else {
                        PExpr::And(x, y)
                    },
                    ty: Ty::Bool,
                })
            }
            ExprKind::Binary(BinOp::Cmp(op), a, b) => self.compare(*op, a, b, e.span),
            ExprKind::Binary(BinOp::Arith(op), a, b) => {
                let (ta, tb) = (self.pexpr(a), self.pexpr(b));
                self.arith(*op, ta?, tb?, e.span)
            }
        }
    }

    fn arith(&mut self, op: ArithOp, a: Typed, b: Typed, span: Span) -> Option<Typed> {
        if let (Some(x), Some(y)) = (a.constant(), b.constant()) {
            return match fold(op, x, y) {
                Some(Ok(k)) => {
                    let ty = const_ty(&k);
                    Some(Typed {
                        expr: PExpr::Const(k),
                        ty,
                    })
                }
                Some(Err(m)) => {
                    self.error(span, m);
                    None
                }
                None => {
                    self.error(
                        span,
                        format!(
                            "cannot apply `{}` to {} and {}",
                            op.as_str(),
                            a.ty.name(),
                            b.ty.name()
                        ),
                    );
                    None
                }
            };
        }
        let numeric = |t: Ty| matches!(t, Ty::Num | Ty::Any);
        if !numeric(a.ty) || !numeric(b.ty) {
            let msg = if a.ty == Ty::Since || b.ty == Ty::Since {
                "since(…) can only be compared with a constant duration, not used in arithmetic"
                    .to_string()
            } else {
                format!(
                    "cannot apply `{}` to {} and {}",
                    op.as_str(),
                    a.ty.name(),
                    b.ty.name()
                )
            };
            self.error(span, msg);
            return None;
        }
        Some(Typed {
            expr: PExpr::Arith(op, Box::new(a.expr), Box::new(b.expr)),
            ty: Ty::Num,
        })
    }

    fn is_since(e: &Expr) -> bool {
        matches!(&e.kind, ExprKind::Call { name, .. } if name == "since")
    }

    fn compare(&mut self, op: CmpOp, a: &Expr, b: &Expr, span: Span) -> Option<Typed> {
        // since(…) compared with a constant duration, on either side.
        if Self::is_since(a) || Self::is_since(b) {
            let (s, other, op) = if Self::is_since(a) {
                (a, b, op)
            } else {
                (b, a, op.flipped())
            };
            let term = self.since(s)?;
            let d = match self.constant(other, "what since(…) is compared with")? {
                Const::Dur(d) => d,
                k => {
                    self.error(
                        other.span,
                        format!(
                            "since(…) can only be compared with a constant duration, not {}",
                            const_ty(&k).name()
                        ),
                    );
                    return None;
                }
            };
            return Some(Typed {
                expr: PExpr::Cmp(
                    op,
                    Box::new(PExpr::Term(term)),
                    Box::new(PExpr::Const(Const::Dur(d))),
                ),
                ty: Ty::Bool,
            });
        }
        let (ta, tb) = (self.pexpr(a), self.pexpr(b));
        let (ta, tb) = (ta?, tb?);
        if let (Some(x), Some(y)) = (ta.constant(), tb.constant()) {
            if let Some(v) = cmp_consts(op, x, y) {
                return Some(Typed {
                    expr: PExpr::Const(Const::Bool(v)),
                    ty: Ty::Bool,
                });
            }
        }
        let equality = matches!(op, CmpOp::Eq | CmpOp::Ne);
        let ok = match (ta.ty, tb.ty) {
            (Ty::Num, Ty::Num) => true,
            (Ty::Str, Ty::Str) | (Ty::Bool, Ty::Bool) => {
                if !equality {
                    self.error(
                        span,
                        format!("{} can only be compared with == or !=", ta.ty.name()),
                    );
                    return None;
                }
                true
            }
            (Ty::Any, Ty::Num | Ty::Str | Ty::Bool | Ty::Any)
            | (Ty::Num | Ty::Str | Ty::Bool, Ty::Any) => true,
            (Ty::Stage, Ty::Str) | (Ty::Str, Ty::Stage) => {
                let (lit, at) = if ta.ty == Ty::Str { (&ta, a) } else { (&tb, b) };
                match lit.constant() {
                    Some(Const::Str(s)) if STAGES.contains(&s.as_str()) && equality => true,
                    Some(Const::Str(s)) if equality => {
                        self.error(
                            at.span,
                            format!("unknown stage {s:?} (stages: {})", STAGES.join(", ")),
                        );
                        return None;
                    }
                    _ => {
                        self.error(
                            span,
                            "`stage` can only be compared with a stage name using == or !=",
                        );
                        return None;
                    }
                }
            }
            (Ty::Since, _) | (_, Ty::Since) => false,
            (Ty::Num, Ty::Dur) | (Ty::Dur, Ty::Num) => {
                self.error(
                    span,
                    "comparing a number with a duration: durations are for windows and since(…)",
                );
                return None;
            }
            (Ty::Str, Ty::Num) | (Ty::Num, Ty::Str) => {
                self.error(span, "comparing a string with a number");
                return None;
            }
            _ => false,
        };
        if !ok {
            self.error(
                span,
                format!("cannot compare {} with {}", ta.ty.name(), tb.ty.name()),
            );
            return None;
        }
        Some(Typed {
            expr: PExpr::Cmp(op, Box::new(ta.expr), Box::new(tb.expr)),
            ty: Ty::Bool,
        })
    }

    fn name(&mut self, n: &str, span: Span) -> Option<Typed> {
        match n {
            "score" => self.term_expr(TermKind::Score, Ty::Num),
            "known" => self.term_expr(TermKind::Known, Ty::Bool),
            "stage" => self.term_expr(TermKind::Stage, Ty::Stage),
            "cart_items" => self.term_expr(TermKind::CartItems, Ty::Num),
            "cart_value" => self.term_expr(TermKind::CartValue, Ty::Num),
            "purchases" => self.term_expr(TermKind::Purchases { window: None }, Ty::Num),
            "revenue" => self.term_expr(TermKind::Revenue { window: None }, Ty::Num),
            _ => {
                let hint = if Kind::parse(n).is_some() {
                    format!("`{n}` is an event kind: use it inside count(…), sum(…) or since(…)")
                } else if matches!(
                    n,
                    "count"
                        | "sum"
                        | "since"
                        | "brands_active"
                        | "score_gain"
                        | "tag"
                        | "segment"
                        | "consent"
                        | "attr"
                ) {
                    format!("`{n}` is a function and needs arguments: {n}(…)")
                } else {
                    format!(
                        "unknown name `{n}` (profile values: {})",
                        PROFILE_NAMES.join(", ")
                    )
                };
                self.error(span, hint);
                None
            }
        }
    }

    fn string_arg(&mut self, name: &str, args: &[Expr], span: Span) -> Option<String> {
        match args {
            [Expr {
                kind: ExprKind::Str(s),
                ..
            }] if !s.is_empty() => Some(s.clone()),
            [other] => {
                self.error(
                    other.span,
                    format!("{name}(…) takes a non-empty string in double quotes"),
                );
                None
            }
            _ => {
                self.error(
                    span,
                    format!("{name}(…) takes exactly one argument, a string"),
                );
                None
            }
        }
    }

    fn opt_window(&mut self, name: &str, args: &[Expr], span: Span) -> Option<Option<i64>> {
        match args {
            [] => Some(None),
            [w] => Some(Some(self.duration(w, "a window")?)),
            _ => {
                self.error(span, format!("{name}(…) takes at most one window"));
                None
            }
        }
    }

    fn window(&mut self, name: &str, args: &[Expr], span: Span) -> Option<i64> {
        match args {
            [w] => self.duration(w, "a window"),
            _ => {
                self.error(
                    span,
                    format!("{name}(…) takes exactly one window, like {name}(30d)"),
                );
                None
            }
        }
    }

    fn since(&mut self, e: &Expr) -> Option<TermId> {
        let ExprKind::Call { selector, args, .. } = &e.kind else {
            unreachable!("checked by is_since")
        };
        let filter = self.filter(selector.as_ref()?)?;
        if !args.is_empty() {
            self.error(e.span, "since(…) takes an event selector only, no window");
            return None;
        }
        Some(self.term(TermKind::Since { filter }))
    }

    fn call(
        &mut self,
        name: &str,
        selector: Option<&Selector>,
        args: &[Expr],
        span: Span,
    ) -> Option<Typed> {
        match name {
            "count" => {
                let filter = self.filter(selector?);
                let window = self.opt_window(name, args, span);
                self.term_expr(
                    TermKind::Count {
                        filter: filter?,
                        window: window?,
                    },
                    Ty::Num,
                )
            }
            "sum" => {
                let sel = selector?;
                let filter = self.filter(sel);
                let window = self.opt_window(name, args, span);
                let filter = filter?;
                let (fname, fspan) = sel.field.clone()?;
                let field = match schema::field(filter.kind, &fname) {
                    Some((n, Ty::Num)) => Field::Named(n),
                    Some((_, ty)) => {
                        self.error(
                            fspan,
                            format!("field `{fname}` is {}, sum(…) needs a number", ty.name()),
                        );
                        return None;
                    }
                    None if filter.kind == Kind::Custom => Field::Prop(fname),
                    None => {
                        self.no_field(filter.kind, &fname, fspan);
                        return None;
                    }
                };
                self.term_expr(
                    TermKind::Sum {
                        filter,
                        field,
                        window: window?,
                    },
                    Ty::Num,
                )
            }
            "since" => {
                self.error(span, "since(…) can only be compared with a constant duration, like since(purchase) > 90d");
                None
            }
            "purchases" => {
                let window = self.opt_window(name, args, span)?;
                self.term_expr(TermKind::Purchases { window }, Ty::Num)
            }
            "revenue" => {
                let window = self.opt_window(name, args, span)?;
                self.term_expr(TermKind::Revenue { window }, Ty::Num)
            }
            "brands_active" => {
                let window = self.window(name, args, span)?;
                self.term_expr(TermKind::BrandsActive { window }, Ty::Num)
            }
            "score_gain" => {
                let window = self.window(name, args, span)?;
                self.term_expr(TermKind::ScoreGain { window }, Ty::Num)
            }
            "tag" => {
                let t = self.string_arg(name, args, span)?;
                self.term_expr(TermKind::Tag(t), Ty::Bool)
            }
            "segment" => {
                let s = self.string_arg(name, args, span)?;
                self.term_expr(TermKind::Segment(s), Ty::Bool)
            }
            "consent" => {
                let t = self.string_arg(name, args, span)?;
                self.term_expr(TermKind::Consent(t), Ty::Bool)
            }
            "attr" => {
                let k = self.string_arg(name, args, span)?;
                self.term_expr(TermKind::Attr(k), Ty::Any)
            }
            n if PROFILE_NAMES.contains(&n) => {
                self.error(span, format!("`{n}` takes no arguments: write `{n}`"));
                None
            }
            n => {
                self.error(span, format!("unknown function `{n}`"));
                None
            }
        }
    }

    fn no_field(&mut self, kind: Kind, name: &str, span: Span) {
        let mut have: Vec<&str> = vec!["channel", "brand"];
        have.extend(schema::fields(kind).iter().map(|(n, _)| *n));
        self.error(
            span,
            format!(
                "`{kind}` events have no field `{name}` (fields: {})",
                have.join(", ")
            ),
        );
    }

    fn filter(&mut self, sel: &Selector) -> Option<Filter> {
        let Some(kind) = Kind::parse(&sel.kind) else {
            self.error(sel.kind_span, format!("unknown event kind {:?}", sel.kind));
            return None;
        };
        if kind == Kind::Erase {
            self.error(
                sel.kind_span,
                "`erase` events are not kept, so rules cannot look at them",
            );
            return None;
        }
        let cond = match &sel.cond {
            None => None,
            Some(c) => {
                let (cond, ty) = self.cond(c, kind)?;
                if ty != Ty::Bool {
                    self.error(
                        c.span,
                        format!(
                            "`where` needs a true/false condition, this is {}",
                            ty.name()
                        ),
                    );
                    return None;
                }
                Some(cond)
            }
        };
        Some(Filter { kind, cond })
    }

    /// A condition over the fields of one event of `kind`.
    fn cond(&mut self, e: &Expr, kind: Kind) -> Option<(Cond, Ty)> {
        Some(match &e.kind {
            ExprKind::Num(n) => (Cond::Const(Const::Num(*n)), Ty::Num),
            ExprKind::Str(s) => (Cond::Const(Const::Str(s.clone())), Ty::Str),
            ExprKind::Bool(b) => (Cond::Const(Const::Bool(*b)), Ty::Bool),
            ExprKind::Dur(_) => {
                self.error(e.span, "durations are for windows and since(…), not event fields (durations on events are numbers of seconds)");
                return None;
            }
            ExprKind::Name(n) => match schema::field(kind, n) {
                Some(("channel", ty)) => (Cond::Field(Field::Channel), ty),
                Some(("brand", ty)) => (Cond::Field(Field::Brand), ty),
                Some((name, ty)) => (Cond::Field(Field::Named(name)), ty),
                None if kind == Kind::Custom => (Cond::Field(Field::Prop(n.clone())), Ty::Any),
                None => {
                    self.no_field(kind, n, e.span);
                    return None;
                }
            },
            ExprKind::Call { name, .. } => {
                self.error(
                    e.span,
                    format!(
                        "`{name}(…)` cannot be used inside `where`: compare the event's own fields"
                    ),
                );
                return None;
            }
            ExprKind::Not(x) => {
                let (c, ty) = self.cond(x, kind)?;
                if ty != Ty::Bool {
                    self.error(
                        x.span,
                        format!("`not` needs true/false, this is {}", ty.name()),
                    );
                    return None;
                }
                (Cond::Not(Box::new(c)), Ty::Bool)
            }
            ExprKind::Neg(x) => {
                let (c, ty) = self.cond(x, kind)?;
                if !matches!(ty, Ty::Num | Ty::Any) {
                    self.error(x.span, format!("cannot negate {}", ty.name()));
                    return None;
                }
                (
                    Cond::Arith(
                        ArithOp::Sub,
                        Box::new(Cond::Const(Const::Num(0.0))),
                        Box::new(c),
                    ),
                    Ty::Num,
                )
            }
            ExprKind::Binary(op, a, b) => {
                let (l, r) = (self.cond(a, kind), self.cond(b, kind));
                let ((ca, ta), (cb, tb)) = (l?, r?);
                match op {
                    BinOp::And | BinOp::Or => {
                        if ta != Ty::Bool || tb != Ty::Bool {
                            self.error(
                                e.span,
                                format!("`{}` needs true/false on both sides", op.as_str()),
                            );
                            return None;
                        }
                        let (x, y) = (Box::new(ca), Box::new(cb));
                        (
                            if *op == BinOp::And {
                                Cond::And(x, y)
                            } else {
                                Cond::Or(x, y)
                            },
                            Ty::Bool,
                        )
                    }
                    BinOp::Arith(ar) => {
                        if !matches!(ta, Ty::Num | Ty::Any) || !matches!(tb, Ty::Num | Ty::Any) {
                            self.error(
                                e.span,
                                format!(
                                    "cannot apply `{}` to {} and {}",
                                    ar.as_str(),
                                    ta.name(),
                                    tb.name()
                                ),
                            );
                            return None;
                        }
                        (Cond::Arith(*ar, Box::new(ca), Box::new(cb)), Ty::Num)
                    }
                    BinOp::Cmp(c) => {
                        let equality = matches!(c, CmpOp::Eq | CmpOp::Ne);
                        match (ta, tb) {
                            (Ty::Num, Ty::Num) => {}
                            (Ty::Any, _) | (_, Ty::Any) => {}
                            (Ty::Str, Ty::Str) | (Ty::Bool, Ty::Bool) if equality => {}
                            (Ty::Str, Ty::Str) | (Ty::Bool, Ty::Bool) => {
                                self.error(
                                    e.span,
                                    format!("{} can only be compared with == or !=", ta.name()),
                                );
                                return None;
                            }
                            (Ty::Str, Ty::Num) | (Ty::Num, Ty::Str) => {
                                self.error(e.span, "comparing a string with a number");
                                return None;
                            }
                            _ => {
                                self.error(
                                    e.span,
                                    format!("cannot compare {} with {}", ta.name(), tb.name()),
                                );
                                return None;
                            }
                        }
                        for (field, lit, at) in [(&ca, &cb, b), (&cb, &ca, a)] {
                            if let (Cond::Field(Field::Channel), Cond::Const(Const::Str(s))) =
                                (field, lit)
                            {
                                if Channel::parse(s).is_none() {
                                    self.error(at.span, format!("unknown channel {s:?}"));
                                    return None;
                                }
                            }
                        }
                        (Cond::Cmp(*c, Box::new(ca), Box::new(cb)), Ty::Bool)
                    }
                }
            }
        })
    }

    fn score(
        &mut self,
        sel: &Selector,
        points: i64,
        points_span: Span,
        cap: Option<&(i64, Expr)>,
    ) -> Option<ScoreRule> {
        if let Some((_, fspan)) = &sel.field {
            self.error(*fspan, "a score rule names an event kind, not a field");
            return None;
        }
        let filter = self.filter(sel);
        let cap = match cap {
            None => None,
            Some((n, per)) => {
                let period = self.duration(per, "a cap period");
                if points <= 0 {
                    self.error(
                        points_span,
                        format!("a cap limits points gained; this rule gives {points}"),
                    );
                    return None;
                }
                if *n <= 0 {
                    self.error(points_span, "a cap must be at least 1");
                    return None;
                }
                Some((*n, period?))
            }
        };
        Some(ScoreRule {
            filter: filter?,
            points,
            cap,
        })
    }

    fn first_use_span(
        &self,
        compiled: &[(PredicateKind, String, Span, PExpr)],
        t: TermId,
        preds: &[(PredicateKind, &str, Span, &Expr)],
    ) -> Span {
        for (_, name, _, e) in compiled {
            let mut reads = Vec::new();
            e.terms(&mut reads);
            if reads.contains(&t) {
                if let Some(p) = preds.iter().find(|p| p.1 == name) {
                    return find_call(p.3, &self.terms[t.0 as usize].kind).unwrap_or(p.2);
                }
            }
        }
        Span::default()
    }
}

/// The span of the call in `e` that produced a term, for error messages.
fn find_call(e: &Expr, kind: &TermKind) -> Option<Span> {
    match &e.kind {
        ExprKind::Call { name, args, .. } => {
            let hit = match kind {
                TermKind::Segment(s) => {
                    name == "segment"
                        && matches!(args.first(), Some(Expr { kind: ExprKind::Str(x), .. }) if x == s)
                }
                _ => false,
            };
            if hit {
                Some(e.span)
            } else {
                args.iter().find_map(|a| find_call(a, kind))
            }
        }
        ExprKind::Not(x) | ExprKind::Neg(x) => find_call(x, kind),
        ExprKind::Binary(_, a, b) => find_call(a, kind).or_else(|| find_call(b, kind)),
        _ => None,
    }
}
