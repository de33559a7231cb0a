//! How a saga run ended, and why it could not run at all.

use crate::context::{Direction, SagaId};
use crate::error::StepError;
use crate::log::LogError;
use crate::saga::StateError;

/// How a saga run ended.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a saga may have been compensated or be stuck"]
pub enum SagaOutcome<T> {
    /// Every step succeeded.
    Completed(T),
    /// A step failed for good and every completed compensatable step was compensated.
    Compensated {
        /// The step that failed.
        failed_step: &'static str,
        /// Its final error.
        error: StepError,
    },
    /// The saga cannot proceed on its own. It is recorded in the saga log and
    /// waits for an operator.
    Stuck {
        /// The step, or the step whose compensation, could not finish.
        step: &'static str,
        /// Whether the step itself or its compensation failed.
        direction: Direction,
        /// The last error.
        error: StepError,
    },
}

impl<T> SagaOutcome<T> {
    /// The result, if the saga completed.
    pub fn completed(self) -> Option<T> {
        match self {
            SagaOutcome::Completed(t) => Some(t),
            _ => None,
        }
    }

    /// True if the saga completed.
    pub fn is_completed(&self) -> bool {
        matches!(self, SagaOutcome::Completed(_))
    }
}

/// Why a saga could not run, or could not be driven to an end.
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// Some steps were declared without a body, and nothing tells the runtime
    /// where they run. Nothing was started.
    #[error(
        "saga `{saga}` cannot start: no body and no binding for step(s) {}; give each a body, or bind it to a remote function",
        steps.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
    )]
    UnboundSteps {
        /// The saga.
        saga: &'static str,
        /// Every step the runtime cannot run.
        steps: Vec<&'static str>,
    },
    /// The input cannot be serialised into the saga log. Nothing was started.
    #[error("saga `{saga}`: the input cannot be serialised to JSON: {reason}")]
    Input {
        /// The saga.
        saga: &'static str,
        /// The serialiser's message.
        reason: String,
    },
    /// The saga log failed or refused an event. The saga stops where it is;
    /// its log holds every transition up to this point.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The saga state broke an invariant. This is a bug in the saga runtime.
    #[error("saga `{saga}` ({id}): {source}")]
    State {
        /// The saga.
        saga: &'static str,
        /// The run.
        id: SagaId,
        /// The broken invariant.
        #[source]
        source: StateError,
    },
}
