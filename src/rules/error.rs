//! Rule errors: where (line:column), why (one line), and the source line with a caret.

use std::fmt;

/// A place in a rules file: 1-based line and column (in characters), and the byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// Byte offset of the start.
    pub start: usize,
    /// Byte offset past the end.
    pub end: usize,
}

impl Span {
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        if other.start < self.start {
            return other.to(self);
        }
        Span {
            end: other.end.max(self.end),
            ..self
        }
    }
}

/// One error in a rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// Where.
    pub span: Span,
    /// Why, in one line.
    pub message: String,
    /// The source line the error is on (empty for rules built in Rust).
    pub source_line: String,
}

impl RuleError {
    pub(crate) fn new(span: Span, message: impl Into<String>, source: &str) -> RuleError {
        let source_line = if span.line == 0 {
            String::new()
        } else {
            source
                .lines()
                .nth(span.line as usize - 1)
                .unwrap_or("")
                .to_owned()
        };
        RuleError {
            span,
            message: message.into(),
            source_line,
        }
    }
}

impl fmt::Display for RuleError {
    /// ```text
    /// 3:22: unknown event kind "purchse"
    ///   segment x = count(purchse) > 1
    ///                     ^^^^^^^
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.span.line == 0 {
            return write!(f, "{}", self.message);
        }
        write!(f, "{}:{}: {}", self.span.line, self.span.col, self.message)?;
        if !self.source_line.is_empty() {
            let line = &self.source_line;
            let pad: String = line
                .chars()
                .take(self.span.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let width = caret_width(self, line);
            write!(f, "\n  {line}\n  {pad}{}", "^".repeat(width))?;
        }
        Ok(())
    }
}

/// The caret covers the span on its first line, at least one character.
fn caret_width(e: &RuleError, line: &str) -> usize {
    let chars_left = line.chars().count().saturating_sub(e.span.col as usize - 1);
    let len = e.span.end.saturating_sub(e.span.start);
    len.min(chars_left).max(1)
}

/// Every error found in a rules file, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleErrors(pub Vec<RuleError>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleErrors {}
