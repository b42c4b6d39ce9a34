//! Run-time values of terms and expressions, comparisons with null semantics, and reading
//! fields off an event.

use crate::event::{Payload, Touch, Value};
use crate::rules::{ArithOp, CmpOp, Cond, Const, Field};
use crate::Text;
use std::cmp::Ordering;

/// A value during evaluation. A string borrows from where it was read (the event, the rules,
/// the profile): reading a field or a constant allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Val<'a> {
    Null,
    Num(f64),
    Str(&'a str),
    Bool(bool),
    /// A duration constant, ms.
    Dur(i64),
    /// Time since the latest matching event, ms; `None` when there is none (infinitely long).
    Since(Option<i64>),
}

impl<'a> Val<'a> {
    pub(crate) fn from_const(c: &'a Const) -> Val<'a> {
        match c {
            Const::Num(n) => Val::Num(*n),
            Const::Str(s) => Val::Str(s),
            Const::Bool(b) => Val::Bool(*b),
            Const::Dur(d) => Val::Dur(*d),
        }
    }

    pub(crate) fn truthy(&self) -> bool {
        matches!(self, Val::Bool(true))
    }
}

fn order(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Dur(x), Val::Dur(y)) => Some(x.cmp(y)),
        (Val::Since(None), Val::Dur(_)) => Some(Ordering::Greater),
        (Val::Since(Some(s)), Val::Dur(d)) => Some(s.cmp(d)),
        (Val::Dur(_), Val::Since(None)) => Some(Ordering::Less),
        (Val::Dur(d), Val::Since(Some(s))) => Some(d.cmp(s)),
        _ => None,
    }
}

/// Compares two values; anything involving null (or values that do not compare) is false.
pub(crate) fn compare(op: CmpOp, a: &Val, b: &Val) -> bool {
    order(a, b).is_some_and(|o| holds(op, o))
}

/// Whether `a op b` holds for values that compare as `o`.
pub(crate) fn holds(op: CmpOp, o: Ordering) -> bool {
    match op {
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
    }
}

/// Arithmetic on numbers; null (or a non-number) gives null, and so does division by zero.
pub(crate) fn arith<'a>(op: ArithOp, a: &Val<'_>, b: &Val<'_>) -> Val<'a> {
    let (Val::Num(x), Val::Num(y)) = (a, b) else {
        return Val::Null;
    };
    match op {
        ArithOp::Add => Val::Num(x + y),
        ArithOp::Sub => Val::Num(x - y),
        ArithOp::Mul => Val::Num(x * y),
        ArithOp::Div if *y == 0.0 => Val::Null,
        ArithOp::Div => Val::Num(x / y),
    }
}

fn text(s: &Option<Text>) -> Val<'_> {
    s.as_deref().map_or(Val::Null, Val::Str)
}

fn money<'a>(m: &Option<crate::event::Money>) -> Val<'a> {
    m.map_or(Val::Null, |m| Val::Num(m.as_f64()))
}

fn seconds<'a>(ms: &Option<i64>) -> Val<'a> {
    ms.map_or(Val::Null, |ms| Val::Num(ms as f64 / 1000.0))
}

/// A field of an event, as rules see it (durations in seconds; null when absent).
pub(crate) fn field<'a>(ev: &Touch<'a>, f: &'a Field) -> Val<'a> {
    let name = match f {
        Field::Channel => return Val::Str(ev.channel.as_str()),
        Field::Brand => return Val::Str(ev.brand),
        Field::Prop(p) => return prop(ev, p),
        Field::Named(name) => *name,
    };
    match (&ev.payload, name) {
        (Payload::PageView { url, .. }, "url") => text(url),
        (Payload::PageView { category, .. }, "category") => text(category),
        (Payload::ProductView { product, .. }, "product")
        | (Payload::CartAdd { product, .. }, "product")
        | (Payload::CartRemove { product, .. }, "product") => Val::Str(product),
        (Payload::ProductView { category, .. }, "category")
        | (Payload::CartAdd { category, .. }, "category")
        | (Payload::CartRemove { category, .. }, "category") => text(category),
        (Payload::ProductView { brand_name, .. }, "brand_name") => text(brand_name),
        (Payload::ProductView { color, .. }, "color") => text(color),
        (Payload::ProductView { price, .. }, "price")
        | (Payload::CartAdd { price, .. }, "price")
        | (Payload::CartRemove { price, .. }, "price") => money(price),
        (Payload::ProductView { discount, .. }, "discount") => discount.map_or(Val::Null, Val::Num),
        (Payload::CartAdd { qty, .. }, "qty") | (Payload::CartRemove { qty, .. }, "qty") => {
            Val::Num(f64::from(*qty))
        }
        (Payload::Purchase { order, .. }, "order") | (Payload::Refund { order, .. }, "order") => {
            Val::Str(order)
        }
        (Payload::Purchase { amount, .. }, "amount")
        | (Payload::Refund { amount, .. }, "amount") => Val::Num(amount.as_f64()),
        (Payload::Purchase { currency, .. }, "currency") => text(currency),
        (Payload::Campaign { campaign, .. }, "campaign") => text(campaign),
        (Payload::AppSession { duration }, "duration")
        | (Payload::Beacon { duration, .. }, "duration") => seconds(duration),
        (Payload::Beacon { zone, .. }, "zone") => Val::Str(zone),
        (Payload::Geo { place }, "place") => Val::Str(place),
        (Payload::FormSubmit { form }, "form") => text(form),
        (Payload::Consent { topic, .. }, "topic") => Val::Str(topic),
        (Payload::Consent { granted, .. }, "granted") => Val::Bool(*granted),
        (Payload::Custom { name, .. }, "name") => Val::Str(name),
        _ => Val::Null,
    }
}

fn prop<'a>(ev: &Touch<'a>, p: &str) -> Val<'a> {
    let Payload::Custom { props, .. } = &ev.payload else {
        return Val::Null;
    };
    props
        .iter()
        .find(|(k, _)| &**k == p)
        .map_or(Val::Null, |(_, v)| match v {
            Value::Bool(b) => Val::Bool(*b),
            Value::Num(n) => Val::Num(*n),
            Value::Str(s) => Val::Str(s),
        })
}

/// A field as exact millionths, for sums (`None` when absent or not a number). Money and
/// durations convert without rounding; other numbers round to the nearest millionth.
pub(crate) fn micros(ev: &Touch<'_>, f: &Field) -> Option<i128> {
    if let Field::Named(name) = f {
        match (&ev.payload, *name) {
            (Payload::Purchase { amount, .. }, "amount")
            | (Payload::Refund { amount, .. }, "amount") => return Some(i128::from(amount.0)),
            (Payload::AppSession { duration }, "duration")
            | (Payload::Beacon { duration, .. }, "duration") => {
                return duration.map(|ms| i128::from(ms) * 1000)
            }
            _ => {}
        }
    }
    match field(ev, f) {
        Val::Num(n) if n.is_finite() => Some((n * 1e6).round() as i128),
        _ => None,
    }
}

/// Evaluates a `where` condition on an event.
pub(crate) fn cond<'a>(c: &'a Cond, ev: &Touch<'a>) -> Val<'a> {
    match c {
        Cond::Const(k) => Val::from_const(k),
        Cond::Field(f) => field(ev, f),
        Cond::Cmp(op, a, b) => Val::Bool(compare(*op, &cond(a, ev), &cond(b, ev))),
        Cond::Arith(op, a, b) => arith(*op, &cond(a, ev), &cond(b, ev)),
        Cond::Not(a) => match cond(a, ev) {
            Val::Bool(b) => Val::Bool(!b),
            _ => Val::Null,
        },
        Cond::And(a, b) => Val::Bool(cond(a, ev).truthy() && cond(b, ev).truthy()),
        Cond::Or(a, b) => Val::Bool(cond(a, ev).truthy() || cond(b, ev).truthy()),
    }
}
