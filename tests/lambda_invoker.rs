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
