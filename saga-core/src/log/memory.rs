//! An in-memory saga log, for tests and examples. It enforces the same
//! transition rules as a durable log but loses everything when dropped.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use super::{LogEntry, LogError, SagaEvent, SagaLog, SagaMachine, SagaSummary};
use crate::context::SagaId;
use crate::saga::BoxFuture;

#[derive(Default)]
struct Record {
    saga: String,
    machine: SagaMachine,
    entries: Vec<LogEntry>,
}

/// A saga log held in memory.
#[derive(Default)]
pub struct InMemoryLog {
    sagas: Mutex<HashMap<SagaId, Record>>,
}

impl InMemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SagaId, Record>> {
        // A panic while holding the lock cannot leave a record half-written:
        // every mutation below is validated first, then applied in one step.
        self.sagas
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn append_now(&self, id: &SagaId, event: SagaEvent) -> Result<(), LogError> {
        let mut sagas = self.lock();
        let record = match (&event, sagas.get_mut(id)) {
            (_, Some(record)) => record,
            (SagaEvent::Created { saga, .. }, None) => {
                let saga = saga.clone();
                sagas.entry(id.clone()).or_insert_with(|| Record {
                    saga,
                    ..Record::default()
                })
            }
            (_, None) => return Err(LogError::UnknownSaga(id.clone())),
        };
        record
            .machine
            .apply(&event)
            .map_err(|source| LogError::Illegal {
                saga_id: id.clone(),
                source,
            })?;
        let seq = record.entries.len() as u64;
        record.entries.push(LogEntry {
            seq,
            at: SystemTime::now(),
            event,
        });
        Ok(())
    }
}

impl SagaLog for InMemoryLog {
    fn append<'a>(
        &'a self,
        id: &'a SagaId,
        event: SagaEvent,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        let result = self.append_now(id, event);
        Box::pin(std::future::ready(result))
    }

    fn history<'a>(&'a self, id: &'a SagaId) -> BoxFuture<'a, Result<Vec<LogEntry>, LogError>> {
        let result = self
            .lock()
            .get(id)
            .map(|r| r.entries.clone())
            .ok_or_else(|| LogError::UnknownSaga(id.clone()));
        Box::pin(std::future::ready(result))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<SagaSummary>, LogError>> {
        let mut out: Vec<SagaSummary> = self
            .lock()
            .iter()
            .filter_map(|(id, r)| {
                Some(SagaSummary {
                    id: id.clone(),
                    saga: r.saga.clone(),
                    status: r.machine.status()?,
                })
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Box::pin(std::future::ready(Ok(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::SagaStatus;

    #[tokio::test]
    async fn rejects_illegal_events_and_keeps_legal_ones() {
        let log = InMemoryLog::new();
        let id = SagaId::new("s").unwrap();
        assert!(matches!(
            log.append(&id, SagaEvent::Completed).await,
            Err(LogError::UnknownSaga(_))
        ));
        log.append(
            &id,
            SagaEvent::Created {
                saga: "S".into(),
                definition_hash: "h".into(),
                kinds: Vec::new(),
                input: serde_json::json!(1),
            },
        )
        .await
        .unwrap();
        assert!(matches!(
            log.append(&id, SagaEvent::Compensated).await,
            Err(LogError::Illegal { .. })
        ));
        log.append(&id, SagaEvent::Completed).await.unwrap();
        let history = log.history(&id).await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].seq, 1);
        let list = log.list().await.unwrap();
        assert_eq!(list[0].status, SagaStatus::Completed);
    }
}
