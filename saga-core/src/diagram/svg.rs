//! A self-contained SVG, laid out here (no Graphviz needed): the steps in a
//! column, each compensation beside its step, the two ends at the bottom.
//! The branches of a parallel group sit side by side in a dashed frame, on
//! the row of the group's first step.

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
/// The space between two branches of a group, side by side.
const GAP: i64 = 40;

/// The saga as an SVG image, with `run`'s path overlaid if given.
pub fn svg(def: &SagaDefinition, run: Option<&ExecutionHistory>) -> String {
    let g = Graph::build(def, run);
    let steps = def.steps.len() as i64;
    // The compensations' column, right of the widest group.
    let widest = g.clusters.iter().map(|c| c.nodes.len() as i64).max();
    let right = RIGHT + (widest.unwrap_or(1).max(1) - 1) * (W + GAP);
    // A step's row (its group's first step's) and column (its place in the group).
    let place = |k: usize| match g.cluster_of(k) {
        Some(c) => (c.steps.start as i64, (k - c.steps.start) as i64),
        None => (k as i64, 0),
    };
    // Each node's top-left corner.
    let pos: Vec<(i64, i64)> = g
        .nodes
        .iter()
        .map(|n| match (n.kind, n.step) {
            (NodeKind::Start, _) => (LEFT, 20),
            (NodeKind::Step(_), Some(k)) => {
                let (row, col) = place(k);
                (LEFT + col * (W + GAP), 20 + ROW * (row + 1))
            }
            (NodeKind::Compensation, Some(k)) => (right, 20 + ROW * (k as i64 + 1)),
            (_, _) if n.id == "completed" => (LEFT, 20 + ROW * (steps + 1)),
            _ => (right, 20 + ROW * (steps + 1)),
        })
        .collect();
    // A branch with a sibling right of it: its edges to the compensations
    // leave from its bottom, under that sibling.
    let boxed_in = |node: usize| {
        let n = &g.nodes[node];
        matches!(n.kind, NodeKind::Step(_))
            && n.step
                .is_some_and(|k| g.cluster_of(k).is_some_and(|c| k + 1 < c.steps.end))
    };
    let height = 20 + ROW * (steps + 2) + 20;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\" role=\"img\" aria-label=\"saga {}\">",
        right + W + 40,
        right + W + 40,
        escape(g.name)
    );
    out.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"10\" markerHeight=\"10\" markerUnits=\"userSpaceOnUse\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>");
    // The groups' frames, under everything else.
    for c in &g.clusters {
        let Some(&first) = c.nodes.first() else {
            continue;
        };
        let (x, y) = pos[first];
        let branches = c.nodes.len() as i64;
        let (fx, fy) = (x - 10, y - 22);
        let (fw, fh) = (branches * (W + GAP) - GAP + 20, H + 30);
        let _ = write!(
            out,
            "<g class=\"group\" data-group=\"{}\"><rect x=\"{fx}\" y=\"{fy}\" width=\"{fw}\" height=\"{fh}\" rx=\"10\" fill=\"none\" stroke=\"#888\" stroke-dasharray=\"4 3\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">{}</text></g>",
            c.id,
            fx + fw - 8,
            y - 8,
            escape(&c.label)
        );
    }
    for e in &g.edges {
        let (fx, fy) = pos[e.from];
        let (tx, ty) = pos[e.to];
        let stroke = format!(
            "stroke=\"#555\" stroke-width=\"{}\"{} marker-end=\"url(#arrow)\"",
            if e.taken { 3 } else { 1 },
            if e.dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            }
        );
        if e.skip {
            // Past a sibling's compensation, in the same column: around it,
            // on the right.
            let (x1, y1, x2, y2) = (fx + W, fy + H / 2, tx + W, ty + H / 2);
            let _ = write!(
                out,
                "<path d=\"M {x1} {y1} C {} {y1}, {} {y2}, {x2} {y2}\" fill=\"none\" {stroke}/>",
                x1 + 40,
                x2 + 40
            );
            continue;
        }
        // Between steps side by side (a fork or a join): bottom to top. From
        // a branch with a sibling right of it: from its bottom. Same column:
        // bottom to top (or top to bottom going up); across columns: side to
        // side.
        let (x1, y1, x2, y2) = if fx != tx && fx < right && tx < right {
            (fx + W / 2, fy + H, tx + W / 2, ty)
        } else if fx < tx && boxed_in(e.from) {
            (fx + W / 2, fy + H, tx, ty + H / 2)
        } else if fx == tx && fy > ty {
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
            "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" {stroke}/>"
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
