//! The writer thread: group commit.
//!
//! Every append goes through one thread that owns the writing connection. It
//! takes every request waiting in its queue (up to a batch limit), validates
//! each against its saga's state, writes them in one transaction, commits
//! (one fsync for the whole batch), and only then answers each caller. So
//! concurrent sagas share commits, and no caller learns its event is stored
//! before it is durable: an effect never starts before its log event is.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::time::SystemTime;

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::read::{self, millis};
use crate::context::SagaId;
use crate::log::codec::encode_event;
use crate::log::{LogError, SagaEvent, SagaMachine};

/// One write, with the channel its result goes back on.
pub(super) struct Request {
    pub(super) write: Write,
    pub(super) reply: oneshot::Sender<Result<(), LogError>>,
}

/// What a request writes.
pub(super) enum Write {
    /// An event of saga `id`.
    Append { id: SagaId, event: SagaEvent },
    /// An outbox consumer's position.
    Cursor { consumer: String, pos: u64 },
}

/// What the writer knows about an unfinished saga.
struct Cached {
    machine: SagaMachine,
    next_seq: u64,
}

/// Counts of the writer's work, shared with the log's owner.
#[derive(Default)]
pub(super) struct Counts {
    pub(super) commits: AtomicU64,
    pub(super) events: AtomicU64,
}

pub(super) struct Writer {
    conn: Connection,
    max_batch: usize,
    counts: Arc<Counts>,
    /// The state of every unfinished saga the writer has seen, so appends
    /// are validated without reading. Finished sagas leave it.
    cache: HashMap<SagaId, Cached>,
    /// A statement of the open transaction failed.
    batch_lost: bool,
}

impl Writer {
    pub(super) fn new(conn: Connection, max_batch: usize, counts: Arc<Counts>) -> Self {
        Writer {
            conn,
            max_batch: max_batch.max(1),
            counts,
            cache: HashMap::new(),
            batch_lost: false,
        }
    }

    /// Serves requests until every sender is gone.
    pub(super) fn run(mut self, requests: Receiver<Request>) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Ok(first) = requests.recv() {
            batch.push(first);
            while batch.len() < self.max_batch {
                match requests.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.commit(&mut batch);
        }
    }

    /// Writes `batch` in one transaction and answers every request in it.
    fn commit(&mut self, batch: &mut Vec<Request>) {
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            for r in batch.drain(..) {
                let _ = r.reply.send(Err(storage_ctx("begin", &e)));
            }
            return;
        }
        let now = millis(SystemTime::now());
        let mut staged = Vec::with_capacity(batch.len());
        let mut requests = std::mem::take(batch).into_iter();
        let mut lost = None;
        for r in requests.by_ref() {
            let staging = match &r.write {
                Write::Append { id, event } => self.stage(id, event, now),
                Write::Cursor { consumer, pos } => self.stage_cursor(consumer, *pos),
            };
            match staging {
                Ok(()) => staged.push(r),
                Err(e) => {
                    let _ = r.reply.send(Err(e));
                    // After a failed statement the batch is given up; SQLite
                    // may have rolled the transaction back already.
                    if std::mem::take(&mut self.batch_lost) || self.conn.is_autocommit() {
                        if !self.conn.is_autocommit() {
                            let _ = self.conn.execute_batch("ROLLBACK");
                        }
                        lost = Some(
                            "a statement of the batch failed; its transaction was rolled back",
                        );
                        break;
                    }
                }
            }
        }
        let outcome = match lost {
            Some(why) => Err(why.to_owned()),
            None => self.conn.execute_batch("COMMIT").map_err(|e| {
                let _ = self.conn.execute_batch("ROLLBACK");
                e.to_string()
            }),
        };
        match outcome {
            Ok(()) => {
                self.counts.commits.fetch_add(1, Ordering::Relaxed);
                let events = staged
                    .iter()
                    .filter(|r| matches!(r.write, Write::Append { .. }))
                    .count();
                self.counts
                    .events
                    .fetch_add(events as u64, Ordering::Relaxed);
                for r in staged {
                    let _ = r.reply.send(Ok(()));
                }
            }
            Err(why) => {
                for r in staged {
                    // The cached state ran ahead of what is stored: forget it,
                    // so the next append reads the stored state back.
                    if let Write::Append { id, .. } = &r.write {
                        self.cache.remove(id);
                    }
                    let _ = r
                        .reply
                        .send(Err(LogError::Storage(format!("commit: {why}"))));
                }
            }
        }
        // Requests not reached because the transaction was lost get one of their own.
        let mut rest: Vec<Request> = requests.collect();
        if !rest.is_empty() {
            self.commit(&mut rest);
        }
    }

    /// Validates one event and writes it into the open transaction.
    fn stage(&mut self, id: &SagaId, event: &SagaEvent, now: i64) -> Result<(), LogError> {
        let (mut machine, seq) = match self.cache.get(id) {
            Some(c) => (c.machine.clone(), c.next_seq),
            None => match read::machine(&self.conn, id)? {
                Some(found) => found,
                None if matches!(event, SagaEvent::Created { .. }) => (SagaMachine::new(), 0),
                None => return Err(LogError::UnknownSaga(id.clone())),
            },
        };
        let illegal = |source| LogError::Illegal {
            saga_id: id.clone(),
            source,
        };
        let before = machine.status();
        machine.apply(event).map_err(illegal)?;
        let (kind, body) = encode_event(event);
        let step = event.step().map(|s| s as i64);
        let conn = &self.conn;
        let write = || -> rusqlite::Result<()> {
            if let SagaEvent::Created {
                saga,
                definition_hash,
                input,
                ..
            } = event
            {
                conn.prepare_cached(
                    "INSERT INTO sagas (id, saga, definition_hash, input, status, created_at_ms, updated_at_ms)
                     VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?5)",
                )?
                .execute(params![id.as_str(), saga, definition_hash, input.to_string(), now])?;
            }
            conn.prepare_cached(
                "INSERT INTO events (saga_id, seq, at_ms, kind, step, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![id.as_str(), seq as i64, now, kind, step, body])?;
            if event.is_lifecycle() {
                conn.prepare_cached("INSERT INTO outbox (saga_id, seq) VALUES (?1, ?2)")?
                    .execute(params![id.as_str(), seq as i64])?;
            }
            if let Some(after) = machine.status()
                && before.is_some()
                && before != Some(after)
            {
                conn.prepare_cached(
                    "UPDATE sagas SET status = ?2, updated_at_ms = ?3 WHERE id = ?1",
                )?
                .execute(params![id.as_str(), after.as_str(), now])?;
            }
            Ok(())
        };
        write().map_err(|e| {
            // A statement failed (an I/O error, a full disk): part of this
            // event may be in the transaction, so the whole batch is given
            // up rather than committed.
            self.batch_lost = true;
            storage_ctx(&format!("saga {id}"), &e)
        })?;
        // Only unfinished sagas stay cached; a finished one (or a stuck one,
        // which waits for an operator) is read back if it is ever appended to.
        if machine.status().is_some_and(|s| s.is_unfinished()) {
            self.cache.insert(
                id.clone(),
                Cached {
                    machine,
                    next_seq: seq + 1,
                },
            );
        } else {
            self.cache.remove(id);
        }
        Ok(())
    }
}

impl Writer {
    /// Writes an outbox consumer's position into the open transaction. The
    /// stored position only moves forward: a lower `pos` leaves it as is.
    fn stage_cursor(&mut self, consumer: &str, pos: u64) -> Result<(), LogError> {
        let pos = i64::try_from(pos).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(
                "INSERT INTO outbox_cursors (consumer, pos) VALUES (?1, ?2)
                 ON CONFLICT (consumer) DO UPDATE SET pos = max(pos, excluded.pos)",
            )
            .and_then(|mut stmt| stmt.execute(params![consumer, pos]))
            .map(|_| ())
            .map_err(|e| {
                self.batch_lost = true;
                storage_ctx(&format!("outbox cursor {consumer:?}"), &e)
            })
    }
}

fn storage_ctx(what: &str, e: &rusqlite::Error) -> LogError {
    LogError::Storage(format!("{what}: {e}"))
}
