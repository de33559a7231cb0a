//! Saga lifecycle events through the outbox of the saga log.
//!
//! - The JSON schema is frozen by a golden file (`GOLDEN=overwrite` rewrites it).
//! - A failing sink never blocks or fails a saga; nothing is lost, and
//!   nothing is published twice once the sink recovers.
//! - Gated on moto (`SAGA_MOTO_SERVER`, installed by `scripts/test.sh`): the
//!   real SNS, SQS and EventBridge clients publish to moto's server; a
//!   subscriber queue of each receives exactly the expected events, also
//!   across a crash and recovery, and at least once when an acknowledgement
//!   is lost.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::moto::Moto;
use saga_core::BoxFuture;
use saga_core::log::{InMemoryLog, Outbox, SagaLog, SqliteLog};
use saga_core::names;
use saga_core::prelude::*;
use saga_core::publish::{
    EventBridgeSink, EventSink, JsonLines, LifecycleEvent, PublishError, Publisher, SnsSink,
    SqsSink,
};
use serde_json::{Value, json};
use trip_saga::{BookTrip, Trip};

fn trip(fail_at: Option<&str>) -> Trip {
    Trip {
        traveller: "Ada".into(),
        from: "LHR".into(),
        to: "JFK".into(),
        fail_at: fail_at.map(str::to_owned),
    }
}

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn events(&self) -> Vec<LifecycleEvent> {
        let text = String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("a lifecycle event"))
            .collect()
    }
}

/// (type, step) of each event.
fn shape(events: &[LifecycleEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.kind.as_str().to_owned(),
                e.step.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn expected(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(t, s)| (t.to_string(), s.to_string()))
        .collect()
}

fn happy() -> Vec<(String, String)> {
    expected(&[
        ("saga_started", ""),
        ("step_completed", "reserve_flight"),
        ("step_completed", "reserve_hotel"),
        ("step_completed", "rent_car"),
        ("step_completed", "charge_card"),
        ("step_completed", "send_confirmation"),
        ("saga_completed", ""),
    ])
}

fn compensated_at_car() -> Vec<(String, String)> {
    expected(&[
        ("saga_started", ""),
        ("step_completed", "reserve_flight"),
        ("step_completed", "reserve_hotel"),
        ("compensation_started", "rent_car"),
        ("step_compensated", "reserve_hotel"),
        ("step_compensated", "reserve_flight"),
        ("saga_compensated", ""),
    ])
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/events")
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
async fn lifecycle_events_follow_the_frozen_schema() {
    let log = Arc::new(InMemoryLog::with_outbox());
    let rt = Runtime::builder()
        .shared_log(log.clone())
        .register::<BookTrip>()
        .build();
    for (id, fail_at) in [("trip-ok", None), ("trip-car", Some("car"))] {
        let id = SagaId::new(id).expect("id");
        let _ = BookTrip::run_with_id(&rt, id, trip(fail_at))
            .await
            .expect("run");
    }
    let out = Buffer::default();
    let publisher =
        Publisher::new(log.clone(), JsonLines::new("lines", out.clone())).registry(rt.registry());
    assert_eq!(publisher.publish_pending().await.expect("publish"), 14);
    assert_eq!(publisher.publish_pending().await.expect("again"), 0);
    let events = out.events();
    assert_eq!(shape(&events[..7]), happy());
    assert_eq!(shape(&events[7..]), compensated_at_car());
    let mut lines = String::new();
    for e in &events {
        // The time is the one field that changes from run to run.
        let at = &e.at;
        assert!(
            at.len() == 24 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
            "RFC 3339 with milliseconds: {at}"
        );
        let mut value: Value = serde_json::from_str(&e.to_json()).expect("json");
        value["at"] = json!("<at>");
        lines.push_str(&value.to_string());
        lines.push('\n');
    }
    golden("book_trip.jsonl", &lines);

    // A log without an outbox says so.
    let plain = InMemoryLog::new();
    assert!(matches!(
        plain.read_after(0, 10).await,
        Err(saga_core::log::LogError::NoOutbox)
    ));
}

/// A sink that passes batches on, and reports the first accepted one as
/// failed while `armed`: an acknowledgement lost after the sink took it.
struct LoseAck {
    inner: Box<dyn EventSink>,
    armed: AtomicBool,
}

impl EventSink for LoseAck {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn publish<'a>(
        &'a self,
        events: &'a [LifecycleEvent],
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            self.inner.publish(events).await?;
            if self.armed.swap(false, Ordering::SeqCst) {
                return Err(PublishError::Sink {
                    sink: self.inner.name().to_owned(),
                    message: "the acknowledgement was lost".into(),
                });
            }
            Ok(())
        })
    }
}

/// A sink that fails while `down` is set.
struct Flaky {
    down: Arc<AtomicBool>,
    out: JsonLines<Buffer>,
}

impl EventSink for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn publish<'a>(
        &'a self,
        events: &'a [LifecycleEvent],
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        if self.down.load(Ordering::SeqCst) {
            return Box::pin(std::future::ready(Err(PublishError::Sink {
                sink: "flaky".into(),
                message: "unavailable".into(),
            })));
        }
        self.out.publish(events)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_never_blocks_a_saga_and_loses_nothing() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("events");
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join(format!("flaky-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let log = Arc::new(SqliteLog::open(&db).expect("open"));
    let rt = Runtime::builder()
        .shared_log(log.clone())
        .register::<BookTrip>()
        .build();
    let down = Arc::new(AtomicBool::new(true));
    let out = Buffer::default();
    let handle = Publisher::new(
        log.clone(),
        Flaky {
            down: down.clone(),
            out: JsonLines::new("flaky", out.clone()),
        },
    )
    .registry(rt.registry())
    .poll_interval(Duration::from_millis(5))
    .max_backoff(Duration::from_millis(20))
    .spawn();
    // The sink is down the whole time: every saga still ends on its own.
    for n in 0..20 {
        let outcome = BookTrip::run(&rt, trip((n % 2 == 1).then_some("car")))
            .await
            .expect("run");
        assert_eq!(outcome.is_completed(), n % 2 == 0);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(out.events().is_empty());
    assert_eq!(log.cursor("flaky").await.expect("cursor"), 0);
    // Back up: everything goes out, once, in order.
    down.store(false, Ordering::SeqCst);
    let last = handle.stop().await.expect("the last pass publishes");
    let events = out.events();
    assert_eq!(
        events.len(),
        20 * 7,
        "published by the run loop and the last pass ({last})"
    );
    let mut by_saga: BTreeMap<String, Vec<LifecycleEvent>> = BTreeMap::new();
    for e in events {
        by_saga.entry(e.saga_id.clone()).or_default().push(e);
    }
    assert_eq!(by_saga.len(), 20);
    for events in by_saga.values() {
        let shape = shape(events);
        assert!(
            shape == happy() || shape == compensated_at_car(),
            "{shape:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// SNS, SQS and EventBridge on moto's server.

mod aws {
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};

    pub fn sqs(url: &str) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .endpoint_url(url)
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    pub fn sns(url: &str) -> aws_sdk_sns::Client {
        let config = aws_sdk_sns::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .endpoint_url(url)
            .build();
        aws_sdk_sns::Client::from_conf(config)
    }

    pub fn eventbridge(url: &str) -> aws_sdk_eventbridge::Client {
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .endpoint_url(url)
            .build();
        aws_sdk_eventbridge::Client::from_conf(config)
    }
}

const SOURCE: &str = "com.example.trips";

/// The queues that subscribe to each sink, and the sinks.
struct Wiring {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    eventbridge: aws_sdk_eventbridge::Client,
    /// A FIFO queue the SQS sink sends to directly.
    direct: String,
    /// A standard queue subscribed to the topic, with raw delivery.
    via_sns: String,
    topic: String,
    /// A standard queue an EventBridge rule on `SOURCE` targets.
    via_eventbridge: String,
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let mut create = sqs.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    let url = create
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("url")
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("queue arn")
        .clone();
    (url, arn)
}

impl Wiring {
    async fn new(moto: &Moto) -> Wiring {
        let url = moto.url();
        let (sqs, sns, eventbridge) = (aws::sqs(&url), aws::sns(&url), aws::eventbridge(&url));
        let (direct, _) = queue(&sqs, "saga-events.fifo").await;
        let (via_sns, sns_queue_arn) = queue(&sqs, "saga-events-sns").await;
        let (via_eventbridge, eb_queue_arn) = queue(&sqs, "saga-events-eventbridge").await;
        let topic = sns
            .create_topic()
            .name("saga-events")
            .send()
            .await
            .expect("create topic")
            .topic_arn()
            .expect("topic arn")
            .to_owned();
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(&sns_queue_arn)
            .attributes("RawMessageDelivery", "true")
            .return_subscription_arn(true)
            .send()
            .await
            .expect("subscribe");
        eventbridge
            .put_rule()
            .name("saga-events")
            .event_pattern(json!({ "source": [SOURCE] }).to_string())
            .send()
            .await
            .expect("put rule");
        eventbridge
            .put_targets()
            .rule("saga-events")
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(&eb_queue_arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("put targets");
        Wiring {
            sqs,
            sns,
            eventbridge,
            direct,
            via_sns,
            topic,
            via_eventbridge,
        }
    }

    /// One publisher per sink, over `log`.
    fn publishers(&self, log: &Arc<SqliteLog>, rt: &Runtime) -> Vec<Publisher> {
        self.publishers_losing_acks(log, rt, false)
    }

    /// With `lose_ack`, each sink's first accepted batch is reported as failed.
    fn publishers_losing_acks(
        &self,
        log: &Arc<SqliteLog>,
        rt: &Runtime,
        lose_ack: bool,
    ) -> Vec<Publisher> {
        let outbox: Arc<dyn Outbox> = log.clone();
        let wrap = |sink: Box<dyn EventSink>| LoseAck {
            inner: sink,
            armed: AtomicBool::new(lose_ack),
        };
        vec![
            Publisher::new(
                outbox.clone(),
                wrap(Box::new(SqsSink::new(self.sqs.clone(), &self.direct))),
            ),
            Publisher::new(
                outbox.clone(),
                wrap(Box::new(SnsSink::new(self.sns.clone(), &self.topic))),
            ),
            Publisher::new(
                outbox,
                wrap(Box::new(EventBridgeSink::new(
                    self.eventbridge.clone(),
                    "default",
                    SOURCE,
                ))),
            ),
        ]
        .into_iter()
        .map(|p| p.registry(rt.registry()))
        .collect()
    }

    /// Every message waiting in `queue`, deleted as read, as lifecycle
    /// events; EventBridge's envelope is checked and unwrapped.
    async fn drain(&self, queue: &str) -> Vec<LifecycleEvent> {
        let mut out = Vec::new();
        let mut empty = 0;
        while empty < 2 {
            let got = self
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            let messages = got.messages();
            if messages.is_empty() {
                // moto delivers from SNS and EventBridge before answering
                // the publish; a second look only guards against a straggler.
                empty += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            for m in messages {
                let body: Value = serde_json::from_str(m.body().expect("body")).expect("json");
                let event = if body.get("detail-type").is_some() {
                    assert_eq!(body["source"], SOURCE, "{body}");
                    assert_eq!(body["detail-type"], body["detail"]["type"], "{body}");
                    serde_json::from_value(body["detail"].clone()).expect("detail")
                } else {
                    serde_json::from_value(body).expect("a lifecycle event")
                };
                out.push(event);
                self.sqs
                    .delete_message()
                    .queue_url(queue)
                    .receipt_handle(m.receipt_handle().expect("handle"))
                    .send()
                    .await
                    .expect("delete");
            }
        }
        out
    }

    async fn drain_all(&self) -> [Vec<LifecycleEvent>; 3] {
        [
            self.drain(&self.direct).await,
            self.drain(&self.via_sns).await,
            self.drain(&self.via_eventbridge).await,
        ]
    }
}

/// The events of each saga, in the order received.
fn per_saga(events: &[LifecycleEvent]) -> BTreeMap<String, Vec<LifecycleEvent>> {
    let mut by: BTreeMap<String, Vec<LifecycleEvent>> = BTreeMap::new();
    for e in events {
        by.entry(e.saga_id.clone()).or_default().push(e.clone());
    }
    by
}

fn temp_db(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("events");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

/// Step b of `Ship` hangs on its first call (the process "dies" there),
/// and succeeds when recovery calls it again.
static HANG_B: AtomicBool = AtomicBool::new(true);

#[saga_step(compensate = undo_a)]
async fn a(n: &u32) -> Result<u32, StepError> {
    Ok(n + 1)
}
async fn undo_a(_n: &u32, _a: u32) -> Result<(), StepError> {
    Ok(())
}
#[saga_step(compensate = undo_b, timeout_seconds = 3600)]
async fn b(n: &u32) -> Result<u32, StepError> {
    if HANG_B.swap(false, Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    Ok(n + 2)
}
async fn undo_b(_n: &u32, _b: u32) -> Result<(), StepError> {
    Ok(())
}
#[saga_step(pivot)]
async fn c(n: &u32) -> Result<u32, StepError> {
    Ok(n + 3)
}

saga! {
    /// a → b → c.
    pub saga Ship(n: u32) -> u32 {
        let x = a(&n);
        let y = b(&n);
        let z = c(&n);
        x + y + z
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto's server: run through scripts/test.sh (--include-ignored)"]
async fn sns_sqs_and_eventbridge_subscribers_receive_exactly_the_saga_events() {
    let moto = Moto::start(&[], None).await;
    let wiring = Wiring::new(&moto).await;

    // Two sagas: one completes, one is compensated.
    let db = temp_db("moto");
    let log = Arc::new(SqliteLog::open(&db).expect("open"));
    let rt = Runtime::builder()
        .shared_log(log.clone())
        .register::<BookTrip>()
        .register::<Ship>()
        .build();
    for (id, fail_at) in [("trip-ok", None), ("trip-car", Some("car"))] {
        let id = SagaId::new(id).expect("id");
        let _ = BookTrip::run_with_id(&rt, id, trip(fail_at))
            .await
            .expect("run");
    }
    for p in wiring.publishers(&log, &rt) {
        assert_eq!(
            p.publish_pending().await.expect("publish"),
            14,
            "{}",
            p.consumer_name()
        );
    }
    for (queue, events) in ["sqs", "sns", "eventbridge"]
        .iter()
        .zip(wiring.drain_all().await)
    {
        assert_eq!(events.len(), 14, "{queue}: {events:?}");
        let by = per_saga(&events);
        if *queue == "sqs" {
            // The FIFO queue keeps each saga's order.
            assert_eq!(shape(&by["trip-ok"]), happy(), "{queue}");
            assert_eq!(shape(&by["trip-car"]), compensated_at_car(), "{queue}");
        }
        for events in by.values() {
            let mut sorted = events.clone();
            sorted.sort_by_key(|e| e.seq);
            let expect = if events[0].saga_id == "trip-ok" {
                happy()
            } else {
                compensated_at_car()
            };
            assert_eq!(shape(&sorted), expect, "{queue}");
        }
        let car = &by["trip-car"];
        let started = car
            .iter()
            .find(|e| e.kind.as_str() == "compensation_started")
            .expect("compensation_started");
        assert_eq!(
            started.error.as_ref().map(|e| e.name.as_str()),
            Some(names::TERMINAL),
            "{queue}"
        );
    }

    // A crash in the middle of a saga: what was published before it is not
    // published again; recovery's events follow.
    let id = SagaId::new("ship-crash").expect("id");
    let run = tokio::spawn({
        let (rt, id) = (rt.clone(), id.clone());
        async move { Ship::run_with_id(&rt, id, 1).await }
    });
    let mut waited = 0;
    while log.history(&id).await.map_or(0, |h| h.len()) < 4 {
        waited += 1;
        assert!(waited < 500, "step b never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for p in wiring.publishers(&log, &rt) {
        assert_eq!(
            p.publish_pending().await.expect("publish"),
            2,
            "{}",
            p.consumer_name()
        );
    }
    run.abort();
    let _ = run.await;
    drop(rt);
    drop(log);
    let log = Arc::new(SqliteLog::open(&db).expect("reopen"));
    let rt = Runtime::builder()
        .shared_log(log.clone())
        .register::<BookTrip>()
        .register::<Ship>()
        .build();
    let report = rt.recover().await.expect("recover");
    assert_eq!(report.count(SagaStatus::Completed), 1, "{report:?}");
    for p in wiring.publishers(&log, &rt) {
        assert_eq!(
            p.publish_pending().await.expect("publish"),
            3,
            "{}",
            p.consumer_name()
        );
    }
    let ship = expected(&[
        ("saga_started", ""),
        ("step_completed", "a"),
        ("step_completed", "b"),
        ("step_completed", "c"),
        ("saga_completed", ""),
    ]);
    for (queue, events) in ["sqs", "sns", "eventbridge"]
        .iter()
        .zip(wiring.drain_all().await)
    {
        let mut sorted = events.clone();
        sorted.sort_by_key(|e| e.seq);
        assert_eq!(
            shape(&sorted),
            ship,
            "{queue}: exactly once across the crash"
        );
    }

    // An acknowledgement lost after the sink accepted the batch (a crash
    // between publishing and moving the cursor): the batch goes out again,
    // with the same event ids, so consumers drop the duplicates. The FIFO
    // queue drops them itself (deduplication id = event id).
    let id = SagaId::new("trip-again").expect("id");
    let _ = BookTrip::run_with_id(&rt, id, trip(None))
        .await
        .expect("run");
    for p in wiring.publishers_losing_acks(&log, &rt, true) {
        let cursor = log.cursor(p.consumer_name()).await.expect("cursor");
        assert!(p.publish_pending().await.is_err(), "the ack is lost");
        assert_eq!(
            log.cursor(p.consumer_name()).await.expect("cursor"),
            cursor,
            "a batch without an ack does not move the cursor"
        );
        assert_eq!(p.publish_pending().await.expect("publish again"), 7);
    }
    let [direct, via_sns, via_eventbridge] = wiring.drain_all().await;
    assert_eq!(
        shape(&direct),
        happy(),
        "the FIFO queue drops the redelivery"
    );
    for (queue, events) in [("sns", via_sns), ("eventbridge", via_eventbridge)] {
        assert_eq!(events.len(), 14, "{queue}: every event twice");
        let mut unique: BTreeMap<String, LifecycleEvent> = BTreeMap::new();
        for e in events {
            if let Some(first) = unique.insert(e.id.clone(), e.clone()) {
                assert_eq!(first, e, "{queue}: a redelivery is identical");
            }
        }
        let mut deduped: Vec<LifecycleEvent> = unique.into_values().collect();
        deduped.sort_by_key(|e| e.seq);
        assert_eq!(shape(&deduped), happy(), "{queue}");
    }
}
