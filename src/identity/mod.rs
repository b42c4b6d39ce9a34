//! Identity resolution: which contact an event belongs to (SPEC 2).
//!
//! * `index` maps every known identifier to the contact that owns it (an open-addressed table
//!   of our own, in striped locks, whose buckets can be prefetched; see `index`).
//! * `records` holds, per live contact and at its id's place (see `records`), its identifiers
//!   (sorted, so the first is the primary id), its stable key and the ids of the contacts it
//!   absorbed.
//!
//! **Concurrency.** Reads take no engine lock: an event whose identifiers are all known and all
//! lead to one contact (the bulk of traffic once people are known) resolves with one index
//! lookup per identifier (a shared read lock on one of its stripes). Anything that changes
//! identity — a new identifier, a merge, a conflict, an erasure — is decided in one writer
//! section ([`Writer`]), because a merge decision must see every involved contact's
//! identifiers at once and be all-or-nothing. The engine only ever *tries* to enter it: a
//! thread that finds it taken queues its change for the holder, which applies the queue
//! before leaving (see `engine`). The one change made beside it is the commonest: the first
//! event of a single new identifier (an anonymous cookie, a customer number) creates its
//! contact while sharing the section with other threads doing the same, each claiming its
//! identifier under the lock of its index stripe ([`Identity::create_alone`]); only the writer
//! section is kept out. Contact ids are handed out while the section is held (shared or
//! alone) and the identifier claimed, so a smaller id always means "created first", which is
//! how the survivor of a merge is chosen. A reader racing with a merge may still route an
//! event to the absorbed contact; the shard that owned it forwards such events to the
//! survivor (see `engine::shard`), so nothing is lost.

mod index;
mod key;
mod records;

use crate::codec::Small;
use crate::event::{IdType, Identifier};
use ahash::RandomState;
use dashmap::DashMap;
use index::Index;
use key::IdKey;
use parking_lot::RwLock;
use records::Records;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use thin_vec::ThinVec;

/// A contact's dense internal id; smaller ids were created earlier.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, bincode::Encode, bincode::Decode,
)]
pub struct ContactId(pub u32);

impl fmt::Display for ContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How many identifiers of one type a contact may own. Types not listed are unlimited.
///
/// ```
/// use tropa::{IdLimits, IdType};
/// let limits = IdLimits::default().with(IdType::Phone, 2);
/// assert_eq!(limits.get(&IdType::Customer), Some(1));
/// assert_eq!(limits.get(&IdType::Phone), Some(2));
/// assert_eq!(limits.get(&IdType::Cookie), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdLimits {
    limits: HashMap<IdType, u32>,
}

impl IdLimits {
    /// The limits, by type (to record and compare them).
    pub(crate) fn entries(&self) -> Vec<(IdType, u32)> {
        let mut v: Vec<_> = self.limits.iter().map(|(t, n)| (t.clone(), *n)).collect();
        v.sort();
        v
    }
}

impl Default for IdLimits {
    /// `customer` and `loyalty`: one per contact.
    fn default() -> IdLimits {
        IdLimits::unlimited()
            .with(IdType::Customer, 1)
            .with(IdType::Loyalty, 1)
    }
}

impl IdLimits {
    /// No type is limited.
    pub fn unlimited() -> IdLimits {
        IdLimits {
            limits: HashMap::new(),
        }
    }

    /// Sets the limit of one type (at least 1).
    pub fn with(mut self, kind: IdType, max: u32) -> IdLimits {
        self.limits.insert(kind, max.max(1));
        self
    }

    /// The limit of a type, if any.
    pub fn get(&self, kind: &IdType) -> Option<u32> {
        self.limits.get(kind).copied()
    }

    /// True when a set of identifiers holds more values of some limited type than allowed.
    fn violated_by<'a>(&self, ids: impl Iterator<Item = &'a Identifier>) -> bool {
        if self.limits.is_empty() {
            return false;
        }
        let mut limited: SmallVec<[&Identifier; 8]> =
            ids.filter(|i| self.limits.contains_key(&i.kind)).collect();
        limited.sort();
        limited.dedup();
        let mut i = 0;
        while i < limited.len() {
            let kind = &limited[i].kind;
            let n = limited[i..].iter().take_while(|x| &x.kind == kind).count();
            if n as u64 > u64::from(self.limits[kind]) {
                return true;
            }
            i += n;
        }
        false
    }
}

/// What identity resolution decided for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolution {
    /// The contact the event goes to.
    pub(crate) contact: ContactId,
    /// The contact was created by this event.
    pub(crate) created: bool,
    /// Contacts merged into `contact` by this event.
    pub(crate) absorbed: SmallVec<[ContactId; 1]>,
    /// A one-per-contact limit stopped a merge or left identifiers unlinked.
    pub(crate) conflict: bool,
    /// The names the absorbed contacts had, for their exit signals.
    pub(crate) absorbed_names: SmallVec<[Names; 1]>,
}

impl Resolution {
    /// An event whose identifiers all lead to `c`.
    pub(crate) fn found(c: ContactId) -> Resolution {
        Resolution {
            contact: c,
            created: false,
            absorbed: SmallVec::new(),
            conflict: false,
            absorbed_names: SmallVec::new(),
        }
    }
}

/// The writer section of identity: held by one thread at a time, which applies its own
/// changes and those other threads queued meanwhile.
pub(crate) struct Writer<'a> {
    identity: &'a Identity,
    _guard: parking_lot::RwLockWriteGuard<'a, ()>,
}

impl Writer<'_> {
    pub(crate) fn resolve(&self, ids: &[Identifier]) -> Resolution {
        match self.identity.fast(ids) {
            Some(c) => Resolution::found(c),
            None => self.identity.resolve_locked(ids),
        }
    }

    pub(crate) fn erase(&self, ids: &[Identifier]) -> Vec<Erased> {
        self.identity.erase_locked(ids)
    }
}

/// How signals name a contact: its stable key and its primary id at the time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Names {
    pub(crate) key: String,
    pub(crate) primary: String,
}

/// What identity knows of a live contact.
///
/// The stable key is the primary id at creation. A live contact's identifiers only grow, so
/// the key stays among them: the record keeps its position in `ids` instead of a second copy
/// (an identifier is 40 bytes and its value a heap string). One identifier is kept inline,
/// which is what most contacts (an anonymous visitor's cookie, a customer number) have.
/// Stored as before, the key as an identifier first.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// Sorted by priority; `ids[0]` is the primary id.
    pub(crate) ids: Small<[Identifier; 1]>,
    /// The key's position in `ids`.
    key: u32,
    /// Every contact merged into this one, transitively. A thin vector (its length on the
    /// heap, and no allocation while empty, which it is for most contacts): 8 bytes of the
    /// record, where a boxed slice took 16.
    pub(crate) absorbed: ThinVec<ContactId>,
}

impl Record {
    fn new(ids: Small<[Identifier; 1]>) -> Record {
        Record {
            ids,
            key: 0,
            absorbed: ThinVec::new(),
        }
    }

    /// The stable key: the primary id when the contact was created.
    pub(crate) fn key(&self) -> &Identifier {
        &self.ids[self.key as usize]
    }

    pub(crate) fn names(&self) -> Names {
        Names {
            key: self.key().to_string(),
            primary: self.ids[0].to_string(),
        }
    }

    /// Adds identifiers (none of them already here), keeping `ids` sorted and the key found.
    fn add_ids(&mut self, more: impl IntoIterator<Item = Identifier>) {
        let key = self.key().clone();
        self.ids.extend(more);
        self.ids.sort();
        self.key = self.position(&key).expect("the key stays among the ids");
    }

    fn position(&self, id: &Identifier) -> Option<u32> {
        self.ids.iter().position(|i| i == id).map(|p| p as u32)
    }
}

impl bincode::Encode for Record {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        (self.key(), &self.ids, &self.absorbed[..]).encode(e)
    }
}

impl<C> bincode::Decode<C> for Record {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let (key, ids, absorbed): (Identifier, Small<[Identifier; 1]>, Vec<ContactId>) =
            bincode::Decode::decode(d)?;
        let mut r = Record {
            ids,
            key: 0,
            absorbed: absorbed.into(),
        };
        r.key = r.position(&key).ok_or(bincode::error::DecodeError::Other(
            "a contact's key is not among its identifiers",
        ))?;
        Ok(r)
    }
}
bincode::impl_borrow_decode!(Record);

/// A contact removed by an erase request.
#[derive(Debug, Clone)]
pub(crate) struct Erased {
    pub(crate) contact: ContactId,
    pub(crate) absorbed: Vec<ContactId>,
    pub(crate) names: Names,
}

pub(crate) struct Identity {
    index: Index,
    records: Records,
    /// Names of contacts merged away or erased, until their shard has emitted their last
    /// signals (see [`Identity::names`]).
    retired: DashMap<ContactId, Names, RandomState>,
    next: AtomicU32,
    /// Held exclusively by the writer section, and shared by threads creating contacts of
    /// one identifier each ([`Identity::create_alone`]).
    writer: RwLock<()>,
    limits: IdLimits,
}

impl Identity {
    pub(crate) fn new(limits: IdLimits) -> Identity {
        Identity {
            index: Index::default(),
            records: Records::default(),
            retired: DashMap::with_hasher(RandomState::new()),
            next: AtomicU32::new(0),
            writer: RwLock::new(()),
            limits,
        }
    }

    /// The contact that owns an identifier.
    pub(crate) fn owner(&self, id: &Identifier) -> Option<ContactId> {
        self.index.get(id)
    }

    /// Asks for the index buckets that looking up `ids` reads first to be loaded into cache
    /// (a hint, for an event about to be admitted).
    pub(crate) fn prefetch(&self, ids: &[Identifier]) {
        for id in ids {
            self.index.prefetch(id);
        }
    }

    /// A copy of a live contact's record.
    pub(crate) fn record(&self, c: ContactId) -> Option<Record> {
        self.records.get(c, Record::clone)
    }

    /// A live contact's primary id.
    pub(crate) fn primary(&self, c: ContactId) -> Option<String> {
        self.records.get(c, |r| r.ids[0].to_string())
    }

    /// How signals name a contact: a live one by its record, one just merged away or erased
    /// by the names it had.
    pub(crate) fn names(&self, c: ContactId) -> Names {
        if let Some(n) = self.records.get(c, Record::names) {
            return n;
        }
        self.retired.get(&c).map(|n| n.clone()).unwrap_or_default()
    }

    /// The shard has emitted a retired contact's last signals: its names go.
    pub(crate) fn forget_retired(&self, c: ContactId) {
        self.retired.remove(&c);
    }

    /// Live contacts.
    pub(crate) fn contacts(&self) -> Vec<ContactId> {
        let mut v: Vec<ContactId> = Vec::with_capacity(self.records.len());
        self.records
            .for_each_stripe(|it| v.extend(it.map(|(c, _)| c)));
        v.sort_unstable();
        v
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn identifiers(&self) -> usize {
        self.index.len()
    }

    /// Calls `f` with the live contacts' records, `n` at a time, in no particular order (for
    /// a snapshot; identity must not change meanwhile).
    pub(crate) fn records_chunked(&self, n: usize, mut f: impl FnMut(&[(ContactId, &Record)])) {
        self.records.for_each_stripe(|it| {
            let mut chunk = Vec::with_capacity(n);
            for r in it {
                chunk.push(r);
                if chunk.len() == n {
                    f(&chunk);
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                f(&chunk);
            }
        });
    }

    /// Adds a record read back from a snapshot. Refused (identity unchanged) when the id is
    /// not below `next`, the record has no identifiers, or one of them is owned already.
    pub(crate) fn restore(&self, c: ContactId, r: Record, next: u32) -> Result<(), &'static str> {
        if c.0 >= next {
            return Err("a contact id beyond the ids handed out");
        }
        if r.ids.is_empty() || !r.ids.windows(2).all(|w| w[0] < w[1]) {
            return Err("a contact's identifiers are missing or out of order");
        }
        if self.records.contains(c) || r.ids.iter().any(|i| self.index.get(i).is_some()) {
            return Err("a contact or identifier is recorded twice");
        }
        for id in r.ids.iter() {
            self.index.insert(IdKey::of(id), c);
        }
        self.records.insert(c, r);
        self.next.fetch_max(next, Ordering::AcqRel);
        Ok(())
    }

    /// Sets the next contact id (a snapshot without contacts still moves it).
    pub(crate) fn set_next(&self, next: u32) {
        self.next.fetch_max(next, Ordering::AcqRel);
    }

    /// Ids handed out so far (the high-water mark of contact ids).
    pub(crate) fn allocated(&self) -> u32 {
        self.next.load(Ordering::Acquire)
    }

    /// Resolves an event's identifiers (non-empty) to a contact, creating, linking and merging
    /// as SPEC 2 says. Waits for the writer section when identity must change; the engine
    /// uses [`Identity::fast`] and [`Identity::try_writer`] instead, so that no ingesting thread
    /// waits.
    #[cfg(test)]
    pub(crate) fn resolve(&self, ids: &[Identifier]) -> Resolution {
        if let Some(c) = self.fast(ids) {
            return Resolution::found(c);
        }
        let _w = self.writer.write();
        self.resolve_locked(ids)
    }

    /// The writer section, if no other thread holds it.
    pub(crate) fn try_writer(&self) -> Option<Writer<'_>> {
        self.writer.try_write().map(|guard| Writer {
            identity: self,
            _guard: guard,
        })
    }

    /// True while some thread holds the writer section or is creating a contact beside it.
    pub(crate) fn writer_busy(&self) -> bool {
        self.writer.is_locked()
    }

    /// The contact when every identifier is known and leads to it: no change to identity.
    pub(crate) fn fast(&self, ids: &[Identifier]) -> Option<ContactId> {
        let mut owner = None;
        for id in ids {
            let c = self.owner(id)?;
            if owner.is_some_and(|o| o != c) {
                return None;
            }
            owner = Some(c);
        }
        owner
    }

    /// Resolves an event that carries the one identifier `id`, which [`Identity::fast`]
    /// found unowned, without entering the writer section: a contact owning only `id` is
    /// created, unless another thread claimed `id` meanwhile (then the event goes to that
    /// contact). Several threads may do this at once, each claiming its identifier under the
    /// lock of the index stripe that holds it. `None` (nothing changed) while the writer
    /// section is held: the caller queues the change for it instead.
    ///
    /// One identifier nobody owns can break no limit and merge nothing, so the outcome is the
    /// writer's; and since the id is handed out while the identifier is claimed, a smaller
    /// id still means a contact created first.
    pub(crate) fn create_alone(&self, id: &Identifier) -> Option<Resolution> {
        let _shared = self.writer.try_read()?;
        let claimed = self.index.claim(id, || {
            let c = ContactId(self.next.fetch_add(1, Ordering::AcqRel));
            // The record first, so that whoever finds `id` in the index finds the names too.
            self.records
                .insert(c, Record::new(SmallVec::from_iter([id.clone()]).into()));
            c
        });
        Some(match claimed {
            Ok(c) => Resolution {
                contact: c,
                created: true,
                absorbed: SmallVec::new(),
                conflict: false,
                absorbed_names: SmallVec::new(),
            },
            Err(owner) => Resolution::found(owner),
        })
    }

    fn resolve_locked(&self, ids: &[Identifier]) -> Resolution {
        let mut roots: SmallVec<[ContactId; 2]> = SmallVec::new();
        let mut unowned: SmallVec<[&Identifier; 2]> = SmallVec::new();
        for id in ids {
            match self.owner(id) {
                Some(c) => roots.push(c),
                None => unowned.push(id),
            }
        }
        roots.sort_unstable();
        roots.dedup();
        unowned.sort();
        let owned_ids: Vec<Vec<Identifier>> = roots
            .iter()
            .map(|c| self.records.get(*c, |r| r.ids.to_vec()).unwrap_or_default())
            .collect();
        let conflict = self
            .limits
            .violated_by(owned_ids.iter().flatten().chain(unowned.iter().copied()));
        if !conflict {
            let Some((&survivor, rest)) = roots.split_first() else {
                let c = self.create(&unowned);
                return Resolution {
                    contact: c,
                    created: true,
                    absorbed: SmallVec::new(),
                    conflict: false,
                    absorbed_names: SmallVec::new(),
                };
            };
            let absorbed_names = rest
                .iter()
                .filter_map(|&r| self.merge(survivor, r))
                .collect();
            self.link(survivor, &unowned);
            return Resolution {
                contact: survivor,
                created: false,
                absorbed: rest.iter().copied().collect(),
                conflict: false,
                absorbed_names,
            };
        }
        // Conflict: nothing merges. The event goes to the owner of its highest-priority
        // identifier (a new contact when nobody owns it); its unowned identifiers join that
        // contact where they break no limit.
        let top = ids
            .iter()
            .min()
            .expect("events carry at least one identifier");
        let (target, created) = match self.owner(top) {
            Some(c) => (c, false),
            None => (self.create(&[top]), true),
        };
        for id in unowned.iter().copied().filter(|id| *id != top) {
            let ok = self.records.get(target, |r| {
                !self
                    .limits
                    .violated_by(r.ids.iter().chain(std::iter::once(id)))
            }) == Some(true);
            if ok {
                self.link(target, &[id]);
            }
        }
        Resolution {
            contact: target,
            created,
            absorbed: SmallVec::new(),
            conflict: true,
            absorbed_names: SmallVec::new(),
        }
    }

    fn create(&self, ids: &[&Identifier]) -> ContactId {
        let c = ContactId(self.next.fetch_add(1, Ordering::AcqRel));
        let mut own: SmallVec<[Identifier; 1]> = ids.iter().map(|i| (*i).clone()).collect();
        own.sort();
        for id in &own {
            self.index.insert(IdKey::of(id), c);
        }
        self.records.insert(c, Record::new(own.into()));
        c
    }

    fn link(&self, c: ContactId, ids: &[&Identifier]) {
        if ids.is_empty() {
            return;
        }
        for id in ids {
            self.index.insert(IdKey::of(id), c);
        }
        self.records
            .update(c, |r| r.add_ids(ids.iter().map(|i| (*i).clone())))
            .expect("linked contact is live");
    }

    fn merge(&self, survivor: ContactId, from: ContactId) -> Option<Names> {
        let gone = self.records.remove(from)?;
        let names = gone.names();
        self.retired.insert(from, names.clone());
        for id in &gone.ids {
            self.index.insert(IdKey::of(id), survivor);
        }
        self.records
            .update(survivor, |r| {
                r.add_ids(gone.ids.0);
                r.absorbed.reserve(1 + gone.absorbed.len());
                r.absorbed.push(from);
                r.absorbed.extend(gone.absorbed);
            })
            .expect("survivor is live");
        Some(names)
    }

    /// Removes every contact that owns one of `ids`, with all its identifiers.
    #[cfg(test)]
    pub(crate) fn erase(&self, ids: &[Identifier]) -> Vec<Erased> {
        let _w = self.writer.write();
        self.erase_locked(ids)
    }

    fn erase_locked(&self, ids: &[Identifier]) -> Vec<Erased> {
        let mut roots: Vec<ContactId> = ids.iter().filter_map(|i| self.owner(i)).collect();
        roots.sort_unstable();
        roots.dedup();
        roots
            .into_iter()
            .filter_map(|c| {
                let rec = self.records.remove(c)?;
                for id in &rec.ids {
                    self.index.remove(&IdKey::of(id));
                }
                let names = rec.names();
                self.retired.insert(c, names.clone());
                Some(Erased {
                    contact: c,
                    names,
                    absorbed: rec.absorbed.into_iter().collect(),
                })
            })
            .collect()
    }

    /// Approximate heap bytes of the index and records (for memory reports).
    pub(crate) fn heap_bytes(&self) -> usize {
        let mut strings = 0;
        self.records.for_each_stripe(|it| {
            for (_, r) in it {
                strings += r.ids.iter().map(|i| i.value.heap_bytes()).sum::<usize>()
                    + if r.ids.spilled() {
                        r.ids.capacity() * std::mem::size_of::<Identifier>()
                    } else {
                        0
                    }
                    + crate::grow::thin_heap_bytes(&r.absorbed);
            }
        });
        self.index.heap_bytes() + self.records.heap_bytes() + strings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Identifier {
        Identifier::parse_pair(s).unwrap()
    }

    fn ids(list: &[&str]) -> Vec<Identifier> {
        list.iter().map(|s| id(s)).collect()
    }

    /// A record is 56 bytes (64 while its merged contacts were a boxed slice): one
    /// identifier inline, the key's place, and a thin list of merged contacts.
    #[test]
    fn the_size_of_a_record() {
        assert_eq!(std::mem::size_of::<Option<Record>>(), 56);
    }

    #[test]
    fn create_link_merge() {
        let i = Identity::new(IdLimits::default());
        let a = i.resolve(&ids(&["cookie:a"]));
        assert!(a.created);
        let b = i.resolve(&ids(&["device:b"]));
        let same = i.resolve(&ids(&["cookie:a", "email:x@y"]));
        assert_eq!(same.contact, a.contact);
        assert!(!same.created);
        let m = i.resolve(&ids(&["device:b", "email:x@y"]));
        assert_eq!(m.contact, a.contact, "the contact created first survives");
        assert_eq!(m.absorbed.as_slice(), &[b.contact]);
        assert_eq!(i.owner(&id("device:b")), Some(a.contact));
        let r = i.record(a.contact).unwrap();
        assert_eq!(
            r.ids[0],
            id("email:x@y"),
            "primary id is the highest priority"
        );
        assert_eq!(
            r.key(),
            &id("cookie:a"),
            "key is the primary id at creation"
        );
        assert_eq!(i.len(), 1);
    }

    #[test]
    fn creating_alone_waits_for_no_writer_but_steps_aside_for_one() {
        let i = Identity::new(IdLimits::default());
        let a = i.create_alone(&id("cookie:a")).unwrap();
        assert!(a.created);
        assert_eq!(i.owner(&id("cookie:a")), Some(a.contact));
        assert_eq!(i.primary(a.contact).as_deref(), Some("cookie:a"));
        let again = i.create_alone(&id("cookie:a")).unwrap();
        assert_eq!(again, Resolution::found(a.contact));
        let w = i.try_writer().unwrap();
        assert_eq!(i.create_alone(&id("cookie:b")), None);
        assert_eq!(i.owner(&id("cookie:b")), None, "nothing changed");
        drop(w);
        let _shared = i.writer.try_read().unwrap();
        assert!(i.try_writer().is_none(), "a creation keeps the writer out");
        assert!(i.writer_busy());
    }

    /// Eight threads claim the same new identifiers: each gets one contact, created once,
    /// and no id is handed out in vain, so ids stay dense.
    #[test]
    fn racing_creations_of_one_identifier_make_one_contact() {
        const N: usize = 2000;
        let i = Identity::new(IdLimits::default());
        let names: Vec<Identifier> = (0..N).map(|n| id(&format!("cookie:c{n}"))).collect();
        let seen: Vec<Vec<Resolution>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let (i, names) = (&i, &names);
                    s.spawn(move || {
                        // Each thread walks the identifiers from its own place, so that the
                        // threads meet on every one of them at some point.
                        (0..N)
                            .map(|k| i.create_alone(&names[(k + t * N / 8) % N]).unwrap())
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(i.len(), N);
        assert_eq!(i.allocated() as usize, N);
        for (n, name) in names.iter().enumerate() {
            let owner = i.owner(name).unwrap();
            let got: Vec<&Resolution> = (0..8).map(|t| &seen[t][(n + N - t * N / 8) % N]).collect();
            assert!(got.iter().all(|r| r.contact == owner), "{name}");
            assert_eq!(got.iter().filter(|r| r.created).count(), 1, "{name}");
            assert_eq!(i.record(owner).unwrap().ids.to_vec(), vec![name.clone()]);
        }
    }

    /// A record is stored as it was when it held its key as a separate identifier; bytes
    /// whose key is not among the identifiers are refused.
    #[test]
    fn records_are_stored_with_the_key_first() {
        use crate::codec::{pack, unpack};
        type Stored = (Identifier, Vec<Identifier>, Vec<ContactId>);
        let i = Identity::new(IdLimits::default());
        let a = i.resolve(&ids(&["cookie:a"])).contact;
        let b = i.resolve(&ids(&["device:b"])).contact;
        i.resolve(&ids(&["device:b", "email:x@y", "cookie:a"]));
        let r = i.record(a).unwrap();
        let want: Stored = (
            id("cookie:a"),
            vec![id("email:x@y"), id("device:b"), id("cookie:a")],
            vec![b],
        );
        assert_eq!(r.ids.to_vec(), want.1);
        assert_eq!(pack(&r), pack(&want));
        let back: Record = unpack(&pack(&want)).unwrap();
        assert_eq!(
            (back.key(), &back.ids, &back.absorbed[..]),
            (r.key(), &r.ids, &r.absorbed[..])
        );
        let stray: Stored = (id("phone:1"), want.1.clone(), vec![]);
        assert!(unpack::<Record>(&pack(&stray)).is_err());
    }

    #[test]
    fn conflicting_customers_do_not_merge() {
        let i = Identity::new(IdLimits::default());
        let a = i.resolve(&ids(&["customer:1", "cookie:a"])).contact;
        let b = i.resolve(&ids(&["customer:2", "cookie:b"])).contact;
        let r = i.resolve(&ids(&["cookie:a", "device:b2", "fingerprint:f"]));
        assert_eq!(r.contact, a);
        let r = i.resolve(&ids(&["device:b2", "cookie:b", "phone:9"]));
        assert!(r.conflict, "merging a and b would give two customer ids");
        assert!(r.absorbed.is_empty());
        assert!(
            r.created,
            "phone:9 is the top identifier and nobody owns it"
        );
        assert_eq!(i.owner(&id("phone:9")), Some(r.contact));
        assert_eq!(i.owner(&id("device:b2")), Some(a), "owned identifiers stay");
        assert_eq!(i.owner(&id("cookie:b")), Some(b));
        let r = i.resolve(&ids(&["device:b2", "cookie:b", "fingerprint:g"]));
        assert!(r.conflict);
        assert_eq!(r.contact, a, "device:b2 is the top identifier, owned by a");
        assert_eq!(
            i.owner(&id("fingerprint:g")),
            Some(a),
            "unowned ids join the target"
        );
        // A new customer id on a contact that has one: goes to a new contact.
        let r = i.resolve(&ids(&["customer:3", "cookie:a"]));
        assert!(r.conflict && r.created);
        assert_eq!(i.owner(&id("cookie:a")), Some(a));
        // Limits are configurable.
        let u = Identity::new(IdLimits::unlimited());
        let a = u.resolve(&ids(&["customer:1"])).contact;
        let r = u.resolve(&ids(&["customer:1", "customer:2"]));
        assert_eq!(r.contact, a);
        assert!(!r.conflict);
    }

    #[test]
    fn erase_removes_everything() {
        let i = Identity::new(IdLimits::default());
        let a = i.resolve(&ids(&["cookie:a", "email:e@x"])).contact;
        let _b = i.resolve(&ids(&["cookie:b"])).contact;
        i.resolve(&ids(&["cookie:b", "email:e@x"]));
        let gone = i.erase(&ids(&["cookie:b"]));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].contact, a);
        assert_eq!(gone[0].absorbed.len(), 1);
        assert_eq!(i.identifiers(), 0);
        assert_eq!(i.len(), 0);
        let again = i.resolve(&ids(&["cookie:a"]));
        assert!(again.created && again.contact != a);
    }
}
