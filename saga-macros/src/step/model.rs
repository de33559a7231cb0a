//! The typed model of one `#[saga_step]`.

use proc_macro2::Span;
use syn::{Ident, Path, Type};

/// What the step promises about undoing it.
pub enum Kind {
    /// `compensate = path`
    Compensate(Path),
    /// `pivot`
    Pivot,
    /// `retriable`
    Retriable,
    /// The options were invalid (and reported): emitted glue fits anywhere in
    /// a saga, so that the one error is not followed by spurious ones.
    Placeholder,
}

/// A validated retry policy (ASL `Retry` semantics): the fields the user
/// wrote. The others come from the step kind's default policy, so
/// `retry(max_attempts = 5)` on a retriable step keeps its cap and jitter.
#[derive(Default)]
pub struct Retry {
    pub max_attempts: Option<u32>,
    pub interval_seconds: Option<u32>,
    pub backoff_rate: Option<f64>,
    pub max_delay_seconds: Option<u32>,
    pub full_jitter: Option<bool>,
}

/// One parameter of the step.
pub struct Param {
    pub name: Ident,
    /// The parameter's type with every elided lifetime named `'__saga`.
    pub ty: Type,
    pub span: Span,
}

/// A validated step.
pub struct Step {
    pub name: Ident,
    pub vis: syn::Visibility,
    pub kind: Kind,
    pub retry: Option<Retry>,
    pub timeout_seconds: u32,
    pub params: Vec<Param>,
    /// The declared return type, e.g. `Result<Booking, StepError>`.
    pub ret: Type,
    pub has_body: bool,
}
