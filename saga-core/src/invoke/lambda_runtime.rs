//! Serve a `#[saga_step]` function, or its compensation, as a Lambda handler
//! with `lambda_runtime`: the code that runs in-process is the deployed Lambda.
//!
//! ```no_run
//! # use saga_core::prelude::*;
//! # #[saga_step(compensate = cancel_flight)]
//! # async fn reserve_flight(trip: &String) -> Result<u64, StepError> { Ok(1) }
//! # async fn cancel_flight(_trip: &String, _b: u64) -> Result<(), StepError> { Ok(()) }
//! // src/bin/reserve-flight.rs
//! #[tokio::main]
//! async fn main() -> Result<(), saga_core::invoke::lambda_runtime::ServeError> {
//!     saga_core::invoke::lambda_runtime::serve_step::<reserve_flight>().await
//! }
//! ```

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

use super::handler;
use crate::context::Direction;
use crate::error::StepError;
use crate::step::Step;

/// Why a handler could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The process is not running inside a Lambda environment.
    #[error("not inside a Lambda environment: {} not set", missing.join(", "))]
    NotInLambda {
        /// The missing environment variables.
        missing: Vec<&'static str>,
    },
    /// The Lambda runtime stopped with an error.
    #[error("the Lambda runtime stopped: {0}")]
    Runtime(String),
}

/// The error a Rust Lambda reports: `errorType` is the step error's stable name.
pub fn diagnostic(error: &StepError) -> Diagnostic {
    Diagnostic {
        error_type: error.name().to_owned(),
        error_message: error.message().to_owned(),
    }
}

impl From<StepError> for Diagnostic {
    fn from(error: StepError) -> Diagnostic {
        diagnostic(&error)
    }
}

/// Serves step `S` (forward) until the Lambda runtime stops.
pub async fn serve_step<S: Step>() -> Result<(), ServeError> {
    serve::<S>(Direction::Forward).await
}

/// Serves the compensation of step `S` until the Lambda runtime stops.
pub async fn serve_compensation<S: Step>() -> Result<(), ServeError> {
    serve::<S>(Direction::Compensation).await
}

/// Serves step `S` in `direction` until the Lambda runtime stops.
pub async fn serve<S: Step>(direction: Direction) -> Result<(), ServeError> {
    // `lambda_runtime::run` panics without these; report it as an error instead.
    let missing: Vec<&'static str> = [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_RUNTIME_API",
    ]
    .into_iter()
    .filter(|v| std::env::var_os(v).is_none())
    .collect();
    if !missing.is_empty() {
        return Err(ServeError::NotInLambda { missing });
    }
    let service = service_fn(move |event: LambdaEvent<Value>| async move {
        handler::run::<S>(event.payload, direction)
            .await
            .map_err(Diagnostic::from)
    });
    lambda_runtime::run(service)
        .await
        .map_err(|e| ServeError::Runtime(e.to_string()))
}
