//! Diagrams of a saga, from its definition: Mermaid flowcharts, Graphviz
//! DOT, and a self-contained SVG. Forward edges are solid; failure and
//! compensation edges are dashed; pivot and retriable steps have shapes of
//! their own. With a run's [`ExecutionHistory`], each step is coloured by
//! how it fared and the edges the run took are drawn bold.
//!
//! The branches of a parallel group (`join!`) are framed together (a
//! Mermaid `subgraph`, a DOT cluster, a dashed frame in the SVG): the step
//! before the group forks to every branch and every branch joins into the
//! step after it. Compensations are chained in the order they run, last step
//! first; a branch that fails leads to the compensation of its last sibling
//! (or of the step before the group), and a compensation in a group may jump
//! over the sibling before it, when that sibling is the branch that failed.
//!
//! ```
//! # use saga_core::prelude::*;
//! # #[saga_step(compensate = undo)] async fn hold(n: &u32) -> Result<u32, StepError> { Ok(*n) }
//! # async fn undo(_n: &u32, _h: u32) -> Result<(), StepError> { Ok(()) }
//! # #[saga_step(pivot)] async fn pay(n: &u32) -> Result<u32, StepError> { Ok(*n) }
//! # saga! { pub saga Checkout(n: u32) -> u32 { let h = hold(&n); let p = pay(&n); p } }
//! use saga_core::diagram;
//! let mermaid = diagram::mermaid(Checkout::definition(), None);
//! assert!(mermaid.starts_with("flowchart TD"));
//! let dot = diagram::dot(Checkout::definition(), None);
//! assert!(dot.contains("shape=hexagon"));
//! ```

mod dot;
mod graph;
mod mermaid;
mod svg;

pub use dot::dot;
pub use mermaid::mermaid;
pub use svg::svg;

pub(crate) use svg::escape;

#[cfg(doc)]
use crate::history::ExecutionHistory;
