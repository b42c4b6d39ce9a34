//! Incremental evaluation of a compiled [`Plan`] for one contact at a time.
//!
//! * **Events** update only the terms their kind feeds ([`Evaluator::on_event`]) and re-check
//!   only the predicates whose `feeds` contain that kind, in dependency order, so a
//!   `segment("x")` reference always sees `x` as of the same instant.
//! * **Time** is an input. After each evaluation at time `τ` the evaluator computes the next
//!   instant at which a time-sensitive predicate could change without a new event: a windowed
//!   count crossing a threshold a predicate compares it with (`count(x, 7d) >= 3` of a contact
//!   with five in the week: when the third latest leaves it; none below three; see
//!   [`instants`]), the oldest event of any other window leaving it (`ts + w`), a `since`
//!   threshold being crossed (`last + d`, and `last + d + 1 ms` for strict comparisons), a
//!   brand going quiet, the lifecycle stage turning (`last purchase + dormancy`,
//!   `+ post-purchase window`). Each term slot caches its own next instant, so an evaluation
//!   computes again only those of the slots it fed or found due. The shard keeps a timer per
//!   contact at the earliest and evaluates the contact again exactly then, so a transition
//!   caused by time carries the exact instant it happened. Those candidates are conservative:
//!   a timer may find nothing changed; it never misses a change.
//! * **Tags** from rules are sticky: held from the first evaluation whose condition is true.
//! * **Re-checks** go through each predicate's condition compiled (`compiled`): counts,
//!   sums and `since` compared with constants, and segments, tags and consents read as
//!   conditions, answer without the interpreter's values; the rest is interpreted.

mod bits;
mod compiled;
mod instants;
mod score;
mod terms;
pub(crate) mod value;

use crate::event::{Fact, Kind, Payload, Touch};
use crate::intern::{Interner, Sym};
use crate::rules::{Field, Filter, PExpr, Plan, PredicateKind, StateNeed, TermKind};
use crate::state::{ContactState, StageWindows};
pub(crate) use bits::Bits;
use compiled::{Reads, Terms, Test};
use score::RuleScore;
use terms::{Slots, TermState, NEVER};
use thin_vec::ThinVec;
use value::{arith, compare, Val};

/// What one evaluation changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Predicate `i` (a segment) was entered (`true`) or left.
    Segment(usize, bool),
    /// Predicate `i` (a rule tag) is now held.
    Tagged(usize),
}

#[derive(Debug, Clone)]
struct TermInfo {
    window: Option<i64>,
    k: usize,
    filter: Option<Filter>,
    sum_field: Option<Field>,
    /// Interned name for consent / attr / tag terms.
    sym: Option<Sym>,
    /// Predicate index for `segment("s")` and rule `tag("t")` terms.
    pred: Option<usize>,
    /// The slot whose state this term reads ([`SlotPlan`]); `None` for terms read off the
    /// profile.
    slot: Option<usize>,
    /// The term's own place in the stored form of a contact's term states, one per term
    /// with a state (see [`Evaluator::stored`]).
    stored: Option<usize>,
}

/// A plan made ready to run against one engine's interned names.
#[derive(Debug, Clone)]
pub(crate) struct Evaluator {
    pub(crate) plan: Plan,
    info: Vec<TermInfo>,
    /// Stateful terms fed by each kind.
    by_kind: Vec<Vec<usize>>,
    /// Score rules fed by each kind.
    scores_by_kind: Vec<Vec<usize>>,
    /// The longest `score_gain` window (0 without one).
    gain_horizon: i64,
    stage: StageWindows,
    any_time: bool,
    /// Per term: the predicates reading it directly.
    readers: Vec<Vec<usize>>,
    /// Per predicate: the later predicates reading it through `segment(…)` or `tag(…)`.
    dependents: Vec<Vec<usize>>,
    /// Per event kind: the predicates it feeds.
    preds_by_kind: Vec<Vec<usize>>,
    /// Time-sensitive terms read off the profile or the score rules (no slot).
    profile_time_terms: Vec<usize>,
    /// Per slot: the terms it keeps, its state and how time changes it.
    slots: Vec<SlotPlan>,
    /// Per stored place (see [`TermInfo::stored`]): its term.
    stored_terms: Vec<usize>,
    /// Slots fed by each kind.
    slots_by_kind: Vec<Vec<usize>>,
    /// The terms sharing a slot ([`Timed::Shared`]).
    members: Vec<Member>,
    /// `since` thresholds of the slots, flattened.
    thresholds: Vec<i64>,
    /// Count boundaries of the slots, flattened.
    bounds: Vec<u64>,
    /// Per predicate: its condition compiled for re-checking.
    tests: Vec<Test>,
    /// Per predicate: when an event cannot change it (see [`Steady`]).
    steady: Vec<Steady>,
    /// `steady` and `dependents` as words, when the plan's predicates fit one word.
    one_word: Option<OneWord>,
    /// Room for term slots in a contact's first allocation of them.
    first_room: usize,
}

/// When the evaluation of an event need not re-check a predicate, because no event can
/// change it from where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Steady {
    /// An event may change it.
    No,
    /// A rule tag: once set it stays set, whatever comes.
    Tag,
    /// A segment `count >= n` (`true`) or `count < n` (`false`), the count read from a slot.
    /// Events only add to counts, so a segment that holds `count >= n` (or does not hold
    /// `count < n`) stays so at an event, provided no instant of the contact is due by then
    /// (a count that fell since the last evaluation would make the held bit stale).
    Count(bool),
}

impl Steady {
    /// Whether an event must re-check the predicate, held (`held`) or not, when no instant
    /// of the contact is due by it (`settled`) or some is.
    fn keep(self, held: bool, settled: bool) -> bool {
        match self {
            Steady::No => true,
            Steady::Tag => !held,
            Steady::Count(want) => !settled || held != want,
        }
    }
}

/// What the evaluation reads per predicate, as words of predicates, for plans whose
/// predicates fit one word: which an event re-checks, and whom a re-check brings along.
#[derive(Debug, Clone)]
struct OneWord {
    /// Per event kind (see [`SteadyWords`]).
    steady: Vec<SteadyWords>,
    /// Per predicate: its later dependents (earlier ones are never visited).
    dependents: Vec<u64>,
}

impl OneWord {
    fn of(steady: &[Steady], preds_by_kind: &[Vec<usize>], deps: &[Vec<usize>]) -> Option<Self> {
        if steady.len() > 64 {
            return None;
        }
        let later = |i: usize, d: &usize| (*d > i).then(|| 1u64 << d);
        Some(OneWord {
            steady: preds_by_kind
                .iter()
                .map(|p| SteadyWords::of(steady, p))
                .collect(),
            dependents: (deps.iter().enumerate())
                .map(|(i, ds)| ds.iter().filter_map(|d| later(i, d)).fold(0, |a, b| a | b))
                .collect(),
        })
    }
}

/// The predicates an event of one kind feeds, by how an event may change them (see
/// [`Steady`]), one bit per predicate: which to re-check at an event is then a few word
/// operations on the held bits instead of a pass over the predicates (with fifty segments
/// that pass was about 1.5 % of the instructions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SteadyWords {
    /// [`Steady::No`]: always re-checked.
    always: u64,
    /// [`Steady::Tag`]: re-checked while not held.
    tags: u64,
    /// [`Steady::Count`]`(true)`: re-checked while not held, or when an instant is due.
    at_least: u64,
    /// [`Steady::Count`]`(false)`: re-checked while held, or when an instant is due.
    below: u64,
}

impl SteadyWords {
    /// For the predicates `preds` (all below 64) of one kind, classed by `steady`.
    fn of(steady: &[Steady], preds: &[usize]) -> SteadyWords {
        let mut w = SteadyWords::default();
        for &i in preds {
            let word = match steady[i] {
                Steady::No => &mut w.always,
                Steady::Tag => &mut w.tags,
                Steady::Count(true) => &mut w.at_least,
                Steady::Count(false) => &mut w.below,
            };
            *word |= 1 << i;
        }
        w
    }

    /// The predicates to re-check, given the held bits and whether no instant is due.
    #[inline]
    fn todo(&self, held: u64, settled: bool) -> u64 {
        let counts = if settled {
            (self.at_least & !held) | (self.below & held)
        } else {
            self.at_least | self.below
        };
        self.always | (self.tags & !held) | counts
    }
}

/// One slot of a contact's term states: the state of one term, or the state several
/// windowed counts of one filter share.
///
/// `count(page_view, 1d) >= 1`, `count(page_view, 7d) >= 3` and `count(page_view, 30d) >= 3`
/// each need only the latest few times of the contact's page views (see
/// [`crate::rules::StateNeed::LatestK`]); one list of the latest `max k` of them, kept for the
/// longest window, answers all three exactly: the latest `k` times inside a window of length
/// `w` are among the latest `max k` inside the longest. So the counts of one filter compared
/// only with numbers share a slot: an event feeds one state instead of one per count, and a
/// contact keeps one list. Each term still reads only its own window and clamps its count
/// at its own `k`, so every value, comparison and explanation is what its own list gave.
#[derive(Debug, Clone)]
struct SlotPlan {
    /// The terms kept here (ascending).
    terms: Vec<usize>,
    /// The state kept: the terms' own need, or the latest `k` times for shared counts.
    need: StateNeed,
    /// How many latest times a latest-k state keeps (0 for other states).
    k: usize,
    /// The longest window of the terms, after which kept events are dropped.
    window: Option<i64>,
    timed: Timed,
}

/// A windowed count in a shared slot: its window, its count boundaries (a range of
/// `Evaluator::bounds`), and the term.
#[derive(Debug, Clone, Copy)]
struct Member {
    window: i64,
    bounds: (u32, u32),
    term: usize,
}

/// How time changes one slot's term.
#[derive(Debug, Clone, Copy)]
enum Timed {
    /// It does not.
    No,
    /// Its kept events leave a window of this length, and every change matters.
    Window(i64),
    /// A count over a window of this length that predicates only compare with numbers:
    /// only its crossings of the boundaries `bounds[from..to]` matter.
    Counted(i64, u32, u32),
    /// `since` compared with the thresholds `thresholds[from..to]`.
    Since(u32, u32),
    /// Counts sharing a slot, each as `Counted` with the window and boundaries of
    /// `members[from..to]`.
    Shared(u32, u32),
}

/// One contact's evaluation state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EvalState {
    /// States of the aggregate terms that hold something (profile-derived terms keep nothing
    /// here).
    terms: Slots,
    /// One per score rule. A thin vector (its length on the heap, with the rules' scores)
    /// takes 8 bytes of the slot; a boxed slice took 16. With no score rules it holds no
    /// allocation.
    scores: ThinVec<RuleScore>,
    /// Per predicate: in the segment, or holding the tag.
    pub(crate) held: Bits,
    /// The next instant a timer should bring this contact back; [`NEVER`] for none (an
    /// `Option<i64>` took 16 bytes of every contact's slot, this 8: no instant is `NEVER`).
    timer: i64,
    /// The time of the last evaluation, after which the slots' next instants were computed.
    /// Operations accepted on different threads can reach a contact out of order, so an
    /// evaluation can be earlier than the one before; it then computes every instant again.
    /// Not persisted (a load computes the instants again).
    at: i64,
}

impl Default for EvalState {
    fn default() -> EvalState {
        EvalState {
            terms: Slots::default(),
            scores: ThinVec::new(),
            held: Bits::default(),
            timer: NEVER,
            at: 0,
        }
    }
}

impl EvalState {
    /// The next instant a timer should bring this contact back, if any.
    pub(crate) fn timer(&self) -> Option<i64> {
        (self.timer != NEVER).then_some(self.timer)
    }

    /// Asks for the term slots to be loaded (see `Slots::prefetch`).
    pub(crate) fn prefetch_slots(&self) {
        self.terms.prefetch();
    }

    /// This state as a snapshot stores it, under the rules `ev` it was evaluated by: its
    /// term states in their stored form ([`Evaluator::stored`]), in the bytes this type
    /// decodes from.
    pub(crate) fn stored(&self, ev: Option<&Evaluator>) -> StoredEval<'_> {
        let terms = match ev {
            Some(ev) => ev.stored(self),
            None => self
                .terms
                .iter()
                .map(|(i, s)| (i as u32, s.clone()))
                .collect(),
        };
        StoredEval { st: self, terms }
    }
}

/// An evaluation state to store (see [`EvalState::stored`]).
pub(crate) struct StoredEval<'a> {
    st: &'a EvalState,
    terms: Vec<(u32, TermState)>,
}

impl bincode::Encode for StoredEval<'_> {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        (
            &self.terms,
            &self.st.scores[..],
            &self.st.held,
            &self.st.timer(),
        )
            .encode(e)
    }
}

/// Stored without `at`, as before it existed: the bytes of a snapshot are unchanged.
impl bincode::Encode for EvalState {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        (&self.terms, &self.scores[..], &self.held, &self.timer()).encode(e)
    }
}

impl<C> bincode::Decode<C> for EvalState {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let (terms, scores, held, timer): (_, Vec<RuleScore>, _, Option<i64>) =
            bincode::Decode::decode(d)?;
        Ok(EvalState {
            terms,
            scores: scores.into(),
            held,
            timer: timer.unwrap_or(NEVER),
            at: 0,
        })
    }
}
bincode::impl_borrow_decode!(EvalState);

/// How one contact's evaluation state moves from old rules to new ones. A term keeps its
/// state when the old rules had the same term with the same state need; a score rule when the
/// old rules had the same rule and a `score_gain` horizon at least as long; a segment or tag
/// keeps its membership when the old rules had one of the same kind and name (and is then
/// re-evaluated like any other). Everything else starts from the timeline.
#[derive(Debug, Clone)]
pub(crate) struct Carry {
    /// Per new term with a state, by stored place: the old term (stored place) it continues.
    terms: Vec<Option<usize>>,
    /// Per new score rule: the old rule it continues.
    scores: Vec<Option<usize>>,
    /// Per new predicate: the old predicate it continues.
    preds: Vec<Option<usize>>,
    /// Old segments and tags that are gone (a segment's members leave with reason
    /// `rule_removed`).
    pub(crate) removed: Vec<usize>,
}

impl Carry {
    /// Whether some term or score rule is rebuilt from the timeline.
    pub(crate) fn backfills(&self) -> bool {
        self.terms.iter().chain(&self.scores).any(Option::is_none)
    }

    /// Per new predicate: whether it continues one of the old rules.
    pub(crate) fn kept(&self) -> impl Iterator<Item = bool> + '_ {
        self.preds.iter().map(Option::is_some)
    }

    /// Term slots and score rules rebuilt from the timeline.
    pub(crate) fn rebuilt(&self) -> usize {
        self.terms
            .iter()
            .chain(&self.scores)
            .filter(|x| x.is_none())
            .count()
    }
}

impl Evaluator {
    pub(crate) fn new(plan: Plan, syms: &Interner, stage: StageWindows) -> Evaluator {
        let mut thresholds = Vec::new();
        let mut count_uses = vec![instants::CountUse::default(); plan.terms.len()];
        for p in &plan.predicates {
            instants::since_thresholds(&p.expr, &mut thresholds);
            instants::count_uses(&p.expr, &mut count_uses);
        }
        let n_kinds = Kind::ALL.len();
        let mut by_kind = vec![Vec::new(); n_kinds];
        let mut info = Vec::with_capacity(plan.terms.len());
        let mut gain_horizon = 0;
        let mut stored = 0;
        for (i, t) in plan.terms.iter().enumerate() {
            let k = match t.need {
                StateNeed::LatestK(k) => k,
                _ => 0,
            };
            let mut ti = TermInfo {
                window: None,
                k,
                filter: None,
                sum_field: None,
                sym: None,
                pred: None,
                slot: None,
                stored: TermState::keeps_state(t.need).then(|| {
                    stored += 1;
                    stored - 1
                }),
            };
            let mut feeds: Vec<Kind> = Vec::new();
            match &t.kind {
                TermKind::Count { filter, window } => {
                    ti.window = *window;
                    ti.filter = Some(filter.clone());
                    feeds.push(filter.kind);
                }
                TermKind::Sum {
                    filter,
                    field,
                    window,
                } => {
                    ti.window = *window;
                    ti.filter = Some(filter.clone());
                    ti.sum_field = Some(field.clone());
                    feeds.push(filter.kind);
                }
                TermKind::Since { filter } => {
                    ti.filter = Some(filter.clone());
                    feeds.push(filter.kind);
                }
                TermKind::Purchases { window } => {
                    ti.window = *window;
                    feeds.push(Kind::Purchase);
                }
                TermKind::Revenue { window } => {
                    ti.window = *window;
                    feeds.extend([Kind::Purchase, Kind::Refund]);
                }
                TermKind::BrandsActive { window } | TermKind::ScoreGain { window } => {
                    ti.window = Some(*window);
                    if matches!(t.kind, TermKind::ScoreGain { .. }) {
                        gain_horizon = gain_horizon.max(*window);
                    }
                }
                TermKind::Consent(n) | TermKind::Attr(n) => ti.sym = Some(syms.intern(n)),
                TermKind::Tag(n) => {
                    ti.sym = Some(syms.intern(n));
                    ti.pred = plan.predicate_index(PredicateKind::Tag, n);
                }
                TermKind::Segment(n) => ti.pred = plan.predicate_index(PredicateKind::Segment, n),
                _ => {}
            }
            for k in feeds {
                by_kind[k as usize].push(i);
            }
            info.push(ti);
        }
        let mut scores_by_kind = vec![Vec::new(); n_kinds];
        for (i, s) in plan.scores.iter().enumerate() {
            scores_by_kind[s.filter.kind as usize].push(i);
        }
        let any_time = plan.predicates.iter().any(|p| p.time_sensitive);
        let mut readers = vec![Vec::new(); plan.terms.len()];
        let mut dependents = vec![Vec::new(); plan.predicates.len()];
        for (i, p) in plan.predicates.iter().enumerate() {
            for t in &p.reads {
                readers[t.0 as usize].push(i);
                if let Some(q) = info[t.0 as usize].pred {
                    dependents[q].push(i);
                }
            }
        }
        let preds_by_kind: Vec<Vec<usize>> = Kind::ALL
            .iter()
            .map(|k| {
                (0..plan.predicates.len())
                    .filter(|i| plan.predicates[*i].feeds.contains(*k))
                    .collect()
            })
            .collect();
        let profile_time_terms = (0..info.len())
            .filter(|t| plan.terms[*t].time_sensitive && info[*t].stored.is_none())
            .filter(|t| info[*t].pred.is_none())
            .collect();
        let mut flat = Vec::new();
        let mut bounds = Vec::new();
        let stored_terms: Vec<usize> = (0..info.len())
            .filter(|t| info[*t].stored.is_some())
            .collect();
        let term_timed: Vec<Timed> = stored_terms
            .iter()
            .map(|&t| match (&plan.terms[t].kind, info[t].window) {
                _ if !plan.terms[t].time_sensitive => Timed::No,
                (TermKind::Since { .. }, _) => {
                    let from = flat.len() as u32;
                    let mine = thresholds.iter().filter(|(id, _)| id.0 as usize == t);
                    flat.extend(mine.map(|(_, d)| *d));
                    Timed::Since(from, flat.len() as u32)
                }
                (TermKind::Count { .. } | TermKind::Purchases { .. }, Some(w)) => {
                    match &count_uses[t] {
                        instants::CountUse::Boundaries(b) => {
                            let from = bounds.len() as u32;
                            bounds.extend_from_slice(b);
                            Timed::Counted(w, from, bounds.len() as u32)
                        }
                        _ => Timed::Window(w),
                    }
                }
                (_, Some(w)) => Timed::Window(w),
                _ => Timed::No,
            })
            .collect();
        let (slots, members) = Self::plan_slots(&plan, &mut info, &stored_terms, &term_timed);
        let mut slots_by_kind: Vec<Vec<usize>> = vec![Vec::new(); n_kinds];
        for (k, terms) in by_kind.iter().enumerate() {
            for s in terms.iter().filter_map(|t| info[*t].slot) {
                if !slots_by_kind[k].contains(&s) {
                    slots_by_kind[k].push(s);
                }
            }
        }
        let tests: Vec<Test> = plan
            .predicates
            .iter()
            .map(|p| Test::compile(&p.expr, &|t| Self::reads(&plan, &info, t)))
            .collect();
        let steady = plan
            .predicates
            .iter()
            .zip(&tests)
            .map(|(p, t)| match (p.kind, t) {
                (PredicateKind::Tag, _) => Steady::Tag,
                (PredicateKind::Segment, Test::CountAtLeast { want, .. }) => Steady::Count(*want),
                _ => Steady::No,
            })
            .collect::<Vec<_>>();
        let one_word = OneWord::of(&steady, &preds_by_kind, &dependents);
        Evaluator {
            first_room: terms::first_room(slots.len()),
            tests,
            steady,
            one_word,
            readers,
            dependents,
            preds_by_kind,
            slots,
            stored_terms,
            slots_by_kind,
            members,
            thresholds: flat,
            bounds,
            profile_time_terms,
            info,
            by_kind,
            scores_by_kind,
            gain_horizon,
            stage,
            any_time,
            plan,
        }
    }

    /// The slots of a plan (see [`SlotPlan`]): one per term with a state, except that the
    /// windowed counts of one filter that predicates only compare with numbers share one.
    /// Sets each term's slot; returns the slots and the shared counts' timing.
    fn plan_slots(
        plan: &Plan,
        info: &mut [TermInfo],
        stored_terms: &[usize],
        term_timed: &[Timed],
    ) -> (Vec<SlotPlan>, Vec<Member>) {
        let mut slots: Vec<SlotPlan> = Vec::new();
        // The filter of each slot open to more counts.
        let mut shared: Vec<(Filter, usize)> = Vec::new();
        for (&t, &timed) in stored_terms.iter().zip(term_timed) {
            let filter = match (&plan.terms[t].kind, timed) {
                (TermKind::Count { filter, .. }, Timed::Counted(..)) => Some(filter.clone()),
                (TermKind::Purchases { .. }, Timed::Counted(..)) => Some(Filter {
                    kind: Kind::Purchase,
                    cond: None,
                }),
                _ => None,
            };
            let k = info[t].k;
            let existing = filter
                .as_ref()
                .and_then(|f| shared.iter().find(|(g, _)| g == f).map(|(_, s)| *s));
            let s = match existing {
                Some(s) => {
                    let slot = &mut slots[s];
                    slot.terms.push(t);
                    slot.k = slot.k.max(k);
                    slot.need = StateNeed::LatestK(slot.k);
                    slot.window = slot.window.max(info[t].window);
                    s
                }
                None => {
                    if let Some(f) = filter {
                        shared.push((f, slots.len()));
                    }
                    slots.push(SlotPlan {
                        terms: vec![t],
                        need: plan.terms[t].need,
                        k,
                        window: info[t].window,
                        timed,
                    });
                    slots.len() - 1
                }
            };
            info[t].slot = Some(s);
        }
        let mut members = Vec::new();
        for slot in &mut slots {
            if slot.terms.len() > 1 {
                let from = members.len() as u32;
                for &t in &slot.terms {
                    let stored = info[t].stored.expect("a slot's terms are stored");
                    let Timed::Counted(w, bf, bt) = term_timed[stored] else {
                        unreachable!("only counted terms share a slot")
                    };
                    members.push(Member {
                        window: w,
                        bounds: (bf, bt),
                        term: t,
                    });
                }
                slot.timed = Timed::Shared(from, members.len() as u32);
            }
        }
        (slots, members)
    }

    /// Checks an evaluation state read back from a snapshot against this plan (its
    /// memberships name predicates of the plan, its term states slots of the plan, ascending,
    /// in the state each slot keeps, and it has one state per score rule), then computes the
    /// slots' next instants, which a snapshot does not hold. `clock` is the engine time of the
    /// snapshot. The state was last evaluated at or before it, and no slot had an instant
    /// before the contact's timer, so computing them after `timer - 1` (after `clock` without
    /// a timer) gives the instants the live engine held.
    pub(crate) fn restore_state(&self, st: &mut EvalState, clock: i64) -> Result<(), &'static str> {
        if st.held.ones().any(|p| p >= self.plan.predicates.len()) {
            return Err("a membership names a predicate the rules do not have");
        }
        if st.scores.len() != self.plan.scores.len() {
            return Err("score states do not match the score rules");
        }
        // Stored one per term (see `stored`); held by slot.
        let mut last = None;
        for (place, state) in st.terms.iter() {
            let Some(&t) = self.stored_terms.get(place) else {
                return Err("a term state names a slot the rules do not have");
            };
            if last.is_some_and(|l| l >= place) {
                return Err("term states out of slot order");
            }
            last = Some(place);
            if !state.is_kind(self.plan.terms[t].need) {
                return Err("a term state is not of the kind its term keeps");
            }
        }
        let stored = std::mem::take(&mut st.terms);
        st.terms = self.slots_from_stored(stored.into_states());
        let tau = st.timer().map_or(clock, |t| t.saturating_sub(1));
        st.at = tau;
        for e in st.terms.iter_mut() {
            e.next = self.slot_next(e.id() as usize, &e.state, tau);
        }
        Ok(())
    }

    /// A contact's term states as they are stored: one per term with a state, by the term's
    /// stored place, ascending (a shared slot gives each of its terms the latest `k` of its
    /// times, all that term ever reads). Snapshots hold this form, which does not depend on
    /// which terms share a slot; [`Evaluator::slots_from_stored`] reads it back.
    pub(crate) fn stored(&self, st: &EvalState) -> Vec<(u32, TermState)> {
        let mut out = Vec::new();
        for (slot, state) in st.terms.iter() {
            let plan = &self.slots[slot];
            for &t in &plan.terms {
                let place = self.info[t].stored.expect("a slot's terms are stored") as u32;
                if plan.terms.len() == 1 {
                    out.push((place, state.clone()));
                    continue;
                }
                let own = state.keep_latest(self.info[t].k);
                if !own.is_empty() {
                    out.push((place, own));
                }
            }
        }
        out.sort_unstable_by_key(|x| x.0);
        out
    }

    /// Term states by slot from their stored form (places checked by the caller). The terms
    /// sharing a slot each kept the latest times of the same events, so their lists are
    /// united (each time as often as the list holding it most often; see
    /// [`TermState::unite`]), which gives back every time any of them reads.
    fn slots_from_stored(&self, stored: impl Iterator<Item = (usize, TermState)>) -> Slots {
        let mut terms = Slots::default();
        for (place, state) in stored {
            let t = self.stored_terms[place];
            let slot = self.info[t].slot.expect("stored terms have a slot");
            let plan = &self.slots[slot];
            if plan.terms.len() == 1 {
                terms.set(slot, state);
            } else {
                terms.entry(slot, plan.need, 1).state.unite(&state, plan.k);
            }
        }
        terms.drop_empty();
        terms
    }

    pub(crate) fn new_state(&self) -> EvalState {
        EvalState {
            terms: Slots::default(),
            scores: std::iter::repeat_with(RuleScore::default)
                .take(self.plan.scores.len())
                .collect(),
            held: Bits::default(),
            timer: NEVER,
            at: i64::MIN,
        }
    }

    fn matches(filter: &Filter, ev: &Touch<'_>) -> bool {
        filter.kind == ev.kind()
            && filter
                .cond
                .as_ref()
                .is_none_or(|c| value::cond(c, ev).truthy())
    }

    /// Feeds one accepted event to the terms and score rules of its kind. `tau` is the time
    /// the contact is evaluated at next (engine time when the event was accepted).
    pub(crate) fn on_event(&self, st: &mut EvalState, ev: &Touch<'_>, seq: u64, tau: i64) {
        self.feed(st, ev, seq, tau, |_| true, |_| true);
    }

    /// [`Evaluator::on_event`] restricted to the term slots and score rules selected.
    fn feed(
        &self,
        st: &mut EvalState,
        ev: &Touch<'_>,
        seq: u64,
        tau: i64,
        slot_wanted: impl Fn(usize) -> bool,
        score_wanted: impl Fn(usize) -> bool,
    ) {
        let kind = ev.kind() as usize;
        for &slot in &self.slots_by_kind[kind] {
            if !slot_wanted(slot) {
                continue;
            }
            let plan = &self.slots[slot];
            // The terms of a slot read the same events: the first says which, and how much.
            let t = plan.terms[0];
            let info = &self.info[t];
            // `count`, `sum` and `since` read only the events their filter selects.
            if info.filter.as_ref().is_some_and(|f| !Self::matches(f, ev)) {
                continue;
            }
            let value = match &self.plan.terms[t].kind {
                TermKind::Count { .. } | TermKind::Since { .. } => 1,
                TermKind::Sum { .. } => {
                    match value::micros(ev, info.sum_field.as_ref().expect("sum field")) {
                        Some(v) => v,
                        None => continue,
                    }
                }
                TermKind::Purchases { .. } => 1,
                TermKind::Revenue { .. } => match &ev.payload {
                    Payload::Purchase { amount, .. } => i128::from(amount.0),
                    Payload::Refund { amount, .. } => -i128::from(amount.0),
                    _ => continue,
                },
                _ => continue,
            };
            let horizon = plan.window.map(|w| tau - w);
            if horizon.is_none_or(|h| ev.ts > h) {
                let e = st.terms.entry(slot, plan.need, self.first_room);
                e.state.add(ev.ts, value, plan.k, horizon);
                e.next = self.slot_next(slot, &e.state, tau);
            }
        }
        for &r in &self.scores_by_kind[kind] {
            let rule = &self.plan.scores[r];
            if score_wanted(r) && Self::matches(&rule.filter, ev) {
                st.scores[r].add(rule, ev.ts, seq, tau - self.gain_horizon);
            }
        }
    }

    /// How a contact's state moves to these rules from `old` (see [`Carry`]).
    pub(crate) fn carry_from(&self, old: Option<&Evaluator>) -> Carry {
        let old_slots: Vec<(usize, &crate::rules::Term)> = old
            .map(|o| {
                o.info
                    .iter()
                    .zip(&o.plan.terms)
                    .filter_map(|(i, t)| Some((i.stored?, t)))
                    .collect()
            })
            .unwrap_or_default();
        let terms = self
            .info
            .iter()
            .zip(&self.plan.terms)
            .filter(|(i, _)| i.stored.is_some())
            .map(|(_, t)| {
                old_slots
                    .iter()
                    .find(|(_, o)| o.kind == t.kind && o.need == t.need)
                    .map(|(s, _)| *s)
            })
            .collect();
        // A carried score rule keeps its recent events for the old `score_gain` horizon only:
        // a longer one needs them all rebuilt.
        let scores = self
            .plan
            .scores
            .iter()
            .map(|r| {
                let o = old.filter(|o| o.gain_horizon >= self.gain_horizon)?;
                o.plan.scores.iter().position(|x| x == r)
            })
            .collect();
        let preds: Vec<Option<usize>> = self
            .plan
            .predicates
            .iter()
            .map(|p| old?.plan.predicate_index(p.kind, &p.name))
            .collect();
        let old_count = old.map_or(0, |o| o.plan.predicates.len());
        let removed = (0..old_count)
            .filter(|i| !preds.contains(&Some(*i)))
            .collect();
        Carry {
            terms,
            scores,
            preds,
            removed,
        }
    }

    /// A contact's evaluation state under these rules, made from its state under the old
    /// ones: carried terms, score rules and memberships as they were; the rest rebuilt from
    /// the events its timeline still holds (backfill). `tau` is the engine time of the
    /// change. The caller evaluates the contact afterwards.
    pub(crate) fn convert(
        &self,
        carry: &Carry,
        old_rules: Option<&Evaluator>,
        old: &EvalState,
        state: &ContactState,
        syms: &Interner,
        tau: i64,
    ) -> EvalState {
        let mut st = self.new_state();
        // Term states travel in their stored form, one per term (whatever shares a slot on
        // either side), and are put back together by slot at the end.
        let old_terms = old_rules.map(|o| o.stored(old)).unwrap_or_default();
        let mut terms: Vec<(usize, TermState)> = Vec::new();
        for (place, from) in carry.terms.iter().enumerate() {
            let Some(from) = from else { continue };
            if let Ok(i) = old_terms.binary_search_by_key(&(*from as u32), |x| x.0) {
                let mut own = old_terms[i].1.clone();
                // A kept windowed count carries exactly what it reads: its latest k inside
                // its window, whatever its old slot also held (a new count sharing the slot
                // starts from it, and that must not depend on when the old one was pruned).
                let info = &self.info[self.stored_terms[place]];
                if let (k @ 1.., Some(w)) = (info.k, info.window) {
                    own.prune(tau - w);
                    own = own.keep_latest(k);
                }
                terms.push((place, own));
            }
        }
        for (r, from) in carry.scores.iter().enumerate() {
            if let Some(from) = from {
                st.scores[r] = old.scores[*from].clone();
            }
        }
        for (p, from) in carry.preds.iter().enumerate() {
            if let Some(from) = from {
                st.held.set(p, old.held.get(*from));
            }
        }
        if carry.backfills() {
            let rebuilt = |t: usize| {
                self.info[t]
                    .stored
                    .is_some_and(|p| carry.terms[p].is_none())
            };
            let kinds_wanted = |k: Kind| {
                self.by_kind[k as usize].iter().any(|t| rebuilt(*t))
                    || self.scores_by_kind[k as usize]
                        .iter()
                        .any(|r| carry.scores[*r].is_none())
            };
            let mut fresh = self.new_state();
            for e in state.timeline.entries().filter(|e| kinds_wanted(e.kind)) {
                self.feed(
                    &mut fresh,
                    &Fact::of(e.event(syms)).touch(),
                    e.at.seq,
                    tau,
                    |s| self.slots[s].terms.iter().any(|t| rebuilt(*t)),
                    |r| carry.scores[r].is_none(),
                );
            }
            for (place, own) in self.stored(&fresh) {
                if carry.terms[place as usize].is_none() {
                    terms.push((place as usize, own));
                }
            }
            for (r, from) in carry.scores.iter().enumerate() {
                if from.is_none() {
                    st.scores[r] = std::mem::take(&mut fresh.scores[r]);
                }
            }
        }
        terms.sort_unstable_by_key(|x| x.0);
        st.terms = self.slots_from_stored(terms.into_iter());
        st
    }

    /// Folds an absorbed contact's evaluation state in. Sticky tags unite; returns the tags
    /// this contact holds only thanks to the other.
    pub(crate) fn absorb(&self, st: &mut EvalState, other: EvalState) -> Vec<usize> {
        st.terms.absorb(other.terms, |slot| self.slots[slot].k);
        for (s, o) in st.scores.iter_mut().zip(other.scores) {
            s.absorb(o);
        }
        let mut gained = Vec::new();
        for (i, p) in self.plan.predicates.iter().enumerate() {
            if p.kind == PredicateKind::Tag && other.held.get(i) && !st.held.get(i) {
                st.held.set(i, true);
                gained.push(i);
            }
        }
        gained
    }

    /// Drops what has left the windows (for an explanation; an evaluation does it in its
    /// pass over the slots).
    fn prune(&self, st: &mut EvalState, tau: i64) {
        for e in st.terms.iter_mut() {
            if let Some(horizon) = self.prune_horizon(e.id() as usize, tau) {
                e.state.prune(horizon);
            }
        }
        st.terms.drop_empty();
        for s in &mut st.scores {
            s.prune(tau - self.gain_horizon);
        }
    }

    fn term_value<'a>(&self, t: usize, cx: &Cx<'a>, st: &EvalState) -> Val<'a> {
        let kind = &self.plan.terms[t].kind;
        match Reads::of(kind) {
            // `Reads::of` leaves counts as numbers: only the compiled tests read them apart.
            Reads::Number | Reads::Count(_) => Val::Num(self.number(t, cx, st)),
            Reads::Since => Val::Since(self.since(t, cx, st)),
            Reads::Flag => Val::Bool(self.flag(t, cx, st)),
            Reads::Other => match kind {
                TermKind::Attr(_) => match self.info[t].sym.and_then(|s| cx.state.attribute(s)) {
                    None => Val::Null,
                    Some(crate::event::Value::Bool(b)) => Val::Bool(*b),
                    Some(crate::event::Value::Num(n)) => Val::Num(*n),
                    Some(crate::event::Value::Str(s)) => Val::Str(s),
                },
                _ => Val::Str(
                    cx.state
                        .stage(cx.state.identified, cx.tau, self.stage)
                        .as_str(),
                ),
            },
        }
    }

    /// The state of term `t` (kept in a slot), empty when the contact has none.
    fn term_state<'s>(&self, t: usize, st: &'s EvalState) -> &'s TermState {
        const EMPTY: &TermState = &TermState::None { id: 0 };
        st.terms
            .get(self.info[t].slot.expect("aggregate terms have state"))
            .unwrap_or(EMPTY)
    }

    /// How term `t` reads, for the compiled tests: a count kept in a slot is read straight
    /// from it ([`compiled::CountRead`]).
    fn reads(plan: &Plan, info: &[TermInfo], t: usize) -> Reads {
        let i = &info[t];
        match (&plan.terms[t].kind, i.slot) {
            (TermKind::Count { .. } | TermKind::Purchases { window: Some(_) }, Some(slot)) => {
                match (u32::try_from(slot), u32::try_from(i.k)) {
                    (Ok(slot), Ok(k)) => Reads::Count(compiled::CountRead {
                        slot,
                        window: i.window,
                        k,
                    }),
                    _ => Reads::Number,
                }
            }
            (kind, _) => Reads::of(kind),
        }
    }

    /// The times kept in `slot` inside `window` before `tau` (all of them without a window),
    /// not yet capped at a term's own `k`: what a count term reads, through
    /// [`Evaluator::number`] or a compiled [`compiled::CountRead`].
    fn kept_count(slot: usize, window: Option<i64>, tau: i64, st: &EvalState) -> u64 {
        st.terms
            .get(slot)
            .map_or(0, |s| s.count_after(window.map(|w| tau - w)))
    }

    /// The value of a term that reads as a number ([`Reads::Number`]).
    fn number(&self, t: usize, cx: &Cx<'_>, st: &EvalState) -> f64 {
        let info = &self.info[t];
        let tau = cx.tau;
        let horizon = info.window.map(|w| tau - w);
        match &self.plan.terms[t].kind {
            TermKind::Purchases { window: None } => f64::from(cx.state.totals.purchases),
            TermKind::Count { .. } | TermKind::Purchases { .. } => {
                let slot = info.slot.expect("aggregate terms have state");
                let n = Self::kept_count(slot, info.window, tau, st);
                // A latest-k count reads at most its own k (a shared slot keeps more).
                let n = if info.k > 0 { n.min(info.k as u64) } else { n };
                n as f64
            }
            TermKind::Sum { .. } | TermKind::Revenue { .. } => {
                self.term_state(t, st).sum_after(horizon) as f64 / 1e6
            }
            TermKind::BrandsActive { window } => cx
                .state
                .brands()
                .filter(|(_, b)| b.last_seen > tau - window)
                .count() as f64,
            TermKind::Score => self.score(st) as f64,
            TermKind::ScoreGain { window } => self
                .plan
                .scores
                .iter()
                .zip(&st.scores)
                .map(|(r, s)| s.gain(r, tau - window, tau))
                .sum::<i64>() as f64,
            TermKind::CartItems => cx.state.cart_totals().0 as f64,
            TermKind::CartValue => cx.state.cart_totals().1 as f64 / 1e6,
            other => unreachable!("{other} does not read as a number"),
        }
    }

    /// The time since the latest event of a `since` term; `None` when there is none.
    fn since(&self, t: usize, cx: &Cx<'_>, st: &EvalState) -> Option<i64> {
        self.term_state(t, st).latest().map(|l| cx.tau - l)
    }

    /// The value of a term that reads as a boolean ([`Reads::Flag`]).
    fn flag(&self, t: usize, cx: &Cx<'_>, st: &EvalState) -> bool {
        let info = &self.info[t];
        match &self.plan.terms[t].kind {
            TermKind::Tag(_) => {
                info.pred.is_some_and(|p| st.held.get(p))
                    || info.sym.is_some_and(|s| cx.state.manual_tag(s))
            }
            TermKind::Segment(_) => info.pred.is_some_and(|p| st.held.get(p)),
            TermKind::Consent(_) => info.sym.and_then(|s| cx.state.consent(s)).unwrap_or(false),
            TermKind::Known => cx.state.identified,
            other => unreachable!("{other} does not read as a boolean"),
        }
    }

    /// The contact's score: points credited by every rule.
    pub(crate) fn score(&self, st: &EvalState) -> i64 {
        self.plan
            .scores
            .iter()
            .zip(&st.scores)
            .map(|(r, s)| s.total(r))
            .sum()
    }

    fn expr<'a>(&'a self, e: &'a PExpr, cx: &Cx<'a>, st: &EvalState) -> Val<'a> {
        match e {
            PExpr::Const(c) => Val::from_const(c),
            PExpr::Term(t) => self.term_value(t.0 as usize, cx, st),
            PExpr::Cmp(op, a, b) => {
                Val::Bool(compare(*op, &self.expr(a, cx, st), &self.expr(b, cx, st)))
            }
            PExpr::Arith(op, a, b) => arith(*op, &self.expr(a, cx, st), &self.expr(b, cx, st)),
            PExpr::Not(a) => match self.expr(a, cx, st) {
                Val::Bool(b) => Val::Bool(!b),
                _ => Val::Null,
            },
            PExpr::And(a, b) => {
                Val::Bool(self.expr(a, cx, st).truthy() && self.expr(b, cx, st).truthy())
            }
            PExpr::Or(a, b) => {
                Val::Bool(self.expr(a, cx, st).truthy() || self.expr(b, cx, st).truthy())
            }
        }
    }

    /// Evaluates the contact at `tau`: predicates fed by `kind` (all of them for `None`), and
    /// those reading a term whose time has come. Appends what changed and sets the next timer.
    ///
    /// Of the predicates an event feeds, those it cannot change ([`Steady`]) are left out;
    /// they are still re-checked when one of their instants is due.
    pub(crate) fn evaluate(
        &self,
        st: &mut EvalState,
        state: &ContactState,
        tau: i64,
        kind: Option<Kind>,
        out: &mut Vec<Change>,
    ) {
        if let Some(k) = kind {
            if self.quiet(k as usize, st, tau) {
                st.at = tau;
                return;
            }
        }
        let mut todo = Bits::default();
        match kind {
            None => (0..self.plan.predicates.len()).for_each(|i| todo.set(i, true)),
            Some(k) => {
                // No instant due by `tau`: every held bit is the predicate's value just
                // before this event.
                let settled = st.timer > tau;
                match (&self.one_word, st.held.word()) {
                    (Some(o), Some(held)) => {
                        todo = Bits::of_word(o.steady[k as usize].todo(held, settled));
                    }
                    _ => self.steady_todo(k, st, settled, &mut todo),
                }
                debug_assert_eq!(todo, {
                    let mut all = Bits::default();
                    self.steady_todo(k, st, settled, &mut all);
                    all
                });
            }
        }
        self.run(st, state, tau, todo, kind.is_none(), out);
    }

    /// The predicates an event of kind `k` may change join `todo`, one by one (see
    /// [`Steady`]; `settled`: no instant of the contact is due).
    fn steady_todo(&self, k: Kind, st: &EvalState, settled: bool, todo: &mut Bits) {
        for &i in &self.preds_by_kind[k as usize] {
            if self.steady[i].keep(st.held.get(i), settled) {
                todo.set(i, true);
            }
        }
    }

    /// Whether an event of kind `k` at `tau` leaves the evaluation as it is, but for its
    /// time: it feeds no term slot and no predicate, no instant is due by `tau`, `tau` is not
    /// before the last evaluation, and there are no score rules to prune nor terms read off
    /// the profile to find instants for. [`Evaluator::run`] would then re-check nothing and
    /// find the same earliest instant (the timer is the earliest of the slots' instants, and
    /// none of them moved). Most events of a plan with few segments are such events, and
    /// the full pass cost them about 60 instructions. (The tests fail when the first or the
    /// fifth condition is dropped; the others are implied by them with the plans the rules
    /// compiler makes today, or matter only for memory or across threads: a term a slot
    /// holds is read by a predicate fed by the same kinds, a predicate reading a time off
    /// the profile is fed by every kind (`brands_active`, `stage`) or reads score rules,
    /// whose pruning only frees memory, and an evaluation's `tau` only goes back when
    /// operations of one contact race on two threads. They stay, so that the shortcut does
    /// not rest on those facts.)
    fn quiet(&self, k: usize, st: &EvalState, tau: i64) -> bool {
        self.preds_by_kind[k].is_empty()
            && self.slots_by_kind[k].is_empty()
            && self.profile_time_terms.is_empty()
            && st.scores.is_empty()
            && st.timer > tau
            && tau >= st.at
    }

    /// Evaluates, at a timer's instant, the predicates reading a term whose time has come.
    pub(crate) fn tick(
        &self,
        st: &mut EvalState,
        state: &ContactState,
        tau: i64,
        out: &mut Vec<Change>,
    ) {
        self.run(st, state, tau, Bits::default(), false, out);
    }

    /// One evaluation at `tau`. A pass over the contact's slots finds those whose next
    /// instant has come (their readers join `todo`), drops what has left their windows and
    /// computes their instants again (all of them when `refresh`: after a merge, a
    /// switch of rules or a load), unless none can be due (see `due_slots`); the predicates
    /// in `todo` are then re-checked, and the timer set to the earliest next instant.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        st: &mut EvalState,
        state: &ContactState,
        tau: i64,
        mut todo: Bits,
        refresh: bool,
        out: &mut Vec<Change>,
    ) {
        // An evaluation earlier than the last one may find instants between the two.
        let refresh = refresh || tau < st.at;
        let prev = st.at;
        st.at = tau;
        // The timer was the earliest instant of every slot, and a slot fed since computed its
        // own after `tau`: before the timer, no slot is due, and only the earliest is wanted.
        let mut earliest = if refresh || st.timer <= tau {
            self.due_slots(st, prev, tau, refresh, &mut todo)
        } else {
            st.terms.nexts().min().unwrap_or(NEVER)
        };
        // Terms read off the profile or the score rules have no cached instant: those due
        // since the timer (candidates after `timer - 1`, up to `tau`) are found again, before
        // the score rules drop what has left their horizon.
        if let Some(t) = st.timer().filter(|t| *t <= tau) {
            for &term in &self.profile_time_terms {
                self.candidates(term, st, state, t - 1, &mut |c| {
                    if c <= tau {
                        self.readers[term].iter().for_each(|i| todo.set(*i, true));
                    }
                });
            }
        }
        if !st.scores.is_empty() {
            for s in &mut st.scores {
                s.prune(tau - self.gain_horizon);
            }
        }
        self.check(st, state, tau, out, todo);
        st.timer = if self.any_time {
            for &term in &self.profile_time_terms {
                self.candidates(term, st, state, tau, &mut |c| earliest = earliest.min(c));
            }
            earliest
        } else {
            NEVER
        };
    }

    /// The pass over the slots of an evaluation that may find some due: their readers join
    /// `todo`, they drop what has left their windows, and their next instants (every slot's,
    /// when `refresh`) are computed again. Returns the earliest next instant.
    fn due_slots(
        &self,
        st: &mut EvalState,
        prev: i64,
        tau: i64,
        refresh: bool,
        todo: &mut Bits,
    ) -> i64 {
        let mut earliest = NEVER;
        let mut emptied = false;
        for e in st.terms.iter_mut() {
            let slot = e.id() as usize;
            if e.next <= tau {
                let plan = &self.slots[slot];
                let shared = if let Timed::Shared(from, to) = plan.timed {
                    // Before pruning: it reads times that were inside the windows at `prev`
                    // (pruning keeps every time still inside them at `tau`).
                    let members = &self.members[from as usize..to as usize];
                    Some(self.shared_due(&e.state, members, prev, tau, refresh, todo))
                } else {
                    // A slot of its own: its term's readers.
                    let term = plan.terms[0];
                    self.readers[term].iter().for_each(|i| todo.set(*i, true));
                    None
                };
                // Reads count only what is inside the window, so pruning is for memory, and
                // only the due slots are pruned: an evaluation does not touch the kept events
                // of the others. What a slot keeps stays bounded all the same: a latest-k
                // state holds at most k times, and an events-in-window state is due as each
                // one leaves.
                if let Some(horizon) = self.prune_horizon(slot, tau) {
                    e.state.prune(horizon);
                    emptied |= e.state.is_empty();
                }
                e.next = shared.unwrap_or_else(|| self.slot_next(slot, &e.state, tau));
            } else if refresh {
                e.next = self.slot_next(slot, &e.state, tau);
            }
            earliest = earliest.min(e.next);
        }
        if emptied {
            st.terms.drop_empty();
        }
        earliest
    }

    /// A due slot of counts sharing it ([`Timed::Shared`]): the readers of the counts whose
    /// own crossing after the last evaluation (`prev`) has come join `todo`, since only they
    /// can answer otherwise; returns the slot's next instant after `tau`.
    ///
    /// Only those counts have their crossing found again. A slot changes only when fed, and
    /// an evaluation at the same time follows every feed, so a due slot holds what it held
    /// at `prev`, and a count whose crossing after `prev` is still to come (or never comes)
    /// has the same one after `tau`: with `m` times inside its window at `prev` and `b` the
    /// largest boundary they reach, the crossing is when the `(m - b)`-th of them leaves;
    /// those before it may have left by `tau`, but at least `b` remain, so `b` is still the
    /// largest reached and the same time is still the one whose leaving crosses it. A
    /// `refresh` (a merge, a switch of rules, an evaluation earlier than the last) finds
    /// them all again.
    fn shared_due(
        &self,
        ts: &TermState,
        members: &[Member],
        prev: i64,
        tau: i64,
        refresh: bool,
        todo: &mut Bits,
    ) -> i64 {
        // Counts share a slot only as latest-k times.
        let v = ts.times().unwrap_or_default();
        let mut next = NEVER;
        for m in members {
            let (w, bounds) = (m.window, self.bounds_of(m));
            let then = terms::crossing_in(v, prev.saturating_sub(w), bounds, w);
            let c = match then {
                Some(c) if c <= tau => {
                    self.readers[m.term].iter().for_each(|i| todo.set(*i, true));
                    terms::crossing_in(v, tau - w, bounds, w)
                }
                _ if refresh => terms::crossing_in(v, tau - w, bounds, w),
                still => still,
            };
            debug_assert_eq!(c, terms::crossing_in(v, tau - w, bounds, w));
            if let Some(c) = c {
                next = next.min(c);
            }
        }
        next
    }

    /// The earliest candidate instant after `tau` of the term in `slot` ([`NEVER`] if none).
    fn slot_next(&self, slot: usize, ts: &TermState, tau: i64) -> i64 {
        let mut next = NEVER;
        self.slot_candidates(slot, ts, tau, &mut |c| next = next.min(c));
        next
    }

    /// Re-checks the predicates in `todo`, and those reading a segment or tag re-checked
    /// before them, in dependency order; records what changed.
    fn check(
        &self,
        st: &mut EvalState,
        state: &ContactState,
        tau: i64,
        out: &mut Vec<Change>,
        mut todo: Bits,
    ) {
        let cx = Cx { state, tau };
        if let (Some(o), Some(mut w)) = (&self.one_word, todo.word()) {
            // One word: the lowest bit is the next predicate, and its dependents are later.
            while w != 0 {
                let i = w.trailing_zeros() as usize;
                w = (w & (w - 1)) | o.dependents[i];
                self.recheck(i, st, &cx, out);
            }
            return;
        }
        let mut from = 0;
        while let Some(i) = todo.next_from(from) {
            from = i + 1;
            self.dependents[i].iter().for_each(|d| todo.set(*d, true));
            self.recheck(i, st, &cx, out);
        }
    }

    /// Re-checks predicate `i`, recording a change.
    #[inline(always)]
    fn recheck(&self, i: usize, st: &mut EvalState, cx: &Cx<'_>, out: &mut Vec<Change>) {
        let v = self.tests[i].holds(&Reading { ev: self, cx, st });
        match self.plan.predicates[i].kind {
            PredicateKind::Segment if v != st.held.get(i) => {
                st.held.set(i, v);
                out.push(Change::Segment(i, v));
            }
            PredicateKind::Tag if v && !st.held.get(i) => {
                st.held.set(i, true);
                out.push(Change::Tagged(i));
            }
            _ => {}
        }
    }

    /// The count boundaries of a term sharing a slot.
    fn bounds_of(&self, m: &Member) -> &[u64] {
        &self.bounds[m.bounds.0 as usize..m.bounds.1 as usize]
    }

    /// The time at or before which `slot`'s kept events have left its longest window, when
    /// its state keeps events in a window.
    fn prune_horizon(&self, slot: usize, tau: i64) -> Option<i64> {
        let plan = &self.slots[slot];
        match plan.timed {
            Timed::Window(_) | Timed::Counted(..) | Timed::Shared(..) => {
                plan.window.map(|w| tau - w)
            }
            Timed::No | Timed::Since(..) => None,
        }
    }

    /// The candidate instants after `tau` of the term in `slot`, whose state is `ts`.
    fn slot_candidates(&self, slot: usize, ts: &TermState, tau: i64, f: &mut impl FnMut(i64)) {
        match self.slots[slot].timed {
            Timed::No => {}
            Timed::Shared(from, to) => {
                // Counts share a slot only as latest-k times: found once for all of them.
                let v = ts.times().unwrap_or_default();
                for m in &self.members[from as usize..to as usize] {
                    if let Some(c) =
                        terms::crossing_in(v, tau - m.window, self.bounds_of(m), m.window)
                    {
                        f(c);
                    }
                }
            }
            Timed::Window(w) => {
                if let Some(x) = ts.first_after(tau - w) {
                    f(x + w);
                }
            }
            Timed::Counted(w, from, to) => {
                if let Some(c) = ts.crossing(tau - w, &self.bounds[from as usize..to as usize], w) {
                    f(c);
                }
            }
            Timed::Since(from, to) => {
                if let Some(l) = ts.latest() {
                    for d in &self.thresholds[from as usize..to as usize] {
                        let c = l.saturating_add(*d);
                        if c > tau {
                            f(c);
                        }
                    }
                }
            }
        }
    }

    /// Reports the instants after `tau` at which term `t` could change by time alone (for an
    /// aggregate, at least its earliest one): through the slot table for terms with a state,
    /// from the profile or the score rules otherwise.
    fn candidates(
        &self,
        t: usize,
        st: &EvalState,
        state: &ContactState,
        tau: i64,
        report: &mut impl FnMut(i64),
    ) {
        if let Some(slot) = self.info[t].slot {
            if let Some(ts) = st.terms.get(slot) {
                self.slot_candidates(slot, ts, tau, report);
            }
            return;
        }
        let mut cand = |c: i64| {
            if c > tau {
                report(c);
            }
        };
        match &self.plan.terms[t].kind {
            TermKind::BrandsActive { window } => {
                for (_, b) in state.brands() {
                    cand(b.last_seen.saturating_add(*window));
                }
            }
            TermKind::ScoreGain { window } => {
                for s in &st.scores {
                    if let Some(ts) = s.recent_times().find(|ts| *ts > tau - window) {
                        cand(ts + window);
                    }
                }
            }
            TermKind::Stage => {
                if let Some(lp) = state.totals.last_purchase() {
                    cand(lp.saturating_add(self.stage.dormancy));
                    cand(lp.saturating_add(self.stage.post_purchase));
                }
            }
            _ => {}
        }
    }

    /// Evaluates predicate `i` at `tau` and records every term's value and every comparison.
    #[allow(clippy::type_complexity)]
    pub(crate) fn explain(
        &self,
        i: usize,
        st: &EvalState,
        state: &ContactState,
        tau: i64,
    ) -> (bool, Vec<(String, String)>, Vec<(String, bool)>) {
        let mut st = st.clone();
        self.prune(&mut st, tau);
        let cx = Cx { state, tau };
        let p = &self.plan.predicates[i];
        let terms = p
            .reads
            .iter()
            .map(|t| {
                let v = self.term_value(t.0 as usize, &cx, &st);
                (self.plan.terms[t.0 as usize].kind.to_string(), show(&v))
            })
            .collect();
        let mut comparisons = Vec::new();
        self.comparisons(&p.expr, &cx, &st, &mut comparisons);
        let value = self.expr(&p.expr, &cx, &st).truthy();
        (value, terms, comparisons)
    }

    fn comparisons(&self, e: &PExpr, cx: &Cx<'_>, st: &EvalState, out: &mut Vec<(String, bool)>) {
        match e {
            PExpr::Cmp(op, a, b) => {
                let (x, y) = (self.expr(a, cx, st), self.expr(b, cx, st));
                out.push((
                    format!(
                        "{} {} {}  ({} {} {})",
                        self.render(a),
                        op.as_str(),
                        self.render(b),
                        show(&x),
                        op.as_str(),
                        show(&y)
                    ),
                    compare(*op, &x, &y),
                ));
            }
            PExpr::Arith(_, a, b) | PExpr::And(a, b) | PExpr::Or(a, b) => {
                self.comparisons(a, cx, st, out);
                self.comparisons(b, cx, st, out);
            }
            PExpr::Not(a) => self.comparisons(a, cx, st, out),
            PExpr::Const(_) | PExpr::Term(_) => {}
        }
    }

    fn render(&self, e: &PExpr) -> String {
        match e {
            PExpr::Const(c) => c.to_string(),
            PExpr::Term(t) => self.plan.terms[t.0 as usize].kind.to_string(),
            PExpr::Cmp(op, a, b) => {
                format!("({} {} {})", self.render(a), op.as_str(), self.render(b))
            }
            PExpr::Arith(op, a, b) => {
                format!("({} {} {})", self.render(a), op.as_str(), self.render(b))
            }
            PExpr::Not(a) => format!("not {}", self.render(a)),
            PExpr::And(a, b) => format!("({} and {})", self.render(a), self.render(b)),
            PExpr::Or(a, b) => format!("({} or {})", self.render(a), self.render(b)),
        }
    }

    /// Bytes held by an evaluation state beyond its struct.
    pub(crate) fn heap_bytes(st: &EvalState) -> usize {
        st.terms.heap_bytes()
            + crate::grow::thin_heap_bytes(&st.scores)
            + st.scores.iter().map(RuleScore::heap_bytes).sum::<usize>()
            + st.held.heap_bytes()
    }
}

fn show(v: &Val<'_>) -> String {
    match v {
        Val::Null => "null".into(),
        Val::Num(n) => format!("{n}"),
        Val::Str(s) => format!("{s:?}"),
        Val::Bool(b) => format!("{b}"),
        Val::Dur(d) => crate::rules::print_duration(*d),
        Val::Since(None) => "never".into(),
        Val::Since(Some(ms)) => crate::rules::print_duration(*ms),
    }
}

struct Cx<'a> {
    state: &'a ContactState,
    tau: i64,
}

/// One contact's terms as a compiled [`Test`] reads them.
struct Reading<'a> {
    ev: &'a Evaluator,
    cx: &'a Cx<'a>,
    st: &'a EvalState,
}

impl Terms for Reading<'_> {
    fn number(&self, term: usize) -> f64 {
        self.ev.number(term, self.cx, self.st)
    }

    fn count(&self, read: &compiled::CountRead) -> u64 {
        Evaluator::kept_count(read.slot as usize, read.window, self.cx.tau, self.st)
    }

    fn count_at_least(&self, read: &compiled::CountRead, n: u32) -> bool {
        let horizon = read.window.map(|w| self.cx.tau - w);
        self.st
            .terms
            .get(read.slot as usize)
            .is_some_and(|s| s.at_least_after(horizon, n as usize))
    }

    fn since(&self, term: usize) -> Option<i64> {
        self.ev.since(term, self.cx, self.st)
    }

    fn flag(&self, term: usize) -> bool {
        self.ev.flag(term, self.cx, self.st)
    }

    fn expr(&self, e: &PExpr) -> bool {
        self.ev.expr(e, self.cx, self.st).truthy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::time::HOUR;
    use crate::event::Event;

    /// The timer is an `i64` in memory (`NEVER` for none) but stored as the `Option<i64>` it
    /// was, so snapshots written before keep their bytes and read back the same.
    #[test]
    fn the_timer_is_stored_as_an_option() {
        for (timer, stored) in [(HOUR, Some(HOUR)), (NEVER, None)] {
            let st = EvalState {
                timer,
                ..EvalState::default()
            };
            let as_before = (&st.terms, &st.scores[..], &st.held, &stored);
            assert_eq!(crate::codec::pack(&st), crate::codec::pack(&as_before));
            let back: EvalState = crate::codec::unpack(&crate::codec::pack(&st)).unwrap();
            assert_eq!(back.timer(), stored);
        }
    }

    #[test]
    fn a_loaded_state_is_checked_and_gets_its_instants_back() {
        let plan = crate::rules::compile(
            "segment a = count(page_view, 1h) >= 1\nsegment b = count(purchase, 2h) >= 1",
        )
        .unwrap();
        let ev = Evaluator::new(plan, &Interner::default(), StageWindows::default());
        let times = |t: i64| {
            let mut s = TermState::new(StateNeed::LatestK(1));
            s.add(t, 1, 1, None);
            s
        };
        // As a snapshot stores it: slots with their states, scores, memberships, timer.
        let load = |slots: Vec<(u32, TermState)>| {
            let bytes =
                crate::codec::pack(&(slots, Vec::<RuleScore>::new(), Bits::default(), Some(HOUR)));
            crate::codec::unpack::<EvalState>(&bytes).unwrap()
        };
        let mut st = load(vec![(1, times(10)), (0, times(0))]);
        assert_eq!(
            ev.restore_state(&mut st, 5),
            Err("term states out of slot order")
        );
        let mut st = load(vec![(0, TermState::Counter { id: 0, n: 1 })]);
        assert_eq!(
            ev.restore_state(&mut st, 5),
            Err("a term state is not of the kind its term keeps")
        );
        let mut st = load(vec![(0, times(0)), (1, times(10))]);
        assert_eq!(ev.restore_state(&mut st, 5), Ok(()));
        // Computed after `timer - 1`: the page view leaves its hour at 1 h, the purchase at
        // 2 h + 10 ms; the contact's timer (1 h) is the earliest.
        let next: Vec<i64> = st.terms.iter_mut().map(|e| e.next).collect();
        assert_eq!(next, [HOUR, 2 * HOUR + 10]);
    }

    #[test]
    fn counts_of_one_filter_share_a_slot_and_are_stored_one_per_term() {
        let plan = crate::rules::compile(
            "segment a = count(page_view, 1h) >= 1\n\
             segment b = count(page_view, 3h) >= 3\n\
             segment c = count(purchase, 2h) >= 2 and purchases(1h) >= 1\n\
             segment d = count(page_view) >= 2\n\
             segment e = count(page_view, 2h) * 2 > 3",
        )
        .unwrap();
        let ev = Evaluator::new(plan, &Interner::default(), StageWindows::default());
        // Shared: the page-view counts of 1 h and 3 h; the purchase counts. Apart: the
        // all-time count (a counter) and the one used in arithmetic (every event in its window).
        let shared: Vec<usize> = ev.slots.iter().map(|s| s.terms.len()).collect();
        assert_eq!(shared.iter().filter(|n| **n == 2).count(), 2, "{shared:?}");
        assert_eq!(ev.slots.len(), 4);
        let state = ContactState::default();
        let mut st = ev.new_state();
        let view = |ts: i64| {
            Event::new(
                ts,
                Payload::PageView {
                    url: None,
                    category: None,
                },
            )
        };
        for (i, ts) in [0, 10 * 60_000, 100 * 60_000, 110 * 60_000, 115 * 60_000]
            .into_iter()
            .enumerate()
        {
            ev.on_event(&mut st, &Fact::of(view(ts)).touch(), i as u64, ts);
        }
        let mut out = Vec::new();
        ev.evaluate(&mut st, &state, 115 * 60_000, None, &mut out);
        // Within 1 h of 1:55: three views (a); within 3 h: five, read as three (b).
        assert!(st.held.get(0) && st.held.get(1));
        // Stored one per term, in the stored places, and read back to the same slots.
        let stored = ev.stored(&st);
        let places: Vec<u32> = stored.iter().map(|x| x.0).collect();
        assert!(places.windows(2).all(|w| w[0] < w[1]), "{places:?}");
        let back = ev.slots_from_stored(stored.into_iter().map(|(p, s)| (p as usize, s)));
        // (The next instants are computed after a load, not stored.)
        assert!(back.iter().eq(st.terms.iter()));
        // Each page-view count's own list: the latest 1 and the latest 3.
        let own: Vec<usize> = ev
            .stored(&st)
            .iter()
            .filter_map(|(_, s)| s.times().map(<[i64]>::len))
            .collect();
        assert_eq!(own, [1, 3], "the counter and window states have no times");
    }

    #[test]
    fn an_evaluation_earlier_than_the_last_finds_the_instants_between_them_again() {
        // Operations accepted on different threads can reach a contact out of order.
        let plan = crate::rules::compile("segment s = since(page_view) >= 1h").unwrap();
        let syms = Interner::default();
        let ev = Evaluator::new(plan, &syms, StageWindows::default());
        let state = ContactState::default();
        let mut st = ev.new_state();
        let mut out = Vec::new();
        let view = Event::new(
            0,
            Payload::PageView {
                url: None,
                category: None,
            },
        );
        ev.on_event(&mut st, &Fact::of(view).touch(), 1, 0);
        ev.evaluate(&mut st, &state, 0, Some(Kind::PageView), &mut out);
        assert_eq!(st.timer(), Some(HOUR));
        // At 2 h the threshold has passed: nothing is left to wait for.
        ev.evaluate(&mut st, &state, 2 * HOUR, Some(Kind::Purchase), &mut out);
        assert_eq!(
            (st.timer(), out.as_slice()),
            (None, &[Change::Segment(0, true)][..])
        );
        // Then an operation accepted at 30 min: the threshold at 1 h is ahead again.
        ev.evaluate(&mut st, &state, HOUR / 2, Some(Kind::Purchase), &mut out);
        assert_eq!(st.timer(), Some(HOUR));
    }

    proptest::proptest! {
        /// The words of a kind pick exactly the predicates the pass over them keeps, for any
        /// mix of predicates, held bits and due instants.
        #[test]
        fn steady_words_pick_what_the_pass_keeps(
            steady in proptest::collection::vec(0u8..4, 0..=64),
            fed in proptest::collection::vec(proptest::bits::u64::ANY, 1..4),
            held in proptest::bits::u64::ANY,
            settled: bool,
        ) {
            let steady: Vec<Steady> = steady
                .iter()
                .map(|s| match s {
                    0 => Steady::No,
                    1 => Steady::Tag,
                    2 => Steady::Count(true),
                    _ => Steady::Count(false),
                })
                .collect();
            let n = steady.len();
            let by_kind: Vec<Vec<usize>> = fed
                .iter()
                .map(|f| (0..n).filter(|i| f & (1 << i) != 0).collect())
                .collect();
            let held = if n == 64 { held } else { held & ((1 << n) - 1) };
            let words = OneWord::of(&steady, &by_kind, &vec![Vec::new(); n]).expect("one word");
            for (k, preds) in by_kind.iter().enumerate() {
                let mut want = 0u64;
                for &i in preds {
                    if steady[i].keep(held & (1 << i) != 0, settled) {
                        want |= 1 << i;
                    }
                }
                proptest::prop_assert_eq!(words.steady[k].todo(held, settled), want);
            }
        }
    }

    /// Past one word of predicates there are no words: the passes over them are used.
    /// Within one, a predicate's word holds its later dependents only (the re-check loop
    /// never goes back).
    #[test]
    fn one_word_up_to_64_predicates_with_later_dependents() {
        let steady = vec![Steady::No; 65];
        let deps = vec![Vec::new(); 65];
        assert!(OneWord::of(&steady, &[vec![0, 64]], &deps).is_none());
        let mut deps = vec![Vec::new(); 64];
        deps[5] = vec![2, 7, 63];
        let o = OneWord::of(&steady[..64], &[vec![0, 63]], &deps).expect("one word");
        assert_eq!(o.steady[0].always, 1 | 1 << 63);
        assert_eq!(o.dependents[5], 1 << 7 | 1 << 63);
        assert_eq!(o.dependents[0], 0);
    }
}
