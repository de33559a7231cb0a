//! The Task states of steps and compensations: `lambda:invoke` calls whose
//! `Parameters` are the payload contract, with the failure rules as Retry
//! and Catch.

use serde_json::{Map, Value, json};

use crate::context::Direction;
use crate::definition::{ArgSource, SagaDefinition, StepDef};
use crate::failure::Phase;
use crate::invoke::InvocationType;
use crate::invoke::payload::{METADATA_KEY, OUTPUT_KEY};
use crate::step::StepKind;

use super::model::{ResultPath, Task};
use super::options::{AslOptions, Function};
use super::retry::{self, ErrorNames, Exits};

/// The integration every step Task uses.
pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
/// Where step results are kept in the state.
pub(super) const RESULTS: &str = "results";

/// The Task states of a forward step, with the phase each one runs.
pub(super) fn phases<'a>(forward: &'a str, resolve: Option<&'a str>) -> Vec<(&'a str, Phase)> {
    match resolve {
        None => vec![(forward, Phase::Retriable)],
        Some(resolve) => vec![(forward, Phase::Try), (resolve, Phase::Resolve)],
    }
}

/// Where a forward step's Task leads once it succeeds.
#[derive(Debug, Clone, Copy)]
pub(super) enum Success<'a> {
    /// The main chain: keep the output at `$.results.<step>.value` and go on
    /// to this state.
    Next(&'a str),
    /// A parallel branch: the output becomes the branch's whole state,
    /// `{"value": <output>}`, and the branch ends.
    EndBranch,
}

/// What every step and compensation Task needs.
pub(super) struct Tasks<'a> {
    pub(super) def: &'a SagaDefinition,
    pub(super) options: &'a AslOptions,
    pub(super) errors: ErrorNames,
    /// Where each step's output is kept, by step index.
    pub(super) outputs: Vec<String>,
}

impl Tasks<'_> {
    /// The Task of forward step `k` in `phase`, and the longest it can take.
    pub(super) fn forward(
        &self,
        k: usize,
        function: &Function,
        phase: Phase,
        exits: &Exits<'_>,
        success: Success<'_>,
    ) -> (Task, u64) {
        let step = &self.def.steps[k];
        let event = function.invocation == InvocationType::Event;
        let retry = retry::retry(&self.errors, phase, &step.retry);
        let seconds = retry::worst_case_seconds(&retry, step.timeout_seconds.max(1));
        let (result_selector, result_path, next, end) = match success {
            Success::Next(next) => (
                (!event).then(|| json!({ "value.$": "$.Payload" })),
                if event {
                    ResultPath::Discard(())
                } else {
                    ResultPath::Path(format!("$.{RESULTS}.{}", step.name))
                },
                Some(next.to_owned()),
                None,
            ),
            // A fire-and-forget call yields no result: its output is `null`,
            // as in the executor.
            Success::EndBranch => (
                Some(if event {
                    json!({ "value": null })
                } else {
                    json!({ "value.$": "$.Payload" })
                }),
                ResultPath::Path("$".to_owned()),
                None,
                Some(true),
            ),
        };
        let task = Task {
            comment: Some(step_comment(step, phase)),
            resource: LAMBDA_INVOKE.to_owned(),
            parameters: parameters(self.def, &self.outputs, k, Direction::Forward, function),
            result_selector,
            result_path: Some(result_path),
            timeout_seconds: step.timeout_seconds.max(1),
            heartbeat_seconds: None,
            retry,
            catch: retry::catch(&self.errors, phase, exits, retry::ERROR_PATH),
            next,
            end,
        };
        (task, seconds)
    }

    /// The compensation Task of step `k`, going on to `next`, and the longest
    /// it can take.
    pub(super) fn compensation(
        &self,
        k: usize,
        function: &Function,
        next: &str,
        compensation_failed: &str,
    ) -> (Task, u64) {
        let step = &self.def.steps[k];
        let retry = retry::retry(
            &self.errors,
            Phase::Compensation,
            &self.options.compensation_retry,
        );
        let seconds = retry::worst_case_seconds(&retry, step.timeout_seconds.max(1));
        let task = Task {
            comment: Some(format!("Undoes `{}`.", step.name)),
            resource: LAMBDA_INVOKE.to_owned(),
            parameters: parameters(
                self.def,
                &self.outputs,
                k,
                Direction::Compensation,
                function,
            ),
            result_selector: None,
            result_path: Some(ResultPath::Discard(())),
            timeout_seconds: step.timeout_seconds.max(1),
            heartbeat_seconds: None,
            retry,
            catch: retry::catch(
                &self.errors,
                Phase::Compensation,
                &Exits {
                    unwind: next,
                    resolve: None,
                    stuck: compensation_failed,
                },
                retry::COMPENSATION_ERROR_PATH,
            ),
            next: Some(next.to_owned()),
            end: None,
        };
        (task, seconds)
    }
}

pub(super) fn step_comment(step: &StepDef, phase: Phase) -> String {
    let kind = match step.kind {
        StepKind::Compensatable => "compensatable",
        StepKind::Pivot => "pivot",
        StepKind::Retriable => "retriable",
    };
    match phase {
        Phase::Resolve => format!(
            "Step `{}` ({kind}) again, after an error that left its outcome unknown: the same payload and idempotency key.",
            step.name
        ),
        _ => format!("Step `{}` ({kind}).", step.name),
    }
}

/// The Task's `Parameters` for step `k`: the function and the payload
/// contract as a template, JSON-equal to what the executor sends. `outputs`
/// is where each step's output is kept.
pub(super) fn parameters(
    def: &SagaDefinition,
    outputs: &[String],
    k: usize,
    direction: Direction,
    function: &Function,
) -> Value {
    let step = &def.steps[k];
    let mut payload = Map::new();
    for (param, source) in step.params.iter().zip(step.args) {
        let path = match source {
            ArgSource::Input => format!("$.{}", def.input),
            ArgSource::Step(i) => outputs[*i].clone(),
        };
        payload.insert(format!("{param}.$"), Value::String(path));
    }
    if direction == Direction::Compensation {
        payload.insert(format!("{OUTPUT_KEY}.$"), Value::String(outputs[k].clone()));
    }
    let direction = serde_json::to_value(direction).unwrap_or(Value::Null);
    payload.insert(
        METADATA_KEY.to_owned(),
        json!({
            "saga_id.$": "$$.Execution.Name",
            "saga_name": def.name,
            "step": step.name,
            "direction": direction,
            "idempotency_key.$": format!("States.Format('{{}}/{}', $$.Execution.Name)", step.name),
        }),
    );
    let mut parameters = Map::new();
    parameters.insert(
        "FunctionName".to_owned(),
        Value::String(function.name.clone()),
    );
    if function.invocation == InvocationType::Event {
        parameters.insert("InvocationType".to_owned(), json!("Event"));
    }
    parameters.insert("Payload".to_owned(), Value::Object(payload));
    Value::Object(parameters)
}
