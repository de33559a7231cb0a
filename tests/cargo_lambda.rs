//! The trip steps as real `lambda_runtime` binaries under `cargo lambda watch`,
//! driven end to end through `aws-sdk-lambda`. cargo-lambda deviates from AWS
//! (function errors come back as HTTP 500, ...), so the local Invoke endpoint
//! fronts it in proxy mode and restores AWS semantics.
//!
//! Gated: it needs the cargo-lambda binary, which `scripts/test.sh` installs
//! from PyPI and passes in `SAGA_CARGO_LAMBDA`, and the trip binaries built
//! (`cargo build --workspace --bins --examples`). Without them it fails, loudly.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use saga_core::invoke::LambdaInvoker;
use saga_core::invoke::local::{LocalLambda, LocalLambdaHandle};
use saga_core::invoke::payload::BAD_OUTPUT;
use saga_core::prelude::*;
use saga_core::{ErrorClass, names};
use trip_saga::functions::*;
use trip_saga::*;

/// `cargo lambda watch`, stopped by PID when dropped.
struct Watch {
    child: Child,
    port: u16,
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SIGTERM lets cargo-lambda stop the function processes it started.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_watch() -> Watch {
    let bin = std::env::var("SAGA_CARGO_LAMBDA").unwrap_or_default();
    assert!(
        !bin.is_empty() && PathBuf::from(&bin).is_file(),
        "SAGA_CARGO_LAMBDA must name the cargo-lambda binary (got {bin:?}); run `bash scripts/test.sh`, which installs it"
    );
    let port = free_port();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/trip");
    let mut command = Command::new(&bin);
    // `cargo lambda watch` builds the functions with `cargo run`. Hide what
    // cargo set for this test binary (CARGO_MANIFEST_DIR, ...): build scripts
    // that track those variables (ring's) would otherwise see a change and
    // rebuild half the dependency tree, instead of reusing the bins that
    // scripts/test.sh built.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        let set_by_cargo_test = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR"].contains(&name.as_str());
        if set_by_cargo_test {
            command.env_remove(&name);
        }
    }
    let child = command
        .args([
            "lambda",
            "watch",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "--ignore-changes",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let watch = Watch { child, port };
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch did not listen on {port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    watch
}

/// The binaries of `examples/trip`: the functions `cargo lambda watch` serves.
const FUNCTIONS: [&str; 9] = [
    RESERVE_FLIGHT,
    CANCEL_FLIGHT,
    RESERVE_HOTEL,
    CANCEL_HOTEL,
    RENT_CAR,
    RETURN_CAR,
    CHARGE_CARD,
    SEND_CONFIRMATION,
    MALFORMED_HOTEL,
];

async fn front(watch: &Watch) -> LocalLambdaHandle {
    // Naming the upstream's functions makes a DryRun of any other name 404,
    // as on AWS, so the preflight below can fail.
    LocalLambda::new()
        .proxy(format!("http://127.0.0.1:{}", watch.port))
        .upstream_functions(FUNCTIONS)
        .start()
        .await
        .expect("the proxy starts")
}

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
}

fn trip(fail_at: Option<&str>) -> Trip {
    Trip {
        traveller: "Ada".into(),
        from: "LHR".into(),
        to: "JFK".into(),
        fail_at: fail_at.map(str::to_owned),
    }
}

/// One test drives every case against one `cargo lambda watch`, because it
/// serves one call per function at a time and starts slowly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs cargo-lambda; `bash scripts/test.sh` installs it and runs this"]
async fn trip_lambdas_under_cargo_lambda_watch() {
    let watch = start_watch();
    let proxy = front(&watch).await;
    let lambda = LambdaInvoker::local(proxy.url());
    let rt = runtime(&lambda).build();
    rt.preflight::<BookTrip>().await.expect("DryRun preflight");
    // A binding to a function that is not deployed fails the preflight.
    let misbound = runtime(&lambda)
        .bind_compensation::<rent_car>(lambda.function("return-car-v2"))
        .build();
    let refused = misbound
        .preflight::<BookTrip>()
        .await
        .expect_err("return-car-v2 does not exist");
    let missing: Vec<(&str, &str)> = refused
        .failures
        .iter()
        .map(|f| (f.target.as_str(), f.error.name()))
        .collect();
    assert_eq!(
        missing,
        vec![("return-car-v2", "Lambda.ResourceNotFoundException")]
    );

    // Success.
    let itinerary = BookTrip::run(&rt, trip(None))
        .await
        .expect("runs")
        .completed()
        .expect("completes");
    assert_eq!(itinerary.hotel.code, "HT-JFK-10");

    // A terminal failure at each compensatable step and at the pivot: the
    // completed steps are compensated in reverse, the failed one is not.
    let expected: [(&str, &str, &[&str]); 4] = [
        ("flight", "reserve_flight", &[]),
        ("hotel", "reserve_hotel", &[CANCEL_FLIGHT]),
        ("car", "rent_car", &[CANCEL_HOTEL, CANCEL_FLIGHT]),
        (
            "charge",
            "charge_card",
            &[RETURN_CAR, CANCEL_HOTEL, CANCEL_FLIGHT],
        ),
    ];
    for (fail_at, step, compensations) in expected {
        let before: Vec<u64> = [CANCEL_FLIGHT, CANCEL_HOTEL, RETURN_CAR]
            .iter()
            .map(|f| proxy.invocations(f))
            .collect();
        let id = SagaId::new(format!("fail-{fail_at}")).expect("id");
        match BookTrip::run_with_id(&rt, id.clone(), trip(Some(fail_at)))
            .await
            .expect("runs")
        {
            SagaOutcome::Compensated { failed_step, error } => {
                assert_eq!(failed_step, step);
                assert_eq!(
                    error.name(),
                    names::TERMINAL,
                    "the Rust Lambda's Diagnostic name survives"
                );
            }
            other => panic!("fail at {fail_at}: expected Compensated, got {other:?}"),
        }
        let after: Vec<u64> = [CANCEL_FLIGHT, CANCEL_HOTEL, RETURN_CAR]
            .iter()
            .map(|f| proxy.invocations(f))
            .collect();
        for (i, f) in [CANCEL_FLIGHT, CANCEL_HOTEL, RETURN_CAR].iter().enumerate() {
            let ran = after[i] - before[i];
            assert_eq!(
                ran,
                u64::from(compensations.contains(f)),
                "fail at {fail_at}: {f} ran {ran} times"
            );
        }
        // Reverse completion order, read from the saga log.
        let order: Vec<usize> = rt
            .log()
            .history(&id)
            .await
            .expect("history")
            .into_iter()
            .filter_map(|e| match e.event {
                saga_core::log::SagaEvent::CompensationSucceeded { step } => Some(step),
                _ => None,
            })
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(
            order, sorted,
            "fail at {fail_at}: compensations out of order"
        );
        assert_eq!(order.len(), compensations.len());
    }

    // After the pivot: the confirmation fails twice, and is retried until it succeeds.
    let confirmed = BookTrip::run(&rt, trip(Some("confirmation")))
        .await
        .expect("runs");
    assert!(confirmed.is_completed(), "{confirmed:?}");

    // A handler that panics: lambda_runtime reports it, the outcome is unknown.
    match BookTrip::run(&rt, trip(Some("panic:car")))
        .await
        .expect("runs")
    {
        SagaOutcome::Stuck { step, error, .. } => {
            assert_eq!(step, "rent_car");
            assert_eq!(error.class(), ErrorClass::Ambiguous, "{error}");
        }
        other => panic!("expected Stuck, got {other:?}"),
    }

    // A build that answers JSON of the wrong shape (a `lambda_runtime` handler
    // can only answer JSON; a body that is not JSON at all is tested against
    // a raw server in tests/lambda_invoker.rs): a typed error, and the saga
    // compensates.
    let broken = runtime(&lambda)
        .bind::<reserve_hotel>(lambda.function(MALFORMED_HOTEL))
        .build();
    match BookTrip::run(&broken, trip(None)).await.expect("runs") {
        SagaOutcome::Compensated { failed_step, error } => {
            assert_eq!(failed_step, "reserve_hotel");
            assert_eq!(error.name(), BAD_OUTPUT);
            assert!(error.message().contains("42"), "{error}");
        }
        other => panic!("expected Compensated, got {other:?}"),
    }
    drop(watch);
}
