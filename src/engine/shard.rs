//! Shards: single-writer owners of contact state, fed through lock-free queues.
//!
//! Contact `c` lives in shard `c mod S`, slot `c div S`. Each shard has
//!
//! * a bounded [`Ring`] of operations handed over by ingesting threads (read in place by the
//!   drain, see `ring`),
//! * an unbounded [`SegQueue`] inbox for operations forwarded by other shards (merges and
//!   events that raced with a merge; at most one per merge or racing event),
//! * its state behind a mutex that is only ever *tried*, never waited for, by writers: the
//!   contacts, a timer queue (`timers`; one live entry per contact: the next instant its rules could
//!   change by time alone), and a roaring bitmap per segment and rule tag (its changes
//!   logged and folded in batches, see `members`), plus one per manual tag and one of all
//!   live contacts.
//!
//! **Hand-over protocol (delegation).** An ingesting thread pushes its operation, then tries to
//! become the shard's writer. If it succeeds it drains the queues — applying other threads'
//! operations too — releases, and re-checks the queues (a push that raced with the release is
//! picked up by this re-check or by its own pusher's try). If another thread is the writer, it
//! returns at once: that writer will apply the operation. So no ingesting thread ever waits for
//! a lock another holds; a full queue is the one place a thread waits (backpressure), and it
//! spends that wait helping to drain. On one thread the path is: push, lock, pop, apply, unlock.
//!
//! **Time.** Every operation carries the engine time `N` at which it was accepted. Before
//! applying it, the shard fires its timers due before `N` (up to and including `N` for a late
//! event, whose instant had already passed when it arrived), in time order. An event and a
//! timer at the same instant are one evaluation. `advance_to(t)` raises each shard's `due`
//! mark and pumps it; whoever drains the shard next fires its timers up to `due`, so a clock
//! thread never waits for an ingesting one.
//!
//! **Merges across shards.** Identity decides a merge of `from` contacts into `into`. The
//! merging event travels with the merge: `Absorb` visits each absorbed contact's shard in turn
//! (each takes the contact's state, emits its `exit … merged` signals, leaves a forwarding slot),
//! then `Adopt` brings the states and the event to `into`'s shard, which folds them in, emits
//! `merged`, applies the event and evaluates once. An operation that reaches a forwarding slot
//! (a reader that resolved the identity just before the merge) is re-sent to the survivor.
//! Because every profile field and term state combines exactly whatever the order (see
//! [`crate::state`]), events of `into` applied before the adoption arrives give the same final
//! state as if the merge had come first. Erased slots drop whatever still arrives for them.

use crate::engine::dedup::Dedup;
use crate::engine::members::Memberships;
use crate::engine::pages::Pages;
use crate::engine::ring::{Consumer, Ring};
use crate::engine::signal::{ExitReason, Signal, SignalKind, Sink};
use crate::engine::timers::TimerQueue;
use crate::eval::{Carry, Change, EvalState, Evaluator, StoredEval};
use crate::event::{Fact, Payload, Ts};
use crate::identity::{ContactId, Identity, Names};
use crate::intern::{Interner, RecentTexts, Sym};
use crate::rules::PredicateKind;
use crate::state::{ContactState, StateConfig};
use crossbeam::queue::SegQueue;
use parking_lot::Mutex;
use roaring::RoaringBitmap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// One contact as its shard holds it (whether it is identified is in its profile, where a
/// spare byte is: here it took eight). Stored as its profile, its evaluation state, and
/// whether it is identified.
#[derive(Debug, Clone, Default)]
pub(crate) struct Contact {
    pub(crate) state: ContactState,
    pub(crate) eval: EvalState,
}

impl bincode::Encode for Contact {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        (&self.state, &self.eval, self.state.identified).encode(e)
    }
}

impl<C> bincode::Decode<C> for Contact {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let (mut state, eval, identified): (ContactState, EvalState, bool) =
            bincode::Decode::decode(d)?;
        state.identified = identified;
        Ok(Contact { state, eval })
    }
}
bincode::impl_borrow_decode!(Contact);

/// A contact as a snapshot stores it: in the bytes [`Contact`] decodes from, its term states
/// in their stored form (see `Evaluator::stored`).
pub(crate) struct StoredContact<'a> {
    pub(crate) state: &'a ContactState,
    pub(crate) eval: StoredEval<'a>,
}

impl bincode::Encode for StoredContact<'_> {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        (self.state, &self.eval, self.state.identified).encode(e)
    }
}

impl Contact {
    /// This contact as a snapshot stores it, under the rules `ev`.
    pub(crate) fn stored<'a>(&'a self, ev: Option<&Evaluator>) -> StoredContact<'a> {
        StoredContact {
            state: &self.state,
            eval: self.eval.stored(ev),
        }
    }
}

/// An accepted event on its way to a contact.
pub(crate) struct Pending {
    pub(crate) seq: u64,
    pub(crate) identified: bool,
    pub(crate) event: Fact,
}

/// What travels along a merge.
pub(crate) struct MergeTail {
    /// Absorbed contacts taken so far, with their names.
    pub(crate) carried: Vec<(Names, Box<Contact>)>,
    /// Absorbed contacts still to visit.
    pub(crate) rest: Vec<(ContactId, Names)>,
    /// The event that caused the merge.
    pub(crate) event: Option<Pending>,
}

/// Work for a shard. Every operation carries the engine time `now` it was accepted at and
/// whether its event was late (older than `now`).
///
/// `Apply` carries its event inline: it is nearly every operation, and boxing it would cost an
/// allocation per event; the queue slots are sized for it.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Op {
    /// Apply an accepted event to a contact.
    Apply {
        contact: ContactId,
        now: Ts,
        late: bool,
        pending: Pending,
    },
    /// Take `from`'s state (sent to `from`'s shard), then go on along the merge.
    Absorb {
        from: ContactId,
        names: Names,
        into: ContactId,
        now: Ts,
        late: bool,
        tail: Box<MergeTail>,
    },
    /// Fold absorbed contacts and the merging event into `into` (sent to `into`'s shard).
    Adopt {
        into: ContactId,
        now: Ts,
        late: bool,
        tail: Box<MergeTail>,
    },
    /// Forget a contact for good.
    Erase {
        contact: ContactId,
        now: Ts,
        late: bool,
        names: Names,
    },
}

impl Op {
    pub(crate) fn target(&self) -> ContactId {
        match self {
            Op::Apply { contact, .. } | Op::Erase { contact, .. } => *contact,
            Op::Absorb { from, .. } => *from,
            Op::Adopt { into, .. } => *into,
        }
    }

    fn time(&self) -> (Ts, bool) {
        match self {
            Op::Apply { now, late, .. }
            | Op::Absorb { now, late, .. }
            | Op::Adopt { now, late, .. }
            | Op::Erase { now, late, .. } => (*now, *late),
        }
    }

    fn retarget(self, to: ContactId) -> Op {
        match self {
            Op::Apply {
                now, late, pending, ..
            } => Op::Apply {
                contact: to,
                now,
                late,
                pending,
            },
            Op::Adopt {
                now, late, tail, ..
            } => Op::Adopt {
                into: to,
                now,
                late,
                tail,
            },
            other => other,
        }
    }
}

/// A contact id's place in its shard. Slots are dense (ids are handed out in order, and only
/// merged and erased contacts leave non-live slots), so the contact is kept inline.
#[derive(Default)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Slot {
    #[default]
    Empty,
    /// The contact itself, in the slot: no allocation and no pointer of its own.
    Live(Contact),
    Forwarded(ContactId),
    Erased,
}

/// What the shard needs from the engine to apply operations.
#[derive(Clone, Copy)]
pub(crate) struct ApplyCx<'a> {
    pub(crate) syms: &'a Interner,
    pub(crate) cfg: &'a StateConfig,
    pub(crate) dedup: &'a Dedup,
    pub(crate) identity: &'a Identity,
    pub(crate) eval: Option<&'a Evaluator>,
    pub(crate) sink: &'a Sink,
    pub(crate) shards: usize,
}

#[derive(Default)]
pub(crate) struct ShardState {
    /// The rules in force: this shard's own handle (see `Engine::load_rules`).
    pub(crate) eval: Option<Arc<Evaluator>>,
    slots: Pages<Slot>,
    timers: TimerQueue,
    /// Per predicate of the plan: its members (segments) or holders (rule tags).
    pub(crate) members: Memberships,
    /// Per manual tag: contacts whose latest `tag` event for it added it.
    pub(crate) manual_tags: HashMap<Sym, RoaringBitmap>,
    /// Every live contact.
    pub(crate) live: RoaringBitmap,
    /// Timers fired so far.
    pub(crate) timers_fired: u64,
    changes: Vec<Change>,
    /// The brands this shard interned last.
    brands: RecentTexts,
    /// The right to take operations from the shard's queue: here, so that whoever holds
    /// the state drains the queue (taken out for the length of a drain, see `Engine::pump`).
    pub(crate) rx: Option<Consumer>,
}

/// Timers ahead of the one firing whose contacts' slots are asked for (the heap parts of
/// the one half as far ahead, whose slot was asked for earlier).
const FIRE_AHEAD: usize = 4;

/// `c`'s place in its shard. The shard count is a power of two unless the builder was told
/// otherwise, and then a shift stands for the division (which took a few per cent of a
/// one-segment event's time: a slot's place is worked out three or four times an event).
#[inline(always)]
fn slot_index(c: ContactId, shards: usize) -> usize {
    if shards.is_power_of_two() {
        c.0 as usize >> shards.trailing_zeros()
    } else {
        c.0 as usize / shards
    }
}

impl ShardState {
    pub(crate) fn new(predicates: usize, eval: Option<Arc<Evaluator>>) -> ShardState {
        ShardState {
            eval,
            members: Memberships::new(predicates),
            ..ShardState::default()
        }
    }

    fn slot_mut(&mut self, c: ContactId, shards: usize) -> &mut Slot {
        self.slots.grow_to(slot_index(c, shards))
    }

    /// Starts loading `c`'s slot into cache, for an operation about to be applied.
    pub(crate) fn prefetch(&self, c: ContactId, shards: usize) {
        if let Some(slot) = self.slots.get(slot_index(c, shards)) {
            crate::prefetch::prefetch(slot);
        }
    }

    /// Starts loading the heap parts of `c` that an event (`event`) or a timer reads and
    /// writes: its timeline (an event's only), its term slots, its brands and cart. Called
    /// once its slot is likely in cache.
    pub(crate) fn prefetch_heap(&self, c: ContactId, shards: usize, event: bool) {
        use crate::prefetch::{prefetch, prefetch_ends};
        if let Some(c) = self.get(c, shards) {
            if event {
                c.state.timeline.prefetch();
            }
            c.eval.prefetch_slots();
            if let Some(brands) = c.state.spilled_brands() {
                prefetch_ends(brands);
            }
            if let Some(times) = c.state.channels.spilled_times() {
                prefetch_ends(times);
            }
            if let Some(cart) = &c.state.cart {
                prefetch(&**cart);
            }
        }
    }

    pub(crate) fn get(&self, c: ContactId, shards: usize) -> Option<&Contact> {
        match self.slots.get(slot_index(c, shards)) {
            Some(Slot::Live(s)) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn contacts(&self) -> impl Iterator<Item = &Contact> {
        self.slots.iter().filter_map(|s| match s {
            Slot::Live(s) => Some(s),
            _ => None,
        })
    }

    /// The live contacts of this shard (number `index` of `shards`), with their ids.
    pub(crate) fn live_contacts(
        &self,
        index: usize,
        shards: usize,
    ) -> impl Iterator<Item = (ContactId, &Contact)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(move |(i, s)| match s {
                Slot::Live(c) => Some((ContactId((i * shards + index) as u32), c)),
                _ => None,
            })
    }

    /// Puts a contact read back from a snapshot in its slot, which must be empty; then
    /// [`ShardState::rebuild`] once all are in.
    pub(crate) fn restore(
        &mut self,
        c: ContactId,
        contact: Contact,
        shards: usize,
    ) -> Result<(), &'static str> {
        let slot = self.slot_mut(c, shards);
        if !matches!(slot, Slot::Empty) {
            return Err("a contact is recorded twice");
        }
        *slot = Slot::Live(contact);
        Ok(())
    }

    /// Rebuilds what is derived from the contacts — the live set, the bitmaps of segments and
    /// tags, manual tags and the timer queue — after a restore or a switch of rules (shard
    /// `index` of `shards`).
    pub(crate) fn rebuild(&mut self, index: usize, shards: usize, timers_fired: u64) {
        let predicates = self.eval.as_ref().map_or(0, |e| e.plan.predicates.len());
        let mut bitmaps = vec![RoaringBitmap::new(); predicates];
        let mut live = RoaringBitmap::new();
        let mut timers = Vec::new();
        let mut manual: HashMap<Sym, RoaringBitmap> = HashMap::new();
        for (c, contact) in self.live_contacts(index, shards) {
            live.insert(c.0);
            for p in contact.eval.held.ones() {
                bitmaps[p].insert(c.0);
            }
            if let Some(t) = contact.eval.timer() {
                timers.push((t, c.0));
            }
            if let Some(p) = &contact.state.prefs {
                for (tag, &on) in p.tags.iter() {
                    let m = manual.entry(tag).or_default();
                    if on {
                        m.insert(c.0);
                    }
                }
            }
        }
        self.members = Memberships::from_bitmaps(bitmaps);
        self.live = live;
        self.timers = TimerQueue::from_vec(timers);
        self.manual_tags = manual;
        self.timers_fired = timers_fired;
    }

    /// Bytes the slots take, whole pages and blocks.
    pub(crate) fn slot_bytes(&self) -> usize {
        self.slots.heap_bytes()
    }

    pub(crate) fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    pub(crate) fn timer_bytes(&self) -> usize {
        self.timers.heap_bytes()
    }

    /// Fires the timers due before `upto` (or at it, when `inclusive`), in time order.
    pub(crate) fn fire(&mut self, upto: Ts, inclusive: bool, cx: &ApplyCx<'_>) {
        let Some(ev) = cx.eval else {
            return;
        };
        let due = |t: Ts| t < upto || (t == upto && inclusive);
        while let Some((t, c)) = self.timers.pop_if(|(t, _)| due(t)) {
            // The contacts of the timers to come load while this one is evaluated: the slot
            // of the one FIRE_AHEAD on, what the slot points to of the one half as far.
            if let Some((_, n)) = self.timers.upcoming(FIRE_AHEAD) {
                self.prefetch(ContactId(n), cx.shards);
            }
            if let Some((_, n)) = self.timers.upcoming(FIRE_AHEAD / 2) {
                self.prefetch_heap(ContactId(n), cx.shards, false);
            }
            let id = ContactId(c);
            let Some(Slot::Live(contact)) = self.slots.get_mut(slot_index(id, cx.shards)) else {
                continue;
            };
            if contact.eval.timer() != Some(t) {
                continue; // superseded by a later evaluation
            }
            self.timers_fired += 1;
            let mut changes = std::mem::take(&mut self.changes);
            ev.tick(&mut contact.eval, &contact.state, t, &mut changes);
            if let Some(next) = contact.eval.timer() {
                self.timers.push((next, c));
            }
            self.publish(id, t, &changes, None, cx);
            changes.clear();
            self.changes = changes;
        }
    }

    /// Moves every contact of this shard (index `index`) to new rules at engine time `now`.
    /// The caller holds every shard and has fired this shard's timers up to `now` under the
    /// old rules. Members of removed segments leave them (`rule_removed`); every contact is
    /// then evaluated in full under the new rules, so new and changed segments are entered or
    /// left at `now`. The old rules' states and bitmaps are dropped. Returns the contacts
    /// converted.
    pub(crate) fn reload(
        &mut self,
        index: usize,
        new: Arc<Evaluator>,
        carry: &Carry,
        now: Option<Ts>,
        cx: &ApplyCx<'_>,
    ) -> usize {
        let old = self.eval.take();
        let mut converted = 0;
        let mut changes = Vec::new();
        let mut exits = Vec::new();
        let mut touched = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Slot::Live(contact) = slot else {
                continue;
            };
            let id = ContactId((i * cx.shards + index) as u32);
            if let Some(o) = &old {
                for &r in &carry.removed {
                    let p = &o.plan.predicates[r];
                    if p.kind == PredicateKind::Segment && contact.eval.held.get(r) {
                        exits.push((id, p.name.clone()));
                    }
                }
            }
            let tau = now.unwrap_or(Ts::MIN);
            // Without old rules nothing is carried, so the (empty) old state is never read.
            contact.eval = new.convert(
                carry,
                old.as_deref(),
                &contact.eval,
                &contact.state,
                cx.syms,
                tau,
            );
            converted += 1;
            let from = changes.len();
            new.evaluate(&mut contact.eval, &contact.state, tau, None, &mut changes);
            if changes.len() > from {
                touched.push((id, from..changes.len()));
            }
        }
        self.eval = Some(new);
        // Bitmaps and timers follow from the converted contacts, as after a restore.
        self.rebuild(index, cx.shards, self.timers_fired);
        let at = now.unwrap_or(Ts::MIN);
        if cx.sink.wanted() {
            for (id, segment) in exits {
                let names = cx.identity.names(id);
                cx.sink.emit(Signal {
                    kind: SignalKind::Exit {
                        segment,
                        reason: ExitReason::RuleRemoved,
                    },
                    contact: names.key,
                    primary: names.primary,
                    id,
                    at,
                });
            }
        }
        for (id, range) in touched {
            self.signal(id, at, &changes[range], None, cx);
        }
        converted
    }

    /// Applies `op` where it lies when it is an event for a contact of this shard that is
    /// live or new (nearly every operation), and says whether it did; the caller then drops
    /// it, or hands it to [`ShardState::apply`] when not. Taking the operation by reference
    /// saves moving its 176 bytes out of the queue of waiting operations and into `apply`.
    pub(crate) fn apply_in_place(&mut self, op: &Op, cx: &ApplyCx<'_>) -> bool {
        let Op::Apply {
            contact,
            now,
            late,
            pending,
        } = op
        else {
            return false;
        };
        // Looked at before the timers fire (which neither create nor retire contacts), so
        // that an operation left to `apply` does not fire them twice.
        let fresh = match self.slot_mut(*contact, cx.shards) {
            Slot::Live(_) => false,
            Slot::Empty => true,
            Slot::Forwarded(_) | Slot::Erased => return false,
        };
        self.fire(*now, *late, cx);
        self.apply_pending(*contact, pending, *now, fresh, cx);
        true
    }

    /// Applies an accepted event to `contact`, live or (`fresh`) about to be.
    fn apply_pending(
        &mut self,
        contact: ContactId,
        pending: &Pending,
        now: Ts,
        fresh: bool,
        cx: &ApplyCx<'_>,
    ) {
        // The shard's change buffer, reused event after event.
        let mut changes = std::mem::take(&mut self.changes);
        let brand = self.brands.intern(&pending.event.brand, cx.syms);
        let c = self.live_mut(contact, cx);
        let timer = c.eval.timer();
        apply_event(c, pending, brand, now, fresh, cx, &mut changes);
        let manual = manual_tag_syms(&pending.event, cx.syms);
        self.after_eval(contact, now, &changes, &manual, timer, cx);
        changes.clear();
        self.changes = changes;
    }

    /// Applies one operation; returns an operation to send on (to another contact or shard).
    pub(crate) fn apply(&mut self, op: Op, cx: &ApplyCx<'_>) -> Option<Op> {
        let (now, late) = op.time();
        self.fire(now, late, cx);
        let target = op.target();
        match self.slot_mut(target, cx.shards) {
            Slot::Forwarded(to) => {
                let to = *to;
                return match op {
                    Op::Erase { .. } => None,
                    Op::Absorb { from, .. } => {
                        cx.identity.forget_retired(from);
                        self.continue_merge(op)
                    }
                    other => Some(other.retarget(to)),
                };
            }
            Slot::Erased => {
                // The event was accepted for `target` while it was being erased: its id goes
                // too, unless it has been accepted again since (for another contact).
                let pending = match &op {
                    Op::Apply { pending, .. } => Some(pending),
                    Op::Adopt { tail, .. } => tail.event.as_ref(),
                    _ => None,
                };
                if let Some(id) = pending.and_then(|p| p.event.id.as_ref()) {
                    cx.dedup.forget_of(id, target);
                }
                return match op {
                    Op::Absorb { from, .. } => {
                        cx.identity.forget_retired(from);
                        self.continue_merge(op)
                    }
                    _ => None,
                };
            }
            _ => {}
        }
        match op {
            Op::Apply {
                contact, pending, ..
            } => {
                // A new contact is evaluated in full once: a predicate can hold from the start
                // (`count(page_view) == 0`) without any event feeding it.
                let fresh = matches!(self.slot_mut(contact, cx.shards), Slot::Empty);
                self.apply_pending(contact, &pending, now, fresh, cx);
                None
            }
            Op::Absorb {
                from,
                names,
                into,
                now,
                late,
                mut tail,
            } => {
                let slot = self.slot_mut(from, cx.shards);
                if let Slot::Live(c) = std::mem::replace(slot, Slot::Forwarded(into)) {
                    self.leave_all(from, &c, now, ExitReason::Merged, &names, cx);
                    tail.carried.push((names, Box::new(c)));
                }
                cx.identity.forget_retired(from);
                self.continue_merge(Op::Absorb {
                    from,
                    names: Names::default(),
                    into,
                    now,
                    late,
                    tail,
                })
            }
            Op::Adopt { into, tail, .. } => {
                let tail = *tail;
                let mut changes = Vec::new();
                let mut merged_from = Vec::new();
                let mut manual: Vec<Sym> = Vec::new();
                let timer;
                // Found as every applied event's brand is, before the slot is borrowed.
                let brand =
                    (tail.event.as_ref()).map(|p| self.brands.intern(&p.event.brand, cx.syms));
                {
                    let c = self.live_mut(into, cx);
                    timer = c.eval.timer();
                    for (names, other) in tail.carried {
                        let other = *other;
                        if let Some(p) = &other.state.prefs {
                            manual.extend(p.tags.iter().map(|(s, _)| s));
                        }
                        c.state.absorb(other.state, cx.cfg);
                        if let Some(ev) = cx.eval {
                            for i in ev.absorb(&mut c.eval, other.eval) {
                                changes.push(Change::Tagged(i));
                            }
                        }
                        merged_from.push(names.key);
                    }
                    if let (Some(p), Some(brand)) = (&tail.event, brand) {
                        feed_event(c, p, brand, now, cx);
                        manual.extend(manual_tag_syms(&p.event, cx.syms));
                    }
                    if let Some(ev) = cx.eval {
                        ev.evaluate(&mut c.eval, &c.state, now, None, &mut changes);
                    }
                }
                self.after_eval(into, now, &changes, &manual, timer, cx);
                if cx.sink.wanted() && !merged_from.is_empty() {
                    let names = cx.identity.names(into);
                    for from in merged_from {
                        cx.sink.emit(Signal {
                            kind: SignalKind::Merged { from },
                            contact: names.key.clone(),
                            primary: names.primary.clone(),
                            id: into,
                            at: now,
                        });
                    }
                }
                None
            }
            Op::Erase { contact, names, .. } => {
                let slot = self.slot_mut(contact, cx.shards);
                if let Slot::Live(c) = std::mem::replace(slot, Slot::Erased) {
                    self.leave_all(contact, &c, now, ExitReason::Erased, &names, cx);
                }
                cx.identity.forget_retired(contact);
                for m in self.manual_tags.values_mut() {
                    m.remove(contact.0);
                }
                None
            }
        }
    }

    /// The next step of a merge: the next absorbed contact, or the survivor.
    fn continue_merge(&mut self, op: Op) -> Option<Op> {
        let Op::Absorb {
            into,
            now,
            late,
            mut tail,
            ..
        } = op
        else {
            return None;
        };
        Some(match tail.rest.pop() {
            Some((next, names)) => Op::Absorb {
                from: next,
                names,
                into,
                now,
                late,
                tail,
            },
            None => Op::Adopt {
                into,
                now,
                late,
                tail,
            },
        })
    }

    fn live_mut(&mut self, c: ContactId, cx: &ApplyCx<'_>) -> &mut Contact {
        let slot = self.slot_mut(c, cx.shards);
        if let Slot::Empty = slot {
            *slot = Slot::Live(Contact {
                eval: cx.eval.map(Evaluator::new_state).unwrap_or_default(),
                ..Contact::default()
            });
            self.live.insert(c.0);
        }
        match self.slot_mut(c, cx.shards) {
            Slot::Live(s) => s,
            _ => unreachable!("made live above"),
        }
    }

    /// Bitmaps, timer and signals after an evaluation of `c` at `at`. `before` is the timer
    /// the contact had: the queue already holds an entry for it, so only a new instant is pushed
    /// (otherwise every event would add an entry until its instant passed).
    fn after_eval(
        &mut self,
        c: ContactId,
        at: Ts,
        changes: &[Change],
        manual: &[Sym],
        before: Option<Ts>,
        cx: &ApplyCx<'_>,
    ) {
        let shards = cx.shards;
        if let Some(Slot::Live(contact)) = self.slots.get(slot_index(c, shards)) {
            if let Some(t) = contact.eval.timer().filter(|t| Some(*t) != before) {
                self.timers.push((t, c.0));
            }
            for sym in manual {
                let on = contact.state.manual_tag(*sym);
                let m = self.manual_tags.entry(*sym).or_default();
                if on {
                    m.insert(c.0);
                } else {
                    m.remove(c.0);
                }
            }
        }
        self.publish(c, at, changes, None, cx);
    }

    /// Records changes in the bitmaps and emits their signals.
    fn publish(
        &mut self,
        c: ContactId,
        at: Ts,
        changes: &[Change],
        names: Option<&Names>,
        cx: &ApplyCx<'_>,
    ) {
        if changes.is_empty() {
            return;
        }
        for ch in changes {
            match *ch {
                Change::Segment(i, true) | Change::Tagged(i) => {
                    self.members.set(i, c.0, true);
                }
                Change::Segment(i, false) => {
                    self.members.set(i, c.0, false);
                }
            }
        }
        self.signal(c, at, changes, names, cx);
    }

    /// Emits the signals of changes already recorded in the bitmaps.
    fn signal(
        &self,
        c: ContactId,
        at: Ts,
        changes: &[Change],
        names: Option<&Names>,
        cx: &ApplyCx<'_>,
    ) {
        let Some(ev) = cx.eval else {
            return;
        };
        if changes.is_empty() || !cx.sink.wanted() {
            return;
        }
        let looked_up;
        let names = match names {
            Some(n) => n,
            None => {
                looked_up = cx.identity.names(c);
                &looked_up
            }
        };
        let name = |i: usize| ev.plan.predicates[i].name.clone();
        for ch in changes {
            let kind = match *ch {
                Change::Segment(i, true) => SignalKind::Enter { segment: name(i) },
                Change::Segment(i, false) => SignalKind::Exit {
                    segment: name(i),
                    reason: ExitReason::Predicate,
                },
                Change::Tagged(i) => SignalKind::Tagged { tag: name(i) },
            };
            cx.sink.emit(Signal {
                kind,
                contact: names.key.clone(),
                primary: names.primary.clone(),
                id: c,
                at,
            });
        }
    }

    /// A contact leaves every segment (merged away or erased): bitmaps and signals.
    fn leave_all(
        &mut self,
        c: ContactId,
        contact: &Contact,
        at: Ts,
        reason: ExitReason,
        names: &Names,
        cx: &ApplyCx<'_>,
    ) {
        self.live.remove(c.0);
        let Some(ev) = cx.eval else {
            return;
        };
        for (i, p) in ev.plan.predicates.iter().enumerate() {
            // `held` is exactly the bitmaps' view of this contact (`publish` changes both),
            // so only what it holds needs a change logged.
            if contact.eval.held.get(i) {
                self.members.set(i, c.0, false);
            }
            if p.kind == PredicateKind::Segment && contact.eval.held.get(i) && cx.sink.wanted() {
                cx.sink.emit(Signal {
                    kind: SignalKind::Exit {
                        segment: p.name.clone(),
                        reason,
                    },
                    contact: names.key.clone(),
                    primary: names.primary.clone(),
                    id: c,
                    at,
                });
            }
        }
        if reason == ExitReason::Merged {
            for m in self.manual_tags.values_mut() {
                m.remove(c.0);
            }
        }
    }
}

/// Applies an event to a contact's profile and rule terms, without evaluating; `brand` is
/// its brand's symbol.
fn feed_event(c: &mut Contact, p: &Pending, brand: Sym, now: Ts, cx: &ApplyCx<'_>) {
    c.state.identified |= p.identified;
    let touch = p.event.touch();
    c.state.apply(&touch, brand, p.seq, cx.syms, cx.cfg);
    if let Some(ev) = cx.eval {
        ev.on_event(&mut c.eval, &touch, p.seq, now);
    }
}

/// Applies an event and evaluates what it feeds (everything for a `fresh` contact), adding
/// the changes to `changes`.
#[allow(clippy::too_many_arguments)]
fn apply_event(
    c: &mut Contact,
    p: &Pending,
    brand: Sym,
    now: Ts,
    fresh: bool,
    cx: &ApplyCx<'_>,
    changes: &mut Vec<Change>,
) {
    feed_event(c, p, brand, now, cx);
    if let Some(ev) = cx.eval {
        ev.evaluate(
            &mut c.eval,
            &c.state,
            now,
            (!fresh).then(|| p.event.payload.kind()),
            changes,
        );
    }
}

fn manual_tag_syms(ev: &Fact, syms: &Interner) -> Vec<Sym> {
    match &ev.payload {
        Payload::Tag { add, remove } => add.iter().chain(remove).map(|t| syms.intern(t)).collect(),
        _ => Vec::new(),
    }
}

/// One shard: its queues and its state.
pub(crate) struct Shard {
    pub(crate) queue: Ring<Op>,
    pub(crate) inbox: SegQueue<Op>,
    pub(crate) state: Mutex<ShardState>,
    /// Fire timers up to this time (inclusive) at the next drain: set by `advance_to`.
    pub(crate) due: AtomicI64,
    /// Timers have been fired up to this time on behalf of `due`.
    pub(crate) fired: AtomicI64,
}

impl Shard {
    pub(crate) fn new(capacity: usize, predicates: usize, eval: Option<Arc<Evaluator>>) -> Shard {
        let (queue, rx) = Ring::new(capacity);
        let mut state = ShardState::new(predicates, eval);
        state.rx = Some(rx);
        Shard {
            queue,
            inbox: SegQueue::new(),
            state: Mutex::new(state),
            due: AtomicI64::new(Ts::MIN),
            fired: AtomicI64::new(Ts::MIN),
        }
    }

    pub(crate) fn has_work(&self) -> bool {
        !self.queue.is_empty()
            || !self.inbox.is_empty()
            || self.due.load(Ordering::Acquire) > self.fired.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A contact's slot is three cache lines: an event loads all of it (the profile is
    /// prefetched whole), and every 8 bytes more than 192 would make some slots span a
    /// fourth. It was four (256 bytes) until the twenty-third session; the brands' list and
    /// the evaluation state's vectors took 48 bytes off, the timeline's header moving to
    /// its buffer 16 more.
    #[test]
    fn the_size_of_a_slot() {
        assert_eq!(std::mem::size_of::<ContactState>(), 144);
        assert_eq!(std::mem::size_of::<EvalState>(), 48);
        assert_eq!(std::mem::size_of::<Slot>(), 192);
    }

    /// `identified` lives in the profile but is stored where the contact stored it, after
    /// the evaluation state, and read back from there.
    #[test]
    fn identified_is_stored_after_the_evaluation_state() {
        for identified in [false, true] {
            let mut c = Contact::default();
            c.state.identified = identified;
            c.state.events = 3;
            let bytes = crate::codec::pack(&c);
            assert_eq!(bytes, crate::codec::pack(&(&c.state, &c.eval, identified)));
            assert_eq!(bytes, crate::codec::pack(&c.stored(None)));
            let back: Contact = crate::codec::unpack(&bytes).unwrap();
            assert_eq!((back.state.identified, back.state.events), (identified, 3));
        }
    }
}
