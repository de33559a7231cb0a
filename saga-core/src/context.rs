//! The context of one step or compensation invocation: saga id, step name,
//! attempt, and the idempotency key.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid saga id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid saga id {id:?}: use 1 to 80 characters from A-Z, a-z, 0-9, '-' and '_' (a Step Functions execution name)"
)]
pub struct InvalidSagaId {
    /// The rejected id.
    pub id: String,
}

/// The id of one saga run. It doubles as the Step Functions execution name, so it
/// is 1 to 80 characters of `A-Z a-z 0-9 - _`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SagaId(Arc<str>);

impl SagaId {
    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<SagaId, InvalidSagaId> {
        let id = id.into();
        let ok = (1..=80).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(SagaId(id.into()))
        } else {
            Err(InvalidSagaId { id })
        }
    }

    /// A fresh random id (a UUID v4).
    pub fn random() -> SagaId {
        SagaId(uuid::Uuid::new_v4().to_string().into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SagaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SagaId {
    type Error = InvalidSagaId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        SagaId::new(s)
    }
}

impl From<SagaId> for String {
    fn from(id: SagaId) -> String {
        id.0.to_string()
    }
}

/// Whether an invocation runs a step forward or compensates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The step itself.
    Forward,
    /// The step's compensation.
    Compensation,
}

/// The context of one invocation, available inside every step and compensation
/// through [`StepContext::current`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepContext {
    saga_id: SagaId,
    step: &'static str,
    attempt: u32,
    direction: Direction,
}

tokio::task_local! {
    static CURRENT: StepContext;
}

impl StepContext {
    pub(crate) fn new(
        saga_id: SagaId,
        step: &'static str,
        attempt: u32,
        direction: Direction,
    ) -> Self {
        StepContext {
            saga_id,
            step,
            attempt,
            direction,
        }
    }

    /// The context of the step or compensation running on this task, or `None`
    /// outside of one (or on a task it spawned: the context does not follow `tokio::spawn`).
    pub fn current() -> Option<StepContext> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// The saga's id.
    pub fn saga_id(&self) -> &SagaId {
        &self.saga_id
    }

    /// The step's name.
    pub fn step(&self) -> &'static str {
        self.step
    }

    /// The attempt number, from 1, counted by the executor over all of the
    /// step's retries. The payload contract does not carry it, so a step
    /// served as a remote function (a [`handler`](crate::invoke::handler) or
    /// the `lambda_runtime` adapter) always sees 1 here; count calls per
    /// [`idempotency_key`](Self::idempotency_key) there instead.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Forward or compensation.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// `<saga id>/<step name>`: the same on every attempt, after a recovery, and
    /// in the generated state machine. Steps use it to make their effects idempotent.
    pub fn idempotency_key(&self) -> String {
        format!("{}/{}", self.saga_id, self.step)
    }

    pub(crate) fn scope<F: Future>(self, fut: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, fut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saga_ids_follow_execution_name_rules() {
        assert!(SagaId::new("trip-42_a").is_ok());
        assert!(SagaId::new("").is_err());
        assert!(SagaId::new("a/b").is_err());
        assert!(SagaId::new("x".repeat(81)).is_err());
        assert!(SagaId::new(SagaId::random().to_string()).is_ok());
    }

    #[tokio::test]
    async fn context_is_visible_only_inside_the_scope() {
        assert_eq!(StepContext::current(), None);
        let ctx = StepContext::new(SagaId::new("s1").unwrap(), "pay", 2, Direction::Forward);
        let seen = ctx.clone().scope(async { StepContext::current() }).await;
        assert_eq!(seen, Some(ctx));
        assert_eq!(seen.unwrap().idempotency_key(), "s1/pay");
    }
}
