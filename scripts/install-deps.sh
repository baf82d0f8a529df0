#!/usr/bin/env bash
# Installs what the tests, the demo and the benchmarks need, and only what is missing, so it is
# cheap to run every time: Debian packages (as root, via apt-get) and node_modules (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  iproute2 procps util-linux # ip/ss, sysctl, setsid/setpriv
  socat nftables iptables    # the agent's listeners and firewall backends
  dnsmasq-base busybox udhcpc curl # the lab: DHCP server, device (DHCP client + httpd, and busybox's ip for the preflight test), client
  mosquitto mosquitto-clients openssl # MQTT broker tests (TLS certificates made by the tests)
  haproxy shellcheck systemd # systemd-analyze checks the unit
  bind9 bind9-dnsutils # DNS updates: nsupdate and dig (the agent, doctor), named (the lab's authoritative server)
)
# The machine's own node runs the whole suite and the build tools: 20.19 is enough for them, though the agent
# supports 22 and later (src/cli/node-support.ts). scripts/test.sh fetches the supported lines itself.
MIN_NODE="20.19.0"

log() { printf '==> %s\n' "$*"; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install_packages() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do installed "$pkg" || missing+=("$pkg"); done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages: all present"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# True when version $1 >= version $2 (dotted numbers).
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

check_node() {
  local have
  have="$(node --version 2>/dev/null | sed 's/^v//' || true)"
  if [ -z "$have" ] || ! version_at_least "$have" "$MIN_NODE"; then
    echo "Node.js >= $MIN_NODE is needed (found: ${have:-none})." >&2
    echo "Install it from https://nodejs.org/en/download or your distribution, then run this again." >&2
    exit 1
  fi
}

install_node_modules() {
  # npm records what it installed in node_modules/.package-lock.json: stale if the lock file is newer.
  if [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] \
    && [ ! package.json -nt node_modules/.package-lock.json ]; then
    log "node_modules: up to date"
    return
  fi
  log "npm ci"
  npm ci --no-audit --no-fund
}

install_packages
check_node
install_node_modules
