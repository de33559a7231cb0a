//! Procedural macros for `saga-core`. Use them through `saga_core::prelude`.
//!
//! Each macro is a thin entry point: parse into a typed model, validate it while
//! collecting every error, then generate code that calls small helpers in
//! `::saga_core::__private`. On invalid input the user's items are still
//! emitted, next to the errors, so that editors keep working.
#![warn(missing_docs)]

mod errors;
mod saga;
mod step;

use proc_macro::TokenStream;

/// Declares a saga step on an `async fn`. Exactly one of `compensate = path`,
/// `pivot` or `retriable` is required. See `saga_core` for the full syntax.
#[proc_macro_attribute]
pub fn saga_step(args: TokenStream, item: TokenStream) -> TokenStream {
    step::expand(args.into(), item.into()).into()
}

/// Declares one or more sagas. See `saga_core` for the full syntax.
#[proc_macro]
pub fn saga(input: TokenStream) -> TokenStream {
    saga::expand(input.into()).into()
}
