//! Forwarding to an upstream Invoke endpoint, typically `cargo lambda watch`,
//! and restoring AWS semantics on its answers.
//!
//! `cargo lambda watch` answers a function error with HTTP 500 and no
//! `X-Amz-Function-Error`, does not know full ARNs or `name:qualifier`, and
//! runs `Event` and `DryRun` synchronously. So only the bare name is forwarded,
//! always as `RequestResponse`, and a 5xx becomes a function error.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use super::wire::{ERROR_TYPE, FUNCTION_ERROR, INVOCATION_TYPE};
use crate::names;

/// An upstream Invoke endpoint and a pooled client to it.
pub(super) struct Upstream {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// What the upstream answered, in AWS terms.
#[derive(Debug)]
pub(super) enum Answer {
    /// The function's result.
    Result(Bytes),
    /// A function error: a JSON object with `errorType` and `errorMessage`.
    FunctionError(Bytes),
    /// The upstream does not know the function.
    NotFound,
    /// Any other answer (a 4xx such as throttling), passed through.
    Other {
        /// The upstream's status.
        status: StatusCode,
        /// The upstream's `x-amzn-ErrorType`, if any.
        error_type: Option<HeaderValue>,
        /// The upstream's body.
        body: Bytes,
    },
}

impl Answer {
    /// Whether the function actually ran.
    pub(super) fn ran(&self) -> bool {
        matches!(self, Answer::Result(_) | Answer::FunctionError(_))
    }
}

impl Upstream {
    /// An upstream at `base`, e.g. `http://127.0.0.1:9000`.
    pub(super) fn new(base: &str) -> Result<Self, String> {
        let base = base.trim_end_matches('/').to_owned();
        let probe = invocations_uri(&base, "probe").map_err(|e| e.to_string())?;
        if probe.scheme_str() != Some("http") || probe.host().is_none() {
            return Err("expected an `http://host:port` URL".to_owned());
        }
        if probe.query().is_some() {
            return Err("a query string is not allowed".to_owned());
        }
        let mut connector = HttpConnector::new();
        // Invocations are small request/response exchanges: don't let Nagle delay them.
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Upstream { base, client })
    }

    /// Invokes the function `name` (a bare name) synchronously with `payload`.
    /// An error means the upstream could not be reached or its answer was
    /// lost; the function may or may not have run.
    pub(super) async fn invoke(&self, name: &str, payload: Bytes) -> Result<Answer, String> {
        let uri =
            invocations_uri(&self.base, name).map_err(|e| format!("bad upstream URI: {e}"))?;
        let request = Request::post(uri)
            .header(CONTENT_TYPE, "application/json")
            .header(INVOCATION_TYPE, "RequestResponse")
            .body(Full::new(payload))
            .map_err(|e| format!("cannot build the upstream request: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("upstream {} unreachable: {}", self.base, error_chain(&e)))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("the answer of upstream {} was cut: {e}", self.base))?
            .to_bytes();
        Ok(classify(parts.status, &parts.headers, body))
    }
}

fn invocations_uri(base: &str, name: &str) -> Result<Uri, hyper::http::uri::InvalidUri> {
    format!("{base}/2015-03-31/functions/{name}/invocations").parse()
}

/// The whole `source()` chain, since hyper-util's top-level message ("client
/// error (Connect)") does not say what went wrong.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Maps an upstream answer to what AWS would have answered.
pub(super) fn classify(status: StatusCode, headers: &HeaderMap, body: Bytes) -> Answer {
    if status == StatusCode::NOT_FOUND {
        Answer::NotFound
    } else if status.is_server_error() {
        Answer::FunctionError(error_json(body))
    } else if status.is_success() {
        // An AWS-like upstream flags the error in a header; cargo-lambda may
        // only put it in the body.
        if headers.contains_key(FUNCTION_ERROR) || is_error_json(&body) {
            Answer::FunctionError(error_json(body))
        } else {
            Answer::Result(body)
        }
    } else {
        Answer::Other {
            status,
            error_type: headers.get(ERROR_TYPE).cloned(),
            body,
        }
    }
}

fn is_error_json(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|v| v.get("errorType").is_some_and(Value::is_string))
}

/// The body as a Lambda error object: kept if it is one, else wrapped as an
/// ambiguous error, since nothing says whether the function took effect.
fn error_json(body: Bytes) -> Bytes {
    if is_error_json(&body) {
        return body;
    }
    let wrapped = json!({
        "errorType": names::AMBIGUOUS,
        "errorMessage": String::from_utf8_lossy(&body),
    });
    Bytes::from(wrapped.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_type(answer: &Answer) -> Option<String> {
        match answer {
            Answer::FunctionError(body) => {
                serde_json::from_slice::<Value>(body).ok().and_then(|v| {
                    v.get("errorType")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
            }
            _ => None,
        }
    }

    #[test]
    fn cargo_lambda_answers_map_to_aws_answers() {
        let none = HeaderMap::new();
        let err = Bytes::from_static(br#"{"errorType":"Saga.Terminal","errorMessage":"no"}"#);
        let fail = classify(StatusCode::INTERNAL_SERVER_ERROR, &none, err.clone());
        assert_eq!(error_type(&fail).as_deref(), Some("Saga.Terminal"));
        let in_200 = classify(StatusCode::OK, &none, err);
        assert_eq!(error_type(&in_200).as_deref(), Some("Saga.Terminal"));
        let plain = classify(StatusCode::BAD_GATEWAY, &none, Bytes::from_static(b"boom"));
        assert_eq!(error_type(&plain).as_deref(), Some("Saga.Ambiguous"));
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, &none, Bytes::new()),
            Answer::NotFound
        ));
        assert!(matches!(
            classify(StatusCode::OK, &none, Bytes::from_static(b"1")),
            Answer::Result(_)
        ));
        let throttled = classify(StatusCode::TOO_MANY_REQUESTS, &none, Bytes::new());
        assert!(matches!(
            throttled,
            Answer::Other {
                status: StatusCode::TOO_MANY_REQUESTS,
                ..
            }
        ));
        assert!(!throttled.ran());
    }

    #[test]
    fn only_http_upstreams_are_accepted() {
        assert!(Upstream::new("http://127.0.0.1:9000/").is_ok());
        assert!(Upstream::new("https://example.com").is_err());
        assert!(Upstream::new("127.0.0.1:9000").is_err());
        assert!(Upstream::new("http://127.0.0.1:9000?x=1").is_err());
    }
}
