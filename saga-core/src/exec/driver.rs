//! Drives one saga run: forward through the steps, and on a final failure
//! backward through the compensations. Each transition is logged before the
//! effect it enables.
//!
//! Failure rules (the same in the generated state machine):
//! - a terminal error, or a retryable error once the retry budget is spent,
//!   means the step changed nothing: its own compensation is skipped and the
//!   completed steps are compensated in reverse completion order;
//! - an ambiguous error is resolved by re-invoking the step with the same
//!   idempotency key, within the step's retry budget; if the outcome is still
//!   unknown after that, the saga becomes stuck and nothing is compensated;
//! - a retriable step is retried on every error; past its budget the saga is stuck;
//! - a compensation is retried on every error; past its budget the saga is stuck.

use std::time::Duration;

use super::invoke;
use super::{Inner, Runtime, SagaError, SagaOutcome};
use crate::context::{Direction, SagaId, StepContext};
use crate::definition::SagaDefinition;
use crate::error::{ErrorClass, StepError};
use crate::log::SagaEvent;
use crate::saga::{Op, Produced, Saga, StateError, Stored};
use crate::step::StepKind;

pub(super) async fn run<S: Saga>(
    rt: &Runtime,
    id: SagaId,
    input: S::Input,
) -> Result<SagaOutcome<S::Output>, SagaError> {
    let def = S::definition();
    let steps = def.bodiless_steps();
    if !steps.is_empty() {
        return Err(SagaError::UnboundSteps {
            saga: def.name,
            steps,
        });
    }
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
        steps: def.steps.len(),
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
                Ok(Some(Produced { value, json })) => {
                    self.log(SagaEvent::StepSucceeded {
                        step: k,
                        output: json,
                    })
                    .await?;
                    S::store(&mut self.state, k, Stored::Value(value))
                        .map_err(|e| self.broken(e))?;
                }
                Ok(None) => return Err(self.broken(StateError::Missing(step.name))),
                Err(error) => return self.after_failure(k, error).await,
            }
        }
        self.log(SagaEvent::Completed).await?;
        let output = S::finish(self.state).map_err(|source| SagaError::State {
            saga: self.def.name,
            id: self.id.clone(),
            source,
        })?;
        Ok(SagaOutcome::Completed(output))
    }

    async fn after_failure(
        self,
        k: usize,
        error: StepError,
    ) -> Result<SagaOutcome<S::Output>, SagaError> {
        let step = &self.def.steps[k];
        if step.kind == StepKind::Retriable || error.class() == ErrorClass::Ambiguous {
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
                Ok(_) => {
                    self.log(SagaEvent::CompensationSucceeded { step: j })
                        .await?
                }
                Err(e) => {
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

    /// Runs step `k` (or its compensation) with retries. The outer `Result`
    /// is the runtime's own failure; the inner one is the step's final result.
    async fn invoke(
        &self,
        k: usize,
        op: Op,
    ) -> Result<Result<Option<Produced>, StepError>, SagaError> {
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
        let mut attempt = 1;
        loop {
            self.log(match op {
                Op::Forward => SagaEvent::StepStarted { step: k, attempt },
                Op::Compensate => SagaEvent::CompensationStarted { step: k, attempt },
            })
            .await?;
            let invocation = S::dispatch(&self.state, k, op).map_err(|e| self.broken(e))?;
            let ctx = StepContext::new(self.id.clone(), step.name, attempt, direction);
            let error = match invoke::attempt(invocation, ctx, timeout).await {
                Ok(produced) => return Ok(Ok(produced)),
                Err(error) => error,
            };
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
                return Ok(Err(error));
            }
            tokio::time::sleep(policy.delay(attempt, self.inner.jitter.next_unit())).await;
            attempt += 1;
        }
    }
}
