//! Amazon EventBridge: each event an entry, ten per `PutEvents`.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use super::{EventSink, LifecycleEvent, PublishError};
use crate::saga::BoxFuture;

/// Puts lifecycle events on an EventBridge bus: `source` as configured,
/// `detail-type` the event's type (`saga_started`, `step_completed`, ...),
/// and `detail` the event's JSON. Rules match on any of them.
pub struct EventBridgeSink {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    source: String,
    name: String,
}

impl EventBridgeSink {
    /// A sink for the bus `bus` (a name or ARN; `default` for the account's
    /// default bus), with events from `source` (e.g. `com.example.trips`).
    pub fn new(
        client: aws_sdk_eventbridge::Client,
        bus: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        let bus = bus.into();
        EventBridgeSink {
            client,
            name: format!("eventbridge:{bus}"),
            bus,
            source: source.into(),
        }
    }
}

impl EventSink for EventBridgeSink {
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
                let entries = chunk
                    .iter()
                    .map(|event| {
                        PutEventsRequestEntry::builder()
                            .event_bus_name(&self.bus)
                            .source(&self.source)
                            .detail_type(event.kind.as_str())
                            .detail(event.to_json())
                            .build()
                    })
                    .collect();
                let out = self
                    .client
                    .put_events()
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| {
                        failed(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string())
                    })?;
                if out.failed_entry_count() > 0 {
                    let first = out
                        .entries()
                        .iter()
                        .find(|e| e.error_code().is_some())
                        .map(|e| {
                            format!(
                                "{} {}",
                                e.error_code().unwrap_or_default(),
                                e.error_message().unwrap_or_default()
                            )
                        })
                        .unwrap_or_default();
                    return Err(failed(format!(
                        "{} of {} entries refused; the first: {first}",
                        out.failed_entry_count(),
                        chunk.len()
                    )));
                }
            }
            Ok(())
        })
    }
}
