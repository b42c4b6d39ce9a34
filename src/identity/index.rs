//! The identifier index: every known identifier and the contact that owns it.
//!
//! Every event looks its identifiers up here, and at a million contacts the bucket it needs is
//! almost never in cache: with a general-purpose map that wait was a sixth of a one-segment
//! event's time. This table is open-addressed with linear probing, so the bucket an
//! identifier lands in is known from its hash alone, and [`Index::prefetch`] can ask for it
//! to be loaded while the events before it are admitted (see `Engine::ingest_batch_into`).
//!
//! The table is split into [`STRIPES`] stripes by the hash's top bits, each behind its own
//! read-write lock: readers (every ingesting thread) share a stripe, and the one identity
//! writer (see [`super::Writer`]) changes one stripe at a time, so a stripe that grows holds
//! up only the readers of that stripe. A bucket holds a key of at most 40 bytes (see
//! [`IdKey`]), its contact and the low half of its hash, which both rejects most other keys
//! without comparing them and, on removal, tells each following entry's home bucket (removal
//! shifts entries back instead of leaving tombstones, so lookups never slow down with
//! churn).

use super::key::{AsKey, IdKey};
use super::ContactId;
use crate::event::Identifier;
use ahash::RandomState;
use crossbeam::utils::CachePadded;
use parking_lot::RwLock;
use std::hash::Hash;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Number of stripes (a power of two).
const STRIPES: usize = 64;

/// Buckets of a stripe's first table.
const FIRST: usize = 16;

/// One occupied bucket.
struct Entry {
    /// The low 32 bits of the key's hash; the bucket's home is [`home`] of it.
    hash: u32,
    contact: ContactId,
    key: IdKey,
}

/// Where a hash's probe starts in a table of `len` buckets: the hash scaled to the length
/// (a multiply and a shift, so a table can be any length, not only a power of two).
fn home(hash: u32, len: usize) -> usize {
    ((u64::from(hash) * len as u64) >> 32) as usize
}

/// One stripe: an array of buckets, at most three quarters full, grown by half.
#[derive(Default)]
struct Table {
    buckets: Box<[Option<Entry>]>,
    len: usize,
}

impl Table {
    /// The bucket after `i`, wrapping around the end.
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.buckets.len() {
            0
        } else {
            i + 1
        }
    }

    /// Steps from bucket `from` forward to bucket `to`, wrapping around the end.
    fn dist(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.buckets.len() - from
        }
    }

    /// The bucket holding `key`, or the empty one where the probe for it ends.
    fn find(&self, key: &IdKey, hash: u32) -> Result<usize, usize> {
        self.find_by(hash, |k| k == key)
    }

    /// The bucket whose key `is` the one looked for (with hash `hash`), or the empty one where
    /// the probe ends.
    fn find_by(&self, hash: u32, is: impl Fn(&IdKey) -> bool) -> Result<usize, usize> {
        let mut i = home(hash, self.buckets.len());
        loop {
            match &self.buckets[i] {
                None => return Err(i),
                Some(e) if e.hash == hash && is(&e.key) => return Ok(i),
                Some(_) => i = self.next(i),
            }
        }
    }

    /// The contact of the key of `id`, whose hash is `hash`.
    fn get(&self, id: &Identifier, hash: u32) -> Option<ContactId> {
        if self.buckets.is_empty() {
            return None;
        }
        self.find_by(hash, |k| k.is_of(id))
            .ok()
            .and_then(|i| self.buckets[i].as_ref().map(|e| e.contact))
    }

    /// Grows the buckets by half (the first table has [`FIRST`]) and places every entry
    /// again. By half, not double: the index is most of identity's memory, and a table grown by
    /// half stands between one half and three quarters full (a doubled one, three eighths to
    /// three quarters).
    fn grow(&mut self) {
        let size = (self.buckets.len() + self.buckets.len() / 2).max(FIRST);
        let old = std::mem::replace(
            &mut self.buckets,
            std::iter::repeat_with(|| None).take(size).collect(),
        );
        for e in old.into_vec().into_iter().flatten() {
            let Err(i) = self.find(&e.key, e.hash) else {
                unreachable!("keys in a table are distinct")
            };
            self.buckets[i] = Some(e);
        }
    }

    /// Points `key` at `contact`; the contact it pointed at before, if any.
    fn insert(&mut self, key: IdKey, hash: u32, contact: ContactId) -> Option<ContactId> {
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.grow();
        }
        match self.find(&key, hash) {
            Ok(i) => {
                let e = self.buckets[i].as_mut().expect("found");
                Some(std::mem::replace(&mut e.contact, contact))
            }
            Err(i) => {
                self.buckets[i] = Some(Entry { hash, contact, key });
                self.len += 1;
                None
            }
        }
    }

    fn remove(&mut self, key: &IdKey, hash: u32) -> Option<ContactId> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut hole = self.find(key, hash).ok()?;
        let gone = self.buckets[hole].take().expect("found");
        self.len -= 1;
        // Shift back each following entry of the run whose home is not after the hole, so
        // that no probe meets an empty bucket before its key.
        let mut j = hole;
        loop {
            j = self.next(j);
            let Some(e) = &self.buckets[j] else { break };
            let h = home(e.hash, self.buckets.len());
            // `e` may fill the hole when its home is not in the cyclic range (hole, j].
            if self.dist(h, j) >= self.dist(hole, j) {
                self.buckets[hole] = self.buckets[j].take();
                hole = j;
            }
        }
        Some(gone.contact)
    }
}

/// A stripe: its table, and where the table's buckets are for [`Index::prefetch`], which
/// takes no lock. The writer updates the hint when the table grows; a prefetch that reads an
/// old one asks for memory no longer used, which costs a load and harms nothing.
#[derive(Default)]
struct Stripe {
    table: RwLock<Table>,
    buckets: AtomicPtr<Option<Entry>>,
    len: AtomicUsize,
}

/// The index. Reads from any thread; changes from the identity writer section.
pub(super) struct Index {
    stripes: Box<[CachePadded<Stripe>]>,
    hasher: RandomState,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            stripes: (0..STRIPES).map(|_| CachePadded::default()).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl Index {
    /// The key's stripe and the low half of its hash (a key, or an identifier [`AsKey`]).
    fn place(&self, key: &impl Hash) -> (usize, u32) {
        let h = self.hasher.hash_one(key);
        ((h >> 58) as usize % STRIPES, h as u32)
    }

    /// The contact that owns `id`.
    pub(super) fn get(&self, id: &Identifier) -> Option<ContactId> {
        let (s, h) = self.place(&AsKey(id));
        self.stripes[s].table.read().get(id, h)
    }

    /// Points `key` at `contact`; the contact it pointed at before, if any.
    pub(super) fn insert(&self, key: IdKey, contact: ContactId) -> Option<ContactId> {
        let (s, h) = self.place(&key);
        let stripe = &self.stripes[s];
        let mut t = stripe.table.write();
        let before = t.buckets.len();
        let old = t.insert(key, h, contact);
        if t.buckets.len() != before {
            stripe.len.store(t.buckets.len(), Ordering::Relaxed);
            stripe
                .buckets
                .store(t.buckets.as_ptr().cast_mut(), Ordering::Release);
        }
        old
    }

    /// Points `id` at the contact `make` hands out, unless `id` is owned already: then its
    /// owner, as `Err`. `make` runs under the stripe's lock, so two threads that race to
    /// claim one identifier get one contact between them.
    pub(super) fn claim(
        &self,
        id: &Identifier,
        make: impl FnOnce() -> ContactId,
    ) -> Result<ContactId, ContactId> {
        let (s, h) = self.place(&AsKey(id));
        let stripe = &self.stripes[s];
        let mut t = stripe.table.write();
        if let Some(owner) = t.get(id, h) {
            return Err(owner);
        }
        let c = make();
        let before = t.buckets.len();
        t.insert(IdKey::of(id), h, c);
        if t.buckets.len() != before {
            stripe.len.store(t.buckets.len(), Ordering::Relaxed);
            stripe
                .buckets
                .store(t.buckets.as_ptr().cast_mut(), Ordering::Release);
        }
        Ok(c)
    }

    /// Forgets `key`; the contact it pointed at, if any.
    pub(super) fn remove(&self, key: &IdKey) -> Option<ContactId> {
        let (s, h) = self.place(key);
        self.stripes[s].table.write().remove(key, h)
    }

    /// Asks for the bucket where a lookup of `id` starts to be loaded into cache. It takes no
    /// lock and reads no bucket: it is only a hint.
    pub(super) fn prefetch(&self, id: &Identifier) {
        let (s, h) = self.place(&AsKey(id));
        let stripe = &self.stripes[s];
        let base = stripe.buckets.load(Ordering::Acquire);
        if !base.is_null() {
            let i = home(h, stripe.len.load(Ordering::Relaxed));
            crate::prefetch::prefetch_at(base.wrapping_add(i));
        }
    }

    /// Identifiers in the index.
    pub(super) fn len(&self) -> usize {
        self.stripes.iter().map(|s| s.table.read().len).sum()
    }

    /// Heap bytes: the buckets, and the identifiers too long to sit in a key.
    pub(super) fn heap_bytes(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| {
                let t = s.table.read();
                t.buckets.len() * std::mem::size_of::<Option<Entry>>()
                    + t.buckets
                        .iter()
                        .flatten()
                        .map(|e| e.key.heap_bytes())
                        .sum::<usize>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Identifier;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn id(n: u16) -> Identifier {
        Identifier::parse_pair(&format!("cookie:{n}")).unwrap()
    }

    fn key(n: u16) -> IdKey {
        IdKey::of(&id(n))
    }

    /// A home is the hash scaled to the table: every bucket is some hash's home, and the
    /// largest hash's home is the last bucket.
    #[test]
    fn homes_cover_every_bucket() {
        for len in [16usize, 24, 36, 54, 81, 1369] {
            let mut seen = vec![false; len];
            for b in 0..len as u64 {
                // The smallest hash whose home is `b`.
                let h = (b << 32).div_ceil(len as u64);
                let i = home(h as u32, len);
                assert_eq!(i, b as usize, "len {len}");
                seen[i] = true;
            }
            assert!(seen.iter().all(|s| *s));
            assert_eq!(home(u32::MAX, len), len - 1);
        }
    }

    #[test]
    fn a_bucket_is_48_bytes() {
        assert_eq!(std::mem::size_of::<Option<Entry>>(), 48);
    }

    /// One small stripe, where probes run long and wrap around the end: removal must keep
    /// every other key reachable.
    #[test]
    fn removal_keeps_runs_that_wrap_reachable() {
        let mut t = Table::default();
        // Hashes chosen to collide near the end of a 16-bucket table (bucket `b` is the
        // home of the hash `b << 28`).
        let hashes = [14u32, 15, 14, 15, 0, 14, 1, 15, 2].map(|b| b << 28);
        assert_eq!(home(hashes[1], FIRST), 15);
        for (n, &h) in hashes.iter().enumerate() {
            t.insert(key(n as u16), h, ContactId(n as u32));
        }
        let mut removed = Vec::new();
        for gone in [0usize, 4, 2, 7] {
            assert_eq!(
                t.remove(&key(gone as u16), hashes[gone]),
                Some(ContactId(gone as u32))
            );
            removed.push(gone);
            for (n, &h) in hashes.iter().enumerate() {
                let want = (!removed.contains(&n)).then_some(ContactId(n as u32));
                assert_eq!(
                    t.get(&id(n as u16), h),
                    want,
                    "key {n} after removing {gone}"
                );
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Step {
        Insert(u16, u32),
        Remove(u16),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0u16..300, 0u32..50).prop_map(|(k, c)| Step::Insert(k, c)),
            1 => (0u16..300).prop_map(Step::Remove),
        ]
    }

    proptest! {
        /// The index agrees with a map after any mix of inserts, overwrites and removals.
        #[test]
        fn agrees_with_a_map(steps in proptest::collection::vec(step(), 0..600)) {
            let index = Index::default();
            let mut model: HashMap<u16, ContactId> = HashMap::new();
            for s in steps {
                match s {
                    Step::Insert(k, c) => {
                        prop_assert_eq!(
                            index.insert(key(k), ContactId(c)),
                            model.insert(k, ContactId(c))
                        );
                    }
                    Step::Remove(k) => {
                        prop_assert_eq!(index.remove(&key(k)), model.remove(&k));
                    }
                }
            }
            prop_assert_eq!(index.len(), model.len());
            for k in 0..300 {
                prop_assert_eq!(index.get(&id(k)), model.get(&k).copied());
            }
        }

        /// One table through many growths (16, 24, 36, … buckets: lengths that are not
        /// powers of two) and removals, with hashes crowded into a few homes, some near the
        /// table's end, so that runs are long and wrap around: it agrees with a map. (The
        /// index above spreads its keys over 64 stripes, whose tables stay at 16 buckets.)
        #[test]
        fn one_table_grown_by_half_agrees_with_a_map(
            steps in proptest::collection::vec(step(), 0..1500),
            crowd in 0u32..8,
        ) {
            // Keys fall into 8 to 15 groups, each at one end of an eighth of the hash space:
            // an even group at its start (group 0 at the table's first bucket), an odd one
            // just below the next eighth (group 7 at the table's last buckets, whose runs
            // wrap onto group 0's).
            let hash = |k: u16| {
                let g = u32::from(k) % (8 + crowd);
                let end = if g % 2 == 1 { 0x1FFF_0000 } else { 0 };
                g.wrapping_mul(0x2000_0000)
                    .wrapping_add(end + u32::from(k))
            };
            let mut t = Table::default();
            let mut model: HashMap<u16, ContactId> = HashMap::new();
            for s in steps {
                match s {
                    Step::Insert(k, c) => {
                        prop_assert_eq!(
                            t.insert(key(k), hash(k), ContactId(c)),
                            model.insert(k, ContactId(c))
                        );
                    }
                    Step::Remove(k) => {
                        prop_assert_eq!(t.remove(&key(k), hash(k)), model.remove(&k));
                    }
                }
                prop_assert!(t.len * 4 <= t.buckets.len() * 3);
            }
            prop_assert_eq!(t.len, model.len());
            for k in 0..300 {
                prop_assert_eq!(t.get(&id(k), hash(k)), model.get(&k).copied());
            }
        }
    }
}
