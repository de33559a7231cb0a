//! The lifecycle event: the stable JSON that observers receive.

use serde::{Deserialize, Serialize};

use crate::definition::SagaDefinition;
use crate::log::{OutboxEntry, SagaEvent};

/// The version of the [`LifecycleEvent`] schema. A field is only ever added
/// under a new version; consumers should accept versions they know.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

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
    /// The error, for `compensation_started`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
    /// The reason, for `saga_stuck` and `saga_abandoned`.
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
                    name: error.name().to_owned(),
                    message: error.message().to_owned(),
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
                Some(reason.clone()),
            ),
            SagaEvent::Abandoned { reason } => (
                LifecycleKind::SagaAbandoned,
                None,
                None,
                Some(reason.clone()),
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
