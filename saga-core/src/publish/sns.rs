//! Amazon SNS: each event a message, ten per `PublishBatch`.

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use super::{EventSink, LifecycleEvent, PublishError};
use crate::saga::BoxFuture;

/// Publishes lifecycle events to an SNS topic: the message is the event's
/// JSON, with message attributes `type` and `saga` for subscription filter
/// policies. On a FIFO topic ([`SnsSink::fifo`]) the group is the saga id
/// and the deduplication id is the event id.
pub struct SnsSink {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    name: String,
    fifo: bool,
}

impl SnsSink {
    /// A sink for the topic `topic_arn`, through `client`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        let topic_arn = topic_arn.into();
        SnsSink {
            client,
            name: format!("sns:{topic_arn}"),
            fifo: topic_arn.ends_with(".fifo"),
            topic_arn,
        }
    }

    /// Sets the FIFO fields (on by default for an ARN ending in `.fifo`).
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

impl EventSink for SnsSink {
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
                    let mut entry = PublishBatchRequestEntry::builder()
                        .id(format!("e{i}"))
                        .message(event.to_json())
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
                    .publish_batch()
                    .topic_arn(&self.topic_arn)
                    .set_publish_batch_request_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| failed(aws_sdk_sns::error::DisplayErrorContext(e).to_string()))?;
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
