//! Printing a syntax tree back as rules text. Parentheses appear only where precedence needs
//! them; parsing the printed text gives the same tree.

use super::ast::{BinOp, Expr, ExprKind, Selector, Statement};
use std::fmt;

/// Writes a duration with the largest unit that divides it exactly.
pub(crate) fn duration(ms: i64) -> String {
    for (unit, size) in [
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms != 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        if let Some((field, _)) = &self.field {
            write!(f, ".{field}")?;
        }
        if let Some(c) = &self.cond {
            write!(f, " where {c}")?;
        }
        Ok(())
    }
}

/// Precedence of an expression for parenthesisation (higher binds tighter).
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(op, ..) => op.precedence(),
        ExprKind::Not(_) => 3,
        ExprKind::Neg(_) => 7,
        _ => 8,
    }
}

fn operand(f: &mut fmt::Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if prec(e) < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Num(n) => write!(f, "{n}"),
            ExprKind::Dur(d) => f.write_str(&duration(*d)),
            ExprKind::Str(s) => f.write_str(&string(s)),
            ExprKind::Bool(b) => write!(f, "{b}"),
            ExprKind::Name(n) => f.write_str(n),
            ExprKind::Call {
                name,
                selector,
                args,
            } => {
                write!(f, "{name}(")?;
                let mut first = true;
                if let Some(s) = selector {
                    write!(f, "{s}")?;
                    first = false;
                }
                for a in args {
                    if !first {
                        f.write_str(", ")?;
                    }
                    first = false;
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            ExprKind::Not(e) => {
                f.write_str("not ")?;
                operand(f, e, 3)
            }
            ExprKind::Neg(e) => {
                f.write_str("-")?;
                operand(f, e, 7)
            }
            ExprKind::Binary(op, a, b) => {
                let p = op.precedence();
                // Left-associative: the right operand needs parentheses at equal precedence;
                // comparisons do not chain, so both sides need them there.
                let left_min = if matches!(op, BinOp::Cmp(_)) {
                    p + 1
                } else {
                    p
                };
                operand(f, a, left_min)?;
                write!(f, " {} ", op.as_str())?;
                operand(f, b, p + 1)
            }
        }
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Segment { name, expr, .. } => write!(f, "segment {name} = {expr}"),
            Statement::Tag { name, expr, .. } => write!(f, "tag {name} when {expr}"),
            Statement::Score {
                selector,
                points,
                cap,
                ..
            } => {
                write!(f, "score {selector} => {points}")?;
                if let Some((n, per)) = cap {
                    write!(f, " cap {n} per {per}")?;
                }
                Ok(())
            }
        }
    }
}
