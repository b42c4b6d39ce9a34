//! De-duplication memory: which event ids were accepted recently.
//!
//! An id is remembered while its event time is at least `now − window`; a resent event whose
//! original is still remembered is a duplicate (acknowledged, no effect). Expired entries are
//! treated as absent at once and removed lazily: accepted ids are also queued in arrival order,
//! and every insert pops a few expired ones off the front (arrival order is event-time order
//! up to the lateness bound, so the queue front is always among the oldest). Cost: one map
//! entry and one queue entry per remembered id, about `2 × id length + 80` bytes.

use crate::event::Ts;
use crate::identity::ContactId;
use crate::Text;
use ahash::RandomState;
use crossbeam::queue::SegQueue;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use parking_lot::Mutex;
use std::collections::HashSet;

const NO_CONTACT: ContactId = ContactId(u32::MAX);
/// Expired entries removed per insert, at most.
const PRUNE_PER_INSERT: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Seen {
    ts: Ts,
    contact: ContactId,
}

pub(crate) struct Dedup {
    map: DashMap<Text, Seen, RandomState>,
    order: SegQueue<(Ts, Text)>,
    /// The pruner's look-ahead: an entry popped from `order` that had not expired yet.
    held: Mutex<Option<(Ts, Text)>>,
    window: i64,
}

impl Dedup {
    pub(crate) fn new(window: i64) -> Dedup {
        Dedup {
            map: DashMap::with_hasher(RandomState::new()),
            order: SegQueue::new(),
            held: Mutex::new(None),
            window,
        }
    }

    fn fresh(&self, s: &Seen, now: Option<Ts>) -> bool {
        now.is_none_or(|n| s.ts >= n.saturating_sub(self.window))
    }

    pub(crate) fn is_duplicate(&self, id: &str, now: Option<Ts>) -> bool {
        self.map.get(id).is_some_and(|s| self.fresh(&s, now))
    }

    /// Remembers an accepted id; false when a fresh entry already exists (a concurrent
    /// duplicate won the race).
    pub(crate) fn insert(&self, id: &str, ts: Ts, now: Option<Ts>) -> bool {
        let seen = Seen {
            ts,
            contact: NO_CONTACT,
        };
        let id = Text::from(id);
        match self.map.entry(id.clone()) {
            Entry::Occupied(mut o) => {
                if self.fresh(o.get(), now) {
                    return false;
                }
                o.insert(seen);
            }
            Entry::Vacant(v) => {
                v.insert(seen);
            }
        }
        self.order.push((ts, id));
        if let Some(n) = now {
            self.prune(n.saturating_sub(self.window));
        }
        true
    }

    pub(crate) fn set_contact(&self, id: &str, c: ContactId) {
        if let Some(mut s) = self.map.get_mut(id) {
            s.contact = c;
        }
    }

    /// Forgets `id` if it was accepted for contact `c`. A shard calls this for an event that
    /// reaches its contact after the contact was erased; by then the id may have been
    /// accepted again, for another contact, and that entry stays.
    pub(crate) fn forget_of(&self, id: &str, c: ContactId) {
        self.map.remove_if(id, |_, s| s.contact == c);
    }

    /// Forgets every id accepted for one of `contacts` (an erasure). Scans the remembered ids:
    /// erasures are rare and the memory is bounded by the window.
    pub(crate) fn forget_contacts(&self, contacts: &HashSet<ContactId>) {
        self.map.retain(|_, s| !contacts.contains(&s.contact));
    }

    fn prune(&self, horizon: Ts) {
        let Some(mut held) = self.held.try_lock() else {
            return;
        };
        for _ in 0..PRUNE_PER_INSERT {
            let Some((ts, id)) = held.take().or_else(|| self.order.pop()) else {
                return;
            };
            if ts >= horizon {
                *held = Some((ts, id));
                return;
            }
            self.map.remove_if(&id, |_, s| s.ts < horizon);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The remembered ids of events of `contacts`, sorted.
    pub(crate) fn ids_of(&self, contacts: &[ContactId]) -> Vec<String> {
        let mut v: Vec<String> = self
            .map
            .iter()
            .filter(|e| contacts.contains(&e.value().contact))
            .map(|e| e.key().to_string())
            .collect();
        v.sort_unstable();
        v
    }

    /// The ids still remembered at `now`, oldest first: (id, event time, contact number, or
    /// `u32::MAX` when none was recorded). For a snapshot.
    pub(crate) fn entries(&self, now: Option<Ts>) -> Vec<(Text, Ts, u32)> {
        let mut v: Vec<_> = self
            .map
            .iter()
            .filter(|e| self.fresh(e.value(), now))
            .map(|e| (e.key().clone(), e.value().ts, e.value().contact.0))
            .collect();
        v.sort_unstable_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        v
    }

    /// Remembers ids read back from a snapshot, in the order [`Dedup::entries`] gave them.
    pub(crate) fn restore(&self, entries: Vec<(Text, Ts, u32)>) {
        for (id, ts, contact) in entries {
            self.map.insert(
                id.clone(),
                Seen {
                    ts,
                    contact: ContactId(contact),
                },
            );
            self.order.push((ts, id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_within_window_only() {
        let d = Dedup::new(100);
        assert!(d.insert("a", 1000, None));
        assert!(d.is_duplicate("a", Some(1000)));
        assert!(!d.insert("a", 1000, Some(1000)));
        assert!(d.is_duplicate("a", Some(1100)));
        assert!(!d.is_duplicate("a", Some(1101)), "expired");
        assert!(d.insert("b", 1200, Some(1200)));
        assert_eq!(d.len(), 1, "the expired id was pruned");
        assert!(d.insert("a", 1200, Some(1200)));
    }

    #[test]
    fn forgets_contacts() {
        let d = Dedup::new(100);
        d.insert("a", 1, None);
        d.insert("b", 1, None);
        d.set_contact("a", ContactId(7));
        d.set_contact("b", ContactId(8));
        d.forget_contacts(&[ContactId(7)].into_iter().collect());
        assert!(!d.is_duplicate("a", Some(1)));
        assert!(d.is_duplicate("b", Some(1)));
        d.forget_of("b", ContactId(7));
        assert!(
            d.is_duplicate("b", Some(1)),
            "b was accepted for another contact"
        );
        d.forget_of("b", ContactId(8));
        assert!(!d.is_duplicate("b", Some(1)));
    }
}
