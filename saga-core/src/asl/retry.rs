//! The failure rules of the executor (DESIGN §4) as ASL `Retry` and `Catch`
//! lists, so both engines classify an error by its name in the same way:
//!
//! - terminal names are never retried, and lead to the compensation chain;
//! - retryable names are retried, and once the budget is spent lead to the
//!   compensation chain, like a terminal error;
//! - every other name leaves the outcome unknown (ambiguous): it is retried,
//!   and once the budget is spent the saga is stuck, with nothing compensated;
//! - retriable steps and compensations retry every error, then are stuck.

use crate::error::names;
use crate::retry::{Jitter, RetryPolicy};

use super::check::STATES_ALL;
use super::model::{Catcher, JitterStrategy, ResultPath, Retrier};

/// The Lambda service errors AWS recommends retrying on every Lambda Task.
pub const LAMBDA_SERVICE_ERRORS: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
];

/// Where a caught error is kept, for the final Fail's `Cause`.
pub(super) const ERROR_PATH: &str = "$.error";
/// Where a compensation's caught error is kept (the original stays in `$.error`).
pub(super) const COMPENSATION_ERROR_PATH: &str = "$.compensation_error";

/// The error names of each class, as exact names (ASL has no prefix match).
#[derive(Debug, Clone)]
pub(super) struct ErrorNames {
    terminal: Vec<String>,
    retryable: Vec<String>,
}

impl ErrorNames {
    /// The built-in vocabulary plus the caller's own names.
    pub(super) fn new(extra_terminal: &[String], extra_retryable: &[String]) -> Self {
        let owned = |list: &[&str]| list.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let mut terminal = vec![names::TERMINAL.to_owned()];
        terminal.extend(owned(names::CONTRACT_TERMINAL));
        terminal.extend(owned(names::LAMBDA_TERMINAL));
        terminal.extend(extra_terminal.iter().cloned());
        let mut retryable = vec![names::RETRYABLE.to_owned()];
        retryable.extend(owned(names::LAMBDA_RETRYABLE));
        retryable.extend(extra_retryable.iter().cloned());
        dedup(&mut terminal);
        dedup(&mut retryable);
        ErrorNames {
            terminal,
            retryable,
        }
    }
}

fn dedup(list: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    list.retain(|n| seen.insert(n.clone()));
}

fn retrier(error_equals: Vec<String>, policy: &RetryPolicy) -> Retrier {
    Retrier {
        error_equals,
        interval_seconds: Some(policy.interval_seconds),
        max_attempts: policy.max_attempts,
        backoff_rate: Some(policy.backoff_rate),
        max_delay_seconds: policy.max_delay_seconds,
        jitter_strategy: match policy.jitter {
            Jitter::Full => Some(JitterStrategy::Full),
            Jitter::None => None,
        },
    }
}

fn all() -> Vec<String> {
    vec![STATES_ALL.to_owned()]
}

fn service_errors() -> Vec<String> {
    LAMBDA_SERVICE_ERRORS
        .iter()
        .map(|n| (*n).to_owned())
        .collect()
}

/// The Retry list of a compensatable or pivot step.
pub(super) fn forward_retry(names: &ErrorNames, policy: &RetryPolicy) -> Vec<Retrier> {
    vec![
        Retrier {
            error_equals: names.terminal.clone(),
            interval_seconds: None,
            max_attempts: 0,
            backoff_rate: None,
            max_delay_seconds: None,
            jitter_strategy: None,
        },
        retrier(service_errors(), policy),
        retrier(all(), policy),
    ]
}

/// The Retry list of a retriable step or a compensation: every error.
pub(super) fn retry_everything(policy: &RetryPolicy) -> Vec<Retrier> {
    vec![retrier(service_errors(), policy), retrier(all(), policy)]
}

fn catcher(error_equals: Vec<String>, next: &str, path: &str) -> Catcher {
    Catcher {
        error_equals,
        next: next.to_owned(),
        result_path: Some(ResultPath::Path(path.to_owned())),
    }
}

/// The Catch list of a compensatable or pivot step: a terminal or spent
/// retryable error unwinds from `compensate`; anything else is stuck.
pub(super) fn forward_catch(names: &ErrorNames, compensate: &str, stuck: &str) -> Vec<Catcher> {
    let mut unwind = names.terminal.clone();
    unwind.extend(names.retryable.iter().cloned());
    dedup(&mut unwind);
    vec![
        catcher(unwind, compensate, ERROR_PATH),
        catcher(all(), stuck, ERROR_PATH),
    ]
}

/// The Catch list of a retriable step: past its budget the saga is stuck.
pub(super) fn retriable_catch(stuck: &str) -> Vec<Catcher> {
    vec![catcher(all(), stuck, ERROR_PATH)]
}

/// The Catch list of a compensation: past its budget the saga is stuck.
pub(super) fn compensation_catch(failed: &str) -> Vec<Catcher> {
    vec![catcher(all(), failed, COMPENSATION_ERROR_PATH)]
}

/// The longest a Task can take: every attempt allowed by all its retriers
/// times out, and every retry waits its longest.
pub(super) fn worst_case_seconds(retry: &[Retrier], timeout_seconds: u32) -> u64 {
    let attempts = 1 + retry.iter().map(|r| u64::from(r.max_attempts)).sum::<u64>();
    let waits: f64 = retry
        .iter()
        .map(|r| {
            let interval = f64::from(r.interval_seconds.unwrap_or(1));
            let rate = r.backoff_rate.unwrap_or(2.0);
            (0..r.max_attempts)
                .map(|k| {
                    let wait = interval * rate.powf(f64::from(k));
                    r.max_delay_seconds
                        .map_or(wait, |cap| wait.min(f64::from(cap)))
                })
                .sum::<f64>()
        })
        .sum();
    attempts * u64::from(timeout_seconds) + waits.ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_case_counts_every_retrier_and_caps_waits() {
        let policy = RetryPolicy {
            max_attempts: 3,
            interval_seconds: 1,
            backoff_rate: 2.0,
            max_delay_seconds: Some(3),
            jitter: Jitter::Full,
        };
        // Two retriers of 3 retries: 7 attempts of 10 s, waits 1 + 2 + 3 twice.
        assert_eq!(worst_case_seconds(&retry_everything(&policy), 10), 70 + 12);
    }

    #[test]
    fn terminal_names_are_never_retried_and_unwind() {
        let names = ErrorNames::new(&["Saga.Terminal.CardDeclined".to_owned()], &[]);
        let retry = forward_retry(&names, &RetryPolicy::DEFAULT);
        assert_eq!(retry[0].max_attempts, 0);
        assert!(
            retry[0]
                .error_equals
                .contains(&"Saga.Terminal.CardDeclined".to_owned())
        );
        assert_eq!(retry.last().map(|r| r.error_equals.clone()), Some(all()));
        let catch = forward_catch(&names, "undo", "stuck");
        assert_eq!(catch[0].next, "undo");
        assert!(catch[0].error_equals.contains(&"Saga.Retryable".to_owned()));
        assert_eq!(
            (catch[1].error_equals.clone(), catch[1].next.as_str()),
            (all(), "stuck")
        );
    }
}
