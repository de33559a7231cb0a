//! The publisher: reads the outbox after its cursor, publishes, moves the cursor.

use std::sync::Arc;
use std::time::Duration;

use super::{EventSink, LifecycleEvent, PublishError};
use crate::exec::Registry;
use crate::log::Outbox;

/// Publishes the lifecycle events of a saga log's [`Outbox`] to one sink,
/// at least once, in outbox order. It runs beside the sagas and never on
/// their path: a slow or failing sink delays events, never a saga.
pub struct Publisher {
    outbox: Arc<dyn Outbox>,
    sink: Arc<dyn EventSink>,
    consumer: String,
    batch: usize,
    poll: Duration,
    max_backoff: Duration,
    registry: Registry,
}

impl Publisher {
    /// A publisher of `outbox` to `sink`; its cursor is named after the
    /// sink ([`EventSink::name`]).
    pub fn new(outbox: Arc<dyn Outbox>, sink: impl EventSink) -> Self {
        let consumer = sink.name().to_owned();
        Publisher {
            outbox,
            sink: Arc::new(sink),
            consumer,
            batch: 10,
            poll: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            registry: Registry::new(),
        }
    }

    /// Names the cursor: two publishers with one name share a position.
    pub fn consumer(mut self, name: impl Into<String>) -> Self {
        self.consumer = name.into();
        self
    }

    /// The sagas whose step names events carry (else steps are `#<index>`).
    pub fn registry(mut self, registry: &Registry) -> Self {
        self.registry.extend(registry);
        self
    }

    /// Events per call to the sink (default 10, the most SNS, SQS and
    /// EventBridge take in one batch); at least 1.
    pub fn batch_size(mut self, events: usize) -> Self {
        self.batch = events.max(1);
        self
    }

    /// How long [`Publisher::run`] waits when nothing is pending (default 200 ms).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// The longest wait between retries after a failure (default 30 s).
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// The cursor's name.
    pub fn consumer_name(&self) -> &str {
        &self.consumer
    }

    /// Publishes everything pending now and returns how many events went
    /// out. Each batch's cursor moves only after the sink accepted it, so
    /// a failure (or a crash) in between sends the batch again later.
    pub async fn publish_pending(&self) -> Result<usize, PublishError> {
        let mut cursor = self.outbox.cursor(&self.consumer).await?;
        let mut total = 0;
        loop {
            let entries = self.outbox.read_after(cursor, self.batch).await?;
            let Some(last) = entries.last().map(|e| e.pos) else {
                return Ok(total);
            };
            let events: Vec<LifecycleEvent> = entries
                .iter()
                .filter_map(|e| {
                    let definition = self
                        .registry
                        .definitions()
                        .find(|d| d.name == e.saga && d.hash() == e.definition_hash);
                    LifecycleEvent::from_entry(e, definition)
                })
                .collect();
            if !events.is_empty() {
                self.sink.publish(&events).await?;
            }
            self.outbox.set_cursor(&self.consumer, last).await?;
            cursor = last;
            total += events.len();
        }
    }

    /// Publishes until `stop` resolves: pending events at once, then
    /// whatever arrives, polling. Failures are retried with capped
    /// exponential backoff, forever; each is reported through `tracing`.
    pub async fn run(&self, stop: impl std::future::Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let mut backoff = self.poll;
        loop {
            let wait = match self.publish_pending().await {
                Ok(_) => {
                    backoff = self.poll;
                    self.poll
                }
                Err(error) => {
                    tracing::warn!(consumer = %self.consumer, %error, "publishing saga events failed; retrying");
                    backoff = (backoff * 2).min(self.max_backoff);
                    backoff
                }
            };
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Runs the publisher on a task of its own until
    /// [`PublisherHandle::stop`] stops it. Dropping the handle instead
    /// leaves the publisher running for the life of the runtime.
    pub fn spawn(self) -> PublisherHandle {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            self.run(async {
                // A dropped handle is no stop signal: keep publishing.
                if rx.await.is_err() {
                    std::future::pending::<()>().await;
                }
            })
            .await;
            // A last pass, so nothing logged before the stop waits for the next start.
            self.publish_pending().await
        });
        PublisherHandle { stop: tx, task }
    }
}

/// A publisher running on its own task, from [`Publisher::spawn`].
///
/// [`PublisherHandle::stop`] stops it after a last pass. Dropping the
/// handle does not stop it: the publisher keeps running, detached, until
/// the runtime shuts down, and can then no longer be stopped.
#[must_use = "dropping a PublisherHandle leaves the publisher running and unstoppable; call `stop()` to stop it"]
pub struct PublisherHandle {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<usize, PublishError>>,
}

impl PublisherHandle {
    /// Stops the publisher after one last pass over what is pending, and
    /// returns that pass's result.
    pub async fn stop(self) -> Result<usize, PublishError> {
        let _ = self.stop.send(());
        self.task.await.map_err(|e| PublishError::Sink {
            sink: "publisher task".into(),
            message: e.to_string(),
        })?
    }
}
