//! A shard's timer queue: a min-heap of `(instant, contact)` with four children per node.
//!
//! A shard pops about one timer per event it applies (1.6 pushes and 1.2 pops per event in
//! the harness's fifty-segment month), out of a queue of tens of thousands. In a binary heap
//! every pop walks some fifteen levels, and below the first few each level is a cache miss.
//! With four children a level holds four times as many entries, so a pop walks half as many
//! levels, and the four children it compares are 64 contiguous bytes. Entries equal in time
//! come out in contact order, as from the `BinaryHeap<Reverse<_>>` this replaces.
//!
//! A timer that is superseded (the contact was evaluated again and its next instant moved)
//! stays in the queue; the shard skips it when it comes out (see `ShardState::fire`).

use crate::event::Ts;

/// Children per node.
const D: usize = 4;

/// One pending timer: the instant and the contact id.
pub(crate) type Timer = (Ts, u32);

/// Min-heap of timers, earliest first (ties by contact id).
#[derive(Debug, Default, Clone)]
pub(crate) struct TimerHeap {
    v: Vec<Timer>,
}

impl TimerHeap {
    /// A heap of `timers`, in any order.
    pub(crate) fn from_vec(timers: Vec<Timer>) -> TimerHeap {
        let mut h = TimerHeap { v: timers };
        let n = h.v.len();
        if n > 1 {
            for i in (0..=(n - 2) / D).rev() {
                let x = h.v[i];
                h.sift_down(i, x);
            }
        }
        h
    }

    pub(crate) fn len(&self) -> usize {
        self.v.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.v.capacity()
    }

    /// The earliest timer.
    pub(crate) fn peek(&self) -> Option<Timer> {
        self.v.first().copied()
    }

    pub(crate) fn push(&mut self, x: Timer) {
        let mut i = self.v.len();
        self.v.push(x);
        while i > 0 {
            let p = (i - 1) / D;
            if self.v[p] <= x {
                break;
            }
            self.v[i] = self.v[p];
            i = p;
        }
        self.v[i] = x;
    }

    /// Removes and returns the earliest timer.
    pub(crate) fn pop(&mut self) -> Option<Timer> {
        let last = self.v.pop()?;
        if self.v.is_empty() {
            return Some(last);
        }
        let top = self.v[0];
        self.sift_down(0, last);
        Some(top)
    }

    /// Puts `x` at `i` (a hole) and moves it down to its place.
    fn sift_down(&mut self, mut i: usize, x: Timer) {
        let n = self.v.len();
        loop {
            let first = D * i + 1;
            if first >= n {
                break;
            }
            let end = (first + D).min(n);
            let mut m = first;
            for c in first + 1..end {
                if self.v[c] < self.v[m] {
                    m = c;
                }
            }
            if self.v[m] >= x {
                break;
            }
            self.v[i] = self.v[m];
            i = m;
        }
        self.v[i] = x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Pushes and pops, interleaved, come out as from a sorted list.
        #[test]
        fn pops_in_order(ops in proptest::collection::vec((any::<bool>(), -50i64..50, 0u32..8), 0..300),
                         start in proptest::collection::vec((-50i64..50, 0u32..8), 0..60)) {
            let mut h = TimerHeap::from_vec(start.clone());
            let mut model = start;
            for (push, t, c) in ops {
                if push {
                    h.push((t, c));
                    model.push((t, c));
                } else {
                    model.sort_unstable();
                    let want = if model.is_empty() { None } else { Some(model.remove(0)) };
                    prop_assert_eq!(h.pop(), want);
                }
                model.sort_unstable();
                prop_assert_eq!(h.peek(), model.first().copied());
                prop_assert_eq!(h.len(), model.len());
            }
            model.sort_unstable();
            while let Some(x) = h.pop() {
                prop_assert_eq!(Some(x), if model.is_empty() { None } else { Some(model.remove(0)) });
            }
            prop_assert!(model.is_empty());
        }
    }
}
