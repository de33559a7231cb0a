// A type annotation on a result is checked against the step's output type.
use saga_core::prelude::*;

#[saga_step(pivot)]
async fn charge(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

saga! {
    pub saga Pay(amount: u64) -> u64 {
        let paid: String = charge(&amount);
        paid
    }
}

fn main() {}
