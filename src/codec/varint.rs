//! Varints for the packed in-memory buffers (a contact's cart operations): seven
//! bits a byte, low first, and signed values and time deltas zigzag-encoded so that small
//! magnitudes of either sign take one or two bytes.
//!
//! Writes push byte by byte: these values are one to five bytes, and copying a slice that
//! short is a call to `memmove`. Reads take eight bytes at once where the buffer has them
//! ([`Cursor::varint`]).

/// Appends `v`, byte by byte. (Written as one 64-bit store, its groups spread by masked
/// shifts, it took more instructions than this loop does for the one- to four-byte values
/// that are most of what is written: +3.7 % of the one-segment instructions, tenth session.)
pub(crate) fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The value of a varint of at most eight bytes, given as a little-endian word with the
/// bytes after it cleared: the seven low bits of each byte, packed.
fn gather(word: u64) -> u64 {
    let x = word & 0x7f7f_7f7f_7f7f_7f7f;
    let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
    let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
    (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4)
}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Appends time `ts` as its difference from `prev` (the time before it, or 0).
pub(crate) fn put_delta(out: &mut Vec<u8>, ts: i64, prev: i64) {
    put(out, zigzag(ts.wrapping_sub(prev)));
}

/// Reads what the functions above wrote; the bytes are this process's own, so a read past
/// the end is a bug and panics.
pub(crate) struct Cursor<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The next varint. With eight bytes left to read, it is taken from one 64-bit load
    /// (its length from the continuation bits, its seven-bit groups gathered by three
    /// masked shifts) instead of a byte at a time; a varint longer than eight bytes (a value
    /// of 2^56 or more) and the buffer's last bytes go byte by byte.
    pub(crate) fn varint(&mut self) -> u64 {
        match self.word() {
            Some((word, bits)) => {
                self.pos += (bits / 8) as usize;
                gather(word & (u64::MAX >> (64 - bits)))
            }
            None => self.varint_bytes(),
        }
    }

    /// The eight bytes from `pos`, when there are eight and the varint there ends within
    /// them, with the varint's length in bits (eight per byte).
    fn word(&self) -> Option<(u64, u32)> {
        let b = self.buf.get(self.pos..self.pos + 8)?;
        let word = u64::from_le_bytes(b.try_into().expect("eight bytes"));
        let stops = !word & 0x8080_8080_8080_8080;
        // Through the high bit of the varint's last byte.
        (stops != 0).then(|| (word, stops.trailing_zeros() + 1))
    }

    fn varint_bytes(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.buf[self.pos];
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    /// A time written by [`put_delta`] after `prev`.
    pub(crate) fn delta(&mut self, prev: i64) -> i64 {
        prev.wrapping_add(unzigzag(self.varint()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_and_deltas_read_back() {
        let values = [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        let times = [0, -1, 1, i64::MIN, i64::MAX, -86_400_000, 1_700_000_000_000];
        let mut out = Vec::new();
        for v in values {
            put(&mut out, v);
            put(&mut out, v);
        }
        let mut prev = 0;
        for t in times {
            put_delta(&mut out, t, prev);
            prev = t;
        }
        let mut c = Cursor::new(&out);
        for v in values {
            assert_eq!((c.varint(), c.varint()), (v, v));
        }
        let mut prev = 0;
        for t in times {
            prev = c.delta(prev);
            assert_eq!(prev, t);
        }
        assert!(c.at_end());
    }

    proptest! {
        /// Any values, of every length, followed by anything: read back word by word as
        /// byte by byte.
        #[test]
        fn words_read_as_bytes(
            values in prop::collection::vec(
                prop_oneof![0u64..300, 0u64..(1 << 21), (0u32..64).prop_map(|b| 1u64 << b), any::<u64>()],
                1..20,
            ),
            tail in prop::collection::vec(any::<u8>(), 0..9),
        ) {
            let mut out: Vec<u8> = Vec::new();
            for v in &values {
                put(&mut out, *v);
            }
            out.extend_from_slice(&tail);
            let (mut fast, mut slow) = (Cursor::new(&out), Cursor::new(&out));
            for v in &values {
                prop_assert_eq!(fast.varint(), *v);
                prop_assert_eq!(slow.varint_bytes(), *v);
                prop_assert_eq!(fast.pos, slow.pos);
            }
        }
    }
}
