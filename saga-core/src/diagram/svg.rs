//! A self-contained SVG, laid out here (no Graphviz needed): the steps in a
//! column, each compensation beside its step, the two ends at the bottom.

use std::fmt::Write;

use super::graph::{Graph, NodeKind};
use crate::definition::SagaDefinition;
use crate::history::ExecutionHistory;
use crate::step::StepKind;

const W: i64 = 240;
const H: i64 = 40;
const ROW: i64 = 70;
const LEFT: i64 = 40;
const RIGHT: i64 = 380;

/// The saga as an SVG image, with `run`'s path overlaid if given.
pub fn svg(def: &SagaDefinition, run: Option<&ExecutionHistory>) -> String {
    let g = Graph::build(def, run);
    let steps = def.steps.len() as i64;
    // Each node's top-left corner.
    let pos: Vec<(i64, i64)> = g
        .nodes
        .iter()
        .map(|n| match (n.kind, n.step) {
            (NodeKind::Start, _) => (LEFT, 20),
            (NodeKind::Step(_), Some(k)) => (LEFT, 20 + ROW * (k as i64 + 1)),
            (NodeKind::Compensation, Some(k)) => (RIGHT, 20 + ROW * (k as i64 + 1)),
            (_, _) if n.id == "completed" => (LEFT, 20 + ROW * (steps + 1)),
            _ => (RIGHT, 20 + ROW * (steps + 1)),
        })
        .collect();
    let height = 20 + ROW * (steps + 2) + 20;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\" role=\"img\" aria-label=\"saga {}\">",
        RIGHT + W + 40,
        RIGHT + W + 40,
        escape(g.name)
    );
    out.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"10\" markerHeight=\"10\" markerUnits=\"userSpaceOnUse\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>");
    for e in &g.edges {
        let (fx, fy) = pos[e.from];
        let (tx, ty) = pos[e.to];
        // Same column: bottom to top (or top to bottom going up); across
        // columns: side to side.
        let (x1, y1, x2, y2) = if fx == tx && fy > ty {
            (fx + W / 2, fy, tx + W / 2, ty + H)
        } else if fx == tx {
            (fx + W / 2, fy + H, tx + W / 2, ty)
        } else if fx < tx {
            (fx + W, fy + H / 2, tx, ty + H / 2)
        } else {
            (fx, fy + H / 2, tx + W, ty + H / 2)
        };
        let _ = write!(
            out,
            "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"#555\" stroke-width=\"{}\"{} marker-end=\"url(#arrow)\"/>",
            if e.taken { 3 } else { 1 },
            if e.dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            }
        );
    }
    for (n, (x, y)) in g.nodes.iter().zip(&pos) {
        let (fill, stroke) = n.mark.colours();
        let class = n.mark.class().unwrap_or("not-run");
        let rx = match n.kind {
            NodeKind::Start | NodeKind::End => 20,
            NodeKind::Step(StepKind::Pivot) => 0,
            _ => 8,
        };
        let dash = if n.kind == NodeKind::Compensation {
            " stroke-dasharray=\"5 3\""
        } else {
            ""
        };
        let width = if n.kind == NodeKind::Step(StepKind::Retriable) {
            4
        } else {
            2
        };
        let _ = write!(
            out,
            "<g class=\"node {class}\" data-node=\"{}\"><rect x=\"{x}\" y=\"{y}\" width=\"{W}\" height=\"{H}\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"{dash}/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
            n.id,
            x + W / 2,
            y + H / 2 + 5,
            escape(&n.label)
        );
    }
    out.push_str("</svg>");
    out
}

/// Escapes text for XML and HTML.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
