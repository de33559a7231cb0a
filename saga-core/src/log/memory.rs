//! An in-memory saga log, for tests and examples. It enforces the same
//! transition rules as a durable log but loses everything when dropped.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use super::{
    LogEntry, LogError, Outbox, OutboxEntry, SagaEvent, SagaLog, SagaMachine, SagaStatus,
    SagaSummary,
};
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
    sagas: Mutex<Sagas>,
    outbox: Mutex<MemoryOutbox>,
}

/// The outbox: (saga, seq) of every lifecycle event, and the cursors.
#[derive(Default)]
struct MemoryOutbox {
    /// Off unless made [`InMemoryLog::with_outbox`].
    enabled: bool,
    entries: Vec<(SagaId, u64)>,
    cursors: HashMap<String, u64>,
}

type Sagas = HashMap<SagaId, Record, BuildHasherDefault<IdHasher>>;

/// A multiply-rotate hash of saga ids (the Fx hash). Every append looks the
/// saga up, and SipHash was the largest single cost of an in-process step.
/// Saga ids are chosen by the application, not by its clients.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl InMemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty log that also keeps an [`Outbox`] of lifecycle events, for
    /// a publisher (`saga_core::publish`). Without it, the outbox methods
    /// answer [`LogError::NoOutbox`].
    pub fn with_outbox() -> Self {
        let log = Self::default();
        log.outbox().enabled = true;
        log
    }

    fn lock(&self) -> MutexGuard<'_, Sagas> {
        // A panic while holding the lock cannot leave a record half-written:
        // every mutation below is validated first, then applied in one step.
        self.sagas
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn append_now(&self, id: &SagaId, event: SagaEvent) -> Result<(), LogError> {
        let illegal = |source| LogError::Illegal {
            saga_id: id.clone(),
            source,
        };
        let mut sagas = self.lock();
        let record = match (&event, sagas.get_mut(id)) {
            (_, Some(record)) => {
                record.machine.apply(&event).map_err(illegal)?;
                record
            }
            (SagaEvent::Created { saga, kinds, .. }, None) => {
                // Checked before the record exists, so a refused `Created`
                // leaves no trace.
                let mut machine = SagaMachine::new();
                machine.apply(&event).map_err(illegal)?;
                let record = Record {
                    saga: saga.clone(),
                    machine,
                    // Two events per step, plus the start and the end.
                    entries: Vec::with_capacity(2 * kinds.len() + 2),
                };
                sagas.entry(id.clone()).or_insert(record)
            }
            (_, None) => return Err(LogError::UnknownSaga(id.clone())),
        };
        let seq = record.entries.len() as u64;
        let lifecycle = event.is_lifecycle();
        record.entries.push(LogEntry {
            seq,
            at: SystemTime::now(),
            event,
        });
        if lifecycle {
            // Still under the sagas' lock: the outbox order is the append order.
            let mut outbox = self.outbox();
            if outbox.enabled {
                outbox.entries.push((id.clone(), seq));
            }
        }
        Ok(())
    }

    fn outbox(&self) -> MutexGuard<'_, MemoryOutbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Outbox for InMemoryLog {
    fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<OutboxEntry>, LogError>> {
        let sagas = self.lock();
        let outbox = self.outbox();
        if !outbox.enabled {
            return Box::pin(std::future::ready(Err(LogError::NoOutbox)));
        }
        let start = usize::try_from(after).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for (i, (id, seq)) in outbox.entries.iter().enumerate().skip(start).take(limit) {
            let found = sagas.get(id).and_then(|r| {
                let entry = r.entries.get(usize::try_from(*seq).ok()?)?;
                let hash = match r.entries.first().map(|e| &e.event) {
                    Some(SagaEvent::Created {
                        definition_hash, ..
                    }) => definition_hash.clone(),
                    _ => String::new(),
                };
                Some((r.saga.clone(), hash, entry.clone()))
            });
            let Some((saga, definition_hash, entry)) = found else {
                return Box::pin(std::future::ready(Err(LogError::Corrupt {
                    saga_id: Some(id.clone()),
                    seq: Some(*seq),
                    reason: "the outbox names an event the log does not hold".into(),
                })));
            };
            out.push(OutboxEntry {
                pos: i as u64 + 1,
                saga_id: id.clone(),
                saga,
                definition_hash,
                entry,
            });
        }
        Box::pin(std::future::ready(Ok(out)))
    }

    fn cursor<'a>(&'a self, consumer: &'a str) -> BoxFuture<'a, Result<u64, LogError>> {
        let outbox = self.outbox();
        let pos = match outbox.enabled {
            true => Ok(outbox.cursors.get(consumer).copied().unwrap_or(0)),
            false => Err(LogError::NoOutbox),
        };
        Box::pin(std::future::ready(pos))
    }

    fn set_cursor<'a>(
        &'a self,
        consumer: &'a str,
        pos: u64,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        let mut outbox = self.outbox();
        let done = match outbox.enabled {
            true => {
                // A cursor never moves back.
                let cursor = outbox.cursors.entry(consumer.to_owned()).or_insert(0);
                *cursor = (*cursor).max(pos);
                Ok(())
            }
            false => Err(LogError::NoOutbox),
        };
        Box::pin(std::future::ready(done))
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

    fn list(
        &self,
        status: Option<SagaStatus>,
    ) -> BoxFuture<'_, Result<Vec<SagaSummary>, LogError>> {
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
            .filter(|s| status.is_none_or(|want| s.status == want))
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Box::pin(std::future::ready(Ok(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                groups: Vec::new(),
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

        // A refused `Created` leaves no record behind.
        let other = SagaId::new("t").unwrap();
        let refused = SagaEvent::Created {
            saga: "S".into(),
            definition_hash: "h".into(),
            kinds: vec![crate::StepKind::Pivot, crate::StepKind::Compensatable],
            groups: Vec::new(),
            input: serde_json::json!(1),
        };
        assert!(matches!(
            log.append(&other, refused).await,
            Err(LogError::Illegal { .. })
        ));
        assert!(matches!(
            log.history(&other).await,
            Err(LogError::UnknownSaga(_))
        ));
        assert_eq!(log.list(None).await.unwrap().len(), 1);
        assert_eq!(history[1].seq, 1);
        let list = log.list(None).await.unwrap();
        assert_eq!(list[0].status, SagaStatus::Completed);
    }
}
