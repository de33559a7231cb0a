// A saga that does not parse gets its parse error, and code that names the
// saga gets no second error: the saga type is still declared.
use saga_core::prelude::*;

#[saga_step(pivot)]
async fn charge(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

saga! {
    pub saga Pay(amount: u64) -> u64 {
        let paid = charge(&amount) +;
        paid
    }
}

fn uses_the_saga(_: Pay) {}

fn main() {
    uses_the_saga(Pay);
}
