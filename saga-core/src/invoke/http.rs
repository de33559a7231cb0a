//! Invoking HTTP endpoints, e.g. a Lambda function behind API Gateway: the
//! payload is POSTed as JSON, the response status decides the error class.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;

use super::payload::{BAD_OUTPUT, excerpt};
use super::{InvocationType, Invoker, Remote, RemoteKind, Target};
use crate::error::{ErrorClass, StepError};
use crate::saga::BoxFuture;

/// The default request payload limit: 6 MB, Lambda's limit for a
/// synchronous invocation, which binds a Lambda behind API Gateway (whose own
/// limit is 10 MB). Change it with [`HttpInvoker::max_payload`].
pub const MAX_HTTP_PAYLOAD: usize = 6_291_456;

/// The error name of a request that cannot be built (a bad URL or header).
const REQUEST_ERROR: &str = "Http.Request";

/// The error name of an HTTP client that cannot be built.
const CLIENT_ERROR: &str = "Http.Client";

/// POSTs step payloads to HTTP endpoints.
///
/// | answer | class |
/// | --- | --- |
/// | 2xx | success; the body (JSON, or empty for `null`) is the output |
/// | 429, 500–503, 505+ | retryable |
/// | 504 (the gateway gave up; the function may have run), a timeout, a broken connection | ambiguous |
/// | other 4xx | terminal |
/// | connection refused | retryable (nothing was sent) |
/// | the HTTP client cannot be built (`Http.Client`) | terminal (nothing was sent) |
/// | a request that cannot be built (`Http.Request`: bad URL or header) | terminal (nothing was sent) |
///
/// Redirects are not followed: a redirected POST would arrive as a GET, so a
/// 3xx is a terminal error that names the endpoint to fix. A bad URL or
/// header is also reported by `Runtime::check` before any step runs.
///
/// The HTTP client is built on first use and shared by every clone, so
/// creating an invoker never fails; [`HttpInvoker::try_new`] and
/// `Runtime::preflight` build it early, to report a failure before any step runs.
///
/// ```no_run
/// use std::time::Duration;
/// use saga_core::invoke::HttpInvoker;
///
/// let api = HttpInvoker::new()
///     .bearer("eyJhbGciOi...")
///     .timeout(Duration::from_secs(10));
/// let charge = api.endpoint("https://api.example.com/prod/charge");
/// # let _ = charge;
/// ```
#[derive(Clone)]
pub struct HttpInvoker {
    /// Built on first use; the error is kept as text, since `reqwest::Error`
    /// is not `Clone`.
    client: Arc<OnceLock<Result<reqwest::Client, String>>>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    max_payload: usize,
}

impl Default for HttpInvoker {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpInvoker {
    /// An invoker with a 30 s timeout and no authentication.
    pub fn new() -> Self {
        HttpInvoker {
            client: Arc::new(OnceLock::new()),
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
            max_payload: MAX_HTTP_PAYLOAD,
        }
    }

    /// Like [`new`](Self::new), but builds the HTTP client now, so that a
    /// client that cannot be built (`Http.Client`, e.g. a TLS backend that
    /// fails to initialise) shows at start-up rather than at the first call.
    pub fn try_new() -> Result<Self, StepError> {
        let invoker = Self::new();
        invoker.client()?;
        Ok(invoker)
    }

    /// The HTTP client, built on the first call. A failure is a terminal
    /// `Http.Client` error: nothing was sent, and trying again will not help.
    fn client(&self) -> Result<&reqwest::Client, StepError> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|reason| {
                StepError::new(
                    ErrorClass::Terminal,
                    CLIENT_ERROR,
                    format!("cannot build the HTTP client: {reason}"),
                )
            })
    }

    /// Sends `Authorization: Bearer <token>` (a JWT, for instance).
    pub fn bearer(self, token: impl AsRef<str>) -> Self {
        self.header("authorization", format!("Bearer {}", token.as_ref()))
    }

    /// Sends a header with every request, e.g. `x-api-key`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The timeout of one request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest request body sent, in bytes (default [`MAX_HTTP_PAYLOAD`]);
    /// a larger payload is refused before sending (`Saga.PayloadTooLarge`).
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// A binding to the endpoint at `url`.
    pub fn endpoint(&self, url: impl Into<String>) -> Remote {
        Remote::new(
            Arc::new(self.clone()),
            Target {
                name: url.into(),
                invocation: InvocationType::RequestResponse,
            },
        )
    }
}

impl Invoker for HttpInvoker {
    fn kind(&self) -> RemoteKind {
        RemoteKind::Http
    }

    fn invoke<'a>(
        &'a self,
        target: &'a Target,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<Option<Value>, StepError>> {
        Box::pin(async move {
            let url = &target.name;
            let mut request = self
                .client()?
                .post(url)
                .timeout(self.timeout)
                .header("content-type", "application/json")
                .body(payload);
            for (name, value) in &self.headers {
                request = request.header(name, value);
            }
            let response = request.send().await.map_err(|e| transport_error(url, &e))?;
            let status = response.status().as_u16();
            let body = response
                .bytes()
                .await
                .map_err(|e| transport_error(url, &e))?;
            let text = || excerpt(&String::from_utf8_lossy(&body));
            let class = match status {
                200..=299 => None,
                429 => Some(ErrorClass::Retryable),
                504 => Some(ErrorClass::Ambiguous),
                500..=599 => Some(ErrorClass::Retryable),
                _ => Some(ErrorClass::Terminal),
            };
            if let Some(class) = class {
                return Err(StepError::new(
                    class,
                    format!("Http.{status}"),
                    format!("POST {url} answered {status}: {}", text()),
                ));
            }
            if target.invocation == InvocationType::Event {
                return Ok(None);
            }
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Some(Value::Null));
            }
            serde_json::from_slice(&body).map(Some).map_err(|e| {
                StepError::new(
                    ErrorClass::Terminal,
                    BAD_OUTPUT,
                    format!(
                        "POST {url} answered with a body that is not JSON ({e}): {}",
                        text()
                    ),
                )
            })
        })
    }

    /// Builds the HTTP client, so that a client that cannot be built fails
    /// the preflight. Nothing is sent.
    fn preflight<'a>(&'a self, _target: &'a Target) -> BoxFuture<'a, Result<(), StepError>> {
        Box::pin(std::future::ready(self.client().map(|_| ())))
    }

    fn max_payload(&self, _target: &Target) -> usize {
        self.max_payload
    }

    /// The URL must be an absolute `http` or `https` URL, and every header
    /// a valid name and value.
    fn validate(&self, target: &Target) -> Result<(), String> {
        let url = reqwest::Url::parse(&target.name).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "the scheme `{}` is not http or https",
                url.scheme()
            ));
        }
        for (name, value) in &self.headers {
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a valid header name"))?;
            reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| format!("the value of header `{name}` is not a valid header value"))?;
        }
        Ok(())
    }
}

fn transport_error(url: &str, e: &reqwest::Error) -> StepError {
    if e.is_builder() {
        // Nothing was sent; the same request would fail the same way.
        StepError::new(
            ErrorClass::Terminal,
            REQUEST_ERROR,
            format!("POST {url}: cannot build the request: {e}"),
        )
    } else if e.is_timeout() {
        StepError::timeout(format!("POST {url} timed out"))
    } else if e.is_connect() {
        StepError::retryable(format!("POST {url}: cannot connect: {e}"))
    } else {
        StepError::ambiguous(format!("POST {url}: {e}"))
    }
}
