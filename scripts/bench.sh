#!/usr/bin/env bash
# npm run bench: lab benchmarks (root, namespaces); prints figures and writes bench/results/latest.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run build >/dev/null
node --import tsx bench/lab-bench.ts
