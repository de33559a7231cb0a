//! The accept loop, request routing, and running handlers in-process.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinError, JoinSet};

use super::name;
use super::proxy::{Answer, Upstream};
use super::wire::{self, Body, Invocation, Refusal};
use crate::error::{ErrorClass, StepError};
use crate::invoke::handler::Handler;
use crate::names;
use crate::saga::BoxFuture;

/// How long `shutdown` lets in-flight requests finish.
const GRACE: Duration = Duration::from_secs(5);

/// What the server shares between connections.
pub(super) struct State {
    functions: HashMap<String, Handler>,
    upstream: Option<Upstream>,
    /// The functions the upstream serves; `None`: any name.
    upstream_functions: Option<HashSet<String>>,
    stats: Mutex<HashMap<String, Stats>>,
}

#[derive(Default)]
struct Stats {
    throttled: u32,
    invocations: u64,
}

impl State {
    pub(super) fn new(
        functions: HashMap<String, Handler>,
        upstream: Option<Upstream>,
        upstream_functions: Option<HashSet<String>>,
    ) -> Self {
        State {
            functions,
            upstream,
            upstream_functions,
            stats: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the upstream is asked for `name`.
    fn upstream_serves(&self, name: &str) -> bool {
        self.upstream.is_some()
            && self
                .upstream_functions
                .as_ref()
                .is_none_or(|names| names.contains(name))
    }

    /// The lock is never held across a handler, so a poisoned lock still
    /// guards consistent counters.
    fn stats(&self) -> MutexGuard<'_, HashMap<String, Stats>> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn throttle_next(&self, name: &str, n: u32) {
        self.stats().entry(name.to_owned()).or_default().throttled = n;
    }

    pub(super) fn invocations(&self, name: &str) -> u64 {
        self.stats().get(name).map_or(0, |s| s.invocations)
    }

    fn take_throttle(&self, name: &str) -> bool {
        match self.stats().get_mut(name) {
            Some(stats) if stats.throttled > 0 => {
                stats.throttled -= 1;
                true
            }
            _ => false,
        }
    }

    fn record_invocation(&self, name: &str) {
        self.stats().entry(name.to_owned()).or_default().invocations += 1;
    }
}

/// Accepts connections until `shutdown` fires, then lets open connections
/// finish their in-flight requests for up to [`GRACE`].
pub(super) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let (stop, stopped) = watch::channel(false);
    // Connection tasks live in the set, so aborting this task (on drop of
    // the handle) aborts them too.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(stream, Arc::clone(&state), stopped.clone()));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(GRACE, drained).await;
}

async fn connection(stream: TcpStream, state: Arc<State>, mut stopped: watch::Receiver<bool>) {
    // Invocations are small request/response exchanges: don't let Nagle delay them.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(respond(request, state).await) }
    });
    let mut builder = http1::Builder::new();
    // The timer makes hyper's default header read timeout effective.
    builder.keep_alive(true).timer(TokioTimer::new());
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stopped.wait_for(|stop| *stop) => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}

async fn respond(request: Request<Incoming>, state: Arc<State>) -> Response<Body> {
    let mut response = invoke(request, state)
        .await
        .unwrap_or_else(Refusal::into_response);
    if let Ok(id) = HeaderValue::try_from(uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert(wire::REQUEST_ID, id);
    }
    response
}

/// The function segment of `POST /2015-03-31/functions/{FunctionName}/invocations`.
fn invoke_segment<'a>(method: &Method, path: &'a str) -> Option<&'a str> {
    if method != Method::POST {
        return None;
    }
    let segment = path
        .strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")?;
    (!segment.is_empty() && !segment.contains('/')).then_some(segment)
}

/// Checks the request in AWS's order, then runs or forwards it.
async fn invoke(request: Request<Incoming>, state: Arc<State>) -> Result<Response<Body>, Refusal> {
    let (parts, body) = request.into_parts();
    let segment = invoke_segment(&parts.method, parts.uri.path()).ok_or_else(|| {
        Refusal::UnknownOperation(parts.method.clone(), parts.uri.path().to_owned())
    })?;
    let name = name::resolve(segment, name::query_qualifier(parts.uri.query()))
        .map_err(|e| Refusal::Validation(e.to_string()))?
        .name;
    let invocation = Invocation::from_headers(&parts.headers)?;
    let local = state.functions.get(&name).cloned();
    if local.is_none() && !state.upstream_serves(&name) {
        return Err(Refusal::NotFound(name));
    }
    let payload = wire::read_payload(body, &parts.headers, invocation).await?;
    let value = wire::parse_json(&payload)?;
    // DryRun checks only that the function exists and may be invoked; in
    // proxy mode that cannot be asked of cargo-lambda, which would run it.
    if invocation == Invocation::DryRun {
        return Ok(wire::empty(StatusCode::NO_CONTENT));
    }
    if state.take_throttle(&name) {
        return Err(Refusal::Throttled);
    }
    Ok(match local {
        Some(handler) => run_local(state, name, handler, value, invocation).await,
        None => run_upstream(state, name, payload, invocation).await,
    })
}

async fn run_local(
    state: Arc<State>,
    name: String,
    handler: Handler,
    payload: Value,
    invocation: Invocation,
) -> Response<Body> {
    // The handler runs in its own task, so that it finishes (and is counted)
    // even if the client goes away, and an `Event` can be answered at once.
    let task = tokio::spawn(async move {
        // The handler may panic while building its future, or while running it.
        let result = match catch_unwind(AssertUnwindSafe(|| handler(payload))) {
            Ok(future) => CatchUnwind(future).await,
            Err(panic) => Err(panic_error(panic.as_ref())),
        };
        state.record_invocation(&name);
        result
    });
    match invocation {
        Invocation::Event => wire::empty(StatusCode::ACCEPTED),
        Invocation::RequestResponse | Invocation::DryRun => local_answer(task.await),
    }
}

fn local_answer(joined: Result<Result<Value, StepError>, JoinError>) -> Response<Body> {
    match joined {
        Ok(Ok(value)) => match serde_json::to_vec(&value) {
            Ok(body) => wire::result(Bytes::from(body)),
            Err(e) => wire::function_error(&StepError::ambiguous(format!(
                "cannot encode the result: {e}"
            ))),
        },
        Ok(Err(error)) => wire::function_error(&error),
        // Only happens while the runtime shuts down.
        Err(e) => wire::service_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn run_upstream(
    state: Arc<State>,
    name: String,
    payload: Bytes,
    invocation: Invocation,
) -> Response<Body> {
    if invocation == Invocation::Event {
        tokio::spawn(async move {
            let _ = forward(&state, &name, payload).await;
        });
        return wire::empty(StatusCode::ACCEPTED);
    }
    match forward(&state, &name, payload).await {
        Some(Ok(Answer::Result(body))) => wire::result(body),
        Some(Ok(Answer::FunctionError(body))) => wire::function_error_body(body),
        Some(Ok(Answer::NotFound)) | None => Refusal::NotFound(name).into_response(),
        Some(Ok(Answer::Other {
            status,
            error_type,
            body,
        })) => wire::passthrough(status, error_type, body),
        Some(Err(message)) => wire::service_error(StatusCode::BAD_GATEWAY, message),
    }
}

/// Forwards to the upstream and counts the invocation if the function ran.
/// `None` when there is no upstream.
async fn forward(state: &State, name: &str, payload: Bytes) -> Option<Result<Answer, String>> {
    let answer = state.upstream.as_ref()?.invoke(name, payload).await;
    if answer.as_ref().is_ok_and(Answer::ran) {
        state.record_invocation(name);
    }
    Some(answer)
}

/// Turns a panic inside a handler's future into a `Saga.Panic` error.
struct CatchUnwind(BoxFuture<'static, Result<Value, StepError>>);

impl Future for CatchUnwind {
    type Output = Result<Value, StepError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = &mut self.0;
        // After a panic the future is never polled again: Ready ends the await.
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(panic) => Poll::Ready(Err(panic_error(panic.as_ref()))),
        }
    }
}

fn panic_error(panic: &(dyn Any + Send)) -> StepError {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    StepError::new(
        ErrorClass::Ambiguous,
        names::PANIC,
        format!("the handler panicked: {text}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_post_to_the_invocations_path_is_an_invoke() {
        let post = Method::POST;
        let path = "/2015-03-31/functions/pay/invocations";
        assert_eq!(invoke_segment(&post, path), Some("pay"));
        assert_eq!(invoke_segment(&Method::GET, path), None);
        assert_eq!(
            invoke_segment(&post, "/2015-03-31/functions//invocations"),
            None
        );
        assert_eq!(
            invoke_segment(&post, "/2015-03-31/functions/a/b/invocations"),
            None
        );
        assert_eq!(invoke_segment(&post, "/2015-03-31/functions/pay"), None);
    }

    #[test]
    fn panic_payloads_become_messages() {
        let error = panic_error(&"boom");
        assert_eq!(error.name(), "Saga.Panic");
        assert_eq!(error.class(), ErrorClass::Ambiguous);
        assert_eq!(error.message(), "the handler panicked: boom");
        let owned = panic_error(&String::from("x"));
        assert_eq!(owned.message(), "the handler panicked: x");
        let other = panic_error(&7_u8);
        assert_eq!(
            other.message(),
            "the handler panicked: a panic without a message"
        );
    }

    #[test]
    fn throttles_are_used_up_one_by_one() {
        let state = State::new(HashMap::new(), None, None);
        state.throttle_next("f", 2);
        assert!(state.take_throttle("f"));
        assert!(state.take_throttle("f"));
        assert!(!state.take_throttle("f"));
        assert!(!state.take_throttle("g"));
    }
}
