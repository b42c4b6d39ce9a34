//! Groups of up to four integers whose byte lengths are given by one tag byte in front of
//! them, two bits each, and written as plain little-endian bytes (the scheme of "stream
//! VByte").
//!
//! A varint finds its own end one byte at a time, so writing or skipping one costs a loop;
//! here the lengths are known from the tag, so a field is one 8-byte store (the bytes past
//! its length are overwritten by the next field or left out) or one 8-byte load and a mask,
//! and a whole group is skipped with one table lookup. The sizes come out close to varints
//! for the values a timeline holds (time differences and arrival numbers of three or four
//! bytes, brands and payload lengths of one).
//!
//! Each field is *wide* (a length of 2, 3, 4 or 8 bytes: time differences and arrival
//! numbers) or *narrow* (1, 2, 4 or 8 bytes: symbols and byte counts); a group's layout says
//! which is which.

/// The lengths a wide field takes, by its two tag bits.
pub(crate) const WIDE: [u8; 4] = [2, 3, 4, 8];

/// The lengths a narrow field takes, by its two tag bits.
pub(crate) const NARROW: [u8; 4] = [1, 2, 4, 8];

/// The bytes `v` needs (1 to 8).
fn bytes_of(v: u64) -> u32 {
    (64 - (v | 1).leading_zeros()).div_ceil(8)
}

/// The two tag bits of a wide field holding `v`.
pub(crate) fn wide(v: u64) -> u8 {
    match bytes_of(v) {
        0..=2 => 0,
        3 => 1,
        4 => 2,
        _ => 3,
    }
}

/// The two tag bits of a narrow field holding `v`.
pub(crate) fn narrow(v: u64) -> u8 {
    match bytes_of(v) {
        1 => 0,
        2 => 1,
        3 | 4 => 2,
        _ => 3,
    }
}

/// A group being written on the stack: a tag, up to three plain bytes and up to four fields,
/// with room for each field's 8-byte store.
pub(crate) struct Group {
    bytes: [u8; 48],
    len: usize,
    field: u32,
}

impl Group {
    /// A group whose tag byte comes first, and then `fixed` (at most three) bytes as they
    /// are.
    pub(crate) fn new(fixed: &[u8]) -> Group {
        let mut g = Group {
            bytes: [0; 48],
            len: 1 + fixed.len(),
            field: 0,
        };
        g.bytes[1..1 + fixed.len()].copy_from_slice(fixed);
        g
    }

    /// Appends `v` as the next field, `class` being its two tag bits and `lengths` the table
    /// they index ([`WIDE`] or [`NARROW`]).
    fn put(&mut self, v: u64, class: u8, lengths: &[u8; 4]) {
        debug_assert!(self.field < 4, "four fields at most");
        self.bytes[0] |= class << (2 * self.field);
        self.field += 1;
        let at = self.len.min(40);
        self.bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
        self.len = at + usize::from(lengths[usize::from(class)]);
    }

    /// Appends `v` as a wide field.
    pub(crate) fn wide(&mut self, v: u64) {
        self.put(v, wide(v), &WIDE);
    }

    /// Appends `v` as a narrow field.
    pub(crate) fn narrow(&mut self, v: u64) {
        self.put(v, narrow(v), &NARROW);
    }

    /// The group's bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The field of `n` bytes (1 to 8) at `pos` of `buf`: one load where eight bytes are left,
/// byte by byte at the buffer's end. The bytes were written by this process: a read past the
/// end is a bug and panics.
pub(crate) fn read(buf: &[u8], pos: usize, n: usize) -> u64 {
    let mask = u64::MAX >> (64 - 8 * n);
    match buf.get(pos..pos + 8) {
        Some(w) => u64::from_le_bytes(w.try_into().expect("eight bytes")) & mask,
        None => buf[pos..pos + n]
            .iter()
            .rev()
            .fold(0, |v, b| v << 8 | u64::from(*b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any values, in any mix of wide and narrow fields, read back from the lengths the
        /// tag gives, whatever follows them (or nothing).
        #[test]
        fn groups_read_back(
            fields in prop::collection::vec(
                (any::<bool>(), prop_oneof![0u64..300, 0u64..(1 << 26), any::<u64>()]),
                1..=4,
            ),
            fixed in prop::collection::vec(any::<u8>(), 0..3),
            tail in prop::collection::vec(any::<u8>(), 0..9),
        ) {
            let mut g = Group::new(&fixed);
            for &(is_wide, v) in &fields {
                if is_wide { g.wide(v) } else { g.narrow(v) }
            }
            let mut buf = g.as_bytes().to_vec();
            let len = buf.len();
            buf.extend_from_slice(&tail);
            let tag = buf[0];
            prop_assert_eq!(&buf[1..1 + fixed.len()], &fixed[..]);
            let mut pos = 1 + fixed.len();
            for (i, &(is_wide, v)) in fields.iter().enumerate() {
                let class = usize::from(tag >> (2 * i) & 3);
                let n = usize::from(if is_wide { WIDE[class] } else { NARROW[class] });
                prop_assert_eq!(read(&buf, pos, n), v);
                pos += n;
            }
            prop_assert_eq!(pos, len);
        }
    }

    #[test]
    fn classes_are_the_shortest_that_hold_the_value() {
        for (v, w, n) in [
            (0u64, 2, 1),
            (255, 2, 1),
            (256, 2, 2),
            (65_535, 2, 2),
            (65_536, 3, 4),
            (1 << 24, 4, 4),
            (u64::from(u32::MAX), 4, 4),
            (1 << 32, 8, 8),
            (u64::MAX, 8, 8),
        ] {
            assert_eq!(WIDE[usize::from(wide(v))], w, "{v}");
            assert_eq!(NARROW[usize::from(narrow(v))], n, "{v}");
        }
    }
}
