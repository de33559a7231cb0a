//! From a saga definition to the canonical saga state machine.
//!
//! The execution input is `{"<input>": <saga input>}`. Each forward step is a
//! `lambda:invoke` Task whose result is kept at `$.results.<step>.value`; its
//! Catch leads into the compensation chain, which runs the compensations of
//! the completed steps in reverse order and ends in the `Compensated` Fail.

use serde_json::{Map, Value, json};

use crate::context::Direction;
use crate::definition::{ArgSource, SagaDefinition, StepDef};
use crate::error::names;
use crate::invoke::payload::{METADATA_KEY, OUTPUT_KEY};
use crate::invoke::{ConfigProblem, InvocationType};
use crate::step::StepKind;

use super::check::validate;
use super::error::AslError;
use super::model::{Fail, ResultPath, State, StateMachine, States, Succeed, Task};
use super::names::StateNamer;
use super::options::{AslOptions, Function};
use super::retry::{self, ErrorNames, Exits};
use crate::failure::Phase;

/// The integration every step Task uses.
pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";
/// Where step results are kept in the state.
const RESULTS: &str = "results";
/// Top-level fields of the state the machine itself writes.
const RESERVED_FIELDS: &[&str] = &[RESULTS, "error", "compensation_error"];

/// The fixed states' names, reserved before any step's.
const DONE: &str = "Done";
const COMPENSATED: &str = "Compensated";
const STUCK: &str = "Stuck";
const COMPENSATION_FAILED: &str = "CompensationFailed";

/// Generates the state machine of `def`.
pub fn generate(def: &SagaDefinition, options: &AslOptions) -> Result<StateMachine, AslError> {
    if RESERVED_FIELDS.contains(&def.input) {
        return Err(AslError::ReservedInputName {
            saga: def.name,
            name: def.input,
        });
    }
    if let Some(bindings) = &options.bindings {
        // A step with no binding (body-less or not) becomes a `${placeholder}`
        // or takes its name from `AslOptions::function`: only the other
        // problems stop a state machine.
        let problems: Vec<_> = bindings
            .check(def)
            .into_iter()
            .filter(|p| !matches!(p, ConfigProblem::Unbound { .. }))
            .collect();
        if !problems.is_empty() {
            return Err(AslError::Config { problems });
        }
    }

    let mut namer = StateNamer::default();
    let fixed = [DONE, COMPENSATED, STUCK, COMPENSATION_FAILED].map(|n| namer.name(n));
    let [done, compensated, stuck, compensation_failed] = fixed;
    let forward_names: Vec<String> = def.steps.iter().map(|s| namer.name(s.name)).collect();
    // Where a step before the pivot goes after an ambiguous error: the same
    // call again, settled by a success or a terminal error only.
    let resolve_names: Vec<Option<String>> = def
        .steps
        .iter()
        .map(|s| {
            (s.kind != StepKind::Retriable).then(|| namer.name(&format!("Resolve {}", s.name)))
        })
        .collect();
    // A compensation runs only when a later step unwinds: the last
    // compensatable step of a saga with nothing after it that can fail into
    // an unwind has no compensation state, which would be unreachable.
    let compensation_names: Vec<Option<String>> = def
        .steps
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let undone_later = def.steps[k + 1..]
                .iter()
                .any(|later| later.kind != StepKind::Retriable);
            (s.kind == StepKind::Compensatable && undone_later)
                .then(|| namer.name(&format!("Compensate {}", s.name)))
        })
        .collect();
    // The first compensation to run when step `k` fails: that of the latest
    // compensatable step before it.
    let unwind_from = |k: usize| -> &str {
        compensation_names[..k]
            .iter()
            .rev()
            .flatten()
            .next()
            .map_or(compensated.as_str(), String::as_str)
    };

    let errors = ErrorNames::new(&options.terminal_errors, &options.retryable_errors);
    let mut states = Vec::new();
    let mut worst_case = 0u64;

    for (k, step) in def.steps.iter().enumerate() {
        let function = options.function_of(step.name, Direction::Forward)?;
        let exits = Exits {
            unwind: unwind_from(k),
            resolve: resolve_names[k].as_deref(),
            stuck: &stuck,
        };
        let phases: &[(&String, Phase)] = match &resolve_names[k] {
            None => &[(&forward_names[k], Phase::Retriable)],
            Some(resolve) => &[(&forward_names[k], Phase::Try), (resolve, Phase::Resolve)],
        };
        let event = function.invocation == InvocationType::Event;
        let next = forward_names.get(k + 1).unwrap_or(&done).clone();
        for &(name, phase) in phases {
            let retry = retry::retry(&errors, phase, &step.retry);
            worst_case += retry::worst_case_seconds(&retry, step.timeout_seconds.max(1));
            states.push((
                name.clone(),
                State::Task(Task {
                    comment: Some(step_comment(step, phase)),
                    resource: LAMBDA_INVOKE.to_owned(),
                    parameters: parameters(def, step, Direction::Forward, &function),
                    result_selector: (!event).then(|| json!({ "value.$": "$.Payload" })),
                    result_path: Some(if event {
                        ResultPath::Discard(())
                    } else {
                        ResultPath::Path(format!("$.{RESULTS}.{}", step.name))
                    }),
                    timeout_seconds: step.timeout_seconds.max(1),
                    heartbeat_seconds: None,
                    retry,
                    catch: retry::catch(&errors, phase, &exits, retry::ERROR_PATH),
                    next: Some(next.clone()),
                    end: None,
                }),
            ));
        }
    }
    states.push((
        done,
        State::Succeed(Succeed {
            comment: Some("Every step succeeded.".to_owned()),
            output_path: None,
        }),
    ));

    for k in (0..def.steps.len()).rev() {
        let (step, Some(name)) = (&def.steps[k], &compensation_names[k]) else {
            continue;
        };
        let function = options.function_of(step.name, Direction::Compensation)?;
        let retry = retry::retry(&errors, Phase::Compensation, &options.compensation_retry);
        worst_case += retry::worst_case_seconds(&retry, step.timeout_seconds.max(1));
        states.push((
            name.clone(),
            State::Task(Task {
                comment: Some(format!("Undoes `{}`.", step.name)),
                resource: LAMBDA_INVOKE.to_owned(),
                parameters: parameters(def, step, Direction::Compensation, &function),
                result_selector: None,
                result_path: Some(ResultPath::Discard(())),
                timeout_seconds: step.timeout_seconds.max(1),
                heartbeat_seconds: None,
                retry,
                catch: retry::catch(
                    &errors,
                    Phase::Compensation,
                    &Exits {
                        unwind: unwind_from(k),
                        resolve: None,
                        stuck: &compensation_failed,
                    },
                    retry::COMPENSATION_ERROR_PATH,
                ),
                next: Some(unwind_from(k).to_owned()),
                end: None,
            }),
        ));
    }

    let unwinds = def.steps.iter().any(|s| s.kind != StepKind::Retriable);
    let compensates = compensation_names.iter().any(Option::is_some);
    if unwinds {
        states.push((
            compensated,
            fail(
                names::COMPENSATED,
                error_cause(retry::ERROR_PATH),
                "A step failed; the completed steps were compensated.",
            ),
        ));
    }
    states.push((
        stuck,
        fail(
            names::STUCK,
            error_cause(retry::ERROR_PATH),
            "A step's outcome stayed unknown, or a retriable step ran out of retries; nothing was compensated.",
        ),
    ));
    if compensates {
        // The compensation's error first, then the step error that started
        // the unwind, which the executor reports too.
        let (c, e) = (retry::COMPENSATION_ERROR_PATH, retry::ERROR_PATH);
        let cause = format!(
            "States.Format('{{}}: {{}} (compensating after {{}}: {{}})', {c}.Error, {c}.Cause, {e}.Error, {e}.Cause)"
        );
        states.push((
            compensation_failed,
            fail(
                names::COMPENSATION_FAILED,
                cause,
                "A compensation kept failing.",
            ),
        ));
    }

    if let Some(given) = options.timeout_seconds
        && u64::from(given) < worst_case
    {
        return Err(AslError::MachineTimeoutTooShort {
            given,
            needed: worst_case,
        });
    }
    let start_at = states
        .first()
        .map(|(name, _)| name.clone())
        .unwrap_or_default();
    let machine = StateMachine {
        comment: Some(
            options
                .comment
                .clone()
                .unwrap_or_else(|| format!("Saga {} (definition {})", def.name, def.hash())),
        ),
        start_at,
        timeout_seconds: options.timeout_seconds,
        states: States(states),
    };
    let problems = validate(&machine);
    if problems.is_empty() {
        Ok(machine)
    } else {
        Err(AslError::Invalid { problems })
    }
}

fn step_comment(step: &StepDef, phase: Phase) -> String {
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

/// `<error name>: <cause>` of the error caught at `path`: a timeout's cause
/// is empty, so the name of the original error must travel in the cause too.
fn error_cause(path: &str) -> String {
    format!("States.Format('{{}}: {{}}', {path}.Error, {path}.Cause)")
}

fn fail(error: &str, cause_path: String, comment: &str) -> State {
    State::Fail(Fail {
        comment: Some(comment.to_owned()),
        error: Some(error.to_owned()),
        error_path: None,
        cause: None,
        cause_path: Some(cause_path),
    })
}

/// The Task's `Parameters`: the function and the payload contract as a
/// template, JSON-equal to what the executor sends.
fn parameters(
    def: &SagaDefinition,
    step: &StepDef,
    direction: Direction,
    function: &Function,
) -> Value {
    let result_of = |name: &str| format!("$.{RESULTS}.{name}.value");
    let mut payload = Map::new();
    for (param, source) in step.params.iter().zip(step.args) {
        let path = match source {
            ArgSource::Input => format!("$.{}", def.input),
            ArgSource::Step(i) => result_of(def.steps[*i].name),
        };
        payload.insert(format!("{param}.$"), Value::String(path));
    }
    if direction == Direction::Compensation {
        payload.insert(
            format!("{OUTPUT_KEY}.$"),
            Value::String(result_of(step.name)),
        );
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
