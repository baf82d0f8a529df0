#!/usr/bin/env bash
# npm run bench: lab benchmarks (root, namespaces); prints figures and writes bench/results/latest.json.
# Then what one hook event costs, the socat hook against `sixgate notify` (bench/results/hooks.json), the idle
# agent's memory per Node line and flags (bench/results/memory.json) and by module (bench/results/heap-by-module.json),
# several devices (bench/results/devices.json), the data plane (bench/results/dataplane.json), sixgate's socat against
# socat by hand (bench/results/socat-rate.json) and reaction, footprint
# and scale (bench/results/reaction.json), both also into docs/benchmarks.md.
#
#   npm run bench                  all of the above (a few minutes)
#   npm run bench -- memory        only the idle agent's memory: RSS per Node line with and without MQTT, and
#                                  under each candidate flag set (bench/results/memory.json; about 10 minutes)
#   npm run bench -- idle-hour     only the one-hour idle run: memory growth (bench/results/idle-hour.json)
#   npm run bench -- devices       only several devices: reconcile time and processes for 1, 8, 32 devices, idle
#                                  RSS at 32 (bench/results/devices.json; about 3 minutes)
#   npm run bench -- dataplane     only the data plane against kernel routing, socat, 6tunnel and HAProxy
#                                  (bench/results/dataplane.json, docs/benchmarks.md; about 8 minutes)
#   npm run bench -- socat-rate    only sixgate's socat against the same socat by hand: new connections/s and CPU per
#                                  connection, rounds alternating (bench/results/socat-rate.json; about 3 minutes)
#   npm run bench -- reaction      only reaction (renumbering, lease change, link down/up to all ports served, with 2
#                                  and 64 ports), footprint and scale, socat and HAProxy side by side
#                                  (bench/results/reaction.json, docs/benchmarks.md; about 25 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run build >/dev/null

# What only the data-plane bench uses (the load generator, the device's web server, a relay to compare with),
# installed when missing. Debian starts the nginx service on install where systemd runs; the bench runs its own.
dataplane_tools() {
  local missing=() pkg
  for pkg in wrk nginx-light 6tunnel; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return
  echo "==> installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
}

case "${1:-}" in
memory)
  node --import tsx bench/idle-memory.ts
  exit
  ;;
idle-hour)
  node --import tsx bench/idle-hour.ts
  exit
  ;;
devices)
  node --import tsx bench/devices.ts
  exit
  ;;
dataplane)
  dataplane_tools
  node --import tsx bench/dataplane.ts
  exit
  ;;
reaction)
  dataplane_tools
  node --import tsx bench/reaction.ts
  exit
  ;;
socat-rate)
  dataplane_tools
  node --import tsx bench/socat-rate.ts
  exit
  ;;
'') ;;
*)
  echo "usage: npm run bench [-- memory | idle-hour | devices | dataplane | socat-rate | reaction]" >&2
  exit 64
  ;;
esac
node --import tsx bench/lab-bench.ts
node --import tsx bench/hook-cost.ts
node --import tsx bench/idle-memory.ts
node --import tsx bench/heap-by-module.ts
node --import tsx bench/devices.ts
dataplane_tools
node --import tsx bench/dataplane.ts
node --import tsx bench/socat-rate.ts
node --import tsx bench/reaction.ts
