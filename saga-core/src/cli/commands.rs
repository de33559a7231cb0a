//! What each command does.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::time::Duration;

use super::ExitStatus;
use super::args::{Cli, Command, Format};
use crate::asl::{AslOptions, generate};
use crate::context::SagaId;
use crate::definition::SagaDefinition;
use crate::exec::{CancelError, Cancelled, Runtime, RuntimeBuilder, SagaError};
use crate::history::ExecutionHistory;
use crate::log::{LogError, SagaStatus, SqliteLog};
use crate::report::timestamp;
use crate::{diagram, report};

/// A command that did not succeed: its exit status and what to print.
pub(super) struct Failure {
    pub(super) status: ExitStatus,
    pub(super) message: String,
}

fn fail(status: ExitStatus, message: impl Into<String>) -> Failure {
    Failure {
        status,
        message: message.into(),
    }
}

fn log_failure(e: LogError) -> Failure {
    let status = match e {
        LogError::UnknownSaga(_) => ExitStatus::NotFound,
        _ => ExitStatus::Log,
    };
    fail(status, e.to_string())
}

fn saga_failure(e: SagaError) -> Failure {
    match e {
        SagaError::Log(e) => log_failure(e),
        e @ SagaError::NotRegistered { .. } => fail(ExitStatus::NotFound, e.to_string()),
        e => fail(ExitStatus::Failed, e.to_string()),
    }
}

fn saga_id(id: &str) -> Result<SagaId, Failure> {
    SagaId::new(id).map_err(|e| fail(ExitStatus::Usage, e.to_string()))
}

/// A runtime that reads the log beside a runtime that may be writing it.
fn reader(builder: RuntimeBuilder, db: &Path) -> Result<Runtime, Failure> {
    let log = SqliteLog::open_read_only(db).map_err(log_failure)?;
    Ok(builder.log(log).build())
}

/// A runtime that writes the log: only one may hold it.
fn writer(builder: RuntimeBuilder, db: &Path) -> Result<Runtime, Failure> {
    if !db.is_file() {
        return Err(fail(
            ExitStatus::Log,
            format!("no saga log at {}", db.display()),
        ));
    }
    let log = SqliteLog::open(db).map_err(log_failure)?;
    Ok(builder.log(log).build())
}

fn definition(rt: &Runtime, saga: &str) -> Result<&'static SagaDefinition, Failure> {
    rt.registry().definition(saga).ok_or_else(|| {
        let known: Vec<&str> = rt.registry().definitions().map(|d| d.name).collect();
        fail(
            ExitStatus::NotFound,
            format!(
                "no saga named {saga:?} is registered (registered: {})",
                known.join(", ")
            ),
        )
    })
}

/// Runs `cli`, writing what it prints to `out`.
pub(super) async fn execute(
    builder: RuntimeBuilder,
    cli: Cli,
    out: &mut String,
) -> Result<ExitStatus, Failure> {
    let db = cli.db;
    match cli.command {
        Command::List { status } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(SagaStatus::parse(s).ok_or_else(|| {
                    let all: Vec<&str> = SagaStatus::ALL.iter().map(|s| s.as_str()).collect();
                    fail(
                        ExitStatus::Usage,
                        format!("unknown status {s:?}; use one of {}", all.join(", ")),
                    )
                })?),
            };
            let rt = reader(builder, &db)?;
            let sagas = rt.sagas(status).await.map_err(log_failure)?;
            let width = sagas.iter().map(|s| s.id.as_str().len()).max().unwrap_or(2);
            let _ = writeln!(out, "{:<width$}  {:<24}  STATUS", "ID", "SAGA");
            for s in &sagas {
                let _ = writeln!(out, "{:<width$}  {:<24}  {}", s.id, s.saga, s.status);
            }
            let _ = writeln!(
                out,
                "({} saga{})",
                sagas.len(),
                if sagas.len() == 1 { "" } else { "s" }
            );
            Ok(ExitStatus::Ok)
        }
        Command::Show { id } => {
            let id = saga_id(&id)?;
            let rt = reader(builder, &db)?;
            let h = rt.execution_history(&id).await.map_err(log_failure)?;
            print_history(out, &h);
            Ok(ExitStatus::Ok)
        }
        Command::Diagram {
            saga,
            run,
            format,
            output,
        } => {
            let (rt, history) = match &run {
                Some(id) => {
                    let id = saga_id(id)?;
                    let rt = reader(builder, &db)?;
                    let h = rt.execution_history(&id).await.map_err(log_failure)?;
                    (rt, Some(h))
                }
                None => (builder.build(), None),
            };
            let def = definition(&rt, &saga)?;
            if let Some(h) = &history {
                if h.saga != def.name {
                    return Err(fail(
                        ExitStatus::NotFound,
                        format!("{} is a run of saga {:?}, not {saga:?}", h.saga_id, h.saga),
                    ));
                }
                if h.definition_hash != def.hash() {
                    return Err(fail(
                        ExitStatus::Failed,
                        format!(
                            "{} ran under definition {} of {saga}; this program has {}: its path cannot be drawn over this definition",
                            h.saga_id,
                            h.definition_hash,
                            def.hash()
                        ),
                    ));
                }
            }
            let text = match (format, &history) {
                (Format::Mermaid, h) => diagram::mermaid(def, h.as_ref()),
                (Format::Dot, h) => diagram::dot(def, h.as_ref()),
                (Format::Svg, h) => diagram::svg(def, h.as_ref()),
                (Format::Html, Some(h)) => report::html(def, h),
                (Format::Html, None) => {
                    return Err(fail(
                        ExitStatus::Usage,
                        "--format html is the report of one run: give --run <id>",
                    ));
                }
            };
            match output {
                Some(path) => std::fs::write(&path, text).map_err(|e| {
                    fail(
                        ExitStatus::Failed,
                        format!("cannot write {}: {e}", path.display()),
                    )
                })?,
                None => out.push_str(&text),
            }
            Ok(ExitStatus::Ok)
        }
        Command::Asl { saga } => {
            let rt = builder.build();
            let def = definition(&rt, &saga)?;
            let machine = generate(def, &AslOptions::from_runtime(&rt))
                .map_err(|e| fail(ExitStatus::Failed, e.to_string()))?;
            let _ = writeln!(out, "{}", machine.to_json());
            Ok(ExitStatus::Ok)
        }
        Command::Resume { id, by } => {
            let id = saga_id(&id)?;
            let rt = writer(builder, &db)?;
            let status = rt.resume(&id, by).await.map_err(saga_failure)?;
            let _ = writeln!(out, "saga {id}: {status}");
            Ok(if status == SagaStatus::Stuck {
                eprintln!("saga {id} is stuck again; see `show {id}`");
                ExitStatus::Failed
            } else {
                ExitStatus::Ok
            })
        }
        Command::Cancel { id, reason } => {
            let id = saga_id(&id)?;
            let rt = writer(builder, &db)?;
            let answer = rt.cancel(&id, reason).await.map_err(|e| match e {
                CancelError::Log(e) => log_failure(e),
                e => fail(ExitStatus::Failed, e.to_string()),
            })?;
            let said = match answer {
                Cancelled::Requested => "cancelled",
                Cancelled::AlreadyRequested => "cancelled already",
            };
            let _ = writeln!(out, "saga {id}: {said}; `recover` compensates it");
            Ok(ExitStatus::Ok)
        }
        Command::Abandon { id, reason } => {
            let id = saga_id(&id)?;
            let rt = writer(builder, &db)?;
            rt.abandon(&id, reason).await.map_err(saga_failure)?;
            let _ = writeln!(out, "saga {id}: abandoned");
            Ok(ExitStatus::Ok)
        }
        Command::Recover => {
            let rt = writer(builder, &db)?;
            let spinner = std::io::stdout().is_terminal().then(|| {
                let bar = indicatif::ProgressBar::new_spinner();
                bar.set_message("recovering unfinished sagas");
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            });
            if spinner.is_none() {
                // Progress goes out at once; a closed pipe is not an error.
                let _ = writeln!(std::io::stdout(), "recovering unfinished sagas");
            }
            let report = rt.recover().await.map_err(log_failure);
            if let Some(bar) = spinner {
                bar.finish_and_clear();
            }
            let report = report?;
            for r in &report.sagas {
                match &r.result {
                    Ok(status) => {
                        let _ = writeln!(out, "saga {} ({}): {status}", r.id, r.saga);
                    }
                    Err(e) => {
                        let _ = writeln!(out, "saga {} ({}): not resumed: {e}", r.id, r.saga);
                    }
                }
            }
            let failed = report.failures().count();
            let _ = writeln!(
                out,
                "recovered {} saga(s): {} completed, {} compensated, {} stuck, {failed} not resumed",
                report.sagas.len(),
                report.count(SagaStatus::Completed),
                report.count(SagaStatus::Compensated),
                report.count(SagaStatus::Stuck),
            );
            Ok(if failed > 0 || report.count(SagaStatus::Stuck) > 0 {
                ExitStatus::Failed
            } else {
                ExitStatus::Ok
            })
        }
    }
}

fn print_history(out: &mut String, h: &ExecutionHistory) {
    let _ = writeln!(out, "saga {} ({}): {}", h.saga_id, h.saga, h.status);
    let _ = writeln!(
        out,
        "{:>3}  {:<23}  {:<21}  {:<20}  {:>3}  {:<26}  MESSAGE",
        "#", "TIME (UTC)", "EVENT", "STEP", "TRY", "ERROR"
    );
    for e in &h.events {
        let message = e
            .message
            .clone()
            .or_else(|| e.target.clone().map(|t| format!("on {t}")))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:>3}  {:<23}  {:<21}  {:<20}  {:>3}  {:<26}  {}",
            e.id,
            timestamp(e.timestamp),
            e.event_type,
            e.step.as_deref().unwrap_or(""),
            e.attempt.map(|a| a.to_string()).unwrap_or_default(),
            e.error.as_deref().unwrap_or(""),
            message
        );
    }
}
