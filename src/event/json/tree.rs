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
    /// Parses one JSON text (the whole of `s`, with nothing but white space after it).
    pub(super) fn parse(s: &'a str) -> serde_json::Result<Node<'a>> {
        serde_json::from_str(s)
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
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            any::<i64>().prop_map(|i| i.to_string()),
            any::<u64>().prop_map(|u| u.to_string()),
            Just("18446744073709551616".to_owned()),
            Just("-9223372036854775809".to_owned()),
            (-1e6f64..1e6).prop_map(|f| format!("{f:?}")),
            Just("1e3".to_owned()),
            Just("-0".to_owned()),
            "[a-zé\\\\\"]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            Just("\"tab\\there\"".to_owned()),
        ];
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
