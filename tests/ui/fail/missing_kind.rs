// A step must say how it is undone: `compensate = ...`, `pivot` or `retriable`.
use saga_core::prelude::*;

#[saga_step]
async fn charge(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

#[saga_step(timeout_seconds = 5)]
async fn refund(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

fn main() {
    // The functions are still emitted, so using them causes no further errors.
    let _ = charge(&1);
    let _ = refund(&1);
}
