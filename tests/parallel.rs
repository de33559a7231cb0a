//! Parallel groups (`join!`): branches run concurrently, their outputs feed
//! later steps, and when a branch fails for good the completed branches are
//! compensated (reverse declaration order) before the earlier steps. A
//! branch whose outcome stays unknown makes the saga stuck, whatever its
//! siblings did. The saga log records interleaved branches, and both logs
//! accept them.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Behavior::*, Plan, act, compensated, succeeded, undo};
use saga_core::log::{SagaEvent, SqliteLog};
use saga_core::prelude::*;

#[saga_step(compensate = undo_first)]
async fn first(plan: &Plan) -> Result<u64, StepError> {
    act(plan, 1).await
}
async fn undo_first(plan: &Plan, out: u64) -> Result<(), StepError> {
    undo(plan, out).await
}

#[saga_step(compensate = undo_left, retry(max_attempts = 1, interval_seconds = 1))]
async fn left(plan: &Plan, first: &u64) -> Result<u64, StepError> {
    act(plan, *first + 10).await
}
async fn undo_left(plan: &Plan, _first: &u64, out: u64) -> Result<(), StepError> {
    undo(plan, out).await
}

#[saga_step(compensate = undo_right, retry(max_attempts = 1, interval_seconds = 1))]
async fn right(plan: &Plan, first: &u64) -> Result<u64, StepError> {
    act(plan, *first + 100).await
}
async fn undo_right(plan: &Plan, _first: &u64, out: u64) -> Result<(), StepError> {
    undo(plan, out).await
}

#[saga_step(compensate = undo_last, retry(max_attempts = 1))]
async fn last(plan: &Plan, left: &u64, right: &u64) -> Result<u64, StepError> {
    act(plan, *left + *right).await
}
async fn undo_last(plan: &Plan, _left: &u64, _right: &u64, out: u64) -> Result<(), StepError> {
    undo(plan, out).await
}

saga! {
    /// first, then left and right together, then last (all compensatable).
    pub saga Fork(plan: Plan) -> u64 {
        let first = first(&plan);
        let (left, right) = join!(left(&plan, &first), right(&plan, &first));
        let last = last(&plan, &left, &right);
        last
    }
}

fn id(name: &str) -> SagaId {
    SagaId::new(format!("{name}-{}", SagaId::random())).expect("valid id")
}

async fn run_on(rt: &Runtime, name: &str, plan: Plan) -> (SagaId, SagaOutcome<u64>) {
    let id = id(name);
    let outcome = Fork::run_with_id(rt, id.clone(), plan)
        .await
        .expect("the runtime itself does not fail");
    (id, outcome)
}

async fn run(name: &str, plan: Plan) -> (SagaId, SagaOutcome<u64>) {
    run_on(&common::runtime(), name, plan).await
}

/// The step whose failure compensated the saga, if it was compensated.
fn failed_step(outcome: &SagaOutcome<u64>) -> Option<&'static str> {
    match outcome {
        SagaOutcome::Compensated { failed_step, .. } => Some(failed_step),
        _ => None,
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test(start_paused = true)]
async fn branches_run_at_once_and_feed_the_next_step() {
    // Each branch sleeps 10 s; on the paused clock, together they take 10 s.
    let plan = Plan::new()
        .with("left", &[Sleep(10)])
        .with("right", &[Sleep(10)]);
    let started = tokio::time::Instant::now();
    let (id, outcome) = run("together", plan).await;
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(10),
        "not one after the other"
    );
    assert!(
        matches!(outcome, SagaOutcome::Completed(112)),
        "last = left (1 + 10) + right (1 + 100); got {outcome:?}"
    );
    let done = succeeded(&id);
    assert_eq!(done.first().map(String::as_str), Some("first"));
    assert_eq!(done.last().map(String::as_str), Some("last"));
    assert_eq!(sorted(done[1..3].to_vec()), ["left", "right"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_branch_undoes_its_completed_sibling_then_the_earlier_steps() {
    let plan = Plan::new().with("right", &[Terminal]);
    let (id, outcome) = run("right-fails", plan).await;
    match outcome {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "right");
            assert_eq!(error.class(), saga_core::ErrorClass::Terminal);
        }
        other => panic!("expected compensated, got {other:?}"),
    }
    assert_eq!(sorted(succeeded(&id)), ["first", "left"]);
    assert_eq!(
        compensated(&id),
        ["left", "first"],
        "the failed branch changed nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn when_both_branches_fail_the_first_declared_is_reported() {
    // The right branch fails for good at once, the left one after a retry
    // 1 s later: the left one, declared first, is reported.
    let plan = Plan::new()
        .with("left", &[Retryable, Terminal])
        .with("right", &[Terminal]);
    let (id, outcome) = run("both-fail", plan).await;
    assert_eq!(failed_step(&outcome), Some("left"), "{outcome:?}");
    assert_eq!(compensated(&id), ["first"]);
}

#[tokio::test(start_paused = true)]
async fn a_later_failure_undoes_every_branch_in_reverse_order() {
    let plan = Plan::new().with("last", &[Terminal]);
    let (id, outcome) = run("last-fails", plan).await;
    assert_eq!(failed_step(&outcome), Some("last"), "{outcome:?}");
    assert_eq!(compensated(&id), ["right", "left", "first"]);
}

#[tokio::test(start_paused = true)]
async fn an_unresolved_branch_makes_the_saga_stuck_and_nothing_is_undone() {
    // `right` never settles its ambiguity; `left` fails for good meanwhile.
    let plan = Plan::new()
        .with("left", &[Terminal])
        .with("right", &[Ambiguous; 10]);
    let (id, outcome) = run("stuck", plan).await;
    match outcome {
        SagaOutcome::Stuck {
            step, direction, ..
        } => {
            assert_eq!(step, "right");
            assert_eq!(direction, Direction::Forward);
        }
        other => panic!("expected stuck, got {other:?}"),
    }
    assert!(compensated(&id).is_empty(), "a stuck saga undoes nothing");
}

#[tokio::test(start_paused = true)]
async fn a_retried_branch_does_not_hold_back_its_sibling() {
    // `left` fails retryably once and waits 1 s; `right` finishes meanwhile.
    let plan = Plan::new().with("left", &[Retryable]);
    let rt = Runtime::builder().jitter_seed(1).build();
    let (id, outcome) = run_on(&rt, "retry", plan).await;
    assert!(matches!(outcome, SagaOutcome::Completed(_)), "{outcome:?}");
    let history = rt.history(&id).await.expect("history");
    let position = |want: &SagaEvent| {
        history
            .iter()
            .position(|e| e.event == *want)
            .unwrap_or_else(|| panic!("{want:?} not in the history"))
    };
    let right_done = history
        .iter()
        .position(|e| matches!(e.event, SagaEvent::StepSucceeded { step: 2, .. }))
        .expect("right succeeded");
    assert!(
        right_done
            < position(&SagaEvent::StepStarted {
                step: 1,
                attempt: 2
            }),
        "the sibling finished while the branch waited out its backoff"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_log_records_interleaved_branches_and_recovery_reads_them() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("parallel");
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join(format!("fork-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let rt = Runtime::builder()
        .log(SqliteLog::open(&db).expect("open"))
        .register::<Fork>()
        .build();
    let (ok, outcome) = run_on(&rt, "sqlite", Plan::new()).await;
    assert!(matches!(outcome, SagaOutcome::Completed(_)), "{outcome:?}");
    let (failed, outcome) = run_on(&rt, "sqlite", Plan::new().with("left", &[Terminal])).await;
    assert_eq!(failed_step(&outcome), Some("left"), "{outcome:?}");
    drop(rt);
    let rt = Runtime::builder()
        .log(SqliteLog::open(&db).expect("reopen"))
        .register::<Fork>()
        .build();
    for id in [&ok, &failed] {
        let events: Vec<SagaEvent> = rt
            .history(id)
            .await
            .expect("history")
            .into_iter()
            .map(|e| e.event)
            .collect();
        // Both branch starts come before either branch's end.
        assert_eq!(
            events[3..5],
            [
                SagaEvent::StepStarted {
                    step: 1,
                    attempt: 1
                },
                SagaEvent::StepStarted {
                    step: 2,
                    attempt: 1
                },
            ],
            "{events:#?}"
        );
        match &events[0] {
            SagaEvent::Created { groups, .. } => assert_eq!(groups, &[[1, 3]]),
            other => panic!("not created: {other:?}"),
        }
    }
    let report = rt.recover().await.expect("recover");
    assert!(report.sagas.is_empty(), "nothing left to do: {report:?}");
}

/// Cancels the saga from inside `first`.
#[saga_step(compensate = undo_cancelling)]
async fn cancelling(plan: &Plan) -> Result<u64, StepError> {
    let ctx = StepContext::current().expect("context");
    let rt = RUNTIME.lock().expect("lock").clone().expect("runtime");
    rt.cancel(ctx.saga_id(), "changed my mind")
        .await
        .expect("cancellable before the group");
    act(plan, 1).await
}
async fn undo_cancelling(plan: &Plan, out: u64) -> Result<(), StepError> {
    undo(plan, out).await
}

static RUNTIME: std::sync::Mutex<Option<Runtime>> = std::sync::Mutex::new(None);

saga! {
    /// `cancelling`, then left and right together.
    pub saga CancelledFork(plan: Plan) -> u64 {
        let first = cancelling(&plan);
        let (left, _) = join!(left(&plan, &first), right(&plan, &first));
        left
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancellation_stops_before_the_group_starts() {
    let rt = common::runtime();
    *RUNTIME.lock().expect("lock") = Some(rt.clone());
    let id = id("cancel");
    let outcome = CancelledFork::run_with_id(&rt, id.clone(), Plan::new())
        .await
        .expect("run");
    match outcome {
        SagaOutcome::Cancelled { before_step, .. } => assert_eq!(before_step, "left"),
        other => panic!("expected cancelled, got {other:?}"),
    }
    assert_eq!(succeeded(&id), ["cancelling"], "no branch started");
    assert_eq!(compensated(&id), ["cancelling"]);
}

#[saga_step(pivot, retry(max_attempts = 1))]
async fn pay(plan: &Plan, first: &u64) -> Result<u64, StepError> {
    act(plan, *first + 1000).await
}

#[saga_step(retriable, retry(max_attempts = 1, interval_seconds = 1))]
async fn mail(plan: &Plan, paid: &u64) -> Result<u64, StepError> {
    act(plan, *paid).await
}

#[saga_step(retriable, retry(max_attempts = 1, interval_seconds = 1))]
async fn text(plan: &Plan, paid: &u64) -> Result<u64, StepError> {
    act(plan, *paid).await
}

saga! {
    /// first, the pivot, then two retriable branches.
    pub saga Notify(plan: Plan) -> u64 {
        let first = first(&plan);
        let paid = pay(&plan, &first);
        let (mailed, texted) = join!(mail(&plan, &paid), text(&plan, &paid));
        mailed + texted
    }
}

#[tokio::test(start_paused = true)]
async fn one_resume_runs_every_stuck_retriable_branch_again() {
    // Both branches spend their budget (2 calls each) and the saga is stuck
    // at the first; one operator resume gives both a fresh budget.
    let rt = Runtime::builder()
        .register::<Notify>()
        .jitter_seed(1)
        .build();
    let id = id("notify");
    let plan = Plan::new()
        .with("mail", &[Retryable, Retryable])
        .with("text", &[Retryable, Retryable]);
    let outcome = Notify::run_with_id(&rt, id.clone(), plan)
        .await
        .expect("run");
    match outcome {
        SagaOutcome::Stuck { step, .. } => assert_eq!(step, "mail"),
        other => panic!("expected stuck, got {other:?}"),
    }
    assert_eq!(
        rt.resume(&id, "ops").await.expect("resume"),
        SagaStatus::Completed,
        "both branches ran again after one resume"
    );
    let history = rt.history(&id).await.expect("history");
    for step in [2, 3] {
        assert!(
            history
                .iter()
                .any(|e| e.event == SagaEvent::StepStarted { step, attempt: 3 }),
            "branch {step} ran a third attempt"
        );
    }
    assert!(compensated(&id).is_empty());
}
