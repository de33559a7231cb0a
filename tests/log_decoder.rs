//! Property tests of the stored-event decoder: whatever bytes sit in the
//! `kind` and `body` columns (a damaged file, a newer version, a hostile
//! writer), decoding returns an event or a typed error and never panics;
//! and every event survives encoding and decoding unchanged.

use proptest::prelude::*;
use saga_core::log::{DecodeError, SagaEvent, decode_event, encode_event};
use saga_core::{ErrorClass, StepError, StepKind};

fn error() -> impl Strategy<Value = StepError> {
    (0..3u8, "[A-Za-z.]{0,20}", ".{0,40}").prop_map(|(class, name, msg)| {
        let class = [
            ErrorClass::Retryable,
            ErrorClass::Terminal,
            ErrorClass::Ambiguous,
        ][class as usize];
        StepError::new(class, name, msg)
    })
}

fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn event() -> impl Strategy<Value = SagaEvent> {
    let step = 0..20usize;
    let attempt = 1..100u32;
    prop_oneof![
        (
            ".{0,10}",
            ".{0,10}",
            prop::collection::vec(0..3u8, 0..6),
            json()
        )
            .prop_map(|(saga, definition_hash, kinds, input)| SagaEvent::Created {
                saga,
                definition_hash,
                kinds: kinds
                    .into_iter()
                    .map(|k| [
                        StepKind::Compensatable,
                        StepKind::Pivot,
                        StepKind::Retriable
                    ][k as usize])
                    .collect(),
                groups: Vec::new(),
                input,
            }),
        (step.clone(), attempt.clone())
            .prop_map(|(step, attempt)| SagaEvent::StepStarted { step, attempt }),
        (step.clone(), json()).prop_map(|(step, output)| SagaEvent::StepSucceeded { step, output }),
        (step.clone(), attempt.clone(), error(), any::<bool>()).prop_map(
            |(step, attempt, error, retry)| {
                SagaEvent::StepFailed {
                    step,
                    attempt,
                    error,
                    retry,
                }
            }
        ),
        (step.clone(), error())
            .prop_map(|(failed_step, error)| SagaEvent::UnwindStarted { failed_step, error }),
        (step.clone(), attempt.clone())
            .prop_map(|(step, attempt)| SagaEvent::CompensationStarted { step, attempt }),
        step.clone()
            .prop_map(|step| SagaEvent::CompensationSucceeded { step }),
        (step.clone(), attempt, error(), any::<bool>()).prop_map(
            |(step, attempt, error, retry)| {
                SagaEvent::CompensationFailed {
                    step,
                    attempt,
                    error,
                    retry,
                }
            }
        ),
        Just(SagaEvent::Completed),
        Just(SagaEvent::Compensated),
        (step, ".{0,20}").prop_map(|(step, reason)| SagaEvent::Stuck { step, reason }),
        ".{0,20}".prop_map(|by| SagaEvent::Resumed { by }),
        ".{0,20}".prop_map(|reason| SagaEvent::Abandoned { reason }),
        ".{0,20}".prop_map(|reason| SagaEvent::CancelRequested { reason }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_event_round_trips(e in event()) {
        let (kind, body) = encode_event(&e);
        prop_assert_eq!(decode_event(kind, body.as_bytes()), Ok(e));
    }

    #[test]
    fn arbitrary_bytes_never_panic(kind in ".{0,20}", body in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_event(&kind, &body);
    }

    #[test]
    fn damaged_encodings_decode_to_an_event_of_the_stored_kind_or_a_typed_error(
        e in event(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        other_kind in prop::sample::select(SagaEvent::KINDS),
    ) {
        let (kind, body) = encode_event(&e);
        let mut bytes = body.into_bytes();
        // Truncated.
        let short = &bytes[..cut.index(bytes.len() + 1)];
        if let Ok(d) = decode_event(kind, short) {
            prop_assert_eq!(d.kind(), kind);
        }
        // One byte changed.
        let i = flip.index(bytes.len());
        bytes[i] = byte;
        if let Ok(d) = decode_event(kind, &bytes) {
            prop_assert_eq!(d.kind(), kind);
        }
        // Filed under another kind: never accepted as that kind's event.
        let (_, body) = encode_event(&e);
        match decode_event(other_kind, body.as_bytes()) {
            Ok(d) => prop_assert_eq!(d.kind(), other_kind),
            Err(err) => {
                let typed = matches!(err, DecodeError::KindMismatch { .. } | DecodeError::BadBody { .. });
                prop_assert!(typed, "{:?}", err);
            }
        }
    }
}
