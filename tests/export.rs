//! Right of access: a contact's export holds its profile, its kept events in full and the
//! event ids remembered for it; events written as JSON read back to the same events.

mod common;

use common::gen::{steps, Step};
use proptest::prelude::*;
use tropa::{decode_line, decode_value, encode_value, Engine, Identifier};

fn id(s: &str) -> Identifier {
    Identifier::parse_pair(s).unwrap()
}

#[test]
fn an_export_holds_everything_about_the_person_and_nothing_after_erasure() {
    let engine = Engine::builder().shards(3).build().unwrap();
    for line in [
        r#"{"id":"a1","ts":1000,"ids":{"cookie":"c-1"},"type":"cart_add","product":"shoe","qty":2,"price":50}"#,
        r#"{"id":"a2","ts":2000,"ids":{"device":"d-1"},"type":"app_session","duration":90}"#,
        r#"{"id":"a3","ts":3000,"ids":{"device":"d-1","email":"ana@x.com"},"type":"consent","topic":"news","granted":true}"#,
        r#"{"id":"a4","ts":4000,"ids":{"cookie":"c-1","email":"ana@x.com"},"brand":"shop-a","channel":"web","type":"purchase","order":"o-77","amount":100,"items":[{"product":"shoe","qty":2,"price":50}]}"#,
        r#"{"id":"b1","ts":4500,"ids":{"cookie":"c-2"},"type":"page_view"}"#,
    ] {
        engine.ingest(decode_line(line).unwrap()).unwrap();
    }
    engine.flush();
    let export = engine.export(&id("cookie:c-1")).unwrap();
    assert_eq!(export.profile.id, "email:ana@x.com");
    assert_eq!(export.profile.purchases, 1);
    assert!(export.profile.consents["news"]);
    let kinds: Vec<&str> = export
        .events
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["cart_add", "app_session", "consent", "purchase"]);
    assert_eq!(export.events[1]["duration"], 90.0);
    assert_eq!(export.events[3]["order"], "o-77");
    assert_eq!(export.events[3]["items"][0]["product"], "shoe");
    assert!(export.events.iter().all(|e| e.get("ids").is_none()));
    // Remembered ids of every contact merged into this one; not the other person's.
    assert_eq!(export.event_ids, ["a1", "a2", "a3", "a4"]);
    let json = serde_json::to_string(&export).unwrap();
    assert!(json.contains("d-1") && !json.contains("c-2"));

    engine
        .ingest(decode_line(r#"{"ts":5000,"ids":{"email":"ana@x.com"},"type":"erase"}"#).unwrap())
        .unwrap();
    engine.flush();
    assert!(engine.export(&id("cookie:c-1")).is_none());
    assert!(engine.export(&id("cookie:c-2")).is_some());
}

proptest! {
    /// Every valid event (with at most one identifier per type, which is what the wire's
    /// `ids` object can hold) reads back from its JSON unchanged.
    #[test]
    fn events_read_back_from_their_json(stream in steps(30)) {
        for step in stream {
            let Step::Ingest(e) = step else { continue };
            let mut kinds: Vec<_> = e.ids.iter().map(|i| i.kind.clone()).collect();
            kinds.sort();
            kinds.dedup();
            if e.validate().is_err() || kinds.len() != e.ids.len() {
                continue;
            }
            let v = encode_value(&e);
            // The `ids` object keeps no order: compare identifiers as sets.
            let sorted = |mut e: tropa::Event| {
                e.ids.sort();
                e
            };
            let back = decode_value(&v).map(sorted);
            prop_assert_eq!(back, Ok(sorted(*e)), "{}", v);
        }
    }
}
