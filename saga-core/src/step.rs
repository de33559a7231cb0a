//! The `Step` trait that `#[saga_step]` implements, step kinds, and the marker
//! traits through which `saga!` checks step order at compile time.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StepError;
use crate::retry::RetryPolicy;

/// What a step promises about undoing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Undone by its compensation if a later step fails.
    Compensatable,
    /// The go/no-go step. Once it succeeds the saga must finish forward.
    Pivot,
    /// Comes after the pivot; retried until it succeeds.
    Retriable,
}

/// Type-level step kinds, used by `saga!` to check step order at compile time.
pub mod kind {
    /// Type-level [`StepKind::Compensatable`](super::StepKind::Compensatable).
    pub enum Compensatable {}
    /// Type-level [`StepKind::Pivot`](super::StepKind::Pivot).
    pub enum Pivot {}
    /// Type-level [`StepKind::Retriable`](super::StepKind::Retriable).
    pub enum Retriable {}
}

/// Links a type-level kind to its [`StepKind`] value.
pub trait KindMarker {
    /// The kind as a value.
    const KIND: StepKind;
}
impl KindMarker for kind::Compensatable {
    const KIND: StepKind = StepKind::Compensatable;
}
impl KindMarker for kind::Pivot {
    const KIND: StepKind = StepKind::Pivot;
}
impl KindMarker for kind::Retriable {
    const KIND: StepKind = StepKind::Retriable;
}

/// A saga step. Implemented by `#[saga_step]` on a hidden type named after the
/// step function; never implement it by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a saga step",
    label = "not a saga step",
    note = "annotate the function with `#[saga_step(compensate = ...)]`, `#[saga_step(pivot)]` or `#[saga_step(retriable)]`"
)]
pub trait Step: Send + Sync + 'static {
    /// The step's name: the function's name.
    const NAME: &'static str;
    /// The names of the step's parameters, in order.
    const PARAMS: &'static [&'static str];
    /// False for a step declared without a body, whose code lives in a remote function.
    const HAS_BODY: bool;
    /// The retry policy declared on the step (or the default for its kind).
    const RETRY: RetryPolicy;
    /// The per-attempt timeout declared on the step, in seconds.
    const TIMEOUT_SECONDS: u32;
    /// The step's kind as a type: [`kind::Compensatable`], [`kind::Pivot`] or [`kind::Retriable`].
    type Kind: KindMarker;
    /// The value the step produces. It is recorded in the saga log, and handed
    /// by value to the compensation, so it is serialisable and cloneable.
    type Output: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    /// The step's arguments as a tuple, borrowing from the saga state for `'a`.
    type Args<'a>: Serialize + Send + 'a;
    /// The arguments as an owned tuple, as a remote function decodes them from
    /// its payload (`&T` parameters become `T::Owned`).
    type Owned: DeserializeOwned + Send + Sync + 'static;

    /// Lends owned arguments as the step's arguments.
    fn borrow(owned: &Self::Owned) -> Self::Args<'_>;

    /// Runs the step's body.
    fn call(args: Self::Args<'_>) -> impl Future<Output = Result<Self::Output, StepError>> + Send;

    /// Runs the compensation, or returns `None` for a pivot or retriable step.
    fn compensate(
        args: Self::Args<'_>,
        output: Self::Output,
    ) -> Option<impl Future<Output = Result<(), StepError>> + Send>;
}

/// The return type of a step or compensation: `Result<T, E>` where `E: Into<StepError>`.
#[diagnostic::on_unimplemented(
    message = "a saga step or compensation must return `Result<T, E>` with `E: Into<StepError>`, not `{Self}`",
    label = "this return type is not a `Result` with an error convertible to `StepError`"
)]
pub trait StepReturn {
    /// The success value.
    type Output;
    /// Converts into the executor's result type.
    fn into_step_result(self) -> Result<Self::Output, StepError>;
}

impl<T, E: Into<StepError>> StepReturn for Result<T, E> {
    type Output = T;
    fn into_step_result(self) -> Result<T, StepError> {
        self.map_err(Into::into)
    }
}

/// Implemented by a step that may run right after a step of kind `K`.
///
/// `saga!` requires it for each pair of neighbouring steps, which enforces the
/// order rule: compensatable steps, then at most one pivot, then retriable steps.
#[diagnostic::on_unimplemented(
    message = "step `{Self}` cannot run after a `{K}` step",
    label = "out of order: a saga runs compensatable steps, then at most one pivot, then retriable steps only",
    note = "move `{Self}` before the pivot, or mark it `#[saga_step(retriable)]`"
)]
pub trait RunsAfter<K> {}

/// Implemented by a step kind whose steps may run as parallel branches
/// beside steps of kind `K`.
///
/// `saga!` requires it for each pair of neighbouring branches of a `join!`:
/// the branches of one group are all compensatable (before the pivot) or all
/// retriable (after it), and a pivot never runs in a group.
#[diagnostic::on_unimplemented(
    message = "a `{Self}` step cannot be a parallel branch beside a `{K}` step",
    label = "the branches of one `join!` are all compensatable or all retriable",
    note = "a pivot runs alone: move it out of the `join!`"
)]
pub trait BranchBeside<K> {}

impl BranchBeside<kind::Compensatable> for kind::Compensatable {}
impl BranchBeside<kind::Retriable> for kind::Retriable {}
