//! The trip-booking saga, defined once and run anywhere: in-process, against
//! Lambda functions (each step of this crate is also a `lambda_runtime`
//! binary under `src/bin/`), or behind HTTP endpoints.
//!
//! A → B → C → D: reserve a flight, reserve a hotel, rent a car, charge the
//! card (the pivot), then send a confirmation (retriable).
//!
//! Failures are injected through the input, so that the same code misbehaves
//! the same way in every engine: `fail_at` names a step (`flight`, `hotel`,
//! `car`, `charge`) that answers with a terminal error, `panic:<step>` panics,
//! and `confirmation` fails the confirmation's first two calls.

use saga_core::prelude::*;
use serde::{Deserialize, Serialize};

/// What to book.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    /// Who travels.
    pub traveller: String,
    /// From which airport.
    pub from: String,
    /// To which airport.
    pub to: String,
    /// The failure to inject, for demonstrations and tests.
    #[serde(default)]
    pub fail_at: Option<String>,
}

/// A reserved flight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlightBooking {
    /// The booking code.
    pub code: String,
}

/// A reserved hotel room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotelBooking {
    /// The booking code.
    pub code: String,
}

/// A rented car.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarRental {
    /// The rental code.
    pub code: String,
}

/// The payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// The amount charged, in cents.
    pub amount_cents: u64,
}

/// The saga's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Itinerary {
    /// The flight.
    pub flight: FlightBooking,
    /// The hotel.
    pub hotel: HotelBooking,
    /// The car.
    pub car: CarRental,
    /// The payment.
    pub receipt: Receipt,
}

/// The steps whose failure `fail_at` can inject.
pub const FAILURE_POINTS: &[&str] = &["flight", "hotel", "car", "charge", "confirmation"];

/// Prints one line of the timeline, with the invocation's idempotency key.
pub fn timeline(what: &str) {
    let key = StepContext::current()
        .map(|c| format!("{} attempt {}", c.idempotency_key(), c.attempt()))
        .unwrap_or_default();
    println!("  {what:<34} {key}");
}

fn inject(trip: &Trip, step: &str) -> Result<(), StepError> {
    match trip.fail_at.as_deref() {
        Some(s) if s == step => {
            timeline(&format!("  {step} fails (terminal)"));
            Err(StepError::terminal(format!("{step} is not available")))
        }
        Some(s) if s.strip_prefix("panic:") == Some(step) => panic!("{step} crashed"),
        _ => Ok(()),
    }
}

/// Reserves a flight.
#[saga_step(compensate = cancel_flight)]
pub async fn reserve_flight(trip: &Trip) -> Result<FlightBooking, StepError> {
    timeline("-> reserve_flight");
    inject(trip, "flight")?;
    Ok(FlightBooking {
        code: format!("FL-{}-{}", trip.from, trip.to),
    })
}

/// Cancels the flight.
pub async fn cancel_flight(_trip: &Trip, booking: FlightBooking) -> Result<(), StepError> {
    timeline(&format!("<- cancel_flight {}", booking.code));
    Ok(())
}

/// Reserves a hotel near the flight's destination.
#[saga_step(compensate = cancel_hotel, timeout_seconds = 10)]
pub async fn reserve_hotel(trip: &Trip, flight: &FlightBooking) -> Result<HotelBooking, StepError> {
    timeline("-> reserve_hotel");
    inject(trip, "hotel")?;
    Ok(HotelBooking {
        code: format!("HT-{}-{}", trip.to, flight.code.len()),
    })
}

/// Cancels the hotel.
pub async fn cancel_hotel(
    _trip: &Trip,
    _flight: &FlightBooking,
    booking: HotelBooking,
) -> Result<(), StepError> {
    timeline(&format!("<- cancel_hotel {}", booking.code));
    Ok(())
}

/// Rents a car.
#[saga_step(compensate = return_car, timeout_seconds = 5, retry(max_attempts = 2, interval_seconds = 1, backoff_rate = 2.0))]
pub async fn rent_car(trip: &Trip) -> Result<CarRental, StepError> {
    timeline("-> rent_car");
    inject(trip, "car")?;
    Ok(CarRental {
        code: format!("CAR-{}", trip.to),
    })
}

/// Returns the car.
pub async fn return_car(_trip: &Trip, car: CarRental) -> Result<(), StepError> {
    timeline(&format!("<- return_car {}", car.code));
    Ok(())
}

/// Charges the card: the go/no-go step.
#[saga_step(pivot)]
pub async fn charge_card(trip: &Trip) -> Result<Receipt, StepError> {
    timeline("-> charge_card (pivot)");
    inject(trip, "charge")?;
    Ok(Receipt {
        amount_cents: 123_400,
    })
}

/// How many times this process has run the current invocation's step for
/// its saga (its idempotency key), this call included. A remote function does
/// not learn the saga's attempt number, so failures injected per attempt
/// count calls here instead: the same in-process and in a warm Lambda.
fn calls_so_far() -> u32 {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex, PoisonError};
    static CALLS: LazyLock<Mutex<HashMap<String, u32>>> = LazyLock::new(Mutex::default);
    let key = StepContext::current().map_or_else(String::new, |c| c.idempotency_key());
    let mut calls = CALLS.lock().unwrap_or_else(PoisonError::into_inner);
    let n = calls.entry(key).or_default();
    *n += 1;
    *n
}

/// Sends the confirmation; after the pivot it is retried until it succeeds.
#[saga_step(retriable, retry(max_attempts = 5, interval_seconds = 1, jitter = full))]
pub async fn send_confirmation(trip: &Trip, receipt: &Receipt) -> Result<(), StepError> {
    timeline("-> send_confirmation (retriable)");
    if trip.fail_at.as_deref() == Some("confirmation") && calls_so_far() <= 2 {
        timeline("  confirmation fails (retryable)");
        return Err(StepError::retryable("mail server busy"));
    }
    println!(
        "  mail to {}: paid {}.{:02}",
        trip.traveller,
        receipt.amount_cents / 100,
        receipt.amount_cents % 100
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

    /// The same trip with the hotel and the car booked at once: if either
    /// fails, the other is undone if it succeeded, then the flight.
    pub saga BookTripTogether(trip: Trip) -> Itinerary {
        let flight = reserve_flight(&trip);
        let (hotel, car) = join!(reserve_hotel(&trip, &flight), rent_car(&trip));
        let receipt = charge_card(&trip);
        send_confirmation(&trip, &receipt);
        Itinerary { flight, hotel, car, receipt }
    }
}

/// The Lambda function names of each step and compensation, as deployed
/// from `src/bin/` (cargo-lambda names a function after its binary).
pub mod functions {
    /// `reserve_flight`
    pub const RESERVE_FLIGHT: &str = "reserve-flight";
    /// `cancel_flight`
    pub const CANCEL_FLIGHT: &str = "cancel-flight";
    /// `reserve_hotel`
    pub const RESERVE_HOTEL: &str = "reserve-hotel";
    /// `cancel_hotel`
    pub const CANCEL_HOTEL: &str = "cancel-hotel";
    /// `rent_car`
    pub const RENT_CAR: &str = "rent-car";
    /// `return_car`
    pub const RETURN_CAR: &str = "return-car";
    /// `charge_card`
    pub const CHARGE_CARD: &str = "charge-card";
    /// `send_confirmation`
    pub const SEND_CONFIRMATION: &str = "send-confirmation";
    /// A broken build of `reserve_hotel` that answers malformed JSON.
    pub const MALFORMED_HOTEL: &str = "malformed-hotel";

    use super::*;
    use saga_core::RuntimeBuilder;
    use saga_core::invoke::LambdaInvoker;
    use saga_core::invoke::local::LocalLambda;

    /// Binds every step and compensation of [`BookTrip`] to its Lambda
    /// function. The runtime and the generated state machine both read
    /// this one table.
    pub fn bind(builder: RuntimeBuilder, lambda: &LambdaInvoker) -> RuntimeBuilder {
        builder
            .bind::<reserve_flight>(lambda.function(RESERVE_FLIGHT))
            .bind_compensation::<reserve_flight>(lambda.function(CANCEL_FLIGHT))
            .bind::<reserve_hotel>(lambda.function(RESERVE_HOTEL))
            .bind_compensation::<reserve_hotel>(lambda.function(CANCEL_HOTEL))
            .bind::<rent_car>(lambda.function(RENT_CAR))
            .bind_compensation::<rent_car>(lambda.function(RETURN_CAR))
            .bind::<charge_card>(lambda.function(CHARGE_CARD))
            .bind::<send_confirmation>(lambda.function(SEND_CONFIRMATION))
    }

    /// Hosts every step and compensation of [`BookTrip`] on a local Invoke
    /// endpoint, under the names [`bind`] uses.
    pub fn host(local: LocalLambda) -> LocalLambda {
        local
            .step::<reserve_flight>(RESERVE_FLIGHT)
            .compensation::<reserve_flight>(CANCEL_FLIGHT)
            .step::<reserve_hotel>(RESERVE_HOTEL)
            .compensation::<reserve_hotel>(CANCEL_HOTEL)
            .step::<rent_car>(RENT_CAR)
            .compensation::<rent_car>(RETURN_CAR)
            .step::<charge_card>(CHARGE_CARD)
            .step::<send_confirmation>(SEND_CONFIRMATION)
    }
}
