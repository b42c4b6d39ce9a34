//! Events as JSON, in the wire format that [`decode_value`](super::decode_value) reads (SPEC
//! 1): for exports and for tools that write events back out.

use super::{Event, Item, Money, Payload, Value};
use serde_json::{json, Map, Value as Json};

fn text(s: &Option<crate::Text>) -> Json {
    s.as_deref().map_or(Json::Null, |s| Json::String(s.into()))
}

fn money(m: Option<Money>) -> Json {
    m.map_or(Json::Null, |m| json!(m.as_f64()))
}

fn secs(ms: Option<i64>) -> Json {
    ms.map_or(Json::Null, |ms| json!(ms as f64 / 1000.0))
}

fn value(v: &Value) -> Json {
    match v {
        Value::Bool(b) => json!(b),
        Value::Num(n) => json!(n),
        Value::Str(s) => json!(&**s),
    }
}

fn item(i: &Item) -> Json {
    json!({"product": text(&i.product), "category": text(&i.category), "qty": i.qty, "price": money(i.price)})
}

/// The payload's wire fields, absent optional ones left out.
fn fields(p: &Payload) -> Map<String, Json> {
    let v = match p {
        Payload::PageView { url, category } => {
            json!({"url": text(url), "category": text(category)})
        }
        Payload::ProductView {
            product,
            category,
            brand_name,
            price,
            color,
            discount,
        } => json!({
            "product": &**product, "category": text(category), "brand_name": text(brand_name),
            "price": money(*price), "color": text(color), "discount": discount,
        }),
        Payload::CartAdd {
            product,
            qty,
            price,
            category,
        }
        | Payload::CartRemove {
            product,
            qty,
            price,
            category,
        } => {
            json!({"product": &**product, "qty": qty, "price": money(*price), "category": text(category)})
        }
        Payload::Purchase {
            order,
            amount,
            currency,
            items,
        } => json!({
            "order": &**order, "amount": amount.as_f64(), "currency": text(currency),
            "items": items.iter().map(item).collect::<Vec<_>>(),
        }),
        Payload::Refund { order, amount } => json!({"order": &**order, "amount": amount.as_f64()}),
        Payload::Campaign { campaign, .. } => json!({"campaign": text(campaign)}),
        Payload::AppOpen | Payload::Identify | Payload::Erase => json!({}),
        Payload::AppSession { duration } => json!({"duration": secs(*duration)}),
        Payload::Beacon { zone, duration } => json!({"zone": &**zone, "duration": secs(*duration)}),
        Payload::Geo { place } => json!({"place": &**place}),
        Payload::FormSubmit { form } => json!({"form": text(form)}),
        Payload::Consent { topic, granted } => json!({"topic": &**topic, "granted": granted}),
        Payload::Attribute { set } => {
            let m: Map<String, Json> = set
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_ref().map_or(Json::Null, value)))
                .collect();
            json!({ "set": m })
        }
        Payload::Tag { add, remove } => json!({"add": add, "remove": remove}),
        Payload::Custom { name, props } => {
            let m: Map<String, Json> = props
                .iter()
                .map(|(k, v)| (k.to_string(), value(v)))
                .collect();
            json!({"name": &**name, "props": m})
        }
    };
    match v {
        Json::Object(mut m) => {
            m.retain(|_, v| !v.is_null());
            m
        }
        _ => unreachable!("every arm builds an object"),
    }
}

/// An event as a JSON object in the wire format: `ts` in milliseconds, `type`, `ids` (by
/// type; a type with several identifiers keeps the first), `id`, `brand` and `channel` when
/// set, then the payload's fields. [`decode_value`](super::decode_value) reads it back to
/// the same event (money and durations as the floats they are on the wire).
///
/// ```
/// use tropa::{decode_line, encode_value};
/// let line = r#"{"ts":5,"ids":{"email":"a@x.pl"},"type":"purchase","order":"o-1","amount":12.5}"#;
/// let e = decode_line(line).unwrap();
/// let v = encode_value(&e);
/// assert_eq!(v["order"], "o-1");
/// assert_eq!(tropa::decode_value(&v).unwrap(), e);
/// ```
pub fn encode_value(e: &Event) -> Json {
    let mut m = Map::new();
    m.insert("ts".into(), json!(e.ts));
    m.insert("type".into(), json!(e.kind().as_str()));
    let mut ids = Map::new();
    for id in &e.ids {
        ids.entry(id.kind.as_str().to_string())
            .or_insert_with(|| json!(&*id.value));
    }
    m.insert("ids".into(), Json::Object(ids));
    if let Some(id) = &e.id {
        m.insert("id".into(), json!(&**id));
    }
    if !e.brand.is_empty() {
        m.insert("brand".into(), json!(&*e.brand));
    }
    if e.channel != super::Channel::Other {
        m.insert("channel".into(), json!(e.channel.as_str()));
    }
    m.extend(fields(&e.payload));
    Json::Object(m)
}
