//! Rules of ASL that the validators miss, checked on the model: `States.ALL`
//! alone and last, a finite `BackoffRate >= 1`, `MaxDelaySeconds >= 1`, `HeartbeatSeconds < TimeoutSeconds`,
//! the largest values Step Functions accepts, names of at most 80 characters
//! that are unique in the whole machine (branches included), resolvable
//! `Next`s, reachability, and no reserved `States.*` name raised by a Fail.
//!
//! The machine and each `Parallel` branch are scopes of their own: a `Next`
//! must name a state of the same scope, and every state of a scope must be
//! reachable from the scope's `StartAt`.

use std::collections::{HashMap, HashSet};

use super::error::AslProblem;
use super::model::{Retrier, State, StateMachine, States};

/// The longest state name ASL allows.
pub const MAX_NAME_LEN: usize = 80;
/// The wildcard error name.
pub const STATES_ALL: &str = "States.ALL";
/// The largest `MaxAttempts`, `IntervalSeconds` and `TimeoutSeconds` Step
/// Functions accepts.
pub const MAX_COUNT: u64 = 99_999_999;
/// The largest `MaxDelaySeconds` Step Functions accepts (366 days).
pub const MAX_DELAY_SECONDS: u64 = 31_622_400;
/// The longest a Standard workflow execution may run: one year.
pub const MAX_EXECUTION_SECONDS: u64 = 31_536_000;

/// Reports `value` above `max`.
fn at_most(state: &str, field: &'static str, value: u64, max: u64, problems: &mut Vec<AslProblem>) {
    if value > max {
        problems.push(AslProblem::AboveMax {
            state: state.to_owned(),
            field,
            value,
            max,
        });
    }
}

/// Every rule `machine` breaks; empty when it is sound.
pub fn validate(machine: &StateMachine) -> Vec<AslProblem> {
    let mut problems = Vec::new();
    check_names(&machine.states, &mut HashSet::new(), &mut problems);
    check_transitions(&machine.states, &mut problems);
    if let Some(timeout) = machine.timeout_seconds {
        let field = "TimeoutSeconds (a Standard execution lasts at most a year)";
        let value = u64::from(timeout);
        at_most(
            "the machine",
            field,
            value,
            MAX_EXECUTION_SECONDS,
            &mut problems,
        );
    }
    check_reachability(&machine.start_at, &machine.states, &mut problems);
    problems
}

/// Names of at most 80 characters, each used once in the whole machine:
/// Step Functions requires unique names across branches too.
fn check_names<'a>(
    states: &'a States,
    seen: &mut HashSet<&'a str>,
    problems: &mut Vec<AslProblem>,
) {
    for (name, state) in states.iter() {
        if !seen.insert(name) {
            problems.push(AslProblem::DuplicateName(name.to_owned()));
        }
        if name.chars().count() > MAX_NAME_LEN {
            problems.push(AslProblem::NameTooLong(name.to_owned()));
        }
        for branch in state.branches() {
            check_names(&branch.states, seen, problems);
        }
    }
}

/// Each state's own rules, and `Next`s that stay inside their scope.
fn check_transitions(states: &States, problems: &mut Vec<AslProblem>) {
    for (name, state) in states.iter() {
        check_state(name, state, problems);
        for to in state.successors() {
            if states.get(to).is_none() {
                problems.push(AslProblem::DanglingNext {
                    from: name.to_owned(),
                    to: to.to_owned(),
                });
            }
        }
        for branch in state.branches() {
            check_transitions(&branch.states, problems);
        }
    }
}

/// A `StartAt` that names a state of its scope, from which every state of
/// the scope is reachable.
fn check_reachability(start_at: &str, states: &States, problems: &mut Vec<AslProblem>) {
    if states.get(start_at).is_none() {
        problems.push(AslProblem::MissingStart(start_at.to_owned()));
    } else {
        let reached = reachable(start_at, states);
        for (name, _) in states.iter() {
            if !reached.contains(name) {
                problems.push(AslProblem::Unreachable(name.to_owned()));
            }
        }
    }
    for (_, state) in states.iter() {
        for branch in state.branches() {
            check_reachability(&branch.start_at, &branch.states, problems);
        }
    }
}

fn check_state(name: &str, state: &State, problems: &mut Vec<AslProblem>) {
    let state_name = || name.to_owned();
    match state {
        State::Task(task) => {
            if task.next.is_some() == (task.end == Some(true)) {
                problems.push(AslProblem::NextXorEnd(state_name()));
            }
            if task.timeout_seconds < 1 {
                problems.push(AslProblem::BelowOne {
                    state: state_name(),
                    field: "TimeoutSeconds",
                });
            }
            let state = format!("state `{name}`");
            at_most(
                &state,
                "TimeoutSeconds",
                task.timeout_seconds.into(),
                MAX_COUNT,
                problems,
            );
            if let Some(heartbeat) = task.heartbeat_seconds
                && heartbeat >= task.timeout_seconds
            {
                problems.push(AslProblem::Heartbeat {
                    state: state_name(),
                    heartbeat,
                    timeout: task.timeout_seconds,
                });
            }
            let retry_lists = task.retry.iter().map(|r| r.error_equals.as_slice());
            check_error_lists(name, "Retry", retry_lists, problems);
            let catch_lists = task.catch.iter().map(|c| c.error_equals.as_slice());
            check_error_lists(name, "Catch", catch_lists, problems);
            check_retriers(name, &task.retry, problems);
        }
        State::Parallel(parallel) => {
            if parallel.next.is_some() == (parallel.end == Some(true)) {
                problems.push(AslProblem::NextXorEnd(state_name()));
            }
            let retry_lists = parallel.retry.iter().map(|r| r.error_equals.as_slice());
            check_error_lists(name, "Retry", retry_lists, problems);
            let catch_lists = parallel.catch.iter().map(|c| c.error_equals.as_slice());
            check_error_lists(name, "Catch", catch_lists, problems);
            check_retriers(name, &parallel.retry, problems);
        }
        State::Pass(pass) => {
            if pass.next.is_some() == (pass.end == Some(true)) {
                problems.push(AslProblem::NextXorEnd(state_name()));
            }
        }
        State::Fail(fail) => {
            if let Some(error) = fail.error.as_deref().filter(|e| e.starts_with("States.")) {
                problems.push(AslProblem::ReservedError {
                    state: state_name(),
                    error: error.to_owned(),
                });
            }
        }
        State::Succeed(_) | State::Choice(_) => {}
    }
}

/// The values of each retrier: a finite rate of at least 1, waits of at
/// least 1 s, and nothing above what Step Functions accepts.
fn check_retriers(name: &str, retry: &[Retrier], problems: &mut Vec<AslProblem>) {
    let state_name = || name.to_owned();
    let state = format!("state `{name}`");
    for retrier in retry {
        // An infinite rate would serialise as `null`.
        if let Some(rate) = retrier.backoff_rate
            && !(rate.is_finite() && rate >= 1.0)
        {
            problems.push(AslProblem::BackoffRate {
                state: state_name(),
                rate,
            });
        }
        if retrier.interval_seconds == Some(0) {
            problems.push(AslProblem::BelowOne {
                state: state_name(),
                field: "IntervalSeconds",
            });
        }
        if retrier.max_delay_seconds == Some(0) {
            problems.push(AslProblem::BelowOne {
                state: state_name(),
                field: "MaxDelaySeconds",
            });
        }
        let attempts = u64::from(retrier.max_attempts);
        at_most(&state, "MaxAttempts", attempts, MAX_COUNT, problems);
        if let Some(interval) = retrier.interval_seconds {
            at_most(
                &state,
                "IntervalSeconds",
                interval.into(),
                MAX_COUNT,
                problems,
            );
        }
        if let Some(delay) = retrier.max_delay_seconds {
            at_most(
                &state,
                "MaxDelaySeconds",
                delay.into(),
                MAX_DELAY_SECONDS,
                problems,
            );
        }
    }
}

fn check_error_lists<'a>(
    state: &str,
    field: &'static str,
    lists: impl ExactSizeIterator<Item = &'a [String]>,
    problems: &mut Vec<AslProblem>,
) {
    let last = lists.len().saturating_sub(1);
    for (i, names) in lists.enumerate() {
        if names.is_empty() {
            problems.push(AslProblem::EmptyErrorEquals {
                state: state.to_owned(),
                field,
            });
        }
        let has_all = names.iter().any(|n| n == STATES_ALL);
        if has_all && (names.len() > 1 || i != last) {
            problems.push(AslProblem::StatesAllPlacement {
                state: state.to_owned(),
                field,
            });
        }
    }
}

fn reachable<'a>(start_at: &'a str, states: &'a States) -> HashSet<&'a str> {
    let by_name: HashMap<&str, &State> = states.iter().collect();
    let mut reached = HashSet::new();
    let mut todo = vec![start_at];
    while let Some(name) = todo.pop() {
        if !reached.insert(name) {
            continue;
        }
        if let Some(state) = by_name.get(name) {
            todo.extend(state.successors());
        }
    }
    reached
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asl::model::{Branch, Choice, ChoiceRule, Parallel, Pass, Succeed};

    fn pass_to(next: &str) -> State {
        State::Pass(Pass {
            next: Some(next.to_owned()),
            ..Pass::default()
        })
    }

    fn pass_end() -> State {
        State::Pass(Pass {
            end: Some(true),
            ..Pass::default()
        })
    }

    fn branch(start_at: &str, states: Vec<(&str, State)>) -> Branch {
        Branch {
            comment: None,
            start_at: start_at.to_owned(),
            states: States(
                states
                    .into_iter()
                    .map(|(name, state)| (name.to_owned(), state))
                    .collect(),
            ),
        }
    }

    /// A Parallel state with two branches, then a Choice.
    fn machine(one: Branch, two: Branch) -> StateMachine {
        StateMachine {
            comment: None,
            start_at: "Fork".to_owned(),
            timeout_seconds: None,
            states: States(vec![
                (
                    "Fork".to_owned(),
                    State::Parallel(Parallel {
                        comment: None,
                        branches: vec![one, two],
                        result_selector: None,
                        result_path: None,
                        retry: Vec::new(),
                        catch: Vec::new(),
                        next: Some("Decide".to_owned()),
                        end: None,
                    }),
                ),
                (
                    "Decide".to_owned(),
                    State::Choice(Choice {
                        comment: None,
                        choices: vec![ChoiceRule {
                            variable: "$.x".to_owned(),
                            is_present: true,
                            next: "Done".to_owned(),
                        }],
                        default: Some("Done".to_owned()),
                    }),
                ),
                ("Done".to_owned(), State::Succeed(Succeed::default())),
            ]),
        }
    }

    #[test]
    fn branches_are_scopes_of_their_own() {
        let sound = machine(
            branch(
                "One",
                vec![("One", pass_to("One end")), ("One end", pass_end())],
            ),
            branch("Two", vec![("Two", pass_end())]),
        );
        assert_eq!(validate(&sound), Vec::new());

        let broken = machine(
            branch(
                "One",
                vec![
                    // Out of the branch, into the main chain.
                    ("One", pass_to("Done")),
                    ("Orphan", pass_end()),
                    // Both Next and End.
                    (
                        "Both",
                        State::Pass(Pass {
                            next: Some("One".to_owned()),
                            end: Some(true),
                            ..Pass::default()
                        }),
                    ),
                ],
            ),
            // A name the main chain uses, and a start that is not there.
            branch("Nowhere", vec![("Decide", pass_end())]),
        );
        let problems = validate(&broken);
        for expected in [
            AslProblem::DanglingNext {
                from: "One".into(),
                to: "Done".into(),
            },
            AslProblem::Unreachable("Orphan".into()),
            AslProblem::Unreachable("Both".into()),
            AslProblem::NextXorEnd("Both".into()),
            AslProblem::DuplicateName("Decide".into()),
            AslProblem::MissingStart("Nowhere".into()),
        ] {
            assert!(
                problems.contains(&expected),
                "missing {expected:?} in {problems:#?}"
            );
        }
    }

    #[test]
    fn a_choice_must_lead_to_states_of_its_scope() {
        let mut m = machine(
            branch("One", vec![("One", pass_end())]),
            branch("Two", vec![("Two", pass_end())]),
        );
        if let Some((_, State::Choice(choice))) = m.states.0.get_mut(1) {
            choice.choices[0].next = "One".to_owned();
            choice.default = Some("Missing".to_owned());
        }
        let problems = validate(&m);
        for to in ["One", "Missing"] {
            let expected = AslProblem::DanglingNext {
                from: "Decide".into(),
                to: to.into(),
            };
            assert!(
                problems.contains(&expected),
                "missing {expected:?} in {problems:#?}"
            );
        }
        // "Done" is now reached by nothing.
        assert!(problems.contains(&AslProblem::Unreachable("Done".into())));
    }
}
