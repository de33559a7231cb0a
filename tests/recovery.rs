//! Recovery and operations on the durable log: a runtime that stops in the
//! middle of a step or a compensation is replaced by a new one, which finds
//! the saga in the SQLite log and drives it to an end. Resumes under a
//! changed definition, unregistered sagas and records that no longer fit are
//! refused per saga; stuck sagas wait for an operator to resume or abandon them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use saga_core::log::{LogError, SagaEvent, SagaLog, SagaStatus, SqliteLog};
use saga_core::prelude::*;
use saga_core::{StepKind, names};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What a step does on its next call, per saga id and step; default: succeed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Ok,
    /// Never returns: the runtime is stopped while it runs.
    Hang,
    Terminal,
    Ambiguous,
}

static SCRIPT: Mutex<Vec<(String, &'static str, Act)>> = Mutex::new(Vec::new());
/// Every effect: (saga id, step or `undo:step`, attempt).
static EFFECTS: Mutex<Vec<(String, String, u32)>> = Mutex::new(Vec::new());

fn script(id: &SagaId, step: &'static str, acts: &[Act]) {
    let mut s = SCRIPT.lock().expect("lock");
    for act in acts {
        s.push((id.to_string(), step, *act));
    }
}

fn effects(id: &SagaId) -> Vec<String> {
    EFFECTS
        .lock()
        .expect("lock")
        .iter()
        .filter(|(s, ..)| s == id.as_str())
        .map(|(_, step, attempt)| format!("{step}#{attempt}"))
        .collect()
}

async fn perform(step: &'static str, label: String) -> Result<(), StepError> {
    let ctx = StepContext::current().expect("inside a step");
    let id = ctx.saga_id().to_string();
    let act = {
        let mut s = SCRIPT.lock().expect("lock");
        match s.iter().position(|(sid, st, _)| *sid == id && *st == step) {
            Some(i) => s.remove(i).2,
            None => Act::Ok,
        }
    };
    if act == Act::Hang {
        std::future::pending::<()>().await;
    }
    if act == Act::Terminal {
        return Err(StepError::terminal("declined"));
    }
    EFFECTS
        .lock()
        .expect("lock")
        .push((id, label, ctx.attempt()));
    match act {
        Act::Ambiguous => Err(StepError::ambiguous("lost the answer")),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Order {
    pub n: u32,
}

#[saga_step(compensate = release, timeout_seconds = 3600)]
async fn reserve(order: &Order) -> Result<u32, StepError> {
    perform("reserve", "reserve".into()).await?;
    Ok(order.n + 1)
}
async fn release(_order: &Order, _r: u32) -> Result<(), StepError> {
    perform("undo:reserve", "undo:reserve".into()).await
}

#[saga_step(compensate = refund, timeout_seconds = 3600, retry(max_attempts = 1, interval_seconds = 1))]
async fn charge(_order: &Order, r: &u32) -> Result<u32, StepError> {
    perform("charge", "charge".into()).await?;
    Ok(r * 10)
}
async fn refund(_order: &Order, _r: &u32, _c: u32) -> Result<(), StepError> {
    perform("undo:charge", "undo:charge".into()).await
}

#[saga_step(
    pivot,
    timeout_seconds = 3600,
    retry(max_attempts = 1, interval_seconds = 1)
)]
async fn ship(_order: &Order, c: &u32) -> Result<u32, StepError> {
    perform("ship", "ship".into()).await?;
    Ok(c + 1)
}

saga! {
    /// reserve → charge (compensatable) → ship (pivot).
    pub saga Checkout(order: Order) -> u32 {
        let r = reserve(&order);
        let c = charge(&order, &r);
        let s = ship(&order, &c);
        s
    }
}

fn temp_db(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recovery");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn runtime(log: &Arc<SqliteLog>) -> Runtime {
    Runtime::builder()
        .shared_log(log.clone())
        .register::<Checkout>()
        .compensation_retry(RetryPolicy {
            max_attempts: 1,
            interval_seconds: 0,
            backoff_rate: 1.0,
            max_delay_seconds: None,
            jitter: Jitter::None,
        })
        .build()
}

fn fresh_id(name: &str) -> SagaId {
    SagaId::new(format!("{name}-{}", SagaId::random())).expect("id")
}

/// Starts the saga on a runtime of its own and stops that runtime (drops
/// the task mid-step) once the log's last event is `until`.
async fn run_until_stopped(log: &Arc<SqliteLog>, id: &SagaId, until: SagaEvent) {
    let rt = runtime(log);
    let task = tokio::spawn({
        let id = id.clone();
        async move { Checkout::run_with_id(&rt, id, Order { n: 1 }).await }
    });
    for _ in 0..2000 {
        // Stopped only once the hanging call is in flight: the log shows
        // its start and the step has taken its scripted hang.
        let hanging = SCRIPT
            .lock()
            .expect("lock")
            .iter()
            .any(|(sid, _, act)| sid == id.as_str() && *act == Act::Hang);
        if let Ok(h) = log.history(id).await
            && h.last().map(|e| &e.event) == Some(&until)
            && !hanging
        {
            task.abort();
            let _ = task.await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the saga never reached {until:?}");
}

fn kinds(h: &[saga_core::log::LogEntry]) -> Vec<&'static str> {
    h.iter().map(|e| e.event.kind()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_interrupted_mid_flight_is_re_invoked_with_the_same_key_and_completes() {
    let log = Arc::new(SqliteLog::open(temp_db("interrupted-step")).expect("open"));
    let id = fresh_id("step");
    script(&id, "charge", &[Act::Hang]);
    run_until_stopped(
        &log,
        &id,
        SagaEvent::StepStarted {
            step: 1,
            attempt: 1,
        },
    )
    .await;
    assert_eq!(
        log.list(Some(SagaStatus::Running))
            .await
            .expect("list")
            .len(),
        1
    );

    let report = runtime(&log).recover().await.expect("recover");
    assert_eq!(report.sagas.len(), 1, "{report:?}");
    assert_eq!(report.sagas[0].id, id);
    assert_eq!(
        report.sagas[0].result.as_ref().ok(),
        Some(&SagaStatus::Completed)
    );
    let h = log.history(&id).await.expect("history");
    let interrupted = h.iter().find_map(|e| match &e.event {
        SagaEvent::StepFailed { step: 1, error, .. } => Some(error.clone()),
        _ => None,
    });
    assert_eq!(
        interrupted.as_ref().map(StepError::name),
        Some(names::INTERRUPTED)
    );
    assert_eq!(
        effects(&id),
        ["reserve#1", "charge#2", "ship#1"],
        "charge re-invoked as attempt 2 and nothing undone"
    );
    // Nothing is left to recover.
    assert!(
        runtime(&log)
            .recover()
            .await
            .expect("recover")
            .sagas
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_compensation_runs_again_and_the_saga_is_compensated() {
    let log = Arc::new(SqliteLog::open(temp_db("interrupted-undo")).expect("open"));
    let id = fresh_id("undo");
    script(&id, "ship", &[Act::Terminal]);
    script(&id, "undo:charge", &[Act::Hang]);
    run_until_stopped(
        &log,
        &id,
        SagaEvent::CompensationStarted {
            step: 1,
            attempt: 1,
        },
    )
    .await;
    let report = runtime(&log).recover().await.expect("recover");
    assert_eq!(
        report.count(SagaStatus::Compensated),
        1,
        "{report:?}: {:?}",
        kinds(&log.history(&id).await.expect("history"))
    );
    assert_eq!(
        effects(&id),
        ["reserve#1", "charge#1", "undo:charge#2", "undo:reserve#1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_step_that_then_fails_terminally_is_not_compensated_itself() {
    let log = Arc::new(SqliteLog::open(temp_db("interrupted-terminal")).expect("open"));
    let id = fresh_id("term");
    script(&id, "charge", &[Act::Hang, Act::Terminal]);
    run_until_stopped(
        &log,
        &id,
        SagaEvent::StepStarted {
            step: 1,
            attempt: 1,
        },
    )
    .await;
    let report = runtime(&log).recover().await.expect("recover");
    assert_eq!(report.count(SagaStatus::Compensated), 1, "{report:?}");
    assert_eq!(effects(&id), ["reserve#1", "undo:reserve#1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_unregistered_and_unreadable_sagas_are_refused_one_by_one() {
    let log = Arc::new(SqliteLog::open(temp_db("refused")).expect("open"));
    let def = Checkout::definition();
    let kinds_of = || def.steps.iter().map(|s| s.kind).collect::<Vec<StepKind>>();
    let created = |saga: &str, hash: &str, input: serde_json::Value| SagaEvent::Created {
        saga: saga.into(),
        definition_hash: hash.into(),
        kinds: kinds_of(),
        groups: Vec::new(),
        input,
    };
    let changed = fresh_id("changed");
    log.append(
        &changed,
        created("Checkout", "fnv1a64:00000000deadbeef", json!({"n": 1})),
    )
    .await
    .expect("append");
    let unknown = fresh_id("unknown");
    log.append(&unknown, created("Refund", "fnv1a64:1", json!({"n": 1})))
        .await
        .expect("append");
    let bad_input = fresh_id("input");
    log.append(
        &bad_input,
        created("Checkout", def.hash(), json!({"n": "one"})),
    )
    .await
    .expect("append");
    let bad_output = fresh_id("output");
    for e in [
        created("Checkout", def.hash(), json!({"n": 1})),
        SagaEvent::StepStarted {
            step: 0,
            attempt: 1,
        },
        SagaEvent::StepSucceeded {
            step: 0,
            output: json!({"not": "a u32"}),
        },
    ] {
        log.append(&bad_output, e).await.expect("append");
    }
    let fine = fresh_id("fine");
    log.append(&fine, created("Checkout", def.hash(), json!({"n": 1})))
        .await
        .expect("append");

    let report = runtime(&log).recover().await.expect("recover");
    let result = |id: &SagaId| {
        report
            .sagas
            .iter()
            .find(|r| r.id == *id)
            .map(|r| r.result.as_ref())
            .expect("in the report")
    };
    assert_eq!(result(&fine).ok(), Some(&SagaStatus::Completed));
    match result(&changed) {
        Err(
            e @ SagaError::DefinitionChanged {
                logged, current, ..
            },
        ) => {
            assert_eq!(logged, "fnv1a64:00000000deadbeef");
            assert_eq!(current, def.hash());
            let text = e.to_string();
            for part in [changed.as_str(), "Checkout", logged.as_str(), def.hash()] {
                assert!(text.contains(part), "{text} names {part}");
            }
        }
        other => panic!("expected DefinitionChanged, got {other:?}"),
    }
    assert!(
        matches!(result(&unknown), Err(SagaError::NotRegistered { saga, .. }) if saga == "Refund")
    );
    match result(&bad_input) {
        Err(e @ SagaError::BadRecord { id, .. }) => {
            assert_eq!(*id, bad_input);
            assert!(e.to_string().contains("input"), "{e}");
        }
        other => panic!("expected BadRecord, got {other:?}"),
    }
    match result(&bad_output) {
        Err(e @ SagaError::State { id, .. }) => {
            assert_eq!(*id, bad_output);
            assert!(e.to_string().contains("reserve"), "{e}");
        }
        other => panic!("expected a state error, got {other:?}"),
    }
    assert_eq!(report.failures().count(), 4);
    // The refused sagas are left exactly as they were.
    assert_eq!(
        log.history(&changed).await.expect("history").len(),
        1,
        "nothing appended to a refused saga"
    );
    assert_eq!(
        log.list(Some(SagaStatus::Running))
            .await
            .expect("list")
            .len(),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_list_resume_and_abandon_stuck_sagas() {
    let log = Arc::new(SqliteLog::open(temp_db("operators")).expect("open"));
    let rt = runtime(&log);
    // Ambiguous twice (the try, then the resolve budget of 1): stuck at charge.
    let resumed = fresh_id("resumed");
    script(
        &resumed,
        "charge",
        &[Act::Ambiguous, Act::Ambiguous, Act::Ambiguous],
    );
    let out = Checkout::run_with_id(&rt, resumed.clone(), Order { n: 1 })
        .await
        .expect("runs");
    assert!(
        matches!(out, SagaOutcome::Stuck { step: "charge", .. }),
        "{out:?}"
    );
    let abandoned = fresh_id("abandoned");
    script(
        &abandoned,
        "ship",
        &[Act::Ambiguous, Act::Ambiguous, Act::Ambiguous],
    );
    let out = Checkout::run_with_id(&rt, abandoned.clone(), Order { n: 2 })
        .await
        .expect("runs");
    assert!(
        matches!(out, SagaOutcome::Stuck { step: "ship", .. }),
        "{out:?}"
    );
    let done = fresh_id("done");
    let out = Checkout::run_with_id(&rt, done.clone(), Order { n: 3 })
        .await
        .expect("runs");
    assert!(out.is_completed());

    let stuck: Vec<SagaId> = rt
        .sagas(Some(SagaStatus::Stuck))
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert!(stuck.contains(&resumed) && stuck.contains(&abandoned) && !stuck.contains(&done));
    // Recovery does not touch stuck sagas: they wait for an operator.
    let before = rt.history(&resumed).await.expect("history").len();
    let report = rt.recover().await.expect("recover");
    assert!(report.sagas.iter().all(|r| r.id != resumed), "{report:?}");
    assert_eq!(rt.history(&resumed).await.expect("history").len(), before);

    // Resume: the stuck step runs again with a fresh budget and succeeds.
    let status = rt.resume(&resumed, "ops: payment provider is back").await;
    assert_eq!(status.ok(), Some(SagaStatus::Completed));
    let h = rt.history(&resumed).await.expect("history");
    assert!(h.iter().any(|e| matches!(&e.event,
        SagaEvent::Resumed { by } if by == "ops: payment provider is back")));
    assert_eq!(
        effects(&resumed).last().map(String::as_str),
        Some("ship#1"),
        "{:?}",
        effects(&resumed)
    );

    // Abandon: recorded with its reason; nothing runs, nothing is deleted.
    rt.abandon(&abandoned, "shipped by hand, ticket 42")
        .await
        .expect("abandon");
    let h = rt.history(&abandoned).await.expect("history");
    assert!(matches!(&h.last().expect("events").event,
        SagaEvent::Abandoned { reason } if reason == "shipped by hand, ticket 42"));
    assert_eq!(
        rt.sagas(Some(SagaStatus::Abandoned))
            .await
            .expect("list")
            .len(),
        1
    );

    // The operations refuse sagas in the wrong status, with typed errors.
    for err in [
        rt.resume(&done, "ops").await.unwrap_err(),
        rt.abandon(&done, "why").await.unwrap_err(),
        rt.resume(&abandoned, "ops").await.unwrap_err(),
    ] {
        assert!(matches!(err, SagaError::WrongStatus { .. }), "{err}");
    }
    let missing = fresh_id("missing");
    assert!(matches!(
        rt.resume(&missing, "ops").await,
        Err(SagaError::Log(LogError::UnknownSaga(_)))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_leaves_alone_the_sagas_its_runtime_is_driving() {
    let log = Arc::new(SqliteLog::open(temp_db("active")).expect("open"));
    let rt = runtime(&log);
    let id = fresh_id("active");
    script(&id, "reserve", &[Act::Hang]);
    let task = tokio::spawn({
        let rt = rt.clone();
        let id = id.clone();
        async move { Checkout::run_with_id(&rt, id, Order { n: 1 }).await }
    });
    for _ in 0..2000 {
        let hanging = SCRIPT
            .lock()
            .expect("lock")
            .iter()
            .any(|(sid, _, act)| *sid == id.as_str() && *act == Act::Hang);
        if log.history(&id).await.map(|h| h.len()).unwrap_or(0) == 2 && !hanging {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let report = rt.recover().await.expect("recover");
    assert!(report.sagas.is_empty(), "{report:?}");
    assert!(matches!(
        rt.resume(&id, "ops").await,
        Err(SagaError::Busy(_))
    ));
    task.abort();
    let _ = task.await;
    // Once its task is gone, the saga is recoverable.
    let report = rt.recover().await.expect("recover");
    assert_eq!(report.count(SagaStatus::Completed), 1, "{report:?}");
}
