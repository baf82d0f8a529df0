#!/usr/bin/env bash
# `npm run demo`: installs what is missing, builds the agent, and runs the lab demo (test/lab/demo.ts),
# which cleans up after itself, also on Ctrl-C or failure.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "the demo needs root (it builds network namespaces)" >&2
  exit 1
fi
bash scripts/install-deps.sh
echo "==> npm run build"
npm run --silent build
exec node --import tsx test/lab/demo.ts
