//! Where steps run: bindings from steps to remote functions, the payload
//! contract, and the invokers that call Lambda functions and HTTP endpoints.
//!
//! Saga code never names a function: a [`Binding`] in the runtime does, per
//! step and separately per compensation. A step without a binding runs its
//! in-process body.

mod binding;
pub mod handler;
pub mod payload;

#[cfg(feature = "http")]
mod http;
#[cfg(feature = "lambda")]
mod lambda;
#[cfg(feature = "lambda-runtime")]
pub mod lambda_runtime;
#[cfg(feature = "local-lambda")]
pub mod local;

use std::fmt;
use std::sync::Arc;

pub use binding::{Bindings, ConfigProblem};
#[cfg(feature = "http")]
pub use http::HttpInvoker;
#[cfg(feature = "lambda")]
pub use lambda::LambdaInvoker;

use crate::error::{ErrorClass, StepError};
use crate::saga::BoxFuture;

/// How a remote function is invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvocationType {
    /// Synchronous: wait for the result.
    RequestResponse,
    /// Asynchronous fire-and-forget: the result is not awaited. Only for
    /// retriable steps whose output (`()`) no later step uses.
    Event,
}

/// A remote function as an invoker addresses it: a Lambda function name,
/// `name:qualifier` or ARN, or an HTTP endpoint URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The function name, ARN or URL.
    pub name: String,
    /// Synchronous or fire-and-forget.
    pub invocation: InvocationType,
}

/// What kind of endpoint an invoker calls. The state machine generator
/// accepts only Lambda functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RemoteKind {
    /// An AWS Lambda function, invoked through the Lambda Invoke API.
    Lambda,
    /// An HTTP endpoint, e.g. a Lambda function behind API Gateway.
    Http,
    /// Anything else.
    Other,
}

/// Calls remote functions. Implemented for Lambda ([`LambdaInvoker`], feature
/// `lambda`) and HTTP endpoints ([`HttpInvoker`], feature `http`).
pub trait Invoker: Send + Sync + 'static {
    /// Invokes `target` with a JSON `payload`. Resolves to the function's JSON
    /// result, or `None` for an `Event` invocation. Every failure is a
    /// [`StepError`] whose class says whether the call may have taken effect.
    fn invoke<'a>(
        &'a self,
        target: &'a Target,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, StepError>>;

    /// Checks, without running anything, that `target` exists and may be
    /// invoked (Lambda `DryRun`). The default accepts every target.
    fn preflight<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<(), StepError>> {
        let _ = target;
        Box::pin(std::future::ready(Ok(())))
    }

    /// Checks, without any I/O, that `target` is well formed for this
    /// invoker (e.g. an HTTP URL that parses). `Runtime::check` and `run`
    /// report a failure as a configuration problem before any step runs.
    /// The default accepts every target.
    fn validate(&self, target: &Target) -> Result<(), String> {
        let _ = target;
        Ok(())
    }

    /// What this invoker calls. The default is [`RemoteKind::Other`].
    fn kind(&self) -> RemoteKind {
        RemoteKind::Other
    }

    /// The largest payload, in bytes, this invoker sends to `target`.
    fn max_payload(&self, target: &Target) -> usize {
        let _ = target;
        usize::MAX
    }
}

/// A remote function bound to a step or compensation: an invoker plus a target.
#[derive(Clone)]
pub struct Remote {
    pub(crate) invoker: Arc<dyn Invoker>,
    pub(crate) target: Target,
}

impl Remote {
    /// Binds `target` through `invoker`.
    pub fn new(invoker: Arc<dyn Invoker>, target: Target) -> Self {
        Remote { invoker, target }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// What the invoker calls.
    pub fn kind(&self) -> RemoteKind {
        self.invoker.kind()
    }

    /// The same function, invoked fire-and-forget.
    pub fn event(mut self) -> Self {
        self.target.invocation = InvocationType::Event;
        self
    }
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("target", &self.target)
            .finish()
    }
}

/// Sends `payload` to `remote`, refusing a payload over the invoker's limit
/// before anything is sent.
pub(crate) async fn call(
    remote: &Remote,
    payload: serde_json::Value,
) -> Result<Option<serde_json::Value>, StepError> {
    let bytes = serde_json::to_vec(&payload).map_err(|e| {
        StepError::new(
            ErrorClass::Terminal,
            payload::BAD_PAYLOAD,
            format!("cannot encode the payload: {e}"),
        )
    })?;
    let limit = remote.invoker.max_payload(&remote.target);
    if bytes.len() > limit {
        return Err(StepError::new(
            ErrorClass::Terminal,
            payload::PAYLOAD_TOO_LARGE,
            format!(
                "the payload for `{}` is {} bytes, over the limit of {limit} bytes; nothing was sent",
                remote.target.name,
                bytes.len()
            ),
        ));
    }
    remote.invoker.invoke(&remote.target, bytes).await
}

/// How one invocation of a step or compensation is routed.
pub enum Route<'a> {
    /// Run the in-process body.
    Local,
    /// Call a remote function with the payload contract's metadata.
    Remote(&'a Remote, payload::Metadata),
}

/// Why a saga's remote functions failed the `DryRun` preflight.
#[derive(Debug, thiserror::Error)]
#[error(
    "preflight of saga `{saga}` failed for {} function(s): {}",
    failures.len(),
    failures.iter().map(|f| format!("{} ({}): {}", f.step, f.target, f.error)).collect::<Vec<_>>().join("; ")
)]
pub struct PreflightError {
    /// The saga.
    pub saga: &'static str,
    /// Every function that failed, with the step that uses it.
    pub failures: Vec<PreflightFailure>,
}

/// One function that failed the preflight.
#[derive(Debug)]
pub struct PreflightFailure {
    /// The step, with ` (compensation)` for a compensation binding.
    pub step: String,
    /// The function.
    pub target: String,
    /// What the invoker answered.
    pub error: StepError,
}
