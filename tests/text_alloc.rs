//! `Text` and the heap, watched by a counting allocator: a short string allocates nothing, a
//! long one exactly once, and every heap string is freed when its last holder is dropped.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use tropa::{Event, IdType, Payload, Text};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the counters only
// observe it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        CALLS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Allocation calls made, and bytes still live, by `f`.
fn watch<R>(f: impl FnOnce() -> R) -> (usize, isize, R) {
    let (calls, live) = (CALLS.load(Ordering::SeqCst), LIVE.load(Ordering::SeqCst));
    let r = f();
    (
        CALLS.load(Ordering::SeqCst) - calls,
        LIVE.load(Ordering::SeqCst) - live,
        r,
    )
}

/// One test: the counters are process-wide, and tests in one binary run on several threads.
#[test]
fn short_strings_stay_off_the_heap_and_long_ones_are_freed() {
    let short = "p-123";
    let long = "a product name of more than fifteen bytes";

    // Short: no allocation to build, clone or drop.
    let (calls, live, _) = watch(|| {
        let t = Text::from(short);
        let c = t.clone();
        assert_eq!(c, short);
    });
    assert_eq!((calls, live), (0, 0), "a short Text touched the heap");

    // Long: one allocation each for the value and its clone, both freed.
    let (calls, live, _) = watch(|| {
        let t = Text::from(long);
        let c = t.clone();
        assert_eq!(c, long);
    });
    assert_eq!(
        (calls, live),
        (2, 0),
        "a long Text leaked or allocated more"
    );

    // From a long `String` or `Box<str>`: the buffer is taken over, nothing is left behind.
    let owned = long.to_string();
    let (_, live, t) = watch(|| Text::from(owned));
    assert!(live <= 0, "taking a String over kept extra bytes");
    let (_, live, _) = watch(|| drop(t));
    assert_eq!(
        live,
        -(long.len() as isize),
        "the taken-over buffer was not freed"
    );

    // A typed event whose strings are all short: building and dropping it allocates nothing.
    let (calls, live, _) = watch(|| {
        let e = Event::new(
            1_000,
            Payload::ProductView {
                product: short.into(),
                category: Some("shoes".into()),
                brand_name: None,
                price: None,
                color: None,
                discount: None,
            },
        )
        .with_id(IdType::Customer, "123456")
        .unwrap()
        .with_brand("brand-a");
        drop(e);
    });
    assert_eq!(
        (calls, live),
        (0, 0),
        "an event of short strings touched the heap"
    );
}
