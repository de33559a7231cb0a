#!/usr/bin/env bash
# Runs the benchmarks and prints each figure as a ratio against a baseline
# measured in the same run (absolute times on shared machines wander).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench --bench ten_steps "$@"

python3 - <<'PY'
import json, pathlib
root = pathlib.Path("target/criterion/ten_steps")
def mean_ns(name):
    return json.loads((root / name / "new" / "estimates.json").read_text())["mean"]["point_estimate"]
hand, ours, steno = (mean_ns(n) for n in ("hand_written", "saga_core", "steno"))
print()
print("| figure | value |")
print("| --- | --- |")
print(f"| saga_core / hand-written (10 no-op steps, in-memory log) | {ours / hand:.0f}x |")
print(f"| steno 0.5 / saga_core (same 10-node saga) | {steno / ours:.1f}x faster (target >= 10x) |")
print(f"| executor cost per step, context only | {(ours - hand) / 10:.0f} ns |")
print(f"| (means: hand-written {hand:.1f} ns, saga_core {ours / 1000:.2f} us, steno {steno / 1000:.2f} us) | |")
PY
