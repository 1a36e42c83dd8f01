#!/usr/bin/env bash
# Builds one Polyarch image for one platform from the real Dockerfile with buildah (no Docker engine, no
# OCI runtime: --isolation chroot), from the local base images of scripts/images/base.sh, tagged
# $IMAGE_PREFIX/<image>:$TAG-<arch>. --layers keeps every finished step, so `--target <stage>` runs can
# split a long build into steps that each hold the bench lock for a few minutes only.
#   [CONTEXT=dir] bash scripts/images/build.sh <controller|agent> <amd64|arm64> [stage]
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
image=${1:?image}
arch=${2:?arch}
stage=${3:-}
case "$image" in controller | agent) ;; *) die "image must be controller or agent" ;; esac
build=$(host_arch)
# BUILD_IMAGE by image ID: buildah 1.28 looks a name up for the *target* platform even under
# `FROM --platform=$BUILDPLATFORM` (an arm64 build cannot find the amd64 base by name); an ID it takes as is.
build_id=$(buildah inspect --type image --format '{{.FromImageID}}' "$BASE_REPO:node20-bookworm-full-$build") ||
  die "base image $BASE_REPO:node20-bookworm-full-$build missing (bash scripts/images/base.sh $build full)"
# The controller's native add-ons are cross-compiled in a $BUILDPLATFORM stage on this same base, so
# only the runtime base is of the target arch.
args=(
  --build-arg "BUILD_IMAGE=$build_id"
  --build-arg "RUNTIME_IMAGE=$BASE_REPO:node20-bookworm-slim-$arch"
)
ref=$IMAGE_PREFIX/$image:$TAG-$arch
target=()
[ -n "$stage" ] && target=(--target "$stage") && ref=$ref-$stage
# A host whose egress re-signs TLS (its CA in NODE_EXTRA_CA_CERTS, as here) needs that CA for the npm
# steps: mounted for the build's RUN steps only, onto paths every base image already has (/mnt, the
# global npmrc), so neither the CA nor a mount point ends up in a layer.
ca=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r "$NODE_EXTRA_CA_CERTS" ]; then
  mkdir -p "$CACHE/build-ca"
  cp "$NODE_EXTRA_CA_CERTS" "$CACHE/build-ca/ca.pem"
  { base_npmrc; echo "cafile=/mnt/ca.pem"; } >"$CACHE/build-npmrc"
  ca=(--volume "$CACHE/build-ca:/mnt:ro" --volume "$CACHE/build-npmrc:/usr/local/etc/npmrc:ro")
fi
t=$(now)
log "buildah build $image linux/$arch${stage:+ (stage $stage)}"
# CONTEXT: the build context (default: this repository; a clean checkout gives a reproducible build).
cd "${CONTEXT:-$REPO}"
logfile=$CACHE/build-$image-$arch${stage:+-$stage}.log
# the build's output goes to its log; the lock's wait/held line stays on stderr
locked bash -c 'out=$1; shift; exec "$@" >"$out" 2>&1' _ "$logfile" \
  buildah build --isolation chroot --layers --force-rm --pull=never --format docker \
  --platform "linux/$arch" "${args[@]}" "${target[@]}" "${ca[@]}" \
  --label "org.opencontainers.image.version=$TAG" \
  --file "docker/$image.Dockerfile" --tag "$ref" . ||
  {
    tail -n 30 "$logfile" >&2
    die "build $image $arch failed (log: $logfile)"
  }
log "built $ref in $(elapsed "$t") s"
