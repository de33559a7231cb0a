//! Step Functions from the same code: every saga as an Amazon States
//! Language state machine (JSONPath mode) with the canonical saga shape.
//!
//! ```
//! use saga_core::asl::{self, AslOptions};
//! use saga_core::prelude::*;
//!
//! #[saga_step(compensate = release)]
//! async fn reserve(n: &u32) -> Result<u32, StepError> { Ok(*n) }
//! async fn release(_n: &u32, _held: u32) -> Result<(), StepError> { Ok(()) }
//!
//! #[saga_step(pivot)]
//! async fn pay(n: &u32) -> Result<(), StepError> { Ok(()) }
//!
//! saga! {
//!     pub saga Order(n: u32) -> u32 {
//!         let held = reserve(&n);
//!         pay(&n);
//!         held
//!     }
//! }
//!
//! let options = AslOptions::new().function::<reserve>("arn:aws:lambda:eu-west-1:123456789012:function:reserve");
//! let machine = asl::state_machine::<Order>(&options)?;
//! let json = machine.to_json();
//! assert!(json.contains("\"Resource\": \"arn:aws:states:::lambda:invoke\""));
//! assert!(json.contains("${pay}"));           // unbound: a placeholder
//! # Ok::<(), saga_core::asl::AslError>(())
//! ```
//!
//! The failure rules are those of the executor, [`crate::failure`], written
//! out as `Retry` and `Catch` by error name; [`validate`] lists the rules
//! checked on every generated machine.

mod check;
mod error;
mod generate;
pub mod model;
mod names;
mod options;
mod parallel;
mod retry;
mod task;

pub use check::{MAX_NAME_LEN, STATES_ALL, validate};
pub use error::{AslError, AslProblem};
pub use generate::generate;
pub use model::StateMachine;
pub use options::AslOptions;
pub use task::LAMBDA_INVOKE;

use crate::saga::Saga;

/// The state machine of saga `S`.
pub fn state_machine<S: Saga>(options: &AslOptions) -> Result<StateMachine, AslError> {
    generate(S::definition(), options)
}
