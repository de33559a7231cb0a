// Arguments are the saga input or results of earlier steps; each name is defined once,
// and each step runs once. All of these are reported in one build.
use saga_core::prelude::*;

#[saga_step(compensate = release)]
async fn hold(n: &u64) -> Result<u64, StepError> {
    Ok(*n)
}

#[saga_step(compensate = release_more)]
async fn hold_more(n: &u64, held: &u64) -> Result<u64, StepError> {
    Ok(*n + *held)
}

async fn release(_n: &u64, _held: u64) -> Result<(), StepError> {
    Ok(())
}

async fn release_more(_n: &u64, _held: &u64, _more: u64) -> Result<(), StepError> {
    Ok(())
}

saga! {
    pub saga Hold(n: u64) -> u64 {
        let more = hold_more(&n, &held);
        let held = hold(&nope);
        let held = hold(&n);
        more
    }
}

fn main() {}
