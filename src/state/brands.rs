//! The brands a contact has events with, each with its activity.

use super::BrandStats;
use crate::intern::Sym;
use bincode::de::{Decode, Decoder};
use bincode::enc::{Encode, Encoder};
use bincode::error::{DecodeError, EncodeError};

/// Per brand seen, its [`BrandStats`], in the order the brands were first seen.
///
/// Most contacts keep to one brand, and then that brand's activity *is* the contact's: its
/// purchase totals and the last time it was seen. Such a list holds only the brand's symbol
/// ([`List::Whole`]); whoever asks for the activity passes the contact's own (`whole`
/// below). Any other list (a second brand, or an event with no brand beside the first) holds
/// every brand with its activity in a vector that grows by one, since a contact sees a few
/// brands and keeps them for good. So the list takes 24 bytes of the contact's slot; until
/// the twenty-third session it held one brand's activity inline, in 48.
///
/// The rule that keeps [`List::Whole`] exact: it is entered only while the contact's own
/// activity equals the brand's (a contact with no events yet, or after a merge or a load
/// when they are equal), and left, with the brand's activity written out, before an event
/// of another brand or of none changes the contact's. Stored as the list of pairs.
#[derive(Debug, Clone, Default)]
pub(crate) struct Brands(List);

#[derive(Debug, Clone, Default)]
enum List {
    #[default]
    None,
    /// One brand, whose activity is the contact's own.
    Whole(Sym),
    /// Each brand with its activity.
    Listed(Vec<(Sym, BrandStats)>),
}

/// A brand's activity before its first event, and a contact's before its first.
const FRESH: BrandStats = BrandStats {
    commerce: super::Commerce::ZERO,
    last_seen: i64::MIN,
};

impl Brands {
    /// The brands and their activity, in the order first seen; `whole` is the contact's own
    /// activity.
    pub(crate) fn iter(&self, whole: BrandStats) -> impl Iterator<Item = (Sym, BrandStats)> + '_ {
        let (one, many) = match &self.0 {
            List::None => (None, &[][..]),
            List::Whole(b) => (Some((*b, whole)), &[][..]),
            List::Listed(v) => (None, &v[..]),
        };
        one.into_iter().chain(many.iter().copied())
    }

    /// The brands, in the order first seen.
    pub(crate) fn names(&self) -> impl Iterator<Item = Sym> + '_ {
        self.iter(FRESH).map(|(b, _)| b)
    }

    pub(crate) fn len(&self) -> usize {
        match &self.0 {
            List::None => 0,
            List::Whole(_) => 1,
            List::Listed(v) => v.len(),
        }
    }

    /// Called before an event changes the contact's activity, `whole` (as it is before the
    /// event): an event of `brand`, or of no brand. Returns the brand's activity for the
    /// event to update, or `None` when there is nothing to update: no brand, or a brand whose
    /// activity is the contact's own.
    pub(crate) fn touch(
        &mut self,
        brand: Option<Sym>,
        whole: BrandStats,
    ) -> Option<&mut BrandStats> {
        match (&self.0, brand) {
            (List::None, None) | (List::Listed(_), None) => return None,
            (List::Whole(w), Some(b)) if *w == b => return None,
            (List::None, Some(b)) if whole == FRESH => {
                self.0 = List::Whole(b);
                return None;
            }
            (List::None, Some(_)) => self.0 = List::Listed(Vec::with_capacity(1)),
            (List::Whole(w), _) => {
                let mut v = Vec::with_capacity(1 + usize::from(brand.is_some()));
                v.push((*w, whole));
                self.0 = List::Listed(v);
            }
            (List::Listed(_), Some(_)) => {}
        }
        let (List::Listed(v), Some(brand)) = (&mut self.0, brand) else {
            return None;
        };
        let i = match v.iter().position(|(b, _)| *b == brand) {
            Some(i) => i,
            None => {
                crate::grow::reserve_exact(v, 1);
                v.push((brand, FRESH));
                v.len() - 1
            }
        };
        Some(&mut v[i].1)
    }

    /// Folds another contact's brands in: `mine` and `theirs` are the two contacts' own
    /// activity before the merge. The caller then settles the result on the merged activity.
    pub(crate) fn absorb(&mut self, mine: BrandStats, other: Brands, theirs: BrandStats) {
        if let (List::Whole(a), List::Whole(b)) = (&self.0, &other.0) {
            if a == b {
                // Both sides' activity is the brand's, so the merged activity is too.
                return;
            }
        }
        if other.len() == 0 && theirs == FRESH {
            return;
        }
        let mut v: Vec<(Sym, BrandStats)> = match std::mem::take(&mut self.0) {
            List::Listed(v) => v,
            list => Brands(list).iter(mine).collect(),
        };
        for (b, s) in other.iter(theirs) {
            match v.iter_mut().find(|(mine, _)| *mine == b) {
                Some((_, m)) => {
                    m.commerce.absorb(s.commerce);
                    m.last_seen = m.last_seen.max(s.last_seen);
                }
                None => v.push((b, s)),
            }
        }
        if !v.is_empty() {
            self.0 = List::Listed(v);
        }
    }

    /// Holds a single brand as the contact's own when its activity is `whole`, the
    /// contact's (after a merge or a load).
    pub(crate) fn settle(&mut self, whole: BrandStats) {
        if let List::Listed(v) = &self.0 {
            if let [(b, s)] = v[..] {
                if s == whole {
                    self.0 = List::Whole(b);
                }
            }
        }
    }

    /// The pairs when they are on the heap, for a prefetch.
    pub(crate) fn spilled(&self) -> Option<&[(Sym, BrandStats)]> {
        match &self.0 {
            List::Listed(v) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.0 {
            List::Listed(v) => v.capacity() * std::mem::size_of::<(Sym, BrandStats)>(),
            _ => 0,
        }
    }

    /// The list as a snapshot stores it, the contact's own activity being `whole`.
    pub(crate) fn stored(&self, whole: BrandStats) -> Stored<'_> {
        Stored {
            brands: self,
            whole,
        }
    }
}

/// A contact's brands to store: the list of pairs.
pub(crate) struct Stored<'a> {
    brands: &'a Brands,
    whole: BrandStats,
}

impl Encode for Stored<'_> {
    fn encode<E: Encoder>(&self, e: &mut E) -> Result<(), EncodeError> {
        (self.brands.len() as u64).encode(e)?;
        for pair in self.brands.iter(self.whole) {
            pair.encode(e)?;
        }
        Ok(())
    }
}

/// Reads the stored pairs as they are (a list of them); the contact's state then settles
/// it on its own activity.
impl<C> Decode<C> for Brands {
    fn decode<D: Decoder<Context = C>>(d: &mut D) -> Result<Self, DecodeError> {
        let pairs: Vec<(Sym, BrandStats)> = Decode::decode(d)?;
        if crate::codec::repeats_a_key(&pairs, |(b, _)| b) {
            return Err(DecodeError::Other("a brand listed twice"));
        }
        Ok(Brands(if pairs.is_empty() {
            List::None
        } else {
            List::Listed(pairs)
        }))
    }
}
bincode::impl_borrow_decode!(Brands);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{pack, unpack};
    use crate::event::Money;
    use proptest::prelude::*;

    fn stats(n: u32) -> BrandStats {
        BrandStats {
            last_seen: i64::from(n),
            ..FRESH
        }
    }

    fn pairs(b: &Brands, whole: BrandStats) -> Vec<(Sym, BrandStats)> {
        b.iter(whole).collect()
    }

    #[test]
    fn a_single_brand_is_the_contact_more_are_listed_stored_as_pairs() {
        assert_eq!(std::mem::size_of::<Brands>(), 24);
        let mut b = Brands::default();
        assert_eq!((b.len(), b.iter(FRESH).count()), (0, 0));
        // The first event of a fresh contact: the brand is the contact's own.
        assert!(b.touch(Some(Sym(7)), FRESH).is_none());
        assert!(b.touch(Some(Sym(7)), stats(1)).is_none());
        assert!(b.spilled().is_none());
        assert_eq!(b.heap_bytes(), 0);
        assert_eq!(pairs(&b, stats(2)), [(Sym(7), stats(2))]);
        // A second brand writes the first one's activity out.
        b.touch(Some(Sym(3)), stats(2)).unwrap().last_seen = 13;
        *b.touch(Some(Sym(9)), stats(13)).unwrap() = stats(4);
        let want = vec![(Sym(7), stats(2)), (Sym(3), stats(13)), (Sym(9), stats(4))];
        assert_eq!(pairs(&b, stats(99)), want);
        assert_eq!(b.spilled().map(<[_]>::len), Some(3));
        assert_eq!(b.heap_bytes(), 3 * 48);
        // Stored as the list of pairs, and read back.
        assert_eq!(pack(&b.stored(stats(99))), pack(&want));
        assert_eq!(pairs(&unpack::<Brands>(&pack(&want)).unwrap(), FRESH), want);
        let twice = vec![(Sym(7), stats(1)), (Sym(7), stats(2))];
        assert!(unpack::<Brands>(&pack(&twice)).is_err());
        // One pair read back is the contact's own once it equals the contact's activity.
        let mut one = unpack::<Brands>(&pack(&want[..1].to_vec())).unwrap();
        one.settle(stats(5));
        assert!(one.spilled().is_some());
        one.settle(stats(2));
        assert!(one.spilled().is_none());
        assert_eq!(pairs(&one, stats(2)), want[..1]);
        // An event with no brand writes the single brand's activity out too.
        assert!(one.touch(None, stats(2)).is_none());
        assert_eq!(pairs(&one, stats(50)), want[..1]);
    }

    /// What an event does to a contact's activity and to its brand's, as the profile does it.
    #[derive(Debug, Clone, Copy)]
    enum Op {
        Seen,
        Purchase(i64),
        Refund(i64),
    }

    fn apply(s: &mut BrandStats, op: Op, ts: i64) {
        s.last_seen = s.last_seen.max(ts);
        match op {
            Op::Seen => {}
            Op::Purchase(a) => s.commerce.purchase(ts, Money(a)),
            Op::Refund(a) => s.commerce.refund(Money(a)),
        }
    }

    fn merge(s: &mut BrandStats, o: BrandStats) {
        s.commerce.absorb(o.commerce);
        s.last_seen = s.last_seen.max(o.last_seen);
    }

    /// A contact as the list sees it, and the same kept plainly: every brand with its
    /// activity, in the order first seen.
    #[derive(Default)]
    struct Both {
        brands: Brands,
        whole: BrandStats,
        model: Vec<(Sym, BrandStats)>,
    }

    impl Both {
        fn new() -> Both {
            Both {
                brands: Brands::default(),
                whole: FRESH,
                model: Vec::new(),
            }
        }

        fn event(&mut self, brand: Option<Sym>, op: Op, ts: i64) {
            if let Some(b) = self.brands.touch(brand, self.whole) {
                apply(b, op, ts);
            }
            apply(&mut self.whole, op, ts);
            if let Some(brand) = brand {
                let i = match self.model.iter().position(|(b, _)| *b == brand) {
                    Some(i) => i,
                    None => {
                        self.model.push((brand, FRESH));
                        self.model.len() - 1
                    }
                };
                apply(&mut self.model[i].1, op, ts);
            }
        }

        fn absorb(&mut self, o: Both) {
            self.brands.absorb(self.whole, o.brands, o.whole);
            merge(&mut self.whole, o.whole);
            self.brands.settle(self.whole);
            for (b, s) in o.model {
                match self.model.iter_mut().find(|(m, _)| *m == b) {
                    Some((_, m)) => merge(m, s),
                    None => self.model.push((b, s)),
                }
            }
        }

        fn check(&self) {
            assert_eq!(pairs(&self.brands, self.whole), self.model);
            let back: Brands = unpack(&pack(&self.brands.stored(self.whole))).unwrap();
            assert_eq!(pairs(&back, self.whole), self.model);
        }
    }

    fn op() -> impl Strategy<Value = (Option<Sym>, Op, i64)> {
        let brand = prop_oneof![1 => Just(None), 4 => (0u32..3).prop_map(|b| Some(Sym(b)))];
        let op = prop_oneof![
            3 => Just(Op::Seen),
            1 => (1i64..100).prop_map(Op::Purchase),
            1 => (1i64..100).prop_map(Op::Refund),
        ];
        (brand, op, 0i64..50)
    }

    proptest! {
        /// Against a plain list of every brand's activity: events of one brand, of several,
        /// of none, in any time order, and merges of two contacts built the same way.
        #[test]
        fn agrees_with_a_plain_list(
            a in proptest::collection::vec(op(), 0..12),
            b in proptest::collection::vec(op(), 0..12),
            c in proptest::collection::vec(op(), 0..6),
        ) {
            let (mut x, mut y) = (Both::new(), Both::new());
            for &(brand, op, ts) in &a {
                x.event(brand, op, ts);
                x.check();
            }
            for &(brand, op, ts) in &b {
                y.event(brand, op, ts);
            }
            x.absorb(y);
            x.check();
            for &(brand, op, ts) in &c {
                x.event(brand, op, ts);
                x.check();
            }
        }
    }
}
