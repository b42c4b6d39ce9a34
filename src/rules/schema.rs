//! Which fields each event kind has, and their types, as rules see them.

use crate::event::Kind;

/// The type of a field or expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    Num,
    Str,
    Bool,
    /// A duration constant.
    Dur,
    /// `since(…)`: comparable only with a constant duration.
    Since,
    /// `stage`: comparable with a stage name.
    Stage,
    /// Unknown until run time (`attr`, custom props); may be null.
    Any,
}

impl Ty {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Ty::Num => "a number",
            Ty::Str => "a string",
            Ty::Bool => "true/false",
            Ty::Dur => "a duration",
            Ty::Since => "a time since an event",
            Ty::Stage => "a stage",
            Ty::Any => "a value",
        }
    }
}

/// Fields of a kind, beyond `channel` and `brand` which every event has.
pub(crate) fn fields(kind: Kind) -> &'static [(&'static str, Ty)] {
    use Ty::{Bool, Num, Str};
    match kind {
        Kind::PageView => &[("url", Str), ("category", Str)],
        Kind::ProductView => &[
            ("product", Str),
            ("category", Str),
            ("brand_name", Str),
            ("price", Num),
            ("color", Str),
            ("discount", Num),
        ],
        Kind::CartAdd | Kind::CartRemove => &[
            ("product", Str),
            ("qty", Num),
            ("price", Num),
            ("category", Str),
        ],
        Kind::Purchase => &[("order", Str), ("amount", Num), ("currency", Str)],
        Kind::Refund => &[("order", Str), ("amount", Num)],
        Kind::EmailOpen
        | Kind::EmailClick
        | Kind::PushOpen
        | Kind::SmsClick
        | Kind::WebPushSubscribe => &[("campaign", Str)],
        Kind::AppSession => &[("duration", Num)],
        Kind::Beacon => &[("zone", Str), ("duration", Num)],
        Kind::Geo => &[("place", Str)],
        Kind::FormSubmit => &[("form", Str)],
        Kind::Consent => &[("topic", Str), ("granted", Bool)],
        Kind::Custom => &[("name", Str)],
        Kind::AppOpen | Kind::Attribute | Kind::Tag | Kind::Identify | Kind::Erase => &[],
    }
}

/// The type of a field of a kind: `None` when the kind has no such field.
pub(crate) fn field(kind: Kind, name: &str) -> Option<(&'static str, Ty)> {
    match name {
        "channel" => return Some(("channel", Ty::Str)),
        "brand" => return Some(("brand", Ty::Str)),
        _ => {}
    }
    fields(kind).iter().copied().find(|(n, _)| *n == name)
}

/// Names usable without arguments in a predicate.
pub(crate) const PROFILE_NAMES: &[&str] = &[
    "score",
    "known",
    "stage",
    "cart_items",
    "cart_value",
    "purchases",
    "revenue",
];

/// The stage names `stage` can be compared with.
pub(crate) const STAGES: &[&str] = &[
    "dormant",
    "in_purchase",
    "post_purchase",
    "monitored",
    "anonymous",
];
