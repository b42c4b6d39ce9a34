//! Hand-written streams with known outcomes, one per journey in `examples/rules/`.

mod common;

use tropa::{decode_line, Engine, Identifier, Signal};

const H: i64 = 3_600_000;
const D: i64 = 24 * H;
const T0: i64 = 1_772_323_200_000; // 2026-03-01T00:00:00Z

fn engine(rules_file: &str) -> (Engine, crossbeam::channel::Receiver<Signal>) {
    let src = std::fs::read_to_string(format!(
        "{}/examples/rules/{rules_file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let plan = tropa::rules::compile(&src).unwrap();
    let engine = Engine::builder()
        .shards(4)
        .lateness_ms(2 * H)
        .dedup_window_ms(2 * H)
        .rules(plan)
        .build()
        .unwrap();
    let rx = engine.subscribe(100_000);
    (engine, rx)
}

fn ev(engine: &Engine, at: i64, ids: &str, rest: &str) {
    let line = format!("{{\"ts\":{},\"ids\":{ids},{rest}}}", T0 + at);
    engine.ingest(decode_line(&line).unwrap()).unwrap();
}

/// (kind, name, at relative to T0) for one contact's signals.
fn signals(rx: &crossbeam::channel::Receiver<Signal>) -> Vec<(String, String, i64)> {
    common::signals(rx, T0)
}

fn id(s: &str) -> Identifier {
    Identifier::parse_pair(s).unwrap()
}

#[test]
fn abandoned_cart_enters_at_24h_and_leaves_at_48h() {
    let (engine, rx) = engine("abandoned_cart.tropa");
    let ana = r#"{"email":"ana@x.com"}"#;
    ev(
        &engine,
        0,
        ana,
        r#""type":"consent","topic":"email","granted":true"#,
    );
    ev(
        &engine,
        H,
        ana,
        r#""type":"cart_add","product":"p-1","price":80"#,
    );
    engine.advance_to(T0 + H + 24 * H - 1);
    assert_eq!(engine.segment_size("cart_abandoned"), Some(0));
    engine.advance_to(T0 + 10 * D);
    assert_eq!(
        signals(&rx),
        vec![
            ("enter".into(), "cart_abandoned".into(), H + 24 * H),
            ("enter".into(), "cart_reminder_email".into(), H + 24 * H),
            ("exit:predicate".into(), "cart_abandoned".into(), H + 48 * H),
            (
                "exit:predicate".into(),
                "cart_reminder_email".into(),
                H + 48 * H
            ),
        ],
        "time-driven transitions carry the exact instants, even after a jump"
    );
    assert_eq!(engine.segment_size("cart_abandoned"), Some(0));
}

#[test]
fn a_purchase_exactly_at_24h_gives_no_enter_exit_pair() {
    let (engine, rx) = engine("abandoned_cart.tropa");
    let bo = r#"{"cookie":"c-bo"}"#;
    ev(
        &engine,
        0,
        bo,
        r#""type":"cart_add","product":"p-1","price":80"#,
    );
    ev(
        &engine,
        24 * H,
        bo,
        r#""type":"purchase","order":"o-1","amount":80"#,
    );
    engine.advance_to(T0 + 5 * D);
    assert_eq!(signals(&rx), vec![]);
}

#[test]
fn win_back_dormant_after_90_days_and_recovered_on_purchase() {
    let (engine, rx) = engine("win_back.tropa");
    let cy = r#"{"customer":"77"}"#;
    ev(
        &engine,
        0,
        cy,
        r#""type":"purchase","order":"o-1","amount":1500"#,
    );
    engine.advance_to(T0 + 200 * D);
    let dormant_at = 90 * D + 1; // since(purchase) > 90d
    let got = signals(&rx);
    assert!(
        got.contains(&("enter".into(), "dormant".into(), dormant_at)),
        "{got:?}"
    );
    assert!(got.contains(&("enter".into(), "dormant_high_value".into(), dormant_at)));
    let p = engine.profile(&id("customer:77")).unwrap();
    assert_eq!(p.stage.as_str(), "dormant");
    assert_eq!(p.score, 20);
    ev(
        &engine,
        200 * D + H,
        cy,
        r#""type":"purchase","order":"o-2","amount":50"#,
    );
    engine.flush();
    let got = signals(&rx);
    assert!(got.contains(&("exit:predicate".into(), "dormant".into(), 200 * D + H)));
    assert!(got.contains(&("enter".into(), "won_back".into(), 200 * D + H)));
    let p = engine.profile(&id("customer:77")).unwrap();
    assert_eq!(p.segments, vec!["won_back".to_string()]);
    assert_eq!(p.score, 40);
}

#[test]
fn bargain_hunter_tag_is_sticky_and_scores_are_capped() {
    let (engine, rx) = engine("bargain_hunters.tropa");
    let dee = r#"{"cookie":"c-dee"}"#;
    for i in 0..12 {
        ev(
            &engine,
            i * 60_000,
            dee,
            r#""type":"product_view","product":"p","discount":0.5"#,
        );
    }
    engine.flush();
    let p = engine.profile(&id("cookie:c-dee")).unwrap();
    assert_eq!(p.score, 10, "cap 10 per day");
    assert_eq!(p.tags, vec!["bargain_hunter".to_string()]);
    assert_eq!(
        signals(&rx),
        vec![("tagged".into(), "bargain_hunter".into(), 2 * 60_000)]
    );
    // A month later the views have left the window, but the tag stays.
    engine.advance_to(T0 + 60 * D);
    let p = engine.profile(&id("cookie:c-dee")).unwrap();
    assert_eq!(p.tags, vec!["bargain_hunter".to_string()]);
    assert_eq!(engine.tagged("bargain_hunter").count(), 1);
}

#[test]
fn multi_brand_and_merges_move_memberships() {
    let (engine, rx) = engine("multi_brand.tropa");
    ev(
        &engine,
        0,
        r#"{"cookie":"c-1"}"#,
        r#""brand":"shop-a","type":"page_view""#,
    );
    ev(
        &engine,
        H,
        r#"{"device":"d-1"}"#,
        r#""brand":"shop-b","type":"app_open""#,
    );
    engine.flush();
    assert_eq!(engine.segment_size("multi_brand"), Some(0));
    assert_eq!(engine.segment_size("single_brand"), Some(2));
    // The same person logs in on both: one contact active in two brands.
    ev(
        &engine,
        2 * H,
        r#"{"cookie":"c-1","device":"d-1","email":"e@x.com"}"#,
        r#""brand":"shop-a","type":"identify""#,
    );
    engine.flush();
    assert_eq!(engine.segment_size("multi_brand"), Some(1));
    assert_eq!(engine.segment_size("single_brand"), Some(0));
    let got = signals(&rx);
    assert!(
        got.contains(&("exit:merged".into(), "single_brand".into(), 2 * H)),
        "{got:?}"
    );
    assert!(got.contains(&("merged".into(), "device:d-1".into(), 2 * H)));
    assert!(got.contains(&("enter".into(), "multi_brand".into(), 2 * H)));
    let c = engine.contact_of(&id("email:e@x.com")).unwrap();
    let why = engine.explain(c, "multi_brand").unwrap();
    assert!(why.value && why.member);
    assert!(why.to_string().contains("brands_active(30d) = 2"), "{why}");
    let both: Vec<_> = engine
        .audience("multi_brand and not single_brand")
        .unwrap()
        .collect();
    assert_eq!(both, vec![c]);
    // 30 days after the last visit to shop-b, the contact is single-brand again.
    engine.advance_to(T0 + 40 * D);
    let got = signals(&rx);
    assert!(
        got.contains(&("exit:predicate".into(), "multi_brand".into(), H + 30 * D)),
        "{got:?}"
    );
}

#[test]
fn erase_leaves_every_segment() {
    let (engine, rx) = engine("multi_brand.tropa");
    ev(
        &engine,
        0,
        r#"{"cookie":"c-9"}"#,
        r#""brand":"shop-a","type":"page_view""#,
    );
    ev(&engine, 1000, r#"{"cookie":"c-9"}"#, r#""type":"erase""#);
    engine.flush();
    let got = signals(&rx);
    assert_eq!(
        got,
        vec![
            ("enter".into(), "active_30d".into(), 0),
            ("enter".into(), "single_brand".into(), 0),
            ("exit:erased".into(), "active_30d".into(), 1000),
            ("exit:erased".into(), "single_brand".into(), 1000),
        ]
    );
    assert_eq!(engine.segment_size("active_30d"), Some(0));
    assert_eq!(engine.audience("not active_30d").unwrap().count(), 0);
}

#[test]
fn replenishment_reminder_between_day_28_and_35() {
    let (engine, rx) = engine("replenishment.tropa");
    let eve = r#"{"email":"eve@x.com"}"#;
    ev(
        &engine,
        0,
        eve,
        r#""type":"consent","topic":"email","granted":true"#,
    );
    ev(
        &engine,
        1000,
        eve,
        r#""type":"product_view","product":"p-9","category":"cosmetics""#,
    );
    ev(
        &engine,
        2000,
        eve,
        r#""type":"purchase","order":"o-1","amount":40"#,
    );
    engine.advance_to(T0 + 40 * D);
    let got: Vec<_> = signals(&rx)
        .into_iter()
        .filter(|s| s.1 == "refill_due")
        .collect();
    assert_eq!(
        got,
        vec![
            ("enter".into(), "refill_due".into(), 2000 + 28 * D),
            ("exit:predicate".into(), "refill_due".into(), 2000 + 35 * D),
        ]
    );
}

#[test]
fn app_regular_near_the_store_and_walking_past() {
    let (engine, rx) = engine("app_regulars.tropa");
    let fay = r#"{"device":"d-fay"}"#;
    ev(
        &engine,
        0,
        fay,
        r#""type":"consent","topic":"push","granted":true"#,
    );
    for day in 0..7 {
        ev(
            &engine,
            day * D + H,
            fay,
            r#""channel":"app","type":"app_session","duration":1800"#,
        );
    }
    engine.flush();
    assert_eq!(engine.segment_size("app_regular"), Some(1));
    ev(
        &engine,
        6 * D + 2 * H,
        fay,
        r#""channel":"store","type":"beacon","zone":"store-12","duration":300"#,
    );
    ev(
        &engine,
        6 * D + 5 * H,
        fay,
        r#""channel":"app","type":"geo","place":"store-12""#,
    );
    engine.advance_to(T0 + 20 * D);
    let got = signals(&rx);
    let near: Vec<_> = got
        .iter()
        .filter(|s| s.1 == "app_regular_near_store")
        .cloned()
        .collect();
    assert_eq!(
        near,
        vec![
            (
                "enter".into(),
                "app_regular_near_store".into(),
                6 * D + 2 * H
            ),
            // Not at +24 h after the beacon: the app-regular part ends first, when the first
            // session is seven days old.
            (
                "exit:predicate".into(),
                "app_regular_near_store".into(),
                7 * D + H
            ),
        ]
    );
    // The geofence at +5h comes after the beacon at +2h left the 2-hour window: passed by
    // without going in, for two hours.
    let passed: Vec<_> = got.iter().filter(|s| s.1 == "passed_by").cloned().collect();
    assert_eq!(
        passed,
        vec![
            ("enter".into(), "passed_by".into(), 6 * D + 5 * H),
            ("exit:predicate".into(), "passed_by".into(), 6 * D + 7 * H),
        ]
    );
    // Seven half-hour sessions a week: the regular leaves when the first one is 7 days old.
    let regular: Vec<_> = got
        .iter()
        .filter(|s| s.1 == "app_regular")
        .cloned()
        .collect();
    assert_eq!(
        regular[0],
        ("enter".into(), "app_regular".into(), 6 * D + H)
    );
    assert_eq!(
        regular[1],
        ("exit:predicate".into(), "app_regular".into(), 7 * D + H)
    );
}

/// Events that leave a contact's next instant unchanged add no timer entries: one pending
/// timer per contact, however busy it is.
#[test]
fn busy_contacts_keep_one_timer() {
    let (engine, _rx) = engine("win_back.tropa");
    let gus = r#"{"cookie":"c-gus"}"#;
    ev(
        &engine,
        0,
        gus,
        r#""type":"purchase","order":"o-1","amount":10"#,
    );
    for i in 1..500 {
        ev(&engine, i * 1000, gus, r#""type":"page_view""#);
    }
    engine.flush();
    assert_eq!(engine.memory().timers, 1);
}

/// A slow subscriber with a tiny channel slows ingest down but misses nothing.
#[test]
fn slow_subscriber_gets_every_signal() {
    let (engine, _unused) = engine("multi_brand.tropa");
    let rx = engine.subscribe(2);
    let reader = std::thread::spawn(move || {
        let mut n = 0u64;
        for _ in rx {
            n += 1;
            if n.is_multiple_of(16) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        n
    });
    for i in 0..300i64 {
        let who = format!(r#"{{"cookie":"c-{}"}}"#, i % 60);
        let brand = ["shop-a", "shop-b", "shop-c"][(i % 3) as usize];
        ev(
            &engine,
            i * H,
            &who,
            &format!(r#""brand":"{brand}","type":"page_view""#),
        );
    }
    engine.advance_to(T0 + 400 * D);
    let emitted = engine.signals_emitted();
    drop(engine);
    assert!(emitted > 100, "{emitted}");
    assert_eq!(reader.join().unwrap(), emitted);
}
