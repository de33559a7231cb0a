//! The worker: the process the harness kills. It opens the saga log and the
//! ledger, recovers whatever the last worker left unfinished and starts a
//! batch of concurrent sagas (none in recover-only mode), in one of two modes:
//!
//! - `recover-first`: `Runtime::recover` first, then the new sagas;
//! - `concurrent`: lists the unfinished sagas, then resumes each of them
//!   (`Runtime::resume`) while the new sagas run. A step's retry waits at
//!   least part of a second (an ASL `IntervalSeconds` is at least 1), so a
//!   recovery that waits out a backoff would hold back a `recover-first`
//!   batch for that long.
//!
//! Its stdout carries the lines the harness reads: `READY` once the log is
//! open, `STARTED n` once the new
//! sagas are started, `RECOVERED ...` once recovery is done, and `DONE ...`
//! once every new saga ended.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use saga_core::log::{Durability, SqliteLog};
use saga_core::prelude::*;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::ledger::{self, Ledger};
use crate::plan::{self, Rng};

/// The saga's input: the seed of its failure plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub plan: u64,
}

#[saga_step(
    compensate = release,
    retry(max_attempts = 3, backoff_rate = 1.0, jitter = full)
)]
async fn reserve(job: &Job) -> Result<u64, StepError> {
    forward(job, &[]).await
}
async fn release(job: &Job, out: u64) -> Result<(), StepError> {
    compensate(job, out).await
}

#[saga_step(
    compensate = unhold,
    retry(max_attempts = 3, backoff_rate = 1.0, jitter = full)
)]
async fn hold(job: &Job, reserve: &u64) -> Result<u64, StepError> {
    forward(job, &[("reserve", *reserve)]).await
}
async fn unhold(job: &Job, _reserve: &u64, out: u64) -> Result<(), StepError> {
    compensate(job, out).await
}

#[saga_step(
    compensate = credit,
    retry(max_attempts = 3, backoff_rate = 1.0, jitter = full)
)]
async fn debit(job: &Job, hold: &u64) -> Result<u64, StepError> {
    forward(job, &[("hold", *hold)]).await
}
async fn credit(job: &Job, _hold: &u64, out: u64) -> Result<(), StepError> {
    compensate(job, out).await
}

#[saga_step(pivot, retry(max_attempts = 3, backoff_rate = 1.0, jitter = full))]
async fn commit(job: &Job, debit: &u64) -> Result<u64, StepError> {
    forward(job, &[("debit", *debit)]).await
}

#[saga_step(retriable, retry(max_attempts = 5, backoff_rate = 1.0))]
async fn notify(job: &Job, commit: &u64) -> Result<u64, StepError> {
    forward(job, &[("commit", *commit)]).await
}

saga! {
    /// reserve → hold → debit (compensatable) → commit (pivot) → notify (retriable).
    pub saga Transfer(job: Job) -> u64 {
        let reserve = reserve(&job);
        let hold = hold(&job, &reserve);
        let debit = debit(&job, &hold);
        let commit = commit(&job, &debit);
        let notify = notify(&job, &commit);
        notify
    }
}

static LEDGER: OnceLock<Ledger> = OnceLock::new();
static RNG: Mutex<Option<Rng>> = Mutex::new(None);

fn ledger() -> &'static Ledger {
    LEDGER.get().expect("the ledger is open")
}

/// Sleeps 0 to 3 ms, so that kills land inside steps.
async fn pause() {
    let micros = RNG
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
        .map_or(0, |rng| rng.range(0, 3000));
    tokio::time::sleep(Duration::from_micros(micros)).await;
}

fn context() -> StepContext {
    StepContext::current().expect("steps run inside a step context")
}

/// A forward step: checks its inputs, then acts as the plan says and
/// records the call in the ledger before answering.
async fn forward(job: &Job, inputs: &[(&str, u64)]) -> Result<u64, StepError> {
    let ctx = context();
    let _running = ledger().enter(&ctx);
    pause().await;
    let saga = ctx.saga_id().as_str();
    let act = plan::forward(job.plan, saga, plan::index(ctx.step()));
    let mut problems = Vec::new();
    if ctx.direction() != Direction::Forward {
        problems.push(format!("a step ran as {:?}", ctx.direction()));
    }
    if ctx.idempotency_key() != format!("{saga}/{}", ctx.step()) {
        problems.push(format!("idempotency key {}", ctx.idempotency_key()));
    }
    for (step, value) in inputs {
        let expected = plan::output(saga, step);
        if *value != expected {
            problems.push(format!(
                "handed {step} = {value}, but {step} returned {expected}"
            ));
        }
    }
    let call = ledger().record(&ctx, |call| act.applies(call), problems);
    act.answer(call).map(|()| plan::output(saga, ctx.step()))
}

/// A compensation: checks the output it is handed, then acts as the plan
/// says and records the call in the ledger before answering.
async fn compensate(job: &Job, out: u64) -> Result<(), StepError> {
    let ctx = context();
    let _running = ledger().enter(&ctx);
    pause().await;
    let saga = ctx.saga_id().as_str();
    let act = plan::undo(job.plan, saga, plan::index(ctx.step()));
    let mut problems = Vec::new();
    if ctx.direction() != Direction::Compensation {
        problems.push(format!("a compensation ran as {:?}", ctx.direction()));
    }
    let expected = plan::output(saga, ctx.step());
    if out != expected {
        problems.push(format!(
            "compensation handed output {out}, but the step returned {expected}"
        ));
    }
    let call = ledger().record(&ctx, |call| act.applies(call), problems);
    act.answer(call)
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("the harness sets {name}"))
}

fn env_u64(name: &str) -> u64 {
    env(name).parse().unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The worker's entry point; never returns.
pub fn main() -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = runtime.block_on(work());
    drop(runtime);
    std::process::exit(code)
}

async fn work() -> i32 {
    let dir = PathBuf::from(env("SAGA_CRASH_DIR"));
    let round = env_u64("SAGA_CRASH_ROUND");
    let sagas = env_u64("SAGA_CRASH_SAGAS");
    let seed = env_u64("SAGA_CRASH_PLAN");
    let durability = match env("SAGA_CRASH_DURABILITY").as_str() {
        "full" => Durability::Full,
        _ => Durability::Normal,
    };
    *RNG.lock().unwrap_or_else(PoisonError::into_inner) = Some(Rng::new(seed ^ plan::mix(round)));
    let conn = match ledger::open(&dir.join("ledger.db")) {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("cannot open the ledger: {e}");
            return 2;
        }
    };
    let _ = LEDGER.set(Ledger::new(conn));
    let log = match SqliteLog::builder(dir.join("saga-log.db"))
        .durability(durability)
        .open()
    {
        Ok(log) => log,
        Err(e) => {
            eprintln!("cannot open the saga log: {e}");
            return 2;
        }
    };
    let runtime = Runtime::builder()
        .log(log)
        .register::<Transfer>()
        .compensation_retry(RetryPolicy {
            max_attempts: 3,
            interval_seconds: 0,
            backoff_rate: 1.0,
            max_delay_seconds: None,
            jitter: Jitter::None,
        })
        .jitter_seed(seed ^ round)
        .build();

    println!("READY");
    let concurrent = env("SAGA_CRASH_MODE") == "concurrent";
    let (ends, batch): (Vec<Ended>, _) = if concurrent {
        // Resumes each saga the log holds unfinished, listed before any new
        // saga starts, while the new sagas run.
        let mut pending = Vec::new();
        for status in [SagaStatus::Running, SagaStatus::Compensating] {
            match runtime.sagas(Some(status)).await {
                Ok(list) => pending.extend(list),
                Err(e) => {
                    eprintln!("cannot list the log: {e}");
                    return 3;
                }
            }
        }
        let mut resumed = JoinSet::new();
        for summary in pending {
            let rt = runtime.clone();
            resumed.spawn(async move {
                let result = rt.resume(&summary.id, "crash_kill worker").await;
                (summary.id, result)
            });
        }
        let batch = start(&runtime, round, sagas, seed);
        let mut ends = Vec::new();
        while let Some(joined) = resumed.join_next().await {
            ends.push(joined.map_err(|e| e.to_string()));
        }
        (ends, Some(batch))
    } else {
        // Recovers first, as a service does at start-up.
        let report = match runtime.recover().await {
            Ok(report) => report,
            Err(e) => {
                eprintln!("recovery cannot list the log: {e}");
                return 3;
            }
        };
        let ends = report
            .sagas
            .into_iter()
            .map(|r| Ok((r.id, r.result)))
            .collect();
        (ends, None)
    };
    let count = |status: SagaStatus| {
        ends.iter()
            .filter(|e| matches!(e, Ok((_, Ok(s))) if *s == status))
            .count()
    };
    let failures: Vec<_> = ends
        .iter()
        .filter(|e| !matches!(e, Ok((_, Ok(_)))))
        .collect();
    println!(
        "RECOVERED total={} completed={} compensated={} stuck={} failed={}",
        ends.len(),
        count(SagaStatus::Completed),
        count(SagaStatus::Compensated),
        count(SagaStatus::Stuck),
        failures.len(),
    );
    if !failures.is_empty() {
        for f in failures {
            match f {
                Ok((id, result)) => eprintln!("recovery of {id} failed: {result:?}"),
                Err(e) => eprintln!("a recovery task failed: {e}"),
            }
        }
        return 3;
    }
    let mut tasks = match batch {
        Some(batch) => batch,
        None if sagas == 0 => {
            println!("DONE started=0");
            return 0;
        }
        None => start(&runtime, round, sagas, seed),
    };
    let (mut completed, mut compensated, mut stuck, mut errors) = (0, 0, 0, 0);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((id, Ok(outcome))) => match outcome {
                SagaOutcome::Completed(value) => {
                    completed += 1;
                    if value != plan::output(id.as_str(), "notify") {
                        eprintln!("saga {id} completed with {value}, not notify's output");
                        errors += 1;
                    }
                }
                SagaOutcome::Compensated { .. } => compensated += 1,
                SagaOutcome::Stuck { .. } => stuck += 1,
                SagaOutcome::Cancelled { .. } => {
                    eprintln!("saga {id} was cancelled, but nothing cancels sagas here");
                    errors += 1;
                }
            },
            Ok((id, Err(e))) => {
                eprintln!("saga {id} could not run: {e}");
                errors += 1;
            }
            Err(e) => {
                eprintln!("a saga task failed: {e}");
                errors += 1;
            }
        }
    }
    println!(
        "DONE started={sagas} completed={completed} compensated={compensated} stuck={stuck} errors={errors}"
    );
    if errors > 0 { 4 } else { 0 }
}

/// How one recovered saga ended, or why its task failed.
type Ended = Result<(SagaId, Result<SagaStatus, SagaError>), String>;

type Batch = JoinSet<(SagaId, Result<SagaOutcome<u64>, SagaError>)>;

/// Starts `sagas` new sagas, `r<round>-0` and on.
fn start(runtime: &Runtime, round: u64, sagas: u64, seed: u64) -> Batch {
    let mut tasks = JoinSet::new();
    for i in 0..sagas {
        let id = SagaId::new(format!("r{round}-{i}")).expect("a valid saga id");
        let rt = runtime.clone();
        tasks.spawn(async move {
            let outcome = Transfer::run_with_id(&rt, id.clone(), Job { plan: seed }).await;
            (id, outcome)
        });
    }
    println!("STARTED {sagas}");
    tasks
}
