#!/usr/bin/env bash
# `npm run images`: builds polyarch/controller and polyarch/agent for linux/amd64 and linux/arm64 on this
# machine without a Docker engine or a registry (ADR 053), joins each into one manifest list, prints it,
# and smoke-runs both arches. Needs root on Debian 12.
#   1. tools: buildah, podman, debootstrap, qemu-user-static, binfmt-support (apt, when missing)
#   2. binfmt_misc + the qemu handler for the foreign arch (undone at exit if this script did it)
#   3. local base images (scripts/images/base.sh, cached in .cache/images/base/)
#   4. each image × arch from the real Dockerfile (scripts/images/build.sh), in stages (--target), batched
#      so each batch holds the bench lock a few minutes only; buildah --layers caches what did not change
#   5. manifest lists (scripts/images/manifest.sh) and the smoke run (scripts/images/smoke.mjs)
# Environment: IMAGE_PREFIX (localhost/polyarch), TAG (package.json version), SMOKE=0 to skip step 5's run,
# IMAGES="controller agent", ARCHES="amd64 arm64".
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root (buildah storage, debootstrap, binfmt_misc)"
IMAGES=${IMAGES:-controller agent}
ARCHES=${ARCHES:-amd64 arm64}
build=$(host_arch)

# --steps image:arch:stage…: build steps run back to back by a batch that already holds the bench lock.
if [ "${1:-}" = --steps ]; then
  for s in "${@:2}"; do
    IFS=: read -r image arch stage <<<"$s"
    # shellcheck disable=SC2086
    bash "$IMAGES_DIR/build.sh" "$image" "$arch" $stage
  done
  exit 0
fi

T0=$(now)
timings=()
step() { # step NAME CMD...: runs and records the duration
  local t
  t=$(now)
  "${@:2}"
  timings+=("$1=$(elapsed "$t")")
}
# batch NAME STEP…: several build steps under ONE acquisition of the bench lock; each batch is sized to
# hold it for a few minutes at most (measured in docs/deploy.md).
batch() {
  local steps=()
  for s in "${@:2}"; do
    IFS=: read -r image arch _ <<<"$s"
    [[ " $IMAGES " == *" $image "* && " $ARCHES $build " == *" $arch "* ]] && steps+=("$s")
  done
  [ ${#steps[@]} -gt 0 ] || return 0
  step "$1" locked env BENCH_LOCK_HELD=1 bash "$IMAGES_DIR/images.sh" --steps "${steps[@]}"
}

missing=()
for pair in buildah:buildah podman:podman debootstrap:debootstrap qemu-aarch64-static:qemu-user-static \
  update-binfmts:binfmt-support; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi

trap 'bash "$IMAGES_DIR/binfmt.sh" down' EXIT
bash "$IMAGES_DIR/binfmt.sh" up

for arch in $ARCHES; do
  step "base-slim-$arch" bash "$IMAGES_DIR/base.sh" "$arch" slim
done
# the toolchain image, builder's arch only: the build stages and the controller's native stage, which
# cross-compiles the add-ons for each target on this CPU
step "base-full-$build" bash "$IMAGES_DIR/base.sh" "$build" full
[ "$build" = amd64 ] || die "the batches below assume an amd64 builder"
# The JavaScript stages run once, natively; the native add-ons are built per arch but on this CPU
# (cross-compiled); only the final stages' Debian packages run per arch under emulation.
batch deps controller:amd64:deps
batch js controller:amd64:build agent:amd64:build
batch amd64 controller:amd64:native controller:amd64 agent:amd64
batch native-arm64 controller:arm64:native
batch controller-arm64 controller:arm64
batch agent-arm64 agent:arm64
# shellcheck disable=SC2086
step manifest bash "$IMAGES_DIR/manifest.sh" $IMAGES
if [ "${SMOKE:-1}" != 0 ]; then
  step smoke locked node "$IMAGES_DIR/smoke.mjs" --arch "${ARCHES// /,}" --prefix "$IMAGE_PREFIX" --tag "$TAG"
fi
log "durations (s, including waits for the bench lock): ${timings[*]}"
log "total: $(elapsed "$T0") s"
printf '{"date": "%s", "durations": "%s", "total": %s}\n' "$(date -u +%FT%TZ)" "${timings[*]}" "$(elapsed "$T0")" \
  >"$CACHE/last-run.json"
