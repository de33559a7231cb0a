//! Books a trip: reserve a flight, a hotel and a car, charge the card, then
//! send a confirmation. Any failure before the charge undoes what was booked.
//! The saga itself lives in `examples/trip` (crate `trip-saga`).
//!
//! Sagas run in-process on the durable SQLite saga log (`--db`, default
//! `target/book_trip.db`), so a run that dies half-way is finished by
//! `recover`.
//!
//! ```text
//! cargo run --example book_trip                             # in-process, the happy path
//! cargo run --example book_trip -- --fail-at hotel          # compensations run in reverse
//! cargo run --example book_trip -- --fail-at confirmation   # retried after the pivot
//! cargo run --example book_trip -- --lambda --fail-at car   # every step on a local Lambda endpoint
//! cargo run --example book_trip -- --cancel-after hotel     # cancelled while running: stops, compensates
//! cargo run --example book_trip -- --memory --events        # with its lifecycle events, as JSON lines
//! cargo run --example book_trip -- --crash-after car        # the process dies once rent_car has started
//! cargo run --example book_trip -- cancel <id>              # cancels a saga the log holds unfinished
//! cargo run --example book_trip -- recover                  # finishes every saga the log holds unfinished
//! cargo run --example book_trip -- --trace --fail-at car    # with the runtime's tracing spans and events
//! cargo run --example book_trip -- --together --fail-at car # hotel and car in parallel (join!)
//! cargo run --example book_trip -- asl                      # the Step Functions state machine
//! ```

use saga_core::asl::{self, AslOptions};
use saga_core::invoke::LambdaInvoker;
use saga_core::invoke::local::{LocalLambda, LocalLambdaHandle};
use std::path::PathBuf;
use std::sync::Arc;

use saga_core::log::{LogEntry, LogError, Outbox, SagaEvent, SagaLog, SagaStatus, SagaSummary};
use saga_core::prelude::*;
use saga_core::publish::{JsonLines, Publisher};
use saga_core::{BoxFuture, SagaDefinition, names};
use trip_saga::functions;
use trip_saga::*;

struct Args {
    fail_at: Option<String>,
    crash_after: Option<String>,
    cancel_after: Option<String>,
    cancel: Option<String>,
    events: bool,
    lambda: bool,
    asl: bool,
    recover: bool,
    memory: bool,
    trace: bool,
    /// Run `BookTripTogether` (hotel and car in parallel) instead of `BookTrip`.
    together: bool,
    db: PathBuf,
}

impl Args {
    /// The definition of the saga to run.
    fn saga(&self) -> &'static SagaDefinition {
        if self.together {
            BookTripTogether::definition()
        } else {
            BookTrip::definition()
        }
    }
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        fail_at: None,
        crash_after: None,
        cancel_after: None,
        cancel: None,
        events: false,
        lambda: false,
        asl: false,
        recover: false,
        memory: false,
        trace: false,
        together: false,
        db: PathBuf::from("target/book_trip.db"),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--fail-at" => {
                let step = args.next().unwrap_or_default();
                if !FAILURE_POINTS.contains(&step.as_str()) {
                    anyhow::bail!("--fail-at takes one of {}", FAILURE_POINTS.join(", "));
                }
                parsed.fail_at = Some(step);
            }
            "--crash-after" => {
                let step = args.next().unwrap_or_default();
                if !FAILURE_POINTS.contains(&step.as_str()) {
                    anyhow::bail!("--crash-after takes one of {}", FAILURE_POINTS.join(", "));
                }
                parsed.crash_after = Some(step);
            }
            "--cancel-after" => {
                let step = args.next().unwrap_or_default();
                if !FAILURE_POINTS.contains(&step.as_str()) {
                    anyhow::bail!("--cancel-after takes one of {}", FAILURE_POINTS.join(", "));
                }
                parsed.cancel_after = Some(step);
            }
            "cancel" => match args.next() {
                Some(id) => parsed.cancel = Some(id),
                None => anyhow::bail!("cancel takes a saga id"),
            },
            "--db" => match args.next() {
                Some(path) => parsed.db = PathBuf::from(path),
                None => anyhow::bail!("--db takes a file path"),
            },
            "--memory" => parsed.memory = true,
            "--events" => parsed.events = true,
            "--trace" => parsed.trace = true,
            "--together" => parsed.together = true,
            "--lambda" => parsed.lambda = true,
            "asl" => parsed.asl = true,
            "recover" => parsed.recover = true,
            "-h" | "--help" => {
                let points = FAILURE_POINTS.join("|");
                println!(
                    "usage: book_trip [--db FILE | --memory] [--trace] [--lambda] [--together] [--fail-at {points}] [--crash-after {points}] [--cancel-after {points}] [--events]\n       book_trip [--db FILE] cancel ID\n       book_trip [--db FILE] recover\n       book_trip [--together] asl\n\n  --db FILE      the SQLite saga log (default target/book_trip.db)\n  --memory       an in-memory saga log instead\n  --lambda       run every step and compensation as a Lambda function on a local\n                 Invoke endpoint, called through the real aws-sdk-lambda client\n  --trace        print the runtime's tracing spans and events (tracing-subscriber)\n  --together     run BookTripTogether: the hotel and the car booked in parallel (join!)\n  --crash-after  kill the process once the log records that this step started\n  --cancel-after cancel the saga once the log records that this step succeeded\n  --events       print the saga lifecycle events (JSON lines) published from the log's outbox\n  cancel ID      cancel a saga the log holds unfinished (recover then compensates it)\n  recover        finish every saga the log holds unfinished\n  asl            print the saga as an AWS Step Functions state machine (ASL JSON)"
                );
                return Ok(None);
            }
            other => anyhow::bail!("unknown argument {other:?}; try --help"),
        }
    }
    Ok(Some(parsed))
}

/// What the example does at a point of the saga log.
enum Tap {
    /// Ends the process, as a crash would, once the step's start is durable.
    CrashAfterStart,
    /// Tells `main` once the step's success is durable, and waits until
    /// `main` has cancelled the saga: a user pressing "cancel" mid-run.
    CancelAfterSuccess(tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<()>>),
}

/// The saga log, with a [`Tap`] at one step.
struct Tapped {
    inner: Arc<dyn SagaLog>,
    step: usize,
    tap: Tap,
}

impl SagaLog for Tapped {
    fn append<'a>(
        &'a self,
        id: &'a SagaId,
        event: SagaEvent,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        Box::pin(async move {
            let at = match (&self.tap, &event) {
                (Tap::CrashAfterStart, SagaEvent::StepStarted { step, .. })
                | (Tap::CancelAfterSuccess(_), SagaEvent::StepSucceeded { step, .. }) => {
                    *step == self.step
                }
                _ => false,
            };
            self.inner.append(id, event).await?;
            match &self.tap {
                Tap::CrashAfterStart if at => {
                    println!("crash: the process dies now, with saga {id} in flight");
                    std::process::exit(137);
                }
                Tap::CancelAfterSuccess(main) if at => {
                    let (done, cancelled) = tokio::sync::oneshot::channel();
                    if main.send(done).await.is_ok() {
                        let _ = cancelled.await;
                    }
                }
                _ => {}
            }
            Ok(())
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

type CancelSignal = tokio::sync::mpsc::Receiver<tokio::sync::oneshot::Sender<()>>;

/// The runtime's builder on the chosen saga log, the signal of
/// `--cancel-after`, and the log's outbox of lifecycle events.
struct Setup {
    builder: saga_core::RuntimeBuilder,
    cancel: Option<CancelSignal>,
    outbox: Arc<dyn Outbox>,
}

fn builder(args: &Args) -> anyhow::Result<Setup> {
    let builder = Runtime::builder()
        .register::<BookTrip>()
        .register::<BookTripTogether>();
    let (log, outbox): (Arc<dyn SagaLog>, Arc<dyn Outbox>) = if args.memory {
        let log = Arc::new(InMemoryLog::with_outbox());
        (log.clone(), log)
    } else {
        if let Some(dir) = args.db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let log = Arc::new(SqliteLog::open(&args.db)?);
        println!("saga log: {}", args.db.display());
        (log.clone(), log)
    };
    let step = |point: &str| {
        args.saga()
            .step_index(step_of(point))
            .ok_or_else(|| anyhow::anyhow!("no step for {point}"))
    };
    let (tap, cancel) = match (&args.crash_after, &args.cancel_after) {
        (Some(point), _) => (Some((step(point)?, Tap::CrashAfterStart)), None),
        (None, Some(point)) => {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            (Some((step(point)?, Tap::CancelAfterSuccess(tx))), Some(rx))
        }
        (None, None) => (None, None),
    };
    let builder = match tap {
        Some((step, tap)) => builder.log(Tapped {
            inner: log,
            step,
            tap,
        }),
        None => builder.shared_log(log),
    };
    Ok(Setup {
        builder,
        cancel,
        outbox,
    })
}

/// The step a failure point names.
fn step_of(point: &str) -> &'static str {
    match point {
        "flight" => "reserve_flight",
        "hotel" => "reserve_hotel",
        "car" => "rent_car",
        "charge" => "charge_card",
        _ => "send_confirmation",
    }
}

/// Cancels saga `id` in the log; `recover` then compensates it.
async fn cancel(args: &Args, id: &str) -> anyhow::Result<()> {
    let runtime = builder(args)?.builder.build();
    let id = SagaId::new(id)?;
    match runtime.cancel(&id, "cancelled from the command line").await {
        Ok(answer) => println!("cancel {id}: {answer:?}; `recover` compensates it"),
        Err(e) => anyhow::bail!("cancel {id}: {e}"),
    }
    Ok(())
}

/// Finishes every unfinished saga in the log and prints what became of each.
async fn recover(args: &Args) -> anyhow::Result<()> {
    let runtime = builder(args)?.builder.build();
    let report = runtime.recover().await?;
    println!("recovered {} unfinished saga(s)", report.sagas.len());
    for saga in &report.sagas {
        match &saga.result {
            Ok(status) => println!("saga {} ({}): {status}", saga.id, saga.saga),
            Err(e) => println!("saga {} ({}): not resumed: {e}", saga.id, saga.saga),
        }
        print_log(&runtime, &saga.id).await?;
    }
    Ok(())
}

/// Hosts each step and compensation as a Lambda function on 127.0.0.1 and
/// binds the saga to them.
async fn lambda_runtime(args: &Args) -> anyhow::Result<(Runtime, LocalLambdaHandle)> {
    let local = functions::host(LocalLambda::new()).start().await?;
    println!("local Lambda Invoke endpoint on {}", local.url());
    let lambda = LambdaInvoker::local(local.url());
    let runtime = functions::bind(builder(args)?.builder, &lambda).build();
    runtime.preflight::<BookTrip>().await?;
    runtime.preflight::<BookTripTogether>().await?;
    println!("DryRun preflight: every function may be invoked");
    Ok((runtime, local))
}

/// Prints the saga as a Step Functions state machine. The function names come
/// from the same bindings the `--lambda` runtime uses; nothing is called.
fn print_state_machine(args: &Args) -> anyhow::Result<()> {
    let lambda = LambdaInvoker::local("http://127.0.0.1:9000");
    let runtime = functions::bind(Runtime::builder(), &lambda).build();
    let options = AslOptions::from_runtime(&runtime)
        .comment(format!("Books a trip (saga {})", args.saga().name));
    let machine = if args.together {
        asl::state_machine::<BookTripTogether>(&options)?
    } else {
        asl::state_machine::<BookTrip>(&options)?
    };
    println!("{}", machine.to_json());
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(args) = parse_args()? else {
        return Ok(());
    };
    if args.trace {
        tracing_subscriber::fmt().with_target(false).init();
    }
    if args.asl {
        return print_state_machine(&args);
    }
    if args.recover {
        return recover(&args).await;
    }
    if let Some(id) = &args.cancel {
        return cancel(&args, id).await;
    }
    let (runtime, _local, cancel_signal, outbox) = if args.lambda {
        let (rt, local) = lambda_runtime(&args).await?;
        (rt, Some(local), None, None)
    } else {
        let setup = builder(&args)?;
        (
            setup.builder.build(),
            None,
            setup.cancel,
            Some(setup.outbox),
        )
    };
    // --events: a publisher beside the saga prints each lifecycle event as
    // JSON; SNS, SQS and EventBridge sinks work the same way.
    let publisher = match (args.events, outbox) {
        (true, Some(outbox)) => Some(
            Publisher::new(
                outbox,
                JsonLines::new("book_trip --events", std::io::stdout()),
            )
            .registry(runtime.registry())
            .poll_interval(std::time::Duration::from_millis(20))
            .spawn(),
        ),
        _ => None,
    };
    let saga = args.saga();
    let trip = Trip {
        traveller: "Ada".into(),
        from: "LHR".into(),
        to: "JFK".into(),
        fail_at: args.fail_at,
    };
    println!("saga {}, definition {}", saga.name, saga.hash());
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let id = SagaId::new(format!("trip-{millis}"))?;
    if let Some(mut signal) = cancel_signal {
        // The user presses "cancel" once the log shows the step succeeded.
        let (runtime, id) = (runtime.clone(), id.clone());
        tokio::spawn(async move {
            if let Some(done) = signal.recv().await {
                match runtime.cancel(&id, "the traveller changed plans").await {
                    Ok(answer) => println!("cancel: {answer:?}"),
                    Err(e) => println!("cancel refused: {e}"),
                }
                let _ = done.send(());
            }
        });
    }
    let outcome = if args.together {
        BookTripTogether::run_with_id(&runtime, id.clone(), trip).await?
    } else {
        BookTrip::run_with_id(&runtime, id.clone(), trip).await?
    };
    if let Some(publisher) = publisher {
        publisher.stop().await?;
    }
    match &outcome {
        SagaOutcome::Completed(it) => println!(
            "outcome: completed; flight {}, hotel {}, car {}",
            it.flight.code, it.hotel.code, it.car.code
        ),
        SagaOutcome::Compensated { failed_step, error } => {
            println!("outcome: compensated after `{failed_step}` failed: {error}")
        }
        SagaOutcome::Cancelled {
            before_step,
            reason,
        } => println!("outcome: cancelled before `{before_step}`: {reason}"),
        SagaOutcome::Stuck { step, error, .. } => {
            println!("outcome: stuck at `{step}`: {error}")
        }
    }
    print_log(&runtime, &id).await
}

async fn print_log(runtime: &Runtime, id: &SagaId) -> anyhow::Result<()> {
    println!("saga log for {id}:");
    // Both sagas declare the same steps in the same order.
    let steps = BookTrip::definition().steps;
    let name = |k: &usize| steps.get(*k).map_or("?", |s| s.name);
    for entry in runtime.log().history(id).await? {
        let line = match &entry.event {
            SagaEvent::Created {
                definition_hash, ..
            } => format!("created ({definition_hash})"),
            SagaEvent::StepStarted { step, attempt } => {
                format!("{} started, attempt {attempt}", name(step))
            }
            SagaEvent::StepSucceeded { step, output } => {
                format!("{} succeeded: {output}", name(step))
            }
            SagaEvent::StepFailed {
                step,
                attempt,
                error,
                retry,
            } => format!(
                "{} failed on attempt {attempt} ({error}), retry: {retry}",
                name(step)
            ),
            SagaEvent::UnwindStarted { failed_step, error } if error.name() == names::CANCELLED => {
                format!("cancelled: unwinding before {}", name(failed_step))
            }
            SagaEvent::UnwindStarted { failed_step, .. } => {
                format!("unwinding after {}", name(failed_step))
            }
            SagaEvent::CancelRequested { reason } => format!("cancel requested: {reason}"),
            SagaEvent::CompensationStarted { step, attempt } => {
                format!("compensating {}, attempt {attempt}", name(step))
            }
            SagaEvent::CompensationSucceeded { step } => format!("{} compensated", name(step)),
            SagaEvent::CompensationFailed { step, error, .. } => {
                format!("compensating {} failed: {error}", name(step))
            }
            other => other.kind().to_string(),
        };
        println!("  #{:<2} {line}", entry.seq);
    }
    Ok(())
}
