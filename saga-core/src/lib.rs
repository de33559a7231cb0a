//! Compile-time checked sagas.
//!
//! A saga is a sequence of steps, each of which either commits or is undone by
//! its compensation if a later step fails (Garcia-Molina & Salem, 1987). This
//! crate turns that contract into types:
//!
//! - [`#[saga_step]`](macro@saga_step) declares a step and exactly one of
//!   `compensate = path`, `pivot` or `retriable`. A step without one does not compile,
//!   and the compensation's signature is checked against the step's.
//! - [`saga!`] declares a saga whose data flow between steps is typed, and
//!   checks the order rule: compensatable steps, then at most one pivot, then
//!   retriable steps.
//! - The [`Runtime`] runs it in-process, recording every transition in a
//!   [saga log](crate::log) before the effect it enables.
//!
//! # Example
//!
//! ```
//! use saga_core::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! pub struct Order { pub id: u32, pub fail_payment: bool }
//!
//! #[saga_step(compensate = release_stock)]
//! async fn reserve_stock(order: &Order) -> Result<u32, StepError> {
//!     Ok(order.id * 10)
//! }
//!
//! async fn release_stock(_order: &Order, _reservation: u32) -> Result<(), StepError> {
//!     Ok(())
//! }
//!
//! #[saga_step(pivot)]
//! async fn take_payment(order: &Order) -> Result<String, StepError> {
//!     if order.fail_payment {
//!         return Err(StepError::terminal("card declined"));
//!     }
//!     Ok(format!("receipt-{}", order.id))
//! }
//!
//! saga! {
//!     /// Reserves stock, then takes payment.
//!     pub saga PlaceOrder(order: Order) -> String {
//!         let reservation = reserve_stock(&order);
//!         let receipt = take_payment(&order);
//!         format!("{receipt} for reservation {reservation}")
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), SagaError> {
//! let runtime = Runtime::in_memory();
//! let done = PlaceOrder::run(&runtime, Order { id: 7, fail_payment: false }).await?;
//! assert_eq!(done.completed().as_deref(), Some("receipt-7 for reservation 70"));
//!
//! let undone = PlaceOrder::run(&runtime, Order { id: 8, fail_payment: true }).await?;
//! assert!(matches!(undone, SagaOutcome::Compensated { failed_step: "take_payment", .. }));
//! # Ok(())
//! # }
//! ```
//!
//! # The compiler refuses a step without a compensation
//!
//! ```compile_fail
//! use saga_core::prelude::*;
//!
//! #[saga_step]
//! async fn charge(amount: &u64) -> Result<u64, StepError> { Ok(*amount) }
//! ```
//!
//! ```compile_fail,E0573
//! use saga_core::prelude::*;
//!
//! // A plain function is not a step.
//! async fn charge(amount: &u64) -> Result<u64, StepError> { Ok(*amount) }
//!
//! saga! {
//!     pub saga Pay(amount: u64) -> u64 {
//!         let paid = charge(&amount);
//!         paid
//!     }
//! }
//! ```
//!
//! ```compile_fail,E0277
//! use saga_core::prelude::*;
//!
//! #[saga_step(pivot)]
//! async fn charge(amount: &u64) -> Result<u64, StepError> { Ok(*amount) }
//!
//! #[saga_step(compensate = unship)]
//! async fn ship(amount: &u64) -> Result<u64, StepError> { Ok(*amount) }
//! async fn unship(_amount: &u64, _id: u64) -> Result<(), StepError> { Ok(()) }
//!
//! // A compensatable step after the pivot could never be undone.
//! saga! {
//!     pub saga Pay(amount: u64) {
//!         let _receipt = charge(&amount);
//!         let _shipment = ship(&amount);
//!     }
//! }
//! ```
//!
//! # Failure rules
//!
//! Every step error has an [`ErrorClass`]:
//!
//! - **terminal**: a business rejection that by contract changed nothing. Not retried.
//!   The step's own compensation is skipped; the completed steps are compensated
//!   in reverse completion order, and the saga ends [`SagaOutcome::Compensated`].
//! - **retryable**: nothing changed, and a retry may succeed. Retried with the
//!   step's [`RetryPolicy`]; when the budget is spent it is treated as terminal.
//! - **ambiguous**: the outcome is unknown (a timeout, a panic, a lost answer).
//!   The step is re-invoked at once with the same idempotency key, with a fresh
//!   retry budget: steps are idempotent, so a re-invocation returns the result or
//!   fails terminally. A retryable answer settles nothing. If the outcome is
//!   still unknown, the saga ends [`SagaOutcome::Stuck`] and nothing is
//!   compensated: an operator decides.
//!
//! After the pivot succeeds the saga only goes forward: retriable steps are
//! retried on every error, and past their budget the saga is stuck.
//! Compensations are retried on every error with capped backoff; past their
//! budget the saga is stuck. A stuck saga stays in the saga log.
//!
//! These rules are data, in [`failure`]: the executor follows them and the
//! Step Functions generator writes them out as `Retry` and `Catch`.
//!
//! Every invocation runs with a [`StepContext`] whose idempotency key is
//! `<saga id>/<step name>`, the same on every attempt.
#![warn(missing_docs)]

#[doc(hidden)]
pub mod __private;
pub mod asl;
#[cfg(feature = "cli")]
pub mod cli;
mod context;
mod definition;
pub mod diagram;
mod error;
mod exec;
pub mod failure;
pub mod history;
pub mod invoke;
pub mod log;
pub mod publish;
pub mod report;
mod retry;
mod saga;
mod step;

pub use context::{Direction, InvalidSagaId, SagaId, StepContext};
pub use definition::{ArgSource, Group, SagaDefinition, StepDef};
pub use error::{ErrorClass, StepError, names};
pub use exec::{
    CancelError, Cancelled, Recovered, RecoveryReport, Registry, Runtime, RuntimeBuilder,
    SagaError, SagaOutcome,
};
pub use log::{InMemoryLog, SagaLog, SagaStatus, SqliteLog};
pub use retry::{Jitter, RetryPolicy};
pub use saga::{BoxFuture, Invocation, Op, Produced, Saga, StateError, Stored};
pub use saga_macros::{saga, saga_step};
pub use step::{BranchBeside, KindMarker, RunsAfter, Step, StepKind, StepReturn, kind};

/// Everything a saga definition needs: `use saga_core::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Direction, ErrorClass, InMemoryLog, Jitter, RetryPolicy, Runtime, Saga, SagaError, SagaId,
        SagaOutcome, SagaStatus, SqliteLog, StepContext, StepError, saga, saga_step,
    };
}
