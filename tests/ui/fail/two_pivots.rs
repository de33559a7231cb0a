// At most one pivot per saga.
use saga_core::prelude::*;

#[saga_step(pivot)]
async fn charge(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

#[saga_step(pivot)]
async fn transfer(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

saga! {
    pub saga Pay(amount: u64) {
        let _receipt = charge(&amount);
        let _transfer = transfer(&amount);
    }
}

fn main() {}
