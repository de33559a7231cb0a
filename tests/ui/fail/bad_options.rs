// Duplicate and unknown options and out-of-range values are all reported in one build.
use saga_core::prelude::*;

#[saga_step(pivot, pivot, bogus = 1, timeout_seconds = 0, compensate)]
async fn charge(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

fn main() {}
