//! The typed model of one checked saga.

use syn::{Attribute, Expr, Ident, Path, Type, Visibility};

/// Where a step argument comes from.
#[derive(Clone, Copy)]
pub enum Source {
    Input,
    Step(usize),
}

/// One argument of a step call: `&name` or `name`.
pub struct Arg {
    /// The argument as written, for spans.
    pub expr: Expr,
    /// The name it refers to.
    pub name: Ident,
    pub by_ref: bool,
    pub source: Source,
}

/// One step call in the saga body.
pub struct StepUse {
    /// The step's path as written, e.g. `steps::reserve_flight`.
    pub path: Path,
    /// The step's name: the path's last segment.
    pub name: Ident,
    /// `let <binding>: <ty> = ...`
    pub binding: Option<Ident>,
    pub ty: Option<Type>,
    pub args: Vec<Arg>,
    /// The whole call expression, for spans.
    pub call: Expr,
}

/// A checked saga.
pub struct Saga {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub input: Ident,
    pub input_ty: Type,
    pub output: Option<Type>,
    pub steps: Vec<StepUse>,
    /// The `join!` groups, as `(start, end)` step ranges.
    pub groups: Vec<(usize, usize)>,
    pub result: Option<Expr>,
}
