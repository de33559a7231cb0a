//! A single self-contained HTML page for one saga run: the saga's diagram
//! with the run's path, and the execution history as a table. No scripts,
//! no external resources: it opens anywhere, offline.
//!
//! ```
//! # use saga_core::prelude::*;
//! # #[saga_step(pivot)] async fn pay(n: &u32) -> Result<u32, StepError> { Ok(*n) }
//! # saga! { pub saga Checkout(n: u32) -> u32 { let p = pay(&n); p } }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let runtime = Runtime::builder().register::<Checkout>().build();
//! let id = SagaId::new("order-1").unwrap();
//! let _ = Checkout::run_with_id(&runtime, id.clone(), 7).await.unwrap();
//! let history = runtime.execution_history(&id).await.unwrap();
//! let page = saga_core::report::html(Checkout::definition(), &history);
//! assert!(page.contains("ExecutionSucceeded"));
//! # });
//! ```

use std::fmt::Write;
use std::time::UNIX_EPOCH;

use crate::definition::SagaDefinition;
use crate::diagram::{escape, svg};
use crate::history::ExecutionHistory;

/// The HTML report of `run`, a run of saga `def`.
pub fn html(def: &SagaDefinition, run: &ExecutionHistory) -> String {
    let title = format!("Saga {} run {}", run.saga, run.saga_id);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{STYLE}</style></head>\n<body>\n<h1>{}</h1>\n<p>Status: <strong class=\"status {}\" id=\"status\">{}</strong> &middot; definition <code>{}</code> &middot; {} events</p>\n<figure>{}</figure>\n",
        escape(&title),
        escape(&title),
        run.status,
        run.status,
        escape(def.hash()),
        run.events.len(),
        svg(def, Some(run)),
    );
    out.push_str("<table id=\"history\"><thead><tr><th>#</th><th>time (UTC)</th><th>event</th><th>step</th><th>attempt</th><th>direction</th><th>target</th><th>idempotency key</th><th>error</th><th>message</th><th>retry</th><th>payload</th></tr></thead><tbody>\n");
    for e in &run.events {
        let cell = |v: Option<String>| escape(&v.unwrap_or_default());
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.event_type,
            e.id,
            timestamp(e.timestamp),
            e.event_type,
            cell(e.step.clone()),
            cell(e.attempt.map(|a| a.to_string())),
            cell(e.direction.map(|d| format!("{d:?}").to_lowercase())),
            cell(e.target.clone()),
            cell(e.idempotency_key.clone()),
            cell(e.error.clone()),
            cell(e.message.clone()),
            cell(e.retry.map(|r| r.to_string())),
            cell(e.payload.as_ref().map(|p| p.to_string())),
        );
    }
    out.push_str("</tbody></table>\n</body></html>\n");
    out
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC.
pub(crate) fn timestamp(at: std::time::SystemTime) -> String {
    let ms = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis()) as i64;
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

const STYLE: &str = "body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222}\
h1{font-size:20px}figure{margin:16px 0}\
table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}\
th{background:#f2f2f2}code{font-size:11px}\
.status.completed{color:#2e7d32}.status.compensated{color:#b7791f}.status.stuck,.status.abandoned{color:#c62828}\
tr.TaskFailed td,tr.CompensationFailed td{background:#fdeaea}tr.TaskSucceeded td{background:#eef9ef}\
tr.CompensationSucceeded td{background:#fff6dc}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_dates() {
        let at = UNIX_EPOCH + std::time::Duration::from_millis(1_796_370_901_294);
        assert_eq!(timestamp(at), "2026-12-04 07:55:01.294");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01 00:00:00.000");
    }
}
