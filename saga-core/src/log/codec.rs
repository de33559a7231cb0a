//! How a stored event is written and read back: its kind in one column, the
//! event as JSON in another. Reading is defensive: a stored record may come
//! from a damaged file, a newer version, or a hostile writer, so every
//! problem is a [`DecodeError`], never a panic.

use super::event::SagaEvent;

/// The largest event body read back, in bytes. A larger one is refused as
/// corrupt rather than parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Why a stored event cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The kind column names no event this version knows, e.g. one written
    /// by a newer version.
    #[error("unknown event kind {0:?}")]
    UnknownKind(String),
    /// The body is not the JSON of an event of the stored kind.
    #[error("the body of a `{kind}` event does not decode: {reason}")]
    BadBody {
        /// The stored kind.
        kind: String,
        /// The parser's message.
        reason: String,
    },
    /// The body decodes, but to an event of another kind.
    #[error("the stored kind is `{stored}` but the body holds a `{found}` event")]
    KindMismatch {
        /// The kind column.
        stored: String,
        /// The body's kind.
        found: &'static str,
    },
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("the event body is {0} bytes, more than the limit")]
    TooLarge(usize),
}

/// The kind and body under which `event` is stored.
pub fn encode_event(event: &SagaEvent) -> (&'static str, String) {
    // A `SagaEvent` is plain data (strings, numbers, JSON values): serialising
    // it cannot fail, but an error still becomes a string, not a panic.
    let body = serde_json::to_string(event).unwrap_or_else(|e| {
        format!(
            "{{\"type\":\"unencodable\",\"reason\":{:?}}}",
            e.to_string()
        )
    });
    (event.kind(), body)
}

/// Reads back an event stored as `kind` and `body`.
pub fn decode_event(kind: &str, body: &[u8]) -> Result<SagaEvent, DecodeError> {
    if !SagaEvent::KINDS.contains(&kind) {
        return Err(DecodeError::UnknownKind(truncate(kind)));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(DecodeError::TooLarge(body.len()));
    }
    let event: SagaEvent = serde_json::from_slice(body).map_err(|e| DecodeError::BadBody {
        kind: kind.to_owned(),
        reason: e.to_string(),
    })?;
    if event.kind() != kind {
        return Err(DecodeError::KindMismatch {
            stored: kind.to_owned(),
            found: event.kind(),
        });
    }
    Ok(event)
}

/// At most 64 characters of a stored string, for an error message.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StepError;

    #[test]
    fn round_trips_and_refuses_what_it_does_not_know() {
        let events = [
            SagaEvent::StepFailed {
                step: 3,
                attempt: 2,
                error: StepError::timeout("late"),
                retry: true,
            },
            SagaEvent::Resumed { by: "ops".into() },
            SagaEvent::CancelRequested {
                reason: "customer withdrew".into(),
            },
            SagaEvent::Completed,
        ];
        for e in events {
            let (kind, body) = encode_event(&e);
            assert_eq!(decode_event(kind, body.as_bytes()), Ok(e));
        }
        assert_eq!(
            decode_event("teleported", b"{}"),
            Err(DecodeError::UnknownKind("teleported".into()))
        );
        assert!(matches!(
            decode_event("completed", br#"{"type":"compensated"}"#),
            Err(DecodeError::KindMismatch { .. })
        ));
        assert!(matches!(
            decode_event("step_started", br#"{"type":"step_started","step":-1}"#),
            Err(DecodeError::BadBody { .. })
        ));
        assert!(matches!(
            decode_event("completed", b"\xff\xfe"),
            Err(DecodeError::BadBody { .. })
        ));
    }
}
