//! The live contacts' records, by contact id, in dense striped vectors.
//!
//! Contact ids are handed out one after another, so a record can sit at its id's place in a
//! vector instead of in a hash map: no hash, no key stored beside it, no empty buckets. The
//! ids are spread over [`STRIPES`] vectors (id `c` is place `c / STRIPES` of stripe
//! `c % STRIPES`), each behind its own read-write lock, so that threads reading names for
//! their signals and the identity writer rarely meet on one lock. Ids of contacts merged away
//! or erased leave empty places.

use super::{ContactId, Record};
use crossbeam::utils::CachePadded;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Number of stripes.
const STRIPES: usize = 64;

type Stripe = Vec<Option<Record>>;

pub(super) struct Records {
    stripes: Box<[CachePadded<RwLock<Stripe>>]>,
    live: AtomicUsize,
}

fn place(c: ContactId) -> (usize, usize) {
    let c = c.0 as usize;
    (c % STRIPES, c / STRIPES)
}

impl Default for Records {
    fn default() -> Records {
        Records {
            stripes: (0..STRIPES).map(|_| CachePadded::default()).collect(),
            live: AtomicUsize::new(0),
        }
    }
}

impl Records {
    /// `f` of `c`'s record, if `c` is live.
    pub(super) fn get<R>(&self, c: ContactId, f: impl FnOnce(&Record) -> R) -> Option<R> {
        let (s, i) = place(c);
        self.stripes[s].read().get(i)?.as_ref().map(f)
    }

    /// `f` of `c`'s record to change, if `c` is live.
    pub(super) fn update<R>(&self, c: ContactId, f: impl FnOnce(&mut Record) -> R) -> Option<R> {
        let (s, i) = place(c);
        self.stripes[s].write().get_mut(i)?.as_mut().map(f)
    }

    pub(super) fn contains(&self, c: ContactId) -> bool {
        self.get(c, |_| ()).is_some()
    }

    /// Puts `r` at `c`'s place, which must be empty.
    pub(super) fn insert(&self, c: ContactId, r: Record) {
        let (s, i) = place(c);
        let mut v = self.stripes[s].write();
        let len = v.len();
        if i >= len {
            if i >= v.capacity() {
                // Grow by a quarter, not double: ids only grow, so this is a stripe's one
                // long-lived vector, and a doubled one would stand a quarter empty on average.
                v.reserve_exact(i + 1 - len + len / 4);
            }
            v.resize_with(i + 1, || None);
        }
        debug_assert!(v[i].is_none(), "a record's place is taken");
        if v[i].replace(r).is_none() {
            self.live.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes `c`'s record out.
    pub(super) fn remove(&self, c: ContactId) -> Option<Record> {
        let (s, i) = place(c);
        let r = self.stripes[s].write().get_mut(i)?.take();
        if r.is_some() {
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
        r
    }

    /// Live records.
    pub(super) fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Calls `f` with every live record, a stripe at a time (each under its read lock), in
    /// no particular order.
    pub(super) fn for_each_stripe(
        &self,
        mut f: impl FnMut(&mut dyn Iterator<Item = (ContactId, &Record)>),
    ) {
        for (s, stripe) in self.stripes.iter().enumerate() {
            let v = stripe.read();
            let mut it = v
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.as_ref().map(|r| (ContactId((i * STRIPES + s) as u32), r)));
            f(&mut it);
        }
    }

    /// Bytes of the stripes' vectors (the records' own heap parts not included).
    pub(super) fn heap_bytes(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| s.read().capacity() * std::mem::size_of::<Option<Record>>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Identifier;

    fn record(s: &str) -> Record {
        Record::new(crate::codec::Small(
            [Identifier::parse_pair(s).unwrap()].into_iter().collect(),
        ))
    }

    #[test]
    fn records_sit_at_their_ids_across_stripes() {
        let r = Records::default();
        let ids = [0u32, 1, 63, 64, 65, 1000, 4097];
        for c in ids {
            r.insert(ContactId(c), record(&format!("customer:{c}")));
        }
        assert_eq!(r.len(), ids.len());
        assert!(!r.contains(ContactId(2)));
        assert_eq!(
            r.get(ContactId(1000), |x| x.key().to_string()),
            Some("customer:1000".to_string())
        );
        let gone = r.remove(ContactId(64)).unwrap();
        assert_eq!(gone.key().to_string(), "customer:64");
        assert!(r.remove(ContactId(64)).is_none());
        assert!(r.remove(ContactId(99_999)).is_none());
        assert_eq!(r.len(), ids.len() - 1);
        r.update(ContactId(63), |x| {
            x.absorbed = thin_vec::thin_vec![ContactId(64)]
        })
        .unwrap();
        assert_eq!(
            r.get(ContactId(63), |x| x.absorbed.clone()),
            Some(thin_vec::thin_vec![ContactId(64)])
        );
        let mut seen = Vec::new();
        r.for_each_stripe(|it| seen.extend(it.map(|(c, x)| (c.0, x.key().to_string()))));
        seen.sort();
        let want: Vec<(u32, String)> = ids
            .iter()
            .filter(|c| **c != 64)
            .map(|c| (*c, format!("customer:{c}")))
            .collect();
        assert_eq!(seen, want);
    }
}
