//! Reading the log back: one saga's history, and the list of sagas.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};

use crate::context::SagaId;
use crate::log::codec::decode_event;
use crate::log::{LogEntry, LogError, OutboxEntry, SagaMachine, SagaStatus, SagaSummary};

pub(super) fn storage(e: rusqlite::Error) -> LogError {
    LogError::Storage(e.to_string())
}

/// A read failure of one saga's records: SQLite's own corruption codes
/// become [`LogError::Corrupt`] naming the saga.
fn read_error(id: &SagaId) -> impl Fn(rusqlite::Error) -> LogError + '_ {
    move |e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
            LogError::Corrupt {
                saga_id: Some(id.clone()),
                seq: None,
                reason: e.to_string(),
            }
        }
        _ => LogError::Storage(format!("saga {id}: {e}")),
    }
}

pub(super) fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The time `ms` milliseconds after the epoch; a stored value out of the
/// platform's range reads as the epoch rather than overflowing.
fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
        .unwrap_or(UNIX_EPOCH)
}

/// The history of saga `id`, oldest first; empty if the log does not know it.
pub(super) fn history(conn: &Connection, id: &SagaId) -> Result<Vec<LogEntry>, LogError> {
    let err = read_error(id);
    let mut stmt = conn
        .prepare_cached("SELECT seq, at_ms, kind, body FROM events WHERE saga_id = ?1 ORDER BY seq")
        .map_err(&err)?;
    let mut rows = stmt.query(params![id.as_str()]).map_err(&err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(&err)? {
        let expected = out.len() as u64;
        let corrupt = |reason: String| LogError::Corrupt {
            saga_id: Some(id.clone()),
            seq: Some(expected),
            reason,
        };
        let seq: i64 = row.get(0).map_err(|e| corrupt(e.to_string()))?;
        if u64::try_from(seq).ok() != Some(expected) {
            return Err(corrupt(format!(
                "found event {seq} where {expected} belongs"
            )));
        }
        let at: i64 = row.get(1).map_err(|e| corrupt(e.to_string()))?;
        let kind: String = row.get(2).map_err(|e| corrupt(e.to_string()))?;
        let body = row
            .get_ref(3)
            .map_err(|e| corrupt(e.to_string()))?
            .as_bytes()
            .map_err(|e| corrupt(e.to_string()))?;
        let event = decode_event(&kind, body).map_err(|e| corrupt(e.to_string()))?;
        out.push(LogEntry {
            seq: expected,
            at: time(at),
            event,
        });
    }
    Ok(out)
}

/// Rebuilds saga `id`'s state from its history: `None` if the log does not
/// know it, else its state and the sequence number of its next event.
pub(super) fn machine(
    conn: &Connection,
    id: &SagaId,
) -> Result<Option<(SagaMachine, u64)>, LogError> {
    let entries = history(conn, id)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let machine = SagaMachine::replay(entries.iter().map(|e| &e.event)).map_err(|source| {
        LogError::Illegal {
            saga_id: id.clone(),
            source,
        }
    })?;
    Ok(Some((machine, entries.len() as u64)))
}

/// Up to `limit` outbox entries after position `after`, in order.
pub(super) fn outbox_after(
    conn: &Connection,
    after: u64,
    limit: usize,
) -> Result<Vec<OutboxEntry>, LogError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT o.pos, o.saga_id, o.seq, s.saga, s.definition_hash, e.at_ms, e.kind, e.body
             FROM outbox o
             JOIN events e ON e.saga_id = o.saga_id AND e.seq = o.seq
             JOIN sagas s ON s.id = o.saga_id
             WHERE o.pos > ?1 ORDER BY o.pos LIMIT ?2",
        )
        .map_err(storage)?;
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut rows = stmt.query(params![after, limit]).map_err(storage)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        let raw: String = row.get(1).map_err(storage)?;
        let corrupt =
            |saga_id: Option<SagaId>, seq: Option<u64>, reason: String| LogError::Corrupt {
                saga_id,
                seq,
                reason,
            };
        let saga_id = SagaId::new(raw).map_err(|e| corrupt(None, None, e.to_string()))?;
        let bad = |e: rusqlite::Error| corrupt(Some(saga_id.clone()), None, e.to_string());
        let pos: i64 = row.get(0).map_err(bad)?;
        let seq: i64 = row.get(2).map_err(bad)?;
        let seq =
            u64::try_from(seq).map_err(|e| corrupt(Some(saga_id.clone()), None, e.to_string()))?;
        let saga: String = row.get(3).map_err(bad)?;
        let definition_hash: String = row.get(4).map_err(bad)?;
        let at: i64 = row.get(5).map_err(bad)?;
        let kind: String = row.get(6).map_err(bad)?;
        let body = row
            .get_ref(7)
            .map_err(bad)?
            .as_bytes()
            .map_err(|e| corrupt(Some(saga_id.clone()), Some(seq), e.to_string()))?;
        let event = decode_event(&kind, body)
            .map_err(|e| corrupt(Some(saga_id.clone()), Some(seq), e.to_string()))?;
        out.push(OutboxEntry {
            pos: u64::try_from(pos).unwrap_or(0),
            saga_id,
            saga,
            definition_hash,
            entry: LogEntry {
                seq,
                at: time(at),
                event,
            },
        });
    }
    Ok(out)
}

/// The position `consumer` has published up to (0 if none).
pub(super) fn outbox_cursor(conn: &Connection, consumer: &str) -> Result<u64, LogError> {
    let pos: Option<i64> = conn
        .prepare_cached("SELECT pos FROM outbox_cursors WHERE consumer = ?1")
        .map_err(storage)?
        .query_row(params![consumer], |row| row.get(0))
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(storage(e)),
        })?;
    Ok(pos.and_then(|p| u64::try_from(p).ok()).unwrap_or(0))
}

/// The sagas with `status` (every saga for `None`), ordered by id.
pub(super) fn list(
    conn: &Connection,
    status: Option<SagaStatus>,
) -> Result<Vec<SagaSummary>, LogError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, saga, status FROM sagas WHERE ?1 IS NULL OR status = ?1 ORDER BY id",
        )
        .map_err(storage)?;
    let mut rows = stmt
        .query(params![status.map(SagaStatus::as_str)])
        .map_err(storage)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        let raw: String = row.get(0).map_err(storage)?;
        let corrupt = |saga_id: Option<SagaId>, reason: String| LogError::Corrupt {
            saga_id,
            seq: None,
            reason,
        };
        let id = SagaId::new(raw).map_err(|e| corrupt(None, e.to_string()))?;
        let saga: String = row
            .get(1)
            .map_err(|e| corrupt(Some(id.clone()), e.to_string()))?;
        let stored: String = row
            .get(2)
            .map_err(|e| corrupt(Some(id.clone()), e.to_string()))?;
        let status = SagaStatus::parse(&stored)
            .ok_or_else(|| corrupt(Some(id.clone()), format!("unknown status {stored:?}")))?;
        out.push(SagaSummary { id, saga, status });
    }
    Ok(out)
}
