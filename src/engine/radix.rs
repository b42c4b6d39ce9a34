//! A least-significant-digit radix sort of 64-bit keys, by chosen ranges of their bits.
//!
//! A shard sorts each membership log by contact before folding it into its bitmap
//! ([`super::members`]). A comparison sort compares those keys in no particular order, so
//! about half its branches were guessed wrong. A radix pass is a count and a move per key,
//! with no branch that depends on the keys, and the keys' useful bits are few: contacts below
//! a few million take two passes of [`DIGIT`] bits.
//!
//! (The timer buckets, sorted by instant and contact, stay with the comparison sort: their
//! keys need four passes, and the fifty-segment run at 200,000 contacts was 1 to 5 % slower
//! with them sorted here.)

/// Bits a pass places.
const DIGIT: u32 = 11;

/// Below this many keys a comparison sort is used: a pass clears and sums `1 << DIGIT`
/// counters, more work than comparing so few.
pub(crate) const RADIX_FROM: usize = 512;

/// A range of a key's bits to sort by: the lowest bit and how many.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bits {
    pub(crate) from: u32,
    pub(crate) len: u32,
}

impl Bits {
    /// Of the `most` bits from `from` up, those up to the highest one set in any of `keys`.
    pub(crate) fn used(keys: &[u64], from: u32, most: u32) -> Bits {
        let mask = u64::MAX.checked_shr(u64::BITS - most).unwrap_or(0);
        let any = keys.iter().fold(0, |a, x| a | (x >> from & mask));
        Bits {
            from,
            len: u64::BITS - any.leading_zeros(),
        }
    }
}

/// Sorts `keys` by the value of their bits in `ranges`, the first range least significant,
/// keeping the order of keys equal in all of them (stable); bits outside the ranges do not
/// count. `scratch` is the second buffer (its contents are not kept).
pub(crate) fn sort(keys: &mut Vec<u64>, scratch: &mut Vec<u64>, ranges: &[Bits]) {
    let mut counts = [0usize; 1 << DIGIT];
    for r in ranges {
        let mut done = 0;
        while done < r.len {
            let shift = r.from + done;
            let width = DIGIT.min(r.len - done);
            let mask = (1usize << width) - 1;
            let digit = |x: u64| (x >> shift) as usize & mask;
            let counts = &mut counts[..=mask];
            counts.fill(0);
            for x in keys.iter() {
                counts[digit(*x)] += 1;
            }
            let mut start = 0;
            for c in counts.iter_mut() {
                let n = *c;
                *c = start;
                start += n;
            }
            scratch.clear();
            scratch.resize(keys.len(), 0);
            for x in keys.iter() {
                let d = digit(*x);
                scratch[counts[d]] = *x;
                counts[d] += 1;
            }
            std::mem::swap(keys, scratch);
            done += width;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whole keys sorted by all their set bits, in two ranges with a gap, come out as a
        /// plain sort puts them; sorted by a high range only, keys equal there keep their
        /// order.
        #[test]
        fn sorts_as_a_plain_sort_and_keeps_ties_in_order(
            keys in proptest::collection::vec((0u64..1 << 24, 0u64..1 << 21), 0..3000),
        ) {
            // Low range: bits 0..24; high range: bits 32..53; nothing between.
            let keys: Vec<u64> = keys.iter().map(|(lo, hi)| hi << 32 | lo).collect();
            let mut scratch = Vec::new();
            let mut got = keys.clone();
            let ranges = [Bits::used(&keys, 0, 32), Bits::used(&keys, 32, 32)];
            sort(&mut got, &mut scratch, &ranges);
            let mut want = keys.clone();
            want.sort_unstable();
            prop_assert_eq!(&got, &want);

            let mut got = keys.clone();
            sort(&mut got, &mut scratch, &[Bits::used(&keys, 32, 32)]);
            let mut want = keys;
            want.sort_by_key(|x| x >> 32);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn no_bits_leaves_the_order() {
        let mut keys = vec![3, 1, 2];
        sort(&mut keys, &mut Vec::new(), &[Bits::used(&[0], 5, 10)]);
        assert_eq!(keys, [3, 1, 2]);
        // Bits outside the range do not count.
        let mut keys = vec![0b1_01, 0b0_11, 0b1_00];
        let mut scratch = Vec::new();
        let low = Bits::used(&keys, 0, 2);
        sort(&mut keys, &mut scratch, &[low]);
        assert_eq!(keys, [0b1_00, 0b1_01, 0b0_11]);
        assert_eq!(Bits::used(&[u64::MAX], 0, 64).len, 64);
        assert_eq!(Bits::used(&[u64::MAX], 60, 0).len, 0);
    }
}
