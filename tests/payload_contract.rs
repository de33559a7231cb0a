//! The payload contract, frozen by golden JSON files under `tests/golden/`.
//! Regenerate with `GOLDEN=overwrite cargo test --test payload_contract`
//! after an intended change, and review the diff.

use std::path::PathBuf;

use saga_core::Direction;
use saga_core::invoke::handler;
use saga_core::invoke::payload::{self, Metadata};
use saga_core::prelude::SagaId;
use serde_json::{Value, json};
use trip_saga::*;

fn trip() -> Trip {
    Trip {
        traveller: "Ada".into(),
        from: "LHR".into(),
        to: "JFK".into(),
        fail_at: None,
    }
}

fn flight() -> FlightBooking {
    FlightBooking {
        code: "FL-LHR-JFK".into(),
    }
}

fn meta(step: &str, direction: Direction) -> Metadata {
    Metadata::new(
        &SagaId::new("trip-1").expect("id"),
        "BookTrip",
        step,
        direction,
    )
}

/// Compares `actual` with the golden file as JSON values (whitespace and key
/// order do not matter; the keys and values do).
fn golden(name: &str, actual: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/payload")
        .join(format!("{name}.json"));
    if std::env::var("GOLDEN").as_deref() == Ok("overwrite") {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let text = serde_json::to_string_pretty(actual).expect("json") + "\n";
        std::fs::write(&path, text).expect("write golden");
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with GOLDEN=overwrite", path.display()));
    let expected: Value = serde_json::from_str(&text).expect("golden is JSON");
    assert_eq!(actual, &expected, "payload differs from {}", path.display());
}

#[test]
fn forward_payloads_have_a_key_per_parameter_plus_metadata() {
    let t = trip();
    let f = flight();
    let p = payload::request::<reserve_flight>(
        &(&t,),
        None,
        &meta("reserve_flight", Direction::Forward),
    )
    .expect("payload");
    golden("reserve_flight", &p);
    let p = payload::request::<reserve_hotel>(
        &(&t, &f),
        None,
        &meta("reserve_hotel", Direction::Forward),
    )
    .expect("payload");
    golden("reserve_hotel", &p);
    assert_eq!(p["flight"], json!({ "code": "FL-LHR-JFK" }));
    assert_eq!(p["saga"]["idempotency_key"], json!("trip-1/reserve_hotel"));
}

#[test]
fn compensation_payloads_add_the_output() {
    let t = trip();
    let f = flight();
    let hotel = HotelBooking {
        code: "HT-JFK-10".into(),
    };
    let p = payload::request::<reserve_hotel>(
        &(&t, &f),
        Some(&hotel),
        &meta("reserve_hotel", Direction::Compensation),
    )
    .expect("payload");
    golden("cancel_hotel", &p);
    assert_eq!(p["output"], json!({ "code": "HT-JFK-10" }));
}

#[tokio::test]
async fn a_hosted_step_decodes_the_contract_and_rejects_what_breaks_it() {
    let t = trip();
    let f = flight();
    let p = payload::request::<reserve_hotel>(
        &(&t, &f),
        None,
        &meta("reserve_hotel", Direction::Forward),
    )
    .expect("payload");
    let out = handler::run::<reserve_hotel>(p.clone(), Direction::Forward)
        .await
        .expect("runs");
    assert_eq!(out, json!({ "code": "HT-JFK-10" }));

    let mut missing = p.clone();
    missing.as_object_mut().expect("object").remove("flight");
    let err = handler::run::<reserve_hotel>(missing, Direction::Forward)
        .await
        .expect_err("flight is missing");
    assert_eq!(err.name(), payload::BAD_PAYLOAD);
    assert!(err.message().contains("no `flight`"), "{err}");

    let mut wrong = p.clone();
    wrong["trip"] = json!(17);
    let err = handler::run::<reserve_hotel>(wrong, Direction::Forward)
        .await
        .expect_err("trip is a number");
    assert_eq!(err.name(), payload::BAD_PAYLOAD);

    let err = handler::run::<reserve_hotel>(p, Direction::Compensation)
        .await
        .expect_err("a forward payload");
    assert_eq!(err.name(), payload::BAD_PAYLOAD);

    let err = handler::run::<reserve_hotel>(json!([1, 2]), Direction::Forward)
        .await
        .expect_err("not an object");
    assert_eq!(err.name(), payload::BAD_PAYLOAD);
}
