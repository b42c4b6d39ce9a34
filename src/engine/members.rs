//! A shard's membership bitmaps (one per segment and rule tag), with their changes written
//! in batches.
//!
//! Contact `c` lives in shard `c mod S`, so a shard owns one id in `S` of every roaring
//! container, and the bitmap of a segment holding fewer than half of the shard's contacts
//! is made of array containers: sorted lists of up to 4,096 ids. Entering or leaving one
//! inserts into or removes from the middle of such a list, a shift of about 4 KB; in the
//! fifty-segment month at a million contacts these shifts were a fifth of the time.
//!
//! So a change is first appended to the predicate's log of pending changes; when a log
//! holds [`PENDING`] changes, or before anything reads the bitmap, it is folded in: sorted
//! by contact (keeping each contact's latest change) and applied as one union and one
//! difference, which rewrite each container they touch once. Readers go through
//! [`Memberships::bitmap`], which folds first, so every read sees every change.

use super::radix;
use roaring::RoaringBitmap;

/// Changes a predicate's log holds before they are folded into its bitmap.
const PENDING: usize = 4096;

/// Where the contact starts in a logged change: below it, the change's place in the log
/// (under [`PENDING`]) and whether it enters.
const SHIFT: u32 = 14;
const _: () = assert!(PENDING <= 1 << (SHIFT - 1));

/// One shard's bitmaps and their pending changes.
#[derive(Debug, Default)]
pub(crate) struct Memberships {
    bitmaps: Vec<RoaringBitmap>,
    /// Per predicate: changes not yet in its bitmap, in order, as
    /// `id << SHIFT | place << 1 | in`.
    pending: Vec<Vec<u64>>,
    /// The radix sort's second buffer, kept between folds.
    scratch: Vec<u64>,
}

impl Memberships {
    /// Empty bitmaps for `predicates` predicates.
    pub(crate) fn new(predicates: usize) -> Memberships {
        Memberships::from_bitmaps(vec![RoaringBitmap::new(); predicates])
    }

    /// These bitmaps, with nothing pending.
    pub(crate) fn from_bitmaps(bitmaps: Vec<RoaringBitmap>) -> Memberships {
        Memberships {
            pending: vec![Vec::new(); bitmaps.len()],
            bitmaps,
            scratch: Vec::new(),
        }
    }

    /// Records that contact `c` is now in (`on`) or out of predicate `i`.
    pub(crate) fn set(&mut self, i: usize, c: u32, on: bool) {
        let log = &mut self.pending[i];
        // The place in the log goes in beside the contact, so that a plain sort keeps a
        // contact's changes in order (see `fold`).
        let place = log.len() as u64;
        log.push(u64::from(c) << SHIFT | place << 1 | u64::from(on));
        if log.len() >= PENDING {
            self.fold(i);
        }
    }

    /// Applies predicate `i`'s pending changes to its bitmap.
    fn fold(&mut self, i: usize) {
        let log = &mut self.pending[i];
        if log.is_empty() {
            return;
        }
        // By contact, then by place in the log: the last of a contact's changes is what
        // holds.
        sort_by_contact(log, &mut self.scratch);
        let mut enter = Vec::new();
        let mut leave = Vec::new();
        for (k, x) in log.iter().enumerate() {
            let c = x >> SHIFT;
            if log.get(k + 1).is_some_and(|n| n >> SHIFT == c) {
                continue;
            }
            if x & 1 == 1 {
                enter.push(c as u32);
            } else {
                leave.push(c as u32);
            }
        }
        log.clear();
        let b = &mut self.bitmaps[i];
        if !enter.is_empty() {
            *b |= RoaringBitmap::from_sorted_iter(enter).expect("sorted, distinct");
        }
        if !leave.is_empty() {
            *b -= RoaringBitmap::from_sorted_iter(leave).expect("sorted, distinct");
        }
    }

    /// Predicate `i`'s bitmap, every change folded in; `None` for an unknown predicate.
    pub(crate) fn bitmap(&mut self, i: usize) -> Option<&RoaringBitmap> {
        if i >= self.bitmaps.len() {
            return None;
        }
        self.fold(i);
        Some(&self.bitmaps[i])
    }

    /// Every bitmap, every change folded in.
    pub(crate) fn all(&mut self) -> &[RoaringBitmap] {
        for i in 0..self.bitmaps.len() {
            self.fold(i);
        }
        &self.bitmaps
    }

    /// Heap bytes of the logs of pending changes (and of the sort's buffer).
    pub(crate) fn pending_bytes(&self) -> usize {
        let logs: usize = self.pending.iter().map(|p| p.capacity()).sum();
        (logs + self.scratch.capacity()) * 8
    }
}

/// Sorts a log of changes by contact, then by place in the log, as a plain sort of its
/// numbers would. The log is in place order, so a stable sort by contact alone gives that
/// order: a radix sort of the contact's bits (see [`radix`]).
fn sort_by_contact(log: &mut Vec<u64>, scratch: &mut Vec<u64>) {
    if log.len() < radix::RADIX_FROM {
        // Each entry is distinct (its place), so an unstable sort gives the one order.
        log.sort_unstable();
        return;
    }
    let contact = radix::Bits::used(log, SHIFT, u64::BITS - SHIFT);
    radix::sort(log, scratch, &[contact]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// A log sorts as a plain sort of its numbers does, whatever its length (on either
        /// side of `radix::RADIX_FROM`) and however large its contacts.
        #[test]
        fn a_log_sorts_by_contact_then_place(
            contacts in proptest::collection::vec(any::<u32>(), 0..1500),
            small in any::<bool>(),
        ) {
            let log: Vec<u64> = contacts
                .iter()
                .enumerate()
                .map(|(place, c)| {
                    let c = if small { c % 50 } else { *c };
                    u64::from(c) << SHIFT | (place as u64) << 1 | u64::from(c % 3 == 0)
                })
                .collect();
            let mut want = log.clone();
            want.sort_unstable();
            let mut got = log;
            sort_by_contact(&mut got, &mut Vec::new());
            prop_assert_eq!(got, want);
        }

        /// Any sequence of changes, read at any points, reads as the changes applied one by
        /// one (ids spread over several containers, many changes per id).
        #[test]
        fn reads_see_every_change(
            steps in proptest::collection::vec((0u32..3000, any::<bool>(), 0u8..40), 0..4000),
        ) {
            let mut m = Memberships::new(2);
            let mut model = [BTreeSet::new(), BTreeSet::new()];
            for (c, on, read) in steps {
                let id = c * 97;
                let i = usize::from(read % 2);
                m.set(i, id, on);
                if on {
                    model[i].insert(id);
                } else {
                    model[i].remove(&id);
                }
                if read == 0 {
                    let got: Vec<u32> = m.bitmap(i).unwrap().iter().collect();
                    prop_assert_eq!(got, model[i].iter().copied().collect::<Vec<_>>());
                }
            }
            for (i, want) in model.iter().enumerate() {
                let got: Vec<u32> = m.all()[i].iter().collect();
                prop_assert_eq!(got, want.iter().copied().collect::<Vec<_>>());
            }
            prop_assert!(m.bitmap(2).is_none());
        }
    }
    /// Long runs of changes without a read fold as the logs fill, and what they folded
    /// reads as the changes applied one by one.
    #[test]
    fn full_logs_fold_by_themselves() {
        let mut m = Memberships::new(1);
        let mut model = BTreeSet::new();
        let mut x: u64 = 7;
        for _ in 0..3 * PENDING + 17 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = (x >> 40) as u32 % 200_000;
            let on = x & (1 << 20) != 0;
            m.set(0, id, on);
            if on {
                model.insert(id);
            } else {
                model.remove(&id);
            }
        }
        assert!(m.pending[0].len() < PENDING, "the log folded as it filled");
        let got: Vec<u32> = m.bitmap(0).unwrap().iter().collect();
        assert_eq!(got, model.into_iter().collect::<Vec<_>>());
    }
}
