//! The sagas a runtime can resume from the log. A saga's steps are Rust
//! types, so resuming one needs its type: register every saga the log may
//! hold, including older versions still draining.

use super::{Runtime, SagaError, driver};
use crate::context::SagaId;
use crate::definition::SagaDefinition;
use crate::log::{LogEntry, SagaStatus};
use crate::saga::{BoxFuture, Saga};

type ResumeFn = fn(
    Runtime,
    SagaId,
    Vec<LogEntry>,
    Option<String>,
) -> BoxFuture<'static, Result<SagaStatus, SagaError>>;

#[derive(Clone, Copy)]
struct Entry {
    definition: &'static SagaDefinition,
    resume: ResumeFn,
}

/// The saga types a runtime resumes, found by name and definition hash.
///
/// ```
/// # use saga_core::prelude::*;
/// # #[saga_step(pivot)] async fn pay(n: &u32) -> Result<u32, StepError> { Ok(*n) }
/// # saga! { pub saga Checkout(n: u32) -> u32 { let p = pay(&n); p } }
/// let runtime = Runtime::builder().register::<Checkout>().build();
/// assert_eq!(runtime.registry().definitions().count(), 1);
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .map(|e| (e.definition.name, e.definition.hash())),
            )
            .finish()
    }
}

/// What the registry holds for a logged saga.
pub(super) enum Found {
    /// The same name and definition hash.
    Same(ResumeFnHandle),
    /// Only other definitions under this name: their hashes.
    Changed(Vec<String>),
    /// Nothing under this name.
    Missing,
}

/// A registered saga's resume function.
pub(super) struct ResumeFnHandle(ResumeFn);

impl ResumeFnHandle {
    pub(super) fn call(
        &self,
        rt: Runtime,
        id: SagaId,
        history: Vec<LogEntry>,
        by: Option<String>,
    ) -> BoxFuture<'static, Result<SagaStatus, SagaError>> {
        (self.0)(rt, id, history, by)
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds saga `S`. Adding the same definition twice is harmless; two
    /// definitions under one name (an old and a new version) are both kept,
    /// and each logged saga resumes under the one whose hash it recorded.
    pub fn register<S: Saga>(&mut self) -> &mut Self {
        self.merge(Entry {
            definition: S::definition(),
            resume: resume::<S>,
        });
        self
    }

    /// Adds saga `S`, builder-style: `Registry::new().with::<A>().with::<B>()`.
    pub fn with<S: Saga>(mut self) -> Self {
        self.register::<S>();
        self
    }

    /// Every registered definition.
    pub fn definitions(&self) -> impl Iterator<Item = &'static SagaDefinition> + '_ {
        self.entries.iter().map(|e| e.definition)
    }

    /// The registered definition of saga `name`, if there is exactly one.
    pub fn definition(&self, name: &str) -> Option<&'static SagaDefinition> {
        let mut found = self.entries.iter().filter(|e| e.definition.name == name);
        match (found.next(), found.next()) {
            (Some(e), None) => Some(e.definition),
            _ => None,
        }
    }

    /// Adds every saga of `other`.
    pub(crate) fn extend(&mut self, other: &Registry) {
        for &entry in &other.entries {
            self.merge(entry);
        }
    }

    fn merge(&mut self, entry: Entry) {
        let known = self.entries.iter().any(|e| {
            e.definition.name == entry.definition.name
                && e.definition.hash() == entry.definition.hash()
        });
        if !known {
            self.entries.push(entry);
        }
    }

    pub(super) fn find(&self, name: &str, hash: &str) -> Found {
        let mut others = Vec::new();
        for e in &self.entries {
            if e.definition.name == name {
                if e.definition.hash() == hash {
                    return Found::Same(ResumeFnHandle(e.resume));
                }
                others.push(e.definition.hash().to_owned());
            }
        }
        if others.is_empty() {
            Found::Missing
        } else {
            Found::Changed(others)
        }
    }
}

fn resume<S: Saga>(
    rt: Runtime,
    id: SagaId,
    history: Vec<LogEntry>,
    by: Option<String>,
) -> BoxFuture<'static, Result<SagaStatus, SagaError>> {
    Box::pin(async move {
        let outcome = driver::resume::<S>(&rt, id, history, by).await?;
        Ok(outcome.status())
    })
}
