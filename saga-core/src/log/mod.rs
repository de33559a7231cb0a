//! The saga log: every transition of every saga, appended *before* the effect
//! it enables, and checked by a transition function ([`SagaMachine`]).
//!
//! [`SqliteLog`] is the durable default: SQLite in WAL mode, with group
//! commit. [`InMemoryLog`] is for tests and examples. Both implement the
//! same [`SagaLog`] trait and pass the same test suite.

mod codec;
mod event;
mod machine;
mod memory;
mod outbox;
mod sqlite;

pub use codec::{DecodeError, decode_event, encode_event};
pub use event::{LogEntry, SagaEvent};
pub use machine::{IllegalTransition, MAX_STEPS, SagaMachine, SagaStatus, StepState};
pub(crate) use memory::IdHasher;
pub use memory::InMemoryLog;
pub use outbox::{Outbox, OutboxEntry};
pub use sqlite::{CommitStats, Durability, SCHEMA_VERSION, SqliteLog, SqliteLogBuilder};

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
    /// A stored record cannot be read back: a damaged database, an event
    /// kind this version does not know, or a body that does not decode.
    #[error("saga log record of saga {} is corrupt{}: {reason}",
        saga_id.as_ref().map_or("(unknown)", |id| id.as_str()),
        seq.map(|s| format!(" at event {s}")).unwrap_or_default())]
    Corrupt {
        /// The saga the record belongs to, when known.
        saga_id: Option<SagaId>,
        /// The event's position in that saga's history, when known.
        seq: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// The database was written by a newer version of this library.
    #[error("saga log {path} has schema version {found}; this version reads up to {supported}")]
    NewerSchema {
        /// The database file.
        path: String,
        /// Its schema version.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The database cannot be opened or set up.
    #[error("cannot open saga log {path}: {reason}")]
    Open {
        /// The database file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The log was closed; its writer no longer accepts events.
    #[error("the saga log is closed")]
    Closed,
    /// The log was opened read-only ([`SqliteLog::open_read_only`]).
    #[error("the saga log is open read-only")]
    ReadOnly,
    /// The log keeps no outbox of lifecycle events: an [`InMemoryLog`] made
    /// with `new` rather than `with_outbox`.
    #[error("this saga log keeps no outbox (make it with InMemoryLog::with_outbox)")]
    NoOutbox,
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

    /// Every saga in the log with status `status` (every saga for `None`),
    /// ordered by id.
    fn list(&self, status: Option<SagaStatus>)
    -> BoxFuture<'_, Result<Vec<SagaSummary>, LogError>>;
}
