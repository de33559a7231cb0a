#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration, property, trybuild UI,
# doc tests (including compile_fail), a smoke run of each benchmark, the
# gated tests (cargo-lambda end to end, ASL linters, ASL parity on moto), and
# the example end to end.
# Needs a Rust toolchain, python3 with venv, node and npm: scripts/tools.sh
# installs cargo-lambda, moto and the two ASL linters into .ci/cache on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/tools.sh

echo "== building the binaries and examples the tests run (the trip Lambdas, trip-ops, book_trip)"
cargo build --workspace --bins --examples

echo "== cargo test (unit, integration, property, trybuild, benches in test mode, gated tests)"
cargo test --workspace --all-targets -- --include-ignored

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

remote=$(cargo run --quiet --example book_trip -- --lambda --fail-at hotel)
echo "$remote"
grep -q "DryRun preflight: every function may be invoked" <<<"$remote"
grep -q "outcome: compensated after \`reserve_hotel\` failed" <<<"$remote"

# After the pivot a remote function is retried until it succeeds, as in-process.
remote_retried=$(cargo run --quiet --example book_trip -- --lambda --fail-at confirmation)
echo "$remote_retried"
grep -q "outcome: completed" <<<"$remote_retried"
grep -q "send_confirmation started, attempt 3" <<<"$remote_retried"

# The hotel and the car booked in parallel (join!): the car fails, so the
# hotel (its completed sibling) and then the flight are compensated.
together=$(cargo run --quiet --example book_trip -- --memory --together --fail-at car)
echo "$together"
grep -q "outcome: compensated after \`rent_car\` failed" <<<"$together"
grep -o -e "<- cancel_hotel" -e "<- cancel_flight" -e "<- return_car" <<<"$together" | tr '\n' ' ' \
  | grep -qx "<- cancel_hotel <- cancel_flight "

# The state machines the example prints are the golden ones (tests/asl.rs
# keeps the golden files in step with the generator).
diff <(cargo run --quiet --example book_trip -- asl) tests/golden/asl/book_trip.json
diff <(cargo run --quiet --example book_trip -- --together asl) tests/golden/asl/book_trip_together.json
echo "book_trip asl prints tests/golden/asl/book_trip.json and book_trip_together.json"

# A crash half-way (the process exits once rent_car's start is durable) and a
# recovery from the SQLite saga log, which finishes the saga.
db=target/book_trip-crash-test.db
rm -f "$db" "$db-wal" "$db-shm"
set +e
crashed=$(cargo run --quiet --example book_trip -- --db "$db" --crash-after car)
status=$?
set -e
echo "$crashed"
[ "$status" -eq 137 ] || { echo "book_trip --crash-after exited with $status, not 137" >&2; exit 1; }
recovered=$(cargo run --quiet --example book_trip -- --db "$db" recover)
echo "$recovered"
grep -q "recovered 1 unfinished saga(s)" <<<"$recovered"
grep -q "(BookTrip): completed" <<<"$recovered"
grep -q "rent_car failed on attempt 1 (Saga.Interrupted" <<<"$recovered"
grep -q "rent_car started, attempt 2" <<<"$recovered"

# Cancelled once the hotel is booked: the car is never rented, hotel and
# flight are compensated; a started pivot refuses the cancellation.
cancelled=$(cargo run --quiet --example book_trip -- --memory --cancel-after hotel)
echo "$cancelled"
grep -q "outcome: cancelled before \`rent_car\`: the traveller changed plans" <<<"$cancelled"
grep -o -e "<- cancel_hotel" -e "<- cancel_flight" -e "<- return_car" <<<"$cancelled" | tr '\n' ' ' \
  | grep -qx "<- cancel_hotel <- cancel_flight "
too_late=$(cargo run --quiet --example book_trip -- --memory --cancel-after charge)
echo "$too_late"
grep -q "cancel refused: .*its pivot step \`charge_card\` has started" <<<"$too_late"
grep -q "outcome: completed" <<<"$too_late"

# Lifecycle events from the log's outbox, as JSON lines.
events=$(cargo run --quiet --example book_trip -- --memory --events --fail-at car)
echo "$events"
[ "$(grep -c '^{"version":1,' <<<"$events")" -eq 7 ] || { echo "expected 7 lifecycle events" >&2; exit 1; }
grep -q '"type":"compensation_started".*"step":"rent_car","error":{"name":"Saga.Terminal"' <<<"$events"
grep -q '"type":"saga_compensated"' <<<"$events"

if cargo run --quiet --example book_trip -- --fail-at nowhere 2>/dev/null; then
  echo "book_trip accepted an unknown step" >&2
  exit 1
fi
echo "example checks passed"
