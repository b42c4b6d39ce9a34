//! A borrowed JSON tree: what [`decode_line`](super::decode_line) reads a line into before it
//! checks the event field by field.
//!
//! `serde_json::Value` would do, but it costs: every object is a `BTreeMap` with an owned
//! `String` per key, and every string value is copied. An event line is small and read once,
//! so here an object is a plain list of its fields in the order written, and keys and string
//! values borrow from the line whenever they hold no escape. Reading it gives what a
//! `serde_json::Value` would: a field written twice reads as its last value, and
//! [`Fields::sorted`] lists fields in key order, each once, as a `serde_json::Map` iterates.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use std::borrow::Cow;
use std::fmt;

/// A JSON number as the parser gave it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Num {
    /// A whole number of zero or more.
    U(u64),
    /// A negative whole number.
    I(i64),
    /// Any other number (a fraction, an exponent, or a whole number too large for 64 bits).
    F(f64),
}

impl Num {
    /// The number as whole milliseconds, when it is a whole number that fits an `i64`.
    pub(super) fn as_i64(self) -> Option<i64> {
        match self {
            Num::U(u) => i64::try_from(u).ok(),
            Num::I(i) => Some(i),
            Num::F(_) => None,
        }
    }

    pub(super) fn as_f64(self) -> f64 {
        match self {
            Num::U(u) => u as f64,
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }

    /// The number's decimal digits, when it is whole (an identifier given as a number).
    pub(super) fn whole_text(self) -> Option<String> {
        match self {
            Num::U(u) => Some(u.to_string()),
            Num::I(i) => Some(i.to_string()),
            Num::F(_) => None,
        }
    }
}

/// One JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node<'a> {
    Null,
    Bool(bool),
    Num(Num),
    Str(Cow<'a, str>),
    Arr(Vec<Node<'a>>),
    Obj(Fields<'a>),
}

/// An object's fields in the order written (a key written twice is there twice).
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Fields<'a>(Vec<(Cow<'a, str>, Node<'a>)>);

impl<'a> Fields<'a> {
    /// The fields in the order written.
    pub(super) fn from_vec(v: Vec<(Cow<'a, str>, Node<'a>)>) -> Fields<'a> {
        Fields(v)
    }

    /// The field's value; the last one written when the key is there more than once.
    pub(super) fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Every key once, in byte order, with its last value written: a `serde_json::Map`'s order,
    /// which fixes the order of an event's identifiers and attributes.
    pub(super) fn sorted(&self) -> Vec<(&str, &Node<'a>)> {
        let mut v: Vec<(&str, &Node<'a>)> = self.0.iter().map(|(k, n)| (&**k, n)).collect();
        // Stable: among equal keys the last written stays last; its value replaces the one
        // kept (`dedup_by` keeps the first of a run and hands each later one to the closure).
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = later.1;
            }
            same
        });
        v
    }
}

impl<'a> Node<'a> {
    /// Parses one JSON text (the whole of `s`, with nothing but white space after it): by
    /// the fast path when it reads the text, else by `serde_json` (see [`super::fast`]).
    pub(super) fn parse(s: &'a str) -> serde_json::Result<Node<'a>> {
        match super::fast::parse(s) {
            Some(n) => Ok(n),
            None => serde_json::from_str(s),
        }
    }

    /// The tree of an already parsed value, borrowing its strings.
    pub(super) fn of(v: &'a Json) -> Node<'a> {
        match v {
            Json::Null => Node::Null,
            Json::Bool(b) => Node::Bool(*b),
            Json::Number(n) => Node::Num(if let Some(u) = n.as_u64() {
                Num::U(u)
            } else if let Some(i) = n.as_i64() {
                Num::I(i)
            } else {
                Num::F(n.as_f64().unwrap_or(0.0))
            }),
            Json::String(s) => Node::Str(Cow::Borrowed(s)),
            Json::Array(a) => Node::Arr(a.iter().map(Node::of).collect()),
            Json::Object(m) => Node::Obj(Fields(
                m.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Node::of(v)))
                    .collect(),
            )),
        }
    }

    pub(super) fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }

    pub(super) fn as_object(&self) -> Option<&Fields<'a>> {
        match self {
            Node::Obj(f) => Some(f),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Node<'de>, E> {
        Ok(Node::Num(match u64::try_from(i) {
            Ok(u) => Num::U(u),
            Err(_) => Num::I(i),
        }))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Node<'de>, E> {
        Ok(Node::Num(Num::U(u)))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Node<'de>, E> {
        Ok(Node::Num(Num::F(f)))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
        while let Some(n) = seq.next_element()? {
            v.push(n);
        }
        Ok(Node::Arr(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        // An event has about eight fields; starting there saves the regrowths.
        let mut v = Vec::with_capacity(map.size_hint().unwrap_or(8).min(16));
        while let Some(Key(k)) = map.next_key()? {
            v.push((k, map.next_value()?));
        }
        Ok(Node::Obj(Fields(v)))
    }
}

/// An object key, borrowed from the line unless it holds an escape.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A JSON value of a few levels, with escapes, duplicate keys and numbers of each kind.
    fn json_text() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("ts".to_owned()),
            Just("a\\u0062".to_owned()),
            "[a-z]{0,3}",
        ];
        let leaf = prop_oneof![
            plain_leaf(),
            Just("18446744073709551616".to_owned()),
            Just("-9223372036854775809".to_owned()),
            (-1e6f64..1e6).prop_map(|f| format!("{f:?}")),
            Just("1e3".to_owned()),
            Just("-0".to_owned()),
            "[a-zé\\\\\"]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            Just("\"tab\\there\"".to_owned()),
            number_text(),
        ];
        nested(leaf.boxed(), key.boxed())
    }

    /// Arrays and objects of `leaf` values, a few levels deep, their keys from `key`.
    fn nested(
        leaf: BoxedStrategy<String>,
        key: BoxedStrategy<String>,
    ) -> impl Strategy<Value = String> {
        leaf.prop_recursive(3, 24, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key.clone(), inner), 0..5).prop_map(|v| {
                    let fields: Vec<String> =
                        v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        })
    }

    /// Numbers in every form the grammar has, and some it has not: signs, leading zeros,
    /// fractions and exponents of every length, digits past 64 bits.
    fn number_text() -> impl Strategy<Value = String> {
        (
            prop_oneof![Just(""), Just("-"), Just("+")],
            prop_oneof!["[0-9]{1,3}", "[1-9][0-9]{14,21}", Just(String::new())],
            prop_oneof![
                Just(String::new()),
                "\\.[0-9]{0,4}",
                "\\.[0-9]{15,20}",
                Just(".".to_owned())
            ],
            prop_oneof![
                Just(String::new()),
                "[eE][+-]?[0-9]{1,2}",
                "[eE][+-]?[0-9]{3,4}",
                Just("e".to_owned())
            ],
        )
            .prop_map(|(s, i, f, e)| format!("{s}{i}{f}{e}"))
    }

    /// The same value, numbers to the bit.
    fn identical(a: &Node<'_>, b: &Node<'_>) -> bool {
        match (a, b) {
            (Node::Num(Num::F(x)), Node::Num(Num::F(y))) => x.to_bits() == y.to_bits(),
            (Node::Arr(x), Node::Arr(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| identical(p, q))
            }
            (Node::Obj(x), Node::Obj(y)) => {
                x.0.len() == y.0.len()
                    && x.0
                        .iter()
                        .zip(&y.0)
                        .all(|(p, q)| p.0 == q.0 && identical(&p.1, &q.1))
            }
            _ => a == b,
        }
    }

    /// Compares a tree with a `serde_json::Value` the way the decoder reads both.
    fn same(n: &Node<'_>, v: &Json) -> bool {
        match (n, v) {
            (Node::Null, Json::Null) => true,
            (Node::Bool(a), Json::Bool(b)) => a == b,
            (Node::Num(a), Json::Number(b)) => {
                a.as_i64() == b.as_i64()
                    && a.as_f64().to_bits() == b.as_f64().unwrap().to_bits()
                    && a.whole_text() == (b.is_i64() || b.is_u64()).then(|| b.to_string())
            }
            (Node::Str(a), Json::String(b)) => a == b,
            (Node::Arr(a), Json::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
            }
            (Node::Obj(a), Json::Object(b)) => {
                let s = a.sorted();
                s.len() == b.len()
                    && s.iter()
                        .zip(b)
                        .all(|((k1, v1), (k2, v2))| *k1 == k2 && same(v1, v2))
                    && b.iter().all(|(k, v)| a.get(k).is_some_and(|n| same(n, v)))
            }
            _ => false,
        }
    }

    proptest! {
        /// The tree reads as `serde_json::Value` does, and fails on the same texts with the
        /// same message.
        #[test]
        fn reads_as_serde_json_value(text in json_text(), cut in 0usize..4) {
            let mut end = text.len().saturating_sub(cut);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            for t in [text.clone(), text[..end].to_owned()] {
                match (Node::parse(&t), serde_json::from_str::<Json>(&t)) {
                    (Ok(n), Ok(v)) => {
                        prop_assert!(same(&n, &v), "{t}");
                        prop_assert!(same(&Node::of(&v), &v), "{t}");
                    }
                    (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => prop_assert!(false, "{t}: {a:?} vs {b:?}"),
                }
            }
        }
    }

    proptest! {
        /// Where the fast path reads a text, it reads what `serde_json` does (or gives up),
        /// white space and damaged texts included.
        #[test]
        fn the_fast_path_reads_as_serde_json(
            text in json_text(),
            ws in prop_oneof![Just(""), Just(" "), Just("\n\t "), Just("\r")],
            flip in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
        ) {
            let spaced = format!("{ws}{}{ws}", text.replace(',', &format!("{ws},{ws}")));
            let mut texts = vec![text.clone(), spaced];
            if let Some((at, byte)) = flip.filter(|_| !text.is_empty()) {
                let mut b = text.clone().into_bytes();
                let i = at.index(b.len());
                b[i] = byte & 0x7f;
                // A byte of a character of two bytes flipped leaves no text: skipped.
                texts.extend(String::from_utf8(b).ok());
            }
            for t in texts {
                let slow: Result<Node<'_>, _> = serde_json::from_str(&t);
                match (super::super::fast::parse(&t), slow) {
                    (Some(f), Ok(s)) => prop_assert!(identical(&f, &s), "{t}"),
                    (Some(f), Err(e)) => prop_assert!(false, "{t}: fast {f:?}, serde_json {e}"),
                    (None, _) => {}
                }
            }
        }
    }

    /// Texts with no escape and only numbers the fast path reads exactly: whole numbers in
    /// 64 bits, decimals of few digits and exponents up to 22.
    fn plain_text() -> impl Strategy<Value = String> {
        nested(plain_leaf().boxed(), "[a-z]{0,3}".boxed())
    }

    /// A value of [`plain_text`] that is not an array or object.
    fn plain_leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            any::<i64>().prop_map(|i| i.to_string()),
            any::<u64>().prop_map(|u| u.to_string()),
            "-?(0|[1-9][0-9]{0,5})\\.[0-9]{1,6}([eE][+-]?[0-9])?",
            "[a-zé ]{0,6}".prop_map(|s| format!("\"{s}\"")),
        ]
    }

    proptest! {
        /// The fast path does not give up on what it is for: every plain text, spaced or
        /// not, it reads itself, as `serde_json` does.
        #[test]
        fn the_fast_path_reads_every_plain_text(
            text in plain_text(),
            ws in prop_oneof![Just(""), Just(" "), Just("\n\t ")],
        ) {
            let spaced = format!("{ws}{}{ws}", text.replace(',', &format!("{ws},{ws}")));
            for t in [&text, &spaced] {
                let slow: Node<'_> = serde_json::from_str(t).expect("a valid text");
                let fast = super::super::fast::parse(t);
                prop_assert!(fast.is_some(), "gave up on {t}");
                prop_assert!(identical(&fast.unwrap(), &slow), "{t}");
            }
        }
    }

    #[test]
    fn the_fast_path_reads_a_usual_line_and_leaves_the_rest() {
        let line = r#"{"ts":"2026-03-01T10:00:00Z","type":"purchase","brand":"b1","channel":"web",
            "ids":{"customer":"c-1","email":"a@b.pl"},"order":"o-9","amount":-19.99,
            "items":[{"product":"p1","qty":2,"price":0.5e1}],"n":-0,"big":18446744073709551615}"#;
        let n = super::super::fast::parse(line).expect("the fast path reads it");
        assert!(identical(&n, &serde_json::from_str(line).unwrap()));
        for other in [
            r#"{"a":"x\ny"}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":1.00000000000000000001}"#,
            r#"{"a":1e23}"#,
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":1} x"#,
            "",
        ] {
            assert!(super::super::fast::parse(other).is_none(), "{other}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(super::super::fast::parse(&deep).is_none());
        assert!(
            Node::parse(&deep).is_err(),
            "serde_json's own depth limit decides"
        );
    }

    #[test]
    fn plain_strings_borrow_and_escaped_ones_own() {
        let line = r#"{"a":"x","b\u0063":"y\n"}"#;
        let Node::Obj(f) = Node::parse(line).unwrap() else {
            panic!("an object")
        };
        assert!(matches!(f.0[0].0, Cow::Borrowed("a")));
        assert!(matches!(f.0[0].1, Node::Str(Cow::Borrowed("x"))));
        assert!(matches!(f.0[1].0, Cow::Owned(ref k) if k == "bc"));
        assert!(matches!(f.0[1].1, Node::Str(Cow::Owned(ref s)) if s == "y\n"));
    }

    #[test]
    fn a_repeated_key_reads_as_its_last_value() {
        let n = Node::parse(r#"{"b":1,"a":2,"b":3}"#).unwrap();
        let f = n.as_object().unwrap();
        assert_eq!(f.get("b"), Some(&Node::Num(Num::U(3))));
        let keys: Vec<&str> = f.sorted().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(f.sorted()[1].1, &Node::Num(Num::U(3)));
    }
}
