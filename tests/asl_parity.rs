//! Parity: the generated state machine, run by a real ASL interpreter (moto's
//! Step Functions), and the Rust executor make the same calls with the same
//! payloads and end the same way, for every failure schedule below, of both
//! trip sagas: `BookTrip` and `BookTripTogether`, whose hotel and car form a
//! parallel group.
//!
//! Both engines call the same handlers on one local Invoke endpoint, which
//! records every invocation (function, payload) as it arrives. moto sends its
//! Lambda calls to `localhost:$MOTO_PORT`, here the endpoint's port.
//!
//! Each schedule also names the ending the failure rules predict (and, for
//! the parallel group, the compensations), so two engines that went wrong
//! the same way still fail the test, and the number of `TaskScheduled`
//! events in the interpreter's history must match the calls the endpoint
//! recorded for it.
//!
//! The branches of a parallel group run concurrently in both engines, so
//! their calls arrive in no fixed order: each run of consecutive calls to a
//! group's steps is compared sorted by function (each function's own calls
//! keep their order); every other call, compensations included, is compared
//! in the order it arrived.
//!
//! Known differences, handled here rather than hidden:
//! - a Task timeout is `States.Timeout` in Step Functions and `Saga.Timeout`
//!   in the executor: the outcome comparison maps one onto the other;
//! - moto drops `InvocationType: "Event"` (it calls synchronously), so Event
//!   bindings cannot be compared here; the trip saga binds none;
//! - a saga stuck at a compensation is `Stuck { direction: Compensation }` in
//!   the executor and the `Saga.CompensationFailed` Fail in the machine: the
//!   outcome comparison maps one onto the other;
//! - a throttled call (429) is a `TaskScheduled` event in the history but
//!   never reaches a handler, so it is counted apart;
//! - a timed-out call keeps running in both engines; the record is taken when
//!   a call arrives, so its late end changes nothing, and the interpreter's
//!   history is cut at the execution's end.
//!
//! Gated: needs moto (`SAGA_MOTO_SERVER`), installed by `scripts/test.sh`.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sfn::Client;
use aws_sdk_sfn::config::retry::RetryConfig;
use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use saga_core::asl::{self, AslOptions, StateMachine};
use saga_core::invoke::LambdaInvoker;
use saga_core::invoke::handler::{Handler, compensation_handler, handler_fn, step_handler};
use saga_core::invoke::local::{LocalLambda, LocalLambdaHandle};
use saga_core::log::SagaEvent;
use saga_core::names;
use saga_core::prelude::*;
use serde_json::{Value, json};
use trip_saga::functions::*;
use trip_saga::*;

use common::moto::Moto;

/// What a faulty function does.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Every call fails with `Saga.Terminal`.
    Terminal,
    /// Every call outlives the step's 5 s timeout (`rent_car`).
    Hang,
    /// The first call outlives the timeout, later calls run.
    HangOnce,
    /// The first call outlives the timeout, later calls fail with `Saga.Retryable`.
    HangThenRetryable,
    /// The first call fails with `Saga.Retryable`, later calls run.
    RetryableOnce,
    /// Every call fails with `Saga.Retryable`.
    AlwaysRetryable,
    /// Every call fails with `Saga.BadPayload`: terminal like `Terminal`,
    /// under another name, so that the saga's error tells which call failed.
    BadPayload,
}

/// The saga a schedule runs. Both call the same functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Subject {
    /// `BookTrip`: one step after another.
    Sequential,
    /// `BookTripTogether`: the hotel and the car as one parallel group.
    Together,
}

impl Subject {
    const ALL: [Subject; 2] = [Subject::Sequential, Subject::Together];

    /// The saga's name, also its state machine's.
    fn name(self) -> &'static str {
        match self {
            Subject::Sequential => "BookTrip",
            Subject::Together => "BookTripTogether",
        }
    }

    fn machine(self, options: &AslOptions) -> StateMachine {
        let machine = match self {
            Subject::Sequential => asl::state_machine::<BookTrip>(options),
            Subject::Together => asl::state_machine::<BookTripTogether>(options),
        };
        machine.unwrap_or_else(|e| panic!("{} has no state machine: {e}", self.name()))
    }

    async fn run(
        self,
        runtime: &Runtime,
        id: SagaId,
        trip: Trip,
    ) -> Result<SagaOutcome<Itinerary>, SagaError> {
        match self {
            Subject::Sequential => BookTrip::run_with_id(runtime, id, trip).await,
            Subject::Together => BookTripTogether::run_with_id(runtime, id, trip).await,
        }
    }

    /// The functions of the steps that run concurrently: a parallel group's.
    fn concurrent(self) -> &'static [&'static str] {
        match self {
            Subject::Sequential => &[],
            Subject::Together => &[RESERVE_HOTEL, RENT_CAR],
        }
    }
}

/// The functions that undo a step.
const COMPENSATIONS: [&str; 3] = [CANCEL_FLIGHT, CANCEL_HOTEL, RETURN_CAR];

/// One failure schedule: the saga it runs, the saga id (also the execution
/// name), the faults, and the ending the failure rules predict.
struct Schedule {
    saga: Subject,
    id: String,
    faults: Vec<(&'static str, Fault)>,
    /// Functions whose first call the endpoint answers with 429
    /// `TooManyRequestsException` (a Lambda service error: the handler does
    /// not run, and the call is not recorded), in each engine's run.
    throttled: Vec<&'static str>,
    expected: Ending,
    /// The compensation functions the failure rules predict, in order, each
    /// retry of one counted once; `None` leaves them to the engines' parity.
    undone: Option<&'static [&'static str]>,
}

type Record = Arc<Mutex<Vec<(String, Value)>>>;
type Faults = Arc<Mutex<HashMap<String, Vec<(&'static str, Fault)>>>>;
/// Calls per (function, saga), cleared before each engine's run.
type Calls = Arc<Mutex<HashMap<(&'static str, String), u32>>>;

/// Serves `inner` as `function`, recording each call and applying the fault
/// scheduled for the call's saga.
fn faulty(
    function: &'static str,
    inner: Handler,
    (record, faults, calls): (&Record, &Faults, &Calls),
) -> Handler {
    let (record, faults, calls) = (record.clone(), faults.clone(), calls.clone());
    handler_fn(move |payload: Value| {
        let saga = payload["saga"]["saga_id"].as_str().unwrap_or("").to_owned();
        record
            .lock()
            .unwrap()
            .push((function.to_owned(), payload.clone()));
        let call = {
            let mut calls = calls.lock().unwrap();
            let n = calls.entry((function, saga.clone())).or_default();
            *n += 1;
            *n
        };
        let fault = faults.lock().unwrap().get(&saga).and_then(|f| {
            f.iter()
                .find(|(name, _)| *name == function)
                .map(|(_, f)| *f)
        });
        let inner = inner.clone();
        async move {
            let hangs = match fault {
                Some(Fault::Hang) => true,
                Some(Fault::HangOnce | Fault::HangThenRetryable) => call == 1,
                _ => false,
            };
            if hangs {
                tokio::time::sleep(Duration::from_secs(7)).await;
                return inner(payload).await;
            }
            match fault {
                Some(Fault::Terminal) => Err(StepError::terminal(format!("{function} refused"))),
                Some(Fault::AlwaysRetryable | Fault::HangThenRetryable) => {
                    Err(StepError::retryable(format!("{function} is busy")))
                }
                Some(Fault::RetryableOnce) if call == 1 => {
                    Err(StepError::retryable(format!("{function} is busy, once")))
                }
                Some(Fault::BadPayload) => Err(StepError::new(
                    ErrorClass::Terminal,
                    names::BAD_PAYLOAD,
                    format!("{function} cannot read the payload"),
                )),
                _ => inner(payload).await,
            }
        }
    })
}

async fn endpoint(shared: (&Record, &Faults, &Calls)) -> LocalLambdaHandle {
    let functions: [(&'static str, Handler); 8] = [
        (RESERVE_FLIGHT, step_handler::<reserve_flight>()),
        (CANCEL_FLIGHT, compensation_handler::<reserve_flight>()),
        (RESERVE_HOTEL, step_handler::<reserve_hotel>()),
        (CANCEL_HOTEL, compensation_handler::<reserve_hotel>()),
        (RENT_CAR, step_handler::<rent_car>()),
        (RETURN_CAR, compensation_handler::<rent_car>()),
        (CHARGE_CARD, step_handler::<charge_card>()),
        (SEND_CONFIRMATION, step_handler::<send_confirmation>()),
    ];
    let mut local = LocalLambda::new();
    for (name, inner) in functions {
        local = local.function(name, faulty(name, inner, shared));
    }
    local
        .start()
        .await
        .expect("the local Invoke endpoint starts")
}

async fn start_moto(lambda_port: u16) -> Moto {
    let config = json!({ "stepfunctions": { "execute_state_machine": true } });
    Moto::start(&[("MOTO_PORT", lambda_port.to_string())], Some(config)).await
}

fn sfn_client(port: u16) -> Client {
    let config = aws_sdk_sfn::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "parity"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// How a run ended, in terms both engines share.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ending {
    Succeeded,
    /// The saga error name and the name of the error that caused it.
    Failed {
        saga_error: String,
        cause: String,
    },
}

fn same_timeout_name(name: &str) -> String {
    if name == "States.Timeout" {
        names::TIMEOUT.to_owned()
    } else {
        name.to_owned()
    }
}

fn executor_ending<T>(outcome: &SagaOutcome<T>) -> Ending {
    let failed = |saga_error: &str, error: &StepError| Ending::Failed {
        saga_error: saga_error.to_owned(),
        cause: error.name().to_owned(),
    };
    match outcome {
        SagaOutcome::Completed(_) => Ending::Succeeded,
        SagaOutcome::Compensated { error, .. } => failed(names::COMPENSATED, error),
        // Step Functions has no cancellation that compensates (StopExecution
        // aborts); no schedule here cancels.
        SagaOutcome::Cancelled { .. } => Ending::Failed {
            saga_error: names::COMPENSATED.to_owned(),
            cause: names::CANCELLED.to_owned(),
        },
        SagaOutcome::Stuck {
            direction: Direction::Forward,
            error,
            ..
        } => failed(names::STUCK, error),
        SagaOutcome::Stuck { error, .. } => failed(names::COMPENSATION_FAILED, error),
    }
}

/// The name of the original error in a Fail's Cause, `<error name>: <cause>`.
fn cause_name(cause: &str) -> String {
    match cause.split_once(": ") {
        Some((name, _)) => name.to_owned(),
        None => format!("<cause without an error name: {cause:?}>"),
    }
}

struct Harness {
    record: Record,
    faults: Faults,
    calls: Calls,
    runtime: Runtime,
    sfn: Client,
    machine_arns: HashMap<Subject, String>,
    local: LocalLambdaHandle,
    _moto: Moto,
}

impl Harness {
    async fn start() -> Harness {
        let record: Record = Arc::default();
        let faults: Faults = Arc::default();
        let calls: Calls = Arc::default();
        let local = endpoint((&record, &faults, &calls)).await;
        let moto = start_moto(local.addr().port()).await;
        let lambda = LambdaInvoker::local(local.url());
        let runtime = bind(Runtime::builder(), &lambda)
            .compensation_retry(RetryPolicy {
                max_attempts: 2,
                interval_seconds: 1,
                backoff_rate: 1.0,
                max_delay_seconds: None,
                jitter: Jitter::None,
            })
            .build();
        let options = AslOptions::from_runtime(&runtime);
        let sfn = sfn_client(moto.port);
        let mut machine_arns = HashMap::new();
        for saga in Subject::ALL {
            let created = sfn
                .create_state_machine()
                .name(saga.name())
                .definition(saga.machine(&options).to_json())
                .role_arn("arn:aws:iam::123456789012:role/saga-parity")
                .send()
                .await
                .expect("moto accepts the state machine");
            machine_arns.insert(saga, created.state_machine_arn().to_owned());
        }
        Harness {
            machine_arns,
            record,
            faults,
            calls,
            runtime,
            sfn,
            local,
            _moto: moto,
        }
    }

    /// The calls recorded so far; clears the record and the call counters.
    fn take_record(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clear();
        std::mem::take(&mut *self.record.lock().unwrap())
    }

    async fn run_executor(&self, saga: Subject, id: &str, trip: Trip) -> Ending {
        let outcome = saga
            .run(&self.runtime, SagaId::new(id).unwrap(), trip)
            .await
            .expect("the executor runs the saga");
        executor_ending(&outcome)
    }

    /// The `TaskScheduled` events of execution `arn`, up to its end (a
    /// timed-out call's late result may follow it).
    async fn scheduled(&self, arn: &str) -> usize {
        let history = self
            .sfn
            .get_execution_history()
            .execution_arn(arn)
            .send()
            .await
            .expect("moto returns the history");
        let end = [
            HistoryEventType::ExecutionSucceeded,
            HistoryEventType::ExecutionFailed,
            HistoryEventType::ExecutionAborted,
            HistoryEventType::ExecutionTimedOut,
        ];
        history
            .events()
            .iter()
            .map(|e| e.r#type())
            .take_while(|t| !end.contains(t))
            .filter(|t| **t == HistoryEventType::TaskScheduled)
            .count()
    }

    /// Runs the execution `id` of `saga`'s machine: its ending and how many
    /// Tasks its history scheduled.
    async fn run_interpreter(&self, saga: Subject, id: &str, trip: &Trip) -> (Ending, usize) {
        let started = self
            .sfn
            .start_execution()
            .state_machine_arn(&self.machine_arns[&saga])
            .name(id)
            .input(json!({ "trip": trip }).to_string())
            .send()
            .await
            .expect("moto starts the execution");
        let arn = started.execution_arn().to_owned();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .expect("moto describes the execution");
            match described.status() {
                ExecutionStatus::Running => {}
                ExecutionStatus::Succeeded => {
                    return (Ending::Succeeded, self.scheduled(&arn).await);
                }
                status => {
                    let error = described.error().unwrap_or_default().to_owned();
                    let cause = described.cause().unwrap_or_default();
                    assert_ne!(
                        *status,
                        ExecutionStatus::TimedOut,
                        "execution {id} timed out"
                    );
                    let ending = Ending::Failed {
                        cause: same_timeout_name(&cause_name(cause)),
                        saga_error: error,
                    };
                    return (ending, self.scheduled(&arn).await);
                }
            }
            assert!(Instant::now() < deadline, "execution {id} did not end");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many attempts the executor's saga log records as throttled.
    async fn throttles_in_the_executor_log(&self, id: &str) -> usize {
        let history = self
            .runtime
            .log()
            .history(&SagaId::new(id).unwrap())
            .await
            .expect("the executor logged the saga");
        history
            .iter()
            .filter(|e| {
                matches!(&e.event, SagaEvent::StepFailed { error, .. }
                    if error.name() == "Lambda.TooManyRequestsException")
            })
            .count()
    }

    /// Runs `schedule` in both engines and compares calls and endings.
    async fn compare(&self, schedule: &Schedule) -> Result<(), String> {
        let trip = Trip {
            traveller: "Ada".into(),
            from: "LHR".into(),
            to: "JFK".into(),
            fail_at: None,
        };
        self.faults
            .lock()
            .unwrap()
            .insert(schedule.id.clone(), schedule.faults.clone());
        self.take_record();
        let throttle = || {
            for function in &schedule.throttled {
                self.local.throttle_next(function, 1);
            }
        };
        throttle();
        let concurrent = schedule.saga.concurrent();
        let executor_end = self
            .run_executor(schedule.saga, &schedule.id, trip.clone())
            .await;
        let executor_calls = in_canonical_order(self.take_record(), concurrent);
        let throttles = self.throttles_in_the_executor_log(&schedule.id).await;
        if throttles != schedule.throttled.len() {
            return Err(format!(
                "schedule {}: the executor saw {throttles} throttled calls, {} were scheduled",
                schedule.id,
                schedule.throttled.len()
            ));
        }
        throttle();
        let (interpreter_end, scheduled) = self
            .run_interpreter(schedule.saga, &schedule.id, &trip)
            .await;
        let interpreter_calls = in_canonical_order(self.take_record(), concurrent);
        diff(
            &schedule.id,
            (&executor_calls, &executor_end),
            (&interpreter_calls, &interpreter_end),
        )?;
        if executor_end != schedule.expected {
            return Err(format!(
                "schedule {}: both engines ended {executor_end:?}, the rules predict {:?}",
                schedule.id, schedule.expected
            ));
        }
        if let Some(expected) = schedule.undone {
            let mut undone: Vec<&str> = executor_calls
                .iter()
                .map(|(function, _)| function.as_str())
                .filter(|function| COMPENSATIONS.contains(function))
                .collect();
            undone.dedup();
            if undone != expected {
                return Err(format!(
                    "schedule {}: both engines compensated {undone:?}, the rules predict {expected:?}",
                    schedule.id
                ));
            }
        }
        // A throttled call is scheduled in the history but never reaches a handler.
        if scheduled != interpreter_calls.len() + schedule.throttled.len() {
            return Err(format!(
                "schedule {}: the history schedules {scheduled} Tasks, the endpoint saw {} calls and throttled {}",
                schedule.id,
                interpreter_calls.len(),
                schedule.throttled.len()
            ));
        }
        Ok(())
    }
}

/// `calls` with each run of consecutive calls to `concurrent` functions
/// sorted by function: the calls of one function keep their order (the sort
/// is stable), the order between functions, which raced, is dropped.
fn in_canonical_order(
    mut calls: Vec<(String, Value)>,
    concurrent: &[&str],
) -> Vec<(String, Value)> {
    let mut start = 0;
    while start < calls.len() {
        let run = calls[start..]
            .iter()
            .take_while(|(function, _)| concurrent.contains(&function.as_str()))
            .count();
        calls[start..start + run].sort_by(|(f, _), (g, _)| f.cmp(g));
        start += run.max(1);
    }
    calls
}

fn diff(
    id: &str,
    (ours, our_end): (&[(String, Value)], &Ending),
    (theirs, their_end): (&[(String, Value)], &Ending),
) -> Result<(), String> {
    if ours == theirs && our_end == their_end {
        return Ok(());
    }
    let mut out = format!("schedule {id}: the engines differ\n  #   executor | interpreter\n");
    for i in 0..ours.len().max(theirs.len()) {
        let show =
            |c: Option<&(String, Value)>| c.map_or("-".to_owned(), |(f, p)| format!("{f} {p}"));
        let (a, b) = (ours.get(i), theirs.get(i));
        let mark = if a == b { " " } else { "!" };
        out += &format!("{mark} {i:<2} {}\n       | {}\n", show(a), show(b));
    }
    out += &format!("  ending: executor {our_end:?} | interpreter {their_end:?}\n");
    Err(out)
}

fn schedules() -> Vec<Schedule> {
    let s = |id: &str, faults: &[(&'static str, Fault)], expected: Ending| Schedule {
        saga: Subject::Sequential,
        id: id.to_owned(),
        faults: faults.to_vec(),
        throttled: Vec::new(),
        expected,
        undone: None,
    };
    // `BookTripTogether`, with the compensations the rules predict.
    let together = |id: &str,
                    faults: &[(&'static str, Fault)],
                    expected: Ending,
                    undone: &'static [&'static str]| Schedule {
        saga: Subject::Together,
        undone: Some(undone),
        ..s(&format!("together-{id}"), faults, expected)
    };
    let failed = |saga_error: &str, cause: &str| Ending::Failed {
        saga_error: saga_error.to_owned(),
        cause: cause.to_owned(),
    };
    let mut all = vec![s("none", &[], Ending::Succeeded)];
    for step in [RESERVE_FLIGHT, RESERVE_HOTEL, RENT_CAR, CHARGE_CARD] {
        all.push(s(
            &format!("terminal-{step}"),
            &[(step, Fault::Terminal)],
            failed(names::COMPENSATED, names::TERMINAL),
        ));
    }
    // After the pivot a terminal error is retried, then the saga is stuck.
    all.push(s(
        &format!("terminal-{SEND_CONFIRMATION}"),
        &[(SEND_CONFIRMATION, Fault::Terminal)],
        failed(names::STUCK, names::TERMINAL),
    ));
    all.push(s(
        "timeout-rent-car",
        &[(RENT_CAR, Fault::Hang)],
        failed(names::STUCK, names::TIMEOUT),
    ));
    all.push(s(
        "timeout-once-rent-car",
        &[(RENT_CAR, Fault::HangOnce)],
        Ending::Succeeded,
    ));
    // A retryable answer does not settle an earlier unknown outcome.
    all.push(s(
        "timeout-then-retryable-rent-car",
        &[(RENT_CAR, Fault::HangThenRetryable)],
        failed(names::STUCK, names::RETRYABLE),
    ));
    all.push(s(
        "retryable-once-reserve-hotel",
        &[(RESERVE_HOTEL, Fault::RetryableOnce)],
        Ending::Succeeded,
    ));
    all.push(s(
        "retryable-always-reserve-hotel",
        &[(RESERVE_HOTEL, Fault::AlwaysRetryable)],
        failed(names::COMPENSATED, names::RETRYABLE),
    ));
    // A Lambda service error: AWS's service retrier takes it in both
    // engines (2 s later), not the step's own policy, and the saga goes on.
    all.push(Schedule {
        throttled: vec![RESERVE_HOTEL],
        ..s("throttled-once-reserve-hotel", &[], Ending::Succeeded)
    });
    all.push(s(
        "compensation-fails-cancel-hotel",
        &[
            (CHARGE_CARD, Fault::Terminal),
            (CANCEL_HOTEL, Fault::AlwaysRetryable),
        ],
        failed(names::COMPENSATION_FAILED, names::RETRYABLE),
    ));

    let compensated = |cause: &str| failed(names::COMPENSATED, cause);
    all.extend([
        together("none", &[], Ending::Succeeded, &[]),
        // One branch fails for good: the other one, which completed, is
        // undone, then the flight.
        together(
            "terminal-reserve-hotel",
            &[(RESERVE_HOTEL, Fault::Terminal)],
            compensated(names::TERMINAL),
            &[RETURN_CAR, CANCEL_FLIGHT],
        ),
        together(
            "terminal-rent-car",
            &[(RENT_CAR, Fault::Terminal)],
            compensated(names::TERMINAL),
            &[CANCEL_HOTEL, CANCEL_FLIGHT],
        ),
        // Both fail: the saga's error is the first branch's, whichever
        // answered first (two names, both ways round, tell them apart), and
        // nothing of the group is undone.
        together(
            "terminal-both",
            &[
                (RESERVE_HOTEL, Fault::Terminal),
                (RENT_CAR, Fault::BadPayload),
            ],
            compensated(names::TERMINAL),
            &[CANCEL_FLIGHT],
        ),
        together(
            "terminal-both-swapped",
            &[
                (RESERVE_HOTEL, Fault::BadPayload),
                (RENT_CAR, Fault::Terminal),
            ],
            compensated(names::BAD_PAYLOAD),
            &[CANCEL_FLIGHT],
        ),
        // A failure after the group undoes every branch, in reverse order,
        // then the flight.
        together(
            &format!("terminal-{CHARGE_CARD}"),
            &[(CHARGE_CARD, Fault::Terminal)],
            compensated(names::TERMINAL),
            &[RETURN_CAR, CANCEL_HOTEL, CANCEL_FLIGHT],
        ),
        // A branch retries on its own while the other one runs.
        together(
            "retryable-once-reserve-hotel",
            &[(RESERVE_HOTEL, Fault::RetryableOnce)],
            Ending::Succeeded,
            &[],
        ),
        // The group's own unwind stops at a compensation that keeps failing.
        together(
            "compensation-fails-return-car",
            &[
                (RESERVE_HOTEL, Fault::Terminal),
                (RETURN_CAR, Fault::AlwaysRetryable),
            ],
            failed(names::COMPENSATION_FAILED, names::RETRYABLE),
            &[RETURN_CAR],
        ),
    ]);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs moto; run by scripts/test.sh with --include-ignored"]
async fn executor_and_step_functions_make_the_same_calls_and_end_the_same_way() {
    let harness = Harness::start().await;
    let mut failures = Vec::new();
    let all = schedules();
    for schedule in &all {
        if let Err(report) = harness.compare(schedule).await {
            failures.push(report);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} schedules differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
