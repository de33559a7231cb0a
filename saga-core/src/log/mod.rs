//! The saga log: every transition of every saga, appended *before* the effect
//! it enables, and checked by a transition function ([`SagaMachine`]).
//!
//! [`InMemoryLog`] is for tests and examples. Durable stores implement the
//! same [`SagaLog`] trait.

mod event;
mod machine;
mod memory;

pub use event::{LogEntry, SagaEvent};
pub use machine::{IllegalTransition, SagaMachine, SagaStatus, StepState};
pub use memory::InMemoryLog;

use crate::context::SagaId;
use crate::saga::BoxFuture;

/// Why the saga log refused or failed an operation.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The event does not follow from the saga's recorded state.
    #[error("saga {saga_id}: {source}")]
    Illegal {
        /// The saga.
        saga_id: SagaId,
        /// The broken rule.
        #[source]
        source: IllegalTransition,
    },
    /// No saga has this id.
    #[error("no saga with id {0} in the log")]
    UnknownSaga(SagaId),
    /// The store itself failed.
    #[error("saga log storage failed: {0}")]
    Storage(String),
}

/// One line per saga: what [`SagaLog::list`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SagaSummary {
    /// The saga's id.
    pub id: SagaId,
    /// The saga's name.
    pub saga: String,
    /// Its current status.
    pub status: SagaStatus,
}

/// A store of saga histories.
///
/// `append` must validate the event with [`SagaMachine::apply`] against the
/// saga's current state and store it only if it is legal; the event must be as
/// durable as the store promises before the returned future resolves.
pub trait SagaLog: Send + Sync + 'static {
    /// Appends one event to the history of saga `id`.
    fn append<'a>(
        &'a self,
        id: &'a SagaId,
        event: SagaEvent,
    ) -> BoxFuture<'a, Result<(), LogError>>;

    /// The full history of saga `id`, oldest first.
    fn history<'a>(&'a self, id: &'a SagaId) -> BoxFuture<'a, Result<Vec<LogEntry>, LogError>>;

    /// Every saga in the log, with its status.
    fn list(&self) -> BoxFuture<'_, Result<Vec<SagaSummary>, LogError>>;
}
