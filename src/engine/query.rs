//! Queries over memberships: sizes, members, set algebra over segments and tags, and
//! `explain`. Memberships are roaring bitmaps per shard; a query unions the shards' bitmaps.
//!
//! ```
//! use tropa::{decode_line, Engine};
//! let plan = tropa::rules::compile(r#"
//! segment buyers   = purchases() >= 1
//! segment big      = revenue() >= 100
//! tag vip when revenue() >= 500
//! "#).unwrap();
//! let engine = Engine::builder().rules(plan).build().unwrap();
//! for (who, amount) in [("a", 50), ("b", 150), ("c", 900)] {
//!     let line = format!(r#"{{"ts":1000,"ids":{{"cookie":"{who}"}},"type":"purchase","order":"o-{who}","amount":{amount}}}"#);
//!     engine.ingest(decode_line(&line).unwrap()).unwrap();
//! }
//! engine.flush();
//! assert_eq!(engine.segment_size("buyers"), Some(3));
//! assert_eq!(engine.audience("buyers and not big").unwrap().count(), 1);
//! assert_eq!(engine.audience("big and tag(\"vip\")").unwrap().count(), 1);
//! let a = engine.contact_of(&tropa::Identifier::parse_pair("cookie:a").unwrap()).unwrap();
//! let why = engine.explain(a, "big").unwrap();
//! assert!(!why.value);
//! assert_eq!(why.comparisons[0].0, "revenue() >= 100  (50 >= 100)");
//! ```

use super::Engine;
use crate::identity::ContactId;
use crate::rules::ast::{BinOp, Expr, ExprKind};
use crate::rules::{PredicateKind, RuleErrors};
use roaring::RoaringBitmap;
use std::collections::BTreeMap;
use std::fmt;

/// Contacts, in ascending id order, produced lazily from a bitmap.
pub struct Members {
    inner: roaring::bitmap::IntoIter,
    len: u64,
}

impl Members {
    fn new(b: RoaringBitmap) -> Members {
        Members {
            len: b.len(),
            inner: b.into_iter(),
        }
    }

    /// How many contacts in all.
    pub fn total(&self) -> u64 {
        self.len
    }
}

impl Iterator for Members {
    type Item = ContactId;

    fn next(&mut self) -> Option<ContactId> {
        self.inner.next().map(ContactId)
    }
}

impl fmt::Debug for Members {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Members({})", self.len)
    }
}

/// Why an audience expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudienceError {
    /// The text does not parse.
    Syntax(RuleErrors),
    /// A name is not a segment of the loaded rules.
    UnknownSegment(String),
    /// Only segments, `segment("…")`, `tag("…")`, `and`, `or`, `not` and parentheses.
    Unsupported(String),
}

impl fmt::Display for AudienceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AudienceError::Syntax(e) => write!(f, "{e}"),
            AudienceError::UnknownSegment(s) => write!(f, "no segment named {s:?}"),
            AudienceError::Unsupported(what) => write!(
                f,
                "audiences combine segments and tag(\"…\") with and, or, not: {what} is not allowed"
            ),
        }
    }
}

impl std::error::Error for AudienceError {}

/// Why a contact is or is not in a segment, term by term.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The segment.
    pub segment: String,
    /// Membership as the engine holds it.
    pub member: bool,
    /// The predicate evaluated now (equal to `member` once time has been fired up to now).
    pub value: bool,
    /// Each term the predicate reads, with its value.
    pub terms: Vec<(String, String)>,
    /// Each comparison, with the values compared and its outcome.
    pub comparisons: Vec<(String, bool)>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "segment {}: {}",
            self.segment,
            if self.value { "in" } else { "out" }
        )?;
        for (t, v) in &self.terms {
            writeln!(f, "  {t} = {v}")?;
        }
        for (c, ok) in &self.comparisons {
            writeln!(f, "  {c} -> {ok}")?;
        }
        Ok(())
    }
}

/// The rules in force while a query runs: held for its whole length, so that
/// [`Engine::load_rules`] cannot renumber the predicates under it.
type Rules<'a> = parking_lot::RwLockReadGuard<'a, Option<std::sync::Arc<crate::eval::Evaluator>>>;

fn predicate(rules: &Rules<'_>, kind: PredicateKind, name: &str) -> Option<usize> {
    rules.as_ref()?.plan.predicate_index(kind, name)
}

impl Engine {
    fn union(
        &self,
        f: impl Fn(&mut super::shard::ShardState) -> Option<&RoaringBitmap>,
    ) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        for s in self.shards.iter() {
            let mut st = s.state.lock();
            if let Some(b) = f(&mut st) {
                out |= b;
            }
        }
        out
    }

    /// Names of the loaded segments, in dependency order.
    pub fn segment_names(&self) -> Vec<String> {
        self.rules.read().as_ref().map_or(Vec::new(), |e| {
            e.plan.segments().map(|p| p.name.clone()).collect()
        })
    }

    /// How many contacts are in a segment; `None` for an unknown segment.
    pub fn segment_size(&self, segment: &str) -> Option<u64> {
        let rules = self.rules.read();
        let i = predicate(&rules, PredicateKind::Segment, segment)?;
        Some(
            self.shards
                .iter()
                .map(|s| {
                    s.state
                        .lock()
                        .members
                        .bitmap(i)
                        .map_or(0, RoaringBitmap::len)
                })
                .sum(),
        )
    }

    /// A segment's members in ascending id order; `None` for an unknown segment.
    pub fn members(&self, segment: &str) -> Option<Members> {
        let rules = self.rules.read();
        let i = predicate(&rules, PredicateKind::Segment, segment)?;
        Some(Members::new(self.union(|st| st.members.bitmap(i))))
    }

    /// The contacts holding a tag: a rule tag, or a manual tag whose latest event added it.
    pub fn tagged(&self, tag: &str) -> Members {
        Members::new(self.tag_bitmap(&self.rules.read(), tag))
    }

    fn tag_bitmap(&self, rules: &Rules<'_>, tag: &str) -> RoaringBitmap {
        let mut b = match predicate(rules, PredicateKind::Tag, tag) {
            Some(i) => self.union(|st| st.members.bitmap(i)),
            None => RoaringBitmap::new(),
        };
        if let Some(sym) = self.syms.get(tag) {
            b |= self.union(|st| st.manual_tags.get(&sym));
        }
        b
    }

    /// Evaluates set algebra over segments and tags, such as
    /// `vip and not dormant and tag("bargain_hunter")`, with bitmap operations.
    pub fn audience(&self, expr: &str) -> Result<Members, AudienceError> {
        let e = crate::rules::parse_expression(expr).map_err(AudienceError::Syntax)?;
        Ok(Members::new(self.audience_of(&self.rules.read(), &e)?))
    }

    fn segment_bitmap(
        &self,
        rules: &Rules<'_>,
        name: &str,
    ) -> Result<RoaringBitmap, AudienceError> {
        let i = predicate(rules, PredicateKind::Segment, name)
            .ok_or_else(|| AudienceError::UnknownSegment(name.to_owned()))?;
        Ok(self.union(|st| st.members.bitmap(i)))
    }

    fn audience_of(&self, rules: &Rules<'_>, e: &Expr) -> Result<RoaringBitmap, AudienceError> {
        match &e.kind {
            ExprKind::Name(n) => self.segment_bitmap(rules, n),
            ExprKind::Call { name, args, .. } if name == "segment" || name == "tag" => {
                let [Expr {
                    kind: ExprKind::Str(s),
                    ..
                }] = args.as_slice()
                else {
                    return Err(AudienceError::Unsupported(format!(
                        "{name}(…) without one string"
                    )));
                };
                if name == "tag" {
                    return Ok(self.tag_bitmap(rules, s));
                }
                self.segment_bitmap(rules, s)
            }
            ExprKind::Binary(BinOp::And, a, b) => {
                Ok(self.audience_of(rules, a)? & self.audience_of(rules, b)?)
            }
            ExprKind::Binary(BinOp::Or, a, b) => {
                Ok(self.audience_of(rules, a)? | self.audience_of(rules, b)?)
            }
            ExprKind::Not(a) => Ok(self.union(|st| Some(&st.live)) - self.audience_of(rules, a)?),
            other => Err(AudienceError::Unsupported(
                format!("{other:?}").chars().take(40).collect(),
            )),
        }
    }

    /// Every segment with its members' primary ids, sorted (the `--memberships` output).
    pub fn memberships(&self) -> BTreeMap<String, Vec<String>> {
        let rules = self.rules.read();
        let Some(ev) = rules.as_ref() else {
            return BTreeMap::new();
        };
        ev.plan
            .predicates
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind == PredicateKind::Segment)
            .map(|(i, p)| {
                let mut ids: Vec<String> = self
                    .union(|st| st.members.bitmap(i))
                    .into_iter()
                    .filter_map(|c| self.identity.primary(ContactId(c)))
                    .collect();
                ids.sort();
                (p.name.clone(), ids)
            })
            .collect()
    }

    /// Why contact `c` is or is not in `segment` at engine time: every term's value and every
    /// comparison's outcome. `None` for an unknown contact or segment.
    pub fn explain(&self, c: ContactId, segment: &str) -> Option<Explanation> {
        let rules = self.rules.read();
        let i = predicate(&rules, PredicateKind::Segment, segment)?;
        let now = self.now().unwrap_or(0);
        let st = self.shards[self.shard_of(c)].state.lock();
        let ev = st.eval.as_ref()?;
        let contact = st.get(c, self.shards.len())?;
        let (value, terms, comparisons) = ev.explain(i, &contact.eval, &contact.state, now);
        Some(Explanation {
            segment: segment.to_owned(),
            member: contact.eval.held.get(i),
            value,
            terms,
            comparisons,
        })
    }
}
