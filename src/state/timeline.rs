//! A bounded, time-ordered list of a contact's most recent events.
//!
//! It keeps the `capacity` latest events by `(time, arrival)`. Because each side of a merge
//! already holds its own latest `capacity`, the latest `capacity` of the union are among them,
//! so merging two timelines is exact.

use super::Stamp;
use crate::event::{Channel, Kind, Money};
use crate::intern::Sym;

/// One remembered event, in compact form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) at: Stamp,
    pub(crate) kind: Kind,
    pub(crate) channel: Channel,
    pub(crate) brand: Sym,
    /// The thing the event is about.
    pub(crate) subject: Subject,
    pub(crate) amount: Option<Money>,
}

/// What an event is about: a catalogue name shared by many people (product, campaign, zone,
/// place, form, topic, custom name), interned; or an order id, which belongs to one person and
/// is kept as text so that erasing the person leaves no trace of it in shared tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subject {
    None,
    Sym(Sym),
    Text(Box<str>),
}

impl Subject {
    pub(crate) fn of(name: Option<&str>, syms: &crate::intern::Interner) -> Subject {
        name.map_or(Subject::None, |n| Subject::Sym(syms.intern(n)))
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Timeline {
    entries: Vec<Entry>,
}

impl Timeline {
    pub(crate) fn insert(&mut self, e: Entry, capacity: usize) {
        if capacity == 0 {
            return;
        }
        if self.entries.len() >= capacity && self.entries[0].at > e.at {
            return;
        }
        let len = self.entries.len();
        if len == self.entries.capacity() && len < capacity {
            // Grow 2, 4, 8 … up to exactly `capacity`: no slack beyond what is kept.
            self.entries
                .reserve_exact((len * 2).clamp(2, capacity) - len);
        }
        let pos = self.entries.partition_point(|x| x.at < e.at);
        self.entries.insert(pos, e);
        if self.entries.len() > capacity {
            let extra = self.entries.len() - capacity;
            self.entries.drain(..extra);
        }
    }

    pub(crate) fn absorb(&mut self, other: Timeline, capacity: usize) {
        self.entries.extend(other.entries);
        self.entries.sort_unstable_by_key(|e| e.at);
        if self.entries.len() > capacity {
            let extra = self.entries.len() - capacity;
            self.entries.drain(..extra);
        }
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        let text: usize = self
            .entries
            .iter()
            .map(|e| match &e.subject {
                Subject::Text(t) => t.len(),
                _ => 0,
            })
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
            subject: Subject::None,
            amount: None,
        }
    }

    #[test]
    fn keeps_latest_in_order() {
        let mut t = Timeline::default();
        for ts in [5, 1, 9, 3, 7] {
            t.insert(e(ts), 3);
        }
        let got: Vec<i64> = t.entries().iter().map(|x| x.at.ts).collect();
        assert_eq!(got, [5, 7, 9]);
        let mut o = Timeline::default();
        o.insert(e(8), 3);
        o.insert(e(2), 3);
        t.absorb(o, 3);
        let got: Vec<i64> = t.entries().iter().map(|x| x.at.ts).collect();
        assert_eq!(got, [7, 8, 9]);
    }
}
