// Data flow is typed: passing the wrong step's result is a type error in the saga body.
use saga_core::prelude::*;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Flight(u64);
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Car(u64);

#[saga_step(compensate = cancel_flight)]
async fn reserve_flight(n: &u64) -> Result<Flight, StepError> {
    Ok(Flight(*n))
}

#[saga_step(compensate = return_car)]
async fn rent_car(n: &u64) -> Result<Car, StepError> {
    Ok(Car(*n))
}

#[saga_step(compensate = cancel_hotel)]
async fn reserve_hotel(n: &u64, flight: &Flight) -> Result<u64, StepError> {
    Ok(*n + flight.0)
}

async fn cancel_flight(_n: &u64, _f: Flight) -> Result<(), StepError> {
    Ok(())
}
async fn return_car(_n: &u64, _c: Car) -> Result<(), StepError> {
    Ok(())
}
async fn cancel_hotel(_n: &u64, _f: &Flight, _h: u64) -> Result<(), StepError> {
    Ok(())
}

saga! {
    pub saga Trip(n: u64) {
        let _flight = reserve_flight(&n);
        let car = rent_car(&n);
        let _hotel = reserve_hotel(&n, &car);
    }
}

fn main() {}
