// A compensation that forgets the step's output does not match.
use saga_core::prelude::*;

#[saga_step(compensate = cancel_flight)]
async fn reserve_flight(trip: &String) -> Result<u64, StepError> {
    Ok(trip.len() as u64)
}

async fn cancel_flight(_trip: &String) -> Result<(), StepError> {
    Ok(())
}

fn main() {}
