//! Drives one saga run: forward through the steps, and on a final failure
//! backward through the compensations. Each transition is logged before the
//! effect it enables.
//!
//! Failure rules (the same in the generated state machine):
//! - a terminal error, or a retryable error once the retry budget is spent,
//!   means the step changed nothing: its own compensation is skipped and the
//!   completed steps are compensated in reverse completion order;
//! - an ambiguous error is resolved by re-invoking the step with the same
//!   idempotency key, within the step's retry budget: a success or a terminal
//!   error resolves it, a retryable error does not. If the outcome is still
//!   unknown when the budget is spent, the saga becomes stuck and nothing is
//!   compensated;
//! - a retriable step is retried on every error; past its budget the saga is stuck;
//! - a compensation is retried on every error; past its budget the saga is stuck.

use std::time::Duration;

use super::invoke;
use super::{Inner, Runtime, SagaError, SagaOutcome};
use crate::context::{Direction, SagaId, StepContext};
use crate::definition::SagaDefinition;
use crate::error::{ErrorClass, StepError};
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
                Attempted::Failed {
                    error,
                    outcome_unknown,
                } => return self.after_failure(k, error, outcome_unknown).await,
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
        outcome_unknown: bool,
    ) -> Result<SagaOutcome<S::Output>, SagaError> {
        let step = &self.def.steps[k];
        if step.kind == StepKind::Retriable || outcome_unknown {
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

    /// Runs step `k` (or its compensation) with retries. An error is the
    /// runtime's own failure; the step's final result is [`Attempted`].
    async fn invoke(&self, k: usize, op: Op) -> Result<Attempted, SagaError> {
        let step = &self.def.steps[k];
        let (policy, retry_terminal, direction) = match op {
            Op::Forward => (
                step.retry,
                step.kind == StepKind::Retriable,
                Direction::Forward,
            ),
            Op::Compensate => (self.inner.compensation_retry, true, Direction::Compensation),
        };
        let timeout = Duration::from_secs(u64::from(step.timeout_seconds.max(1)));
        let mut attempt: u32 = 1;
        // Set by an ambiguous error; only a success or a terminal error (which
        // by contract means "not done") resolves it. A retryable error says
        // nothing about the earlier attempt.
        let mut outcome_unknown = false;
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
            match error.class() {
                ErrorClass::Ambiguous => outcome_unknown = true,
                ErrorClass::Terminal => outcome_unknown = false,
                ErrorClass::Retryable => {}
            }
            let retry = (retry_terminal || error.class() != ErrorClass::Terminal)
                && attempt <= policy.max_attempts;
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
            if !retry {
                return Ok(Attempted::Failed {
                    error,
                    outcome_unknown,
                });
            }
            tokio::time::sleep(policy.delay(attempt, self.inner.jitter.next_unit())).await;
            attempt = attempt.saturating_add(1);
        }
    }
}

/// The final result of one step or compensation, after its retries.
enum Attempted {
    Done(Option<Produced>),
    Failed {
        error: StepError,
        /// Some attempt may have taken effect, and none since has said otherwise.
        outcome_unknown: bool,
    },
}
