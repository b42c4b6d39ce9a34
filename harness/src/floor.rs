//! The floor under one-segment ingest: what this machine's memory allows for the least any
//! engine must do per event at this contact count, on the workload's own events in their
//! order. Per event it finds the contact by its identifier (hashing `customer:N` and probing
//! an open-addressed table, as tropa's identity index does) and updates a record the size of
//! tropa's contact slot (256 bytes: a purchase count and the last time seen). Nothing else:
//! no payload, no timeline, no segment bitmap, no signal, no thread hand-off, and the
//! contacts exist before the clock starts.
//!
//! It runs without look-ahead and with a software pipeline that hashes an event `ahead`
//! places before it is applied, asks for its bucket then, and for its record half-way. The
//! gap between this rate and tropa's says how much of tropa's time is work rather than
//! waiting for memory.

use crate::workload::Rec;
use std::time::Instant;

/// A contact's record: as large as tropa's contact slot (four cache lines).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Record {
    purchases: u64,
    last_seen: i64,
    rest: [u64; 30],
}

/// An event's identifier as the event carries it: inline, read in event order (tropa's
/// events hold theirs the same way, so looking one up misses only on the table).
#[derive(Clone, Copy)]
struct Key {
    bytes: [u8; 23],
    len: u8,
}

impl Key {
    fn new(contact: u32) -> Key {
        let s = format!("customer:{contact}");
        let mut k = Key {
            bytes: [0; 23],
            len: s.len() as u8,
        };
        k.bytes[..s.len()].copy_from_slice(s.as_bytes());
        k
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("ASCII")
    }
}

/// One bucket of the table: the hash's high half (`EMPTY`: none) and the contact.
#[derive(Clone, Copy)]
struct Bucket {
    tag: u32,
    contact: u32,
}

const EMPTY: u32 = u32::MAX;

/// Look-ahead places of the pipeline; a power of two at least the largest `ahead`.
const RING: usize = 64;

/// One run: its look-ahead and its rate.
pub struct Floor {
    pub ahead: usize,
    pub events_per_s: f64,
}

/// Asks for the cache line at `p` to be loaded; a hint that changes no memory.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 processor has; a prefetch never
    // faults and reads nothing the program can see, so any address is sound. Measured: 1.5x
    // on this loop at 1,000,000 contacts, which is what the floor is about.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

struct Table {
    buckets: Vec<Bucket>,
    mask: usize,
    hasher: ahash::RandomState,
}

impl Table {
    fn new(keys: impl ExactSizeIterator<Item = Key>) -> Table {
        let len = (keys.len() * 4 / 3 + 1).next_power_of_two();
        let mut t = Table {
            buckets: vec![
                Bucket {
                    tag: EMPTY,
                    contact: 0
                };
                len
            ],
            mask: len - 1,
            hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
        };
        for (c, k) in keys.enumerate() {
            let h = t.hash(k.as_str());
            let mut b = h as usize & t.mask;
            while t.buckets[b].tag != EMPTY {
                b = (b + 1) & t.mask;
            }
            t.buckets[b] = Bucket {
                tag: tag(h),
                contact: c as u32,
            };
        }
        t
    }

    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The contact of a key known to be in the table, by its hash. (Keys of one tag are
    /// told apart by the tag alone: a floor, not an index.)
    fn find(&self, h: u64) -> usize {
        let mut b = h as usize & self.mask;
        while self.buckets[b].tag != tag(h) {
            b = (b + 1) & self.mask;
        }
        self.buckets[b].contact as usize
    }
}

/// The hash's high half, never `EMPTY`.
fn tag(h: u64) -> u32 {
    ((h >> 32) as u32).min(EMPTY - 1)
}

/// Counts a purchase, and writes the time seen into each of the record's four cache lines (a
/// contact's profile spreads over its whole slot).
fn apply(r: &mut Record, e: &Rec) -> u64 {
    r.purchases += u64::from(e.kind == tropa::Kind::Purchase);
    r.last_seen = e.ts;
    for line in [7, 15, 23] {
        r.rest[line] = r.rest[line].wrapping_add(e.ts as u64);
    }
    u64::from(r.purchases >= 5)
}

/// Runs the floor over `recs` (contacts numbered below `contacts`) without look-ahead and
/// with each of `aheads`; returns each run's rate.
pub fn run(recs: &[Rec], contacts: usize, aheads: &[usize]) -> Vec<Floor> {
    let table = Table::new((0..contacts as u32).map(Key::new));
    let keys: Vec<Key> = recs.iter().map(|e| Key::new(e.contact)).collect();
    let blank = Record {
        purchases: 0,
        last_seen: 0,
        rest: [0; 30],
    };
    let mut records = vec![blank; contacts];
    let mut out = Vec::new();
    let mut check = None;
    for &ahead in std::iter::once(&0).chain(aheads) {
        assert!(ahead < RING, "look-ahead below {RING}");
        records.fill(blank);
        let t = Instant::now();
        let mut members = 0u64;
        if ahead == 0 {
            for (e, k) in recs.iter().zip(&keys) {
                let c = table.find(table.hash(k.as_str()));
                members += apply(&mut records[c], e);
            }
        } else {
            let half = ahead / 2;
            let mut hashes = [0u64; RING];
            let mut found = [0usize; RING];
            for i in 0..recs.len() + ahead {
                if let Some(k) = keys.get(i) {
                    let h = table.hash(k.as_str());
                    hashes[i % RING] = h;
                    prefetch(table.buckets.as_ptr().wrapping_add(h as usize & table.mask));
                }
                if let Some(j) = i.checked_sub(half).filter(|j| *j < recs.len()) {
                    let c = table.find(hashes[j % RING]);
                    found[j % RING] = c;
                    let r = records.as_ptr().wrapping_add(c).cast::<u8>();
                    for line in 0..4 {
                        prefetch(r.wrapping_add(64 * line));
                    }
                }
                if let Some(j) = i.checked_sub(ahead) {
                    members += apply(&mut records[found[j % RING]], &recs[j]);
                }
            }
        }
        let d = t.elapsed().as_secs_f64();
        // Every run must do the same work.
        assert_eq!(*check.get_or_insert(members), members, "floor runs agree");
        out.push(Floor {
            ahead,
            events_per_s: recs.len() as f64 / d,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every look-ahead applies every event once: the pipelined runs reach the members of the
    /// run without look-ahead (`run` checks it), and every contact is found by its identifier.
    #[test]
    fn the_pipelined_runs_do_the_same_work() {
        let recs = crate::workload::generate(500, 10, 3);
        let floors = run(&recs, 500, &[1, 2, 16, 63]);
        assert_eq!(
            floors.iter().map(|f| f.ahead).collect::<Vec<_>>(),
            [0, 1, 2, 16, 63]
        );
        assert!(floors.iter().all(|f| f.events_per_s > 0.0));
        let table = Table::new((0..500).map(Key::new));
        for c in [0, 1, 77, 499] {
            assert_eq!(table.find(table.hash(Key::new(c).as_str())), c as usize);
        }
    }
}
