//! The engine with rules against the reference model: random rule sets drawn from the whole
//! language, random streams with merges, conflicts, duplicates, late events, erasures and time
//! jumps. After every step: every profile (score, tags, segments included) and, per contact,
//! the sequence of signals must be the model's.

mod common;

use common::gen::{steps, Step};
use common::model::MSignal;
use common::rules::rules;
use proptest::prelude::*;
use std::collections::BTreeMap;
use tropa::Signal;

fn by_contact(signals: Vec<MSignal>) -> BTreeMap<String, Vec<(i64, String, String)>> {
    let mut m: BTreeMap<String, Vec<(i64, String, String)>> = BTreeMap::new();
    for (c, k, n, at) in signals {
        m.entry(c).or_default().push((at, k, n));
    }
    for v in m.values_mut() {
        assert!(
            v.windows(2).all(|w| w[0].0 <= w[1].0),
            "signals out of time order: {v:?}"
        );
        v.sort();
    }
    m
}

fn engine_signal(s: Signal) -> MSignal {
    let (k, n) = common::describe(s.kind);
    (s.contact, k, n, s.at)
}

fn compile(text: &str) -> tropa::rules::Plan {
    tropa::rules::compile(text).unwrap_or_else(|e| panic!("{text}\n{e}"))
}

fn run(rules_text: &str, stream: &[Step]) -> Result<(), TestCaseError> {
    run_with_reloads(rules_text, stream, &[])
}

/// Runs `stream`, loading the rules of `reloads[k].1` into both before step `reloads[k].0`.
fn run_with_reloads(
    rules_text: &str,
    stream: &[Step],
    reloads: &[(usize, String)],
) -> Result<(), TestCaseError> {
    let (engine, mut model) = common::engine_and_model(Some(compile(rules_text)));
    let rx = engine.subscribe(1 << 20);
    let mut got_signals = Vec::new();
    let mut rules_text = rules_text.to_string();
    for (i, step) in stream.iter().enumerate() {
        for (_, text) in reloads.iter().filter(|(at, _)| *at == i) {
            engine.load_rules(compile(text));
            model.load_rules(compile(text));
            rules_text = format!("{rules_text}--- reloaded before step {i} ---\n{text}");
        }
        match step {
            Step::Ingest(e) => {
                model.ingest(e);
                let _ = engine.ingest((**e).clone());
            }
            Step::AdvanceTo(t) => {
                engine.advance_to(*t);
                model.advance_to(*t);
            }
        }
        engine.flush();
        model.flush();
        got_signals.extend(rx.try_iter().map(engine_signal));
        let got = engine.profiles();
        let want = model.profiles();
        prop_assert_eq!(got.len(), want.len(), "contacts after step {}", i);
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(g, w, "after step {}\nrules:\n{}", i, &rules_text);
        }
        let (g, w) = (
            by_contact(got_signals.clone()),
            by_contact(model.signals.clone()),
        );
        prop_assert_eq!(g, w, "signals after step {}\nrules:\n{}", i, &rules_text);
    }
    Ok(())
}

/// The statement defining each name (`s0`, `rtag`, …) and the score lines of a rules text.
fn statements(text: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let mut named = BTreeMap::new();
    let mut scores = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first() {
            Some(&"score") => scores.push(line.to_string()),
            Some(_) => {
                named.insert(words[1].to_string(), line.to_string());
            }
            None => {}
        }
    }
    (named, scores)
}

/// New rules for a running engine, from the old rules `a` and other rules `b`: `b` itself,
/// a mix of both (shared terms, redefined and dropped segments), `a` again, or nothing.
fn next_rules(a: &str, b: &str, how: u8, pick: &[bool]) -> String {
    match how {
        0 => b.to_string(),
        1 => {
            let (na, sa) = statements(a);
            let (nb, sb) = statements(b);
            let mut names: Vec<&String> = na.keys().chain(nb.keys()).collect();
            names.sort();
            names.dedup();
            let mut out = String::new();
            // Keep s0 so that the segments reading it still compile.
            for (k, name) in names.into_iter().enumerate() {
                let choice = pick.get(k).copied().unwrap_or(true);
                let line = match (na.get(name), nb.get(name)) {
                    (Some(x), Some(y)) => Some(if choice { x } else { y }),
                    (Some(x), None) | (None, Some(x)) => (choice || name == "s0").then_some(x),
                    (None, None) => None,
                };
                if let Some(line) = line {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            for (k, line) in sa.iter().chain(&sb).enumerate() {
                if pick.get(k + 4).copied().unwrap_or(false) {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            out
        }
        2 => a.to_string(),
        _ => String::new(),
    }
}

/// Rule sets of windowed counts of a few filters compared with numbers (and `purchases` over
/// windows): the engine keeps one state for all the counts of one filter.
fn shared_counts() -> impl Strategy<Value = String> {
    let filter = prop::sample::select(vec![
        "page_view",
        "purchase",
        "product_view where discount >= 0.5",
    ]);
    let window = prop::sample::select(vec!["30m", "2h", "1d", "90m"]);
    let op = prop::sample::select(vec![">=", ">", "<", "<=", "==", "!="]);
    prop::collection::vec((filter, window, op, 0..8u8, any::<bool>()), 2..7).prop_map(|atoms| {
        let mut text = String::new();
        for (i, (f, w, o, n, purchases)) in atoms.into_iter().enumerate() {
            let n = if n % 2 == 0 {
                (n / 2).to_string()
            } else {
                format!("{}.5", n / 2)
            };
            let term = if purchases && f == "purchase" {
                format!("purchases({w})")
            } else {
                format!("count({f}, {w})")
            };
            text.push_str(&format!("segment c{i} = {term} {o} {n}\n"));
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::settings::cases(150), ..ProptestConfig::default() })]

    #[test]
    fn shared_counts_equal_model(rules_text in shared_counts(), stream in steps(50)) {
        run(&rules_text, &stream)?;
    }

    /// Counts sharing a state replaced by others over the same filters: what is carried is
    /// put back together by slot, what is new comes from the timeline.
    #[test]
    fn shared_counts_replaced_equal_model(
        a in shared_counts(),
        b in shared_counts(),
        stream in steps(40),
        at in 0..40usize,
    ) {
        run_with_reloads(&a, &stream, &[(at, b)])?;
    }

    #[test]
    fn engine_with_rules_equals_model(rules_text in rules(), stream in steps(50)) {
        run(&rules_text, &stream)?;
    }

    /// Rules replaced while the engine runs: carried state, backfill from the timeline,
    /// `rule_removed` exits and fresh evaluations agree with the model.
    #[test]
    fn rules_replaced_while_running_equal_model(
        a in rules(),
        b in rules(),
        stream in steps(40),
        changes in prop::collection::vec((0..40usize, 0..4u8, prop::collection::vec(any::<bool>(), 12)), 1..3),
    ) {
        let mut current = a.clone();
        let mut reloads = Vec::new();
        let mut changes = changes;
        changes.sort_by_key(|c| c.0);
        for (at, how, pick) in changes {
            let next = next_rules(&current, &b, how, &pick);
            if tropa::rules::compile(&next).is_err() {
                continue; // a mix that reads a segment it dropped
            }
            reloads.push((at, next.clone()));
            current = next;
        }
        run_with_reloads(&a, &stream, &reloads)?;
    }
}
