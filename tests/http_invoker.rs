//! Steps on HTTP endpoints: `HttpInvoker` against a real local HTTP server
//! (hyper, on 127.0.0.1) whose answers each test scripts, and which records
//! every request it receives. Every row of the HTTP error mapping is driven
//! through a saga: an in-process step, then a body-less step bound to the
//! endpoint.

mod common;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{Plan, act, compensated, succeeded, undo};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response};
use hyper_util::rt::TokioIo;
use saga_core::invoke::{HttpInvoker, payload};
use saga_core::log::SagaEvent;
use saga_core::names;
use saga_core::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

// ---------------------------------------------------------------------------
// The saga
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub item: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub code: String,
    pub cents: u64,
}

/// In-process, journalled by `tests/common`, so that its compensation shows.
#[saga_step(compensate = unprice)]
async fn price(order: &Order) -> Result<u64, StepError> {
    act(&Plan::new(), u64::from(order.quantity) * 250).await
}
async fn unprice(_order: &Order, cents: u64) -> Result<(), StepError> {
    undo(&Plan::new(), cents).await
}

/// Lives only behind the HTTP endpoint: one retry, one second later.
#[saga_step(
    compensate = release,
    timeout_seconds = 5,
    retry(max_attempts = 1, interval_seconds = 1, backoff_rate = 1.0)
)]
async fn reserve(order: &Order, cents: &u64) -> Result<Reservation, StepError>;

async fn release(_order: &Order, _cents: &u64, _reservation: Reservation) -> Result<(), StepError> {
    Ok(())
}

saga! {
    /// Prices an order in-process, then reserves it over HTTP.
    pub saga Checkout(order: Order) -> (u64, Reservation) {
        let cents = price(&order);
        let reservation = reserve(&order, &cents);
        (cents, reservation)
    }
}

/// The index of `reserve` in the saga's steps, as the saga log numbers it.
const RESERVE: usize = 1;

/// The one retry `reserve` declares.
const RETRIES: usize = 1;

const RESERVED: &str = r#"{"code":"R-7","cents":750}"#;

fn order() -> Order {
    Order {
        item: "lamp".into(),
        quantity: 3,
    }
}

fn reservation() -> Reservation {
    Reservation {
        code: "R-7".into(),
        cents: 750,
    }
}

fn runtime(http: &HttpInvoker, url: String) -> Runtime {
    Runtime::builder()
        .bind::<reserve>(http.endpoint(url))
        .compensation_retry(RetryPolicy::NEVER)
        .jitter_seed(3)
        .build()
}

async fn run(rt: &Runtime) -> (SagaId, SagaOutcome<(u64, Reservation)>) {
    let id = SagaId::new(format!("http-{}", SagaId::random())).expect("valid id");
    let outcome = Checkout::run_with_id(rt, id.clone(), order())
        .await
        .expect("the runtime itself does not fail");
    (id, outcome)
}

/// The errors the saga log recorded for `reserve`'s attempts, in order.
async fn failures(rt: &Runtime, id: &SagaId) -> Vec<(String, ErrorClass)> {
    history(rt, id)
        .await
        .into_iter()
        .filter_map(|event| match event {
            SagaEvent::StepFailed { step, error, .. } if step == RESERVE => {
                Some((error.name().to_owned(), error.class()))
            }
            _ => None,
        })
        .collect()
}

/// How many attempts of `reserve` the saga log recorded.
async fn attempts(rt: &Runtime, id: &SagaId) -> usize {
    history(rt, id)
        .await
        .into_iter()
        .filter(|event| matches!(event, SagaEvent::StepStarted { step, .. } if *step == RESERVE))
        .count()
}

async fn history(rt: &Runtime, id: &SagaId) -> Vec<SagaEvent> {
    rt.log()
        .history(id)
        .await
        .expect("history")
        .into_iter()
        .map(|entry| entry.event)
        .collect()
}

/// The payload contract of `reserve` in saga `id`.
fn contract(id: &SagaId) -> Value {
    json!({
        "order": { "item": "lamp", "quantity": 3 },
        "cents": 750,
        "saga": {
            "saga_id": id.as_str(),
            "saga_name": "Checkout",
            "step": "reserve",
            "direction": "forward",
            "idempotency_key": format!("{id}/reserve")
        }
    })
}

// ---------------------------------------------------------------------------
// The scripted server
// ---------------------------------------------------------------------------

/// One scripted answer.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: &'static str,
    delay: Duration,
    location: Option<String>,
}

fn answer(status: u16, body: &'static str) -> Answer {
    Answer {
        status,
        body,
        delay: Duration::ZERO,
        location: None,
    }
}

impl Answer {
    /// Answers only after `delay`.
    fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Answers with a `Location` header.
    fn location(mut self, url: String) -> Self {
        self.location = Some(url);
        self
    }
}

/// One request, as the server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the request body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

#[derive(Default)]
struct Script {
    answers: VecDeque<Answer>,
    last: Option<Answer>,
    seen: Vec<Seen>,
}

/// An HTTP server on 127.0.0.1 that gives the scripted answers in order, then
/// repeats the last one. It runs in one task, which owns the connection
/// tasks and is aborted when the server is dropped, at the end of the test.
struct Server {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(answers: &[Answer]) -> Server {
        assert!(!answers.is_empty(), "script at least one answer");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let script = Arc::new(Mutex::new(Script {
            answers: answers.iter().cloned().collect(),
            ..Script::default()
        }));
        let shared = Arc::clone(&script);
        let task = tokio::spawn(async move {
            // Aborting this task drops the set, which aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            connections.spawn(connection(stream, Arc::clone(&shared)));
                        }
                        Err(_) => break,
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Server { addr, script, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in arrival order.
    fn seen(&self) -> Vec<Seen> {
        self.script.lock().expect("script lock").seen.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connection(stream: TcpStream, script: Arc<Mutex<Script>>) {
    let service = service_fn(move |request| {
        let script = Arc::clone(&script);
        async move { Ok::<_, Infallible>(respond(request, script).await) }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn respond(request: Request<Incoming>, script: Arc<Mutex<Script>>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let answer = {
        let mut script = script.lock().expect("script lock");
        script.seen.push(Seen {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            headers: parts.headers,
            body,
        });
        let next = match script.answers.pop_front() {
            Some(next) => next,
            None => script.last.clone().expect("a scripted answer"),
        };
        script.last = Some(next.clone());
        next
    };
    tokio::time::sleep(answer.delay).await;
    let mut response = Response::builder()
        .status(answer.status)
        .header("content-type", "application/json");
    if let Some(location) = &answer.location {
        response = response.header("location", location);
    }
    response
        .body(Full::new(Bytes::from(answer.body)))
        .expect("a valid response")
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_2xx_answer_is_the_output_and_the_request_is_the_payload_contract() {
    let server = Server::start(&[answer(200, RESERVED)]).await;
    let http = HttpInvoker::new();
    let rt = runtime(&http, server.url("/reserve"));
    let (id, outcome) = run(&rt).await;
    assert_eq!(outcome, SagaOutcome::Completed((750, reservation())));
    assert_eq!(succeeded(&id), vec!["price".to_owned()]);
    assert!(compensated(&id).is_empty());

    let seen = server.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let request = &seen[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/reserve");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("authorization"),
        None,
        "no token was configured"
    );
    assert_eq!(request.json(), contract(&id));
    assert_eq!(
        request.json()["saga"]["idempotency_key"],
        json!(format!("{}/reserve", id.as_str()))
    );
}

#[tokio::test]
async fn the_bearer_token_and_extra_headers_arrive_with_every_request() {
    let server = Server::start(&[answer(503, "busy"), answer(200, RESERVED)]).await;
    let http = HttpInvoker::new()
        .bearer("s3cret-token")
        .header("x-api-key", "key-1");
    let rt = runtime(&http, server.url("/reserve"));
    let (_, outcome) = run(&rt).await;
    assert!(outcome.is_completed(), "{outcome:?}");
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for request in &seen {
        assert_eq!(request.header("authorization"), Some("Bearer s3cret-token"));
        assert_eq!(request.header("x-api-key"), Some("key-1"));
    }
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_then_succeed() {
    for status in [429, 500, 503] {
        let server = Server::start(&[
            answer(status, r#"{"message":"later"}"#),
            answer(200, RESERVED),
        ])
        .await;
        let http = HttpInvoker::new();
        let rt = runtime(&http, server.url("/reserve"));
        let (id, outcome) = run(&rt).await;
        assert_eq!(
            outcome,
            SagaOutcome::Completed((750, reservation())),
            "{status}"
        );
        assert_eq!(
            failures(&rt, &id).await,
            vec![(format!("Http.{status}"), ErrorClass::Retryable)],
            "{status}"
        );
        let seen = server.seen();
        assert_eq!(seen.len(), 2, "{status}: one retry: {seen:?}");
        // The retry is the same invocation: same payload, same idempotency key.
        assert_eq!(seen[0].json(), contract(&id), "{status}");
        assert_eq!(seen[1].json(), contract(&id), "{status}");
    }
}

#[tokio::test]
async fn a_retryable_status_past_the_budget_compensates_with_its_name() {
    let server = Server::start(&[answer(500, "boom")]).await;
    let http = HttpInvoker::new();
    let rt = runtime(&http, server.url("/reserve"));
    let (id, outcome) = run(&rt).await;
    match outcome {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "reserve");
            assert_eq!(error.name(), "Http.500");
            assert_eq!(error.class(), ErrorClass::Retryable);
            assert!(error.message().contains("boom"), "{error}");
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    assert_eq!(server.seen().len(), 1 + RETRIES);
    assert_eq!(compensated(&id), vec!["price".to_owned()]);
}

#[tokio::test]
async fn a_gateway_timeout_is_ambiguous_re_invoked_and_never_compensated() {
    let gateway = r#"{"message":"Endpoint request timed out"}"#;
    let server = Server::start(&[answer(504, gateway)]).await;
    let http = HttpInvoker::new();
    let rt = runtime(&http, server.url("/reserve"));
    let (id, outcome) = run(&rt).await;
    match outcome {
        SagaOutcome::Stuck {
            step,
            direction,
            error,
        } => {
            assert_eq!(step, "reserve");
            assert_eq!(direction, Direction::Forward);
            assert_eq!(error.name(), "Http.504");
            assert_eq!(error.class(), ErrorClass::Ambiguous);
        }
        other => panic!("expected Stuck, got {other:?}"),
    }
    assert!(
        compensated(&id).is_empty(),
        "an unknown outcome is never compensated on a guess"
    );
    let seen = server.seen();
    assert!(seen.len() > 1, "re-invoked to resolve it: {seen:?}");
    assert_eq!(
        seen.len(),
        attempts(&rt, &id).await,
        "one request per attempt"
    );
    assert!(
        seen.iter().all(|request| request.json() == contract(&id)),
        "every re-invocation carries the same idempotency key"
    );
    let failed = failures(&rt, &id).await;
    assert_eq!(failed.len(), seen.len());
    assert!(
        failed
            .iter()
            .all(|(name, class)| name == "Http.504" && *class == ErrorClass::Ambiguous),
        "{failed:?}"
    );
}

#[tokio::test]
async fn other_4xx_are_terminal_never_retried_and_compensate() {
    for status in [400, 404] {
        // Were the 4xx retried, the second answer would complete the saga.
        let server =
            Server::start(&[answer(status, r#"{"message":"no"}"#), answer(200, RESERVED)]).await;
        let http = HttpInvoker::new();
        let rt = runtime(&http, server.url("/reserve"));
        let (id, outcome) = run(&rt).await;
        match outcome {
            SagaOutcome::Compensated { failed_step, error } => {
                assert_eq!(failed_step, "reserve", "{status}");
                assert_eq!(error.name(), format!("Http.{status}"));
                assert_eq!(error.class(), ErrorClass::Terminal, "{status}");
                assert!(error.message().contains(r#"{"message":"no"}"#), "{error}");
            }
            other => panic!("{status}: expected Compensated, got {other:?}"),
        }
        assert_eq!(server.seen().len(), 1, "{status}: exactly one request");
        assert_eq!(compensated(&id), vec!["price".to_owned()], "{status}");
    }
}

#[tokio::test]
async fn an_answer_later_than_the_invokers_timeout_is_a_timeout() {
    // Within the step's own 5 s timeout, so the invoker's timeout fires first.
    let server = Server::start(&[answer(200, RESERVED).after(Duration::from_secs(2))]).await;
    let http = HttpInvoker::new().timeout(Duration::from_millis(200));
    let rt = runtime(&http, server.url("/reserve"));
    let (id, outcome) = run(&rt).await;
    match outcome {
        SagaOutcome::Stuck { step, error, .. } => {
            assert_eq!(step, "reserve");
            assert_eq!(error.name(), names::TIMEOUT);
            assert_eq!(error.class(), ErrorClass::Ambiguous);
            // The invoker's message, not the executor's step timeout.
            assert!(
                error.message().starts_with("POST ") && error.message().ends_with("timed out"),
                "{error}"
            );
        }
        other => panic!("expected Stuck, got {other:?}"),
    }
    assert!(compensated(&id).is_empty());
    assert!(server.seen().len() > 1, "re-invoked to resolve it");
}

#[tokio::test]
async fn a_2xx_body_that_is_not_the_output_type_is_bad_output_showing_the_json() {
    let server = Server::start(&[answer(200, r#"{"code": 42}"#), answer(200, RESERVED)]).await;
    let http = HttpInvoker::new();
    let rt = runtime(&http, server.url("/reserve"));
    let (id, outcome) = run(&rt).await;
    match outcome {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "reserve");
            assert_eq!(error.name(), payload::BAD_OUTPUT);
            assert_eq!(error.class(), ErrorClass::Terminal);
            assert!(error.message().contains(r#"{"code":42}"#), "{error}");
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    assert_eq!(server.seen().len(), 1, "a bad output is not retried");
    assert_eq!(compensated(&id), vec!["price".to_owned()]);
}

#[tokio::test]
async fn a_2xx_body_that_is_not_json_is_bad_output_showing_the_body() {
    let server = Server::start(&[answer(200, "<html>gateway</html>"), answer(200, RESERVED)]).await;
    let http = HttpInvoker::new();
    let rt = runtime(&http, server.url("/reserve"));
    let (_, outcome) = run(&rt).await;
    match outcome {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "reserve");
            assert_eq!(error.name(), payload::BAD_OUTPUT);
            assert_eq!(error.class(), ErrorClass::Terminal);
            assert!(error.message().contains("<html>gateway</html>"), "{error}");
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_retryable_then_compensates() {
    // A port that nothing listens on.
    let url = format!("http://127.0.0.1:{}/reserve", common::tools::free_port());
    let http = HttpInvoker::new();
    let rt = runtime(&http, url);
    let (id, outcome) = run(&rt).await;
    match outcome {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "reserve");
            assert_eq!(error.name(), names::RETRYABLE);
            assert_eq!(error.class(), ErrorClass::Retryable);
            assert!(error.message().contains("cannot connect"), "{error}");
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    assert_eq!(
        failures(&rt, &id).await,
        vec![(names::RETRYABLE.to_owned(), ErrorClass::Retryable); 1 + RETRIES],
        "retried, since nothing was sent"
    );
    assert_eq!(compensated(&id), vec!["price".to_owned()]);
}

#[tokio::test]
async fn preflight_builds_the_client_and_sends_nothing() {
    let server = Server::start(&[answer(200, RESERVED)]).await;
    let http = HttpInvoker::try_new().expect("the HTTP client builds");
    let rt = runtime(&http, server.url("/reserve"));
    rt.preflight::<Checkout>()
        .await
        .expect("an HTTP binding passes the preflight");
    assert!(server.seen().is_empty(), "{:?}", server.seen());
    // The same invoker then calls the endpoint.
    let (_, outcome) = run(&rt).await;
    assert_eq!(outcome, SagaOutcome::Completed((750, reservation())));
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_terminal() {
    // Followed, the 307 would re-send the POST to /elsewhere, which succeeds.
    let server = Server::start(&[answer(200, RESERVED)]).await;
    let redirect = Server::start(&[answer(307, "").location(server.url("/elsewhere"))]).await;
    let http = HttpInvoker::new();
    let rt = runtime(&http, redirect.url("/reserve"));
    let (id, outcome) = run(&rt).await;
    match outcome {
        SagaOutcome::Compensated { error, .. } => {
            assert_eq!(error.name(), "Http.307");
            assert_eq!(error.class(), ErrorClass::Terminal);
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    assert!(server.seen().is_empty(), "{:?}", server.seen());
    assert_eq!(compensated(&id), vec!["price".to_owned()]);
}

#[tokio::test]
async fn a_bad_url_or_header_is_a_configuration_error_before_any_step_runs() {
    let http = HttpInvoker::new().header("bad header", "x");
    let rt = Runtime::builder()
        .bind::<reserve>(HttpInvoker::new().endpoint("not a url"))
        .bind_compensation::<reserve>(http.endpoint("http://127.0.0.1:9/release"))
        .build();
    let id = SagaId::new(format!("bad-url-{}", SagaId::random())).expect("id");
    match Checkout::run_with_id(&rt, id.clone(), order()).await {
        Err(SagaError::Config { problems, .. }) => {
            let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
            assert_eq!(problems.len(), 2, "{text:?}");
            assert!(text[0].contains("`not a url`: not a URL"), "{text:?}");
            assert!(
                text[1].contains("`bad header` is not a valid header name"),
                "{text:?}"
            );
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert!(succeeded(&id).is_empty(), "no step ran");
}

#[tokio::test]
async fn a_payload_over_the_limit_is_refused_before_sending() {
    let server = Server::start(&[answer(200, RESERVED)]).await;
    let http = HttpInvoker::new().max_payload(64);
    let rt = runtime(&http, server.url("/reserve"));
    let (_, outcome) = run(&rt).await;
    match outcome {
        SagaOutcome::Compensated { error, .. } => {
            assert_eq!(error.name(), payload::PAYLOAD_TOO_LARGE);
            assert_eq!(error.class(), ErrorClass::Terminal);
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    assert!(server.seen().is_empty(), "{:?}", server.seen());
}
