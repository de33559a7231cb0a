//! The `charge-card` Lambda function.
#[tokio::main]
async fn main() -> Result<(), saga_core::invoke::lambda_runtime::ServeError> {
    saga_core::invoke::lambda_runtime::serve_step::<trip_saga::charge_card>().await
}
