//! The in-process executor, scenario by scenario: forward, backward, error
//! classes, retries and their timing (on tokio's paused clock), timeouts,
//! panics, pivot and retriable semantics, stuck sagas, and the saga log.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Behavior::*, Plan, act, compensated, journal, succeeded, undo};
use saga_core::log::{LogEntry, LogError, SagaEvent, SagaLog, SagaStatus, SagaSummary};
use saga_core::prelude::*;
use saga_core::{BoxFuture, ErrorClass, names};

#[saga_step(compensate = undo_a)]
async fn a(plan: &Plan) -> Result<u64, StepError> {
    act(plan, 1).await
}
async fn undo_a(plan: &Plan, out: u64) -> Result<(), StepError> {
    undo(plan, out).await
}

#[saga_step(compensate = undo_b, retry(max_attempts = 2, interval_seconds = 1, backoff_rate = 2.0))]
async fn b(plan: &Plan, a: &u64) -> Result<u64, StepError> {
    act(plan, *a + 1).await
}
async fn undo_b(plan: &Plan, _a: &u64, out: u64) -> Result<(), StepError> {
    undo(plan, out).await
}

#[saga_step(compensate = undo_c, timeout_seconds = 5, retry(max_attempts = 1))]
async fn c(plan: &Plan, b: &u64) -> Result<u64, StepError> {
    act(plan, *b + 1).await
}
async fn undo_c(plan: &Plan, _b: &u64, out: u64) -> Result<(), StepError> {
    undo(plan, out).await
}

#[saga_step(pivot, retry(max_attempts = 1))]
async fn p(plan: &Plan, c: &u64) -> Result<u64, StepError> {
    act(plan, *c + 1).await
}

#[saga_step(
    retriable,
    retry(max_attempts = 4, interval_seconds = 1, backoff_rate = 1.0)
)]
async fn r(plan: &Plan, p: &u64) -> Result<u64, StepError> {
    act(plan, *p + 1).await
}

saga! {
    /// a → b → c (compensatable), p (pivot), r (retriable).
    pub saga Flow(plan: Plan) -> u64 {
        let a = a(&plan);
        let b = b(&plan, &a);
        let c = c(&plan, &b);
        let p = p(&plan, &c);
        let r = r(&plan, &p);
        r + a
    }
}

fn id(name: &str) -> SagaId {
    SagaId::new(format!("{name}-{}", SagaId::random())).expect("valid id")
}

async fn run(plan: Plan) -> (SagaId, SagaOutcome<u64>) {
    let id = id("flow");
    let outcome = Flow::run_with_id(&common::runtime(), id.clone(), plan)
        .await
        .expect("the runtime itself does not fail");
    (id, outcome)
}

fn s(list: &[&str]) -> Vec<String> {
    list.iter().map(|x| x.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn completes_forward_in_order_and_compensates_nothing() {
    let (id, outcome) = run(Plan::new()).await;
    assert_eq!(outcome, SagaOutcome::Completed(5 + 1));
    assert_eq!(succeeded(&id), s(&["a", "b", "c", "p", "r"]));
    assert!(compensated(&id).is_empty());
}

#[tokio::test(start_paused = true)]
async fn terminal_error_compensates_completed_steps_in_reverse() {
    let (id, outcome) = run(Plan::new().with("c", &[Terminal])).await;
    match outcome {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "c");
            assert_eq!(error.class(), ErrorClass::Terminal);
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    // c's own compensation is skipped: a terminal error changed nothing.
    assert_eq!(compensated(&id), s(&["b", "a"]));
    // A terminal error is not retried.
    assert_eq!(journal(&id).iter().filter(|e| e.step == "c").count(), 1);
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_retry_with_asl_backoff() {
    let start = tokio::time::Instant::now();
    let (id, outcome) = run(Plan::new().with("b", &[Retryable, Retryable])).await;
    assert!(outcome.is_completed());
    let attempts: Vec<u32> = journal(&id)
        .iter()
        .filter(|e| e.step == "b")
        .map(|e| e.attempt)
        .collect();
    assert_eq!(attempts, vec![1, 2, 3]);
    // interval 1 s, backoff 2.0: waits of 1 s and 2 s, on the paused clock.
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn exhausted_retryable_is_treated_as_no_effect() {
    let (id, outcome) = run(Plan::new().with("b", &[Retryable; 3])).await;
    assert!(matches!(
        outcome,
        SagaOutcome::Compensated {
            failed_step: "b",
            ..
        }
    ));
    // max_attempts = 2 retries: three calls in all.
    assert_eq!(journal(&id).iter().filter(|e| e.step == "b").count(), 3);
    assert_eq!(compensated(&id), s(&["a"]));
}

#[tokio::test(start_paused = true)]
async fn ambiguous_error_is_resolved_by_reinvoking_with_the_same_key() {
    let (id, outcome) = run(Plan::new().with("a", &[Ambiguous])).await;
    assert!(outcome.is_completed());
    let keys: Vec<String> = journal(&id)
        .into_iter()
        .filter(|e| e.step == "a")
        .map(|e| e.key)
        .collect();
    assert_eq!(keys, vec![format!("{id}/a"), format!("{id}/a")]);
}

#[tokio::test(start_paused = true)]
async fn unresolved_ambiguity_leaves_the_saga_stuck_without_compensating() {
    // The try, then the resolve phase's call and its one retry.
    let (id, outcome) = run(Plan::new().with("c", &[Ambiguous, Ambiguous, Ambiguous])).await;
    match outcome {
        SagaOutcome::Stuck {
            step,
            direction,
            error,
        } => {
            assert_eq!((step, direction), ("c", Direction::Forward));
            assert_eq!(error.class(), ErrorClass::Ambiguous);
        }
        other => panic!("expected Stuck, got {other:?}"),
    }
    assert!(compensated(&id).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_retryable_error_does_not_resolve_an_earlier_ambiguous_one() {
    // Attempt 1 may have taken effect; attempts 2 to 4 (the resolve phase
    // and its two retries) say nothing about it.
    let plan = Plan::new().with("b", &[Ambiguous, Retryable, Retryable, Retryable]);
    let (id, outcome) = run(plan).await;
    assert!(
        matches!(
            outcome,
            SagaOutcome::Stuck {
                step: "b",
                direction: Direction::Forward,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(compensated(&id).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_terminal_answer_resolves_an_earlier_ambiguous_one() {
    let (id, outcome) = run(Plan::new().with("b", &[Ambiguous, Terminal])).await;
    assert!(
        matches!(
            outcome,
            SagaOutcome::Compensated {
                failed_step: "b",
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(compensated(&id), s(&["a"]));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_ambiguous_and_retried() {
    let start = tokio::time::Instant::now();
    let (id, outcome) = run(Plan::new().with("c", &[Sleep(60)])).await;
    assert!(outcome.is_completed());
    // The first attempt was cut at c's 5 s timeout; the resolving call
    // followed at once.
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    let c_attempts: Vec<(u32, bool)> = journal(&id)
        .iter()
        .filter(|e| e.step == "c")
        .map(|e| (e.attempt, e.ok))
        .collect();
    // The timed-out attempt never finished, so it never journaled.
    assert_eq!(c_attempts, vec![(2, true)]);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_logged_with_its_stable_name() {
    let runtime = common::runtime();
    let id = id("timeout");
    let plan = Plan::new().with("c", &[Sleep(60), Sleep(60), Sleep(60)]);
    let outcome = Flow::run_with_id(&runtime, id.clone(), plan)
        .await
        .expect("runs");
    assert!(
        matches!(&outcome, SagaOutcome::Stuck { step: "c", error, .. } if error.name() == names::TIMEOUT),
        "{outcome:?}"
    );
    let history = runtime.log().history(&id).await.expect("history");
    assert!(matches!(
        history.last().map(|e| &e.event),
        Some(SagaEvent::Stuck { step: 2, .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_step_is_an_ambiguous_error_not_a_crash() {
    let (_, outcome) = run(Plan::new().with("b", &[Panic, Panic, Panic, Panic])).await;
    match outcome {
        SagaOutcome::Stuck { step, error, .. } => {
            assert_eq!(step, "b");
            assert_eq!(error.name(), names::PANIC);
            assert!(error.message().contains("scripted panic in b"), "{error}");
        }
        other => panic!("expected Stuck, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn pivot_failure_compensates_everything_before_it() {
    let (id, outcome) = run(Plan::new().with("p", &[Terminal])).await;
    assert!(matches!(
        outcome,
        SagaOutcome::Compensated {
            failed_step: "p",
            ..
        }
    ));
    assert_eq!(compensated(&id), s(&["c", "b", "a"]));
}

#[tokio::test(start_paused = true)]
async fn after_the_pivot_retriable_steps_retry_every_error_class() {
    let (id, outcome) = run(Plan::new().with("r", &[Terminal, Ambiguous, Retryable])).await;
    assert!(outcome.is_completed());
    assert_eq!(journal(&id).iter().filter(|e| e.step == "r").count(), 4);
    assert!(compensated(&id).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_retriable_step_past_its_budget_is_stuck_and_nothing_is_compensated() {
    let (id, outcome) = run(Plan::new().with("r", &[Terminal; 5])).await;
    assert!(matches!(
        outcome,
        SagaOutcome::Stuck {
            step: "r",
            direction: Direction::Forward,
            ..
        }
    ));
    assert_eq!(journal(&id).iter().filter(|e| e.step == "r").count(), 5);
    assert!(compensated(&id).is_empty());
}

#[tokio::test(start_paused = true)]
async fn compensations_retry_then_succeed() {
    let (id, outcome) = run(Plan::new()
        .with("c", &[Terminal])
        .with("undo:b", &[Retryable, Terminal]))
    .await;
    assert!(matches!(outcome, SagaOutcome::Compensated { .. }));
    assert_eq!(compensated(&id), s(&["b", "a"]));
    let b_undo_attempts = journal(&id)
        .iter()
        .filter(|e| e.step == "b" && e.direction == Direction::Compensation)
        .count();
    assert_eq!(b_undo_attempts, 3);
}

#[tokio::test(start_paused = true)]
async fn a_compensation_that_keeps_failing_leaves_the_saga_stuck() {
    let (id, outcome) = run(Plan::new()
        .with("c", &[Terminal])
        .with("undo:b", &[Retryable; 3]))
    .await;
    match outcome {
        SagaOutcome::Stuck {
            step, direction, ..
        } => assert_eq!((step, direction), ("b", Direction::Compensation)),
        other => panic!("expected Stuck, got {other:?}"),
    }
    // Compensation stops at the stuck step: a is not compensated out of order.
    assert!(compensated(&id).is_empty());
}

#[tokio::test(start_paused = true)]
async fn every_invocation_carries_the_idempotency_key() {
    let (id, _) = run(Plan::new().with("b", &[Retryable]).with("c", &[Terminal])).await;
    let journal = journal(&id);
    // a, b twice, c, then the compensations of b and a.
    assert_eq!(journal.len(), 6, "{journal:?}");
    for entry in journal {
        assert_eq!(entry.key, format!("{id}/{}", entry.step));
    }
}

#[test]
fn a_partial_retry_keeps_the_defaults_of_the_step_kind() {
    use saga_core::Step;
    // `r` is retriable: what its `retry(...)` leaves out (the 60 s cap, full
    // jitter) comes from `RetryPolicy::RETRIABLE`, not the general default.
    assert_eq!(
        <r as Step>::RETRY,
        RetryPolicy {
            max_attempts: 4,
            interval_seconds: 1,
            backoff_rate: 1.0,
            ..RetryPolicy::RETRIABLE
        }
    );
    assert_eq!(
        <b as Step>::RETRY,
        RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::DEFAULT
        }
    );
}

#[tokio::test(start_paused = true)]
async fn the_log_records_the_whole_run() {
    let runtime = common::runtime();
    let id = id("log");
    let outcome = Flow::run_with_id(&runtime, id.clone(), Plan::new().with("b", &[Terminal]))
        .await
        .expect("runs");
    assert!(matches!(outcome, SagaOutcome::Compensated { .. }));
    let kinds: Vec<&str> = runtime
        .log()
        .history(&id)
        .await
        .expect("history")
        .iter()
        .map(|e| e.event.kind())
        .collect();
    assert_eq!(
        kinds,
        vec![
            "created",
            "step_started",
            "step_succeeded",
            "step_started",
            "step_failed",
            "unwind_started",
            "compensation_started",
            "compensation_succeeded",
            "compensated",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_saga_id_cannot_be_reused() {
    let runtime = common::runtime();
    let id = id("dup");
    let first = Flow::run_with_id(&runtime, id.clone(), Plan::new()).await;
    assert!(first.is_ok());
    let second = Flow::run_with_id(&runtime, id.clone(), Plan::new()).await;
    assert!(
        matches!(second, Err(SagaError::Log(LogError::Illegal { .. }))),
        "{second:?}"
    );
}

#[tokio::test]
async fn definition_exposes_steps_kinds_and_edges() {
    use saga_core::{ArgSource, StepKind};
    let def = Flow::definition();
    let names: Vec<_> = def.steps.iter().map(|s| (s.name, s.kind)).collect();
    assert_eq!(
        names,
        vec![
            ("a", StepKind::Compensatable),
            ("b", StepKind::Compensatable),
            ("c", StepKind::Compensatable),
            ("p", StepKind::Pivot),
            ("r", StepKind::Retriable),
        ]
    );
    let edges: Vec<_> = def.edges().collect();
    assert_eq!(
        edges,
        vec![
            (ArgSource::Input, 0),
            (ArgSource::Input, 1),
            (ArgSource::Step(0), 1),
            (ArgSource::Input, 2),
            (ArgSource::Step(1), 2),
            (ArgSource::Input, 3),
            (ArgSource::Step(2), 3),
            (ArgSource::Input, 4),
            (ArgSource::Step(3), 4),
        ]
    );
    assert_eq!(def.steps[2].timeout_seconds, 5);
    assert_eq!(def.steps[4].retry.max_attempts, 4);
    assert_eq!(def.hash(), Flow::definition().hash());
}

/// A log that records each append on the shared clock, and can fail on demand.
struct Recording {
    inner: saga_core::InMemoryLog,
    fail_at: Option<usize>,
    seen: Mutex<usize>,
    appends: Arc<Mutex<Vec<(u64, SagaEvent)>>>,
    failed_at_tick: Arc<Mutex<Option<u64>>>,
}

impl SagaLog for Recording {
    fn append<'a>(
        &'a self,
        id: &'a SagaId,
        event: SagaEvent,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        let mut seen = self.seen.lock().expect("lock");
        *seen += 1;
        let tick = common::tick();
        if Some(*seen) == self.fail_at {
            *self.failed_at_tick.lock().expect("lock") = Some(tick);
            return Box::pin(std::future::ready(Err(LogError::Storage(
                "disk full".into(),
            ))));
        }
        self.appends
            .lock()
            .expect("lock")
            .push((tick, event.clone()));
        self.inner.append(id, event)
    }
    fn history<'a>(&'a self, id: &'a SagaId) -> BoxFuture<'a, Result<Vec<LogEntry>, LogError>> {
        self.inner.history(id)
    }
    fn list(
        &self,
        status: Option<SagaStatus>,
    ) -> BoxFuture<'_, Result<Vec<SagaSummary>, LogError>> {
        self.inner.list(status)
    }
}

#[tokio::test(start_paused = true)]
async fn every_effect_follows_its_log_event_and_nothing_runs_after_a_log_failure() {
    // A run with retries and an unwind: b retries once, c fails, b and a are compensated.
    let plan = Plan::new().with("b", &[Retryable]).with("c", &[Terminal]);
    let index = |step: &str| ["a", "b", "c", "p", "r"].iter().position(|s| *s == step);
    let mut total = None;
    for fail_at in 1.. {
        let appends = Arc::new(Mutex::new(Vec::new()));
        let failed_at_tick = Arc::new(Mutex::new(None));
        let log = Recording {
            inner: saga_core::InMemoryLog::new(),
            fail_at: Some(fail_at),
            seen: Mutex::new(0),
            appends: appends.clone(),
            failed_at_tick: failed_at_tick.clone(),
        };
        let runtime = Runtime::builder().log(log).jitter_seed(3).build();
        let id = id("rec");
        let result = Flow::run_with_id(&runtime, id.clone(), plan.clone()).await;
        let appends = appends.lock().expect("lock").clone();
        // Each effect was preceded by the log event that announced it.
        for effect in journal(&id) {
            let announced = appends.iter().any(|(tick, event)| {
                *tick < effect.tick
                    && match (event, effect.direction) {
                        (SagaEvent::StepStarted { step, attempt }, Direction::Forward)
                        | (
                            SagaEvent::CompensationStarted { step, attempt },
                            Direction::Compensation,
                        ) => Some(*step) == index(&effect.step) && *attempt == effect.attempt,
                        _ => false,
                    }
            });
            assert!(
                announced,
                "{effect:?} ran before its log event (append {fail_at} fails)"
            );
        }
        match *failed_at_tick.lock().expect("lock") {
            Some(failed) => {
                assert!(
                    matches!(result, Err(SagaError::Log(LogError::Storage(_)))),
                    "{result:?}"
                );
                assert!(
                    journal(&id).iter().all(|e| e.tick < failed),
                    "an effect ran after the log failed"
                );
            }
            None => {
                // The run needed fewer appends than `fail_at`: every prefix was covered.
                assert!(
                    matches!(result, Result::Ok(SagaOutcome::Compensated { .. })),
                    "{result:?}"
                );
                total = Some(fail_at - 1);
                break;
            }
        }
    }
    // created, a, b (two attempts), c failed, unwind, two compensations, compensated.
    assert_eq!(total, Some(15));
}
