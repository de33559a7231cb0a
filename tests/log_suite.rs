//! One test suite for every saga log: the in-memory log and the SQLite log
//! must accept, refuse, store and list exactly the same things. The SQLite
//! log also has to survive a reopen and refuse damaged or foreign files with
//! typed errors that name the saga.

use std::path::PathBuf;
use std::sync::Arc;

use saga_core::log::{
    Durability, InMemoryLog, LogError, SagaEvent, SagaLog, SagaStatus, SqliteLog,
};
use saga_core::{SagaId, StepError, StepKind};
use serde_json::json;

fn temp_db(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("log_suite");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn id(s: &str) -> SagaId {
    SagaId::new(s).expect("valid id")
}

fn created(kinds: Vec<StepKind>) -> SagaEvent {
    SagaEvent::Created {
        saga: "Trip".into(),
        definition_hash: "fnv1a64:0123456789abcdef".into(),
        kinds,
        groups: Vec::new(),
        input: json!({"traveller": "Ada", "nested": [1, {"ü": null}]}),
    }
}

fn started(step: usize, attempt: u32) -> SagaEvent {
    SagaEvent::StepStarted { step, attempt }
}

fn ok(step: usize, output: serde_json::Value) -> SagaEvent {
    SagaEvent::StepSucceeded { step, output }
}

/// The suite every log passes.
async fn suite(log: Arc<dyn SagaLog>) {
    use StepKind::{Compensatable as C, Pivot as P};
    let a = id("a");

    // Nothing is known before `created`.
    assert!(matches!(
        log.append(&a, started(0, 1)).await,
        Err(LogError::UnknownSaga(_))
    ));
    assert!(matches!(
        log.history(&a).await,
        Err(LogError::UnknownSaga(_))
    ));

    // A refused `created` leaves no trace.
    assert!(matches!(
        log.append(&a, created(vec![P, C])).await,
        Err(LogError::Illegal { .. })
    ));
    assert!(matches!(
        log.history(&a).await,
        Err(LogError::UnknownSaga(_))
    ));
    assert!(log.list(None).await.expect("list").is_empty());

    // A run with a retry; outputs come back exactly as written.
    let output = json!({"code": "F-1", "seats": [1, 2], "note": "ünïcode \"quoted\""});
    let events = [
        created(vec![C, C, P]),
        started(0, 1),
        ok(0, output.clone()),
        started(1, 1),
        SagaEvent::StepFailed {
            step: 1,
            attempt: 1,
            error: StepError::retryable("busy"),
            retry: true,
        },
        started(1, 2),
        ok(1, json!(null)),
    ];
    for e in &events {
        log.append(&a, e.clone()).await.expect("legal event");
    }
    // Illegal events are refused and not stored.
    for bad in [
        created(vec![C]),
        started(0, 2),
        SagaEvent::Compensated,
        SagaEvent::Resumed { by: "ops".into() },
        SagaEvent::Abandoned {
            reason: "no".into(),
        },
        SagaEvent::Completed,
    ] {
        let refused = log.append(&a, bad.clone()).await;
        assert!(
            matches!(&refused, Err(LogError::Illegal { saga_id, .. }) if *saga_id == a),
            "{bad:?}: {refused:?}"
        );
    }
    let history = log.history(&a).await.expect("history");
    assert_eq!(history.len(), events.len());
    for (i, (entry, event)) in history.iter().zip(&events).enumerate() {
        assert_eq!(entry.seq, i as u64);
        assert_eq!(&entry.event, event);
    }
    assert!(history.windows(2).all(|w| w[0].at <= w[1].at));

    // A stuck saga: listed as stuck, resumed, stuck again, abandoned.
    let b = id("b");
    for e in [
        created(vec![C]),
        started(0, 1),
        SagaEvent::StepFailed {
            step: 0,
            attempt: 1,
            error: StepError::ambiguous("lost"),
            retry: false,
        },
        SagaEvent::Stuck {
            step: 0,
            reason: "unknown outcome".into(),
        },
    ] {
        log.append(&b, e).await.expect("legal event");
    }
    let stuck = log.list(Some(SagaStatus::Stuck)).await.expect("list");
    assert_eq!(
        stuck.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    log.append(&b, SagaEvent::Resumed { by: "ops".into() })
        .await
        .expect("resume");
    assert_eq!(
        log.list(Some(SagaStatus::Running))
            .await
            .expect("list")
            .len(),
        2
    );
    log.append(&b, started(0, 2)).await.expect("attempt 2");
    log.append(
        &b,
        SagaEvent::StepFailed {
            step: 0,
            attempt: 2,
            error: StepError::ambiguous("lost"),
            retry: false,
        },
    )
    .await
    .expect("fails");
    log.append(
        &b,
        SagaEvent::Stuck {
            step: 0,
            reason: "again".into(),
        },
    )
    .await
    .expect("stuck");
    log.append(
        &b,
        SagaEvent::Abandoned {
            reason: "refunded by hand".into(),
        },
    )
    .await
    .expect("abandon");
    let all = log.list(None).await.expect("list");
    let statuses: Vec<_> = all.iter().map(|s| (s.id.as_str(), s.status)).collect();
    assert_eq!(
        statuses,
        [("a", SagaStatus::Running), ("b", SagaStatus::Abandoned)]
    );
    assert_eq!(all[0].saga, "Trip");
    assert!(
        log.append(&b, SagaEvent::Resumed { by: "ops".into() })
            .await
            .is_err(),
        "abandoned is final"
    );

    // A cancellation: recorded once, no step starts after it, and the unwind
    // begins at the boundary with `Saga.Cancelled`.
    let x = id("x");
    for e in [created(vec![C, C, P]), started(0, 1), ok(0, json!(1))] {
        log.append(&x, e).await.expect("legal event");
    }
    let cancel = SagaEvent::CancelRequested {
        reason: "withdrew".into(),
    };
    log.append(&x, cancel.clone()).await.expect("cancel");
    let cancelled = StepError::new(
        saga_core::ErrorClass::Terminal,
        saga_core::names::CANCELLED,
        "withdrew",
    );
    for bad in [
        cancel.clone(),
        started(1, 1),
        SagaEvent::Completed,
        SagaEvent::UnwindStarted {
            failed_step: 2,
            error: cancelled.clone(),
        },
    ] {
        assert!(
            matches!(
                log.append(&x, bad.clone()).await,
                Err(LogError::Illegal { .. })
            ),
            "{bad:?}"
        );
    }
    for e in [
        SagaEvent::UnwindStarted {
            failed_step: 1,
            error: cancelled,
        },
        SagaEvent::CompensationStarted {
            step: 0,
            attempt: 1,
        },
        SagaEvent::CompensationSucceeded { step: 0 },
        SagaEvent::Compensated,
    ] {
        log.append(&x, e).await.expect("legal event");
    }
    let h = log.history(&x).await.expect("history");
    assert_eq!(h[3].event, cancel);
    assert_eq!(
        log.list(Some(SagaStatus::Compensated))
            .await
            .expect("list")
            .len(),
        1
    );

    // Many sagas appending at once all land, each history in order.
    let mut tasks = Vec::new();
    for n in 0..64 {
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let sid = id(&format!("c-{n:03}"));
            log.append(&sid, created(vec![C, C])).await?;
            for step in 0..2 {
                log.append(&sid, started(step, 1)).await?;
                log.append(&sid, ok(step, json!(n * 10 + step))).await?;
            }
            log.append(&sid, SagaEvent::Completed).await?;
            Ok::<_, LogError>(sid)
        }));
    }
    for t in tasks {
        let sid = t.await.expect("task").expect("appends");
        let h = log.history(&sid).await.expect("history");
        assert_eq!(h.len(), 6);
        assert_eq!(h[5].event, SagaEvent::Completed);
    }
    assert_eq!(
        log.list(Some(SagaStatus::Completed))
            .await
            .expect("list")
            .len(),
        64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_memory_log_passes_the_suite() {
    suite(Arc::new(InMemoryLog::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_log_passes_the_suite() {
    let path = temp_db("suite");
    suite(Arc::new(SqliteLog::open(&path).expect("open"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_log_passes_the_suite_without_group_commit() {
    let path = temp_db("suite-single");
    let log = SqliteLog::builder(&path)
        .group_commit(false)
        .durability(Durability::Normal)
        .open()
        .expect("open");
    suite(Arc::new(log)).await;
}

#[tokio::test]
async fn the_sqlite_log_survives_a_reopen_and_goes_on_where_it_was() {
    let path = temp_db("reopen");
    let a = id("a");
    {
        let log = SqliteLog::open(&path).expect("open");
        log.append(&a, created(vec![StepKind::Compensatable]))
            .await
            .expect("created");
        log.append(&a, started(0, 1)).await.expect("started");
    }
    let log = SqliteLog::open(&path).expect("reopen");
    assert_eq!(log.history(&a).await.expect("history").len(), 2);
    // The writer rebuilds the saga's state from the file: the rules still hold.
    assert!(matches!(
        log.append(&a, started(0, 1)).await,
        Err(LogError::Illegal { .. })
    ));
    log.append(&a, ok(0, json!(1))).await.expect("succeeded");
    log.append(&a, SagaEvent::Completed)
        .await
        .expect("completed");
    assert_eq!(
        log.list(Some(SagaStatus::Completed))
            .await
            .expect("list")
            .len(),
        1
    );
}

/// Writes two sagas, then damages rows of the first with `damage` (SQL).
async fn damaged(name: &str, damage: &str) -> (SqliteLog, PathBuf) {
    let path = temp_db(name);
    {
        let log = SqliteLog::open(&path).expect("open");
        for s in ["bad", "good"] {
            log.append(&id(s), created(vec![StepKind::Compensatable]))
                .await
                .expect("created");
            log.append(&id(s), started(0, 1)).await.expect("started");
        }
    }
    let conn = rusqlite::Connection::open(&path).expect("raw open");
    conn.execute_batch(damage).expect("damage");
    drop(conn);
    (SqliteLog::open(&path).expect("reopen"), path)
}

fn assert_corrupt_names_bad(err: LogError) {
    match &err {
        LogError::Corrupt { saga_id, .. } => {
            assert_eq!(saga_id.as_ref().map(SagaId::as_str), Some("bad"), "{err}")
        }
        other => panic!("expected a corrupt record of saga `bad`, got {other:?}"),
    }
    assert!(err.to_string().contains("bad"), "{err}");
}

#[tokio::test]
async fn damaged_records_are_typed_errors_that_name_the_saga() {
    let cases = [
        (
            "unknown-kind",
            "UPDATE events SET kind = 'teleported' WHERE saga_id = 'bad' AND seq = 1",
        ),
        (
            "bad-json",
            "UPDATE events SET body = '{\"type\":\"step_started\",' WHERE saga_id = 'bad' AND seq = 1",
        ),
        (
            "wrong-field",
            "UPDATE events SET body = '{\"type\":\"step_started\",\"step\":\"zero\",\"attempt\":1}' WHERE saga_id = 'bad' AND seq = 1",
        ),
        (
            "gap",
            "UPDATE events SET seq = 7 WHERE saga_id = 'bad' AND seq = 1",
        ),
        (
            "blob",
            "UPDATE events SET body = x'00ff00ff' WHERE saga_id = 'bad' AND seq = 1",
        ),
        (
            "integer-kind",
            "UPDATE events SET kind = 42 WHERE saga_id = 'bad' AND seq = 0",
        ),
    ];
    for (name, damage) in cases {
        let (log, _) = damaged(name, damage).await;
        assert_corrupt_names_bad(log.history(&id("bad")).await.unwrap_err());
        // An append must read the state back first: it refuses, naming the saga.
        let err = log.append(&id("bad"), ok(0, json!(1))).await.unwrap_err();
        assert!(err.to_string().contains("bad"), "{name}: {err}");
        // The other saga is untouched and goes on.
        log.append(&id("good"), ok(0, json!(1)))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        log.append(&id("good"), SagaEvent::Completed)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // An unknown status in the saga table: listing names the saga.
    let (log, _) = damaged(
        "status",
        "UPDATE sagas SET status = 'dancing' WHERE id = 'bad'",
    )
    .await;
    assert_corrupt_names_bad(log.list(None).await.unwrap_err());
}

#[test]
fn one_log_file_is_open_in_one_runtime_at_a_time() {
    let path = temp_db("locked");
    let first = SqliteLog::open(&path).expect("open");
    let err = SqliteLog::open(&path).unwrap_err();
    assert!(
        matches!(&err, LogError::Open { reason, .. } if reason.contains("another runtime")),
        "{err}"
    );
    drop(first);
    drop(SqliteLog::open(&path).expect("open once the first is closed"));
}

#[test]
fn newer_foreign_and_broken_files_are_refused_with_typed_errors() {
    // Written by a newer version.
    let path = temp_db("newer");
    drop(SqliteLog::open(&path).expect("open"));
    let conn = rusqlite::Connection::open(&path).expect("raw");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    match SqliteLog::open(&path) {
        Err(LogError::NewerSchema {
            found: 99,
            supported,
            ..
        }) => assert_eq!(supported, saga_core::log::SCHEMA_VERSION),
        other => panic!("expected NewerSchema, got {other:?}"),
    }

    // Another application's database.
    let path = temp_db("foreign");
    let conn = rusqlite::Connection::open(&path).expect("raw");
    conn.execute_batch("CREATE TABLE orders (id INTEGER)")
        .expect("table");
    drop(conn);
    let err = SqliteLog::open(&path).unwrap_err();
    assert!(
        matches!(&err, LogError::Open { reason, .. } if reason.contains("not a saga log")),
        "{err}"
    );

    // Not a database at all.
    let path = temp_db("garbage");
    std::fs::write(&path, b"this is not a database, just text that goes on").expect("write");
    let err = SqliteLog::open(&path).unwrap_err();
    assert!(matches!(err, LogError::Open { .. }), "{err}");
}

#[tokio::test]
async fn a_truncated_database_gives_errors_not_panics() {
    let path = temp_db("truncated");
    {
        let log = SqliteLog::open(&path).expect("open");
        for n in 0..200 {
            let sid = id(&format!("s-{n:03}"));
            log.append(&sid, created(vec![StepKind::Compensatable]))
                .await
                .expect("created");
            log.append(&sid, started(0, 1)).await.expect("started");
            log.append(&sid, ok(0, json!("x".repeat(200))))
                .await
                .expect("ok");
        }
    }
    // Closing checkpoints the WAL into the main file; cut that file short.
    let len = std::fs::metadata(&path).expect("stat").len();
    assert!(len > 16 * 1024, "the database has several pages: {len}");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open file");
    file.set_len(len / 3).expect("truncate");
    drop(file);
    // Opening may work (the header is intact) or fail; reading must not panic.
    match SqliteLog::open(&path) {
        Err(e) => assert!(matches!(e, LogError::Open { .. }), "{e}"),
        Ok(log) => {
            let mut errors = 0;
            match log.list(None).await {
                Ok(list) => {
                    for s in list {
                        if let Err(e) = log.history(&s.id).await {
                            assert!(e.to_string().contains(s.id.as_str()), "{e}");
                            errors += 1;
                        }
                    }
                }
                Err(_) => errors += 1,
            }
            assert!(errors > 0, "a database cut to a third reads back whole");
        }
    }
}
