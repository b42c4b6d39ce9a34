//! Per-contact state of the plan's aggregate terms: the smallest state the plan asked for
//! (see [`crate::rules::StateNeed`]), kept exact under late events and merges.
//!
//! Every state here is a function of the set of matching events: counters and totals add,
//! the latest time takes the maximum, and the kept timestamps are the latest `k` (or those in
//! the window) of the union. So applying events in any order, or merging two contacts, gives
//! the same state as one contact receiving all the events.

use crate::rules::StateNeed;

/// The state of one term for one contact.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TermState {
    /// Profile-derived terms keep nothing here.
    None,
    Counter(u64),
    /// Exact total in millionths.
    Total(i128),
    Latest(Option<i64>),
    /// The latest (at most `k`) event times, ascending.
    LatestK(Vec<i64>),
    /// The events still in the window: (time, value in millionths), ascending by time.
    Window(Vec<(i64, i128)>),
}

impl TermState {
    pub(crate) fn new(need: StateNeed) -> TermState {
        match need {
            StateNeed::Counter => TermState::Counter(0),
            StateNeed::Total => TermState::Total(0),
            StateNeed::Latest => TermState::Latest(None),
            StateNeed::LatestK(_) => TermState::LatestK(Vec::new()),
            StateNeed::Window => TermState::Window(Vec::new()),
            _ => TermState::None,
        }
    }

    /// Adds one matching event at `ts` with `value` (1 for counts). `horizon` is the earliest
    /// time still inside the window at the evaluation time (`None` without a window); an
    /// event at or before it is already out and is not kept.
    pub(crate) fn add(&mut self, ts: i64, value: i128, k: usize, horizon: Option<i64>) {
        if horizon.is_some_and(|h| ts <= h) {
            return;
        }
        match self {
            TermState::None => {}
            TermState::Counter(n) => *n += 1,
            TermState::Total(t) => *t += value,
            TermState::Latest(l) => *l = Some(l.map_or(ts, |x| x.max(ts))),
            TermState::LatestK(v) => {
                let pos = v.partition_point(|x| *x <= ts);
                v.insert(pos, ts);
                if v.len() > k {
                    v.remove(0);
                }
            }
            TermState::Window(v) => {
                let pos = v.partition_point(|x| x.0 <= ts);
                v.insert(pos, (ts, value));
            }
        }
    }

    /// Drops what has left the window (times at or before `horizon`).
    pub(crate) fn prune(&mut self, horizon: i64) {
        match self {
            TermState::LatestK(v) => {
                let n = v.partition_point(|x| *x <= horizon);
                v.drain(..n);
            }
            TermState::Window(v) => {
                let n = v.partition_point(|x| x.0 <= horizon);
                v.drain(..n);
            }
            _ => {}
        }
    }

    /// Folds another contact's state of the same term into this one.
    pub(crate) fn absorb(&mut self, other: TermState, k: usize) {
        match (self, other) {
            (TermState::Counter(a), TermState::Counter(b)) => *a += b,
            (TermState::Total(a), TermState::Total(b)) => *a += b,
            (TermState::Latest(a), TermState::Latest(b)) => *a = (*a).max(b),
            (TermState::LatestK(a), TermState::LatestK(b)) => {
                a.extend(b);
                a.sort_unstable();
                if a.len() > k {
                    a.drain(..a.len() - k);
                }
            }
            (TermState::Window(a), TermState::Window(b)) => {
                a.extend(b);
                a.sort_by_key(|x| x.0);
            }
            _ => {}
        }
    }

    /// The count (of events in the window, for windowed states).
    pub(crate) fn count(&self) -> u64 {
        match self {
            TermState::Counter(n) => *n,
            TermState::LatestK(v) => v.len() as u64,
            TermState::Window(v) => v.len() as u64,
            _ => 0,
        }
    }

    /// The sum in millionths.
    pub(crate) fn sum(&self) -> i128 {
        match self {
            TermState::Total(t) => *t,
            TermState::Window(v) => v.iter().map(|x| x.1).sum(),
            _ => 0,
        }
    }

    pub(crate) fn latest(&self) -> Option<i64> {
        match self {
            TermState::Latest(l) => *l,
            _ => None,
        }
    }

    /// The oldest time still kept in a windowed state.
    pub(crate) fn oldest(&self) -> Option<i64> {
        match self {
            TermState::LatestK(v) => v.first().copied(),
            TermState::Window(v) => v.first().map(|x| x.0),
            _ => None,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            TermState::LatestK(v) => v.capacity() * 8,
            TermState::Window(v) => v.capacity() * 32,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_k_keeps_the_latest_in_any_order() {
        let mut a = TermState::new(StateNeed::LatestK(2));
        for ts in [5, 1, 9, 3] {
            a.add(ts, 1, 2, None);
        }
        assert_eq!(a, TermState::LatestK(vec![5, 9]));
        let mut b = TermState::new(StateNeed::LatestK(2));
        b.add(7, 1, 2, None);
        a.absorb(b, 2);
        assert_eq!(a, TermState::LatestK(vec![7, 9]));
        a.prune(7);
        assert_eq!(a.count(), 1);
        assert_eq!(a.oldest(), Some(9));
    }

    #[test]
    fn events_already_out_of_the_window_are_not_kept() {
        let mut w = TermState::new(StateNeed::Window);
        w.add(10, 5, 0, Some(10));
        assert_eq!(w.count(), 0);
        w.add(11, 5, 0, Some(10));
        assert_eq!(w.sum(), 5);
        let mut c = TermState::new(StateNeed::Counter);
        c.add(1, 1, 0, None);
        assert_eq!(c.count(), 1);
    }
}
