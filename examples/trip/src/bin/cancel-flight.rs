//! The `cancel-flight` Lambda function.
#[tokio::main]
async fn main() -> Result<(), saga_core::invoke::lambda_runtime::ServeError> {
    saga_core::invoke::lambda_runtime::serve_compensation::<trip_saga::reserve_flight>().await
}
