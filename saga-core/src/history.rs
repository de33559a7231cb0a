//! The execution history of one saga run: the saga log read as a typed
//! table, in a vocabulary close to Step Functions' history events, so a run
//! of the embedded executor and an execution of the generated state machine
//! read alike.
//!
//! | saga log event | history event | Step Functions counterpart |
//! | --- | --- | --- |
//! | `created` | `ExecutionStarted` | `ExecutionStarted` |
//! | `step_started` | `TaskStarted` | `TaskScheduled` + `TaskStarted` |
//! | `step_succeeded` | `TaskSucceeded` | `TaskSucceeded` |
//! | `step_failed` | `TaskFailed` | `TaskFailed` / `TaskTimedOut` |
//! | `unwind_started` | `UnwindStarted` | the `Catch` into the compensation states |
//! | `compensation_started` | `CompensationStarted` | `TaskStarted` of a compensation state |
//! | `compensation_succeeded` | `CompensationSucceeded` | its `TaskSucceeded` |
//! | `compensation_failed` | `CompensationFailed` | its `TaskFailed` |
//! | `completed` | `ExecutionSucceeded` | `ExecutionSucceeded` |
//! | `compensated` | `ExecutionCompensated` | `ExecutionFailed` (`Saga.Compensated`) |
//! | `stuck` | `ExecutionStuck` | `ExecutionFailed` (`Saga.Stuck`) |
//! | `resumed` | `ExecutionResumed` | (`RedriveExecution`) |
//! | `abandoned` | `ExecutionAbandoned` | `ExecutionAborted` |
//! | `cancel_requested` | `ExecutionCancelRequested` | (`StopExecution`, which does not compensate) |
//!
//! Payloads (the input and each step's output) are kept as JSON unless a
//! redaction hook is set ([`RuntimeBuilder::redact`](crate::RuntimeBuilder::redact)).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use crate::context::{Direction, SagaId};
use crate::definition::SagaDefinition;
use crate::invoke::{Bindings, RemoteKind};
use crate::log::{LogEntry, SagaEvent, SagaMachine, SagaStatus};

/// What a payload is, for a redaction hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadKind {
    /// The saga's input.
    Input,
    /// A step's output.
    Output,
}

/// A redaction hook: given a payload and what it is, the value to show.
pub type Redactor = Arc<dyn Fn(PayloadKind, &serde_json::Value) -> serde_json::Value + Send + Sync>;

/// The kind of a history event. See the [module docs](self) for the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum HistoryEventType {
    /// The saga started.
    ExecutionStarted,
    /// An attempt of a step started.
    TaskStarted,
    /// A step succeeded.
    TaskSucceeded,
    /// An attempt of a step failed.
    TaskFailed,
    /// A step failed for good; compensations follow.
    UnwindStarted,
    /// An attempt of a compensation started.
    CompensationStarted,
    /// A compensation succeeded.
    CompensationSucceeded,
    /// An attempt of a compensation failed.
    CompensationFailed,
    /// Every step succeeded.
    ExecutionSucceeded,
    /// The completed steps were compensated.
    ExecutionCompensated,
    /// The saga waits for an operator.
    ExecutionStuck,
    /// An operator resumed it.
    ExecutionResumed,
    /// An operator abandoned it.
    ExecutionAbandoned,
    /// It was cancelled: it stops before its next step and compensates.
    ExecutionCancelRequested,
}

impl HistoryEventType {
    /// The name, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryEventType::ExecutionStarted => "ExecutionStarted",
            HistoryEventType::TaskStarted => "TaskStarted",
            HistoryEventType::TaskSucceeded => "TaskSucceeded",
            HistoryEventType::TaskFailed => "TaskFailed",
            HistoryEventType::UnwindStarted => "UnwindStarted",
            HistoryEventType::CompensationStarted => "CompensationStarted",
            HistoryEventType::CompensationSucceeded => "CompensationSucceeded",
            HistoryEventType::CompensationFailed => "CompensationFailed",
            HistoryEventType::ExecutionSucceeded => "ExecutionSucceeded",
            HistoryEventType::ExecutionCompensated => "ExecutionCompensated",
            HistoryEventType::ExecutionStuck => "ExecutionStuck",
            HistoryEventType::ExecutionResumed => "ExecutionResumed",
            HistoryEventType::ExecutionAbandoned => "ExecutionAbandoned",
            HistoryEventType::ExecutionCancelRequested => "ExecutionCancelRequested",
        }
    }
}

impl fmt::Display for HistoryEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of an execution history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEvent {
    /// The event's number, from 1 (as Step Functions numbers them).
    pub id: u64,
    /// When it was logged.
    pub timestamp: SystemTime,
    /// What happened.
    pub event_type: HistoryEventType,
    /// The step it concerns, by name.
    pub step: Option<String>,
    /// The attempt.
    pub attempt: Option<u32>,
    /// Whether it concerns the step or its compensation.
    pub direction: Option<Direction>,
    /// Where the attempt runs: `in-process`, `lambda:<function>` or `http:<url>`.
    pub target: Option<String>,
    /// The idempotency key every attempt of the step (or compensation) carries.
    pub idempotency_key: Option<String>,
    /// The error's stable name.
    pub error: Option<String>,
    /// The error's message, or a reason (stuck, resumed by, abandoned).
    pub message: Option<String>,
    /// For a failure: whether another attempt follows.
    pub retry: Option<bool>,
    /// The input (`ExecutionStarted`) or the output (`TaskSucceeded`), after redaction.
    pub payload: Option<serde_json::Value>,
}

/// How one step fared in a run, for diagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepRun {
    /// Never started.
    NotRun,
    /// Started, not finished (or waiting to retry).
    Running,
    /// Succeeded and stands.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Succeeded, then compensated.
    Compensated,
    /// Succeeded; its compensation is running or failed.
    Compensating,
}

/// The typed history of one saga run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionHistory {
    /// The run.
    pub saga_id: SagaId,
    /// The saga's name.
    pub saga: String,
    /// The hash of the definition it was started under.
    pub definition_hash: String,
    /// Its status now.
    pub status: SagaStatus,
    /// Every event, oldest first.
    pub events: Vec<HistoryEvent>,
    /// How each step fared, by index.
    pub steps: Vec<StepRun>,
}

impl ExecutionHistory {
    /// Reads a saga's log entries as a history. `definition` names the
    /// steps (else they read `step <n>`); `bindings` name the targets (else
    /// every step reads `in-process`); `redact`, if set, rewrites payloads.
    /// Entries that do not replay (an illegal transition) still read as
    /// events, with the status `running` and no step states;
    /// [`Runtime::execution_history`](crate::Runtime::execution_history)
    /// refuses them instead.
    pub fn from_log(
        saga_id: &SagaId,
        entries: &[LogEntry],
        definition: Option<&SagaDefinition>,
        bindings: Option<&Bindings>,
        redact: Option<&Redactor>,
    ) -> ExecutionHistory {
        let step_name = |k: usize| -> String {
            definition
                .and_then(|d| d.steps.get(k))
                .map_or_else(|| format!("step {k}"), |s| s.name.to_owned())
        };
        let target = |k: usize, direction: Direction| -> String {
            let name = definition.and_then(|d| d.steps.get(k)).map(|s| s.name);
            match name.and_then(|n| bindings.and_then(|b| b.get(n, direction))) {
                Some(remote) => match remote.kind() {
                    RemoteKind::Lambda => format!("lambda:{}", remote.target().name),
                    RemoteKind::Http => format!("http:{}", remote.target().name),
                    RemoteKind::Other => format!("remote:{}", remote.target().name),
                },
                None => "in-process".to_owned(),
            }
        };
        let show = |kind: PayloadKind, v: &serde_json::Value| match redact {
            Some(r) => r(kind, v),
            None => v.clone(),
        };
        let mut saga = String::new();
        let mut definition_hash = String::new();
        let mut events = Vec::with_capacity(entries.len());
        for entry in entries {
            use HistoryEventType as T;
            let mut row = HistoryEvent {
                id: entry.seq.saturating_add(1),
                timestamp: entry.at,
                event_type: T::ExecutionStarted,
                step: None,
                attempt: None,
                direction: None,
                target: None,
                idempotency_key: None,
                error: None,
                message: None,
                retry: None,
                payload: None,
            };
            let at_step = |row: &mut HistoryEvent, k: usize, direction: Direction| {
                let name = step_name(k);
                row.idempotency_key = Some(format!("{saga_id}/{name}"));
                row.step = Some(name);
                row.direction = Some(direction);
                row.target = Some(target(k, direction));
            };
            match &entry.event {
                SagaEvent::Created {
                    saga: name,
                    definition_hash: hash,
                    input,
                    ..
                } => {
                    saga = name.clone();
                    definition_hash = hash.clone();
                    row.payload = Some(show(PayloadKind::Input, input));
                }
                &SagaEvent::StepStarted { step, attempt } => {
                    row.event_type = T::TaskStarted;
                    at_step(&mut row, step, Direction::Forward);
                    row.attempt = Some(attempt);
                }
                SagaEvent::StepSucceeded { step, output } => {
                    row.event_type = T::TaskSucceeded;
                    at_step(&mut row, *step, Direction::Forward);
                    row.payload = Some(show(PayloadKind::Output, output));
                }
                SagaEvent::StepFailed {
                    step,
                    attempt,
                    error,
                    retry,
                } => {
                    row.event_type = T::TaskFailed;
                    at_step(&mut row, *step, Direction::Forward);
                    row.attempt = Some(*attempt);
                    row.error = Some(error.name().to_owned());
                    row.message = Some(error.message().to_owned());
                    row.retry = Some(*retry);
                }
                SagaEvent::UnwindStarted { failed_step, error } => {
                    row.event_type = T::UnwindStarted;
                    row.step = Some(step_name(*failed_step));
                    row.error = Some(error.name().to_owned());
                    row.message = Some(error.message().to_owned());
                }
                &SagaEvent::CompensationStarted { step, attempt } => {
                    row.event_type = T::CompensationStarted;
                    at_step(&mut row, step, Direction::Compensation);
                    row.attempt = Some(attempt);
                }
                &SagaEvent::CompensationSucceeded { step } => {
                    row.event_type = T::CompensationSucceeded;
                    at_step(&mut row, step, Direction::Compensation);
                }
                SagaEvent::CompensationFailed {
                    step,
                    attempt,
                    error,
                    retry,
                } => {
                    row.event_type = T::CompensationFailed;
                    at_step(&mut row, *step, Direction::Compensation);
                    row.attempt = Some(*attempt);
                    row.error = Some(error.name().to_owned());
                    row.message = Some(error.message().to_owned());
                    row.retry = Some(*retry);
                }
                SagaEvent::Completed => row.event_type = T::ExecutionSucceeded,
                SagaEvent::Compensated => row.event_type = T::ExecutionCompensated,
                SagaEvent::Stuck { step, reason } => {
                    row.event_type = T::ExecutionStuck;
                    row.step = Some(step_name(*step));
                    row.message = Some(reason.clone());
                }
                SagaEvent::Resumed { by } => {
                    row.event_type = T::ExecutionResumed;
                    row.message = Some(by.clone());
                }
                SagaEvent::Abandoned { reason } => {
                    row.event_type = T::ExecutionAbandoned;
                    row.message = Some(reason.clone());
                }
                SagaEvent::CancelRequested { reason } => {
                    row.event_type = T::ExecutionCancelRequested;
                    row.message = Some(reason.clone());
                }
            }
            events.push(row);
        }
        let machine = SagaMachine::replay(entries.iter().map(|e| &e.event)).ok();
        let status = machine
            .as_ref()
            .and_then(SagaMachine::status)
            .unwrap_or(SagaStatus::Running);
        let steps = machine
            .as_ref()
            .map(|m| m.steps().iter().map(|s| step_run(*s)).collect())
            .unwrap_or_default();
        ExecutionHistory {
            saga_id: saga_id.clone(),
            saga,
            definition_hash,
            status,
            events,
            steps,
        }
    }

    /// The events of one step (and its compensation), by name.
    pub fn of_step<'a>(&'a self, step: &'a str) -> impl Iterator<Item = &'a HistoryEvent> + 'a {
        self.events
            .iter()
            .filter(move |e| e.step.as_deref() == Some(step))
    }

    /// The failed attempts, of steps and compensations.
    pub fn failures(&self) -> impl Iterator<Item = &HistoryEvent> {
        self.events.iter().filter(|e| {
            matches!(
                e.event_type,
                HistoryEventType::TaskFailed | HistoryEventType::CompensationFailed
            )
        })
    }
}

fn step_run(state: crate::log::StepState) -> StepRun {
    use crate::log::StepState as S;
    match state {
        S::Pending => StepRun::NotRun,
        S::Running { .. } | S::Failed { retry: true, .. } => StepRun::Running,
        S::Failed { retry: false, .. } => StepRun::Failed,
        S::Succeeded => StepRun::Succeeded,
        S::Compensating { .. } | S::CompensationFailed { .. } => StepRun::Compensating,
        S::Compensated => StepRun::Compensated,
    }
}
