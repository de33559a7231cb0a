// Retriable steps come last: nothing compensatable may follow one.
use saga_core::prelude::*;

#[saga_step(retriable)]
async fn notify(amount: &u64) -> Result<(), StepError> {
    let _ = amount;
    Ok(())
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
        notify(&amount);
        let _shipment = ship(&amount);
    }
}

fn main() {}
