//! The events of a saga log: one per transition, each appended before the
//! effect it enables.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::StepError;
use crate::step::StepKind;

/// A transition of one saga. Steps are identified by their index in the
/// saga's definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SagaEvent {
    /// The saga was started with this input.
    Created {
        /// The saga's name.
        saga: String,
        /// The hash of the saga's definition ([`SagaDefinition::hash`](crate::SagaDefinition::hash)).
        definition_hash: String,
        /// The kind of each step, in order: the log checks the order rules with them.
        kinds: Vec<StepKind>,
        /// The parallel groups as `[start, end)` step ranges, in order; empty
        /// for a saga without `join!`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        groups: Vec<[usize; 2]>,
        /// The input, as JSON.
        input: serde_json::Value,
    },
    /// An attempt of a step is about to run.
    StepStarted {
        /// The step.
        step: usize,
        /// The attempt, from 1.
        attempt: u32,
    },
    /// The step succeeded with this output.
    StepSucceeded {
        /// The step.
        step: usize,
        /// The output, as JSON.
        output: serde_json::Value,
    },
    /// An attempt of a step failed.
    StepFailed {
        /// The step.
        step: usize,
        /// The attempt that failed.
        attempt: u32,
        /// The error.
        error: StepError,
        /// Whether another attempt follows.
        retry: bool,
    },
    /// A step failed for good; the completed steps are compensated next.
    UnwindStarted {
        /// The step that failed.
        failed_step: usize,
        /// Its final error.
        error: StepError,
    },
    /// An attempt of a compensation is about to run.
    CompensationStarted {
        /// The step being compensated.
        step: usize,
        /// The attempt, from 1.
        attempt: u32,
    },
    /// The compensation succeeded.
    CompensationSucceeded {
        /// The step that was compensated.
        step: usize,
    },
    /// An attempt of a compensation failed.
    CompensationFailed {
        /// The step being compensated.
        step: usize,
        /// The attempt that failed.
        attempt: u32,
        /// The error.
        error: StepError,
        /// Whether another attempt follows.
        retry: bool,
    },
    /// Every step succeeded.
    Completed,
    /// Every completed compensatable step was compensated.
    Compensated,
    /// The saga cannot proceed on its own and waits for an operator.
    Stuck {
        /// The step where it stopped.
        step: usize,
        /// Why.
        reason: String,
    },
    /// An operator resumed a stuck saga: the step where it stopped is tried
    /// again, with a fresh retry budget.
    Resumed {
        /// Who or what resumed it, for the record.
        by: String,
    },
    /// An operator gave up on a stuck saga. It stays in the log, with the reason.
    Abandoned {
        /// Why.
        reason: String,
    },
    /// The saga was cancelled: it stops before its next step and compensates
    /// the steps that completed. Accepted only while no pivot or retriable
    /// step has started and the last step has not started.
    CancelRequested {
        /// Why, as the caller gave it.
        reason: String,
    },
}

impl SagaEvent {
    /// A short name for the event's type, as stored in the `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            SagaEvent::Created { .. } => "created",
            SagaEvent::StepStarted { .. } => "step_started",
            SagaEvent::StepSucceeded { .. } => "step_succeeded",
            SagaEvent::StepFailed { .. } => "step_failed",
            SagaEvent::UnwindStarted { .. } => "unwind_started",
            SagaEvent::CompensationStarted { .. } => "compensation_started",
            SagaEvent::CompensationSucceeded { .. } => "compensation_succeeded",
            SagaEvent::CompensationFailed { .. } => "compensation_failed",
            SagaEvent::Completed => "completed",
            SagaEvent::Compensated => "compensated",
            SagaEvent::Stuck { .. } => "stuck",
            SagaEvent::Resumed { .. } => "resumed",
            SagaEvent::Abandoned { .. } => "abandoned",
            SagaEvent::CancelRequested { .. } => "cancel_requested",
        }
    }

    /// Every event kind, as [`SagaEvent::kind`] names them.
    pub const KINDS: &'static [&'static str] = &[
        "created",
        "step_started",
        "step_succeeded",
        "step_failed",
        "unwind_started",
        "compensation_started",
        "compensation_succeeded",
        "compensation_failed",
        "completed",
        "compensated",
        "stuck",
        "resumed",
        "abandoned",
        "cancel_requested",
    ];

    /// The step the event is about, if any.
    pub fn step(&self) -> Option<usize> {
        match *self {
            SagaEvent::StepStarted { step, .. }
            | SagaEvent::StepSucceeded { step, .. }
            | SagaEvent::StepFailed { step, .. }
            | SagaEvent::CompensationStarted { step, .. }
            | SagaEvent::CompensationSucceeded { step }
            | SagaEvent::CompensationFailed { step, .. }
            | SagaEvent::Stuck { step, .. } => Some(step),
            SagaEvent::UnwindStarted { failed_step, .. } => Some(failed_step),
            _ => None,
        }
    }
}

/// An event as stored: with its sequence number within the saga and the time it was appended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The event's position in the saga's history, from 0.
    pub seq: u64,
    /// When the event was appended.
    pub at: SystemTime,
    /// The event.
    pub event: SagaEvent,
}
