// `join!` branches run concurrently: a branch cannot use a sibling's result,
// the pattern binds one name per branch, and a group has two branches or
// more. All of these are reported in one build.
use saga_core::prelude::*;

#[saga_step(compensate = undo_hotel)]
async fn hotel(n: &u64) -> Result<u64, StepError> {
    Ok(*n)
}
async fn undo_hotel(_n: &u64, _out: u64) -> Result<(), StepError> {
    Ok(())
}

#[saga_step(compensate = undo_car)]
async fn car(n: &u64, hotel: &u64) -> Result<u64, StepError> {
    Ok(*n + *hotel)
}
async fn undo_car(_n: &u64, _hotel: &u64, _out: u64) -> Result<(), StepError> {
    Ok(())
}

#[saga_step(compensate = undo_bike)]
async fn bike(n: &u64) -> Result<u64, StepError> {
    Ok(*n)
}
async fn undo_bike(_n: &u64, _out: u64) -> Result<(), StepError> {
    Ok(())
}

saga! {
    pub saga Sibling(n: u64) -> u64 {
        let (hotel, car) = join!(hotel(&n), car(&n, &hotel));
        car
    }
    pub saga Arity(n: u64) -> u64 {
        let (hotel, bike, extra) = join!(hotel(&n), bike(&n));
        hotel
    }
    pub saga Lonely(n: u64) -> u64 {
        let (hotel,) = join!(hotel(&n));
        hotel
    }
}

fn main() {}
