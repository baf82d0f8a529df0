#!/usr/bin/env bash
# npm run bench: lab benchmarks (root, namespaces); prints figures and writes bench/results/latest.json.
# Then what one hook event costs, the socat hook against `sixgate notify` (bench/results/hooks.json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run build >/dev/null
node --import tsx bench/lab-bench.ts
node --import tsx bench/hook-cost.ts
