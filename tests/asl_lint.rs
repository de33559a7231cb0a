//! Every generated state machine passes both ASL linters, `asl-validator`
//! and `@wmfs/statelint`, without a single message; and a broken machine
//! makes them complain, so the check can fail.
//!
//! Gated: needs the linters (`SAGA_ASL_VALIDATOR`, `SAGA_STATELINT`), which
//! `scripts/test.sh` installs from npm into `.ci/cache/npm`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use saga_core::asl::model::State;
use saga_core::asl::{self, AslOptions, StateMachine};
use saga_core::invoke::LambdaInvoker;
use saga_core::prelude::*;
use trip_saga::functions::{self, *};
use trip_saga::*;

use common::tools;

#[saga_step(pivot)]
async fn take_payment(amount: &u32) -> Result<u32, StepError> {
    Ok(*amount)
}

#[saga_step(retriable, retry(max_attempts = 4, max_delay_seconds = 10, jitter = full))]
async fn notify(amount: &u32, receipt: &u32) -> Result<(), StepError> {
    let _ = (amount, receipt);
    Ok(())
}

saga! {
    /// No compensatable step: a pivot, then a retriable step.
    pub saga Payment(amount: u32) -> u32 {
        let receipt = take_payment(&amount);
        notify(&amount, &receipt);
        receipt
    }
}

#[saga_step(compensate = unhold)]
async fn hold(amount: &u32) -> Result<u32, StepError> {
    Ok(*amount)
}
async fn unhold(_amount: &u32, _held: u32) -> Result<(), StepError> {
    Ok(())
}

#[saga_step(compensate = unreserve)]
async fn a_step_whose_name_is_much_too_long_to_fit_eighty_characters_in_a_state_name_one(
    amount: &u32,
) -> Result<u32, StepError> {
    Ok(*amount)
}
async fn unreserve(_amount: &u32, _id: u32) -> Result<(), StepError> {
    Ok(())
}

#[saga_step(compensate = unreserve)]
async fn a_step_whose_name_is_much_too_long_to_fit_eighty_characters_in_a_state_name_two(
    amount: &u32,
) -> Result<u32, StepError> {
    Ok(*amount)
}

saga! {
    /// Compensatable steps only, the last of which is never compensated;
    /// step names that collide once cut to 80 characters.
    pub saga OnlyCompensatable(amount: u32) -> u32 {
        let held = hold(&amount);
        let one = a_step_whose_name_is_much_too_long_to_fit_eighty_characters_in_a_state_name_one(&amount);
        let two = a_step_whose_name_is_much_too_long_to_fit_eighty_characters_in_a_state_name_two(&amount);
        held + one + two
    }
}

/// Every machine the examples and options can produce.
fn machines() -> Vec<(&'static str, StateMachine)> {
    let lambda = LambdaInvoker::local("http://127.0.0.1:9");
    let bound = functions::bind(Runtime::builder(), &lambda).build();
    let event = functions::bind(Runtime::builder(), &lambda)
        .bind::<send_confirmation>(lambda.function(SEND_CONFIRMATION).event())
        .build();
    let arn = "arn:aws:lambda:eu-west-1:123456789012:function:reserve-flight:live";
    let all = [
        (
            "book_trip_bound",
            asl::state_machine::<BookTrip>(&AslOptions::from_runtime(&bound)),
        ),
        (
            "book_trip_placeholders",
            asl::state_machine::<BookTrip>(
                &AslOptions::new()
                    .function::<reserve_flight>(arn)
                    .comment("placeholders")
                    .timeout_seconds(86_400),
            ),
        ),
        (
            "book_trip_event",
            asl::state_machine::<BookTrip>(&AslOptions::from_runtime(&event)),
        ),
        // A parallel group: Parallel, Choice and Pass states.
        (
            "book_trip_together_bound",
            asl::state_machine::<BookTripTogether>(&AslOptions::from_runtime(&bound)),
        ),
        (
            "book_trip_together_placeholders",
            asl::state_machine::<BookTripTogether>(&AslOptions::new()),
        ),
        ("payment", asl::state_machine::<Payment>(&AslOptions::new())),
        (
            "only_compensatable_long_names",
            asl::state_machine::<OnlyCompensatable>(&AslOptions::new()),
        ),
    ];
    all.into_iter()
        .map(|(name, m)| (name, m.unwrap_or_else(|e| panic!("{name}: {e}"))))
        .collect()
}

/// Runs both linters on `file`; returns everything they said, and whether
/// both exited 0.
fn lint(file: &Path) -> (bool, String) {
    let validator = tools::required("SAGA_ASL_VALIDATOR", "the asl-validator binary");
    let statelint = tools::required("SAGA_STATELINT", "the statelint binary");
    let mut ok = true;
    let mut said = String::new();
    for (tool, args) in [
        (
            validator,
            vec!["--json-path".to_owned(), file.display().to_string()],
        ),
        (statelint, vec![file.display().to_string()]),
    ] {
        let out = Command::new(&tool)
            .args(&args)
            .output()
            .expect("the linter runs");
        ok &= out.status.success();
        let stdout = String::from_utf8_lossy(&out.stdout);
        // asl-validator confirms success on stdout; anything else is a message.
        let stdout = stdout
            .lines()
            .filter(|l| !l.contains("is valid"))
            .collect::<Vec<_>>()
            .join("\n");
        for text in [
            stdout.trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ] {
            if !text.is_empty() {
                said += &format!("{}: {text}\n", tool.display());
            }
        }
    }
    (ok, said)
}

fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("asl-lint");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
#[ignore = "needs the npm ASL linters; run by scripts/test.sh with --include-ignored"]
fn every_generated_machine_passes_both_linters_silently() {
    let dir = scratch();
    let mut failures = Vec::new();
    for (name, machine) in machines() {
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, machine.to_json()).expect("write");
        let (ok, said) = lint(&file);
        if !ok || !said.is_empty() {
            failures.push(format!("{name} (exit ok: {ok}):\n{said}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[ignore = "needs the npm ASL linters; run by scripts/test.sh with --include-ignored"]
fn the_linters_reject_a_broken_machine() {
    let (_, mut machine) = machines().remove(0);
    // States.ALL first in a Catch: only statelint sees it.
    if let Some((_, State::Task(task))) = machine.states.0.get_mut(0) {
        task.catch.reverse();
    }
    let file = scratch().join("broken.json");
    std::fs::write(&file, machine.to_json()).expect("write");
    let (ok, said) = lint(&file);
    assert!(!ok, "the linters accepted a broken machine");
    assert!(said.contains("States.ALL"), "{said}");
}

#[test]
#[ignore = "needs the npm ASL linters; run by scripts/test.sh with --include-ignored"]
fn asl_validator_is_heard_too() {
    let (_, mut machine) = machines().remove(0);
    // A Next to no state: asl-validator reports the missing target.
    if let Some((_, State::Task(task))) = machine.states.0.get_mut(0) {
        task.next = Some("Nowhere".to_owned());
    }
    let file = scratch().join("dangling.json");
    std::fs::write(&file, machine.to_json()).expect("write");
    let (ok, said) = lint(&file);
    assert!(!ok, "the linters accepted a dangling Next");
    let validator = tools::required("SAGA_ASL_VALIDATOR", "the asl-validator binary");
    let heard = said
        .lines()
        .any(|l| l.starts_with(&format!("{}: ", validator.display())));
    assert!(heard, "asl-validator said nothing: {said}");
    assert!(said.contains("Nowhere"), "{said}");
}
