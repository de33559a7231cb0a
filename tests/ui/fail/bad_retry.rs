// Retry fields follow the ASL rules: BackoffRate >= 1, IntervalSeconds >= 1, FULL or NONE jitter.
use saga_core::prelude::*;

#[saga_step(pivot, retry(max_attempts = -1, interval_seconds = 0, backoff_rate = 0.5, jitter = sometimes, tries = 3))]
async fn charge(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

fn main() {}
