//! What durability costs: sagas per second on the SQLite log, as ratios
//! against baselines measured in the same run.
//!
//! Every variant runs the same ten-step saga of no-op compensatable steps,
//! 64 sagas in flight at once (each task runs sagas back to back), on a
//! two-worker tokio runtime. Variants:
//!
//! - `group`: [`SqliteLog`] with group commit and `synchronous = FULL` (the default);
//! - `per_event`: the same log with group commit off, one transaction and one
//!   fsync per event;
//! - `raw_floor`: no saga runtime at all: the rows the log writes for one
//!   saga (taken from a real run's history, encoded as the log encodes them:
//!   a `sagas` row, 22 `events` rows, a status update), inserted with plain
//!   rusqlite into the same schema, WAL and `synchronous = FULL`, one
//!   transaction per saga, one saga after another;
//! - `memory`: the in-memory log.
//!
//! Each variant runs for about `SAGA_BENCH_SECONDS` (default 2) per round,
//! three rounds interleaved (A B C D A B C D ...), and the median round counts.
//! Run with `cargo bench --bench durable` (or `scripts/bench.sh`); under
//! `cargo test` it makes one short smoke round instead.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use saga_core::log::{Durability, InMemoryLog, SagaLog, SqliteLog, encode_event};
use saga_core::prelude::{Runtime, Saga, SagaId, StepError, saga, saga_step};

macro_rules! steps {
    ($($step:ident / $undo:ident),*) => {$(
        #[saga_step(compensate = $undo)]
        async fn $step(n: &u64) -> Result<u64, StepError> {
            Ok(*n + 1)
        }
        async fn $undo(_n: &u64, _out: u64) -> Result<(), StepError> {
            Ok(())
        }
    )*};
}
steps!(
    s0 / u0,
    s1 / u1,
    s2 / u2,
    s3 / u3,
    s4 / u4,
    s5 / u5,
    s6 / u6,
    s7 / u7,
    s8 / u8,
    s9 / u9
);

saga! {
    /// Ten no-op compensatable steps.
    pub saga Ten(n: u64) -> u64 {
        let a = s0(&n); let b = s1(&n); let c = s2(&n); let d = s3(&n); let e = s4(&n);
        let f = s5(&n); let g = s6(&n); let h = s7(&n); let i = s8(&n); let j = s9(&n);
        a + b + c + d + e + f + g + h + i + j
    }
}

/// Sagas in flight at once in the main comparison.
const IN_FLIGHT: usize = 64;
/// The concurrency levels of the group-commit scaling rows.
const SCALING: [usize; 3] = [1, 16, 256];

fn seconds() -> f64 {
    std::env::var("SAGA_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0)
}

fn fresh(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// Runs sagas on `log` for about `secs`, `IN_FLIGHT` at once; sagas per second.
fn sagas_per_second(
    rt: &tokio::runtime::Runtime,
    log: Arc<dyn SagaLog>,
    secs: f64,
    in_flight: usize,
) -> f64 {
    let runtime = Runtime::builder().shared_log(log).build();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let done: usize = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..in_flight {
            let runtime = runtime.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let out = Ten::run(&runtime, 1).await.expect("runs");
                    assert_eq!(out.completed(), Some(20));
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("task");
        }
        total
    });
    done as f64 / started.elapsed().as_secs_f64()
}

/// One saga's rows: its definition hash, its input, and (kind, step, body) per event.
type SagaRows = (String, String, Vec<(String, Option<i64>, String)>);

/// The rows one saga writes, as the log writes them.
fn rows_of_one_saga(rt: &tokio::runtime::Runtime) -> SagaRows {
    let log = Arc::new(InMemoryLog::new());
    let runtime = Runtime::builder().shared_log(log.clone()).build();
    let id = SagaId::new("template").expect("id");
    rt.block_on(async {
        let out = Ten::run_with_id(&runtime, id.clone(), 1)
            .await
            .expect("runs");
        assert!(out.is_completed());
        let history = log.history(&id).await.expect("history");
        let rows = history
            .iter()
            .map(|e| {
                let (kind, body) = encode_event(&e.event);
                (kind.to_owned(), e.event.step().map(|s| s as i64), body)
            })
            .collect();
        (Ten::definition().hash().to_owned(), "1".to_owned(), rows)
    })
}

/// The raw-SQLite floor: the same rows, one transaction per saga; sagas per second.
fn raw_floor(path: &Path, rows: &SagaRows, secs: f64) -> f64 {
    // The log creates the schema; the floor then writes into it directly.
    drop(SqliteLog::open(path).expect("schema"));
    let mut conn = rusqlite::Connection::open(path).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("full");
    let (hash, input, events) = rows;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let id = format!("raw-{n}");
        let tx = conn.transaction().expect("begin");
        tx.prepare_cached(
            "INSERT INTO sagas (id, saga, definition_hash, input, status, created_at_ms, updated_at_ms)
             VALUES (?1, 'Ten', ?2, ?3, 'running', 0, 0)",
        )
        .and_then(|mut s| s.execute(rusqlite::params![id, hash, input]))
        .expect("saga row");
        for (seq, (kind, step, body)) in events.iter().enumerate() {
            tx.prepare_cached(
                "INSERT INTO events (saga_id, seq, at_ms, kind, step, body) VALUES (?1, ?2, 0, ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.execute(rusqlite::params![id, seq as i64, kind, step, body]))
            .expect("event row");
        }
        tx.prepare_cached("UPDATE sagas SET status = 'completed', updated_at_ms = 1 WHERE id = ?1")
            .and_then(|mut s| s.execute(rusqlite::params![id]))
            .expect("status");
        tx.commit().expect("commit");
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    // `cargo test` runs this binary without `--bench`: a smoke run, one
    // short round, that checks every variant works.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (secs, rounds) = if smoke { (0.05, 1) } else { (seconds(), 3) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("durable-bench");
    std::fs::create_dir_all(&dir).expect("dir");
    let rows = rows_of_one_saga(&rt);
    assert_eq!(
        rows.2.len(),
        22,
        "created, 10 x (started, succeeded), completed"
    );

    let (mut group, mut per_event, mut floor, mut memory) = (vec![], vec![], vec![], vec![]);
    let mut batch = vec![];
    let mut scaling: [Vec<f64>; 3] = Default::default();
    for round in 0..rounds {
        let log = Arc::new(
            SqliteLog::builder(fresh(&dir, &format!("group-{round}")))
                .durability(Durability::Full)
                .open()
                .expect("open"),
        );
        group.push(sagas_per_second(&rt, log.clone(), secs, IN_FLIGHT));
        let stats = log.commit_stats();
        batch.push(stats.events as f64 / stats.commits.max(1) as f64);
        let log = SqliteLog::builder(fresh(&dir, &format!("per-event-{round}")))
            .durability(Durability::Full)
            .group_commit(false)
            .open()
            .expect("open");
        per_event.push(sagas_per_second(&rt, Arc::new(log), secs, IN_FLIGHT));
        floor.push(raw_floor(
            &fresh(&dir, &format!("raw-{round}")),
            &rows,
            secs,
        ));
        memory.push(sagas_per_second(
            &rt,
            Arc::new(InMemoryLog::new()),
            secs,
            IN_FLIGHT,
        ));
        for (i, n) in SCALING.into_iter().enumerate() {
            let log = SqliteLog::open(fresh(&dir, &format!("scaling-{n}-{round}"))).expect("open");
            scaling[i].push(sagas_per_second(&rt, Arc::new(log), secs, n));
        }
        eprintln!(
            "round {round}: group {:.0}/s ({:.1} events per commit), per event {:.0}/s, raw floor {:.0}/s, memory {:.0}/s",
            group[round], batch[round], per_event[round], floor[round], memory[round]
        );
    }
    let (group, per_event, floor, memory) = (
        median(group),
        median(per_event),
        median(floor),
        median(memory),
    );
    println!();
    println!(
        "| durability figure (10-step saga, {IN_FLIGHT} in flight, synchronous=FULL) | ratio |"
    );
    println!("| --- | --- |");
    println!(
        "| SQLite log with group commit / raw SQLite floor (same rows, one transaction per saga) | {:.2}x the floor's sagas/s |",
        group / floor
    );
    println!(
        "| group commit / one commit per event | {:.1}x the sagas/s |",
        group / per_event
    );
    println!(
        "| in-memory log / SQLite log with group commit | {:.1}x the sagas/s |",
        memory / group
    );
    println!(
        "| events per commit with group commit (mean, median round) | {:.1} |",
        median(batch)
    );
    let scaled: Vec<f64> = scaling.into_iter().map(median).collect();
    for (i, n) in SCALING.into_iter().enumerate().skip(1) {
        println!(
            "| group commit, {n} sagas in flight / 1 in flight | {:.1}x the sagas/s ({:.2}x the raw floor) |",
            scaled[i] / scaled[0],
            scaled[i] / floor
        );
    }
    println!(
        "| (medians of {rounds} round(s): group {group:.0}/s, per event {per_event:.0}/s, raw floor {floor:.0}/s, in-memory {memory:.0}/s) | |"
    );
}
