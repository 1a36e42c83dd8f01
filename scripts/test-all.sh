#!/usr/bin/env bash
# `npm test`: the whole suite from a fresh clone — install, lint, typecheck, unit + integration
# (real SQLite, real PostgreSQL, real QEMU/OVS), then Playwright e2e in Debian's Chromium.
# Every service it starts is stopped on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$(date +%s)
step() { printf '\n\033[1m== %s (%ss)\033[0m\n' "$1" "$(( $(date +%s) - START ))"; }

step "system packages"
bash scripts/install-system-deps.sh

step "npm packages"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

step "prisma clients"
node scripts/prisma-generate.mjs

step "lint (eslint: no warnings, no import cycles, domain boundaries; file and line size)"
npx eslint . --max-warnings=0
node scripts/check-import-cycles.mjs
node scripts/check-source-shape.mjs

step "format (prettier)"
npx prettier --check . --log-level=warn

step "typecheck"
npx tsc --noEmit

step "test fixtures (cached)"
bash scripts/fixtures/build.sh

step "arm64 Node for the aarch64 agent (cached)"
bash scripts/fleet/arm64-node.sh >/dev/null

step "agent bundle"
node scripts/build-agent.mjs

# The custom server (server/ → dist/server.mjs): docker/standalone.int.test.ts and Playwright start it.
step "server bundle"
node scripts/build-server.mjs

cleanup() {
  bash scripts/pg-test-server.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

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

rm -rf .cache/reports && mkdir -p .cache/reports
step "unit + integration tests (vitest)"
npx vitest run --reporter=default --reporter=json --outputFile.json=.cache/reports/vitest-results.json

step "agent unit suite under arm64 Node (qemu-user)"
bash scripts/test-agent-arm64.sh --reporter=default --reporter=json --outputFile.json=.cache/reports/vitest-arm64-results.json

step "browser tests (playwright)"
npx playwright test

step "summary"
node scripts/test-summary.mjs .cache/reports/vitest-results.json .cache/reports/vitest-arm64-results.json .cache/reports/e2e-results.json
echo "total time: $(( $(date +%s) - START ))s"
