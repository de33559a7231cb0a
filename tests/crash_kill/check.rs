//! The invariants, checked once every worker is gone: the saga log against
//! the ledger, saga by saga.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use saga_core::log::{LogEntry, SagaEvent, SagaLog, SagaMachine, SagaStatus, SqliteLog};
use saga_core::names;
use saga_core::prelude::*;

use crate::ledger::{self, Row};
use crate::plan::{self, COMPENSATABLE, STEPS};

/// What the log and the ledger hold at the end.
#[derive(Debug, Default)]
pub struct Totals {
    pub sagas: usize,
    pub completed: usize,
    pub compensated: usize,
    pub stuck: usize,
    pub events: usize,
    pub ledger_rows: usize,
    pub forward_calls: i64,
    pub compensation_calls: i64,
    /// Calls beyond the first under one key and direction.
    pub repeated_calls: i64,
    /// Calls that found their effect applied already.
    pub found_applied: i64,
    /// Forward attempts recovery found started but not finished.
    pub interrupted_steps: usize,
    /// Compensation attempts recovery found started but not finished.
    pub interrupted_compensations: usize,
    /// Steps re-invoked after an ambiguous answer (not an interruption).
    pub ambiguous_resolved: usize,
    /// One line per stuck saga: id, step, reason.
    pub stuck_sagas: Vec<String>,
    /// Stuck sagas by where they stopped: in a step or a compensation.
    pub stuck_in: BTreeMap<&'static str, usize>,
}

struct Saga<'a> {
    history: &'a [LogEntry],
    fwd: [Option<&'a Row>; 5],
    comp: [Option<&'a Row>; 5],
}

impl Saga<'_> {
    fn succeeded(&self, k: usize) -> bool {
        self.history
            .iter()
            .any(|e| matches!(e.event, SagaEvent::StepSucceeded { step, .. } if step == k))
    }

    fn compensation_succeeded(&self, k: usize) -> bool {
        self.history
            .iter()
            .any(|e| matches!(e.event, SagaEvent::CompensationSucceeded { step } if step == k))
    }

    /// How many attempts of step `k` (or its compensation) the log records
    /// as started.
    fn started(&self, k: usize, direction: Direction) -> i64 {
        let n = self
            .history
            .iter()
            .filter(|e| match (&e.event, direction) {
                (SagaEvent::StepStarted { step, .. }, Direction::Forward)
                | (SagaEvent::CompensationStarted { step, .. }, Direction::Compensation) => {
                    *step == k
                }
                _ => false,
            })
            .count();
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    /// The failures of step `k` (or its compensation) the log records:
    /// interruptions, and the others.
    fn failures(&self, k: usize, direction: Direction) -> (usize, usize) {
        let mut counts = (0, 0);
        for e in self.history {
            let error = match (&e.event, direction) {
                (SagaEvent::StepFailed { step, error, .. }, Direction::Forward)
                | (SagaEvent::CompensationFailed { step, error, .. }, Direction::Compensation)
                    if *step == k =>
                {
                    error
                }
                _ => continue,
            };
            if error.name() == names::INTERRUPTED {
                counts.0 += 1;
            } else {
                counts.1 += 1;
            }
        }
        counts
    }

    fn applied(&self, k: usize) -> bool {
        self.fwd[k].is_some_and(|r| r.applied)
    }

    fn undone(&self, k: usize) -> bool {
        self.comp[k].is_some_and(|r| r.applied)
    }

    fn unwound_at(&self) -> Option<usize> {
        self.history.iter().find_map(|e| match e.event {
            SagaEvent::UnwindStarted { failed_step, .. } => Some(failed_step),
            _ => None,
        })
    }
}

/// Checks every invariant; on a violation, returns a report naming each
/// offending saga with its history and ledger rows.
pub fn verify(dir: &Path, seed: u64) -> Result<Totals, String> {
    let log = SqliteLog::open(dir.join("saga-log.db")).map_err(|e| format!("open log: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (summaries, histories) = runtime.block_on(async {
        let summaries = log.list(None).await.map_err(|e| format!("list: {e}"))?;
        let mut histories = HashMap::new();
        for s in &summaries {
            let h = log
                .history(&s.id)
                .await
                .map_err(|e| format!("history of {}: {e}", s.id))?;
            histories.insert(s.id.clone(), h);
        }
        Ok::<_, String>((summaries, histories))
    })?;
    drop(log);
    let conn = ledger::open(&dir.join("ledger.db")).map_err(|e| format!("open ledger: {e}"))?;
    let rows = ledger::rows(&conn).map_err(|e| format!("ledger rows: {e}"))?;
    let violations = ledger::violations(&conn).map_err(|e| format!("ledger violations: {e}"))?;

    let mut totals = Totals {
        sagas: summaries.len(),
        ledger_rows: rows.len(),
        ..Totals::default()
    };
    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut fail = |saga: &str, what: String| {
        failures.entry(saga.to_owned()).or_default().push(what);
    };

    let known: BTreeSet<&str> = summaries.iter().map(|s| s.id.as_str()).collect();
    let mut by_saga: HashMap<&str, Vec<&Row>> = HashMap::new();
    for row in &rows {
        totals.repeated_calls += (row.calls - 1).max(0);
        totals.found_applied += row.repeats;
        match row.direction.as_str() {
            "forward" => totals.forward_calls += row.calls,
            _ => totals.compensation_calls += row.calls,
        }
        if row.key != format!("{}/{}", row.saga, row.step) || !STEPS.contains(&row.step.as_str()) {
            fail(
                &row.saga,
                format!("a ledger row with a foreign key: {row:?}"),
            );
        }
        // Invariant 4: the ledger holds effects of logged sagas only.
        if !known.contains(row.saga.as_str()) {
            fail(
                &row.saga,
                format!("a ledger row of a saga the log does not know: {row:?}"),
            );
        }
        by_saga.entry(row.saga.as_str()).or_default().push(row);
    }
    for (saga, step, what) in &violations {
        fail(saga, format!("violation at {step}: {what}"));
    }

    for summary in &summaries {
        let id = &summary.id;
        let history = &histories[id];
        totals.events += history.len();
        let mut saga = Saga {
            history,
            fwd: [None; 5],
            comp: [None; 5],
        };
        for row in by_saga.get(id.as_str()).into_iter().flatten() {
            let Some(k) = STEPS.iter().position(|s| *s == row.step) else {
                continue;
            };
            match row.direction.as_str() {
                "forward" => saga.fwd[k] = Some(row),
                _ => saga.comp[k] = Some(row),
            }
        }
        for e in history {
            match &e.event {
                SagaEvent::StepFailed { error, .. } if error.name() == names::INTERRUPTED => {
                    totals.interrupted_steps += 1
                }
                SagaEvent::CompensationFailed { error, .. }
                    if error.name() == names::INTERRUPTED =>
                {
                    totals.interrupted_compensations += 1
                }
                SagaEvent::StepFailed { error, .. } if error.class() == ErrorClass::Ambiguous => {
                    totals.ambiguous_resolved += 1
                }
                _ => {}
            }
        }
        let id_str = id.as_str();
        match SagaMachine::replay(history.iter().map(|e| &e.event)) {
            Ok(m) if m.status() == Some(summary.status) => {}
            Ok(m) => fail(
                id_str,
                format!(
                    "listed as {} but its history replays to {:?}",
                    summary.status,
                    m.status()
                ),
            ),
            Err(e) => fail(id_str, format!("its history does not replay: {e}")),
        }
        // Write-ahead: every call was preceded by its own logged start.
        for (k, step) in STEPS.iter().enumerate() {
            for (row, started) in [
                (saga.fwd[k], saga.started(k, Direction::Forward)),
                (saga.comp[k], saga.started(k, Direction::Compensation)),
            ] {
                if let Some(row) = row
                    && row.calls > started
                {
                    fail(
                        id_str,
                        format!(
                            "{} calls of {step} ({}), but only {started} logged starts",
                            row.calls, row.direction
                        ),
                    );
                }
            }
        }
        let expected_unwind = plan::unwinds_at(seed, id_str);
        match summary.status {
            // Invariant 1: every saga ended completed, compensated or stuck.
            SagaStatus::Completed => {
                totals.completed += 1;
                if let Some(k) = expected_unwind {
                    fail(
                        id_str,
                        format!("completed, though {} rejects every call", STEPS[k]),
                    );
                }
                for (k, step) in STEPS.iter().enumerate() {
                    if !saga.applied(k) {
                        fail(id_str, format!("completed without the effect of {step}"));
                    }
                }
                // Invariant 3: a completed saga was never compensated.
                for (k, step) in STEPS.iter().enumerate() {
                    if let Some(row) = saga.comp[k] {
                        fail(
                            id_str,
                            format!(
                                "completed, yet {step} was compensated ({} calls, applied {})",
                                row.calls, row.applied
                            ),
                        );
                    }
                }
                if let Some(k) = saga.unwound_at() {
                    fail(id_str, format!("completed after unwinding at {}", STEPS[k]));
                }
            }
            SagaStatus::Compensated => {
                totals.compensated += 1;
                let at = saga.unwound_at();
                if at != expected_unwind || at.is_none() {
                    fail(
                        id_str,
                        format!(
                            "compensated after failing at {:?}; the plan rejects at {:?}",
                            at.map(|k| STEPS[k]),
                            expected_unwind.map(|k| STEPS[k])
                        ),
                    );
                }
                // Invariant 2: every completed compensatable step was
                // compensated exactly once, and no effect is left standing.
                for (k, step) in STEPS.iter().enumerate().take(COMPENSATABLE) {
                    let (done, applied, undone) =
                        (saga.succeeded(k), saga.applied(k), saga.undone(k));
                    if done && !undone {
                        fail(
                            id_str,
                            format!("{step} completed but was never compensated"),
                        );
                    }
                    if done && !saga.compensation_succeeded(k) {
                        fail(
                            id_str,
                            format!("{step} completed but the log records no compensation"),
                        );
                    }
                    if applied && !undone {
                        fail(
                            id_str,
                            format!("the effect of {step} is left uncompensated"),
                        );
                    }
                    if undone && !applied {
                        fail(
                            id_str,
                            format!("{step} was compensated but its effect never applied"),
                        );
                    }
                    if undone && !done {
                        fail(
                            id_str,
                            format!("{step} was compensated but never logged as completed"),
                        );
                    }
                }
                for (k, step) in STEPS.iter().enumerate().skip(COMPENSATABLE) {
                    if saga.applied(k) {
                        fail(
                            id_str,
                            format!("compensated, yet the effect of {step} stands"),
                        );
                    }
                }
            }
            SagaStatus::Stuck => {
                totals.stuck += 1;
                let Some((k, reason)) = history.iter().rev().find_map(|e| match &e.event {
                    SagaEvent::Stuck { step, reason } => Some((*step, reason.clone())),
                    _ => None,
                }) else {
                    fail(id_str, "stuck without a `stuck` event".into());
                    continue;
                };
                let step = STEPS.get(k).copied().unwrap_or("?");
                let direction = if saga.unwound_at().is_some() {
                    Direction::Compensation
                } else {
                    Direction::Forward
                };
                // The plan fails a step or compensation at most once, well
                // within its retry budget: only interruptions (kills) can
                // spend the rest of it.
                let (interrupted, others) = saga.failures(k, direction);
                let planned = match direction {
                    _ if k >= STEPS.len() => 0,
                    Direction::Forward => {
                        usize::from(plan::forward(seed, id_str, k) != plan::Forward::Ok)
                    }
                    Direction::Compensation => {
                        usize::from(plan::undo(seed, id_str, k) != plan::Undo::Ok)
                    }
                };
                if interrupted == 0 || others > planned {
                    fail(
                        id_str,
                        format!(
                            "stuck at {step} ({direction:?}) after {interrupted} interruptions and {others} other failures ({planned} planned): {reason}"
                        ),
                    );
                }
                totals.stuck_sagas.push(format!("{id} at {step}: {reason}"));
                let what = match direction {
                    Direction::Forward => "a step",
                    Direction::Compensation => "a compensation",
                };
                *totals.stuck_in.entry(what).or_default() += 1;
                for (k, step) in STEPS.iter().enumerate() {
                    if saga.undone(k) && !saga.applied(k) {
                        fail(
                            id_str,
                            format!("{step} was compensated but its effect never applied"),
                        );
                    }
                }
            }
            other => fail(
                id_str,
                format!("ended {other}, not completed, compensated or stuck"),
            ),
        }
    }

    if failures.is_empty() {
        return Ok(totals);
    }
    let mut report = format!(
        "{} saga(s) break an invariant (seed {seed}):\n",
        failures.len()
    );
    for (shown, (saga, whats)) in failures.iter().enumerate() {
        let _ = writeln!(report, "\n== saga {saga}");
        for what in whats {
            let _ = writeln!(report, "   - {what}");
        }
        if shown >= 8 {
            let _ = writeln!(report, "   (history and rows of further sagas left out)");
            continue;
        }
        let plan: Vec<String> = (0..STEPS.len())
            .map(|k| {
                let undo = if k < COMPENSATABLE {
                    format!(", undo {:?}", plan::undo(seed, saga, k))
                } else {
                    String::new()
                };
                format!("{} {:?}{undo}", STEPS[k], plan::forward(seed, saga, k))
            })
            .collect();
        let _ = writeln!(report, "   plan: {}", plan.join("; "));
        let id = SagaId::new(saga.clone()).ok();
        match id.as_ref().and_then(|id| histories.get(id)) {
            Some(history) => {
                let _ = writeln!(report, "   history:");
                for e in history {
                    let _ = writeln!(report, "     {:>3} {:?}", e.seq, e.event);
                }
            }
            None => {
                let _ = writeln!(report, "   (not in the log)");
            }
        }
        let _ = writeln!(report, "   ledger:");
        for row in by_saga.get(saga.as_str()).into_iter().flatten() {
            let _ = writeln!(
                report,
                "     {} {}: calls {}, applied {}, found applied {}",
                row.key, row.direction, row.calls, row.applied, row.repeats
            );
        }
    }
    Err(report)
}
