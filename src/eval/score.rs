//! Scoring rules: points per matching event, with `cap N per D` credited in time order.
//!
//! A rule gives `p` points per matching event. With a cap, the events of each period
//! `[kD, (k+1)D)` (from the epoch) are credited in `(time, arrival)` order and the period
//! gives at most `N`: the event that reaches the cap gets only the rest, later ones nothing.
//! Per rule the state is a count per period (or one count without a cap) and the events of the
//! last `H` ms (`H` = the longest `score_gain` window), enough for `score` and `score_gain`
//! exactly: an event's credit depends only on how many events of its period come before it,
//! and the events of a period that are no longer kept are all earlier than the kept ones.

use crate::rules::ScoreRule;

#[derive(Debug, Clone, Default, PartialEq, bincode::Encode, bincode::Decode)]
pub(crate) struct RuleScore {
    /// Matching events per period (a single period `0` without a cap), ascending by period.
    periods: Vec<(i64, u64)>,
    /// Matching events of the last `H` ms, by (time, arrival).
    recent: Vec<(i64, u64)>,
}

fn period(rule: &ScoreRule, ts: i64) -> i64 {
    rule.cap.map_or(0, |(_, d)| ts.div_euclid(d))
}

fn credit(rule: &ScoreRule, index_in_period: u64) -> i64 {
    match rule.cap {
        None => rule.points,
        Some((max, _)) => {
            let given = (index_in_period as i64).saturating_mul(rule.points);
            (max - given).clamp(0, rule.points)
        }
    }
}

impl RuleScore {
    pub(crate) fn add(&mut self, rule: &ScoreRule, ts: i64, seq: u64, horizon: i64) {
        let k = period(rule, ts);
        match self.periods.binary_search_by_key(&k, |p| p.0) {
            Ok(i) => self.periods[i].1 += 1,
            Err(i) => self.periods.insert(i, (k, 1)),
        }
        if ts > horizon {
            let pos = self.recent.partition_point(|x| *x < (ts, seq));
            self.recent.insert(pos, (ts, seq));
        }
    }

    pub(crate) fn prune(&mut self, horizon: i64) {
        let n = self.recent.partition_point(|x| x.0 <= horizon);
        self.recent.drain(..n);
    }

    pub(crate) fn absorb(&mut self, other: RuleScore) {
        for (k, n) in other.periods {
            match self.periods.binary_search_by_key(&k, |p| p.0) {
                Ok(i) => self.periods[i].1 += n,
                Err(i) => self.periods.insert(i, (k, n)),
            }
        }
        self.recent.extend(other.recent);
        self.recent.sort_unstable();
    }

    /// Points credited over all time.
    pub(crate) fn total(&self, rule: &ScoreRule) -> i64 {
        self.periods
            .iter()
            .map(|(_, n)| match rule.cap {
                None => rule.points.saturating_mul(*n as i64),
                Some((max, _)) => max.min(rule.points.saturating_mul(*n as i64)),
            })
            .sum()
    }

    /// Points credited to events with time in `(from, to]`; `from` must be at or after the
    /// horizon the state was pruned to.
    pub(crate) fn gain(&self, rule: &ScoreRule, from: i64, to: i64) -> i64 {
        let mut sum = 0;
        let mut i = 0;
        while i < self.recent.len() {
            let k = period(rule, self.recent[i].0);
            let j = i + self.recent[i..].partition_point(|x| period(rule, x.0) == k);
            let total = self
                .periods
                .binary_search_by_key(&k, |p| p.0)
                .map_or(0, |p| self.periods[p].1);
            let earlier = total - (j - i) as u64;
            for (n, e) in self.recent[i..j].iter().enumerate() {
                if e.0 > from && e.0 <= to {
                    sum += credit(rule, earlier + n as u64);
                }
            }
            i = j;
        }
        sum
    }

    /// Times of the kept events, ascending.
    pub(crate) fn recent_times(&self) -> impl Iterator<Item = i64> + '_ {
        self.recent.iter().map(|x| x.0)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        (self.periods.capacity() + self.recent.capacity()) * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Kind;
    use crate::rules::Filter;

    fn rule(points: i64, cap: Option<(i64, i64)>) -> ScoreRule {
        ScoreRule {
            filter: Filter {
                kind: Kind::PageView,
                cond: None,
            },
            points,
            cap,
        }
    }

    #[test]
    fn cap_credits_in_time_order_whatever_the_arrival() {
        let r = rule(4, Some((10, 100)));
        let mut s = RuleScore::default();
        // Arrival order 50, 10, 30: time order 10, 30, 50 gets 4, 4, 2.
        for (ts, seq) in [(50, 1), (10, 2), (30, 3)] {
            s.add(&r, ts, seq, -1);
        }
        assert_eq!(s.total(&r), 10);
        assert_eq!(s.gain(&r, 40, 100), 2, "the event at 50 got the rest");
        assert_eq!(s.gain(&r, 0, 100), 10);
        s.add(&r, 150, 4, -1);
        assert_eq!(s.total(&r), 14, "a new period");
        // Pruned events still count for the position of later ones.
        s.prune(40);
        assert_eq!(s.gain(&r, 40, 200), 6);
    }

    #[test]
    fn merge_equals_one_stream() {
        let r = rule(3, Some((7, 10)));
        let mut a = RuleScore::default();
        let mut b = RuleScore::default();
        let mut one = RuleScore::default();
        for (i, ts) in [1, 2, 3, 4, 11, 12].into_iter().enumerate() {
            let target = if i % 2 == 0 { &mut a } else { &mut b };
            target.add(&r, ts, i as u64, -1);
            one.add(&r, ts, i as u64, -1);
        }
        a.absorb(b);
        assert_eq!(a, one);
        assert_eq!(a.total(&r), 7 + 6);
    }
}
