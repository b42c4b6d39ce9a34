//! Events that arrive at the very instant a segment changes by time alone: the event and the
//! instant are one evaluation, and the segment must end where the stream puts it.

mod common;

use tropa::{decode_line, Engine, Signal};

const M: i64 = 60_000;
const H: i64 = 60 * M;
const T0: i64 = 1_772_323_200_000; // 2026-03-01T00:00:00Z

fn engine(rules: &str) -> (Engine, crossbeam::channel::Receiver<Signal>) {
    let engine = Engine::builder()
        .shards(2)
        .rules(tropa::rules::compile(rules).unwrap())
        .build()
        .unwrap();
    let rx = engine.subscribe(1_000);
    (engine, rx)
}

fn view(engine: &Engine, at: i64) {
    let line = format!(
        r#"{{"ts":{},"ids":{{"cookie":"c-1"}},"type":"page_view"}}"#,
        T0 + at
    );
    engine.ingest(decode_line(&line).unwrap()).unwrap();
}

/// (kind, name, at relative to T0).
fn signals(rx: &crossbeam::channel::Receiver<Signal>) -> Vec<(String, String, i64)> {
    common::signals(rx, T0)
}

/// Two views leave the window at once, exactly when a third arrives: one evaluation at that
/// instant finds one view inside, so `>= 2` is left and `< 2` entered then.
#[test]
fn two_leaving_as_one_arrives_drops_below_the_threshold() {
    let (engine, rx) = engine(
        "segment busy = count(page_view, 1h) >= 2\nsegment calm = count(page_view, 1h) < 2\n\
         tag seen_busy when count(page_view, 1h) >= 2",
    );
    view(&engine, 0);
    view(&engine, 10 * M);
    view(&engine, 10 * M);
    view(&engine, H + 10 * M);
    engine.flush();
    assert_eq!(engine.segment_size("busy"), Some(0));
    assert_eq!(engine.segment_size("calm"), Some(1));
    assert_eq!(
        signals(&rx),
        vec![
            ("enter".into(), "calm".into(), 0),
            ("enter".into(), "busy".into(), 10 * M),
            ("exit:predicate".into(), "calm".into(), 10 * M),
            ("tagged".into(), "seen_busy".into(), 10 * M),
            ("exit:predicate".into(), "busy".into(), H + 10 * M),
            ("enter".into(), "calm".into(), H + 10 * M),
        ]
    );
}

/// The same with one view leaving and one arriving: the count stays at two, nothing moves.
#[test]
fn one_leaving_as_one_arrives_changes_nothing() {
    let (engine, rx) = engine("segment busy = count(page_view, 1h) >= 2");
    view(&engine, 0);
    view(&engine, 10 * M);
    view(&engine, H);
    engine.advance_to(T0 + H + 5 * M);
    assert_eq!(engine.segment_size("busy"), Some(1));
    assert_eq!(signals(&rx), vec![("enter".into(), "busy".into(), 10 * M)]);
    engine.advance_to(T0 + H + 10 * M);
    assert_eq!(engine.segment_size("busy"), Some(0));
}
