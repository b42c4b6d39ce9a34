//! The wire model: typed touchpoint events, identifiers, timestamps and JSON decoding.
//!
//! An [`Event`] is one touchpoint of one person with one brand (SPEC 1). Build it in Rust with
//! [`Event::new`] and the builder methods, or decode it from a JSON line with
//! [`decode_line`]. Either way the value has passed the same checks: every starred field is
//! present, amounts, prices and durations are not negative, discounts lie in `0..=1`,
//! quantities are whole numbers of at least 1, and at least one identifier is given.
//!
//! Money is kept as whole millionths of a currency unit ([`Money`]) so that sums do not depend
//! on the order in which events are added. Durations are kept in milliseconds.

pub mod id;
mod json;
mod json_out;
pub mod time;

use smallvec::SmallVec;
use std::fmt;

pub use crate::text::Text;
pub use id::{IdError, IdType, Identifier};
pub use json::{decode_line, decode_value, EventError, EventErrorKind};
pub use json_out::encode_value;
pub use time::Ts;

/// An amount of money in millionths of a currency unit.
///
/// ```
/// use tropa::Money;
/// let m = Money::from_f64(19.99).unwrap();
/// assert_eq!(m.as_f64(), 19.99);
/// ```
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    bincode::Encode,
    bincode::Decode,
)]
pub struct Money(pub i64);

impl Money {
    /// Units per currency unit.
    pub const SCALE: f64 = 1_000_000.0;

    /// Converts a finite amount, rounding to the nearest millionth; `None` when not finite or
    /// beyond ±9 × 10¹² units.
    pub fn from_f64(v: f64) -> Option<Money> {
        let scaled = (v * Self::SCALE).round();
        (v.is_finite() && scaled.abs() < 9.0e18).then_some(Money(scaled as i64))
    }

    /// The amount as a float.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / Self::SCALE
    }
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, bincode::Encode, bincode::Decode,
        )]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The name as written on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }

            /// Parses the wire name.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$var),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// The channel through which a touchpoint happened.
    Channel {
        /// Web site.
        Web = "web",
        /// Mobile app.
        App = "app",
        /// E-mail.
        Email = "email",
        /// Text message.
        Sms = "sms",
        /// Mobile push notification.
        Push = "push",
        /// Browser push notification.
        WebPush = "web_push",
        /// In a physical store (beacons, staff).
        Store = "store",
        /// Point of sale.
        Pos = "pos",
        /// Phone call or call centre.
        Call = "call",
        /// Social media.
        Social = "social",
        /// Paid advertising.
        Ads = "ads",
        /// Anything else (the default).
        Other = "other",
    }
}

named_enum! {
    /// The kind of an event, without its fields (the `type` on the wire).
    Kind {
        /// A page was viewed.
        PageView = "page_view",
        /// A product was viewed.
        ProductView = "product_view",
        /// A product was put in the cart.
        CartAdd = "cart_add",
        /// A product was taken out of the cart.
        CartRemove = "cart_remove",
        /// An order was placed.
        Purchase = "purchase",
        /// Money was returned for an order.
        Refund = "refund",
        /// A campaign e-mail was opened.
        EmailOpen = "email_open",
        /// A link in a campaign e-mail was clicked.
        EmailClick = "email_click",
        /// A push notification was opened.
        PushOpen = "push_open",
        /// A link in a text message was clicked.
        SmsClick = "sms_click",
        /// The person subscribed to browser push.
        WebPushSubscribe = "web_push_subscribe",
        /// The app was opened.
        AppOpen = "app_open",
        /// An app session ended, with its duration.
        AppSession = "app_session",
        /// An in-store beacon saw the person.
        Beacon = "beacon",
        /// The person was near a store or geofence.
        Geo = "geo",
        /// A form was submitted.
        FormSubmit = "form_submit",
        /// A consent was granted or withdrawn.
        Consent = "consent",
        /// Declared attributes were set or deleted.
        Attribute = "attribute",
        /// Manual tags were added or removed.
        Tag = "tag",
        /// Identifiers were linked, nothing else.
        Identify = "identify",
        /// Forget this person.
        Erase = "erase",
        /// An event of the shop's own kind.
        Custom = "custom",
    }
}

/// A scalar value of an attribute or a custom property.
#[derive(
    Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, bincode::Encode, bincode::Decode,
)]
#[serde(untagged)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(Text),
}

/// One line of a purchase.
#[derive(Debug, Clone, PartialEq, Default, bincode::Encode, bincode::Decode)]
pub struct Item {
    /// Product id.
    pub product: Option<Text>,
    /// Product category.
    pub category: Option<Text>,
    /// Quantity, at least 1.
    pub qty: u32,
    /// Unit price.
    pub price: Option<Money>,
}

/// The fields of an event, by kind (SPEC 1).
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
#[allow(missing_docs)] // the fields are the wire fields of the same names, documented in SPEC 1
pub enum Payload {
    PageView {
        url: Option<Text>,
        category: Option<Text>,
    },
    ProductView {
        product: Text,
        category: Option<Text>,
        brand_name: Option<Text>,
        price: Option<Money>,
        color: Option<Text>,
        /// A fraction in `0..=1`.
        discount: Option<f64>,
    },
    CartAdd {
        product: Text,
        qty: u32,
        price: Option<Money>,
        category: Option<Text>,
    },
    CartRemove {
        product: Text,
        qty: u32,
        price: Option<Money>,
        category: Option<Text>,
    },
    Purchase {
        order: Text,
        amount: Money,
        currency: Option<Text>,
        items: Vec<Item>,
    },
    Refund {
        order: Text,
        amount: Money,
    },
    /// `email_open`, `email_click`, `push_open`, `sms_click`, `web_push_subscribe`.
    Campaign {
        kind: Kind,
        campaign: Option<Text>,
    },
    AppOpen,
    AppSession {
        /// Milliseconds.
        duration: Option<i64>,
    },
    Beacon {
        zone: Text,
        /// Milliseconds of dwell.
        duration: Option<i64>,
    },
    Geo {
        place: Text,
    },
    FormSubmit {
        form: Option<Text>,
    },
    Consent {
        topic: Text,
        granted: bool,
    },
    /// `None` deletes the attribute.
    Attribute {
        set: Vec<(Text, Option<Value>)>,
    },
    Tag {
        add: Vec<Text>,
        remove: Vec<Text>,
    },
    Identify,
    Erase,
    Custom {
        name: Text,
        props: Vec<(Text, Value)>,
    },
}

impl Payload {
    /// The kind this payload belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            Payload::PageView { .. } => Kind::PageView,
            Payload::ProductView { .. } => Kind::ProductView,
            Payload::CartAdd { .. } => Kind::CartAdd,
            Payload::CartRemove { .. } => Kind::CartRemove,
            Payload::Purchase { .. } => Kind::Purchase,
            Payload::Refund { .. } => Kind::Refund,
            Payload::Campaign { kind, .. } => *kind,
            Payload::AppOpen => Kind::AppOpen,
            Payload::AppSession { .. } => Kind::AppSession,
            Payload::Beacon { .. } => Kind::Beacon,
            Payload::Geo { .. } => Kind::Geo,
            Payload::FormSubmit { .. } => Kind::FormSubmit,
            Payload::Consent { .. } => Kind::Consent,
            Payload::Attribute { .. } => Kind::Attribute,
            Payload::Tag { .. } => Kind::Tag,
            Payload::Identify => Kind::Identify,
            Payload::Erase => Kind::Erase,
            Payload::Custom { .. } => Kind::Custom,
        }
    }
}

/// One touchpoint of one person with one brand.
///
/// ```
/// use tropa::{Channel, Event, IdType, Money, Payload};
/// let e = Event::new(1_772_359_200_000, Payload::Purchase {
///         order: "o-1".into(), amount: Money::from_f64(199.0).unwrap(),
///         currency: None, items: vec![] })
///     .with_id(IdType::Email, "ana@example.com").unwrap()
///     .with_brand("shop-a")
///     .with_channel(Channel::Web);
/// assert!(e.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Optional event id, for de-duplication.
    pub id: Option<Text>,
    /// Event time.
    pub ts: Ts,
    /// At least one identifier, at most one per type.
    pub ids: SmallVec<[Identifier; 2]>,
    /// Brand, shop or service; `""` when not given.
    pub brand: Text,
    /// Channel of the touchpoint.
    pub channel: Channel,
    /// Kind and fields.
    pub payload: Payload,
}

/// What an accepted event tells a contact's profile and rules: its time, brand, channel and
/// payload, borrowed from a [`Fact`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Touch<'a> {
    pub(crate) ts: Ts,
    pub(crate) brand: &'a str,
    pub(crate) channel: Channel,
    pub(crate) payload: &'a Payload,
}

impl Touch<'_> {
    /// The event's kind.
    pub(crate) fn kind(&self) -> Kind {
        self.payload.kind()
    }
}

/// What a contact's profile and rules read of an accepted event: the event less its
/// identifiers, which only identity resolution reads (they are dropped once it has).
pub(crate) struct Fact {
    /// The event id, for de-duplication.
    pub(crate) id: Option<Text>,
    pub(crate) ts: Ts,
    pub(crate) brand: Text,
    pub(crate) channel: Channel,
    pub(crate) payload: Payload,
}

impl Fact {
    /// The event's fact; its identifiers are dropped.
    pub(crate) fn of(event: Event) -> Fact {
        Fact {
            id: event.id,
            ts: event.ts,
            brand: event.brand,
            channel: event.channel,
            payload: event.payload,
        }
    }

    /// As a contact's profile and rules read it.
    pub(crate) fn touch(&self) -> Touch<'_> {
        Touch {
            ts: self.ts,
            brand: &self.brand,
            channel: self.channel,
            payload: &self.payload,
        }
    }
}

impl Event {
    /// An event with no identifiers yet, brand `""` and channel `other`.
    pub fn new(ts: Ts, payload: Payload) -> Event {
        Event {
            id: None,
            ts,
            ids: SmallVec::new(),
            brand: "".into(),
            channel: Channel::Other,
            payload,
        }
    }

    /// Adds an identifier (normalised by [`Identifier::new`]).
    pub fn with_id(mut self, kind: IdType, value: &str) -> Result<Event, IdError> {
        self.ids.push(Identifier::new(kind, value)?);
        Ok(self)
    }

    /// Sets the event id.
    pub fn with_event_id(mut self, id: &str) -> Event {
        self.id = Some(id.into());
        self
    }

    /// Sets the brand.
    pub fn with_brand(mut self, brand: &str) -> Event {
        self.brand = brand.into();
        self
    }

    /// Sets the channel.
    pub fn with_channel(mut self, channel: Channel) -> Event {
        self.channel = channel;
        self
    }

    /// The event's kind.
    pub fn kind(&self) -> Kind {
        self.payload.kind()
    }

    /// Checks the rules of SPEC 1 that the type system cannot: identifiers present and one per
    /// type, ranges of amounts, prices, durations, discounts and quantities, tag lists. The JSON
    /// decoder runs the same checks, so typed and decoded events obey the same contract.
    pub fn validate(&self) -> Result<(), EventError> {
        json::validate(self)
    }
}
