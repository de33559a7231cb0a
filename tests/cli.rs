//! The operator command line, as users run it: the real `trip-ops` binary
//! (the example crate's three-line `main` over `saga_core::cli::run`)
//! against a real SQLite saga log that the `book_trip` example wrote.
//! Bad input (unknown ids, a missing log, another schema, a damaged file)
//! must give a clear message and a non-zero exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use saga_core::log::{SagaEvent, SagaLog, SqliteLog};
use saga_core::prelude::*;
use trip_saga::BookTrip;

/// A binary of the workspace, next to this test's own directory.
fn binary(path: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let debug = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = debug.join(path);
    assert!(
        bin.is_file(),
        "{} is missing: build it first (`cargo build --workspace --bins --examples`, which scripts/test.sh does)",
        bin.display()
    );
    bin
}

fn ops(db: &Path, args: &[&str]) -> Output {
    let out = Command::new(binary("trip-ops"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run trip-ops");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "trip-ops {args:?} panicked: {stderr}"
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fresh_db(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// Runs the book_trip example on `db`; returns its saga id.
fn book_trip(db: &Path, args: &[&str]) -> (String, Output) {
    let out = Command::new(binary("examples/book_trip"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run book_trip");
    let text = stdout(&out);
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("saga log for "))
        .or_else(|| {
            text.lines()
                .find_map(|l| l.split("with saga ").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
        })
        .map(|s| s.trim_end_matches(':').to_owned())
        .unwrap_or_else(|| panic!("no saga id in:\n{text}"));
    (id, out)
}

/// Writes a BookTrip saga stuck at `step` straight into the log.
async fn stuck_saga(db: &Path, id: &str, step: usize) {
    let log = SqliteLog::open(db).expect("open");
    let def = BookTrip::definition();
    let id = SagaId::new(id).expect("id");
    let input = serde_json::json!({"traveller": "Ada", "from": "LHR", "to": "JFK"});
    let mut events = vec![SagaEvent::Created {
        saga: def.name.into(),
        definition_hash: def.hash().into(),
        kinds: def.steps.iter().map(|s| s.kind).collect(),
        groups: def.group_pairs(),
        input,
    }];
    for k in 0..step {
        events.push(SagaEvent::StepStarted {
            step: k,
            attempt: 1,
        });
        let output = match k {
            0 => serde_json::json!({"code": "FL-LHR-JFK"}),
            _ => serde_json::json!({"code": "HT-JFK-10"}),
        };
        events.push(SagaEvent::StepSucceeded { step: k, output });
    }
    events.push(SagaEvent::StepStarted { step, attempt: 1 });
    events.push(SagaEvent::StepFailed {
        step,
        attempt: 1,
        error: StepError::ambiguous("the answer was lost"),
        retry: false,
    });
    events.push(SagaEvent::Stuck {
        step,
        reason: "the step's outcome is still unknown".into(),
    });
    for e in events {
        log.append(&id, e).await.expect("append");
    }
}

#[tokio::test]
async fn operators_list_show_draw_resume_abandon_and_recover_a_real_log() {
    let db = fresh_db("ops");
    let (done, out) = book_trip(&db, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (compensated, _) = book_trip(&db, &["--fail-at", "car"]);
    let (crashed, out) = book_trip(&db, &["--crash-after", "hotel"]);
    assert_eq!(out.status.code(), Some(137), "{}", stdout(&out));
    let (to_cancel, out) = book_trip(&db, &["--crash-after", "car"]);
    assert_eq!(out.status.code(), Some(137), "{}", stdout(&out));
    stuck_saga(&db, "stuck-resume", 1).await;
    stuck_saga(&db, "stuck-abandon", 2).await;

    let list = ops(&db, &["list"]);
    assert!(list.status.success(), "{}", stderr(&list));
    let text = stdout(&list);
    for (id, status) in [
        (done.as_str(), "completed"),
        (compensated.as_str(), "compensated"),
        (crashed.as_str(), "running"),
        ("stuck-resume", "stuck"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(id) && l.ends_with(status)),
            "{id} {status} in:\n{text}"
        );
    }
    let stuck = stdout(&ops(&db, &["list", "--status", "stuck"]));
    assert!(stuck.contains("(2 sagas)"), "{stuck}");

    let show = ops(&db, &["show", &compensated]);
    assert!(show.status.success());
    let text = stdout(&show);
    assert!(text.contains("compensated"), "{text}");
    for needle in [
        "ExecutionStarted",
        "TaskFailed",
        "rent_car",
        "Saga.Terminal",
        "CompensationSucceeded",
        "ExecutionCompensated",
    ] {
        assert!(text.contains(needle), "{needle} in:\n{text}");
    }

    let html = fresh_db("report").with_extension("html");
    let out = ops(
        &db,
        &[
            "diagram",
            "BookTrip",
            "--run",
            &compensated,
            "--format",
            "html",
            "--output",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "--output needs a value");
    let out = ops(
        &db,
        &[
            "diagram",
            "BookTrip",
            "--run",
            &compensated,
            "--format",
            "html",
            "--output",
            html.to_str().expect("utf-8 path"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let page = std::fs::read_to_string(&html).expect("report written");
    assert!(page.contains("ExecutionCompensated") && page.contains("<svg"));
    let mermaid = stdout(&ops(&db, &["diagram", "BookTrip"]));
    assert!(mermaid.starts_with("flowchart TD"), "{mermaid}");
    let dot = stdout(&ops(
        &db,
        &["diagram", "BookTrip", "--run", &done, "--format", "dot"],
    ));
    assert!(dot.starts_with("digraph"), "{dot}");
    // The saga with a parallel group draws its branches as one group.
    let (together, out) = book_trip(&db, &["--together", "--fail-at", "car"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let drawn = stdout(&ops(
        &db,
        &["diagram", "BookTripTogether", "--run", &together],
    ));
    assert!(
        drawn.contains("subgraph") && drawn.contains("join: reserve_hotel, rent_car"),
        "{drawn}"
    );
    let asl = ops(&db, &["asl", "BookTrip"]);
    assert!(asl.status.success());
    let machine: serde_json::Value = serde_json::from_slice(&asl.stdout).expect("ASL JSON");
    assert!(machine["States"].is_object());

    // Operators act on stuck sagas; the crashed one is recovered.
    let out = ops(&db, &["resume", "stuck-resume", "--by", "alice"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("stuck-resume: completed"),
        "{}",
        stdout(&out)
    );
    let out = ops(
        &db,
        &["abandon", "stuck-abandon", "--reason", "refunded by hand"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&ops(&db, &["show", "stuck-abandon"]));
    assert!(
        shown.contains("ExecutionAbandoned") && shown.contains("refunded by hand"),
        "{shown}"
    );
    // A crashed saga is cancelled; recovery then compensates it.
    let out = ops(
        &db,
        &["cancel", &to_cancel, "--reason", "customer withdrew"],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(": cancelled;"), "{}", stdout(&out));
    let out = ops(&db, &["recover"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    for (id, status) in [(&crashed, "completed"), (&to_cancel, "compensated")] {
        assert!(
            stdout(&out).contains(&format!("saga {id} (BookTrip): {status}")),
            "{}",
            stdout(&out)
        );
    }
    let shown = stdout(&ops(&db, &["show", &to_cancel]));
    for needle in [
        "ExecutionCancelRequested",
        "customer withdrew",
        "Saga.Cancelled",
        "ExecutionCompensated",
    ] {
        assert!(shown.contains(needle), "{needle} in:\n{shown}");
    }
    let out = ops(&db, &["cancel", &done, "--reason", "late"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is completed: only a running saga is cancelled"),
        "{}",
        stderr(&out)
    );
    let again = stdout(&ops(&db, &["recover"]));
    assert!(again.contains("recovered 0 saga(s)"), "{again}");

    // Operations on a saga in the wrong status are refused, with exit 1.
    let out = ops(&db, &["abandon", &done, "--reason", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("only a stuck saga is abandoned"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_input_gives_a_clear_message_and_a_non_zero_exit() {
    let db = fresh_db("bad");
    let (_, out) = book_trip(&db, &[]);
    assert!(out.status.success());

    let out = ops(&db, &["show", "no-such-saga"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("no saga with id no-such-saga"),
        "{}",
        stderr(&out)
    );
    let out = ops(&db, &["show", "not a valid id!"]);
    assert_eq!(out.status.code(), Some(2), "an invalid id is a usage error");
    let out = ops(&db, &["diagram", "NoSuchSaga"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("registered: BookTrip"),
        "{}",
        stderr(&out)
    );
    let out = ops(&db, &["list", "--status", "sleeping"]);
    assert_eq!(out.status.code(), Some(2));
    let out = ops(&db, &["diagram", "BookTrip", "--format", "html"]);
    assert_eq!(out.status.code(), Some(2), "html needs --run");
    let out = ops(&db, &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));

    let missing = fresh_db("missing");
    for args in [
        &["list"][..],
        &["show", "x"],
        &["recover"],
        &["resume", "x"],
    ] {
        let out = ops(&missing, args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("missing")
                || stderr(&out).contains("no such file")
                || stderr(&out).contains("no saga log"),
            "{}",
            stderr(&out)
        );
        for suffix in ["", "-wal", "-shm", ".lock"] {
            let file = format!("{}{suffix}", missing.display());
            assert!(!Path::new(&file).exists(), "{args:?} created {file}");
        }
    }

    let foreign = fresh_db("foreign");
    let conn = rusqlite::Connection::open(&foreign).expect("sqlite");
    conn.execute_batch("CREATE TABLE orders (id INTEGER)")
        .expect("table");
    drop(conn);
    for args in [&["list"][..], &["recover"]] {
        let out = ops(&foreign, args);
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        assert!(stderr(&out).contains("not a saga log"), "{}", stderr(&out));
    }
    // Refused without a change: still in its own journal mode, no WAL files.
    let conn = rusqlite::Connection::open(&foreign).expect("sqlite");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "delete");
    drop(conn);
    assert!(!Path::new(&format!("{}-wal", foreign.display())).exists());

    // A history that does not replay (damaged by hand) is an unusable log.
    let damaged = fresh_db("damaged");
    let (id, out) = book_trip(&damaged, &["--crash-after", "hotel"]);
    assert_eq!(out.status.code(), Some(137));
    let conn = rusqlite::Connection::open(&damaged).expect("sqlite");
    conn.execute(
        "INSERT INTO events (saga_id, seq, at_ms, kind, step, body) \
         SELECT ?1, max(seq) + 1, 0, 'completed', NULL, '{\"type\":\"completed\"}' FROM events WHERE saga_id = ?1",
        [&id],
    )
    .expect("damage");
    drop(conn);
    let out = ops(&damaged, &["show", &id]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(stderr(&out).contains(&id), "{}", stderr(&out));

    // A run logged under another definition is not drawn over this one.
    let other = fresh_db("other-definition");
    let log = SqliteLog::open(&other).expect("open");
    let def = BookTrip::definition();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio");
    rt.block_on(log.append(
        &SagaId::new("old-run").expect("id"),
        SagaEvent::Created {
            saga: def.name.into(),
            definition_hash: "fnv1a64:0000000000000001".into(),
            kinds: def.steps.iter().map(|s| s.kind).collect(),
            groups: def.group_pairs(),
            input: serde_json::json!({"traveller": "Ada", "from": "LHR", "to": "JFK"}),
        },
    ))
    .expect("append");
    drop(log);
    let out = ops(&other, &["diagram", "BookTrip", "--run", "old-run"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("fnv1a64:0000000000000001"),
        "{}",
        stderr(&out)
    );

    let newer = fresh_db("newer");
    drop(SqliteLog::open(&newer).expect("create"));
    let conn = rusqlite::Connection::open(&newer).expect("sqlite");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    for args in [&["list"][..], &["recover"]] {
        let out = ops(&newer, args);
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        assert!(
            stderr(&out).contains("schema version 99"),
            "{}",
            stderr(&out)
        );
    }

    let garbage = fresh_db("garbage");
    std::fs::write(&garbage, b"not a database at all, only some text").expect("write");
    let out = ops(&garbage, &["list"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    // A reader that closes the pipe early is not an error, nor a panic.
    let mut child = Command::new(binary("trip-ops"))
        .args(["diagram", "BookTrip", "--format", "svg"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));

    let help = ops(&db, &["--help"]);
    assert!(help.status.success());
    assert!(stdout(&help).contains("Examples:"), "{}", stdout(&help));
}
