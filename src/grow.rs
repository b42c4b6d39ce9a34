//! Growing a vector by moving it, not through `realloc`.
//!
//! Profiles grow their buffers (timeline, cart operations, term slots) a little at a time,
//! on whichever thread drains the contact's shard. Under glibc's malloc, `realloc` of a block
//! serves it under the lock of the arena the block came from, which is the arena of the thread
//! that allocated it, while that thread may be allocating from it too; a fresh allocation and
//! a `free` go through the calling thread's own cache (tcache) instead. Growing by moving
//! therefore lets two ingesting threads stop queueing on each other's arena: at 1,000,000
//! contacts on two threads, growing these three buffers by moving them took one segment from
//! about 2.45 M to 2.75 M events/s and fifty from 1.05 M to 1.13 M (BENCHMARKS.md, seventeenth
//! session), and cost nothing on one thread. The copy is what `realloc` does anyway when the
//! block cannot grow in place.

use thin_vec::ThinVec;

/// Makes room for at least `additional` more elements in `v`, giving it a capacity of exactly
/// `v.len() + additional` when it must grow; the elements move to the new block.
pub(crate) fn reserve_exact<T>(v: &mut Vec<T>, additional: usize) {
    if v.capacity() - v.len() >= additional {
        return;
    }
    let mut grown = Vec::with_capacity(v.len() + additional);
    grown.append(v);
    *v = grown;
}

/// [`reserve_exact`] for a [`ThinVec`], which keeps its length and capacity on the heap.
pub(crate) fn reserve_exact_thin<T>(v: &mut ThinVec<T>, additional: usize) {
    if v.capacity() - v.len() >= additional {
        return;
    }
    let mut grown = ThinVec::with_capacity(v.len() + additional);
    grown.append(v);
    *v = grown;
}

/// The heap bytes a [`ThinVec`] holds: its places, and the header with its length and
/// capacity (none while it has never allocated).
pub(crate) fn thin_heap_bytes<T>(v: &ThinVec<T>) -> usize {
    match v.capacity() {
        0 => 0,
        n => 2 * std::mem::size_of::<usize>() + n * std::mem::size_of::<T>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_exact_room_and_keeps_the_elements() {
        let mut v: Vec<String> = vec!["a".into(), "b".into()];
        reserve_exact(&mut v, 3);
        assert_eq!(v, ["a", "b"]);
        assert_eq!(v.capacity(), 5);
        // Room enough: nothing moves.
        let at = v.as_ptr();
        reserve_exact(&mut v, 3);
        assert_eq!((v.as_ptr(), v.capacity()), (at, 5));
        v.push("c".into());
        reserve_exact(&mut v, 0);
        assert_eq!(v.capacity(), 5);
        let mut empty: Vec<u8> = Vec::new();
        reserve_exact(&mut empty, 4);
        assert!(empty.is_empty() && empty.capacity() == 4);
    }
}
