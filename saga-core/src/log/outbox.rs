//! The saga log as an outbox: the lifecycle events of every saga, in the
//! order they were appended, and a durable cursor per consumer.
//!
//! A log that implements [`Outbox`] records, in the same transaction as
//! each lifecycle event ([`SagaEvent::is_lifecycle`]), its place in one
//! global order. A publisher reads what lies after its cursor, publishes
//! it, then moves the cursor: delivery is at least once, and never on the
//! saga's path.

use super::{LogEntry, LogError, SagaEvent};
use crate::context::SagaId;
use crate::saga::BoxFuture;

/// One lifecycle event, with its place in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Its position in the outbox, from 1, increasing in append order.
    pub pos: u64,
    /// The saga.
    pub saga_id: SagaId,
    /// The saga's name.
    pub saga: String,
    /// The hash of the definition the saga runs under.
    pub definition_hash: String,
    /// The event, with its sequence number in the saga's history.
    pub entry: LogEntry,
}

/// A saga log that keeps an outbox of lifecycle events.
pub trait Outbox: Send + Sync + 'static {
    /// Up to `limit` entries after position `after`, in order.
    fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<OutboxEntry>, LogError>>;

    /// The position `consumer` has published up to (0 if none).
    fn cursor<'a>(&'a self, consumer: &'a str) -> BoxFuture<'a, Result<u64, LogError>>;

    /// Records, durably, that `consumer` has published up to `pos`. A
    /// cursor never moves back: a `pos` below the stored one (a late or
    /// concurrent publisher sharing the name) leaves the cursor where it is.
    fn set_cursor<'a>(&'a self, consumer: &'a str, pos: u64)
    -> BoxFuture<'a, Result<(), LogError>>;
}

impl SagaEvent {
    /// True for the events observers see ([`Outbox`], `saga_core::publish`):
    /// created, step succeeded, unwind started, compensation succeeded,
    /// completed, compensated, stuck, abandoned.
    pub fn is_lifecycle(&self) -> bool {
        matches!(
            self,
            SagaEvent::Created { .. }
                | SagaEvent::StepSucceeded { .. }
                | SagaEvent::UnwindStarted { .. }
                | SagaEvent::CompensationSucceeded { .. }
                | SagaEvent::Completed
                | SagaEvent::Compensated
                | SagaEvent::Stuck { .. }
                | SagaEvent::Abandoned { .. }
        )
    }
}
