//! Property test: random failure schedules over random saga shapes
//! (compensatable steps, an optional pivot, retriable steps).
//!
//! Checked for every run:
//! - a completed saga compensates nothing;
//! - an aborted saga compensates exactly its completed compensatable steps,
//!   each once, in reverse order;
//! - once the pivot succeeded no compensation runs, and retriable steps are
//!   retried until they succeed or the saga is stuck;
//! - the outcome equals a small reference model of the failure rules.

mod common;

use common::{Behavior, Plan, act, compensated, journal, succeeded, undo};
use proptest::prelude::*;
use saga_core::prelude::*;

macro_rules! compensatable {
    ($($step:ident / $undo:ident),*) => {$(
        #[saga_step(compensate = $undo, retry(max_attempts = 2, interval_seconds = 1, backoff_rate = 1.0))]
        async fn $step(plan: &Plan) -> Result<u64, StepError> {
            act(plan, 1).await
        }
        async fn $undo(plan: &Plan, out: u64) -> Result<(), StepError> {
            undo(plan, out).await
        }
    )*};
}
compensatable!(c0 / undo_c0, c1 / undo_c1, c2 / undo_c2, c3 / undo_c3);

#[saga_step(
    pivot,
    retry(max_attempts = 2, interval_seconds = 1, backoff_rate = 1.0)
)]
async fn pv(plan: &Plan) -> Result<u64, StepError> {
    act(plan, 1).await
}

#[saga_step(
    retriable,
    retry(max_attempts = 3, interval_seconds = 1, backoff_rate = 1.0)
)]
async fn r0(plan: &Plan) -> Result<u64, StepError> {
    act(plan, 1).await
}

#[saga_step(
    retriable,
    retry(max_attempts = 3, interval_seconds = 1, backoff_rate = 1.0)
)]
async fn r1(plan: &Plan) -> Result<u64, StepError> {
    act(plan, 1).await
}

/// Declares one saga per shape, the shape list, and a dispatcher by index.
macro_rules! shapes {
    ($($name:ident = [$($step:ident),*];)*) => {
        $(saga! {
            pub saga $name(plan: Plan) {
                $($step(&plan);)*
            }
        })*

        const SHAPES: &[&[&str]] = &[$(&[$(stringify!($step)),*]),*];

        async fn run_shape(index: usize, runtime: &Runtime, id: SagaId, plan: Plan) -> SagaOutcome<()> {
            let names = [$(stringify!($name)),*];
            $(
                if names[index] == stringify!($name) {
                    return $name::run_with_id(runtime, id, plan).await.expect("the runtime does not fail");
                }
            )*
            unreachable!("no shape {index}")
        }
    };
}

shapes! {
    S001 = [r0];
    S002 = [r0, r1];
    S010 = [pv];
    S011 = [pv, r0];
    S012 = [pv, r0, r1];
    S100 = [c0];
    S101 = [c0, r0];
    S102 = [c0, r0, r1];
    S110 = [c0, pv];
    S111 = [c0, pv, r0];
    S112 = [c0, pv, r0, r1];
    S200 = [c0, c1];
    S201 = [c0, c1, r0];
    S202 = [c0, c1, r0, r1];
    S210 = [c0, c1, pv];
    S211 = [c0, c1, pv, r0];
    S212 = [c0, c1, pv, r0, r1];
    S300 = [c0, c1, c2];
    S301 = [c0, c1, c2, r0];
    S310 = [c0, c1, c2, pv];
    S311 = [c0, c1, c2, pv, r0];
    S400 = [c0, c1, c2, c3];
    S412 = [c0, c1, c2, c3, pv, r0, r1];
}

const FORWARD_RETRIES: usize = 2;
const RETRIABLE_RETRIES: usize = 3;
const COMPENSATION_RETRIES: usize = 2;

#[derive(Debug, PartialEq)]
enum Expected {
    Completed,
    Compensated { failed: String },
    StuckForward { step: String },
    StuckCompensating { step: String },
    Cancelled { before: String },
}

fn attempt(plan: &Plan, key: &str, n: usize) -> Behavior {
    plan.script
        .get(key)
        .and_then(|l| l.get(n))
        .copied()
        .unwrap_or(Behavior::Ok)
}

/// How one forward step ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Ok,
    Unwind,
    Stuck,
}

/// The failure rules, written as plainly as possible.
fn model(shape: &[&str], plan: &Plan) -> Expected {
    for (i, step) in shape.iter().enumerate() {
        let retriable = step.starts_with('r');
        let budget = if retriable {
            RETRIABLE_RETRIES
        } else {
            FORWARD_RETRIES
        };
        let mut calls = (0..).map(|n| attempt(plan, step, n));
        let mut next = || calls.next().unwrap_or(Behavior::Ok);
        let outcome = if retriable {
            // Every error is retried within the budget.
            if (0..=budget).any(|_| next() == Behavior::Ok) {
                Step::Ok
            } else {
                Step::Stuck
            }
        } else {
            // The try: retryable answers are retried; a terminal one, or a
            // retryable one past the budget, changed nothing; an ambiguous one
            // is resolved by calling again with a fresh budget, where only a
            // success or a terminal answer settles it.
            let mut retries = 0;
            loop {
                match next() {
                    Behavior::Ok => break Step::Ok,
                    Behavior::Terminal => break Step::Unwind,
                    Behavior::Retryable if retries < budget => retries += 1,
                    Behavior::Retryable => break Step::Unwind,
                    _ => {
                        break (0..=budget)
                            .map(|_| next())
                            .find(|b| matches!(b, Behavior::Ok | Behavior::Terminal))
                            .map_or(Step::Stuck, |b| match b {
                                Behavior::Ok => Step::Ok,
                                _ => Step::Unwind,
                            });
                    }
                }
            }
        };
        let (ok, unknown) = match outcome {
            Step::Ok => (true, false),
            Step::Unwind => (false, false),
            Step::Stuck => (false, true),
        };
        if ok {
            continue;
        }
        if retriable || unknown {
            return Expected::StuckForward {
                step: step.to_string(),
            };
        }
        for done in shape[..i].iter().rev().filter(|s| s.starts_with('c')) {
            let undone = (0..=COMPENSATION_RETRIES)
                .any(|n| attempt(plan, &format!("undo:{done}"), n) == Behavior::Ok);
            if !undone {
                return Expected::StuckCompensating {
                    step: done.to_string(),
                };
            }
        }
        return Expected::Compensated {
            failed: step.to_string(),
        };
    }
    Expected::Completed
}

fn behaviors(choices: Vec<Behavior>, max: usize) -> impl Strategy<Value = Vec<Behavior>> {
    prop::collection::vec(prop::sample::select(choices), 0..=max)
}

fn case() -> impl Strategy<Value = (usize, Plan)> {
    (0..SHAPES.len()).prop_flat_map(|index| {
        let forward = prop::collection::vec(
            behaviors(
                vec![
                    Behavior::Ok,
                    Behavior::Retryable,
                    Behavior::Terminal,
                    Behavior::Ambiguous,
                ],
                5,
            ),
            SHAPES[index].len(),
        );
        let backward = prop::collection::vec(
            behaviors(
                vec![Behavior::Ok, Behavior::Retryable, Behavior::Terminal],
                4,
            ),
            SHAPES[index].len(),
        );
        (Just(index), forward, backward).prop_map(|(index, forward, backward)| {
            let mut plan = Plan::new();
            for ((step, f), b) in SHAPES[index].iter().zip(forward).zip(backward) {
                plan = plan.with(step, &f).with(&format!("undo:{step}"), &b);
            }
            (index, plan)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn failure_schedules_follow_the_saga_rules((index, plan) in case()) {
        let shape = SHAPES[index];
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("tokio runtime");
        let id = SagaId::new(format!("prop-{}", SagaId::random())).expect("valid id");
        let outcome = rt.block_on(run_shape(index, &common::runtime(), id.clone(), plan.clone()));
        let done = succeeded(&id);
        let undone = compensated(&id);
        let pivot_done = done.iter().any(|s| s == "pv");

        match &outcome {
            SagaOutcome::Completed(()) => {
                prop_assert!(undone.is_empty(), "a completed saga compensated {undone:?}");
                let expected: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
                prop_assert_eq!(&done, &expected);
            }
            SagaOutcome::Compensated { failed_step, .. } => {
                let mut expected: Vec<String> = done.iter().filter(|s| s.starts_with('c')).cloned().collect();
                expected.reverse();
                prop_assert_eq!(&undone, &expected, "compensations of {}", failed_step);
                prop_assert!(!pivot_done, "compensated after the pivot succeeded");
            }
            SagaOutcome::Stuck { direction, step, .. } => {
                if pivot_done {
                    prop_assert!(undone.is_empty(), "compensation after the pivot: {undone:?}");
                }
                if *direction == Direction::Forward {
                    prop_assert!(undone.is_empty());
                } else {
                    // Everything after the stuck compensation was compensated, in reverse.
                    let at = shape.iter().position(|s| s == step).expect("stuck step is in the shape");
                    let mut expected: Vec<String> = done
                        .iter()
                        .filter(|s| s.starts_with('c') && shape.iter().position(|x| x == s) > Some(at))
                        .cloned()
                        .collect();
                    expected.reverse();
                    prop_assert_eq!(&undone, &expected);
                }
            }
            SagaOutcome::Cancelled { before_step, .. } => {
                prop_assert!(false, "cancelled before {before_step}, but nothing cancels here");
            }
        }
        // Retriable steps run until they succeed or the saga is stuck on them.
        for r in shape.iter().filter(|s| s.starts_with('r')) {
            let calls = journal(&id).iter().filter(|e| e.step == *r).count();
            let ok = done.iter().any(|s| s == r);
            let stuck_here = matches!(&outcome, SagaOutcome::Stuck { step, .. } if step == r);
            prop_assert!(calls == 0 || ok || stuck_here, "retriable {r} gave up without being stuck");
            if stuck_here {
                prop_assert_eq!(calls, RETRIABLE_RETRIES + 1);
            }
        }

        let actual = match outcome {
            SagaOutcome::Completed(()) => Expected::Completed,
            SagaOutcome::Compensated { failed_step, .. } => Expected::Compensated { failed: failed_step.to_string() },
            SagaOutcome::Stuck { step, direction: Direction::Forward, .. } => Expected::StuckForward { step: step.to_string() },
            SagaOutcome::Stuck { step, direction: Direction::Compensation, .. } => Expected::StuckCompensating { step: step.to_string() },
            SagaOutcome::Cancelled { before_step, .. } => Expected::Cancelled { before: before_step.to_string() },
        };
        prop_assert_eq!(actual, model(shape, &plan));
    }
}
