//! Cancellation: `Runtime::cancel` stops a saga at its next step boundary and
//! compensates what completed; a saga whose pivot (or last step) has started
//! cannot be cancelled, and says so; the request is an event in the saga log
//! and survives a crash. Many sagas cancelled at random moments never break
//! the rules.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use saga_core::history::HistoryEventType;
use saga_core::log::{LogError, SagaEvent, SqliteLog};
use saga_core::prelude::*;
use saga_core::{CancelError, Cancelled, StepKind, names};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// Every effect, per saga id: `a`, `undo:a`, ...
static LEDGER: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// A step held on its next call: it reports that it started, then waits
/// for the release (forever if the sender is dropped) and returns its verdict.
struct Hold {
    started: oneshot::Sender<()>,
    release: oneshot::Receiver<Result<(), StepError>>,
}

static HOLDS: Mutex<Vec<(String, &'static str, Hold)>> = Mutex::new(Vec::new());

/// Holds `step` of saga `id` on its next call.
fn hold(
    id: &SagaId,
    step: &'static str,
) -> (
    oneshot::Receiver<()>,
    oneshot::Sender<Result<(), StepError>>,
) {
    let (started_tx, started_rx) = oneshot::channel();
    let (release_tx, release_rx) = oneshot::channel();
    HOLDS.lock().expect("lock").push((
        id.to_string(),
        step,
        Hold {
            started: started_tx,
            release: release_rx,
        },
    ));
    (started_rx, release_tx)
}

fn ledger(id: &SagaId) -> Vec<String> {
    LEDGER
        .lock()
        .expect("lock")
        .iter()
        .filter(|(s, _)| s == id.as_str())
        .map(|(_, e)| e.clone())
        .collect()
}

async fn effect(label: &'static str) -> Result<(), StepError> {
    let ctx = StepContext::current().expect("inside a step");
    let id = ctx.saga_id().to_string();
    let held = {
        let mut holds = HOLDS.lock().expect("lock");
        holds
            .iter()
            .position(|(s, step, _)| *s == id && *step == label)
            .map(|i| holds.remove(i).2)
    };
    if let Some(hold) = held {
        let _ = hold.started.send(());
        match hold.release.await {
            Ok(verdict) => verdict?,
            Err(_) => std::future::pending::<()>().await,
        }
    }
    // Yields so that concurrent sagas and cancellations interleave.
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
    LEDGER.lock().expect("lock").push((id, label.to_owned()));
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    pub n: u32,
}

#[saga_step(compensate = undo_a)]
async fn a(_o: &Order) -> Result<u32, StepError> {
    effect("a").await.map(|_| 1)
}
async fn undo_a(_o: &Order, _a: u32) -> Result<(), StepError> {
    effect("undo:a").await
}

#[saga_step(compensate = undo_b)]
async fn b(_o: &Order, _a: &u32) -> Result<u32, StepError> {
    effect("b").await.map(|_| 2)
}
async fn undo_b(_o: &Order, _a: &u32, _b: u32) -> Result<(), StepError> {
    effect("undo:b").await
}

#[saga_step(compensate = undo_c)]
async fn c(_o: &Order) -> Result<u32, StepError> {
    effect("c").await.map(|_| 3)
}
async fn undo_c(_o: &Order, _c: u32) -> Result<(), StepError> {
    effect("undo:c").await
}

#[saga_step(pivot)]
async fn pay(_o: &Order) -> Result<u32, StepError> {
    effect("pay").await.map(|_| 4)
}

#[saga_step(retriable)]
async fn notify(_o: &Order) -> Result<(), StepError> {
    effect("notify").await
}

saga! {
    /// a → b → c (compensatable) → pay (pivot) → notify (retriable).
    pub saga Order5(order: Order) -> u32 {
        let x = a(&order);
        let y = b(&order, &x);
        let z = c(&order);
        let p = pay(&order);
        notify(&order);
        x + y + z + p
    }
}

saga! {
    /// a → b → c, all compensatable.
    pub saga Undoable(order: Order) -> u32 {
        let x = a(&order);
        let y = b(&order, &x);
        let z = c(&order);
        x + y + z
    }
}

fn fresh_id(name: &str) -> SagaId {
    SagaId::new(format!("{name}-{}", SagaId::random())).expect("id")
}

fn kinds(history: &[saga_core::log::LogEntry]) -> Vec<&'static str> {
    history.iter().map(|e| e.event.kind()).collect()
}

#[tokio::test]
async fn a_cancelled_saga_stops_at_the_next_step_and_compensates_what_completed() {
    let rt = Runtime::builder().register::<Order5>().build();
    let id = fresh_id("between");
    let (started, release) = hold(&id, "b");
    let run = tokio::spawn({
        let (rt, id) = (rt.clone(), id.clone());
        async move { Order5::run_with_id(&rt, id, Order { n: 1 }).await }
    });
    started.await.expect("b started");
    // b is running: the cancellation waits for the boundary after it.
    let answer = rt.cancel(&id, "customer withdrew").await.expect("cancel");
    assert_eq!(answer, Cancelled::Requested);
    assert_eq!(
        rt.cancel(&id, "again").await.expect("cancel again"),
        Cancelled::AlreadyRequested
    );
    release.send(Ok(())).expect("release b");
    let outcome = run.await.expect("task").expect("run");
    assert_eq!(
        outcome,
        SagaOutcome::Cancelled {
            before_step: "c",
            reason: "customer withdrew".into()
        }
    );
    assert_eq!(outcome.status(), SagaStatus::Compensated);
    assert_eq!(ledger(&id), ["a", "b", "undo:b", "undo:a"]);

    let history = rt.history(&id).await.expect("history");
    assert_eq!(
        kinds(&history),
        [
            "created",
            "step_started",
            "step_succeeded",
            "step_started",
            "cancel_requested",
            "step_succeeded",
            "unwind_started",
            "compensation_started",
            "compensation_succeeded",
            "compensation_started",
            "compensation_succeeded",
            "compensated",
        ]
    );
    assert!(history.iter().any(|e| matches!(
        &e.event,
        SagaEvent::UnwindStarted { failed_step: 2, error }
            if error.name() == names::CANCELLED && error.message() == "customer withdrew"
    )));
    // Only one request is recorded, with the first reason.
    assert_eq!(
        history
            .iter()
            .filter(|e| matches!(&e.event, SagaEvent::CancelRequested { reason } if reason == "customer withdrew"))
            .count(),
        1
    );
    let table = rt.execution_history(&id).await.expect("execution history");
    assert!(
        table
            .events
            .iter()
            .any(|e| e.event_type == HistoryEventType::ExecutionCancelRequested)
    );
    // Once it has ended, a cancellation is refused with its status.
    match rt.cancel(&id, "late").await {
        Err(CancelError::NotRunning { status, .. }) => {
            assert_eq!(status, SagaStatus::Compensated)
        }
        other => panic!("expected NotRunning, got {other:?}"),
    }
}

#[tokio::test]
async fn a_step_that_fails_for_good_after_the_request_unwinds_with_its_own_error() {
    let rt = Runtime::builder().register::<Order5>().build();
    let id = fresh_id("fails");
    let (started, release) = hold(&id, "b");
    let run = tokio::spawn({
        let (rt, id) = (rt.clone(), id.clone());
        async move { Order5::run_with_id(&rt, id, Order { n: 1 }).await }
    });
    started.await.expect("b started");
    assert_eq!(
        rt.cancel(&id, "withdrew").await.expect("cancel"),
        Cancelled::Requested
    );
    release
        .send(Err(StepError::terminal("no rooms")))
        .expect("release b");
    match run.await.expect("task").expect("run") {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "b");
            assert_eq!(error.name(), names::TERMINAL);
        }
        other => panic!("expected Compensated at b, got {other:?}"),
    }
    assert_eq!(ledger(&id), ["a", "undo:a"]);
}

#[tokio::test]
async fn a_started_pivot_or_last_step_refuses_the_cancellation() {
    let rt = Runtime::builder()
        .register::<Order5>()
        .register::<Undoable>()
        .build();

    // The pivot is running: the saga must finish forward.
    let id = fresh_id("pivot");
    let (started, release) = hold(&id, "pay");
    let run = tokio::spawn({
        let (rt, id) = (rt.clone(), id.clone());
        async move { Order5::run_with_id(&rt, id, Order { n: 1 }).await }
    });
    started.await.expect("pay started");
    match rt.cancel(&id, "too late").await {
        Err(e @ CancelError::TooLate { .. }) => {
            let CancelError::TooLate { step, kind, .. } = &e else {
                unreachable!()
            };
            assert_eq!((step.as_str(), *kind), ("pay", StepKind::Pivot));
            assert!(
                e.to_string().contains("pivot step `pay` has started"),
                "{e}"
            );
        }
        other => panic!("expected TooLate, got {other:?}"),
    }
    release.send(Ok(())).expect("release pay");
    assert_eq!(
        run.await.expect("task").expect("run"),
        SagaOutcome::Completed(10)
    );
    assert_eq!(ledger(&id), ["a", "b", "c", "pay", "notify"]);

    // The last step of a saga without a pivot is running: nothing is left to stop before.
    let id = fresh_id("last");
    let (started, release) = hold(&id, "c");
    let run = tokio::spawn({
        let (rt, id) = (rt.clone(), id.clone());
        async move { Undoable::run_with_id(&rt, id, Order { n: 1 }).await }
    });
    started.await.expect("c started");
    match rt.cancel(&id, "too late").await {
        Err(CancelError::TooLate {
            step, kind, why, ..
        }) => {
            assert_eq!((step.as_str(), kind), ("c", StepKind::Compensatable));
            assert!(why.contains("last step `c`"), "{why}");
        }
        other => panic!("expected TooLate, got {other:?}"),
    }
    release.send(Ok(())).expect("release c");
    assert_eq!(
        run.await.expect("task").expect("run"),
        SagaOutcome::Completed(6)
    );

    // An id the log does not know.
    match rt.cancel(&fresh_id("nobody"), "?").await {
        Err(CancelError::Log(LogError::UnknownSaga(_))) => {}
        other => panic!("expected UnknownSaga, got {other:?}"),
    }
}

fn temp_db(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cancel");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// Runs Order5 on `db` until step b is running, optionally cancels it
/// there, then stops the runtime as a crash would: the task is dropped
/// mid-step and the log is closed.
async fn crash_during_b(db: &PathBuf, id: &SagaId, cancel: bool) {
    let rt = Runtime::builder()
        .log(SqliteLog::open(db).expect("open"))
        .register::<Order5>()
        .build();
    // b never returns: the release is dropped with the crash.
    let (started, _release) = hold(id, "b");
    let run = tokio::spawn({
        let (rt, id) = (rt.clone(), id.clone());
        async move { Order5::run_with_id(&rt, id, Order { n: 1 }).await }
    });
    started.await.expect("b started");
    if cancel {
        assert_eq!(
            rt.cancel(id, "crash test").await.expect("cancel"),
            Cancelled::Requested
        );
    }
    run.abort();
    let _ = run.await;
    drop(rt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_survives_a_crash_and_recovery_finishes_it() {
    // Cancelled while running, then the process dies.
    let db = temp_db("cancel-then-crash");
    let id = fresh_id("cancel-then-crash");
    crash_during_b(&db, &id, true).await;
    let rt = Runtime::builder()
        .log(SqliteLog::open(&db).expect("reopen"))
        .register::<Order5>()
        .build();
    let report = rt.recover().await.expect("recover");
    assert_eq!(report.count(SagaStatus::Compensated), 1, "{report:?}");
    // b's outcome was unknown: it is re-invoked with the same key, then both are compensated.
    assert_eq!(ledger(&id), ["a", "b", "undo:b", "undo:a"]);
    let history = rt.history(&id).await.expect("history");
    assert!(kinds(&history).contains(&"cancel_requested"));
    drop(rt);

    // The process died first; the saga is cancelled in the log before recovery.
    let db = temp_db("crash-then-cancel");
    let id = fresh_id("crash-then-cancel");
    crash_during_b(&db, &id, false).await;
    let rt = Runtime::builder()
        .log(SqliteLog::open(&db).expect("reopen"))
        .register::<Order5>()
        .build();
    assert_eq!(
        rt.cancel(&id, "after the crash").await.expect("cancel"),
        Cancelled::Requested
    );
    let report = rt.recover().await.expect("recover");
    assert_eq!(report.count(SagaStatus::Compensated), 1, "{report:?}");
    assert_eq!(ledger(&id), ["a", "b", "undo:b", "undo:a"]);
}

/// A small deterministic generator, so a failing seed can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellations_racing_running_sagas_keep_every_rule() {
    let rt = Runtime::builder().register::<Order5>().build();
    let mut rng = Lcg(0x5a6a);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let id = fresh_id(&format!("race{i}"));
        let delay = rng.next(40);
        let run = tokio::spawn({
            let (rt, id) = (rt.clone(), id.clone());
            async move { Order5::run_with_id(&rt, id, Order { n: 1 }).await }
        });
        let canceller = tokio::spawn({
            let (rt, id) = (rt.clone(), id.clone());
            async move {
                for _ in 0..delay {
                    tokio::task::yield_now().await;
                }
                // The saga may not be in the log yet: try until it is.
                loop {
                    match rt.cancel(&id, "race").await {
                        Err(CancelError::Log(LogError::UnknownSaga(_))) => {
                            tokio::task::yield_now().await
                        }
                        other => return other,
                    }
                }
            }
        });
        tasks.push((id, run, canceller));
    }
    let mut answers: HashMap<&'static str, usize> = HashMap::new();
    for (id, run, canceller) in tasks {
        let outcome = run.await.expect("task").expect("run");
        let answer = canceller.await.expect("canceller");
        let done = ledger(&id);
        let forward: Vec<&str> = done
            .iter()
            .filter(|e| !e.starts_with("undo:"))
            .map(String::as_str)
            .collect();
        match (&answer, &outcome) {
            (Ok(Cancelled::Requested), SagaOutcome::Cancelled { before_step, .. }) => {
                *answers.entry("requested").or_default() += 1;
                // Every step that ran is compensated, last first, and
                // nothing ran from the boundary on.
                assert!(!forward.contains(&"pay"), "{id}: {done:?}");
                let undone: Vec<String> =
                    forward.iter().rev().map(|s| format!("undo:{s}")).collect();
                assert_eq!(&done[forward.len()..], &undone[..], "{id}");
                assert_eq!(
                    Some(*before_step),
                    ["a", "b", "c", "pay"].get(forward.len()).copied(),
                    "{id}: {done:?}"
                );
            }
            (Err(CancelError::TooLate { .. }), SagaOutcome::Completed(10))
            | (Err(CancelError::NotRunning { .. }), SagaOutcome::Completed(10)) => {
                *answers.entry("refused").or_default() += 1;
                assert_eq!(done, ["a", "b", "c", "pay", "notify"], "{id}");
            }
            other => panic!(
                "{id}: cancel answered {:?} but the saga ended {:?}",
                other.0, other.1
            ),
        }
    }
    eprintln!("cancel answers: {answers:?}");
    // Both sides of the race happened.
    assert!(
        answers.get("requested").copied().unwrap_or(0) > 0,
        "{answers:?}"
    );
    assert!(
        answers.get("refused").copied().unwrap_or(0) > 0,
        "{answers:?}"
    );
}
