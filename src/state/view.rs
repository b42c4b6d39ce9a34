//! The public, serialisable view of one contact (SPEC 8 profile shape).

use super::{ContactState, Stage, StageWindows};
use crate::event::time::Ts;
use crate::event::{Identifier, Payload, Value};
use crate::intern::Interner;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Activity with one brand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrandView {
    /// Purchase events with this brand.
    pub purchases: u64,
    /// Purchase amounts minus refund amounts with this brand.
    pub revenue: f64,
    /// Latest event time with this brand.
    pub last_seen: Ts,
    /// Earliest purchase with this brand.
    pub first_purchase: Option<Ts>,
    /// Latest purchase with this brand.
    pub last_purchase: Option<Ts>,
}

/// One cart line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartLineView {
    /// Product id.
    pub product: String,
    /// Quantity.
    pub qty: u64,
    /// Unit price, when any `cart_add` for the line gave one.
    pub unit_price: Option<f64>,
}

/// One recent event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineView {
    /// Event time.
    pub ts: Ts,
    /// Event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Channel.
    pub channel: String,
    /// Brand (`""` when none).
    pub brand: String,
    /// Product, order, campaign, zone, place, form, topic or custom name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subject: Option<String>,
    /// Purchase or refund amount.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub amount: Option<f64>,
}

/// Everything tropa knows about one contact, at engine time `now`.
///
/// Serialises to the profile line of SPEC 8 (`tropa replay --profiles`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Primary id, `type:value`.
    pub id: String,
    /// Stable key: the primary id the contact had when it was created.
    pub key: String,
    /// Identifiers by type, values sorted.
    pub ids: BTreeMap<String, Vec<String>>,
    /// Earliest event time.
    pub first_seen: Ts,
    /// Latest event time.
    pub last_seen: Ts,
    /// Accepted events (duplicates and erase requests not counted).
    pub events: u64,
    /// Purchase events.
    pub purchases: u64,
    /// Refund events.
    pub refunds: u64,
    /// Purchase amounts minus refund amounts.
    pub revenue: f64,
    /// Earliest purchase time.
    pub first_purchase: Option<Ts>,
    /// Latest purchase time.
    pub last_purchase: Option<Ts>,
    /// Non-empty brands the contact has events with.
    pub brands: BTreeMap<String, BrandView>,
    /// Latest event time per channel.
    pub channels: BTreeMap<String, Ts>,
    /// Units in the cart.
    pub cart_items: u64,
    /// Σ qty × unit price.
    pub cart_value: f64,
    /// The cart's lines, by product.
    pub cart: Vec<CartLineView>,
    /// Interaction score (scoring rules arrive with the rules language; 0 until then).
    pub score: i64,
    /// Tags the contact has, sorted.
    pub tags: Vec<String>,
    /// Segments the contact is in, sorted.
    pub segments: Vec<String>,
    /// Lifecycle stage at `now`.
    pub stage: Stage,
    /// Latest consent per topic.
    pub consents: BTreeMap<String, bool>,
    /// Declared attributes (deleted ones absent).
    pub attributes: BTreeMap<String, Value>,
    /// The most recent events, oldest first (at most the configured timeline length).
    pub last_events: Vec<TimelineView>,
}

/// What the identity layer knows of a contact.
pub(crate) struct ProfileIdentity<'a> {
    pub(crate) key: &'a Identifier,
    /// Sorted by priority; the first is the primary id.
    pub(crate) ids: &'a [Identifier],
}

pub(crate) struct ViewContext<'a> {
    pub(crate) syms: &'a Interner,
    pub(crate) now: Ts,
    pub(crate) windows: StageWindows,
}

fn money(m: crate::event::Money) -> f64 {
    m.as_f64()
}

impl ContactState {
    pub(crate) fn view(&self, who: ProfileIdentity<'_>, cx: &ViewContext<'_>) -> Profile {
        let name = |s| cx.syms.name(s).to_string();
        let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in who.ids {
            ids.entry(id.kind.as_str().to_owned())
                .or_default()
                .push(id.value.to_string());
        }
        for v in ids.values_mut() {
            v.sort();
        }
        let identified = who.ids.iter().any(|i| i.kind.identifies());
        let empty = super::Prefs::default();
        let prefs = self.prefs.as_deref().unwrap_or(&empty);
        let mut tags: Vec<String> = prefs
            .tags
            .iter()
            .filter(|(_, on)| **on)
            .map(|(t, _)| name(t))
            .collect();
        tags.sort();
        let no_cart = super::cart::Cart::default();
        let the_cart = self.cart.as_deref().unwrap_or(&no_cart);
        let mut cart: Vec<CartLineView> = the_cart
            .lines()
            .iter()
            .map(|l| CartLineView {
                product: name(l.product),
                qty: l.qty,
                unit_price: l.unit_price().map(money),
            })
            .collect();
        cart.sort_by(|a, b| a.product.cmp(&b.product));
        Profile {
            id: who.ids.first().map(ToString::to_string).unwrap_or_default(),
            key: who.key.to_string(),
            ids,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            events: u64::from(self.events),
            purchases: u64::from(self.totals.purchases),
            refunds: u64::from(self.totals.refunds),
            revenue: money(self.totals.revenue),
            first_purchase: self.totals.first_purchase(),
            last_purchase: self.totals.last_purchase(),
            brands: self
                .brands()
                .map(|(b, s)| {
                    (
                        name(b),
                        BrandView {
                            purchases: u64::from(s.commerce.purchases),
                            revenue: money(s.commerce.revenue),
                            last_seen: s.last_seen,
                            first_purchase: s.commerce.first_purchase(),
                            last_purchase: s.commerce.last_purchase(),
                        },
                    )
                })
                .collect(),
            channels: self
                .channels
                .iter()
                .map(|(c, t)| (c.as_str().to_owned(), t))
                .collect(),
            cart_items: the_cart.items(),
            cart_value: money(the_cart.value()),
            cart,
            score: 0,
            tags,
            segments: Vec::new(),
            stage: self.stage(identified, cx.now, cx.windows),
            consents: prefs.consents.iter().map(|(t, g)| (name(t), *g)).collect(),
            attributes: prefs
                .attributes
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (name(k), v)))
                .collect(),
            last_events: self
                .timeline
                .entries()
                .map(|e| {
                    let payload = e.payload();
                    TimelineView {
                        ts: e.at.ts,
                        kind: e.kind.as_str().to_owned(),
                        channel: e.channel.as_str().to_owned(),
                        brand: name(e.brand),
                        amount: match &payload {
                            Payload::Purchase { amount, .. } | Payload::Refund { amount, .. } => {
                                Some(money(*amount))
                            }
                            _ => None,
                        },
                        subject: subject(payload),
                    }
                })
                .collect(),
        }
    }
}

/// What an event is about, for the timeline view: product, order, campaign, zone, place,
/// form, consent topic or custom name.
fn subject(p: Payload) -> Option<String> {
    match p {
        Payload::ProductView { product, .. }
        | Payload::CartAdd { product, .. }
        | Payload::CartRemove { product, .. } => Some(product.into()),
        Payload::Purchase { order, .. } | Payload::Refund { order, .. } => Some(order.into()),
        Payload::Campaign { campaign, .. } => campaign.map(Into::into),
        Payload::Beacon { zone, .. } => Some(zone.into()),
        Payload::Geo { place } => Some(place.into()),
        Payload::FormSubmit { form } => form.map(Into::into),
        Payload::Consent { topic, .. } => Some(topic.into()),
        Payload::Custom { name, .. } => Some(name.into()),
        _ => None,
    }
}
