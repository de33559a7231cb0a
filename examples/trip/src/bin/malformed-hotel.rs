//! A deliberately broken `reserve_hotel` Lambda: it answers JSON that does not
//! fit `HotelBooking`, to show that the saga reports it and compensates.
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({ "hotel": 42 }))
    }))
    .await
}
