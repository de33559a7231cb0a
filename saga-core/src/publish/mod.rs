//! Saga lifecycle events for observers and choreography: saga started,
//! step completed, compensation started, step compensated, saga completed,
//! compensated, stuck or abandoned, as versioned JSON ([`LifecycleEvent`]).
//!
//! The saga log is the outbox. Each lifecycle event is recorded in the
//! outbox in the same transaction as the log event itself ([`Outbox`],
//! kept by [`SqliteLog`](crate::SqliteLog) and by
//! [`InMemoryLog::with_outbox`](crate::InMemoryLog::with_outbox)). A
//! [`Publisher`] reads what lies after its cursor, hands it to an
//! [`EventSink`], and moves its cursor once the sink accepted it. So
//! publishing is at least once, survives crashes on both sides, and never
//! blocks or fails a saga: sagas only write the log, as before.
//!
//! Sinks: [`JsonLines`] (any writer), and behind features `sns`, `sqs` and
//! `eventbridge`, [`SnsSink`], [`SqsSink`] and [`EventBridgeSink`] over the
//! AWS SDK clients you configure.
//!
//! ```
//! # use std::sync::Arc;
//! # use saga_core::prelude::*;
//! use saga_core::publish::{JsonLines, Publisher};
//! # #[saga_step(pivot)] async fn pay(n: &u32) -> Result<u32, StepError> { Ok(*n) }
//! # saga! { pub saga Checkout(n: u32) -> u32 { let p = pay(&n); p } }
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let log = Arc::new(InMemoryLog::with_outbox()); // or SqliteLog::open(..)
//! let runtime = Runtime::builder().shared_log(log.clone()).register::<Checkout>().build();
//! let _ = Checkout::run(&runtime, 7).await?;
//!
//! let publisher = Publisher::new(log, JsonLines::new("stdout", std::io::stdout()))
//!     .registry(runtime.registry());
//! assert_eq!(publisher.publish_pending().await?, 3); // started, step completed, completed
//! # Ok(()) }
//! ```

mod event;
#[cfg(feature = "eventbridge")]
mod eventbridge;
mod publisher;
mod sink;
#[cfg(feature = "sns")]
mod sns;
#[cfg(feature = "sqs")]
mod sqs;

pub use crate::log::{Outbox, OutboxEntry};
pub use event::{EVENT_SCHEMA_VERSION, EventError, LifecycleEvent, LifecycleKind};
#[cfg(feature = "eventbridge")]
pub use eventbridge::EventBridgeSink;
pub use publisher::{Publisher, PublisherHandle};
pub use sink::{EventSink, JsonLines};
#[cfg(feature = "sns")]
pub use sns::SnsSink;
#[cfg(feature = "sqs")]
pub use sqs::SqsSink;

use crate::log::LogError;

/// Why publishing failed. Nothing is lost: the events stay in the outbox
/// and go out on the next pass.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The outbox could not be read, or the cursor not moved.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The sink refused or failed the batch (or part of it).
    #[error("publishing to {sink} failed: {message}")]
    Sink {
        /// The sink's name.
        sink: String,
        /// What went wrong.
        message: String,
    },
}

/// A deduplication id for FIFO queues and topics: the event id, with
/// characters they do not accept replaced, at most 128 characters.
#[cfg(any(feature = "sns", feature = "sqs"))]
fn dedup_id(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(128)
        .collect()
}
