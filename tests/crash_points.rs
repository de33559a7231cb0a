//! Exhaustive, deterministic crash points, in process.
//!
//! Every saga shape of up to five steps (compensatable steps, at most one
//! pivot, retriable steps) runs under every failure schedule (including a
//! cancellation requested from inside a step), and is crashed
//! after each saga-log append in two ways:
//!
//! - `before-effect`: append k is stored, then the log reports a failure, so
//!   the executor stops before the effect that append enables;
//! - `after-effect`: appends 1..=k are stored and append k+1 is refused, so
//!   the effect enabled by append k did run.
//!
//! The runtime is then dropped, a new one is started on the same log, and
//! `recover` drives the saga to an end. Every step is idempotent under its
//! key `<saga id>/<step>`, and its behaviour depends only on the schedule in
//! the saga input and on how often it was called for that key, so recovery
//! must reach exactly the end the uncrashed run reached, with the same
//! effects in the ledger. The one exception is a crash that interrupts an
//! attempt of a retriable step or a compensation whose schedule needs its
//! whole retry budget: the interruption counts as one more failure, and the
//! saga must end stuck there instead (see `spends_budget`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use saga_core::log::{
    InMemoryLog, LogEntry, LogError, SagaEvent, SagaLog, SagaStatus, SagaSummary,
};
use saga_core::prelude::*;
use saga_core::{BoxFuture, RuntimeBuilder, StepKind};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// Failure schedules and the ledger of effects.

/// The failure schedule of one saga run; each field names a step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Fails terminally on every call, changing nothing.
    terminal: Option<String>,
    /// Takes effect on its first call, then answers ambiguously.
    ambiguous: Option<String>,
    /// Fails retryably on its first call, changing nothing.
    retry_once: Option<String>,
    /// Fails retryably on its first `STEP_RETRIES` calls, changing nothing:
    /// it succeeds on the last call its retry budget allows.
    exhaust: Option<String>,
    /// Its compensation fails retryably on its first call, changing nothing.
    comp_fail_once: Option<String>,
    /// Its compensation takes effect on its first call, then answers ambiguously.
    comp_ambiguous: Option<String>,
    /// Its compensation fails retryably on its first `COMP_RETRIES` calls,
    /// changing nothing: it succeeds on the last call its budget allows.
    comp_exhaust: Option<String>,
    /// Cancels the saga (`Runtime::cancel`) from inside this step, on every
    /// call: the saga stops after it and compensates. The request is one
    /// more log append, so a crash can fall before or after it.
    cancel_at: Option<String>,
}

/// The retries of every step (`retry(max_attempts = 3)` below).
const STEP_RETRIES: u32 = 3;
/// The retries of every compensation (the runtime's compensation policy).
const COMP_RETRIES: u32 = 2;

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (what, step) in [
            ("terminal", &self.terminal),
            ("ambiguous", &self.ambiguous),
            ("retry_once", &self.retry_once),
            ("exhaust", &self.exhaust),
            ("comp_fail_once", &self.comp_fail_once),
            ("comp_ambiguous", &self.comp_ambiguous),
            ("comp_exhaust", &self.comp_exhaust),
            ("cancel_at", &self.cancel_at),
        ] {
            if let Some(step) = step {
                parts.push(format!("{what}@{step}"));
            }
        }
        if parts.is_empty() {
            f.write_str("no-failure")
        } else {
            f.write_str(&parts.join("+"))
        }
    }
}

fn is(field: &Option<String>, step: &str) -> bool {
    field.as_deref() == Some(step)
}

/// What happened under one idempotency key.
#[derive(Debug, Clone, Default)]
struct Effect {
    forward_calls: u32,
    /// How often the forward effect was applied: at most once.
    effects: u32,
    prev: u64,
    output: u64,
    comp_calls: u32,
    /// How often the compensation was applied: at most once.
    comp_effects: u32,
    compensated: bool,
    /// Calls whose arguments disagree with the recorded effect.
    anomalies: Vec<String>,
}

/// The effect of one step, without the call counts: what must not depend on crashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Net {
    effects: u32,
    output: u64,
    comp_effects: u32,
    compensated: bool,
}

impl Effect {
    fn net(&self) -> Net {
        Net {
            effects: self.effects,
            output: self.output,
            comp_effects: self.comp_effects,
            compensated: self.compensated,
        }
    }
}

static LEDGER: Mutex<BTreeMap<String, Effect>> = Mutex::new(BTreeMap::new());

fn ledger() -> MutexGuard<'static, BTreeMap<String, Effect>> {
    LEDGER.lock().unwrap_or_else(|p| p.into_inner())
}

/// The ledger entries of saga `id`, by step name.
fn entries_of(id: &SagaId) -> BTreeMap<String, Effect> {
    let prefix = format!("{id}/");
    ledger()
        .range(prefix.clone()..)
        .take_while(|(key, _)| key.starts_with(&prefix))
        .map(|(key, e)| (key[prefix.len()..].to_owned(), e.clone()))
        .collect()
}

/// Every call made for saga `id`, forward and compensation.
fn calls_of(id: &SagaId) -> usize {
    entries_of(id)
        .values()
        .map(|e| (e.forward_calls + e.comp_calls) as usize)
        .sum()
}

fn output_of(step: &str, prev: u64) -> u64 {
    let tag = step
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)));
    (prev % 1_000_000_007)
        .wrapping_mul(1_000)
        .wrapping_add(tag % 997)
}

fn context() -> StepContext {
    StepContext::current().expect("steps run inside a step context")
}

/// The runtime driving the saga now (the crashing one, then the
/// recovering one), for steps that cancel their own saga.
static CURRENT: Mutex<Option<Runtime>> = Mutex::new(None);

fn drive_with(rt: &Runtime) {
    *CURRENT.lock().unwrap_or_else(|p| p.into_inner()) = Some(rt.clone());
}

/// Cancels the saga from inside `cancel_at`'s step, on every call (an
/// answer of `AlreadyRequested` changes nothing). If the log fails the
/// request (it crashed), the step gives up before its effect, as a process
/// that died there would.
async fn cancel_here(input: &Schedule) -> Result<(), StepError> {
    let ctx = context();
    if !is(&input.cancel_at, ctx.step()) {
        return Ok(());
    }
    let rt = CURRENT.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(rt) = rt else {
        return Ok(());
    };
    match rt.cancel(ctx.saga_id(), "cancelled by the schedule").await {
        Err(saga_core::CancelError::Log(e)) => Err(StepError::ambiguous(format!(
            "the cancellation failed: {e}"
        ))),
        _ => Ok(()),
    }
}

/// Every forward step: applies its effect once per idempotency key.
fn forward(input: &Schedule, prev: u64) -> Result<u64, StepError> {
    let ctx = context();
    let step = ctx.step();
    let mut ledger = ledger();
    let e = ledger.entry(ctx.idempotency_key()).or_default();
    e.forward_calls += 1;
    let call = e.forward_calls;
    if e.effects > 0 {
        if e.prev != prev {
            e.anomalies.push(format!(
                "{step} re-invoked with prev {prev}, first with {}",
                e.prev
            ));
        }
        return Ok(e.output);
    }
    if is(&input.terminal, step) {
        return Err(StepError::terminal(format!("{step} rejects")));
    }
    if (is(&input.retry_once, step) && call == 1)
        || (is(&input.exhaust, step) && call <= STEP_RETRIES)
    {
        return Err(StepError::retryable(format!("{step} is busy")));
    }
    e.effects += 1;
    e.prev = prev;
    e.output = output_of(step, prev);
    if is(&input.ambiguous, step) && call == 1 {
        return Err(StepError::ambiguous(format!("{step} lost its answer")));
    }
    Ok(e.output)
}

/// Every compensation: undoes the forward effect once per idempotency key.
fn undo(input: &Schedule, prev: u64, out: u64) -> Result<(), StepError> {
    let ctx = context();
    let step = ctx.step();
    let mut ledger = ledger();
    let e = ledger.entry(ctx.idempotency_key()).or_default();
    e.comp_calls += 1;
    let call = e.comp_calls;
    if e.effects == 0 {
        e.anomalies
            .push(format!("{step} compensated without a forward effect"));
        return Ok(());
    }
    if (e.prev, e.output) != (prev, out) {
        e.anomalies.push(format!(
            "{step} compensated with (prev {prev}, out {out}), recorded (prev {}, out {})",
            e.prev, e.output
        ));
    }
    if e.compensated {
        return Ok(());
    }
    if (is(&input.comp_fail_once, step) && call == 1)
        || (is(&input.comp_exhaust, step) && call <= COMP_RETRIES)
    {
        return Err(StepError::retryable(format!("undo {step} is busy")));
    }
    e.compensated = true;
    e.comp_effects += 1;
    if is(&input.comp_ambiguous, step) && call == 1 {
        return Err(StepError::ambiguous(format!("undo {step} lost its answer")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The step pool. The first step of a saga has no predecessor, so the steps
// that can come first without one (`c1`, `p_first`, `r1_first`) take only the input.

macro_rules! compensatable {
    ($($name:ident / $undo:ident),*) => {$(
        #[saga_step(compensate = $undo, retry(max_attempts = 3, interval_seconds = 1, backoff_rate = 1.0))]
        async fn $name(input: &Schedule, prev: &u64) -> Result<u64, StepError> {
            cancel_here(input).await?;
            forward(input, *prev)
        }
        async fn $undo(input: &Schedule, prev: &u64, out: u64) -> Result<(), StepError> {
            undo(input, *prev, out)
        }
    )*};
}

macro_rules! retriable {
    ($($name:ident),*) => {$(
        #[saga_step(retriable, retry(max_attempts = 3, interval_seconds = 1, backoff_rate = 1.0, jitter = none))]
        async fn $name(input: &Schedule, prev: &u64) -> Result<u64, StepError> {
            forward(input, *prev)
        }
    )*};
}

#[saga_step(compensate = undo_c1, retry(max_attempts = 3, interval_seconds = 1, backoff_rate = 1.0))]
async fn c1(input: &Schedule) -> Result<u64, StepError> {
    cancel_here(input).await?;
    forward(input, 0)
}
async fn undo_c1(input: &Schedule, out: u64) -> Result<(), StepError> {
    undo(input, 0, out)
}

compensatable!(c2 / undo_c2, c3 / undo_c3, c4 / undo_c4, c5 / undo_c5);

#[saga_step(
    pivot,
    retry(max_attempts = 3, interval_seconds = 1, backoff_rate = 1.0)
)]
async fn p_first(input: &Schedule) -> Result<u64, StepError> {
    forward(input, 0)
}

#[saga_step(
    pivot,
    retry(max_attempts = 3, interval_seconds = 1, backoff_rate = 1.0)
)]
async fn p(input: &Schedule, prev: &u64) -> Result<u64, StepError> {
    forward(input, *prev)
}

#[saga_step(retriable, retry(max_attempts = 3, interval_seconds = 1, backoff_rate = 1.0, jitter = none))]
async fn r1_first(input: &Schedule) -> Result<u64, StepError> {
    forward(input, 0)
}

retriable!(r1, r2, r3, r4, r5);

// ---------------------------------------------------------------------------
// The 35 straight-line shapes, each a saga that chains its steps' outputs.

macro_rules! chain_saga {
    ($name:ident, $input:ident, [$($body:tt)*], $prev:ident,) => {
        saga! {
            saga $name($input: Schedule) -> u64 {
                $($body)*
                $prev
            }
        }
    };
    ($name:ident, $input:ident, [$($body:tt)*], $prev:ident, $next:ident $($rest:ident)*) => {
        chain_saga!($name, $input, [$($body)* let $next = $next(&$input, &$prev);], $next, $($rest)*);
    };
}

macro_rules! shapes {
    ($($name:ident: $first:ident $($rest:ident)*;)*) => {
        $(chain_saga!($name, input, [let $first = $first(&input);], $first, $($rest)*);)*

        fn line_shapes() -> Vec<Shape> {
            vec![$(Shape::of::<$name>()),*]
        }

        fn register_lines(builder: RuntimeBuilder) -> RuntimeBuilder {
            builder$(.register::<$name>())*
        }
    };
}

shapes! {
    C0P0R1: r1_first;
    C0P0R2: r1_first r2;
    C0P0R3: r1_first r2 r3;
    C0P0R4: r1_first r2 r3 r4;
    C0P0R5: r1_first r2 r3 r4 r5;
    C1P0R0: c1;
    C1P0R1: c1 r1;
    C1P0R2: c1 r1 r2;
    C1P0R3: c1 r1 r2 r3;
    C1P0R4: c1 r1 r2 r3 r4;
    C2P0R0: c1 c2;
    C2P0R1: c1 c2 r1;
    C2P0R2: c1 c2 r1 r2;
    C2P0R3: c1 c2 r1 r2 r3;
    C3P0R0: c1 c2 c3;
    C3P0R1: c1 c2 c3 r1;
    C3P0R2: c1 c2 c3 r1 r2;
    C4P0R0: c1 c2 c3 c4;
    C4P0R1: c1 c2 c3 c4 r1;
    C5P0R0: c1 c2 c3 c4 c5;
    C0P1R0: p_first;
    C0P1R1: p_first r1;
    C0P1R2: p_first r1 r2;
    C0P1R3: p_first r1 r2 r3;
    C0P1R4: p_first r1 r2 r3 r4;
    C1P1R0: c1 p;
    C1P1R1: c1 p r1;
    C1P1R2: c1 p r1 r2;
    C1P1R3: c1 p r1 r2 r3;
    C2P1R0: c1 c2 p;
    C2P1R1: c1 c2 p r1;
    C2P1R2: c1 c2 p r1 r2;
    C3P1R0: c1 c2 c3 p;
    C3P1R1: c1 c2 c3 p r1;
    C4P1R0: c1 c2 c3 c4 p;
}

// Four shapes with parallel groups: in the middle, before a pivot, at the
// end with three branches, and of retriable steps after a pivot.
saga! {
    saga G1(input: Schedule) -> u64 {
        let c1 = c1(&input);
        let (c2, c3) = join!(c2(&input, &c1), c3(&input, &c1));
        let c4 = c4(&input, &c3);
        c4
    }
    saga G2(input: Schedule) -> u64 {
        let c1 = c1(&input);
        let (c2, _) = join!(c2(&input, &c1), c3(&input, &c1));
        let p = p(&input, &c2);
        let r1 = r1(&input, &p);
        r1
    }
    saga G3(input: Schedule) -> u64 {
        let c1 = c1(&input);
        let (_, _, c4) = join!(c2(&input, &c1), c3(&input, &c1), c4(&input, &c1));
        c4
    }
    saga G4(input: Schedule) -> u64 {
        let c1 = c1(&input);
        let p = p(&input, &c1);
        let (_, r2) = join!(r1(&input, &p), r2(&input, &p));
        r2
    }
}

fn shapes() -> Vec<Shape> {
    let mut all = line_shapes();
    all.extend([
        Shape::of::<G1>(),
        Shape::of::<G2>(),
        Shape::of::<G3>(),
        Shape::of::<G4>(),
    ]);
    all
}

fn register_all(builder: RuntimeBuilder) -> RuntimeBuilder {
    register_lines(builder)
        .register::<G1>()
        .register::<G2>()
        .register::<G3>()
        .register::<G4>()
}

type Running = Pin<Box<dyn Future<Output = Result<SagaOutcome<u64>, SagaError>>>>;

struct Shape {
    name: &'static str,
    steps: Vec<(&'static str, StepKind)>,
    /// The steps that start together with each step: its parallel group, or itself.
    stages: Vec<std::ops::Range<usize>>,
    run: fn(Runtime, SagaId, Schedule) -> Running,
}

fn run_saga<S: Saga<Input = Schedule, Output = u64>>(
    rt: Runtime,
    id: SagaId,
    input: Schedule,
) -> Running {
    Box::pin(async move { rt.run_with_id::<S>(id, input).await })
}

impl Shape {
    fn of<S: Saga<Input = Schedule, Output = u64>>() -> Shape {
        let def = S::definition();
        Shape {
            name: def.name,
            steps: def.steps.iter().map(|s| (s.name, s.kind)).collect(),
            stages: (0..def.steps.len()).map(|k| def.stage(k)).collect(),
            run: run_saga::<S>,
        }
    }

    fn kind(&self, step: &str) -> StepKind {
        self.steps
            .iter()
            .find(|(name, _)| *name == step)
            .map(|(_, kind)| *kind)
            .expect("a step of the shape")
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        for (k, &(name, _)) in self.steps.iter().enumerate() {
            let stage = &self.stages[k];
            if stage.len() > 1 && stage.start != k {
                continue;
            }
            let names: Vec<&str> = self.steps[stage.clone()].iter().map(|(n, _)| *n).collect();
            parts.push(if names.len() > 1 {
                names.join("||")
            } else {
                name.to_owned()
            });
        }
        write!(f, "{}[{}]", self.name, parts.join(","))
    }
}

/// No failure; each kind of failure at each step; and each compensation
/// failing (retryably once, after taking effect once, or retryably through
/// its whole budget) while a later step fails terminally.
fn schedules(shape: &Shape) -> Vec<Schedule> {
    let none = Schedule::default;
    let mut out = vec![none()];
    for &(step, _) in &shape.steps {
        let step = Some(step.to_owned());
        out.push(Schedule {
            terminal: step.clone(),
            ..none()
        });
        out.push(Schedule {
            ambiguous: step.clone(),
            ..none()
        });
        out.push(Schedule {
            retry_once: step.clone(),
            ..none()
        });
        out.push(Schedule {
            exhaust: step,
            ..none()
        });
    }
    // A cancellation from each compensatable step outside the last stage
    // (once the last step or group has started, nothing is left to stop
    // before), alone and with an ambiguous compensation of that step.
    let n = shape.steps.len();
    for (i, &(step, kind)) in shape.steps.iter().enumerate() {
        if kind != StepKind::Compensatable || shape.stages[i].end == n {
            continue;
        }
        out.push(Schedule {
            cancel_at: Some(step.to_owned()),
            ..none()
        });
        out.push(Schedule {
            cancel_at: Some(step.to_owned()),
            comp_ambiguous: Some(step.to_owned()),
            ..none()
        });
    }
    for (j, &(undone, kind)) in shape.steps.iter().enumerate() {
        if kind != StepKind::Compensatable {
            continue;
        }
        for &(failing, kind) in &shape.steps[j + 1..] {
            if kind == StepKind::Retriable {
                continue;
            }
            out.push(Schedule {
                terminal: Some(failing.to_owned()),
                comp_fail_once: Some(undone.to_owned()),
                ..none()
            });
            out.push(Schedule {
                terminal: Some(failing.to_owned()),
                comp_ambiguous: Some(undone.to_owned()),
                ..none()
            });
            out.push(Schedule {
                terminal: Some(failing.to_owned()),
                comp_exhaust: Some(undone.to_owned()),
                ..none()
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The crashing log.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// Append k is stored, then the log fails: the effect it enables never runs.
    BeforeEffect,
    /// Appends 1..=k are stored and append k+1 is refused: the effect enabled by append k ran.
    AfterEffect,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Variant::BeforeEffect => "before-effect",
            Variant::AfterEffect => "after-effect",
        })
    }
}

struct CrashingLog {
    inner: Arc<InMemoryLog>,
    k: usize,
    variant: Variant,
    appends: AtomicUsize,
    /// Appends tried after the crash: the executor must stop at the first failure.
    after_crash: AtomicUsize,
    /// For append n (from 1), the calls of its saga's steps made before it.
    calls_before: Mutex<Vec<usize>>,
    /// The kind of the append that failed first.
    crashed_at: Mutex<Option<&'static str>>,
}

impl CrashingLog {
    fn new(inner: Arc<InMemoryLog>, k: usize, variant: Variant) -> Arc<CrashingLog> {
        Arc::new(CrashingLog {
            inner,
            k,
            variant,
            appends: AtomicUsize::new(0),
            after_crash: AtomicUsize::new(0),
            calls_before: Mutex::new(Vec::new()),
            crashed_at: Mutex::new(None),
        })
    }

    fn crashed(&self) -> bool {
        let n = self.appends.load(Ordering::SeqCst);
        match self.variant {
            Variant::BeforeEffect => n >= self.k,
            Variant::AfterEffect => n > self.k,
        }
    }
}

fn crash() -> LogError {
    LogError::Storage("crash".into())
}

impl SagaLog for CrashingLog {
    fn append<'a>(
        &'a self,
        id: &'a SagaId,
        event: SagaEvent,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move {
            if self.crashed() {
                self.after_crash.fetch_add(1, Ordering::SeqCst);
                return Err(crash());
            }
            self.calls_before
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(calls_of(id));
            let n = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
            if self.crashed() {
                *self.crashed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(event.kind());
            }
            match self.variant {
                Variant::BeforeEffect if n == self.k => {
                    self.inner.append(id, event).await?;
                    Err(crash())
                }
                Variant::AfterEffect if n > self.k => Err(crash()),
                _ => self.inner.append(id, event).await,
            }
        })
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

fn runtime(log: Arc<dyn SagaLog>) -> Runtime {
    register_all(Runtime::builder().shared_log(log))
        .compensation_retry(RetryPolicy {
            max_attempts: 2,
            interval_seconds: 0,
            backoff_rate: 1.0,
            max_delay_seconds: None,
            jitter: Jitter::None,
        })
        .jitter_seed(1)
        .build()
}

// ---------------------------------------------------------------------------
// Runs and checks.

/// The uncrashed run of one shape under one schedule.
struct Baseline {
    status: SagaStatus,
    events: Vec<SagaEvent>,
    /// For append n (from 1), the calls made before it.
    calls_before: Vec<usize>,
    net: BTreeMap<String, Net>,
}

impl Baseline {
    fn appends(&self) -> usize {
        self.events.len()
    }
}

/// What a correct executor does with `schedule`, whatever crashes.
fn expected_status(shape: &Shape, schedule: &Schedule) -> SagaStatus {
    match &schedule.terminal {
        Some(step) if shape.kind(step) == StepKind::Retriable => SagaStatus::Stuck,
        Some(_) => SagaStatus::Compensated,
        None if schedule.cancel_at.is_some() => SagaStatus::Compensated,
        None => SagaStatus::Completed,
    }
}

/// The one way a crash may change how a saga ends.
///
/// An attempt that was logged as started but did not finish counts as an
/// ambiguous failure (`Saga.Interrupted`) when the saga is recovered. A
/// compensatable or pivot step then moves to its resolve phase, with a fresh
/// budget, so it ends as it would have. A retriable step and a compensation
/// instead retry every error from one budget: if the schedule already needs
/// that whole budget (`exhaust`, `comp_exhaust`), an interruption that
/// replaces no recorded failure is one failure too many, and the saga ends
/// stuck at that step, as the failure rules prescribe. That is the case when
/// the crash leaves one of its attempts started and unfinished in the log,
/// and either that attempt never ran (its failure would have been one of the
/// budget's) or it was the last attempt, the one that succeeds. An
/// interrupted earlier attempt that ran failed anyway: the interruption
/// replaces its failure and changes nothing. In a straight line only a crash
/// at the attempt's own start can leave it unfinished; in a parallel group a
/// crash anywhere while it runs can.
///
/// `at_crash` holds the ledger entries of the saga right after the crash.
/// Returns the step where such a crash leaves the saga stuck, and whether
/// its effect took place.
fn spends_budget(
    shape: &Shape,
    schedule: &Schedule,
    base: &Baseline,
    k: usize,
    at_crash: &BTreeMap<String, Effect>,
) -> Option<(usize, Direction, bool)> {
    let stored = base.events.get(..k)?;
    for (i, &(name, kind)) in shape.steps.iter().enumerate() {
        let candidates = [
            (
                is(&schedule.exhaust, name) && kind == StepKind::Retriable,
                Direction::Forward,
                STEP_RETRIES + 1,
            ),
            (
                is(&schedule.comp_exhaust, name),
                Direction::Compensation,
                COMP_RETRIES + 1,
            ),
        ];
        for (applies, direction, last) in candidates {
            if !applies {
                continue;
            }
            // The attempt of step `i` in flight when the log stopped, if any.
            let mut in_flight = None;
            for event in stored {
                match (event, direction) {
                    (&SagaEvent::StepStarted { step, attempt }, Direction::Forward)
                    | (
                        &SagaEvent::CompensationStarted { step, attempt },
                        Direction::Compensation,
                    ) if step == i => in_flight = Some(attempt),
                    (
                        &SagaEvent::StepFailed { step, .. }
                        | &SagaEvent::StepSucceeded { step, .. },
                        Direction::Forward,
                    )
                    | (
                        &SagaEvent::CompensationFailed { step, .. }
                        | &SagaEvent::CompensationSucceeded { step },
                        Direction::Compensation,
                    ) if step == i => in_flight = None,
                    _ => {}
                }
            }
            let Some(attempt) = in_flight else {
                continue;
            };
            let calls = at_crash.get(name).map_or(0, |e| match direction {
                Direction::Forward => e.forward_calls,
                Direction::Compensation => e.comp_calls,
            });
            let ran = calls >= attempt;
            if !ran || attempt == last {
                return Some((i, direction, ran && attempt == last));
            }
        }
    }
    None
}

/// The net effects of a saga that a crash left stuck at `step` (see
/// [`spends_budget`]): those of the uncrashed run, except that a saga stuck
/// at a retriable step ran none of the steps after it, and one stuck at a
/// compensation undid none of the steps before it. The stuck invocation's
/// own effect took place only if its last attempt ran (`ran`).
fn stuck_net(
    shape: &Shape,
    base: &Baseline,
    step: usize,
    direction: Direction,
    ran: bool,
) -> BTreeMap<String, Net> {
    let mut out = BTreeMap::new();
    for (i, &(name, _)) in shape.steps.iter().enumerate() {
        let Some(n) = base.net.get(name) else {
            continue;
        };
        // A parallel sibling of a stuck branch ran to its end.
        let sibling = i != step && shape.stages[step].contains(&i);
        let net = match direction {
            Direction::Forward if i < step || sibling || (i == step && ran) => n.clone(),
            Direction::Forward if i == step => Net::default(),
            Direction::Forward => continue,
            Direction::Compensation if i > step || (i == step && ran) => n.clone(),
            Direction::Compensation => Net {
                comp_effects: 0,
                compensated: false,
                ..n.clone()
            },
        };
        out.insert(name.to_owned(), net);
    }
    out
}

fn saga_id(text: String) -> SagaId {
    SagaId::new(text).expect("a valid saga id")
}

fn render(history: &[LogEntry]) -> String {
    history
        .iter()
        .map(|e| format!("\n      {:>2} {:?}", e.seq, e.event))
        .collect()
}

fn status_in(list: &[SagaSummary], id: &SagaId) -> Option<SagaStatus> {
    list.iter().find(|s| s.id == *id).map(|s| s.status)
}

/// The invariants of a saga that reached `status`, against its ledger and history.
fn check_end(
    shape: &Shape,
    status: SagaStatus,
    entries: &BTreeMap<String, Effect>,
    history: &[LogEntry],
) -> Vec<String> {
    let mut problems = Vec::new();
    if !matches!(
        status,
        SagaStatus::Completed | SagaStatus::Compensated | SagaStatus::Stuck
    ) {
        problems.push(format!(
            "ended {status}, not completed, compensated or stuck"
        ));
    }
    for (step, e) in entries {
        if !shape.steps.iter().any(|(name, _)| name == step) {
            problems.push(format!("ledger entry for unknown step {step}"));
        }
        if e.effects > 1 || e.comp_effects > 1 {
            problems.push(format!(
                "{step}: {} forward effects, {} compensations (at most one each)",
                e.effects, e.comp_effects
            ));
        }
        if e.compensated && e.effects == 0 {
            problems.push(format!("{step}: compensated without a forward effect"));
        }
        for anomaly in &e.anomalies {
            problems.push(anomaly.clone());
        }
    }
    let effect = |step: &str| entries.get(step).map_or(0, |e| e.effects);
    let compensated = |step: &str| entries.get(step).is_some_and(|e| e.compensated);
    match status {
        SagaStatus::Compensated => {
            for &(step, kind) in &shape.steps {
                if effect(step) == 0 {
                    continue;
                }
                if kind != StepKind::Compensatable {
                    problems.push(format!("compensated, yet {kind:?} step {step} took effect"));
                } else if !compensated(step) || entries[step].comp_effects != 1 {
                    problems.push(format!(
                        "compensated, yet {step} is not undone exactly once"
                    ));
                }
            }
        }
        SagaStatus::Completed => {
            for &(step, _) in &shape.steps {
                if effect(step) != 1 {
                    problems.push(format!(
                        "completed, yet {step} has {} forward effects",
                        effect(step)
                    ));
                }
                if entries.get(step).is_some_and(|e| e.comp_calls > 0) {
                    problems.push(format!("completed, yet {step} was compensated"));
                }
            }
        }
        _ => {}
    }
    for entry in history {
        if let SagaEvent::StepSucceeded { step, output } = &entry.event {
            let name = shape.steps[*step].0;
            let recorded = entries
                .get(name)
                .filter(|e| e.effects == 1)
                .map(|e| e.output);
            if output.as_u64() != recorded {
                problems.push(format!(
                    "the log records output {output} for {name}, the ledger {recorded:?}"
                ));
            }
        }
    }
    problems
}

async fn baseline(shape: &Shape, id: SagaId, schedule: &Schedule) -> Baseline {
    let where_ = format!("{shape} under {schedule}, uncrashed");
    let inner = Arc::new(InMemoryLog::new());
    let log = CrashingLog::new(inner.clone(), usize::MAX, Variant::AfterEffect);
    let rt = runtime(log.clone());
    drive_with(&rt);
    let outcome = (shape.run)(rt.clone(), id.clone(), schedule.clone())
        .await
        .unwrap_or_else(|e| panic!("{where_}: the run failed: {e}"));
    let history = rt.history(&id).await.expect("the history");
    let entries = entries_of(&id);
    let status = outcome.status();
    let want = expected_status(shape, schedule);
    assert_eq!(
        status,
        want,
        "{where_}: ended {status}, expected {want}; history:{}",
        render(&history)
    );
    if let SagaOutcome::Completed(out) = outcome {
        let last = shape.steps.last().expect("a step").0;
        assert_eq!(
            Some(out),
            entries.get(last).map(|e| e.output),
            "{where_}: result"
        );
    }
    let problems = check_end(shape, status, &entries, &history);
    assert!(
        problems.is_empty(),
        "{where_}: {problems:#?}; history:{}",
        render(&history)
    );
    let calls_before = log.calls_before.lock().expect("lock").clone();
    assert_eq!(
        calls_before.len(),
        history.len(),
        "{where_}: one record per append"
    );
    Baseline {
        status,
        events: history.into_iter().map(|e| e.event).collect(),
        calls_before,
        net: entries.iter().map(|(s, e)| (s.clone(), e.net())).collect(),
    }
}

/// Crashes one run at append `k` under `variant`, recovers it, and checks
/// the result. Returns `None` when the run did not crash (k is past its
/// last append), otherwise the problems found and whether the crash spent
/// a retry budget (see [`spends_budget`]).
async fn crash_point(
    shape: &Shape,
    schedule: &Schedule,
    base: &Baseline,
    id: &SagaId,
    k: usize,
    variant: Variant,
    known: &mut BTreeSet<String>,
) -> Option<(Vec<String>, bool)> {
    let inner = Arc::new(InMemoryLog::new());
    let log = CrashingLog::new(inner.clone(), k, variant);
    let crashed = {
        let rt = runtime(log.clone());
        drive_with(&rt);
        (shape.run)(rt, id.clone(), schedule.clone()).await
    };
    if inner.history(id).await.is_ok() {
        known.insert(id.to_string());
    }
    let at_crash = entries_of(id);
    let mut problems = Vec::new();
    match crashed {
        Ok(_) if log.crashed() => problems.push("the run ignored a failed append".into()),
        Ok(_) => return None,
        Err(SagaError::Log(LogError::Storage(reason))) if reason == "crash" => {}
        Err(e) => problems.push(format!("the crashed run failed otherwise: {e}")),
    }
    // A failed `cancel_requested` goes to the step that asked, not to the
    // executor: the executor meets the crash at its next append.
    let after = log.after_crash.load(Ordering::SeqCst);
    let canceller = *log.crashed_at.lock().expect("lock") == Some("cancel_requested");
    if after > usize::from(canceller) {
        problems.push(format!("{after} appends after the failed one"));
    }
    let stored = inner.history(id).await.unwrap_or_default();
    if stored.iter().map(|e| &e.event).ne(base.events[..k].iter()) {
        problems.push(format!(
            "the crashed log holds {} events, not the first {k} of the uncrashed run:{}",
            stored.len(),
            render(&stored)
        ));
    }
    // The calls made before the crash: up to append k, plus those append k enabled.
    let calls = calls_of(id);
    let want_calls = match variant {
        Variant::BeforeEffect => base.calls_before[k - 1],
        Variant::AfterEffect => base.calls_before[k],
    };
    if calls != want_calls {
        problems.push(format!(
            "{calls} step calls before the crash, expected {want_calls}"
        ));
    }

    let rt = runtime(inner.clone());
    drive_with(&rt);
    let before = rt.sagas(None).await.expect("list");
    let report = rt.recover().await.expect("recover lists the log");
    let after_list = rt.sagas(None).await.expect("list");
    let entries = entries_of(id);
    let Some(status) = status_in(&after_list, id) else {
        // `created` never reached the log: nothing may have run.
        if !entries.is_empty() || !report.sagas.is_empty() {
            problems.push(format!(
                "the log does not know the saga, yet it has effects {entries:?} or was recovered"
            ));
        }
        return Some((problems, false));
    };
    let history = rt.history(id).await.expect("history");
    let unfinished = status_in(&before, id).is_some_and(SagaStatus::is_unfinished);
    match (unfinished, report.sagas.as_slice()) {
        (true, [one]) if one.id == *id => match &one.result {
            Ok(s) if *s == status => {}
            other => problems.push(format!(
                "recovery reported {other:?}, the log says {status}"
            )),
        },
        (false, []) => {}
        (_, sagas) => problems.push(format!(
            "unfinished before recovery: {unfinished}; recovery report: {sagas:?}"
        )),
    }
    problems.extend(check_end(shape, status, &entries, &history));
    let net: BTreeMap<String, Net> = entries.iter().map(|(s, e)| (s.clone(), e.net())).collect();
    let spent = spends_budget(shape, schedule, base, k, &at_crash);
    if let Some((step, direction, ran)) = spent {
        let stuck_there = matches!(
            history.last().map(|e| &e.event),
            Some(SagaEvent::Stuck { step: s, .. }) if *s == step
        );
        if status != SagaStatus::Stuck || !stuck_there {
            problems.push(format!(
                "ended {status}; an interrupted attempt spends the last retry of {} ({direction:?}), so the saga must be stuck there",
                shape.steps[step].0
            ));
        }
        let expected = stuck_net(shape, base, step, direction, ran);
        if net != expected {
            problems.push(format!(
                "net effects differ from those of a saga stuck at {}:\n      crashed:  {net:?}\n      expected: {expected:?}",
                shape.steps[step].0
            ));
        }
    } else if status != base.status {
        problems.push(format!(
            "ended {status}; the uncrashed run ended {}",
            base.status
        ));
    } else if net != base.net {
        problems.push(format!(
            "net effects differ from the uncrashed run:\n      crashed:   {net:?}\n      uncrashed: {:?}",
            base.net
        ));
    }
    let again = rt.recover().await.expect("recover lists the log");
    if !again.sagas.is_empty() {
        problems.push(format!("a second recovery found work: {:?}", again.sagas));
    }
    if !problems.is_empty() {
        problems.push(format!("history after recovery:{}", render(&history)));
    }
    Some((problems, spent.is_some()))
}

#[tokio::test(start_paused = true)]
async fn every_crash_point_recovers_to_the_uncrashed_end() {
    let started = std::time::Instant::now();
    let shapes = shapes();
    assert_eq!(shapes.len(), 39);
    let mut known = BTreeSet::new();
    let mut failures = Vec::new();
    let (mut runs, mut explored, mut expected, mut stuck_by_budget) = (0, 0, 0, 0);
    for (si, shape) in shapes.iter().enumerate() {
        for (fi, schedule) in schedules(shape).iter().enumerate() {
            runs += 1;
            let base_id = saga_id(format!("cp-{si}-{fi}-base"));
            let base = baseline(shape, base_id.clone(), schedule).await;
            known.insert(base_id.to_string());
            expected += 2 * base.appends();
            for variant in [Variant::BeforeEffect, Variant::AfterEffect] {
                let first = match variant {
                    Variant::BeforeEffect => 1,
                    Variant::AfterEffect => 0,
                };
                for k in first.. {
                    assert!(
                        k <= base.appends() + 1,
                        "{shape} under {schedule}: still crashing at append {k}, past the {} appends of the uncrashed run",
                        base.appends()
                    );
                    let id = saga_id(format!("cp-{si}-{fi}-{k}-{}", variant as u8));
                    let Some((problems, spent)) =
                        crash_point(shape, schedule, &base, &id, k, variant, &mut known).await
                    else {
                        break;
                    };
                    explored += 1;
                    stuck_by_budget += usize::from(spent);
                    if !problems.is_empty() {
                        failures.push(format!(
                            "{shape} under {schedule}, crash {variant} at append {k} ({id}):\n    {}",
                            problems.join("\n    ")
                        ));
                    }
                }
            }
        }
    }
    // Invariant 4, over the whole run: every effect belongs to a saga the log knew.
    let strangers: BTreeSet<String> = ledger()
        .keys()
        .map(|key| key.split('/').next().unwrap_or_default().to_owned())
        .filter(|id| !known.contains(id))
        .collect();
    println!(
        "crash points: {explored} explored over {runs} runs (39 shapes, 4 with parallel groups); \
         {stuck_by_budget} left stuck by a spent retry budget; {} failures; in {:.1?}",
        failures.len(),
        started.elapsed()
    );
    for failure in failures.iter().take(20) {
        println!("{failure}");
    }
    assert!(
        strangers.is_empty(),
        "effects of sagas the log does not know: {strangers:?}"
    );
    assert!(
        failures.is_empty(),
        "{} crash points failed",
        failures.len()
    );
    assert_eq!(
        explored, expected,
        "two crash points per append of every uncrashed run"
    );
    assert!(stuck_by_budget > 0, "no crash spent a retry budget");
    // Each run logs at least `created`, a start and an end per step, and an end.
    assert!(
        explored >= 2 * 4 * runs && explored >= 10_000,
        "only {explored} crash points"
    );
}
