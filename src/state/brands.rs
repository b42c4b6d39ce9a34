//! The brands a contact has events with, each with its activity.

use super::BrandStats;
use crate::codec::Small;
use crate::intern::Sym;
use bincode::de::{Decode, Decoder};
use bincode::enc::{Encode, Encoder};
use bincode::error::{DecodeError, EncodeError};

/// Per brand seen, its [`BrandStats`], in the order the brands were first seen. Most contacts
/// keep to one brand: it is held inline, its symbol beside the list's tag, in 48 bytes of the
/// contact's slot (a `SmallVec` of one pair took 56: the pair padded to 48 and a capacity).
/// A contact with more brands holds them in a vector that grows by one, since a contact sees
/// a few brands and keeps them for good. Stored as the list of pairs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Brands(List);

#[derive(Debug, Clone, Default)]
enum List {
    #[default]
    None,
    One(Sym, BrandStats),
    /// Two brands or more.
    Many(Vec<(Sym, BrandStats)>),
}

/// Equal when they list the same brands with the same activity, in the same order.
impl PartialEq for Brands {
    fn eq(&self, other: &Brands) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Brands {}

impl Brands {
    /// The brands and their activity, in the order first seen.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Sym, &BrandStats)> + '_ {
        let (one, many) = match &self.0 {
            List::None => (None, &[][..]),
            List::One(b, s) => (Some((*b, s)), &[][..]),
            List::Many(v) => (None, &v[..]),
        };
        one.into_iter().chain(many.iter().map(|(b, s)| (*b, s)))
    }

    pub(crate) fn len(&self) -> usize {
        match &self.0 {
            List::None => 0,
            List::One(..) => 1,
            List::Many(v) => v.len(),
        }
    }

    /// `brand`'s activity, added (with nothing yet) when it is new.
    pub(crate) fn entry(&mut self, brand: Sym) -> &mut BrandStats {
        let fresh = BrandStats {
            last_seen: i64::MIN,
            ..BrandStats::default()
        };
        let grown = match &self.0 {
            List::None => Some(List::One(brand, fresh)),
            List::One(b, s) if *b != brand => Some(List::Many(vec![(*b, *s), (brand, fresh)])),
            _ => None,
        };
        if let Some(list) = grown {
            self.0 = list;
        }
        match &mut self.0 {
            List::One(_, s) => s,
            List::Many(v) => {
                let i = match v.iter().position(|(b, _)| *b == brand) {
                    Some(i) => i,
                    None => {
                        crate::grow::reserve_exact(v, 1);
                        v.push((brand, fresh));
                        v.len() - 1
                    }
                };
                &mut v[i].1
            }
            List::None => unreachable!("a brand was just added"),
        }
    }

    /// The pairs when they are on the heap (a contact with two brands or more), for a
    /// prefetch.
    pub(crate) fn spilled(&self) -> Option<&[(Sym, BrandStats)]> {
        match &self.0 {
            List::Many(v) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.0 {
            List::Many(v) => v.capacity() * std::mem::size_of::<(Sym, BrandStats)>(),
            _ => 0,
        }
    }
}

impl Encode for Brands {
    fn encode<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        (self.len() as u64).encode(e)?;
        for (b, s) in self.iter() {
            (b, *s).encode(e)?;
        }
        Ok(())
    }
}

impl<C> Decode<C> for Brands {
    fn decode<D: Decoder<Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        let pairs: Small<[(Sym, BrandStats); 1]> = Decode::decode(d)?;
        let mut out = Brands::default();
        for (b, s) in pairs {
            if out.iter().any(|(seen, _)| seen == b) {
                return Err(DecodeError::Other("a brand listed twice"));
            }
            *out.entry(b) = s;
        }
        Ok(out)
    }
}
bincode::impl_borrow_decode!(Brands);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{pack, unpack};

    fn stats(n: u32) -> BrandStats {
        BrandStats {
            last_seen: i64::from(n),
            ..BrandStats::default()
        }
    }

    #[test]
    fn one_brand_inline_more_on_the_heap_stored_as_pairs() {
        assert_eq!(std::mem::size_of::<Brands>(), 48);
        let mut b = Brands::default();
        assert_eq!((b.len(), b.iter().count()), (0, 0));
        assert_eq!(b.entry(Sym(7)).last_seen, i64::MIN);
        *b.entry(Sym(7)) = stats(1);
        *b.entry(Sym(7)) = stats(2);
        assert!(b.spilled().is_none());
        assert_eq!(b.heap_bytes(), 0);
        *b.entry(Sym(3)) = stats(3);
        *b.entry(Sym(9)) = stats(4);
        b.entry(Sym(3)).last_seen += 10;
        let want = vec![(Sym(7), stats(2)), (Sym(3), stats(13)), (Sym(9), stats(4))];
        assert_eq!(b.iter().map(|(s, x)| (s, *x)).collect::<Vec<_>>(), want);
        assert_eq!(b.spilled().map(<[_]>::len), Some(3));
        assert_eq!(b.heap_bytes(), 3 * 48);
        // Stored as the list of pairs, and read back.
        assert_eq!(pack(&b), pack(&want));
        assert_eq!(unpack::<Brands>(&pack(&want)).unwrap(), b);
        for n in 0..3 {
            let part = &want[..n];
            let back: Brands = unpack(&pack(&part.to_vec())).unwrap();
            assert_eq!(back.iter().map(|(s, x)| (s, *x)).collect::<Vec<_>>(), part);
        }
        let twice = vec![(Sym(7), stats(1)), (Sym(7), stats(2))];
        assert!(unpack::<Brands>(&pack(&twice)).is_err());
    }
}
