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
use saga_core::log::SagaEvent;
use saga_core::prelude::*;
use saga_core::report;
use trip_saga::{BookTrip, BookTripTogether, Trip, functions};

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

/// A run of the trip saga that books the hotel and the car together
/// (`join!`), failing at `fail_at`, and its history.
async fn run_together(name: &str, fail_at: Option<&str>, runtime: &Runtime) -> ExecutionHistory {
    let id = SagaId::new(name).expect("id");
    let _ = BookTripTogether::run_with_id(runtime, id.clone(), trip(fail_at))
        .await
        .expect("runs");
    runtime.execution_history(&id).await.expect("history")
}

fn registered_together() -> Runtime {
    Runtime::builder().register::<BookTripTogether>().build()
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

/// The edges a Mermaid overlay draws bold, as written (`from arrow to`).
fn bold_edges(mermaid: &str) -> Vec<&str> {
    let edges: Vec<&str> = mermaid
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("-->") || l.contains(".->"))
        .collect();
    mermaid
        .lines()
        .filter_map(|l| l.trim().strip_prefix("linkStyle "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .map(|i| edges[i])
        .collect()
}

#[tokio::test]
async fn a_parallel_group_forks_joins_and_unwinds_in_order() {
    let def = BookTripTogether::definition();
    let plain = diagram::mermaid(def, None);
    // The branches framed together, under a stable id.
    assert!(
        plain.contains(concat!(
            "    subgraph join1 [\"join: reserve_hotel, rent_car\"]\n",
            "        s1[\"reserve_hotel\"]\n",
            "        s2[\"rent_car\"]\n",
            "    end\n",
        )),
        "{plain}"
    );
    // The flight forks to both branches; both join into the payment.
    for edge in ["s0 --> s1", "s0 --> s2", "s1 --> s3", "s2 --> s3"] {
        assert!(plain.contains(&format!("    {edge}\n")), "{edge}: {plain}");
    }
    // No forward edge between the branches, nor past them.
    for edge in ["s1 --> s2", "s2 --> s1", "s0 --> s3"] {
        assert!(!plain.contains(edge), "{edge}: {plain}");
    }
    // Compensations in the order they run: the car, the hotel, the flight.
    // A branch that fails leads to its sibling's compensation; the car's
    // may jump over the hotel's, when the hotel is the branch that failed.
    for edge in [
        "c2 -.-> c1",
        "c1 -.-> c0",
        "c0 -.-> compensated",
        "s1 -. fails .-> c2",
        "s2 -. fails .-> c1",
        "s3 -. fails .-> c2",
        "c2 -. if reserve_hotel failed .-> c0",
    ] {
        assert!(plain.contains(&format!("    {edge}\n")), "{edge}: {plain}");
    }
    for edge in ["c1 -.-> c2", "s1 -. fails .-> c1", "s2 -. fails .-> c2"] {
        assert!(!plain.contains(edge), "{edge}: {plain}");
    }
    golden("book_trip_together.mmd", &plain);

    let runtime = registered_together();
    // The car fails: the hotel is undone, then the flight.
    let car = run_together("together-mermaid-car", Some("car"), &runtime).await;
    assert_eq!(car.status, SagaStatus::Compensated);
    assert_eq!(
        car.steps,
        [
            StepRun::Compensated,
            StepRun::Compensated,
            StepRun::Failed,
            StepRun::NotRun,
            StepRun::NotRun
        ]
    );
    let overlay = diagram::mermaid(def, Some(&car));
    assert!(overlay.contains("class s2 failed"), "{overlay}");
    assert!(
        overlay.contains("class c0,c1,compensated compensated"),
        "{overlay}"
    );
    assert_eq!(
        bold_edges(&overlay),
        [
            "start --> s0",
            "s0 --> s1",
            "s0 --> s2",
            "s2 -. fails .-> c1",
            "c0 -.-> compensated",
            "c1 -.-> c0",
        ],
        "{overlay}"
    );

    // The hotel fails: the car is undone, then the flight.
    let hotel = run_together("together-mermaid-hotel", Some("hotel"), &runtime).await;
    assert_eq!(hotel.status, SagaStatus::Compensated);
    // The branches' events interleave: both start before either ends.
    let at = |t: T, step: &str| {
        hotel
            .events
            .iter()
            .position(|e| e.event_type == t && e.step.as_deref() == Some(step))
            .unwrap_or_else(|| panic!("no {t} of {step}"))
    };
    assert!(at(T::TaskStarted, "rent_car") < at(T::TaskFailed, "reserve_hotel"));
    let undo: Vec<_> = hotel
        .events
        .iter()
        .filter(|e| e.event_type == T::CompensationStarted)
        .filter_map(|e| e.step.as_deref())
        .collect();
    assert_eq!(undo, ["rent_car", "reserve_flight"]);
    let overlay = diagram::mermaid(def, Some(&hotel));
    assert_eq!(
        bold_edges(&overlay),
        [
            "start --> s0",
            "s0 --> s1",
            "s0 --> s2",
            "s1 -. fails .-> c2",
            "c0 -.-> compensated",
            "c2 -. if reserve_hotel failed .-> c0",
        ],
        "{overlay}"
    );
    golden("book_trip_together-hotel-fails.mmd", &overlay);

    // The same run logged with its branches' events the other way round
    // (the car starts and ends first) draws the same.
    let id = SagaId::new("together-mermaid-hotel").expect("id");
    let mut entries = runtime.history(&id).await.expect("log");
    let position = |pick: &dyn Fn(&SagaEvent) -> bool| {
        entries
            .iter()
            .position(|e| pick(&e.event))
            .expect("the event is logged")
    };
    let s1 = position(&|e: &SagaEvent| matches!(e, SagaEvent::StepStarted { step: 1, .. }));
    let s2 = position(&|e: &SagaEvent| matches!(e, SagaEvent::StepStarted { step: 2, .. }));
    let e1 = position(&|e: &SagaEvent| matches!(e, SagaEvent::StepFailed { step: 1, .. }));
    let e2 = position(&|e: &SagaEvent| matches!(e, SagaEvent::StepSucceeded { step: 2, .. }));
    assert!(s1 != s2 && e1 != e2);
    for (a, b) in [(s1, s2), (e1, e2)] {
        let (x, y) = (entries[a].event.clone(), entries[b].event.clone());
        entries[a].event = y;
        entries[b].event = x;
    }
    let swapped = ExecutionHistory::from_log(&id, &entries, Some(def), None, None);
    assert_eq!(swapped.status, SagaStatus::Compensated, "the swap replays");
    assert_eq!(swapped.steps, hotel.steps);
    assert_eq!(diagram::mermaid(def, Some(&swapped)), overlay);
    assert_eq!(
        diagram::svg(def, Some(&swapped)),
        diagram::svg(def, Some(&hotel))
    );

    // Completed: every forward edge, forks and joins included, is bold.
    let done = run_together("together-mermaid-ok", None, &runtime).await;
    let overlay = diagram::mermaid(def, Some(&done));
    assert_eq!(
        bold_edges(&overlay),
        [
            "start --> s0",
            "s0 --> s1",
            "s0 --> s2",
            "s1 --> s3",
            "s2 --> s3",
            "s3 --> s4",
            "s4 --> completed",
        ],
        "{overlay}"
    );
}

#[test]
fn the_svg_sets_a_parallel_group_side_by_side_in_a_frame() {
    let svg = diagram::svg(BookTripTogether::definition(), None);
    assert!(
        svg.contains("<g class=\"group\" data-group=\"join1\">"),
        "{svg}"
    );
    assert!(
        svg.contains(">join: reserve_hotel, rent_car</text>"),
        "{svg}"
    );
    // The two branches on one row, one beside the other.
    let corner = |node: &str| {
        let at = svg
            .find(&format!("data-node=\"{node}\"><rect x=\""))
            .unwrap_or_else(|| panic!("no {node}: {svg}"));
        let rest = &svg[at..];
        let number = |attr: &str| -> i64 {
            let from = rest.find(attr).expect("attribute") + attr.len();
            let len = rest[from..].find('"').expect("quoted");
            rest[from..from + len].parse().expect("a number")
        };
        (number("x=\""), number("y=\""))
    };
    let (hotel, car) = (corner("s1"), corner("s2"));
    assert_eq!(hotel.1, car.1, "same row");
    assert!(car.0 > hotel.0, "side by side");
    // A saga without groups is drawn as before: one column, no frame.
    assert!(!diagram::svg(BookTrip::definition(), None).contains("class=\"group\""));
}

fn temp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("observe");
    std::fs::create_dir_all(&dir).expect("dir");
    dir.join(name)
}

/// Renders `source` with Graphviz's `dot` to SVG, under `name`.
fn render_dot(source: &str, name: &str) -> String {
    let dot = required("SAGA_DOT", "Graphviz's dot");
    let input = temp(&format!("{name}.dot"));
    let output = temp(&format!("{name}.svg"));
    std::fs::write(&input, source).expect("write");
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
    svg
}

#[tokio::test]
#[ignore = "needs Graphviz dot (SAGA_DOT); scripts/test.sh installs it and runs this"]
async fn graphviz_renders_every_dot_diagram_to_svg() {
    let runtime = registered();
    let runs = [
        None,
        Some(run("trip-dot-car", Some("car"), &runtime).await),
        Some(run("trip-dot-ok", None, &runtime).await),
    ];
    for (i, h) in runs.iter().enumerate() {
        let source = diagram::dot(BookTrip::definition(), h.as_ref());
        let svg = render_dot(&source, &format!("book_trip-{i}"));
        for step in [
            "reserve_flight",
            "undo reserve_hotel",
            "charge_card (pivot)",
        ] {
            assert!(svg.contains(step), "{step} missing from the rendered SVG");
        }
    }
}

#[tokio::test]
#[ignore = "needs Graphviz dot (SAGA_DOT); scripts/test.sh installs it and runs this"]
async fn graphviz_renders_a_parallel_group_as_a_cluster() {
    let runtime = registered_together();
    let runs = [
        None,
        Some(run_together("together-dot-car", Some("car"), &runtime).await),
        Some(run_together("together-dot-hotel", Some("hotel"), &runtime).await),
        Some(run_together("together-dot-ok", None, &runtime).await),
    ];
    for (i, h) in runs.iter().enumerate() {
        let source = diagram::dot(BookTripTogether::definition(), h.as_ref());
        assert!(
            source.contains(
                "    subgraph cluster_join1 {\n        label=\"join: reserve_hotel, rent_car\";\n"
            ),
            "{source}"
        );
        for edge in ["s0 -> s1", "s0 -> s2", "s1 -> s3", "s2 -> s3"] {
            assert!(source.contains(&format!("    {edge}")), "{edge}: {source}");
        }
        for edge in ["s1 -> s2", "s2 -> s1"] {
            assert!(!source.contains(edge), "{edge}: {source}");
        }
        let svg = render_dot(&source, &format!("book_trip_together-{i}"));
        for text in [
            "cluster_join1",
            "join: reserve_hotel, rent_car",
            "reserve_hotel",
            "rent_car",
            "undo rent_car",
            "charge_card (pivot)",
        ] {
            assert!(svg.contains(text), "{text} missing from the rendered SVG");
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

    // A saga with a parallel group: its branches framed side by side.
    let h = run_together(
        "together-report-hotel",
        Some("hotel"),
        &registered_together(),
    )
    .await;
    let page = report::html(BookTripTogether::definition(), &h);
    let file = temp("together-report-hotel.html");
    std::fs::write(&file, &page).expect("write");
    let url = format!("file://{}", file.display());
    let dom = chromium(&["--dump-dom", &url], &temp("chromium-dom-together"));
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("data-group=\"join1\""), "the group is framed");
    assert!(dom.contains("join: reserve_hotel, rent_car"));
    assert!(dom.contains("id=\"status\">compensated<"));
    assert_eq!(
        dom.matches("<tr class=").count(),
        h.events.len(),
        "one table row per history event"
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
