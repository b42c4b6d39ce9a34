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
//! maps; step 5 takes no engine lock for known identifiers; an identity change (new
//! identifier, merge, conflict, erasure) runs in a writer section that is only ever *tried*:
//! a thread that finds it taken queues the change for the holder, who applies it before
//! leaving, and returns [`Ingested::Queued`] at once. Step 6 never waits for another thread
//! either. So no ingesting thread waits for a lock another holds; a full shard queue is the
//! one place it waits (backpressure), helping to drain it meanwhile. Reads ([`Engine::profile`] and
//! friends) lock one shard briefly and see every operation applied so far; call
//! [`Engine::flush`] first to be sure everything handed in before has been applied.

mod config;
mod dedup;
mod jsonl;
mod query;
mod shard;
mod signal;

use crate::eval::Evaluator;
use crate::event::{Event, EventError, Identifier, Payload, Ts};
use crate::identity::{ContactId, Identity, Resolution, Writer};
use crate::intern::Interner;
use crate::rules::PredicateKind;
use crate::state::{Profile, ProfileIdentity, ViewContext};
use crossbeam::queue::SegQueue;
use dedup::Dedup;
use shard::{ApplyCx, MergeTail, Op, Pending, Shard};
use signal::Sink;
use smallvec::SmallVec;
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{fence, AtomicI64, AtomicU64, Ordering};

pub(crate) use config::Config;
pub use config::{ConfigError, EngineBuilder};
pub use jsonl::JsonlReport;
pub use query::{AudienceError, Explanation, Members};
pub use signal::{ExitReason, Signal, SignalKind};

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
    /// will resolve its contact and apply it (see [`Engine::flush`]).
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
}

impl IngestError {
    /// A short, stable name of the reason, for counting rejects by cause.
    pub fn reason_name(&self) -> &'static str {
        match self {
            IngestError::Invalid(e) => e.reason_name(),
            IngestError::Late { .. } => "late",
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
    /// Events refused as invalid (by [`Engine::ingest`]; decoding errors are the caller's).
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
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    duplicates: AtomicU64,
    late: AtomicU64,
    invalid: AtomicU64,
    contacts_created: AtomicU64,
    merges: AtomicU64,
    conflicts: AtomicU64,
    erased: AtomicU64,
    queued: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    if n > 0 {
        c.fetch_add(n, Ordering::Relaxed);
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
    /// Bytes of profile state (structs, their heap parts, shard slots).
    pub state_bytes: usize,
    /// Bytes of the identity index and records (approximate: map overhead estimated).
    pub identity_bytes: usize,
}

const NOT_STARTED: i64 = i64::MIN;

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
    cfg: Config,
    now: AtomicI64,
    seq: AtomicU64,
    dedup: Dedup,
    identity: Identity,
    syms: Interner,
    shards: Box<[Shard]>,
    counters: Counters,
    eval: Option<Evaluator>,
    sink: Sink,
    /// Identity changes queued for the thread holding the identity writer section.
    id_jobs: SegQueue<IdJob>,
}

/// An identity change waiting for the writer section.
enum IdJob {
    Event {
        event: Event,
        now: Ts,
        late: bool,
        seq: u64,
    },
    Erase {
        ids: SmallVec<[Identifier; 2]>,
        now: Ts,
        late: bool,
    },
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
        Engine {
            now: AtomicI64::new(NOT_STARTED),
            seq: AtomicU64::new(0),
            dedup: Dedup::new(cfg.dedup_window),
            identity: Identity::new(cfg.id_limits.clone()),
            syms,
            shards: (0..cfg.shards)
                .map(|_| Shard::new(cfg.queue_capacity, predicates))
                .collect(),
            counters: Counters::default(),
            eval,
            sink: Sink::default(),
            id_jobs: SegQueue::new(),
            cfg,
        }
    }

    fn cx(&self) -> ApplyCx<'_> {
        ApplyCx {
            syms: &self.syms,
            cfg: &self.cfg.state,
            dedup: &self.dedup,
            identity: &self.identity,
            eval: self.eval.as_ref(),
            sink: &self.sink,
            shards: self.shards.len(),
        }
    }

    /// Subscribes to signals through a channel of `capacity`; see [`Signal`] and the module
    /// docs of `engine::signal` for the backpressure policy. Subscribe before ingesting.
    pub fn subscribe(&self, capacity: usize) -> crossbeam::channel::Receiver<Signal> {
        self.sink.subscribe(capacity)
    }

    /// Signals produced so far.
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
        self.now.fetch_max(t, Ordering::AcqRel);
        if self.eval.is_none() {
            return;
        }
        for i in 0..self.shards.len() {
            self.shards[i].due.fetch_max(t, Ordering::AcqRel);
            self.pump(i);
        }
    }

    /// Moves the clock to `max(now, t)`; returns the new engine time.
    fn clock_to(&self, t: Ts) -> Ts {
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
        let r = self.admit(event, &mut touched);
        for s in touched {
            self.pump(s);
        }
        r
    }

    /// Ingests many events, handing them over shard by shard and draining once at the end;
    /// returns each event's outcome in input order.
    pub fn ingest_batch(
        &self,
        events: impl IntoIterator<Item = Event>,
    ) -> Vec<Result<Ingested, IngestError>> {
        let mut touched = SmallVec::<[usize; 16]>::new();
        let out = events
            .into_iter()
            .map(|e| self.admit(e, &mut touched))
            .collect();
        for s in touched {
            self.pump(s);
        }
        out
    }

    fn admit<const N: usize>(
        &self,
        event: Event,
        touched: &mut SmallVec<[usize; N]>,
    ) -> Result<Ingested, IngestError>
    where
        [usize; N]: smallvec::Array<Item = usize>,
    {
        if let Err(e) = event.validate() {
            bump(&self.counters.invalid, 1);
            return Err(e.into());
        }
        let now = self.now();
        if let Some(id) = &event.id {
            if self.dedup.is_duplicate(id, now) {
                bump(&self.counters.duplicates, 1);
                return Ok(Ingested::Duplicate);
            }
        }
        if let Some(n) = now {
            if event.ts < n.saturating_sub(self.cfg.lateness) {
                bump(&self.counters.late, 1);
                return Err(IngestError::Late {
                    ts: event.ts,
                    now: n,
                    lateness: self.cfg.lateness,
                });
            }
        }
        if let Payload::Erase = event.payload {
            let now = self.clock_to(event.ts);
            bump(&self.counters.accepted, 1);
            let job = IdJob::Erase {
                ids: event.ids,
                now,
                late: event.ts < now,
            };
            return Ok(self.with_writer(job, touched));
        }
        if let Some(id) = &event.id {
            if !self.dedup.insert(id, event.ts, now) {
                bump(&self.counters.duplicates, 1);
                return Ok(Ingested::Duplicate);
            }
        }
        let now = self.clock_to(event.ts);
        let late = event.ts < now;
        let seq = self.seq.fetch_add(1, Ordering::AcqRel);
        if let Some(c) = self.identity.fast(&event.ids) {
            return Ok(self.route(event, now, late, seq, Resolution::found(c), touched));
        }
        Ok(self.with_writer(
            IdJob::Event {
                event,
                now,
                late,
                seq,
            },
            touched,
        ))
    }

    /// Runs an identity change now if the writer section is free; otherwise queues it for the
    /// thread that holds the section, and returns at once ([`Ingested::Queued`]).
    fn with_writer<const N: usize>(
        &self,
        job: IdJob,
        touched: &mut SmallVec<[usize; N]>,
    ) -> Ingested
    where
        [usize; N]: smallvec::Array<Item = usize>,
    {
        match self.identity.try_writer() {
            Some(w) => {
                let out = self.run_job(&w, job, touched);
                self.drain_jobs(w, touched);
                out
            }
            None => {
                bump(&self.counters.queued, 1);
                self.id_jobs.push(job);
                fence(Ordering::SeqCst);
                self.help_identity(touched);
                Ingested::Queued
            }
        }
    }

    /// Applies queued identity changes while holding the writer section; after releasing it,
    /// looks again (a job queued during the release is taken by this look or by its own
    /// thread's try).
    fn drain_jobs<'e, const N: usize>(
        &'e self,
        mut w: Writer<'e>,
        touched: &mut SmallVec<[usize; N]>,
    ) where
        [usize; N]: smallvec::Array<Item = usize>,
    {
        loop {
            while let Some(job) = self.id_jobs.pop() {
                self.run_job(&w, job, touched);
            }
            drop(w);
            fence(Ordering::SeqCst);
            if self.id_jobs.is_empty() {
                return;
            }
            match self.identity.try_writer() {
                Some(next) => w = next,
                None => return,
            }
        }
    }

    fn help_identity<const N: usize>(&self, touched: &mut SmallVec<[usize; N]>)
    where
        [usize; N]: smallvec::Array<Item = usize>,
    {
        if self.id_jobs.is_empty() {
            return;
        }
        if let Some(w) = self.identity.try_writer() {
            self.drain_jobs(w, touched);
        }
    }

    fn run_job<const N: usize>(
        &self,
        w: &Writer<'_>,
        job: IdJob,
        touched: &mut SmallVec<[usize; N]>,
    ) -> Ingested
    where
        [usize; N]: smallvec::Array<Item = usize>,
    {
        match job {
            IdJob::Event {
                event,
                now,
                late,
                seq,
            } => {
                let res = w.resolve(&event.ids);
                self.route(event, now, late, seq, res, touched)
            }
            IdJob::Erase { ids, now, late } => self.erase(w, &ids, now, late, touched),
        }
    }

    /// Hands an accepted event, its contact decided, to the shards.
    fn route<const N: usize>(
        &self,
        event: Event,
        now: Ts,
        late: bool,
        seq: u64,
        res: Resolution,
        touched: &mut SmallVec<[usize; N]>,
    ) -> Ingested
    where
        [usize; N]: smallvec::Array<Item = usize>,
    {
        let identified = event.ids.iter().any(|i| i.kind.identifies());
        if let Some(id) = &event.id {
            self.dedup.set_contact(id, res.contact);
        }
        bump(&self.counters.accepted, 1);
        bump(&self.counters.contacts_created, u64::from(res.created));
        bump(&self.counters.merges, res.absorbed.len() as u64);
        bump(&self.counters.conflicts, u64::from(res.conflict));
        let pending = Pending {
            seq,
            identified,
            event,
        };
        if res.absorbed.is_empty() {
            self.hand_over(
                Op::Apply {
                    contact: res.contact,
                    now,
                    late,
                    pending,
                },
                touched,
            );
        } else {
            // The merging event travels with the merge: each absorbed contact's shard in turn,
            // then the survivor's (see `shard`).
            let mut rest: Vec<_> = res
                .absorbed
                .iter()
                .copied()
                .zip(res.absorbed_names.iter().cloned())
                .collect();
            let (from, names) = rest.pop().expect("absorbed is not empty");
            self.hand_over(
                Op::Absorb {
                    from,
                    names,
                    into: res.contact,
                    now,
                    late,
                    tail: Box::new(MergeTail {
                        carried: Vec::new(),
                        rest,
                        event: Some(pending),
                    }),
                },
                touched,
            );
        }
        Ingested::Applied {
            contact: res.contact,
            created: res.created,
            merged: res.absorbed,
            conflict: res.conflict,
        }
    }

    fn erase<const N: usize>(
        &self,
        w: &Writer<'_>,
        ids: &[Identifier],
        now: Ts,
        late: bool,
        touched: &mut SmallVec<[usize; N]>,
    ) -> Ingested
    where
        [usize; N]: smallvec::Array<Item = usize>,
    {
        let gone = w.erase(ids);
        let all: HashSet<ContactId> = gone
            .iter()
            .flat_map(|e| std::iter::once(e.contact).chain(e.absorbed.iter().copied()))
            .collect();
        if !all.is_empty() {
            self.dedup.forget_contacts(&all);
        }
        for e in &gone {
            for &contact in std::iter::once(&e.contact).chain(&e.absorbed) {
                let names = if contact == e.contact {
                    e.names.clone()
                } else {
                    Default::default()
                };
                self.hand_over(
                    Op::Erase {
                        contact,
                        now,
                        late,
                        names,
                    },
                    touched,
                );
            }
        }
        bump(&self.counters.erased, gone.len() as u64);
        Ingested::Erased {
            contacts: gone.len(),
        }
    }

    fn shard_of(&self, c: ContactId) -> usize {
        c.0 as usize % self.shards.len()
    }

    /// Pushes an operation to its shard's queue; when the queue is full, helps drain it
    /// (or yields while another thread does) until there is room.
    fn hand_over<const N: usize>(&self, mut op: Op, touched: &mut SmallVec<[usize; N]>)
    where
        [usize; N]: smallvec::Array<Item = usize>,
    {
        let i = self.shard_of(op.target());
        loop {
            match self.shards[i].queue.push(op) {
                Ok(()) => break,
                Err(back) => {
                    op = back;
                    if !self.pump(i) {
                        std::thread::yield_now();
                    }
                }
            }
        }
        if !touched.contains(&i) {
            touched.push(i);
        }
    }

    /// Drains shard `i` if no other thread is doing so, then any shard it forwarded work to.
    /// Returns whether this thread drained anything.
    fn pump(&self, i: usize) -> bool {
        fence(Ordering::SeqCst);
        let cx = self.cx();
        let mut drained = false;
        let mut pending: SmallVec<[usize; 4]> = SmallVec::new();
        pending.push(i);
        while let Some(i) = pending.pop() {
            let shard = &self.shards[i];
            while shard.has_work() {
                let Some(mut st) = shard.state.try_lock() else {
                    break;
                };
                drained = true;
                while let Some(op) = shard.next_op() {
                    if let Some(fwd) = st.apply(op, &cx) {
                        let j = self.shard_of(fwd.target());
                        self.shards[j].inbox.push(fwd);
                        if j != i && !pending.contains(&j) {
                            pending.push(j);
                        }
                    }
                }
                // Time asked for by `advance_to` or `flush`.
                let due = shard.due.load(Ordering::Acquire);
                if due > shard.fired.load(Ordering::Acquire) {
                    st.fire(due, true, &cx);
                    shard.fired.fetch_max(due, Ordering::AcqRel);
                }
                drop(st);
                fence(Ordering::SeqCst);
            }
        }
        drained
    }

    /// Waits until every operation handed in before this call has been applied and every
    /// timer due by engine time has fired, helping to do both. It waits for the shards to be
    /// idle, so with other threads ingesting at full speed it waits for their work too: call it
    /// at quiet points (before queries that must be exact, at shutdown), not on a clock tick —
    /// that is what [`Engine::advance_to`] is for.
    pub fn flush(&self) {
        if let (Some(now), Some(_)) = (self.now(), &self.eval) {
            for s in self.shards.iter() {
                s.due.fetch_max(now, Ordering::AcqRel);
            }
        }
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
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            accepted: l(&c.accepted),
            duplicates: l(&c.duplicates),
            late: l(&c.late),
            invalid: l(&c.invalid),
            contacts_created: l(&c.contacts_created),
            merges: l(&c.merges),
            conflicts: l(&c.conflicts),
            erased: l(&c.erased),
            queued: l(&c.queued),
        }
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
                key: &rec.key,
                ids: &rec.ids,
            },
            &cx,
        );
        if let Some(ev) = &self.eval {
            p.score = ev.score(&contact.eval);
            for (i, pred) in ev.plan.predicates.iter().enumerate() {
                if contact.eval.held[i] {
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
        for s in self.shards.iter() {
            let st = s.state.lock();
            state_bytes += st.slot_count() * std::mem::size_of::<shard::Slot>();
            state_bytes += st
                .contacts()
                .map(|c| {
                    std::mem::size_of_val(c) + c.state.heap_bytes() + Evaluator::heap_bytes(&c.eval)
                })
                .sum::<usize>();
            state_bytes += st.pending_timers() * 16;
            state_bytes += st
                .bitmaps
                .iter()
                .map(|b| b.serialized_size())
                .sum::<usize>();
        }
        MemoryReport {
            contacts: self.identity.len(),
            identifiers: self.identity.identifiers(),
            dedup_ids: self.dedup.len(),
            state_bytes,
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
    }
}
