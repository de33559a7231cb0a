//! The local Lambda Invoke endpoint over real HTTP: every row of the AWS
//! answer table, every function-name form, and proxy mode against a fake
//! `cargo lambda watch` that answers function errors with HTTP 500.
//!
//! Tokio's `net` and `sync` features come from saga-core's `local-lambda`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use saga_core::invoke::handler::{Handler, handler_fn};
use saga_core::invoke::local::{LocalLambda, LocalLambdaError, LocalLambdaHandle};
use saga_core::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function";

/// An HTTP answer, fully read.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A successful invocation: 200, JSON, executed version, no error flags.
    fn assert_result(&self, expected: &Value) {
        assert_eq!(self.status, StatusCode::OK, "{:?}", self.body);
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.header("x-amz-executed-version"), Some("$LATEST"));
        assert_eq!(self.header("x-amz-function-error"), None);
        assert_eq!(self.header("x-amzn-errortype"), None);
        assert_eq!(&self.json(), expected);
    }

    /// A function error: 200 with `X-Amz-Function-Error: Unhandled`.
    fn assert_function_error(&self, error_type: &str) -> String {
        assert_eq!(self.status, StatusCode::OK, "{:?}", self.body);
        assert_eq!(self.header("x-amz-function-error"), Some("Unhandled"));
        assert_eq!(self.header("x-amz-executed-version"), Some("$LATEST"));
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        assert_eq!(body["errorType"], error_type, "{body}");
        body["errorMessage"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default()
    }

    /// An error of the Invoke API: status, `x-amzn-ErrorType`, exact body.
    fn assert_aws_error(&self, status: u16, error_type: &str, body: &Value) {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(self.header("x-amzn-errortype"), Some(error_type));
        assert_eq!(self.header("x-amz-function-error"), None);
        assert_eq!(&self.json(), body);
    }

    /// An error of the Invoke API whose message starts with `prefix`.
    fn assert_aws_error_prefix(&self, status: u16, error_type: &str, prefix: &str) {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(self.header("x-amzn-errortype"), Some(error_type));
        let body = self.json();
        assert_eq!(body["Type"], "User");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(prefix), "message: {message}");
    }

    fn assert_empty(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert!(self.body.is_empty(), "{:?}", self.body);
        assert_eq!(self.header("x-amz-function-error"), None);
        assert_eq!(self.header("x-amzn-errortype"), None);
    }
}

async fn send<B>(method: Method, url: &str, invocation_type: Option<&str>, body: B) -> Reply
where
    B: Body<Data = Bytes, Error = Infallible> + Send + Unpin + 'static,
{
    let client = Client::builder(TokioExecutor::new()).build_http::<B>();
    let mut request = Request::builder().method(method).uri(url);
    if let Some(kind) = invocation_type {
        request = request.header("X-Amz-Invocation-Type", kind);
    }
    let request = request.body(body).expect("request");
    let response = client.request(request).await.expect("the endpoint answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("whole body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// Invokes `function` (as it appears in the path, plus any query).
async fn invoke(
    server: &LocalLambdaHandle,
    function: &str,
    invocation_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Reply {
    let (function, query) = function
        .split_once('?')
        .map_or((function, String::new()), |(f, q)| (f, format!("?{q}")));
    let url = format!(
        "{}/2015-03-31/functions/{function}/invocations{query}",
        server.url()
    );
    send(Method::POST, &url, invocation_type, Full::new(body.into())).await
}

fn echo() -> Handler {
    handler_fn(|payload| async move { Ok(payload) })
}

async fn start(server: LocalLambda) -> LocalLambdaHandle {
    server.start().await.expect("the endpoint starts")
}

/// Waits (at most 5 s) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn not_found(name: &str) -> Value {
    json!({
        "Type": "User",
        "message": format!("Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}"),
    })
}

fn too_large(limit: usize) -> Value {
    json!({
        "Type": "User",
        "message": format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_response_returns_the_result_with_the_executed_version() {
    let server = start(LocalLambda::new().function("echo", echo())).await;
    let reply = invoke(
        &server,
        "echo",
        Some("RequestResponse"),
        r#"{"order":7,"items":["a","b"]}"#,
    )
    .await;
    reply.assert_result(&json!({"order": 7, "items": ["a", "b"]}));
    assert!(
        reply
            .header("x-amzn-requestid")
            .is_some_and(|id| !id.is_empty())
    );

    // No invocation type means RequestResponse; an empty body means `{}`.
    invoke(&server, "echo", None, "")
        .await
        .assert_result(&json!({}));
    assert_eq!(server.invocations("echo"), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_error_is_an_unhandled_function_error() {
    let fails = handler_fn(|_| async { Err(StepError::terminal("card declined")) });
    let server = start(LocalLambda::new().function("pay", fails)).await;
    let reply = invoke(&server, "pay", None, "{}").await;
    reply.assert_function_error("Saga.Terminal");
    assert_eq!(
        reply.json(),
        json!({"errorType": "Saga.Terminal", "errorMessage": "card declined"})
    );
    assert_eq!(server.invocations("pay"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_is_a_saga_panic() {
    let panics_later = handler_fn(|_| async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        panic!("inventory exploded");
    });
    // Panics while building its future, before any `.await`.
    let panics_at_once: Handler = Arc::new(|_| panic!("no future for you"));
    let server = start(
        LocalLambda::new()
            .function("later", panics_later)
            .function("at_once", panics_at_once)
            .function("echo", echo()),
    )
    .await;

    let message = invoke(&server, "later", None, "{}")
        .await
        .assert_function_error("Saga.Panic");
    assert!(message.contains("inventory exploded"), "{message}");
    let message = invoke(&server, "at_once", None, "{}")
        .await
        .assert_function_error("Saga.Panic");
    assert!(message.contains("no future for you"), "{message}");

    // The server is unharmed.
    invoke(&server, "echo", None, "1")
        .await
        .assert_result(&json!(1));
    assert_eq!(server.invocations("later"), 1);
    assert_eq!(server.invocations("at_once"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_answers_202_before_the_handler_runs() {
    let release = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(None::<Value>));
    let (gate, record) = (Arc::clone(&release), Arc::clone(&seen));
    let waits = handler_fn(move |payload| {
        let (gate, record) = (Arc::clone(&gate), Arc::clone(&record));
        async move {
            // Blocks until the test has seen the 202, proving it came first.
            let deadline = Instant::now() + Duration::from_secs(5);
            while !gate.load(Ordering::SeqCst) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            *record.lock().expect("lock") = Some(payload);
            Ok(json!("ignored"))
        }
    });
    let server = start(LocalLambda::new().function("notify", waits)).await;

    let reply = invoke(&server, "notify", Some("Event"), r#"{"to":"ops"}"#).await;
    reply.assert_empty(StatusCode::ACCEPTED);
    assert_eq!(server.invocations("notify"), 0);

    release.store(true, Ordering::SeqCst);
    eventually("the event handler ran", || {
        server.invocations("notify") == 1
    })
    .await;
    assert_eq!(*seen.lock().expect("lock"), Some(json!({"to": "ops"})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_answers_204_and_runs_nothing() {
    let server = start(LocalLambda::new().function("echo", echo())).await;
    invoke(&server, "echo", Some("DryRun"), "{}")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    invoke(&server, &format!("{ARN}:echo"), Some("DryRun"), "")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    // DryRun still checks that the function exists.
    invoke(&server, "ghost", Some("DryRun"), "{}")
        .await
        .assert_aws_error(404, "ResourceNotFoundException", &not_found("ghost"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.invocations("echo"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_function_is_resource_not_found() {
    let server = start(LocalLambda::new().function("echo", echo())).await;
    for (invocation, name) in [
        (None, "ghost"),
        (Some("Event"), "ghost"),
        (None, &format!("{ARN}:ghost:prod") as &str),
    ] {
        invoke(&server, name, invocation, "{}")
            .await
            .assert_aws_error(404, "ResourceNotFoundException", &not_found("ghost"));
    }
    assert_eq!(server.invocations("ghost"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_next_answers_429_then_recovers() {
    let server = start(
        LocalLambda::new()
            .function("echo", echo())
            .function("other", echo()),
    )
    .await;
    let rate_exceeded = json!({
        "Type": "User",
        "message": "Rate Exceeded.",
        "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
    });
    server.throttle_next("echo", 2);
    invoke(&server, "echo", None, "{}").await.assert_aws_error(
        429,
        "TooManyRequestsException",
        &rate_exceeded,
    );
    // Throttles are per function.
    invoke(&server, "other", None, "2")
        .await
        .assert_result(&json!(2));
    invoke(&server, "echo", Some("Event"), "{}")
        .await
        .assert_aws_error(429, "TooManyRequestsException", &rate_exceeded);
    invoke(&server, "echo", None, "3")
        .await
        .assert_result(&json!(3));
    assert_eq!(server.invocations("echo"), 1);

    // Given as an ARN, the throttle applies to the bare name.
    server.throttle_next(&format!("{ARN}:echo"), 1);
    invoke(&server, "echo:live", None, "{}")
        .await
        .assert_aws_error(429, "TooManyRequestsException", &rate_exceeded);
    invoke(&server, "echo", None, "4")
        .await
        .assert_result(&json!(4));
    assert_eq!(server.invocations(&format!("{ARN}:echo")), 2);
}

/// A JSON string literal of exactly `len` bytes.
fn json_of_len(len: usize) -> String {
    format!("\"{}\"", "x".repeat(len - 2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_over_the_limit_are_413() {
    let length =
        handler_fn(|payload| async move { Ok(json!(payload.as_str().map_or(0, str::len))) });
    let server = start(LocalLambda::new().function("len", length)).await;

    let sync_limit = 6_291_456;
    invoke(&server, "len", None, json_of_len(sync_limit))
        .await
        .assert_result(&json!(sync_limit - 2));
    invoke(&server, "len", None, json_of_len(sync_limit + 1))
        .await
        .assert_aws_error(413, "RequestTooLargeException", &too_large(sync_limit));
    invoke(&server, "len", Some("DryRun"), json_of_len(sync_limit + 1))
        .await
        .assert_aws_error(413, "RequestTooLargeException", &too_large(sync_limit));

    let event_limit = 1_048_576;
    invoke(&server, "len", Some("Event"), json_of_len(event_limit))
        .await
        .assert_empty(StatusCode::ACCEPTED);
    invoke(&server, "len", Some("Event"), json_of_len(event_limit + 1))
        .await
        .assert_aws_error(413, "RequestTooLargeException", &too_large(event_limit));

    // Without a Content-Length (chunked), the limit holds while reading.
    let url = format!("{}/2015-03-31/functions/len/invocations", server.url());
    let chunks = Chunks(vec![Bytes::from(vec![b' '; 600_000]); 2]);
    send(Method::POST, &url, Some("Event"), chunks)
        .await
        .assert_aws_error(413, "RequestTooLargeException", &too_large(event_limit));
    let chunks = Chunks(vec![
        Bytes::from_static(b"\"ab"),
        Bytes::from_static(b"c\""),
    ]);
    send(Method::POST, &url, None, chunks)
        .await
        .assert_result(&json!(3));

    eventually("the event ran", || server.invocations("len") == 3).await;
}

/// A body sent in chunks, with no Content-Length.
struct Chunks(Vec<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = (!self.0.is_empty()).then(|| self.0.remove(0));
        Poll::Ready(next.map(|chunk| Ok(Frame::data(chunk))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_name_form_reaches_the_function() {
    let server = start(LocalLambda::new().function("echo", echo())).await;
    let forms = [
        "echo".to_owned(),
        "echo:prod".to_owned(),
        "echo:%24LATEST".to_owned(),
        format!("{ARN}:echo"),
        format!("{ARN}:echo:7"),
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aecho".to_owned(),
        "arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Aecho%3Alive".to_owned(),
        "123456789012:function:echo".to_owned(),
        "123456789012%3Afunction%3Aecho%3Aprod".to_owned(),
        "echo?Qualifier=%24LATEST".to_owned(),
        format!("{ARN}:echo:prod?Qualifier=prod"),
    ];
    for (i, form) in forms.iter().enumerate() {
        let reply = invoke(&server, form, None, json!({ "i": i }).to_string()).await;
        assert_eq!(reply.status, StatusCode::OK, "{form}: {:?}", reply.body);
        reply.assert_result(&json!({ "i": i }));
    }
    assert_eq!(server.invocations("echo"), forms.len() as u64);

    // Malformed names and contradicting qualifiers are validation errors.
    for bad in [
        "echo:a:b:c",
        "arn%3Aaws%3As3%3A%3A%3Abucket%3Aecho",
        "echo:prod?Qualifier=dev",
        "bad%20name",
    ] {
        let reply = invoke(&server, bad, None, "{}").await;
        reply.assert_aws_error_prefix(400, "ValidationException", "");
    }
    assert_eq!(server.invocations("echo"), forms.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_json_is_invalid_request_content() {
    let server = start(LocalLambda::new().function("echo", echo())).await;
    for body in ["not json", "{\"a\":", "{} {}"] {
        invoke(&server, "echo", None, body)
            .await
            .assert_aws_error_prefix(
                400,
                "InvalidRequestContentException",
                "Could not parse request body into json: ",
            );
    }
    assert_eq!(server.invocations("echo"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_invocation_type_is_invalid_parameter_value() {
    let server = start(LocalLambda::new().function("echo", echo())).await;
    for kind in ["Sync", "event", ""] {
        let reply = invoke(&server, "echo", Some(kind), "{}").await;
        reply.assert_aws_error_prefix(
            400,
            "InvalidParameterValueException",
            "1 validation error detected",
        );
    }
    assert_eq!(server.invocations("echo"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_paths_and_methods_are_unknown_operations() {
    let server = start(LocalLambda::new().function("echo", echo())).await;
    let base = server.url();
    let cases = [
        (
            Method::GET,
            format!("{base}/2015-03-31/functions/echo/invocations"),
        ),
        (
            Method::PUT,
            format!("{base}/2015-03-31/functions/echo/invocations"),
        ),
        (Method::POST, format!("{base}/2015-03-31/functions/echo")),
        (
            Method::POST,
            format!("{base}/2015-03-31/functions/echo/invoke-async"),
        ),
        (Method::POST, format!("{base}/")),
        (Method::GET, format!("{base}/2015-03-31/functions/")),
    ];
    for (method, url) in cases {
        let reply = send(
            method.clone(),
            &url,
            None,
            Full::new(Bytes::from_static(b"{}")),
        )
        .await;
        reply.assert_aws_error_prefix(404, "UnknownOperationException", "Unknown operation");
    }
    assert_eq!(server.invocations("echo"), 0);
}

#[derive(Clone, Serialize, Deserialize)]
pub struct Seats {
    pub count: u32,
}

#[saga_step(compensate = release_seats)]
async fn hold_seats(seats: &Seats) -> Result<u32, StepError> {
    if seats.count == 0 {
        return Err(StepError::terminal("no seats asked"));
    }
    Ok(seats.count * 100)
}

async fn release_seats(_seats: &Seats, hold: u32) -> Result<(), StepError> {
    if hold == 13 {
        return Err(StepError::retryable("unlucky"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_and_compensations_are_served_per_the_payload_contract() {
    let server = start(
        LocalLambda::new()
            .step::<hold_seats>("hold-seats")
            .compensation::<hold_seats>("release-seats"),
    )
    .await;
    let metadata = |direction: &str| {
        json!({
            "saga_id": "trip-1", "saga_name": "Trip", "step": "hold_seats",
            "direction": direction, "idempotency_key": "trip-1/hold_seats",
        })
    };
    let forward = json!({ "seats": { "count": 3 }, "saga": metadata("forward") });
    invoke(&server, "hold-seats", None, forward.to_string())
        .await
        .assert_result(&json!(300));
    let declined = json!({ "seats": { "count": 0 }, "saga": metadata("forward") });
    invoke(&server, "hold-seats", None, declined.to_string())
        .await
        .assert_function_error("Saga.Terminal");

    let undo = json!({ "seats": { "count": 3 }, "output": 300, "saga": metadata("compensation") });
    invoke(&server, "release-seats", None, undo.to_string())
        .await
        .assert_result(&Value::Null);
    let unlucky =
        json!({ "seats": { "count": 3 }, "output": 13, "saga": metadata("compensation") });
    invoke(&server, "release-seats", None, unlucky.to_string())
        .await
        .assert_function_error("Saga.Retryable");
    // A forward payload sent to the compensation function breaks the contract.
    invoke(&server, "release-seats", None, forward.to_string())
        .await
        .assert_function_error("Saga.BadPayload");
    assert_eq!(
        (
            server.invocations("hold-seats"),
            server.invocations("release-seats")
        ),
        (2, 3)
    );
}

/// What the fake upstream received: path (with query), invocation type, body.
type Seen = Arc<Mutex<Vec<(String, Option<String>, Value)>>>;

/// A fake `cargo lambda watch`: function errors are HTTP 500, and it knows
/// only bare names. `ok` echoes, `fail` returns an error object, `crash`
/// returns a plain-text 500, and everything else is 404.
async fn fake_cargo_lambda() -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let record = Arc::clone(&record);
                async move { Ok::<_, Infallible>(fake_answer(request, &record).await) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    (url, seen)
}

async fn fake_answer(request: Request<Incoming>, seen: &Seen) -> Response<Full<Bytes>> {
    let path = request.uri().to_string();
    let kind = request
        .headers()
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let payload = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.lock()
        .expect("lock")
        .push((path.clone(), kind, payload));
    let (status, body) = match path.as_str() {
        "/2015-03-31/functions/ok/invocations" => (200, body),
        "/2015-03-31/functions/fail/invocations" => (
            500,
            Bytes::from_static(
                br#"{"errorType":"Saga.Terminal.Declined","errorMessage":"card declined"}"#,
            ),
        ),
        "/2015-03-31/functions/crash/invocations" => (500, Bytes::from_static(b"process exited")),
        _ => (404, Bytes::from_static(b"Function not found")),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

fn upstream_calls(seen: &Seen) -> Vec<(String, Option<String>, Value)> {
    seen.lock().expect("lock").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_restores_aws_answers_from_cargo_lambda() {
    let (upstream, seen) = fake_cargo_lambda().await;
    let server = start(LocalLambda::new().function("local", echo()).proxy(upstream)).await;

    // The name is forwarded bare, whatever form the caller used.
    let reply = invoke(&server, &format!("{ARN}:ok:prod"), None, r#"{"n":1}"#).await;
    reply.assert_result(&json!({"n": 1}));
    let reply = invoke(
        &server,
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aok",
        None,
        "",
    )
    .await;
    reply.assert_result(&json!({}));
    let ok = (
        "/2015-03-31/functions/ok/invocations".to_owned(),
        Some("RequestResponse".to_owned()),
    );
    let calls = upstream_calls(&seen);
    assert_eq!(
        calls,
        vec![
            (ok.0.clone(), ok.1.clone(), json!({"n": 1})),
            (ok.0.clone(), ok.1.clone(), json!({}))
        ]
    );

    // A 500 with an error object is an Unhandled function error, as on AWS.
    let reply = invoke(&server, "fail", None, "{}").await;
    reply.assert_function_error("Saga.Terminal.Declined");
    assert_eq!(
        reply.json(),
        json!({"errorType": "Saga.Terminal.Declined", "errorMessage": "card declined"})
    );
    // A 500 without one is wrapped: nobody knows whether it took effect.
    let message = invoke(&server, "crash", None, "{}")
        .await
        .assert_function_error("Saga.Ambiguous");
    assert_eq!(message, "process exited");

    // An upstream 404 is ResourceNotFoundException.
    invoke(&server, "ghost:prod", None, "{}")
        .await
        .assert_aws_error(404, "ResourceNotFoundException", &not_found("ghost"));

    // Local functions are not forwarded.
    invoke(&server, "local", None, "5")
        .await
        .assert_result(&json!(5));
    assert_eq!(upstream_calls(&seen).len(), 5);
    let counts = ["ok", "fail", "crash", "ghost", "local"].map(|f| server.invocations(f));
    assert_eq!(counts, [2, 1, 1, 0, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_event_dry_run_and_throttle_keep_aws_semantics() {
    let (upstream, seen) = fake_cargo_lambda().await;
    let server = start(LocalLambda::new().proxy(format!("{upstream}/"))).await;

    // DryRun never reaches cargo-lambda, which would run the function.
    invoke(&server, "ok", Some("DryRun"), "{}")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    // Throttling happens before forwarding.
    server.throttle_next("ok", 1);
    let reply = invoke(&server, "ok", None, "{}").await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        reply.header("x-amzn-errortype"),
        Some("TooManyRequestsException")
    );
    assert!(upstream_calls(&seen).is_empty());

    // Event: 202 at once, then forwarded as RequestResponse.
    let reply = invoke(&server, "ok:live", Some("Event"), r#"{"e":1}"#).await;
    reply.assert_empty(StatusCode::ACCEPTED);
    eventually("the event was forwarded", || server.invocations("ok") == 1).await;
    let calls = upstream_calls(&seen);
    let forwarded = (
        "/2015-03-31/functions/ok/invocations".to_owned(),
        Some("RequestResponse".to_owned()),
        json!({"e": 1}),
    );
    assert_eq!(calls, vec![forwarded]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_a_service_exception() {
    // A port that was free a moment ago, with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let server = start(LocalLambda::new().proxy(format!("http://127.0.0.1:{port}"))).await;
    let reply = invoke(&server, "ok", None, "{}").await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{:?}", reply.body);
    assert_eq!(reply.header("x-amzn-errortype"), Some("ServiceException"));
    let body = reply.json();
    assert_eq!(body["Type"], "Service");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains(&port.to_string())),
        "{body}"
    );
    assert_eq!(server.invocations("ok"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_a_bind_error_naming_the_address() {
    let first = start(LocalLambda::new()).await;
    let port = first.addr().port();
    assert_eq!(first.url(), format!("http://127.0.0.1:{port}"));
    match LocalLambda::new().port(port).start().await {
        Err(LocalLambdaError::Bind { addr, .. }) => {
            assert_eq!(addr, first.addr());
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
    let error = LocalLambda::new()
        .port(port)
        .start()
        .await
        .expect_err("port taken");
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot listen on 127.0.0.1:{port}: ")),
        "{error}"
    );

    // Once it is free again, the port can be asked for explicitly.
    first.shutdown().await;
    let second = start(LocalLambda::new().port(port).function("echo", echo())).await;
    assert_eq!(second.addr().port(), port);
    invoke(&second, "echo", None, "1")
        .await
        .assert_result(&json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_refused_at_start() {
    let error = LocalLambda::new()
        .function("arn:aws:lambda:us-east-1:1:function:f", echo())
        .start()
        .await;
    assert!(
        matches!(error, Err(LocalLambdaError::InvalidFunctionName { .. })),
        "{error:?}"
    );
    let error = LocalLambda::new().function("f:prod", echo()).start().await;
    assert!(
        matches!(error, Err(LocalLambdaError::InvalidFunctionName { .. })),
        "{error:?}"
    );
    let error = LocalLambda::new()
        .proxy("https://lambda.us-east-1.amazonaws.com")
        .start()
        .await;
    assert!(
        matches!(error, Err(LocalLambdaError::InvalidUpstream { .. })),
        "{error:?}"
    );
}

fn refuses_connections(addr: std::net::SocketAddr) -> bool {
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_and_drop_stop_the_server() {
    let server = start(LocalLambda::new().function("echo", echo())).await;
    let addr = server.addr();
    invoke(&server, "echo", None, "1")
        .await
        .assert_result(&json!(1));
    server.shutdown().await;
    assert!(refuses_connections(addr), "still accepting after shutdown");

    let server = start(LocalLambda::new().function("echo", echo())).await;
    let addr = server.addr();
    assert!(!refuses_connections(addr));
    drop(server);
    eventually("the dropped server stops accepting", || {
        refuses_connections(addr)
    })
    .await;
}

/// The test helpers themselves must be able to fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "assertion `left == right` failed")]
async fn a_wrong_expectation_fails() {
    let server = start(LocalLambda::new().function("echo", echo())).await;
    invoke(&server, "echo", None, "1")
        .await
        .assert_result(&json!(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_told_its_upstream_functions_answers_404_for_any_other_dry_run_included() {
    let (upstream, seen) = fake_cargo_lambda().await;
    let server = start(
        LocalLambda::new()
            .function("local", echo())
            .proxy(upstream)
            .upstream_functions(["ok"]),
    )
    .await;
    // A listed function: DryRun 204, calls forwarded.
    invoke(&server, &format!("{ARN}:ok"), Some("DryRun"), "{}")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    invoke(&server, "ok", None, r#"{"n":2}"#)
        .await
        .assert_result(&json!({"n": 2}));
    // Any other name is not forwarded: 404, as AWS answers for a missing function.
    for kind in [Some("DryRun"), None] {
        invoke(&server, "ghost", kind, "{}").await.assert_aws_error(
            404,
            "ResourceNotFoundException",
            &not_found("ghost"),
        );
    }
    // Local functions still run.
    invoke(&server, "local", Some("DryRun"), "{}")
        .await
        .assert_empty(StatusCode::NO_CONTENT);
    let forwarded: Vec<String> = upstream_calls(&seen).into_iter().map(|c| c.0).collect();
    assert_eq!(forwarded, vec!["/2015-03-31/functions/ok/invocations"]);
}
