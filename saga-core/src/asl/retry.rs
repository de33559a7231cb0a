//! The failure rules of [`crate::failure`] written out as ASL `Retry` and
//! `Catch` lists. The executor follows the same phases, so both engines
//! classify an error by its name, count its retries and route it alike.
//!
//! ASL matches exact error names only, so each error class becomes the list
//! of its known names ([`ErrorNames`]); a name an earlier retrier or catcher
//! already takes is left out of the later ones, which could never see it.

use std::collections::HashSet;

use crate::error::names;
use crate::failure::{Catcher as Rule, Exit, LAMBDA_SERVICE_ERRORS, Matcher, Phase};
use crate::retry::{Jitter, RetryPolicy};

use super::check::STATES_ALL;
use super::model::{Catcher, JitterStrategy, ResultPath, Retrier};

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
        ErrorNames {
            terminal,
            retryable,
        }
    }

    /// The names `matcher` takes.
    fn of(&self, matcher: Matcher) -> Vec<String> {
        match matcher {
            Matcher::Terminal => self.terminal.clone(),
            Matcher::Retryable => self.retryable.clone(),
            Matcher::TerminalOrRetryable => self
                .terminal
                .iter()
                .chain(&self.retryable)
                .cloned()
                .collect(),
            Matcher::LambdaService => LAMBDA_SERVICE_ERRORS
                .iter()
                .map(|n| (*n).to_owned())
                .collect(),
            Matcher::All => vec![STATES_ALL.to_owned()],
        }
    }
}

/// The names of each matcher in `matchers`, without those an earlier one takes.
fn exclusive(names: &ErrorNames, matchers: impl Iterator<Item = Matcher>) -> Vec<Vec<String>> {
    let mut seen = HashSet::new();
    matchers
        .map(|m| {
            let mut list = names.of(m);
            list.retain(|n| n == STATES_ALL || seen.insert(n.clone()));
            list
        })
        .collect()
}

fn retrier(error_equals: Vec<String>, policy: &RetryPolicy) -> Retrier {
    if policy.max_attempts == 0 {
        return Retrier {
            error_equals,
            interval_seconds: None,
            max_attempts: 0,
            backoff_rate: None,
            max_delay_seconds: None,
            jitter_strategy: None,
        };
    }
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

/// The `Retry` list of `phase` for a step whose own policy is `policy`.
pub(super) fn retry(names: &ErrorNames, phase: Phase, policy: &RetryPolicy) -> Vec<Retrier> {
    let retriers = phase.retriers(*policy);
    let lists = exclusive(names, retriers.iter().map(|r| r.matcher));
    retriers
        .iter()
        .zip(lists)
        .filter(|(_, list)| !list.is_empty())
        .map(|(r, list)| retrier(list, &r.policy))
        .collect()
}

/// The state each way out of a phase leads to.
pub(super) struct Exits<'a> {
    /// The first compensation to run, or the `Compensated` Fail.
    pub unwind: &'a str,
    /// The step's resolve state (forward steps before the pivot only).
    pub resolve: Option<&'a str>,
    /// The `Stuck` Fail, or for a compensation the `CompensationFailed` Fail.
    pub stuck: &'a str,
}

/// The `Catch` list of `phase`, keeping the error at `path`.
pub(super) fn catch(
    names: &ErrorNames,
    phase: Phase,
    exits: &Exits<'_>,
    path: &str,
) -> Vec<Catcher> {
    let rules: Vec<Rule> = phase.catchers();
    let lists = exclusive(names, rules.iter().map(|c| c.matcher));
    rules
        .iter()
        .zip(lists)
        .filter(|(_, list)| !list.is_empty())
        .map(|(rule, error_equals)| Catcher {
            error_equals,
            next: match rule.exit {
                Exit::Unwind => exits.unwind,
                Exit::Resolve => exits.resolve.unwrap_or(exits.stuck),
                Exit::Stuck => exits.stuck,
            }
            .to_owned(),
            result_path: Some(ResultPath::Path(path.to_owned())),
        })
        .collect()
}

/// The longest a Task can take: every attempt allowed by all its retriers
/// times out, and every retry waits its longest.
pub(super) fn worst_case_seconds(retry: &[Retrier], timeout_seconds: u32) -> u64 {
    let attempts = 1 + retry.iter().map(|r| u64::from(r.max_attempts)).sum::<u64>();
    let waits: f64 = retry.iter().map(total_wait).sum();
    // `as` saturates: an unbounded budget is u64::MAX, above any timeout.
    attempts
        .saturating_mul(u64::from(timeout_seconds))
        .saturating_add(waits.ceil() as u64)
}

/// The longest one retrier waits over all its retries. Once the waits stop
/// growing (capped, or a rate of 1) the rest are added at once, so a huge
/// `MaxAttempts` costs no more than the waits' growth.
fn total_wait(r: &Retrier) -> f64 {
    // Beyond this a wait is out of any valid budget; stop counting.
    const UNBOUNDED: f64 = 1e15;
    let rate = r.backoff_rate.unwrap_or(2.0);
    let cap = r.max_delay_seconds.map(f64::from);
    let mut wait = f64::from(r.interval_seconds.unwrap_or(1));
    let mut total = 0.0;
    for k in 0..r.max_attempts {
        let capped = cap.map_or(wait, |c| wait.min(c));
        // A rate of 1 (or a NaN one) never grows the wait.
        let grows = rate.partial_cmp(&1.0) == Some(std::cmp::Ordering::Greater);
        if !grows || cap.is_some_and(|c| capped >= c) || capped > UNBOUNDED {
            return total + capped * f64::from(r.max_attempts - k);
        }
        total += capped;
        wait *= rate;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::LAMBDA_SERVICE_RETRY;

    fn all() -> Vec<String> {
        vec![STATES_ALL.to_owned()]
    }

    #[test]
    fn worst_case_counts_every_retrier_and_caps_waits() {
        let policy = RetryPolicy {
            max_attempts: 3,
            interval_seconds: 1,
            backoff_rate: 2.0,
            max_delay_seconds: Some(3),
            jitter: Jitter::Full,
        };
        let names = ErrorNames::new(&[], &[]);
        let retry = retry(&names, Phase::Compensation, &policy);
        // The service retrier: 6 retries waiting 2, 4, ..., 64 s; then the
        // compensation's 3 retries waiting 1, 2, 3 s: 10 attempts of 10 s.
        assert_eq!(worst_case_seconds(&retry, 10), 100 + 126 + 6);
    }

    #[test]
    fn worst_case_of_huge_budgets_is_quick_and_saturates() {
        let retrier = |max_attempts, rate, cap| Retrier {
            error_equals: all(),
            interval_seconds: Some(1),
            max_attempts,
            backoff_rate: Some(rate),
            max_delay_seconds: cap,
            jitter_strategy: None,
        };
        // Capped: 1 + 2 + 4 + ... until 60, then 60 each.
        let capped = retrier(u32::MAX, 2.0, Some(60));
        let waits = 1 + 2 + 4 + 8 + 16 + 32 + 60 * (u64::from(u32::MAX) - 6);
        assert_eq!(
            worst_case_seconds(&[capped], 1),
            u64::from(u32::MAX) + 1 + waits
        );
        // A rate of 1: every wait is the interval.
        assert_eq!(worst_case_seconds(&[retrier(10, 1.0, None)], 2), 22 + 10);
        // Uncapped doubling overflows any budget, and saturates.
        assert_eq!(
            worst_case_seconds(&[retrier(u32::MAX, 2.0, None)], 1),
            u64::MAX
        );
    }

    #[test]
    fn terminal_names_are_never_retried_and_unwind() {
        let names = ErrorNames::new(&["Saga.Terminal.CardDeclined".to_owned()], &[]);
        let retry = retry(&names, Phase::Try, &RetryPolicy::DEFAULT);
        assert_eq!(retry[0].max_attempts, 0);
        assert!(
            retry[0]
                .error_equals
                .contains(&"Saga.Terminal.CardDeclined".to_owned())
        );
        assert_eq!(retry[1].max_attempts, LAMBDA_SERVICE_RETRY.max_attempts);
        // The try retries retryable names only: ambiguous ones are resolved.
        assert!(retry[2].error_equals.contains(&"Saga.Retryable".to_owned()));
        assert!(
            !retry[2]
                .error_equals
                .contains(&"Lambda.TooManyRequestsException".to_owned()),
            "the service retrier already takes it"
        );
        let exits = Exits {
            unwind: "undo",
            resolve: Some("resolve"),
            stuck: "stuck",
        };
        let catch = catch(&names, Phase::Try, &exits, ERROR_PATH);
        assert_eq!(catch[0].next, "undo");
        assert!(catch[0].error_equals.contains(&"Saga.Retryable".to_owned()));
        assert_eq!(
            (catch[1].error_equals.clone(), catch[1].next.as_str()),
            (all(), "resolve")
        );
        let catch = super::catch(&names, Phase::Resolve, &exits, ERROR_PATH);
        assert!(!catch[0].error_equals.contains(&"Saga.Retryable".to_owned()));
        assert_eq!(
            (catch[1].error_equals.clone(), catch[1].next.as_str()),
            (all(), "stuck")
        );
    }
}
