//! From a saga definition to the canonical saga state machine.
//!
//! The execution input is `{"<input>": <saga input>}`. Each forward step is a
//! `lambda:invoke` Task whose result is kept at `$.results.<step>.value`; its
//! Catch leads into the compensation chain, which runs the compensations of
//! the completed steps in reverse order and ends in the `Compensated` Fail.

use std::collections::HashSet;

use crate::context::Direction;
use crate::definition::SagaDefinition;
use crate::error::names;
use crate::invoke::ConfigProblem;
use crate::step::StepKind;

use super::check::validate;
use super::error::AslError;
use super::model::{Fail, State, StateMachine, States, Succeed};
use super::names::StateNamer;
use super::options::AslOptions;
use super::parallel::{GroupNames, group_forward};
use super::retry::{self, ErrorNames, Exits};
use super::task::{RESULTS, Success, Tasks, phases};

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
    let n = def.steps.len();
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
    // an unwind has no compensation state, which would be unreachable. A
    // branch of a compensatable group is also undone when a sibling fails.
    let compensation_names: Vec<Option<String>> = def
        .steps
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let undone_later = def.steps[k + 1..]
                .iter()
                .any(|later| later.kind != StepKind::Retriable);
            let sibling_may_fail = def.group_of(k).is_some();
            (s.kind == StepKind::Compensatable && (undone_later || sibling_may_fail))
                .then(|| namer.name(&format!("Compensate {}", s.name)))
        })
        .collect();
    // Named after every other state, so that a saga without groups keeps the
    // names it always had.
    let mut result_keys: HashSet<String> = def.steps.iter().map(|s| s.name.to_owned()).collect();
    let groups: Vec<GroupNames> = def
        .groups
        .iter()
        .map(|&group| GroupNames::new(def, group, &mut namer, &mut result_keys))
        .collect();
    let group_at = |k: usize| def.groups.iter().position(|g| g.contains(k));
    // The first state of the stage that step `k` belongs to.
    let stage_entry = |k: usize| -> &str {
        match group_at(k) {
            Some(gi) => groups[gi].parallel.as_str(),
            None => forward_names[k].as_str(),
        }
    };
    // The first state of the unwind that undoes step `k`, if anything ever
    // does: its compensation, or for a branch the head of its group's chain.
    let undo_entry: Vec<Option<&str>> = (0..n)
        .map(|k| {
            let own = compensation_names[k].as_deref()?;
            Some(match group_at(k) {
                Some(gi) => groups[gi].unwind_head().unwrap_or(own),
                None => own,
            })
        })
        .collect();
    // The first compensation to run when step `k` fails: that of the latest
    // compensatable step before it.
    let unwind_from = |k: usize| -> &str {
        undo_entry[..k]
            .iter()
            .rev()
            .flatten()
            .next()
            .copied()
            .unwrap_or(compensated.as_str())
    };

    let tasks = Tasks {
        def,
        options,
        errors: ErrorNames::new(&options.terminal_errors, &options.retryable_errors),
        outputs: (0..n)
            .map(|k| match group_at(k) {
                Some(gi) => groups[gi].path(def, k, "value"),
                None => format!("$.{RESULTS}.{}.value", def.steps[k].name),
            })
            .collect(),
    };
    let mut states = Vec::new();
    let mut worst_case = 0u64;

    let mut k = 0;
    while k < n {
        let stage = def.stage(k);
        let next = if stage.end < n {
            stage_entry(stage.end)
        } else {
            done.as_str()
        };
        match group_at(k) {
            None => {
                let function = options.function_of(def.steps[k].name, Direction::Forward)?;
                let exits = Exits {
                    unwind: unwind_from(k),
                    resolve: resolve_names[k].as_deref(),
                    stuck: &stuck,
                };
                for (name, phase) in phases(&forward_names[k], resolve_names[k].as_deref()) {
                    let (task, seconds) =
                        tasks.forward(k, &function, phase, &exits, Success::Next(next));
                    worst_case = worst_case.saturating_add(seconds);
                    states.push((name.to_owned(), State::Task(task)));
                }
            }
            Some(gi) => {
                let (group_states, seconds) = group_forward(
                    &tasks,
                    &groups[gi],
                    &forward_names,
                    &resolve_names,
                    &stuck,
                    next,
                )?;
                worst_case = worst_case.saturating_add(seconds);
                states.extend(group_states);
            }
        }
        k = stage.end.max(k + 1);
    }
    states.push((
        done,
        State::Succeed(Succeed {
            comment: Some("Every step succeeded.".to_owned()),
            output_path: None,
        }),
    ));

    for k in (0..n).rev() {
        let (step, Some(name)) = (&def.steps[k], &compensation_names[k]) else {
            continue;
        };
        let next = match group_at(k) {
            None => unwind_from(k),
            Some(gi) => {
                let before = unwind_from(def.groups[gi].start);
                let Some((test, next)) = groups[gi].undo_test(def, k, name, before) else {
                    continue;
                };
                states.push(test);
                next
            }
        };
        let function = options.function_of(step.name, Direction::Compensation)?;
        let (task, seconds) = tasks.compensation(k, &function, next, &compensation_failed);
        worst_case = worst_case.saturating_add(seconds);
        states.push((name.clone(), State::Task(task)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{ArgSource, Group, StepDef};
    use crate::failure::Phase;
    use crate::retry::RetryPolicy;
    use serde_json::{Value, json};

    use super::super::model::{Choice, Parallel, Pass, ResultPath, Task};

    const A: StepDef = StepDef {
        name: "a",
        kind: StepKind::Compensatable,
        params: &["trip"],
        args: &[ArgSource::Input],
        has_body: true,
        retry: RetryPolicy::DEFAULT,
        timeout_seconds: 10,
        output_named: true,
        output_accepts_null: || false,
    };
    /// `a`; then `b` and `c` together, `c` reading `a`'s output; then `d`,
    /// reading `b`'s; then the pivot `e`.
    const STEPS: &[StepDef] = &[
        A,
        StepDef { name: "b", ..A },
        StepDef {
            name: "c",
            params: &["trip", "held"],
            args: &[ArgSource::Input, ArgSource::Step(0)],
            ..A
        },
        StepDef {
            name: "d",
            params: &["trip", "room"],
            args: &[ArgSource::Input, ArgSource::Step(1)],
            ..A
        },
        StepDef {
            name: "e",
            kind: StepKind::Pivot,
            ..A
        },
    ];
    const GROUPS: &[Group] = &[Group { start: 1, end: 3 }];

    fn joined() -> SagaDefinition {
        SagaDefinition::new("Trip", "trip", STEPS).parallel(GROUPS)
    }

    fn machine(def: &SagaDefinition) -> StateMachine {
        generate(def, &AslOptions::new()).expect("a state machine")
    }

    fn names(states: &States) -> Vec<&str> {
        states.iter().map(|(name, _)| name).collect()
    }

    fn task<'a>(states: &'a States, name: &str) -> &'a Task {
        match states.find(name) {
            Some(State::Task(task)) => task,
            other => panic!("`{name}` is not a Task: {other:?}"),
        }
    }

    fn pass<'a>(states: &'a States, name: &str) -> &'a Pass {
        match states.find(name) {
            Some(State::Pass(pass)) => pass,
            other => panic!("`{name}` is not a Pass: {other:?}"),
        }
    }

    fn choice<'a>(states: &'a States, name: &str) -> &'a Choice {
        match states.find(name) {
            Some(State::Choice(choice)) => choice,
            other => panic!("`{name}` is not a Choice: {other:?}"),
        }
    }

    fn parallel<'a>(states: &'a States, name: &str) -> &'a Parallel {
        match states.find(name) {
            Some(State::Parallel(parallel)) => parallel,
            other => panic!("`{name}` is not a Parallel: {other:?}"),
        }
    }

    /// Follows the main chain from `from` as Step Functions would, with
    /// `data` as the state: Choices test `IsPresent`, Passes copy their
    /// effective input to `$.error`, and Tasks succeed. Returns the states
    /// visited up to the first one without a `Next`, and the final state.
    fn walk(m: &StateMachine, from: &str, mut data: Value) -> (Vec<String>, Value) {
        let pointer = |path: &str| path.trim_start_matches('$').replace('.', "/");
        let mut visited = Vec::new();
        let mut at = from.to_owned();
        loop {
            visited.push(at.clone());
            let next = match m.state(&at) {
                Some(State::Choice(c)) => c
                    .choices
                    .iter()
                    .find(|r| data.pointer(&pointer(&r.variable)).is_some() == r.is_present)
                    .map(|r| r.next.clone())
                    .or_else(|| c.default.clone()),
                Some(State::Pass(p)) => {
                    let input = p.input_path.as_deref().unwrap_or("$");
                    let value = data.pointer(&pointer(input)).cloned().expect("input");
                    assert_eq!(
                        p.result_path,
                        Some(ResultPath::Path("$.error".into())),
                        "{at}"
                    );
                    data["error"] = value;
                    p.next.clone()
                }
                Some(State::Task(t)) => t.next.clone(),
                _ => None,
            };
            match next {
                Some(next) => at = next,
                None => return (visited, data),
            }
        }
    }

    #[test]
    fn a_group_is_one_parallel_state_with_a_branch_per_step() {
        let m = machine(&joined());
        assert_eq!(
            names(&m.states),
            [
                "a",
                "Resolve a",
                "Join b, c",
                "Check join b, c",
                "b is stuck",
                "c is stuck",
                "b failed, unwind",
                "c failed, unwind",
                "d",
                "Resolve d",
                "e",
                "Resolve e",
                "Done",
                "Compensate d",
                "If c completed",
                "Compensate c",
                "If b completed",
                "Compensate b",
                "Compensate a",
                "Compensated",
                "Stuck",
                "CompensationFailed",
            ]
        );
        assert_eq!(task(&m.states, "a").next.as_deref(), Some("Join b, c"));
        assert_eq!(
            task(&m.states, "Resolve a").next.as_deref(),
            Some("Join b, c")
        );

        let join = parallel(&m.states, "Join b, c");
        assert_eq!(join.next.as_deref(), Some("Check join b, c"));
        assert_eq!(
            join.result_path,
            Some(ResultPath::Path("$.results.join_b".into()))
        );
        assert_eq!(
            join.result_selector,
            Some(json!({ "b.$": "$[0]", "c.$": "$[1]" }))
        );
        assert!(join.retry.is_empty() && join.catch.is_empty());
        assert_eq!(join.branches.len(), 2);
        for (branch, step) in join.branches.iter().zip(["b", "c"]) {
            let states = &branch.states;
            let [failed, stuck, resolve] = [
                format!("{step} failed"),
                format!("{step} stuck"),
                format!("Resolve {step}"),
            ];
            assert_eq!(branch.start_at, step);
            assert_eq!(
                names(states),
                [step, resolve.as_str(), failed.as_str(), stuck.as_str()]
            );
            // The step's own Tasks, ending the branch with `{"value": ...}`.
            for name in [step, resolve.as_str()] {
                let t = task(states, name);
                assert_eq!((t.next.as_deref(), t.end), (None, Some(true)), "{name}");
                assert_eq!(t.result_path, Some(ResultPath::Path("$".into())));
                assert_eq!(t.result_selector, Some(json!({ "value.$": "$.Payload" })));
            }
            let first = task(states, step);
            assert_eq!(first.catch[0].next, failed);
            assert_eq!(first.catch[1].next, resolve);
            let again = task(states, &resolve);
            assert_eq!(again.parameters, first.parameters);
            assert_eq!(again.catch[0].next, failed);
            assert_eq!(again.catch[1].next, stuck);
            for (name, field) in [(&failed, "failed"), (&stuck, "stuck")] {
                let end = pass(states, name);
                assert_eq!(end.end, Some(true));
                assert_eq!(end.next, None);
                assert_eq!(
                    end.parameters,
                    Some(json!({ format!("{field}.$"): "$.error" }))
                );
            }
        }
        // A branch reads the steps before the group from the whole state.
        assert_eq!(
            task(&join.branches[1].states, "c").parameters["Payload"]["held.$"],
            "$.results.a.value"
        );

        // Stuck first, in step order; then failed, in step order.
        let check = choice(&m.states, "Check join b, c");
        let rules: Vec<(&str, bool, &str)> = check
            .choices
            .iter()
            .map(|r| (r.variable.as_str(), r.is_present, r.next.as_str()))
            .collect();
        assert_eq!(
            rules,
            [
                ("$.results.join_b.b.stuck", true, "b is stuck"),
                ("$.results.join_b.c.stuck", true, "c is stuck"),
                ("$.results.join_b.b.failed", true, "b failed, unwind"),
                ("$.results.join_b.c.failed", true, "c failed, unwind"),
            ]
        );
        assert_eq!(check.default.as_deref(), Some("d"));
        let stuck = pass(&m.states, "c is stuck");
        assert_eq!(
            stuck.input_path.as_deref(),
            Some("$.results.join_b.c.stuck")
        );
        assert_eq!(stuck.next.as_deref(), Some("Stuck"));
        let failed = pass(&m.states, "b failed, unwind");
        assert_eq!(
            failed.input_path.as_deref(),
            Some("$.results.join_b.b.failed")
        );
        assert_eq!(failed.result_path, Some(ResultPath::Path("$.error".into())));
        assert_eq!(failed.next.as_deref(), Some("If c completed"));

        // Later steps and compensations read a branch's output in the group.
        let payload =
            |name: &str, key: &str| task(&m.states, name).parameters["Payload"][key].clone();
        assert_eq!(payload("d", "room.$"), "$.results.join_b.b.value");
        assert_eq!(
            payload("Compensate b", "output.$"),
            "$.results.join_b.b.value"
        );
        assert_eq!(payload("Compensate c", "held.$"), "$.results.a.value");
        assert_eq!(payload("Compensate a", "output.$"), "$.results.a.value");

        // A step after the group unwinds through the whole group.
        let unwind = |name: &str| task(&m.states, name).catch[0].next.clone();
        assert_eq!(unwind("a"), "Compensated");
        assert_eq!(unwind("d"), "If c completed");
        assert_eq!(unwind("Resolve d"), "If c completed");
        assert_eq!(unwind("e"), "Compensate d");
        let next = |name: &str| task(&m.states, name).next.clone();
        assert_eq!(next("Compensate d").as_deref(), Some("If c completed"));
        assert_eq!(next("Compensate c").as_deref(), Some("If b completed"));
        assert_eq!(next("Compensate b").as_deref(), Some("Compensate a"));
        assert_eq!(next("Compensate a").as_deref(), Some("Compensated"));
        for (test, failed, undo, after) in [
            ("If c completed", "c", "Compensate c", "If b completed"),
            ("If b completed", "b", "Compensate b", "Compensate a"),
        ] {
            let test = choice(&m.states, test);
            assert_eq!(test.default.as_deref(), Some(undo));
            assert_eq!(test.choices.len(), 1);
            assert_eq!(
                test.choices[0].variable,
                format!("$.results.join_b.{failed}.failed")
            );
            assert_eq!(test.choices[0].next, after);
        }
        assert_eq!(
            task(&m.states, "Compensate c").catch[0].next,
            "CompensationFailed"
        );

        assert!(validate(&m).is_empty());
        let parsed: StateMachine = serde_json::from_str(&m.to_json()).expect("parses");
        assert_eq!(parsed, m);
    }

    #[test]
    fn the_choice_after_a_group_decides_as_the_executor_does() {
        let m = machine(&joined());
        let error = |name: &str| json!({ "Error": "Saga.Terminal", "Cause": name });
        let state = |b: Value, c: Value| {
            json!({
                "trip": 1,
                "results": { "a": { "value": 1 }, "join_b": { "b": b, "c": c } },
            })
        };
        let ok = json!({ "value": 2 });

        // `b` failed: `c` is compensated, `b` is not, then `a`.
        let (path, end) = walk(
            &m,
            "Check join b, c",
            state(json!({ "failed": error("b") }), ok.clone()),
        );
        assert_eq!(
            path,
            [
                "Check join b, c",
                "b failed, unwind",
                "If c completed",
                "Compensate c",
                "If b completed",
                "Compensate a",
                "Compensated",
            ]
        );
        assert_eq!(end["error"], error("b"));

        // Both failed: the first one's error; nothing of the group is undone.
        let (path, end) = walk(
            &m,
            "Check join b, c",
            state(
                json!({ "failed": error("b") }),
                json!({ "failed": error("c") }),
            ),
        );
        assert_eq!(
            path,
            [
                "Check join b, c",
                "b failed, unwind",
                "If c completed",
                "If b completed",
                "Compensate a",
                "Compensated",
            ]
        );
        assert_eq!(end["error"], error("b"));

        // A stuck branch wins over a failed one, whatever their order.
        let (path, end) = walk(
            &m,
            "Check join b, c",
            state(
                json!({ "failed": error("b") }),
                json!({ "stuck": error("c") }),
            ),
        );
        assert_eq!(path, ["Check join b, c", "c is stuck", "Stuck"]);
        assert_eq!(end["error"], error("c"));

        // Both succeeded: the saga goes on.
        assert_eq!(
            choice(&m.states, "Check join b, c").default.as_deref(),
            Some("d")
        );
        // A later failure compensates every branch, in reverse order.
        let (path, _) = walk(&m, "If c completed", state(ok.clone(), ok));
        assert_eq!(
            path,
            [
                "If c completed",
                "Compensate c",
                "If b completed",
                "Compensate b",
                "Compensate a",
                "Compensated",
            ]
        );
    }

    #[test]
    fn a_retriable_group_only_checks_for_stuck_branches() {
        const RETRIABLE: &[StepDef] = &[
            A,
            StepDef {
                name: "p",
                kind: StepKind::Pivot,
                ..A
            },
            StepDef {
                name: "r1",
                kind: StepKind::Retriable,
                ..A
            },
            StepDef {
                name: "r2",
                kind: StepKind::Retriable,
                ..A
            },
            StepDef {
                name: "r3",
                kind: StepKind::Retriable,
                ..A
            },
        ];
        const AFTER_PIVOT: &[Group] = &[Group { start: 2, end: 4 }];
        let m = machine(&SagaDefinition::new("Notify", "trip", RETRIABLE).parallel(AFTER_PIVOT));
        assert_eq!(
            names(&m.states),
            [
                "a",
                "Resolve a",
                "p",
                "Resolve p",
                "Join r1, r2",
                "Check join r1, r2",
                "r1 is stuck",
                "r2 is stuck",
                "r3",
                "Done",
                "Compensate a",
                "Compensated",
                "Stuck",
                "CompensationFailed",
            ]
        );
        assert_eq!(task(&m.states, "p").next.as_deref(), Some("Join r1, r2"));
        let join = parallel(&m.states, "Join r1, r2");
        assert_eq!(names(&join.branches[0].states), ["r1", "r1 stuck"]);
        let r1 = task(&join.branches[0].states, "r1");
        assert_eq!(r1.catch.len(), 1);
        assert_eq!(r1.catch[0].next, "r1 stuck");
        let check = choice(&m.states, "Check join r1, r2");
        assert_eq!(check.choices.len(), 2);
        assert!(check.choices.iter().all(|r| r.variable.ends_with(".stuck")));
        assert_eq!(check.default.as_deref(), Some("r3"));
        assert!(validate(&m).is_empty());
    }

    #[test]
    fn a_group_can_start_and_end_the_saga() {
        const TWO: &[StepDef] = &[StepDef { name: "x", ..A }, StepDef { name: "y", ..A }];
        const BOTH: &[Group] = &[Group { start: 0, end: 2 }];
        let m = machine(&SagaDefinition::new("Pair", "trip", TWO).parallel(BOTH));
        assert_eq!(m.start_at, "Join x, y");
        assert_eq!(
            names(&m.states),
            [
                "Join x, y",
                "Check join x, y",
                "x is stuck",
                "y is stuck",
                "x failed, unwind",
                "y failed, unwind",
                "Done",
                "If y completed",
                "Compensate y",
                "If x completed",
                "Compensate x",
                "Compensated",
                "Stuck",
                "CompensationFailed",
            ]
        );
        assert_eq!(
            choice(&m.states, "Check join x, y").default.as_deref(),
            Some("Done")
        );
        assert_eq!(
            choice(&m.states, "If x completed").choices[0].next,
            "Compensated"
        );
        assert_eq!(
            task(&m.states, "Compensate x").next.as_deref(),
            Some("Compensated")
        );
    }

    #[test]
    fn a_group_key_never_takes_a_lone_steps_field() {
        const CLASH: &[StepDef] = &[
            StepDef { name: "b", ..A },
            StepDef { name: "c", ..A },
            StepDef {
                name: "join_b",
                kind: StepKind::Pivot,
                ..A
            },
        ];
        const FIRST_TWO: &[Group] = &[Group { start: 0, end: 2 }];
        let m = machine(&SagaDefinition::new("Clash", "trip", CLASH).parallel(FIRST_TWO));
        assert_eq!(
            parallel(&m.states, "Join b, c").result_path,
            Some(ResultPath::Path("$.results.join_b_".into()))
        );
        assert_eq!(
            task(&m.states, "join_b").result_path,
            Some(ResultPath::Path("$.results.join_b".into()))
        );
    }

    #[test]
    fn a_group_costs_its_slowest_branch_in_the_worst_case() {
        let needed =
            |def: &SagaDefinition| match generate(def, &AslOptions::new().timeout_seconds(1)) {
                Err(AslError::MachineTimeoutTooShort { needed, .. }) => needed,
                other => panic!("expected MachineTimeoutTooShort, got {other:?}"),
            };
        let errors = ErrorNames::new(&[], &[]);
        let one_branch: u64 = [Phase::Try, Phase::Resolve]
            .into_iter()
            .map(|phase| {
                let retry = retry::retry(&errors, phase, &A.retry);
                retry::worst_case_seconds(&retry, A.timeout_seconds)
            })
            .sum();
        // `b` and `c` are alike: together they cost one of them.
        let plain = SagaDefinition::new("Trip", "trip", STEPS);
        assert_eq!(needed(&plain) - needed(&joined()), one_branch);
    }

    #[test]
    fn without_groups_the_machine_keeps_its_canonical_shape() {
        let m = machine(&SagaDefinition::new("Trip", "trip", STEPS));
        assert_eq!(
            names(&m.states),
            [
                "a",
                "Resolve a",
                "b",
                "Resolve b",
                "c",
                "Resolve c",
                "d",
                "Resolve d",
                "e",
                "Resolve e",
                "Done",
                "Compensate d",
                "Compensate c",
                "Compensate b",
                "Compensate a",
                "Compensated",
                "Stuck",
                "CompensationFailed",
            ]
        );
        for (name, state) in m.states.iter() {
            assert!(
                matches!(state, State::Task(_) | State::Succeed(_) | State::Fail(_)),
                "{name}"
            );
        }
        let d = task(&m.states, "d");
        assert_eq!(d.parameters["Payload"]["room.$"], "$.results.b.value");
        assert_eq!(d.result_path, Some(ResultPath::Path("$.results.d".into())));
        assert_eq!(d.next.as_deref(), Some("e"));
        assert_eq!(d.catch[0].next, "Compensate c");
    }
}
