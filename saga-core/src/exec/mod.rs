//! The in-process executor: runs a saga's steps forward, unwinds with
//! compensations on failure, and records every transition in the saga log first.

mod cancel;
mod driver;
mod invoke;
mod jitter;
mod join;
mod ops;
mod outcome;
mod registry;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::{Arc, Mutex};

pub use cancel::{CancelError, Cancelled};
pub use ops::{Recovered, RecoveryReport};
pub use outcome::{SagaError, SagaOutcome};
pub use registry::Registry;

use crate::context::SagaId;
use crate::history::{PayloadKind, Redactor};
use crate::invoke::{Bindings, PreflightError, PreflightFailure, Remote};
use crate::log::{IdHasher, InMemoryLog, SagaLog};
use crate::retry::RetryPolicy;
use crate::saga::Saga;
use crate::step::Step;
use jitter::JitterSource;

/// Runs sagas. Cheap to clone; clones share the saga log.
///
/// ```
/// # use saga_core::prelude::*;
/// let runtime = Runtime::in_memory();
/// let custom = Runtime::builder()
///     .log(InMemoryLog::new())
///     .compensation_retry(RetryPolicy { max_attempts: 5, ..RetryPolicy::COMPENSATION })
///     .jitter_seed(42)
///     .build();
/// # let _ = (runtime, custom);
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    log: Arc<dyn SagaLog>,
    bindings: Bindings,
    compensation_retry: RetryPolicy,
    jitter: JitterSource,
    registry: Registry,
    redact: Option<Redactor>,
    /// The sagas this runtime is driving now: recovery leaves them alone.
    active: Mutex<ActiveSet>,
}

type ActiveSet = HashMap<SagaId, Arc<Slot>, BuildHasherDefault<IdHasher>>;

impl Inner {
    fn active(&self) -> std::sync::MutexGuard<'_, ActiveSet> {
        // The map is only inserted into and removed from: a panic cannot
        // leave it half-changed.
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks saga `id` as driven by this runtime until the guard drops.
    fn claim(&self, id: &SagaId) -> Result<Claim<'_>, SagaError> {
        let mut active = self.active();
        if active.contains_key(id) {
            return Err(SagaError::Busy(id.clone()));
        }
        let slot = Arc::new(Slot::default());
        active.insert(id.clone(), slot.clone());
        Ok(Claim {
            inner: self,
            id: id.clone(),
            slot,
        })
    }

    fn is_active(&self, id: &SagaId) -> bool {
        self.active().contains_key(id)
    }

    /// The slot of saga `id`, while this runtime drives it.
    fn slot(&self, id: &SagaId) -> Option<Arc<Slot>> {
        self.active().get(id).cloned()
    }
}

/// A saga this runtime is driving; released on drop.
struct Claim<'a> {
    inner: &'a Inner,
    id: SagaId,
    slot: Arc<Slot>,
}

/// What a running saga shares with [`Runtime::cancel`].
#[derive(Default)]
struct Slot {
    /// Held while a step starts and while a cancellation is recorded, so the
    /// log sees one or the other first, never a step started after the
    /// saga was cancelled.
    gate: tokio::sync::Mutex<()>,
    /// The cancellation's reason, once the log recorded it.
    cancelled: Mutex<Option<String>>,
}

impl Slot {
    fn cancelled(&self) -> Option<String> {
        self.cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn cancel(&self, reason: String) {
        *self.cancelled.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.inner.active().remove(&self.id);
    }
}

impl Runtime {
    /// A runtime with an in-memory saga log and default settings.
    pub fn in_memory() -> Runtime {
        Runtime::builder().build()
    }

    /// Configures a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder {
            log: None,
            bindings: Bindings::default(),
            compensation_retry: RetryPolicy::COMPENSATION,
            jitter_seed: None,
            registry: Registry::new(),
            redact: None,
        }
    }

    /// The sagas this runtime can resume from the log.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The saga log.
    pub fn log(&self) -> &dyn SagaLog {
        &*self.inner.log
    }

    /// Checks, without running anything, that this runtime can run saga `S`:
    /// every step without a body is bound to a remote function, and
    /// fire-and-forget bindings sit only on retriable steps whose output is
    /// not needed. `run` performs the same check first.
    pub fn check<S: Saga>(&self) -> Result<(), SagaError> {
        let def = S::definition();
        let problems = self.inner.bindings.check(def);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SagaError::Config {
                saga: def.name,
                problems,
            })
        }
    }

    /// Asks every remote function bound to a step or compensation of saga `S`
    /// whether it may be invoked, without running any (Lambda `DryRun`).
    /// Every failure is listed.
    pub async fn preflight<S: Saga>(&self) -> Result<(), PreflightError> {
        let def = S::definition();
        let mut failures = Vec::new();
        for (step, remote) in self.inner.bindings.remotes(def) {
            if let Err(error) = remote.invoker.preflight(&remote.target).await {
                failures.push(PreflightFailure {
                    step,
                    target: remote.target.name.clone(),
                    error,
                });
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(PreflightError {
                saga: def.name,
                failures,
            })
        }
    }

    /// The table of remote bindings.
    pub fn bindings(&self) -> &Bindings {
        &self.inner.bindings
    }

    /// The retry policy of every compensation.
    pub fn compensation_retry(&self) -> RetryPolicy {
        self.inner.compensation_retry
    }

    /// Runs saga `S` with a fresh random id.
    pub async fn run<S: Saga>(&self, input: S::Input) -> Result<SagaOutcome<S::Output>, SagaError> {
        self.run_with_id::<S>(SagaId::random(), input).await
    }

    /// Runs saga `S` under `id`. The id must be new to the saga log.
    pub async fn run_with_id<S: Saga>(
        &self,
        id: SagaId,
        input: S::Input,
    ) -> Result<SagaOutcome<S::Output>, SagaError> {
        driver::run::<S>(self, id, input).await
    }
}

/// Builds a [`Runtime`].
pub struct RuntimeBuilder {
    log: Option<Arc<dyn SagaLog>>,
    bindings: Bindings,
    compensation_retry: RetryPolicy,
    jitter_seed: Option<u64>,
    registry: Registry,
    redact: Option<Redactor>,
}

impl RuntimeBuilder {
    /// The saga log (default: a new [`InMemoryLog`]).
    pub fn log(mut self, log: impl SagaLog) -> Self {
        self.log = Some(Arc::new(log));
        self
    }

    /// A saga log shared with other owners.
    pub fn shared_log(mut self, log: Arc<dyn SagaLog>) -> Self {
        self.log = Some(log);
        self
    }

    /// The retry policy of every compensation (default: [`RetryPolicy::COMPENSATION`]).
    /// Compensations are retried on every error; when the policy is exhausted the
    /// saga becomes stuck.
    pub fn compensation_retry(mut self, policy: RetryPolicy) -> Self {
        self.compensation_retry = policy;
        self
    }

    /// Runs step `S` on a remote function instead of its in-process body.
    pub fn bind<S: Step>(mut self, remote: Remote) -> Self {
        self.bindings.bind(S::NAME, remote);
        self
    }

    /// Runs the compensation of step `S` on a remote function.
    pub fn bind_compensation<S: Step>(mut self, remote: Remote) -> Self {
        self.bindings.bind_compensation(S::NAME, remote);
        self
    }

    /// Replaces the whole binding table, e.g. one built from configuration.
    pub fn bindings(mut self, bindings: Bindings) -> Self {
        self.bindings = bindings;
        self
    }

    /// Lets the runtime resume saga `S` from the log: [`Runtime::recover`],
    /// [`Runtime::resume`]. Register every saga the log may hold.
    pub fn register<S: Saga>(mut self) -> Self {
        self.registry.register::<S>();
        self
    }

    /// Adds every saga of `registry`.
    pub fn registry(mut self, registry: &Registry) -> Self {
        self.registry.extend(registry);
        self
    }

    /// Rewrites payloads (the input, step outputs) in execution histories,
    /// reports and diagrams, e.g. to mask card numbers. Off by default; the
    /// saga log itself always keeps the real values.
    pub fn redact(
        mut self,
        hook: impl Fn(PayloadKind, &serde_json::Value) -> serde_json::Value + Send + Sync + 'static,
    ) -> Self {
        self.redact = Some(std::sync::Arc::new(hook));
        self
    }

    /// Seeds the jitter source, for reproducible retry timing.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// The runtime.
    pub fn build(self) -> Runtime {
        Runtime {
            inner: Arc::new(Inner {
                log: self.log.unwrap_or_else(|| Arc::new(InMemoryLog::new())),
                bindings: self.bindings,
                compensation_retry: self.compensation_retry,
                jitter: self
                    .jitter_seed
                    .map_or_else(JitterSource::from_entropy, JitterSource::new),
                registry: self.registry,
                redact: self.redact,
                active: Mutex::default(),
            }),
        }
    }
}
