// Every step used in `saga!` must be a `#[saga_step]`.
use saga_core::prelude::*;

async fn charge(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

saga! {
    pub saga Pay(amount: u64) -> u64 {
        let paid = charge(&amount);
        paid
    }
}

fn main() {}
