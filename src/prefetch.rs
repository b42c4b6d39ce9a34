//! A hint to the processor to start loading memory that is about to be read.
//!
//! A shard drains its queue a few operations ahead of the one it applies and asks for each
//! waiting operation's contact slot to be loaded meanwhile (see `Engine::pump`); a batch
//! being ingested does the same for the identifier index's buckets of the events a few
//! places ahead. With a million contacts neither is almost ever in cache: the first read of a
//! slot was a tenth of the time of a one-segment event, spent waiting for memory; with the
//! hint several such loads are under way at once.

/// Asks for the first and the last cache line of `s` to be loaded (a contact's lists: the
/// end is where the next entry is written).
#[inline]
pub(crate) fn prefetch_ends<T>(s: &[T]) {
    if let (Some(first), Some(last)) = (s.first(), s.last()) {
        prefetch(first);
        prefetch(last);
    }
}

/// Asks for the cache lines of `*r` (up to eight of them) to be loaded. It changes nothing a
/// program can observe, and does nothing on processors without such a hint.
#[inline]
pub(crate) fn prefetch<T>(r: &T) {
    prefetch_at(r as *const T);
}

/// Asks for the cache lines of a `T` at `p` (up to eight of them) to be loaded. `p` is never
/// read, so it may point anywhere, even at memory since freed (a hint that comes late).
#[inline]
pub(crate) fn prefetch_at<T>(p: *const T) {
    prefetch_lines(p.cast(), std::mem::size_of::<T>().max(1), 8);
}

/// Asks for the cache lines holding `bytes` bytes from `p`: from the line `p` is in to the
/// line of the last byte, at most `most` of them. Nothing at `p` is read (a buffer's spare
/// room may be asked for too).
#[inline]
pub(crate) fn prefetch_lines(p: *const u8, bytes: usize, most: usize) {
    if bytes == 0 {
        return;
    }
    let lines = (p as usize % 64 + bytes).div_ceil(64).min(most);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for i in 0..lines {
            // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 processor has (it is in the
            // target's baseline features). A prefetch is only a hint: it never faults and
            // never reads memory as far as the program can tell, so any address would do.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>().wrapping_add(i * 64)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = lines;
}
