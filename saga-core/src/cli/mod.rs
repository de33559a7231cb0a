//! The operator command line, as a library: call it from a three-line
//! `main` that registers your sagas (their types are needed to resume them
//! and to draw them).
//!
//! ```no_run
//! use saga_core::Registry;
//! # use saga_core::prelude::*;
//! # #[saga_step(pivot)] async fn pay(n: &u32) -> Result<u32, StepError> { Ok(*n) }
//! # saga! { pub saga Checkout(n: u32) -> u32 { let p = pay(&n); p } }
//! fn main() -> std::process::ExitCode {
//!     saga_core::cli::run(Registry::new().with::<Checkout>())
//! }
//! ```
//!
//! Commands: `list`, `show`, `diagram`, `asl`, `cancel`, `resume`,
//! `abandon`, `recover`; `--help` on each has examples. Exit codes: [`ExitStatus`].
//! Available with the `cli` feature.

mod args;
mod commands;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::exec::{Registry, Runtime, RuntimeBuilder};

/// What the command line's exit code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Done.
    Ok = 0,
    /// The operation ran but did not succeed: a saga is still stuck, was
    /// refused, or recovery could not resume every saga.
    Failed = 1,
    /// The command line itself is wrong (clap's usage errors).
    Usage = 2,
    /// No saga (or saga type) with that id or name.
    NotFound = 3,
    /// The saga log cannot be used: missing, not a saga log, a newer
    /// schema, damaged, or held by a running runtime.
    Log = 4,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s as u8)
    }
}

/// Runs the command line on the process's arguments, for the sagas in
/// `registry`, with the default runtime settings.
pub fn run(registry: Registry) -> ExitCode {
    run_with(Runtime::builder().registry(&registry))
}

/// Runs the command line on the process's arguments with a runtime built
/// from `builder` (its bindings, retry settings and registered sagas); the
/// command line supplies the saga log.
pub fn run_with(builder: RuntimeBuilder) -> ExitCode {
    run_from(builder, std::env::args_os()).into()
}

/// Runs the command line on `args` (the program name first).
pub fn run_from<I, T>(builder: RuntimeBuilder, args: I) -> ExitStatus
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match args::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Ok
            };
        }
    };
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitStatus::Failed;
        }
    };
    let mut out = String::new();
    let result = tokio.block_on(commands::execute(builder, cli, &mut out));
    // Whatever the command printed goes out even if it then failed. A reader
    // that closed the pipe early (`| head`) is not an error.
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write the output: {e}");
        return ExitStatus::Failed;
    }
    match result {
        Ok(status) => status,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            failure.status
        }
    }
}
