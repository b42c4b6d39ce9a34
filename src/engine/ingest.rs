//! The ingest path: admission, identity changes (a lone new identifier beside other threads,
//! the rest through the writer section or its queue),
//! routing to shards, and the shards' hand-over and drain.

use super::outcome::Counter;
use super::ring::Claimed;
use super::shard::{ApplyCx, MergeTail, Op, Pending, ShardState};
use super::{Engine, IngestError, Ingested};
use crate::codec::wire::Entry;
use crate::event::{Event, Fact, Identifier, Payload, Ts};
use crate::identity::{ContactId, Resolution, Writer};
use crate::persist::{Log, Lsn};
use crossbeam::utils::Backoff;
use smallvec::SmallVec;
use std::collections::HashSet;
use std::sync::atomic::{fence, Ordering};

/// An identity change waiting for the writer section.
pub(super) enum IdJob {
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

/// How far behind the operation a drain applies it asks for the contact slots of waiting
/// ones, so that they load meanwhile (see [`crate::prefetch`]).
const AHEAD: usize = 8;

/// Arrival numbers a thread takes at a time (without a log).
const SEQ_BLOCK: u64 = 256;

thread_local! {
    /// This thread's block of arrival numbers: the engine it is of, the next, the end.
    static SEQS: std::cell::Cell<(u64, u64, u64)> = const { std::cell::Cell::new((0, 0, 0)) };
}

/// What admission decided for an event that is taken.
enum Taken {
    Erase { now: Ts, late: bool },
    Event { now: Ts, late: bool, seq: u64 },
}

impl Engine {
    /// Steps 1–6 of the module docs for one event. With a data directory, steps 2–4 and the
    /// log append happen under the log's order lock, so the log holds events in the order
    /// their admission was decided; the number of the record appended goes to `lsn`.
    pub(super) fn admit<const N: usize>(
        &self,
        event: Event,
        touched: &mut SmallVec<[usize; N]>,
        lsn: &mut Lsn,
    ) -> Result<Ingested, IngestError>
    where
        [usize; N]: smallvec::Array<Item = usize>,
    {
        if let Err(e) = event.validate() {
            self.counters.bump(Counter::Invalid, 1);
            return Err(e.into());
        }
        // Held until the event is with the shards, so that a snapshot's cut never falls
        // between its log record and its effect.
        let _gate = self.log.as_ref().map(|_| self.gate.read());
        let taken = match &self.log {
            None => match self.decide(&event) {
                Ok(t) => t,
                Err(outcome) => return outcome,
            },
            Some(log) => {
                let mut framed = Vec::with_capacity(160);
                if let Err(e) = Log::frame(Entry::Event(&event), &mut framed) {
                    self.counters.bump(Counter::Invalid, 1);
                    return Err(IngestError::Storage(e));
                }
                let mut order = log.order();
                if let Some(e) = order.stopped() {
                    return Err(IngestError::Storage(e));
                }
                match self.decide(&event) {
                    Ok(t) => {
                        *lsn = order.append(&framed);
                        t
                    }
                    Err(outcome) => return outcome,
                }
            }
        };
        match taken {
            Taken::Erase { now, late } => {
                let job = IdJob::Erase {
                    ids: event.ids,
                    now,
                    late,
                };
                Ok(self.with_writer(job, touched))
            }
            Taken::Event { now, late, seq } => {
                if let Some(c) = self.identity.fast(&event.ids) {
                    return Ok(self.route(event, now, late, seq, Resolution::found(c), touched));
                }
                // A first event of one new identifier creates its contact beside other
                // threads doing the same, unless identity changes wait in the queue (they go
                // first, and a steady stream of creations would keep the writer out).
                if let [id] = event.ids.as_slice() {
                    if self.id_jobs.is_empty() {
                        if let Some(res) = self.identity.create_alone(id) {
                            let out = self.route(event, now, late, seq, res, touched);
                            // A change queued while this thread shared the section is taken by
                            // this look or by its own thread's try (see `with_writer`).
                            fence(Ordering::SeqCst);
                            self.help_identity(touched);
                            return Ok(out);
                        }
                    }
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
        }
    }

    /// Steps 2–4: de-duplication, lateness, the clock and the arrival number. A duplicate
    /// comes back as `Err(Ok(Duplicate))`.
    fn decide(&self, event: &Event) -> Result<Taken, Result<Ingested, IngestError>> {
        let now = self.now();
        if let Some(id) = &event.id {
            if self.dedup.is_duplicate(id, now) {
                self.counters.bump(Counter::Duplicates, 1);
                return Err(Ok(Ingested::Duplicate));
            }
        }
        if let Some(n) = now {
            if event.ts < n.saturating_sub(self.cfg.lateness) {
                self.counters.bump(Counter::Late, 1);
                return Err(Err(IngestError::Late {
                    ts: event.ts,
                    now: n,
                    lateness: self.cfg.lateness,
                }));
            }
        }
        if let Payload::Erase = event.payload {
            let now = self.clock_to(event.ts);
            self.counters.bump(Counter::Accepted, 1);
            return Ok(Taken::Erase {
                now,
                late: event.ts < now,
            });
        }
        if let Some(id) = &event.id {
            if !self.dedup.insert(id, event.ts, now) {
                self.counters.bump(Counter::Duplicates, 1);
                return Err(Ok(Ingested::Duplicate));
            }
        }
        let now = self.clock_to(event.ts);
        let late = event.ts < now;
        let seq = self.next_seq();
        Ok(Taken::Event { now, late, seq })
    }

    /// The next arrival number. With a log, one at a time (admission is ordered by the log's
    /// lock, and replay must hand out the same numbers). Without, each thread takes a block
    /// of [`SEQ_BLOCK`] numbers at a time, so that threads do not fight over the counter's
    /// cache line for every event: numbers still rise with arrival on each thread, and events
    /// racing on different threads have no arrival order to keep.
    fn next_seq(&self) -> u64 {
        if self.log.is_some() {
            return self.seq.fetch_add(1, Ordering::AcqRel);
        }
        SEQS.with(|c| {
            let (engine, next, end) = c.get();
            if engine == self.id && next < end {
                c.set((engine, next + 1, end));
                return next;
            }
            let start = self.seq.fetch_add(SEQ_BLOCK, Ordering::AcqRel);
            c.set((self.id, start + 1, start + SEQ_BLOCK));
            start
        })
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
                self.counters.bump(Counter::Queued, 1);
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

    pub(super) fn help_identity<const N: usize>(&self, touched: &mut SmallVec<[usize; N]>)
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
    #[inline(always)]
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
        self.counters.bump(Counter::Accepted, 1);
        self.counters
            .bump(Counter::ContactsCreated, u64::from(res.created));
        self.counters
            .bump(Counter::Merges, res.absorbed.len() as u64);
        self.counters
            .bump(Counter::Conflicts, u64::from(res.conflict));
        // The identifiers go here: only identity resolution reads them. The fields are moved
        // one by one, not through `Fact::of`: passing the whole event to it cost one more
        // 232-byte copy per event (callgrind, one segment: memcpy 123.0 M → 131.1 M).
        let Event {
            id,
            ts,
            brand,
            channel,
            payload,
            ids: _,
        } = event;
        let pending = Pending {
            seq,
            identified,
            event: Fact {
                id,
                ts,
                brand,
                channel,
                payload,
            },
        };
        if res.absorbed.is_empty() {
            // Built where it goes in the queue.
            let place = self.claim_in(self.shard_of(res.contact), touched);
            place.write(Op::Apply {
                contact: res.contact,
                now,
                late,
                pending,
            });
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
        self.counters.bump(Counter::Erased, gone.len() as u64);
        Ingested::Erased {
            contacts: gone.len(),
        }
    }

    /// The shard that owns `c` (a mask for the usual power-of-two count, see `slot_index`).
    #[inline(always)]
    pub(super) fn shard_of(&self, c: ContactId) -> usize {
        let n = self.shards.len();
        if n.is_power_of_two() {
            c.0 as usize & (n - 1)
        } else {
            c.0 as usize % n
        }
    }

    /// Pushes an operation to its shard's queue; when the queue is full, helps drain it
    /// (or yields while another thread does) until there is room.
    #[inline(always)]
    pub(super) fn hand_over<const N: usize>(&self, op: Op, touched: &mut SmallVec<[usize; N]>)
    where
        [usize; N]: smallvec::Array<Item = usize>,
    {
        let i = self.shard_of(op.target());
        self.claim_in(i, touched).write(op);
    }

    /// A place at the back of shard `i`'s queue for one operation, to be written at once;
    /// when the queue is full, helps drain it (or yields while another thread does) until
    /// there is room.
    #[inline(always)]
    fn claim_in<const N: usize>(
        &self,
        i: usize,
        touched: &mut SmallVec<[usize; N]>,
    ) -> Claimed<'_, Op>
    where
        [usize; N]: smallvec::Array<Item = usize>,
    {
        let place = loop {
            if let Some(place) = self.shards[i].queue.try_claim() {
                break place;
            }
            if !self.pump(i) {
                std::thread::yield_now();
            }
        };
        if !touched.contains(&i) {
            touched.push(i);
        }
        place
    }

    /// Drains shard `i` if no other thread is doing so, then any shard it forwarded work to.
    /// Returns whether this thread drained anything.
    pub(super) fn pump(&self, i: usize) -> bool {
        fence(Ordering::SeqCst);
        let base = self.cx();
        let mut drained = false;
        let mut pending: SmallVec<[usize; 4]> = SmallVec::new();
        pending.push(i);
        while let Some(i) = pending.pop() {
            let shard = &self.shards[i];
            let backoff = Backoff::new();
            while shard.has_work() {
                let Some(mut st) = shard.state.try_lock() else {
                    break;
                };
                drained = true;
                // The shard's own handle: cloning it touches no count shared with other shards.
                let ev = st.eval.clone();
                let cx = ApplyCx {
                    eval: ev.as_deref(),
                    ..base
                };
                let mut took = self.drain_queue(i, &mut st, &cx, &mut pending);
                // Time asked for by `advance_to` or `flush`.
                let due = shard.due.load(Ordering::Acquire);
                if due > shard.fired.load(Ordering::Acquire) {
                    st.fire(due, true, &cx);
                    shard.fired.fetch_max(due, Ordering::AcqRel);
                    took = true;
                }
                drop(st);
                fence(Ordering::SeqCst);
                if !took {
                    // The front operation's slot is claimed but not yet written: its producer
                    // is between the two steps of `Ring::push`. Wait for it, spinning a
                    // little and then yielding, as `ArrayQueue::pop` did.
                    backoff.snooze();
                }
            }
        }
        drained
    }

    /// Applies the operations of shard `i`'s queue where they wait, in order, and then those
    /// other shards forwarded to it, until neither has one ready; says whether it applied
    /// any. While the front operation is applied, the slots of those up to AHEAD places
    /// behind it are loaded into cache, and what the slots point to for the one halfway
    /// there. Operations it forwards go to their shards' inboxes, and those shards to
    /// `pending`.
    #[inline(always)]
    fn drain_queue(
        &self,
        i: usize,
        st: &mut ShardState,
        cx: &ApplyCx<'_>,
        pending: &mut SmallVec<[usize; 4]>,
    ) -> bool {
        let queue = &self.shards[i].queue;
        let mut rx = st.rx.take().expect("the state holds its queue's consumer");
        let mut took = false;
        // How many from the front have had their slot asked for.
        let mut asked = 0;
        loop {
            while let Some(op) = (asked <= AHEAD).then(|| queue.peek(&rx, asked)).flatten() {
                st.prefetch(op.target(), cx.shards);
                if let Some(op) = asked
                    .checked_sub(AHEAD / 2)
                    .and_then(|m| queue.peek(&rx, m))
                {
                    st.prefetch_heap(op.target(), cx.shards, true);
                }
                asked += 1;
            }
            let op = if let Some(op) = queue.peek(&rx, 0) {
                took = true;
                asked = asked.saturating_sub(1);
                if st.apply_in_place(op, cx) {
                    queue.discard(&mut rx);
                    continue;
                }
                queue.pop(&mut rx).expect("the front is written")
            } else if let Some(op) = self.shards[i].inbox.pop() {
                // Forwarded by another shard, taken when none of this shard's own is ready.
                took = true;
                op
            } else {
                break;
            };
            if let Some(fwd) = st.apply(op, cx) {
                let j = self.shard_of(fwd.target());
                self.shards[j].inbox.push(fwd);
                if j != i && !pending.contains(&j) {
                    pending.push(j);
                }
            }
        }
        st.rx = Some(rx);
        took
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::{Engine, Ingested};
    use crate::identity::Resolution;
    use smallvec::SmallVec;

    /// An event accepted for a contact that another thread erases before the event's
    /// operation reaches the shard (staged here: the operation is routed by hand after the
    /// erasure) leaves nothing behind: the erased slot takes it, the contact is not brought
    /// back, and the event's id is forgotten with the contact, so it can be accepted again.
    #[test]
    fn an_event_reaching_an_erased_contact_leaves_nothing() {
        let engine = Engine::builder().build().unwrap();
        let ev = |line: &str| crate::decode_line(line).unwrap();
        let first = engine
            .ingest(ev(r#"{"ts":1,"ids":{"email":"a@x"},"type":"page_view"}"#))
            .unwrap();
        let Ingested::Applied { contact, .. } = first else {
            panic!("applied: {first:?}")
        };
        engine
            .ingest(ev(r#"{"ts":2,"ids":{"email":"a@x"},"type":"erase"}"#))
            .unwrap();
        engine.flush();
        let buy = r#"{"id":"e-9","ts":3,"ids":{"email":"a@x"},"type":"purchase","order":"o-1","amount":5}"#;
        // What the racing thread did before the erasure: accepted the id, found the contact.
        let now = engine.now();
        assert!(engine.dedup.insert("e-9", 3, now));
        let mut touched = SmallVec::<[usize; 4]>::new();
        let out = engine.route(
            ev(buy),
            now.unwrap(),
            false,
            99,
            Resolution::found(contact),
            &mut touched,
        );
        assert!(matches!(out, Ingested::Applied { .. }));
        for s in touched {
            engine.pump(s);
        }
        engine.flush();
        assert!(engine.profile_of(contact).is_none());
        assert_eq!(engine.memory().contacts, 0);
        assert_eq!(engine.memory().dedup_ids, 0);
        let again = engine.ingest(ev(buy)).unwrap();
        assert!(
            matches!(again, Ingested::Applied { created: true, .. }),
            "{again:?}"
        );
    }
}
