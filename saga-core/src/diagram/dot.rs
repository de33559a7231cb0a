//! Graphviz DOT.

use std::fmt::Write;

use super::graph::{Graph, Node, NodeKind};
use crate::definition::SagaDefinition;
use crate::history::ExecutionHistory;
use crate::step::StepKind;

/// The saga as a Graphviz digraph, with `run`'s path overlaid if given:
/// nodes filled by how they fared, the edges the run took drawn bold.
/// Render it with `dot -Tsvg`.
pub fn dot(def: &SagaDefinition, run: Option<&ExecutionHistory>) -> String {
    let g = Graph::build(def, run);
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", escape(g.name));
    out.push_str("    rankdir=TB;\n");
    out.push_str(
        "    node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\"];\n",
    );
    out.push_str("    edge [fontname=\"Helvetica\", fontsize=10];\n");
    let line = |out: &mut String, n: &Node, indent: &str| {
        let shape = match n.kind {
            NodeKind::Start | NodeKind::End => ", shape=oval",
            NodeKind::Step(StepKind::Pivot) => ", shape=hexagon",
            NodeKind::Step(StepKind::Retriable) => ", peripheries=2",
            NodeKind::Step(StepKind::Compensatable) => "",
            NodeKind::Compensation => ", style=\"rounded,dashed,filled\"",
        };
        let (fill, stroke) = n.mark.colours();
        let _ = writeln!(
            out,
            "{indent}{} [label=\"{}\"{shape}, fillcolor=\"{fill}\", color=\"{stroke}\"];",
            n.id,
            escape(&n.label)
        );
    };
    for (i, n) in g.nodes.iter().enumerate() {
        match g.clusters.iter().find(|c| c.nodes.contains(&i)) {
            // A parallel group: its branches in a labelled cluster, where
            // its first branch would be.
            Some(c) if c.nodes.first() == Some(&i) => {
                let _ = writeln!(out, "    subgraph cluster_{} {{", c.id);
                let _ = writeln!(out, "        label=\"{}\";", escape(&c.label));
                out.push_str(
                    "        style=\"rounded,dashed\";\n        color=\"#888888\";\n        fontname=\"Helvetica\";\n        fontsize=10;\n",
                );
                for &m in &c.nodes {
                    line(&mut out, &g.nodes[m], "        ");
                }
                out.push_str("    }\n");
            }
            Some(_) => {}
            None => line(&mut out, n, "    "),
        }
    }
    for e in &g.edges {
        let mut attrs = Vec::new();
        if e.dashed {
            attrs.push("style=dashed".to_owned());
        }
        if let Some(label) = &e.label {
            attrs.push(format!("label=\"{}\"", escape(label)));
        }
        if e.taken {
            attrs.push("penwidth=3".to_owned());
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        let _ = writeln!(
            out,
            "    {} -> {}{attrs};",
            g.nodes[e.from].id, g.nodes[e.to].id
        );
    }
    out.push_str("}\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
