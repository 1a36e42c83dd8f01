#!/usr/bin/env bash
# Builds and pushes both Polyarch images as multi-arch manifest lists (linux/amd64 + linux/arm64),
# then checks that each pushed tag really lists both platforms.
#
#   IMAGE_PREFIX=ghcr.io/acme TAG=0.2.0 bash scripts/docker-build.sh
#
#   IMAGE_PREFIX  registry/namespace the images go to  (default ghcr.io/polyarch)
#   TAG           one tag for both arches                (default: package.json version)
#   PLATFORMS     (default linux/amd64,linux/arm64 — keep both: every node pulls the same tag)
#   BUILDER       buildx builder to use/create           (default polyarch-multiarch)
#   PUSH=0        build only (into the builder cache); skips the manifest check
#
# Needs a Docker engine with buildx. The build stages run once on the builder's own CPU
# (--platform=$BUILDPLATFORM); only the per-arch stages (Debian packages, better-sqlite3) run for
# the other arch, under QEMU user-mode emulation. Register it once per builder host:
#   docker run --privileged --rm tonistiigi/binfmt --install arm64,amd64
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE_PREFIX="${IMAGE_PREFIX:-ghcr.io/polyarch}"
TAG="${TAG:-$(node -p 'require("./package.json").version')}"
PLATFORMS="${PLATFORMS:-linux/amd64,linux/arm64}"
BUILDER="${BUILDER:-polyarch-multiarch}"
PUSH="${PUSH:-1}"

die() { echo "docker-build: $*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker CLI not found"
docker buildx version >/dev/null 2>&1 || die "docker buildx not available (install the buildx plugin)"
[[ "$TAG" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "TAG '$TAG' is not a valid image tag"
case "$TAG" in *-amd64 | *-arm64 | *-x86_64 | *-aarch64) die "TAG '$TAG' looks arch-specific; one tag holds both arches" ;; esac

# binfmt: without it the stages of the other arch cannot run. Only a hint: the engine may be remote.
IFS=',' read -r -a platform_list <<<"$PLATFORMS"
host_arch="$(docker version --format '{{.Server.Arch}}' 2>/dev/null || true)"
for p in "${platform_list[@]}"; do
  arch="${p#linux/}"
  qemu_name="$arch"
  [[ "$arch" == "amd64" ]] && qemu_name="x86_64"
  [[ "$arch" == "arm64" ]] && qemu_name="aarch64"
  if [[ -n "$host_arch" && "$arch" != "$host_arch" && ! -e "/proc/sys/fs/binfmt_misc/qemu-${qemu_name}" ]]; then
    echo "docker-build: note: no binfmt handler for ${p} here; if the build fails, run:" >&2
    echo "  docker run --privileged --rm tonistiigi/binfmt --install ${arch}" >&2
  fi
done

# A docker-container builder: the default "docker" driver cannot build manifest lists.
if ! docker buildx inspect "$BUILDER" >/dev/null 2>&1; then
  docker buildx create --name "$BUILDER" --driver docker-container --bootstrap >/dev/null
fi

output=(--push)
[[ "$PUSH" == "1" ]] || output=()

for image in controller agent; do
  ref="${IMAGE_PREFIX}/polyarch-${image}:${TAG}"
  echo "docker-build: ${ref} for ${PLATFORMS}"
  docker buildx build \
    --builder "$BUILDER" \
    --platform "$PLATFORMS" \
    --file "docker/${image}.Dockerfile" \
    --tag "$ref" \
    --label "org.opencontainers.image.version=${TAG}" \
    --provenance=false \
    "${output[@]}" \
    .
done

[[ "$PUSH" == "1" ]] || { echo "docker-build: built (not pushed)"; exit 0; }

# The pushed tag must be a manifest list holding every requested platform.
for image in controller agent; do
  ref="${IMAGE_PREFIX}/polyarch-${image}:${TAG}"
  listed="$(docker buildx imagetools inspect --format '{{range .Manifest.Manifests}}{{.Platform.OS}}/{{.Platform.Architecture}} {{end}}' "$ref")"
  for p in "${platform_list[@]}"; do
    [[ " $listed " == *" $p "* ]] || die "${ref} lacks ${p} (manifest list has: ${listed})"
  done
  echo "docker-build: ${ref} → ${listed}"
done
