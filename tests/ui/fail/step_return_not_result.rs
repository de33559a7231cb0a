// A step returns `Result<T, E>` with `E: Into<StepError>`.
use saga_core::prelude::*;

#[saga_step(pivot)]
async fn charge(amount: &u64) -> u64 {
    *amount
}

fn main() {}
