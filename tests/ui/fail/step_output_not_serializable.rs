// A step's output is recorded in the saga log, so it must be serialisable and cloneable.
use saga_core::prelude::*;

pub struct Opaque;

#[saga_step(pivot)]
async fn charge(amount: &u64) -> Result<Opaque, StepError> {
    let _ = amount;
    Ok(Opaque)
}

fn main() {}
