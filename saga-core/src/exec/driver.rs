//! Drives one saga run: forward through the steps, and on a final failure
//! backward through the compensations. Each transition is logged before the
//! effect it enables.
//!
//! Retries and where each error leads follow [`crate::failure`], the rules
//! the generated state machine spells out as Retry and Catch:
//! - a terminal error, or a retryable error once the retry budget is spent,
//!   means the step changed nothing: its own compensation is skipped and the
//!   completed steps are compensated in reverse completion order;
//! - an ambiguous error is resolved by re-invoking the step with the same
//!   idempotency key, with a fresh budget: a success or a terminal error
//!   resolves it, a retryable error does not. If the outcome is still
//!   unknown when the budget is spent, the saga becomes stuck and nothing is
//!   compensated;
//! - a retriable step is retried on every error; past its budget the saga is stuck;
//! - a compensation is retried on every error; past its budget the saga is stuck.
//!
//! A saga is resumed from its history (after a crash, or by an operator) by
//! rebuilding its state and each cursor from the log: the outputs of the
//! steps that succeeded, and the retry counters of the step in flight. An
//! attempt that was logged as started but never finished counts as an
//! ambiguous failure, `Saga.Interrupted`: it goes through the same rules, so
//! a compensatable or pivot step is re-invoked with the same idempotency key
//! to resolve it, and a compensation is simply run again.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use super::invoke;
use super::jitter::JitterSource;
use super::join;
use super::{Inner, Runtime, SagaError, SagaOutcome, Slot};
use crate::context::{Direction, SagaId, StepContext};
use crate::definition::SagaDefinition;
use crate::error::{ErrorClass, StepError, names};
use crate::failure::{Counters, Exit, Phase};
use crate::invoke::Route;
use crate::invoke::payload::Metadata;
use crate::log::{LogEntry, LogError, SagaEvent, SagaMachine, SagaStatus, StepState};
use crate::retry::RetryPolicy;
use crate::saga::{Op, Produced, Saga, StateError, Stored};
use crate::step::StepKind;

pub(super) async fn run<S: Saga>(
    rt: &Runtime,
    id: SagaId,
    input: S::Input,
) -> Result<SagaOutcome<S::Output>, SagaError> {
    let def = S::definition();
    rt.check::<S>()?;
    let input_json = serde_json::to_value(&input).map_err(|e| SagaError::Input {
        saga: def.name,
        reason: e.to_string(),
    })?;
    let active = rt.inner.claim(&id)?;
    let run = Run::<S> {
        inner: &rt.inner,
        id,
        def,
        state: S::start(input),
        slot: active.slot.clone(),
        cancelled: false,
        skip: Vec::new(),
    };
    run.log(SagaEvent::Created {
        saga: def.name.to_owned(),
        definition_hash: def.hash().to_owned(),
        kinds: def.steps.iter().map(|s| s.kind).collect(),
        groups: def.group_pairs(),
        input: input_json,
    })
    .await?;
    let span = run.span();
    run.forward(0, None).instrument(span).await
}

/// Drives saga `id` on from its `history` to an end. A stuck saga is
/// resumed only when an operator (`by`) asks for it.
pub(super) async fn resume<S: Saga>(
    rt: &Runtime,
    id: SagaId,
    history: Vec<LogEntry>,
    by: Option<String>,
) -> Result<SagaOutcome<S::Output>, SagaError> {
    // The caller (`Runtime::drive`) holds the saga's claim.
    let def = S::definition();
    rt.check::<S>()?;
    let record = |reason: String| SagaError::BadRecord {
        saga: def.name.to_owned(),
        id: id.clone(),
        reason,
    };
    let Some(SagaEvent::Created {
        saga,
        definition_hash,
        input,
        ..
    }) = history.first().map(|e| &e.event)
    else {
        return Err(record("the history does not begin with `created`".into()));
    };
    if saga != def.name || definition_hash != def.hash() {
        return Err(SagaError::DefinitionChanged {
            id: id.clone(),
            saga: saga.clone(),
            logged: definition_hash.clone(),
            current: def.hash().to_owned(),
        });
    }
    let input: S::Input = serde_json::from_value(input.clone()).map_err(|e| {
        record(format!(
            "the logged input does not fit the saga's input type: {e}"
        ))
    })?;
    let mut machine = SagaMachine::replay(history.iter().map(|e| &e.event)).map_err(|source| {
        SagaError::Log(LogError::Illegal {
            saga_id: id.clone(),
            source,
        })
    })?;
    if machine.kinds().len() != def.steps.len() {
        return Err(record(format!(
            "{} steps logged, {} defined",
            machine.kinds().len(),
            def.steps.len()
        )));
    }
    let slot = rt.inner.slot(&id).unwrap_or_default();
    if machine.cancelled()
        && let Some(reason) = history.iter().find_map(|e| match &e.event {
            SagaEvent::CancelRequested { reason } => Some(reason.clone()),
            _ => None,
        })
    {
        slot.cancel(reason);
    }
    let cancelled = machine.cancelled()
        && machine
            .failed_step()
            .is_some_and(|k| machine.steps().get(k) == Some(&StepState::Pending));
    let mut run = Run::<S> {
        inner: &rt.inner,
        id: id.clone(),
        def,
        state: S::start(input),
        slot,
        cancelled,
        skip: Vec::new(),
    };
    for entry in &history {
        if let SagaEvent::StepSucceeded { step, output } = &entry.event {
            S::store(&mut run.state, *step, Stored::Json(output.clone()))
                .map_err(|e| run.broken(e))?;
        }
    }
    let mut fresh_budget = false;
    match (machine.status(), by) {
        (Some(SagaStatus::Stuck), Some(by)) => {
            let resumed = SagaEvent::Resumed { by };
            run.log(resumed.clone()).await?;
            // The log accepted it, so the replayed state does too.
            machine.apply(&resumed).map_err(|source| {
                SagaError::Log(LogError::Illegal {
                    saga_id: id.clone(),
                    source,
                })
            })?;
            fresh_budget = true;
        }
        (Some(status), _) if status.is_final() => {
            return Err(SagaError::WrongStatus {
                id,
                status,
                wanted: "only a running, compensating or (by an operator) stuck saga is resumed",
            });
        }
        _ => {}
    }
    let span = run.span();
    tracing::info!(parent: &span, saga_id = %id, "resuming from the saga log");
    run.resume(&machine, &history, fresh_budget)
        .instrument(span)
        .await
}

struct Run<'r, S: Saga> {
    inner: &'r Inner,
    id: SagaId,
    def: &'static SagaDefinition,
    state: S::State,
    /// Shared with [`Runtime::cancel`].
    slot: Arc<Slot>,
    /// True once the saga unwinds because it was cancelled.
    cancelled: bool,
    /// Steps at or after the unwind's first step that did not complete (the
    /// failed step, and parallel branches that failed or never started):
    /// they have nothing to compensate.
    skip: Vec<usize>,
}

impl<S: Saga> Run<'_, S> {
    async fn log(&self, event: SagaEvent) -> Result<(), SagaError> {
        Ok(self.inner.log.append(&self.id, event).await?)
    }

    /// The span of the whole saga run.
    fn span(&self) -> tracing::Span {
        tracing::info_span!("saga", saga = self.def.name, saga_id = %self.id)
    }

    fn broken(&self, source: StateError) -> SagaError {
        SagaError::State {
            saga: self.def.name,
            id: self.id.clone(),
            source,
        }
    }

    fn corrupt(&self, reason: String) -> SagaError {
        SagaError::BadRecord {
            saga: self.def.name.to_owned(),
            id: self.id.clone(),
            reason,
        }
    }

    /// A fresh cursor for step `k` (or its compensation).
    fn cursor(&self, k: usize, op: Op) -> Cursor {
        let step = &self.def.steps[k];
        let (phase, policy) = match op {
            Op::Forward if step.kind == StepKind::Retriable => (Phase::Retriable, step.retry),
            Op::Forward => (Phase::Try, step.retry),
            Op::Compensate => (Phase::Compensation, self.inner.compensation_retry),
        };
        Cursor {
            phase,
            policy,
            counters: None,
            attempt: 1,
            started: false,
        }
    }

    /// Runs the steps from `from` on; the first with `cursor` if given.
    async fn forward(
        mut self,
        from: usize,
        mut cursor: Option<Cursor>,
    ) -> Result<SagaOutcome<S::Output>, SagaError> {
        let mut k = from;
        while let Some(step) = self.def.steps.get(k) {
            let stage = self.def.stage(k);
            if stage.len() > 1 && cursor.is_none() {
                // A parallel group's boundary: every branch's start is
                // logged before any runs, under the gate.
                let gate = self.slot.gate.lock().await;
                if let Some(reason) = self.slot.cancelled() {
                    drop(gate);
                    return self.after_cancel(k, reason).await;
                }
                let mut plans = Vec::with_capacity(stage.len());
                for j in stage.clone() {
                    self.log(SagaEvent::StepStarted {
                        step: j,
                        attempt: 1,
                    })
                    .await?;
                    let mut cur = self.cursor(j, Op::Forward);
                    cur.started = true;
                    plans.push(Plan::Go(cur));
                }
                drop(gate);
                if let Some((j, error, exit)) = self.group(stage.clone(), plans).await? {
                    return self.after_failure(j, error, exit).await;
                }
                k = stage.end;
                continue;
            }
            let (cur, gate) = match cursor.take() {
                Some(cur) => (cur, None),
                None => {
                    // A step boundary: the step starts, or the saga was
                    // cancelled. The gate keeps `Runtime::cancel` out until
                    // the start is logged.
                    let gate = self.slot.gate.lock().await;
                    if let Some(reason) = self.slot.cancelled() {
                        drop(gate);
                        return self.after_cancel(k, reason).await;
                    }
                    (self.cursor(k, Op::Forward), Some(gate))
                }
            };
            match self.invoke(k, Op::Forward, cur, gate).await? {
                Attempted::Done(Some(Produced { value, json })) => {
                    self.log(SagaEvent::StepSucceeded {
                        step: k,
                        output: json,
                    })
                    .await?;
                    S::store(&mut self.state, k, Stored::Value(value))
                        .map_err(|e| self.broken(e))?;
                }
                Attempted::Done(None) => return Err(self.broken(StateError::Missing(step.name))),
                Attempted::Failed { error, exit } => {
                    return self.after_failure(k, error, exit).await;
                }
            }
            k += 1;
        }
        self.log(SagaEvent::Completed).await?;
        tracing::info!("saga completed");
        let Run { def, id, state, .. } = self;
        // The result expression is user code: a panic there must not escape `run`.
        let finish = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| S::finish(state)));
        let broken = |source| SagaError::State {
            saga: def.name,
            id: id.clone(),
            source,
        };
        match finish {
            Ok(Ok(output)) => Ok(SagaOutcome::Completed(output)),
            Ok(Err(source)) => Err(broken(source)),
            Err(panic) => Err(broken(StateError::ResultPanicked(
                invoke::panic_message(&panic).to_owned(),
            ))),
        }
    }

    /// Runs the branches of the parallel group `stage` together, each from
    /// its `plan`, and stores the outputs of those that succeeded. Returns
    /// the branch the saga ends at, if any did not: the first stuck one, or
    /// else the first that failed for good.
    async fn group(
        &mut self,
        stage: std::ops::Range<usize>,
        plans: Vec<Plan>,
    ) -> Result<Option<(usize, StepError, Exit)>, SagaError> {
        let results = join::try_all(
            stage
                .clone()
                .zip(plans)
                .map(|(k, plan)| self.branch(k, plan)),
        )
        .await?;
        let (mut stuck, mut failed) = (None, None);
        for (k, result) in stage.zip(results) {
            match result {
                Branch::Done => {}
                Branch::Produced(value) => {
                    S::store(&mut self.state, k, Stored::Value(value))
                        .map_err(|e| self.broken(e))?;
                }
                Branch::Failed { error, exit } => {
                    self.skip.push(k);
                    let first = if exit == Exit::Unwind {
                        &mut failed
                    } else {
                        &mut stuck
                    };
                    first.get_or_insert((k, error, exit));
                }
            }
        }
        Ok(stuck.or(failed))
    }

    /// Runs one branch of a parallel group to its end from `plan`, and logs
    /// its success.
    async fn branch(&self, k: usize, plan: Plan) -> Result<Branch, SagaError> {
        let cur = match plan {
            Plan::Done => return Ok(Branch::Done),
            Plan::Ended(error, exit) => return Ok(Branch::Failed { error, exit }),
            Plan::Go(cur) => cur,
            Plan::Wait(cur, last) => {
                cur.wait(&last).await;
                cur
            }
            Plan::Interrupted(mut cur, attempt) => {
                match self
                    .fail(k, Op::Forward, &mut cur, interrupted(attempt))
                    .await?
                {
                    Some(Attempted::Failed { error, exit }) => {
                        return Ok(Branch::Failed { error, exit });
                    }
                    _ => cur,
                }
            }
        };
        match self.invoke(k, Op::Forward, cur, None).await? {
            Attempted::Done(Some(Produced { value, json })) => {
                self.log(SagaEvent::StepSucceeded {
                    step: k,
                    output: json,
                })
                .await?;
                Ok(Branch::Produced(value))
            }
            Attempted::Done(None) => Err(self.broken(StateError::Missing(self.def.steps[k].name))),
            Attempted::Failed { error, exit } => Ok(Branch::Failed { error, exit }),
        }
    }

    async fn after_failure(
        mut self,
        k: usize,
        error: StepError,
        exit: Exit,
    ) -> Result<SagaOutcome<S::Output>, SagaError> {
        let step = &self.def.steps[k];
        if exit != Exit::Unwind {
            let reason = if step.kind == StepKind::Retriable {
                "the retriable step failed past its retry budget"
            } else {
                "the step's outcome is still unknown after its retry budget"
            };
            return self.stuck(k, Direction::Forward, reason, error).await;
        }
        self.log(SagaEvent::UnwindStarted {
            failed_step: k,
            error: error.clone(),
        })
        .await?;
        tracing::info!(
            failed_step = step.name,
            error = error.name(),
            "compensation started"
        );
        // The failed step changed nothing; the completed branches of its
        // group, if it has one, are compensated with the steps before it.
        self.skip.push(k);
        let below = self.def.stage(k).end;
        self.unwind(k, error, below, None).await
    }

    /// Unwinds a cancelled saga before step `k`, its first step that has not started.
    async fn after_cancel(
        mut self,
        k: usize,
        reason: String,
    ) -> Result<SagaOutcome<S::Output>, SagaError> {
        let error = StepError::new(ErrorClass::Terminal, names::CANCELLED, reason);
        self.log(SagaEvent::UnwindStarted {
            failed_step: k,
            error: error.clone(),
        })
        .await?;
        self.cancelled = true;
        tracing::info!(
            before_step = self.def.steps[k].name,
            "saga cancelled: compensation started"
        );
        self.unwind(k, error, k, None).await
    }

    /// Compensates the completed compensatable steps below `below`, last
    /// first; the first with `cursor` if given. `failed_step` failed with `error`.
    async fn unwind(
        self,
        failed_step: usize,
        error: StepError,
        below: usize,
        mut cursor: Option<Cursor>,
    ) -> Result<SagaOutcome<S::Output>, SagaError> {
        for j in (0..below).rev() {
            if self.def.steps[j].kind != StepKind::Compensatable || self.skip.contains(&j) {
                continue;
            }
            let cur = cursor
                .take()
                .unwrap_or_else(|| self.cursor(j, Op::Compensate));
            match self.invoke(j, Op::Compensate, cur, None).await? {
                Attempted::Done(_) => {
                    self.log(SagaEvent::CompensationSucceeded { step: j })
                        .await?
                }
                Attempted::Failed { error: e, .. } => {
                    let reason = "the compensation failed past its retry budget";
                    return self.stuck(j, Direction::Compensation, reason, e).await;
                }
            }
        }
        self.log(SagaEvent::Compensated).await?;
        let step = self.def.steps[failed_step].name;
        tracing::info!(failed_step = step, "compensation ended: saga compensated");
        if self.cancelled {
            return Ok(SagaOutcome::Cancelled {
                before_step: step,
                reason: error.message().to_owned(),
            });
        }
        Ok(SagaOutcome::Compensated {
            failed_step: step,
            error,
        })
    }

    async fn stuck(
        self,
        k: usize,
        direction: Direction,
        reason: &str,
        error: StepError,
    ) -> Result<SagaOutcome<S::Output>, SagaError> {
        self.log(SagaEvent::Stuck {
            step: k,
            reason: format!("{reason}: {error}"),
        })
        .await?;
        tracing::error!(
            step = self.def.steps[k].name,
            direction = ?direction,
            error = error.name(),
            reason,
            "saga stuck: waiting for an operator"
        );
        Ok(SagaOutcome::Stuck {
            step: self.def.steps[k].name,
            direction,
            error,
        })
    }

    /// Runs step `k` (or its compensation) through its phases from `cur`,
    /// with the retries of [`crate::failure`]. An error is the runtime's own
    /// failure; the step's final result is [`Attempted`].
    /// `gate`, held for a step's first attempt, is released once its start is logged.
    async fn invoke(
        &self,
        k: usize,
        op: Op,
        mut cur: Cursor,
        mut gate: Option<tokio::sync::MutexGuard<'_, ()>>,
    ) -> Result<Attempted, SagaError> {
        let step = &self.def.steps[k];
        let direction = match op {
            Op::Forward => Direction::Forward,
            Op::Compensate => Direction::Compensation,
        };
        let timeout = Duration::from_secs(u64::from(step.timeout_seconds.max(1)));
        loop {
            let attempt = cur.attempt;
            // A parallel branch's first start is logged with its group's.
            if !std::mem::take(&mut cur.started) {
                self.log(match op {
                    Op::Forward => SagaEvent::StepStarted { step: k, attempt },
                    Op::Compensate => SagaEvent::CompensationStarted { step: k, attempt },
                })
                .await?;
            }
            // The step has started: a cancellation may be recorded now.
            drop(gate.take());
            let route = match self.inner.bindings.get(step.name, direction) {
                Some(remote) => Route::Remote(
                    remote,
                    Metadata::new(&self.id, self.def.name, step.name, direction),
                ),
                None => Route::Local,
            };
            let invocation = S::dispatch(&self.state, k, op, route).map_err(|e| self.broken(e))?;
            let ctx = StepContext::new(self.id.clone(), step.name, attempt, direction);
            let span = tracing::info_span!(
                "step",
                saga = self.def.name,
                saga_id = %self.id,
                step = step.name,
                attempt,
                kind = match op {
                    Op::Forward => "forward",
                    Op::Compensate => "compensation",
                },
            );
            let error = match invoke::attempt(invocation, ctx, timeout)
                .instrument(span)
                .await
            {
                Ok(produced) => return Ok(Attempted::Done(produced)),
                Err(error) => error,
            };
            if let Some(end) = self.fail(k, op, &mut cur, error).await? {
                return Ok(end);
            }
        }
    }

    /// Records that the current attempt of step `k` (or its compensation)
    /// failed with `error`, and waits out the backoff if a retry follows.
    /// Returns the final result once no attempt follows.
    async fn fail(
        &self,
        k: usize,
        op: Op,
        cur: &mut Cursor,
        error: StepError,
    ) -> Result<Option<Attempted>, SagaError> {
        let attempt = cur.attempt;
        let next = cur.next(&error, &self.inner.jitter);
        let retry = !matches!(next, Next::End(_));
        self.log(match op {
            Op::Forward => SagaEvent::StepFailed {
                step: k,
                attempt,
                error: error.clone(),
                retry,
            },
            Op::Compensate => SagaEvent::CompensationFailed {
                step: k,
                attempt,
                error: error.clone(),
                retry,
            },
        })
        .await?;
        cur.attempt = attempt.saturating_add(1);
        let step = self.def.steps[k].name;
        match next {
            Next::Retry(wait) => {
                tracing::warn!(
                    step,
                    attempt,
                    error = error.name(),
                    message = error.message(),
                    wait_ms = wait.as_millis() as u64,
                    "attempt failed; retrying"
                );
                tokio::time::sleep(wait).await
            }
            // Re-invoked at once with the same idempotency key, with a fresh
            // budget, as the generated `Resolve` state does.
            Next::Resolve => tracing::warn!(
                step,
                attempt,
                error = error.name(),
                "outcome unknown; re-invoking with the same idempotency key"
            ),
            Next::End(exit) => {
                tracing::warn!(
                    step,
                    attempt,
                    error = error.name(),
                    message = error.message(),
                    "attempt failed; no retry"
                );
                return Ok(Some(Attempted::Failed { error, exit }));
            }
        }
        Ok(None)
    }

    /// Goes on from the state the log recorded: `machine`, rebuilt from
    /// `history`. With `fresh_budget`, an operator resumed the saga and the
    /// stuck step's retry budget starts again.
    async fn resume(
        mut self,
        machine: &SagaMachine,
        history: &[LogEntry],
        fresh_budget: bool,
    ) -> Result<SagaOutcome<S::Output>, SagaError> {
        let steps = machine.steps();
        match machine.status() {
            Some(SagaStatus::Running) => {
                let Some(k) = steps.iter().position(|s| *s != StepState::Succeeded) else {
                    return self.forward(steps.len(), None).await;
                };
                let stage = machine.stage(k);
                if stage.len() > 1
                    && steps[stage.clone()]
                        .iter()
                        .any(|s| *s != StepState::Pending)
                {
                    // A parallel group in flight: each branch goes on from
                    // where it was; those not started yet start now.
                    let mut plans = Vec::with_capacity(stage.len());
                    for j in stage.clone() {
                        let (mut cur, last) = self.replay(j, Op::Forward, history, fresh_budget);
                        plans.push(match steps[j] {
                            StepState::Succeeded => Plan::Done,
                            StepState::Pending => {
                                self.log(SagaEvent::StepStarted {
                                    step: j,
                                    attempt: 1,
                                })
                                .await?;
                                cur.started = true;
                                Plan::Go(cur)
                            }
                            StepState::Running { attempt } => Plan::Interrupted(cur, attempt),
                            StepState::Failed { retry: true, .. } => Plan::Wait(cur, last),
                            StepState::Failed { retry: false, .. } => {
                                let (error, exit) = cur.ended(last, &self)?;
                                Plan::Ended(error, exit)
                            }
                            other => {
                                return Err(self.corrupt(format!(
                                    "step {j} is {other:?} while the saga runs forward"
                                )));
                            }
                        });
                    }
                    if let Some((j, error, exit)) = self.group(stage.clone(), plans).await? {
                        return self.after_failure(j, error, exit).await;
                    }
                    return self.forward(stage.end, None).await;
                }
                let (mut cur, last) = self.replay(k, Op::Forward, history, fresh_budget);
                match steps[k] {
                    StepState::Pending => self.forward(k, None).await,
                    StepState::Running { attempt } => {
                        match self
                            .fail(k, Op::Forward, &mut cur, interrupted(attempt))
                            .await?
                        {
                            Some(Attempted::Failed { error, exit }) => {
                                self.after_failure(k, error, exit).await
                            }
                            _ => self.forward(k, Some(cur)).await,
                        }
                    }
                    StepState::Failed { retry: true, .. } => {
                        cur.wait(&last).await;
                        self.forward(k, Some(cur)).await
                    }
                    StepState::Failed { retry: false, .. } => {
                        let (error, exit) = cur.ended(last, &self)?;
                        self.after_failure(k, error, exit).await
                    }
                    other => {
                        Err(self
                            .corrupt(format!("step {k} is {other:?} while the saga runs forward")))
                    }
                }
            }
            Some(SagaStatus::Compensating) => {
                let failed = machine.failed_step().unwrap_or(0);
                let error = history
                    .iter()
                    .rev()
                    .find_map(|e| match &e.event {
                        SagaEvent::UnwindStarted { error, .. } => Some(error.clone()),
                        _ => None,
                    })
                    .ok_or_else(|| self.corrupt("no `unwind_started` event".into()))?;
                // The failed step, and branches of its group that failed or
                // never started, have nothing to compensate.
                let end = machine.stage(failed).end;
                self.skip = (0..end)
                    .filter(|&j| {
                        matches!(
                            steps.get(j),
                            Some(
                                StepState::Pending
                                    | StepState::Running { .. }
                                    | StepState::Failed { .. }
                            )
                        )
                    })
                    .collect();
                let Some(j) = (0..end).rev().find(|&j| {
                    machine.kinds().get(j) == Some(&StepKind::Compensatable)
                        && !self.skip.contains(&j)
                        && steps.get(j) != Some(&StepState::Compensated)
                }) else {
                    return self.unwind(failed, error, 0, None).await;
                };
                let (mut cur, last) = self.replay(j, Op::Compensate, history, fresh_budget);
                match steps[j] {
                    StepState::Succeeded => self.unwind(failed, error, j + 1, None).await,
                    StepState::Compensating { attempt } => {
                        match self
                            .fail(j, Op::Compensate, &mut cur, interrupted(attempt))
                            .await?
                        {
                            Some(Attempted::Failed { error: e, .. }) => {
                                let reason = "the compensation failed past its retry budget";
                                self.stuck(j, Direction::Compensation, reason, e).await
                            }
                            _ => self.unwind(failed, error, j + 1, Some(cur)).await,
                        }
                    }
                    StepState::CompensationFailed { retry: true, .. } => {
                        cur.wait(&last).await;
                        self.unwind(failed, error, j + 1, Some(cur)).await
                    }
                    StepState::CompensationFailed { retry: false, .. } => {
                        let (e, _) = cur.ended(last, &self)?;
                        let reason = "the compensation failed past its retry budget";
                        self.stuck(j, Direction::Compensation, reason, e).await
                    }
                    other => {
                        Err(self
                            .corrupt(format!("step {j} is {other:?} while the saga compensates")))
                    }
                }
            }
            status => Err(SagaError::WrongStatus {
                id: self.id.clone(),
                status: status.unwrap_or(SagaStatus::Running),
                wanted: "only a running or compensating saga is driven on",
            }),
        }
    }

    /// Rebuilds the cursor of step `k` (or its compensation) from the
    /// failures the log recorded, as they were decided then. Returns it with
    /// the last failure and what followed it.
    fn replay(
        &self,
        k: usize,
        op: Op,
        history: &[LogEntry],
        fresh_budget: bool,
    ) -> (Cursor, Option<(StepError, Next)>) {
        let mut cur = self.cursor(k, op);
        let mut last = None;
        for entry in history {
            let failed = match (&entry.event, op) {
                (
                    SagaEvent::StepFailed {
                        step,
                        attempt,
                        error,
                        ..
                    },
                    Op::Forward,
                )
                | (
                    SagaEvent::CompensationFailed {
                        step,
                        attempt,
                        error,
                        ..
                    },
                    Op::Compensate,
                ) if *step == k => Some((*attempt, error)),
                (SagaEvent::Resumed { .. }, _) => {
                    cur.counters = None;
                    None
                }
                _ => None,
            };
            if let Some((attempt, error)) = failed {
                let next = cur.next(error, &self.inner.jitter);
                cur.attempt = attempt.saturating_add(1);
                last = Some((error.clone(), next));
            }
        }
        if fresh_budget {
            cur.counters = None;
        }
        (cur, last)
    }
}

/// The failure an attempt that was started but never finished counts as.
fn interrupted(attempt: u32) -> StepError {
    StepError::new(
        ErrorClass::Ambiguous,
        names::INTERRUPTED,
        format!("the runtime stopped while attempt {attempt} was running; its outcome is unknown"),
    )
}

/// Where a parallel branch goes on from.
enum Plan {
    /// It succeeded before: its output is in the state.
    Done,
    /// It ended for good before.
    Ended(StepError, Exit),
    /// Its next attempt runs now.
    Go(Cursor),
    /// Its last failure's backoff is waited out first.
    Wait(Cursor, Option<(StepError, Next)>),
    /// This attempt was started but never finished.
    Interrupted(Cursor, u32),
}

/// How one parallel branch ended.
enum Branch {
    /// It had succeeded before.
    Done,
    /// It succeeded now, with this output.
    Produced(Box<dyn std::any::Any + Send>),
    /// It failed for good.
    Failed { error: StepError, exit: Exit },
}

/// Where one step (or compensation) is in its phases and retries.
struct Cursor {
    phase: Phase,
    policy: RetryPolicy,
    /// Built on the first failure: the happy path needs no counters.
    counters: Option<Counters>,
    /// The attempt that runs next.
    attempt: u32,
    /// Whether that attempt's start is logged already.
    started: bool,
}

impl Cursor {
    /// Decides what follows a failure with `error`: either a retrier takes
    /// it, or a catcher ends the phase.
    fn next(&mut self, error: &StepError, jitter: &JitterSource) -> Next {
        let (phase, policy) = (self.phase, self.policy);
        let counters = self
            .counters
            .get_or_insert_with(|| Counters::new(phase, policy));
        match counters.retry(error) {
            Some((retrier, n)) => Next::Retry(retrier.delay(n, jitter.next_unit())),
            None => match phase.exit(error) {
                Exit::Resolve => {
                    self.phase = Phase::Resolve;
                    self.counters = Some(Counters::new(Phase::Resolve, policy));
                    Next::Resolve
                }
                exit => Next::End(exit),
            },
        }
    }

    /// Waits out the backoff that followed the last recorded failure.
    async fn wait(&self, last: &Option<(StepError, Next)>) {
        if let Some((_, Next::Retry(wait))) = last {
            tokio::time::sleep(*wait).await;
        }
    }

    /// The final error and exit of a step whose last failure was final.
    fn ended<S: Saga>(
        &self,
        last: Option<(StepError, Next)>,
        run: &Run<'_, S>,
    ) -> Result<(StepError, Exit), SagaError> {
        match last {
            Some((error, Next::End(exit))) => Ok((error, exit)),
            // Decided under another retry policy: the log's word is final,
            // and without a clear exit the safe one is to stop.
            Some((error, _)) => Ok((error, Exit::Stuck)),
            None => Err(run.corrupt("a final failure without its event".into())),
        }
    }
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy)]
enum Next {
    Retry(Duration),
    Resolve,
    End(Exit),
}

/// The final result of one step or compensation, after its retries.
enum Attempted {
    Done(Option<Produced>),
    Failed {
        error: StepError,
        /// [`Exit::Unwind`] or [`Exit::Stuck`].
        exit: Exit,
    },
}
