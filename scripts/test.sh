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

lab_tests() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "the lab tests need root (network namespaces)" >&2
    return 1
  fi
  node_tests lab "$@"
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

echo
if [ "${#failed_steps[@]}" -gt 0 ]; then
  echo "failed steps: ${failed_steps[*]}"
fi
echo "$passed passed, $failed failed"
[ "${#failed_steps[@]}" -eq 0 ] && [ "$failed" -eq 0 ]
