//! Amazon SQS: each event a message, ten per `SendMessageBatch`.

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use super::{EventSink, LifecycleEvent, PublishError};
use crate::saga::BoxFuture;

/// Sends lifecycle events to an SQS queue: the body is the event's JSON,
/// with message attributes `type` and `saga`. On a FIFO queue
/// ([`SqsSink::fifo`]) the group is the saga id and the deduplication id
/// is the event id, so one saga's events stay in order and redeliveries
/// within five minutes are dropped.
pub struct SqsSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    name: String,
    fifo: bool,
}

impl SqsSink {
    /// A sink for the queue at `queue_url`, through `client`.
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        let queue_url = queue_url.into();
        SqsSink {
            client,
            name: format!("sqs:{queue_url}"),
            fifo: queue_url.ends_with(".fifo"),
            queue_url,
        }
    }

    /// Sets the FIFO fields (on by default for a URL ending in `.fifo`).
    pub fn fifo(mut self, on: bool) -> Self {
        self.fifo = on;
        self
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, String> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| e.to_string())
}

impl EventSink for SqsSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn publish<'a>(
        &'a self,
        events: &'a [LifecycleEvent],
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        let failed = |message: String| PublishError::Sink {
            sink: self.name.clone(),
            message,
        };
        Box::pin(async move {
            for chunk in events.chunks(10) {
                let mut entries = Vec::with_capacity(chunk.len());
                for (i, event) in chunk.iter().enumerate() {
                    let mut entry = SendMessageBatchRequestEntry::builder()
                        .id(format!("e{i}"))
                        .message_body(event.to_json())
                        .message_attributes("type", attribute(event.kind.as_str()).map_err(failed)?)
                        .message_attributes("saga", attribute(&event.saga).map_err(failed)?);
                    if self.fifo {
                        entry = entry
                            .message_group_id(&event.saga_id)
                            .message_deduplication_id(super::dedup_id(&event.id));
                    }
                    entries.push(entry.build().map_err(|e| failed(e.to_string()))?);
                }
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| failed(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
                if let Some(first) = out.failed().first() {
                    return Err(failed(format!(
                        "{} of {} messages refused; the first: {} {}",
                        out.failed().len(),
                        chunk.len(),
                        first.code(),
                        first.message().unwrap_or_default()
                    )));
                }
            }
            Ok(())
        })
    }
}
