#!/usr/bin/env bash
# The agent's own unit tests (agent/src/**/*.test.ts minus the ones that boot QEMU guests or start
# OVS — see vitest.arm64.config.ts) under an arm64 Node.js run by qemu-user on this machine.
#
#   1. scripts/fleet/arm64-node.sh          arm64 node + sysroot (cached)
#   2. .cache/arm64-test/<lock hash>/       `npm ci --cpu=arm64 --os=linux --libc=glibc` of the repo's
#                                           package.json + package-lock.json (arm64 native bindings
#                                           of rolldown/lightningcss/esbuild), cached by lockfile hash
#   3. vitest (the arm64 copy) run under the arm64 node with vitest.arm64.config.ts
#
# Prints the process.arch / os.machine() it ran under and vitest's summary; exits non-zero when
# anything fails. Extra arguments go to vitest (e.g. a file filter).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
CACHE=$REPO/.cache/arm64-test
T0=$(date +%s.%N)
log() { printf '[test-agent-arm64] %s\n' "$*" >&2; }
die() { printf '[test-agent-arm64] error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

mapfile -t PREFIX < <(bash "$REPO/scripts/fleet/arm64-node.sh" --lines)
[ "${#PREFIX[@]}" -eq 4 ] || die "scripts/fleet/arm64-node.sh did not print a runtime"

# ---- arm64 node_modules, keyed by the lockfile ---------------------------------------------------
KEY=$( (cat "$REPO/package.json" "$REPO/package-lock.json"; echo "arm64 linux glibc ignore-scripts") | sha256sum | cut -c1-16)
DIR=$CACHE/$KEY
NM=$DIR/node_modules
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ ! -e "$DIR/.complete" ]; then
  t=$(date +%s.%N)
  log "npm ci --cpu=arm64 --os=linux --libc=glibc into ${DIR#"$REPO"/} (lockfile changed or first run)"
  rm -rf "$DIR" "$DIR.tmp"
  mkdir -p "$DIR.tmp"
  cp "$REPO/package.json" "$REPO/package-lock.json" "$DIR.tmp/"
  # --ignore-scripts: no install scripts (better-sqlite3 would compile for the wrong arch, prisma
  # would generate); the agent tests need only JS packages plus the arm64 native bindings.
  (cd "$DIR.tmp" && npm ci --cpu=arm64 --os=linux --libc=glibc --ignore-scripts --no-audit --no-fund --loglevel=error) >&2 ||
    die "npm ci for arm64 failed"
  touch "$DIR.tmp/.complete"
  mv "$DIR.tmp" "$DIR"
  # Older keys are stale: drop them.
  for old in "$CACHE"/*/; do
    [ "${old%/}" = "$DIR" ] || rm -rf "${old%/}"
  done
  log "arm64 node_modules ready in $(elapsed "$t") s ($(du -sh "$NM" | cut -f1))"
fi
flock -s 9 # shared while the tests run: another lockfile's install waits before deleting this one
[ -f "$NM/vitest/vitest.mjs" ] || die "no vitest in $NM"
ls -d "$NM"/@rolldown/binding-linux-arm64-gnu >/dev/null 2>&1 || die "no arm64 rolldown binding in $NM (npm ci ignored --cpu?)"

# ---- run ------------------------------------------------------------------------------------------
# shellcheck disable=SC2016 # JavaScript template literal, not shell
"${PREFIX[@]}" -e 'const os=require("node:os");console.log(`[test-agent-arm64] running under process.arch=${process.arch} os.machine()=${os.machine()} node ${process.version}`)'
cd "$REPO"
t=$(date +%s.%N)
set +e
POLYARCH_ARM64_NODE_MODULES=$NM "${PREFIX[@]}" "$NM/vitest/vitest.mjs" run --config vitest.arm64.config.ts "$@"
rc=$?
set -e
log "vitest under arm64 Node: exit $rc, $(elapsed "$t") s (total $(elapsed "$T0") s)"
exit "$rc"
