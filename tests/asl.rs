//! The state machine generator: the golden machine of every example saga,
//! payload templates equal to the payload contract, options, bad input, and
//! the self-checks. Regenerate the golden files with
//! `GOLDEN=overwrite cargo test --test asl` after an intended change.

use std::path::PathBuf;

use saga_core::asl::model::{Catcher, JitterStrategy, ResultPath, Retrier, State};
use saga_core::asl::{self, AslError, AslOptions, AslProblem, StateMachine};
use saga_core::invoke::{HttpInvoker, InvocationType, LambdaInvoker};
use saga_core::prelude::*;
use saga_core::{Direction, names};
use serde_json::{Value, json};
use trip_saga::functions::{self, *};
use trip_saga::*;

/// A trip saga bound as the `--lambda` example binds it.
fn trip_options(saga: &str) -> AslOptions {
    let lambda = LambdaInvoker::local("http://127.0.0.1:9");
    let runtime = functions::bind(Runtime::builder(), &lambda).build();
    AslOptions::from_runtime(&runtime).comment(format!("Books a trip (saga {saga})"))
}

fn book_trip() -> StateMachine {
    asl::state_machine::<BookTrip>(&trip_options("BookTrip")).expect("BookTrip has a state machine")
}

/// The same steps, with the hotel and the car as a parallel group.
fn book_trip_together() -> StateMachine {
    asl::state_machine::<BookTripTogether>(&trip_options("BookTripTogether"))
        .expect("BookTripTogether has a state machine")
}

/// The Task `name`, at the top level or in a `Parallel` state's branch.
fn task<'a>(machine: &'a StateMachine, name: &str) -> &'a saga_core::asl::model::Task {
    match machine.states.find(name) {
        Some(State::Task(task)) => task,
        other => panic!("`{name}` is not a Task: {other:?}"),
    }
}

#[test]
fn book_trip_matches_its_golden_file_byte_for_byte() {
    assert_golden("book_trip.json", &book_trip());
}

#[test]
fn book_trip_together_matches_its_golden_file_byte_for_byte() {
    assert_golden("book_trip_together.json", &book_trip_together());
}

/// Compares `machine` with `tests/golden/asl/<file>`, or writes that file
/// when `GOLDEN=overwrite`.
fn assert_golden(file: &str, machine: &StateMachine) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/asl")
        .join(file);
    let json = machine.to_json() + "\n";
    if std::env::var("GOLDEN").as_deref() == Ok("overwrite") {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &json).expect("write golden");
        return;
    }
    let golden = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with GOLDEN=overwrite", path.display()));
    assert_eq!(
        json,
        golden,
        "the state machine differs from {}",
        path.display()
    );
}

#[test]
fn output_is_stable_and_parses_back_into_the_model() {
    for make in [book_trip, book_trip_together] {
        let machine = make();
        assert_eq!(machine.to_json(), make().to_json());
        let parsed: StateMachine = serde_json::from_str(&machine.to_json()).expect("parses");
        assert_eq!(parsed, machine);
    }
}

#[test]
fn the_shape_is_the_canonical_saga() {
    let m = book_trip();
    let names: Vec<&str> = m.states.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "reserve_flight",
            "Resolve reserve_flight",
            "reserve_hotel",
            "Resolve reserve_hotel",
            "rent_car",
            "Resolve rent_car",
            "charge_card",
            "Resolve charge_card",
            "send_confirmation",
            "Done",
            "Compensate rent_car",
            "Compensate reserve_hotel",
            "Compensate reserve_flight",
            "Compensated",
            "Stuck",
            "CompensationFailed",
        ]
    );
    // A terminal failure of a step unwinds from the step before it.
    let unwind = |step: &str| task(&m, step).catch[0].next.clone();
    assert_eq!(unwind("reserve_flight"), "Compensated");
    assert_eq!(unwind("reserve_hotel"), "Compensate reserve_flight");
    assert_eq!(unwind("charge_card"), "Compensate rent_car");
    // An ambiguous one is resolved by calling the step again with the same
    // payload; only a terminal error unwinds from there, anything else is stuck.
    assert_eq!(task(&m, "rent_car").catch[1].next, "Resolve rent_car");
    let resolve = task(&m, "Resolve rent_car");
    assert_eq!(resolve.parameters, task(&m, "rent_car").parameters);
    assert_eq!(resolve.result_path, task(&m, "rent_car").result_path);
    assert_eq!(resolve.next.as_deref(), Some("charge_card"));
    assert_eq!(resolve.catch[0].next, "Compensate reserve_hotel");
    assert!(
        !resolve.catch[0]
            .error_equals
            .contains(&"Saga.Retryable".to_owned())
    );
    assert_eq!(resolve.catch[1].next, "Stuck");
    assert_eq!(
        resolve
            .retry
            .last()
            .map(|r| (r.error_equals.as_slice(), r.max_attempts)),
        Some((&["States.ALL".to_owned()][..], 2))
    );
    // Every resolve state makes the very call of its step.
    for (name, _) in m.states.iter() {
        if let Some(step) = name.strip_prefix("Resolve ") {
            let (again, first) = (task(&m, name), task(&m, step));
            assert_eq!(again.parameters, first.parameters, "{name}");
            assert_eq!(again.result_selector, first.result_selector, "{name}");
            assert_eq!(again.next, first.next, "{name}");
        }
    }
    // Anything after the pivot is stuck.
    let confirmation = task(&m, "send_confirmation");
    assert_eq!(confirmation.catch.len(), 1);
    assert_eq!(confirmation.catch[0].next, "Stuck");
    let last = confirmation.retry.last().expect("retriers");
    assert_eq!(
        (
            last.error_equals.as_slice(),
            last.max_attempts,
            last.jitter_strategy
        ),
        (
            &["States.ALL".to_owned()][..],
            5,
            Some(JitterStrategy::Full)
        )
    );
    // Compensations keep the state, retry everything, and fail distinctly.
    let undo = task(&m, "Compensate reserve_hotel");
    assert_eq!(undo.result_path, Some(ResultPath::Discard(())));
    assert_eq!(undo.next.as_deref(), Some("Compensate reserve_flight"));
    assert_eq!(undo.catch[0].next, "CompensationFailed");
    assert_eq!(undo.retry.last().map(|r| r.max_attempts), Some(20));
    // Explicit timeouts, the service retrier, the step's own policy.
    let car = task(&m, "rent_car");
    assert_eq!(car.timeout_seconds, 5);
    assert_eq!(
        car.retry[0].max_attempts, 0,
        "terminal names are never retried"
    );
    assert!(
        car.retry[1]
            .error_equals
            .contains(&"Lambda.ServiceException".to_owned())
    );
    // AWS's recommended retrier for Lambda service errors, whatever the step's policy.
    assert_eq!(
        (
            car.retry[1].interval_seconds,
            car.retry[1].max_attempts,
            car.retry[1].backoff_rate
        ),
        (Some(2), 6, Some(2.0))
    );
    assert_eq!(
        (car.retry[2].max_attempts, car.retry[2].interval_seconds),
        (2, Some(1))
    );
    match m.state("Compensated") {
        Some(State::Fail(fail)) => assert_eq!(fail.error.as_deref(), Some(names::COMPENSATED)),
        other => panic!("Compensated is {other:?}"),
    }
}

/// Resolves a JSONPath-mode template the way Step Functions does, for the
/// few forms the generator emits.
fn resolve(template: &Value, state: &Value, execution: &str) -> Value {
    let Value::Object(map) = template else {
        return template.clone();
    };
    let mut out = serde_json::Map::new();
    for (key, value) in map {
        match key.strip_suffix(".$") {
            Some(key) => {
                let path = value.as_str().expect("a path");
                let resolved = if path == "$$.Execution.Name" {
                    json!(execution)
                } else if let Some(rest) = path.strip_prefix("States.Format('{}/") {
                    let step = rest.split('\'').next().expect("step");
                    json!(format!("{execution}/{step}"))
                } else {
                    let pointer = path.trim_start_matches('$').replace('.', "/");
                    state.pointer(&pointer).cloned().expect("the path resolves")
                };
                out.insert(key.to_owned(), resolved);
            }
            None => {
                out.insert(key.clone(), resolve(value, state, execution));
            }
        }
    }
    Value::Object(out)
}

/// The states of machine `m` of saga `saga` whose payloads, resolved
/// against `state` in execution `trip-1`, are the golden payloads (of
/// `BookTrip`, named after `saga`).
fn assert_golden_payloads(m: &StateMachine, saga: &str, state: &Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/payload");
    for (state_name, golden) in [
        ("reserve_flight", "reserve_flight"),
        ("reserve_hotel", "reserve_hotel"),
        ("Compensate reserve_hotel", "cancel_hotel"),
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{golden}.json"))).expect("golden");
        let mut expected: Value = serde_json::from_str(&text).expect("JSON");
        expected["saga"]["saga_name"] = json!(saga);
        let payload = resolve(&task(m, state_name).parameters["Payload"], state, "trip-1");
        assert_eq!(payload, expected, "{saga}: {state_name}");
    }
}

#[test]
fn payload_templates_resolve_to_the_golden_payloads() {
    let m = book_trip();
    let state = json!({
        "trip": { "traveller": "Ada", "from": "LHR", "to": "JFK", "fail_at": null },
        "results": {
            "reserve_flight": { "value": { "code": "FL-LHR-JFK" } },
            "reserve_hotel": { "value": { "code": "HT-JFK-10" } },
        },
    });
    assert_golden_payloads(&m, "BookTrip", &state);
    assert_eq!(
        task(&m, "reserve_hotel").parameters["FunctionName"],
        RESERVE_HOTEL
    );
    assert_eq!(
        task(&m, "Compensate reserve_hotel").parameters["FunctionName"],
        CANCEL_HOTEL
    );
}

#[test]
fn grouped_payload_templates_resolve_to_the_golden_payloads() {
    // A grouped step's output is kept under its group's field; a branch
    // reads the steps before the group from the whole state.
    let m = book_trip_together();
    let state = json!({
        "trip": { "traveller": "Ada", "from": "LHR", "to": "JFK", "fail_at": null },
        "results": {
            "reserve_flight": { "value": { "code": "FL-LHR-JFK" } },
            "join_reserve_hotel": {
                "reserve_hotel": { "value": { "code": "HT-JFK-10" } },
                "rent_car": { "value": { "code": "CAR-JFK" } },
            },
        },
    });
    assert_golden_payloads(&m, "BookTripTogether", &state);
    let undo_car = resolve(
        &task(&m, "Compensate rent_car").parameters["Payload"],
        &state,
        "trip-1",
    );
    assert_eq!(undo_car["output"], json!({ "code": "CAR-JFK" }));
    assert_eq!(
        task(&m, "Compensate rent_car").parameters["FunctionName"],
        RETURN_CAR
    );
}

#[test]
fn book_trip_together_runs_the_hotel_and_the_car_as_one_parallel_state() {
    const JOIN: &str = "Join reserve_hotel, rent_car";
    const CHECK: &str = "Check join reserve_hotel, rent_car";
    let m = book_trip_together();
    let names: Vec<&str> = m.states.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "reserve_flight",
            "Resolve reserve_flight",
            JOIN,
            CHECK,
            "reserve_hotel is stuck",
            "rent_car is stuck",
            "reserve_hotel failed, unwind",
            "rent_car failed, unwind",
            "charge_card",
            "Resolve charge_card",
            "send_confirmation",
            "Done",
            "If rent_car completed",
            "Compensate rent_car",
            "If reserve_hotel completed",
            "Compensate reserve_hotel",
            "Compensate reserve_flight",
            "Compensated",
            "Stuck",
            "CompensationFailed",
        ]
    );
    for name in ["reserve_flight", "Resolve reserve_flight"] {
        assert_eq!(task(&m, name).next.as_deref(), Some(JOIN), "{name}");
    }

    // One Parallel state, a branch per step, in the order of `join!`.
    let Some(State::Parallel(join)) = m.state(JOIN) else {
        panic!("`{JOIN}` is not a Parallel state");
    };
    let starts: Vec<&str> = join.branches.iter().map(|b| b.start_at.as_str()).collect();
    assert_eq!(starts, ["reserve_hotel", "rent_car"]);
    assert_eq!(join.next.as_deref(), Some(CHECK));
    assert_eq!(
        join.result_path,
        Some(ResultPath::Path("$.results.join_reserve_hotel".into()))
    );
    assert!(join.retry.is_empty() && join.catch.is_empty());

    // Each branch calls its step as `BookTrip` does (function, timeout,
    // retriers), and ends with the step's value, or the error that failed
    // it or left it stuck.
    let sequential = book_trip();
    for (branch, step) in join.branches.iter().zip(["reserve_hotel", "rent_car"]) {
        let [again, failed, stuck] = [
            format!("Resolve {step}"),
            format!("{step} failed"),
            format!("{step} stuck"),
        ];
        let names: Vec<&str> = branch.states.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [step, again.as_str(), failed.as_str(), stuck.as_str()]
        );
        for name in [step, again.as_str()] {
            let (ours, theirs) = (task(&m, name), task(&sequential, name));
            assert_eq!(
                ours.parameters["FunctionName"], theirs.parameters["FunctionName"],
                "{name}"
            );
            assert_eq!(ours.timeout_seconds, theirs.timeout_seconds, "{name}");
            assert_eq!(ours.retry, theirs.retry, "{name}");
            assert_eq!(
                (ours.next.as_deref(), ours.end),
                (None, Some(true)),
                "{name}"
            );
            assert_eq!(
                ours.result_path,
                Some(ResultPath::Path("$".into())),
                "{name}"
            );
            assert_eq!(ours.catch[0].next, failed, "{name}");
        }
        assert_eq!(task(&m, step).catch[1].next, again);
        assert_eq!(task(&m, &again).catch[1].next, stuck);
        assert_eq!(
            task(&m, &again).parameters,
            task(&m, step).parameters,
            "{step}"
        );
    }
    assert_eq!(task(&m, "rent_car").timeout_seconds, 5);

    // Stuck first, in step order; then failed, in step order.
    let Some(State::Choice(check)) = m.state(CHECK) else {
        panic!("`{CHECK}` is not a Choice state");
    };
    assert!(check.choices.iter().all(|rule| rule.is_present));
    let rules: Vec<(&str, &str)> = check
        .choices
        .iter()
        .map(|rule| (rule.variable.as_str(), rule.next.as_str()))
        .collect();
    assert_eq!(
        rules,
        [
            (
                "$.results.join_reserve_hotel.reserve_hotel.stuck",
                "reserve_hotel is stuck"
            ),
            (
                "$.results.join_reserve_hotel.rent_car.stuck",
                "rent_car is stuck"
            ),
            (
                "$.results.join_reserve_hotel.reserve_hotel.failed",
                "reserve_hotel failed, unwind"
            ),
            (
                "$.results.join_reserve_hotel.rent_car.failed",
                "rent_car failed, unwind"
            ),
        ]
    );
    assert_eq!(check.default.as_deref(), Some("charge_card"));
    for step in ["reserve_hotel", "rent_car"] {
        let (Some(State::Pass(stuck)), Some(State::Pass(failed))) = (
            m.state(&format!("{step} is stuck")),
            m.state(&format!("{step} failed, unwind")),
        ) else {
            panic!("`{step}` has no Pass states after the group");
        };
        assert_eq!(stuck.next.as_deref(), Some("Stuck"), "{step}");
        // A failed branch starts the unwind at the group's last branch.
        assert_eq!(
            failed.input_path,
            Some(format!("$.results.join_reserve_hotel.{step}.failed"))
        );
        assert_eq!(failed.result_path, Some(ResultPath::Path("$.error".into())));
        assert_eq!(
            failed.next.as_deref(),
            Some("If rent_car completed"),
            "{step}"
        );
    }

    // After the group, a failure unwinds through the whole group.
    for name in ["charge_card", "Resolve charge_card"] {
        assert_eq!(task(&m, name).next.as_deref(), Some("send_confirmation"));
        assert_eq!(
            task(&m, name).catch[0].next,
            "If rent_car completed",
            "{name}"
        );
    }
    // Each branch is undone unless it is the one that failed, the group's
    // last branch first, then the flight.
    for (test, step, after) in [
        (
            "If rent_car completed",
            "rent_car",
            "If reserve_hotel completed",
        ),
        (
            "If reserve_hotel completed",
            "reserve_hotel",
            "Compensate reserve_flight",
        ),
    ] {
        let Some(State::Choice(test)) = m.state(test) else {
            panic!("`{test}` is not a Choice state");
        };
        let undo = format!("Compensate {step}");
        assert_eq!(test.default.as_deref(), Some(undo.as_str()));
        assert_eq!(test.choices.len(), 1);
        let rule = &test.choices[0];
        assert_eq!(
            (rule.variable.as_str(), rule.is_present, rule.next.as_str()),
            (
                format!("$.results.join_reserve_hotel.{step}.failed").as_str(),
                true,
                after
            )
        );
        assert_eq!(task(&m, &undo).next.as_deref(), Some(after));
        assert_eq!(task(&m, &undo).catch[0].next, "CompensationFailed");
    }
    assert_eq!(
        task(&m, "Compensate reserve_flight").next.as_deref(),
        Some("Compensated")
    );
    assert!(asl::validate(&m).is_empty());
}

/// Lives only in a remote function; the runtime has no binding for it.
#[saga_step(compensate = release_seat)]
async fn hold_seat(n: &u32) -> Result<u32, StepError>;
async fn release_seat(_n: &u32, _seat: u32) -> Result<(), StepError> {
    Ok(())
}

saga! {
    pub saga HoldSeat(n: u32) -> u32 {
        let seat = hold_seat(&n);
        seat
    }
}

#[test]
fn a_body_less_step_without_a_binding_still_gets_a_state_machine() {
    // The runtime could not run it, but Step Functions can: the function is
    // a placeholder, or the name given here.
    let runtime = Runtime::in_memory();
    assert!(runtime.check::<HoldSeat>().is_err());
    let m = asl::state_machine::<HoldSeat>(&AslOptions::from_runtime(&runtime)).expect("machine");
    assert_eq!(
        task(&m, "hold_seat").parameters["FunctionName"],
        "${hold_seat}"
    );
    // Nothing after the step can fail into an unwind: no compensation state.
    assert!(m.state("Compensate hold_seat").is_none());
    assert!(m.state("CompensationFailed").is_none());
    let options = AslOptions::from_runtime(&runtime).function::<hold_seat>("hold-seat");
    let m = asl::state_machine::<HoldSeat>(&options).expect("machine");
    assert_eq!(
        task(&m, "hold_seat").parameters["FunctionName"],
        "hold-seat"
    );
}

#[test]
fn unbound_functions_become_placeholders_and_explicit_names_win() {
    let options =
        AslOptions::new().function::<reserve_flight>("arn:aws:lambda:eu-west-1:1:function:rf:live");
    let m = asl::state_machine::<BookTrip>(&options).expect("machine");
    let name = |s: &str| task(&m, s).parameters["FunctionName"].clone();
    assert_eq!(
        name("reserve_flight"),
        "arn:aws:lambda:eu-west-1:1:function:rf:live"
    );
    assert_eq!(name("reserve_hotel"), "${reserve_hotel}");
    assert_eq!(
        name("Compensate reserve_hotel"),
        "${reserve_hotel_compensation}"
    );
    assert!(
        m.comment
            .as_deref()
            .is_some_and(|c| c.contains(BookTrip::definition().hash()))
    );
}

#[test]
fn an_http_binding_is_refused_with_the_step_named() {
    let http = HttpInvoker::new();
    let runtime = Runtime::builder()
        .bind_compensation::<reserve_hotel>(http.endpoint("http://127.0.0.1:9/cancel"))
        .build();
    let err = asl::state_machine::<BookTrip>(&AslOptions::from_runtime(&runtime)).unwrap_err();
    assert!(matches!(
        err,
        AslError::NotLambda {
            step: "reserve_hotel",
            direction: Direction::Compensation,
            ..
        }
    ));
    assert!(
        err.to_string()
            .contains("compensation of step `reserve_hotel`"),
        "{err}"
    );
}

#[test]
fn event_bindings_use_the_event_invocation_and_keep_no_result() {
    let lambda = LambdaInvoker::local("http://127.0.0.1:9");
    let runtime = functions::bind(Runtime::builder(), &lambda)
        .bind::<send_confirmation>(lambda.function(SEND_CONFIRMATION).event())
        .build();
    let m = asl::state_machine::<BookTrip>(&AslOptions::from_runtime(&runtime)).expect("machine");
    let confirmation = task(&m, "send_confirmation");
    assert_eq!(confirmation.parameters["InvocationType"], "Event");
    assert_eq!(confirmation.result_path, Some(ResultPath::Discard(())));
    assert_eq!(confirmation.result_selector, None);
    assert!(
        task(&m, "charge_card")
            .parameters
            .get("InvocationType")
            .is_none()
    );

    // A name given explicitly keeps the invocation type of the binding.
    let options = AslOptions::from_runtime(&runtime)
        .function::<send_confirmation>("arn:aws:lambda:eu-west-1:1:function:notify");
    let m = asl::state_machine::<BookTrip>(&options).expect("machine");
    let confirmation = task(&m, "send_confirmation");
    assert_eq!(
        confirmation.parameters["FunctionName"],
        "arn:aws:lambda:eu-west-1:1:function:notify"
    );
    assert_eq!(confirmation.parameters["InvocationType"], "Event");
    assert_eq!(
        runtime
            .bindings()
            .get("send_confirmation", Direction::Forward)
            .map(|r| r.target().invocation),
        Some(InvocationType::Event)
    );

    // Event on a step whose output is used is a configuration error.
    let runtime = functions::bind(Runtime::builder(), &lambda)
        .bind::<reserve_flight>(lambda.function(RESERVE_FLIGHT).event())
        .build();
    let err = asl::state_machine::<BookTrip>(&AslOptions::from_runtime(&runtime)).unwrap_err();
    assert!(
        matches!(&err, AslError::Config { problems } if problems.len() == 1),
        "{err}"
    );
}

#[test]
fn the_machine_timeout_must_cover_the_worst_case() {
    let err = asl::state_machine::<BookTrip>(&AslOptions::new().timeout_seconds(60)).unwrap_err();
    let AslError::MachineTimeoutTooShort { given, needed } = err else {
        panic!("expected MachineTimeoutTooShort, got {err:?}");
    };
    assert_eq!(given, 60);
    let big_enough = u32::try_from(needed).expect("fits");
    let m = asl::state_machine::<BookTrip>(&AslOptions::new().timeout_seconds(big_enough))
        .expect("a timeout at the worst case is accepted");
    assert_eq!(m.timeout_seconds, Some(big_enough));
    assert!(
        asl::state_machine::<BookTrip>(&AslOptions::new().timeout_seconds(big_enough - 1)).is_err()
    );
}

#[test]
fn a_failed_compensation_reports_the_error_that_started_the_unwind() {
    let m = book_trip();
    let Some(State::Fail(fail)) = m.state("CompensationFailed") else {
        panic!("no CompensationFailed Fail state");
    };
    assert_eq!(
        fail.cause_path.as_deref(),
        Some(
            "States.Format('{}: {} (compensating after {}: {})', $.compensation_error.Error, \
             $.compensation_error.Cause, $.error.Error, $.error.Cause)"
        )
    );
}

#[test]
fn a_policy_beyond_what_step_functions_accepts_is_a_typed_error() {
    let huge = RetryPolicy {
        max_attempts: u32::MAX,
        ..RetryPolicy::COMPENSATION
    };
    let options = AslOptions::new().compensation_retry(huge);
    match asl::state_machine::<BookTrip>(&options) {
        Err(AslError::Invalid { problems }) => {
            assert!(!problems.is_empty());
            assert!(
                problems.iter().all(|p| matches!(
                    p,
                    AslProblem::AboveMax {
                        field: "MaxAttempts",
                        max: 99_999_999,
                        ..
                    }
                )),
                "{problems:?}"
            );
        }
        other => panic!("expected AslError::Invalid, got {other:?}"),
    }
    // The machine timeout is checked against the same (huge) worst case first.
    assert!(matches!(
        asl::state_machine::<BookTrip>(&options.timeout_seconds(3600)),
        Err(AslError::MachineTimeoutTooShort { .. })
    ));
    // Past a year, no Standard execution can finish.
    let err =
        asl::state_machine::<BookTrip>(&AslOptions::new().timeout_seconds(u32::MAX)).unwrap_err();
    assert!(
        matches!(&err, AslError::Invalid { problems } if matches!(problems[..], [AslProblem::AboveMax { max: 31_536_000, .. }])),
        "{err}"
    );
}

#[test]
fn custom_error_names_join_their_class() {
    let options = AslOptions::new()
        .terminal_error("Saga.Terminal.CardDeclined")
        .retryable_error("Saga.Retryable.Busy");
    let m = asl::state_machine::<BookTrip>(&options).expect("machine");
    let hotel = task(&m, "reserve_hotel");
    assert!(
        hotel.retry[0]
            .error_equals
            .contains(&"Saga.Terminal.CardDeclined".to_owned())
    );
    for name in ["Saga.Terminal.CardDeclined", "Saga.Retryable.Busy"] {
        assert!(
            hotel.catch[0].error_equals.contains(&name.to_owned()),
            "{name}"
        );
    }
}

// A saga whose input name the machine needs for itself, and one whose step
// names collide once cut to 80 characters.

#[saga_step(compensate = undo_a)]
async fn step_a(results: &u32) -> Result<u32, StepError> {
    Ok(*results)
}
async fn undo_a(_results: &u32, _out: u32) -> Result<(), StepError> {
    Ok(())
}

saga! {
    pub saga ReservedInput(results: u32) -> u32 {
        let a = step_a(&results);
        a
    }
}

#[saga_step(pivot)]
async fn a_step_whose_name_is_far_too_long_for_a_state_machine_state_name_of_eighty_chars_one(
    n: &u32,
) -> Result<u32, StepError> {
    Ok(*n)
}

#[saga_step(retriable)]
async fn a_step_whose_name_is_far_too_long_for_a_state_machine_state_name_of_eighty_chars_two(
    n: &u32,
) -> Result<(), StepError> {
    let _ = n;
    Ok(())
}

saga! {
    pub saga LongNames(n: u32) -> u32 {
        let one = a_step_whose_name_is_far_too_long_for_a_state_machine_state_name_of_eighty_chars_one(&n);
        a_step_whose_name_is_far_too_long_for_a_state_machine_state_name_of_eighty_chars_two(&n);
        one
    }
}

#[test]
fn an_input_named_like_the_machines_own_fields_is_refused() {
    let err = asl::state_machine::<ReservedInput>(&AslOptions::new()).unwrap_err();
    assert_eq!(
        err,
        AslError::ReservedInputName {
            saga: "ReservedInput",
            name: "results"
        }
    );
}

#[test]
fn long_step_names_get_distinct_state_names_of_at_most_80_characters() {
    let m = asl::state_machine::<LongNames>(&AslOptions::new()).expect("machine");
    let tasks: Vec<&str> = m
        .states
        .iter()
        .filter(|(_, s)| matches!(s, State::Task(_)))
        .map(|(n, _)| n)
        .collect();
    // The pivot, its resolve state, the retriable step.
    assert_eq!(tasks.len(), 3);
    let distinct: std::collections::HashSet<_> = tasks.iter().collect();
    assert_eq!(distinct.len(), 3, "{tasks:?}");
    assert!(tasks.iter().all(|n| n.chars().count() <= 80), "{tasks:?}");
    assert_eq!(task(&m, tasks[0]).next.as_deref(), Some(tasks[2]));
    assert_eq!(task(&m, tasks[1]).next.as_deref(), Some(tasks[2]));
    // No compensatable step: no compensation states at all.
    assert!(m.state("CompensationFailed").is_none());
    assert!(asl::validate(&m).is_empty());
}

#[test]
fn the_self_check_reports_what_the_linters_miss() {
    let mut m = book_trip();
    let Some((_, State::Task(hotel))) = m.states.0.iter_mut().find(|(n, _)| n == "reserve_hotel")
    else {
        panic!("reserve_hotel is a Task");
    };
    // `States.ALL` first, then more retriers after it.
    hotel.retry.insert(
        0,
        Retrier {
            error_equals: vec!["States.ALL".into()],
            interval_seconds: Some(1),
            max_attempts: 1,
            backoff_rate: Some(2.0),
            max_delay_seconds: None,
            jitter_strategy: None,
        },
    );
    hotel.retry.push(Retrier {
        error_equals: vec!["Saga.Terminal".into()],
        interval_seconds: Some(1),
        max_attempts: 1,
        backoff_rate: Some(f64::INFINITY),
        max_delay_seconds: Some(0),
        jitter_strategy: None,
    });
    hotel.retry.push(Retrier {
        error_equals: vec!["Saga.Retryable".into()],
        interval_seconds: Some(0),
        max_attempts: 1,
        backoff_rate: Some(0.5),
        max_delay_seconds: None,
        jitter_strategy: None,
    });
    hotel.heartbeat_seconds = Some(hotel.timeout_seconds);
    hotel.catch.insert(
        0,
        Catcher {
            error_equals: vec!["States.ALL".into(), "Saga.Terminal".into()],
            next: "Nowhere".into(),
            result_path: None,
        },
    );
    let long = "n".repeat(81);
    m.states
        .0
        .push((long.clone(), State::Succeed(Default::default())));
    let duplicate = m.states.0[0].clone();
    m.states.0.push(duplicate);
    let problems = asl::validate(&m);
    for expected in [
        AslProblem::StatesAllPlacement {
            state: "reserve_hotel".into(),
            field: "Retry",
        },
        AslProblem::StatesAllPlacement {
            state: "reserve_hotel".into(),
            field: "Catch",
        },
        AslProblem::BackoffRate {
            state: "reserve_hotel".into(),
            rate: 0.5,
        },
        AslProblem::BelowOne {
            state: "reserve_hotel".into(),
            field: "IntervalSeconds",
        },
        AslProblem::BackoffRate {
            state: "reserve_hotel".into(),
            rate: f64::INFINITY,
        },
        AslProblem::BelowOne {
            state: "reserve_hotel".into(),
            field: "MaxDelaySeconds",
        },
        AslProblem::Heartbeat {
            state: "reserve_hotel".into(),
            heartbeat: 10,
            timeout: 10,
        },
        AslProblem::DanglingNext {
            from: "reserve_hotel".into(),
            to: "Nowhere".into(),
        },
        AslProblem::NameTooLong(long.clone()),
        AslProblem::Unreachable(long),
        AslProblem::DuplicateName("reserve_flight".into()),
    ] {
        assert!(
            problems.contains(&expected),
            "missing {expected:?} in {problems:#?}"
        );
    }
    assert!(asl::validate(&book_trip()).is_empty());
}
