//! The `saga-suite` package holds the workspace's examples, integration tests
//! and benchmarks; its library is empty on purpose.
