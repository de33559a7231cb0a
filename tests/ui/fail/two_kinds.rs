// Exactly one of `compensate = ...`, `pivot` or `retriable`.
use saga_core::prelude::*;

#[saga_step(pivot, retriable)]
async fn charge(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

#[saga_step(compensate = undo, pivot)]
async fn reserve(amount: &u64) -> Result<u64, StepError> {
    Ok(*amount)
}

async fn undo(_amount: &u64, _out: u64) -> Result<(), StepError> {
    Ok(())
}

fn main() {}
