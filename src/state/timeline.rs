//! A bounded, time-ordered list of a contact's most recent events.
//!
//! It keeps the `capacity` latest events by `(time, arrival)`. Because each side of a merge
//! already holds its own latest `capacity`, the latest `capacity` of the union are among them,
//! so merging two timelines is exact.

use super::Stamp;
use crate::codec::Packed;
use crate::event::{Channel, Event, Kind, Payload};
use crate::intern::{Interner, Sym};
use std::collections::VecDeque;

/// One remembered event: its time, channel and brand, and its payload packed by
/// [`crate::codec`] (every field a rule condition can read, so that a rule loaded later can be
/// backfilled; ids stay out). Order ids and other personal text live in the packed bytes, which
/// belong to this contact alone and go with it when it is erased.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
pub(crate) struct Entry {
    pub(crate) at: Stamp,
    /// The event's kind, so that a backfill unpacks only what its new terms read (it fits
    /// in the entry's padding).
    pub(crate) kind: Kind,
    pub(crate) channel: Channel,
    pub(crate) brand: Sym,
    pub(crate) payload: Packed,
}

impl Entry {
    /// The payload, unpacked.
    pub(crate) fn payload(&self) -> Payload {
        // The bytes were packed by this process from a valid payload.
        crate::codec::unpack(&self.payload).expect("timeline entries unpack")
    }

    /// The event as rules see it (no identifiers, no id).
    pub(crate) fn event(&self, syms: &Interner) -> Event {
        let mut e = Event::new(self.at.ts, self.payload());
        e.channel = self.channel;
        e.brand = (*syms.name(self.brand)).into();
        e
    }
}

/// The kept entries in a ring, oldest first: the usual event is the newest, which costs one
/// pop at the front and one push at the back, without moving the others.
#[derive(Debug, Clone, Default, bincode::Encode, bincode::Decode)]
pub(crate) struct Timeline {
    entries: VecDeque<Entry>,
}

impl Timeline {
    /// Whether an event at `at` would be kept (it is among the latest `capacity`).
    fn keeps(&self, at: Stamp, capacity: usize) -> bool {
        capacity > 0 && (self.entries.len() < capacity || self.entries[0].at < at)
    }

    /// Keeps the entry `make` builds for an event at `at`, when it is among the latest
    /// `capacity` (the entry is built only then: packing a payload is not free).
    pub(crate) fn insert_with(&mut self, at: Stamp, capacity: usize, make: impl FnOnce() -> Entry) {
        if !self.keeps(at, capacity) {
            return;
        }
        let e = make();
        let len = self.entries.len();
        if len == capacity {
            self.entries.pop_front();
        } else if len == self.entries.capacity() {
            // Grow 2, 4, 8 … up to exactly `capacity`: no slack beyond what is kept.
            self.entries
                .reserve_exact((len * 2).clamp(2, capacity) - len);
        }
        if self.entries.back().is_none_or(|b| b.at < e.at) {
            self.entries.push_back(e);
        } else {
            let pos = self.entries.partition_point(|x| x.at < e.at);
            self.entries.insert(pos, e);
        }
    }

    pub(crate) fn absorb(&mut self, other: Timeline, capacity: usize) {
        let mut all: Vec<Entry> = self.entries.drain(..).chain(other.entries).collect();
        all.sort_unstable_by_key(|e| e.at);
        let extra = all.len().saturating_sub(capacity);
        self.entries = all.into_iter().skip(extra).collect();
    }

    /// Checks entries read back from disk: brands interned, payloads that unpack to the
    /// entry's kind, in stamp order.
    pub(crate) fn check(&self, symbols: u32) -> Result<(), &'static str> {
        for (i, e) in self.entries.iter().enumerate() {
            if e.brand.0 >= symbols {
                return Err("a timeline entry names a brand that is not interned");
            }
            match crate::codec::unpack::<Payload>(&e.payload) {
                Ok(p) if p.kind() == e.kind => {}
                _ => return Err("a timeline entry's payload does not unpack to its kind"),
            }
            if i > 0 && self.entries[i - 1].at >= e.at {
                return Err("timeline entries out of order");
            }
        }
        Ok(())
    }

    /// Keeps only the latest `capacity` entries.
    pub(crate) fn truncate(&mut self, capacity: usize) {
        let extra = self.entries.len().saturating_sub(capacity);
        self.entries.drain(..extra);
    }

    /// The kept entries, oldest first.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let text: usize = self
            .entries
            .iter()
            .filter(|e| e.payload.spilled())
            .map(|e| e.payload.capacity())
            .sum();
        self.entries.capacity() * std::mem::size_of::<Entry>() + text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(ts: i64) -> Entry {
        Entry {
            at: Stamp { ts, seq: ts as u64 },
            kind: Kind::PageView,
            channel: Channel::Web,
            brand: Sym(0),
            payload: Packed::new(),
        }
    }

    #[test]
    fn keeps_latest_in_order() {
        let mut t = Timeline::default();
        for ts in [5, 1, 9, 3, 7] {
            t.insert_with(e(ts).at, 3, || e(ts));
        }
        let got: Vec<i64> = t.entries().map(|x| x.at.ts).collect();
        assert_eq!(got, [5, 7, 9]);
        let mut o = Timeline::default();
        o.insert_with(e(8).at, 3, || e(8));
        o.insert_with(e(2).at, 3, || e(2));
        t.absorb(o, 3);
        let got: Vec<i64> = t.entries().map(|x| x.at.ts).collect();
        assert_eq!(got, [7, 8, 9]);
    }
}
