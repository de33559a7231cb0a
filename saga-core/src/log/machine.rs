//! The saga log as a transition function: every event is checked against the
//! saga's current state, and illegal transitions are rejected.

use serde::{Deserialize, Serialize};

use super::event::SagaEvent;
use crate::step::StepKind;

/// Where a saga is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaStatus {
    /// Running steps forward.
    Running,
    /// Running compensations.
    Compensating,
    /// Finished: every step succeeded.
    Completed,
    /// Finished: a step failed and the completed steps were compensated.
    Compensated,
    /// Waiting for an operator.
    Stuck,
    /// Given up by an operator, with a recorded reason.
    Abandoned,
}

impl SagaStatus {
    /// Every status.
    pub const ALL: [SagaStatus; 6] = [
        SagaStatus::Running,
        SagaStatus::Compensating,
        SagaStatus::Completed,
        SagaStatus::Compensated,
        SagaStatus::Stuck,
        SagaStatus::Abandoned,
    ];

    /// True for the states a saga never leaves on its own.
    pub fn is_final(self) -> bool {
        !self.is_unfinished()
    }

    /// True while the runtime still has work to do: running or compensating.
    pub fn is_unfinished(self) -> bool {
        matches!(self, SagaStatus::Running | SagaStatus::Compensating)
    }

    /// The status as stored and printed: `running`, `compensating`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            SagaStatus::Running => "running",
            SagaStatus::Compensating => "compensating",
            SagaStatus::Completed => "completed",
            SagaStatus::Compensated => "compensated",
            SagaStatus::Stuck => "stuck",
            SagaStatus::Abandoned => "abandoned",
        }
    }

    /// Parses [`SagaStatus::as_str`]'s form.
    pub fn parse(s: &str) -> Option<SagaStatus> {
        SagaStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for SagaStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StepState {
    /// Not started.
    Pending,
    /// An attempt is running.
    Running {
        /// The attempt.
        attempt: u32,
    },
    /// The last attempt failed.
    Failed {
        /// The attempt that failed.
        attempt: u32,
        /// Whether another attempt follows.
        retry: bool,
    },
    /// Succeeded; its output is in the log.
    Succeeded,
    /// An attempt of its compensation is running.
    Compensating {
        /// The attempt.
        attempt: u32,
    },
    /// The last attempt of its compensation failed.
    CompensationFailed {
        /// The attempt that failed.
        attempt: u32,
        /// Whether another attempt follows.
        retry: bool,
    },
    /// Compensated.
    Compensated,
}

/// An event that does not follow from the saga's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal transition `{event}` while the saga is {status:?}: {why}")]
pub struct IllegalTransition {
    /// The event's kind.
    pub event: &'static str,
    /// The saga's state when it arrived.
    pub status: Option<SagaStatus>,
    /// What rule it breaks.
    pub why: String,
}

/// The most steps a saga may declare; a larger count in a log is corrupt.
pub const MAX_STEPS: usize = 10_000;

/// The state of one saga, rebuilt from its events.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SagaMachine {
    status: Option<SagaStatus>,
    kinds: Vec<StepKind>,
    steps: Vec<StepState>,
    /// The step whose failure started the unwind.
    failed_step: Option<usize>,
    /// The step where the saga is stuck.
    stuck_step: Option<usize>,
    /// Whether the saga was cancelled (`cancel_requested`).
    #[serde(default)]
    cancelled: bool,
    /// The parallel groups, as `[start, end)` step ranges.
    #[serde(default)]
    groups: Vec<[usize; 2]>,
}

impl SagaMachine {
    /// The state of a saga with no events.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the state from a history, rejecting the first illegal event.
    pub fn replay<'a>(
        events: impl IntoIterator<Item = &'a SagaEvent>,
    ) -> Result<Self, IllegalTransition> {
        let mut m = Self::new();
        for e in events {
            m.apply(e)?;
        }
        Ok(m)
    }

    /// The saga's status; `None` before `Created`.
    pub fn status(&self) -> Option<SagaStatus> {
        self.status
    }

    /// The state of every step.
    pub fn steps(&self) -> &[StepState] {
        &self.steps
    }

    /// The kind of every step, as `Created` recorded them.
    pub fn kinds(&self) -> &[StepKind] {
        &self.kinds
    }

    /// The step whose failure started the unwind, once it started.
    pub fn failed_step(&self) -> Option<usize> {
        self.failed_step
    }

    /// The step where the saga is stuck, while it is.
    pub fn stuck_step(&self) -> Option<usize> {
        self.stuck_step
    }

    /// True once the saga was cancelled: no further step starts, and the
    /// next boundary begins the unwind.
    pub fn cancelled(&self) -> bool {
        self.cancelled
    }

    /// The parallel groups, as `[start, end)` step ranges.
    pub fn groups(&self) -> &[[usize; 2]] {
        &self.groups
    }

    /// The steps that start together with step `k`: its parallel group, or
    /// `k` alone.
    pub fn stage(&self, k: usize) -> std::ops::Range<usize> {
        self.groups
            .iter()
            .find(|[s, e]| *s <= k && k < *e)
            .map_or(k..k + 1, |[s, e]| *s..*e)
    }

    /// The steps an unwind that `failed_step` started compensates: those
    /// before the end of its stage that completed.
    fn unwind_end(&self) -> usize {
        self.failed_step.map_or(0, |k| self.stage(k).end)
    }

    /// The step a cancellation stops before: the first step of the first
    /// stage that has not started. `None` once the last stage has started.
    pub fn next_boundary(&self) -> Option<usize> {
        let k = self.steps.iter().position(|s| *s != StepState::Succeeded)?;
        self.steps[self.stage(k)]
            .iter()
            .all(|s| *s == StepState::Pending)
            .then_some(k)
    }

    /// Why saga cannot be cancelled now, if it cannot: the first step past
    /// which it must finish on its own (a pivot or retriable step that has
    /// started, or the last step once it has started).
    pub fn cancel_blocker(&self) -> Option<usize> {
        if let Some(k) = self
            .kinds
            .iter()
            .zip(&self.steps)
            .position(|(kind, s)| *kind != StepKind::Compensatable && *s != StepState::Pending)
        {
            return Some(k);
        }
        let last = self.stage(self.steps.len().checked_sub(1)?);
        last.clone()
            .find(|&k| self.steps.get(k) != Some(&StepState::Pending))
    }

    /// Applies `event` if it is legal in the current state.
    pub fn apply(&mut self, event: &SagaEvent) -> Result<(), IllegalTransition> {
        let next = self.check(event)?;
        match event {
            SagaEvent::Created { kinds, groups, .. } => {
                self.kinds = kinds.clone();
                self.steps = vec![StepState::Pending; kinds.len()];
                self.groups = groups.clone();
            }
            &SagaEvent::StepStarted { step, attempt } => {
                self.steps[step] = StepState::Running { attempt }
            }
            &SagaEvent::StepSucceeded { step, .. } => self.steps[step] = StepState::Succeeded,
            &SagaEvent::StepFailed {
                step,
                attempt,
                retry,
                ..
            } => self.steps[step] = StepState::Failed { attempt, retry },
            &SagaEvent::UnwindStarted { failed_step, .. } => self.failed_step = Some(failed_step),
            &SagaEvent::CompensationStarted { step, attempt } => {
                self.steps[step] = StepState::Compensating { attempt }
            }
            &SagaEvent::CompensationSucceeded { step } => self.steps[step] = StepState::Compensated,
            &SagaEvent::CompensationFailed {
                step,
                attempt,
                retry,
                ..
            } => self.steps[step] = StepState::CompensationFailed { attempt, retry },
            &SagaEvent::Stuck { step, .. } => self.stuck_step = Some(step),
            SagaEvent::Resumed { .. } => {
                // `check` made sure the stuck step is there and failed for good.
                if let Some(step) = self.stuck_step.take() {
                    // A retriable step past its budget is stuck, never
                    // unwound: every such branch of the stuck step's group
                    // runs again with it.
                    let stage = self.stage(step);
                    for (k, state) in self.steps.iter_mut().enumerate() {
                        let retriable_sibling = stage.contains(&k)
                            && self.kinds.get(k) == Some(&StepKind::Retriable)
                            && matches!(state, StepState::Failed { retry: false, .. });
                        if k != step && !retriable_sibling {
                            continue;
                        }
                        match state {
                            StepState::Failed { retry, .. }
                            | StepState::CompensationFailed { retry, .. } => *retry = true,
                            _ => {}
                        }
                    }
                }
            }
            SagaEvent::CancelRequested { .. } => self.cancelled = true,
            SagaEvent::Completed | SagaEvent::Compensated | SagaEvent::Abandoned { .. } => {}
        }
        self.status = Some(next);
        Ok(())
    }

    /// True when attempt `next` may follow a state that allowed `attempt`.
    fn follows(attempt: u32, next: u32) -> bool {
        attempt.checked_add(1) == Some(next)
    }

    /// Checks `event` and returns the status it leads to.
    fn check(&self, event: &SagaEvent) -> Result<SagaStatus, IllegalTransition> {
        use SagaStatus::*;
        use StepState as S;
        let fail = |why: String| IllegalTransition {
            event: event.kind(),
            status: self.status,
            why,
        };
        let step_of = |step: usize| {
            self.steps
                .get(step)
                .copied()
                .ok_or_else(|| fail(format!("no step {step} in a saga of {}", self.steps.len())))
        };
        // True when a step outside `except` has an attempt running or due.
        let in_flight = |except: std::ops::Range<usize>| {
            self.steps.iter().enumerate().any(|(i, s)| {
                !except.contains(&i)
                    && matches!(
                        s,
                        S::Running { .. }
                            | S::Compensating { .. }
                            | S::Failed { retry: true, .. }
                            | S::CompensationFailed { retry: true, .. }
                    )
            })
        };
        // Completed compensatable steps in `range` that are not compensated
        // yet. (A parallel branch that failed or never started has nothing
        // to compensate.)
        let pending_compensation = |range: std::ops::Range<usize>| {
            range.into_iter().find(|&j| {
                self.kinds.get(j) == Some(&StepKind::Compensatable)
                    && matches!(
                        self.steps.get(j),
                        Some(S::Succeeded | S::Compensating { .. } | S::CompensationFailed { .. })
                    )
            })
        };
        match (self.status, event) {
            (None, SagaEvent::Created { kinds, groups, .. }) => {
                if kinds.len() > MAX_STEPS {
                    return Err(fail(format!(
                        "{} steps is more than {MAX_STEPS}",
                        kinds.len()
                    )));
                }
                let mut after = 0;
                for &[start, end] in groups {
                    // Checked without arithmetic that could overflow: the
                    // numbers come from storage and may be anything.
                    if start < after || end <= start || end - start < 2 || end > kinds.len() {
                        return Err(fail(format!(
                            "parallel group [{start}, {end}) is not an ordered range of at \
                             least two of the {} steps",
                            kinds.len()
                        )));
                    }
                    let first = kinds[start];
                    if first == StepKind::Pivot || kinds[start..end].iter().any(|k| *k != first) {
                        return Err(fail(format!(
                            "parallel group [{start}, {end}) mixes kinds or holds a pivot: its \
                             branches are all compensatable or all retriable"
                        )));
                    }
                    after = end;
                }
                // The order rule: compensatable steps, at most one pivot,
                // then retriable steps only. Later checks rely on it.
                let rank = |k: &StepKind| match k {
                    StepKind::Compensatable => 0,
                    StepKind::Pivot => 1,
                    StepKind::Retriable => 2,
                };
                if let Some(i) = kinds.windows(2).position(|w| {
                    rank(&w[1]) < rank(&w[0])
                        || (w[0] == StepKind::Pivot && w[1] == StepKind::Pivot)
                }) {
                    return Err(fail(format!(
                        "step {} ({:?}) cannot follow step {i} ({:?}): compensatable steps, \
                         at most one pivot, then retriable steps",
                        i + 1,
                        kinds[i + 1],
                        kinds[i]
                    )));
                }
                Ok(Running)
            }
            (None, _) => Err(fail("the saga has not been created".into())),
            (Some(_), SagaEvent::Created { .. }) => Err(fail("the saga already exists".into())),
            (Some(Stuck), SagaEvent::Resumed { .. }) => match self.stuck_step {
                Some(_) if self.failed_step.is_some() => Ok(Compensating),
                Some(_) => Ok(Running),
                None => Err(fail("no step is recorded as stuck".into())),
            },
            (Some(Stuck), SagaEvent::Abandoned { .. }) => Ok(Abandoned),
            (Some(s), _) if s.is_final() => Err(fail("the saga has ended".into())),

            (Some(Running), &SagaEvent::StepStarted { step, attempt }) => {
                let ok = match step_of(step)? {
                    S::Pending => attempt == 1,
                    S::Failed { attempt: a, retry } => retry && Self::follows(a, attempt),
                    _ => false,
                };
                if !ok {
                    return Err(fail(format!("step {step} cannot start attempt {attempt}")));
                }
                let stage = self.stage(step);
                if let Some(i) = self.steps[..stage.start]
                    .iter()
                    .position(|s| *s != S::Succeeded)
                {
                    return Err(fail(format!(
                        "step {i} has not succeeded before step {step}"
                    )));
                }
                if in_flight(stage.clone()) {
                    return Err(fail("another step is still in flight".into()));
                }
                // A group's branches all start before any of them runs.
                if attempt == 1
                    && let Some(i) = stage
                        .clone()
                        .find(|&i| !matches!(self.steps[i], S::Pending | S::Running { attempt: 1 }))
                {
                    return Err(fail(format!(
                        "branch {i} of the group has run already: branch {step} starts with it"
                    )));
                }
                // A cancelled saga starts no new stage; the branches of a
                // stage that has begun still start.
                if self.cancelled
                    && attempt == 1
                    && self.steps[stage].iter().all(|s| *s == S::Pending)
                {
                    return Err(fail(format!(
                        "the saga was cancelled: step {step} does not start"
                    )));
                }
                Ok(Running)
            }
            (Some(Running), &SagaEvent::StepSucceeded { step, .. }) => match step_of(step)? {
                S::Running { .. } => Ok(Running),
                _ => Err(fail(format!("step {step} is not running"))),
            },
            (Some(Running), &SagaEvent::StepFailed { step, attempt, .. }) => match step_of(step)? {
                S::Running { attempt: a } if a == attempt => Ok(Running),
                _ => Err(fail(format!(
                    "step {step} is not running attempt {attempt}"
                ))),
            },
            (
                Some(Running),
                &SagaEvent::UnwindStarted {
                    failed_step,
                    ref error,
                },
            ) if self.cancelled && self.steps.get(failed_step) == Some(&S::Pending) => {
                if error.name() != crate::error::names::CANCELLED {
                    return Err(fail(format!(
                        "step {failed_step} has not started: only a cancellation unwinds before it"
                    )));
                }
                if self.next_boundary() != Some(failed_step) {
                    return Err(fail(format!(
                        "a cancelled saga unwinds before its first step that has not \
                         started, not before step {failed_step}"
                    )));
                }
                Ok(Compensating)
            }
            (Some(Running), &SagaEvent::UnwindStarted { failed_step, .. }) => {
                if !matches!(step_of(failed_step)?, S::Failed { retry: false, .. }) {
                    return Err(fail(format!("step {failed_step} has not failed for good")));
                }
                if self.kinds[failed_step] == StepKind::Retriable {
                    return Err(fail(format!(
                        "step {failed_step} is retriable: it never unwinds"
                    )));
                }
                if in_flight(failed_step..failed_step + 1) {
                    return Err(fail("a parallel branch is still in flight".into()));
                }
                let stage = self.stage(failed_step);
                if let Some(i) = stage.clone().find(|&i| self.steps[i] == S::Pending) {
                    return Err(fail(format!("branch {i} of the group has not started")));
                }
                // The unwind reports the first branch that failed for good.
                if let Some(i) = (stage.start..failed_step)
                    .find(|&i| matches!(self.steps[i], S::Failed { retry: false, .. }))
                {
                    return Err(fail(format!(
                        "branch {i} failed for good before branch {failed_step}: the unwind starts there"
                    )));
                }
                Ok(Compensating)
            }
            (Some(Running), SagaEvent::CancelRequested { .. }) => {
                if self.cancelled {
                    return Err(fail("the saga was cancelled already".into()));
                }
                if self.steps.is_empty() {
                    return Err(fail("a saga without steps has nothing to cancel".into()));
                }
                match self.cancel_blocker() {
                    Some(k) => Err(fail(format!(
                        "step {k} ({:?}) has started: the saga must finish on its own",
                        self.kinds[k]
                    ))),
                    None => Ok(Running),
                }
            }
            (Some(Running), SagaEvent::Completed) => {
                if self.cancelled {
                    return Err(fail("the saga was cancelled: it cannot complete".into()));
                }
                if self.steps.iter().all(|s| *s == S::Succeeded) {
                    Ok(Completed)
                } else {
                    Err(fail("not every step has succeeded".into()))
                }
            }
            (Some(Compensating), &SagaEvent::CompensationStarted { step, attempt }) => {
                let failed = self.unwind_end();
                if step >= failed || self.kinds.get(step) != Some(&StepKind::Compensatable) {
                    return Err(fail(format!(
                        "step {step} is not a completed compensatable step before step {failed}"
                    )));
                }
                let ok = match step_of(step)? {
                    S::Succeeded => attempt == 1,
                    S::CompensationFailed { attempt: a, retry } => {
                        retry && Self::follows(a, attempt)
                    }
                    _ => false,
                };
                if !ok {
                    return Err(fail(format!(
                        "step {step} cannot start compensation attempt {attempt}"
                    )));
                }
                if let Some(j) = pending_compensation(step + 1..failed) {
                    return Err(fail(format!(
                        "step {j} must be compensated before step {step}"
                    )));
                }
                if in_flight(step..step + 1) {
                    return Err(fail("another invocation is still in flight".into()));
                }
                Ok(Compensating)
            }
            (Some(Compensating), &SagaEvent::CompensationSucceeded { step }) => {
                match step_of(step)? {
                    S::Compensating { .. } => Ok(Compensating),
                    _ => Err(fail(format!("step {step} is not being compensated"))),
                }
            }
            (Some(Compensating), &SagaEvent::CompensationFailed { step, attempt, .. }) => {
                match step_of(step)? {
                    S::Compensating { attempt: a } if a == attempt => Ok(Compensating),
                    _ => Err(fail(format!(
                        "step {step} is not running compensation attempt {attempt}"
                    ))),
                }
            }
            (Some(Compensating), SagaEvent::Compensated) => {
                match pending_compensation(0..self.unwind_end()) {
                    Some(j) => Err(fail(format!("step {j} is not compensated"))),
                    None => Ok(Compensated),
                }
            }
            (Some(status @ (Running | Compensating)), &SagaEvent::Stuck { step, .. }) => {
                if in_flight(step..step + 1) {
                    return Err(fail("another step is still in flight".into()));
                }
                if status == Running
                    && let Some(i) = self
                        .stage(step)
                        .find(|&i| self.steps.get(i) == Some(&S::Pending))
                {
                    return Err(fail(format!("branch {i} of the group has not started")));
                }
                match (status, step_of(step)?) {
                    (Running, S::Failed { retry: false, .. })
                    | (Compensating, S::CompensationFailed { retry: false, .. }) => Ok(Stuck),
                    _ => Err(fail(format!("step {step} has not failed for good"))),
                }
            }
            (Some(_), _) => Err(fail("not allowed in this state".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StepError;

    fn created(steps: usize) -> SagaEvent {
        SagaEvent::Created {
            saga: "S".into(),
            definition_hash: "h".into(),
            kinds: vec![StepKind::Compensatable; steps],
            groups: Vec::new(),
            input: serde_json::Value::Null,
        }
    }
    fn started(step: usize, attempt: u32) -> SagaEvent {
        SagaEvent::StepStarted { step, attempt }
    }
    fn ok(step: usize) -> SagaEvent {
        SagaEvent::StepSucceeded {
            step,
            output: serde_json::Value::Null,
        }
    }
    fn failed(step: usize, attempt: u32, retry: bool) -> SagaEvent {
        SagaEvent::StepFailed {
            step,
            attempt,
            error: StepError::terminal("no"),
            retry,
        }
    }

    #[test]
    fn created_enforces_the_order_rule() {
        use StepKind::{Compensatable as C, Pivot as P, Retriable as R};
        let with = |kinds: Vec<StepKind>| SagaEvent::Created {
            saga: "S".into(),
            definition_hash: "h".into(),
            kinds,
            groups: Vec::new(),
            input: serde_json::Value::Null,
        };
        for ok in [vec![], vec![C, C, P, R, R], vec![P], vec![R, R], vec![C, R]] {
            assert!(
                SagaMachine::new().apply(&with(ok.clone())).is_ok(),
                "{ok:?}"
            );
        }
        for bad in [vec![P, C], vec![R, C], vec![P, P], vec![C, R, P]] {
            let err = SagaMachine::new().apply(&with(bad.clone())).unwrap_err();
            assert!(err.why.contains("cannot follow"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_full_unwind_is_legal() {
        let events = vec![
            created(3),
            started(0, 1),
            ok(0),
            started(1, 1),
            ok(1),
            started(2, 1),
            failed(2, 1, true),
            started(2, 2),
            failed(2, 2, false),
            SagaEvent::UnwindStarted {
                failed_step: 2,
                error: StepError::terminal("no"),
            },
            SagaEvent::CompensationStarted {
                step: 1,
                attempt: 1,
            },
            SagaEvent::CompensationSucceeded { step: 1 },
            SagaEvent::CompensationStarted {
                step: 0,
                attempt: 1,
            },
            SagaEvent::CompensationSucceeded { step: 0 },
            SagaEvent::Compensated,
        ];
        let m = SagaMachine::replay(&events).unwrap();
        assert_eq!(m.status(), Some(SagaStatus::Compensated));
    }

    #[test]
    fn illegal_transitions_are_rejected() {
        let cases: Vec<(Vec<SagaEvent>, SagaEvent)> = vec![
            (vec![], started(0, 1)),
            (vec![created(2)], created(2)),
            (vec![created(2)], started(1, 1)),
            (vec![created(2)], started(0, 2)),
            (vec![created(2)], ok(0)),
            (vec![created(2), started(0, 1)], failed(0, 2, false)),
            (vec![created(2), started(0, 1), ok(0)], SagaEvent::Completed),
            (
                vec![created(2), started(0, 1), failed(0, 1, false)],
                started(0, 2),
            ),
            (
                vec![created(1), started(0, 1), failed(0, 1, true)],
                SagaEvent::UnwindStarted {
                    failed_step: 0,
                    error: StepError::terminal("x"),
                },
            ),
            (
                vec![created(1), started(0, 1), ok(0)],
                SagaEvent::CompensationStarted {
                    step: 0,
                    attempt: 1,
                },
            ),
            (
                vec![created(1), started(0, 1), ok(0), SagaEvent::Completed],
                started(0, 1),
            ),
            (
                vec![created(1)],
                SagaEvent::Stuck {
                    step: 5,
                    reason: "x".into(),
                },
            ),
        ];
        for (history, next) in cases {
            let mut m = SagaMachine::replay(&history).expect("history is legal");
            assert!(
                m.apply(&next).is_err(),
                "{next:?} after {history:?} should be rejected"
            );
        }
    }

    fn unwinding(steps: usize, failed_step: usize) -> Vec<SagaEvent> {
        let mut events = vec![created(steps)];
        for i in 0..failed_step {
            events.extend([started(i, 1), ok(i)]);
        }
        events.extend([
            started(failed_step, 1),
            failed(failed_step, 1, false),
            SagaEvent::UnwindStarted {
                failed_step,
                error: StepError::terminal("no"),
            },
        ]);
        events
    }

    #[test]
    fn compensations_run_in_reverse_and_all_before_compensated() {
        let comp = |step| SagaEvent::CompensationStarted { step, attempt: 1 };
        // Step 0 cannot be compensated while step 1 is not.
        let mut m = SagaMachine::replay(&unwinding(3, 2)).unwrap();
        assert!(m.apply(&comp(0)).is_err());
        // The failed step itself is not compensated.
        assert!(m.apply(&comp(2)).is_err());
        // Compensated is refused while step 1 and 0 are not compensated.
        assert!(m.apply(&SagaEvent::Compensated).is_err());
        m.apply(&comp(1)).unwrap();
        m.apply(&SagaEvent::CompensationSucceeded { step: 1 })
            .unwrap();
        assert!(m.apply(&SagaEvent::Compensated).is_err());
        m.apply(&comp(0)).unwrap();
        m.apply(&SagaEvent::CompensationSucceeded { step: 0 })
            .unwrap();
        m.apply(&SagaEvent::Compensated).unwrap();
    }

    #[test]
    fn pivots_and_retriable_steps_are_never_compensated() {
        let mut events = unwinding(3, 2);
        if let SagaEvent::Created { kinds, .. } = &mut events[0] {
            kinds[1] = StepKind::Pivot;
        }
        // A compensatable step after a pivot is refused when the saga is
        // created, so a pivot can never sit inside an unwind.
        assert!(
            SagaMachine::replay(&events).is_err(),
            "a compensatable step cannot follow the pivot"
        );
        // A failed pivot unwinds the steps before it, never itself.
        let mut events = unwinding(2, 1);
        if let SagaEvent::Created { kinds, .. } = &mut events[0] {
            kinds[1] = StepKind::Pivot;
        }
        let mut m = SagaMachine::replay(&events).unwrap();
        assert!(
            m.apply(&SagaEvent::CompensationStarted {
                step: 1,
                attempt: 1
            })
            .is_err()
        );

        let mut events = unwinding(2, 1);
        if let SagaEvent::Created { kinds, .. } = &mut events[0] {
            kinds[1] = StepKind::Retriable;
        }
        assert!(
            SagaMachine::replay(&events).is_err(),
            "a retriable step never unwinds"
        );
    }

    #[test]
    fn corrupt_counts_are_rejected_without_panicking() {
        let mut m = SagaMachine::new();
        let huge = SagaEvent::Created {
            saga: "S".into(),
            definition_hash: "h".into(),
            kinds: vec![StepKind::Pivot; MAX_STEPS + 1],
            groups: Vec::new(),
            input: serde_json::Value::Null,
        };
        assert!(m.apply(&huge).is_err());
        // Attempt numbers from a corrupt log must not overflow.
        assert!(!SagaMachine::follows(u32::MAX, 0));
        assert!(SagaMachine::follows(1, 2));
    }

    #[test]
    fn a_compensated_step_cannot_be_compensated_again() {
        let mut m = SagaMachine::replay(&[
            created(2),
            started(0, 1),
            ok(0),
            started(1, 1),
            failed(1, 1, false),
            SagaEvent::UnwindStarted {
                failed_step: 1,
                error: StepError::terminal("no"),
            },
            SagaEvent::CompensationStarted {
                step: 0,
                attempt: 1,
            },
            SagaEvent::CompensationSucceeded { step: 0 },
        ])
        .unwrap();
        assert!(
            m.apply(&SagaEvent::CompensationStarted {
                step: 0,
                attempt: 1
            })
            .is_err()
        );
    }

    #[test]
    fn a_stuck_saga_can_be_resumed_or_abandoned_only_by_an_operator() {
        let stuck = |m: &mut SagaMachine| {
            for e in [
                created(2),
                started(0, 1),
                ok(0),
                started(1, 1),
                failed(1, 1, false),
                SagaEvent::Stuck {
                    step: 1,
                    reason: "r".into(),
                },
            ] {
                m.apply(&e).unwrap();
            }
        };
        let mut m = SagaMachine::new();
        stuck(&mut m);
        assert_eq!(m.stuck_step(), Some(1));
        assert!(m.apply(&started(1, 2)).is_err(), "stuck until resumed");
        m.apply(&SagaEvent::Resumed { by: "op".into() }).unwrap();
        assert_eq!(m.status(), Some(SagaStatus::Running));
        assert_eq!(m.stuck_step(), None);
        m.apply(&started(1, 2)).unwrap();
        assert!(
            m.apply(&SagaEvent::Resumed { by: "op".into() }).is_err(),
            "only a stuck saga is resumed"
        );

        let mut m = SagaMachine::new();
        stuck(&mut m);
        m.apply(&SagaEvent::Abandoned { reason: "r".into() })
            .unwrap();
        assert_eq!(m.status(), Some(SagaStatus::Abandoned));
        assert!(m.status().unwrap().is_final());
        assert!(
            m.apply(&SagaEvent::Resumed { by: "op".into() }).is_err(),
            "an abandoned saga stays abandoned"
        );
        for s in SagaStatus::ALL {
            assert_eq!(SagaStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_cancellation_is_legal_only_before_the_point_of_no_return() {
        use StepKind::{Compensatable as C, Pivot as P, Retriable as R};
        let cancel = || SagaEvent::CancelRequested { reason: "r".into() };
        let cancelled_unwind = |failed_step| SagaEvent::UnwindStarted {
            failed_step,
            error: StepError::new(
                crate::ErrorClass::Terminal,
                crate::error::names::CANCELLED,
                "r",
            ),
        };
        let with = |kinds: Vec<StepKind>, events: &[SagaEvent]| {
            let mut m = SagaMachine::new();
            m.apply(&SagaEvent::Created {
                saga: "S".into(),
                definition_hash: "h".into(),
                kinds,
                groups: Vec::new(),
                input: serde_json::Value::Null,
            })
            .expect("created");
            for e in events {
                m.apply(e).expect("legal");
            }
            m
        };
        // Step 1 running: legal; it then finishes (and may retry), but step 2 never starts.
        let mut m = with(vec![C, C, C, P], &[started(0, 1), ok(0), started(1, 1)]);
        m.apply(&cancel()).expect("cancel while step 1 runs");
        assert!(m.cancelled());
        assert!(m.apply(&cancel()).unwrap_err().why.contains("already"));
        m.apply(&failed(1, 1, true)).expect("its attempt fails");
        m.apply(&started(1, 2)).expect("and is retried");
        m.apply(&ok(1)).expect("and succeeds");
        assert!(
            m.apply(&started(2, 1))
                .unwrap_err()
                .why
                .contains("cancelled")
        );
        assert!(m.apply(&SagaEvent::Completed).is_err());
        // The unwind starts at the boundary, with `Saga.Cancelled`, and nowhere else.
        assert!(m.apply(&cancelled_unwind(3)).is_err());
        let mut wrong_error = m.clone();
        assert!(
            wrong_error
                .apply(&SagaEvent::UnwindStarted {
                    failed_step: 2,
                    error: StepError::terminal("no"),
                })
                .is_err()
        );
        m.apply(&cancelled_unwind(2)).expect("unwind before step 2");
        assert_eq!(m.status(), Some(SagaStatus::Compensating));
        assert_eq!(m.failed_step(), Some(2));

        // Refused once a pivot or retriable step, or the last step, has started.
        for (kinds, events) in [
            (vec![C, P, R], vec![started(0, 1), ok(0), started(1, 1)]),
            (vec![C, R, R], vec![started(0, 1), ok(0), started(1, 1)]),
            (vec![C, C], vec![started(0, 1), ok(0), started(1, 1)]),
        ] {
            let mut m = with(kinds.clone(), &events);
            let err = m.apply(&cancel()).unwrap_err();
            assert!(err.why.contains("has started"), "{kinds:?}: {err}");
            assert_eq!(m.cancel_blocker(), Some(1));
        }
        // Nothing to cancel in a saga without steps, or one that has ended.
        assert!(with(vec![], &[]).apply(&cancel()).is_err());
        let mut done = with(vec![C], &[started(0, 1), ok(0), SagaEvent::Completed]);
        assert!(done.apply(&cancel()).is_err());
    }

    fn created_with(kinds: Vec<StepKind>, groups: Vec<[usize; 2]>) -> SagaEvent {
        SagaEvent::Created {
            saga: "S".into(),
            definition_hash: "h".into(),
            kinds,
            groups,
            input: serde_json::Value::Null,
        }
    }

    fn unwind(failed_step: usize) -> SagaEvent {
        SagaEvent::UnwindStarted {
            failed_step,
            error: StepError::terminal("no"),
        }
    }

    fn compensate(step: usize) -> [SagaEvent; 2] {
        [
            SagaEvent::CompensationStarted { step, attempt: 1 },
            SagaEvent::CompensationSucceeded { step },
        ]
    }

    #[test]
    fn parallel_groups_must_be_ordered_uniform_ranges() {
        use StepKind::{Compensatable as C, Pivot as P, Retriable as R};
        let legal = [
            (vec![C, C, C], vec![[0, 2]]),
            (vec![C, C, C, P, R, R], vec![[1, 3], [4, 6]]),
            (vec![C, C, C, C], vec![[0, 2], [2, 4]]),
        ];
        for (kinds, groups) in legal {
            let e = created_with(kinds.clone(), groups.clone());
            assert!(SagaMachine::new().apply(&e).is_ok(), "{kinds:?} {groups:?}");
        }
        let illegal = [
            (vec![C], vec![[usize::MAX - 1, 1]]),
            (vec![C, C], vec![[0, usize::MAX]]),
            (vec![C, C, C], vec![[0, 1]]),
            (vec![C, C, C], vec![[0, 4]]),
            (vec![C, C, C], vec![[1, 3], [0, 2]]),
            (vec![C, C, C], vec![[2, 1]]),
            (vec![C, P, R], vec![[0, 2]]),
            (vec![C, P, R], vec![[1, 3]]),
            (vec![C, R], vec![[0, 2]]),
        ];
        for (kinds, groups) in illegal {
            let e = created_with(kinds.clone(), groups.clone());
            assert!(
                SagaMachine::new().apply(&e).is_err(),
                "{kinds:?} {groups:?}"
            );
        }
    }

    #[test]
    fn branches_run_together_and_the_completed_ones_are_compensated() {
        // Step 0, then branches 1 and 2 together, then step 3.
        let mut m = SagaMachine::new();
        let prefix = [
            created_with(vec![StepKind::Compensatable; 4], vec![[1, 3]]),
            started(0, 1),
            ok(0),
            started(1, 1),
            started(2, 1),
        ];
        for e in &prefix {
            m.apply(e).expect("legal");
        }
        assert_eq!(m.stage(2), 1..3);
        assert!(m.apply(&started(3, 1)).is_err(), "3 waits for the group");
        m.apply(&failed(1, 1, false))
            .expect("branch 1 fails for good");
        assert!(
            m.clone().apply(&started(1, 1)).is_err(),
            "a branch does not start again"
        );
        assert!(
            m.clone().apply(&unwind(1)).is_err(),
            "no unwind while branch 2 runs"
        );
        m.apply(&ok(2)).expect("branch 2 succeeds");
        m.apply(&unwind(1)).expect("unwind once both ended");
        assert!(
            m.clone().apply(&compensate(0)[0]).is_err(),
            "the sibling is compensated first"
        );
        assert!(
            m.clone()
                .apply(&SagaEvent::CompensationStarted {
                    step: 1,
                    attempt: 1
                })
                .is_err(),
            "the failed branch has nothing to compensate"
        );
        for e in compensate(2).iter().chain(&compensate(0)) {
            m.apply(e).expect("legal");
        }
        m.apply(&SagaEvent::Compensated)
            .expect("every completed step undone");
        assert_eq!(m.status(), Some(SagaStatus::Compensated));
    }

    #[test]
    fn a_cancelled_saga_finishes_starting_its_stage_but_starts_no_other() {
        let mut m = SagaMachine::new();
        for e in [
            created_with(vec![StepKind::Compensatable; 4], vec![[1, 3]]),
            started(0, 1),
            ok(0),
        ] {
            m.apply(&e).expect("legal");
        }
        assert_eq!(m.next_boundary(), Some(1));
        m.apply(&started(1, 1)).expect("legal");
        assert_eq!(m.next_boundary(), None, "the group has begun");
        let cancel = SagaEvent::CancelRequested { reason: "r".into() };
        m.apply(&cancel).expect("cancellable before the last stage");
        m.apply(&started(2, 1))
            .expect("the begun stage still starts");
        m.apply(&ok(1)).expect("legal");
        m.apply(&ok(2)).expect("legal");
        assert!(m.clone().apply(&started(3, 1)).is_err(), "no new stage");
        assert_eq!(m.next_boundary(), Some(3));

        // Once the last stage has begun, the saga is past cancelling.
        let mut last = SagaMachine::new();
        for e in [
            created_with(vec![StepKind::Compensatable; 3], vec![[1, 3]]),
            started(0, 1),
            ok(0),
            started(1, 1),
        ] {
            last.apply(&e).expect("legal");
        }
        assert_eq!(last.cancel_blocker(), Some(1));
        assert!(last.apply(&cancel).is_err());
    }
}
