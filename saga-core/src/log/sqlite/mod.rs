//! The durable saga log: SQLite in WAL mode, through `rusqlite` (bundled).
//!
//! - One row per event (`events`), the event as JSON, step outputs included;
//!   one row per saga (`sagas`) with its name, definition hash, input and
//!   current status.
//! - Durable commits by default ([`Durability::Full`]).
//! - A versioned schema ([`SCHEMA_VERSION`]) with migrations; a database
//!   written by a newer version is refused with [`LogError::NewerSchema`].
//! - Group commit: concurrent appends share transactions (see
//!   [`SqliteLogBuilder::group_commit`]), and an append resolves only once
//!   its event is durable.
//!
//! ```
//! # async fn demo() -> Result<(), saga_core::log::LogError> {
//! use saga_core::log::{Durability, SqliteLog};
//! let dir = std::env::temp_dir().join(format!("saga-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let log = SqliteLog::builder(dir.join("sagas.db"))
//!     .durability(Durability::Full)
//!     .open()?;
//! let runtime = saga_core::Runtime::builder().log(log).build();
//! # let _ = runtime; Ok(()) }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```

mod read;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

pub use schema::SCHEMA_VERSION;

use super::{LogEntry, LogError, Outbox, OutboxEntry, SagaEvent, SagaLog, SagaStatus, SagaSummary};
use crate::context::SagaId;
use crate::saga::BoxFuture;
use writer::{Counts, Request, Write, Writer};

/// How far a commit goes before an append resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = FULL`: every commit is fsynced. Survives a process
    /// crash and a power loss. The default.
    #[default]
    Full,
    /// `synchronous = NORMAL`: in WAL mode a commit survives a process crash
    /// (`kill -9`) but the last commits may be lost on a power loss.
    Normal,
}

/// Configures a [`SqliteLog`].
#[derive(Debug, Clone)]
pub struct SqliteLogBuilder {
    path: PathBuf,
    durability: Durability,
    max_batch: usize,
}

impl SqliteLogBuilder {
    /// How durable each commit is (default: [`Durability::Full`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Whether concurrent appends share transactions (default: on). Off,
    /// every event is its own transaction and its own fsync.
    pub fn group_commit(mut self, on: bool) -> Self {
        self.max_batch = if on { DEFAULT_MAX_BATCH } else { 1 };
        self
    }

    /// The most events one transaction holds (default: 1024; at least 1).
    pub fn max_batch(mut self, events: usize) -> Self {
        self.max_batch = events.max(1);
        self
    }

    /// Opens the log, creating the file and migrating its schema as needed.
    ///
    /// One process at a time writes a log file: the log holds an exclusive
    /// lock on `<file>.lock` while it is open, and a second open (from any
    /// process) is refused with [`LogError::Open`] after waiting up to two
    /// seconds for the lock. Two runtimes recovering
    /// the same file would otherwise both drive its sagas.
    pub fn open(self) -> Result<SqliteLog, LogError> {
        let path = self.path.to_string_lossy().into_owned();
        let lock = lock(&path)?;
        let conn = schema::open_writer(&path, self.durability)?;
        let reader = schema::open_reader(&path, false)?;
        let (tx, rx) = mpsc::channel();
        let counts = Arc::new(Counts::default());
        let writer = Writer::new(conn, self.max_batch, Arc::clone(&counts));
        let thread = std::thread::Builder::new()
            .name("saga-log-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| LogError::Open {
                path: path.clone(),
                reason: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(SqliteLog {
            path: self.path,
            requests: Mutex::new(Some(tx)),
            reader: Arc::new(Mutex::new(reader)),
            writer: Mutex::new(Some(thread)),
            counts,
            lock: Some(lock),
        })
    }
}

/// Takes the exclusive lock of the log at `path`.
fn lock(path: &str) -> Result<std::fs::File, LogError> {
    let lock_path = format!("{path}.lock");
    let err = |reason: String| LogError::Open {
        path: path.to_owned(),
        reason,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| err(format!("cannot open the lock file {lock_path}: {e}")))?;
    // A lock just released can stay held for a moment by a process that
    // was being spawned at the time (it shares the descriptor until it
    // execs), so a busy lock is tried again for a short while.
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(err(format!(
                    "the log is open in another runtime (it holds {lock_path})"
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(err(format!("cannot lock {lock_path}: {e}")));
            }
        }
    }
}

/// How long [`SqliteLogBuilder::open`] waits for a busy lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

const DEFAULT_MAX_BATCH: usize = 1024;

/// A saga log in a SQLite database file. See the [module docs](self).
pub struct SqliteLog {
    path: PathBuf,
    requests: Mutex<Option<Sender<Request>>>,
    reader: Arc<Mutex<Connection>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    counts: Arc<Counts>,
    /// Held while the log is open for writing; released on drop.
    lock: Option<std::fs::File>,
}

/// What the log's writer has committed since the log was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommitStats {
    /// Transactions committed (each one fsync with [`Durability::Full`]).
    pub commits: u64,
    /// Events stored by them.
    pub events: u64,
}

impl std::fmt::Debug for SqliteLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteLog")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteLog {
    /// Opens (or creates) the log at `path` with the default settings.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteLog, LogError> {
        SqliteLog::builder(path).open()
    }

    /// Opens an existing log at `path` for reading only, next to a runtime
    /// that may be writing it (WAL readers do not block the writer). It
    /// takes no lock; appends fail with [`LogError::ReadOnly`]. A missing
    /// file is an error, not a new log.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<SqliteLog, LogError> {
        let path = path.as_ref().to_path_buf();
        let display = path.to_string_lossy().into_owned();
        if !path.is_file() {
            return Err(LogError::Open {
                path: display,
                reason: "no such file".into(),
            });
        }
        let reader = schema::open_reader(&display, true)?;
        Ok(SqliteLog {
            path,
            requests: Mutex::new(None),
            reader: Arc::new(Mutex::new(reader)),
            writer: Mutex::new(None),
            counts: Arc::new(Counts::default()),
            lock: None,
        })
    }

    /// Configures a log at `path`.
    pub fn builder(path: impl AsRef<Path>) -> SqliteLogBuilder {
        SqliteLogBuilder {
            path: path.as_ref().to_path_buf(),
            durability: Durability::Full,
            max_batch: DEFAULT_MAX_BATCH,
        }
    }

    /// How many transactions and events the writer committed so far: with
    /// group commit, `events / commits` is the mean batch.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            commits: self
                .counts
                .commits
                .load(std::sync::atomic::Ordering::Relaxed),
            events: self
                .counts
                .events
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting events, lets the writer finish what it holds, and
    /// waits for it. Dropping the log does the same.
    pub fn close(&self) {
        let sender = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(sender);
        let thread = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    fn send(&self, request: Request) -> Result<(), LogError> {
        if self.lock.is_none() {
            return Err(LogError::ReadOnly);
        }
        let guard = self.requests.lock().map_err(|_| LogError::Closed)?;
        match guard.as_ref() {
            Some(sender) => sender.send(request).map_err(|_| LogError::Closed),
            None => Err(LogError::Closed),
        }
    }

    /// Runs `read` on the reading connection, off the async executor when
    /// there is one.
    fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, LogError> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, LogError>> {
        let reader = Arc::clone(&self.reader);
        let run = move || {
            let conn = reader
                .lock()
                .map_err(|_| LogError::Storage("the reading connection is poisoned".into()))?;
            read(&conn)
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let task = handle.spawn_blocking(run);
                Box::pin(async move {
                    task.await
                        .map_err(|e| LogError::Storage(format!("the read task failed: {e}")))?
                })
            }
            Err(_) => Box::pin(std::future::ready(run())),
        }
    }
}

impl Drop for SqliteLog {
    fn drop(&mut self) {
        self.close();
    }
}

impl SagaLog for SqliteLog {
    fn append<'a>(
        &'a self,
        id: &'a SagaId,
        event: SagaEvent,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        let (reply, answer) = oneshot::channel();
        let sent = self.send(Request {
            write: Write::Append {
                id: id.clone(),
                event,
            },
            reply,
        });
        Box::pin(async move {
            sent?;
            answer.await.map_err(|_| LogError::Closed)?
        })
    }

    fn history<'a>(&'a self, id: &'a SagaId) -> BoxFuture<'a, Result<Vec<LogEntry>, LogError>> {
        let id = id.clone();
        self.read(move |conn| {
            let entries = read::history(conn, &id)?;
            if entries.is_empty() {
                Err(LogError::UnknownSaga(id))
            } else {
                Ok(entries)
            }
        })
    }

    fn list(
        &self,
        status: Option<SagaStatus>,
    ) -> BoxFuture<'_, Result<Vec<SagaSummary>, LogError>> {
        self.read(move |conn| read::list(conn, status))
    }
}

impl Outbox for SqliteLog {
    fn read_after(
        &self,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<OutboxEntry>, LogError>> {
        self.read(move |conn| read::outbox_after(conn, after, limit))
    }

    fn cursor<'a>(&'a self, consumer: &'a str) -> BoxFuture<'a, Result<u64, LogError>> {
        let consumer = consumer.to_owned();
        self.read(move |conn| read::outbox_cursor(conn, &consumer))
    }

    fn set_cursor<'a>(
        &'a self,
        consumer: &'a str,
        pos: u64,
    ) -> BoxFuture<'a, Result<(), LogError>> {
        let (reply, answer) = oneshot::channel();
        let sent = self.send(Request {
            write: Write::Cursor {
                consumer: consumer.to_owned(),
                pos,
            },
            reply,
        });
        Box::pin(async move {
            sent?;
            answer.await.map_err(|_| LogError::Closed)?
        })
    }
}
