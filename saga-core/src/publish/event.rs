//! The lifecycle event: the stable JSON that observers receive.

use serde::{Deserialize, Serialize};

use crate::definition::SagaDefinition;
use crate::log::{OutboxEntry, SagaEvent};

/// The version of the [`LifecycleEvent`] schema. A field is only ever added
/// under a new version; consumers should accept versions they know.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// The most bytes of free text (an error's name or message, a reason) an
/// event carries. SNS, SQS and EventBridge refuse messages over 256 KiB, and
/// an event they refuse would hold its publisher's cursor for good.
const MAX_TEXT_BYTES: usize = 4096;

/// `text`, cut to at most [`MAX_TEXT_BYTES`] bytes on a char boundary,
/// with `…` appended when cut.
fn cap_text(text: &str) -> String {
    if text.len() <= MAX_TEXT_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleKind {
    /// The saga was started.
    SagaStarted,
    /// A step succeeded.
    StepCompleted,
    /// A step failed for good, or the saga was cancelled: the completed
    /// steps are compensated next. `error` says why (`Saga.Cancelled` for a
    /// cancellation).
    CompensationStarted,
    /// A step's compensation succeeded.
    StepCompensated,
    /// Every step succeeded.
    SagaCompleted,
    /// Every completed compensatable step was compensated.
    SagaCompensated,
    /// The saga waits for an operator.
    SagaStuck,
    /// An operator gave up on a stuck saga.
    SagaAbandoned,
}

impl LifecycleKind {
    /// The name, as in the `type` field (and EventBridge's `detail-type`).
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleKind::SagaStarted => "saga_started",
            LifecycleKind::StepCompleted => "step_completed",
            LifecycleKind::CompensationStarted => "compensation_started",
            LifecycleKind::StepCompensated => "step_compensated",
            LifecycleKind::SagaCompleted => "saga_completed",
            LifecycleKind::SagaCompensated => "saga_compensated",
            LifecycleKind::SagaStuck => "saga_stuck",
            LifecycleKind::SagaAbandoned => "saga_abandoned",
        }
    }
}

/// An error, as a lifecycle event carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventError {
    /// The stable error name (`Saga.Terminal`, `Saga.Cancelled`, ...).
    pub name: String,
    /// The message.
    pub message: String,
}

/// One saga lifecycle event, as published. Payloads (the input, step
/// outputs) are never included.
///
/// ```json
/// {"version":1,"id":"trip-42/4","type":"step_completed","saga":"BookTrip",
///  "saga_id":"trip-42","seq":4,"at":"2026-12-04T11:00:00.123Z","step":"reserve_hotel"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// The schema version, [`EVENT_SCHEMA_VERSION`].
    pub version: u32,
    /// `<saga id>/<seq>`: unique, and the same on every redelivery, so
    /// consumers can drop duplicates (delivery is at least once).
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: LifecycleKind,
    /// The saga's name.
    pub saga: String,
    /// The saga's id.
    pub saga_id: String,
    /// The event's position in the saga's history: orders one saga's events.
    pub seq: u64,
    /// When it was logged: RFC 3339, UTC, milliseconds.
    pub at: String,
    /// The step it is about, by name (`#<index>` if the publisher does not
    /// know the saga's definition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The error, for `compensation_started`. Its name and message are cut
    /// to 4096 bytes (then end in `…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
    /// The reason, for `saga_stuck` and `saga_abandoned`, cut to 4096 bytes
    /// (then ending in `…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl LifecycleEvent {
    /// The lifecycle event of an outbox entry; `None` for a log event that
    /// is not a lifecycle event. `definition` names the steps.
    pub fn from_entry(
        entry: &OutboxEntry,
        definition: Option<&SagaDefinition>,
    ) -> Option<LifecycleEvent> {
        let step_name = |k: usize| {
            definition
                .and_then(|d| d.steps.get(k))
                .map_or_else(|| format!("#{k}"), |s| s.name.to_owned())
        };
        let (kind, step, error, reason) = match &entry.entry.event {
            SagaEvent::Created { .. } => (LifecycleKind::SagaStarted, None, None, None),
            SagaEvent::StepSucceeded { step, .. } => {
                (LifecycleKind::StepCompleted, Some(*step), None, None)
            }
            SagaEvent::UnwindStarted { failed_step, error } => (
                LifecycleKind::CompensationStarted,
                Some(*failed_step),
                Some(EventError {
                    name: cap_text(error.name()),
                    message: cap_text(error.message()),
                }),
                None,
            ),
            SagaEvent::CompensationSucceeded { step } => {
                (LifecycleKind::StepCompensated, Some(*step), None, None)
            }
            SagaEvent::Completed => (LifecycleKind::SagaCompleted, None, None, None),
            SagaEvent::Compensated => (LifecycleKind::SagaCompensated, None, None, None),
            SagaEvent::Stuck { step, reason } => (
                LifecycleKind::SagaStuck,
                Some(*step),
                None,
                Some(cap_text(reason)),
            ),
            SagaEvent::Abandoned { reason } => (
                LifecycleKind::SagaAbandoned,
                None,
                None,
                Some(cap_text(reason)),
            ),
            _ => return None,
        };
        let at = crate::report::timestamp(entry.entry.at).replacen(' ', "T", 1) + "Z";
        Some(LifecycleEvent {
            version: EVENT_SCHEMA_VERSION,
            id: format!("{}/{}", entry.saga_id, entry.entry.seq),
            kind,
            saga: entry.saga.clone(),
            saga_id: entry.saga_id.to_string(),
            seq: entry.entry.seq,
            at,
            step: step.map(step_name),
            error,
            reason,
        })
    }

    /// The event as one line of JSON.
    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::SagaId;
    use crate::log::LogEntry;

    /// 10,000 chars: 4095 ASCII bytes, then two-byte chars, one of which
    /// straddles the 4096-byte cap.
    fn long_text() -> String {
        "a".repeat(MAX_TEXT_BYTES - 1) + &"é".repeat(10_000 - (MAX_TEXT_BYTES - 1))
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let long = long_text();
        assert_eq!(long.chars().count(), 10_000);
        let capped = cap_text(&long);
        assert!(
            capped.len() <= MAX_TEXT_BYTES + '…'.len_utf8(),
            "{}",
            capped.len()
        );
        assert!(capped.ends_with('…'));
        // The straddling 'é' is dropped whole, not split.
        assert_eq!(capped, "a".repeat(MAX_TEXT_BYTES - 1) + "…");
        assert!(std::str::from_utf8(capped.as_bytes()).is_ok());
    }

    #[test]
    fn short_text_is_kept() {
        assert_eq!(cap_text("car is not available"), "car is not available");
        let exact = "x".repeat(MAX_TEXT_BYTES);
        assert_eq!(cap_text(&exact), exact);
    }

    #[test]
    fn events_carry_capped_reasons() {
        let entry = OutboxEntry {
            pos: 1,
            saga_id: SagaId::new("trip-1").expect("id"),
            saga: "BookTrip".into(),
            definition_hash: "h".into(),
            entry: LogEntry {
                seq: 3,
                at: std::time::SystemTime::UNIX_EPOCH,
                event: SagaEvent::Abandoned {
                    reason: long_text(),
                },
            },
        };
        let event = LifecycleEvent::from_entry(&entry, None).expect("a lifecycle event");
        let reason = event.reason.expect("a reason");
        assert!(reason.len() <= MAX_TEXT_BYTES + '…'.len_utf8());
        assert!(reason.ends_with('…'));
    }
}
