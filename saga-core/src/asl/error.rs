//! What can stop a saga from becoming a state machine.

use std::fmt;

use crate::context::Direction;
use crate::invoke::{ConfigProblem, RemoteKind};

/// Why no state machine was generated. Nothing partial is ever returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AslError {
    /// A step or compensation is bound to something Step Functions cannot
    /// call through `arn:aws:states:::lambda:invoke`.
    #[error(
        "the {} of step `{step}` is bound to {kind:?}, which a state machine cannot invoke through lambda:invoke; bind it to a Lambda function or name it with AslOptions::function",
        direction_label(*direction)
    )]
    NotLambda {
        /// The step.
        step: &'static str,
        /// The step itself or its compensation.
        direction: Direction,
        /// What it is bound to.
        kind: RemoteKind,
    },
    /// The saga's input parameter has a name the state machine uses for its own data.
    #[error(
        "saga `{saga}`: the input parameter `{name}` collides with the state machine's `$.{name}`; rename the parameter"
    )]
    ReservedInputName {
        /// The saga.
        saga: &'static str,
        /// The input parameter's name.
        name: &'static str,
    },
    /// The machine-level timeout would strike before the retries and
    /// compensations could finish; it cannot be caught, so nothing would be undone.
    #[error(
        "machine TimeoutSeconds {given} is below the worst case of {needed} s (every attempt timing out, every retry waiting its longest, then every compensation); raise it to at least {needed}"
    )]
    MachineTimeoutTooShort {
        /// The requested timeout.
        given: u32,
        /// The worst case.
        needed: u64,
    },
    /// The bindings cannot work (see [`ConfigProblem`]).
    #[error("the bindings cannot work: {}", join(problems))]
    Config {
        /// Every problem.
        problems: Vec<ConfigProblem>,
    },
    /// The generated machine breaks a rule the ASL validators miss.
    #[error("the generated state machine breaks ASL rules: {}", join(problems))]
    Invalid {
        /// Every violation.
        problems: Vec<AslProblem>,
    },
}

fn direction_label(direction: Direction) -> &'static str {
    match direction {
        Direction::Forward => "forward call",
        Direction::Compensation => "compensation",
    }
}

fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One violation of an ASL rule, found by [`validate`](super::validate).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AslProblem {
    /// `StartAt` names no state.
    #[error("StartAt `{0}` names no state")]
    MissingStart(String),
    /// Two states share a name.
    #[error("state name `{0}` is used twice")]
    DuplicateName(String),
    /// A state name is longer than 80 characters.
    #[error("state name `{0}` is longer than 80 characters")]
    NameTooLong(String),
    /// A `Next` names no state.
    #[error("state `{from}` goes to `{to}`, which does not exist")]
    DanglingNext {
        /// The state.
        from: String,
        /// The missing target.
        to: String,
    },
    /// No path from `StartAt` leads to a state.
    #[error("state `{0}` is unreachable")]
    Unreachable(String),
    /// A Task neither continues nor ends, or does both.
    #[error("state `{0}` must have exactly one of Next and End")]
    NextXorEnd(String),
    /// `States.ALL` is not alone in, or not the last of, a Retry or Catch list.
    #[error("state `{state}`: States.ALL must be alone and last in its {field}")]
    StatesAllPlacement {
        /// The state.
        state: String,
        /// `Retry` or `Catch`.
        field: &'static str,
    },
    /// A retrier or catcher with no error names.
    #[error("state `{state}`: a {field} entry has an empty ErrorEquals")]
    EmptyErrorEquals {
        /// The state.
        state: String,
        /// `Retry` or `Catch`.
        field: &'static str,
    },
    /// `BackoffRate` below 1, or not a finite number.
    #[error("state `{state}`: BackoffRate {rate} must be a finite number of at least 1.0")]
    BackoffRate {
        /// The state.
        state: String,
        /// The rate.
        rate: f64,
    },
    /// `IntervalSeconds`, `MaxDelaySeconds` or `TimeoutSeconds` below 1.
    #[error("state `{state}`: {field} must be at least 1")]
    BelowOne {
        /// The state.
        state: String,
        /// The field.
        field: &'static str,
    },
    /// A number above the largest value Step Functions accepts for its field.
    #[error("{state}: {field} {value} is above the largest value Step Functions accepts, {max}")]
    AboveMax {
        /// The state, or `the machine` for the machine-level timeout.
        state: String,
        /// The field.
        field: &'static str,
        /// The value.
        value: u64,
        /// The largest allowed value.
        max: u64,
    },
    /// `HeartbeatSeconds` not below `TimeoutSeconds`.
    #[error("state `{state}`: HeartbeatSeconds {heartbeat} must be below TimeoutSeconds {timeout}")]
    Heartbeat {
        /// The state.
        state: String,
        /// HeartbeatSeconds.
        heartbeat: u32,
        /// TimeoutSeconds.
        timeout: u32,
    },
    /// A Fail state raises a reserved `States.*` name.
    #[error("Fail state `{state}` raises the reserved name `{error}`")]
    ReservedError {
        /// The state.
        state: String,
        /// The name.
        error: String,
    },
}
