//! Step errors, their classes, and the stable error names shared by every engine.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Stable error names. They are the `errorType` of a Lambda function error and the
/// names that `Retry`/`Catch` match in the generated state machine, so they never change.
pub mod names {
    /// A failure that changed nothing and may succeed if tried again (throttling, transport).
    pub const RETRYABLE: &str = "Saga.Retryable";
    /// A business rejection: by contract the step changed nothing, and retrying will not help.
    pub const TERMINAL: &str = "Saga.Terminal";
    /// The outcome is unknown: the step may or may not have taken effect.
    pub const AMBIGUOUS: &str = "Saga.Ambiguous";
    /// The step did not finish within its timeout. Its outcome is unknown.
    pub const TIMEOUT: &str = "Saga.Timeout";
    /// The step panicked. Its outcome is unknown.
    pub const PANIC: &str = "Saga.Panic";
    /// The runtime stopped (a crash, a kill) while the attempt was running;
    /// recovery found it started but not finished. Its outcome is unknown.
    pub const INTERRUPTED: &str = "Saga.Interrupted";
    /// The saga was cancelled (`Runtime::cancel`): the error its unwind
    /// records, with the caller's reason as the message. Terminal: the step
    /// it stops before never ran.
    pub const CANCELLED: &str = "Saga.Cancelled";
    /// The step succeeded, but its output could not be recorded in the saga log.
    pub const OUTPUT_NOT_RECORDABLE: &str = "Saga.OutputNotRecordable";
    /// The error name of a saga that ended compensated.
    pub const COMPENSATED: &str = "Saga.Compensated";
    /// The error name of a saga whose compensation failed for good.
    pub const COMPENSATION_FAILED: &str = "Saga.CompensationFailed";
    /// The error name of a saga stuck at a forward step whose outcome stayed
    /// unknown, or at a retriable step past its budget.
    pub const STUCK: &str = "Saga.Stuck";
    /// A payload that does not fit the contract.
    pub const BAD_PAYLOAD: &str = "Saga.BadPayload";
    /// A result that does not fit the step's output type.
    pub const BAD_OUTPUT: &str = "Saga.BadOutput";
    /// A payload over the invoker's limit, refused before sending.
    pub const PAYLOAD_TOO_LARGE: &str = "Saga.PayloadTooLarge";
    /// Contract errors: terminal, because nothing ran or the result is unusable.
    pub const CONTRACT_TERMINAL: &[&str] = &[BAD_PAYLOAD, BAD_OUTPUT, PAYLOAD_TOO_LARGE];
    /// Lambda service errors meaning the function did not run and may run
    /// later: retryable.
    pub const LAMBDA_RETRYABLE: &[&str] = &[
        "Lambda.TooManyRequestsException",
        "Lambda.ResourceConflictException",
        "Lambda.ResourceNotReadyException",
        "Lambda.EC2ThrottledException",
        "Lambda.SnapStartNotReadyException",
    ];
    /// Lambda 4xx errors meaning the function did not run and will not:
    /// terminal. Any Lambda service error on neither list is ambiguous, in
    /// the executor as in the generated state machine, which can match
    /// only names it lists.
    pub const LAMBDA_TERMINAL: &[&str] = &[
        "Lambda.ResourceNotFoundException",
        "Lambda.InvalidRequestContentException",
        "Lambda.RequestTooLargeException",
        "Lambda.UnsupportedMediaTypeException",
        "Lambda.InvalidParameterValueException",
        "Lambda.RecursiveInvocationException",
        "Lambda.SnapStartException",
        "Lambda.AccessDeniedException",
    ];
}

/// How an error affects the saga. The class decides retries and compensation;
/// see the crate docs, section "Failure rules".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Nothing changed and a retry may succeed: throttling, transport errors.
    Retryable,
    /// A business rejection that by contract changed nothing. Never retried.
    Terminal,
    /// The outcome is unknown. Resolved by re-invoking the idempotent step.
    Ambiguous,
}

impl ErrorClass {
    /// The stable error name used when an error carries no more specific name.
    pub const fn default_name(self) -> &'static str {
        match self {
            ErrorClass::Retryable => names::RETRYABLE,
            ErrorClass::Terminal => names::TERMINAL,
            ErrorClass::Ambiguous => names::AMBIGUOUS,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Retryable => "retryable",
            ErrorClass::Terminal => "terminal",
            ErrorClass::Ambiguous => "ambiguous",
        })
    }
}

/// The error a step or compensation returns.
///
/// It has a [class](ErrorClass), a stable `name` (the Lambda `errorType`) and a
/// human-readable message.
///
/// ```
/// use saga_core::prelude::*;
///
/// let declined = StepError::terminal("card declined");
/// assert_eq!(declined.class(), ErrorClass::Terminal);
/// assert_eq!(declined.name(), "Saga.Terminal");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{name} ({class}): {message}")]
pub struct StepError {
    class: ErrorClass,
    name: Cow<'static, str>,
    message: String,
}

impl StepError {
    /// An error with an explicit class and name.
    pub fn new(
        class: ErrorClass,
        name: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        StepError {
            class,
            name: name.into(),
            message: message.into(),
        }
    }

    /// A failure that changed nothing and may succeed later (`Saga.Retryable`).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Retryable, names::RETRYABLE, message)
    }

    /// A business rejection that changed nothing (`Saga.Terminal`).
    pub fn terminal(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Terminal, names::TERMINAL, message)
    }

    /// An error whose outcome is unknown (`Saga.Ambiguous`).
    pub fn ambiguous(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Ambiguous, names::AMBIGUOUS, message)
    }

    /// The step did not finish in time (`Saga.Timeout`, ambiguous).
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Ambiguous, names::TIMEOUT, message)
    }

    /// An error reported by a remote function as `errorType` / `errorMessage`.
    ///
    /// The class follows from the name: `Saga.Terminal` and names under
    /// `Saga.Terminal.` (plus the contract errors `Saga.BadPayload`,
    /// `Saga.BadOutput`, `Saga.PayloadTooLarge`) are terminal; `Saga.Retryable`
    /// and names under `Saga.Retryable.` are retryable; every other name, such
    /// as a Rust type name from an unhandled error, leaves the outcome unknown
    /// and is ambiguous. To keep a custom name's class across a remote call,
    /// put it under one of those prefixes, e.g. `Saga.Terminal.CardDeclined`.
    pub fn from_remote(name: &str, message: impl Into<String>) -> Self {
        let under = |prefix: &str| {
            name == prefix
                || name
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('.'))
        };
        let class = if under(names::TERMINAL) || names::CONTRACT_TERMINAL.contains(&name) {
            ErrorClass::Terminal
        } else if under(names::RETRYABLE) {
            ErrorClass::Retryable
        } else {
            ErrorClass::Ambiguous
        };
        Self::new(class, name.to_owned(), message)
    }

    /// The error's class.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The stable error name (the Lambda `errorType`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
}
