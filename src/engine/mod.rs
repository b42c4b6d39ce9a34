//! The engine: clock, de-duplication, identity, shards, ingest and queries.
//!
//! # Ingest, step by step
//!
//! 1. The event is validated (SPEC 1); a bad event is refused with an [`IngestError`] and
//!    changes nothing.
//! 2. Its id, if any, is looked up in the de-duplication memory: a remembered id makes it a
//!    [`Ingested::Duplicate`] (acknowledged, no effect). This comes before the lateness check,
//!    so a client that retries an old, already accepted event gets an acknowledgement.
//! 3. An event older than `now − lateness` is refused as [`IngestError::Late`].
//! 4. The id is remembered, the clock moves to `max(now, ts)` and the event gets its arrival
//!    sequence number, which orders events of equal time.
//! 5. Identity resolution picks the contact (creating, linking or merging, see
//!    `identity`).
//! 6. The event is handed to the contact's shard (see the `shard` module for the hand-over
//!    protocol and merges across shards).
//!
//! `erase` events take a different step 5: identity removes every contact owning one of the
//! identifiers, the shards drop their state, and the de-duplication memory forgets their ids.
//!
//! # Concurrency
//!
//! [`Engine`] is `Send + Sync`; share it (`&Engine` in scoped threads, or an `Arc`) and call
//! [`Engine::ingest`] from any number of threads. Steps 2–4 use atomics and striped shared
//! maps; step 5 takes no engine lock for known identifiers, and the first event of a single
//! new identifier creates its contact beside other threads doing the same (each claims its
//! identifier in one stripe of the identity index); any other identity change (a new
//! identifier beside known ones, a merge, a conflict, an erasure) runs in a writer section
//! that is only ever *tried*: a thread that finds it taken queues the change for the holder,
//! who applies it before leaving, and returns [`Ingested::Queued`] at once. Step 6 never
//! waits for another thread either. So no ingesting thread waits for a lock another holds; a
//! full shard queue is the one place it waits (backpressure), helping to drain it meanwhile.
//! Reads ([`Engine::profile`] and friends) lock one shard briefly and see every operation
//! applied so far; call [`Engine::flush`] first to be sure everything handed in before has
//! been applied.

mod config;
mod dedup;
mod durable;
mod export;
#[doc(hidden)]
pub mod fuzzing;
mod ingest;
mod jsonl;
mod members;
mod outcome;
mod pages;
mod query;
mod radix;
mod reload;
mod ring;
mod shard;
mod signal;
mod snapshot;
mod timers;

use crate::codec::wire::Entry;
use crate::eval::Evaluator;
use crate::event::{Event, Identifier, Ts};
use crate::identity::{ContactId, Identity};
use crate::intern::Interner;
use crate::persist::{Log, Lsn, StoreError};
use crate::rules::PredicateKind;
use crate::state::{Profile, ProfileIdentity, ViewContext};
use crossbeam::queue::SegQueue;
use dedup::Dedup;
use parking_lot::RwLock;
use shard::{ApplyCx, Shard};
use signal::Sink;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

pub(crate) use config::Config;
pub use config::{ConfigError, EngineBuilder};
pub use durable::OpenError;
pub use export::ContactExport;
use ingest::IdJob;
pub use jsonl::JsonlReport;
use outcome::{Counter, Counters};
pub use outcome::{IngestError, IngestLineError, Ingested, MemoryReport, Stats};
pub use query::{AudienceError, Explanation, Members};
pub use reload::RulesLoaded;
pub use signal::{ExitReason, Signal, SignalKind};

const NOT_STARTED: i64 = i64::MIN;

/// Events a batch takes ahead of the one it admits, so that their identifiers and the index
/// buckets these lead to load meanwhile.
const LOOKAHEAD: usize = 8;

/// Asks for the lines holding `e`'s identifier values to be loaded: those on the heap (an
/// inline value is in the event, already being read).
fn prefetch_values(e: &Event) {
    for id in e.ids.iter().filter(|id| !id.value.is_inline()) {
        crate::prefetch::prefetch_at(id.value.as_ptr());
    }
}

/// Numbers engines (from 1: 0 is no engine).
static ENGINES: AtomicU64 = AtomicU64::new(1);

/// The tropa engine: ingest events, resolve identities, keep live profiles.
///
/// ```
/// use tropa::{decode_line, Engine, IdType, Identifier};
/// let engine = Engine::builder().build().unwrap();
/// for line in [
///     r#"{"ts":"2026-03-01T10:00:00Z","ids":{"cookie":"c-1"},"type":"cart_add","product":"p-1","price":50}"#,
///     r#"{"ts":"2026-03-01T10:05:00Z","ids":{"cookie":"c-1","email":"Ana@Example.com"},"type":"identify"}"#,
///     r#"{"ts":"2026-03-01T10:09:00Z","ids":{"email":"ana@example.com"},"brand":"shop-a","type":"purchase","order":"o-1","amount":50}"#,
/// ] {
///     engine.ingest(decode_line(line).unwrap()).unwrap();
/// }
/// engine.flush();
/// let who = Identifier::new(IdType::Cookie, "c-1").unwrap();
/// let p = engine.profile(&who).unwrap();
/// assert_eq!(p.id, "email:ana@example.com");
/// assert_eq!((p.purchases, p.revenue, p.cart_items), (1, 50.0, 0));
/// assert_eq!(p.stage.as_str(), "post_purchase");
/// ```
pub struct Engine {
    /// Tells this engine from others (thread-local caches are per engine).
    id: u64,
    cfg: Config,
    now: AtomicI64,
    seq: AtomicU64,
    dedup: Dedup,
    identity: Identity,
    syms: Interner,
    shards: Box<[Shard]>,
    counters: Counters,
    /// The rules in force, for queries. Each shard holds its own handle to the same
    /// evaluator (so the hot path touches no shared reference count); both are replaced
    /// together by [`Engine::load_rules`], under this lock and every shard's.
    rules: RwLock<Option<Arc<Evaluator>>>,
    /// Whether rules are loaded: `rules.is_some()`, kept apart so that `advance_to` and
    /// `flush` never wait for the rules lock while `load_rules` holds it.
    has_rules: AtomicBool,
    sink: Sink,
    /// Identity changes queued for the thread holding the identity writer section.
    id_jobs: SegQueue<IdJob>,
    /// The write-ahead log, when opened on a data directory (see [`crate::persist`]).
    log: Option<Log>,
    /// With a log: held shared by every operation from its admission until it is handed to
    /// the shards, and exclusively by [`Engine::snapshot`] to take its cut (see
    /// `engine::snapshot`).
    gate: RwLock<()>,
    /// One snapshot at a time.
    snapshotting: parking_lot::Mutex<()>,
}

impl Engine {
    /// A builder with the default settings.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    pub(crate) fn from_config(mut cfg: Config) -> Engine {
        let syms = Interner::default();
        let eval = cfg
            .plan
            .take()
            .map(|plan| Evaluator::new(plan, &syms, cfg.state.stage));
        let predicates = eval.as_ref().map_or(0, |e| e.plan.predicates.len());
        let shard_eval = || eval.as_ref().map(|e| Arc::new(e.clone()));
        Engine {
            id: ENGINES.fetch_add(1, Ordering::Relaxed),
            now: AtomicI64::new(NOT_STARTED),
            seq: AtomicU64::new(0),
            dedup: Dedup::new(cfg.dedup_window),
            identity: Identity::new(cfg.id_limits.clone()),
            syms,
            shards: (0..cfg.shards)
                .map(|_| Shard::new(cfg.queue_capacity, predicates, shard_eval()))
                .collect(),
            counters: Counters::default(),
            has_rules: AtomicBool::new(eval.is_some()),
            rules: RwLock::new(eval.map(Arc::new)),
            sink: Sink::default(),
            id_jobs: SegQueue::new(),
            log: None,
            gate: RwLock::new(()),
            snapshotting: parking_lot::Mutex::new(()),
            cfg,
        }
    }

    fn cx(&self) -> ApplyCx<'_> {
        ApplyCx {
            syms: &self.syms,
            cfg: &self.cfg.state,
            dedup: &self.dedup,
            identity: &self.identity,
            eval: None,
            sink: &self.sink,
            shards: self.shards.len(),
        }
    }

    /// Subscribes to signals through a channel of `capacity`; see [`Signal`] and the module
    /// docs of `engine::signal` for the backpressure policy. Subscribe before ingesting.
    pub fn subscribe(&self, capacity: usize) -> crossbeam::channel::Receiver<Signal> {
        self.sink.subscribe(capacity)
    }

    /// Signals sent to subscribers so far (none are built while nobody subscribes).
    pub fn signals_emitted(&self) -> u64 {
        self.sink.emitted()
    }

    /// Engine time: the latest event time accepted or time given to [`Engine::advance_to`];
    /// `None` before either.
    pub fn now(&self) -> Option<Ts> {
        let n = self.now.load(Ordering::Acquire);
        (n != NOT_STARTED).then_some(n)
    }

    /// Moves engine time forward to `t` (never back) and has every timer due by then fired,
    /// in time order: segment transitions caused by time alone carry the exact instant they
    /// happened. Like ingest, it never waits for another thread: a shard that another thread
    /// is working on fires its timers when that thread releases it. On one thread, or followed
    /// by [`Engine::flush`], everything due has fired when it returns.
    pub fn advance_to(&self, t: Ts) {
        let _gate = self.log.as_ref().map(|_| self.gate.read());
        if let Some(log) = &self.log {
            let mut order = log.order();
            if order.stopped().is_some() {
                return; // the log stopped: nothing changes (see `persist`)
            }
            let Ok(lsn) = order.append_entry(Entry::Advance(t)) else {
                unreachable!("a time is far under the record limit")
            };
            self.now.fetch_max(t, Ordering::AcqRel);
            drop(order);
            // A failure stops the log; the next ingest or `sync` reports it.
            let _ = log.settle(lsn);
        } else {
            self.now.fetch_max(t, Ordering::AcqRel);
        }
        if !self.has_rules.load(Ordering::Acquire) {
            return;
        }
        for i in 0..self.shards.len() {
            self.shards[i].due.fetch_max(t, Ordering::AcqRel);
            self.pump(i);
        }
    }

    /// Moves the clock to `max(now, t)`; returns the new engine time. Reads first: most
    /// events are not the latest, and a read leaves the clock's cache line shared between
    /// threads where a write would take it from all of them.
    fn clock_to(&self, t: Ts) -> Ts {
        let cur = self.now.load(Ordering::Acquire);
        if cur != NOT_STARTED && t <= cur {
            return cur;
        }
        let prev = self.now.fetch_max(t, Ordering::AcqRel);
        if prev == NOT_STARTED {
            t
        } else {
            prev.max(t)
        }
    }

    /// Ingests one event (see the module docs for the steps).
    pub fn ingest(&self, event: Event) -> Result<Ingested, IngestError> {
        let mut touched = SmallVec::<[usize; 4]>::new();
        let mut lsn = 0;
        let r = self.admit(event, &mut touched, &mut lsn);
        for s in touched {
            self.pump(s);
        }
        match self.settle(lsn) {
            Ok(()) => r,
            Err(e) => Err(IngestError::Storage(e)),
        }
    }

    /// Ingests many events, handing them over shard by shard and draining once at the end;
    /// returns each event's outcome in input order. With [`Durability::Sync`](crate::Durability::Sync) it waits for
    /// the disk once, for the whole batch; if that sync fails, every event the batch took is
    /// reported as [`IngestError::Storage`].
    pub fn ingest_batch(
        &self,
        events: impl IntoIterator<Item = Event>,
    ) -> Vec<Result<Ingested, IngestError>> {
        let mut events = events.into_iter().collect();
        let mut out = Vec::new();
        self.ingest_batch_into(&mut events, &mut out);
        out
    }

    /// [`Engine::ingest_batch`] from and into vectors the caller keeps: the events are taken
    /// out of `events` (which is left empty, its capacity kept), and `out` is cleared, then
    /// holds each event's outcome in input order. A loop that ingests batch after batch
    /// through the same two vectors allocates nothing for them after the first batch. (A
    /// vector of a few thousand outcomes is big enough that the system allocator treats its
    /// every free as a cue to reorganise its caches: in the harness that cost 4 % of ingest
    /// time.)
    ///
    /// ```
    /// use tropa::{Engine, Event, IdType, Payload};
    ///
    /// let engine = Engine::builder().build().unwrap();
    /// let (mut batch, mut outcomes) = (Vec::new(), Vec::new());
    /// for day in 0..3 {
    ///     batch.extend((0..10).map(|i| {
    ///         Event::new(day * 86_400_000 + i, Payload::AppOpen)
    ///             .with_id(IdType::Device, &format!("d{i}"))
    ///             .unwrap()
    ///     }));
    ///     engine.ingest_batch_into(&mut batch, &mut outcomes);
    ///     assert!(batch.is_empty());
    ///     assert!(outcomes.iter().all(|r| r.is_ok()));
    /// }
    /// assert_eq!(engine.stats().accepted, 30);
    /// ```
    pub fn ingest_batch_into(
        &self,
        events: &mut Vec<Event>,
        out: &mut Vec<Result<Ingested, IngestError>>,
    ) {
        out.clear();
        out.reserve(events.len());
        let mut touched = SmallVec::<[usize; 16]>::new();
        let mut lsn = 0;
        // While an event is admitted, the identifiers of the one LOOKAHEAD places on are
        // loaded, and the index buckets of the one halfway there (see `crate::prefetch`). The
        // events are read where they lie: a queue of the ones ahead moved each event twice
        // more (a tenth of a one-segment event's instructions).
        for (i, e) in events.iter().take(LOOKAHEAD).enumerate() {
            prefetch_values(e);
            if i < LOOKAHEAD / 2 {
                self.identity.prefetch(&e.ids);
            }
        }
        let mut events = events.drain(..);
        loop {
            let rest = events.as_slice();
            if let Some(e) = rest.get(LOOKAHEAD) {
                prefetch_values(e);
            }
            if let Some(e) = rest.get(LOOKAHEAD / 2) {
                self.identity.prefetch(&e.ids);
            }
            let Some(e) = events.next() else { break };
            out.push(self.admit(e, &mut touched, &mut lsn));
        }
        for s in touched {
            self.pump(s);
        }
        if let Err(e) = self.settle(lsn) {
            for r in out.iter_mut().filter(|r| r.is_ok()) {
                *r = Err(IngestError::Storage(e.clone()));
            }
        }
    }

    /// Makes the log records up to `lsn` as durable as the mode promises (no-op without a
    /// data directory or when nothing was appended).
    fn settle(&self, lsn: Lsn) -> Result<(), StoreError> {
        match &self.log {
            Some(log) if lsn > 0 => log.settle(lsn),
            _ => Ok(()),
        }
    }

    /// Writes out and syncs every operation taken so far, whatever the durability mode (a
    /// no-op without a data directory). Returns the failure that stopped the log, if one did.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.log.as_ref().map_or(Ok(()), Log::sync)
    }

    /// Waits until every operation handed in before this call has been applied and every
    /// timer due by engine time has fired, helping to do both. It waits for the shards to be
    /// idle, so with other threads ingesting at full speed it waits for their work too: call it
    /// at quiet points (before queries that must be exact, at shutdown), not on a clock tick —
    /// that is what [`Engine::advance_to`] is for.
    pub fn flush(&self) {
        if let (Some(now), true) = (self.now(), self.has_rules.load(Ordering::Acquire)) {
            for s in self.shards.iter() {
                s.due.fetch_max(now, Ordering::AcqRel);
            }
        }
        self.drain();
    }

    /// Applies every operation handed in and every timer asked for so far (without asking
    /// for more, unlike [`Engine::flush`]), helping to do it.
    fn drain(&self) {
        loop {
            let mut touched = SmallVec::<[usize; 4]>::new();
            self.help_identity(&mut touched);
            let mut busy = !self.id_jobs.is_empty() || self.identity.writer_busy();
            for i in 0..self.shards.len() {
                self.pump(i);
                let s = &self.shards[i];
                busy |= s.has_work() || s.state.is_locked();
            }
            if !busy {
                break;
            }
            std::thread::yield_now();
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        let c = |k| self.counters.get(k);
        Stats {
            accepted: c(Counter::Accepted),
            duplicates: c(Counter::Duplicates),
            late: c(Counter::Late),
            invalid: c(Counter::Invalid),
            contacts_created: c(Counter::ContactsCreated),
            merges: c(Counter::Merges),
            conflicts: c(Counter::Conflicts),
            erased: c(Counter::Erased),
            queued: c(Counter::Queued),
            timers_fired: self.timers_fired(),
        }
    }

    fn timers_fired(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.state.lock().timers_fired)
            .sum()
    }

    /// The contact that owns an identifier.
    pub fn contact_of(&self, id: &Identifier) -> Option<ContactId> {
        self.identity.owner(id)
    }

    /// Live contacts, in id order.
    pub fn contacts(&self) -> Vec<ContactId> {
        self.identity.contacts()
    }

    /// Number of live contacts.
    pub fn contact_count(&self) -> usize {
        self.identity.len()
    }

    /// The profile of the contact that owns `id`.
    pub fn profile(&self, id: &Identifier) -> Option<Profile> {
        self.profile_of(self.contact_of(id)?)
    }

    /// The profile of a contact, if it is live and has state applied.
    pub fn profile_of(&self, c: ContactId) -> Option<Profile> {
        let rec = self.identity.record(c)?;
        let cx = ViewContext {
            syms: &self.syms,
            now: self.now().unwrap_or(0),
            windows: self.cfg.state.stage,
        };
        let st = self.shards[self.shard_of(c)].state.lock();
        let contact = st.get(c, self.shards.len())?;
        let mut p = contact.state.view(
            ProfileIdentity {
                key: rec.key(),
                ids: &rec.ids,
            },
            &cx,
        );
        if let Some(ev) = &st.eval {
            p.score = ev.score(&contact.eval);
            for (i, pred) in ev.plan.predicates.iter().enumerate() {
                if contact.eval.held.get(i) {
                    match pred.kind {
                        PredicateKind::Segment => p.segments.push(pred.name.clone()),
                        PredicateKind::Tag => p.tags.push(pred.name.clone()),
                    }
                }
            }
            p.segments.sort();
            p.tags.sort();
            p.tags.dedup();
        }
        Some(p)
    }

    /// Every live contact's profile, sorted by primary id.
    pub fn profiles(&self) -> Vec<Profile> {
        let mut v: Vec<Profile> = self
            .contacts()
            .into_iter()
            .filter_map(|c| self.profile_of(c))
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Memory held by contacts, identity and de-duplication, measured from the structures.
    pub fn memory(&self) -> MemoryReport {
        let mut state_bytes = self.syms.heap_bytes();
        let (mut timers, mut timer_bytes, mut bitmap_bytes, mut memberships) = (0, 0, 0, 0);
        let mut membership_log_bytes = 0;
        let (mut timeline_bytes, mut rule_bytes) = (0, 0);
        let (mut slot_bytes, mut cart_bytes) = (0, 0);
        for s in self.shards.iter() {
            let mut st = s.state.lock();
            timers += st.pending_timers();
            timer_bytes += st.timer_bytes();
            for b in st.members.all() {
                bitmap_bytes += b.serialized_size();
                memberships += b.len();
            }
            membership_log_bytes += st.members.pending_bytes();
            // Contacts live in their slots (whole pages of them): the slots count once, and
            // each contact adds what it holds on the heap.
            slot_bytes += st.slot_bytes();
            for c in st.contacts() {
                let rule_heap = Evaluator::heap_bytes(&c.eval);
                timeline_bytes +=
                    std::mem::size_of_val(&c.state.timeline) + c.state.timeline.heap_bytes();
                rule_bytes += std::mem::size_of_val(&c.eval) + rule_heap;
                cart_bytes += c.state.cart_bytes();
                state_bytes += c.state.heap_bytes() + rule_heap;
            }
        }
        state_bytes += slot_bytes + timer_bytes + bitmap_bytes + membership_log_bytes;
        MemoryReport {
            contacts: self.identity.len(),
            identifiers: self.identity.identifiers(),
            dedup_ids: self.dedup.len(),
            timers,
            state_bytes,
            bitmap_bytes,
            memberships,
            membership_log_bytes,
            timer_bytes,
            timeline_bytes,
            rule_bytes,
            slot_bytes,
            cart_bytes,
            identity_bytes: self.identity.heap_bytes(),
        }
    }

    /// Contact ids handed out so far, live or not.
    pub fn contacts_allocated(&self) -> u32 {
        self.identity.allocated()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn engine_is_send_and_sync() {
        assert_send_sync::<Engine>();
    }

    #[test]
    fn erased_orders_leave_no_trace_in_shared_tables() {
        let engine = Engine::builder().build().unwrap();
        let buy = crate::decode_line(
            r#"{"ts":1,"ids":{"email":"a@x"},"type":"purchase","order":"o-secret-77","amount":3}"#,
        )
        .unwrap();
        engine.ingest(buy).unwrap();
        let erase = crate::decode_line(r#"{"ts":2,"ids":{"email":"a@x"},"type":"erase"}"#).unwrap();
        engine.ingest(erase).unwrap();
        engine.flush();
        assert_eq!(engine.syms.get("o-secret-77"), None);
        assert_eq!(engine.syms.get("a@x"), None);
        assert_eq!(engine.memory().contacts, 0);
        assert_eq!(engine.memory().identifiers, 0);
        assert_eq!(engine.memory().dedup_ids, 0);
        assert_eq!(engine.memory().cart_bytes, 0);
    }

    /// The report's parts: slots come a page at a time, a cart is counted once it exists,
    /// and every part is within the state's total.
    #[test]
    fn memory_report_counts_slots_and_carts() {
        let engine = Engine::builder().build().unwrap();
        let empty = engine.memory();
        assert_eq!((empty.slot_bytes, empty.cart_bytes), (0, 0));
        let line = |ts: u64, who: &str, rest: &str| {
            crate::decode_line(&format!(
                r#"{{"ts":{ts},"ids":{{"cookie":"{who}"}},"type":{rest}}}"#
            ))
            .unwrap()
        };
        engine.ingest(line(1, "a", r#""page_view""#)).unwrap();
        engine.flush();
        let one = engine.memory();
        assert!(one.slot_bytes >= std::mem::size_of::<shard::Slot>());
        assert_eq!(one.cart_bytes, 0);
        engine
            .ingest(line(2, "b", r#""cart_add","product":"p-1","price":5"#))
            .unwrap();
        engine.flush();
        let two = engine.memory();
        assert!(two.cart_bytes > 0);
        assert!(two.slot_bytes + two.cart_bytes <= two.state_bytes);
    }
}
