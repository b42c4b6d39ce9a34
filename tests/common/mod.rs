//! Shared test support: the reference model and stream generators.
#![allow(unreachable_pub, dead_code)]

pub mod gen;
pub mod model;
pub mod rules;
pub mod settings;

pub use settings::{builder, model_config};

use model::Model;
use tropa::Engine;

/// The engine and the model with the same small settings ([`settings`]), optionally with
/// rules.
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

/// The signals waiting in `rx`: kind and name as [`describe`] gives them, and the instant
/// relative to `t0`.
pub fn signals(
    rx: &crossbeam::channel::Receiver<tropa::Signal>,
    t0: i64,
) -> Vec<(String, String, i64)> {
    rx.try_iter()
        .map(|s| {
            let (kind, name) = describe(s.kind);
            (kind, name, s.at - t0)
        })
        .collect()
}
