//! The compiled plan: deduplicated terms, each knowing the event kinds that feed it, whether
//! time alone can change it and the smallest state it needs; predicates over terms in
//! dependency order; scoring rules.

use super::lexer::CmpOp;
use super::print::duration;
use crate::event::Kind;
use std::fmt;

/// A field of an event, as `where` conditions and `sum` see it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// The event's channel.
    Channel,
    /// The event's brand.
    Brand,
    /// A field of the event's kind, by its wire name (`category`, `discount`, …).
    Named(&'static str),
    /// A property of a `custom` event.
    Prop(String),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Channel => f.write_str("channel"),
            Field::Brand => f.write_str("brand"),
            Field::Named(n) => f.write_str(n),
            Field::Prop(p) => f.write_str(p),
        }
    }
}

/// A constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A duration in milliseconds.
    Dur(i64),
}

impl fmt::Display for Const {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Const::Num(n) => write!(f, "{n}"),
            Const::Str(s) => write!(f, "{s:?}"),
            Const::Bool(b) => write!(f, "{b}"),
            Const::Dur(d) => f.write_str(&duration(*d)),
        }
    }
}

/// Arithmetic in compiled expressions.
pub use super::ast::ArithOp;

/// A condition over one event's own fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// A constant.
    Const(Const),
    /// A field of the event (null when absent).
    Field(Field),
    /// Comparison (false when either side is null).
    Cmp(CmpOp, Box<Cond>, Box<Cond>),
    /// Arithmetic on numbers.
    Arith(ArithOp, Box<Cond>, Box<Cond>),
    /// Negation.
    Not(Box<Cond>),
    /// Both.
    And(Box<Cond>, Box<Cond>),
    /// Either.
    Or(Box<Cond>, Box<Cond>),
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cond::Const(c) => write!(f, "{c}"),
            Cond::Field(x) => write!(f, "{x}"),
            Cond::Cmp(op, a, b) => write!(f, "({a} {} {b})", op.as_str()),
            Cond::Arith(op, a, b) => write!(f, "({a} {} {b})", op.as_str()),
            Cond::Not(a) => write!(f, "not {a}"),
            Cond::And(a, b) => write!(f, "({a} and {b})"),
            Cond::Or(a, b) => write!(f, "({a} or {b})"),
        }
    }
}

/// The events a term looks at.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Their kind.
    pub kind: Kind,
    /// An optional condition over their fields.
    pub cond: Option<Cond>,
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(c) = &self.cond {
            write!(f, " where {c}")?;
        }
        Ok(())
    }
}

/// What a term computes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TermKind {
    /// `count(KIND [where COND] [, WINDOW])`
    Count {
        /// Matching events.
        filter: Filter,
        /// Window in ms; `None` is all time.
        window: Option<i64>,
    },
    /// `sum(KIND.FIELD [where COND] [, WINDOW])`
    Sum {
        /// Matching events.
        filter: Filter,
        /// The summed numeric field.
        field: Field,
        /// Window in ms; `None` is all time.
        window: Option<i64>,
    },
    /// `since(KIND [where COND])`
    Since {
        /// Matching events.
        filter: Filter,
    },
    /// `purchases([WINDOW])`
    Purchases {
        /// Window in ms.
        window: Option<i64>,
    },
    /// `revenue([WINDOW])`
    Revenue {
        /// Window in ms.
        window: Option<i64>,
    },
    /// `brands_active(WINDOW)`
    BrandsActive {
        /// Window in ms.
        window: i64,
    },
    /// `score`
    Score,
    /// `score_gain(WINDOW)`
    ScoreGain {
        /// Window in ms.
        window: i64,
    },
    /// `tag("t")`: a rule tag or a manual tag.
    Tag(String),
    /// `segment("s")`
    Segment(String),
    /// `consent("topic")`
    Consent(String),
    /// `known`
    Known,
    /// `attr("key")`
    Attr(String),
    /// `stage`
    Stage,
    /// `cart_items`
    CartItems,
    /// `cart_value`
    CartValue,
}

fn window(w: Option<i64>) -> String {
    w.map_or(String::new(), |w| format!(", {}", duration(w)))
}

impl fmt::Display for TermKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TermKind::Count { filter, window: w } => write!(f, "count({filter}{})", window(*w)),
            TermKind::Sum {
                filter,
                field,
                window: w,
            } => {
                let (kind, cond) = (filter.kind, &filter.cond);
                write!(f, "sum({kind}.{field}")?;
                if let Some(c) = cond {
                    write!(f, " where {c}")?;
                }
                write!(f, "{})", window(*w))
            }
            TermKind::Since { filter } => write!(f, "since({filter})"),
            TermKind::Purchases { window: w } => {
                write!(f, "purchases({})", window(*w).trim_start_matches(", "))
            }
            TermKind::Revenue { window: w } => {
                write!(f, "revenue({})", window(*w).trim_start_matches(", "))
            }
            TermKind::BrandsActive { window: w } => write!(f, "brands_active({})", duration(*w)),
            TermKind::Score => f.write_str("score"),
            TermKind::ScoreGain { window: w } => write!(f, "score_gain({})", duration(*w)),
            TermKind::Tag(t) => write!(f, "tag({t:?})"),
            TermKind::Segment(s) => write!(f, "segment({s:?})"),
            TermKind::Consent(t) => write!(f, "consent({t:?})"),
            TermKind::Known => f.write_str("known"),
            TermKind::Attr(k) => write!(f, "attr({k:?})"),
            TermKind::Stage => f.write_str("stage"),
            TermKind::CartItems => f.write_str("cart_items"),
            TermKind::CartValue => f.write_str("cart_value"),
        }
    }
}

/// A set of event kinds, as a bit mask over [`Kind::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct KindSet(pub u32);

impl KindSet {
    /// Every kind except `erase` (which never reaches a profile).
    pub fn all() -> KindSet {
        let mut s = KindSet::default();
        for k in Kind::ALL {
            if *k != Kind::Erase {
                s.insert(*k);
            }
        }
        s
    }

    /// Adds a kind.
    pub fn insert(&mut self, k: Kind) {
        self.0 |= 1 << (k as u32);
    }

    /// True when the kind is in the set.
    pub fn contains(self, k: Kind) -> bool {
        self.0 & (1 << (k as u32)) != 0
    }

    /// Both sets together.
    pub fn union(self, o: KindSet) -> KindSet {
        KindSet(self.0 | o.0)
    }

    /// The kinds, in declaration order.
    pub fn kinds(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.iter().copied().filter(move |k| self.contains(*k))
    }
}

impl fmt::Display for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == KindSet::all() {
            return f.write_str("any");
        }
        if self.0 == 0 {
            return f.write_str("nothing");
        }
        let names: Vec<&str> = self.kinds().map(Kind::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// The smallest state that answers a term exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateNeed {
    /// Nothing beyond the profile the engine always keeps (cart, consents, score, stage …).
    Profile,
    /// One counter (all-time counts).
    Counter,
    /// One running total (all-time sums).
    Total,
    /// The time of the latest matching event.
    Latest,
    /// The times of the latest `k` matching events: enough for `count(…, w) >= k` and any
    /// comparison with constants up to `k - 1`.
    LatestK(usize),
    /// Every matching event still inside the window (time, and value for sums).
    Window,
    /// The last time each brand was seen.
    BrandLastSeen,
}

impl fmt::Display for StateNeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateNeed::Profile => f.write_str("profile"),
            StateNeed::Counter => f.write_str("counter"),
            StateNeed::Total => f.write_str("total"),
            StateNeed::Latest => f.write_str("latest time"),
            StateNeed::LatestK(k) => write!(f, "latest {k} times"),
            StateNeed::Window => f.write_str("events in window"),
            StateNeed::BrandLastSeen => f.write_str("last seen per brand"),
        }
    }
}

/// Index of a term in [`Plan::terms`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TermId(pub u32);

/// One deduplicated aggregate or profile value.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// What it computes.
    pub kind: TermKind,
    /// Event kinds whose arrival can change it.
    pub feeds: KindSet,
    /// True when the passing of time alone can change it (windows, `since`, `stage`).
    pub time_sensitive: bool,
    /// The smallest state it needs.
    pub need: StateNeed,
}

/// A compiled predicate expression.
#[derive(Debug, Clone, PartialEq)]
pub enum PExpr {
    /// A constant.
    Const(Const),
    /// A term's value.
    Term(TermId),
    /// Comparison (false when either side is null).
    Cmp(CmpOp, Box<PExpr>, Box<PExpr>),
    /// Arithmetic.
    Arith(ArithOp, Box<PExpr>, Box<PExpr>),
    /// Negation.
    Not(Box<PExpr>),
    /// Both.
    And(Box<PExpr>, Box<PExpr>),
    /// Either.
    Or(Box<PExpr>, Box<PExpr>),
}

impl PExpr {
    /// Every term the expression reads.
    pub fn terms(&self, out: &mut Vec<TermId>) {
        match self {
            PExpr::Const(_) => {}
            PExpr::Term(t) => {
                if !out.contains(t) {
                    out.push(*t);
                }
            }
            PExpr::Not(a) => a.terms(out),
            PExpr::Cmp(_, a, b) | PExpr::Arith(_, a, b) | PExpr::And(a, b) | PExpr::Or(a, b) => {
                a.terms(out);
                b.terms(out);
            }
        }
    }
}

/// Segment or rule tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PredicateKind {
    /// `segment NAME = …`
    Segment,
    /// `tag NAME when …` (sticky)
    Tag,
}

/// A segment or tag rule, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    /// Segment or tag.
    pub kind: PredicateKind,
    /// Its name.
    pub name: String,
    /// The condition.
    pub expr: PExpr,
    /// Terms it reads.
    pub reads: Vec<TermId>,
    /// Event kinds that can change it (through its terms and references).
    pub feeds: KindSet,
    /// True when time alone can change it.
    pub time_sensitive: bool,
}

/// A scoring rule, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRule {
    /// Which events score.
    pub filter: Filter,
    /// Points per matching event (may be negative).
    pub points: i64,
    /// At most this many points per period of this many ms, periods counted from the epoch.
    pub cap: Option<(i64, i64)>,
}

/// A checked, compiled rules file.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Segments and tags in dependency order: a predicate comes after everything it reads.
    pub predicates: Vec<Predicate>,
    /// Scoring rules, in file order.
    pub scores: Vec<ScoreRule>,
    /// Deduplicated terms.
    pub terms: Vec<Term>,
    /// The rules as canonical text (see [`Plan::text`]).
    pub(crate) text: std::sync::Arc<str>,
}

impl Plan {
    /// The rules as canonical text: the statements printed back one per line, whether they
    /// were parsed from a file or built with [`RuleSet`](super::RuleSet). Compiling the text
    /// gives an equal plan; it is what a data directory stores as the rules in force.
    ///
    /// ```
    /// let plan = tropa::rules::compile("segment  vip=revenue(365d)>=1000").unwrap();
    /// assert_eq!(plan.text(), "segment vip = revenue(365d) >= 1000\n");
    /// assert_eq!(tropa::rules::compile(plan.text()).unwrap(), plan);
    /// ```
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The segments, in dependency order.
    pub fn segments(&self) -> impl Iterator<Item = &Predicate> {
        self.predicates
            .iter()
            .filter(|p| p.kind == PredicateKind::Segment)
    }

    /// The rule tags, in dependency order.
    pub fn tags(&self) -> impl Iterator<Item = &Predicate> {
        self.predicates
            .iter()
            .filter(|p| p.kind == PredicateKind::Tag)
    }

    /// Where the segment or tag `name` stands in [`Plan::predicates`].
    pub fn predicate_index(&self, kind: PredicateKind, name: &str) -> Option<usize> {
        self.predicates
            .iter()
            .position(|p| p.kind == kind && p.name == name)
    }

    /// A term by id.
    pub fn term(&self, id: TermId) -> &Term {
        &self.terms[id.0 as usize]
    }

    /// One line: `N segments, N tags, N scores, N terms`.
    pub fn summary(&self) -> String {
        format!(
            "{} segments, {} tags, {} scores, {} terms",
            self.segments().count(),
            self.tags().count(),
            self.scores.len(),
            self.terms.len()
        )
    }
}

impl fmt::Display for Plan {
    /// The plan summary, then one line per term and per predicate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary())?;
        for (i, t) in self.terms.iter().enumerate() {
            writeln!(
                f,
                "term {i}: {} | fed by {} | {}{}",
                t.kind,
                t.feeds,
                t.need,
                if t.time_sensitive { " | time" } else { "" }
            )?;
        }
        for p in &self.predicates {
            let kind = match p.kind {
                PredicateKind::Segment => "segment",
                PredicateKind::Tag => "tag",
            };
            let reads: Vec<String> = p.reads.iter().map(|t| t.0.to_string()).collect();
            writeln!(
                f,
                "{kind} {}: reads terms {}{}",
                p.name,
                reads.join(","),
                if p.time_sensitive { " | time" } else { "" }
            )?;
        }
        for s in &self.scores {
            write!(f, "score {} => {}", s.filter, s.points)?;
            if let Some((n, per)) = s.cap {
                write!(f, " cap {n} per {}", duration(per))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
