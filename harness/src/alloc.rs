//! A global allocator that counts the bytes live, so memory figures are measured.
//!
//! The count is striped: each thread adds into its own cache-padded slot (a read sums them).
//! One shared counter would be a write to the same cache line on every allocation and free
//! of every thread — in the multi-thread runs that made the harness itself the bottleneck.

use std::alloc::{GlobalAlloc, Layout};

#[cfg(not(feature = "mimalloc"))]
use std::alloc::System as Inner;

#[cfg(feature = "mimalloc")]
use mimalloc::MiMalloc as Inner;
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

const STRIPES: usize = 64;

/// A thread's counts: bytes live, and calls that took memory (allocations and reallocations).
#[repr(align(128))]
struct Slot(AtomicIsize, AtomicUsize);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: Slot = Slot(AtomicIsize::new(0), AtomicUsize::new(0));
static LIVE: [Slot; STRIPES] = [ZERO; STRIPES];
static THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // A const initializer: first use allocates nothing (this runs inside the allocator).
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn add(n: isize, calls: usize) {
    let i = STRIPE
        .try_with(|s| {
            if s.get() == usize::MAX {
                s.set(THREADS.fetch_add(1, Ordering::Relaxed) % STRIPES);
            }
            s.get()
        })
        .unwrap_or(0); // a thread being torn down counts into slot 0
    LIVE[i].0.fetch_add(n, Ordering::Relaxed);
    if calls > 0 {
        LIVE[i].1.fetch_add(calls, Ordering::Relaxed);
    }
}

pub struct Counting;

impl Counting {
    /// Bytes allocated and not yet freed.
    pub fn live(&self) -> usize {
        let sum: isize = LIVE.iter().map(|s| s.0.load(Ordering::Relaxed)).sum();
        sum.max(0) as usize
    }

    /// Allocations and reallocations so far, all threads.
    pub fn calls(&self) -> usize {
        LIVE.iter().map(|s| s.1.load(Ordering::Relaxed)).sum()
    }
}

// SAFETY: every call is forwarded to the inner allocator unchanged; the counter only
// observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        add(l.size() as isize, 1);
        // SAFETY: same layout as asked of us.
        unsafe { Inner.alloc(l) }
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        add(-(l.size() as isize), 0);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { Inner.dealloc(p, l) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        add(new as isize - l.size() as isize, 1);
        // SAFETY: `p` came from `alloc` with layout `l`.
        unsafe { Inner.realloc(p, l, new) }
    }
}
