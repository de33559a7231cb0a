//! What the state machine generator needs besides the saga definition: where
//! each function lives, the compensation retry policy, a comment and an
//! execution timeout.

use std::collections::HashMap;

use crate::context::Direction;
use crate::exec::Runtime;
use crate::invoke::{Bindings, InvocationType, RemoteKind};
use crate::retry::RetryPolicy;
use crate::step::Step;

use super::error::AslError;

/// Options of [`state_machine`](super::state_machine).
///
/// Each step's and compensation's `FunctionName` is, in this order: a name
/// given with [`function`](Self::function) /
/// [`compensation_function`](Self::compensation_function); the Lambda
/// function of its binding (see [`bindings`](Self::bindings)); or a
/// `${placeholder}` for deployment-time substitution: `${<step>}` and
/// `${<step>_compensation}`.
///
/// ```
/// # use saga_core::asl::AslOptions;
/// # use saga_core::prelude::*;
/// let runtime = Runtime::in_memory();
/// let options = AslOptions::from_runtime(&runtime)
///     .comment("Books a trip")
///     .timeout_seconds(3600);
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct AslOptions {
    pub(super) comment: Option<String>,
    pub(super) timeout_seconds: Option<u32>,
    pub(super) bindings: Option<Bindings>,
    forward: HashMap<String, String>,
    compensation: HashMap<String, String>,
    pub(super) compensation_retry: RetryPolicy,
    pub(super) terminal_errors: Vec<String>,
    pub(super) retryable_errors: Vec<String>,
}

impl Default for AslOptions {
    fn default() -> Self {
        AslOptions {
            comment: None,
            timeout_seconds: None,
            bindings: None,
            forward: HashMap::new(),
            compensation: HashMap::new(),
            compensation_retry: RetryPolicy::COMPENSATION,
            terminal_errors: Vec::new(),
            retryable_errors: Vec::new(),
        }
    }
}

/// A resolved function: the `FunctionName` and how it is invoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Function {
    pub(super) name: String,
    pub(super) invocation: InvocationType,
}

impl AslOptions {
    /// No bindings (every function a placeholder), the runtime's default
    /// compensation retry policy, no comment and no execution timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bindings and compensation retry policy of `runtime`, so the state
    /// machine calls the same functions with the same policy.
    pub fn from_runtime(runtime: &Runtime) -> Self {
        AslOptions {
            bindings: Some(runtime.bindings().clone()),
            compensation_retry: runtime.compensation_retry(),
            ..Self::default()
        }
    }

    /// Takes function names from `bindings`. A step bound to anything but a
    /// Lambda function makes generation fail with [`AslError::NotLambda`].
    pub fn bindings(mut self, bindings: &Bindings) -> Self {
        self.bindings = Some(bindings.clone());
        self
    }

    /// The machine's `Comment`.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// The machine's `TimeoutSeconds`. It must cover the worst case, or
    /// generation fails with [`AslError::MachineTimeoutTooShort`].
    pub fn timeout_seconds(mut self, seconds: u32) -> Self {
        self.timeout_seconds = Some(seconds);
        self
    }

    /// The `FunctionName` of step `S`: a name, `name:qualifier`, an ARN or a
    /// `${placeholder}`.
    pub fn function<S: Step>(mut self, name: impl Into<String>) -> Self {
        self.forward.insert(S::NAME.to_owned(), name.into());
        self
    }

    /// The `FunctionName` of the compensation of step `S`.
    pub fn compensation_function<S: Step>(mut self, name: impl Into<String>) -> Self {
        self.compensation.insert(S::NAME.to_owned(), name.into());
        self
    }

    /// The retry policy of every compensation (default
    /// [`RetryPolicy::COMPENSATION`], as in the runtime).
    pub fn compensation_retry(mut self, policy: RetryPolicy) -> Self {
        self.compensation_retry = policy;
        self
    }

    /// A custom terminal error name, such as `Saga.Terminal.CardDeclined`.
    /// ASL matches exact names only, so names under `Saga.Terminal.` that
    /// your functions raise must be listed for Step Functions to treat them
    /// as the executor does.
    pub fn terminal_error(mut self, name: impl Into<String>) -> Self {
        self.terminal_errors.push(name.into());
        self
    }

    /// A custom retryable error name, such as `Saga.Retryable.Busy`.
    pub fn retryable_error(mut self, name: impl Into<String>) -> Self {
        self.retryable_errors.push(name.into());
        self
    }

    /// The function of `step` in `direction`.
    pub(super) fn function_of(
        &self,
        step: &'static str,
        direction: Direction,
    ) -> Result<Function, AslError> {
        let explicit = match direction {
            Direction::Forward => self.forward.get(step),
            Direction::Compensation => self.compensation.get(step),
        };
        let bound = self.bindings.as_ref().and_then(|b| b.get(step, direction));
        if let Some(name) = explicit {
            // The name is given; how it is invoked still follows the runtime.
            return Ok(Function {
                name: name.clone(),
                invocation: bound
                    .map_or(InvocationType::RequestResponse, |r| r.target().invocation),
            });
        }
        if let Some(remote) = bound {
            return match remote.kind() {
                RemoteKind::Lambda => Ok(Function {
                    name: remote.target().name.clone(),
                    invocation: remote.target().invocation,
                }),
                kind => Err(AslError::NotLambda {
                    step,
                    direction,
                    kind,
                }),
            };
        }
        let name = match direction {
            Direction::Forward => format!("${{{step}}}"),
            Direction::Compensation => format!("${{{step}_compensation}}"),
        };
        Ok(Function {
            name,
            invocation: InvocationType::RequestResponse,
        })
    }
}
