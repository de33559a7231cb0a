#!/usr/bin/env bash
# Runs the benchmarks and prints each figure as a ratio against a baseline
# measured in the same run (absolute times on shared machines wander).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench --bench ten_steps --bench lambda_step "$@"
# The durable log: a bench binary that prints its own table of ratios.
cargo bench --bench durable

python3 - <<'PY'
import json, pathlib
def mean_ns(group, name):
    # criterion's headline figure: the slope of time over iterations when it
    # sampled linearly (it discounts each sample's fixed cost), else the mean.
    path = pathlib.Path("target/criterion") / group / name / "new" / "estimates.json"
    estimates = json.loads(path.read_text())
    return (estimates.get("slope") or estimates["mean"])["point_estimate"]
hand, ours, steno = (mean_ns("ten_steps", n) for n in ("hand_written", "saga_core", "steno"))
raw_before, step, raw_after = (mean_ns("lambda_step", n) for n in ("raw_invoke", "saga_step", "raw_invoke_again"))
raw = (raw_before + raw_after) / 2
print()
print("| figure | value |")
print("| --- | --- |")
print(f"| saga_core / hand-written (10 no-op steps, in-memory log) | {ours / hand:.0f}x |")
print(f"| steno 0.5 / saga_core (same 10-node saga) | {steno / ours:.1f}x faster (target >= 10x) |")
print(f"| executor cost per step, context only | {(ours - hand) / 10:.0f} ns |")
print(f"| one Lambda step through the saga runtime / raw aws-sdk-lambda invoke (local endpoint) | {step / raw:.3f} (target <= 1.10) |")
print(f"| raw invoke after / before the saga step (drift over the run; 1.0 is none) | {raw_after / raw_before:.3f} |")
print(f"| (per run, criterion estimate: hand-written {hand:.1f} ns, saga_core {ours / 1000:.2f} us, steno {steno / 1000:.2f} us, raw invoke {raw_before / 1000:.0f} / {raw_after / 1000:.0f} us, saga step {step / 1000:.0f} us) | |")
PY
