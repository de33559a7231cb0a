//! The `return-car` Lambda function.
#[tokio::main]
async fn main() -> Result<(), saga_core::invoke::lambda_runtime::ServeError> {
    saga_core::invoke::lambda_runtime::serve_compensation::<trip_saga::rent_car>().await
}
