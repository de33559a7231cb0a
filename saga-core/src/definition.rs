//! The static definition of a saga: its steps, their kinds, and the data-flow
//! edges between them. `saga!` emits one per saga; the executor, the saga log
//! and (later) the ASL generator and diagrams read it.

use std::sync::OnceLock;

use serde::Serialize;

use crate::retry::RetryPolicy;
use crate::step::{KindMarker, Step, StepKind};

/// Where one argument of a step comes from: a data-flow edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgSource {
    /// The saga's input.
    Input,
    /// The output of the step at this index.
    Step(usize),
}

/// One step of a saga definition.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StepDef {
    /// The step's name, unique within its saga.
    pub name: &'static str,
    /// The step's kind.
    pub kind: StepKind,
    /// The names of the step's parameters, in order.
    pub params: &'static [&'static str],
    /// Where each argument comes from, parallel to `params`.
    pub args: &'static [ArgSource],
    /// False when the step was declared without a body.
    pub has_body: bool,
    /// The step's retry policy.
    pub retry: RetryPolicy,
    /// The per-attempt timeout, in seconds.
    pub timeout_seconds: u32,
    /// Whether the saga names the step's output (`let x = step(..)`), so that
    /// a later step or the saga's result may use it. A step called as a bare
    /// statement has no consumer of its output.
    pub output_named: bool,
    /// Whether the output can be decoded from JSON `null` (true for `()`): a
    /// fire-and-forget invocation, which yields no result, needs that.
    #[serde(skip)]
    pub output_accepts_null: fn() -> bool,
}

impl StepDef {
    /// The definition of step `S`, fed by `args`; `output_named` tells
    /// whether the saga binds its output to a name.
    pub const fn of<S: Step>(args: &'static [ArgSource], output_named: bool) -> StepDef {
        StepDef {
            name: S::NAME,
            kind: <S::Kind as KindMarker>::KIND,
            params: S::PARAMS,
            args,
            has_body: S::HAS_BODY,
            retry: S::RETRY,
            timeout_seconds: S::TIMEOUT_SECONDS,
            output_named,
            output_accepts_null: accepts_null::<S::Output>,
        }
    }
}

fn accepts_null<T: serde::de::DeserializeOwned>() -> bool {
    serde_json::from_value::<T>(serde_json::Value::Null).is_ok()
}

/// A parallel group: the steps `start..end` of one `join!`, which run
/// concurrently. Each step of the group is one branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Group {
    /// The index of the group's first step.
    pub start: usize,
    /// One past the index of its last step.
    pub end: usize,
}

impl Group {
    /// The steps of the group.
    pub fn steps(self) -> std::ops::Range<usize> {
        self.start..self.end
    }

    /// True when step `k` is one of the group's branches.
    pub fn contains(self, k: usize) -> bool {
        self.start <= k && k < self.end
    }
}

/// The static definition of a saga.
#[derive(Debug, Serialize)]
pub struct SagaDefinition {
    /// The saga's name.
    pub name: &'static str,
    /// The name of the saga's input parameter.
    pub input: &'static str,
    /// The steps, in forward order.
    pub steps: &'static [StepDef],
    /// The parallel groups, in order; a step outside them runs alone.
    #[serde(skip_serializing_if = "<[Group]>::is_empty")]
    pub groups: &'static [Group],
    #[serde(skip)]
    hash: OnceLock<String>,
}

impl SagaDefinition {
    /// A definition. Called by `saga!`.
    pub const fn new(
        name: &'static str,
        input: &'static str,
        steps: &'static [StepDef],
    ) -> SagaDefinition {
        SagaDefinition {
            name,
            input,
            steps,
            groups: &[],
            hash: OnceLock::new(),
        }
    }

    /// The same definition with parallel groups. Called by `saga!` for a
    /// saga with `join!`.
    pub const fn parallel(mut self, groups: &'static [Group]) -> SagaDefinition {
        self.groups = groups;
        self
    }

    /// The parallel group step `k` belongs to, if any.
    pub fn group_of(&self, k: usize) -> Option<Group> {
        self.groups.iter().copied().find(|g| g.contains(k))
    }

    /// The steps that start together with step `k`: its group, or `k` alone.
    pub fn stage(&self, k: usize) -> std::ops::Range<usize> {
        self.group_of(k).map_or(k..k + 1, Group::steps)
    }

    /// The groups as the saga log records them: `[start, end]` pairs.
    pub fn group_pairs(&self) -> Vec<[usize; 2]> {
        self.groups.iter().map(|g| [g.start, g.end]).collect()
    }

    /// The index of the step called `name`.
    pub fn step_index(&self, name: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.name == name)
    }

    /// Every data-flow edge as `(source, consumer step index)`.
    pub fn edges(&self) -> impl Iterator<Item = (ArgSource, usize)> + '_ {
        self.steps
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.args.iter().map(move |a| (*a, i)))
    }

    /// The names of steps declared without a body.
    pub fn bodiless_steps(&self) -> Vec<&'static str> {
        self.steps
            .iter()
            .filter(|s| !s.has_body)
            .map(|s| s.name)
            .collect()
    }

    /// A stable hash of the saga's shape: its name, input, and each step's name,
    /// kind, parameters and argument sources. Retry policies and timeouts are
    /// left out: changing them does not change what a recorded run means.
    ///
    /// The saga log stores it, and a resume under a different hash is refused.
    pub fn hash(&self) -> &str {
        self.hash.get_or_init(|| {
            let mut h = Fnv1a::new();
            h.write("saga-definition/v1");
            h.write(self.name);
            h.write(self.input);
            for step in self.steps {
                h.write(step.name);
                h.write(match step.kind {
                    StepKind::Compensatable => "c",
                    StepKind::Pivot => "p",
                    StepKind::Retriable => "r",
                });
                for p in step.params {
                    h.write(p);
                }
                for a in step.args {
                    match a {
                        ArgSource::Input => h.write("<input>"),
                        ArgSource::Step(i) => h.write(&i.to_string()),
                    }
                }
            }
            // Only a saga with groups hashes them, so that the hashes of
            // sagas without any stay as they were.
            for g in self.groups {
                h.write("parallel");
                h.write(&g.start.to_string());
                h.write(&g.end.to_string());
            }
            format!("fnv1a64:{:016x}", h.0)
        })
    }
}

/// FNV-1a, 64 bits: tiny, and stable across builds and platforms, unlike `std`'s hasher.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, s: &str) {
        // Length-prefix each field so that ("ab","c") and ("a","bc") differ.
        for b in (s.len() as u64).to_le_bytes().iter().chain(s.as_bytes()) {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[StepDef] = &[StepDef {
        name: "a",
        kind: StepKind::Compensatable,
        params: &["x"],
        args: &[ArgSource::Input],
        has_body: true,
        retry: RetryPolicy::DEFAULT,
        timeout_seconds: 60,
        output_named: true,
        output_accepts_null: || false,
    }];
    const B: &[StepDef] = &[StepDef {
        kind: StepKind::Pivot,
        ..A[0]
    }];

    #[test]
    fn hash_is_stable_and_shape_sensitive() {
        let a = SagaDefinition::new("S", "x", A);
        let a2 = SagaDefinition::new("S", "x", A);
        let b = SagaDefinition::new("S", "x", B);
        assert_eq!(a.hash(), a2.hash());
        assert_ne!(a.hash(), b.hash());
        assert!(a.hash().starts_with("fnv1a64:"));
    }

    #[test]
    fn groups_change_the_hash_and_give_stages() {
        const TWO: &[StepDef] = &[A[0], StepDef { name: "b", ..A[0] }];
        static GROUPS: &[Group] = &[Group { start: 0, end: 2 }];
        let plain = SagaDefinition::new("S", "x", TWO);
        let joined = SagaDefinition::new("S", "x", TWO).parallel(GROUPS);
        assert_ne!(plain.hash(), joined.hash());
        assert_eq!(joined.stage(1), 0..2);
        assert_eq!(plain.stage(1), 1..2);
        assert_eq!(joined.group_pairs(), vec![[0, 2]]);
    }

    #[test]
    fn hash_is_frozen() {
        // Stored in saga logs: changing the algorithm would refuse every resume.
        assert_eq!(
            SagaDefinition::new("S", "x", A).hash(),
            "fnv1a64:55cdbff096266174"
        );
    }
}
