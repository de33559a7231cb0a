//! One attempt of one invocation: run under the step's context, bounded by its
//! timeout, with a panic turned into an error.
//!
//! The timer is armed only if the invocation does not finish on its first
//! poll: an in-process step that completes at once never touches the timer
//! wheel, which is most of the cost of a timeout.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::context::StepContext;
use crate::error::{ErrorClass, StepError, names};
use crate::saga::{Invocation, Produced};

/// Runs one attempt.
pub(crate) async fn attempt(
    invocation: Invocation<'_>,
    ctx: StepContext,
    timeout: Duration,
) -> Result<Option<Produced>, StepError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut guarded = std::pin::pin!(ctx.scope(CatchUnwind(invocation)));
    // First poll without a timer; most in-process steps are ready here.
    let first = std::future::poll_fn(|cx| Poll::Ready(guarded.as_mut().poll(cx))).await;
    let finished = match first {
        Poll::Ready(done) => Ok(done),
        Poll::Pending => tokio::time::timeout_at(deadline, guarded).await,
    };
    match finished {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => Err(StepError::new(
            ErrorClass::Ambiguous,
            names::PANIC,
            format!("the step panicked: {}", panic_message(&panic)),
        )),
        Err(_) => Err(StepError::timeout(format!(
            "no result within {} s",
            timeout.as_secs_f64()
        ))),
    }
}

/// Polls the inner future, catching a panic as an error: a panicking step must
/// not take the executor, and the saga, down with it.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

pub(crate) fn panic_message(panic: &Box<dyn Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}
