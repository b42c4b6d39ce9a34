//! A shard's timer queue: `(instant, contact)` pairs, earliest first, ties by contact id.
//!
//! A shard pops about one timer per event it applies (1.6 pushes and 1.2 pops per event in
//! the harness's fifty-segment month) out of tens of thousands waiting. A heap pays for that
//! with a walk down its levels on every pop, and below the first few levels each step is a
//! cache miss (a four-ary heap's pops were 11 % of the fifty-segment time at a million
//! contacts). Timers come out almost in the order time passes, so this queue sorts them
//! lazily instead, by time bucket:
//!
//! - The later buckets are each an unsorted vector: a push appends, with no comparisons
//!   beyond finding the bucket. Buckets are fine (2^22 ms, about 70 minutes) up to the end of
//!   the next 2^28 ms (about three days), and coarse (2^28 ms) beyond: timers weeks ahead are
//!   too sparse for fine buckets, whose vectors then cost more than the timers. A coarse
//!   bucket, when it is the earliest, is spread into fine ones. The fine buckets that can
//!   hold timers are at most 128 consecutive ones, so they live in a ring of 128 vectors,
//!   found by the bucket's number, with a bit each for the non-empty ones (`fine`, `full`),
//!   starting with the bucket after `near`'s;
//!   the coarse ones, few and far apart, in an ordered map (`far`). (All buckets were in the
//!   map until the twenty-second session: finding a fine bucket there was a fifth of a
//!   push.)
//! - `near` holds the earliest bucket, sorted once when it is taken from `far`: a pop takes
//!   the next element of the run.
//! - `soon` is a small heap for pushes no later than `near`'s end (a timer due within the
//!   hour, or in the past after a late event). Inserting those into the sorted run instead
//!   shifted thousands of entries each time.
//!
//! So most timers are sorted once, in a small contiguous run, and the next ones to fire are
//! known ([`TimerQueue::upcoming`]), which lets the shard load their contacts a few timers
//! ahead.
//!
//! A bucket holds its timers as 8-byte keys, `(instant − bucket start) << 32 | contact` (an
//! offset within a coarse bucket takes 28 bits): half the bytes of an `(instant, contact)`
//! pair to append, copy as a vector grows and sort, and one integer comparison per step of
//! the sort instead of two.
//!
//! A timer that is superseded (the contact was evaluated again and its next instant moved)
//! stays in the queue; the shard skips it when it comes out (see `ShardState::fire`).

use crate::event::Ts;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// One pending timer: the instant and the contact id.
pub(crate) type Timer = (Ts, u32);

/// Fine bucket width as a power of two: 2^22 ms, about 70 minutes.
const FINE_BITS: u32 = 22;

/// Coarse bucket width as a power of two: 2^28 ms, about three days.
const COARSE_BITS: u32 = 28;

/// Fine bucket width in milliseconds.
const WIDTH: i64 = 1 << FINE_BITS;

/// Emptied vectors kept for new buckets, at most.
const SPARE: usize = 8;

/// Where the bucket of `2^bits` ms that holds `t` starts.
fn start(t: Ts, bits: u32) -> Ts {
    (t >> bits) << bits
}

/// Fine buckets that can hold timers at once, at most: those after `near`'s up to the end of
/// the next coarse bucket.
const RING: usize = 2 << (COARSE_BITS - FINE_BITS);

/// A timer in a bucket starting at some instant: its offset from that start in the high 32
/// bits, its contact in the low 32, so that keys sort as the timers do.
type Packed = u64;

fn pack(start: Ts, (t, c): Timer) -> Packed {
    debug_assert!(t >= start && t - start < 1 << COARSE_BITS);
    ((t - start) as u64) << 32 | u64::from(c)
}

fn unpack(start: Ts, x: Packed) -> Timer {
    (start + (x >> 32) as i64, x as u32)
}

/// Timers, earliest first (ties by contact id).
#[derive(Debug, Clone)]
pub(crate) struct TimerQueue {
    /// The earliest bucket, sorted, from `head` on (all before the end of the bucket that
    /// starts at `near_start`: see [`TimerQueue::near_last`]), packed from `near_start`.
    near: Vec<Packed>,
    head: usize,
    near_start: Ts,
    /// Timers pushed at or before `near_last` after `near` was sorted.
    soon: BinaryHeap<Reverse<Timer>>,
    /// Later fine buckets, unsorted, packed from their starts: bucket `b` (its start
    /// `b << FINE_BITS`) at `b % RING`. Every non-empty one is among the `RING` buckets from
    /// [`TimerQueue::base`] on.
    fine: Box<[Vec<Packed>; RING]>,
    /// Which of `fine` hold timers, a bit each.
    full: u128,
    /// Coarse buckets by start, unsorted, packed from their starts.
    far: BTreeMap<Ts, Vec<Packed>>,
    len: usize,
    /// Emptied vectors, reused for new buckets.
    spare: Vec<Vec<Packed>>,
}

impl Default for TimerQueue {
    fn default() -> TimerQueue {
        TimerQueue {
            near: Vec::new(),
            head: 0,
            near_start: Ts::MIN,
            soon: BinaryHeap::new(),
            fine: Box::new(std::array::from_fn(|_| Vec::new())),
            full: 0,
            far: BTreeMap::new(),
            len: 0,
            spare: Vec::new(),
        }
    }
}

impl TimerQueue {
    /// A queue of `timers`, in any order.
    pub(crate) fn from_vec(timers: Vec<Timer>) -> TimerQueue {
        let mut q = TimerQueue::default();
        for t in timers {
            q.push(t);
        }
        q
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes the queue holds on the heap: vectors' capacities, the ring, and about 48 bytes
    /// per coarse bucket for the map's nodes.
    pub(crate) fn heap_bytes(&self) -> usize {
        let packed = self.near.capacity()
            + self.fine.iter().map(Vec::capacity).sum::<usize>()
            + self.far.values().map(Vec::capacity).sum::<usize>()
            + self.spare.iter().map(Vec::capacity).sum::<usize>();
        packed * std::mem::size_of::<Packed>()
            + std::mem::size_of::<[Vec<Packed>; RING]>()
            + self.soon.capacity() * std::mem::size_of::<Timer>()
            + self.far.len() * 48
    }

    /// The last instant of `near`'s bucket: every timer in `far` is after it. (A bucket starts
    /// at a multiple of its width, so this does not overflow.)
    fn near_last(&self) -> Ts {
        self.near_start + (WIDTH - 1)
    }

    /// The sorted run's timer at `i`.
    fn run_at(&self, i: usize) -> Option<Timer> {
        self.near.get(i).map(|&x| unpack(self.near_start, x))
    }

    /// The earliest timer, and whether it is the sorted run's (sorting the next bucket when
    /// both the run and `soon` are used up).
    fn first(&mut self) -> Option<(Timer, bool)> {
        // Every operation a shard applies looks here first; with rules that set no timers,
        // looking for a bucket to refill from cost 60 instructions an event.
        if self.len == 0 {
            return None;
        }
        if self.head == self.near.len() && self.soon.is_empty() {
            self.refill();
        }
        match (self.run_at(self.head), self.soon.peek()) {
            (Some(r), Some(&Reverse(s))) if s < r => Some((s, false)),
            (Some(r), _) => Some((r, true)),
            (None, Some(&Reverse(s))) => Some((s, false)),
            (None, None) => None,
        }
    }

    /// The earliest timer (the shard looks with [`TimerQueue::pop_if`]).
    #[cfg(test)]
    fn peek(&mut self) -> Option<Timer> {
        self.first().map(|(t, _)| t)
    }

    /// The sorted run's timer `k` places after its next one: one of the next timers to fire
    /// (a timer pushed since for the same hour can come between), for loading contacts ahead.
    pub(crate) fn upcoming(&self, k: usize) -> Option<Timer> {
        self.run_at(self.head + k)
    }

    pub(crate) fn push(&mut self, x: Timer) {
        self.len += 1;
        let near_last = self.near_last();
        if x.0 <= near_last {
            self.soon.push(Reverse(x));
        } else if (x.0 >> COARSE_BITS) <= (near_last >> COARSE_BITS).saturating_add(1) {
            self.put_fine(x);
        } else {
            let spare = &mut self.spare;
            let at = start(x.0, COARSE_BITS);
            self.far
                .entry(at)
                .or_insert_with(|| spare.pop().unwrap_or_default())
                .push(pack(at, x));
        }
    }

    /// The first fine bucket the ring holds: the one after `near`'s.
    fn base(&self) -> i64 {
        (self.near_start >> FINE_BITS) + 1
    }

    /// Appends `x` to its fine bucket, which must be one the ring holds.
    fn put_fine(&mut self, x: Timer) {
        let b = x.0 >> FINE_BITS;
        debug_assert!(
            b >= self.base() && b - self.base() < RING as i64,
            "a bucket off the ring"
        );
        let k = b as usize % RING;
        let v = &mut self.fine[k];
        if v.capacity() == 0 {
            if let Some(s) = self.spare.pop() {
                *v = s;
            }
        }
        v.push(pack(b << FINE_BITS, x));
        self.full |= 1 << k;
    }

    /// The earliest non-empty fine bucket: its number and its place in the ring.
    fn first_fine(&self) -> Option<(i64, usize)> {
        if self.full == 0 {
            return None;
        }
        let base = self.base();
        let from = base as usize % RING;
        let off = self.full.rotate_right(from as u32).trailing_zeros() as usize;
        Some((base + off as i64, (from + off) % RING))
    }

    /// Keeps an emptied vector for a new bucket.
    fn recycle(&mut self, mut v: Vec<Packed>) {
        if v.capacity() > 0 && self.spare.len() < SPARE {
            v.clear();
            self.spare.push(v);
        }
    }

    /// Removes and returns the earliest timer.
    #[cfg(test)]
    fn pop(&mut self) -> Option<Timer> {
        self.pop_if(|_| true)
    }

    /// Removes and returns the earliest timer when `take` says so (one look at the front
    /// for both the test and the removal).
    pub(crate) fn pop_if(&mut self, take: impl FnOnce(Timer) -> bool) -> Option<Timer> {
        let (t, run) = self.first()?;
        if !take(t) {
            return None;
        }
        self.len -= 1;
        if run {
            self.head += 1;
        } else {
            self.soon.pop();
        }
        Some(t)
    }

    /// Makes the earliest bucket the sorted `near` (which is used up, as is `soon`). A
    /// coarse bucket that starts no later than the earliest fine one is spread into fine ones
    /// first. Then no fine bucket is earlier than it, and none is later than the next coarse
    /// one's end (fine ones are made only that far ahead), so the ring holds them all; with
    /// none, `near` (used up) moves to the bucket before it, so that the ring starts at it.
    fn refill(&mut self) {
        loop {
            let fine = self.first_fine();
            let coarse = self.far.first_key_value().map(|(at, _)| *at);
            if let Some(at) = coarse.filter(|at| fine.is_none_or(|(b, _)| *at <= b << FINE_BITS)) {
                let (_, mut next) = self.far.pop_first().expect("a coarse bucket");
                if fine.is_none() {
                    // A multiple of the width after `near_last`: this does not overflow.
                    self.near_start = at - WIDTH;
                }
                for x in next.drain(..) {
                    self.put_fine(unpack(at, x));
                }
                self.recycle(next);
                continue;
            }
            let Some((b, k)) = fine else {
                return;
            };
            let mut next = std::mem::take(&mut self.fine[k]);
            self.full &= !(1 << k);
            next.sort_unstable();
            let used = std::mem::replace(&mut self.near, next);
            self.head = 0;
            self.recycle(used);
            self.near_start = b << FINE_BITS;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Instants over a few buckets, with the ends of time now and then.
    fn instant() -> impl Strategy<Value = Ts> {
        prop_oneof![
            6 => (-3i64..4, 0i64..6).prop_map(|(b, o)| b * WIDTH + o * (WIDTH / 4) - 1),
            2 => (-3i64..200, 0i64..3).prop_map(|(b, o)| b * (WIDTH << 3) + o - 1),
            1 => Just(Ts::MIN),
            1 => Just(Ts::MAX),
            1 => Just(Ts::MAX - 1),
        ]
    }

    proptest! {
        /// Pushes and pops, interleaved, come out as from a sorted list; the timers known
        /// ahead are queued ones.
        #[test]
        fn pops_in_order(ops in proptest::collection::vec((any::<bool>(), instant(), 0u32..8), 0..300),
                         start in proptest::collection::vec((instant(), 0u32..8), 0..60)) {
            let mut q = TimerQueue::from_vec(start.clone());
            let mut model = start;
            for (push, t, c) in ops {
                if push {
                    q.push((t, c));
                    model.push((t, c));
                } else if c % 4 == 0 {
                    // A conditional pop that declines leaves the queue as it was.
                    model.sort_unstable();
                    prop_assert_eq!(q.pop_if(|_| false), None);
                    let limit = (t, c);
                    let want = model.first().copied().filter(|x| *x <= limit);
                    if want.is_some() {
                        model.remove(0);
                    }
                    prop_assert_eq!(q.pop_if(|x| x <= limit), want);
                } else {
                    model.sort_unstable();
                    let want = if model.is_empty() { None } else { Some(model.remove(0)) };
                    prop_assert_eq!(q.pop(), want);
                }
                model.sort_unstable();
                prop_assert_eq!(q.peek(), model.first().copied());
                prop_assert_eq!(q.len(), model.len());
                // The timers known ahead are queued ones, in order, none before the earliest.
                let ahead: Vec<Timer> = (0..3).map_while(|k| q.upcoming(k)).collect();
                for (k, u) in ahead.iter().enumerate() {
                    prop_assert!(model.contains(u));
                    prop_assert!(Some(*u) >= model.first().copied());
                    if k > 0 {
                        prop_assert!(ahead[k - 1] <= *u);
                    }
                }
            }
            model.sort_unstable();
            while let Some(x) = q.pop() {
                prop_assert_eq!(Some(x), if model.is_empty() { None } else { Some(model.remove(0)) });
            }
            prop_assert!(model.is_empty());
            prop_assert_eq!(q.len(), 0);
        }
    }

    /// A long run as a shard sees it: time moves on, each pop pushes the contact's next
    /// instant minutes to months ahead, and events push timers for now and the past too.
    /// The ring wraps many times over; the queue pops what a heap pops.
    #[test]
    fn a_long_run_pops_as_a_heap_does() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        const MINUTE: i64 = 60_000;
        let ahead = |r: u64| match r % 8 {
            0 => -((r >> 8) as i64 % (120 * MINUTE)),
            1..=4 => (r >> 8) as i64 % (2 * 24 * 60 * MINUTE),
            5 | 6 => (r >> 8) as i64 % (30 * 24 * 60 * MINUTE),
            _ => (r >> 8) as i64 % (400 * 24 * 60 * MINUTE),
        };
        let mut q = TimerQueue::default();
        let mut heap = BinaryHeap::new();
        let mut now: Ts = 1_780_000_000_000;
        for c in 0..2_000u32 {
            let t = now + ahead(next());
            q.push((t, c));
            heap.push(Reverse((t, c)));
        }
        for _ in 0..200_000 {
            now += (next() % (20 * MINUTE as u64)) as i64;
            while let Some(t) = q.pop_if(|(t, _)| t <= now) {
                assert_eq!(Some(Reverse(t)), heap.pop());
                let r = next();
                if r % 5 != 0 {
                    let u = (now + ahead(r).abs(), t.1);
                    q.push(u);
                    heap.push(Reverse(u));
                }
            }
            let r = next();
            let u = (now + ahead(r), (r >> 40) as u32 % 2_000);
            q.push(u);
            heap.push(Reverse(u));
            assert_eq!(q.len(), heap.len());
        }
        while let Some(t) = q.pop() {
            assert_eq!(Some(Reverse(t)), heap.pop());
        }
        assert!(heap.is_empty());
    }

    /// Buckets holding thousands of timers (contacts over all 32 bits, ties in time) pop in
    /// order, as do small ones.
    #[test]
    fn full_buckets_pop_in_order() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let now: Ts = 1_780_000_000_000;
        for n in [3, 600, 5_000] {
            let mut q = TimerQueue::default();
            let mut want = Vec::new();
            for _ in 0..n {
                let r = next();
                // Three buckets' worth of instants, a hundred of them: many ties.
                let t = now + (r % 100) as i64 * (3 * WIDTH / 100);
                let timer = (t, (r >> 32) as u32);
                q.push(timer);
                want.push(timer);
            }
            want.sort_unstable();
            let got: Vec<Timer> = std::iter::from_fn(|| q.pop()).collect();
            assert_eq!(got, want, "{n} timers");
        }
    }

    #[test]
    fn buckets_start_at_multiples_of_their_width() {
        assert_eq!(start(WIDTH - 1, FINE_BITS), 0);
        assert_eq!(start(-1, FINE_BITS), -WIDTH);
        assert_eq!(start(Ts::MAX, FINE_BITS) + (WIDTH - 1), Ts::MAX);
        assert_eq!(start(Ts::MIN + WIDTH - 1, FINE_BITS), Ts::MIN);
        assert_eq!(start(3 << COARSE_BITS | 5, COARSE_BITS), 3 << COARSE_BITS);
    }
}
