// A saga takes one input and holds only step calls and a final result.
use saga_core::prelude::*;

#[saga_step(pivot)]
async fn charge(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

saga! {
    pub saga TwoInputs(a: u64, b: u64) {
        let _x = charge(&a);
    }

    pub saga Statements(amount: u64) -> u64 {
        let doubled = amount * 2;
        let _paid = charge(&amount.clone());
        let (x, y) = charge(&amount);
        if true {}
        0
    }

    pub saga MissingResult(amount: u64) -> u64 {
        let _paid = charge(&amount);
    }
}

fn main() {}
