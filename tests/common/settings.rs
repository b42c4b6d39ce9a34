//! The settings engine and model share in the tests (short windows and bounds, so that
//! generated streams cross them often). Free of test-only crates: the `engine_ops` fuzz
//! target includes this file and `model.rs` by path.

use super::model::ModelConfig;
use tropa::{Engine, IdLimits, IdType};

pub const HOUR: i64 = 3_600_000;

/// The engine settings, without rules.
pub fn builder() -> tropa::EngineBuilder {
    Engine::builder()
        .shards(3)
        .queue_capacity(2)
        .lateness_ms(HOUR)
        .dedup_window_ms(2 * HOUR)
        .timeline_len(4)
        .dormancy_ms(30 * HOUR)
        .post_purchase_ms(8 * HOUR)
        .id_limits(IdLimits::default())
}

/// The model settings matching [`builder`].
pub fn model_config() -> ModelConfig {
    ModelConfig {
        lateness: HOUR,
        dedup_window: 2 * HOUR,
        limits: vec![(IdType::Customer, 1), (IdType::Loyalty, 1)],
        timeline_len: 4,
        dormancy: 30 * HOUR,
        post_purchase: 8 * HOUR,
    }
}

/// Proptest cases: `default`, or `TROPA_PROPTEST_CASES` when set (for a longer run by hand,
/// e.g. after a change to the evaluator).
pub fn cases(default: u32) -> u32 {
    std::env::var("TROPA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
