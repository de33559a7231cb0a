//! Books a trip: reserve a flight, a hotel and a car, charge the card, then
//! send a confirmation. Any failure before the charge undoes what was booked.
//! The saga itself lives in `examples/trip` (crate `trip-saga`).
//!
//! ```text
//! cargo run --example book_trip                             # in-process, the happy path
//! cargo run --example book_trip -- --fail-at hotel          # compensations run in reverse
//! cargo run --example book_trip -- --fail-at confirmation   # retried after the pivot
//! cargo run --example book_trip -- --lambda --fail-at car   # every step on a local Lambda endpoint
//! ```

use saga_core::invoke::LambdaInvoker;
use saga_core::invoke::local::{LocalLambda, LocalLambdaHandle};
use saga_core::log::SagaEvent;
use saga_core::prelude::*;
use trip_saga::functions::*;
use trip_saga::*;

struct Args {
    fail_at: Option<String>,
    lambda: bool,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        fail_at: None,
        lambda: false,
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
            "-h" | "--help" => {
                println!(
                    "usage: book_trip [--lambda] [--fail-at {}]\n\n  --lambda   run every step and compensation as a Lambda function on a local\n             Invoke endpoint, called through the real aws-sdk-lambda client",
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
    let local = LocalLambda::new()
        .step::<reserve_flight>(RESERVE_FLIGHT)
        .compensation::<reserve_flight>(CANCEL_FLIGHT)
        .step::<reserve_hotel>(RESERVE_HOTEL)
        .compensation::<reserve_hotel>(CANCEL_HOTEL)
        .step::<rent_car>(RENT_CAR)
        .compensation::<rent_car>(RETURN_CAR)
        .step::<charge_card>(CHARGE_CARD)
        .step::<send_confirmation>(SEND_CONFIRMATION)
        .start()
        .await?;
    println!("local Lambda Invoke endpoint on {}", local.url());
    let lambda = LambdaInvoker::local(local.url());
    let runtime = Runtime::builder()
        .bind::<reserve_flight>(lambda.function(RESERVE_FLIGHT))
        .bind_compensation::<reserve_flight>(lambda.function(CANCEL_FLIGHT))
        .bind::<reserve_hotel>(lambda.function(RESERVE_HOTEL))
        .bind_compensation::<reserve_hotel>(lambda.function(CANCEL_HOTEL))
        .bind::<rent_car>(lambda.function(RENT_CAR))
        .bind_compensation::<rent_car>(lambda.function(RETURN_CAR))
        .bind::<charge_card>(lambda.function(CHARGE_CARD))
        .bind::<send_confirmation>(lambda.function(SEND_CONFIRMATION))
        .build();
    runtime.preflight::<BookTrip>().await?;
    println!("DryRun preflight: every function may be invoked");
    Ok((runtime, local))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(args) = parse_args()? else {
        return Ok(());
    };
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
