//! Operating on the sagas in the log: recovery after a crash, listing,
//! history, and the operator's `resume` and `abandon` for stuck sagas.
//! Nothing here deletes anything: every decision is an event in the log.

use tokio::task::JoinSet;

use super::registry::Found;
use super::{Runtime, SagaError};
use crate::context::SagaId;
use crate::history::ExecutionHistory;
use crate::log::{LogEntry, LogError, SagaEvent, SagaMachine, SagaStatus, SagaSummary};

/// What recovery did with one unfinished saga.
#[derive(Debug)]
pub struct Recovered {
    /// The saga's id.
    pub id: SagaId,
    /// The saga's name.
    pub saga: String,
    /// How it ended: completed, compensated or stuck; or why it could not
    /// be resumed (it is left in the log as it was).
    pub result: Result<SagaStatus, SagaError>,
}

/// What [`Runtime::recover`] did, one entry per unfinished saga, by id.
#[derive(Debug, Default)]
pub struct RecoveryReport {
    /// Every unfinished saga found.
    pub sagas: Vec<Recovered>,
}

impl RecoveryReport {
    /// The sagas that could not be resumed.
    pub fn failures(&self) -> impl Iterator<Item = &Recovered> {
        self.sagas.iter().filter(|r| r.result.is_err())
    }

    /// How many sagas recovery drove to `status`.
    pub fn count(&self, status: SagaStatus) -> usize {
        self.sagas
            .iter()
            .filter(|r| matches!(r.result, Ok(s) if s == status))
            .count()
    }
}

impl Runtime {
    /// Finds every unfinished (running or compensating) saga in the log that
    /// this runtime is not driving, and drives each to an end, concurrently,
    /// from its history. Call it at start-up, before new sagas run.
    ///
    /// A step that was logged as started but not finished counts as an
    /// ambiguous failure (`Saga.Interrupted`) and follows the usual rules:
    /// it is re-invoked with the same idempotency key, or compensated. An
    /// unfinished compensation runs again. A saga whose logged definition
    /// hash differs from the registered one is refused
    /// ([`SagaError::DefinitionChanged`]) and left as it is; so is one that
    /// is not registered, or whose records do not decode. One saga's
    /// failure does not stop the others.
    ///
    /// Errs only if the log cannot list its sagas.
    pub async fn recover(&self) -> Result<RecoveryReport, LogError> {
        let mut pending = self.log().list(Some(SagaStatus::Running)).await?;
        pending.extend(self.log().list(Some(SagaStatus::Compensating)).await?);
        // A saga that moved between the two lists is listed twice.
        pending.sort_by(|a, b| a.id.cmp(&b.id));
        pending.dedup_by(|a, b| a.id == b.id);
        let mut tasks = JoinSet::new();
        let mut names = std::collections::HashMap::new();
        for summary in pending {
            if self.inner.is_active(&summary.id) {
                continue;
            }
            let rt = self.clone();
            let id = summary.id.clone();
            let handle = tasks.spawn(async move { rt.drive(&id, None).await });
            names.insert(handle.id(), (summary.id, summary.saga));
        }
        let mut report = RecoveryReport::default();
        while let Some(done) = tasks.join_next_with_id().await {
            let (task, result) = match done {
                Ok((task, result)) => (task, result),
                Err(e) => {
                    let task = e.id();
                    let reason = e.to_string();
                    let id = names.get(&task).map(|(id, _)| id.clone());
                    match id {
                        Some(id) => (task, Err(SagaError::Panicked { id, reason })),
                        None => continue,
                    }
                }
            };
            if let Some((id, saga)) = names.remove(&task) {
                report.sagas.push(Recovered { id, saga, result });
            }
        }
        report.sagas.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(report)
    }

    /// Resumes saga `id`: a stuck saga (by an operator, recorded as `by`)
    /// tries its stuck step or compensation again with a fresh retry
    /// budget; an unfinished saga that nothing drives (its process died) is
    /// driven on as [`Runtime::recover`] would. Returns how it ended.
    pub async fn resume(
        &self,
        id: &SagaId,
        by: impl Into<String>,
    ) -> Result<SagaStatus, SagaError> {
        self.drive(id, Some(by.into())).await
    }

    /// Gives up on stuck saga `id`, recording `reason`. It stays in the log
    /// as `abandoned`, with its whole history; nothing more runs for it.
    pub async fn abandon(&self, id: &SagaId, reason: impl Into<String>) -> Result<(), SagaError> {
        let _claim = self.inner.claim(id)?;
        let history = self.log().history(id).await?;
        let machine = SagaMachine::replay(history.iter().map(|e| &e.event)).map_err(|source| {
            LogError::Illegal {
                saga_id: id.clone(),
                source,
            }
        })?;
        let status = machine.status().unwrap_or(SagaStatus::Running);
        if status != SagaStatus::Stuck {
            return Err(SagaError::WrongStatus {
                id: id.clone(),
                status,
                wanted: "only a stuck saga is abandoned",
            });
        }
        let reason = reason.into();
        self.log()
            .append(id, SagaEvent::Abandoned { reason })
            .await?;
        Ok(())
    }

    /// The sagas in the log with `status` (all for `None`), ordered by id.
    pub async fn sagas(&self, status: Option<SagaStatus>) -> Result<Vec<SagaSummary>, LogError> {
        self.log().list(status).await
    }

    /// The history of saga `id`, oldest first.
    pub async fn history(&self, id: &SagaId) -> Result<Vec<LogEntry>, LogError> {
        self.log().history(id).await
    }

    /// The typed execution history of saga `id`: step names from the
    /// registered definition, targets from the bindings, payloads through
    /// the redaction hook ([`RuntimeBuilder::redact`](crate::RuntimeBuilder::redact)).
    /// Errs with [`LogError::Illegal`] if the history does not replay.
    pub async fn execution_history(&self, id: &SagaId) -> Result<ExecutionHistory, LogError> {
        let entries = self.log().history(id).await?;
        SagaMachine::replay(entries.iter().map(|e| &e.event)).map_err(|source| {
            LogError::Illegal {
                saga_id: id.clone(),
                source,
            }
        })?;
        let definition = match entries.first().map(|e| &e.event) {
            Some(SagaEvent::Created {
                saga,
                definition_hash,
                ..
            }) => self
                .inner
                .registry
                .definitions()
                .find(|d| d.name == saga && d.hash() == definition_hash),
            _ => None,
        };
        Ok(ExecutionHistory::from_log(
            id,
            &entries,
            definition,
            Some(&self.inner.bindings),
            self.inner.redact.as_ref(),
        ))
    }

    /// Drives saga `id` on from its history, under its registered type.
    async fn drive(&self, id: &SagaId, by: Option<String>) -> Result<SagaStatus, SagaError> {
        // Claimed before the history is read, so two resumes of one saga
        // never both act on the same history.
        let _claim = self.inner.claim(id)?;
        let history = self.log().history(id).await?;
        let Some(SagaEvent::Created {
            saga,
            definition_hash,
            ..
        }) = history.first().map(|e| &e.event)
        else {
            return Err(SagaError::BadRecord {
                saga: String::new(),
                id: id.clone(),
                reason: "the history does not begin with `created`".into(),
            });
        };
        match self.inner.registry.find(saga, definition_hash) {
            Found::Same(resume) => resume.call(self.clone(), id.clone(), history, by).await,
            Found::Changed(hashes) => Err(SagaError::DefinitionChanged {
                id: id.clone(),
                saga: saga.clone(),
                logged: definition_hash.clone(),
                current: hashes.join(", "),
            }),
            Found::Missing => Err(SagaError::NotRegistered {
                id: id.clone(),
                saga: saga.clone(),
            }),
        }
    }
}
