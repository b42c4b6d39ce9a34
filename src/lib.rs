//! # tropa
//!
//! An embedded, real-time customer-data engine. It takes every touchpoint of a shop's customers
//! as it happens — web, app, e-mail, SMS, push, in-store beacons, point of sale — works out who
//! the person is across cookies, devices and e-mail addresses, and keeps a live profile per
//! contact: first and last seen, per-channel and per-brand activity, purchases and revenue,
//! cart, consents, attributes, manual tags, lifecycle stage and a timeline of recent events.
//!
//! ```
//! use tropa::{Engine, Event, IdType, Money, Payload};
//!
//! let engine = Engine::builder().build()?;
//! let buy = Event::new(1_772_359_200_000, Payload::Purchase {
//!         order: "o-1".into(),
//!         amount: Money::from_f64(120.0).unwrap(),
//!         currency: Some("PLN".into()),
//!         items: vec![],
//!     })
//!     .with_id(IdType::Email, "ana@example.com")?
//!     .with_brand("shop-a");
//! engine.ingest(buy)?;
//! engine.flush();
//! let ana = tropa::Identifier::new(IdType::Email, "ana@example.com")?;
//! assert_eq!(engine.profile(&ana).unwrap().revenue, 120.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Layout
//!
//! Data flows one way through the modules: [`event`] (the wire model and JSON decoding) →
//! `identity` (identifier → contact, merges) → `state` (one contact's profile and its exact
//! merge) → [`engine`] (clock, de-duplication, shards, ingest, queries). [`rules`] compiles
//! the rules language into a plan of terms and predicates; it depends only on [`event`].
//! `codec` turns values into bytes (the one place bincode is used); [`persist`] keeps the
//! write-ahead log of a data directory on top of it. `persist` sits *below* `engine` (the
//! engine appends to the log on its ingest path; `engine::durable` drives recovery), not above
//! it as a layer list might suggest: that keeps every dependency one-way. The [`sim`] module
//! generates realistic streams for examples, tests and benchmarks; the `tropa` binary is the
//! command line.
//!
//! ## Durability
//!
//! [`EngineBuilder::build`] makes an in-memory engine; [`EngineBuilder::open`] opens one on a
//! data directory, replays its write-ahead log and logs from then on, in the
//! [`Durability`] mode chosen (default `Sync`: an ingest returns after `fdatasync`, and
//! concurrent ingests share one). With a log, admission (de-duplication, lateness, the clock)
//! is decided under the log's order lock, so the log order is the order of those decisions
//! and replay repeats them exactly; an engine without a data directory takes no such lock.
//! Rules put in force are logged as their canonical text ([`rules::Plan::text`]). A failed
//! write or sync stops the engine from taking more ([`IngestError::Storage`]).
//! [`Engine::snapshot`] writes the whole state to one file while ingest goes on (held back
//! only while the state is encoded) and removes the log behind it; recovery loads the newest
//! snapshot and replays the log after it. An erased person leaves the disk with the next
//! snapshot: calling it after an erasure is what forces that (see [`persist`]).
//! [`Engine::export`] gives everything held about one contact as JSON (right of access).
//!
//! ## Choices where the contract is silent
//!
//! * **Which events count as activity.** Every accepted event except `erase` moves first/last
//!   seen, the per-channel last-seen time, the per-brand last-seen time (for a non-empty
//!   brand) and the event count, including `identify`, `consent`, `attribute` and `tag`.
//! * **Money** is fixed-point (millionths), so revenue is exact and independent of the order
//!   in which amounts are added; `currency` is kept on the event but amounts of different
//!   currencies are not converted.
//! * **Strings in events** are [`Text`]: the size of a `Box<str>`, with strings of up to 15
//!   bytes (customer numbers, brands, product ids, categories, zones) held inline, so that
//!   building and dropping a typed event mostly allocates nothing. Build one with `.into()`
//!   from a `&str` or a `String`; read it as a `&str`.
//! * **Durations** on the wire are seconds (fractions allowed) and are kept in milliseconds.
//! * **Identifiers**: one per type per event (the JSON object form allows no more; typed events
//!   are held to the same rule). Values are trimmed; e-mails are also lower-cased. Numbers are
//!   accepted as identifier values and kept as their decimal text. Values longer than 256 bytes
//!   are refused.
//! * **A new identifier that would break a one-per-contact limit** of the single contact the
//!   other identifiers lead to is treated like a merge conflict: the event goes to the owner of
//!   its highest-priority identifier, or to a new contact.
//! * **De-duplication**: event ids are remembered for a window of event time (default 24 h,
//!   never shorter than the lateness bound), checked before lateness so that retrying an old,
//!   accepted event is acknowledged as a duplicate rather than refused as late. `erase` events
//!   are not remembered (repeating one is harmless). Memory: about `2 × id length + 80` bytes
//!   per remembered id.
//! * **Tag events**: a tag in both `add` and `remove` of one event is refused; manual tags are
//!   last-writer-wins per tag by event time.
//! * **Attributes** accept strings, numbers and booleans; `null` deletes. Custom-event `props`
//!   accept the same scalars (a `null` prop is dropped); nested objects and lists are refused
//!   with the field's path.
//! * **Cart**: removing more than the line holds drops the line; a `cart_remove` price is
//!   ignored; an unpriced line counts 0 towards `cart_value`.
//! * **Timeline**: the latest 10 events by default ([`EngineBuilder::timeline_len`]), by time
//!   and arrival. Each entry keeps time, channel, brand and every field of the payload, packed
//!   (about 72 bytes, more for long texts such as URLs); identifiers and event ids are not
//!   kept. It is what a rule loaded later is backfilled from.
//! * **Lifecycle stage** is computed at engine time when a profile is read; before any event,
//!   engine time counts as 0.
//!
//! ## Choices in rule evaluation
//!
//! * **When time is fired.** Each shard fires its timers due before the engine time an
//!   operation was accepted at, before applying it (up to and including it for a late event,
//!   whose instant had already passed when it arrived). [`Engine::flush`] and
//!   [`Engine::advance_to`] fire every timer due by engine time, so queries after them see
//!   memberships exactly as of `now`.
//! * **A new contact** is evaluated on every predicate at its first event: a predicate can hold
//!   from the start (`count(page_view) == 0`).
//! * **Merges.** The absorbed contact leaves its segments (`exit`, reason `merged`); the
//!   survivor gets a `merged` signal, unites sticky tags (a tag it holds only thanks to the
//!   absorbed contact gives a `tagged` signal), then the merging event is applied and the
//!   survivor evaluated once.
//! * **Sums** add fields in exact millionths (money and durations convert without rounding);
//!   an event without the field adds nothing. Division by zero gives null, and comparisons
//!   with null are false.
//! * **Scores** with a cap keep one count per period for ever (a merge can bring old events
//!   into a period), and the matching events of the last `score_gain` window.
//! * **Signals** go to subscribers through bounded channels; a full channel makes the shard
//!   wait (backpressure), never drops. With no subscriber, signals are only counted.
//!
//! ## Changing rules
//!
//! [`Engine::load_rules`] replaces the plan while the engine runs, at one engine instant
//! `now`. What a contact keeps, and what it starts again:
//!
//! * **Terms** (`count`, `sum`, `since`, windowed `purchases` and `revenue`) keep their state
//!   when the old plan had the same term with the same state need (the need shrinks or grows
//!   with the constants it is compared with, see [`rules::StateNeed`]). A term new to the plan
//!   is rebuilt from the events the contact's timeline still holds: with the default timeline
//!   of 10 events, `count(product_view, 30d)` loaded later sees at most the latest 10 events.
//!   A new windowed count compared only with numbers also starts from what each kept count of
//!   the same events holds at `now` (its latest `k` inside its window): such counts share one
//!   state (see `eval`), so `count(product_view, 30d) >= 3` loaded beside a kept
//!   `count(product_view, 7d) >= 5` sees the week's latest five as well as the timeline.
//!   Everything the profile keeps for ever (all-time `purchases()`, cart, consents,
//!   attributes, stage, brands, manual tags) is exact whenever a rule is loaded.
//! * **Score rules** keep their state when the old plan had the same rule (events, points,
//!   cap) and a `score_gain` horizon at least as long; otherwise, since the events inside the
//!   longer window were not kept, the rule is rebuilt from the timeline too.
//! * **Segments and tags** keep their memberships by kind and name, and every contact is then
//!   evaluated in full under the new plan: a redefined segment's members leave (reason
//!   `predicate`) or new ones enter at `now`, never retroactively. A new tag rule tags at `now`
//!   the contacts whose condition holds then; sticky tags of a kept tag rule stay.
//! * **Removed segments**: members leave with reason `rule_removed`. A removed tag rule's tags
//!   disappear without a signal (there is no untag signal). Their states and bitmaps are freed.
//!
//! The reference model in the tests states exactly this (each event carries the keys of the
//! terms and score rules loaded after it had left the timeline) and the engine is checked
//! against it on random streams with random rule changes.

#![warn(unreachable_pub, missing_docs)]

mod codec;
pub mod engine;
mod eval;
pub mod event;
mod grow;
mod identity;
mod intern;
pub mod persist;
mod prefetch;
pub mod rules;
pub mod sim;
mod state;
pub mod text;

#[doc(hidden)]
pub use engine::fuzzing;
pub use engine::{
    AudienceError, ConfigError, ContactExport, Engine, EngineBuilder, ExitReason, Explanation,
    IngestError, IngestLineError, Ingested, JsonlReport, Members, MemoryReport, OpenError,
    RulesLoaded, Signal, SignalKind, Stats,
};
pub use event::{
    decode_line, decode_value, encode_value, Channel, Event, EventError, EventErrorKind, IdError,
    IdType, Identifier, Item, Kind, Money, Payload, Ts, Value,
};
pub use identity::{ContactId, IdLimits};
pub use persist::{Durability, Recovery, SnapshotInfo, StoreError};
pub use state::{BrandView, CartLineView, Profile, Stage, TimelineView};
pub use text::Text;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
