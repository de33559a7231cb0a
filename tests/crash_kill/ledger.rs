//! The ledger: a SQLite database apart from the saga log, where every step
//! and compensation records its effect under its idempotency key, each write
//! a committed transaction before the step returns.
//!
//! One row per key and direction counts the calls, whether the effect was
//! applied (once: later calls find it and change nothing) and how many calls
//! found it applied already. What no correct runtime can cause is recorded
//! in `violations`: overlapping invocations of one key, a forward call after
//! the step's compensation, a compensation of an effect never applied, an
//! input or output that differs from what the step returned.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use saga_core::prelude::*;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS effects (
    key       TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('forward', 'compensation')),
    saga      TEXT NOT NULL,
    step      TEXT NOT NULL,
    calls     INTEGER NOT NULL,
    applied   INTEGER NOT NULL,
    repeats   INTEGER NOT NULL,
    PRIMARY KEY (key, direction)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS violations (
    saga TEXT NOT NULL,
    step TEXT NOT NULL,
    what TEXT NOT NULL
);";

/// Opens (or creates) the ledger at `path`: WAL, `synchronous = NORMAL`.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Forward => "forward",
        Direction::Compensation => "compensation",
    }
}

/// The ledger as the worker writes it.
pub struct Ledger {
    conn: Mutex<Connection>,
    inflight: Mutex<HashSet<String>>,
}

/// An invocation in progress; ends on drop.
pub struct Inflight<'a> {
    ledger: &'a Ledger,
    key: String,
    owned: bool,
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        if self.owned {
            lock(&self.ledger.inflight).remove(&self.key);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Ledger {
    pub fn new(conn: Connection) -> Ledger {
        Ledger {
            conn: Mutex::new(conn),
            inflight: Mutex::new(HashSet::new()),
        }
    }

    /// Marks the invocation of `ctx` as running; two at once under one
    /// idempotency key, in either direction, is a violation.
    pub fn enter(&self, ctx: &StepContext) -> Inflight<'_> {
        let key = ctx.idempotency_key();
        let owned = lock(&self.inflight).insert(key.clone());
        if !owned {
            self.violation(
                ctx,
                format!(
                    "{} call overlaps another invocation of {key}",
                    direction_name(ctx.direction())
                ),
            );
        }
        Inflight {
            ledger: self,
            key,
            owned,
        }
    }

    fn violation(&self, ctx: &StepContext, what: String) {
        let conn = lock(&self.conn);
        let written = conn.execute(
            "INSERT INTO violations (saga, step, what) VALUES (?1, ?2, ?3)",
            params![ctx.saga_id().as_str(), ctx.step(), what],
        );
        if let Err(e) = written {
            fatal(&e);
        }
    }

    /// Records one call of `ctx` in one committed transaction: counts it,
    /// applies the effect if `apply(call)` says so and it is not applied
    /// yet, and records `problems`. Returns the call's number, from 1.
    pub fn record(
        &self,
        ctx: &StepContext,
        apply: impl FnOnce(u64) -> bool,
        problems: Vec<String>,
    ) -> u64 {
        self.try_record(ctx, apply, problems)
            .unwrap_or_else(|e| fatal(&e))
    }

    fn try_record(
        &self,
        ctx: &StepContext,
        apply: impl FnOnce(u64) -> bool,
        mut problems: Vec<String>,
    ) -> rusqlite::Result<u64> {
        let key = ctx.idempotency_key();
        let saga = ctx.saga_id().as_str();
        let (dir, other) = match ctx.direction() {
            Direction::Forward => ("forward", "compensation"),
            Direction::Compensation => ("compensation", "forward"),
        };
        let mut conn = lock(&self.conn);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO effects (key, direction, saga, step, calls, applied, repeats)
             VALUES (?1, ?2, ?3, ?4, 1, 0, 0)
             ON CONFLICT (key, direction) DO UPDATE SET calls = calls + 1",
            params![key, dir, saga, ctx.step()],
        )?;
        let (calls, applied): (i64, bool) = tx.query_row(
            "SELECT calls, applied FROM effects WHERE key = ?1 AND direction = ?2",
            params![key, dir],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let other_applied: bool = tx
            .query_row(
                "SELECT applied FROM effects WHERE key = ?1 AND direction = ?2",
                params![key, other],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(false);
        match ctx.direction() {
            Direction::Forward if other_applied => problems.push(format!(
                "forward call {calls} after the compensation of {key}"
            )),
            Direction::Compensation if !other_applied => problems.push(format!(
                "compensation call {calls} of {key}, whose forward effect was never applied"
            )),
            _ => {}
        }
        let call = u64::try_from(calls).unwrap_or(0);
        if apply(call) {
            let column = if applied {
                "repeats = repeats + 1"
            } else {
                "applied = 1"
            };
            tx.execute(
                &format!("UPDATE effects SET {column} WHERE key = ?1 AND direction = ?2"),
                params![key, dir],
            )?;
        }
        for what in problems {
            tx.execute(
                "INSERT INTO violations (saga, step, what) VALUES (?1, ?2, ?3)",
                params![saga, ctx.step(), what],
            )?;
        }
        tx.commit()?;
        Ok(call)
    }
}

fn fatal(e: &rusqlite::Error) -> ! {
    eprintln!("crash_kill worker: the ledger failed: {e}");
    std::process::exit(5)
}

/// One row of `effects`.
#[derive(Debug, Clone)]
pub struct Row {
    pub key: String,
    pub direction: String,
    pub saga: String,
    pub step: String,
    pub calls: i64,
    pub applied: bool,
    pub repeats: i64,
}

/// Every row of `effects`.
pub fn rows(conn: &Connection) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = conn.prepare(
        "SELECT key, direction, saga, step, calls, applied, repeats FROM effects ORDER BY key, direction",
    )?;
    stmt.query_map([], |r| {
        Ok(Row {
            key: r.get(0)?,
            direction: r.get(1)?,
            saga: r.get(2)?,
            step: r.get(3)?,
            calls: r.get(4)?,
            applied: r.get(5)?,
            repeats: r.get(6)?,
        })
    })?
    .collect()
}

/// Every recorded violation: saga, step, what.
pub fn violations(conn: &Connection) -> rusqlite::Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare("SELECT saga, step, what FROM violations ORDER BY rowid")?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
}
