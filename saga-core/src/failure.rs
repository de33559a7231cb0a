//! The failure rules of every engine, as data.
//!
//! A step or compensation runs in one or more *phases*. Each phase is a list
//! of retriers and a list of catchers, with exactly the meaning of an Amazon
//! States Language Task's `Retry` and `Catch`:
//!
//! - an error goes to the first retrier that matches it; each retrier counts
//!   its own retries, and while its budget lasts the call is repeated after
//!   that retrier's backoff;
//! - once the matching retrier is spent (or none matches), the error goes to
//!   the first catcher that matches it, which says how the phase ends.
//!
//! The executor follows these lists and the ASL generator writes them out, so
//! both engines retry the same errors the same number of times and route them
//! to the same place. The phases:
//!
//! | phase | Retry | Catch |
//! | --- | --- | --- |
//! | [`Phase::Try`] (compensatable or pivot step) | terminal: never; Lambda service errors: AWS's policy; retryable: the step's policy | terminal, retryable → unwind; anything else (ambiguous) → resolve |
//! | [`Phase::Resolve`] (the same step, after an ambiguous error) | terminal: never; Lambda service errors: AWS's policy; anything else: the step's policy | terminal → unwind; anything else → stuck |
//! | [`Phase::Retriable`] (a step after the pivot) | Lambda service errors: AWS's policy; anything else: the step's policy | anything → stuck |
//! | [`Phase::Compensation`] | Lambda service errors: AWS's policy; anything else: the compensation policy | anything → stuck |
//!
//! The resolve phase is how an ambiguous outcome is settled: the step is
//! re-invoked with the same idempotency key, and only a success or a terminal
//! error (which by contract means "not done") settles it. A retryable error
//! says nothing about the earlier attempt, so a budget spent on retryable
//! errors there leaves the saga stuck rather than compensating on a guess.

use crate::error::{ErrorClass, StepError};
use crate::retry::RetryPolicy;

/// The Lambda service errors AWS recommends retrying on every Lambda Task,
/// as Step Functions names them.
pub const LAMBDA_SERVICE_ERRORS: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
];

/// AWS's recommended retry of Lambda service errors: 6 retries, from 2 s, doubling.
pub const LAMBDA_SERVICE_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 6,
    interval_seconds: 2,
    backoff_rate: 2.0,
    max_delay_seconds: None,
    jitter: crate::retry::Jitter::None,
};

/// Which errors a retrier or catcher takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matcher {
    /// Errors of the terminal class.
    Terminal,
    /// Errors of the retryable class.
    Retryable,
    /// Errors of the terminal or the retryable class.
    TerminalOrRetryable,
    /// The Lambda service errors of [`LAMBDA_SERVICE_ERRORS`], by name.
    LambdaService,
    /// Every error (`States.ALL`).
    All,
}

impl Matcher {
    /// Whether `error` is one this matcher takes.
    pub fn matches(self, error: &StepError) -> bool {
        match self {
            Matcher::Terminal => error.class() == ErrorClass::Terminal,
            Matcher::Retryable => error.class() == ErrorClass::Retryable,
            Matcher::TerminalOrRetryable => error.class() != ErrorClass::Ambiguous,
            Matcher::LambdaService => LAMBDA_SERVICE_ERRORS.contains(&error.name()),
            Matcher::All => true,
        }
    }
}

/// How a phase ends once an error is caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The step changed nothing: compensate the completed steps before it.
    Unwind,
    /// The outcome is unknown: re-invoke the step in [`Phase::Resolve`].
    Resolve,
    /// The saga cannot go on: it is stuck (for a compensation: the
    /// compensation failed).
    Stuck,
}

/// One retrier: the errors it takes and how it retries them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retrier {
    /// The errors it takes.
    pub matcher: Matcher,
    /// How often and how long apart (`max_attempts` 0: never).
    pub policy: RetryPolicy,
}

/// One catcher: the errors it takes and where they lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Catcher {
    /// The errors it takes.
    pub matcher: Matcher,
    /// How the phase ends.
    pub exit: Exit,
}

/// A phase of one step's or compensation's execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A compensatable or pivot step's first try.
    Try,
    /// A compensatable or pivot step after an ambiguous error.
    Resolve,
    /// A retriable step.
    Retriable,
    /// A compensation.
    Compensation,
}

impl Phase {
    /// The phase's retriers, in order, for a step (or compensation) whose own
    /// policy is `policy`.
    pub fn retriers(self, policy: RetryPolicy) -> Vec<Retrier> {
        let never = Retrier {
            matcher: Matcher::Terminal,
            policy: RetryPolicy::NEVER,
        };
        let service = Retrier {
            matcher: Matcher::LambdaService,
            policy: LAMBDA_SERVICE_RETRY,
        };
        let own = |matcher| Retrier { matcher, policy };
        match self {
            Phase::Try => vec![never, service, own(Matcher::Retryable)],
            Phase::Resolve => vec![never, service, own(Matcher::All)],
            Phase::Retriable | Phase::Compensation => vec![service, own(Matcher::All)],
        }
    }

    /// The phase's catchers, in order; the last takes every error.
    pub fn catchers(self) -> Vec<Catcher> {
        let catch = |matcher, exit| Catcher { matcher, exit };
        match self {
            Phase::Try => vec![
                catch(Matcher::TerminalOrRetryable, Exit::Unwind),
                catch(Matcher::All, Exit::Resolve),
            ],
            Phase::Resolve => vec![
                catch(Matcher::Terminal, Exit::Unwind),
                catch(Matcher::All, Exit::Stuck),
            ],
            Phase::Retriable | Phase::Compensation => vec![catch(Matcher::All, Exit::Stuck)],
        }
    }

    /// Where `error` leads once it is no longer retried.
    pub fn exit(self, error: &StepError) -> Exit {
        self.catchers()
            .into_iter()
            .find(|c| c.matcher.matches(error))
            .map_or(Exit::Stuck, |c| c.exit)
    }
}

/// The retry counters of one phase, one per retrier, as ASL keeps them.
#[derive(Debug)]
pub struct Counters {
    retriers: Vec<Retrier>,
    used: Vec<u32>,
}

impl Counters {
    /// Fresh counters for `phase` under `policy`.
    pub fn new(phase: Phase, policy: RetryPolicy) -> Self {
        let retriers = phase.retriers(policy);
        let used = vec![0; retriers.len()];
        Counters { retriers, used }
    }

    /// If `error` is to be retried: the retrier's policy and the number of the
    /// retry (1-based) for its backoff. Counts the retry.
    pub fn retry(&mut self, error: &StepError) -> Option<(RetryPolicy, u32)> {
        let i = self
            .retriers
            .iter()
            .position(|r| r.matcher.matches(error))?;
        let policy = self.retriers[i].policy;
        if self.used[i] >= policy.max_attempts {
            return None;
        }
        self.used[i] += 1;
        Some((policy, self.used[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            ..RetryPolicy::DEFAULT
        }
    }

    #[test]
    fn each_retrier_counts_on_its_own() {
        let mut c = Counters::new(Phase::Try, policy(1));
        let busy = StepError::retryable("busy");
        let throttled = StepError::from_remote("Lambda.TooManyRequestsException", "slow down");
        assert_eq!(c.retry(&busy).map(|(_, n)| n), Some(1));
        assert_eq!(c.retry(&busy), None, "the step's budget of 1 is spent");
        // The service retrier has its own budget, AWS's.
        assert_eq!(
            c.retry(&throttled),
            Some((LAMBDA_SERVICE_RETRY, 1)),
            "{throttled:?}"
        );
    }

    #[test]
    fn terminal_errors_are_never_retried() {
        for phase in [Phase::Try, Phase::Resolve] {
            let mut c = Counters::new(phase, policy(5));
            assert_eq!(c.retry(&StepError::terminal("no")), None);
        }
        let mut c = Counters::new(Phase::Retriable, policy(5));
        assert!(c.retry(&StepError::terminal("no")).is_some());
    }

    #[test]
    fn ambiguous_errors_are_resolved_not_retried_in_the_try() {
        let timeout = StepError::timeout("late");
        let mut c = Counters::new(Phase::Try, policy(5));
        assert_eq!(c.retry(&timeout), None);
        assert_eq!(Phase::Try.exit(&timeout), Exit::Resolve);
        assert_eq!(Phase::Try.exit(&StepError::retryable("x")), Exit::Unwind);
        // In the resolve phase only a terminal error unwinds.
        assert_eq!(Phase::Resolve.exit(&StepError::retryable("x")), Exit::Stuck);
        assert_eq!(Phase::Resolve.exit(&StepError::terminal("x")), Exit::Unwind);
        assert_eq!(Phase::Resolve.exit(&timeout), Exit::Stuck);
    }

    #[test]
    fn every_phase_catches_everything_last() {
        for phase in [
            Phase::Try,
            Phase::Resolve,
            Phase::Retriable,
            Phase::Compensation,
        ] {
            assert_eq!(
                phase.catchers().last().map(|c| c.matcher),
                Some(Matcher::All)
            );
        }
    }
}
