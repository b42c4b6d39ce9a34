//! Tokens of the rules language.
//!
//! Newlines end statements, except inside parentheses and after a token that cannot end one
//! (`=`, `=>`, `when`, `where`, `and`, `or`, `not`, a comparison or arithmetic operator, `,`,
//! `(`): there a statement continues on the next line. A line that starts with `and`, `or`,
//! `=>` or a comparison, `+`, `*` or `/` also continues the statement above (no statement can
//! start that way). `#` starts a comment.

use super::error::{RuleError, Span};
use crate::event::time::{DAY, HOUR, MINUTE, SECOND};

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }

    /// The same comparison with its operands swapped (`a < b` is `b > a`).
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Num(f64),
    /// A duration literal, in milliseconds.
    Dur(i64),
    Str(String),
    LParen,
    RParen,
    Comma,
    Dot,
    Assign,
    Arrow,
    Cmp(CmpOp),
    Plus,
    Minus,
    Star,
    Slash,
    Newline,
    Eof,
}

impl Tok {
    /// A token after which a newline does not end the statement.
    fn continues(&self) -> bool {
        match self {
            Tok::Ident(w) => matches!(w.as_str(), "when" | "where" | "and" | "or" | "not"),
            Tok::Assign
            | Tok::Arrow
            | Tok::Cmp(_)
            | Tok::Plus
            | Tok::Minus
            | Tok::Star
            | Tok::Slash
            | Tok::Comma
            | Tok::LParen => true,
            _ => false,
        }
    }

    /// A token that cannot start a statement but can join one: at the start of a line it
    /// continues the statement above.
    fn leads_continuation(&self) -> bool {
        match self {
            Tok::Ident(w) => matches!(w.as_str(), "and" | "or"),
            Tok::Arrow | Tok::Cmp(_) | Tok::Plus | Tok::Star | Tok::Slash => true,
            _ => false,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(w) => format!("`{w}`"),
            Tok::Num(n) => format!("number {n}"),
            Tok::Dur(_) => "a duration".into(),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Dot => "`.`".into(),
            Tok::Assign => "`=`".into(),
            Tok::Arrow => "`=>`".into(),
            Tok::Cmp(op) => format!("`{}`", op.as_str()),
            Tok::Plus => "`+`".into(),
            Tok::Minus => "`-`".into(),
            Tok::Star => "`*`".into(),
            Tok::Slash => "`/`".into(),
            Tok::Newline => "end of line".into(),
            Tok::Eof => "end of file".into(),
        }
    }
}

/// Milliseconds per unit, for the duration suffixes.
pub(crate) fn unit_ms(unit: &str) -> Option<i64> {
    Some(match unit {
        "ms" => 1,
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        "d" => DAY,
        "w" => 7 * DAY,
        _ => return None,
    })
}

/// Splits a rules file into tokens; errors for characters and literals that make no sense.
pub(crate) fn lex(src: &str) -> (Vec<(Tok, Span)>, Vec<RuleError>) {
    let mut out: Vec<(Tok, Span)> = Vec::new();
    let mut errors = Vec::new();
    let b = src.as_bytes();
    let (mut i, mut line, mut line_start) = (0usize, 1u32, 0usize);
    let mut depth = 0i32;
    // Columns count characters; counting from the start of the line for every token would be
    // quadratic on long lines, so a cursor moves forward through the line instead.
    let cursor = std::cell::Cell::new((0usize, 1u32));
    let col_of = |pos: usize, line_start: usize| {
        let (mut at, mut col) = cursor.get();
        if at < line_start || at > pos {
            (at, col) = (line_start, 1);
        }
        col += src[at..pos].chars().count() as u32;
        cursor.set((pos, col));
        col
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        let span = |end: usize, line: u32, line_start: usize| Span {
            line,
            col: col_of(start, line_start),
            start,
            end,
        };
        match c {
            b'\n' => {
                let prev_continues = out.last().is_some_and(|(t, _)| t.continues());
                if depth <= 0
                    && !prev_continues
                    && !matches!(out.last(), Some((Tok::Newline, _)) | None)
                {
                    out.push((Tok::Newline, span(i + 1, line, line_start)));
                }
                i += 1;
                line += 1;
                line_start = i;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b')' | b',' | b'.' | b'+' | b'-' | b'*' | b'/' => {
                let t = match c {
                    b'(' => {
                        depth += 1;
                        Tok::LParen
                    }
                    b')' => {
                        depth -= 1;
                        Tok::RParen
                    }
                    b',' => Tok::Comma,
                    b'.' => Tok::Dot,
                    b'+' => Tok::Plus,
                    b'-' => Tok::Minus,
                    b'*' => Tok::Star,
                    _ => Tok::Slash,
                };
                i += 1;
                out.push((t, span(i, line, line_start)));
            }
            b'=' | b'<' | b'>' | b'!' => {
                let next = b.get(i + 1).copied();
                let (t, len) = match (c, next) {
                    (b'=', Some(b'=')) => (Some(Tok::Cmp(CmpOp::Eq)), 2),
                    (b'=', Some(b'>')) => (Some(Tok::Arrow), 2),
                    (b'=', _) => (Some(Tok::Assign), 1),
                    (b'<', Some(b'=')) => (Some(Tok::Cmp(CmpOp::Le)), 2),
                    (b'<', _) => (Some(Tok::Cmp(CmpOp::Lt)), 1),
                    (b'>', Some(b'=')) => (Some(Tok::Cmp(CmpOp::Ge)), 2),
                    (b'>', _) => (Some(Tok::Cmp(CmpOp::Gt)), 1),
                    (b'!', Some(b'=')) => (Some(Tok::Cmp(CmpOp::Ne)), 2),
                    _ => (None, 1),
                };
                i += len;
                match t {
                    Some(t) => out.push((t, span(i, line, line_start))),
                    None => errors.push(RuleError::new(
                        span(i, line, line_start),
                        "unexpected `!` (write `not` for negation, `!=` for inequality)",
                        src,
                    )),
                }
            }
            b'"' => {
                i += 1;
                let mut text = String::new();
                let mut closed = false;
                while i < b.len() && b[i] != b'\n' {
                    match b[i] {
                        b'"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        b'\\' if i + 1 < b.len() => {
                            // The escaped character may take several bytes.
                            let escaped = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                            match b[i + 1] {
                                b'n' => text.push('\n'),
                                b't' => text.push('\t'),
                                b'"' => text.push('"'),
                                b'\\' => text.push('\\'),
                                _ => errors.push(RuleError::new(
                                    Span {
                                        line,
                                        col: col_of(i, line_start),
                                        start: i,
                                        end: i + 1 + escaped,
                                    },
                                    "unknown escape (use \\\" \\\\ \\n or \\t)",
                                    src,
                                )),
                            }
                            i += 1 + escaped;
                        }
                        _ => {
                            let ch = src[i..].chars().next().expect("in bounds");
                            text.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                if !closed {
                    errors.push(RuleError::new(
                        span(start + 1, line, line_start),
                        "unterminated string",
                        src,
                    ));
                }
                // Taken as ending at the end of the line, so that the next line is read as a
                // statement of its own.
                out.push((Tok::Str(text), span(i, line, line_start)));
            }
            b'0'..=b'9' => {
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
                    i += 1;
                }
                if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                    i += 1;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                let num_end = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let digits: String = src[start..num_end].chars().filter(|c| *c != '_').collect();
                let value: f64 = digits.parse().unwrap_or(f64::NAN);
                let sp = span(i, line, line_start);
                if num_end == i {
                    out.push((Tok::Num(value), sp));
                } else {
                    let unit = &src[num_end..i];
                    match unit_ms(unit) {
                        Some(ms) if (value * ms as f64).abs() < 9.0e18 => {
                            out.push((Tok::Dur((value * ms as f64).round() as i64), sp))
                        }
                        Some(_) => {
                            errors.push(RuleError::new(sp, "duration too large", src));
                            out.push((Tok::Dur(0), sp));
                        }
                        None => {
                            errors.push(RuleError::new(
                                sp,
                                format!("unknown duration unit {unit:?} (use ms, s, m, h, d or w)"),
                                src,
                            ));
                            // A stand-in keeps the statement's shape for the parser.
                            out.push((Tok::Dur(0), sp));
                        }
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                // A statement keyword opening a line, followed by a name, starts a new
                // statement even when a parenthesis was left open above: report the open
                // parenthesis there, not at the end of the file.
                let first_on_line = out.last().is_none_or(|(_, sp)| sp.line < line);
                let word = &src[start..i];
                let then_name = src[i..]
                    .trim_start_matches([' ', '\t'])
                    .starts_with(|ch: char| ch.is_ascii_alphabetic() || ch == '_');
                if depth > 0
                    && first_on_line
                    && then_name
                    && matches!(word, "segment" | "tag" | "score")
                {
                    depth = 0;
                    // The statement above ends right after its last token.
                    let at = out
                        .last()
                        .map_or(span(start, line, line_start), |(_, p)| Span {
                            col: p.col + src[p.start..p.end].chars().count() as u32,
                            start: p.end,
                            ..*p
                        });
                    out.push((Tok::Newline, at));
                }
                out.push((
                    Tok::Ident(src[start..i].to_owned()),
                    span(i, line, line_start),
                ));
            }
            _ => {
                let ch = src[i..].chars().next().expect("in bounds");
                i += ch.len_utf8();
                errors.push(RuleError::new(
                    span(i, line, line_start),
                    format!("unexpected character {ch:?}"),
                    src,
                ));
            }
        }
    }
    let end = Span {
        line,
        col: col_of(b.len(), line_start),
        start: b.len(),
        end: b.len(),
    };
    if !matches!(out.last(), Some((Tok::Newline, _)) | None) {
        out.push((Tok::Newline, end));
    }
    out.push((Tok::Eof, end));
    // Lines that start with a binary operator continue the line above.
    let mut joined: Vec<(Tok, Span)> = Vec::with_capacity(out.len());
    for (t, sp) in out {
        if t.leads_continuation() && matches!(joined.last(), Some((Tok::Newline, _))) {
            joined.pop();
        }
        joined.push((t, sp));
    }
    (joined, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        let (t, e) = lex(src);
        assert!(e.is_empty(), "{e:?}");
        t.into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn durations_numbers_operators() {
        assert_eq!(
            toks("since(x) >= 90d + 1.5h # comment"),
            vec![
                Tok::Ident("since".into()),
                Tok::LParen,
                Tok::Ident("x".into()),
                Tok::RParen,
                Tok::Cmp(CmpOp::Ge),
                Tok::Dur(90 * DAY),
                Tok::Plus,
                Tok::Dur(90 * MINUTE),
                Tok::Newline,
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("30ms 2w 7_000")[..3],
            [Tok::Dur(30), Tok::Dur(14 * DAY), Tok::Num(7000.0)]
        );
    }

    #[test]
    fn continuation_lines() {
        let t = toks(
            "segment a =\n  x and\n  (y\n or z)\nsegment b = 1\n  and c\n  >= 2\nsegment c = 1",
        );
        let newlines = t.iter().filter(|t| **t == Tok::Newline).count();
        assert_eq!(newlines, 3);
    }

    #[test]
    fn errors_point_at_the_place() {
        let (_, e) = lex("segment a = \"open\nsegment b = 3x");
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].span.line, e[0].span.col), (1, 13));
        assert_eq!(e[0].message, "unterminated string");
        assert!(e[1].message.contains("unknown duration unit \"x\""));
    }

    #[test]
    fn an_unknown_escape_of_a_multibyte_character_is_an_error() {
        // Found by the `rules` fuzz target: the escape was taken as two bytes, cutting `ܣ`.
        let (_, e) = lex("at\u{7f}z\"\\ܣ");
        assert!(
            e.iter().any(|e| e.message.starts_with("unknown escape")),
            "{e:?}"
        );
        assert!(crate::rules::compile("segment a = attr(\"\\ü\") == 1").is_err());
    }
}
