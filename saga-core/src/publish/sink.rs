//! Where lifecycle events go, and a sink that writes JSON lines.

use std::io::Write;
use std::sync::Mutex;

use super::{LifecycleEvent, PublishError};
use crate::saga::BoxFuture;

/// A destination for lifecycle events: SNS, SQS, EventBridge, or your own.
pub trait EventSink: Send + Sync + 'static {
    /// A name for errors and for the outbox cursor (e.g. `sqs:<queue url>`).
    fn name(&self) -> &str;

    /// Publishes `events`, in order. Ok means every one was accepted; an
    /// error means some may have been, and the whole batch is sent again.
    fn publish<'a>(
        &'a self,
        events: &'a [LifecycleEvent],
    ) -> BoxFuture<'a, Result<(), PublishError>>;
}

/// Writes each event as one line of JSON, e.g. to standard output or a file.
pub struct JsonLines<W> {
    name: String,
    out: Mutex<W>,
}

impl<W: Write + Send + 'static> JsonLines<W> {
    /// A sink named `name` that writes to `out`.
    pub fn new(name: impl Into<String>, out: W) -> Self {
        JsonLines {
            name: name.into(),
            out: Mutex::new(out),
        }
    }
}

impl<W: Write + Send + 'static> EventSink for JsonLines<W> {
    fn name(&self) -> &str {
        &self.name
    }

    fn publish<'a>(
        &'a self,
        events: &'a [LifecycleEvent],
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        let failed = |e: std::io::Error| PublishError::Sink {
            sink: self.name.clone(),
            message: e.to_string(),
        };
        let result = (|| {
            let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
            for event in events {
                writeln!(out, "{}", event.to_json()).map_err(failed)?;
            }
            out.flush().map_err(failed)
        })();
        Box::pin(std::future::ready(result))
    }
}
