//! Rules loaded, replaced and removed while the engine runs, on hand-written streams.

mod common;

use tropa::{decode_line, rules, Engine, Identifier, Signal};

const H: i64 = 3_600_000;
const D: i64 = 24 * H;
const T0: i64 = 1_772_323_200_000; // 2026-03-01T00:00:00Z

fn engine(
    timeline: usize,
    rules_text: Option<&str>,
) -> (Engine, crossbeam::channel::Receiver<Signal>) {
    let mut b = Engine::builder()
        .shards(3)
        .lateness_ms(6 * H)
        .timeline_len(timeline);
    if let Some(text) = rules_text {
        b = b.rules(rules::compile(text).unwrap());
    }
    let engine = b.build().unwrap();
    let rx = engine.subscribe(100_000);
    (engine, rx)
}

fn ev(engine: &Engine, at: i64, who: &str, rest: &str) {
    let line = format!(r#"{{"ts":{},"ids":{{"cookie":"{who}"}},{rest}}}"#, T0 + at);
    engine.ingest(decode_line(&line).unwrap()).unwrap();
}

fn load(engine: &Engine, text: &str) -> tropa::RulesLoaded {
    engine.load_rules(rules::compile(text).unwrap())
}

/// (contact, kind, name, at relative to T0)
fn signals(rx: &crossbeam::channel::Receiver<Signal>) -> Vec<(String, String, String, i64)> {
    let mut v: Vec<_> = rx
        .try_iter()
        .map(|s| {
            let (kind, name) = common::describe(s.kind);
            (s.contact, kind, name, s.at - T0)
        })
        .collect();
    v.sort();
    v
}

fn score(engine: &Engine, who: &str) -> i64 {
    let id = Identifier::parse_pair(&format!("cookie:{who}")).unwrap();
    engine.profile(&id).unwrap().score
}

fn s(c: &str, kind: &str, name: &str, at: i64) -> (String, String, String, i64) {
    (format!("cookie:{c}"), kind.into(), name.into(), at)
}

#[test]
fn a_new_rule_sees_the_history_the_timeline_keeps() {
    let (engine, rx) = engine(3, None);
    // Ana: five product views with a discount, one hour apart. The timeline keeps the last 3.
    for i in 0..5 {
        ev(
            &engine,
            i * H,
            "ana",
            r#""type":"product_view","product":"p","discount":0.5"#,
        );
    }
    // Ben: two, then a page view.
    ev(
        &engine,
        0,
        "ben",
        r#""type":"product_view","product":"p","discount":0.5"#,
    );
    ev(
        &engine,
        H,
        "ben",
        r#""type":"product_view","product":"p","discount":0.1"#,
    );
    ev(&engine, 4 * H, "ben", r#""type":"page_view""#);
    let loaded = load(
        &engine,
        "segment deal_seekers = count(product_view where discount >= 0.3, 7d) >= 3\n\
         tag hunter when count(product_view where discount >= 0.3) >= 2",
    );
    assert_eq!(loaded.added, ["deal_seekers", "tag:hunter"]);
    assert_eq!(loaded.contacts, 2);
    assert_eq!(loaded.rebuilt, 2);
    // Ana's three kept views count (her first two are beyond the timeline); Ben has one.
    assert_eq!(
        signals(&rx),
        [
            s("ana", "enter", "deal_seekers", 4 * H),
            s("ana", "tagged", "hunter", 4 * H),
        ]
    );
    // The new rules go on incrementally, and time moves contacts out as their views age.
    ev(
        &engine,
        5 * H,
        "ben",
        r#""type":"product_view","product":"p","discount":0.9"#,
    );
    ev(
        &engine,
        6 * H,
        "ben",
        r#""type":"product_view","product":"p","discount":0.9"#,
    );
    engine.advance_to(T0 + 7 * D + 3 * H);
    engine.flush();
    assert_eq!(
        signals(&rx),
        [
            s("ana", "exit:predicate", "deal_seekers", 7 * D + 2 * H),
            s("ben", "enter", "deal_seekers", 6 * H),
            // His view at 0 was in the timeline and counted: it leaves the window at 7 days.
            s("ben", "exit:predicate", "deal_seekers", 7 * D),
            s("ben", "tagged", "hunter", 5 * H),
        ]
    );
}

#[test]
fn replacing_rules_keeps_what_is_shared_and_removes_the_rest() {
    let (engine, rx) = engine(
        2,
        Some(
            "segment buyers = count(purchase) >= 1\n\
             segment browsers = count(page_view) >= 3\n\
             score page_view => 1",
        ),
    );
    for i in 0..4 {
        ev(&engine, i * H, "cy", r#""type":"page_view""#);
    }
    ev(
        &engine,
        5 * H,
        "cy",
        r#""type":"purchase","order":"o-1","amount":10"#,
    );
    engine.flush();
    let before = signals(&rx);
    assert_eq!(
        before,
        [
            s("cy", "enter", "browsers", 2 * H),
            s("cy", "enter", "buyers", 5 * H)
        ]
    );
    assert_eq!(score(&engine, "cy"), 4);
    let bitmaps_before = engine.memory().state_bytes;
    // `buyers` stays as it was (its counter carried, all four views still count for the
    // carried score rule); `browsers` goes; `big` is new.
    let loaded = load(
        &engine,
        "segment buyers = count(purchase) >= 1\n\
         segment big = revenue() >= 10\n\
         score page_view => 1",
    );
    assert_eq!(loaded.kept, ["buyers"]);
    assert_eq!(loaded.added, ["big"]);
    assert_eq!(loaded.removed, ["browsers"]);
    assert_eq!(loaded.rebuilt, 1);
    assert_eq!(
        signals(&rx),
        [
            s("cy", "enter", "big", 5 * H),
            s("cy", "exit:rule_removed", "browsers", 5 * H)
        ]
    );
    assert_eq!(engine.segment_size("browsers"), None);
    assert_eq!(engine.segment_size("buyers"), Some(1));
    assert_eq!(score(&engine, "cy"), 4);
    assert!(engine.memory().state_bytes <= bitmaps_before);
    let id = Identifier::parse_pair("cookie:cy").unwrap();
    assert_eq!(engine.profile(&id).unwrap().segments, ["big", "buyers"]);
    // The same rules again change nothing and say nothing.
    let again = load(
        &engine,
        "segment buyers = count(purchase) >= 1\n\
         segment big = revenue() >= 10\n\
         score page_view => 1",
    );
    assert_eq!(again.rebuilt, 0);
    assert!(signals(&rx).is_empty());
    // An empty plan removes everything.
    let none = load(&engine, "");
    assert_eq!(none.removed, ["big", "buyers"]);
    assert_eq!(
        signals(&rx),
        [
            s("cy", "exit:rule_removed", "big", 5 * H),
            s("cy", "exit:rule_removed", "buyers", 5 * H)
        ]
    );
    assert_eq!(engine.segment_names(), Vec::<String>::new());
    assert_eq!(score(&engine, "cy"), 0);
}

#[test]
fn a_redefined_segment_keeps_its_members_until_the_new_condition_says_otherwise() {
    let (engine, rx) = engine(10, Some("segment active = count(page_view, 7d) >= 1"));
    ev(&engine, 0, "di", r#""type":"page_view""#);
    ev(&engine, 0, "ed", r#""type":"page_view""#);
    ev(&engine, H, "ed", r#""type":"page_view""#);
    engine.flush();
    signals(&rx);
    load(&engine, "segment active = count(page_view, 7d) >= 2");
    assert_eq!(signals(&rx), [s("di", "exit:predicate", "active", H)]);
    // The new window's timers run: Ed leaves when his first view is 7 days old.
    engine.advance_to(T0 + 8 * D);
    engine.flush();
    assert_eq!(signals(&rx), [s("ed", "exit:predicate", "active", 7 * D)]);
}

#[test]
fn a_longer_score_gain_window_rebuilds_scores_from_the_timeline() {
    let (engine, _rx) = engine(2, Some("score email_click => 5"));
    for i in 0..4 {
        ev(&engine, i * H, "fi", r#""type":"email_click""#);
    }
    engine.flush();
    assert_eq!(score(&engine, "fi"), 20);
    // The same score rule, but now `score_gain(1d)` needs the clicks of the last day, which
    // the old state did not keep: the rule is rebuilt from the two clicks the timeline holds.
    let loaded = load(
        &engine,
        "score email_click => 5\nsegment warm = score_gain(1d) >= 10",
    );
    assert_eq!(loaded.rebuilt, 1);
    assert_eq!(score(&engine, "fi"), 10);
    assert_eq!(engine.segment_size("warm"), Some(1));
}

#[test]
fn rules_change_while_threads_ingest() {
    let (engine, _rx) = engine(4, Some("segment a = count(page_view) >= 2"));
    std::thread::scope(|scope| {
        for t in 0..3 {
            let engine = &engine;
            scope.spawn(move || {
                for i in 0..3000i64 {
                    let who = format!("t{t}-{}", i % 50);
                    ev(engine, i, &who, r#""type":"page_view""#);
                }
            });
        }
        let engine = &engine;
        scope.spawn(move || {
            for k in 0..20 {
                let text = if k % 2 == 0 {
                    "segment a = count(page_view) >= 2\nsegment b = count(page_view, 1h) >= 5"
                } else {
                    "segment b = count(page_view) >= 1"
                };
                let loaded = load(engine, text);
                // Only this thread changes rules, so every segment just loaded answers every
                // query, whatever the ingesting threads are doing.
                let loaded_segments = loaded.kept.iter().chain(&loaded.added);
                let loaded_segments = loaded_segments.filter(|l| !l.starts_with("tag:")).count();
                assert_eq!(engine.segment_names().len(), loaded_segments);
                for name in engine.segment_names() {
                    let size = engine.segment_size(&name).expect("a loaded segment");
                    let listed = engine.members(&name).expect("a loaded segment").count() as u64;
                    assert!(size <= 150 && listed <= 150, "{name}: {size}, {listed}");
                }
            }
        });
    });
    engine.flush();
    // After the last change (`b = count(page_view) >= 1`), every contact is in `b`.
    assert_eq!(engine.segment_names(), ["b"]);
    assert_eq!(engine.segment_size("b"), Some(150));
}
