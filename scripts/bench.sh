#!/usr/bin/env bash
# npm run bench: lab benchmarks (root, namespaces); prints figures and writes bench/results/latest.json.
# Then what one hook event costs, the socat hook against `sixgate notify` (bench/results/hooks.json), the idle
# agent's memory per Node line and flags (bench/results/memory.json) and by module (bench/results/heap-by-module.json).
#
#   npm run bench                  all of the above (a few minutes)
#   npm run bench -- idle-hour     only the one-hour idle run: memory growth (bench/results/idle-hour.json)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run build >/dev/null
case "${1:-}" in
idle-hour)
  node --import tsx bench/idle-hour.ts
  exit
  ;;
'') ;;
*)
  echo "usage: npm run bench [-- idle-hour]" >&2
  exit 64
  ;;
esac
node --import tsx bench/lab-bench.ts
node --import tsx bench/hook-cost.ts
node --import tsx bench/idle-memory.ts
node --import tsx bench/heap-by-module.ts
