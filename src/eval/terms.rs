//! Per-contact state of the plan's aggregate terms: the smallest state the plan asked for
//! (see [`crate::rules::StateNeed`]), kept exact under late events and merges.
//!
//! Every state here is a function of the set of matching events: counters and totals add,
//! the latest time takes the maximum, and the kept timestamps are the latest `k` (or those in
//! the window) of the union. So applying events in any order, or merging two contacts, gives
//! the same state as one contact receiving all the events.

use crate::rules::StateNeed;
use thin_vec::ThinVec;

/// Latest-k times kept inline, without an allocation (`count(x, w) >= 3` and below).
const INLINE: usize = 3;

/// An exact total in millionths, held as two words: an `i128` field would align the whole
/// state to 16 bytes, and with it every slot of a contact's list to 48 (see [`SlotState`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Wide {
    lo: u64,
    hi: u64,
}

impl Wide {
    fn of(v: i128) -> Wide {
        Wide {
            lo: v as u64,
            hi: (v >> 64) as u64,
        }
    }

    fn get(self) -> i128 {
        (u128::from(self.hi) << 64 | u128::from(self.lo)) as i128
    }
}

/// The state of one term for one contact, with the id of the slot that holds it.
///
/// 32 bytes: the latest-k times are held in the variant itself up to three (the usual
/// thresholds), so a contact's common count terms need no allocation and no pointer to follow.
/// Latest-k times have one form for each length (inline up to three, a vector beyond), so that
/// equal states compare equal.
///
/// Every variant carries its slot's `id` in the first word, beside the tag (and the inline
/// times' length): the layout is `repr(u8)`, a tag byte followed by each variant's fields in
/// order, so the id is at byte 4 of every variant and reading it is one load. Held apart (until
/// the twenty-seventh session), the id took a word of its own and a slot was 48 bytes; now it
/// is 40. A state outside a list (new, decoded, or built in a test) has id 0 until a
/// [`Slots`] list places it.
#[derive(Debug, Clone, PartialEq)]
#[repr(u8)]
pub(crate) enum TermState {
    /// Profile-derived terms keep nothing here.
    None {
        id: u32,
    },
    Counter {
        id: u32,
        n: u64,
    },
    /// Exact total in millionths.
    Total {
        id: u32,
        t: Wide,
    },
    Latest {
        id: u32,
        t: Option<i64>,
    },
    /// The latest (at most `k`) event times, ascending, when there are at most three: the
    /// first `len` of `t` (the rest are 0).
    Recent {
        len: u8,
        id: u32,
        t: [i64; INLINE],
    },
    /// The same, when there are more than three.
    LatestK {
        id: u32,
        v: Vec<i64>,
    },
    /// The events still in the window: (time, value in millionths), ascending by time.
    Window {
        id: u32,
        v: Vec<(i64, i128)>,
    },
}

/// Stored as before the inline form existed: a latest-k state is variant 4 with its times as
/// a sequence, whichever form holds it, so snapshot bytes did not change. The slot's id is
/// not part of a state's bytes ([`SlotState`] stores it before them).
impl bincode::Encode for TermState {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        match self {
            TermState::None { .. } => 0u32.encode(e),
            TermState::Counter { n, .. } => {
                1u32.encode(e)?;
                n.encode(e)
            }
            TermState::Total { t, .. } => {
                2u32.encode(e)?;
                t.get().encode(e)
            }
            TermState::Latest { t, .. } => {
                3u32.encode(e)?;
                t.encode(e)
            }
            TermState::Recent { .. } | TermState::LatestK { .. } => {
                4u32.encode(e)?;
                self.times().unwrap_or(&[]).encode(e)
            }
            TermState::Window { v, .. } => {
                5u32.encode(e)?;
                v.encode(e)
            }
        }
    }
}

/// A stored term state whose times are not ascending: every search of them would go wrong.
const OUT_OF_ORDER: bincode::error::DecodeError =
    bincode::error::DecodeError::Other("a term state whose times are out of order");

impl<C> bincode::Decode<C> for TermState {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        Ok(match u32::decode(d)? {
            0 => TermState::None { id: 0 },
            1 => TermState::Counter {
                id: 0,
                n: u64::decode(d)?,
            },
            2 => TermState::Total {
                id: 0,
                t: Wide::of(i128::decode(d)?),
            },
            3 => TermState::Latest {
                id: 0,
                t: Option::<i64>::decode(d)?,
            },
            4 => {
                let times = Vec::<i64>::decode(d)?;
                if !times.is_sorted() {
                    return Err(OUT_OF_ORDER);
                }
                TermState::of_times(0, &times)
            }
            5 => {
                let kept: Vec<(i64, i128)> = Vec::decode(d)?;
                if !kept.is_sorted_by_key(|x| x.0) {
                    return Err(OUT_OF_ORDER);
                }
                TermState::Window { id: 0, v: kept }
            }
            _ => return Err(bincode::error::DecodeError::Other("an unknown term state")),
        })
    }
}
bincode::impl_borrow_decode!(TermState);

/// The `id` field of any variant (all at the same place, so one load).
macro_rules! slot_id {
    ($state:expr) => {
        match $state {
            TermState::None { id }
            | TermState::Counter { id, .. }
            | TermState::Total { id, .. }
            | TermState::Latest { id, .. }
            | TermState::Recent { id, .. }
            | TermState::LatestK { id, .. }
            | TermState::Window { id, .. } => id,
        }
    };
}

impl TermState {
    /// The empty state `need` keeps (id 0: not yet in a list).
    pub(crate) fn new(need: StateNeed) -> TermState {
        let id = 0;
        match need {
            StateNeed::Counter => TermState::Counter { id, n: 0 },
            StateNeed::Total => TermState::Total {
                id,
                t: Wide::default(),
            },
            StateNeed::Latest => TermState::Latest { id, t: None },
            StateNeed::LatestK(_) => TermState::of_times(id, &[]),
            StateNeed::Window => TermState::Window { id, v: Vec::new() },
            _ => TermState::None { id },
        }
    }

    /// Whether a term of `need` keeps a state of its own (profile-derived ones do not).
    pub(crate) fn keeps_state(need: StateNeed) -> bool {
        !matches!(TermState::new(need), TermState::None { .. })
    }

    /// The id of the slot that holds this state (0 outside a list).
    #[inline(always)]
    pub(crate) fn id(&self) -> u32 {
        *slot_id!(self)
    }

    /// This state, placed in slot `slot`.
    fn in_slot(mut self, slot: u32) -> TermState {
        *slot_id!(&mut self) = slot;
        self
    }

    /// A latest-k state of slot `id` holding `times` (ascending), in the form for its length.
    fn of_times(id: u32, times: &[i64]) -> TermState {
        if times.len() <= INLINE {
            let mut t = [0; INLINE];
            t[..times.len()].copy_from_slice(times);
            TermState::Recent {
                len: times.len() as u8,
                id,
                t,
            }
        } else {
            TermState::LatestK {
                id,
                v: times.to_vec(),
            }
        }
    }

    /// The kept times of a latest-k state.
    pub(crate) fn times(&self) -> Option<&[i64]> {
        match self {
            TermState::Recent { len, t, .. } => Some(&t[..usize::from(*len)]),
            TermState::LatestK { v, .. } => Some(v),
            _ => None,
        }
    }

    /// Whether this is the state `need` keeps (for a state read back from disk).
    pub(crate) fn is_kind(&self, need: StateNeed) -> bool {
        match (self, TermState::new(need)) {
            (TermState::Recent { .. } | TermState::LatestK { .. }, TermState::Recent { .. }) => {
                true
            }
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(&b),
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
            TermState::None { .. } => {}
            TermState::Counter { n, .. } => *n += 1,
            TermState::Total { t, .. } => *t = Wide::of(t.get() + value),
            TermState::Latest { t, .. } => *t = Some(t.map_or(ts, |x| x.max(ts))),
            TermState::Recent { len, id, t } if usize::from(*len) < INLINE || k <= INLINE => {
                let n = usize::from(*len);
                // The usual event is the newest: appended, or the oldest shifted out.
                if k > 0 && n <= k && (n == 0 || t[n - 1] <= ts) {
                    if n < k {
                        t[n] = ts;
                        *len += 1;
                    } else {
                        t.copy_within(1..n, 0);
                        t[n - 1] = ts;
                    }
                    return;
                }
                // Insert in order into the inline times (one spare place), keep the latest k.
                let mut all = [0; INLINE + 1];
                let pos = t[..n].partition_point(|x| *x <= ts);
                all[..pos].copy_from_slice(&t[..pos]);
                all[pos] = ts;
                all[pos + 1..=n].copy_from_slice(&t[pos..n]);
                let from = (n + 1).saturating_sub(k);
                *self = TermState::of_times(*id, &all[from..=n]);
            }
            TermState::Recent { len, id, t } => {
                // A fourth time for k > 3: to the vector form.
                let mut v = t[..usize::from(*len)].to_vec();
                let pos = v.partition_point(|x| *x <= ts);
                v.insert(pos, ts);
                *self = TermState::LatestK { id: *id, v };
            }
            TermState::LatestK { id, v } => {
                let pos = v.partition_point(|x| *x <= ts);
                v.insert(pos, ts);
                if v.len() > k {
                    v.remove(0);
                }
                if v.len() <= INLINE {
                    let short = std::mem::take(v);
                    *self = TermState::of_times(*id, &short);
                }
            }
            TermState::Window { v, .. } => {
                let pos = v.partition_point(|x| x.0 <= ts);
                v.insert(pos, (ts, value));
            }
        }
    }

    /// Drops what has left the window (times at or before `horizon`).
    pub(crate) fn prune(&mut self, horizon: i64) {
        match self {
            TermState::Recent { .. } | TermState::LatestK { .. } => {
                let kept = self.times().expect("latest-k state");
                let n = kept.partition_point(|x| *x <= horizon);
                if n > 0 {
                    *self = TermState::of_times(self.id(), &kept[n..]);
                }
            }
            TermState::Window { v, .. } => {
                let n = v.partition_point(|x| x.0 <= horizon);
                v.drain(..n);
            }
            _ => {}
        }
    }

    /// The latest `k` of a latest-k state's times, as a state of its own (of the same slot).
    pub(crate) fn keep_latest(&self, k: usize) -> TermState {
        let times = self.times().unwrap_or(&[]);
        TermState::of_times(self.id(), &times[times.len().saturating_sub(k)..])
    }

    /// Folds in a latest-k state of the same contact's events kept for another term (the
    /// latest times of one filter, for a shorter window or a smaller `k`): both lists are
    /// the latest times of the same events, so a time counts as often as the list that holds
    /// it most often says, not the sum (two contacts' states add: [`TermState::absorb`]).
    /// Keeps the latest `k`.
    pub(crate) fn unite(&mut self, other: &TermState, k: usize) {
        let (Some(a), Some(b)) = (self.times(), other.times()) else {
            return;
        };
        let mut all = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => {
                    all.push(a[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    all.push(b[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    all.push(a[i]);
                    i += 1;
                    j += 1;
                }
            }
        }
        all.extend_from_slice(&a[i..]);
        all.extend_from_slice(&b[j..]);
        *self = TermState::of_times(self.id(), &all[all.len().saturating_sub(k)..]);
    }

    /// Folds another contact's state of the same term into this one (this one's slot id
    /// stays).
    pub(crate) fn absorb(&mut self, other: TermState, k: usize) {
        if let (Some(a), Some(b)) = (self.times(), other.times()) {
            let mut all: Vec<i64> = a.iter().chain(b).copied().collect();
            all.sort_unstable();
            let extra = all.len().saturating_sub(k);
            *self = TermState::of_times(self.id(), &all[extra..]);
            return;
        }
        match (self, other) {
            (TermState::Counter { n: a, .. }, TermState::Counter { n: b, .. }) => *a += b,
            (TermState::Total { t: a, .. }, TermState::Total { t: b, .. }) => {
                *a = Wide::of(a.get() + b.get());
            }
            (TermState::Latest { t: a, .. }, TermState::Latest { t: b, .. }) => *a = (*a).max(b),
            (TermState::Window { v: a, .. }, TermState::Window { v: b, .. }) => {
                a.extend(b);
                a.sort_by_key(|x| x.0);
            }
            _ => {}
        }
    }

    /// The count (of events in the window, for windowed states).
    pub(crate) fn count(&self) -> u64 {
        match self {
            TermState::Counter { n, .. } => *n,
            TermState::Recent { len, .. } => u64::from(*len),
            TermState::LatestK { v, .. } => v.len() as u64,
            TermState::Window { v, .. } => v.len() as u64,
            _ => 0,
        }
    }

    /// The sum in millionths.
    pub(crate) fn sum(&self) -> i128 {
        match self {
            TermState::Total { t, .. } => t.get(),
            TermState::Window { v, .. } => v.iter().map(|x| x.1).sum(),
            _ => 0,
        }
    }

    /// The count of kept events after `horizon` (`None`: all of them): a state need not be
    /// pruned to be read.
    pub(crate) fn count_after(&self, horizon: Option<i64>) -> u64 {
        let Some(h) = horizon else {
            return self.count();
        };
        match (self, self.times()) {
            (_, Some(v)) => (v.len() - v.partition_point(|x| *x <= h)) as u64,
            (TermState::Window { v, .. }, _) => (v.len() - v.partition_point(|x| x.0 <= h)) as u64,
            _ => self.count(),
        }
    }

    /// Whether at least `n` (at least 1) kept events are after `horizon`, as
    /// `count_after(horizon) >= n` answers, from the `n`-th latest kept time alone.
    ///
    /// Inlined for the usual case, a windowed count over inline times (1.5 million re-checks
    /// at 20,000 contacts and fifty segments, which paid a call each); the rest goes out of
    /// line.
    #[inline]
    pub(crate) fn at_least_after(&self, horizon: Option<i64>, n: usize) -> bool {
        debug_assert!(n >= 1);
        if let (TermState::Recent { len, t, .. }, Some(h)) = (self, horizon) {
            let len = usize::from(*len);
            return len >= n && t[len - n] > h;
        }
        self.at_least_after_other(horizon, n)
    }

    /// [`TermState::at_least_after`] of any state.
    #[inline(never)]
    fn at_least_after_other(&self, horizon: Option<i64>, n: usize) -> bool {
        let Some(h) = horizon else {
            return self.count() >= n as u64;
        };
        match (self, self.times()) {
            (_, Some(v)) => v.len() >= n && v[v.len() - n] > h,
            (TermState::Window { v, .. }, _) => v.len() >= n && v[v.len() - n].0 > h,
            _ => self.count() >= n as u64,
        }
    }

    /// The sum in millionths of kept events after `horizon` (`None`: all of them).
    pub(crate) fn sum_after(&self, horizon: Option<i64>) -> i128 {
        match (self, horizon) {
            (TermState::Window { v, .. }, Some(h)) => v[v.partition_point(|x| x.0 <= h)..]
                .iter()
                .map(|x| x.1)
                .sum(),
            _ => self.sum(),
        }
    }

    pub(crate) fn latest(&self) -> Option<i64> {
        match self {
            TermState::Latest { t, .. } => *t,
            _ => None,
        }
    }

    /// The earliest kept time after `horizon` in a windowed state (kept times at or before
    /// it are already out of the window, waiting to be pruned).
    pub(crate) fn first_after(&self, horizon: i64) -> Option<i64> {
        match (self, self.times()) {
            (_, Some(v)) => v.get(v.partition_point(|x| *x <= horizon)).copied(),
            (TermState::Window { v, .. }, _) => {
                v.get(v.partition_point(|x| x.0 <= horizon)).map(|x| x.0)
            }
            _ => None,
        }
    }

    /// The instant the count of kept times after `horizon` next falls below a boundary:
    /// with `m` of them and `b` the largest of `bounds` (ascending) at most `m`, when the
    /// `(m - b)`-th (from 0) leaves the window of length `window`; `None` when no boundary is
    /// reached. A latest-k state keeps at least the largest boundary, so the latest `b` are
    /// among what it keeps.
    pub(crate) fn crossing(&self, horizon: i64, bounds: &[u64], window: i64) -> Option<i64> {
        match (self, self.times()) {
            (_, Some(v)) => crossing_in(v, horizon, bounds, window),
            (TermState::Window { v, .. }, _) => {
                let live = &v[v.partition_point(|x| x.0 <= horizon)..];
                let b = largest_reached(bounds, live.len())?;
                Some(live[live.len() - b].0 + window)
            }
            _ => None,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            TermState::LatestK { v, .. } => v.capacity() * 8,
            TermState::Window { v, .. } => v.capacity() * 32,
            _ => 0,
        }
    }

    /// Whether the state says nothing a missing one would not: no events kept, zero.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            TermState::None { .. }
            | TermState::Counter { n: 0, .. }
            | TermState::Latest { t: None, .. }
            | TermState::Recent { len: 0, .. } => true,
            TermState::Total { t, .. } => *t == Wide::default(),
            TermState::Window { v, .. } => v.is_empty(),
            _ => false,
        }
    }
}

/// [`TermState::crossing`] of the ascending kept times `v` of a latest-k state: the counts
/// sharing a slot read one list, and find its times once for all of them.
#[inline]
pub(crate) fn crossing_in(v: &[i64], horizon: i64, bounds: &[u64], window: i64) -> Option<i64> {
    let live = &v[v.partition_point(|x| *x <= horizon)..];
    let b = largest_reached(bounds, live.len())?;
    Some(live[live.len() - b] + window)
}

/// The largest of `bounds` (ascending) that a count of `m` reaches.
#[inline]
fn largest_reached(bounds: &[u64], m: usize) -> Option<usize> {
    bounds
        .iter()
        .rev()
        .find(|b| **b <= m as u64)
        .map(|b| *b as usize)
}

/// How many term slots a contact's list has room for when it is first allocated, under a
/// plan of `slots` slots: a few, since an event usually feeds several terms of its kind and a
/// list grown one slot at a time was reallocated on most new slots; no more than the plan
/// has.
pub(crate) fn first_room(slots: usize) -> usize {
    slots.clamp(1, 4)
}

/// How many cache lines of a contact's term states a prefetch asks for: the list's header
/// and about twelve 40-byte states (a contact holds ten or so under the fifty segments of the
/// harness; seven lines measured no different, twenty-seventh session).
pub(crate) const PREFETCH_LINES: usize = 8;

/// No instant: a slot that time alone does not change.
pub(crate) const NEVER: i64 = i64::MAX;

/// One slot's state (which carries the slot's id), and the next instant after its last
/// computation at which time alone could change what the predicates reading it answer
/// ([`NEVER`] when none). The instant is a cache: it is not persisted, and
/// [`crate::eval::Evaluator`] computes it again on load.
///
/// 40 bytes, so that a contact's ten or so slots under the harness's fifty segments take a
/// sixth fewer cache lines than at 48 (the id beside the instant, padded, and the state
/// aligned to 16 by a sum's `i128`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SlotState {
    pub(crate) state: TermState,
    pub(crate) next: i64,
}

// On 64-bit targets (a 32-bit one has narrower vectors and may align `i64` to 4).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<SlotState>() == 40);

impl SlotState {
    /// The slot's id.
    #[inline(always)]
    pub(crate) fn id(&self) -> u32 {
        self.state.id()
    }

    fn placed(id: u32, state: TermState) -> SlotState {
        SlotState {
            state: state.in_slot(id),
            next: NEVER,
        }
    }
}

/// Stored as the slot's id, then its state.
impl bincode::Encode for SlotState {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        (self.id(), &self.state).encode(e)
    }
}

impl<C> bincode::Decode<C> for SlotState {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let (id, state) = <(u32, TermState)>::decode(d)?;
        Ok(SlotState::placed(id, state))
    }
}
bincode::impl_borrow_decode!(SlotState);

/// One contact's aggregate term states, by slot, holding only those that say something: a
/// contact touches few of a plan's terms, so a missing slot (count 0, sum 0, no latest time)
/// costs nothing, and passes over a contact's terms visit only what it has.
///
/// A thin vector: its length and capacity live on the heap, before the states, so the list
/// takes 8 bytes of the contact's slot instead of a vector's 24, and a contact with no
/// states holds no allocation. Stored as a vector of the states.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Slots(ThinVec<SlotState>);

impl bincode::Encode for Slots {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        e: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        self.0[..].encode(e)
    }
}

impl<C> bincode::Decode<C> for Slots {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        d: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let v: Vec<SlotState> = bincode::Decode::decode(d)?;
        Ok(Slots(v.into()))
    }
}
bincode::impl_borrow_decode!(Slots);

impl Slots {
    /// Asks for the list's first [`PREFETCH_LINES`] cache lines to be loaded: its header
    /// and the first states, without reading the header (its length is on the heap, which a
    /// prefetch is there to fetch; reading it in the prefetch stage waited for memory, and the
    /// fifty-segment run lost 5 to 7 %).
    pub(crate) fn prefetch(&self) {
        if !self.0.has_capacity() {
            return;
        }
        const _: () =
            assert!(std::mem::size_of::<ThinVec<SlotState>>() == std::mem::size_of::<*const u8>());
        // SAFETY: `ThinVec` is `#[repr(C)]` with a single field, the pointer to its heap
        // header (beside a zero-sized marker), as the assertion above checks by size: this
        // reads that pointer out of the list's own bytes and nothing it points to. The
        // prefetch never dereferences it.
        let header: *const u8 = unsafe { std::ptr::read((&raw const self.0).cast::<*const u8>()) };
        crate::prefetch::prefetch_lines(header, PREFETCH_LINES * 64, PREFETCH_LINES);
    }

    fn find(&self, slot: usize) -> Result<usize, usize> {
        self.0.binary_search_by_key(&(slot as u32), SlotState::id)
    }

    pub(crate) fn get(&self, slot: usize) -> Option<&TermState> {
        self.find(slot).ok().map(|i| &self.0[i].state)
    }

    /// The state of `slot`, made empty for `need` when missing. `room`: how many slots the
    /// list has room for when it is first allocated (see [`first_room`]).
    pub(crate) fn entry(&mut self, slot: usize, need: StateNeed, room: usize) -> &mut SlotState {
        let i = match self.find(slot) {
            Ok(i) => i,
            Err(i) => {
                self.insert(
                    i,
                    SlotState::placed(slot as u32, TermState::new(need)),
                    room,
                );
                i
            }
        };
        &mut self.0[i]
    }

    fn insert(&mut self, i: usize, e: SlotState, room: usize) {
        if self.0.len() == self.0.capacity() {
            // Grow by half, not double: a contact's slots stop growing soon, and doubling
            // would leave a quarter of them empty on average.
            let more = (self.0.len() / 2).max(room).max(1);
            crate::grow::reserve_exact_thin(&mut self.0, more);
        }
        self.0.insert(i, e);
    }

    /// Sets `slot`'s state (dropping an empty one); its next instant is to be computed again.
    pub(crate) fn set(&mut self, slot: usize, state: TermState) {
        match self.find(slot) {
            Ok(i) if state.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].state = state.in_slot(slot as u32),
            Err(_) if state.is_empty() => {}
            Err(i) => self.insert(i, SlotState::placed(slot as u32, state), 1),
        }
    }

    /// The slots that hold something, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &TermState)> {
        self.0.iter().map(|e| (e.id() as usize, &e.state))
    }

    /// The slots' next instants.
    pub(crate) fn nexts(&self) -> impl Iterator<Item = i64> + '_ {
        self.0.iter().map(|e| e.next)
    }

    /// The slots' states, ascending, taken.
    pub(crate) fn into_states(self) -> impl Iterator<Item = (usize, TermState)> {
        self.0.into_iter().map(|e| (e.id() as usize, e.state))
    }

    /// The slots that hold something, ascending, to update in place.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut SlotState> {
        self.0.iter_mut()
    }

    /// Drops the slots left empty.
    pub(crate) fn drop_empty(&mut self) {
        self.0.retain(|e| !e.state.is_empty());
    }

    /// Folds another contact's states in (`k(slot)`: how many times a latest-k state keeps).
    /// The next instants of the result are to be computed again.
    pub(crate) fn absorb(&mut self, other: Slots, k: impl Fn(usize) -> usize) {
        for o in other.0 {
            let id = o.id() as usize;
            match self.find(id) {
                Ok(i) => self.0[i].state.absorb(o.state, k(id)),
                Err(i) => self.insert(i, o, 1),
            }
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        crate::grow::thin_heap_bytes(&self.0)
            + self.0.iter().map(|e| e.state.heap_bytes()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Stored times out of order are a damaged snapshot: an error, not a state whose
    /// searches answer wrongly; in order (ties too) they read back as stored.
    #[test]
    fn stored_times_out_of_order_are_refused() {
        use crate::codec::{pack, unpack};
        for times in [
            vec![5i64, 3],
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0],
        ] {
            let err =
                unpack::<TermState>(&pack(&TermState::LatestK { id: 0, v: times })).unwrap_err();
            assert!(err.to_string().contains("out of order"), "{err}");
        }
        let window = TermState::Window {
            id: 0,
            v: vec![(4, 1), (2, 1)],
        };
        assert!(unpack::<TermState>(&pack(&window)).is_err());
        for times in [vec![3i64, 3, 5], (0..20).collect()] {
            let s = TermState::of_times(0, &times);
            assert_eq!(unpack::<TermState>(&pack(&s)).unwrap(), s);
        }
        let window = TermState::Window {
            id: 0,
            v: vec![(2, 1), (2, 5), (4, 1)],
        };
        assert_eq!(unpack::<TermState>(&pack(&window)).unwrap(), window);
    }

    proptest! {
        /// The threshold read answers as counting does, for every kind of state that keeps
        /// times, any horizon and any threshold.
        #[test]
        fn at_least_answers_as_counting(
            times in proptest::collection::vec(0i64..40, 0..12),
            need in prop_oneof![
                (1usize..8).prop_map(StateNeed::LatestK),
                Just(StateNeed::Window),
                Just(StateNeed::Counter),
            ],
            horizon in proptest::option::of(-1i64..42),
            n in 1usize..10,
        ) {
            let k = match need { StateNeed::LatestK(k) => k, _ => 0 };
            let mut s = TermState::new(need);
            for t in times {
                s.add(t, 1, k, None);
            }
            prop_assert_eq!(s.at_least_after(horizon, n), s.count_after(horizon) >= n as u64);
        }

        /// A latest-k state holds the latest `k` times added, in the one form for their
        /// number, whatever the order they came in (mostly the newest last, which takes a
        /// shortcut; ties too).
        #[test]
        fn latest_k_keeps_the_latest_k(
            mut times in proptest::collection::vec(0i64..20, 0..12),
            ascending: bool,
            k in 1usize..7,
        ) {
            if ascending {
                times.sort_unstable();
            }
            let mut s = TermState::new(StateNeed::LatestK(k));
            for (i, t) in times.iter().enumerate() {
                s.add(*t, 1, k, None);
                let mut want = times[..=i].to_vec();
                want.sort_unstable();
                let want = &want[want.len().saturating_sub(k)..];
                prop_assert_eq!(&s, &TermState::of_times(0, want));
            }
        }

        /// What a due shared slot rests on (`Evaluator::shared_due`): over the same times, a
        /// crossing found after `prev` that is still to come at `tau` (or that never comes)
        /// is the one found after `tau`; and every crossing is the instant the count inside
        /// the window, counted plainly, first falls below the largest boundary it reached. (No
        /// time is after the evaluation: the engine's clock is at least every accepted time.)
        #[test]
        fn a_crossing_still_to_come_stays_put(
            mut times in proptest::collection::vec(0i64..60, 0..10),
            bounds in proptest::collection::btree_set(1u64..6, 1..4),
            window in 1i64..30,
            prev in 59i64..100,
            later in 0i64..40,
        ) {
            times.sort_unstable();
            let bounds: Vec<u64> = bounds.into_iter().collect();
            let tau = prev + later;
            let then = crossing_in(&times, prev - window, &bounds, window);
            let now = crossing_in(&times, tau - window, &bounds, window);
            if then.is_none_or(|c| c > tau) {
                prop_assert_eq!(then, now);
            }
            let inside = |at: i64| times.iter().filter(|t| **t > at - window && **t <= at).count();
            let reached = bounds.iter().rev().find(|b| **b as usize <= inside(tau));
            match (now, reached) {
                (Some(c), Some(b)) => {
                    prop_assert!(c > tau);
                    prop_assert!(inside(c) < *b as usize && inside(c - 1) >= *b as usize);
                }
                (None, None) => {}
                other => prop_assert!(false, "crossing and count disagree: {:?}", other),
            }
        }
    }

    #[test]
    fn latest_k_keeps_the_latest_in_any_order() {
        let mut a = TermState::new(StateNeed::LatestK(2));
        for ts in [5, 1, 9, 3] {
            a.add(ts, 1, 2, None);
        }
        assert_eq!(a, TermState::of_times(0, &[5, 9]));
        let mut b = TermState::new(StateNeed::LatestK(2));
        b.add(7, 1, 2, None);
        a.absorb(b, 2);
        assert_eq!(a, TermState::of_times(0, &[7, 9]));
        a.prune(7);
        assert_eq!(a.count(), 1);
        assert_eq!(a.first_after(0), Some(9));
        assert_eq!(a.first_after(9), None);
    }

    #[test]
    fn latest_k_changes_form_with_its_length_and_agrees_with_a_sorted_list() {
        // Every k from 1 to 6 over a scrambled stream, pruned now and then, against a plain
        // list; equal states compare equal whichever way they were reached.
        for k in 1..=6 {
            let mut s = TermState::new(StateNeed::LatestK(k));
            let mut want: Vec<i64> = Vec::new();
            for (i, ts) in [50, 10, 70, 30, 90, 20, 60, 80, 40, 5]
                .into_iter()
                .enumerate()
            {
                s.add(ts, 1, k, None);
                want.push(ts);
                want.sort_unstable();
                let extra = want.len().saturating_sub(k);
                want.drain(..extra);
                if i == 6 {
                    s.prune(55);
                    want.retain(|x| *x > 55);
                }
                assert_eq!(s, TermState::of_times(0, &want), "k {k} after {ts}");
                assert_eq!(s.count(), want.len() as u64);
            }
        }
        assert_eq!(std::mem::size_of::<TermState>(), 32);
    }

    #[test]
    fn term_states_are_stored_as_before_the_inline_form() {
        // The derived encoding of the earlier layout, which snapshots hold.
        #[derive(bincode::Encode)]
        enum Before {
            None,
            Counter(u64),
            Total(i128),
            Latest(Option<i64>),
            LatestK(Vec<i64>),
            Window(Vec<(i64, i128)>),
        }
        let pairs = [
            (TermState::None { id: 0 }, Before::None),
            (TermState::Counter { id: 0, n: 300 }, Before::Counter(300)),
            (
                TermState::Total {
                    id: 0,
                    t: Wide::of(-7 << 70),
                },
                Before::Total(-7 << 70),
            ),
            (
                TermState::Latest { id: 0, t: Some(-9) },
                Before::Latest(Some(-9)),
            ),
            (TermState::of_times(0, &[1, 2]), Before::LatestK(vec![1, 2])),
            (
                TermState::of_times(0, &[1, 2, 3, 4, 5]),
                Before::LatestK(vec![1, 2, 3, 4, 5]),
            ),
            (
                TermState::Window {
                    id: 0,
                    v: vec![(4, 1 << 90)],
                },
                Before::Window(vec![(4, 1 << 90)]),
            ),
        ];
        for (now, before) in pairs {
            let bytes = crate::codec::pack(&now);
            assert_eq!(bytes, crate::codec::pack(&before));
            assert_eq!(crate::codec::unpack::<TermState>(&bytes).unwrap(), now);
        }
    }

    #[test]
    fn the_crossing_is_when_the_count_falls_below_the_largest_boundary_reached() {
        let mut w = TermState::new(StateNeed::Window);
        let mut k = TermState::new(StateNeed::LatestK(5));
        for ts in [10, 20, 30, 40, 50, 60, 70] {
            w.add(ts, 1, 0, None);
            k.add(ts, 1, 5, None);
        }
        // Seven in the window, boundary 5: the third (30) leaving leaves four.
        assert_eq!(w.crossing(0, &[2, 5], 100), Some(130));
        // The latest five: the first (30) leaving leaves four.
        assert_eq!(k.crossing(0, &[2, 5], 100), Some(130));
        // After 40 only three are left: boundary 2, crossed when 60 leaves.
        assert_eq!(w.crossing(40, &[2, 5], 100), Some(160));
        assert_eq!(w.crossing(60, &[2, 5], 100), None);
        assert_eq!(
            TermState::new(StateNeed::Window).crossing(0, &[1], 100),
            None
        );
    }

    #[test]
    fn reads_count_only_what_is_inside_the_window_pruned_or_not() {
        let mut w = TermState::new(StateNeed::Window);
        let mut k = TermState::new(StateNeed::LatestK(3));
        for ts in [10, 20, 30] {
            w.add(ts, 5, 0, None);
            k.add(ts, 1, 3, None);
        }
        assert_eq!((w.count_after(Some(15)), w.sum_after(Some(15))), (2, 10));
        assert_eq!((w.count_after(None), w.sum_after(None)), (3, 15));
        assert_eq!(k.count_after(Some(20)), 1);
        k.prune(20);
        assert_eq!((k.count_after(Some(20)), k.count()), (1, 1));
    }

    #[test]
    fn slots_keep_only_what_says_something() {
        let mut s = Slots::default();
        assert!(s.get(3).is_none());
        s.entry(3, StateNeed::Window, 1).state.add(10, 5, 0, None);
        s.entry(1, StateNeed::Counter, 1).state.add(1, 1, 0, None);
        assert_eq!(s.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 3]);
        s.iter_mut()
            .filter(|e| e.id() == 3)
            .for_each(|e| e.state.prune(10));
        s.drop_empty();
        assert_eq!(s.iter().map(|x| x.0).collect::<Vec<_>>(), [1]);
        let mut o = Slots::default();
        o.entry(1, StateNeed::Counter, 1).state.add(2, 1, 0, None);
        o.entry(2, StateNeed::Latest, 1).state.add(7, 1, 0, None);
        s.absorb(o, |_| 0);
        assert_eq!(s.get(1), Some(&TermState::Counter { id: 1, n: 2 }));
        assert_eq!(s.get(2).and_then(TermState::latest), Some(7));
        s.set(2, TermState::Latest { id: 0, t: None });
        assert!(s.get(2).is_none());
    }

    /// A state that changes form (inline times to a vector and back, a prune, a late
    /// insert, a union, a merge, a sum past 64 bits) stays under its slot's id, which the
    /// list's search reads.
    #[test]
    fn a_slot_keeps_its_id_through_every_change_of_form() {
        let mut s = Slots::default();
        for t in [10, 20, 30, 40, 50] {
            s.entry(7, StateNeed::LatestK(5), 1)
                .state
                .add(t, 1, 5, None);
        }
        s.entry(2, StateNeed::Total, 1)
            .state
            .add(1, i128::from(u64::MAX) * 4, 0, None);
        s.entry(2, StateNeed::Total, 1).state.add(2, -3, 0, None);
        let ids = |s: &Slots| s.0.iter().map(SlotState::id).collect::<Vec<_>>();
        assert_eq!(ids(&s), [2, 7]);
        assert_eq!(
            s.get(2).map(TermState::sum),
            Some(i128::from(u64::MAX) * 4 - 3)
        );
        s.iter_mut().for_each(|e| e.state.prune(35));
        assert_eq!(s.get(7).map(TermState::count), Some(2));
        // A late time into the inline form (an insert, not an append).
        s.entry(7, StateNeed::LatestK(5), 1)
            .state
            .add(45, 1, 5, None);
        assert_eq!(s.get(7).and_then(TermState::times), Some(&[40, 45, 50][..]));
        let longer = TermState::of_times(0, &[5, 40, 50, 60, 70]);
        s.entry(7, StateNeed::LatestK(5), 1).state.unite(&longer, 5);
        let mut o = Slots::default();
        o.entry(7, StateNeed::LatestK(5), 1)
            .state
            .add(80, 1, 5, None);
        o.entry(9, StateNeed::Counter, 1).state.add(1, 1, 0, None);
        s.absorb(o, |_| 2);
        assert_eq!(ids(&s), [2, 7, 9]);
        assert_eq!(s.get(7).and_then(TermState::times), Some(&[70, 80][..]));
        let back: Slots = crate::codec::unpack(&crate::codec::pack(&s)).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn lists_of_the_same_events_unite_without_counting_twice() {
        let all = [5, 7, 7, 9, 12, 12, 12, 15];
        let latest = |k: usize| TermState::of_times(0, &all[all.len() - k..]);
        // The latest 2 and the latest 5 of the same events (ties included): the latest 5.
        let mut a = latest(2);
        a.unite(&latest(5), 6);
        assert_eq!(a, latest(5));
        // Kept to k; an empty list adds nothing.
        let mut b = latest(5);
        b.unite(&latest(3), 2);
        assert_eq!(b, latest(2));
        b.unite(&TermState::of_times(0, &[]), 2);
        assert_eq!(b, latest(2));
        // A list pruned at a window (only times after 7) with a longer one.
        let mut c = TermState::of_times(0, &[9, 12, 12, 12, 15]);
        c.unite(&latest(7), 8);
        assert_eq!(c, latest(7));
        assert_eq!(latest(6).keep_latest(3), latest(3));
        assert_eq!(latest(2).keep_latest(3), latest(2));
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
