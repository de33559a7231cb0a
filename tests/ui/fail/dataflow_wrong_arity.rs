// A step called with the wrong number of arguments is an error in the saga body.
use saga_core::prelude::*;

#[saga_step(pivot)]
async fn charge(amount: &u64, currency: &String) -> Result<u64, StepError> {
    let _ = currency;
    Ok(*amount)
}

saga! {
    pub saga Pay(amount: u64) {
        let _paid = charge(&amount);
    }
}

fn main() {}
