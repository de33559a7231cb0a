//! Steps on Lambda: the real `aws-sdk-lambda` client over HTTP against the
//! local Invoke endpoint, which hosts the trip steps in-process with AWS
//! semantics. Every invocation type and error mapping is exercised.

use std::time::Duration;

use saga_core::invoke::local::{LocalLambda, LocalLambdaHandle};
use saga_core::invoke::{ConfigProblem, HttpInvoker, LambdaInvoker, handler, payload};
use saga_core::prelude::*;
use saga_core::{ErrorClass, names};
use serde_json::json;
use trip_saga::functions::*;
use trip_saga::*;

fn trip(fail_at: Option<&str>) -> Trip {
    Trip {
        traveller: "Ada".into(),
        from: "LHR".into(),
        to: "JFK".into(),
        fail_at: fail_at.map(str::to_owned),
    }
}

/// Hosts every trip step and compensation, named as deployed.
async fn endpoint() -> LocalLambdaHandle {
    LocalLambda::new()
        .step::<reserve_flight>(RESERVE_FLIGHT)
        .compensation::<reserve_flight>(CANCEL_FLIGHT)
        .step::<reserve_hotel>(RESERVE_HOTEL)
        .compensation::<reserve_hotel>(CANCEL_HOTEL)
        .step::<rent_car>(RENT_CAR)
        .compensation::<rent_car>(RETURN_CAR)
        .step::<charge_card>(CHARGE_CARD)
        .step::<send_confirmation>(SEND_CONFIRMATION)
        .function(
            MALFORMED_HOTEL,
            handler::handler_fn(|_| async { Ok(json!({ "hotel": 42 })) }),
        )
        .start()
        .await
        .expect("the local endpoint starts")
}

/// Every step and compensation bound to its Lambda function.
fn runtime(lambda: &LambdaInvoker) -> saga_core::RuntimeBuilder {
    Runtime::builder()
        .bind::<reserve_flight>(lambda.function(RESERVE_FLIGHT))
        .bind_compensation::<reserve_flight>(lambda.function(CANCEL_FLIGHT))
        .bind::<reserve_hotel>(lambda.function(RESERVE_HOTEL))
        .bind_compensation::<reserve_hotel>(lambda.function(CANCEL_HOTEL))
        .bind::<rent_car>(lambda.function(RENT_CAR))
        .bind_compensation::<rent_car>(lambda.function(RETURN_CAR))
        .bind::<charge_card>(lambda.function(CHARGE_CARD))
        .bind::<send_confirmation>(lambda.function(SEND_CONFIRMATION))
        .compensation_retry(RetryPolicy::NEVER)
        .jitter_seed(7)
}

#[tokio::test]
async fn a_saga_runs_end_to_end_on_lambda() {
    let local = endpoint().await;
    let lambda = LambdaInvoker::local(local.url());
    let rt = runtime(&lambda).build();
    let outcome = BookTrip::run(&rt, trip(None)).await.expect("runs");
    let itinerary = outcome.completed().expect("completes");
    assert_eq!(itinerary.flight.code, "FL-LHR-JFK");
    assert_eq!(itinerary.receipt.amount_cents, 123_400);
    for f in [
        RESERVE_FLIGHT,
        RESERVE_HOTEL,
        RENT_CAR,
        CHARGE_CARD,
        SEND_CONFIRMATION,
    ] {
        assert_eq!(local.invocations(f), 1, "{f}");
    }
    for f in [CANCEL_FLIGHT, CANCEL_HOTEL, RETURN_CAR] {
        assert_eq!(local.invocations(f), 0, "{f}");
    }
}

#[tokio::test]
async fn a_function_error_keeps_its_name_and_the_saga_compensates_remotely() {
    let local = endpoint().await;
    let lambda = LambdaInvoker::local(local.url());
    let rt = runtime(&lambda).build();
    let outcome = BookTrip::run(&rt, trip(Some("car"))).await.expect("runs");
    match outcome {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "rent_car");
            assert_eq!(error.name(), names::TERMINAL);
            assert_eq!(error.message(), "car is not available");
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    assert_eq!(local.invocations(CANCEL_HOTEL), 1);
    assert_eq!(local.invocations(CANCEL_FLIGHT), 1);
    assert_eq!(
        local.invocations(RETURN_CAR),
        0,
        "a terminal error changed nothing"
    );
}

#[tokio::test]
async fn a_panicking_function_is_ambiguous_and_the_saga_goes_stuck() {
    let local = endpoint().await;
    let lambda = LambdaInvoker::local(local.url());
    let rt = runtime(&lambda).build();
    let outcome = BookTrip::run(&rt, trip(Some("panic:hotel")))
        .await
        .expect("runs");
    match outcome {
        SagaOutcome::Stuck { step, error, .. } => {
            assert_eq!(step, "reserve_hotel");
            assert_eq!(error.class(), ErrorClass::Ambiguous);
            assert_eq!(error.name(), names::PANIC);
        }
        other => panic!("expected Stuck, got {other:?}"),
    }
    // The try, then re-invoked with the same idempotency key to resolve the
    // unknown outcome: once, plus the default 3 retries.
    assert_eq!(local.invocations(RESERVE_HOTEL), 5);
}

#[tokio::test]
async fn malformed_output_is_a_typed_error_showing_the_json_and_the_saga_compensates() {
    let local = endpoint().await;
    let lambda = LambdaInvoker::local(local.url());
    let rt = runtime(&lambda)
        .bind::<reserve_hotel>(lambda.function(MALFORMED_HOTEL))
        .build();
    let outcome = BookTrip::run(&rt, trip(None)).await.expect("runs");
    match outcome {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "reserve_hotel");
            assert_eq!(error.name(), payload::BAD_OUTPUT);
            assert!(error.message().contains(r#"{"hotel":42}"#), "{error}");
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    assert_eq!(local.invocations(CANCEL_FLIGHT), 1);
}

#[tokio::test]
async fn an_unknown_function_is_a_terminal_resource_not_found() {
    let local = endpoint().await;
    let lambda = LambdaInvoker::local(local.url());
    let rt = runtime(&lambda)
        .bind::<rent_car>(lambda.function("no-such-function"))
        .build();
    match BookTrip::run(&rt, trip(None)).await.expect("runs") {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "rent_car");
            assert_eq!(error.name(), "Lambda.ResourceNotFoundException");
            assert_eq!(error.class(), ErrorClass::Terminal);
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
}

#[tokio::test]
async fn throttling_is_retryable_and_the_sdk_does_not_retry_on_its_own() {
    let local = endpoint().await;
    local.throttle_next(RENT_CAR, 2);
    let lambda = LambdaInvoker::local(local.url());
    let rt = runtime(&lambda).build();
    let id = SagaId::new("throttled").expect("id");
    let outcome = BookTrip::run_with_id(&rt, id.clone(), trip(None))
        .await
        .expect("runs");
    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(
        local.invocations(RENT_CAR),
        1,
        "throttled calls never reach the handler"
    );
    let failures: Vec<String> = rt
        .log()
        .history(&id)
        .await
        .expect("history")
        .into_iter()
        .filter_map(|e| match e.event {
            saga_core::log::SagaEvent::StepFailed { error, .. } => Some(error.name().to_owned()),
            _ => None,
        })
        .collect();
    // Exactly one saga-level attempt per throttle: the SDK's own retries are off.
    assert_eq!(failures, vec!["Lambda.TooManyRequestsException"; 2]);
}

#[tokio::test]
async fn names_qualifiers_and_arns_all_reach_the_function() {
    let local = endpoint().await;
    let lambda = LambdaInvoker::local(local.url());
    let rt = runtime(&lambda)
        .bind::<reserve_flight>(lambda.function(format!("{RESERVE_FLIGHT}:live")))
        .bind::<reserve_hotel>(lambda.function(format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{RESERVE_HOTEL}"
        )))
        .build();
    let outcome = BookTrip::run(&rt, trip(None)).await.expect("runs");
    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(local.invocations(RESERVE_FLIGHT), 1);
    assert_eq!(local.invocations(RESERVE_HOTEL), 1);
}

#[tokio::test]
async fn event_invocation_fires_and_forgets_a_retriable_step() {
    let local = endpoint().await;
    let lambda = LambdaInvoker::local(local.url());
    let rt = runtime(&lambda)
        .bind::<send_confirmation>(lambda.function(SEND_CONFIRMATION).event())
        .build();
    let outcome = BookTrip::run(&rt, trip(None)).await.expect("runs");
    assert!(outcome.is_completed(), "{outcome:?}");
    // The handler runs after the 202; wait for it, boundedly.
    for _ in 0..100 {
        if local.invocations(SEND_CONFIRMATION) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the Event invocation never ran");
}

/// What goes over the wire: `X-Amz-Invocation-Type: Event`, and the saga
/// goes on at the 202 without a result.
#[tokio::test]
async fn an_event_binding_sends_invocation_type_event() {
    let Raw { url, calls, heads } = raw_lambda("202 Accepted", "", String::new()).await;
    let lambda = LambdaInvoker::local(&url);
    let rt = Runtime::builder()
        .bind::<send_confirmation>(lambda.function(SEND_CONFIRMATION).event())
        .build();
    let outcome = BookTrip::run(&rt, trip(None)).await.expect("runs");
    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    let heads = heads.lock().expect("heads");
    assert!(
        heads[0].contains("x-amz-invocation-type: event"),
        "{}",
        heads[0]
    );
}

#[saga_step(retriable)]
async fn notify(n: &u32) -> Result<Option<u32>, StepError> {
    Ok(Some(*n))
}

saga! {
    /// Names the output of a retriable step, which an `Event` cannot return.
    pub saga Notify(n: u32) -> Option<u32> {
        let sent = notify(&n);
        sent
    }
}

#[tokio::test]
async fn an_event_binding_is_refused_where_the_saga_names_the_output() {
    let lambda = LambdaInvoker::local("http://127.0.0.1:9");
    let rt = Runtime::builder()
        .bind::<notify>(lambda.function("notify").event())
        .build();
    // `Option<u32>` reads from `null`, but the saga's result uses the value.
    match rt.check::<Notify>() {
        Err(SagaError::Config { problems, .. }) => {
            assert!(
                matches!(
                    problems.as_slice(),
                    [ConfigProblem::EventNeedsNoResult { step: "notify", why }] if why.contains("names its output")
                ),
                "{problems:?}"
            );
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_compensation_bound_to_a_pivot_is_refused() {
    let lambda = LambdaInvoker::local("http://127.0.0.1:9");
    let rt = Runtime::builder()
        .bind_compensation::<charge_card>(lambda.function("refund"))
        .build();
    match BookTrip::run(&rt, trip(None)).await {
        Err(SagaError::Config { problems, .. }) => assert_eq!(
            problems,
            vec![ConfigProblem::NotCompensatable {
                step: "charge_card"
            }]
        ),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[tokio::test]
async fn misplaced_event_bindings_and_unbound_steps_are_refused_before_any_step_runs() {
    let local = endpoint().await;
    let lambda = LambdaInvoker::local(local.url());
    let rt = runtime(&lambda)
        .bind::<reserve_hotel>(lambda.function(RESERVE_HOTEL).event())
        .bind_compensation::<rent_car>(lambda.function(RETURN_CAR).event())
        .build();
    match BookTrip::run(&rt, trip(None)).await {
        Err(SagaError::Config { problems, .. }) => {
            assert_eq!(problems.len(), 2, "{problems:?}");
            assert!(matches!(
                problems[0],
                ConfigProblem::EventNeedsNoResult {
                    step: "reserve_hotel",
                    ..
                }
            ));
            assert!(matches!(
                problems[1],
                ConfigProblem::EventCompensation { step: "rent_car" }
            ));
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    assert_eq!(local.invocations(RESERVE_FLIGHT), 0);
}

#[tokio::test]
async fn dry_run_preflight_lists_every_missing_function_and_runs_nothing() {
    let local = endpoint().await;
    let lambda = LambdaInvoker::local(local.url());
    let good = runtime(&lambda).build();
    good.preflight::<BookTrip>()
        .await
        .expect("every function exists");
    let bad = runtime(&lambda)
        .bind::<rent_car>(lambda.function("gone-car"))
        .bind_compensation::<reserve_flight>(lambda.function("gone-cancel"))
        .build();
    let err = bad
        .preflight::<BookTrip>()
        .await
        .expect_err("two functions are missing");
    let steps: Vec<&str> = err.failures.iter().map(|f| f.step.as_str()).collect();
    assert_eq!(steps, vec!["reserve_flight (compensation)", "rent_car"]);
    assert!(
        err.failures
            .iter()
            .all(|f| f.error.name() == "Lambda.ResourceNotFoundException")
    );
    for f in [RESERVE_FLIGHT, RESERVE_HOTEL, RENT_CAR, CHARGE_CARD] {
        assert_eq!(local.invocations(f), 0, "DryRun must not run {f}");
    }
}

#[tokio::test]
async fn an_oversized_payload_is_refused_before_sending() {
    let local = endpoint().await;
    let lambda = LambdaInvoker::local(local.url());
    let rt = runtime(&lambda).build();
    let mut big = trip(None);
    big.traveller = "x".repeat(7 * 1024 * 1024);
    match BookTrip::run(&rt, big).await.expect("runs") {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "reserve_flight");
            assert_eq!(error.name(), payload::PAYLOAD_TOO_LARGE);
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    assert_eq!(local.invocations(RESERVE_FLIGHT), 0);
}

#[tokio::test]
async fn http_endpoints_and_lambdas_mix_in_one_saga() {
    // The local endpoint's Invoke path doubles as a plain JSON-over-HTTP API.
    let local = endpoint().await;
    let lambda = LambdaInvoker::local(local.url());
    let http = HttpInvoker::new().bearer("token");
    let url = format!(
        "{}/2015-03-31/functions/{CHARGE_CARD}/invocations",
        local.url()
    );
    let rt = runtime(&lambda)
        .bind::<charge_card>(http.endpoint(url))
        .build();
    let outcome = BookTrip::run(&rt, trip(None)).await.expect("runs");
    assert!(outcome.is_completed(), "{outcome:?}");
    assert_eq!(local.invocations(CHARGE_CARD), 1);
}

/// A bare HTTP server: its URL, how many requests it answered, and the
/// head of each request (lower-cased).
struct Raw {
    url: String,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    heads: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A bare HTTP server on 127.0.0.1 that answers every request with the same
/// raw response, for answers the local endpoint never gives (a body that is
/// not JSON, a `Handled` function error, an unexpected 5xx). Counts requests
/// and keeps their heads.
async fn raw_lambda(status: &'static str, headers: &str, body: String) -> Raw {
    let headers = headers.to_owned();
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (seen, kept) = (count.clone(), heads.clone());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (seen, body, headers) = (seen.clone(), body.clone(), headers.clone());
            let kept = kept.clone();
            tokio::spawn(async move {
                // Read the head, then as many body bytes as it announces.
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                    if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while request.len() < head_end + length {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                kept.lock().expect("heads").push(head);
                seen.fetch_add(1, Ordering::SeqCst);
                let response = format!(
                    "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Raw {
        url,
        calls: count,
        heads,
    }
}

/// How many failed step attempts the saga log of `id` records.
async fn failed_attempts(rt: &Runtime, id: &SagaId) -> usize {
    rt.log()
        .history(id)
        .await
        .expect("history")
        .into_iter()
        .filter(|e| matches!(e.event, saga_core::log::SagaEvent::StepFailed { .. }))
        .count()
}

/// The trip saga with only `rent_car` bound, to `url`; everything else runs in-process.
fn car_on(url: &str) -> Runtime {
    let lambda = LambdaInvoker::local(url);
    Runtime::builder()
        .bind::<rent_car>(lambda.function(RENT_CAR))
        .compensation_retry(RetryPolicy::NEVER)
        .build()
}

#[tokio::test]
async fn a_result_that_is_not_json_is_bad_output_showing_a_truncated_excerpt() {
    let garbage = format!("{{\"code\": \"CAR-{}", "x".repeat(500));
    let Raw { url, calls, .. } =
        raw_lambda("200 OK", "content-type: application/json\r\n", garbage).await;
    let rt = car_on(&url);
    match BookTrip::run(&rt, trip(None)).await.expect("runs") {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "rent_car");
            assert_eq!(error.name(), payload::BAD_OUTPUT);
            assert_eq!(error.class(), ErrorClass::Terminal);
            let message = error.message();
            assert!(message.contains("{\"code\": \"CAR-xxx"), "{message}");
            assert!(message.contains("(514 bytes)"), "{message}");
            assert!(message.len() < 400, "not truncated: {message}");
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_handled_function_error_keeps_its_error_type() {
    let body = r#"{"errorType":"Saga.Terminal.SoldOut","errorMessage":"no cars left"}"#;
    let Raw { url, calls, .. } = raw_lambda(
        "200 OK",
        "x-amz-function-error: Handled\r\ncontent-type: application/json\r\n",
        body.to_owned(),
    )
    .await;
    match BookTrip::run(&car_on(&url), trip(None))
        .await
        .expect("runs")
    {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "rent_car");
            assert_eq!(error.name(), "Saga.Terminal.SoldOut");
            assert_eq!(error.class(), ErrorClass::Terminal);
            assert_eq!(error.message(), "no cars left");
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "terminal: never retried"
    );
}

#[tokio::test]
async fn an_unexpected_5xx_is_ambiguous_and_the_sdk_never_retries_it_silently() {
    let body = r#"{"message":"something broke"}"#;
    let Raw { url, calls, .. } = raw_lambda(
        "503 Service Unavailable",
        "x-amzn-errortype: EC2UnexpectedException\r\ncontent-type: application/json\r\n",
        body.to_owned(),
    )
    .await;
    let rt = car_on(&url);
    let id = SagaId::new("five-hundred").expect("id");
    match BookTrip::run_with_id(&rt, id.clone(), trip(None))
        .await
        .expect("runs")
    {
        SagaOutcome::Stuck { step, error, .. } => {
            assert_eq!(step, "rent_car");
            assert_eq!(error.name(), "Lambda.EC2UnexpectedException");
            assert_eq!(error.class(), ErrorClass::Ambiguous);
        }
        other => panic!("expected Stuck, got {other:?}"),
    }
    let failures = failed_attempts(&rt, &id).await;
    // The try, then the resolve phase's call and rent_car's 2 retries: one
    // request per saga-level attempt, as the saga log shows.
    assert_eq!(failures, 4);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4);
}

/// A refused connection: the Lambda service retrier (AWS's policy, 6 retries
/// from 2 s) runs first, then the step is resolved and ends stuck. On tokio's
/// paused clock, so the waits take no time.
#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_a_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let rt = car_on(&format!("http://127.0.0.1:{port}"));
    let id = SagaId::new("refused").expect("id");
    let outcome = BookTrip::run_with_id(&rt, id.clone(), trip(None))
        .await
        .expect("runs");
    match outcome {
        SagaOutcome::Stuck { step, error, .. } => {
            assert_eq!(step, "rent_car");
            assert_eq!(error.name(), "Lambda.SdkClientException");
            assert_eq!(error.class(), ErrorClass::Ambiguous);
        }
        other => panic!("expected Stuck, got {other:?}"),
    }
    let failures = failed_attempts(&rt, &id).await;
    // Try: 1 + 6 service retries; resolve: 1 + 6 service retries (the
    // step's own budget never sees a service error).
    assert_eq!(failures, 14);
}

/// `Event` has Lambda's 1 MB limit: a 2 MB payload, fine for `RequestResponse`,
/// is refused before sending. On the paused clock: the retriable step's
/// jittered retries take no time.
#[tokio::test(start_paused = true)]
async fn an_event_payload_over_one_megabyte_is_refused_before_sending() {
    let local = endpoint().await;
    let lambda = LambdaInvoker::local(local.url());
    let rt = Runtime::builder()
        .bind::<send_confirmation>(lambda.function(SEND_CONFIRMATION).event())
        .build();
    let mut big = trip(None);
    big.traveller = "x".repeat(2 * 1024 * 1024);
    match BookTrip::run(&rt, big).await.expect("runs") {
        SagaOutcome::Stuck { step, error, .. } => {
            assert_eq!(step, "send_confirmation");
            assert_eq!(error.name(), payload::PAYLOAD_TOO_LARGE);
        }
        other => panic!("expected Stuck, got {other:?}"),
    }
    assert_eq!(local.invocations(SEND_CONFIRMATION), 0);
}

/// Lambda service errors are classed by name, exactly as the generated state
/// machine matches them: a listed 4xx is terminal, an unlisted one is an
/// unknown outcome, resolved and then stuck in both engines.
#[tokio::test]
async fn lambda_4xx_errors_are_classed_by_their_listed_names() {
    let headers =
        |code: &str| format!("x-amzn-errortype: {code}\r\ncontent-type: application/json\r\n");
    let body = r#"{"message":"refused"}"#.to_owned();

    let Raw { url, calls, .. } = raw_lambda(
        "400 Bad Request",
        &headers("RecursiveInvocationException"),
        body.clone(),
    )
    .await;
    match BookTrip::run(&car_on(&url), trip(None))
        .await
        .expect("runs")
    {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "rent_car");
            assert_eq!(error.name(), "Lambda.RecursiveInvocationException");
            assert_eq!(error.class(), ErrorClass::Terminal);
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);

    let Raw { url, .. } = raw_lambda("400 Bad Request", &headers("BrandNewException"), body).await;
    match BookTrip::run(&car_on(&url), trip(None))
        .await
        .expect("runs")
    {
        SagaOutcome::Stuck { step, error, .. } => {
            assert_eq!(step, "rent_car");
            assert_eq!(error.name(), "Lambda.BrandNewException");
            assert_eq!(error.class(), ErrorClass::Ambiguous);
        }
        other => panic!("expected Stuck, got {other:?}"),
    }
}

/// `X-Amz-Function-Error` with a body that is not an error payload: the
/// function failed in an unknown way, so the outcome is unknown.
#[tokio::test]
async fn a_function_error_without_an_error_type_is_ambiguous() {
    let Raw { url, .. } = raw_lambda(
        "200 OK",
        "x-amz-function-error: Unhandled\r\ncontent-type: application/json\r\n",
        r#"{"oops":true}"#.to_owned(),
    )
    .await;
    match BookTrip::run(&car_on(&url), trip(None))
        .await
        .expect("runs")
    {
        SagaOutcome::Stuck { step, error, .. } => {
            assert_eq!(step, "rent_car");
            assert_eq!(error.name(), names::AMBIGUOUS);
            assert!(error.message().contains(r#"{"oops":true}"#), "{error}");
        }
        other => panic!("expected Stuck, got {other:?}"),
    }
}
