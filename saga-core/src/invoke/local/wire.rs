//! The HTTP shapes of the Invoke API: header names, the invocation type,
//! reading a request body within AWS's limits, and each answer exactly as AWS
//! sends it.

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, EXPECT, HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, Response, StatusCode};
use serde_json::{Value, json};

use super::name;
use crate::error::StepError;

pub(super) const INVOCATION_TYPE: HeaderName = HeaderName::from_static("x-amz-invocation-type");
pub(super) const FUNCTION_ERROR: HeaderName = HeaderName::from_static("x-amz-function-error");
pub(super) const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");
pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
const EXECUTED_VERSION: HeaderName = HeaderName::from_static("x-amz-executed-version");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// AWS's payload limit for a synchronous invocation (and `DryRun`).
const SYNC_LIMIT: usize = 6_291_456;
/// AWS's payload limit for an `Event` invocation.
const EVENT_LIMIT: usize = 1_048_576;
/// How much of an oversized body is read and dropped before answering 413.
/// A client still writing when the socket closes gets a reset instead of the
/// 413, so a body up to this size is drained; beyond it, the connection closes.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// The body of every answer.
pub(super) type Body = Full<Bytes>;

/// The three invocation types of the Invoke API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Invocation {
    RequestResponse,
    Event,
    DryRun,
}

impl Invocation {
    /// From `X-Amz-Invocation-Type`, `RequestResponse` when absent; an
    /// unknown value is the 400 AWS answers.
    pub(super) fn from_headers(headers: &HeaderMap) -> Result<Self, Refusal> {
        match headers.get(INVOCATION_TYPE).map(HeaderValue::as_bytes) {
            None | Some(b"RequestResponse") => Ok(Invocation::RequestResponse),
            Some(b"Event") => Ok(Invocation::Event),
            Some(b"DryRun") => Ok(Invocation::DryRun),
            Some(other) => Err(Refusal::InvalidParameter(format!(
                "1 validation error detected: Value '{}' at 'invocationType' failed to satisfy \
                 constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    fn limit(self) -> usize {
        match self {
            Invocation::Event => EVENT_LIMIT,
            Invocation::RequestResponse | Invocation::DryRun => SYNC_LIMIT,
        }
    }
}

/// Reads the payload within the limit of `invocation`: 413 when over it, and
/// `{}` for an empty body. `Content-Length` is checked first, so that an
/// oversized upload is refused without being buffered.
pub(super) async fn read_payload(
    mut body: Incoming,
    headers: &HeaderMap,
    invocation: Invocation,
) -> Result<Bytes, Refusal> {
    let limit = invocation.limit();
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        // With `Expect: 100-continue` the client waits for permission to send,
        // so reading would only invite the upload.
        if !headers.contains_key(EXPECT) && declared.is_some_and(|len| len <= DRAIN_LIMIT) {
            drain(body).await;
        }
        return Err(Refusal::TooLarge(limit));
    }
    let capacity = declared.map_or(0, |len| usize::try_from(len).unwrap_or(limit).min(limit));
    let mut buffer = BytesMut::with_capacity(capacity);
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| Refusal::InvalidContent(format!("Could not read request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if buffer.len() + data.len() > limit {
            drain(body).await;
            return Err(Refusal::TooLarge(limit));
        }
        buffer.extend_from_slice(&data);
    }
    if buffer.is_empty() {
        return Ok(Bytes::from_static(b"{}"));
    }
    Ok(buffer.freeze())
}

/// Reads and drops up to [`DRAIN_LIMIT`] bytes of what remains of `body`.
async fn drain(mut body: Incoming) {
    let mut budget = DRAIN_LIMIT;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            budget = budget.saturating_sub(data.len() as u64);
            if budget == 0 {
                return;
            }
        }
    }
}

/// The payload as JSON, or the 400 AWS answers.
pub(super) fn parse_json(payload: &[u8]) -> Result<Value, Refusal> {
    serde_json::from_slice(payload).map_err(|e| {
        Refusal::InvalidContent(format!("Could not parse request body into json: {e}"))
    })
}

fn with_json(body: Bytes, status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, JSON);
    response
}

/// An answer without a body: 202 for `Event`, 204 for `DryRun`.
pub(super) fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// A function that ran and returned `body`.
pub(super) fn result(body: Bytes) -> Response<Body> {
    let mut response = with_json(body, StatusCode::OK);
    response
        .headers_mut()
        .insert(EXECUTED_VERSION, HeaderValue::from_static("$LATEST"));
    response
}

/// A function that ran and failed; `body` is its `errorType` object.
pub(super) fn function_error_body(body: Bytes) -> Response<Body> {
    let mut response = result(body);
    response
        .headers_mut()
        .insert(FUNCTION_ERROR, HeaderValue::from_static("Unhandled"));
    response
}

/// A handler that returned `error`.
pub(super) fn function_error(error: &StepError) -> Response<Body> {
    let body = json!({ "errorType": error.name(), "errorMessage": error.message() });
    function_error_body(Bytes::from(body.to_string()))
}

fn error_body(status: StatusCode, error_type: &'static str, body: &Value) -> Response<Body> {
    let mut response = with_json(Bytes::from(body.to_string()), status);
    response
        .headers_mut()
        .insert(ERROR_TYPE, HeaderValue::from_static(error_type));
    response
}

/// An error of the Invoke API on the service's side.
pub(super) fn service_error(status: StatusCode, message: String) -> Response<Body> {
    let body = json!({ "Type": "Service", "message": message });
    error_body(status, "ServiceException", &body)
}

/// A request the Invoke API refuses, before any function runs.
#[derive(Debug)]
pub(super) enum Refusal {
    /// Not an Invoke request: the method and path.
    UnknownOperation(Method, String),
    /// A function name that is neither a name, `name:qualifier` nor an ARN.
    Validation(String),
    /// A bad `X-Amz-Invocation-Type`.
    InvalidParameter(String),
    /// No such function: its bare name.
    NotFound(String),
    /// A payload over the limit, in bytes.
    TooLarge(usize),
    /// A body that cannot be read or is not JSON.
    InvalidContent(String),
    /// Throttled by the test harness.
    Throttled,
}

impl Refusal {
    /// The answer AWS gives.
    pub(super) fn into_response(self) -> Response<Body> {
        let (status, error_type, message) = match self {
            Refusal::UnknownOperation(method, path) => (
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!("Unknown operation: {method} {path}"),
            ),
            Refusal::Validation(message) => {
                (StatusCode::BAD_REQUEST, "ValidationException", message)
            }
            Refusal::InvalidParameter(message) => (
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                message,
            ),
            Refusal::NotFound(name) => (
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                format!("Function not found: {}", name::arn(&name)),
            ),
            Refusal::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                format!(
                    "Request must be smaller than {limit} bytes for the InvokeFunction operation"
                ),
            ),
            Refusal::InvalidContent(message) => (
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                message,
            ),
            Refusal::Throttled => {
                let body = json!({
                    "Type": "User",
                    "message": "Rate Exceeded.",
                    "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded",
                });
                return error_body(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequestsException",
                    &body,
                );
            }
        };
        error_body(
            status,
            error_type,
            &json!({ "Type": "User", "message": message }),
        )
    }
}

/// An upstream answer passed through as is (e.g. its own 429).
pub(super) fn passthrough(
    status: StatusCode,
    error_type: Option<HeaderValue>,
    body: Bytes,
) -> Response<Body> {
    let mut response = with_json(body, status);
    if let Some(error_type) = error_type {
        response.headers_mut().insert(ERROR_TYPE, error_type);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(value: Option<&'static str>) -> Result<Invocation, StatusCode> {
        let mut headers = HeaderMap::new();
        if let Some(value) = value {
            headers.insert(INVOCATION_TYPE, HeaderValue::from_static(value));
        }
        Invocation::from_headers(&headers).map_err(|r| r.into_response().status())
    }

    #[test]
    fn invocation_types_are_exact() {
        assert_eq!(invocation(None), Ok(Invocation::RequestResponse));
        assert_eq!(
            invocation(Some("RequestResponse")),
            Ok(Invocation::RequestResponse)
        );
        assert_eq!(invocation(Some("Event")), Ok(Invocation::Event));
        assert_eq!(invocation(Some("DryRun")), Ok(Invocation::DryRun));
        assert_eq!(invocation(Some("dryrun")), Err(StatusCode::BAD_REQUEST));
        assert_eq!(Invocation::DryRun.limit(), SYNC_LIMIT);
        assert_eq!(Invocation::Event.limit(), EVENT_LIMIT);
    }

    #[test]
    fn answers_carry_the_aws_headers() {
        let error = function_error(&StepError::terminal("no"));
        assert_eq!(
            error
                .headers()
                .get(FUNCTION_ERROR)
                .map(HeaderValue::as_bytes),
            Some(&b"Unhandled"[..])
        );
        assert_eq!(
            error
                .headers()
                .get(EXECUTED_VERSION)
                .map(HeaderValue::as_bytes),
            Some(&b"$LATEST"[..])
        );
        let throttle = Refusal::Throttled.into_response();
        assert_eq!(throttle.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            throttle
                .headers()
                .get(ERROR_TYPE)
                .map(HeaderValue::as_bytes),
            Some(&b"TooManyRequestsException"[..])
        );
        assert!(empty(StatusCode::ACCEPTED).headers().is_empty());
    }
}
