//! A shard's hand-over queue: bounded, many producers, one consumer at a time, and that
//! consumer reads the waiting values where they lie.
//!
//! Producers are the ingesting threads; the consumer is whichever thread holds the shard's
//! state lock. The protocol is Dmitry Vyukov's bounded queue (the one `crossbeam`'s
//! `ArrayQueue` uses): every slot carries a stamp that says which position it is free for
//! (`stamp == pos`) or holds the value of (`stamp == pos + 1`), so a producer claims a
//! position with one compare-and-swap on `tail` and publishes its value with one store.
//!
//! What `ArrayQueue` could not do, and the reason this module exists, is the consumer's side.
//! A shard looks at the operations a few places behind the front to load their contacts
//! while it applies the front one, and it applies most operations by reference. Through
//! `ArrayQueue` each operation (176 bytes) was moved out of the queue, into a look-ahead
//! queue, and out again: seven copies an event in the one-segment profile, 5.6 % of its
//! instructions. Here [`Ring::peek`] lends the value in its slot, and [`Ring::discard`] drops
//! it there.
//!
//! The consumer's rights are a [`Consumer`], made once with the ring; every consumer method
//! takes it, by `&mut` where it moves the front, so a lent value cannot outlive its slot.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{fence, AtomicUsize, Ordering};

use crossbeam::utils::{Backoff, CachePadded};

struct Slot<T> {
    /// `pos` when the slot is free for the value of position `pos`; `pos + 1` once that
    /// value is written. Positions count up for ever (a `usize` does not wrap in practice,
    /// and the comparisons wrap anyway).
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// The queue. See the module docs.
pub(crate) struct Ring<T> {
    /// The next position to consume. Only the consumer writes it (after freeing the slot);
    /// producers read it to tell a full ring from a slot about to be freed.
    head: CachePadded<AtomicUsize>,
    /// The next position to claim.
    tail: CachePadded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    /// `slots.len() - 1`; the length is a power of two.
    mask: usize,
}

// SAFETY: values move between threads through the ring (so `T: Send`), and every access to a
// slot's value is ordered by its stamp: a producer writes only a slot it claimed and has not
// published, the consumer reads only a published slot it has not freed (see `push`, `peek`,
// `pop`, `discard`). Values are never shared between threads, only handed over, so `T` need
// not be `Sync`.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above; `&Ring` gives producers `push` and the holder of the `Consumer` the rest.
unsafe impl<T: Send> Sync for Ring<T> {}

/// The right to take values from one [`Ring`]: one is made with the ring, and it holds the
/// consumer's position.
#[derive(Debug)]
pub(crate) struct Consumer {
    head: usize,
    /// The ring this belongs to (its slots' address), checked on every use.
    ring: usize,
}

/// A position of a [`Ring`] claimed for one value. The consumer waits at this position
/// until the value is written, so nothing that could return early or unwind may come between
/// the claim and [`Claimed::write`]; dropping it unwritten would stop the ring.
#[must_use = "the consumer waits until the claimed position is written"]
pub(crate) struct Claimed<'a, T> {
    slot: &'a Slot<T>,
    pos: usize,
}

impl<T> Claimed<'_, T> {
    /// Puts `value` at the claimed position and publishes it to the consumer.
    #[inline(always)]
    pub(crate) fn write(self, value: T) {
        // SAFETY: `claim` made this thread the only one to hold position `pos`, whose slot is
        // free (its stamp said so, and the consumer frees a slot before moving `head`, with
        // Release); no one reads the value until the stamp below publishes it.
        unsafe { (*self.slot.value.get()).write(value) };
        self.slot
            .stamp
            .store(self.pos.wrapping_add(1), Ordering::Release);
    }
}

impl<T> Ring<T> {
    /// A ring of at least `capacity` slots (rounded up to a power of two, at least two), and
    /// its one consumer.
    pub(crate) fn new(capacity: usize) -> (Ring<T>, Consumer) {
        let n = capacity.max(2).next_power_of_two();
        let slots: Box<[Slot<T>]> = (0..n)
            .map(|i| Slot {
                stamp: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        let rx = Consumer {
            head: 0,
            ring: slots.as_ptr() as usize,
        };
        let ring = Ring {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            slots,
            mask: n - 1,
        };
        (ring, rx)
    }

    /// How many values it holds at most.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Adds `value` at the back, or gives it back when the ring is full (the engine claims
    /// a place first, see [`Ring::try_claim`]).
    #[cfg(test)]
    pub(crate) fn push(&self, value: T) -> Result<(), T> {
        match self.try_claim() {
            Some(place) => {
                place.write(value);
                Ok(())
            }
            None => Err(value),
        }
    }

    /// The back position, claimed for a value that [`Claimed::write`] puts there; `None`
    /// when the ring is full. The value can then be built where it goes (an operation built
    /// first and pushed was copied into the slot two or three more times).
    #[inline(always)]
    pub(crate) fn try_claim(&self) -> Option<Claimed<'_, T>> {
        self.claim().map(|(slot, pos)| Claimed { slot, pos })
    }

    /// Claims the next position for a value, or says the ring is full.
    #[inline(always)]
    fn claim(&self) -> Option<(&Slot<T>, usize)> {
        let backoff = Backoff::new();
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = &self.slots[tail & self.mask];
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // Free for this position: claim it.
                match self.tail.compare_exchange_weak(
                    tail,
                    tail.wrapping_add(1),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Some((slot, tail)),
                    Err(t) => {
                        tail = t;
                        backoff.spin();
                    }
                }
            } else if (stamp.wrapping_sub(tail) as isize) < 0 {
                // The slot still holds (or is about to hold) the value one lap back: the ring
                // is full unless the consumer has just taken that value.
                fence(Ordering::SeqCst);
                let head = self.head.load(Ordering::Acquire);
                if head.wrapping_add(self.slots.len()) == tail {
                    return None;
                }
                backoff.spin();
                tail = self.tail.load(Ordering::Relaxed);
            } else {
                // Another producer claimed this position first.
                backoff.spin();
                tail = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Whether no position is claimed and not yet consumed (a value being written counts as
    /// there).
    pub(crate) fn is_empty(&self) -> bool {
        let head = self.head.load(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::SeqCst);
        head == tail
    }

    fn check(&self, rx: &Consumer) {
        assert_eq!(
            rx.ring,
            self.slots.as_ptr() as usize,
            "a ring's values are taken with its own consumer"
        );
    }

    /// The value `k` places behind the front, lent where it lies, if it is written (a value
    /// before it may still be being written).
    #[inline]
    pub(crate) fn peek<'a>(&'a self, rx: &'a Consumer, k: usize) -> Option<&'a T> {
        self.check(rx);
        if k >= self.slots.len() {
            return None;
        }
        let pos = rx.head.wrapping_add(k);
        let slot = &self.slots[pos & self.mask];
        if slot.stamp.load(Ordering::Acquire) != pos.wrapping_add(1) {
            return None;
        }
        // SAFETY: the stamp (read with Acquire, pairing with the producer's Release) says the
        // value of position `pos` is written. `pos` is at or after the consumer's head and
        // less than a lap ahead of it, so the value is not consumed: it stays in its slot, and
        // no producer touches the slot, until the consumer frees it, which needs `&mut rx`,
        // and the returned reference borrows `rx`.
        Some(unsafe { (*slot.value.get()).assume_init_ref() })
    }

    /// The front slot, if its value is written.
    fn front(&self, rx: &Consumer) -> Option<&Slot<T>> {
        self.check(rx);
        let slot = &self.slots[rx.head & self.mask];
        (slot.stamp.load(Ordering::Acquire) == rx.head.wrapping_add(1)).then_some(slot)
    }

    /// Frees the front slot (its value already moved out or dropped) for the position a lap
    /// on, and moves the front.
    fn release(&self, rx: &mut Consumer, slot: &Slot<T>) {
        slot.stamp
            .store(rx.head.wrapping_add(self.slots.len()), Ordering::Release);
        rx.head = rx.head.wrapping_add(1);
        self.head.store(rx.head, Ordering::Release);
    }

    /// Takes the front value, if it is written.
    #[inline]
    pub(crate) fn pop(&self, rx: &mut Consumer) -> Option<T> {
        let slot = self.front(rx)?;
        // SAFETY: `front` checked that the value is written and not consumed; it is read out
        // once, and `release` marks the slot free before anything could read it again.
        let value = unsafe { (*slot.value.get()).assume_init_read() };
        self.release(rx, slot);
        Some(value)
    }

    /// Drops the front value where it lies; says whether there was one (written).
    #[inline]
    pub(crate) fn discard(&self, rx: &mut Consumer) -> bool {
        let Some(slot) = self.front(rx) else {
            return false;
        };
        // SAFETY: as in `pop`, but the value is dropped in place instead of read out.
        unsafe { (*slot.value.get()).assume_init_drop() };
        self.release(rx, slot);
        true
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // With `&mut self` no producer is half-way through a push, so every position from the
        // head to the tail holds a written value.
        let head = *self.head.get_mut();
        let tail = *self.tail.get_mut();
        let mut pos = head;
        while pos != tail {
            let slot = &mut self.slots[pos & self.mask];
            debug_assert_eq!(*slot.stamp.get_mut(), pos.wrapping_add(1));
            // SAFETY: written (see above) and not consumed (at or after the head).
            unsafe { slot.value.get_mut().assume_init_drop() };
            pos = pos.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn values_come_out_in_order_and_a_full_ring_gives_the_value_back() {
        let (ring, mut rx) = Ring::new(3);
        assert_eq!(ring.capacity(), 4);
        assert!(ring.is_empty());
        for i in 0..4 {
            ring.push(i).unwrap();
        }
        assert_eq!(ring.push(9), Err(9));
        assert_eq!(ring.peek(&rx, 0), Some(&0));
        assert_eq!(ring.peek(&rx, 3), Some(&3));
        assert_eq!(ring.peek(&rx, 4), None);
        assert_eq!(ring.pop(&mut rx), Some(0));
        assert!(ring.discard(&mut rx));
        ring.push(4).unwrap();
        ring.push(5).unwrap();
        assert_eq!(ring.push(6), Err(6));
        let rest: Vec<_> = std::iter::from_fn(|| ring.pop(&mut rx)).collect();
        assert_eq!(rest, [2, 3, 4, 5]);
        assert!(ring.is_empty());
        assert!(!ring.discard(&mut rx));
        assert_eq!(ring.peek(&rx, 0), None);
    }

    #[test]
    fn values_left_in_the_ring_are_dropped_with_it() {
        let counted = Arc::new(());
        let (ring, mut rx) = Ring::new(8);
        for _ in 0..5 {
            ring.push(Arc::clone(&counted)).unwrap();
        }
        assert!(ring.discard(&mut rx));
        drop(ring.pop(&mut rx));
        assert_eq!(Arc::strong_count(&counted), 4);
        drop(ring);
        assert_eq!(Arc::strong_count(&counted), 1);
    }

    #[test]
    #[should_panic(expected = "its own consumer")]
    fn another_rings_consumer_is_refused() {
        let (a, _) = Ring::<u32>::new(4);
        let (_b, mut rx) = Ring::<u32>::new(4);
        a.push(1).unwrap();
        a.pop(&mut rx);
    }

    /// Four producers push numbered values through a small ring while one consumer, taking
    /// turns through a mutex as shards do, peeks ahead, pops and discards: every value comes
    /// out exactly once, each producer's in its order, and every peeked value is the one that
    /// later comes out at that place.
    #[test]
    fn many_producers_and_a_consumer_lose_nothing() {
        let per: u64 = if cfg!(miri) { 200 } else { 20_000 };
        let (ring, rx) = Ring::<(u64, u64)>::new(16);
        let ring = Arc::new(ring);
        let rx = Arc::new(parking_lot::Mutex::new((rx, Vec::new())));
        let producers: Vec<_> = (0..4u64)
            .map(|p| {
                let ring = Arc::clone(&ring);
                let rx = Arc::clone(&rx);
                std::thread::spawn(move || {
                    for i in 0..per {
                        let mut v = (p, i);
                        while let Err(back) = ring.push(v) {
                            v = back;
                            // A full ring: take a turn as the consumer, as shards do.
                            if let Some(mut guard) = rx.try_lock() {
                                let (rx, out) = &mut *guard;
                                drain(&ring, rx, out);
                            }
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for t in producers {
            t.join().unwrap();
        }
        let mut guard = rx.lock();
        let (c, out) = &mut *guard;
        drain(&ring, c, out);
        assert!(ring.is_empty());
        assert_eq!(out.len() as u64, 4 * per);
        for p in 0..4 {
            let mine: Vec<u64> = out.iter().filter(|v| v.0 == p).map(|v| v.1).collect();
            assert_eq!(mine, (0..per).collect::<Vec<_>>(), "producer {p}");
        }
    }

    fn drain(ring: &Ring<(u64, u64)>, rx: &mut Consumer, out: &mut Vec<(u64, u64)>) {
        loop {
            let ahead = ring.peek(rx, 3).copied();
            let Some(&front) = ring.peek(rx, 0) else {
                return;
            };
            // Alternate the two ways a value leaves.
            if out.len().is_multiple_of(2) {
                assert_eq!(ring.pop(rx), Some(front));
            } else {
                assert!(ring.discard(rx));
            }
            out.push(front);
            if let Some(a) = ahead {
                assert_eq!(ring.peek(rx, 2), Some(&a), "a peeked value stays in place");
            }
        }
    }
}
