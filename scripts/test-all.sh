#!/usr/bin/env bash
# `npm test`: the whole suite from a fresh clone — install, lint, typecheck, unit + integration
# (real SQLite, real PostgreSQL, real QEMU/OVS), then Playwright e2e in Debian's Chromium.
# Every service it starts is stopped on exit, also on failure.
#
# Work that waits rather than computes runs beside other work (2 cores): the boot fixtures and the
# arm64 Node (downloads) beside `npm ci` and the checks; eslint, prettier and tsc at once; the arm64
# agent suite (its node_modules install, then one emulated core), after it the integration files that
# may run beside the guests (integration-beside: about one core), and the network tests in private namespaces
# (integration-netns: they mostly wait on ARP, DHCP and timers) beside the serial integration files
# (QEMU guests and agents, about one core). Each step's header says how busy the cores were during
# the step before it. A job run beside others writes to
# .cache/logs/<name>.log, printed when it is joined.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$(date +%s)
# cpu_note: sets CPU_NOTE to how busy the machine's cores were since the previous step, in % of all
# cores (/proc/stat): where the suite waits rather than computes, work can run beside it.
CPU_LAST="" CPU_NOTE=""
cpu_note() {
  local now busy total
  now=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
  CPU_NOTE=""
  if [ -n "$CPU_LAST" ]; then
    busy=$(( ${now% *} - ${CPU_LAST% *} ))
    total=$(( ${now#* } - ${CPU_LAST#* } ))
    [ "$total" -gt 0 ] && CPU_NOTE="; cores busy since the last step: $(( 100 * busy / total ))%"
  fi
  CPU_LAST=$now
}
step() {
  cpu_note
  printf '\n\033[1m== %s (%ss%s)\033[0m\n' "$1" "$(( $(date +%s) - START ))" "$CPU_NOTE"
}

mkdir -p .cache/logs
declare -A BG_PID=() BG_T0=()
# start_bg NAME CMD…: starts CMD in a process group of its own, output to .cache/logs/NAME.log.
start_bg() {
  local name=$1
  shift
  BG_T0[$name]=$(date +%s)
  setsid "$@" >".cache/logs/$name.log" 2>&1 </dev/null &
  BG_PID[$name]=$!
}
# join_bg NAME: waits for it, prints its log and how long it ran; returns its exit status.
join_bg() {
  local name=$1 rc=0
  wait "${BG_PID[$name]}" || rc=$?
  unset "BG_PID[$name]"
  cat ".cache/logs/$name.log"
  printf '\033[1m-- %s: exit %s after %ss (joined at %ss)\033[0m\n' "$name" "$rc" \
    "$(( $(date +%s) - BG_T0[$name] ))" "$(( $(date +%s) - START ))"
  return "$rc"
}

cleanup() {
  local pid
  for pid in "${BG_PID[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  bash scripts/pg-test-server.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "system packages"
bash scripts/install-system-deps.sh

# Needs no node_modules: mostly downloads, beside npm ci and the checks; joined before vitest.
step "test fixtures and arm64 Node for the aarch64 agent (cached; in the background)"
start_bg prefetch bash -c 'bash scripts/fixtures/build.sh && bash scripts/fleet/arm64-node.sh >/dev/null'

step "npm packages"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

step "prisma clients"
node scripts/prisma-generate.mjs

step "lint (eslint: no warnings, no import cycles, domain boundaries; file and line size), format (prettier), typecheck — at once"
start_bg lint bash -c 'npx eslint . --max-warnings=0 && node scripts/check-import-cycles.mjs && node scripts/check-source-shape.mjs'
start_bg format npx prettier --check . --log-level=warn
start_bg typecheck npx tsc --noEmit
checks=0
join_bg lint || checks=1
join_bg format || checks=1
join_bg typecheck || checks=1
[ "$checks" = 0 ] || { echo "lint, format or typecheck failed (above)" >&2; exit 1; }

step "agent bundle"
node scripts/build-agent.mjs

# The custom server (server/ → dist/server.mjs): docker/standalone.int.test.ts and Playwright start it.
step "server bundle"
node scripts/build-server.mjs

step "PostgreSQL for integration tests"
if POLYARCH_TEST_PG_URL=$(bash scripts/pg-test-server.sh start); then
  export POLYARCH_TEST_PG_URL
  echo "PostgreSQL at ${POLYARCH_TEST_PG_URL%%@*}@…"
else
  echo "PostgreSQL could not be started; PostgreSQL tests will report it" >&2
fi

# Built before vitest: docker/standalone.int.test.ts starts the standalone output of this build.
step "build the console"
npx next build

step "test fixtures and arm64 Node (joining the background job)"
join_bg prefetch

rm -rf .cache/reports && mkdir -p .cache/reports
REPORTS=(.cache/reports/vitest-results.json .cache/reports/vitest-integration-results.json
  .cache/reports/vitest-beside-results.json .cache/reports/vitest-netns-results.json .cache/reports/vitest-arm64-results.json
  .cache/reports/e2e-results-fleet.json .cache/reports/e2e-results-ui.json)
# failure_summary: the failed tests again, at the end of the log (CI keeps its tail).
failure_summary() { step "what failed"; node scripts/test-summary.mjs --partial "${REPORTS[@]}" || true; }
# Two vitest runs: unit + database first (both cores), then the serial `integration` project with
# three jobs beside it (vitest.config.ts): the arm64 agent suite and, once it ends, `integration-beside`
# (files that each use about one core and share nothing with the guests); `integration-netns` from the start (it mostly waits).
# All run to the end before a failure of any of them stops the script.
step "unit + database integration tests (vitest: unit, integration-db)"
vitest_rc=0
npx vitest run --project unit --project integration-db \
  --reporter=default --reporter=json --reporter=./scripts/vitest-diffs-reporter.mjs --outputFile.json=.cache/reports/vitest-results.json || vitest_rc=1

step "QEMU/OVS/agent integration tests, one file at a time (vitest: integration); beside it the arm64 agent suite, then the integration files that may run beside them (integration-beside), and the private-netns network tests (integration-netns)"
# integration-beside starts when the arm64 suite has ended (its marker file), so that no more than
# about two cores' worth of work (the serial guests and one of these) runs at once.
rm -f .cache/logs/arm64.done
start_bg arm64 bash -c 'rc=0; bash scripts/test-agent-arm64.sh "$@" || rc=$?; touch .cache/logs/arm64.done; exit $rc' _ \
  --reporter=default --reporter=json --outputFile.json=.cache/reports/vitest-arm64-results.json
start_bg beside bash -c 'until [ -e .cache/logs/arm64.done ]; do sleep 2; done; exec "$@"' _ \
  npx vitest run --project integration-beside \
  --reporter=default --reporter=json --reporter=./scripts/vitest-diffs-reporter.mjs --outputFile.json=.cache/reports/vitest-beside-results.json
start_bg netns npx vitest run --project integration-netns \
  --reporter=default --reporter=json --reporter=./scripts/vitest-diffs-reporter.mjs --outputFile.json=.cache/reports/vitest-netns-results.json
npx vitest run --project integration \
  --reporter=default --reporter=json --reporter=./scripts/vitest-diffs-reporter.mjs --outputFile.json=.cache/reports/vitest-integration-results.json || vitest_rc=1

step "network tests in private namespaces (vitest: integration-netns; joining the background job)"
join_bg netns || vitest_rc=1

step "agent unit suite under arm64 Node (qemu-user; joining the background job)"
join_bg arm64 || vitest_rc=1

step "integration files run beside the serial ones (vitest: integration-beside; joining the background job)"
join_bg beside || vitest_rc=1
[ "$vitest_rc" = 0 ] || { failure_summary; echo "vitest failed (above)" >&2; exit 1; }

# Two lanes (e2e/lanes.ts), each with its own server, data dir and signed-in states (e2e/paths.ts):
# the fleet lane's specs mostly wait on QEMU guests booting on one core; the UI lane fills the other,
# niced, so the fleet lane's emulated aarch64 agent and guests keep their heartbeat deadlines.
step "browser tests (playwright): the fleet lane; beside it the UI lane on a server of its own"
e2e_rc=0
start_bg e2e-ui nice -n 10 env E2E_LANE=ui E2E_PORT=$(( ${E2E_PORT:-3310} + 20 )) npx playwright test
E2E_LANE=fleet npx playwright test || e2e_rc=1

step "browser tests, UI lane (joining the background job)"
join_bg e2e-ui || e2e_rc=1
[ "$e2e_rc" = 0 ] || { failure_summary; echo "playwright failed (above)" >&2; exit 1; }

step "summary"
node scripts/test-summary.mjs "${REPORTS[@]}"
echo "total time: $(( $(date +%s) - START ))s"
