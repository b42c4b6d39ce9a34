//! A vector in fixed pages: an element never moves once placed, growing never copies the
//! elements already there, and the memory it holds beyond its length is under one page (or
//! block, below).
//!
//! The shards keep their contacts in one (see [`super::shard`]): a contact lives in its slot
//! itself, not behind a pointer of its own, which saves an allocation per contact and a
//! dependent memory read on every event and timer.
//!
//! **Huge pages.** A shard reads the slot of a contact picked almost at random among a
//! million, and with 4 KiB memory pages nearly every such read also misses the processor's
//! address-translation cache: the slots of a million contacts span 72,000 pages, and the
//! cache holds a couple of thousand. So the first `Pages::LARGE` elements sit in small
//! pages of [`SMALL`] elements (a small engine stays small), and the rest in blocks of 2 MiB,
//! aligned to 2 MiB, that the kernel is asked to back with transparent huge pages
//! (`madvise(MADV_HUGEPAGE)`, Linux only; elsewhere, or where the kernel declines, they are
//! ordinary memory). One slot read then needs one translation entry per 2 MiB: one
//! segment at a million contacts, about 8 % more events per second (BENCHMARKS.md,
//! sixteenth session). The price is the last block of each shard, a whole 2 MiB however few
//! slots it holds yet.

use std::alloc::Layout;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// Elements per small page.
const SMALL: usize = 256;

/// Bytes of a large block: a transparent huge page on x86_64 and most arm64 Linux systems.
const HUGE: usize = 2 << 20;

pub(crate) struct Pages<T> {
    /// The first `Pages::LARGE` elements, in pages of [`SMALL`].
    small: Vec<Box<[T]>>,
    /// The rest, in blocks of `Pages::LARGE`.
    large: Vec<Block<T>>,
    len: usize,
    /// Elements allocated: kept, not computed, as every operation a shard applies asks.
    cap: usize,
}

impl<T> Default for Pages<T> {
    fn default() -> Self {
        Pages {
            small: Vec::new(),
            large: Vec::new(),
            len: 0,
            cap: 0,
        }
    }
}

impl<T> Pages<T> {
    /// Elements per large block: as many as fit in [`HUGE`] bytes, rounded down to whole
    /// small pages (at least one).
    const LARGE: usize = {
        let n = HUGE
            / if std::mem::size_of::<T>() == 0 {
                1
            } else {
                std::mem::size_of::<T>()
            };
        if n < SMALL {
            SMALL
        } else {
            n - n % SMALL
        }
    };

    /// Where element `i` is: in a large block (`true`) or a small page, which one, and its
    /// place in it.
    #[inline]
    fn place(i: usize) -> (bool, usize, usize) {
        if i < Self::LARGE {
            (false, i / SMALL, i % SMALL)
        } else {
            let j = i - Self::LARGE;
            (true, j / Self::LARGE, j % Self::LARGE)
        }
    }
}

impl<T: Default> Pages<T> {
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        Some(match Self::place(i) {
            (false, p, k) => &self.small[p][k],
            (true, b, k) => &self.large[b][k],
        })
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len {
            return None;
        }
        Some(self.at(i))
    }

    #[inline]
    fn at(&mut self, i: usize) -> &mut T {
        match Self::place(i) {
            (false, p, k) => &mut self.small[p][k],
            (true, b, k) => &mut self.large[b][k],
        }
    }

    /// Element `i`, the length raised to include it (new elements are `T::default()`).
    ///
    /// Called for every operation a shard applies, so the usual case (the page is there) is
    /// inlined and the building of a page kept out of line: with it inside, every call paid
    /// for its frame (about 36 instructions on entry and as many on return, by callgrind).
    #[inline]
    pub(crate) fn grow_to(&mut self, i: usize) -> &mut T {
        if self.capacity() <= i {
            self.add_pages(i);
        }
        self.len = self.len.max(i + 1);
        self.at(i)
    }

    #[cold]
    #[inline(never)]
    fn add_pages(&mut self, i: usize) {
        while self.capacity() <= i {
            if self.small.len() * SMALL < Self::LARGE {
                self.small
                    .push((0..SMALL).map(|_| T::default()).collect::<Box<[T]>>());
            } else {
                self.large.push(Block::new(Self::LARGE));
            }
            self.cap = self.small.len() * SMALL + self.large.len() * Self::LARGE;
        }
    }

    /// The elements, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        let small = self.small.iter().flat_map(|p| p.iter());
        let large = self.large.iter().flat_map(|p| p.iter());
        small.chain(large).take(self.len)
    }

    /// The elements, in order, to change in place.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        let small = self.small.iter_mut().flat_map(|p| p.iter_mut());
        let large = self.large.iter_mut().flat_map(|p| p.iter_mut());
        small.chain(large).take(self.len)
    }

    /// Bytes allocated: the pages, and the blocks with their rounding to whole huge pages.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.small.len() * SMALL * std::mem::size_of::<T>()
            + self.large.len() * Block::<T>::layout(Self::LARGE).size()
    }

    /// Elements allocated (whole pages).
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }
}

/// `len` elements in a block of whole [`HUGE`]s, aligned to one, offered to the kernel for
/// huge pages. Owns its elements as a `Box<[T]>` would.
struct Block<T> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: a block owns its elements like a `Box<[T]>`, and is `Send` and `Sync` when one is.
unsafe impl<T: Send> Send for Block<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Block<T> {}

impl<T> Block<T> {
    fn layout(len: usize) -> Layout {
        let bytes = (len * std::mem::size_of::<T>()).next_multiple_of(HUGE);
        Layout::from_size_align(bytes, HUGE.max(std::mem::align_of::<T>()))
            .expect("a block's size fits in an isize")
    }
}

impl<T: Default> Block<T> {
    fn new(len: usize) -> Block<T> {
        assert!(
            len > 0 && std::mem::size_of::<T>() > 0,
            "a block holds sized elements"
        );
        let layout = Self::layout(len);
        // SAFETY: the layout's size is at least one HUGE, not zero.
        let raw = unsafe { std::alloc::alloc(layout) };
        let Some(raw) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        advise_huge(raw.as_ptr(), layout.size());
        let ptr = raw.cast::<T>();
        for k in 0..len {
            // SAFETY: `k < len`, and the block has room for `len` elements of `T`, aligned
            // (the layout's alignment is at least `T`'s); each place is written once.
            unsafe { ptr.add(k).write(T::default()) };
        }
        Block { ptr, len }
    }
}

impl<T> Deref for Block<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: the block holds `len` initialised elements from `ptr`, owned by it.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> DerefMut for Block<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for Block<T> {
    fn drop(&mut self) {
        // SAFETY: the elements are initialised and owned by the block, dropped once here;
        // the memory was allocated in `Block::new` with this same layout.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                self.len,
            ));
            std::alloc::dealloc(self.ptr.as_ptr().cast(), Self::layout(self.len));
        }
    }
}

/// Asks the kernel to back `bytes` from `p` with transparent huge pages. Only advice: where
/// they are off, or the kernel declines, the memory is ordinary.
#[cfg(all(target_os = "linux", not(miri)))]
fn advise_huge(p: *mut u8, bytes: usize) {
    // SAFETY: `p..p + bytes` is a block this module just allocated, aligned to 2 MiB;
    // MADV_HUGEPAGE changes only how the kernel backs it, never what it holds, and a failure
    // (an older kernel, huge pages switched off) changes nothing, so its result is ignored.
    unsafe {
        libc::madvise(p.cast(), bytes, libc::MADV_HUGEPAGE);
    }
}

#[cfg(any(not(target_os = "linux"), miri))]
fn advise_huge(_: *mut u8, _: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_stay_put_across_pages() {
        let mut p: Pages<u64> = Pages::default();
        assert!(p.get(0).is_none());
        *p.grow_to(3) = 3;
        *p.grow_to(SMALL + 1) = 7;
        let first = p.get(3).unwrap() as *const u64;
        *p.grow_to(5 * SMALL) = 9;
        assert_eq!(first, p.get(3).unwrap() as *const u64);
        assert_eq!(p.get(SMALL + 1), Some(&7));
        assert!(p.get(5 * SMALL + 1).is_none());
        assert_eq!(p.iter().count(), 5 * SMALL + 1);
        assert_eq!(p.iter().sum::<u64>(), 19);
        p.iter_mut().for_each(|x| *x += 1);
        assert_eq!(*p.get_mut(0).unwrap(), 1);
        assert_eq!(p.capacity(), 6 * SMALL);
    }

    /// Past the small pages, elements go to large blocks: they stay put, read back, are
    /// dropped once each.
    #[test]
    fn large_blocks_hold_elements_like_small_pages() {
        let counted = std::sync::Arc::new(());
        #[derive(Default)]
        struct Held(u64, Option<std::sync::Arc<()>>);
        let large = Pages::<Held>::LARGE;
        assert_eq!(large % SMALL, 0);
        assert!(large * std::mem::size_of::<Held>() <= HUGE);
        let mut p: Pages<Held> = Pages::default();
        let n = 2 * large + 3;
        for i in [0, large - 1, large, large + 1, 2 * large, n - 1] {
            *p.grow_to(i) = Held(i as u64, Some(std::sync::Arc::clone(&counted)));
        }
        let first = p.get(large).unwrap() as *const Held;
        p.grow_to(3 * large);
        assert_eq!(first, p.get(large).unwrap() as *const Held);
        assert_eq!(p.get(2 * large).map(|h| h.0), Some(2 * large as u64));
        assert_eq!(p.iter().count(), 3 * large + 1);
        let held: Vec<u64> = p.iter().filter(|h| h.1.is_some()).map(|h| h.0).collect();
        let want = [0, large - 1, large, large + 1, 2 * large, n - 1].map(|i| i as u64);
        assert_eq!(held, want);
        p.iter_mut().for_each(|h| h.0 += 1);
        assert_eq!(p.get_mut(large + 1).unwrap().0, large as u64 + 2);
        assert_eq!(std::sync::Arc::strong_count(&counted), 7);
        let small = large * std::mem::size_of::<Held>();
        assert_eq!(p.heap_bytes(), small + 3 * HUGE);
        drop(p);
        assert_eq!(std::sync::Arc::strong_count(&counted), 1);
    }
}
