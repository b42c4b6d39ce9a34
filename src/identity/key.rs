//! An identifier as the identity index keeps it.
//!
//! Every event looks its identifiers up in the index. With [`Identifier`] as the key, the
//! comparison that confirms a hit reads the value's string from its own allocation: one more
//! cache miss per event. Here values up to 37 bytes (numbers, UUIDs, most e-mail addresses)
//! sit in the key itself; longer ones stay boxed.

use crate::event::{IdType, Identifier};
use std::hash::{Hash, Hasher};

/// Bytes of a value kept inline (the key is 40 bytes either way).
const INLINE: usize = 37;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum IdKey {
    /// A built-in type (by its place in [`IdType`]) and a value of at most 37 bytes.
    Inline {
        kind: u8,
        len: u8,
        bytes: [u8; INLINE],
    },
    /// A custom type, or a longer value.
    Boxed(Box<Identifier>),
}

/// The place of a built-in type; `None` for a custom one.
fn builtin(kind: &IdType) -> Option<u8> {
    Some(match kind {
        IdType::Customer => 0,
        IdType::Email => 1,
        IdType::Phone => 2,
        IdType::Loyalty => 3,
        IdType::Device => 4,
        IdType::Fingerprint => 5,
        IdType::Cookie => 6,
        IdType::Custom(_) => return None,
    })
}

/// The type's place when `id`'s key is inline (a built-in type, a value of at most
/// [`INLINE`] bytes); `None` when it is boxed. Building a key and hashing an identifier as
/// its key both decide by this.
fn inline_kind(id: &Identifier) -> Option<u8> {
    builtin(&id.kind).filter(|_| id.value.len() <= INLINE)
}

impl IdKey {
    /// The key of `id`; each identifier has exactly one.
    pub(super) fn of(id: &Identifier) -> IdKey {
        let v = id.value.as_bytes();
        match inline_kind(id) {
            Some(kind) => {
                let mut bytes = [0; INLINE];
                bytes[..v.len()].copy_from_slice(v);
                IdKey::Inline {
                    kind,
                    len: v.len() as u8,
                    bytes,
                }
            }
            _ => IdKey::Boxed(Box::new(id.clone())),
        }
    }

    /// Whether this is the key of `id` (compared without building that key).
    pub(super) fn is_of(&self, id: &Identifier) -> bool {
        match self {
            IdKey::Inline { kind, len, bytes } => {
                let v = id.value.as_bytes();
                v.len() == usize::from(*len)
                    && builtin(&id.kind) == Some(*kind)
                    && bytes[..v.len()] == *v
            }
            IdKey::Boxed(b) => **b == *id,
        }
    }

    /// Heap bytes beyond the key itself.
    pub(super) fn heap_bytes(&self) -> usize {
        match self {
            IdKey::Inline { .. } => 0,
            IdKey::Boxed(id) => std::mem::size_of::<Identifier>() + id.value.heap_bytes(),
        }
    }
}

/// An identifier hashed as its key is (see [`IdKey`]'s `Hash`), without building the key:
/// lookups and prefetches hash the identifiers of every event.
pub(super) struct AsKey<'a>(pub(super) &'a Identifier);

impl Hash for AsKey<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        match inline_kind(self.0) {
            Some(kind) => hash_inline(kind, self.0.value.as_bytes(), h),
            None => hash_boxed(self.0, h),
        }
    }
}

/// An inline key hashes its type and only the value's bytes (not the zeros after them), in
/// two writes: the derived hash wrote five times, each a round of the hasher.
impl Hash for IdKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            IdKey::Inline { kind, len, bytes } => {
                hash_inline(*kind, &bytes[..usize::from(*len)], h)
            }
            IdKey::Boxed(id) => hash_boxed(id, h),
        }
    }
}

#[inline]
fn hash_inline<H: Hasher>(kind: u8, value: &[u8], h: &mut H) {
    h.write_u8(kind);
    h.write(value);
}

fn hash_boxed<H: Hasher>(id: &Identifier, h: &mut H) {
    // No built-in type has this place.
    h.write_u8(u8::MAX);
    id.hash(h);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_equal_exactly_when_identifiers_are() {
        let id = |s: &str| Identifier::parse_pair(s).unwrap();
        let long = format!("email:{}@example.com", "a".repeat(40));
        let list = [
            id("email:a@x.io"),
            id("cookie:a@x.io"),
            id("email:a@x.i"),
            id("shopx:a@x.io"),
            id("shopy:a@x.io"),
            id(&long),
            id(&format!("{long}m")),
        ];
        let hash = |x: &dyn Fn(&mut std::collections::hash_map::DefaultHasher)| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            x(&mut h);
            h.finish()
        };
        for a in &list {
            for b in &list {
                assert_eq!(IdKey::of(a) == IdKey::of(b), a == b, "{a} {b}");
                assert_eq!(IdKey::of(a).is_of(b), a == b, "{a} {b}");
            }
            // An identifier hashes as its key does.
            assert_eq!(
                hash(&|h| IdKey::of(a).hash(h)),
                hash(&|h| AsKey(a).hash(h)),
                "{a}"
            );
        }
        assert!(matches!(IdKey::of(&list[5]), IdKey::Boxed(..)));
        assert!(matches!(IdKey::of(&list[3]), IdKey::Boxed(..)));
        assert!(matches!(IdKey::of(&list[0]), IdKey::Inline { .. }));
        assert_eq!(std::mem::size_of::<IdKey>(), 40);
    }
}
