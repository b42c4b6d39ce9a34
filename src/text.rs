//! [`Text`]: the string type of events' fields.
//!
//! An event carries several short strings (an identifier's value, the brand, a product id, a
//! category, a zone). As `Box<str>` each was an allocation when the event was built and a
//! free when the engine dropped it; freeing them and glibc consolidating the freed chunks was
//! about a tenth of the instructions of a one-segment ingest. A `Text` of up to
//! [`Text::INLINE`] bytes sits in its own 16 bytes, the size of a `Box<str>`; a longer one is
//! a `Box<str>` on the heap, owned by this value alone.
//!
//! Why our own type: an optional field must stay 16 bytes too. `ecow::EcoString` (16 bytes,
//! 15 inline) has no niche, so `Option<EcoString>` is 24: with it the event grew from 232 to
//! 264 bytes and the copies on the way to a shard cost more than the frees saved. Here the
//! last byte is a tag with 17 valid values, and `Option<Text>` uses the others. The unsafe
//! code is three lines, each with its reason: reading the inline bytes or the heap string as
//! `str`, and freeing the box.
//!
//! What callers see is a `str` (through [`Deref`]), conversions from `&str`, `String` and
//! `Box<str>`, and comparisons with them; the representation is private.
//! Serde and bincode write it exactly as a `str`, so the bytes of logs and snapshots are the
//! same as they were with `Box<str>`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// How a [`Text`] holds its string: inline with this many bytes (`L0` to `L15`), or on the
/// heap. Its unused values (17 to 255) are the niche that keeps `Option<Text>` at 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Tag {
    L0,
    L1,
    L2,
    L3,
    L4,
    L5,
    L6,
    L7,
    L8,
    L9,
    L10,
    L11,
    L12,
    L13,
    L14,
    L15,
    Heap,
}

const INLINE_TAGS: [Tag; 16] = [
    Tag::L0,
    Tag::L1,
    Tag::L2,
    Tag::L3,
    Tag::L4,
    Tag::L5,
    Tag::L6,
    Tag::L7,
    Tag::L8,
    Tag::L9,
    Tag::L10,
    Tag::L11,
    Tag::L12,
    Tag::L13,
    Tag::L14,
    Tag::L15,
];

/// An immutable string, inline up to [`Text::INLINE`] bytes.
///
/// ```
/// use tropa::Text;
/// let t: Text = "shoes".into();
/// assert_eq!(t, "shoes");
/// assert_eq!(t.len(), 5);
/// assert!(t.is_inline());
/// let long = Text::from("a category name longer than fifteen bytes".to_string());
/// assert!(!long.is_inline());
/// assert_eq!(&*long, "a category name longer than fifteen bytes");
/// // As small as a `Box<str>`, and so is an optional one.
/// assert_eq!(std::mem::size_of::<Option<Text>>(), 16);
/// ```
#[repr(C)]
pub struct Text {
    /// Inline: the string's bytes, then zeros. On the heap: the address of a `Box<str>`'s
    /// bytes (its provenance exposed; native byte order) in `raw[..8]`, and the length in
    /// `raw[8..15]` (little-endian).
    raw: [u8; 15],
    tag: Tag,
    /// Aligns the value as the pointer it may hold.
    _align: [usize; 0],
}

// A `Text` owns its heap string as a `Box<str>` would (nothing is shared between clones), so
// it is `Send` and `Sync` as a `Box<str>` is; the fields (bytes) already make it both.

impl Text {
    /// The longest string kept without a heap allocation, in bytes.
    pub const INLINE: usize = 15;

    /// The empty string.
    pub const fn new() -> Text {
        Text {
            raw: [0; 15],
            tag: Tag::L0,
            _align: [],
        }
    }

    /// Takes a boxed string: inline when it is short enough (the box is freed), else the box
    /// itself, without copying.
    fn from_box(s: Box<str>) -> Text {
        if s.len() <= Self::INLINE {
            return Text::inline(&s);
        }
        let len = s.len();
        // The length is kept in seven bytes; no allocation comes near 2^56 bytes.
        assert!(
            len < 1 << 56,
            "a string of {len} bytes is too long for a Text"
        );
        let ptr = Box::into_raw(s).cast::<u8>();
        let mut raw = [0; 15];
        raw[..8].copy_from_slice(&ptr.expose_provenance().to_ne_bytes());
        raw[8..].copy_from_slice(&(len as u64).to_le_bytes()[..7]);
        Text {
            raw,
            tag: Tag::Heap,
            _align: [],
        }
    }

    /// `s`, which is at most [`Text::INLINE`] bytes, inline.
    fn inline(s: &str) -> Text {
        let mut raw = [0; 15];
        raw[..s.len()].copy_from_slice(s.as_bytes());
        Text {
            raw,
            tag: INLINE_TAGS[s.len()],
            _align: [],
        }
    }

    /// A heap string's address and length.
    fn heap_parts(&self) -> (*mut u8, usize) {
        let mut addr = [0; 8];
        addr.copy_from_slice(&self.raw[..8]);
        let mut len = [0; 8];
        len[..7].copy_from_slice(&self.raw[8..]);
        (
            std::ptr::with_exposed_provenance_mut(usize::from_ne_bytes(addr)),
            u64::from_le_bytes(len) as usize,
        )
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        if self.tag == Tag::Heap {
            let (ptr, len) = self.heap_parts();
            // SAFETY: a heap `Text` holds the address and length of a `Box<str>` it owns (see
            // `from_box`); the box lives until `drop`, which `&self` outlives.
            unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr, len)) }
        } else {
            let bytes = &self.raw[..self.tag as usize];
            // SAFETY: an inline `Text` holds the bytes of a `str` (see `inline`), and its tag
            // is their length, which ends on a character boundary.
            unsafe { std::str::from_utf8_unchecked(bytes) }
        }
    }

    /// An inline string's 16 bytes as one number (its bytes, then its length in the last
    /// byte): equal numbers are equal strings. `None` for a string on the heap.
    #[inline]
    pub(crate) fn inline_key(&self) -> Option<u128> {
        if self.tag == Tag::Heap {
            return None;
        }
        let mut b = [0; 16];
        b[..15].copy_from_slice(&self.raw);
        b[15] = self.tag as u8;
        Some(u128::from_le_bytes(b))
    }

    /// Whether the string is held inline (without a heap allocation).
    pub fn is_inline(&self) -> bool {
        self.tag != Tag::Heap
    }

    /// Heap bytes this value owns (for memory reports).
    pub(crate) fn heap_bytes(&self) -> usize {
        if self.is_inline() {
            0
        } else {
            self.len()
        }
    }
}

impl Drop for Text {
    fn drop(&mut self) {
        if self.tag == Tag::Heap {
            let (ptr, len) = self.heap_parts();
            // SAFETY: the address and length of the `Box<str>` this value took ownership of in
            // `from_box`; it is freed once, here.
            drop(unsafe {
                Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len) as *mut str)
            });
        }
    }
}

impl Clone for Text {
    fn clone(&self) -> Text {
        if self.is_inline() {
            Text {
                raw: self.raw,
                tag: self.tag,
                _align: [],
            }
        } else {
            Text::from_box(self.as_str().into())
        }
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::new()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self
    }
}

/// Hashes as the `str` does, so that maps keyed by `Text` can be searched with a `&str`.
impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        if s.len() <= Text::INLINE {
            Text::inline(s)
        } else {
            Text::from_box(s.into())
        }
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        s.as_str().into()
    }
}

/// Keeps the string's buffer when it is too long to be inline (shrunk to fit).
impl From<String> for Text {
    fn from(s: String) -> Text {
        if s.len() <= Text::INLINE {
            Text::inline(&s)
        } else {
            Text::from_box(s.into_boxed_str())
        }
    }
}

impl From<Box<str>> for Text {
    fn from(s: Box<str>) -> Text {
        Text::from_box(s)
    }
}

impl From<&Text> for Text {
    fn from(s: &Text) -> Text {
        s.clone()
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.as_str().to_owned()
    }
}

impl From<Text> for Box<str> {
    fn from(t: Text) -> Box<str> {
        t.as_str().into()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(v.into())
            }
        }
        d.deserialize_str(Visit)
    }
}

/// Written as a `str`: a length, then the bytes.
impl bincode::Encode for Text {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        self.as_str().encode(e)
    }
}

impl<C> bincode::Decode<C> for Text {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let s: String = bincode::Decode::decode(d)?;
        Ok(s.into())
    }
}
bincode::impl_borrow_decode!(Text);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bytes_fifteen_inline() {
        assert_eq!(std::mem::size_of::<Text>(), 16);
        assert_eq!(std::mem::size_of::<Option<Text>>(), 16);
        assert_eq!(std::mem::size_of::<Option<Option<Text>>>(), 16);
        // The tag's spare values hold the other variants of an enum around a `Text`.
        assert_eq!(std::mem::size_of::<crate::IdType>(), 16);
        assert_eq!(std::mem::size_of::<crate::Identifier>(), 32);
        assert_eq!(Text::INLINE, 15);
        assert!(Text::from("x".repeat(15)).is_inline());
        assert!(!Text::from("x".repeat(16)).is_inline());
    }

    #[test]
    fn encodes_as_a_str_does() {
        for s in ["", "shoes", "a much longer string than fifteen bytes, ż"] {
            let t = Text::from(s);
            assert_eq!(
                crate::codec::pack(&t),
                crate::codec::pack(&Box::<str>::from(s))
            );
            let back: Text = crate::codec::unpack(&crate::codec::pack(&t)).unwrap();
            assert_eq!(back, s);
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                serde_json::to_string(s).unwrap()
            );
            let de: Text = serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap();
            assert_eq!(de, t);
        }
    }

    #[test]
    fn hashes_as_a_str_does() {
        use std::collections::HashMap;
        let mut m: HashMap<Text, u32> = HashMap::new();
        m.insert("brand-a".into(), 1);
        m.insert("a brand name longer than fifteen".into(), 2);
        assert_eq!(m.get("brand-a"), Some(&1));
        assert_eq!(m.get("a brand name longer than fifteen"), Some(&2));
    }

    proptest::proptest! {
        /// Any string, built every way, reads back as itself; clones, order and equality are
        /// those of `str`. (That heap strings are freed, and short ones never allocated, is
        /// checked with a counting allocator in `tests/text_alloc.rs`.)
        #[test]
        fn behaves_as_its_str(a in "\\PC{0,24}", b in "[aéż]{0,12}") {
            for t in [Text::from(a.as_str()), Text::from(a.clone()), Text::from(Box::<str>::from(a.as_str()))] {
                proptest::prop_assert_eq!(t.as_str(), a.as_str());
                proptest::prop_assert_eq!(t.is_inline(), a.len() <= Text::INLINE);
                let c = t.clone();
                proptest::prop_assert_eq!(&c, &t);
                proptest::prop_assert_eq!(c.as_str(), a.as_str());
                let tb = Text::from(b.as_str());
                proptest::prop_assert_eq!(t.cmp(&tb), a.as_str().cmp(b.as_str()));
                proptest::prop_assert_eq!(t == tb, a == b);
                let back: String = t.into();
                proptest::prop_assert_eq!(back, a.clone());
            }
            let o = Some(Text::from(a.as_str()));
            proptest::prop_assert_eq!(o.as_deref(), Some(a.as_str()));
        }
    }
}
