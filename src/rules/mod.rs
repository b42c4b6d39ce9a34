//! The rules language (SPEC 4): segments, behaviour tags and scoring rules.
//!
//! A rules file is parsed ([`parse`]), checked and compiled ([`compile`]) into a [`Plan`]:
//! deduplicated *terms* (aggregates such as `count(purchase, 30d)` or profile values such as
//! `cart_items`), each knowing which event kinds feed it, whether time alone can change it and
//! the smallest state that answers it exactly; and *predicates* (segments and tags) over terms,
//! in dependency order. The same plan can be built in Rust with [`RuleSet`].
//!
//! ```
//! let plan = tropa::rules::compile(r#"
//! score purchase => 20
//! segment buyers  = count(purchase) >= 1
//! segment dormant = count(purchase) >= 1 and since(purchase) > 90d
//! "#).unwrap();
//! assert_eq!(plan.summary(), "2 segments, 0 tags, 1 scores, 2 terms");
//!
//! let err = tropa::rules::compile("segment x = count(purchse) > 1").unwrap_err();
//! assert_eq!(err.to_string(), "1:19: unknown event kind \"purchse\"\n  segment x = count(purchse) > 1\n                    ^^^^^^^");
//! ```
//!
//! Choices where SPEC 4 is silent:
//! * `purchases` and `revenue` may be written with or without parentheses.
//! * Strings and booleans compare with `==` and `!=` only; `stage` only with a stage name.
//! * `where` conditions see the event's own fields, plus `channel` and `brand`; a `custom`
//!   event's other names are its `props` (any type, null when absent).
//! * Durations on events (`app_session.duration`, `beacon.duration`) are numbers of seconds.
//! * `tag("t")` may name a rule tag or a manual tag; `segment("s")` must name a segment of the
//!   same file.
//! * A statement continues on the next line after `=`, `=>`, `when`, `where`, `and`, `or`,
//!   `not`, an operator, `,` or `(`, anywhere inside parentheses, and when the next line starts
//!   with `and`, `or` or a binary operator other than `-`.

pub mod ast;
mod build;
mod check;
mod error;
mod lexer;
mod link;
mod parser;
mod plan;
mod print;
mod schema;

pub use build::{RuleSet, R};
pub use error::{RuleError, RuleErrors, Span};
pub use lexer::CmpOp;
pub use plan::{
    ArithOp, Cond, Const, Field, Filter, KindSet, PExpr, Plan, Predicate, PredicateKind, ScoreRule,
    StateNeed, Term, TermId, TermKind,
};

use ast::Statement;

/// Parses a rules file into statements, or every syntax error.
pub fn parse(src: &str) -> Result<Vec<Statement>, RuleErrors> {
    let (stmts, errors) = parser::parse(src);
    if errors.is_empty() {
        Ok(stmts)
    } else {
        Err(RuleErrors(errors))
    }
}

/// Parses, checks and compiles a rules file. Reports every error found: syntax errors, and
/// the checker's errors for the statements that did parse.
pub fn compile(src: &str) -> Result<Plan, RuleErrors> {
    let (stmts, mut errors) = parser::parse(src);
    match check::compile(&stmts, src, !errors.is_empty()) {
        Ok(plan) if errors.is_empty() => Ok(plan),
        Ok(_) => Err(RuleErrors(errors)),
        Err(more) => {
            // A checker error around a syntax error is its echo: report the cause only.
            let echoes = |e: &RuleError| {
                errors
                    .iter()
                    .any(|s| e.span.start <= s.span.start && s.span.end <= e.span.end)
            };
            let more: Vec<RuleError> = more.into_iter().filter(|e| !echoes(e)).collect();
            errors.extend(more);
            errors.sort_by_key(|e| (e.span.line, e.span.col));
            Err(RuleErrors(errors))
        }
    }
}

/// Parses one expression, such as an audience `vip and not tag("bargain_hunter")`.
pub fn parse_expression(src: &str) -> Result<ast::Expr, RuleErrors> {
    parser::parse_expr(src).map_err(RuleErrors)
}

/// Writes a duration in the rules language (`90d`, `36h`, `1500ms`).
pub fn print_duration(ms: i64) -> String {
    print::duration(ms)
}

/// Prints statements back as rules text, one per line.
pub fn print(stmts: &[Statement]) -> String {
    stmts.iter().map(|s| format!("{s}\n")).collect()
}
