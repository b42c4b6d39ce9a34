//! Bad input is refused with a message that names line, field and reason; the state is
//! unchanged by it and the rest of the stream goes on.

use tropa::{Engine, Event, IdType, IngestError, Money, Payload};

const GOOD_1: &str = r#"{"id":"g1","ts":"2026-03-01T10:00:00Z","ids":{"cookie":"c-1"},"brand":"shop-a","channel":"web","type":"cart_add","product":"p-1","price":10,"qty":2}"#;
const GOOD_2: &str = r#"{"id":"g2","ts":"2026-03-01T12:00:00Z","ids":{"cookie":"c-1","email":"a@x.com"},"brand":"shop-a","channel":"web","type":"purchase","order":"o-1","amount":20}"#;

/// (bad line, expected message after "line N: ")
const BAD: &[(&str, &str)] = &[
    (r#"{"ts":"#, "not valid JSON"),
    (r#""just a string""#, "an event must be a JSON object"),
    (
        r#"{"ts":"2026-03-01T11:00:00Z","ids":{"cookie":"c-1"},"type":"purchase","amount":5}"#,
        "field `order`: required but missing",
    ),
    (
        r#"{"ts":"2026-03-01T11:00:00Z","ids":{"cookie":"c-1"},"type":"purchase","order":"o-2","amount":"5"}"#,
        "field `amount`: expected a number",
    ),
    (
        r#"{"ts":"2026-03-01T11:00:00Z","ids":{"cookie":"c-1"},"type":"refund","order":"o-2","amount":-5}"#,
        "field `amount`: must be zero or more",
    ),
    (
        r#"{"ts":"2026-03-01T11:00:00Z","ids":{"cookie":"c-1"},"type":"product_view","product":"p","price":-1}"#,
        "field `price`: must be zero or more",
    ),
    (
        r#"{"ts":"2026-03-01T11:00:00Z","ids":{"cookie":"c-1"},"type":"app_session","duration":-1}"#,
        "field `duration`: must be zero or more seconds",
    ),
    (
        r#"{"ts":"2026-03-01T11:00:00Z","ids":{"cookie":"c-1"},"type":"product_view","product":"p","discount":2}"#,
        "field `discount`: must be between 0 and 1",
    ),
    (
        r#"{"ts":"2026-03-01T11:00:00Z","ids":{"cookie":"c-1"},"type":"cart_add","product":"p","qty":0.5}"#,
        "field `qty`: must be a whole number of at least 1",
    ),
    (
        r#"{"ts":"2026-03-01T11:00:00Z","ids":{"cookie":"c-1"},"type":"levitate"}"#,
        "field `type`: unknown event type \"levitate\"",
    ),
    (
        r#"{"ts":"2026-03-01T11:00:00Z","ids":{"cookie":"c-1"},"type":"page_view","channel":"pigeon"}"#,
        "field `channel`: unknown channel \"pigeon\"",
    ),
    (
        r#"{"ts":"2026-03-01T11:00:00Z","ids":{},"type":"page_view"}"#,
        "field `ids`: at least one identifier is required",
    ),
    (
        r#"{"ts":"2026-03-01T11:00:00Z","type":"page_view"}"#,
        "field `ids`: required but missing",
    ),
    (
        r#"{"ts":"2026-03-01T11:00:00Z","ids":{"cookie":"c-1"},"type":"consent","topic":"email","granted":1}"#,
        "field `granted`: expected true or false",
    ),
    (
        r#"{"ts":"March 1st","ids":{"cookie":"c-1"},"type":"page_view"}"#,
        "field `ts`: not an RFC 3339 time",
    ),
    // Late: engine time is 12:00 after GOOD_2, lateness 1 h.
    (
        r#"{"ts":"2026-03-01T10:59:59.999Z","ids":{"cookie":"c-1"},"type":"page_view"}"#,
        "field `ts`: event is late: 2026-03-01T10:59:59.999Z is more than 3600000 ms before engine time 2026-03-01T12:00:00.000Z",
    ),
];

#[test]
fn each_bad_line_is_reported_and_changes_nothing() {
    let engine = Engine::builder().build().unwrap();
    let report = engine
        .ingest_jsonl(format!("{GOOD_1}\n{GOOD_2}\n").as_bytes())
        .unwrap();
    assert_eq!(report.accepted, 2);
    engine.flush();
    let before = engine.profiles();
    let stats_before = engine.stats();
    let now_before = engine.now();

    let mut input = String::new();
    for (bad, _) in BAD {
        input.push_str(bad);
        input.push('\n');
    }
    input.push_str(GOOD_1); // a duplicate: acknowledged, no effect
    input.push('\n');
    let report = engine.ingest_jsonl(input.as_bytes()).unwrap();
    engine.flush();
    assert_eq!(report.read, BAD.len() as u64 + 1);
    assert_eq!(report.rejected_total(), BAD.len() as u64);
    assert_eq!(report.duplicates, 1);
    for (i, (line, want)) in BAD.iter().enumerate() {
        let got = report.errors[i].to_string();
        let want = format!("line {}: {want}", i + 1);
        assert!(got.starts_with(&want), "{line}\n got: {got}\nwant: {want}");
    }
    assert_eq!(engine.profiles(), before, "profiles unchanged");
    assert_eq!(engine.now(), now_before, "clock unchanged");
    assert_eq!(engine.stats().accepted, stats_before.accepted);
    assert_eq!(engine.stats().late, 1);

    // The stream goes on after the rejects.
    let next = r#"{"ts":"2026-03-01T12:30:00Z","ids":{"email":"A@X.com"},"type":"page_view"}"#;
    let report = engine
        .ingest_jsonl(format!("{}\n{next}\n", BAD[0].0).as_bytes())
        .unwrap();
    assert_eq!((report.accepted, report.rejected_total()), (1, 1));
}

#[test]
fn typed_events_obey_the_same_rules() {
    let engine = Engine::builder().build().unwrap();
    let no_ids = Event::new(0, Payload::Identify);
    let err = engine.ingest(no_ids).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field `ids`: at least one identifier is required"
    );
    let negative = Event::new(
        0,
        Payload::Refund {
            order: "o".into(),
            amount: Money(-1),
        },
    )
    .with_id(IdType::Cookie, "c")
    .unwrap();
    assert!(matches!(
        engine.ingest(negative),
        Err(IngestError::Invalid(_))
    ));
    let twice = Event::new(0, Payload::Identify)
        .with_id(IdType::Cookie, "a")
        .unwrap()
        .with_id(IdType::Cookie, "b")
        .unwrap();
    assert_eq!(
        engine.ingest(twice).unwrap_err().to_string(),
        "field `ids`: more than one identifier of type \"cookie\""
    );
    assert_eq!(engine.contact_count(), 0);
    assert_eq!(engine.now(), None);
    assert_eq!(engine.stats().invalid, 3);
}

/// A batch into a kept vector reports what `ingest_batch` reports, event by event, bad ones
/// included, and leaves nothing of the previous batch in the vector.
#[test]
fn batches_into_a_kept_vector_report_each_event() {
    let batch = || {
        vec![
            Event::new(10, Payload::AppOpen)
                .with_id(IdType::Cookie, "a")
                .unwrap()
                .with_event_id("e1"),
            Event::new(11, Payload::Identify),
            Event::new(12, Payload::AppOpen)
                .with_id(IdType::Cookie, "a")
                .unwrap()
                .with_event_id("e1"),
            Event::new(13, Payload::AppOpen)
                .with_id(IdType::Cookie, "b")
                .unwrap(),
        ]
    };
    let one = Engine::builder().build().unwrap();
    let other = Engine::builder().build().unwrap();
    let mut kept = vec![one.ingest(
        Event::new(1, Payload::AppOpen)
            .with_id(IdType::Cookie, "z")
            .unwrap(),
    )];
    other
        .ingest(
            Event::new(1, Payload::AppOpen)
                .with_id(IdType::Cookie, "z")
                .unwrap(),
        )
        .unwrap();
    let mut events = batch();
    one.ingest_batch_into(&mut events, &mut kept);
    assert!(events.is_empty(), "the batch's events are taken");
    let fresh = other.ingest_batch(batch());
    assert_eq!(kept.len(), 4);
    assert_eq!(format!("{kept:?}"), format!("{fresh:?}"));
    assert!(kept[0].is_ok() && kept[1].is_err() && kept[3].is_ok());
    assert_eq!(kept[2], Ok(tropa::Ingested::Duplicate));
    assert_eq!(one.memberships(), other.memberships());
    assert_eq!(one.contact_count(), 3);
}

#[test]
fn unusable_settings_are_refused() {
    let e = Engine::builder().shards(0).build().err().unwrap();
    assert_eq!(e.to_string(), "shards must be at least 1");
    let e = Engine::builder()
        .lateness_ms(10)
        .dedup_window_ms(5)
        .build()
        .err()
        .unwrap();
    assert!(e.to_string().contains("dedup window (5 ms)"));
    let e = Engine::builder().lateness_ms(-1).build().err().unwrap();
    assert_eq!(e.to_string(), "lateness must not be negative");
}
