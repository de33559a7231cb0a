//! Cancelling a saga: it stops before its next step and compensates what
//! completed. The request is an event in the saga log, so it survives a crash.

use super::{Runtime, SagaError};
use crate::context::SagaId;
use crate::log::{LogError, SagaEvent, SagaMachine, SagaStatus};
use crate::step::StepKind;

/// A cancellation that stands: [`Runtime::cancel`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// Recorded now. The saga stops before its next step and compensates.
    Requested,
    /// An earlier cancellation of this saga stands and the saga is still
    /// unwinding (or waits for recovery to); nothing was recorded.
    AlreadyRequested,
}

/// Why a saga cannot be cancelled.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// The saga is past the point where it may stop: a pivot or retriable
    /// step has started, so it must finish forward, or its last step has
    /// started, so no step is left to stop before.
    #[error("saga {id} cannot be cancelled: {why}")]
    TooLate {
        /// The saga.
        id: SagaId,
        /// The step that has started, by name (by index if the saga is not
        /// registered with this runtime).
        step: String,
        /// Its kind.
        kind: StepKind,
        /// Why that step decides it.
        why: String,
    },
    /// The saga is not running: it has ended, it is compensating already
    /// (for another reason), or it is stuck (resume or abandon it instead).
    #[error("saga {id} is {status}: only a running saga is cancelled")]
    NotRunning {
        /// The saga.
        id: SagaId,
        /// Its status.
        status: SagaStatus,
    },
    /// The saga log failed or refused the request, or holds no saga `id`
    /// ([`LogError::UnknownSaga`]).
    #[error(transparent)]
    Log(#[from] LogError),
}

impl Runtime {
    /// Cancels saga `id`, recording `reason`: the saga stops at its next step
    /// boundary (a step already running finishes, with its retries) and
    /// compensates its completed steps in reverse order. The run ends
    /// [`SagaOutcome::Cancelled`](crate::SagaOutcome::Cancelled), and the log
    /// records it as compensated with the error `Saga.Cancelled`.
    ///
    /// The request is appended to the saga log before this returns, so it
    /// survives a crash: [`Runtime::recover`] finishes the cancellation. A
    /// saga that this runtime is not driving (its process died) is cancelled
    /// the same way and unwinds on recovery. Call it on the runtime that
    /// drives the saga.
    ///
    /// A saga whose pivot (or any retriable step) has started cannot be
    /// cancelled: it must finish forward. Nor can one whose last step has
    /// started. Both answer [`CancelError::TooLate`].
    pub async fn cancel(
        &self,
        id: &SagaId,
        reason: impl Into<String>,
    ) -> Result<Cancelled, CancelError> {
        let reason = reason.into();
        // The log refuses `CancelRequested` unless the saga is running, has
        // steps, has no cancellation recorded yet, and has started neither
        // a pivot or retriable step nor its last step
        // (`SagaMachine::cancel_blocker`). The checks below apply the same
        // rules to what was read, so a refusal means the history moved on
        // between the read and the append. No step starts for the first
        // time meanwhile (the gate, or the claim), but the step in flight,
        // a compensatable one before the last, can still end the forward
        // run: once it has failed for good, the unwind start or the stuck
        // record takes the saga out of `Running` (the failure alone does
        // not). Another writer of the log may also have recorded a
        // cancellation. The next read shows why.
        let mut refused = None;
        for _ in 0..3 {
            // Either this runtime drives the saga, and the request goes
            // through its gate, or nothing does, and the claim keeps
            // recovery out until the request is recorded.
            let (slot, _claim) = match self.inner.claim(id) {
                Ok(claim) => (claim.slot.clone(), Some(claim)),
                Err(SagaError::Busy(_)) => match self.inner.slot(id) {
                    Some(slot) => (slot, None),
                    // It ended in between: look again.
                    None => continue,
                },
                Err(_) => continue,
            };
            let _gate = slot.gate.lock().await;
            let history = self.log().history(id).await?;
            let machine =
                SagaMachine::replay(history.iter().map(|e| &e.event)).map_err(|source| {
                    LogError::Illegal {
                        saga_id: id.clone(),
                        source,
                    }
                })?;
            let status = machine.status().unwrap_or(SagaStatus::Running);
            if machine.cancelled() && status.is_unfinished() {
                return Ok(Cancelled::AlreadyRequested);
            }
            if status != SagaStatus::Running {
                return Err(CancelError::NotRunning {
                    id: id.clone(),
                    status,
                });
            }
            if let Some(k) = machine.cancel_blocker() {
                return Err(self.too_late(id, &history, &machine, k));
            }
            let event = SagaEvent::CancelRequested {
                reason: reason.clone(),
            };
            match self.log().append(id, event).await {
                Ok(()) => {
                    slot.cancel(reason);
                    tracing::info!(saga_id = %id, "saga cancelled: it stops before its next step");
                    return Ok(Cancelled::Requested);
                }
                Err(e @ LogError::Illegal { .. }) => refused = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        let e = refused.unwrap_or_else(|| {
            LogError::Storage(format!(
                "saga {id}: could not reach the saga to cancel it; it kept starting and ending"
            ))
        });
        Err(e.into())
    }

    fn too_late(
        &self,
        id: &SagaId,
        history: &[crate::log::LogEntry],
        machine: &SagaMachine,
        k: usize,
    ) -> CancelError {
        let kind = machine
            .kinds()
            .get(k)
            .copied()
            .unwrap_or(StepKind::Compensatable);
        let name = match history.first().map(|e| &e.event) {
            Some(SagaEvent::Created {
                saga,
                definition_hash,
                ..
            }) => self
                .inner
                .registry
                .definitions()
                .find(|d| d.name == saga && d.hash() == definition_hash)
                .and_then(|d| d.steps.get(k))
                .map(|s| s.name.to_owned()),
            _ => None,
        }
        .unwrap_or_else(|| format!("#{k}"));
        let why = match kind {
            StepKind::Pivot => {
                format!("its pivot step `{name}` has started, so it must finish forward")
            }
            StepKind::Retriable => {
                format!("its retriable step `{name}` has started, so it must finish forward")
            }
            StepKind::Compensatable if machine.stage(k).len() > 1 => format!(
                "its last stage, a parallel group with step `{name}`, has started: no step is \
                 left to stop before"
            ),
            StepKind::Compensatable => {
                format!("its last step `{name}` has started: no step is left to stop before")
            }
        };
        CancelError::TooLate {
            id: id.clone(),
            step: name,
            kind,
            why,
        }
    }
}
