//! Varints for the packed in-memory buffers (a contact's timeline and cart operations): seven
//! bits a byte, low first, and signed values and time deltas zigzag-encoded so that small
//! magnitudes of either sign take one or two bytes.
//!
//! Writes push byte by byte: these values are one to five bytes, and copying a slice that
//! short is a call to `memmove`.

/// Appends `v`.
pub(crate) fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `v` on the stack (at most ten bytes), for a caller that writes it into the middle of a
/// buffer.
pub(crate) fn on_stack(mut v: u64) -> ([u8; 10], usize) {
    let mut b = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        b[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    b[n] = v as u8;
    (b, n + 1)
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

    pub(crate) fn varint(&mut self) -> u64 {
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

    /// The next `n` bytes as they are.
    pub(crate) fn bytes(&mut self, n: usize) -> &'a [u8] {
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_deltas_read_back() {
        let values = [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        let times = [0, -1, 1, i64::MIN, i64::MAX, -86_400_000, 1_700_000_000_000];
        let mut out = Vec::new();
        for v in values {
            put(&mut out, v);
            let (b, n) = on_stack(v);
            out.extend_from_slice(&b[..n]);
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
        assert_eq!(on_stack(u64::MAX).1, 10);
    }
}
