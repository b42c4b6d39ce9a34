//! A bounded, time-ordered list of a contact's most recent events.
//!
//! It keeps the `capacity` latest events by `(time, arrival)`. Because each side of a merge
//! already holds its own latest `capacity`, the latest `capacity` of the union are among them,
//! so merging two timelines is exact.

use super::Stamp;
use crate::codec::tagged::{self, Group};
use crate::codec::{Pack, Packed, Stack};
use crate::event::{Channel, Event, Kind, Payload};
use crate::intern::{Interner, Sym};

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

/// The kept entries, oldest first, packed one after another into one byte buffer: a profile
/// keeps ten events by default, and as structs they cost more than the rest of the profile.
/// The buffer starts with a header of [`PREFIX`] bytes, all little-endian:
///
/// ```text
/// i64 base      the time the oldest kept entry's is written from
/// i64 last      the newest entry's time: an event later than it is appended without
///               reading any entry
/// u32 head      where the oldest kept entry starts (at least PREFIX)
/// u32 len       how many entries are kept
/// ```
///
/// An empty timeline has no buffer at all, and reads as zeros. (The last three lived in the
/// contact's slot until the twenty-third session; on the heap, beside the base that every
/// event's removal of the oldest entry writes anyway, they cost the slot nothing, which
/// brought it to three cache lines.) Each entry is then written as a group of
/// [`crate::codec::tagged`] fields:
///
/// ```text
/// u8 tag: the lengths of the four fields below
/// u8 kind, u8 channel
/// ts − previous ts   (wide; the first entry's from the base: entries are in stamp order,
///                     so it is never negative)
/// seq                (wide)
/// brand symbol       (narrow)
/// payload length     (narrow), payload bytes
/// ```
///
/// so a page view costs about twelve bytes instead of eighty. The usual event is the newest:
/// it is appended, and the oldest, when the timeline is full, removed from the front: its
/// time becomes the base and `head` moves past it, with nothing shifted or written again.
/// The bytes between the base and `head` are taken back when the end needs room, by one
/// shift of the live bytes, before the buffer grows. A late event re-packs the buffer. The
/// buffer is private to this module; what a snapshot stores is the list of entries.
///
/// (Until the twenty-first session the fields were varints and the first entry's time was
/// written in full, so that removing the oldest wrote its successor's time again: a varint
/// loop per field to write, one to skip, and 290 instructions to remove an entry.)
#[derive(Debug, Clone, Default)]
pub(crate) struct Timeline {
    buf: Vec<u8>,
}

/// The header's bytes at the start of a timeline's buffer, and where its fields are.
const PREFIX: usize = 24;
const AT_BASE: usize = 0;
const AT_LAST: usize = 8;
const AT_HEAD: usize = 16;
const AT_LEN: usize = 20;

/// Equal when the kept entries are: the base, the bytes before `head` and spare capacity
/// do not count.
impl PartialEq for Timeline {
    fn eq(&self, other: &Timeline) -> bool {
        self.len() == other.len()
            && self.last_ts() == other.last_ts()
            && self.entries().eq(other.entries())
    }
}

impl Eq for Timeline {}

/// An entry's tag, and where its fields are: the lengths and offsets the tag gives.
#[derive(Clone, Copy)]
struct Layout {
    dt: usize,
    seq: usize,
    brand: usize,
    len: usize,
}

impl Layout {
    fn of(tag: u8) -> Layout {
        let class = |i: u32| usize::from(tag >> (2 * i) & 3);
        Layout {
            dt: usize::from(tagged::WIDE[class(0)]),
            seq: usize::from(tagged::WIDE[class(1)]),
            brand: usize::from(tagged::NARROW[class(2)]),
            len: usize::from(tagged::NARROW[class(3)]),
        }
    }
}

/// Bytes before an entry's first field: the tag, the kind and the channel. (Twenty-two
/// kinds and twelve channels do not fit one byte together.)
const FIXED: usize = 3;

/// Reads packed entries; the bytes were written by this module.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    prev_ts: i64,
}

impl Reader<'_> {
    /// The next entry's time, its layout, and where its payload starts (moving past the
    /// entry's fields, not its payload).
    fn fields(&mut self) -> (Layout, usize) {
        let l = Layout::of(self.buf[self.pos]);
        let at = self.pos + FIXED;
        let dt = tagged::read(self.buf, at, l.dt);
        self.prev_ts = self.prev_ts.wrapping_add(dt as i64);
        let fields = l.dt + l.seq + l.brand + l.len;
        (l, at + fields)
    }

    /// The payload's length, for an entry whose payload starts at `payload`.
    fn payload_len(&self, l: Layout, payload: usize) -> usize {
        tagged::read(self.buf, payload - l.len, l.len) as usize
    }

    /// The next entry's stamp, moving past it.
    fn stamp(&mut self) -> Stamp {
        let start = self.pos;
        let (l, payload) = self.fields();
        let seq = tagged::read(self.buf, start + FIXED + l.dt, l.seq);
        self.pos = payload + self.payload_len(l, payload);
        Stamp {
            ts: self.prev_ts,
            seq,
        }
    }

    /// Moves past the next entry, reading only its time.
    fn skip(&mut self) {
        let (l, payload) = self.fields();
        self.pos = payload + self.payload_len(l, payload);
    }

    fn entry(&mut self) -> Entry {
        let start = self.pos;
        let (kind, channel) = (self.buf[start + 1], self.buf[start + 2]);
        let (l, payload) = self.fields();
        let mut at = start + FIXED + l.dt;
        let seq = tagged::read(self.buf, at, l.seq);
        at += l.seq;
        let brand = Sym(tagged::read(self.buf, at, l.brand) as u32);
        let n = self.payload_len(l, payload);
        self.pos = payload + n;
        Entry {
            at: Stamp {
                ts: self.prev_ts,
                seq,
            },
            kind: Kind::ALL[usize::from(kind)],
            channel: Channel::ALL[usize::from(channel)],
            brand,
            payload: Packed::from_slice(&self.buf[payload..payload + n]),
        }
    }
}

/// What an entry holds besides its payload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub(crate) at: Stamp,
    pub(crate) kind: Kind,
    pub(crate) channel: Channel,
    pub(crate) brand: Sym,
}

/// An entry's fields up to its payload's length `len`, after an entry (or base) at time
/// `prev_ts`, no later than it.
fn fields(h: Head, len: usize, prev_ts: i64) -> Group {
    debug_assert!(prev_ts <= h.at.ts, "entries in stamp order");
    let mut g = Group::new(&[h.kind as u8, h.channel as u8]);
    g.wide(h.at.ts.wrapping_sub(prev_ts) as u64);
    g.wide(h.at.seq);
    g.narrow(u64::from(h.brand.0));
    g.narrow(len as u64);
    g
}

/// Appends `e` after an entry (or base) at time `prev_ts`.
fn put_entry(out: &mut Vec<u8>, e: &Entry, prev_ts: i64) {
    let head = Head {
        at: e.at,
        kind: e.kind,
        channel: e.channel,
        brand: e.brand,
    };
    out.extend_from_slice(fields(head, e.payload.len(), prev_ts).as_bytes());
    out.extend_from_slice(&e.payload);
}

impl Timeline {
    /// A header field (0 while there is no buffer).
    fn field<const N: usize>(&self, at: usize) -> [u8; N] {
        match self.buf.get(at..at + N) {
            Some(b) => b.try_into().expect("N bytes"),
            None => [0; N],
        }
    }

    fn set_field(&mut self, at: usize, bytes: &[u8]) {
        self.buf[at..at + bytes.len()].copy_from_slice(bytes);
    }

    /// The base: the time the oldest kept entry's is written from.
    fn base(&self) -> i64 {
        i64::from_le_bytes(self.field(AT_BASE))
    }

    /// The newest entry's time (0 when empty).
    fn last_ts(&self) -> i64 {
        i64::from_le_bytes(self.field(AT_LAST))
    }

    /// Where the oldest kept entry starts (0 when empty).
    fn head(&self) -> usize {
        u32::from_le_bytes(self.field(AT_HEAD)) as usize
    }

    /// How many entries are kept.
    fn len(&self) -> usize {
        u32::from_le_bytes(self.field(AT_LEN)) as usize
    }

    fn set_len(&mut self, len: usize) {
        self.set_field(AT_LEN, &(len as u32).to_le_bytes());
    }

    fn set_head(&mut self, head: usize) {
        self.set_field(AT_HEAD, &(head as u32).to_le_bytes());
    }

    fn set_last_ts(&mut self, ts: i64) {
        self.set_field(AT_LAST, &ts.to_le_bytes());
    }

    /// Starts an empty buffer's header for a first entry at `ts`.
    fn start(buf: &mut Vec<u8>, ts: i64) {
        debug_assert!(buf.is_empty());
        buf.extend_from_slice(&ts.to_le_bytes());
        buf.extend_from_slice(&ts.to_le_bytes());
        buf.extend_from_slice(&(PREFIX as u32).to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
    }

    fn reader(&self) -> Reader<'_> {
        Reader {
            buf: &self.buf,
            pos: self.head(),
            prev_ts: self.base(),
        }
    }

    /// Packs `entries` (in order) anew.
    fn from_entries(entries: &[Entry]) -> Timeline {
        let Some(first) = entries.first() else {
            return Timeline::default();
        };
        let mut buf = Vec::new();
        Timeline::start(&mut buf, first.at.ts);
        let mut prev = first.at.ts;
        for e in entries {
            put_entry(&mut buf, e, prev);
            prev = e.at.ts;
        }
        buf.shrink_to_fit();
        let mut t = Timeline { buf };
        t.set_len(entries.len());
        t.set_last_ts(prev);
        t
    }

    fn all(&self) -> Vec<Entry> {
        self.entries().collect()
    }

    /// Removes the oldest entry: its time becomes the base, and `head` moves past it.
    fn pop_front(&mut self) {
        let len = self.len();
        if len <= 1 {
            self.buf.clear();
            return;
        }
        let mut r = self.reader();
        r.skip();
        let (ts, next) = (r.prev_ts, r.pos);
        self.set_field(AT_BASE, &ts.to_le_bytes());
        self.set_head(next);
        self.set_len(len - 1);
    }

    /// Moves the kept bytes to just after the base, taking back the bytes before `head`.
    fn compact(&mut self) {
        let head = self.head();
        if head > PREFIX {
            self.buf.copy_within(head.., PREFIX);
            self.buf.truncate(self.buf.len() - (head - PREFIX));
            self.set_head(PREFIX);
        }
    }

    /// Makes room at the end for `extra` more bytes, for an entry that makes the timeline
    /// hold `filled` entries of at most `capacity`: first by taking back the bytes before
    /// `head`, then by growing the buffer. While the timeline fills, it doubles, but not past
    /// `capacity` entries of the size seen so far and an eighth to spare; once full, only the
    /// entries' sizes vary, and it grows by an eighth. (Growing by half each time, from the
    /// first entry's size, took five reallocations a contact to hold ten entries: 4.5 % of
    /// the one-segment instructions.)
    fn make_room(&mut self, extra: usize, filled: usize, capacity: usize) {
        if self.buf.len() + extra <= self.buf.capacity() {
            return;
        }
        self.compact();
        let live = self.buf.len();
        let need = live + extra;
        if need > self.buf.capacity() {
            let target = if filled < capacity {
                // The header is there once, whatever the number of entries.
                let full = PREFIX + (need - PREFIX).saturating_mul(capacity) / filled;
                (2 * need).min(full + full / 8)
            } else {
                need + live / 8
            };
            crate::grow::reserve_exact(&mut self.buf, target.max(need) - live);
        }
    }

    /// Whether an event at `at` would be kept (it is among the latest `capacity`).
    /// (`len` and `last_ts`: the header's, read once by the caller.)
    fn keeps(&self, at: Stamp, capacity: usize, len: usize, last_ts: i64) -> bool {
        // Later than the newest kept entry (the usual event) is kept without reading the
        // oldest's stamp.
        capacity > 0 && (len < capacity || at.ts > last_ts || self.reader().stamp() < at)
    }

    /// Keeps an event, when it is among the latest `capacity`: `head`, and `payload` packed
    /// (only then: packing a payload is not free). It is packed once, on the stack, and
    /// copied after its fields; a payload too long for the [`Stack`] is packed again,
    /// straight into the buffer, once its length is known.
    pub(crate) fn insert<P: Pack + ?Sized>(&mut self, head: Head, capacity: usize, payload: &P) {
        let at = head.at;
        let (len, last_ts) = (self.len(), self.last_ts());
        if !self.keeps(at, capacity, len, last_ts) {
            return;
        }
        let mut packed = Stack::default();
        payload.pack_into(&mut packed);
        let n = packed.len();
        // Removing the oldest leaves the newest's time as it is (and when it was the only
        // entry, `len` 0 says the timeline is empty).
        let len = if len == capacity {
            self.pop_front();
            len - 1
        } else {
            len
        };
        let newest = len == 0
            || at.ts > last_ts
            || (at.ts == last_ts && self.entries().last().is_some_and(|l| l.at < at));
        if newest {
            // The first entry is written from a base of its own time.
            let (prev, header) = if len == 0 {
                (at.ts, PREFIX)
            } else {
                (last_ts, 0)
            };
            let g = fields(head, n, prev);
            let extra = header + g.as_bytes().len() + n;
            self.make_room(extra, len + 1, capacity);
            if header > 0 {
                Timeline::start(&mut self.buf, at.ts);
            }
            let start = self.buf.len();
            self.buf.extend_from_slice(g.as_bytes());
            packed.write_to(payload, &mut self.buf);
            debug_assert_eq!(
                self.buf.len() - start,
                extra - header,
                "the payload packs the same twice"
            );
            self.set_last_ts(at.ts);
            self.set_len(len + 1);
        } else {
            // A late event: re-pack with it in place.
            let mut bytes = Vec::with_capacity(n);
            packed.write_to(payload, &mut bytes);
            let mut all = self.all();
            let pos = all.partition_point(|x| x.at < at);
            let e = Entry {
                at,
                kind: head.kind,
                channel: head.channel,
                brand: head.brand,
                payload: Packed::from_slice(&bytes),
            };
            all.insert(pos, e);
            *self = Timeline::from_entries(&all);
        }
    }

    pub(crate) fn absorb(&mut self, other: Timeline, capacity: usize) {
        let mut all: Vec<Entry> = self.entries().chain(other.entries()).collect();
        all.sort_unstable_by_key(|e| e.at);
        let extra = all.len().saturating_sub(capacity);
        *self = Timeline::from_entries(&all[extra..]);
    }

    /// Checks entries read back from disk: brands interned, payloads that unpack to the
    /// entry's kind, in stamp order.
    fn check_entries(entries: &[Entry], symbols: u32) -> Result<(), &'static str> {
        for (i, e) in entries.iter().enumerate() {
            if e.brand.0 >= symbols {
                return Err("a timeline entry names a brand that is not interned");
            }
            match crate::codec::unpack::<Payload>(&e.payload) {
                Ok(p) if p.kind() == e.kind => {}
                _ => return Err("a timeline entry's payload does not unpack to its kind"),
            }
            if i > 0 && entries[i - 1].at >= e.at {
                return Err("timeline entries out of order");
            }
        }
        Ok(())
    }

    /// Checks the entries (see [`Timeline::check_entries`]).
    pub(crate) fn check(&self, symbols: u32) -> Result<(), &'static str> {
        Self::check_entries(&self.all(), symbols)
    }

    /// Keeps only the latest `capacity` entries.
    pub(crate) fn truncate(&mut self, capacity: usize) {
        while self.len() > capacity {
            self.pop_front();
        }
        self.compact();
    }

    /// The kept entries, oldest first.
    pub(crate) fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        let mut r = self.reader();
        (0..self.len()).map(move |_| r.entry())
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Asks for the whole buffer, spare room included, to be loaded: an event reads the
    /// oldest entry, writes after the newest, and now and then moves every kept byte.
    pub(crate) fn prefetch(&self) {
        crate::prefetch::prefetch_lines(self.buf.as_ptr(), self.buf.capacity(), 8);
    }
}

/// Stored as the list of entries (a length, then each entry), as the timeline was before it
/// was packed: the bytes of a snapshot do not depend on how memory holds them.
impl bincode::Encode for Timeline {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        (self.len() as u64).encode(e)?;
        for entry in self.entries() {
            entry.encode(e)?;
        }
        Ok(())
    }
}

impl<C> bincode::Decode<C> for Timeline {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let entries: Vec<Entry> = bincode::Decode::decode(d)?;
        if entries.len() > u32::MAX as usize {
            return Err(bincode::error::DecodeError::Other("a timeline too long"));
        }
        if !entries.is_sorted_by_key(|e| e.at) {
            return Err(bincode::error::DecodeError::Other(
                "a timeline whose entries are out of time order",
            ));
        }
        Ok(Timeline::from_entries(&entries))
    }
}
bincode::impl_borrow_decode!(Timeline);

#[cfg(test)]
mod tests {
    use super::*;

    /// Inserts `e` as the engine does, its payload bytes as they are.
    fn put(t: &mut Timeline, e: Entry, capacity: usize) {
        let head = Head {
            at: e.at,
            kind: e.kind,
            channel: e.channel,
            brand: e.brand,
        };
        t.insert(head, capacity, &e.payload[..]);
    }

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
            put(&mut t, e(ts), 3);
        }
        let got: Vec<i64> = t.entries().map(|x| x.at.ts).collect();
        assert_eq!(got, [5, 7, 9]);
        let mut o = Timeline::default();
        put(&mut o, e(8), 3);
        put(&mut o, e(2), 3);
        t.absorb(o, 3);
        let got: Vec<i64> = t.entries().map(|x| x.at.ts).collect();
        assert_eq!(got, [7, 8, 9]);
    }

    /// A long run of newest events through a full timeline: the entries stay right, the
    /// removed bytes are taken back rather than the buffer growing, and timelines with the
    /// same entries are equal however their buffers are laid out.
    #[test]
    fn a_full_timeline_reuses_its_buffer() {
        let sized = |ts: i64| Entry {
            payload: Packed::from_slice(&vec![7; (ts as usize * 13) % 40]),
            ..e(ts)
        };
        let mut t = Timeline::default();
        let mut most = 0;
        for ts in 1..2_000 {
            put(&mut t, sized(ts), 5);
            let want: Vec<Entry> = (ts.saturating_sub(4).max(1)..=ts).map(sized).collect();
            assert_eq!(t.entries().collect::<Vec<_>>(), want);
            assert_eq!(t, Timeline::from_entries(&want));
            if ts > 100 {
                most = most.max(t.heap_bytes());
            }
        }
        // Five entries of at most 39 payload bytes and 13 bytes of fields each, with a
        // quarter to spare.
        assert!(most <= 5 * 52 * 5 / 4 + 64, "{most}");
    }

    /// Filling a timeline of ten like-sized entries takes three allocations, and leaves it
    /// holding them with at most an eighth to spare.
    #[test]
    fn a_filling_timeline_grows_in_few_steps() {
        let sized = |ts: i64| Entry {
            payload: Packed::from_slice(&[3; 12]),
            ..e(ts * 60_000)
        };
        let mut t = Timeline::default();
        let mut sizes = vec![];
        for ts in 1..=10 {
            put(&mut t, sized(ts), 10);
            if sizes.last() != Some(&t.heap_bytes()) {
                sizes.push(t.heap_bytes());
            }
        }
        assert_eq!(sizes.len(), 3, "{sizes:?}");
        let live = t.buf.len();
        assert!(
            t.heap_bytes() <= live + live / 8 + 1,
            "{sizes:?} for {live}"
        );
    }

    #[test]
    fn packed_entries_read_back_and_are_stored_as_a_list() {
        let rich = |ts: i64| Entry {
            at: Stamp {
                ts: ts * 1_000_003,
                seq: (ts as u64) << 40,
            },
            kind: Kind::ALL[(ts.unsigned_abs() as usize) % Kind::ALL.len()],
            channel: Channel::ALL[(ts.unsigned_abs() as usize) % Channel::ALL.len()],
            brand: Sym(ts.unsigned_abs() as u32 * 1000),
            payload: Packed::from_slice(&vec![ts as u8; (ts.unsigned_abs() as usize * 7) % 90]),
        };
        let mut t = Timeline::default();
        let mut want: Vec<Entry> = Vec::new();
        for ts in [5, 1, 9, 3, 7, -2, 11, -40, 12, 10] {
            put(&mut t, rich(ts), 4);
            want.push(rich(ts));
            want.sort_by_key(|e| e.at);
            let extra = want.len().saturating_sub(4);
            want.drain(..extra);
            assert_eq!(t.entries().collect::<Vec<_>>(), want);
        }
        assert_eq!(crate::codec::pack(&t), crate::codec::pack(&want));
        let back: Timeline = crate::codec::unpack(&crate::codec::pack(&want)).unwrap();
        assert_eq!(back, t);
        t.truncate(1);
        assert_eq!(t.entries().collect::<Vec<_>>(), want[3..]);
        t.truncate(0);
        assert_eq!(t, Timeline::default());
    }

    /// Stored entries out of time order are a damaged snapshot: an error, not a timeline
    /// that breaks its own order (found by the `snapshot_read` fuzz target).
    #[test]
    fn entries_out_of_order_are_refused() {
        let bytes = crate::codec::pack(&vec![e(9), e(3)]);
        let err = crate::codec::unpack::<Timeline>(&bytes).unwrap_err();
        assert!(err.to_string().contains("out of time order"), "{err}");
        let same = crate::codec::pack(&vec![e(3), e(3), e(9)]);
        assert_eq!(crate::codec::unpack::<Timeline>(&same).unwrap().len(), 3);
    }

    /// The latest `capacity` of `entries`, by stamp: what a timeline must hold.
    fn latest(mut entries: Vec<Entry>, capacity: usize) -> Vec<Entry> {
        entries.sort_by_key(|e| e.at);
        let extra = entries.len().saturating_sub(capacity);
        entries.split_off(extra)
    }

    /// An entry from drawn numbers: times over the whole range now and then (differences
    /// of eight bytes), arrival numbers of any size, brands and payloads of every length class.
    fn drawn((ts, seq, brand, len): (i64, u64, u32, usize)) -> Entry {
        Entry {
            at: Stamp { ts, seq },
            kind: Kind::ALL[seq as usize % Kind::ALL.len()],
            channel: Channel::ALL[brand as usize % Channel::ALL.len()],
            brand: Sym(brand),
            payload: Packed::from_slice(&vec![seq as u8; len]),
        }
    }

    fn entry_strategy() -> impl proptest::strategy::Strategy<Value = Entry> {
        use proptest::prelude::*;
        (
            prop_oneof![
                4 => 1_700_000_000_000i64..1_700_000_100_000,
                1 => any::<i64>(),
            ],
            prop_oneof![3 => 0u64..1 << 24, 1 => any::<u64>()],
            prop_oneof![3 => 0u32..300, 1 => any::<u32>()],
            prop_oneof![3 => 0usize..40, 1 => 200usize..300],
        )
            .prop_map(drawn)
    }

    proptest::proptest! {
        /// Any stream of events, late ones and equal times included, into timelines of any
        /// capacity: they hold the latest by stamp, as a sorted list does; a merge holds the
        /// latest of both; a stored timeline reads back equal; cutting keeps the latest.
        #[test]
        fn agrees_with_a_sorted_list(
            a in proptest::collection::vec(entry_strategy(), 0..30),
            b in proptest::collection::vec(entry_strategy(), 0..10),
            capacity in 0usize..8,
            cut in 0usize..8,
        ) {
            // Stamps are distinct in the engine (the arrival number is).
            let mut seen = std::collections::HashSet::new();
            let a: Vec<Entry> = a.into_iter().filter(|e| seen.insert(e.at)).collect();
            let b: Vec<Entry> = b.into_iter().filter(|e| seen.insert(e.at)).collect();
            let (mut t, mut o) = (Timeline::default(), Timeline::default());
            for (i, e) in a.iter().enumerate() {
                put(&mut t, e.clone(), capacity);
                let want = latest(a[..=i].to_vec(), capacity);
                proptest::prop_assert_eq!(t.all(), want.clone());
                proptest::prop_assert_eq!(&t, &Timeline::from_entries(&want));
            }
            for e in &b {
                put(&mut o, e.clone(), capacity);
            }
            t.absorb(o, capacity);
            let both = latest(a.iter().chain(&b).cloned().collect(), capacity);
            proptest::prop_assert_eq!(t.all(), both.clone());
            let back: Timeline = crate::codec::unpack(&crate::codec::pack(&t)).unwrap();
            proptest::prop_assert_eq!(&back, &t);
            t.truncate(cut);
            proptest::prop_assert_eq!(t.all(), latest(both, cut));
        }
    }
}
