// The compensation takes the step's inputs and the step's output, by value.
use saga_core::prelude::*;

pub struct Booking;

#[saga_step(compensate = cancel_flight)]
async fn reserve_flight(trip: &String) -> Result<u64, StepError> {
    Ok(trip.len() as u64)
}

async fn cancel_flight(_trip: &String, _booking: &Booking) -> Result<(), StepError> {
    Ok(())
}

fn main() {}
