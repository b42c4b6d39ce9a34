//! What ingest tells the caller: outcomes, errors, counters and the memory report.

use crate::event::{EventError, Ts};
use crate::identity::ContactId;
use crossbeam::utils::CachePadded;
use smallvec::SmallVec;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What happened to an accepted event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ingested {
    /// The event was applied to a contact.
    Applied {
        /// The contact it went to.
        contact: ContactId,
        /// The contact was created by this event.
        created: bool,
        /// Contacts merged into `contact` by this event.
        merged: SmallVec<[ContactId; 1]>,
        /// A one-per-contact identifier limit stopped a merge or left identifiers unlinked.
        conflict: bool,
    },
    /// The event was accepted and handed to the thread currently changing identity, which
    /// will resolve its contact and apply it (see [`Engine::flush`](super::Engine::flush)).
    Queued,
    /// The event id was accepted before; nothing changed.
    Duplicate,
    /// An erase request: this many contacts were forgotten.
    Erased {
        /// Contacts removed.
        contacts: usize,
    },
}

/// Why an event was refused. The engine state is unchanged by a refused event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum IngestError {
    /// The event breaks SPEC 1.
    Invalid(EventError),
    /// The event is older than `now − lateness`.
    Late {
        /// The event time.
        ts: Ts,
        /// Engine time when it arrived.
        now: Ts,
        /// The configured lateness bound, ms.
        lateness: i64,
    },
    /// The data directory stopped taking writes after a failed write or sync (see
    /// [`crate::persist`]); the event was not taken.
    Storage(crate::persist::StoreError),
}

impl IngestError {
    /// A short, stable name of the reason, for counting rejects by cause.
    pub fn reason_name(&self) -> &'static str {
        match self {
            IngestError::Invalid(e) => e.reason_name(),
            IngestError::Late { .. } => "late",
            IngestError::Storage(_) => "storage",
        }
    }

    /// Attaches a line number to the error (JSON Lines input).
    pub fn at_line(self, line: u64) -> IngestLineError {
        IngestLineError { line, error: self }
    }
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngestError::Invalid(e) => write!(f, "{e}"),
            IngestError::Late { ts, now, lateness } => write!(
                f,
                "field `ts`: event is late: {} is more than {} ms before engine time {}",
                crate::event::time::format_rfc3339(*ts),
                lateness,
                crate::event::time::format_rfc3339(*now),
            ),
            IngestError::Storage(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for IngestError {}

impl From<EventError> for IngestError {
    fn from(e: EventError) -> IngestError {
        IngestError::Invalid(e)
    }
}

/// An [`IngestError`] with the input line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestLineError {
    /// 1-based line number.
    pub line: u64,
    /// The error.
    pub error: IngestError,
}

impl fmt::Display for IngestLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            IngestError::Invalid(e) if e.line.is_some() => write!(f, "{e}"),
            e => write!(f, "line {}: {e}", self.line),
        }
    }
}

impl std::error::Error for IngestLineError {}

/// Counters since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Events applied to a profile, plus erase requests.
    pub accepted: u64,
    /// Events acknowledged as duplicates.
    pub duplicates: u64,
    /// Events refused as late.
    pub late: u64,
    /// Events refused as invalid (by [`Engine::ingest`](super::Engine::ingest); decoding errors are the caller's).
    pub invalid: u64,
    /// Contacts created.
    pub contacts_created: u64,
    /// Contacts merged into another.
    pub merges: u64,
    /// Events whose identifiers hit a one-per-contact limit.
    pub conflicts: u64,
    /// Contacts removed by erase requests.
    pub erased: u64,
    /// Identity changes queued for another thread's writer section instead of waiting.
    pub queued: u64,
    /// Timers fired: evaluations of one contact at an instant its rules could change by
    /// time alone.
    pub timers_fired: u64,
}

/// What [`Counters`] counts (the order of [`Counters::values`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    Accepted,
    Duplicates,
    Late,
    Invalid,
    ContactsCreated,
    Merges,
    Conflicts,
    Erased,
    Queued,
}

const COUNTERS: usize = 9;
/// Stripes of counters: threads count into different cache lines, so that counting never
/// makes them fight over one (every event bumps `accepted`).
const STRIPES: usize = 16;

/// Numbers threads for their stripe.
static THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static STRIPE: usize = THREADS.fetch_add(1, Ordering::Relaxed) % STRIPES;
}

/// The engine's counters, striped by thread (a read sums the stripes).
pub(crate) struct Counters {
    stripes: Box<[CachePadded<[AtomicU64; COUNTERS]>]>,
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            stripes: (0..STRIPES)
                .map(|_| CachePadded::new(Default::default()))
                .collect(),
        }
    }
}

impl Counters {
    pub(crate) fn bump(&self, c: Counter, n: u64) {
        if n > 0 {
            let stripe = STRIPE.with(|s| *s);
            self.stripes[stripe][c as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(&self, c: Counter) -> u64 {
        self.stripes
            .iter()
            .map(|s| s[c as usize].load(Ordering::Relaxed))
            .sum()
    }

    /// Every counter, for a snapshot.
    pub(crate) fn values(&self) -> Vec<u64> {
        (0..COUNTERS)
            .map(|i| {
                self.stripes
                    .iter()
                    .map(|s| s[i].load(Ordering::Relaxed))
                    .sum()
            })
            .collect()
    }

    /// Sets the counters from [`Counters::values`] (missing ones stay 0).
    pub(crate) fn set(&self, values: &[u64]) {
        for (k, s) in self.stripes.iter().enumerate() {
            for (i, c) in s.iter().enumerate() {
                let v = if k == 0 {
                    values.get(i).copied().unwrap_or(0)
                } else {
                    0
                };
                c.store(v, Ordering::Relaxed);
            }
        }
    }
}

/// Memory held by the engine, measured from its structures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemoryReport {
    /// Live contacts.
    pub contacts: usize,
    /// Known identifiers.
    pub identifiers: usize,
    /// Remembered event ids.
    pub dedup_ids: usize,
    /// Timer entries waiting in the shards' heaps (at most one live entry per contact, plus
    /// superseded ones until their instant passes).
    pub timers: usize,
    /// Bytes of profile state (structs, their heap parts, shard slots, timers and bitmaps).
    pub state_bytes: usize,
    /// Of `state_bytes`: the segment and rule-tag bitmaps (roaring's serialized size).
    pub bitmap_bytes: usize,
    /// Memberships held in those bitmaps (segment members plus rule-tag holders).
    pub memberships: u64,
    /// Of `state_bytes`: the logs of membership changes waiting to be folded into the
    /// bitmaps (at most 4,096 changes per segment or rule tag and shard; their capacity).
    pub membership_log_bytes: usize,
    /// Of `state_bytes`: the timer queues' heap bytes (vectors' capacity and bucket map nodes).
    pub timer_bytes: usize,
    /// Of `state_bytes`: the contacts' timelines (their recent events).
    pub timeline_bytes: usize,
    /// Of `state_bytes`: the contacts' rule state (term states, score rules, memberships).
    pub rule_bytes: usize,
    /// Of `state_bytes`: the shards' contact slots, where each contact's fixed-size part lives
    /// (allocated a page at a time, so some are not yet used). A timeline's and a rule
    /// state's fixed-size parts are in their slot, and are counted in `timeline_bytes` and
    /// `rule_bytes` too.
    pub slot_bytes: usize,
    /// Of `state_bytes`: the carts (boxed, with the lines and the operations since the latest
    /// purchase; a contact that has bought keeps a cart to remember when).
    pub cart_bytes: usize,
    /// Bytes of the identity index and records (approximate: map overhead estimated).
    pub identity_bytes: usize,
}
