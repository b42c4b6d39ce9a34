//! The engine against the reference model on random streams: identity links, merges,
//! conflicts, duplicates, late and out-of-order events, erasures and time jumps. After every
//! step, every profile and every outcome must be the model's.

mod common;

use common::gen::{steps, Step};
use common::model::{Model, Outcome};
use proptest::prelude::*;
use tropa::{Engine, IngestError, Ingested};

fn pair() -> (Engine, Model) {
    common::engine_and_model(None)
}

fn outcome(r: Result<Ingested, IngestError>) -> Outcome {
    match r {
        Ok(Ingested::Applied {
            contact,
            created,
            merged,
            conflict,
        }) => Outcome::Applied {
            contact: contact.0,
            created,
            merged: merged.iter().map(|c| c.0).collect(),
            conflict,
        },
        Ok(Ingested::Duplicate) => Outcome::Duplicate,
        Ok(Ingested::Erased { contacts }) => Outcome::Erased(contacts),
        Err(IngestError::Late { .. }) => Outcome::Late,
        Ok(other) => panic!("unexpected outcome {other:?}"),
        Err(e) => panic!("generated events are valid: {e}"),
    }
}

fn run(stream: &[Step], check_every_step: bool) -> Result<(), TestCaseError> {
    let (engine, mut model) = pair();
    for (i, step) in stream.iter().enumerate() {
        match step {
            Step::Ingest(e) => {
                let want = model.ingest(e);
                let got = outcome(engine.ingest((**e).clone()));
                prop_assert_eq!(&got, &want, "step {}: {:?}", i, e);
            }
            Step::AdvanceTo(t) => {
                engine.advance_to(*t);
                model.advance_to(*t);
            }
        }
        if check_every_step || i + 1 == stream.len() {
            engine.flush();
            prop_assert_eq!(engine.now(), model.now());
            let got = engine.profiles();
            let want = model.profiles();
            prop_assert_eq!(got.len(), want.len(), "contacts after step {}", i);
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!(g, w, "after step {}", i);
            }
        }
    }
    Ok(())
}

/// The same, the events between time jumps handed over as one batch through
/// `ingest_batch_into` (longer than its look-ahead, so that events are admitted while those
/// after them are being loaded): each outcome, in input order, and the profiles at the end
/// must be the model's.
fn run_batched(stream: &[Step]) -> Result<(), TestCaseError> {
    let (engine, mut model) = pair();
    let (mut batch, mut outcomes) = (Vec::new(), Vec::new());
    let mut flush_batch =
        |batch: &mut Vec<tropa::Event>, model: &mut Model| -> Result<(), TestCaseError> {
            let want: Vec<Outcome> = batch.iter().map(|e| model.ingest(e)).collect();
            engine.ingest_batch_into(batch, &mut outcomes);
            prop_assert!(batch.is_empty());
            let got: Vec<Outcome> = outcomes.drain(..).map(outcome).collect();
            prop_assert_eq!(got, want);
            Ok(())
        };
    for step in stream {
        match step {
            Step::Ingest(e) => batch.push((**e).clone()),
            Step::AdvanceTo(t) => {
                flush_batch(&mut batch, &mut model)?;
                engine.advance_to(*t);
                model.advance_to(*t);
            }
        }
    }
    flush_batch(&mut batch, &mut model)?;
    engine.flush();
    prop_assert_eq!(engine.now(), model.now());
    prop_assert_eq!(engine.profiles(), model.profiles());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: common::settings::cases(200), ..ProptestConfig::default() })]

    #[test]
    fn engine_equals_model_at_every_step(stream in steps(60)) {
        run(&stream, true)?;
    }

    #[test]
    fn engine_equals_model_on_long_streams(stream in steps(400)) {
        run(&stream, false)?;
    }

    #[test]
    fn batches_equal_model_on_long_streams(stream in steps(400)) {
        run_batched(&stream)?;
    }
}

/// The generated streams do reach every interesting path: without this, a green run above
/// could mean the generator never produced merges or conflicts.
#[test]
fn streams_cover_merges_conflicts_duplicates_late_and_erasure() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut merged, mut conflicts, mut dups, mut late, mut erased, mut jumps) = (0, 0, 0, 0, 0, 0);
    for _ in 0..50 {
        let stream = steps(200).new_tree(&mut runner).unwrap().current();
        let (_, mut model) = pair();
        for s in &stream {
            match s {
                Step::Ingest(e) => match model.ingest(e) {
                    Outcome::Applied {
                        merged: m,
                        conflict,
                        ..
                    } => {
                        merged += m.len();
                        conflicts += usize::from(conflict);
                    }
                    Outcome::Duplicate => dups += 1,
                    Outcome::Late => late += 1,
                    Outcome::Erased(n) => erased += n,
                },
                Step::AdvanceTo(t) => {
                    jumps += 1;
                    model.advance_to(*t);
                }
            }
        }
    }
    for (what, n) in [
        ("merges", merged),
        ("conflicts", conflicts),
        ("duplicates", dups),
        ("late events", late),
        ("erased contacts", erased),
        ("time jumps", jumps),
    ] {
        assert!(n >= 20, "only {n} {what} in the sample");
    }
}
