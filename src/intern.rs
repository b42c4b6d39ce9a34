//! A concurrent string interner: brands, products, topics, tags and attribute names are kept
//! once per engine and referred to by a 4-byte [`Sym`] in every profile.
//!
//! Every event interns its brand, and carts their product, so a few names are looked up by
//! every thread all the time. A shared-map lookup takes its shard's read lock — a write to
//! one cache line that every thread then fights over — so each thread first asks a small
//! cache of its own, which answers hot names without touching shared memory. In front of
//! that cache's hash map stand [`RECENT`] names placed by their length and end bytes: a
//! brand (a shop has a handful) is found there by one comparison, without hashing it (the
//! map's lookup took about 140 instructions, a tenth of a one-segment event's own work
//! outside the timeline). In front of both, each shard keeps the last few brands it interned
//! ([`RecentTexts`]), compared as integers.

use crate::Text;
use ahash::{HashMap, RandomState};
use dashmap::DashMap;
use parking_lot::RwLock;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Names a thread's cache holds before it starts again (a bound on its memory).
const CACHED: usize = 4096;

/// Numbers interners, so a thread's cache knows which one it serves.
static INTERNERS: AtomicU64 = AtomicU64::new(1);

/// Places of the direct-mapped front of a thread's cache (a power of two).
const RECENT: usize = 16;

thread_local! {
    /// This thread's cache of the interner it serves.
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// A thread's cache: names to symbols, for one interner at a time.
#[derive(Default)]
struct Cache {
    /// The interner served (0: none yet; interners are numbered from 1).
    interner: u64,
    /// Names seen lately, each at the place [`place`] gives it (a later name with the same
    /// place takes it over). Every name here is also in `map`.
    recent: [Option<(Rc<str>, Sym)>; RECENT],
    /// Shared with `recent` (a thread's own, so counted without atomics).
    map: HashMap<Rc<str>, Sym>,
}

/// Where a name stands in [`Cache::recent`]: from its length and its first and last bytes,
/// which tell a shop's few brand names apart without hashing them.
fn place(s: &str) -> usize {
    let b = s.as_bytes();
    let ends = match b {
        [] => 0,
        [first, .., last] => usize::from(*first) ^ (usize::from(*last) << 1),
        [only] => usize::from(*only),
    };
    (b.len().wrapping_mul(7) ^ ends) % RECENT
}

impl Cache {
    #[inline]
    fn get(&mut self, id: u64, s: &str) -> Option<Sym> {
        if self.interner != id {
            self.interner = id;
            self.recent = Default::default();
            self.map.clear();
            return None;
        }
        let at = place(s);
        if let Some((name, sym)) = &self.recent[at] {
            if **name == *s {
                return Some(*sym);
            }
        }
        let (name, &sym) = self.map.get_key_value(s)?;
        self.recent[at] = Some((name.clone(), sym));
        Some(sym)
    }

    fn put(&mut self, s: &str, sym: Sym) {
        if self.map.len() >= CACHED {
            self.map.clear();
            self.recent = Default::default();
        }
        let name: Rc<str> = s.into();
        self.map.insert(name.clone(), sym);
        self.recent[place(s)] = Some((name, sym));
    }
}

/// Short names a shard interned last (in practice the shop's brands, one an event), by their
/// inline bytes: one is found by comparing a few 16-byte numbers, with no hash, no thread-local
/// access and no string comparison. Interning every event's brand through the thread's cache
/// took about seventy instructions (a twentieth of a one-segment event's own work outside the
/// timeline).
#[derive(Debug, Clone)]
pub(crate) struct RecentTexts {
    /// Each place's key ([`Text::inline_key`]); [`NO_KEY`] when empty.
    keys: [u128; RECENT_TEXTS],
    syms: [Sym; RECENT_TEXTS],
    /// The place the next new name takes.
    next: usize,
}

/// Names a [`RecentTexts`] holds.
const RECENT_TEXTS: usize = 4;

/// No inline text has this key: its last byte, the length, is at most [`Text::INLINE`].
const NO_KEY: u128 = u128::MAX;

impl Default for RecentTexts {
    fn default() -> RecentTexts {
        RecentTexts {
            keys: [NO_KEY; RECENT_TEXTS],
            syms: [Sym(0); RECENT_TEXTS],
            next: 0,
        }
    }
}

impl RecentTexts {
    /// The symbol of `t` in `syms`, the interner this cache always serves.
    #[inline]
    pub(crate) fn intern(&mut self, t: &Text, syms: &Interner) -> Sym {
        let Some(key) = t.inline_key() else {
            return syms.intern(t);
        };
        if let Some(i) = self.keys.iter().position(|k| *k == key) {
            return self.syms[i];
        }
        let sym = syms.intern(t);
        self.keys[self.next] = key;
        self.syms[self.next] = sym;
        self.next = (self.next + 1) % RECENT_TEXTS;
        sym
    }
}

/// An interned string.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, bincode::Encode, bincode::Decode,
)]
pub(crate) struct Sym(pub(crate) u32);

/// Strings to symbols and back. Interning a known string takes a lookup in the calling
/// thread's cache, or one shared-map lookup; a new string also appends to the reverse table
/// under a short write lock.
pub(crate) struct Interner {
    id: u64,
    map: DashMap<Arc<str>, Sym, RandomState>,
    names: RwLock<Vec<Arc<str>>>,
}

impl Default for Interner {
    fn default() -> Interner {
        Interner {
            id: INTERNERS.fetch_add(1, Ordering::Relaxed),
            map: DashMap::default(),
            names: RwLock::default(),
        }
    }
}

impl Interner {
    pub(crate) fn intern(&self, s: &str) -> Sym {
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if let Some(sym) = c.get(self.id, s) {
                return sym;
            }
            let sym = self.intern_shared(s);
            c.put(s, sym);
            sym
        })
    }

    fn intern_shared(&self, s: &str) -> Sym {
        if let Some(v) = self.map.get(s) {
            return *v;
        }
        let key: Arc<str> = Arc::from(s);
        *self.map.entry(key.clone()).or_insert_with(|| {
            let mut names = self.names.write();
            let sym = Sym(u32::try_from(names.len()).expect("fewer than 2^32 distinct names"));
            names.push(key);
            sym
        })
    }

    /// The symbol of a string already interned, without adding it.
    pub(crate) fn get(&self, s: &str) -> Option<Sym> {
        self.map.get(s).map(|v| *v)
    }

    pub(crate) fn name(&self, sym: Sym) -> Arc<str> {
        self.names.read()[sym.0 as usize].clone()
    }

    /// Every name, in symbol order (for a snapshot).
    pub(crate) fn names(&self) -> Vec<Arc<str>> {
        self.names.read().clone()
    }

    /// Interns names read back from a snapshot, in order, so that each gets the symbol it
    /// had; the interner must be empty. A repeated name is an error.
    pub(crate) fn restore(&self, names: Vec<String>) -> Result<(), &'static str> {
        for n in names {
            let before = self.len();
            if self.intern(&n).0 as usize != before {
                return Err("a name is interned twice");
            }
        }
        Ok(())
    }

    /// Names interned.
    pub(crate) fn len(&self) -> usize {
        self.names.read().len()
    }

    /// Bytes held by the interner, approximately (for memory reports).
    pub(crate) fn heap_bytes(&self) -> usize {
        let names = self.names.read();
        names.iter().map(|s| s.len() + 16).sum::<usize>() + names.len() * 48
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_texts_answer_as_the_interner_does() {
        let i = Interner::default();
        let mut r = RecentTexts::default();
        // More names than places, repeated, a long one (on the heap), the empty one, names
        // differing only in their last byte, and one that differs from another only in its
        // length (a trailing NUL: the same inline bytes, so only the length tells them apart).
        let names = [
            "shop-a",
            "shop-a\0",
            "shop-b",
            "shop-c",
            "shop-d",
            "shop-e",
            "",
            "shop-a",
            "shop-",
            "shop-aa",
            "a brand name too long to be inline",
            "shop-e",
            "shop-b",
            "",
        ];
        for round in 0..3 {
            for n in names {
                let t = Text::from(n);
                assert_eq!(r.intern(&t, &i), i.intern(n), "{n:?} in round {round}");
            }
        }
        assert_eq!(i.len(), 10);
    }

    #[test]
    fn interns_once() {
        let i = Interner::default();
        let a = i.intern("shop-a");
        assert_eq!(i.intern("shop-a"), a);
        let b = i.intern("shop-b");
        assert_ne!(a, b);
        assert_eq!(&*i.name(b), "shop-b");
        assert_eq!(i.get("shop-a"), Some(a));
        assert_eq!(i.get("nope"), None);
    }

    #[test]
    fn names_sharing_a_front_place_keep_their_own_symbols() {
        // Same length, same first and last bytes: one place in the front of the cache.
        let names = ["shop-a", "sxxx-a", "s1234a", "sabcda"];
        assert!(names.iter().all(|n| place(n) == place(names[0])));
        let i = Interner::default();
        let syms: Vec<Sym> = names.iter().map(|n| i.intern(n)).collect();
        for _ in 0..3 {
            for (n, s) in names.iter().zip(&syms) {
                assert_eq!(i.intern(n), *s, "{n}");
            }
        }
        assert_eq!(i.intern(""), i.intern(""));
        assert_eq!(i.intern("x"), i.intern("x"));
        assert_ne!(i.intern(""), i.intern("x"));
        // Another interner on the same thread starts its own symbols: the cache must not
        // answer with the first one's.
        let j = Interner::default();
        assert_eq!(j.intern("sabcda"), Sym(0));
        assert_eq!(i.intern("sabcda"), syms[3]);
        assert_eq!(j.intern("shop-a"), Sym(1));
    }
}
