//! Observing sagas: the typed execution history, the diagrams (Mermaid
//! golden files; DOT rendered by Graphviz), and the HTML run report loaded
//! in headless Chromium. Regenerate the golden files with
//! `GOLDEN=overwrite cargo test --test observe` after an intended change.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::tools::required;
use saga_core::diagram;
use saga_core::history::{ExecutionHistory, HistoryEventType as T, PayloadKind, StepRun};
use saga_core::invoke::LambdaInvoker;
use saga_core::prelude::*;
use saga_core::report;
use trip_saga::{BookTrip, Trip, functions};

fn trip(fail_at: Option<&str>) -> Trip {
    Trip {
        traveller: "Ada".into(),
        from: "LHR".into(),
        to: "JFK".into(),
        fail_at: fail_at.map(str::to_owned),
    }
}

/// A run of the trip saga, failing at `fail_at`, and its history.
async fn run(name: &str, fail_at: Option<&str>, runtime: &Runtime) -> ExecutionHistory {
    let id = SagaId::new(name).expect("id");
    let _ = BookTrip::run_with_id(runtime, id.clone(), trip(fail_at))
        .await
        .expect("runs");
    runtime.execution_history(&id).await.expect("history")
}

fn registered() -> Runtime {
    Runtime::builder().register::<BookTrip>().build()
}

#[tokio::test]
async fn the_history_is_typed_and_names_steps_targets_keys_and_errors() {
    let h = run("trip-car-fails", Some("car"), &registered()).await;
    assert_eq!(h.saga, "BookTrip");
    assert_eq!(h.status, SagaStatus::Compensated);
    let types: Vec<T> = h.events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        [
            T::ExecutionStarted,
            T::TaskStarted,
            T::TaskSucceeded,
            T::TaskStarted,
            T::TaskSucceeded,
            T::TaskStarted,
            T::TaskFailed,
            T::UnwindStarted,
            T::CompensationStarted,
            T::CompensationSucceeded,
            T::CompensationStarted,
            T::CompensationSucceeded,
            T::ExecutionCompensated,
        ]
    );
    assert_eq!(h.events[0].id, 1);
    let failed = h.failures().next().expect("a failure");
    assert_eq!(failed.step.as_deref(), Some("rent_car"));
    assert_eq!(failed.error.as_deref(), Some("Saga.Terminal"));
    assert_eq!(failed.retry, Some(false));
    assert_eq!(
        failed.idempotency_key.as_deref(),
        Some("trip-car-fails/rent_car")
    );
    assert_eq!(failed.target.as_deref(), Some("in-process"));
    let undo: Vec<_> = h
        .events
        .iter()
        .filter(|e| e.event_type == T::CompensationStarted)
        .map(|e| (e.step.clone().unwrap_or_default(), e.direction))
        .collect();
    assert_eq!(
        undo,
        [
            ("reserve_hotel".to_owned(), Some(Direction::Compensation)),
            ("reserve_flight".to_owned(), Some(Direction::Compensation)),
        ]
    );
    assert_eq!(
        h.steps,
        [
            StepRun::Compensated,
            StepRun::Compensated,
            StepRun::Failed,
            StepRun::NotRun,
            StepRun::NotRun
        ]
    );
    // Started, failed, and the unwind it started.
    assert_eq!(h.of_step("rent_car").count(), 3);
    // The input and each output are kept, unredacted by default.
    assert_eq!(
        h.events[0]
            .payload
            .as_ref()
            .and_then(|p| p["traveller"].as_str()),
        Some("Ada")
    );
    assert!(
        h.events[2]
            .payload
            .as_ref()
            .is_some_and(|p| p["code"] == "FL-LHR-JFK")
    );
}

#[tokio::test]
async fn targets_come_from_the_bindings_and_payloads_can_be_redacted() {
    let runtime = Runtime::builder()
        .register::<BookTrip>()
        .redact(|kind, value| match kind {
            PayloadKind::Input => serde_json::json!({"traveller": "***"}),
            PayloadKind::Output => serde_json::json!(format!("{} bytes", value.to_string().len())),
        })
        .build();
    let h = run("trip-redacted", None, &runtime).await;
    assert_eq!(h.status, SagaStatus::Completed);
    assert_eq!(
        h.events[0].payload,
        Some(serde_json::json!({"traveller": "***"}))
    );
    let outputs: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| e.payload.as_ref())
        .skip(1)
        .collect();
    assert!(
        outputs
            .iter()
            .all(|p| p.as_str().is_some_and(|s| s.ends_with("bytes")))
    );
    let text = serde_json::to_string(&h).expect("serialises");
    assert!(!text.contains("FL-LHR-JFK"), "no output leaks: {text}");

    // The same log read with Lambda bindings names each function.
    let lambda = LambdaInvoker::local("http://127.0.0.1:9");
    let bound = functions::bind(Runtime::builder(), &lambda).build();
    let entries = runtime
        .history(&SagaId::new("trip-redacted").expect("id"))
        .await
        .expect("log");
    let h = ExecutionHistory::from_log(
        &h.saga_id,
        &entries,
        Some(BookTrip::definition()),
        Some(bound.bindings()),
        None,
    );
    let targets: Vec<&str> = h
        .events
        .iter()
        .filter(|e| e.event_type == T::TaskStarted)
        .filter_map(|e| e.target.as_deref())
        .collect();
    assert_eq!(targets.len(), 5);
    assert!(
        targets.iter().all(|t| t.starts_with("lambda:")),
        "{targets:?}"
    );
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/diagram")
        .join(name);
    if std::env::var("GOLDEN").as_deref() == Ok("overwrite") {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
        std::fs::write(&path, actual).expect("write golden");
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; GOLDEN=overwrite writes it", path.display()));
    assert_eq!(actual, expected, "{} differs", path.display());
}

#[tokio::test]
async fn mermaid_diagrams_match_their_golden_files() {
    let def = BookTrip::definition();
    let plain = diagram::mermaid(def, None);
    // Forward edges solid, unwinds dashed, pivot and retriable shaped.
    assert!(plain.contains("s0 --> s1"), "{plain}");
    assert!(plain.contains("s2 -. fails .-> c1"), "{plain}");
    assert!(plain.contains("s3{{\"charge_card (pivot)\"}}"), "{plain}");
    assert!(
        plain.contains("s4[[\"send_confirmation (retriable)\"]]"),
        "{plain}"
    );
    golden("book_trip.mmd", &plain);

    let runtime = registered();
    let compensated = run("trip-mermaid-car", Some("car"), &runtime).await;
    let overlay = diagram::mermaid(def, Some(&compensated));
    assert!(overlay.contains("class s2 failed"), "{overlay}");
    assert!(
        overlay.contains("class c0,c1,compensated compensated"),
        "{overlay}"
    );
    golden("book_trip-car-fails.mmd", &overlay);

    let completed = run("trip-mermaid-ok", None, &runtime).await;
    golden(
        "book_trip-completed.mmd",
        &diagram::mermaid(def, Some(&completed)),
    );
}

fn temp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("observe");
    std::fs::create_dir_all(&dir).expect("dir");
    dir.join(name)
}

#[tokio::test]
#[ignore = "needs Graphviz dot (SAGA_DOT); scripts/test.sh installs it and runs this"]
async fn graphviz_renders_every_dot_diagram_to_svg() {
    let dot = required("SAGA_DOT", "Graphviz's dot");
    let runtime = registered();
    let runs = [
        None,
        Some(run("trip-dot-car", Some("car"), &runtime).await),
        Some(run("trip-dot-ok", None, &runtime).await),
    ];
    for (i, h) in runs.iter().enumerate() {
        let source = diagram::dot(BookTrip::definition(), h.as_ref());
        let input = temp(&format!("book_trip-{i}.dot"));
        let output = temp(&format!("book_trip-{i}.svg"));
        std::fs::write(&input, &source).expect("write");
        let status = Command::new(&dot)
            .arg("-Tsvg")
            .arg(&input)
            .arg("-o")
            .arg(&output)
            .status()
            .expect("run dot");
        assert!(status.success(), "dot failed on:\n{source}");
        let svg = std::fs::read_to_string(&output).expect("svg");
        assert!(svg.contains("<svg"), "{svg}");
        for step in [
            "reserve_flight",
            "undo reserve_hotel",
            "charge_card (pivot)",
        ] {
            assert!(svg.contains(step), "{step} missing from the rendered SVG");
        }
    }
}

/// Runs headless Chromium on `args` with a fresh profile.
fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    let chromium = required("SAGA_CHROMIUM", "Chromium");
    let _ = std::fs::remove_dir_all(profile);
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium")
}

#[tokio::test]
#[ignore = "needs headless Chromium (SAGA_CHROMIUM); scripts/test.sh installs it and runs this"]
async fn the_html_report_renders_in_a_real_browser() {
    let h = run("trip-report-car", Some("car"), &registered()).await;
    let page = report::html(BookTrip::definition(), &h);
    assert!(!page.contains("<script"), "the report needs no scripts");
    let file = temp("trip-report-car.html");
    std::fs::write(&file, &page).expect("write");
    let url = format!("file://{}", file.display());

    let dom = chromium(&["--dump-dom", &url], &temp("chromium-dom"));
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    for step in [
        "reserve_flight",
        "reserve_hotel",
        "rent_car",
        "charge_card",
        "send_confirmation",
    ] {
        assert!(dom.contains(step), "{step} missing from the rendered DOM");
    }
    assert!(dom.contains("ExecutionCompensated"));
    assert!(dom.contains("id=\"status\">compensated<"));
    assert_eq!(
        dom.matches("<tr class=").count(),
        h.events.len(),
        "one table row per history event"
    );
    assert!(dom.contains("<svg"), "the diagram is in the page");

    let shot = temp("trip-report-car.png");
    let _ = std::fs::remove_file(&shot);
    let out = chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1400",
            &url,
        ],
        &temp("chromium-shot"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        png.len() > 20_000,
        "a rendered page, not a blank one: {} bytes",
        png.len()
    );
}

/// One captured span or event: (`span` or `event`, the span's name, level, fields).
type Record = (String, String, tracing::Level, String);

/// Spans and events captured by a tracing layer.
#[derive(Default, Clone)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<Record>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut f = Fields(String::new());
        attrs.record(&mut f);
        let meta = attrs.metadata();
        self.0
            .lock()
            .expect("lock")
            .push(("span".into(), meta.name().into(), *meta.level(), f.0));
    }

    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut f = Fields(String::new());
        event.record(&mut f);
        self.0.lock().expect("lock").push((
            "event".into(),
            String::new(),
            *event.metadata().level(),
            f.0,
        ));
    }
}

#[test]
fn tracing_has_a_span_per_saga_and_attempt_and_events_for_retries_compensation_and_stuck() {
    use tracing_subscriber::layer::SubscriberExt;
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("tokio");
        rt.block_on(async {
            let runtime = registered();
            run("trip-traced-car", Some("car"), &runtime).await;
            // Confirmation fails twice, then succeeds: two retries.
            run("trip-traced-retry", Some("confirmation"), &runtime).await;
        });
    });
    let seen = captured.0.lock().expect("lock").clone();
    let spans = |name: &str| {
        seen.iter()
            .filter(|(k, n, ..)| k == "span" && n == name)
            .count()
    };
    let has = |pred: &dyn Fn(&Record) -> bool| seen.iter().any(pred);
    assert_eq!(spans("saga"), 2, "one span per saga run");
    assert!(has(&|(k, n, _, f)| k == "span"
        && n == "saga"
        && f.contains("saga=\"BookTrip\"")
        && f.contains("saga_id=trip-traced-car")));
    assert!(has(&|(k, n, _, f)| k == "span"
        && n == "step"
        && f.contains("step=\"rent_car\"")
        && f.contains("attempt=1")
        && f.contains("kind=\"forward\"")));
    assert!(has(&|(k, n, _, f)| k == "span"
        && n == "step"
        && f.contains("step=\"reserve_hotel\"")
        && f.contains("kind=\"compensation\"")));
    assert!(has(&|(k, _, l, f)| k == "event"
        && *l == tracing::Level::INFO
        && f.contains("compensation started")));
    assert!(has(&|(k, _, l, f)| k == "event"
        && *l == tracing::Level::INFO
        && f.contains("compensation ended")));
    assert!(has(&|(k, _, l, f)| k == "event"
        && *l == tracing::Level::WARN
        && f.contains("retrying")
        && f.contains("step=\"send_confirmation\"")));
    // Step spans: 3 + 2 compensations for the first run, 5 + 2 retries for the second.
    assert_eq!(spans("step"), 5 + 7, "one span per attempt");
    // No payload at INFO or above: outputs and the input never appear.
    for (_, _, level, fields) in &seen {
        if *level <= tracing::Level::INFO {
            for payload in ["FL-LHR-JFK", "HT-JFK", "Ada"] {
                assert!(
                    !fields.contains(payload),
                    "{payload} logged at {level}: {fields}"
                );
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_stuck_saga_is_traced_at_error() {
    use tracing_subscriber::layer::SubscriberExt;
    let captured = Captured::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(captured.clone()));
    // A panicking step is ambiguous; it panics on every re-invocation, so the saga ends stuck.
    let h = run("trip-traced-stuck", Some("panic:hotel"), &registered()).await;
    assert_eq!(h.status, SagaStatus::Stuck);
    let seen = captured.0.lock().expect("lock").clone();
    assert!(
        seen.iter().any(|(k, _, l, f)| k == "event"
            && *l == tracing::Level::ERROR
            && f.contains("saga stuck")
            && f.contains("step=\"reserve_hotel\"")),
        "{:?}",
        seen.iter().map(|s| &s.3).collect::<Vec<_>>()
    );
}
