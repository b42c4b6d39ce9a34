//! The segments every contender maintains: ten journeys in the shape of `examples/rules/`
//! (written in the part of the language the baselines implement) and forty generated variants,
//! plus the single simplest segment for the one-segment figure.

/// The one-segment workload: the simplest kind of segment.
pub const SIMPLE: &str = "segment frequent = count(purchase) >= 5";

const JOURNEYS: &str = "\
segment cart_abandoned = since(cart_add) >= 24h and since(cart_add) < 48h and since(purchase) > 48h
segment dormant = count(purchase) >= 1 and since(purchase) > 20d
segment new_buyer = purchases() == 1 and since(purchase) < 7d
segment repeat_buyer = purchases(30d) >= 2
segment bargain_hunter = count(product_view where discount >= 0.3, 30d) >= 3
segment app_regular = sum(app_session.duration, 7d) >= 3600
segment store_visitor = count(beacon, 7d) >= 1
segment vip = revenue(30d) >= 1000 and not segment(\"dormant\")
segment email_engaged = count(email_click, 14d) >= 1
segment window_shopper = count(product_view, 14d) >= 3 and purchases(30d) == 0
";

/// Fifty segments: the journeys and forty `count(kind, window) >= n` variants.
pub fn fifty() -> String {
    let kinds = [
        "page_view",
        "product_view",
        "cart_add",
        "email_open",
        "app_session",
        "beacon where zone == \"z1\"",
        "purchase where amount > 200",
    ];
    let mut text = JOURNEYS.to_string();
    let mut n = 0;
    'outer: for threshold in [1, 3] {
        for window in ["1d", "7d", "30d"] {
            for (k, kind) in kinds.iter().enumerate() {
                if n == 40 {
                    break 'outer;
                }
                text.push_str(&format!(
                    "segment v{n}_{k} = count({kind}, {window}) >= {threshold}\n"
                ));
                n += 1;
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn fifty_segments_compile_within_the_subset() {
        let plan = tropa::rules::compile(&super::fifty()).unwrap();
        assert_eq!(plan.segments().count(), 50);
        crate::subset::check(&plan).unwrap();
        crate::subset::check(&tropa::rules::compile(super::SIMPLE).unwrap()).unwrap();
    }
}
