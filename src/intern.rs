//! A concurrent string interner: brands, products, topics, tags and attribute names are kept
//! once per engine and referred to by a 4-byte [`Sym`] in every profile.
//!
//! Every event interns its brand, and carts their product, so a few names are looked up by
//! every thread all the time. A shared-map lookup takes its shard's read lock — a write to
//! one cache line that every thread then fights over — so each thread first asks a small
//! cache of its own, which answers hot names without touching shared memory.

use ahash::{HashMap, RandomState};
use dashmap::DashMap;
use parking_lot::RwLock;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Names a thread's cache holds before it starts again (a bound on its memory).
const CACHED: usize = 4096;

/// Numbers interners, so a thread's cache knows which one it serves.
static INTERNERS: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's cache: the interner it serves, and names to symbols.
    static CACHE: RefCell<(u64, HashMap<Box<str>, Sym>)> = RefCell::new((0, HashMap::default()));
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
            if c.0 == self.id {
                if let Some(&sym) = c.1.get(s) {
                    return sym;
                }
            } else {
                c.0 = self.id;
                c.1.clear();
            }
            let sym = self.intern_shared(s);
            if c.1.len() >= CACHED {
                c.1.clear();
            }
            c.1.insert(s.into(), sym);
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
}
