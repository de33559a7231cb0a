//! Books a trip: reserve a flight, a hotel and a car, charge the card, then
//! send a confirmation. Any failure before the charge undoes what was booked.
//! The saga itself lives in `examples/trip` (crate `trip-saga`).
//!
//! ```text
//! cargo run --example book_trip                             # in-process, the happy path
//! cargo run --example book_trip -- --fail-at hotel          # compensations run in reverse
//! cargo run --example book_trip -- --fail-at confirmation   # retried after the pivot
//! cargo run --example book_trip -- --lambda --fail-at car   # every step on a local Lambda endpoint
//! cargo run --example book_trip -- asl                      # the Step Functions state machine
//! ```

use saga_core::asl::{self, AslOptions};
use saga_core::invoke::LambdaInvoker;
use saga_core::invoke::local::{LocalLambda, LocalLambdaHandle};
use saga_core::log::SagaEvent;
use saga_core::prelude::*;
use trip_saga::functions;
use trip_saga::*;

struct Args {
    fail_at: Option<String>,
    lambda: bool,
    asl: bool,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        fail_at: None,
        lambda: false,
        asl: false,
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
            "--lambda" => parsed.lambda = true,
            "asl" => parsed.asl = true,
            "-h" | "--help" => {
                println!(
                    "usage: book_trip [--lambda] [--fail-at {}]\n       book_trip asl\n\n  --lambda   run every step and compensation as a Lambda function on a local\n             Invoke endpoint, called through the real aws-sdk-lambda client\n  asl        print the saga as an AWS Step Functions state machine (ASL JSON)",
                    FAILURE_POINTS.join("|")
                );
                return Ok(None);
            }
            other => anyhow::bail!("unknown argument {other:?}; try --help"),
        }
    }
    Ok(Some(parsed))
}

/// Hosts each step and compensation as a Lambda function on 127.0.0.1 and
/// binds the saga to them.
async fn lambda_runtime() -> anyhow::Result<(Runtime, LocalLambdaHandle)> {
    let local = functions::host(LocalLambda::new()).start().await?;
    println!("local Lambda Invoke endpoint on {}", local.url());
    let lambda = LambdaInvoker::local(local.url());
    let runtime = functions::bind(Runtime::builder(), &lambda).build();
    runtime.preflight::<BookTrip>().await?;
    println!("DryRun preflight: every function may be invoked");
    Ok((runtime, local))
}

/// Prints the saga as a Step Functions state machine. The function names come
/// from the same bindings the `--lambda` runtime uses; nothing is called.
fn print_state_machine() -> anyhow::Result<()> {
    let lambda = LambdaInvoker::local("http://127.0.0.1:9000");
    let runtime = functions::bind(Runtime::builder(), &lambda).build();
    let options = AslOptions::from_runtime(&runtime).comment("Books a trip (saga BookTrip)");
    println!("{}", asl::state_machine::<BookTrip>(&options)?.to_json());
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(args) = parse_args()? else {
        return Ok(());
    };
    if args.asl {
        return print_state_machine();
    }
    let (runtime, _local) = if args.lambda {
        let (rt, local) = lambda_runtime().await?;
        (rt, Some(local))
    } else {
        (Runtime::in_memory(), None)
    };
    let trip = Trip {
        traveller: "Ada".into(),
        from: "LHR".into(),
        to: "JFK".into(),
        fail_at: args.fail_at,
    };
    println!(
        "saga BookTrip, definition {}",
        BookTrip::definition().hash()
    );
    let id = SagaId::new("trip-1")?;
    let outcome = BookTrip::run_with_id(&runtime, id.clone(), trip).await?;
    match &outcome {
        SagaOutcome::Completed(it) => println!(
            "outcome: completed; flight {}, hotel {}, car {}",
            it.flight.code, it.hotel.code, it.car.code
        ),
        SagaOutcome::Compensated { failed_step, error } => {
            println!("outcome: compensated after `{failed_step}` failed: {error}")
        }
        SagaOutcome::Stuck { step, error, .. } => {
            println!("outcome: stuck at `{step}`: {error}")
        }
    }
    print_log(&runtime, &id).await
}

async fn print_log(runtime: &Runtime, id: &SagaId) -> anyhow::Result<()> {
    println!("saga log for {id}:");
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
            SagaEvent::UnwindStarted { failed_step, .. } => {
                format!("unwinding after {}", name(failed_step))
            }
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
