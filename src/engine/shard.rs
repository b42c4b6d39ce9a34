//! Shards: single-writer owners of contact state, fed through lock-free queues.
//!
//! Contact `c` lives in shard `c mod S`, slot `c div S`. Each shard has
//!
//! * a bounded [`ArrayQueue`] of operations handed over by ingesting threads,
//! * an unbounded [`SegQueue`] inbox for operations forwarded by other shards (merges and
//!   events that raced with a merge; at most one per merge or racing event), and
//! * its state behind a mutex that is only ever *tried*, never waited for, by writers.
//!
//! **Hand-over protocol (delegation).** An ingesting thread pushes its operation, then tries to
//! become the shard's writer. If it succeeds it drains the queues — applying other threads'
//! operations too — releases, and re-checks the queues (a push that raced with the release is
//! picked up by this re-check or by its own pusher's try). If another thread is the writer, it
//! returns at once: that writer will apply the operation. So no ingesting thread ever waits for
//! a lock another holds; a full queue is the one place a thread waits (backpressure), and it
//! spends that wait helping to drain. On one thread the path is: push, lock, pop, apply, unlock.
//!
//! **Merges across shards.** Identity decides a merge of `from` into `into` and sends
//! `Absorb{from, into}` to `from`'s shard, behind every operation already queued for `from`.
//! That shard takes `from`'s state, leaves a forwarding slot, and sends `Adopt` with the state
//! to `into`'s shard. An operation that reaches a forwarding slot (a reader that resolved the
//! identity just before the merge) is re-sent to the survivor. Because every profile field
//! combines exactly whatever the order (see [`crate::state`]), events of `into` applied before
//! the adoption arrives give the same final state as if the merge had come first.
//! Erased slots drop whatever still arrives for them.

use crate::engine::dedup::Dedup;
use crate::event::Event;
use crate::identity::ContactId;
use crate::intern::Interner;
use crate::state::{ContactState, StateConfig};
use crossbeam::queue::{ArrayQueue, SegQueue};
use parking_lot::Mutex;

/// Work for a shard.
///
/// `Apply` carries its event inline: it is nearly every operation, and boxing it would cost an
/// allocation per event; the queue slots are sized for it.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Op {
    /// Apply an accepted event to a contact.
    Apply {
        contact: ContactId,
        seq: u64,
        event: Event,
    },
    /// Hand `from`'s state over to `into` (sent to `from`'s shard).
    Absorb { from: ContactId, into: ContactId },
    /// Fold an absorbed contact's state into `into` (sent to `into`'s shard).
    Adopt {
        into: ContactId,
        state: Box<ContactState>,
    },
    /// Drop a contact's state for good.
    Erase { contact: ContactId },
}

impl Op {
    pub(crate) fn target(&self) -> ContactId {
        match self {
            Op::Apply { contact, .. } => *contact,
            Op::Absorb { from, .. } => *from,
            Op::Adopt { into, .. } => *into,
            Op::Erase { contact } => *contact,
        }
    }

    fn retarget(self, to: ContactId) -> Op {
        match self {
            Op::Apply { seq, event, .. } => Op::Apply {
                contact: to,
                seq,
                event,
            },
            Op::Adopt { state, .. } => Op::Adopt { into: to, state },
            other => other,
        }
    }
}

pub(crate) enum Slot {
    Empty,
    Live(Box<ContactState>),
    Forwarded(ContactId),
    Erased,
}

/// What the shard needs from the engine to apply operations.
pub(crate) struct ApplyCx<'a> {
    pub(crate) syms: &'a Interner,
    pub(crate) cfg: &'a StateConfig,
    pub(crate) dedup: &'a Dedup,
    pub(crate) shards: usize,
}

#[derive(Default)]
pub(crate) struct ShardState {
    slots: Vec<Slot>,
}

impl ShardState {
    fn slot_mut(&mut self, c: ContactId, shards: usize) -> &mut Slot {
        let i = c.0 as usize / shards;
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || Slot::Empty);
        }
        &mut self.slots[i]
    }

    pub(crate) fn get(&self, c: ContactId, shards: usize) -> Option<&ContactState> {
        match self.slots.get(c.0 as usize / shards) {
            Some(Slot::Live(s)) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn live(&self) -> impl Iterator<Item = &ContactState> {
        self.slots.iter().filter_map(|s| match s {
            Slot::Live(s) => Some(&**s),
            _ => None,
        })
    }

    pub(crate) fn slot_count(&self) -> usize {
        self.slots.capacity()
    }

    /// Applies one operation; returns an operation to send to another contact when the target
    /// was merged away.
    pub(crate) fn apply(&mut self, op: Op, cx: &ApplyCx<'_>) -> Option<Op> {
        let slot = self.slot_mut(op.target(), cx.shards);
        if let Slot::Forwarded(to) = slot {
            return match op {
                Op::Absorb { .. } | Op::Erase { .. } => None,
                other => Some(other.retarget(*to)),
            };
        }
        if let Slot::Erased = slot {
            if let Op::Apply { event, .. } = op {
                if let Some(id) = &event.id {
                    cx.dedup.forget(id);
                }
            }
            return None;
        }
        match op {
            Op::Apply { seq, event, .. } => {
                if let Slot::Empty = slot {
                    *slot = Slot::Live(Box::default());
                }
                if let Slot::Live(s) = slot {
                    s.apply(&event, seq, cx.syms, cx.cfg);
                }
                None
            }
            Op::Absorb { into, .. } => match std::mem::replace(slot, Slot::Forwarded(into)) {
                Slot::Live(state) => Some(Op::Adopt { into, state }),
                _ => None,
            },
            Op::Adopt { state, .. } => {
                match slot {
                    Slot::Live(s) => s.absorb(*state, cx.cfg),
                    _ => *slot = Slot::Live(state),
                }
                None
            }
            Op::Erase { .. } => {
                *slot = Slot::Erased;
                None
            }
        }
    }
}

/// One shard: its queues and its state.
pub(crate) struct Shard {
    pub(crate) queue: ArrayQueue<Op>,
    pub(crate) inbox: SegQueue<Op>,
    pub(crate) state: Mutex<ShardState>,
}

impl Shard {
    pub(crate) fn new(capacity: usize) -> Shard {
        Shard {
            queue: ArrayQueue::new(capacity),
            inbox: SegQueue::new(),
            state: Mutex::new(ShardState::default()),
        }
    }

    pub(crate) fn has_work(&self) -> bool {
        !self.queue.is_empty() || !self.inbox.is_empty()
    }

    pub(crate) fn next_op(&self) -> Option<Op> {
        self.queue.pop().or_else(|| self.inbox.pop())
    }
}
