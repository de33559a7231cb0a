//! How a saga run ended, and why it could not run at all.

use crate::context::{Direction, SagaId};
use crate::error::StepError;
use crate::invoke::ConfigProblem;
use crate::log::{LogError, SagaStatus};
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
    /// The saga was cancelled ([`Runtime::cancel`](crate::Runtime::cancel)):
    /// it stopped before `before_step` and every completed compensatable step
    /// was compensated. The saga log records it as compensated, with the
    /// error `Saga.Cancelled`.
    Cancelled {
        /// The first step that did not run.
        before_step: &'static str,
        /// The reason the caller gave.
        reason: String,
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

    /// The status the saga log records for this end.
    pub fn status(&self) -> SagaStatus {
        match self {
            SagaOutcome::Completed(_) => SagaStatus::Completed,
            SagaOutcome::Compensated { .. } | SagaOutcome::Cancelled { .. } => {
                SagaStatus::Compensated
            }
            SagaOutcome::Stuck { .. } => SagaStatus::Stuck,
        }
    }
}

/// Why a saga could not run, or could not be driven to an end.
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// The runtime's bindings cannot run this saga: a step without a body has
    /// no remote binding, or a fire-and-forget binding is misplaced. Every
    /// problem is listed; nothing was started.
    #[error(
        "saga `{saga}` cannot start: {}",
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Config {
        /// The saga.
        saga: &'static str,
        /// Every problem found.
        problems: Vec<ConfigProblem>,
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
    /// The saga was logged under another definition of the same name: its
    /// steps changed since it started. It is not resumed; run the version
    /// that started it (register both), or abandon it.
    #[error(
        "saga `{saga}` ({id}) was started under definition {logged}; this runtime has {current}: refusing to resume it under a changed definition"
    )]
    DefinitionChanged {
        /// The run.
        id: SagaId,
        /// The saga's name.
        saga: String,
        /// The hash the log recorded.
        logged: String,
        /// The hash (or hashes) this runtime knows under that name.
        current: String,
    },
    /// The log holds a saga this runtime has no type for.
    #[error(
        "saga `{saga}` ({id}) is in the log but not registered with this runtime (RuntimeBuilder::register)"
    )]
    NotRegistered {
        /// The run.
        id: SagaId,
        /// The saga's name.
        saga: String,
    },
    /// A logged record of the saga cannot be used to resume it: its input or
    /// history does not fit the saga's definition.
    #[error("saga `{saga}` ({id}) cannot be resumed from its log: {reason}")]
    BadRecord {
        /// The saga's name.
        saga: String,
        /// The run.
        id: SagaId,
        /// What does not fit.
        reason: String,
    },
    /// The operation does not apply to a saga in this status, e.g. resuming
    /// a completed saga or abandoning a running one.
    #[error("saga {id} is {status}: {wanted}")]
    WrongStatus {
        /// The run.
        id: SagaId,
        /// Its status.
        status: SagaStatus,
        /// What the operation needs.
        wanted: &'static str,
    },
    /// The task driving the saga panicked, outside any step (which are
    /// caught as `Saga.Panic`). The log holds every transition up to it.
    #[error("saga {id}: the task driving it panicked: {reason}")]
    Panicked {
        /// The run.
        id: SagaId,
        /// The panic's message.
        reason: String,
    },
    /// This runtime is driving the saga already.
    #[error("saga {0} is already being driven by this runtime")]
    Busy(SagaId),
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
