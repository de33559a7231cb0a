//! A local server of the Lambda Invoke API that hosts handlers in-process
//! (feature `local-lambda`).
//!
//! It answers `POST /2015-03-31/functions/{FunctionName}/invocations` on
//! `127.0.0.1` with the same status codes, headers and bodies as AWS, so the
//! real `aws-sdk-lambda` client, or any other Invoke client (such as the ASL
//! interpreter of moto), can be pointed at it with
//! `endpoint_url(handle.url())`:
//!
//! | case | answer |
//! | --- | --- |
//! | `RequestResponse` ok | 200, the handler's JSON result, `X-Amz-Executed-Version: $LATEST` |
//! | handler error or panic | 200, `X-Amz-Function-Error: Unhandled`, `{"errorType","errorMessage"}` (a panic is `Saga.Panic`) |
//! | `Event` | 202 at once; the handler runs in the background |
//! | `DryRun` | 204; nothing runs |
//! | unknown function | 404, `ResourceNotFoundException` |
//! | throttled ([`LocalLambdaHandle::throttle_next`]) | 429, `TooManyRequestsException` |
//! | payload over 6 MiB (`Event`: 1 MiB) | 413, `RequestTooLargeException` |
//! | body that is not JSON | 400, `InvalidRequestContentException` (an empty body is `{}`) |
//! | bad `X-Amz-Invocation-Type` | 400, `InvalidParameterValueException` |
//! | malformed function name | 400, `ValidationException` |
//! | any other request | 404, `UnknownOperationException` |
//!
//! The function name may be `name`, `name:qualifier`, a partial ARN
//! `ACCOUNT:function:NAME` or a full ARN, percent-encoded or not, with or
//! without `?Qualifier=`; all resolve to `name`. Qualifiers are accepted and
//! ignored: every function runs as `$LATEST`.
//!
//! With [`LocalLambda::proxy`], a name not registered locally is forwarded to
//! an upstream Invoke endpoint such as `cargo lambda watch`, whose answers are
//! mapped back to AWS semantics (see [`LocalLambda::proxy`]).
//!
//! # Example
//!
//! ```
//! use saga_core::invoke::handler::handler_fn;
//! use saga_core::invoke::local::LocalLambda;
//! use saga_core::StepError;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = LocalLambda::new()
//!     .function("double", handler_fn(|payload: serde_json::Value| async move {
//!         let n = payload["n"].as_i64().ok_or_else(|| StepError::terminal("no `n`"))?;
//!         Ok(serde_json::json!(n * 2))
//!     }))
//!     .start()
//!     .await?;
//! // Point a Lambda client here, e.g.
//! // aws_sdk_lambda::config::Builder::from(&sdk_config).endpoint_url(server.url())
//! assert!(server.url().starts_with("http://127.0.0.1:"));
//! assert_eq!(server.invocations("double"), 0);
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod name;
mod proxy;
mod server;
mod wire;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use self::proxy::Upstream;
use self::server::State;
use super::handler::{self, Handler};
use crate::step::Step;

/// Why a [`LocalLambda`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalLambdaError {
    /// The listening socket could not be opened, e.g. the port is taken.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A registered name is not a bare Lambda function name, so no request
    /// could ever reach it.
    #[error("`{name}` cannot be a function name: {reason}")]
    InvalidFunctionName {
        /// The name as registered.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The proxy upstream is not an `http://host:port` URL.
    #[error("invalid proxy upstream `{url}`: {reason}")]
    InvalidUpstream {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Builds a local Invoke endpoint: which functions it hosts, where unknown
/// names go, and which port it listens on.
#[derive(Default)]
pub struct LocalLambda {
    functions: HashMap<String, Handler>,
    upstream: Option<String>,
    upstream_functions: Option<HashSet<String>>,
    port: u16,
}

impl LocalLambda {
    /// An endpoint with no functions, on an ephemeral port.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hosts `handler` as the function `name` (a bare name, without qualifier
    /// or ARN). Registering a name again replaces its handler.
    pub fn function(mut self, name: impl Into<String>, handler: Handler) -> Self {
        self.functions.insert(name.into(), handler);
        self
    }

    /// Hosts step `S` (its forward direction) as the function `name`.
    pub fn step<S: Step>(self, name: impl Into<String>) -> Self {
        self.function(name, handler::step_handler::<S>())
    }

    /// Hosts the compensation of step `S` as the function `name`.
    pub fn compensation<S: Step>(self, name: impl Into<String>) -> Self {
        self.function(name, handler::compensation_handler::<S>())
    }

    /// Forwards invocations of names not registered locally to the Invoke
    /// endpoint at `upstream_base_url` (e.g. `http://127.0.0.1:9000`, as
    /// served by `cargo lambda watch`), and restores AWS semantics:
    ///
    /// - only the bare name is sent, since cargo-lambda answers 404 to ARNs
    ///   and `name:qualifier`;
    /// - `Event` answers 202 at once and is forwarded in the background as a
    ///   `RequestResponse`; `DryRun` answers 204 without forwarding, since
    ///   cargo-lambda would run the function;
    /// - an upstream 5xx, or any answer whose body is an `errorType` object,
    ///   becomes 200 with `X-Amz-Function-Error: Unhandled` (a body that is
    ///   not an error object is wrapped as `Saga.Ambiguous`);
    /// - an upstream 404 becomes `ResourceNotFoundException`;
    /// - an unreachable upstream is 502 `ServiceException`.
    ///
    /// There is no timeout on the upstream call, as a function may run long.
    pub fn proxy(mut self, upstream_base_url: impl Into<String>) -> Self {
        self.upstream = Some(upstream_base_url.into());
        self
    }

    /// Names the functions the [`proxy`](Self::proxy) upstream serves. Any
    /// other name that is not hosted locally is then 404
    /// `ResourceNotFoundException`, `DryRun` included, as AWS answers for a
    /// function that does not exist; without this list every unknown name is
    /// forwarded, and a `DryRun` of a missing function cannot be told apart.
    /// Names are bare function names; calls may still use a qualifier or ARN.
    pub fn upstream_functions<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.upstream_functions = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Listens on this port instead of an ephemeral one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Binds `127.0.0.1` and starts serving in a background task of the
    /// current Tokio runtime. The server stops when the handle is shut down
    /// or dropped.
    pub async fn start(self) -> Result<LocalLambdaHandle, LocalLambdaError> {
        for name in self.functions.keys() {
            name::check_name(name).map_err(|e| LocalLambdaError::InvalidFunctionName {
                name: name.clone(),
                reason: e.to_string(),
            })?;
        }
        let upstream = match self.upstream {
            Some(url) => Some(
                Upstream::new(&url)
                    .map_err(|reason| LocalLambdaError::InvalidUpstream { url, reason })?,
            ),
            None => None,
        };
        let asked = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let bind_error = |source| LocalLambdaError::Bind {
            addr: asked,
            source,
        };
        let listener = TcpListener::bind(asked).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;

        let state = Arc::new(State::new(
            self.functions,
            upstream,
            self.upstream_functions,
        ));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, Arc::clone(&state), stopped));
        Ok(LocalLambdaHandle {
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

impl fmt::Debug for LocalLambda {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut functions: Vec<&String> = self.functions.keys().collect();
        functions.sort();
        f.debug_struct("LocalLambda")
            .field("functions", &functions)
            .field("upstream", &self.upstream)
            .field("port", &self.port)
            .finish()
    }
}

/// A running local Invoke endpoint. Dropping it stops the server.
pub struct LocalLambdaHandle {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl LocalLambdaHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes the next `n` invocations of `function` answer 429
    /// `TooManyRequestsException` without running it, replacing any throttle
    /// still pending. `function` may be given in any form a request may use.
    pub fn throttle_next(&self, function: &str, n: u32) {
        self.state.throttle_next(&bare_name(function), n);
    }

    /// How many times `function` actually ran: each handler run is counted
    /// when it finishes (with a result, an error or a panic), and in proxy
    /// mode each forwarded call the upstream answered with a result or a
    /// function error. `DryRun`, 404, 429 and 413 answers are not counted.
    pub fn invocations(&self, function: &str) -> u64 {
        self.state.invocations(&bare_name(function))
    }

    /// Stops accepting connections and ends the server, letting in-flight
    /// requests finish for a few seconds. `Event` handlers already running
    /// carry on in their own tasks.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LocalLambdaHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl fmt::Debug for LocalLambdaHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalLambdaHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// `function` resolved as a request's function name would be, so that the
/// handle's accessors accept an ARN too.
fn bare_name(function: &str) -> String {
    name::parse(function).map_or_else(|_| function.to_owned(), |f| f.name)
}
