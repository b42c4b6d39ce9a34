//! Identifiers: the `type:value` pairs by which a person is recognised.

use crate::text::Text;
use std::fmt;

/// The type of an identifier, in priority order: the derived `Ord` puts the type that names a
/// person most surely first (`customer` before `email` … before `cookie`, then custom types by
/// name), which is the order used to choose a contact's primary id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, bincode::Encode, bincode::Decode)]
pub enum IdType {
    /// The shop's own customer number.
    Customer,
    /// An e-mail address (trimmed and lower-cased on input).
    Email,
    /// A phone number.
    Phone,
    /// A loyalty-card number.
    Loyalty,
    /// A mobile or hardware device id.
    Device,
    /// A browser fingerprint.
    Fingerprint,
    /// A web cookie.
    Cookie,
    /// Any other lower-case name: `[a-z][a-z0-9_]*`, at most 32 characters.
    Custom(Text),
}

impl IdType {
    /// Parses a type name; built-in names first, else a valid custom name.
    ///
    /// ```
    /// use tropa::IdType;
    /// assert_eq!(IdType::parse("email"), Some(IdType::Email));
    /// assert_eq!(IdType::parse("crm_id"), Some(IdType::Custom("crm_id".into())));
    /// assert_eq!(IdType::parse("CRM"), None);
    /// ```
    pub fn parse(name: &str) -> Option<IdType> {
        Some(match name {
            "customer" => IdType::Customer,
            "email" => IdType::Email,
            "phone" => IdType::Phone,
            "loyalty" => IdType::Loyalty,
            "device" => IdType::Device,
            "fingerprint" => IdType::Fingerprint,
            "cookie" => IdType::Cookie,
            _ if is_custom_name(name) => IdType::Custom(name.into()),
            _ => return None,
        })
    }

    /// The type's name as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            IdType::Customer => "customer",
            IdType::Email => "email",
            IdType::Phone => "phone",
            IdType::Loyalty => "loyalty",
            IdType::Device => "device",
            IdType::Fingerprint => "fingerprint",
            IdType::Cookie => "cookie",
            IdType::Custom(n) => n,
        }
    }

    /// True for the types that make a contact *identified* (SPEC 2).
    pub fn identifies(&self) -> bool {
        matches!(
            self,
            IdType::Customer | IdType::Email | IdType::Phone | IdType::Loyalty
        )
    }
}

fn is_custom_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// One identifier: a type and a normalised value.
///
/// Ordering follows priority (type first, then value), so the smallest identifier of a contact
/// is its primary id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, bincode::Encode, bincode::Decode)]
pub struct Identifier {
    /// The identifier's type.
    pub kind: IdType,
    /// The value, normalised by [`Identifier::new`].
    pub value: Text,
}

/// Why an identifier value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdError {
    /// The value is empty after trimming.
    Empty,
    /// The value is longer than [`Identifier::MAX_LEN`] bytes.
    TooLong,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Empty => f.write_str("identifier value is empty"),
            IdError::TooLong => write!(
                f,
                "identifier value is longer than {} bytes",
                Identifier::MAX_LEN
            ),
        }
    }
}

impl std::error::Error for IdError {}

impl Identifier {
    /// Longest accepted value, in bytes.
    pub const MAX_LEN: usize = 256;

    /// Builds an identifier, normalising the value: e-mails are trimmed and lower-cased, other
    /// values are trimmed.
    ///
    /// ```
    /// use tropa::{IdType, Identifier};
    /// let id = Identifier::new(IdType::Email, " Ana@Example.COM ").unwrap();
    /// assert_eq!(id.to_string(), "email:ana@example.com");
    /// ```
    pub fn new(kind: IdType, value: &str) -> Result<Identifier, IdError> {
        let v = value.trim();
        if v.is_empty() {
            return Err(IdError::Empty);
        }
        if v.len() > Self::MAX_LEN {
            return Err(IdError::TooLong);
        }
        // An e-mail already in lower-case ASCII (the usual one) is taken as it is: lower-casing
        // it would build a `String` only to copy it.
        let lowered =
            kind == IdType::Email && (!v.is_ascii() || v.bytes().any(|b| b.is_ascii_uppercase()));
        let value: Text = if lowered {
            v.to_lowercase().into()
        } else {
            v.into()
        };
        Ok(Identifier { kind, value })
    }

    /// Parses the `type:value` form used in outputs and on the command line.
    pub fn parse_pair(s: &str) -> Option<Identifier> {
        let (t, v) = s.split_once(':')?;
        Identifier::new(IdType::parse(t)?, v).ok()
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_order() {
        let c = Identifier::new(IdType::Cookie, "a").unwrap();
        let e = Identifier::new(IdType::Email, "z@x").unwrap();
        let x = Identifier::new(IdType::Custom("aaa".into()), "a").unwrap();
        let mut v = [x.clone(), c.clone(), e.clone()];
        v.sort();
        assert_eq!(v, [e, c, x]);
    }

    #[test]
    fn custom_names() {
        assert!(IdType::parse("x1_y").is_some());
        for bad in ["", "1x", "X", "a-b", &"a".repeat(33)] {
            assert_eq!(IdType::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn values() {
        assert_eq!(
            Identifier::new(IdType::Cookie, "  ").unwrap_err(),
            IdError::Empty
        );
        assert_eq!(
            Identifier::new(IdType::Cookie, &"x".repeat(300)).unwrap_err(),
            IdError::TooLong
        );
        assert_eq!(
            Identifier::parse_pair("email:A@B").unwrap().to_string(),
            "email:a@b"
        );
        // E-mails are lower-cased however they come: ASCII, non-ASCII, already lower.
        for (given, want) in [
            ("ana@x.pl", "ana@x.pl"),
            ("ĄNA@X.PL", "ąna@x.pl"),
            ("żółw@x.pl", "żółw@x.pl"),
            ("Żółw@x.pl", "żółw@x.pl"),
        ] {
            assert_eq!(&*Identifier::new(IdType::Email, given).unwrap().value, want);
        }
        assert_eq!(
            &*Identifier::new(IdType::Cookie, "AbC").unwrap().value,
            "AbC"
        );
    }
}
