//! Rules of ASL that the validators miss, checked on the model: `States.ALL`
//! alone and last, a finite `BackoffRate >= 1`, `MaxDelaySeconds >= 1`, `HeartbeatSeconds < TimeoutSeconds`,
//! the largest values Step Functions accepts, unique names of at most 80
//! characters, resolvable `Next`s, reachability, and no reserved `States.*`
//! name raised by a Fail.

use std::collections::{HashMap, HashSet};

use super::error::AslProblem;
use super::model::{State, StateMachine};

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
    let mut seen = HashSet::new();
    for (name, _) in machine.states.iter() {
        if !seen.insert(name) {
            problems.push(AslProblem::DuplicateName(name.to_owned()));
        }
        if name.chars().count() > MAX_NAME_LEN {
            problems.push(AslProblem::NameTooLong(name.to_owned()));
        }
    }
    for (name, state) in machine.states.iter() {
        check_state(name, state, &mut problems);
        for to in state.successors() {
            if machine.states.get(to).is_none() {
                problems.push(AslProblem::DanglingNext {
                    from: name.to_owned(),
                    to: to.to_owned(),
                });
            }
        }
    }
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
    if machine.states.get(&machine.start_at).is_none() {
        problems.push(AslProblem::MissingStart(machine.start_at.clone()));
    } else {
        let reached = reachable(machine);
        for (name, _) in machine.states.iter() {
            if !reached.contains(name) {
                problems.push(AslProblem::Unreachable(name.to_owned()));
            }
        }
    }
    problems
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
            for retrier in &task.retry {
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
        State::Fail(fail) => {
            if let Some(error) = fail.error.as_deref().filter(|e| e.starts_with("States.")) {
                problems.push(AslProblem::ReservedError {
                    state: state_name(),
                    error: error.to_owned(),
                });
            }
        }
        State::Succeed(_) => {}
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

fn reachable(machine: &StateMachine) -> HashSet<&str> {
    let by_name: HashMap<&str, &State> = machine.states.iter().collect();
    let mut reached = HashSet::new();
    let mut todo = vec![machine.start_at.as_str()];
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
