// Order rule: compensatable steps, then at most one pivot, then retriable steps.
use saga_core::prelude::*;

#[saga_step(pivot)]
async fn charge(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

#[saga_step(compensate = unship)]
async fn ship(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

async fn unship(_amount: &u64, _shipment: u64) -> Result<(), StepError> {
    Ok(())
}

saga! {
    pub saga Pay(amount: u64) {
        let _receipt = charge(&amount);
        let _shipment = ship(&amount);
    }
}

fn main() {}
