#!/usr/bin/env bash
# The whole test suite, as the README and CI run it: install what is missing, build, typecheck, lint,
# check formatting, then the unit tests (with every other test/*/ directory) and the network-lab tests
# (root). Every step runs even if an earlier one failed, so one run shows everything; the last line is
# "N passed, N failed" (test counts of both node test runs), and the exit code is non-zero if any step
# or test failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

bash scripts/install-deps.sh || exit 1

failed_steps=()
passed=0
failed=0
# The supported Node lines: the machine's own node runs everything, these run the unit tests and the smoke test.
# SIXGATE_NODE_LINES="" skips them (a quick local run).
read -r -a NODE_LINES <<<"${SIXGATE_NODE_LINES-22 24 26}"
# The lab smoke test on every line: a request answered end to end, a WAN renumbering followed, SIGTERM cleaning
# up. Picked by name from the end-to-end tests; the run must pass exactly this many tests, so a renamed test
# cannot make it pass empty.
SMOKE_FILE=test/lab/agent.e2e.test.ts
SMOKE_PATTERN='^serves every configured port|^follows a WAN renumbering|^SIGTERM: exits 0'
SMOKE_TESTS=3
reports="$(mktemp -d)"
trap 'rm -rf "$reports"' EXIT

step() {
  local name=$1
  shift
  printf '\n==> %s\n' "$name"
  if ! "$@"; then
    failed_steps+=("$name")
  fi
}

# Runs one node test run with a human reporter on stdout and a TAP copy to count from.
node_tests() {
  local name=$1
  shift
  if [ "$#" -eq 0 ]; then
    echo "no test files"
    return 0
  fi
  node --import tsx --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$reports/$name.tap" \
    "$@"
}

# Adds the "# pass N" / "# fail N" summary of a TAP report to the totals.
count() {
  local tap="$reports/$1.tap" p f
  [ -f "$tap" ] || return 0
  p="$(grep -E '^# pass [0-9]+$' "$tap" | tail -n1 | awk '{print $3}')"
  f="$(grep -E '^# fail [0-9]+$' "$tap" | tail -n1 | awk '{print $3}')"
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
}

# The "# tests N" of a TAP report (empty when there is none).
tests_run() { grep -E '^# tests [0-9]+$' "$reports/$1.tap" 2>/dev/null | tail -n1 | awk '{print $3}'; }

# Runs the unit tests and the lab smoke test with Node $1 first on PATH (node --test runs each file with the
# same binary; the lab starts the agent with it too).
line_tests() {
  local line=$1 bin
  if ! bin="$(bash scripts/node-line.sh "$line")"; then
    failed_steps+=("node $line: install")
    return
  fi
  PATH="$bin:$PATH" step "node $line: $("$bin/node" --version) unit and component tests" \
    node_tests "unit-$line" "${unit_files[@]}"
  count "unit-$line"
  PATH="$bin:$PATH" step "node $line: lab smoke test" lab_tests_as "smoke-$line" \
    --test-name-pattern="$SMOKE_PATTERN" "$SMOKE_FILE"
  count "smoke-$line"
  local ran
  ran="$(tests_run "smoke-$line")"
  if [ "${ran:-0}" -ne "$SMOKE_TESTS" ]; then
    echo "node $line: the smoke test ran ${ran:-0} tests, expected $SMOKE_TESTS" >&2
    failed_steps+=("node $line: smoke test count")
  fi
}

lab_tests() { lab_tests_as lab "$@"; }

lab_tests_as() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "the lab tests need root (network namespaces)" >&2
    return 1
  fi
  node_tests "$@"
}

shopt -s nullglob
shell_scripts=(scripts/*.sh .ci/run hotplug/*)
unit_files=(test/unit/*.test.ts)
lab_files=(test/lab/*.test.ts)
# Other test directories (test/mqtt, test/hotplug, ...) run with the unit tests: no test file is left out.
for f in test/*/*.test.ts; do
  case "$f" in
    test/unit/* | test/lab/*) ;;
    *) unit_files+=("$f") ;;
  esac
done
shopt -u nullglob

step build npm run build
step typecheck npm run typecheck
step lint npm run lint
step format npm run format:check
step shellcheck shellcheck "${shell_scripts[@]}"
step "unit and component tests" node_tests unit "${unit_files[@]}"
count unit
step "lab tests" lab_tests "${lab_files[@]}"
count lab
for line in "${NODE_LINES[@]}"; do line_tests "$line"; done

echo
if [ "${#failed_steps[@]}" -gt 0 ]; then
  echo "failed steps: ${failed_steps[*]}"
fi
echo "$passed passed, $failed failed"
[ "${#failed_steps[@]}" -eq 0 ] && [ "$failed" -eq 0 ]
