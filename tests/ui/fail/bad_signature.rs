// A step is a free, non-generic `async fn` with plain, owned or borrowed parameters.
use saga_core::prelude::*;

#[saga_step(pivot)]
fn not_async(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

#[saga_step(pivot)]
async fn generic<T: Send>(value: T) -> Result<T, StepError> {
    Ok(value)
}

#[saga_step(pivot)]
async fn odd_params((a, b): (u8, u8), c: &mut u8, d: &'static str, e: impl Send) -> Result<u8, StepError> {
    let _ = (c, d, e);
    Ok(a + b)
}

#[saga_step(pivot)]
async fn no_result(amount: &u64) {
    let _ = amount;
}

fn main() {}
