//! The failure plan: what every step and compensation does, as a
//! deterministic function of the plan seed, the saga id and the step, so a
//! re-invocation after a recovery behaves as the first invocation did. Also
//! the harness's small random source.

use saga_core::names;
use saga_core::prelude::*;

/// The saga's steps, in order: three compensatable steps, the pivot, and
/// one retriable step.
pub const STEPS: [&str; 5] = ["reserve", "hold", "debit", "commit", "notify"];
/// Steps `0..COMPENSATABLE` are compensatable.
pub const COMPENSATABLE: usize = 3;
/// The pivot's index.
pub const PIVOT: usize = 3;

/// The index of step `name` in [`STEPS`].
pub fn index(name: &str) -> usize {
    STEPS
        .iter()
        .position(|s| *s == name)
        .unwrap_or_else(|| panic!("unknown step {name}"))
}

/// SplitMix64's finaliser.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn hash(seed: u64, saga: &str, step: &str, salt: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ mix(seed);
    for part in [saga, step, salt] {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    mix(h)
}

/// A number in `[0, 1)`, fixed by its arguments.
fn unit(seed: u64, saga: &str, step: &str, salt: &str) -> f64 {
    (hash(seed, saga, step, salt) >> 11) as f64 / (1u64 << 53) as f64
}

/// The output step `step` of saga `saga` returns; later steps and the
/// compensations check that they are handed exactly this.
pub fn output(saga: &str, step: &str) -> u64 {
    hash(0, saga, step, "output") >> 1
}

/// What a step does when invoked for the `call`-th time (from 1) under one
/// idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Applies its effect and succeeds.
    Ok,
    /// A business rejection: changes nothing, every time.
    Terminal,
    /// Applies its effect, then loses the answer on the first call; later
    /// calls find the effect and succeed.
    AmbiguousAfterEffect,
    /// Changes nothing, loses the answer on the first call, and rejects
    /// every later call.
    AmbiguousThenTerminal,
    /// Fails retryably, changing nothing, on its first `n` calls; then
    /// applies its effect and succeeds.
    RetryableFirst(u64),
}

impl Forward {
    /// Whether call number `call` applies the effect.
    pub fn applies(self, call: u64) -> bool {
        match self {
            Forward::Ok | Forward::AmbiguousAfterEffect => true,
            Forward::Terminal | Forward::AmbiguousThenTerminal => false,
            Forward::RetryableFirst(n) => call > n,
        }
    }

    /// The answer of call number `call`.
    pub fn answer(self, call: u64) -> Result<(), StepError> {
        match self {
            Forward::Ok => Ok(()),
            Forward::Terminal => Err(StepError::terminal("rejected")),
            Forward::AmbiguousAfterEffect if call == 1 => Err(StepError::new(
                ErrorClass::Ambiguous,
                names::AMBIGUOUS,
                "applied, then lost the answer",
            )),
            Forward::AmbiguousAfterEffect => Ok(()),
            Forward::AmbiguousThenTerminal if call == 1 => {
                Err(StepError::ambiguous("lost the answer before applying"))
            }
            Forward::AmbiguousThenTerminal => Err(StepError::terminal("rejected on resolve")),
            Forward::RetryableFirst(n) if call <= n => Err(StepError::retryable("busy")),
            Forward::RetryableFirst(_) => Ok(()),
        }
    }

    /// Whether the step ends in a rejection, so the saga must unwind at it.
    pub fn rejects(self) -> bool {
        matches!(self, Forward::Terminal | Forward::AmbiguousThenTerminal)
    }
}

/// What step `step` (an index into [`STEPS`]) of saga `saga` does.
pub fn forward(seed: u64, saga: &str, step: usize) -> Forward {
    let u = unit(seed, saga, STEPS[step], "forward");
    let pick = |terminal: f64, then_terminal: f64, ambiguous: f64| {
        if u < terminal {
            Forward::Terminal
        } else if u < terminal + then_terminal {
            Forward::AmbiguousThenTerminal
        } else if u < terminal + then_terminal + ambiguous {
            Forward::AmbiguousAfterEffect
        } else {
            Forward::Ok
        }
    };
    match step {
        s if s < COMPENSATABLE => pick(0.04, 0.03, 0.10),
        PIVOT => pick(0.12, 0.04, 0.08),
        // Rare: every retry of a retriable step waits at least part of a
        // second (an ASL `IntervalSeconds` is at least 1).
        _ if u < 0.0015 => Forward::RetryableFirst(1),
        _ if u < 0.003 => Forward::AmbiguousAfterEffect,
        _ => Forward::Ok,
    }
}

/// What a compensation does when invoked for the `call`-th time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo {
    /// Applies its effect and succeeds.
    Ok,
    /// Fails retryably, changing nothing, on its first call.
    FailFirst,
    /// Applies its effect, then loses the answer on its first call.
    AmbiguousAfterEffect,
}

impl Undo {
    /// Whether call number `call` applies the effect.
    pub fn applies(self, call: u64) -> bool {
        !(self == Undo::FailFirst && call == 1)
    }

    /// The answer of call number `call`.
    pub fn answer(self, call: u64) -> Result<(), StepError> {
        match self {
            Undo::FailFirst if call == 1 => Err(StepError::retryable("busy")),
            Undo::AmbiguousAfterEffect if call == 1 => {
                Err(StepError::ambiguous("undone, then lost the answer"))
            }
            _ => Ok(()),
        }
    }
}

/// What the compensation of step `step` of saga `saga` does.
pub fn undo(seed: u64, saga: &str, step: usize) -> Undo {
    let u = unit(seed, saga, STEPS[step], "undo");
    if u < 0.15 {
        Undo::FailFirst
    } else if u < 0.25 {
        Undo::AmbiguousAfterEffect
    } else {
        Undo::Ok
    }
}

/// The step at which saga `saga` must unwind, if any: its first step up to
/// the pivot that rejects.
pub fn unwinds_at(seed: u64, saga: &str) -> Option<usize> {
    (0..=PIVOT).find(|&k| forward(seed, saga, k).rejects())
}

/// xorshift64*.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(mix(seed) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}
