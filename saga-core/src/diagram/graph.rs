//! The graph every diagram format draws: nodes, edges, and a run's marks.

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
    pub(crate) label: Option<&'static str>,
    /// A failure or compensation edge.
    pub(crate) dashed: bool,
    /// The run took it.
    pub(crate) taken: bool,
}

pub(crate) struct Graph {
    pub(crate) name: &'static str,
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<Edge>,
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
        let mut edges = Vec::new();
        let mut edge = |from, to, label, dashed, taken| {
            edges.push(Edge {
                from,
                to,
                label,
                dashed,
                taken,
            })
        };
        // Forward.
        let mut prev = start;
        for (k, &n) in forward.iter().enumerate() {
            edge(prev, n, None, false, started(k));
            prev = n;
        }
        edge(
            prev,
            done,
            None,
            false,
            status == Some(SagaStatus::Completed),
        );
        // Where the unwind from below step `k` goes: the last compensation before it.
        let unwind_to = |k: usize| {
            undo.iter()
                .rev()
                .find(|(j, _)| *j < k)
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
                    Some("fails"),
                    true,
                    run_of(k) == StepRun::Failed,
                );
            }
        }
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
                edge(n, to, None, true, taken);
            }
        }
        Graph {
            name: def.name,
            nodes,
            edges,
        }
    }
}
