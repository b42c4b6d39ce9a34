//! [`Small`]: a `SmallVec` that the codec can encode; [`Bytes`]: the same for bytes, read
//! and written in one piece.
//!
//! bincode has no encoding for `smallvec::SmallVec`, and its derive cannot be told to encode
//! one field by hand. Profile and evaluation state use `SmallVec` for their short lists, so
//! those fields are `Small<A>`: the same vector (it dereferences to it), encoded as a length
//! and the items, exactly like a `Vec`. Decoding claims the items' memory from the decoder's
//! limit first, so a damaged length is an error, not a huge allocation.

use bincode::de::read::Reader;
use bincode::de::{BorrowDecode, BorrowDecoder, Decode, Decoder};
use bincode::enc::{Encode, Encoder};
use bincode::error::{DecodeError, EncodeError};
use smallvec::{Array, SmallVec};
use std::ops::{Deref, DerefMut};

/// A `SmallVec` with an encoding (see the module docs).
pub(crate) struct Small<A: Array>(pub(crate) SmallVec<A>);

impl<A: Array> Clone for Small<A>
where
    A::Item: Clone,
{
    fn clone(&self) -> Self {
        Small(self.0.clone())
    }
}

impl<A: Array> PartialEq for Small<A>
where
    A::Item: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<A: Array> Eq for Small<A> where A::Item: Eq {}

impl<A: Array> Small<A> {
    pub(crate) fn new() -> Self {
        Small(SmallVec::new())
    }
}

impl<A: Array> Default for Small<A> {
    fn default() -> Self {
        Small::new()
    }
}

impl<A: Array> std::fmt::Debug for Small<A>
where
    A::Item: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<A: Array> Deref for Small<A> {
    type Target = SmallVec<A>;
    fn deref(&self) -> &SmallVec<A> {
        &self.0
    }
}

impl<A: Array> DerefMut for Small<A> {
    fn deref_mut(&mut self) -> &mut SmallVec<A> {
        &mut self.0
    }
}

impl<A: Array> From<SmallVec<A>> for Small<A> {
    fn from(v: SmallVec<A>) -> Self {
        Small(v)
    }
}

impl<A: Array> FromIterator<A::Item> for Small<A> {
    fn from_iter<I: IntoIterator<Item = A::Item>>(iter: I) -> Self {
        Small(iter.into_iter().collect())
    }
}

impl<A: Array> IntoIterator for Small<A> {
    type Item = A::Item;
    type IntoIter = smallvec::IntoIter<A>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, A: Array> IntoIterator for &'a Small<A> {
    type Item = &'a A::Item;
    type IntoIter = std::slice::Iter<'a, A::Item>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<A: Array> Encode for Small<A>
where
    A::Item: Encode,
{
    fn encode<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        self.0.as_slice().encode(e)
    }
}

impl<C, A: Array> Decode<C> for Small<A>
where
    A::Item: Decode<C>,
{
    fn decode<D: Decoder<Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        let len = u64::decode(d)?;
        let len = usize::try_from(len).map_err(|_| DecodeError::OutsideUsizeRange(len))?;
        d.claim_container_read::<A::Item>(len)?;
        let mut v = SmallVec::new();
        if len > A::size() {
            v.reserve_exact(len);
        }
        for _ in 0..len {
            d.unclaim_bytes_read(std::mem::size_of::<A::Item>());
            v.push(A::Item::decode(d)?);
        }
        Ok(Small(v))
    }
}

/// Inline-first bytes (packed payloads), encoded as a length and the bytes, and decoded in
/// one read rather than byte by byte.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct Bytes<A: Array<Item = u8>>(pub(crate) SmallVec<A>);

impl<A: Array<Item = u8>> Bytes<A> {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Bytes(SmallVec::new())
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Self {
        Bytes(SmallVec::from_slice(bytes))
    }
}

impl<A: Array<Item = u8>> std::fmt::Debug for Bytes<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<A: Array<Item = u8>> Deref for Bytes<A> {
    type Target = SmallVec<A>;
    fn deref(&self) -> &SmallVec<A> {
        &self.0
    }
}

impl<A: Array<Item = u8>> Encode for Bytes<A> {
    fn encode<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        self.0.as_slice().encode(e)
    }
}

impl<C, A: Array<Item = u8>> Decode<C> for Bytes<A> {
    fn decode<D: Decoder<Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        let len = u64::decode(d)?;
        let len = usize::try_from(len).map_err(|_| DecodeError::OutsideUsizeRange(len))?;
        d.claim_bytes_read(len)?;
        let mut v = SmallVec::from_elem(0u8, len);
        d.reader().read(&mut v)?;
        Ok(Bytes(v))
    }
}

impl<'de, C, A: Array<Item = u8>> BorrowDecode<'de, C> for Bytes<A> {
    fn borrow_decode<D: BorrowDecoder<'de, Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        Self::decode(d)
    }
}

impl<'de, C, A: Array> BorrowDecode<'de, C> for Small<A>
where
    A::Item: Decode<C>,
{
    fn borrow_decode<D: BorrowDecoder<'de, Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        Self::decode(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{pack, unpack};

    #[test]
    fn encodes_like_a_vec() {
        let s: Small<[u32; 2]> = [1, 2, 300].into_iter().collect();
        let v: Vec<u32> = vec![1, 2, 300];
        assert_eq!(pack(&s).as_slice(), pack(&v).as_slice());
        assert_eq!(unpack::<Small<[u32; 2]>>(&pack(&s)).unwrap(), s);
    }

    #[test]
    fn a_damaged_length_is_an_error() {
        // Length 2^40 with no items behind it.
        let bytes = pack(&(1u64 << 40));
        assert!(unpack::<Small<[u64; 1]>>(&bytes).is_err());
    }
}
