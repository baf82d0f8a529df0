#!/usr/bin/env bash
# npm run soak: the chaos soak in the network lab (root, namespaces; 10 minutes unless SOAK_SECONDS says otherwise).
# Prints its figures and writes bench/results/soak-latest.json and .txt. See test/lab/soak.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run build >/dev/null
exec node --import tsx test/lab/soak-cli.ts
