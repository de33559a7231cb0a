//! Shared fixtures for the examples, integration tests and benchmarks of the
//! saga workspace. Nothing here is part of the public `saga-core` API.
