//! Opening a SQLite saga log: WAL mode, the durability setting, and the
//! versioned schema with its migrations.

use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::Durability;
use crate::log::LogError;

/// Marks a database file as a saga log (`PRAGMA application_id`, "SAGA").
const APPLICATION_ID: i64 = 0x5341_4741;

/// The schema, one migration per version: `MIGRATIONS[i]` takes a database
/// from version `i` to version `i + 1`. A released migration never changes;
/// a new schema version appends one.
pub(super) const MIGRATIONS: &[&str] = &[
    // Version 1.
    "CREATE TABLE sagas (
        id              TEXT PRIMARY KEY NOT NULL,
        saga            TEXT NOT NULL,
        definition_hash TEXT NOT NULL,
        input           TEXT NOT NULL,
        status          TEXT NOT NULL,
        created_at_ms   INTEGER NOT NULL,
        updated_at_ms   INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sagas_by_status ON sagas (status, id);
    CREATE TABLE events (
        saga_id TEXT NOT NULL,
        seq     INTEGER NOT NULL,
        at_ms   INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        step    INTEGER,
        body    TEXT NOT NULL,
        PRIMARY KEY (saga_id, seq)
    ) WITHOUT ROWID;",
    // Version 2: the outbox of lifecycle events, in append order, and the
    // position each publisher has reached. Events logged before the upgrade
    // are not in it.
    "CREATE TABLE outbox (
        pos     INTEGER PRIMARY KEY AUTOINCREMENT,
        saga_id TEXT NOT NULL,
        seq     INTEGER NOT NULL
    );
    CREATE TABLE outbox_cursors (
        consumer TEXT PRIMARY KEY NOT NULL,
        pos      INTEGER NOT NULL
    ) WITHOUT ROWID;",
];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn open_error(path: &str) -> impl Fn(rusqlite::Error) -> LogError + '_ {
    move |e| LogError::Open {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Opens the connection that writes: WAL, `durability`, and the schema
/// migrated to [`SCHEMA_VERSION`].
pub(super) fn open_writer(path: &str, durability: Durability) -> Result<Connection, LogError> {
    let mut conn = open(path, false)?;
    let err = open_error(path);
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        },
    )
    .map_err(&err)?;
    migrate(&mut conn, path, MIGRATIONS)?;
    Ok(conn)
}

/// Opens a connection that reads, once the writer has set the schema up;
/// `read_only` opens the file read-only.
pub(super) fn open_reader(path: &str, read_only: bool) -> Result<Connection, LogError> {
    let conn = open(path, read_only)?;
    let version = check_version(&conn, path, MIGRATIONS.len())?;
    if version != SCHEMA_VERSION {
        return Err(LogError::Open {
            path: path.to_owned(),
            reason: format!(
                "schema version {version}, not {SCHEMA_VERSION}: open it once for writing to set it up"
            ),
        });
    }
    Ok(conn)
}

fn open(path: &str, read_only: bool) -> Result<Connection, LogError> {
    let err = open_error(path);
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::default()
    };
    let conn = Connection::open_with_flags(path, flags).map_err(&err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(&err)?;
    // Reads the file header first: a file that is not a database, or not a
    // saga log, is refused before anything is changed in it.
    check_version(&conn, path, MIGRATIONS.len())?;
    let pragma = if read_only {
        "PRAGMA journal_mode"
    } else {
        "PRAGMA journal_mode = WAL"
    };
    let mode: String = conn.query_row(pragma, [], |r| r.get(0)).map_err(&err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LogError::Open {
            path: path.to_owned(),
            reason: format!("the database is not in WAL mode (journal mode is {mode:?})"),
        });
    }
    Ok(conn)
}

/// Checks that `conn` holds a saga log no newer than `known` versions, and
/// returns its version.
fn check_version(conn: &Connection, path: &str, known: usize) -> Result<i64, LogError> {
    let err = open_error(path);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(&err)?;
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(&err)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(&err)?;
    let not_ours = |why: &str| LogError::Open {
        path: path.to_owned(),
        reason: format!("not a saga log: {why}"),
    };
    if app != APPLICATION_ID && (app != 0 || version != 0 || tables != 0) {
        return Err(not_ours(&format!(
            "application id {app:#x}, schema version {version}, {tables} schema objects"
        )));
    }
    if version > known as i64 {
        return Err(LogError::NewerSchema {
            path: path.to_owned(),
            found: version,
            supported: known as i64,
        });
    }
    if version < 0 {
        return Err(not_ours(&format!("schema version {version}")));
    }
    Ok(version)
}

/// Brings the schema up to `migrations.len()`, one version per transaction.
pub(super) fn migrate(
    conn: &mut Connection,
    path: &str,
    migrations: &[&str],
) -> Result<(), LogError> {
    let err = open_error(path);
    let from = check_version(conn, path, migrations.len())?;
    for (i, sql) in migrations.iter().enumerate().skip(from as usize) {
        // Immediate: the version is read again under the write lock, so two
        // openers of a new file never run one migration twice.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&err)?;
        let now: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(&err)?;
        if now > i as i64 {
            continue;
        }
        tx.execute_batch(sql).map_err(&err)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(&err)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(&err)?;
        tx.commit().map_err(&err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> String {
        let dir = std::env::temp_dir().join(format!("saga-schema-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        dir.to_string_lossy().into_owned()
    }

    #[test]
    fn migrations_run_once_in_order_and_newer_schemas_are_refused() {
        let path = temp("migrate");
        let mut conn = open(&path, false).unwrap();
        migrate(&mut conn, &path, MIGRATIONS).unwrap();
        assert_eq!(
            check_version(&conn, &path, MIGRATIONS.len()).unwrap(),
            SCHEMA_VERSION
        );
        // A later version adds a migration: only it runs.
        let mut next = MIGRATIONS.to_vec();
        next.push("ALTER TABLE sagas ADD COLUMN note TEXT");
        migrate(&mut conn, &path, &next).unwrap();
        migrate(&mut conn, &path, &next).unwrap();
        assert_eq!(
            check_version(&conn, &path, next.len()).unwrap(),
            SCHEMA_VERSION + 1
        );
        conn.execute("UPDATE sagas SET note = 'x'", []).unwrap();
        // This build does not know that version.
        match open_reader(&path, true) {
            Err(LogError::NewerSchema {
                found, supported, ..
            }) => assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION)),
            other => panic!("expected NewerSchema, got {other:?}"),
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_version_1_log_is_migrated_to_the_outbox_schema() {
        let path = temp("v1");
        let mut conn = open(&path, false).unwrap();
        migrate(&mut conn, &path, &MIGRATIONS[..1]).unwrap();
        conn.execute(
            "INSERT INTO sagas VALUES ('s', 'S', 'h', 'null', 'completed', 0, 0)",
            [],
        )
        .unwrap();
        drop(conn);
        let conn = open_writer(&path, Durability::Full).unwrap();
        assert_eq!(
            check_version(&conn, &path, MIGRATIONS.len()).unwrap(),
            SCHEMA_VERSION
        );
        let kept: i64 = conn
            .query_row("SELECT count(*) FROM sagas", [], |r| r.get(0))
            .unwrap();
        let outbox: i64 = conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!((kept, outbox), (1, 0));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_foreign_database_is_not_a_saga_log() {
        let path = temp("foreign");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        drop(conn);
        let err = open_writer(&path, Durability::Full).unwrap_err();
        assert!(err.to_string().contains("not a saga log"), "{err}");
        let _ = std::fs::remove_file(&path);
    }
}
