//! Scripted steps for executor tests: each step looks up what to do on its
//! current attempt in the saga input, and records what it did in a journal
//! keyed by saga id, so tests running in parallel never see each other.
#![allow(dead_code)]

pub mod moto;
pub mod tools;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use saga_core::prelude::*;
use serde::{Deserialize, Serialize};

/// What one attempt of a step or compensation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Behavior {
    Ok,
    Retryable,
    Terminal,
    Ambiguous,
    /// Sleeps this many seconds, then succeeds (or times out first).
    Sleep(u64),
    Panic,
}

/// The script of one saga run: per step (or `undo:step`), one behaviour per attempt;
/// attempts past the end of the list succeed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Plan {
    pub script: BTreeMap<String, Vec<Behavior>>,
}

impl Plan {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, key: &str, behaviors: &[Behavior]) -> Self {
        self.script.insert(key.to_owned(), behaviors.to_vec());
        self
    }
}

/// One journal line: what ran, in which direction, on which attempt, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub saga: String,
    pub step: String,
    pub direction: Direction,
    pub attempt: u32,
    pub key: String,
    pub ok: bool,
    /// When the effect started, on the shared [`tick`] clock.
    pub tick: u64,
}

static CLOCK: AtomicU64 = AtomicU64::new(0);

/// A global logical clock, to order effects against saga log appends.
pub fn tick() -> u64 {
    CLOCK.fetch_add(1, Ordering::SeqCst)
}

static JOURNAL: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// The journal of saga `id`.
pub fn journal(id: &SagaId) -> Vec<Entry> {
    JOURNAL
        .lock()
        .expect("journal lock")
        .iter()
        .filter(|e| e.saga == id.as_str())
        .cloned()
        .collect()
}

/// Forward effects that succeeded, in order.
pub fn succeeded(id: &SagaId) -> Vec<String> {
    journal(id)
        .into_iter()
        .filter(|e| e.direction == Direction::Forward && e.ok)
        .map(|e| e.step)
        .collect()
}

/// Compensations that succeeded, in order.
pub fn compensated(id: &SagaId) -> Vec<String> {
    journal(id)
        .into_iter()
        .filter(|e| e.direction == Direction::Compensation && e.ok)
        .map(|e| e.step)
        .collect()
}

/// Runs the scripted behaviour for the current invocation and journals it.
pub async fn act(plan: &Plan, value: u64) -> Result<u64, StepError> {
    let ctx = StepContext::current().expect("steps run inside a step context");
    let tick = tick();
    let key = match ctx.direction() {
        Direction::Forward => ctx.step().to_owned(),
        Direction::Compensation => format!("undo:{}", ctx.step()),
    };
    let behavior = plan
        .script
        .get(&key)
        .and_then(|list| list.get(ctx.attempt() as usize - 1))
        .copied()
        .unwrap_or(Behavior::Ok);
    let result = match behavior {
        Behavior::Ok => Ok(value),
        Behavior::Retryable => Err(StepError::retryable("scripted retryable")),
        Behavior::Terminal => Err(StepError::terminal("scripted terminal")),
        Behavior::Ambiguous => Err(StepError::ambiguous("scripted ambiguous")),
        Behavior::Sleep(secs) => {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            Ok(value)
        }
        Behavior::Panic => panic!("scripted panic in {}", ctx.step()),
    };
    JOURNAL.lock().expect("journal lock").push(Entry {
        saga: ctx.saga_id().to_string(),
        step: ctx.step().to_owned(),
        direction: ctx.direction(),
        attempt: ctx.attempt(),
        key: ctx.idempotency_key(),
        ok: result.is_ok(),
        tick,
    });
    result
}

/// Compensations share one body: scripted by `undo:<step>`.
pub async fn undo(plan: &Plan, _output: u64) -> Result<(), StepError> {
    act(plan, 0).await.map(|_| ())
}

/// A runtime whose compensations retry twice, one second apart, without jitter.
pub fn runtime() -> Runtime {
    Runtime::builder()
        .compensation_retry(RetryPolicy {
            max_attempts: 2,
            interval_seconds: 1,
            backoff_rate: 1.0,
            max_delay_seconds: None,
            jitter: Jitter::None,
        })
        .jitter_seed(1)
        .build()
}
