//! Retry policies with the exact meaning of the Amazon States Language `Retry` fields.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the wait before a retry is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Jitter {
    /// Wait exactly the computed delay.
    None,
    /// Wait a uniformly random time between zero and the computed delay (ASL `FULL`).
    Full,
}

/// A retry policy. The fields mean what the ASL `Retry` fields of the same names mean:
///
/// - `max_attempts` counts *retries*, not invocations: 3 means up to 4 calls;
/// - the wait before retry `k` (1-based) is `interval_seconds * backoff_rate^(k-1)`,
///   capped by `max_delay_seconds` when set, then jittered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// How many times to retry after the first attempt (ASL `MaxAttempts`).
    pub max_attempts: u32,
    /// The wait before the first retry, in seconds (ASL `IntervalSeconds`, at least 1).
    pub interval_seconds: u32,
    /// The multiplier applied to the wait after each retry (ASL `BackoffRate`, at least 1.0).
    pub backoff_rate: f64,
    /// An upper bound on any single wait, in seconds (ASL `MaxDelaySeconds`).
    pub max_delay_seconds: Option<u32>,
    /// Randomisation of the wait (ASL `JitterStrategy`).
    pub jitter: Jitter,
}

impl RetryPolicy {
    /// The ASL defaults: 3 retries, 1 s interval, backoff rate 2.0, no cap, no jitter.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        max_attempts: 3,
        interval_seconds: 1,
        backoff_rate: 2.0,
        max_delay_seconds: None,
        jitter: Jitter::None,
    };

    /// The default for retriable steps, which must eventually succeed: 10 retries,
    /// doubling from 1 s, each wait capped at 60 s.
    pub const RETRIABLE: RetryPolicy = RetryPolicy {
        max_attempts: 10,
        interval_seconds: 1,
        backoff_rate: 2.0,
        max_delay_seconds: Some(60),
        jitter: Jitter::Full,
    };

    /// The default for compensations: long, capped retries (20 retries, doubling
    /// from 1 s, each wait capped at 60 s).
    pub const COMPENSATION: RetryPolicy = RetryPolicy {
        max_attempts: 20,
        interval_seconds: 1,
        backoff_rate: 2.0,
        max_delay_seconds: Some(60),
        jitter: Jitter::Full,
    };

    /// A policy that never retries.
    pub const NEVER: RetryPolicy = RetryPolicy {
        max_attempts: 0,
        ..RetryPolicy::DEFAULT
    };

    /// The wait before retry number `retry` (1-based), before jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        const YEAR: f64 = 31_622_400.0;
        let exponent = retry.saturating_sub(1).min(1024) as i32;
        // The fields are public, so any f64 can arrive here: a rate below 1 or
        // NaN counts as 1, and an overflowing product saturates instead of
        // reaching `Duration::from_secs_f64`, which panics on NaN.
        let rate = if self.backoff_rate >= 1.0 {
            self.backoff_rate
        } else {
            1.0
        };
        let mut secs = f64::from(self.interval_seconds) * rate.powi(exponent);
        if secs.is_nan() {
            secs = 0.0;
        }
        if let Some(cap) = self.max_delay_seconds {
            secs = secs.min(f64::from(cap));
        }
        Duration::from_secs_f64(secs.clamp(0.0, YEAR))
    }

    /// The wait before retry number `retry`, with jitter drawn from `unit`, a number in `[0, 1)`.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let base = self.backoff(retry);
        match self.jitter {
            Jitter::None => base,
            // NaN would make `mul_f64` panic; it counts as no wait.
            Jitter::Full if unit.is_nan() => Duration::ZERO,
            Jitter::Full => base.mul_f64(unit.clamp(0.0, 1.0)),
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_asl_formula() {
        let p = RetryPolicy {
            max_attempts: 5,
            interval_seconds: 2,
            backoff_rate: 3.0,
            max_delay_seconds: Some(50),
            jitter: Jitter::None,
        };
        let waits: Vec<u64> = (1..=5).map(|k| p.backoff(k).as_secs()).collect();
        assert_eq!(waits, vec![2, 6, 18, 50, 50]);
    }

    #[test]
    fn full_jitter_stays_within_the_backoff() {
        let p = RetryPolicy {
            jitter: Jitter::Full,
            ..RetryPolicy::DEFAULT
        };
        assert_eq!(p.delay(2, 0.0), Duration::ZERO);
        assert_eq!(p.delay(2, 0.5), Duration::from_secs(1));
        assert_eq!(p.delay(2, 7.0), Duration::from_secs(2));
    }

    #[test]
    fn huge_exponents_saturate_instead_of_panicking() {
        let p = RetryPolicy {
            backoff_rate: 10.0,
            ..RetryPolicy::DEFAULT
        };
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(31_622_400));
    }

    #[test]
    fn hostile_fields_never_panic() {
        for (interval, rate, cap) in [
            (0, f64::INFINITY, None),
            (0, f64::NAN, Some(5)),
            (1, f64::NEG_INFINITY, None),
            (u32::MAX, f64::MAX, None),
        ] {
            let p = RetryPolicy {
                max_attempts: u32::MAX,
                interval_seconds: interval,
                backoff_rate: rate,
                max_delay_seconds: cap,
                jitter: Jitter::Full,
            };
            for k in [1, 2, 1025, u32::MAX] {
                for unit in [0.5, f64::NAN, f64::INFINITY, -1.0] {
                    assert!(p.delay(k, unit) <= p.backoff(k));
                }
            }
        }
    }
}
