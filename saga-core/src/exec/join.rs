//! Awaits the branches of a parallel group together.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Polls every future until all are ready, and returns their outputs in
/// order; or returns the first error at once, dropping the futures still
/// running, as a runtime that stops there would.
pub(super) async fn try_all<T, E, F>(futures: impl IntoIterator<Item = F>) -> Result<Vec<T>, E>
where
    F: Future<Output = Result<T, E>>,
{
    let mut pending: Vec<Option<Pin<Box<F>>>> =
        futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut busy = false;
        for (slot, out) in pending.iter_mut().zip(outputs.iter_mut()) {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(Ok(value)) => {
                        *out = Some(value);
                        *slot = None;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => busy = true,
                }
            }
        }
        if busy {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    })
    .await?;
    Ok(outputs.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    async fn after(ms: u64, ok: bool) -> Result<u64, u64> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        if ok { Ok(ms) } else { Err(ms) }
    }

    #[tokio::test(start_paused = true)]
    async fn runs_together_and_keeps_order() {
        let started = tokio::time::Instant::now();
        let out = super::try_all([30, 10, 20].map(|ms| after(ms, true))).await;
        assert_eq!(out, Ok(vec![30, 10, 20]));
        // Together, not one after another (the clock is paused: exact).
        assert_eq!(started.elapsed(), Duration::from_millis(30));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_error_ends_it_at_once() {
        let started = tokio::time::Instant::now();
        let out =
            super::try_all([(50, true), (10, false), (20, false)].map(|(ms, ok)| after(ms, ok)))
                .await;
        assert_eq!(out, Err(10));
        assert_eq!(started.elapsed(), Duration::from_millis(10));
    }
}
