//! Signals: what marketing automation acts on (SPEC 6), and how they reach subscribers.
//!
//! A subscriber gets a bounded channel. When it is full, the shard that produces the next
//! signal waits until there is room: the subscriber slows ingest down (backpressure) rather
//! than losing anything. A subscriber that drops its receiver is removed. With no subscriber,
//! signals are not even built (nor counted): memberships change all the same.
//!
//! A subscriber must keep reading while it waits on the engine: a thread that blocks on a full
//! channel holds its shard.

use crate::event::time::Ts;
use crate::identity::ContactId;
use crossbeam::channel::{bounded, Receiver, Sender};
use parking_lot::RwLock;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Why a contact left a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The predicate became false.
    Predicate,
    /// The contact was merged into another.
    Merged,
    /// The contact was erased.
    Erased,
    /// The rule was removed.
    RuleRemoved,
}

impl ExitReason {
    /// The reason as written in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Predicate => "predicate",
            ExitReason::Merged => "merged",
            ExitReason::Erased => "erased",
            ExitReason::RuleRemoved => "rule_removed",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignalKind {
    /// The contact entered a segment.
    Enter {
        /// Segment name.
        segment: String,
    },
    /// The contact left a segment.
    Exit {
        /// Segment name.
        segment: String,
        /// Why.
        reason: ExitReason,
    },
    /// The contact got a rule tag (sticky).
    Tagged {
        /// Tag name.
        tag: String,
    },
    /// Another contact was merged into this one.
    Merged {
        /// The absorbed contact's key.
        from: String,
    },
}

/// One signal, for one contact, at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Signal {
    /// What happened.
    pub kind: SignalKind,
    /// The contact's stable key (for `merged`: the survivor's).
    pub contact: String,
    /// The contact's primary id when the signal was emitted.
    pub primary: String,
    /// The internal id of the contact.
    pub id: ContactId,
    /// When it happened: the event time, engine time for late events, or the exact instant a
    /// time-driven change took place.
    pub at: Ts,
}

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

impl Signal {
    /// The JSON line of SPEC 8.
    pub fn to_json(&self) -> String {
        let (c, p, at) = (q(&self.contact), q(&self.primary), self.at);
        match &self.kind {
            SignalKind::Enter { segment } => format!(
                "{{\"signal\":\"enter\",\"segment\":{},\"contact\":{c},\"primary\":{p},\"at\":{at}}}",
                q(segment)
            ),
            SignalKind::Exit { segment, reason } => format!(
                "{{\"signal\":\"exit\",\"segment\":{},\"contact\":{c},\"primary\":{p},\"at\":{at},\"reason\":\"{}\"}}",
                q(segment),
                reason.as_str()
            ),
            SignalKind::Tagged { tag } => format!(
                "{{\"signal\":\"tagged\",\"tag\":{},\"contact\":{c},\"primary\":{p},\"at\":{at}}}",
                q(tag)
            ),
            SignalKind::Merged { from } => format!(
                "{{\"signal\":\"merged\",\"from\":{},\"into\":{c},\"at\":{at}}}",
                q(from)
            ),
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Where shards send signals.
#[derive(Default)]
pub(crate) struct Sink {
    /// A subscriber that went away leaves `None` behind, so indices never shift.
    subscribers: RwLock<Vec<Option<Sender<Signal>>>>,
    /// The `Some` entries of `subscribers`, kept beside it (changed under its write lock) so
    /// that [`Sink::wanted`], asked on every evaluation that changed something, reads one
    /// atomic instead of taking the lock.
    live: AtomicUsize,
    emitted: AtomicU64,
}

impl Sink {
    pub(crate) fn subscribe(&self, capacity: usize) -> Receiver<Signal> {
        let (tx, rx) = bounded(capacity.max(1));
        let mut subs = self.subscribers.write();
        subs.push(Some(tx));
        self.live.fetch_add(1, Ordering::Release);
        rx
    }

    pub(crate) fn wanted(&self) -> bool {
        self.live.load(Ordering::Acquire) > 0
    }

    pub(crate) fn emit(&self, s: Signal) {
        self.emitted.fetch_add(1, Ordering::Relaxed);
        let mut gone = Vec::new();
        {
            let subs = self.subscribers.read();
            for (i, tx) in subs.iter().enumerate() {
                if let Some(tx) = tx {
                    if tx.send(s.clone()).is_err() {
                        gone.push(i);
                    }
                }
            }
        }
        if !gone.is_empty() {
            let mut subs = self.subscribers.write();
            for i in gone {
                if subs[i].take().is_some() {
                    self.live.fetch_sub(1, Ordering::Release);
                }
            }
        }
    }

    pub(crate) fn emitted(&self) -> u64 {
        self.emitted.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal() -> Signal {
        Signal {
            kind: SignalKind::Tagged { tag: "t".into() },
            contact: "customer:1".into(),
            primary: "customer:1".into(),
            id: ContactId(1),
            at: 0,
        }
    }

    #[test]
    fn wanted_follows_the_live_subscribers() {
        let sink = Sink::default();
        assert!(!sink.wanted());
        let a = sink.subscribe(4);
        let b = sink.subscribe(4);
        assert!(sink.wanted());
        drop(a);
        // A receiver that went away is noticed at the next signal, and only once.
        sink.emit(signal());
        sink.emit(signal());
        assert!(sink.wanted());
        assert_eq!(b.try_iter().count(), 2);
        drop(b);
        sink.emit(signal());
        assert!(!sink.wanted());
        let c = sink.subscribe(4);
        assert!(sink.wanted());
        sink.emit(signal());
        assert_eq!(c.try_iter().count(), 1);
        assert_eq!(sink.emitted(), 4);
    }
}
