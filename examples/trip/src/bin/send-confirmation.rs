//! The `send-confirmation` Lambda function.
#[tokio::main]
async fn main() -> Result<(), saga_core::invoke::lambda_runtime::ServeError> {
    saga_core::invoke::lambda_runtime::serve_step::<trip_saga::send_confirmation>().await
}
