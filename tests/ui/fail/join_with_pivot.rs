// The branches of one `join!` are all compensatable or all retriable: a pivot
// runs alone.
use saga_core::prelude::*;

#[saga_step(compensate = undo_hotel)]
async fn hotel(n: &u64) -> Result<u64, StepError> {
    Ok(*n)
}
async fn undo_hotel(_n: &u64, _out: u64) -> Result<(), StepError> {
    Ok(())
}

#[saga_step(pivot)]
async fn charge(n: &u64) -> Result<u64, StepError> {
    Ok(*n)
}

saga! {
    pub saga Mixed(n: u64) -> u64 {
        let (hotel, paid) = join!(hotel(&n), charge(&n));
        hotel + paid
    }
}

fn main() {}
