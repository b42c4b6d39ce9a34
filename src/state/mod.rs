//! One contact's live profile: counters, commerce totals per brand, cart, consents, attributes,
//! manual tags and a bounded timeline, with an exact merge of two profiles.
//!
//! Every field is built so that the result depends only on the *set* of events applied, each
//! stamped with `(event time, arrival sequence)`, and not on the order they were applied in:
//! counters and sums add (money is fixed-point, so sums are exact), first/last times take the
//! minimum/maximum, latest-value fields (consents, attributes, manual tags) keep the value with
//! the greatest stamp, and the cart refolds in stamp order (see [`cart`]). That is what makes
//! late events and merges exact: [`ContactState::absorb`] gives the same state as applying
//! both contacts' events to one.

mod brands;
pub(crate) mod cart;
mod channels;
mod stage;
pub(crate) mod timeline;
mod view;

use crate::codec::Small;
use crate::event::{Money, Payload, Touch, Ts, Value};
use crate::intern::{Interner, Sym};
use smallvec::SmallVec;

pub use stage::Stage;
pub(crate) use stage::StageWindows;
pub use view::{BrandView, CartLineView, Profile, TimelineView};
pub(crate) use view::{ProfileIdentity, ViewContext};

/// The order of events: event time first, arrival sequence to break ties (SPEC 3: events with
/// equal times apply in arrival order).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    bincode::Encode,
    bincode::Decode,
)]
pub(crate) struct Stamp {
    pub(crate) ts: Ts,
    pub(crate) seq: u64,
}

/// A last-writer-wins register ordered by [`Stamp`].
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub(crate) struct Lww<T> {
    pub(crate) at: Stamp,
    pub(crate) value: T,
}

/// Keyed last-writer-wins registers, small and unsorted (few keys per contact). A stored
/// map that names a key twice is refused: every lookup would see only the first.
#[derive(Debug, Clone, Default, bincode::Encode)]
pub(crate) struct LwwMap<T> {
    items: Small<[(Sym, Lww<T>); 1]>,
}

impl<C, T: bincode::Decode<C>> bincode::Decode<C> for LwwMap<T> {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let items: Small<[(Sym, Lww<T>); 1]> = bincode::Decode::decode(d)?;
        if crate::codec::repeats_a_key(&items, |(k, _)| k) {
            return Err(bincode::error::DecodeError::Other("a key listed twice"));
        }
        Ok(LwwMap { items })
    }
}

impl<'de, C, T: bincode::Decode<C>> bincode::BorrowDecode<'de, C> for LwwMap<T> {
    fn borrow_decode<D: bincode::de::BorrowDecoder<'de, Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        bincode::Decode::decode(d)
    }
}

impl<T> LwwMap<T> {
    pub(crate) fn set(&mut self, key: Sym, at: Stamp, value: T) {
        match self.items.iter_mut().find(|(k, _)| *k == key) {
            Some((_, cur)) if cur.at < at => *cur = Lww { at, value },
            Some(_) => {}
            None => self.items.push((key, Lww { at, value })),
        }
    }

    fn absorb(&mut self, other: LwwMap<T>) {
        for (k, v) in other.items {
            self.set(k, v.at, v.value);
        }
    }

    pub(crate) fn get(&self, key: Sym) -> Option<&T> {
        self.items
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| &v.value)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (Sym, &T)> {
        self.items.iter().map(|(k, v)| (*k, &v.value))
    }
}

/// Purchase and refund totals, overall or for one brand.
///
/// The first and last purchase times are plain fields that mean something only once there is a
/// purchase (`Option<Ts>` would double their size: a time can be any `i64`, so there is no
/// spare value for "none"); they read as options. Stored as before: the count and totals, then
/// the two times as options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Commerce {
    pub(crate) purchases: u32,
    pub(crate) refunds: u32,
    pub(crate) revenue: Money,
    /// Meaningful when `purchases > 0`; 0 otherwise.
    first: Ts,
    /// Meaningful when `purchases > 0`; 0 otherwise.
    last: Ts,
}

impl Commerce {
    /// No purchases and no refunds.
    pub(crate) const ZERO: Commerce = Commerce {
        purchases: 0,
        refunds: 0,
        revenue: Money(0),
        first: 0,
        last: 0,
    };

    pub(crate) fn first_purchase(&self) -> Option<Ts> {
        (self.purchases > 0).then_some(self.first)
    }

    pub(crate) fn last_purchase(&self) -> Option<Ts> {
        (self.purchases > 0).then_some(self.last)
    }

    fn purchase(&mut self, ts: Ts, amount: Money) {
        if self.purchases == 0 {
            (self.first, self.last) = (ts, ts);
        } else {
            (self.first, self.last) = (self.first.min(ts), self.last.max(ts));
        }
        self.purchases += 1;
        self.revenue.0 = self.revenue.0.saturating_add(amount.0);
    }

    fn refund(&mut self, amount: Money) {
        self.refunds += 1;
        self.revenue.0 = self.revenue.0.saturating_sub(amount.0);
    }

    fn absorb(&mut self, o: Commerce) {
        if o.purchases > 0 {
            if self.purchases == 0 {
                (self.first, self.last) = (o.first, o.last);
            } else {
                (self.first, self.last) = (self.first.min(o.first), self.last.max(o.last));
            }
        }
        self.purchases += o.purchases;
        self.refunds += o.refunds;
        self.revenue.0 = self.revenue.0.saturating_add(o.revenue.0);
    }
}

impl bincode::Encode for Commerce {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        (
            self.purchases,
            self.refunds,
            self.revenue,
            self.first_purchase(),
            self.last_purchase(),
        )
            .encode(e)
    }
}

impl<C> bincode::Decode<C> for Commerce {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let (purchases, refunds, revenue, first, last): (u32, u32, Money, Option<Ts>, Option<Ts>) =
            bincode::Decode::decode(d)?;
        match (purchases > 0, first, last) {
            (true, Some(first), Some(last)) if first <= last => Ok(Commerce {
                purchases,
                refunds,
                revenue,
                first,
                last,
            }),
            (false, None, None) => Ok(Commerce {
                purchases,
                refunds,
                revenue,
                first: 0,
                last: 0,
            }),
            _ => Err(bincode::error::DecodeError::Other(
                "purchase times that do not fit the purchase count",
            )),
        }
    }
}
bincode::impl_borrow_decode!(Commerce);

/// Per-brand activity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub(crate) struct BrandStats {
    pub(crate) commerce: Commerce,
    pub(crate) last_seen: Ts,
}

/// Settings that shape what a profile keeps.
#[derive(Debug, Clone)]
pub(crate) struct StateConfig {
    pub(crate) timeline_capacity: usize,
    pub(crate) stage: StageWindows,
}

/// One contact's profile state, owned by exactly one shard. Stored without `identified`
/// (see below), its event count as a `u64`, as it was before the count was made a `u32`.
#[derive(Debug, Clone)]
pub(crate) struct ContactState {
    pub(crate) first_seen: Ts,
    pub(crate) last_seen: Ts,
    /// Events applied, saturating at `u32::MAX` (four billion events of one person): a `u32`
    /// and `identified` share the eight bytes a `u64` took.
    pub(crate) events: u32,
    /// Whether an event of this contact has carried an identifying identifier. The engine's
    /// contact owns it (it is stored after the evaluation state); it lives here, beside
    /// `events`, because here it costs no room.
    pub(crate) identified: bool,
    pub(crate) channels: channels::ChannelTimes,
    pub(crate) totals: Commerce,
    /// Read through [`ContactState::brands`]: a single brand's activity is the contact's own
    /// (see [`brands::Brands`]).
    brands: brands::Brands,
    /// Boxed: most contacts never fill a cart, and a small profile keeps more of them in cache.
    pub(crate) cart: Option<Box<cart::Cart>>,
    /// Boxed for the same reason: consents, attributes and manual tags.
    pub(crate) prefs: Option<Box<Prefs>>,
    pub(crate) timeline: timeline::Timeline,
}

/// Latest-value fields set by `consent`, `attribute` and `tag` events.
#[derive(Debug, Clone, Default, bincode::Encode, bincode::Decode)]
pub(crate) struct Prefs {
    pub(crate) consents: LwwMap<bool>,
    pub(crate) attributes: LwwMap<Option<Value>>,
    pub(crate) tags: LwwMap<bool>,
}

impl Prefs {
    fn absorb(&mut self, o: Prefs) {
        self.consents.absorb(o.consents);
        self.attributes.absorb(o.attributes);
        self.tags.absorb(o.tags);
    }

    fn heap_bytes(&self) -> usize {
        sv_heap(&self.consents.items) + sv_heap(&self.attributes.items) + sv_heap(&self.tags.items)
    }
}

fn sv_heap<A: smallvec::Array>(v: &SmallVec<A>) -> usize {
    if v.spilled() {
        v.capacity() * std::mem::size_of::<A::Item>()
    } else {
        0
    }
}

impl Default for ContactState {
    fn default() -> ContactState {
        ContactState {
            first_seen: Ts::MAX,
            last_seen: Ts::MIN,
            events: 0,
            identified: false,
            channels: channels::ChannelTimes::default(),
            totals: Commerce::default(),
            brands: brands::Brands::default(),
            cart: None,
            prefs: None,
            timeline: timeline::Timeline::default(),
        }
    }
}

impl bincode::Encode for ContactState {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        (self.first_seen, self.last_seen, u64::from(self.events)).encode(e)?;
        let brands = self.brands.stored(self.whole());
        (&self.channels, &self.totals, &brands).encode(e)?;
        (&self.cart, &self.prefs, &self.timeline).encode(e)
    }
}

impl<C> bincode::Decode<C> for ContactState {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        use bincode::Decode;
        let (first_seen, last_seen, events): (Ts, Ts, u64) = Decode::decode(d)?;
        let mut state = ContactState {
            first_seen,
            last_seen,
            events: u32::try_from(events).unwrap_or(u32::MAX),
            identified: false,
            channels: Decode::decode(d)?,
            totals: Decode::decode(d)?,
            brands: Decode::decode(d)?,
            cart: Decode::decode(d)?,
            prefs: Decode::decode(d)?,
            timeline: Decode::decode(d)?,
        };
        let whole = state.whole();
        state.brands.settle(whole);
        Ok(state)
    }
}
bincode::impl_borrow_decode!(ContactState);

impl ContactState {
    /// The contact's own activity, as a brand's is counted: its purchase totals and the
    /// last time it was seen.
    fn whole(&self) -> BrandStats {
        BrandStats {
            commerce: self.totals,
            last_seen: self.last_seen,
        }
    }

    /// The brands the contact has events with and their activity, in the order first seen.
    pub(crate) fn brands(&self) -> impl Iterator<Item = (Sym, BrandStats)> + '_ {
        self.brands.iter(self.whole())
    }

    /// The brands' pairs when they are on the heap, for a prefetch.
    pub(crate) fn spilled_brands(&self) -> Option<&[(Sym, BrandStats)]> {
        self.brands.spilled()
    }

    fn cart_mut(&mut self) -> &mut cart::Cart {
        self.cart.get_or_insert_with(Box::default)
    }

    fn prefs_mut(&mut self) -> &mut Prefs {
        self.prefs.get_or_insert_with(Box::default)
    }

    /// The latest consent for a topic.
    pub(crate) fn consent(&self, topic: Sym) -> Option<bool> {
        self.prefs.as_ref()?.consents.get(topic).copied()
    }

    /// A declared attribute's current value.
    pub(crate) fn attribute(&self, key: Sym) -> Option<&Value> {
        self.prefs.as_ref()?.attributes.get(key)?.as_ref()
    }

    /// True when the latest manual `tag` event for this tag added it.
    pub(crate) fn manual_tag(&self, tag: Sym) -> bool {
        self.prefs
            .as_ref()
            .and_then(|p| p.tags.get(tag).copied())
            .unwrap_or(false)
    }

    /// Units and value (millionths) in the cart.
    pub(crate) fn cart_totals(&self) -> (u64, i64) {
        self.cart
            .as_ref()
            .map_or((0, 0), |c| (c.items(), c.value().0))
    }

    /// True when the cart holds something.
    pub(crate) fn has_cart(&self) -> bool {
        self.cart.as_ref().is_some_and(|c| !c.is_empty())
    }

    /// Applies one accepted event, whose brand is `brand` in `syms`. `erase` events never
    /// reach a profile.
    pub(crate) fn apply(
        &mut self,
        ev: &Touch<'_>,
        brand: Sym,
        seq: u64,
        syms: &Interner,
        cfg: &StateConfig,
    ) {
        let at = Stamp { ts: ev.ts, seq };
        let ts = ev.ts;
        // The brand's activity first, from the contact's as it is before the event.
        let whole = self.whole();
        if let Some(b) = self
            .brands
            .touch((!ev.brand.is_empty()).then_some(brand), whole)
        {
            b.last_seen = b.last_seen.max(ts);
            match &ev.payload {
                Payload::Purchase { amount, .. } => b.commerce.purchase(ts, *amount),
                Payload::Refund { amount, .. } => b.commerce.refund(*amount),
                _ => {}
            }
        }
        self.events = self.events.saturating_add(1);
        self.first_seen = self.first_seen.min(ts);
        self.last_seen = self.last_seen.max(ts);
        self.channels.see(ev.channel, ts);
        match &ev.payload {
            Payload::CartAdd {
                product,
                qty,
                price,
                ..
            } => {
                let p = syms.intern(product);
                self.cart_mut().add(at, p, *qty, *price);
            }
            Payload::CartRemove { product, qty, .. } => {
                let p = syms.intern(product);
                self.cart_mut().remove(at, p, *qty);
            }
            Payload::Purchase { amount: a, .. } => {
                self.totals.purchase(ts, *a);
                // The cart remembers the purchase even when empty, so that a late
                // `cart_add` from before it is ignored.
                self.cart_mut().purchase(at);
            }
            Payload::Refund { amount: a, .. } => {
                self.totals.refund(*a);
            }
            Payload::Consent { topic, granted } => {
                let t = syms.intern(topic);
                self.prefs_mut().consents.set(t, at, *granted);
            }
            Payload::Attribute { set } => {
                let prefs = self.prefs.get_or_insert_with(Box::default);
                for (k, v) in set {
                    prefs.attributes.set(syms.intern(k), at, v.clone());
                }
            }
            Payload::Tag { add, remove } => {
                let prefs = self.prefs.get_or_insert_with(Box::default);
                for t in add {
                    prefs.tags.set(syms.intern(t), at, true);
                }
                for t in remove {
                    prefs.tags.set(syms.intern(t), at, false);
                }
            }
            _ => {}
        }
        let head = timeline::Head {
            at,
            kind: ev.kind(),
            channel: ev.channel,
            brand,
        };
        self.timeline
            .insert(head, cfg.timeline_capacity, ev.payload);
    }

    /// Folds another contact's state into this one, exactly (see the module docs).
    pub(crate) fn absorb(&mut self, o: ContactState, cfg: &StateConfig) {
        let (mine, theirs) = (self.whole(), o.whole());
        self.brands.absorb(mine, o.brands, theirs);
        self.first_seen = self.first_seen.min(o.first_seen);
        self.last_seen = self.last_seen.max(o.last_seen);
        self.events = self.events.saturating_add(o.events);
        self.identified |= o.identified;
        self.channels.absorb(&o.channels);
        self.totals.absorb(o.totals);
        let whole = self.whole();
        self.brands.settle(whole);
        match (&mut self.cart, o.cart) {
            (Some(mine), Some(theirs)) => mine.absorb(*theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
        match (&mut self.prefs, o.prefs) {
            (Some(mine), Some(theirs)) => mine.absorb(*theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
        self.timeline.absorb(o.timeline, cfg.timeline_capacity);
    }

    /// Checks a state read back from a snapshot: every name it refers to is one of the
    /// `symbols` interned names, and every timeline payload unpacks to its kind. Cuts the
    /// timeline to `capacity` (a directory reopened with a shorter `timeline_len`).
    pub(crate) fn check(&mut self, symbols: u32, capacity: usize) -> Result<(), &'static str> {
        let ok = |s: Sym| s.0 < symbols;
        let prefs_ok = self.prefs.as_ref().is_none_or(|p| {
            p.consents.items.iter().all(|(k, _)| ok(*k))
                && p.attributes.items.iter().all(|(k, _)| ok(*k))
                && p.tags.items.iter().all(|(k, _)| ok(*k))
        });
        if !(self.brands.names().all(ok)
            && prefs_ok
            && self.cart.as_ref().is_none_or(|c| c.names_below(symbols)))
        {
            return Err("a profile names a string that is not interned");
        }
        self.timeline.check(symbols)?;
        self.timeline.truncate(capacity);
        Ok(())
    }

    /// Heap bytes of the cart: its box and what the box holds.
    pub(crate) fn cart_bytes(&self) -> usize {
        self.cart
            .as_ref()
            .map_or(0, |c| std::mem::size_of::<cart::Cart>() + c.heap_bytes())
    }

    /// Heap bytes owned by this state beyond its own size (for memory reports).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.channels.heap_bytes()
            + self.brands.heap_bytes()
            + self.cart_bytes()
            + self
                .prefs
                .as_ref()
                .map_or(0, |p| std::mem::size_of::<Prefs>() + p.heap_bytes())
            + self.timeline.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{pack, unpack};

    /// A stored map that names a key twice is refused; one with distinct keys reads back,
    /// its bytes as the derived form wrote them.
    #[test]
    fn a_map_naming_a_key_twice_is_refused() {
        let at = |ts| Stamp { ts, seq: 1 };
        let mut m = LwwMap::default();
        m.set(Sym(1), at(5), true);
        m.set(Sym(2), at(6), false);
        let back: LwwMap<bool> = unpack(&pack(&m)).unwrap();
        assert_eq!(
            back.iter().collect::<Vec<_>>(),
            [(Sym(1), &true), (Sym(2), &false)]
        );
        assert_eq!(pack(&m), pack(&m.items));
        let mut twice = m.clone();
        twice.items.0.push((
            Sym(1),
            Lww {
                at: at(7),
                value: false,
            },
        ));
        let err = unpack::<LwwMap<bool>>(&pack(&twice)).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
    }

    /// The bytes a `Commerce` with optional times was stored as.
    type Stored = (u32, u32, Money, Option<Ts>, Option<Ts>);

    #[test]
    fn commerce_is_stored_as_with_optional_times() {
        let mut c = Commerce::default();
        assert_eq!(
            pack(&c),
            pack(&(0u32, 0u32, Money(0), None::<Ts>, None::<Ts>))
        );
        c.refund(Money(5));
        c.purchase(-40, Money(100));
        c.purchase(70, Money(1));
        c.purchase(-90, Money(2));
        let want: Stored = (3, 1, Money(98), Some(-90), Some(70));
        assert_eq!(pack(&c), pack(&want));
        assert_eq!(unpack::<Commerce>(&pack(&want)).unwrap(), c);
        let mut other = Commerce::default();
        other.absorb(c);
        assert_eq!(other, c);
        other.absorb(Commerce::default());
        assert_eq!(other, c);
        // Both sides with purchases: the earliest and the latest of the two.
        let mut wide = Commerce::default();
        wide.purchase(-100, Money(1));
        wide.purchase(50, Money(1));
        wide.absorb(c);
        assert_eq!(
            (wide.purchases, wide.first_purchase(), wide.last_purchase()),
            (5, Some(-100), Some(70))
        );
        for bad in [
            (1, 0, Money(1), None, None),
            (0, 0, Money(0), Some(1), Some(1)),
            (1, 0, Money(1), Some(2), Some(1)),
            (1, 0, Money(1), Some(2), None),
        ] {
            let bad: Stored = bad;
            assert!(unpack::<Commerce>(&pack(&bad)).is_err(), "{bad:?}");
        }
    }

    /// The event count is a `u32` in memory, stored as the `u64` it was (with `identified`
    /// left out: the contact stores it), and it saturates instead of wrapping, when events
    /// are applied, when contacts merge and when a stored count is larger than it holds.
    #[test]
    fn the_event_count_saturates_and_is_stored_as_a_u64() {
        let mut a = ContactState {
            events: u32::MAX - 1,
            identified: true,
            ..ContactState::default()
        };
        let as_before = (
            (a.first_seen, a.last_seen, u64::from(a.events)),
            (&a.channels, &a.totals, &a.brands.stored(a.whole())),
            (&a.cart, &a.prefs, &a.timeline),
        );
        assert_eq!(pack(&a), pack(&as_before));
        let back: ContactState = unpack(&pack(&a)).unwrap();
        assert_eq!((back.events, back.identified), (u32::MAX - 1, false));
        let b = ContactState {
            events: 5,
            ..ContactState::default()
        };
        let cfg = StateConfig {
            timeline_capacity: 10,
            stage: StageWindows::default(),
        };
        a.absorb(b, &cfg);
        assert_eq!((a.events, a.identified), (u32::MAX, true));
        let big = (
            (a.first_seen, a.last_seen, u64::from(u32::MAX) + 7),
            (&a.channels, &a.totals, &a.brands.stored(a.whole())),
            (&a.cart, &a.prefs, &a.timeline),
        );
        assert_eq!(
            unpack::<ContactState>(&pack(&big)).unwrap().events,
            u32::MAX
        );
    }
}
