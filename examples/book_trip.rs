//! Books a trip: reserve a flight, a hotel and a car, charge the card, then
//! send a confirmation. Any failure before the charge undoes what was booked.
//!
//! ```text
//! cargo run --example book_trip                    # the happy path
//! cargo run --example book_trip -- --fail-at hotel # compensations run in reverse
//! ```

use std::sync::Mutex;
use std::time::Instant;

use saga_core::log::SagaEvent;
use saga_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trip {
    pub traveller: String,
    pub from: String,
    pub to: String,
    /// The step to fail, for the demonstration.
    pub fail_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlightBooking {
    pub code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HotelBooking {
    pub code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CarRental {
    pub code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receipt {
    pub amount_cents: u64,
}

#[derive(Debug)]
pub struct Itinerary {
    pub flight: FlightBooking,
    pub hotel: HotelBooking,
    pub car: CarRental,
    pub receipt: Receipt,
}

static START: Mutex<Option<Instant>> = Mutex::new(None);

/// Prints one timeline line with the current step context.
fn timeline(what: &str) {
    let ms = START
        .lock()
        .ok()
        .and_then(|s| s.map(|s| s.elapsed().as_secs_f64() * 1000.0))
        .unwrap_or(0.0);
    let key = StepContext::current()
        .map(|c| format!("{} attempt {}", c.idempotency_key(), c.attempt()))
        .unwrap_or_default();
    println!("{ms:>8.2} ms  {what:<32} {key}");
}

fn maybe_fail(trip: &Trip, step: &str) -> Result<(), StepError> {
    if trip.fail_at.as_deref() == Some(step) {
        timeline(&format!("  {step} fails (terminal)"));
        return Err(StepError::terminal(format!("{step} is not available")));
    }
    Ok(())
}

#[saga_step(compensate = cancel_flight)]
async fn reserve_flight(trip: &Trip) -> Result<FlightBooking, StepError> {
    timeline("-> reserve_flight");
    maybe_fail(trip, "flight")?;
    Ok(FlightBooking {
        code: format!("FL-{}-{}", trip.from, trip.to),
    })
}

async fn cancel_flight(_trip: &Trip, booking: FlightBooking) -> Result<(), StepError> {
    timeline(&format!("<- cancel_flight {}", booking.code));
    Ok(())
}

#[saga_step(compensate = cancel_hotel, timeout_seconds = 10)]
async fn reserve_hotel(trip: &Trip, flight: &FlightBooking) -> Result<HotelBooking, StepError> {
    timeline("-> reserve_hotel");
    maybe_fail(trip, "hotel")?;
    Ok(HotelBooking {
        code: format!("HT-{}-{}", trip.to, flight.code.len()),
    })
}

async fn cancel_hotel(
    _trip: &Trip,
    _flight: &FlightBooking,
    booking: HotelBooking,
) -> Result<(), StepError> {
    timeline(&format!("<- cancel_hotel {}", booking.code));
    Ok(())
}

#[saga_step(compensate = return_car, retry(max_attempts = 2, interval_seconds = 1, backoff_rate = 2.0))]
async fn rent_car(trip: &Trip) -> Result<CarRental, StepError> {
    timeline("-> rent_car");
    maybe_fail(trip, "car")?;
    Ok(CarRental {
        code: format!("CAR-{}", trip.to),
    })
}

async fn return_car(_trip: &Trip, car: CarRental) -> Result<(), StepError> {
    timeline(&format!("<- return_car {}", car.code));
    Ok(())
}

#[saga_step(pivot)]
async fn charge_card(trip: &Trip) -> Result<Receipt, StepError> {
    timeline("-> charge_card (pivot)");
    maybe_fail(trip, "charge")?;
    Ok(Receipt {
        amount_cents: 123_400,
    })
}

#[saga_step(retriable, retry(max_attempts = 5, interval_seconds = 1, jitter = full))]
async fn send_confirmation(trip: &Trip, receipt: &Receipt) -> Result<(), StepError> {
    timeline("-> send_confirmation (retriable)");
    println!(
        "             mail to {}: paid {:.2}",
        trip.traveller,
        receipt.amount_cents as f64 / 100.0
    );
    Ok(())
}

saga! {
    /// Books a trip; any failure before payment undoes what was booked.
    pub saga BookTrip(trip: Trip) -> Itinerary {
        let flight = reserve_flight(&trip);
        let hotel = reserve_hotel(&trip, &flight);
        let car = rent_car(&trip);
        let receipt = charge_card(&trip);
        send_confirmation(&trip, &receipt);
        Itinerary { flight, hotel, car, receipt }
    }
}

const STEPS: &[&str] = &["flight", "hotel", "car", "charge"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut fail_at = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--fail-at" => {
                let step = args.next().unwrap_or_default();
                if !STEPS.contains(&step.as_str()) {
                    anyhow::bail!("--fail-at takes one of {}", STEPS.join(", "));
                }
                fail_at = Some(step);
            }
            "-h" | "--help" => {
                println!("usage: book_trip [--fail-at {}]", STEPS.join("|"));
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?}; try --help"),
        }
    }

    let runtime = Runtime::in_memory();
    let trip = Trip {
        traveller: "Ada".into(),
        from: "LHR".into(),
        to: "JFK".into(),
        fail_at,
    };
    println!(
        "saga BookTrip, definition {}",
        BookTrip::definition().hash()
    );
    *START
        .lock()
        .map_err(|_| anyhow::anyhow!("clock poisoned"))? = Some(Instant::now());
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
    println!("saga log for {id}:");
    let steps = BookTrip::definition().steps;
    let name = |k: &usize| steps.get(*k).map_or("?", |s| s.name);
    for entry in runtime.log().history(&id).await? {
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
            } => {
                format!(
                    "{} failed on attempt {attempt} ({error}), retry: {retry}",
                    name(step)
                )
            }
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
