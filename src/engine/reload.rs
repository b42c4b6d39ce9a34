//! Loading, replacing and removing rules while the engine runs.
//!
//! [`Engine::load_rules`] switches every contact to a new plan at one engine instant `now`:
//!
//! 1. Everything handed in before the call is applied and every timer due by `now` fires under
//!    the old rules (as [`Engine::flush`] does), then every shard is held.
//! 2. For each contact, the old evaluation state becomes the new one (see the crate docs,
//!    "Changing rules"): a term, score rule, segment or tag that the new rules share with the
//!    old keeps its state; the rest is rebuilt from the contact's timeline (backfill).
//! 3. Members of segments that are gone leave them with reason `rule_removed`; every contact
//!    is then evaluated in full under the new rules, so segments that are new or changed are
//!    entered or left at `now`, and new tag rules tag at `now`. Removed rules' term states and
//!    bitmaps are freed.
//!
//! Ingest may go on from other threads meanwhile: their operations wait in the shard queues
//! while the shards are held and are applied under the new rules afterwards. For a switch at an
//! exact point of the stream, call it when no other thread is ingesting.

use super::shard::ApplyCx;
use super::Engine;
use crate::codec::wire::Entry;
use crate::eval::Evaluator;
use crate::rules::{Plan, PredicateKind};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What [`Engine::load_rules`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulesLoaded {
    /// Segments and tags (`tag:` prefixed) present before and after, by name.
    pub kept: Vec<String>,
    /// Segments and tags new in this plan.
    pub added: Vec<String>,
    /// Segments and tags no longer present.
    pub removed: Vec<String>,
    /// Aggregate terms and score rules rebuilt from the timeline.
    pub rebuilt: usize,
    /// Contacts converted.
    pub contacts: usize,
}

fn label(kind: PredicateKind, name: &str) -> String {
    match kind {
        PredicateKind::Segment => name.to_owned(),
        PredicateKind::Tag => format!("tag:{name}"),
    }
}

impl Engine {
    /// Replaces the rules in force with `plan` at the current engine time, while the engine
    /// runs (see the module docs of `engine::reload` for the steps). A rule present in both
    /// keeps its state; a new one is backfilled from the events each contact's timeline still
    /// holds ([`crate::EngineBuilder::timeline_len`]); a removed segment's members leave it
    /// with [`crate::ExitReason::RuleRemoved`]. Loading an empty plan removes every rule.
    ///
    /// ```
    /// use tropa::{decode_line, rules, Engine};
    /// let engine = Engine::builder().build().unwrap();
    /// for ts in 1..=3 {
    ///     let line = format!(r#"{{"ts":{ts},"ids":{{"cookie":"c"}},"type":"page_view"}}"#);
    ///     engine.ingest(decode_line(&line).unwrap()).unwrap();
    /// }
    /// let loaded = engine.load_rules(rules::compile("segment browsers = count(page_view) >= 3").unwrap());
    /// assert_eq!(loaded.added, ["browsers"]);
    /// assert_eq!(engine.segment_size("browsers"), Some(1)); // backfilled from the timeline
    /// engine.load_rules(rules::compile("").unwrap());
    /// assert_eq!(engine.segment_size("browsers"), None);
    /// ```
    pub fn load_rules(&self, plan: Plan) -> RulesLoaded {
        // With a data directory the switch is logged, and no event is admitted until it is
        // done, so that replay switches at the same point of the stream.
        let _gate = self.log.as_ref().map(|_| self.gate.read());
        let mut order = self.log.as_ref().map(|l| l.order());
        let mut lsn = 0;
        if let Some(o) = order.as_mut() {
            if o.stopped().is_some() {
                return RulesLoaded::default(); // the log stopped: nothing changes
            }
            match o.append_entry(Entry::Rules(plan.text())) {
                Ok(n) => lsn = n,
                Err(e) => {
                    // Rules that cannot be logged cannot be replayed: they are not put in
                    // force, and the log stops (`sync` reports why).
                    o.stop(e);
                    return RulesLoaded::default();
                }
            }
        }
        let mut rules = self.rules.write();
        self.flush();
        let new = Evaluator::new(plan, &self.syms, self.cfg.state.stage);
        let carry = new.carry_from(rules.as_deref());
        let mut report = RulesLoaded {
            rebuilt: carry.rebuilt(),
            ..RulesLoaded::default()
        };
        for (p, kept) in new.plan.predicates.iter().zip(carry.kept()) {
            let list = if kept {
                &mut report.kept
            } else {
                &mut report.added
            };
            list.push(label(p.kind, &p.name));
        }
        if let Some(old) = rules.as_ref() {
            for &i in &carry.removed {
                let o = &old.plan.predicates[i];
                report.removed.push(label(o.kind, &o.name));
            }
        }
        report.kept.sort();
        report.added.sort();
        report.removed.sort();
        let mut held: Vec<_> = self.shards.iter().map(|s| s.state.lock()).collect();
        let now = self.now();
        let base = self.cx();
        for (i, st) in held.iter_mut().enumerate() {
            let shard = &self.shards[i];
            // Operations handed in since the flush are applied under the new rules; what was
            // already due fires under the old ones.
            if let Some(now) = now {
                let old = st.eval.clone();
                st.fire(
                    now,
                    true,
                    &ApplyCx {
                        eval: old.as_deref(),
                        ..base
                    },
                );
                shard.due.fetch_max(now, Ordering::AcqRel);
                shard.fired.fetch_max(now, Ordering::AcqRel);
            }
            let mine = Arc::new(new.clone());
            report.contacts += st.reload(
                i,
                Arc::clone(&mine),
                &carry,
                now,
                &ApplyCx {
                    eval: Some(&mine),
                    ..base
                },
            );
        }
        *rules = Some(Arc::new(new));
        self.has_rules.store(true, Ordering::Release);
        drop(held);
        drop(rules);
        drop(order);
        // A failure stops the log; the next ingest or `sync` reports it.
        let _ = self.settle(lsn);
        // Operations that arrived while the shards were held.
        for i in 0..self.shards.len() {
            self.pump(i);
        }
        report
    }
}
