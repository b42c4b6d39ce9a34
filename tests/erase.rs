//! `erase` forgets a person everywhere: identifiers, profile, merged contacts, remembered ids.

use tropa::{Engine, Identifier, Ingested};

fn id(s: &str) -> Identifier {
    Identifier::parse_pair(s).unwrap()
}

#[test]
fn erase_forgets_the_person_and_everything_merged_into_them() {
    let engine = Engine::builder().shards(4).build().unwrap();
    let lines = [
        r#"{"id":"a1","ts":1000,"ids":{"cookie":"c-1"},"type":"cart_add","product":"p","price":5}"#,
        r#"{"id":"a2","ts":2000,"ids":{"device":"d-1"},"type":"app_open"}"#,
        r#"{"id":"a3","ts":3000,"ids":{"device":"d-1","email":"ana@x.com"},"type":"identify"}"#,
        r#"{"id":"a4","ts":4000,"ids":{"cookie":"c-1","email":"ana@x.com"},"type":"purchase","order":"o","amount":5}"#,
        r#"{"id":"b1","ts":4500,"ids":{"cookie":"c-2"},"type":"page_view"}"#,
    ];
    let report = engine.ingest_jsonl(lines.join("\n").as_bytes()).unwrap();
    assert_eq!(report.accepted, 5);
    engine.flush();
    assert_eq!(engine.contact_count(), 2);
    assert_eq!(engine.stats().merges, 1);

    let erase = tropa::decode_line(r#"{"ts":5000,"ids":{"device":"d-1"},"type":"erase"}"#).unwrap();
    assert_eq!(
        engine.ingest(erase).unwrap(),
        Ingested::Erased { contacts: 1 }
    );
    engine.flush();
    for gone in ["cookie:c-1", "device:d-1", "email:ana@x.com"] {
        assert_eq!(engine.contact_of(&id(gone)), None, "{gone}");
        assert!(engine.profile(&id(gone)).is_none(), "{gone}");
    }
    assert_eq!(engine.contact_count(), 1);
    let profiles = engine.profiles();
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0].id, "cookie:c-2");
    let text = serde_json::to_string(&profiles).unwrap();
    assert!(!text.contains("ana") && !text.contains("d-1") && !text.contains("c-1\""));

    // The person's event ids are forgotten too: a resent event is new, not a duplicate, and
    // starts a fresh contact.
    let again = tropa::decode_line(lines[0]).unwrap();
    match engine.ingest(again).unwrap() {
        Ingested::Applied { created, .. } => assert!(created),
        other => panic!("expected a new contact, got {other:?}"),
    }
    // Other people's ids are still remembered.
    let dup = tropa::decode_line(lines[4]).unwrap();
    assert_eq!(engine.ingest(dup).unwrap(), Ingested::Duplicate);
    engine.flush();
    let fresh = engine.profile(&id("cookie:c-1")).unwrap();
    assert_eq!((fresh.events, fresh.purchases, fresh.cart_items), (1, 0, 1));
}

#[test]
fn erase_of_unknown_identifiers_is_a_no_op() {
    let engine = Engine::builder().build().unwrap();
    let erase =
        tropa::decode_line(r#"{"ts":5000,"ids":{"email":"nobody@x"},"type":"erase"}"#).unwrap();
    assert_eq!(
        engine.ingest(erase).unwrap(),
        Ingested::Erased { contacts: 0 }
    );
    assert_eq!(engine.now(), Some(5000));
}

/// An event id accepted for a contact erased before its shard applied the event, then
/// accepted again for someone else, stays remembered: the late shard forgets only the entry
/// of the erased contact. Here the event merges two contacts on different shards, and the
/// erasure reaches the survivor's shard before the merge does (a batch's events are applied
/// after all of them are admitted).
#[test]
fn an_id_accepted_again_after_an_erasure_stays_remembered() {
    let engine = Engine::builder().shards(4).build().unwrap();
    for l in [
        r#"{"ts":500,"ids":{"cookie":"c-1"},"type":"app_open"}"#,
        r#"{"ts":600,"ids":{"cookie":"c-2"},"type":"app_open"}"#,
    ] {
        engine.ingest(tropa::decode_line(l).unwrap()).unwrap();
    }
    let lines = [
        r#"{"id":"x","ts":1000,"ids":{"cookie":"c-1","email":"a@x.io"},"type":"app_open"}"#,
        r#"{"id":"y","ts":1000,"ids":{"cookie":"c-2","email":"a@x.io"},"type":"identify"}"#,
        r#"{"ts":2000,"ids":{"email":"a@x.io"},"type":"erase"}"#,
        r#"{"id":"y","ts":3000,"ids":{"cookie":"c-3"},"type":"app_open"}"#,
        r#"{"id":"y","ts":4000,"ids":{"cookie":"c-3"},"type":"app_open"}"#,
    ];
    let out = engine.ingest_batch(lines.iter().map(|l| tropa::decode_line(l).unwrap()));
    assert!(matches!(&out[1], Ok(Ingested::Applied { merged, .. }) if merged.len() == 1));
    assert_eq!(out[2], Ok(Ingested::Erased { contacts: 1 }));
    assert!(matches!(out[3], Ok(Ingested::Applied { .. })));
    assert_eq!(out[4], Ok(Ingested::Duplicate));
    // The merging event's shard ran after the last two were admitted: `y` must still be
    // remembered, as accepted for `c-3`.
    let again = tropa::decode_line(lines[4]).unwrap();
    assert_eq!(engine.ingest(again), Ok(Ingested::Duplicate));
}
