//! The fast path of [`Node::parse`]: a direct scanner for the JSON an event line usually is.
//!
//! `serde_json` builds the tree through its `Deserialize` machinery (a visitor call per value,
//! a `MapAccess` step per field), which was about three fifths of decoding a line. This
//! scanner reads the usual line straight into the tree, and gives up — `None`, nothing
//! decided — on anything it does not read exactly as `serde_json` would: an escape in a
//! string, a number whose digits do not fit 64 bits, a fraction or exponent that could round
//! otherwise, nesting deeper than [`DEPTH`], and every error. The caller then parses the line
//! with `serde_json`, which gives the tree or the error with its message, so what a line
//! decodes to (or the message it fails with) does not depend on which path read it. The tree
//! module's tests check both paths against `serde_json::Value` on random texts.

use super::tree::{Fields, Node, Num};
use std::borrow::Cow;

/// Nesting this deep is left to `serde_json` (whose own limit is 128).
const DEPTH: usize = 64;

/// The powers of ten a double holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The tree of `s` when the fast path reads all of it (one value, then only white space).
pub(super) fn parse(s: &str) -> Option<Node<'_>> {
    let mut p = Scan {
        s,
        b: s.as_bytes(),
        i: 0,
    };
    let mut v = Node::Null;
    p.value(0, &mut v)?;
    p.ws();
    (p.i == p.b.len()).then_some(v)
}

struct Scan<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips JSON white space.
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    /// Reads a value into `out`, where it is to stay: built on the stack and moved into its
    /// list, a value was written in parts and read back whole, which stalled the processor
    /// (a store it could not forward) on every field.
    fn value(&mut self, depth: usize, out: &mut Node<'a>) -> Option<()> {
        self.ws();
        *out = match self.peek()? {
            b'{' => self.object(depth)?,
            b'[' => self.array(depth)?,
            b'"' => Node::Str(Cow::Borrowed(self.string()?)),
            b'n' => self.word(b"null", Node::Null)?,
            b't' => self.word(b"true", Node::Bool(true))?,
            b'f' => self.word(b"false", Node::Bool(false))?,
            b'-' | b'0'..=b'9' => Node::Num(self.number()?),
            _ => return None,
        };
        Some(())
    }

    fn word(&mut self, w: &[u8], n: Node<'a>) -> Option<Node<'a>> {
        self.b[self.i..].starts_with(w).then(|| {
            self.i += w.len();
            n
        })
    }

    /// A string without escapes or control characters, at `"`; borrowed from the line.
    fn string(&mut self) -> Option<&'a str> {
        let start = self.i + 1;
        let mut j = start;
        loop {
            match *self.b.get(j)? {
                b'"' => {
                    self.i = j + 1;
                    // `j` is at an ASCII quote, so both ends are character boundaries.
                    return Some(&self.s[start..j]);
                }
                b'\\' | 0..=0x1f => return None,
                _ => j += 1,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Node<'a>> {
        if depth >= DEPTH {
            return None;
        }
        self.i += 1;
        // An event has about eight fields.
        let mut v = Vec::with_capacity(8);
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Some(Node::Obj(Fields::from_vec(v)));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return None;
            }
            let k = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return None;
            }
            self.i += 1;
            // The field goes into the list before its value is read (see `value`): a `push`
            // built it on the stack and copied it over, stalling as a value did (decoding
            // alone: 2.79 M lines/s that way, 2.82 M so; writing it into the spare capacity
            // with `unsafe` gave 2.95 M, not worth an unsafe block).
            v.resize_with(v.len() + 1, || (Cow::Borrowed(k), Node::Null));
            let (_, slot) = v.last_mut().expect("just pushed");
            self.value(depth + 1, slot)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(Node::Obj(Fields::from_vec(v)));
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Node<'a>> {
        if depth >= DEPTH {
            return None;
        }
        self.i += 1;
        let mut v = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Some(Node::Arr(v));
        }
        loop {
            v.resize_with(v.len() + 1, || Node::Null);
            self.value(depth + 1, v.last_mut().expect("just pushed"))?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(Node::Arr(v));
                }
                _ => return None,
            }
        }
    }

    /// Digits from `self.i` added to `sig`; how many. `None` when they overflow 64 bits.
    fn digits(&mut self, sig: &mut u64) -> Option<i32> {
        let mut n = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            *sig = sig.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.i += 1;
            n += 1;
        }
        Some(n)
    }

    /// A number as `serde_json` gives it: a whole one as `u64`, or as `i64` when negative
    /// (`-0`, and a negative one beyond `i64`, as a double); a fraction or exponent as a
    /// double, here only when the digits are below 2^53 and the power of ten at most 22, where
    /// the one division or multiplication `serde_json` does is exact before its rounding.
    fn number(&mut self) -> Option<Num> {
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let mut sig = 0u64;
        match self.peek()? {
            b'0' => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return None;
                }
            }
            b'1'..=b'9' => {
                self.digits(&mut sig)?;
            }
            _ => return None,
        }
        let mut exp = 0i32;
        let mut whole = true;
        if self.peek() == Some(b'.') {
            whole = false;
            self.i += 1;
            match self.digits(&mut sig)? {
                0 => return None,
                n => exp -= n,
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            whole = false;
            self.i += 1;
            let minus = match self.peek() {
                Some(b'-') => {
                    self.i += 1;
                    true
                }
                Some(b'+') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let mut e = 0u64;
            if self.digits(&mut e)? == 0 || e > 1000 {
                return None;
            }
            exp += if minus { -(e as i32) } else { e as i32 };
        }
        if whole {
            return Some(if !neg {
                Num::U(sig)
            } else {
                match (sig as i64).wrapping_neg() {
                    n if n >= 0 => Num::F(-(sig as f64)),
                    n => Num::I(n),
                }
            });
        }
        if sig > 1 << 53 || exp.unsigned_abs() as usize >= POW10.len() {
            return None;
        }
        let f = sig as f64;
        let f = if exp >= 0 {
            f * POW10[exp as usize]
        } else {
            f / POW10[exp.unsigned_abs() as usize]
        };
        Some(Num::F(if neg { -f } else { f }))
    }
}
