//! Recursive-descent parser. A statement with a syntax error is reported and skipped, and
//! parsing goes on with the next statement, so that one run reports every error.

use super::ast::{ArithOp, BinOp, Expr, ExprKind, Selector, Statement};
use super::error::{RuleError, Span};
use super::lexer::{lex, Tok};

/// Deepest nesting of expressions accepted; deeper input is refused rather than allowed to
/// exhaust the stack.
const MAX_DEPTH: u32 = 100;

const KEYWORDS: &[&str] = &[
    "segment", "tag", "score", "when", "where", "and", "or", "not", "true", "false", "cap", "per",
];

/// Functions whose first argument is a selector (`KIND[.FIELD] [where COND]`).
const SELECTOR_FUNCTIONS: &[&str] = &["count", "sum", "since"];

/// Parses a whole file: the statements that parsed, and every error.
pub(crate) fn parse(src: &str) -> (Vec<Statement>, Vec<RuleError>) {
    let (toks, errors) = lex(src);
    let mut p = Parser {
        toks,
        pos: 0,
        src,
        errors,
        depth: 0,
    };
    let mut stmts = Vec::new();
    loop {
        while p.peek() == &Tok::Newline {
            p.pos += 1;
        }
        if p.peek() == &Tok::Eof {
            break;
        }
        match p.statement() {
            Ok(s) => {
                if matches!(p.peek(), Tok::Newline | Tok::Eof) {
                    stmts.push(s);
                } else {
                    let e = p.unexpected("the end of the statement");
                    p.errors.push(e);
                    p.skip_statement();
                }
            }
            Err(e) => {
                p.errors.push(e);
                p.skip_statement();
            }
        }
    }
    let mut errors = p.errors;
    errors.sort_by_key(|e| (e.span.line, e.span.col));
    (stmts, errors)
}

/// Parses one expression.
pub(crate) fn parse_expr(src: &str) -> Result<Expr, Vec<RuleError>> {
    let (toks, errors) = lex(src);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        src,
        errors: Vec::new(),
        depth: 0,
    };
    let e = p.expr().map_err(|e| vec![e])?;
    while p.peek() == &Tok::Newline {
        p.pos += 1;
    }
    if p.peek() != &Tok::Eof {
        return Err(vec![p.unexpected("the end of the expression")]);
    }
    Ok(e)
}

type R<T> = Result<T, RuleError>;

struct Parser<'a> {
    toks: Vec<(Tok, Span)>,
    pos: usize,
    src: &'a str,
    errors: Vec<RuleError>,
    depth: u32,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }

    fn span(&self) -> Span {
        self.toks[self.pos].1
    }

    fn bump(&mut self) -> (Tok, Span) {
        let t = self.toks[self.pos].clone();
        if t.0 != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn error(&self, span: Span, msg: impl Into<String>) -> RuleError {
        RuleError::new(span, msg, self.src)
    }

    fn unexpected(&self, wanted: &str) -> RuleError {
        self.error(
            self.span(),
            format!("expected {wanted}, found {}", self.peek().describe()),
        )
    }

    fn skip_statement(&mut self) {
        while !matches!(self.peek(), Tok::Newline | Tok::Eof) {
            self.pos += 1;
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x == w)
    }

    fn expect_word(&mut self, w: &str) -> R<()> {
        if self.is_word(w) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("`{w}`")))
        }
    }

    fn expect(&mut self, t: Tok, what: &str) -> R<Span> {
        if self.peek() == &t {
            Ok(self.bump().1)
        } else {
            Err(self.unexpected(what))
        }
    }

    fn name(&mut self, what: &str) -> R<(String, Span)> {
        match self.peek().clone() {
            Tok::Ident(w) if KEYWORDS.contains(&w.as_str()) => Err(self.error(
                self.span(),
                format!("`{w}` is a keyword and cannot be used as {what}"),
            )),
            Tok::Ident(w) => Ok((w, self.bump().1)),
            _ => Err(self.unexpected(what)),
        }
    }

    fn statement(&mut self) -> R<Statement> {
        match self.peek() {
            Tok::Ident(w) if w == "segment" => {
                self.pos += 1;
                let (name, name_span) = self.name("a segment name")?;
                self.expect(Tok::Assign, "`=`")?;
                let expr = self.expr()?;
                Ok(Statement::Segment {
                    name,
                    name_span,
                    expr,
                })
            }
            Tok::Ident(w) if w == "tag" => {
                self.pos += 1;
                let (name, name_span) = self.name("a tag name")?;
                self.expect_word("when")?;
                let expr = self.expr()?;
                Ok(Statement::Tag {
                    name,
                    name_span,
                    expr,
                })
            }
            Tok::Ident(w) if w == "score" => {
                self.pos += 1;
                let selector = self.selector(false)?;
                self.expect(Tok::Arrow, "`=>`")?;
                let (points, points_span) = self.whole_number("points", true)?;
                let cap = if self.is_word("cap") {
                    self.pos += 1;
                    let (n, _) = self.whole_number("a cap", false)?;
                    self.expect_word("per")?;
                    Some((n, self.expr()?))
                } else {
                    None
                };
                Ok(Statement::Score {
                    selector,
                    points,
                    points_span,
                    cap,
                })
            }
            _ => Err(self.unexpected("`segment`, `tag` or `score`")),
        }
    }

    fn whole_number(&mut self, what: &str, allow_negative: bool) -> R<(i64, Span)> {
        let start = self.span();
        let negative = allow_negative && self.peek() == &Tok::Minus;
        if negative {
            self.pos += 1;
        }
        match self.peek().clone() {
            Tok::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => {
                let sp = start.to(self.bump().1);
                Ok((if negative { -(n as i64) } else { n as i64 }, sp))
            }
            Tok::Num(_) => Err(self.error(self.span(), format!("{what} must be a whole number"))),
            _ => Err(self.unexpected(&format!("{what} (a whole number)"))),
        }
    }

    fn selector(&mut self, with_field: bool) -> R<Selector> {
        // `tag` is an event kind as well as a keyword.
        let (kind, kind_span) = if self.is_word("tag") {
            let sp = self.bump().1;
            ("tag".to_string(), sp)
        } else {
            self.name("an event kind")?
        };
        let field = if self.peek() == &Tok::Dot {
            self.pos += 1;
            Some(self.name("a field name")?)
        } else if with_field {
            return Err(
                self.unexpected("`.FIELD` (sum needs a field: `sum(app_session.duration)`)")
            );
        } else {
            None
        };
        let cond = if self.is_word("where") {
            self.pos += 1;
            Some(Box::new(self.expr()?))
        } else {
            None
        };
        Ok(Selector {
            kind,
            kind_span,
            field,
            cond,
        })
    }

    fn expr(&mut self) -> R<Expr> {
        self.binary(1)
    }

    fn binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Ident(w) if w == "or" => BinOp::Or,
            Tok::Ident(w) if w == "and" => BinOp::And,
            Tok::Cmp(c) => BinOp::Cmp(*c),
            Tok::Plus => BinOp::Arith(ArithOp::Add),
            Tok::Minus => BinOp::Arith(ArithOp::Sub),
            Tok::Star => BinOp::Arith(ArithOp::Mul),
            Tok::Slash => BinOp::Arith(ArithOp::Div),
            _ => return None,
        })
    }

    fn binary(&mut self, min_prec: u8) -> R<Expr> {
        self.depth += 1;
        let r = self.binary_inner(min_prec);
        self.depth -= 1;
        r
    }

    fn binary_inner(&mut self, min_prec: u8) -> R<Expr> {
        if self.depth > MAX_DEPTH {
            return Err(self.error(self.span(), "expression nested too deeply"));
        }
        let mut lhs = self.unary()?;
        let mut links = 0;
        while let Some(op) = self.binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            // A chain `a + b + c …` nests to the left: it counts towards the depth too.
            links += 1;
            if self.depth + links > MAX_DEPTH {
                return Err(self.error(self.span(), "expression nested too deeply"));
            }
            self.pos += 1;
            let rhs = self.binary(prec + 1)?;
            if let (BinOp::Cmp(_), Some(BinOp::Cmp(_))) = (op, self.binop()) {
                return Err(self.error(
                    self.span(),
                    "comparisons cannot be chained; join them with `and`",
                ));
            }
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> R<Expr> {
        let start = self.span();
        if self.is_word("not") {
            self.pos += 1;
            let e = self.binary(3)?;
            let span = start.to(e.span);
            return Ok(Expr {
                kind: ExprKind::Not(Box::new(e)),
                span,
            });
        }
        if self.peek() == &Tok::Minus {
            self.pos += 1;
            let e = self.binary(7)?;
            let span = start.to(e.span);
            return Ok(Expr {
                kind: ExprKind::Neg(Box::new(e)),
                span,
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> R<Expr> {
        let (tok, span) = self.toks[self.pos].clone();
        let kind = match tok {
            Tok::Num(n) => {
                self.pos += 1;
                ExprKind::Num(n)
            }
            Tok::Dur(d) => {
                self.pos += 1;
                ExprKind::Dur(d)
            }
            Tok::Str(s) => {
                self.pos += 1;
                ExprKind::Str(s)
            }
            Tok::LParen => {
                self.pos += 1;
                let mut e = self.expr()?;
                let close = self.expect(Tok::RParen, "`)`")?;
                e.span = span.to(close);
                return Ok(e);
            }
            Tok::Ident(w) if w == "true" || w == "false" => {
                self.pos += 1;
                ExprKind::Bool(w == "true")
            }
            Tok::Ident(w)
                if !matches!(
                    w.as_str(),
                    "when" | "where" | "and" | "or" | "not" | "cap" | "per"
                ) =>
            {
                // `segment`, `tag` and `score` are also the names of terms.
                let (name, name_span) = (w, span);
                self.pos += 1;
                if self.peek() != &Tok::LParen {
                    return Ok(Expr {
                        kind: ExprKind::Name(name),
                        span: name_span,
                    });
                }
                self.pos += 1;
                let selector = if SELECTOR_FUNCTIONS.contains(&name.as_str()) {
                    Some(self.selector(name == "sum")?)
                } else {
                    None
                };
                let mut args = Vec::new();
                if selector.is_some() {
                    while self.peek() == &Tok::Comma {
                        self.pos += 1;
                        args.push(self.expr()?);
                    }
                } else if self.peek() != &Tok::RParen {
                    args.push(self.expr()?);
                    while self.peek() == &Tok::Comma {
                        self.pos += 1;
                        args.push(self.expr()?);
                    }
                }
                let close = self.expect(Tok::RParen, "`)` or `,`")?;
                return Ok(Expr {
                    kind: ExprKind::Call {
                        name,
                        selector,
                        args,
                    },
                    span: name_span.to(close),
                });
            }
            _ => return Err(self.unexpected("a value, a name or `(`")),
        };
        Ok(Expr { kind, span })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_example() {
        let src = r#"
# scoring: points per interaction
score email_click => 5
score purchase => 20
score product_view where discount >= 0.3 => 1 cap 10 per 1d

tag bargain_hunter when count(product_view where discount >= 0.3, 30d) >= 3

segment cart_abandoned = cart_items > 0 and since(cart_add) >= 24h and since(cart_add) < 48h
segment dormant        = count(purchase) >= 1 and since(purchase) > 90d
segment multi_brand    = brands_active(30d) >= 2
segment app_regular_near_store =
    count(beacon where zone == "store-12", 24h) >= 1 and sum(app_session.duration, 7d) >= 7 * 1800
segment vip            = revenue(365d) >= 1000 and not segment("dormant") and consent("email")
"#;
        let (stmts, errors) = parse(src);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(stmts.len(), 9);
        match &stmts[2] {
            Statement::Score { points, cap, .. } => {
                assert_eq!(*points, 1);
                assert_eq!(cap.as_ref().unwrap().0, 10);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reports_every_broken_statement() {
        let (stmts, errors) =
            parse("segment a = (1 +\nsegment b = 2 > 1\nsegment = 3\nscore x => 1.5\n");
        assert_eq!(stmts.len(), 1, "only b parses");
        assert_eq!(errors.len(), 3, "{errors:#?}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let n = 100_000;
        for src in [
            format!("segment a = {}1{}", "(".repeat(n), ")".repeat(n)),
            format!("segment a = {}x", "not ".repeat(n)),
            format!("segment a = {}x", "-".repeat(n)),
            format!("segment a = x{}", " and x".repeat(n)),
        ] {
            let (_, errors) = parse(&src);
            assert!(errors
                .iter()
                .any(|e| e.message == "expression nested too deeply"));
        }
    }

    #[test]
    fn precedence() {
        let e = parse_expr("not a == 1 and b or c").unwrap();
        // ((not (a == 1)) and b) or c
        match e.kind {
            ExprKind::Binary(BinOp::Or, l, _) => match l.kind {
                ExprKind::Binary(BinOp::And, n, _) => assert!(matches!(n.kind, ExprKind::Not(_))),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        assert!(parse_expr("1 < 2 < 3").is_err());
    }
}
