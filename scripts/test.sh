#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, property, trybuild UI,
# doc tests (including compile_fail), a smoke run of each benchmark, and the
# example end to end. Needs only a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test (unit, integration, property, trybuild, benches in test mode)"
cargo test --workspace --all-targets

echo "== doc tests"
cargo test --workspace --doc

echo "== example: book_trip end to end"
happy=$(cargo run --quiet --example book_trip)
echo "$happy"
grep -q "outcome: completed" <<<"$happy"

failed=$(cargo run --quiet --example book_trip -- --fail-at car)
echo "$failed"
grep -q "outcome: compensated after \`rent_car\` failed" <<<"$failed"
# The compensations run in reverse order: hotel first, then flight.
grep -o -e "<- cancel_hotel" -e "<- cancel_flight" -e "<- return_car" <<<"$failed" | tr '\n' ' ' \
  | grep -qx "<- cancel_hotel <- cancel_flight "

if cargo run --quiet --example book_trip -- --fail-at nowhere 2>/dev/null; then
  echo "book_trip accepted an unknown step" >&2
  exit 1
fi
echo "example checks passed"
