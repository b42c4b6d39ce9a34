//! Proptest strategies for rule sets drawn from the whole language.

#![allow(dead_code)]

use proptest::prelude::*;

fn window() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["30m", "2h", "1d", "90m"])
}

fn kind_and_cond() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "page_view",
        "product_view",
        "product_view where discount >= 0.5",
        "product_view where price > 100 and channel == \"web\"",
        "cart_add",
        "cart_add where qty >= 2",
        "cart_remove",
        "purchase",
        "purchase where amount > 100",
        "purchase where brand == \"shop-a\"",
        "refund",
        "consent where granted",
        "identify",
        "email_click",
        "app_session",
        "beacon where zone == \"z1\"",
        "custom where name == \"name0\"",
        "tag",
        "attribute",
    ])
    .prop_map(str::to_string)
}

fn op() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![">=", ">", "<", "<=", "==", "!="])
}

/// One comparison or boolean term; `earlier` lists segments it may reference.
fn atom(earlier: Vec<String>) -> BoxedStrategy<String> {
    let mut options: Vec<BoxedStrategy<String>> = vec![
        // Thresholds 0, 0.5, 1 … 3.5: whole and fractional (where a count's boundaries
        // differ by operator).
        (kind_and_cond(), prop::option::of(window()), op(), 0..8u8)
            .prop_map(|(k, w, o, n)| {
                let n = if n % 2 == 0 {
                    (n / 2).to_string()
                } else {
                    format!("{}.5", n / 2)
                };
                match w {
                    Some(w) => format!("count({k}, {w}) {o} {n}"),
                    None => format!("count({k}) {o} {n}"),
                }
            })
            .boxed(),
        (prop::option::of(window()), 0..400u32)
            .prop_map(|(w, n)| match w {
                Some(w) => format!("sum(purchase.amount, {w}) > {n}"),
                None => format!("sum(app_session.duration) >= {n}"),
            })
            .boxed(),
        (
            kind_and_cond(),
            op(),
            prop::sample::select(vec!["1h", "90m", "1d", "30m"]),
        )
            .prop_map(|(k, o, d)| format!("since({k}) {o} {d}"))
            .boxed(),
        (prop::option::of(window()), 0..3u8)
            .prop_map(|(w, n)| format!("purchases({}) >= {n}", w.unwrap_or("")))
            .boxed(),
        (prop::option::of(window()), 0..300u32)
            .prop_map(|(w, n)| format!("revenue({}) > {n}", w.unwrap_or("")))
            .boxed(),
        window()
            .prop_map(|w| format!("brands_active({w}) >= 2"))
            .boxed(),
        (0..40u32).prop_map(|n| format!("score >= {n}")).boxed(),
        (window(), 0..10u32)
            .prop_map(|(w, n)| format!("score_gain({w}) > {n}"))
            .boxed(),
        prop::sample::select(vec!["tag0", "tag1", "rtag"])
            .prop_map(|t| format!("tag(\"{t}\")"))
            .boxed(),
        prop::sample::select(vec!["t0", "t1"])
            .prop_map(|t| format!("consent(\"{t}\")"))
            .boxed(),
        Just("known".to_string()).boxed(),
        prop::sample::select(vec![
            "attr(\"a0\") == \"v1\"",
            "attr(\"a1\") > 5",
            "attr(\"a0\") != true",
        ])
        .prop_map(str::to_string)
        .boxed(),
        prop::sample::select(vec![
            "dormant",
            "in_purchase",
            "post_purchase",
            "monitored",
            "anonymous",
        ])
        .prop_map(|s| format!("stage == \"{s}\""))
        .boxed(),
        (0..4u8).prop_map(|n| format!("cart_items > {n}")).boxed(),
        (0..300u32)
            .prop_map(|n| format!("cart_value >= {n}"))
            .boxed(),
        Just("count(page_view, 2h) + count(product_view, 2h) * 2 > 3".to_string()).boxed(),
    ];
    if !earlier.is_empty() {
        options.push(
            prop::sample::select(earlier)
                .prop_map(|s| format!("segment(\"{s}\")"))
                .boxed(),
        );
    }
    prop::strategy::Union::new(options).boxed()
}

fn condition(earlier: Vec<String>) -> BoxedStrategy<String> {
    (
        atom(earlier.clone()),
        prop::option::of((
            prop::sample::select(vec!["and", "or", "and not"]),
            atom(earlier),
        )),
    )
        .prop_map(|(a, rest)| match rest {
            Some((j, b)) => format!("{a} {j} {b}"),
            None => a,
        })
        .boxed()
}

pub fn rules() -> impl Strategy<Value = String> {
    (
        condition(vec![]),
        condition(vec!["s0".into()]),
        prop::option::of(condition(vec!["s0".into(), "s1".into()])),
        // The tag reads no segment and not itself: that would be a cycle, which the checker
        // refuses (tested in the golden files).
        prop::option::of(
            condition(vec![]).prop_map(|c| c.replace("tag(\"rtag\")", "tag(\"tag0\")")),
        ),
        prop::collection::vec(
            (
                kind_and_cond(),
                -3..6i64,
                prop::option::of((1..8i64, prop::sample::select(vec!["1h", "1d", "30m"]))),
            ),
            0..3,
        ),
    )
        .prop_map(|(s0, s1, s2, t, scores)| {
            let mut text = format!("segment s0 = {s0}\nsegment s1 = {s1}\n");
            if let Some(s2) = s2 {
                text.push_str(&format!("segment s2 = {s2}\n"));
            }
            if let Some(t) = t {
                text.push_str(&format!("tag rtag when {t}\n"));
            }
            for (k, p, cap) in scores {
                match cap {
                    Some((n, d)) if p > 0 => {
                        text.push_str(&format!("score {k} => {p} cap {n} per {d}\n"))
                    }
                    _ => text.push_str(&format!("score {k} => {p}\n")),
                }
            }
            text
        })
}
