//! The binding table: which remote function runs each step and each
//! compensation, and the checks that run before a saga starts.

use std::collections::HashMap;
use std::fmt;

use super::{InvocationType, Remote};
use crate::context::Direction;
use crate::definition::{ArgSource, SagaDefinition};
use crate::step::StepKind;

/// Remote bindings by step name. A step or compensation without one runs its
/// in-process body.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    forward: HashMap<String, Remote>,
    compensation: HashMap<String, Remote>,
}

/// One reason a saga's bindings cannot work, found before any step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// A step declared without a body has no remote binding.
    Unbound {
        /// The step.
        step: &'static str,
    },
    /// An `Event` binding on a step that is not retriable, or whose output
    /// another step or the result needs.
    EventNeedsNoResult {
        /// The step.
        step: &'static str,
        /// Why the result is needed.
        why: &'static str,
    },
    /// An `Event` binding on a compensation, whose success must be known.
    EventCompensation {
        /// The step.
        step: &'static str,
    },
    /// A compensation binding on a pivot or retriable step, which is never
    /// compensated: the binding would silently never be used.
    NotCompensatable {
        /// The step.
        step: &'static str,
    },
    /// A target its invoker cannot call, e.g. an HTTP URL that does not parse.
    InvalidTarget {
        /// The step.
        step: &'static str,
        /// Forward step or compensation.
        direction: Direction,
        /// The target as bound.
        target: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigProblem::Unbound { step } => {
                write!(f, "step `{step}` has no body and no remote binding")
            }
            ConfigProblem::EventNeedsNoResult { step, why } => {
                write!(
                    f,
                    "step `{step}` is bound with InvocationType::Event, but {why}"
                )
            }
            ConfigProblem::EventCompensation { step } => write!(
                f,
                "the compensation of `{step}` is bound with InvocationType::Event: compensations are invoked synchronously"
            ),
            ConfigProblem::NotCompensatable { step } => write!(
                f,
                "a compensation of `{step}` is bound, but `{step}` is a pivot or retriable step and is never compensated"
            ),
            ConfigProblem::InvalidTarget {
                step,
                direction,
                target,
                reason,
            } => {
                let what = match direction {
                    Direction::Forward => "step",
                    Direction::Compensation => "compensation of",
                };
                write!(f, "the {what} `{step}` is bound to `{target}`: {reason}")
            }
        }
    }
}

impl Bindings {
    /// Binds the forward step `step` to `remote`.
    pub fn bind(&mut self, step: &str, remote: Remote) {
        self.forward.insert(step.to_owned(), remote);
    }

    /// Binds the compensation of `step` to `remote`.
    pub fn bind_compensation(&mut self, step: &str, remote: Remote) {
        self.compensation.insert(step.to_owned(), remote);
    }

    /// The binding of `step` in `direction`, if any.
    pub fn get(&self, step: &str, direction: Direction) -> Option<&Remote> {
        match direction {
            Direction::Forward => self.forward.get(step),
            Direction::Compensation => self.compensation.get(step),
        }
    }

    /// Every problem that would stop `def` from running under these bindings.
    pub fn check(&self, def: &SagaDefinition) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        for (k, step) in def.steps.iter().enumerate() {
            let forward = self.forward.get(step.name);
            for (direction, remote) in [
                (Direction::Forward, forward),
                (Direction::Compensation, self.compensation.get(step.name)),
            ] {
                if let Some(Err(reason)) = remote.map(|r| r.invoker.validate(&r.target)) {
                    problems.push(ConfigProblem::InvalidTarget {
                        step: step.name,
                        direction,
                        target: remote.map(|r| r.target.name.clone()).unwrap_or_default(),
                        reason,
                    });
                }
            }
            if forward.is_none() && !step.has_body {
                problems.push(ConfigProblem::Unbound { step: step.name });
            }
            if forward.is_some_and(|r| r.target.invocation == InvocationType::Event) {
                let consumed = def.edges().any(|(src, _)| src == ArgSource::Step(k));
                let why = if step.kind != StepKind::Retriable {
                    Some("only retriable steps may be fire-and-forget")
                } else if consumed {
                    Some("a later step uses its output")
                } else if step.output_named {
                    Some("the saga names its output (`let x = ...`): call it as a statement")
                } else if !(step.output_accepts_null)() {
                    Some("its output type cannot be read from JSON `null`: make it `()`")
                } else {
                    None
                };
                if let Some(why) = why {
                    problems.push(ConfigProblem::EventNeedsNoResult {
                        step: step.name,
                        why,
                    });
                }
            }
            if let Some(remote) = self.compensation.get(step.name) {
                if step.kind != StepKind::Compensatable {
                    problems.push(ConfigProblem::NotCompensatable { step: step.name });
                } else if remote.target.invocation == InvocationType::Event {
                    problems.push(ConfigProblem::EventCompensation { step: step.name });
                }
            }
        }
        problems
    }

    /// Every remote binding of `def`, with its step label (for the preflight).
    pub fn remotes<'a>(
        &'a self,
        def: &'a SagaDefinition,
    ) -> impl Iterator<Item = (String, &'a Remote)> + 'a {
        def.steps.iter().flat_map(move |s| {
            let f = self.forward.get(s.name).map(|r| (s.name.to_owned(), r));
            let c = self
                .compensation
                .get(s.name)
                .map(|r| (format!("{} (compensation)", s.name), r));
            f.into_iter().chain(c)
        })
    }
}
