//! Step bodies served as remote functions: JSON payload in, JSON result out.
//! The local Invoke endpoint and the `lambda_runtime` adapter both host these,
//! so the code that runs in-process is the code that is deployed.

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use super::payload;
use crate::context::{Direction, StepContext};
use crate::error::{ErrorClass, StepError};
use crate::saga::BoxFuture;
use crate::step::Step;

/// A function body as a remote endpoint hosts it.
pub type Handler = Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Value, StepError>> + Send + Sync>;

/// A handler from an async closure.
pub fn handler_fn<F, Fut>(f: F) -> Handler
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, StepError>> + Send + 'static,
{
    Arc::new(move |payload| Box::pin(f(payload)))
}

/// Serves step `S` (forward) per the payload contract: decodes the arguments,
/// runs the body under the payload's step context, and encodes the output.
pub fn step_handler<S: Step>() -> Handler {
    handler_fn(|payload| run::<S>(payload, Direction::Forward))
}

/// Serves the compensation of step `S` per the payload contract.
pub fn compensation_handler<S: Step>() -> Handler {
    handler_fn(|payload| run::<S>(payload, Direction::Compensation))
}

/// Runs one invocation of `S` from its payload.
pub async fn run<S: Step>(payload: Value, direction: Direction) -> Result<Value, StepError> {
    let parsed = payload::parse::<S>(payload)?;
    if parsed.metadata.direction != direction {
        return Err(StepError::new(
            ErrorClass::Terminal,
            payload::BAD_PAYLOAD,
            format!(
                "a {:?} payload was sent to the {direction:?} function of `{}`",
                parsed.metadata.direction,
                S::NAME
            ),
        ));
    }
    let ctx = StepContext::new(parsed.metadata.saga_id.clone(), S::NAME, 1, direction);
    let args = S::borrow(&parsed.args);
    match (direction, parsed.output) {
        (Direction::Forward, _) => {
            let out = ctx.scope(S::call(args)).await?;
            serde_json::to_value(out).map_err(|e| {
                StepError::new(
                    ErrorClass::Ambiguous,
                    crate::names::OUTPUT_NOT_RECORDABLE,
                    format!("the output of `{}` cannot be serialised: {e}", S::NAME),
                )
            })
        }
        (Direction::Compensation, Some(output)) => match S::compensate(args, output) {
            Some(fut) => ctx.scope(fut).await.map(|()| Value::Null),
            None => Err(StepError::terminal(format!(
                "step `{}` has no compensation",
                S::NAME
            ))),
        },
        (Direction::Compensation, None) => Err(StepError::new(
            ErrorClass::Terminal,
            payload::BAD_PAYLOAD,
            format!("the compensation payload of `{}` has no output", S::NAME),
        )),
    }
}
