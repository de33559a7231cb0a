#!/usr/bin/env bash
# Installs the external tools the gated tests drive, from the package
# registries, into .ci/cache (ignored by git), and exports their paths:
#   SAGA_CARGO_LAMBDA  cargo-lambda 1.9.2 (PyPI wheel)     tests/cargo_lambda.rs
#   SAGA_MOTO_SERVER   moto[server] 5.2.5 (PyPI)           tests/asl_parity.rs, tests/events.rs
#   SAGA_ASL_VALIDATOR asl-validator 4.0.0 (npm)           tests/asl_lint.rs
#   SAGA_STATELINT     @wmfs/statelint 1.30.0 (npm)        tests/asl_lint.rs
#   SAGA_DOT           Graphviz dot (Debian graphviz)      tests/observe.rs
#   SAGA_CHROMIUM      headless Chromium (Debian chromium) tests/observe.rs
# Source it: `source scripts/tools.sh`. Needs python3 with venv, node and npm,
# and apt-get (as root, or sudo) for graphviz and chromium.
set -euo pipefail
cache="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.ci/cache"
mkdir -p "$cache"

if [ ! -x "$cache/venv/bin/cargo-lambda" ]; then
  echo "== installing cargo-lambda into $cache/venv"
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install --quiet --no-deps cargo-lambda==1.9.2
fi
export SAGA_CARGO_LAMBDA="$cache/venv/bin/cargo-lambda"

if [ ! -x "$cache/moto/bin/moto_server" ]; then
  echo "== installing moto[server] into $cache/moto"
  python3 -m venv "$cache/moto"
  "$cache/moto/bin/pip" install --quiet 'moto[server]==5.2.5'
fi
export SAGA_MOTO_SERVER="$cache/moto/bin/moto_server"

if [ ! -x "$cache/npm/node_modules/.bin/statelint" ] || [ ! -x "$cache/npm/node_modules/.bin/asl-validator" ]; then
  echo "== installing asl-validator and @wmfs/statelint into $cache/npm"
  mkdir -p "$cache/npm"
  npm install --silent --no-audit --no-fund --prefix "$cache/npm" asl-validator@4.0.0 @wmfs/statelint@1.30.0
fi
export SAGA_ASL_VALIDATOR="$cache/npm/node_modules/.bin/asl-validator"
export SAGA_STATELINT="$cache/npm/node_modules/.bin/statelint"

if ! command -v dot >/dev/null || ! command -v chromium >/dev/null; then
  echo "== installing graphviz and chromium (apt)"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq graphviz chromium >/dev/null
fi
SAGA_DOT="$(command -v dot)"
SAGA_CHROMIUM="$(command -v chromium)"
export SAGA_DOT SAGA_CHROMIUM
