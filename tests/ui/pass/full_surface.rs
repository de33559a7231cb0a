// Every piece of the DSL surface compiles without a single warning.
#![deny(warnings)]

use saga_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trip {
    pub seats: u32,
}

#[derive(Debug)]
pub struct Declined;

impl From<Declined> for StepError {
    fn from(_: Declined) -> StepError {
        StepError::terminal("declined")
    }
}

pub mod airline {
    use super::*;

    /// Steps can live in other modules and be named by path.
    #[saga_step(compensate = cancel, retry(max_attempts = 0))]
    pub async fn reserve_flight(trip: &Trip) -> Result<String, StepError> {
        Ok(format!("FL{}", trip.seats))
    }

    pub async fn cancel(_trip: &Trip, _booking: String) -> Result<(), StepError> {
        Ok(())
    }
}

// A custom error type converts into StepError.
#[saga_step(
    compensate = release_seat,
    retry(max_attempts = 5, interval_seconds = 2, backoff_rate = 1.5, max_delay_seconds = 30, jitter = full),
    timeout_seconds = 20
)]
async fn hold_seat(trip: Trip, flight: &String) -> Result<u32, Declined> {
    let _ = flight;
    Ok(trip.seats)
}

async fn release_seat(_trip: Trip, _flight: &String, _seat: u32) -> Result<(), Declined> {
    Ok(())
}

#[saga_step(pivot)]
async fn charge(trip: &Trip, seat: &u32) -> Result<u64, StepError> {
    Ok(u64::from(trip.seats + *seat))
}

#[saga_step(retriable)]
async fn notify(receipt: u64) -> Result<(), StepError> {
    let _ = receipt;
    Ok(())
}

/// A step whose code lives in a remote function: no body.
#[saga_step(compensate = release_remote)]
async fn remote_hold(trip: &Trip) -> Result<u32, StepError>;

async fn release_remote(_trip: &Trip, _hold: u32) -> Result<(), StepError> {
    Ok(())
}

saga! {
    /// Books a trip.
    pub saga BookTrip(trip: Trip) -> (String, u32, u64) {
        let flight: String = airline::reserve_flight(&trip);
        let seat = hold_seat(trip, &flight);
        let charge = charge(&trip, &seat);
        notify(charge);
        (flight, seat, charge)
    }

    /// A saga without an output, with a step that has no body.
    saga Remote(trip: Trip) {
        let _held = remote_hold(&trip);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let runtime = Runtime::in_memory();
    let out = BookTrip::run(&runtime, Trip { seats: 2 })
        .await
        .expect("runs")
        .completed()
        .expect("completes");
    assert_eq!(out, ("FL2".to_string(), 2, 4));

    let def = BookTrip::definition();
    assert_eq!(def.steps.len(), 4);
    assert_eq!(def.steps[1].params, &["trip", "flight"]);
    assert_eq!(def.steps[1].retry.max_attempts, 5);

    match Remote::run(&runtime, Trip { seats: 1 }).await {
        Err(SagaError::Config { problems, .. }) => assert_eq!(
            problems,
            vec![saga_core::invoke::ConfigProblem::Unbound {
                step: "remote_hold"
            }]
        ),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
