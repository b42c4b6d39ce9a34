//! A concurrent string interner: brands, products, topics, tags and attribute names are kept
//! once per engine and referred to by a 4-byte [`Sym`] in every profile.

use ahash::RandomState;
use dashmap::DashMap;
use parking_lot::RwLock;
use std::sync::Arc;

/// An interned string.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, bincode::Encode, bincode::Decode,
)]
pub(crate) struct Sym(pub(crate) u32);

/// Strings to symbols and back. Interning a known string takes one shared-map lookup; a new
/// string also appends to the reverse table under a short write lock.
#[derive(Default)]
pub(crate) struct Interner {
    map: DashMap<Arc<str>, Sym, RandomState>,
    names: RwLock<Vec<Arc<str>>>,
}

impl Interner {
    pub(crate) fn intern(&self, s: &str) -> Sym {
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
