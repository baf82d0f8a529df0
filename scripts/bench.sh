#!/usr/bin/env bash
# npm run bench: lab benchmarks (root, namespaces); prints figures and writes bench/results/latest.json.
# Then what one hook event costs, the socat hook against `sixgate notify` (bench/results/hooks.json), and the
# idle agent's memory per Node line and flags (bench/results/memory.json; BENCH_IDLE_S=3600 for an hour).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run build >/dev/null
node --import tsx bench/lab-bench.ts
node --import tsx bench/hook-cost.ts
node --import tsx bench/idle-memory.ts
