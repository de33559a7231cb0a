//! Compile-time guarantees, proved by trybuild: every `fail/` case must fail to
//! compile with exactly the diagnostics in its `.stderr` snapshot, and every
//! `pass/` case compiles under `#![deny(warnings)]` and runs.
//!
//! Regenerate snapshots after a compiler change with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
