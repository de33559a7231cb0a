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

use std::time::Duration;

use super::invoke;
use super::{Inner, Runtime, SagaError, SagaOutcome};
use crate::context::{Direction, SagaId, StepContext};
use crate::definition::SagaDefinition;
use crate::error::StepError;
use crate::failure::{Counters, Exit, Phase};
use crate::invoke::Route;
use crate::invoke::payload::Metadata;
use crate::log::SagaEvent;
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
    let run = Run::<S> {
        inner: &rt.inner,
        id,
        def,
        state: S::start(input),
    };
    run.log(SagaEvent::Created {
        saga: def.name.to_owned(),
        definition_hash: def.hash().to_owned(),
        kinds: def.steps.iter().map(|s| s.kind).collect(),
        input: input_json,
    })
    .await?;
    run.forward().await
}

struct Run<'r, S: Saga> {
    inner: &'r Inner,
    id: SagaId,
    def: &'static SagaDefinition,
    state: S::State,
}

impl<S: Saga> Run<'_, S> {
    async fn log(&self, event: SagaEvent) -> Result<(), SagaError> {
        Ok(self.inner.log.append(&self.id, event).await?)
    }

    fn broken(&self, source: StateError) -> SagaError {
        SagaError::State {
            saga: self.def.name,
            id: self.id.clone(),
            source,
        }
    }

    async fn forward(mut self) -> Result<SagaOutcome<S::Output>, SagaError> {
        for (k, step) in self.def.steps.iter().enumerate() {
            match self.invoke(k, Op::Forward).await? {
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
        }
        self.log(SagaEvent::Completed).await?;
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

    async fn after_failure(
        self,
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
        for j in (0..k).rev() {
            if self.def.steps[j].kind != StepKind::Compensatable {
                continue;
            }
            match self.invoke(j, Op::Compensate).await? {
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
        Ok(SagaOutcome::Compensated {
            failed_step: step.name,
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
        Ok(SagaOutcome::Stuck {
            step: self.def.steps[k].name,
            direction,
            error,
        })
    }

    /// Runs step `k` (or its compensation) through its phases, with the
    /// retries of [`crate::failure`]. An error is the runtime's own failure;
    /// the step's final result is [`Attempted`].
    async fn invoke(&self, k: usize, op: Op) -> Result<Attempted, SagaError> {
        let step = &self.def.steps[k];
        let (mut phase, policy, direction) = match op {
            Op::Forward if step.kind == StepKind::Retriable => {
                (Phase::Retriable, step.retry, Direction::Forward)
            }
            Op::Forward => (Phase::Try, step.retry, Direction::Forward),
            Op::Compensate => (
                Phase::Compensation,
                self.inner.compensation_retry,
                Direction::Compensation,
            ),
        };
        // Built on the first failure: the happy path needs no counters.
        let mut counters: Option<Counters> = None;
        let timeout = Duration::from_secs(u64::from(step.timeout_seconds.max(1)));
        let mut attempt: u32 = 1;
        loop {
            self.log(match op {
                Op::Forward => SagaEvent::StepStarted { step: k, attempt },
                Op::Compensate => SagaEvent::CompensationStarted { step: k, attempt },
            })
            .await?;
            let route = match self.inner.bindings.get(step.name, direction) {
                Some(remote) => Route::Remote(
                    remote,
                    Metadata::new(&self.id, self.def.name, step.name, direction),
                ),
                None => Route::Local,
            };
            let invocation = S::dispatch(&self.state, k, op, route).map_err(|e| self.broken(e))?;
            let ctx = StepContext::new(self.id.clone(), step.name, attempt, direction);
            let error = match invoke::attempt(invocation, ctx, timeout).await {
                Ok(produced) => return Ok(Attempted::Done(produced)),
                Err(error) => error,
            };
            // Either a retrier takes the error, or a catcher ends the phase.
            let counters = counters.get_or_insert_with(|| Counters::new(phase, policy));
            let next = match counters.retry(&error) {
                Some((retrier, n)) => Next::Retry(retrier.delay(n, self.inner.jitter.next_unit())),
                None => match phase.exit(&error) {
                    Exit::Resolve => Next::Resolve,
                    exit => Next::End(exit),
                },
            };
            self.log(match op {
                Op::Forward => SagaEvent::StepFailed {
                    step: k,
                    attempt,
                    error: error.clone(),
                    retry: !matches!(next, Next::End(_)),
                },
                Op::Compensate => SagaEvent::CompensationFailed {
                    step: k,
                    attempt,
                    error: error.clone(),
                    retry: !matches!(next, Next::End(_)),
                },
            })
            .await?;
            match next {
                Next::Retry(wait) => tokio::time::sleep(wait).await,
                // Re-invoked at once with the same idempotency key, with a
                // fresh budget, as the generated `Resolve` state does.
                Next::Resolve => {
                    phase = Phase::Resolve;
                    *counters = Counters::new(phase, policy);
                }
                Next::End(exit) => return Ok(Attempted::Failed { error, exit }),
            }
            attempt = attempt.saturating_add(1);
        }
    }
}

/// What follows a failed attempt.
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
