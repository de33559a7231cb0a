//! The cost of running a step on Lambda through the saga runtime, against a
//! raw `aws-sdk-lambda` invoke of the same function with the same payload, on
//! the same local Invoke endpoint, in the same run.
//!
//! - `lambda_step/raw_invoke`: `client.invoke()` with the step's payload.
//! - `lambda_step/saga_step`: a one-step saga bound to that function: payload
//!   building, the saga log, the invoke, and decoding the typed output.
//! - `lambda_step/raw_invoke_again`: the baseline once more, after the saga;
//!   the ratio is taken against the mean of both baseline runs.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use saga_core::Direction;
use saga_core::invoke::LambdaInvoker;
use saga_core::invoke::local::LocalLambda;
use saga_core::invoke::payload::{self, Metadata};
use saga_core::prelude::*;
use saga_core::saga;

#[saga_step(pivot)]
async fn ping(n: &u64) -> Result<u64, StepError> {
    Ok(*n + 1)
}

saga! {
    pub saga Ping(n: u64) -> u64 {
        let pong = ping(&n);
        pong
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = rt
        .block_on(LocalLambda::new().step::<ping>("ping").start())
        .expect("local endpoint");
    let lambda = LambdaInvoker::local(local.url());
    let runtime = Runtime::builder()
        .bind::<ping>(lambda.function("ping"))
        .build();
    let meta = Metadata::new(
        &SagaId::new("bench").expect("id"),
        "Ping",
        "ping",
        Direction::Forward,
    );
    let body = serde_json::to_vec(&payload::request::<ping>(&(&7,), None, &meta).expect("payload"))
        .expect("bytes");
    let client = lambda.client().clone();

    let check = rt
        .block_on(Ping::run(&runtime, 7))
        .expect("runs")
        .completed();
    assert_eq!(check, Some(8));

    let mut group = c.benchmark_group("lambda_step");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let raw_invoke = |b: &mut criterion::Bencher<'_>| {
        b.to_async(&rt).iter(|| {
            let client = client.clone();
            let body = body.clone();
            async move {
                let out = client
                    .invoke()
                    .function_name("ping")
                    .payload(aws_sdk_lambda::primitives::Blob::new(body))
                    .send()
                    .await
                    .expect("invoke");
                std::hint::black_box(out);
            }
        })
    };
    // The baseline runs before and after the saga, so that drift over the
    // run (a warming machine, a noisy neighbour) shows as a gap between the
    // two and does not favour either side.
    group.bench_function("raw_invoke", raw_invoke);
    group.bench_function("saga_step", |b| {
        b.to_async(&rt).iter(|| async {
            let out = Ping::run(&runtime, 7).await.expect("runs");
            let _ = std::hint::black_box(out);
        })
    });
    group.bench_function("raw_invoke_again", raw_invoke);
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
