//! The `Saga` trait that `saga!` implements: the typed state machine the
//! executor drives.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::SagaId;
use crate::definition::SagaDefinition;
use crate::error::StepError;
use crate::exec::{Runtime, SagaError, SagaOutcome};
use crate::invoke::Route;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What to do with a step: run it, or compensate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Run the step forward.
    Forward,
    /// Run the step's compensation.
    Compensate,
}

/// The result of a successful forward step: the typed value for the saga state,
/// and its JSON for the saga log.
pub struct Produced {
    pub(crate) value: Box<dyn Any + Send>,
    pub(crate) json: serde_json::Value,
}

impl Produced {
    /// Wraps a step's output whose JSON is already known.
    pub(crate) fn with_json<T: Send + 'static>(value: T, json: serde_json::Value) -> Self {
        Produced {
            value: Box::new(value),
            json,
        }
    }

    /// Wraps a step's output.
    pub fn new<T: Serialize + Send + 'static>(value: T) -> Result<Self, StepError> {
        let json = serde_json::to_value(&value).map_err(|e| {
            StepError::new(
                crate::ErrorClass::Ambiguous,
                crate::error::names::OUTPUT_NOT_RECORDABLE,
                format!("the step's output cannot be serialised to JSON: {e}"),
            )
        })?;
        Ok(Produced {
            value: Box::new(value),
            json,
        })
    }

    /// The output as JSON.
    pub fn json(&self) -> &serde_json::Value {
        &self.json
    }
}

/// An output to put into the saga state.
pub enum Stored {
    /// Fresh from the step.
    Value(Box<dyn Any + Send>),
    /// Read back from the saga log.
    Json(serde_json::Value),
}

/// One invocation: a forward step (yielding its output) or a compensation.
pub type Invocation<'a> = BoxFuture<'a, Result<Option<Produced>, StepError>>;

/// The saga state does not hold what an operation needs. The executor's own
/// invariants rule this out; it surfaces as an error, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// No step has this index.
    #[error("saga has no step number {0}")]
    NoSuchStep(usize),
    /// A value the operation needs has not been produced.
    #[error("the output of step `{0}` is not in the saga state")]
    Missing(&'static str),
    /// The step is a pivot or retriable step and cannot be compensated.
    #[error("step `{0}` has no compensation")]
    NotCompensatable(&'static str),
    /// The saga's result expression panicked.
    #[error("the saga's result expression panicked: {0}")]
    ResultPanicked(String),
    /// A recorded output has the wrong type.
    #[error("the recorded output of step `{step}` does not fit its type: {reason}")]
    BadOutput {
        /// The step.
        step: &'static str,
        /// Why it does not fit.
        reason: String,
    },
}

/// A saga: implemented by `saga!`. Users run it through
/// [`Runtime::run`](crate::Runtime::run) or the generated `Name::run`.
pub trait Saga: Sized + Send + Sync + 'static {
    /// The saga's input.
    type Input: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// The saga's result when it completes.
    type Output: Send + 'static;
    /// The state: the input plus the output of every step that has run.
    type State: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The static definition.
    fn definition() -> &'static SagaDefinition;

    /// The state before any step has run.
    fn start(input: Self::Input) -> Self::State;

    /// Starts running or compensating step `step`, with its arguments taken
    /// from `state`, in-process or remotely as `route` says.
    fn dispatch<'a>(
        state: &'a Self::State,
        step: usize,
        op: Op,
        route: Route<'a>,
    ) -> Result<Invocation<'a>, StateError>;

    /// Puts a step's output into the state.
    fn store(state: &mut Self::State, step: usize, value: Stored) -> Result<(), StateError>;

    /// Builds the saga's result once every step has run.
    fn finish(state: Self::State) -> Result<Self::Output, StateError>;

    /// Runs this saga on `runtime` with a fresh random id.
    fn run(
        runtime: &Runtime,
        input: Self::Input,
    ) -> impl Future<Output = Result<SagaOutcome<Self::Output>, SagaError>> + Send + '_ {
        runtime.run::<Self>(input)
    }

    /// Runs this saga on `runtime` under `id`, which must be new to the saga log.
    fn run_with_id(
        runtime: &Runtime,
        id: SagaId,
        input: Self::Input,
    ) -> impl Future<Output = Result<SagaOutcome<Self::Output>, SagaError>> + Send + '_ {
        runtime.run_with_id::<Self>(id, input)
    }
}
