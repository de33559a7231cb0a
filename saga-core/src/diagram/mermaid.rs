//! Mermaid flowcharts.

use std::fmt::Write;

use super::graph::{Graph, Mark, Node, NodeKind};
use crate::definition::SagaDefinition;
use crate::history::ExecutionHistory;
use crate::step::StepKind;

/// The saga as a Mermaid flowchart (`flowchart TD`), with `run`'s path
/// overlaid if given: nodes get the classes `succeeded`, `failed`,
/// `compensated` or `running`, and the edges the run took are bold.
pub fn mermaid(def: &SagaDefinition, run: Option<&ExecutionHistory>) -> String {
    let g = Graph::build(def, run);
    let mut out = String::from("flowchart TD\n");
    let line = |out: &mut String, n: &Node, indent: &str| {
        let label = quote(&n.label);
        let shape = match n.kind {
            NodeKind::Start | NodeKind::End => format!("([\"{label}\"])"),
            NodeKind::Step(StepKind::Pivot) => format!("{{{{\"{label}\"}}}}"),
            NodeKind::Step(StepKind::Retriable) => format!("[[\"{label}\"]]"),
            NodeKind::Step(StepKind::Compensatable) => format!("[\"{label}\"]"),
            NodeKind::Compensation => format!("[/\"{label}\"/]"),
        };
        let _ = writeln!(out, "{indent}{}{shape}", n.id);
    };
    for (i, n) in g.nodes.iter().enumerate() {
        match g.clusters.iter().find(|c| c.nodes.contains(&i)) {
            // A parallel group: its branches in a subgraph, where its first
            // branch would be.
            Some(c) if c.nodes.first() == Some(&i) => {
                let _ = writeln!(out, "    subgraph {} [\"{}\"]", c.id, quote(&c.label));
                for &m in &c.nodes {
                    line(&mut out, &g.nodes[m], "        ");
                }
                out.push_str("    end\n");
            }
            Some(_) => {}
            None => line(&mut out, n, "    "),
        }
    }
    for e in &g.edges {
        let (from, to) = (&g.nodes[e.from].id, &g.nodes[e.to].id);
        let arrow = match (e.dashed, &e.label) {
            (false, _) => "-->".to_owned(),
            (true, Some(label)) => format!("-. {label} .->"),
            (true, None) => "-.->".to_owned(),
        };
        let _ = writeln!(out, "    {from} {arrow} {to}");
    }
    if run.is_some() {
        for mark in [
            Mark::Succeeded,
            Mark::Failed,
            Mark::Compensated,
            Mark::Running,
        ] {
            let (fill, stroke) = mark.colours();
            let class = mark.class().unwrap_or_default();
            let _ = writeln!(out, "    classDef {class} fill:{fill},stroke:{stroke}");
            let members: Vec<&str> = g
                .nodes
                .iter()
                .filter(|n| n.mark == mark)
                .map(|n| n.id.as_str())
                .collect();
            if !members.is_empty() {
                let _ = writeln!(out, "    class {} {class}", members.join(","));
            }
        }
        for (i, e) in g.edges.iter().enumerate() {
            if e.taken {
                let _ = writeln!(out, "    linkStyle {i} stroke-width:3px");
            }
        }
    }
    out
}

/// Text fit for a quoted Mermaid label.
fn quote(s: &str) -> String {
    s.replace('"', "#quot;")
}
