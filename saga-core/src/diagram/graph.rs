//! The graph every diagram format draws: nodes, edges, a run's marks, and
//! the parallel groups.

use std::ops::Range;

use crate::definition::SagaDefinition;
use crate::history::{ExecutionHistory, StepRun};
use crate::log::SagaStatus;
use crate::step::StepKind;

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Start,
    Step(StepKind),
    Compensation,
    End,
}

/// How a run marks a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    None,
    Succeeded,
    Failed,
    Compensated,
    Running,
}

impl Mark {
    pub(crate) fn class(self) -> Option<&'static str> {
        match self {
            Mark::None => None,
            Mark::Succeeded => Some("succeeded"),
            Mark::Failed => Some("failed"),
            Mark::Compensated => Some("compensated"),
            Mark::Running => Some("running"),
        }
    }

    /// Fill and stroke colours.
    pub(crate) fn colours(self) -> (&'static str, &'static str) {
        match self {
            Mark::None => ("#ffffff", "#555555"),
            Mark::Succeeded => ("#d7f5dc", "#2e7d32"),
            Mark::Failed => ("#fbd9d9", "#c62828"),
            Mark::Compensated => ("#fff1c6", "#b7791f"),
            Mark::Running => ("#d9e8fb", "#1e5fa8"),
        }
    }
}

pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) kind: NodeKind,
    pub(crate) mark: Mark,
    /// For steps and compensations: the step's index.
    pub(crate) step: Option<usize>,
}

pub(crate) struct Edge {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) label: Option<String>,
    /// A failure or compensation edge.
    pub(crate) dashed: bool,
    /// The run took it.
    pub(crate) taken: bool,
    /// A compensation edge past a parallel branch that failed (and so has
    /// nothing to compensate): it jumps over that branch's compensation.
    pub(crate) skip: bool,
}

/// A parallel group (`join!`): its branches start together after the stage
/// before it, and the stage after it waits for all of them.
pub(crate) struct Cluster {
    /// A stable id: `join<k>`, after the index of the group's first step.
    pub(crate) id: String,
    /// `join: <branch>, <branch>, ...`.
    pub(crate) label: String,
    /// The group's steps.
    pub(crate) steps: Range<usize>,
    /// The branches' nodes, in step order.
    pub(crate) nodes: Vec<usize>,
}

pub(crate) struct Graph {
    pub(crate) name: &'static str,
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<Edge>,
    /// The parallel groups, in step order; empty for a saga without `join!`.
    pub(crate) clusters: Vec<Cluster>,
}

impl Graph {
    pub(crate) fn build(def: &SagaDefinition, run: Option<&ExecutionHistory>) -> Graph {
        let steps = def.steps;
        let run_of = |k: usize| {
            run.and_then(|r| r.steps.get(k).copied())
                .unwrap_or(StepRun::NotRun)
        };
        let status = run.map(|r| r.status);
        let mut nodes = Vec::new();
        let mut node = |id: String, label: String, kind, mark, step| {
            nodes.push(Node {
                id,
                label,
                kind,
                mark,
                step,
            });
            nodes.len() - 1
        };
        let start = node(
            "start".into(),
            "start".into(),
            NodeKind::Start,
            if run.is_some() {
                Mark::Succeeded
            } else {
                Mark::None
            },
            None,
        );
        let forward: Vec<usize> = steps
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let label = match s.kind {
                    StepKind::Compensatable => s.name.to_owned(),
                    StepKind::Pivot => format!("{} (pivot)", s.name),
                    StepKind::Retriable => format!("{} (retriable)", s.name),
                };
                let mark = match run_of(k) {
                    StepRun::NotRun => Mark::None,
                    StepRun::Running => Mark::Running,
                    StepRun::Succeeded => Mark::Succeeded,
                    StepRun::Failed => Mark::Failed,
                    StepRun::Compensated | StepRun::Compensating => Mark::Succeeded,
                };
                node(
                    format!("s{k}"),
                    label,
                    NodeKind::Step(s.kind),
                    mark,
                    Some(k),
                )
            })
            .collect();
        let done = node(
            "completed".into(),
            "completed".into(),
            NodeKind::End,
            if status == Some(SagaStatus::Completed) {
                Mark::Succeeded
            } else {
                Mark::None
            },
            None,
        );
        let compensatable: Vec<usize> = (0..steps.len())
            .filter(|&k| steps[k].kind == StepKind::Compensatable)
            .collect();
        let undo: Vec<(usize, usize)> = compensatable
            .iter()
            .map(|&k| {
                let mark = match run_of(k) {
                    StepRun::Compensated => Mark::Compensated,
                    StepRun::Compensating => Mark::Running,
                    _ => Mark::None,
                };
                let id = node(
                    format!("c{k}"),
                    format!("undo {}", steps[k].name),
                    NodeKind::Compensation,
                    mark,
                    Some(k),
                );
                (k, id)
            })
            .collect();
        // Only a saga with a step that can fail into an unwind has this end.
        let unwinds = steps.iter().any(|s| s.kind != StepKind::Retriable);
        let compensated = unwinds.then(|| {
            node(
                "compensated".into(),
                "compensated".into(),
                NodeKind::End,
                if status == Some(SagaStatus::Compensated) {
                    Mark::Compensated
                } else {
                    Mark::None
                },
                None,
            )
        });
        let started = |k: usize| run_of(k) != StepRun::NotRun;
        // The groups that fit the steps (the definition's are checked by
        // `saga!`; a stray one is left undrawn rather than drawn wrong).
        let mut clusters: Vec<Cluster> = Vec::new();
        for g in def.groups {
            let after = clusters.last().map_or(0, |c| c.steps.end);
            if g.start < after || g.end < g.start + 2 || g.end > steps.len() {
                continue;
            }
            let names: Vec<&str> = steps[g.steps()].iter().map(|s| s.name).collect();
            clusters.push(Cluster {
                id: format!("join{}", g.start),
                label: format!("join: {}", names.join(", ")),
                steps: g.steps(),
                nodes: g.steps().map(|k| forward[k]).collect(),
            });
        }
        // The steps that start together with step `k`.
        let stage = |k: usize| {
            clusters
                .iter()
                .find(|c| c.steps.contains(&k))
                .map_or(k..k + 1, |c| c.steps.clone())
        };
        let mut edges = Vec::new();
        let mut edge = |from, to, label, dashed, taken, skip| {
            edges.push(Edge {
                from,
                to,
                label,
                dashed,
                taken,
                skip,
            })
        };
        // Forward, stage by stage: a group forks from the stage before it to
        // each of its branches, and each branch joins into the stage after it.
        let mut prev = vec![start];
        let mut k = 0;
        while k < steps.len() {
            let here = stage(k);
            for j in here.clone() {
                for &p in &prev {
                    edge(p, forward[j], None, false, started(j), false);
                }
            }
            prev = here.clone().map(|j| forward[j]).collect();
            k = here.end;
        }
        for &p in &prev {
            edge(
                p,
                done,
                None,
                false,
                status == Some(SagaStatus::Completed),
                false,
            );
        }
        // Where the unwind after step `k` fails goes first: the last
        // compensation before the end of its stage, other than its own (a
        // failed step has nothing to compensate). For a branch, that is the
        // compensation of the last sibling after it, or else before it, or
        // else of the steps before the group.
        let unwind_to = |k: usize| {
            let end = stage(k).end;
            undo.iter()
                .rev()
                .find(|(j, _)| *j < end && *j != k)
                .map(|(_, n)| *n)
                .or(compensated)
        };
        let undone = |k: usize| matches!(run_of(k), StepRun::Compensated | StepRun::Compensating);
        for (k, s) in steps.iter().enumerate() {
            if s.kind == StepKind::Retriable {
                continue;
            }
            if let Some(to) = unwind_to(k) {
                edge(
                    forward[k],
                    to,
                    Some("fails".to_owned()),
                    true,
                    run_of(k) == StepRun::Failed,
                    false,
                );
            }
        }
        // Compensations run one at a time, last step first: each leads to
        // the one before it. Within a group, a compensation may also jump
        // over the sibling just before it, when that branch is the one that
        // failed.
        for (i, &(k, n)) in undo.iter().enumerate() {
            let next = if i == 0 {
                compensated
            } else {
                Some(undo[i - 1].1)
            };
            if let Some(to) = next {
                let taken = run_of(k) == StepRun::Compensated
                    && (i == 0 && status == Some(SagaStatus::Compensated)
                        || i > 0 && undone(undo[i - 1].0));
                edge(n, to, None, true, taken, false);
            }
            let Some(&(sibling, _)) = i.checked_sub(1).and_then(|h| undo.get(h)) else {
                continue;
            };
            if !stage(k).contains(&sibling) {
                continue;
            }
            let beyond = i.checked_sub(2).and_then(|h| undo.get(h)).copied();
            if let Some(to) = beyond.map(|(_, m)| m).or(compensated) {
                let taken = run_of(k) == StepRun::Compensated
                    && !undone(sibling)
                    && match beyond {
                        Some((j, _)) => undone(j),
                        None => status == Some(SagaStatus::Compensated),
                    };
                edge(
                    n,
                    to,
                    Some(format!("if {} failed", steps[sibling].name)),
                    true,
                    taken,
                    true,
                );
            }
        }
        Graph {
            name: def.name,
            nodes,
            edges,
            clusters,
        }
    }

    /// The parallel group step `k` belongs to, if any.
    pub(crate) fn cluster_of(&self, k: usize) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.steps.contains(&k))
    }
}
