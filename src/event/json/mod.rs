//! JSON Lines decoding with errors that name the line, the field and the reason.

use super::id::{IdError, IdType, Identifier};
use super::time::{parse_rfc3339, TimeError};
use super::{Channel, Event, Item, Kind, Money, Payload, Value};
use crate::Text;
use serde_json::Value as Json;
use smallvec::SmallVec;
use std::fmt;
use tree::{Fields, Node};

mod fast;
mod tree;

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventErrorKind {
    /// The text is not JSON (the parser's message, with its column).
    Syntax(String),
    /// The line is JSON but not an object.
    NotAnObject,
    /// A required field is absent (or null).
    Missing,
    /// The field has the wrong JSON type; the text says what was expected.
    WrongType(&'static str),
    /// The value is outside its allowed range; the text states the rule.
    OutOfRange(&'static str),
    /// `type` names no known kind.
    UnknownType(String),
    /// `channel` names no known channel.
    UnknownChannel(String),
    /// An identifier type is not built in and not a valid custom name.
    BadIdType(String),
    /// An identifier value is unusable.
    BadIdentifier(IdError),
    /// No identifier was given.
    NoIdentifier,
    /// Two identifiers of one type in a typed event.
    RepeatedIdType(String),
    /// The timestamp is not RFC 3339.
    BadTime(TimeError),
    /// A tag is both added and removed by one event.
    TagInBoth(String),
}

/// A refused event: which line (when decoded from JSON Lines), which field, and why.
///
/// ```
/// let err = tropa::decode_line(r#"{"ts":0,"ids":{"cookie":"c"},"type":"refund","order":"o","amount":-5}"#)
///     .unwrap_err()
///     .at_line(7);
/// assert_eq!(err.to_string(), "line 7: field `amount`: must be zero or more");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EventError {
    /// 1-based line number in the input, when known.
    pub line: Option<u64>,
    /// The field, as a path (`items[2].qty`), when the error is about one.
    pub field: Option<String>,
    /// The reason.
    pub kind: EventErrorKind,
}

impl EventError {
    fn new(field: impl Into<String>, kind: EventErrorKind) -> EventError {
        EventError {
            line: None,
            field: Some(field.into()),
            kind,
        }
    }

    fn whole(kind: EventErrorKind) -> EventError {
        EventError {
            line: None,
            field: None,
            kind,
        }
    }

    /// Attaches a line number.
    pub fn at_line(mut self, line: u64) -> EventError {
        self.line = Some(line);
        self
    }

    /// A short, stable name of the reason, for counting rejects by cause.
    pub fn reason_name(&self) -> &'static str {
        match self.kind {
            EventErrorKind::Syntax(_) => "syntax",
            EventErrorKind::NotAnObject => "not_an_object",
            EventErrorKind::Missing => "missing_field",
            EventErrorKind::WrongType(_) => "wrong_type",
            EventErrorKind::OutOfRange(_) => "out_of_range",
            EventErrorKind::UnknownType(_) => "unknown_type",
            EventErrorKind::UnknownChannel(_) => "unknown_channel",
            EventErrorKind::BadIdType(_) => "bad_identifier_type",
            EventErrorKind::BadIdentifier(_) => "bad_identifier",
            EventErrorKind::NoIdentifier => "no_identifier",
            EventErrorKind::RepeatedIdType(_) => "repeated_identifier_type",
            EventErrorKind::BadTime(_) => "bad_time",
            EventErrorKind::TagInBoth(_) => "tag_in_both",
        }
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        match &self.kind {
            EventErrorKind::Syntax(m) => write!(f, "not valid JSON: {m}"),
            EventErrorKind::NotAnObject => f.write_str("an event must be a JSON object"),
            EventErrorKind::Missing => f.write_str("required but missing"),
            EventErrorKind::WrongType(e) => write!(f, "expected {e}"),
            EventErrorKind::OutOfRange(r) => write!(f, "must be {r}"),
            EventErrorKind::UnknownType(t) => write!(f, "unknown event type {t:?}"),
            EventErrorKind::UnknownChannel(c) => write!(f, "unknown channel {c:?}"),
            EventErrorKind::BadIdType(t) => write!(
                f,
                "{t:?} is not an identifier type (built-in or lower-case [a-z][a-z0-9_]*)"
            ),
            EventErrorKind::BadIdentifier(e) => write!(f, "{e}"),
            EventErrorKind::NoIdentifier => f.write_str("at least one identifier is required"),
            EventErrorKind::RepeatedIdType(t) => {
                write!(f, "more than one identifier of type {t:?}")
            }
            EventErrorKind::BadTime(e) => write!(f, "{e}"),
            EventErrorKind::TagInBoth(t) => write!(f, "tag {t:?} is both added and removed"),
        }
    }
}

impl std::error::Error for EventError {}

type R<T> = Result<T, EventError>;

/// Decodes one JSON line into a validated [`Event`].
///
/// The error carries no line number; JSON Lines readers add it with [`EventError::at_line`].
pub fn decode_line(line: &str) -> R<Event> {
    let v =
        Node::parse(line).map_err(|e| EventError::whole(EventErrorKind::Syntax(e.to_string())))?;
    decode_node(&v)
}

/// Decodes an already parsed JSON value into a validated [`Event`].
pub fn decode_value(v: &Json) -> R<Event> {
    decode_node(&Node::of(v))
}

fn decode_node(v: &Node<'_>) -> R<Event> {
    let m = v
        .as_object()
        .ok_or_else(|| EventError::whole(EventErrorKind::NotAnObject))?;
    let o = Obj { m, prefix: "" };
    let ts = match m.get("ts") {
        None | Some(Node::Null) => return Err(EventError::new("ts", EventErrorKind::Missing)),
        Some(Node::Str(s)) => {
            parse_rfc3339(s).map_err(|e| EventError::new("ts", EventErrorKind::BadTime(e)))?
        }
        Some(Node::Num(n)) => n.as_i64().ok_or_else(|| {
            EventError::new(
                "ts",
                EventErrorKind::WrongType("whole milliseconds or an RFC 3339 string"),
            )
        })?,
        Some(_) => {
            return Err(EventError::new(
                "ts",
                EventErrorKind::WrongType("whole milliseconds or an RFC 3339 string"),
            ))
        }
    };
    let type_name = o.req_str("type")?;
    let kind = Kind::parse(type_name).ok_or_else(|| {
        EventError::new("type", EventErrorKind::UnknownType(type_name.to_owned()))
    })?;
    let channel = match o.opt_str("channel")? {
        None => Channel::Other,
        Some(c) => Channel::parse(c).ok_or_else(|| {
            EventError::new("channel", EventErrorKind::UnknownChannel(c.to_owned()))
        })?,
    };
    let ids = decode_ids(m.get("ids"))?;
    let id = o.opt_str("id")?.map(Text::from);
    let brand = o.opt_str("brand")?.unwrap_or("").into();
    let payload = decode_payload(kind, &o)?;
    let event = Event {
        id,
        ts,
        ids,
        brand,
        channel,
        payload,
    };
    event.validate()?;
    Ok(event)
}

fn decode_ids(v: Option<&Node<'_>>) -> R<SmallVec<[Identifier; 2]>> {
    let m = match v {
        None | Some(Node::Null) => return Err(EventError::new("ids", EventErrorKind::Missing)),
        Some(Node::Obj(m)) => m,
        Some(_) => {
            return Err(EventError::new(
                "ids",
                EventErrorKind::WrongType("an object of type: value"),
            ))
        }
    };
    let mut ids = SmallVec::new();
    for (t, val) in m.sorted() {
        let field = || format!("ids.{t}");
        let kind = IdType::parse(t)
            .ok_or_else(|| EventError::new(field(), EventErrorKind::BadIdType(t.to_owned())))?;
        // A whole number stands for its digits.
        let digits = match val {
            Node::Num(n) => n.whole_text(),
            _ => None,
        };
        let value = match (val, &digits) {
            (Node::Str(s), _) => &**s,
            (_, Some(d)) => d.as_str(),
            _ => {
                return Err(EventError::new(
                    field(),
                    EventErrorKind::WrongType("a string"),
                ))
            }
        };
        let id = Identifier::new(kind, value)
            .map_err(|e| EventError::new(field(), EventErrorKind::BadIdentifier(e)))?;
        ids.push(id);
    }
    Ok(ids)
}

struct Obj<'a, 'j> {
    m: &'a Fields<'j>,
    prefix: &'a str,
}

impl<'a, 'j> Obj<'a, 'j> {
    fn path(&self, f: &str) -> String {
        format!("{}{f}", self.prefix)
    }

    fn get(&self, f: &str) -> Option<&'a Node<'j>> {
        self.m.get(f).filter(|v| !v.is_null())
    }

    fn opt_str(&self, f: &str) -> R<Option<&'a str>> {
        match self.get(f) {
            None => Ok(None),
            Some(Node::Str(s)) => Ok(Some(s)),
            Some(_) => Err(EventError::new(
                self.path(f),
                EventErrorKind::WrongType("a string"),
            )),
        }
    }

    fn req_str(&self, f: &str) -> R<&'a str> {
        self.opt_str(f)?
            .ok_or_else(|| EventError::new(self.path(f), EventErrorKind::Missing))
    }

    fn opt_text(&self, f: &str) -> R<Option<Text>> {
        Ok(self.opt_str(f)?.map(Text::from))
    }

    fn req_text(&self, f: &str) -> R<Text> {
        let s = self.req_str(f)?;
        if s.is_empty() {
            return Err(EventError::new(
                self.path(f),
                EventErrorKind::OutOfRange("a non-empty string"),
            ));
        }
        Ok(s.into())
    }

    fn opt_num(&self, f: &str) -> R<Option<f64>> {
        match self.get(f) {
            None => Ok(None),
            Some(Node::Num(n)) => Ok(Some(n.as_f64())),
            Some(_) => Err(EventError::new(
                self.path(f),
                EventErrorKind::WrongType("a number"),
            )),
        }
    }

    fn money(&self, f: &str) -> R<Option<Money>> {
        match self.opt_num(f)? {
            None => Ok(None),
            Some(v) => Money::from_f64(v).map(Some).ok_or_else(|| {
                EventError::new(
                    self.path(f),
                    EventErrorKind::OutOfRange("a finite amount below 9e12"),
                )
            }),
        }
    }

    fn req_money(&self, f: &str) -> R<Money> {
        self.money(f)?
            .ok_or_else(|| EventError::new(self.path(f), EventErrorKind::Missing))
    }

    fn qty(&self) -> R<u32> {
        match self.opt_num("qty")? {
            None => Ok(1),
            Some(q) if q.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&q) => Ok(q as u32),
            Some(_) => Err(EventError::new(
                self.path("qty"),
                EventErrorKind::OutOfRange("a whole number of at least 1"),
            )),
        }
    }

    /// Seconds on the wire, milliseconds inside.
    fn duration(&self, f: &str) -> R<Option<i64>> {
        match self.opt_num(f)? {
            None => Ok(None),
            Some(s) if s.is_finite() && (0.0..1e12).contains(&s) => {
                Ok(Some((s * 1000.0).round() as i64))
            }
            Some(_) => Err(EventError::new(
                self.path(f),
                EventErrorKind::OutOfRange("zero or more seconds"),
            )),
        }
    }

    fn req_bool(&self, f: &str) -> R<bool> {
        match self.get(f) {
            None => Err(EventError::new(self.path(f), EventErrorKind::Missing)),
            Some(Node::Bool(b)) => Ok(*b),
            Some(_) => Err(EventError::new(
                self.path(f),
                EventErrorKind::WrongType("true or false"),
            )),
        }
    }

    fn str_list(&self, f: &str) -> R<Vec<Text>> {
        match self.get(f) {
            None => Ok(Vec::new()),
            Some(Node::Arr(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Node::Str(s) if !s.is_empty() => Ok(Text::from(&**s)),
                    _ => Err(EventError::new(
                        format!("{}[{i}]", self.path(f)),
                        EventErrorKind::WrongType("a non-empty string"),
                    )),
                })
                .collect(),
            Some(_) => Err(EventError::new(
                self.path(f),
                EventErrorKind::WrongType("a list of strings"),
            )),
        }
    }

    fn object(&self, f: &str) -> R<Option<&'a Fields<'j>>> {
        match self.get(f) {
            None => Ok(None),
            Some(Node::Obj(m)) => Ok(Some(m)),
            Some(_) => Err(EventError::new(
                self.path(f),
                EventErrorKind::WrongType("an object"),
            )),
        }
    }
}

fn scalar(field: String, v: &Node<'_>) -> R<Option<Value>> {
    Ok(match v {
        Node::Null => None,
        Node::Bool(b) => Some(Value::Bool(*b)),
        Node::Num(n) => Some(Value::Num(n.as_f64())),
        Node::Str(s) => Some(Value::Str(Text::from(&**s))),
        _ => {
            return Err(EventError::new(
                field,
                EventErrorKind::WrongType("a string, number, boolean or null"),
            ))
        }
    })
}

fn decode_payload(kind: Kind, o: &Obj<'_, '_>) -> R<Payload> {
    Ok(match kind {
        Kind::PageView => Payload::PageView {
            url: o.opt_text("url")?,
            category: o.opt_text("category")?,
        },
        Kind::ProductView => Payload::ProductView {
            product: o.req_text("product")?,
            category: o.opt_text("category")?,
            brand_name: o.opt_text("brand_name")?,
            price: o.money("price")?,
            color: o.opt_text("color")?,
            discount: o.opt_num("discount")?,
        },
        Kind::CartAdd => Payload::CartAdd {
            product: o.req_text("product")?,
            qty: o.qty()?,
            price: o.money("price")?,
            category: o.opt_text("category")?,
        },
        Kind::CartRemove => Payload::CartRemove {
            product: o.req_text("product")?,
            qty: o.qty()?,
            price: o.money("price")?,
            category: o.opt_text("category")?,
        },
        Kind::Purchase => {
            let items = match o.get("items") {
                None => Vec::new(),
                Some(Node::Arr(a)) => {
                    let mut items = Vec::with_capacity(a.len());
                    for (i, it) in a.iter().enumerate() {
                        let prefix = format!("items[{i}].");
                        let m = it.as_object().ok_or_else(|| {
                            EventError::new(
                                format!("items[{i}]"),
                                EventErrorKind::WrongType("an object"),
                            )
                        })?;
                        let io = Obj { m, prefix: &prefix };
                        items.push(Item {
                            product: io.opt_text("product")?,
                            category: io.opt_text("category")?,
                            qty: io.qty()?,
                            price: io.money("price")?,
                        });
                    }
                    items
                }
                Some(_) => {
                    return Err(EventError::new(
                        "items",
                        EventErrorKind::WrongType("a list of objects"),
                    ))
                }
            };
            Payload::Purchase {
                order: o.req_text("order")?,
                amount: o.req_money("amount")?,
                currency: o.opt_text("currency")?,
                items,
            }
        }
        Kind::Refund => Payload::Refund {
            order: o.req_text("order")?,
            amount: o.req_money("amount")?,
        },
        Kind::EmailOpen
        | Kind::EmailClick
        | Kind::PushOpen
        | Kind::SmsClick
        | Kind::WebPushSubscribe => Payload::Campaign {
            kind,
            campaign: o.opt_text("campaign")?,
        },
        Kind::AppOpen => Payload::AppOpen,
        Kind::AppSession => Payload::AppSession {
            duration: o.duration("duration")?,
        },
        Kind::Beacon => Payload::Beacon {
            zone: o.req_text("zone")?,
            duration: o.duration("duration")?,
        },
        Kind::Geo => Payload::Geo {
            place: o.req_text("place")?,
        },
        Kind::FormSubmit => Payload::FormSubmit {
            form: o.opt_text("form")?,
        },
        Kind::Consent => Payload::Consent {
            topic: o.req_text("topic")?,
            granted: o.req_bool("granted")?,
        },
        Kind::Attribute => {
            let mut set = Vec::new();
            if let Some(m) = o.object("set")? {
                for (k, v) in m.sorted() {
                    set.push((Text::from(k), scalar(format!("set.{k}"), v)?));
                }
            }
            Payload::Attribute { set }
        }
        Kind::Tag => Payload::Tag {
            add: o.str_list("add")?,
            remove: o.str_list("remove")?,
        },
        Kind::Identify => Payload::Identify,
        Kind::Erase => Payload::Erase,
        Kind::Custom => {
            let mut props = Vec::new();
            if let Some(m) = o.object("props")? {
                for (k, v) in m.sorted() {
                    if let Some(v) = scalar(format!("props.{k}"), v)? {
                        props.push((Text::from(k), v));
                    }
                }
            }
            Payload::Custom {
                name: o.req_text("name")?,
                props,
            }
        }
    })
}

fn non_negative(field: &str, m: Option<Money>) -> R<()> {
    match m {
        Some(Money(v)) if v < 0 => Err(EventError::new(
            field,
            EventErrorKind::OutOfRange("zero or more"),
        )),
        _ => Ok(()),
    }
}

fn qty_ok(field: &str, q: u32) -> R<()> {
    if q == 0 {
        return Err(EventError::new(
            field,
            EventErrorKind::OutOfRange("a whole number of at least 1"),
        ));
    }
    Ok(())
}

fn duration_ok(d: Option<i64>) -> R<()> {
    match d {
        Some(v) if v < 0 => Err(EventError::new(
            "duration",
            EventErrorKind::OutOfRange("zero or more seconds"),
        )),
        _ => Ok(()),
    }
}

fn non_empty(field: &str, s: &str) -> R<()> {
    if s.is_empty() {
        return Err(EventError::new(
            field,
            EventErrorKind::OutOfRange("a non-empty string"),
        ));
    }
    Ok(())
}

/// The range and consistency checks shared by typed and decoded events.
pub(super) fn validate(e: &Event) -> R<()> {
    if e.ids.is_empty() {
        return Err(EventError::new("ids", EventErrorKind::NoIdentifier));
    }
    for (i, a) in e.ids.iter().enumerate() {
        if e.ids[..i].iter().any(|b| b.kind == a.kind) {
            return Err(EventError::new(
                "ids",
                EventErrorKind::RepeatedIdType(a.kind.as_str().to_owned()),
            ));
        }
    }
    if let Some(id) = &e.id {
        non_empty("id", id)?;
    }
    match &e.payload {
        Payload::ProductView {
            product,
            price,
            discount,
            ..
        } => {
            non_empty("product", product)?;
            non_negative("price", *price)?;
            if let Some(d) = discount {
                if !(0.0..=1.0).contains(d) {
                    return Err(EventError::new(
                        "discount",
                        EventErrorKind::OutOfRange("between 0 and 1"),
                    ));
                }
            }
        }
        Payload::CartAdd {
            product,
            qty,
            price,
            ..
        }
        | Payload::CartRemove {
            product,
            qty,
            price,
            ..
        } => {
            non_empty("product", product)?;
            qty_ok("qty", *qty)?;
            non_negative("price", *price)?;
        }
        Payload::Purchase {
            order,
            amount,
            items,
            ..
        } => {
            non_empty("order", order)?;
            non_negative("amount", Some(*amount))?;
            for (i, it) in items.iter().enumerate() {
                qty_ok(&format!("items[{i}].qty"), it.qty)?;
                non_negative(&format!("items[{i}].price"), it.price)?;
            }
        }
        Payload::Refund { order, amount } => {
            non_empty("order", order)?;
            non_negative("amount", Some(*amount))?;
        }
        Payload::AppSession { duration } => duration_ok(*duration)?,
        Payload::Beacon { zone, duration } => {
            non_empty("zone", zone)?;
            duration_ok(*duration)?;
        }
        Payload::Geo { place } => non_empty("place", place)?,
        Payload::Consent { topic, .. } => non_empty("topic", topic)?,
        Payload::Attribute { set } => {
            for (k, _) in set {
                non_empty("set", k)?;
            }
        }
        Payload::Tag { add, remove } => {
            if let Some(t) = add.iter().find(|t| remove.contains(t)) {
                return Err(EventError::new(
                    "remove",
                    EventErrorKind::TagInBoth(t.to_string()),
                ));
            }
            for t in add.iter().chain(remove) {
                non_empty("add", t)?;
            }
        }
        Payload::Custom { name, .. } => non_empty("name", name)?,
        Payload::Campaign { kind, .. } => {
            if !matches!(
                kind,
                Kind::EmailOpen
                    | Kind::EmailClick
                    | Kind::PushOpen
                    | Kind::SmsClick
                    | Kind::WebPushSubscribe
            ) {
                return Err(EventError::new(
                    "type",
                    EventErrorKind::UnknownType(kind.as_str().to_owned()),
                ));
            }
        }
        Payload::PageView { .. }
        | Payload::AppOpen
        | Payload::FormSubmit { .. }
        | Payload::Identify
        | Payload::Erase => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> String {
        decode_line(line).unwrap_err().to_string()
    }

    const BASE: &str = r#""ts":"2026-03-01T10:15:00Z","ids":{"cookie":"c-1"}"#;

    fn with(rest: &str) -> String {
        format!("{{{BASE},{rest}}}")
    }

    #[test]
    fn decodes_the_spec_example() {
        let e = decode_line(
            r#"{"id":"e-1001","ts":"2026-03-01T10:15:00Z","ids":{"cookie":"c-7f3","email":"Ana@Example.com"},
 "brand":"shop-a","channel":"web","type":"product_view",
 "product":"p-42","category":"shoes","price":199.0,"color":"red","discount":0.3,"extra":1}"#,
        )
        .unwrap();
        assert_eq!(e.kind(), Kind::ProductView);
        assert_eq!(e.ids.len(), 2);
        assert!(e.ids.iter().any(|i| &*i.value == "ana@example.com"));
        assert_eq!(e.channel, Channel::Web);
        assert_eq!(&*e.brand, "shop-a");
    }

    #[test]
    fn every_rejection_reason_names_field_and_reason() {
        let cases = [
            ("{", "not valid JSON"),
            ("[1]", "an event must be a JSON object"),
            (
                r#"{"ids":{"cookie":"c"},"type":"page_view"}"#,
                "field `ts`: required but missing",
            ),
            (
                r#"{"ts":1.5,"ids":{"cookie":"c"},"type":"page_view"}"#,
                "field `ts`: expected whole milliseconds",
            ),
            (
                r#"{"ts":"yesterday","ids":{"cookie":"c"},"type":"page_view"}"#,
                "field `ts`: not an RFC 3339 time",
            ),
            (
                r#"{"ts":0,"type":"page_view"}"#,
                "field `ids`: required but missing",
            ),
            (
                r#"{"ts":0,"ids":{},"type":"page_view"}"#,
                "field `ids`: at least one identifier is required",
            ),
            (
                r#"{"ts":0,"ids":{"Bad-Type":"x"},"type":"page_view"}"#,
                "field `ids.Bad-Type`: \"Bad-Type\" is not an identifier type",
            ),
            (
                r#"{"ts":0,"ids":{"email":"  "},"type":"page_view"}"#,
                "field `ids.email`: identifier value is empty",
            ),
            (
                r#"{"ts":0,"ids":{"email":true},"type":"page_view"}"#,
                "field `ids.email`: expected a string",
            ),
            (&with(r#""type":"teleport""#), "unknown event type"),
            (
                &with(r#""type":"page_view","channel":"fax""#),
                "field `channel`: unknown channel \"fax\"",
            ),
            (
                &with(r#""type":"product_view""#),
                "field `product`: required but missing",
            ),
            (
                &with(r#""type":"product_view","product":"p","discount":1.5"#),
                "field `discount`: must be between 0 and 1",
            ),
            (
                &with(r#""type":"product_view","product":"p","price":-1"#),
                "field `price`: must be zero or more",
            ),
            (
                &with(r#""type":"product_view","product":"p","price":"cheap""#),
                "field `price`: expected a number",
            ),
            (
                &with(r#""type":"cart_add","product":"p","qty":1.5"#),
                "field `qty`: must be a whole number of at least 1",
            ),
            (
                &with(r#""type":"cart_remove","product":"p","qty":0"#),
                "field `qty`: must be a whole number of at least 1",
            ),
            (
                &with(r#""type":"purchase","amount":5"#),
                "field `order`: required but missing",
            ),
            (
                &with(r#""type":"purchase","order":"o""#),
                "field `amount`: required but missing",
            ),
            (
                &with(r#""type":"purchase","order":"o","amount":5,"items":[{"qty":-2}]"#),
                "field `items[0].qty`: must be a whole number of at least 1",
            ),
            (
                &with(r#""type":"refund","order":"o","amount":-1"#),
                "field `amount`: must be zero or more",
            ),
            (
                &with(r#""type":"app_session","duration":-3"#),
                "field `duration`: must be zero or more seconds",
            ),
            (
                &with(r#""type":"beacon","duration":3"#),
                "field `zone`: required but missing",
            ),
            (
                &with(r#""type":"geo""#),
                "field `place`: required but missing",
            ),
            (
                &with(r#""type":"consent","topic":"email""#),
                "field `granted`: required but missing",
            ),
            (
                &with(r#""type":"consent","topic":"email","granted":"yes""#),
                "field `granted`: expected true or false",
            ),
            (
                &with(r#""type":"attribute","set":{"a":[1]}"#),
                "field `set.a`: expected a string, number, boolean or null",
            ),
            (
                &with(r#""type":"tag","add":["x"],"remove":["x"]"#),
                "field `remove`: tag \"x\" is both added and removed",
            ),
            (
                &with(r#""type":"custom","props":{}"#),
                "field `name`: required but missing",
            ),
        ];
        for (line, want) in cases {
            let got = err(line);
            assert!(got.contains(want), "{line}\n got: {got}\nwant: {want}");
        }
    }

    /// A key written twice reads as its last value, and identifiers and attributes come in
    /// key order, as `serde_json::Value` gave them before the borrowed tree replaced it; an
    /// escaped key is read as what it spells.
    #[test]
    fn repeated_keys_and_field_order_are_those_of_a_json_map() {
        let line = r#"{"ts":5,"type":"page_view","ids":{"email":"A@b.co","cookie":"c"},"type":"attribute","set":{"z":1,"a":"x","z":2,"\u0062":true}}"#;
        let e = decode_line(line).unwrap();
        assert_eq!(
            e,
            decode_value(&serde_json::from_str(line).unwrap()).unwrap()
        );
        assert_eq!(e.kind(), Kind::Attribute);
        assert_eq!(e.ids[0].kind, IdType::Cookie);
        assert_eq!(&*e.ids[1].value, "a@b.co");
        let Payload::Attribute { set } = &e.payload else {
            panic!("an attribute event")
        };
        let keys: Vec<&str> = set.iter().map(|(k, _)| &**k).collect();
        assert_eq!(keys, ["a", "b", "z"]);
        assert_eq!(set[2].1, Some(Value::Num(2.0)));
    }

    #[test]
    fn optional_nulls_and_defaults() {
        let e = decode_line(&with(r#""type":"cart_add","product":"p","price":null"#)).unwrap();
        match e.payload {
            Payload::CartAdd { qty, price, .. } => {
                assert_eq!(qty, 1);
                assert_eq!(price, None);
            }
            _ => unreachable!(),
        }
        assert_eq!(e.channel, Channel::Other);
        assert_eq!(&*e.brand, "");
        let e = decode_line(r#"{"ts":5,"ids":{"customer":123},"type":"identify"}"#).unwrap();
        assert_eq!(e.ids[0].to_string(), "customer:123");
    }
}
