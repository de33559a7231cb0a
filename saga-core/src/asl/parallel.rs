//! A parallel group (`join!`) is one `Parallel` state with a branch per step.
//! A branch runs its step's Tasks exactly as a lone step would, but never
//! fails: it ends with `{"value": <output>}`, `{"failed": <error>}` (the step
//! failed for good and changed nothing) or `{"stuck": <error>}`. The outputs
//! are kept at `$.results.<group key>.<step>`, and a Choice then decides as
//! the executor does: any stuck branch leaves the saga stuck with the first
//! stuck branch's error; otherwise the first failed branch starts the unwind,
//! which compensates the group's other branches in reverse order (skipping
//! those that failed), then the steps before the group.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::context::Direction;
use crate::definition::{Group, SagaDefinition};
use crate::step::StepKind;

use super::error::AslError;
use super::model::{Branch, Choice, ChoiceRule, Parallel, Pass, ResultPath, State, States};
use super::names::StateNamer;
use super::retry::{self, Exits};
use super::task::{RESULTS, Success, Tasks, phases};

/// The prefix of a group's field in `$.results`, before its first step's name.
const GROUP_KEY_PREFIX: &str = "join_";

/// A state with its name, as [`States`] keeps it.
pub(super) type NamedState = (String, State);

/// The names of one parallel group's own states and of its field in
/// `$.results`.
pub(super) struct GroupNames {
    group: Group,
    /// The field of `$.results` that keeps the branches' outputs.
    key: String,
    /// The `Parallel` state.
    pub(super) parallel: String,
    /// The Choice that reads the branches' outcomes.
    check: String,
    /// One per branch, in step order.
    branches: Vec<BranchNames>,
}

/// The names of the states one branch of a group needs.
pub(super) struct BranchNames {
    /// In the branch: the step failed for good (compensatable steps only).
    failed: Option<String>,
    /// In the branch: the step is stuck.
    stuck: String,
    /// In the main chain: the branch was stuck; its error goes to `$.error`.
    is_stuck: String,
    /// In the main chain: the branch failed; its error goes to `$.error` and
    /// the unwind starts (compensatable steps only).
    unwind: Option<String>,
    /// In the main chain: the test that compensates the branch unless it
    /// failed (compensatable steps only).
    undo_if: Option<String>,
}

impl GroupNames {
    pub(super) fn new(
        def: &SagaDefinition,
        group: Group,
        namer: &mut StateNamer,
        result_keys: &mut HashSet<String>,
    ) -> Self {
        let steps = &def.steps[group.steps()];
        let first = steps.first().map_or("", |s| s.name);
        // A lone step's output is kept at `$.results.<step>`: stay clear of
        // those fields, and of the other groups'.
        let mut key = format!("{GROUP_KEY_PREFIX}{first}");
        while !result_keys.insert(key.clone()) {
            key.push('_');
        }
        let list = steps.iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
        let parallel = namer.name(&format!("Join {list}"));
        let check = namer.name(&format!("Check join {list}"));
        let branches: Vec<BranchNames> = steps
            .iter()
            .map(|s| {
                let undone = s.kind == StepKind::Compensatable;
                BranchNames {
                    failed: undone.then(|| namer.name(&format!("{} failed", s.name))),
                    stuck: namer.name(&format!("{} stuck", s.name)),
                    is_stuck: namer.name(&format!("{} is stuck", s.name)),
                    unwind: undone.then(|| namer.name(&format!("{} failed, unwind", s.name))),
                    undo_if: undone.then(|| namer.name(&format!("If {} completed", s.name))),
                }
            })
            .collect();
        GroupNames {
            group,
            key,
            parallel,
            check,
            branches,
        }
    }

    /// The first state of the unwind that undoes the group: the test of its
    /// last branch.
    pub(super) fn unwind_head(&self) -> Option<&str> {
        self.branches.last().and_then(|b| b.undo_if.as_deref())
    }

    /// The test that compensates branch `k` (with compensation state
    /// `compensation`) unless it is the branch that failed, and where the
    /// unwind goes after the branch: the test of the branch before it, or
    /// `before`, the unwind of the steps before the group. `None` for a
    /// branch that is never compensated.
    pub(super) fn undo_test<'a>(
        &'a self,
        def: &SagaDefinition,
        k: usize,
        compensation: &str,
        before: &'a str,
    ) -> Option<(NamedState, &'a str)> {
        let i = k - self.group.start;
        let test = self.branches[i].undo_if.as_deref()?;
        let next = i
            .checked_sub(1)
            .and_then(|j| self.branches[j].undo_if.as_deref())
            .unwrap_or(before);
        let state = State::Choice(Choice {
            comment: Some(format!(
                "Compensates `{}` unless it is the branch that failed: a failed step changed nothing.",
                def.steps[k].name
            )),
            choices: vec![ChoiceRule {
                variable: self.path(def, k, "failed"),
                is_present: true,
                next: next.to_owned(),
            }],
            default: Some(compensation.to_owned()),
        });
        Some(((test.to_owned(), state), next))
    }

    /// The path of `field` (`value`, `failed` or `stuck`) of step `k`'s branch.
    pub(super) fn path(&self, def: &SagaDefinition, k: usize, field: &str) -> String {
        format!("$.{RESULTS}.{}.{}.{field}", self.key, def.steps[k].name)
    }
}

/// The main-chain states of a parallel group: the `Parallel` state, the
/// Choice on its outcome and the states that copy a branch's error to
/// `$.error`; and the longest the group can take, that of its slowest
/// branch.
pub(super) fn group_forward(
    tasks: &Tasks<'_>,
    group: &GroupNames,
    forward_names: &[String],
    resolve_names: &[Option<String>],
    stuck: &str,
    next: &str,
) -> Result<(Vec<NamedState>, u64), AslError> {
    let def = tasks.def;
    let steps = group.group.steps();
    let list = def.steps[steps.clone()]
        .iter()
        .map(|s| format!("`{}`", s.name))
        .collect::<Vec<_>>()
        .join(", ");
    let mut branches = Vec::new();
    let mut longest = 0u64;
    for (k, names) in steps.clone().zip(&group.branches) {
        let step = &def.steps[k];
        let function = tasks.options.function_of(step.name, Direction::Forward)?;
        let exits = Exits {
            unwind: names.failed.as_deref().unwrap_or(names.stuck.as_str()),
            resolve: resolve_names[k].as_deref(),
            stuck: &names.stuck,
        };
        let mut states = Vec::new();
        let mut seconds = 0u64;
        for (name, phase) in phases(&forward_names[k], resolve_names[k].as_deref()) {
            let (task, worst) = tasks.forward(k, &function, phase, &exits, Success::EndBranch);
            seconds = seconds.saturating_add(worst);
            states.push((name.to_owned(), State::Task(task)));
        }
        if let Some(failed) = &names.failed {
            let comment = format!("`{}` failed for good and changed nothing.", step.name);
            states.push((failed.clone(), branch_end("failed", comment)));
        }
        let comment = format!(
            "`{}` is stuck: its outcome stayed unknown, or it ran out of retries.",
            step.name
        );
        states.push((names.stuck.clone(), branch_end("stuck", comment)));
        longest = longest.max(seconds);
        branches.push(Branch {
            comment: None,
            start_at: forward_names[k].clone(),
            states: States(states),
        });
    }

    let selector: Map<String, Value> = steps
        .clone()
        .enumerate()
        .map(|(i, k)| {
            let name = def.steps[k].name;
            (format!("{name}.$"), Value::String(format!("$[{i}]")))
        })
        .collect();
    let undone = group.unwind_head().is_some();
    let ends = if undone {
        "the step's `value`, the error that `failed` it (it changed nothing) or the one that left it `stuck`"
    } else {
        "the step's `value` or the error that left it `stuck`"
    };
    let mut out = vec![(
        group.parallel.clone(),
        State::Parallel(Parallel {
            comment: Some(format!(
                "Steps {list} run concurrently. Each branch ends with {ends}."
            )),
            branches,
            result_selector: Some(Value::Object(selector)),
            result_path: Some(ResultPath::Path(format!("$.{RESULTS}.{}", group.key))),
            retry: Vec::new(),
            catch: Vec::new(),
            next: Some(group.check.clone()),
            end: None,
        }),
    )];

    // Every stuck test before any failed test: one stuck branch leaves the
    // saga stuck, whatever the others did.
    let stuck_tests = steps
        .clone()
        .zip(&group.branches)
        .map(|(k, names)| ChoiceRule {
            variable: group.path(def, k, "stuck"),
            is_present: true,
            next: names.is_stuck.clone(),
        });
    let failed_tests = steps.clone().zip(&group.branches).filter_map(|(k, names)| {
        Some(ChoiceRule {
            variable: group.path(def, k, "failed"),
            is_present: true,
            next: names.unwind.clone()?,
        })
    });
    out.push((
        group.check.clone(),
        State::Choice(Choice {
            comment: Some(if undone {
                format!(
                    "After {list}: the first stuck branch leaves the saga stuck; otherwise the first failed branch starts the unwind; otherwise the saga goes on."
                )
            } else {
                format!(
                    "After {list}: the first stuck branch leaves the saga stuck; otherwise the saga goes on."
                )
            }),
            choices: stuck_tests.chain(failed_tests).collect(),
            default: Some(next.to_owned()),
        }),
    ));
    for (k, names) in steps.clone().zip(&group.branches) {
        let comment = format!("`{}` is stuck; nothing is compensated.", def.steps[k].name);
        out.push((
            names.is_stuck.clone(),
            copy_error(group.path(def, k, "stuck"), stuck, comment),
        ));
    }
    for (k, names) in steps.zip(&group.branches) {
        if let (Some(unwind), Some(head)) = (&names.unwind, group.unwind_head()) {
            let comment = format!(
                "`{}` failed: the group's completed branches, then the steps before it, are compensated.",
                def.steps[k].name
            );
            out.push((
                unwind.clone(),
                copy_error(group.path(def, k, "failed"), head, comment),
            ));
        }
    }
    Ok((out, longest))
}

/// A branch's last state after an error: `{"<field>": <the caught error>}`.
fn branch_end(field: &str, comment: String) -> State {
    let mut parameters = Map::new();
    parameters.insert(
        format!("{field}.$"),
        Value::String(retry::ERROR_PATH.to_owned()),
    );
    State::Pass(Pass {
        comment: Some(comment),
        input_path: None,
        parameters: Some(Value::Object(parameters)),
        result_path: None,
        next: None,
        end: Some(true),
    })
}

/// Puts the error at `from` where the final Fail states read it, `$.error`,
/// and goes on to `next`.
fn copy_error(from: String, next: &str, comment: String) -> State {
    State::Pass(Pass {
        comment: Some(comment),
        input_path: Some(from),
        parameters: None,
        result_path: Some(ResultPath::Path(retry::ERROR_PATH.to_owned())),
        next: Some(next.to_owned()),
        end: None,
    })
}
