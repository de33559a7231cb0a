//! What one saga run costs when its ten steps do nothing.
//!
//! Every step body returns a small value at once, so what is measured is the
//! engine around the steps: recording, dispatch and scheduling. Three variants
//! of the same ten-step linear saga run in the criterion group `ten_steps`:
//!
//! - `ten_steps/hand_written`: the floor. Ten no-op `async fn`s awaited one
//!   after another by hand, with no engine at all.
//! - `ten_steps/saga_core`: a `saga!` of ten compensatable `#[saga_step]`s run
//!   by `Runtime::in_memory()`, each run under a fresh random saga id.
//! - `ten_steps/steno`: the same ten-node linear DAG run by steno's saga
//!   execution coordinator (SEC) over `InMemorySecStore`, each run a new saga
//!   with a fresh `SagaId`, awaited to completion.
//!
//! Each iteration is one whole saga run, from the input to the typed result
//! of the last step: `n + 9`, checked once for every variant before timing.
//!
//! Fairness notes:
//!
//! - All three run on the same current-thread tokio runtime. steno spawns a
//!   task per node; on a current-thread runtime those tasks run on the
//!   benchmark's thread with no cross-thread wake-ups, which is steno's best
//!   case, so a lead for `saga_core` is not an artefact of scheduling.
//! - Both engines keep every saga they ran in memory (saga_core's in-memory
//!   log; steno's SEC keeps finished sagas). Over a whole benchmark that is
//!   hundreds of thousands of sagas and a growing heap. So each criterion
//!   sample (a batch of `iters` runs, timed as one) gets a fresh saga_core
//!   runtime, or a fresh SEC, built before its clock starts and dropped (or
//!   shut down) after it stops: memory stays bounded, and neither the setup
//!   nor the teardown is timed. Within a sample the engine is shared by every
//!   run, as in a service.
//! - steno binds a saga's parameters into its `SagaDag`, so a run with its
//!   own input builds a `SagaDag` from the prebuilt `Dag`, as a steno user
//!   does; saga_core takes the input as a typed argument.
//! - Each steno action reads the saga input through `saga_params`, the only
//!   way a steno action sees it, as each saga_core step reads `&n`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use saga_core::prelude::{Runtime, Saga, StepError, saga, saga_step};
use steno::{
    Action, ActionContext, ActionError, ActionFunc, ActionRegistry, Dag, DagBuilder,
    InMemorySecStore, Node, SagaDag, SagaName, SagaType, SecClient, UndoResult,
};

/// The saga input of every run.
const INPUT: u64 = 7;
/// The result of every run: the output of the last step, `n + 9`.
const EXPECTED: u64 = INPUT + 9;

// ---------------------------------------------------------------------------
// hand_written: the floor
// ---------------------------------------------------------------------------

/// Step `I` of the hand-written chain.
async fn hand_step<const I: u64>(n: &u64) -> Result<u64, StepError> {
    Ok(n + I)
}

/// Ten steps awaited one after another, with no engine.
async fn hand_written(n: u64) -> Result<u64, StepError> {
    let n = &n;
    black_box(hand_step::<0>(n).await?);
    black_box(hand_step::<1>(n).await?);
    black_box(hand_step::<2>(n).await?);
    black_box(hand_step::<3>(n).await?);
    black_box(hand_step::<4>(n).await?);
    black_box(hand_step::<5>(n).await?);
    black_box(hand_step::<6>(n).await?);
    black_box(hand_step::<7>(n).await?);
    black_box(hand_step::<8>(n).await?);
    hand_step::<9>(n).await
}

// ---------------------------------------------------------------------------
// saga_core
// ---------------------------------------------------------------------------

#[saga_step(compensate = undo)]
async fn s0(n: &u64) -> Result<u64, StepError> {
    Ok(*n)
}

#[saga_step(compensate = undo)]
async fn s1(n: &u64) -> Result<u64, StepError> {
    Ok(n + 1)
}

#[saga_step(compensate = undo)]
async fn s2(n: &u64) -> Result<u64, StepError> {
    Ok(n + 2)
}

#[saga_step(compensate = undo)]
async fn s3(n: &u64) -> Result<u64, StepError> {
    Ok(n + 3)
}

#[saga_step(compensate = undo)]
async fn s4(n: &u64) -> Result<u64, StepError> {
    Ok(n + 4)
}

#[saga_step(compensate = undo)]
async fn s5(n: &u64) -> Result<u64, StepError> {
    Ok(n + 5)
}

#[saga_step(compensate = undo)]
async fn s6(n: &u64) -> Result<u64, StepError> {
    Ok(n + 6)
}

#[saga_step(compensate = undo)]
async fn s7(n: &u64) -> Result<u64, StepError> {
    Ok(n + 7)
}

#[saga_step(compensate = undo)]
async fn s8(n: &u64) -> Result<u64, StepError> {
    Ok(n + 8)
}

#[saga_step(compensate = undo)]
async fn s9(n: &u64) -> Result<u64, StepError> {
    Ok(n + 9)
}

/// The compensation of every step: takes the step's argument and its output.
async fn undo(_n: &u64, _output: u64) -> Result<(), StepError> {
    Ok(())
}

saga! {
    /// Ten compensatable no-op steps; the result is the last step's output.
    saga TenSteps(n: u64) -> u64 {
        s0(&n);
        s1(&n);
        s2(&n);
        s3(&n);
        s4(&n);
        s5(&n);
        s6(&n);
        s7(&n);
        s8(&n);
        let last = s9(&n);
        last
    }
}

/// One saga_core run, to completion.
async fn run_saga_core(runtime: &Runtime, n: u64) -> u64 {
    TenSteps::run(runtime, n)
        .await
        .expect("the in-memory saga log accepts every event")
        .completed()
        .expect("no step fails, so the saga completes")
}

// ---------------------------------------------------------------------------
// steno
// ---------------------------------------------------------------------------

/// steno's saga type: the actions need no context.
#[derive(Debug)]
struct StenoSteps;

impl SagaType for StenoSteps {
    type ExecContextType = ();
}

/// Action `I`: reads the saga input and returns `n + I`.
async fn steno_step<const I: u64>(ctx: ActionContext<StenoSteps>) -> Result<u64, ActionError> {
    let n: u64 = ctx.saga_params()?;
    Ok(n + I)
}

/// The undo action of every node.
async fn steno_undo(_ctx: ActionContext<StenoSteps>) -> UndoResult {
    Ok(())
}

/// Action `I`, named `s<I>`, with its no-op undo action.
fn steno_action<const I: u64>() -> Arc<dyn Action<StenoSteps>> {
    ActionFunc::new_action(format!("s{I}"), steno_step::<I>, steno_undo)
}

/// What every steno run shares: the DAG without parameters, the registry of
/// actions and the (empty) user context.
struct StenoFixture {
    dag: Dag,
    registry: Arc<ActionRegistry<StenoSteps>>,
    context: Arc<()>,
}

impl StenoFixture {
    fn prepare() -> Self {
        let actions = [
            steno_action::<0>(),
            steno_action::<1>(),
            steno_action::<2>(),
            steno_action::<3>(),
            steno_action::<4>(),
            steno_action::<5>(),
            steno_action::<6>(),
            steno_action::<7>(),
            steno_action::<8>(),
            steno_action::<9>(),
        ];
        let mut registry = ActionRegistry::new();
        let mut builder = DagBuilder::new(SagaName::new("ten-steps"));
        for (i, action) in actions.into_iter().enumerate() {
            builder.append(Node::action(
                format!("s{i}"),
                format!("step {i}"),
                action.as_ref(),
            ));
            registry.register(action);
        }
        StenoFixture {
            dag: builder
                .build()
                .expect("a linear DAG of uniquely named nodes is valid"),
            registry: Arc::new(registry),
            context: Arc::new(()),
        }
    }

    /// One steno run, to completion.
    async fn run(&self, sec: &SecClient, n: u64) -> u64 {
        let params = serde_json::to_value(n).expect("a u64 serialises to JSON");
        let dag = Arc::new(SagaDag::new(self.dag.clone(), params));
        let id = steno::SagaId::new_v4();
        let done = sec
            .saga_create(
                id,
                Arc::clone(&self.context),
                dag,
                Arc::clone(&self.registry),
            )
            .await
            .expect("the SEC accepts a new saga");
        sec.saga_start(id)
            .await
            .expect("the SEC starts the saga it has just created");
        done.await
            .kind
            .expect("no action fails, so the saga completes")
            .saga_output::<u64>()
            .expect("the last node's output is a u64")
    }
}

/// A new steno SEC over an in-memory store, logging nowhere. It spawns its
/// task, so it must be called on the tokio runtime.
fn new_sec() -> SecClient {
    steno::sec(
        slog::Logger::root(slog::Discard, slog::o!()),
        Arc::new(InMemorySecStore::new()),
    )
}

// ---------------------------------------------------------------------------
// The benchmark
// ---------------------------------------------------------------------------

fn ten_steps(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime can be built");
    let fixture = StenoFixture::prepare();
    let fixture = &fixture;

    // Every variant computes the same result before any of them is timed.
    rt.block_on(async {
        let hand = hand_written(INPUT).await.expect("no-op steps cannot fail");
        assert_eq!(hand, EXPECTED, "hand_written");
        let runtime = Runtime::in_memory();
        assert_eq!(run_saga_core(&runtime, INPUT).await, EXPECTED, "saga_core");
        let sec = new_sec();
        assert_eq!(fixture.run(&sec, INPUT).await, EXPECTED, "steno");
        sec.shutdown().await;
    });

    let mut group = c.benchmark_group("ten_steps");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    group.bench_function("hand_written", |b| {
        b.to_async(&rt).iter(|| hand_written(black_box(INPUT)));
    });

    group.bench_function("saga_core", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            // A fresh saga log per sample, built before the clock starts.
            let runtime = Runtime::in_memory();
            let start = Instant::now();
            for _ in 0..iters {
                black_box(run_saga_core(&runtime, black_box(INPUT)).await);
            }
            let elapsed = start.elapsed();
            // Dropping the log of this sample's sagas is not timed.
            drop(runtime);
            elapsed
        });
    });

    group.bench_function("steno", |b| {
        b.to_async(&rt).iter_custom(move |iters| async move {
            // A fresh SEC per sample, built before the clock starts.
            let sec = new_sec();
            let start = Instant::now();
            for _ in 0..iters {
                black_box(fixture.run(&sec, black_box(INPUT)).await);
            }
            let elapsed = start.elapsed();
            // Shutting the SEC down is not timed.
            sec.shutdown().await;
            elapsed
        });
    });

    group.finish();
}

criterion_group!(benches, ten_steps);
criterion_main!(benches);
