//! A vector in fixed pages: an element never moves once placed, growing never copies the
//! elements already there, and the memory it holds beyond its length is under one page.
//!
//! The shards keep their contacts in one (see [`super::shard`]): a contact lives in its slot
//! itself, not behind a pointer of its own, which saves an allocation per contact and a
//! dependent memory read on every event and timer.

/// Elements per page.
const PAGE: usize = 256;

pub(crate) struct Pages<T> {
    pages: Vec<Box<[T]>>,
    len: usize,
}

impl<T> Default for Pages<T> {
    fn default() -> Self {
        Pages {
            pages: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Default> Pages<T> {
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        (i < self.len).then(|| &self.pages[i / PAGE][i % PAGE])
    }

    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        (i < self.len).then(|| &mut self.pages[i / PAGE][i % PAGE])
    }

    /// Element `i`, the length raised to include it (new elements are `T::default()`).
    ///
    /// Called for every operation a shard applies, so the usual case (the page is there) is
    /// inlined and the building of a page kept out of line: with it inside, every call paid
    /// for its frame (about 36 instructions on entry and as many on return, by callgrind).
    #[inline]
    pub(crate) fn grow_to(&mut self, i: usize) -> &mut T {
        if self.pages.len() * PAGE <= i {
            self.add_pages(i);
        }
        self.len = self.len.max(i + 1);
        &mut self.pages[i / PAGE][i % PAGE]
    }

    #[cold]
    #[inline(never)]
    fn add_pages(&mut self, i: usize) {
        while self.pages.len() * PAGE <= i {
            self.pages
                .push((0..PAGE).map(|_| T::default()).collect::<Box<[T]>>());
        }
    }

    /// The elements, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.pages.iter().flat_map(|p| p.iter()).take(self.len)
    }

    /// The elements, in order, to change in place.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.pages
            .iter_mut()
            .flat_map(|p| p.iter_mut())
            .take(self.len)
    }

    /// Elements allocated (whole pages).
    pub(crate) fn capacity(&self) -> usize {
        self.pages.len() * PAGE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_stay_put_across_pages() {
        let mut p: Pages<u64> = Pages::default();
        assert!(p.get(0).is_none());
        *p.grow_to(3) = 3;
        *p.grow_to(PAGE + 1) = 7;
        let first = p.get(3).unwrap() as *const u64;
        *p.grow_to(5 * PAGE) = 9;
        assert_eq!(first, p.get(3).unwrap() as *const u64);
        assert_eq!(p.get(PAGE + 1), Some(&7));
        assert!(p.get(5 * PAGE + 1).is_none());
        assert_eq!(p.iter().count(), 5 * PAGE + 1);
        assert_eq!(p.iter().sum::<u64>(), 19);
        p.iter_mut().for_each(|x| *x += 1);
        assert_eq!(*p.get_mut(0).unwrap(), 1);
        assert_eq!(p.capacity(), 6 * PAGE);
    }
}
