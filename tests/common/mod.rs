//! Shared test support: the reference model and stream generators.
#![allow(unreachable_pub, dead_code)]

pub mod gen;
pub mod model;
pub mod rules;

use model::{Model, ModelConfig};
use tropa::{Engine, IdLimits, IdType};

const HOUR: i64 = 3_600_000;

/// The engine and the model with the same small settings (short windows and bounds, so that
/// generated streams cross them often), optionally with rules.
pub fn engine_and_model(plan: Option<tropa::rules::Plan>) -> (Engine, Model) {
    let mut builder = builder();
    if let Some(p) = &plan {
        builder = builder.rules(p.clone());
    }
    let model = match plan {
        Some(p) => Model::with_rules(model_config(), p),
        None => Model::new(model_config()),
    };
    (builder.build().unwrap(), model)
}

/// The engine settings of [`engine_and_model`], without rules.
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

/// The model settings of [`engine_and_model`].
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

/// A signal's kind as one word (`enter`, `exit:REASON`, `tagged`, `merged`) and the segment,
/// tag or absorbed contact it names.
pub fn describe(kind: tropa::SignalKind) -> (String, String) {
    use tropa::SignalKind;
    match kind {
        SignalKind::Enter { segment } => ("enter".to_string(), segment),
        SignalKind::Exit { segment, reason } => (format!("exit:{}", reason.as_str()), segment),
        SignalKind::Tagged { tag } => ("tagged".to_string(), tag),
        SignalKind::Merged { from } => ("merged".to_string(), from),
        other => panic!("{other:?}"),
    }
}
