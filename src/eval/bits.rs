//! A small set of indices (terms, predicates), one word inline.

use bincode::de::{Decode, Decoder};
use bincode::enc::{Encode, Encoder};
use bincode::error::{DecodeError, EncodeError};

/// A set of small indices: up to 64 in one word held inline, without an allocation; more in
/// a boxed vector of words. A contact's memberships are one (in its slot: 16 bytes, where a
/// `SmallVec` of one word took 24), and so are the evaluation passes' to-do and due sets.
/// Stored as the list of words up to the last that is not zero.
#[derive(Debug, Clone)]
pub(crate) struct Bits(Words);

#[derive(Debug, Clone)]
enum Words {
    One(u64),
    /// Two words or more (an index of 64 or more was set). A box of a vector is a thin
    /// pointer, which keeps the set at 16 bytes (a boxed slice would make it 24); sets this
    /// large are rare (more than 64 predicates), and the second allocation with them.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<u64>>),
}

impl Default for Bits {
    fn default() -> Bits {
        Bits(Words::One(0))
    }
}

/// Equal when the same indices are in both.
impl PartialEq for Bits {
    fn eq(&self, other: &Bits) -> bool {
        self.trimmed() == other.trimmed()
    }
}

impl Bits {
    fn words(&self) -> &[u64] {
        match &self.0 {
            Words::One(w) => std::slice::from_ref(w),
            Words::Many(v) => v,
        }
    }

    /// The words up to the last that is not zero.
    fn trimmed(&self) -> &[u64] {
        let w = self.words();
        let n = w.iter().rposition(|x| *x != 0).map_or(0, |i| i + 1);
        &w[..n]
    }

    /// The bits of a single word.
    #[inline]
    pub(crate) fn of_word(w: u64) -> Bits {
        Bits(Words::One(w))
    }

    /// The bits as a single word, when they are held as one (all below 64).
    #[inline]
    pub(crate) fn word(&self) -> Option<u64> {
        match &self.0 {
            Words::One(w) => Some(*w),
            Words::Many(_) => None,
        }
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> bool {
        match &self.0 {
            Words::One(x) => i < 64 && x & (1 << i) != 0,
            Words::Many(v) => v.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0),
        }
    }

    /// Puts `i` in the set (`on`) or takes it out. The usual case, an index below 64 in a
    /// one-word set, is inline at the caller (the passes set bits millions of times).
    #[inline]
    pub(crate) fn set(&mut self, i: usize, on: bool) {
        if let Words::One(x) = &mut self.0 {
            if i < 64 {
                if on {
                    *x |= 1 << i;
                } else {
                    *x &= !(1 << i);
                }
                return;
            }
        }
        self.set_far(i, on);
    }

    /// [`Bits::set`] of an index of 64 or more, or in a set of more than one word.
    #[inline(never)]
    fn set_far(&mut self, i: usize, on: bool) {
        let w = i / 64;
        let word = match &mut self.0 {
            Words::Many(v) if w < v.len() => &mut v[w],
            _ if !on => return,
            Words::One(x) => {
                let mut v = vec![0; w + 1];
                v[0] = *x;
                self.0 = Words::Many(Box::new(v));
                let Words::Many(v) = &mut self.0 else {
                    unreachable!("just set")
                };
                &mut v[w]
            }
            Words::Many(v) => {
                v.resize(w + 1, 0);
                &mut v[w]
            }
        };
        if on {
            *word |= 1 << (i % 64);
        } else {
            *word &= !(1 << (i % 64));
        }
    }

    /// The smallest index at or after `from` in the set.
    #[inline]
    pub(super) fn next_from(&self, from: usize) -> Option<usize> {
        if let Words::One(x) = &self.0 {
            let rest = if from < 64 { x & (!0u64 << from) } else { 0 };
            return (rest != 0).then(|| rest.trailing_zeros() as usize);
        }
        self.next_from_far(from)
    }

    /// [`Bits::next_from`] in a set of more than one word.
    #[inline(never)]
    fn next_from_far(&self, from: usize) -> Option<usize> {
        let words = self.words();
        let mut w = from / 64;
        let mut word = words.get(w)? & (!0u64 << (from % 64));
        loop {
            if word != 0 {
                return Some(w * 64 + word.trailing_zeros() as usize);
            }
            w += 1;
            word = *words.get(w)?;
        }
    }

    /// The indices in the set, ascending.
    pub(crate) fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        let mut from = 0;
        std::iter::from_fn(move || {
            let i = self.next_from(from)?;
            from = i + 1;
            Some(i)
        })
    }

    pub(super) fn heap_bytes(&self) -> usize {
        match &self.0 {
            Words::One(_) => 0,
            Words::Many(v) => std::mem::size_of::<Vec<u64>>() + v.capacity() * 8,
        }
    }
}

impl Encode for Bits {
    fn encode<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        self.trimmed().encode(e)
    }
}

impl<C> Decode<C> for Bits {
    fn decode<D: Decoder<Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        let words: crate::codec::Small<[u64; 1]> = Decode::decode(d)?;
        Ok(match words.len() {
            0 => Bits::default(),
            1 => Bits(Words::One(words[0])),
            _ => Bits(Words::Many(Box::new(words.to_vec()))),
        })
    }
}
bincode::impl_borrow_decode!(Bits);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{pack, unpack};

    #[test]
    fn takes_16_bytes_and_is_equal_by_the_indices_held() {
        assert_eq!(std::mem::size_of::<Bits>(), 16);
        // Set far and taken out again: more words, the same empty set, stored as one.
        let mut b = Bits::default();
        b.set(130, true);
        b.set(130, false);
        assert_eq!(b, Bits::default());
        assert_eq!(pack(&b), pack(&Vec::<u64>::new()));
        b.set(3, true);
        let mut one = Bits::default();
        one.set(3, true);
        assert_eq!(
            (b == one, b.heap_bytes() > 0, one.heap_bytes()),
            (true, true, 0)
        );
        one.set(4, true);
        assert_ne!(b, one);
    }

    proptest::proptest! {
        /// Against a sorted set; stored as the words up to the last one set, and read back.
        #[test]
        fn agrees_with_a_set(steps in proptest::collection::vec((0usize..200, proptest::bool::ANY), 0..60)) {
            let mut b = Bits::default();
            let mut model = std::collections::BTreeSet::new();
            for (i, on) in steps {
                b.set(i, on);
                if on {
                    model.insert(i);
                } else {
                    model.remove(&i);
                }
                proptest::prop_assert_eq!(b.ones().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
                proptest::prop_assert!((0..200).all(|i| b.get(i) == model.contains(&i)));
            }
            let mut words = vec![0u64; model.last().map_or(0, |m| m / 64 + 1)];
            for i in &model {
                words[i / 64] |= 1 << (i % 64);
            }
            proptest::prop_assert_eq!(pack(&b), pack(&words));
            let back: Bits = unpack(&pack(&b)).unwrap();
            proptest::prop_assert_eq!(&back, &b);
            proptest::prop_assert_eq!(back.ones().collect::<Vec<_>>(), b.ones().collect::<Vec<_>>());
        }
    }
}
