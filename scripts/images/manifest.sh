#!/usr/bin/env bash
# Joins the per-arch builds of each image into one manifest list $IMAGE_PREFIX/<image>:$TAG, checks that
# it lists linux/amd64 and linux/arm64, and prints platforms, digests and sizes (also as
# $CACHE/last-manifests.json for docs/deploy.md); the lists are also written as OCI layouts to $CACHE/oci/.
#   bash scripts/images/manifest.sh [controller agent]
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(controller agent)
ARCHES=(amd64 arm64)
json="{"
for image in "${images[@]}"; do
  list=$IMAGE_PREFIX/$image:$TAG
  buildah manifest rm "$list" >/dev/null 2>&1 || true
  buildah manifest create "$list" >/dev/null
  sizes=""
  for arch in "${ARCHES[@]}"; do
    ref=$IMAGE_PREFIX/$image:$TAG-$arch
    buildah inspect --type image "$ref" >/dev/null 2>&1 || die "$ref is not built (bash scripts/images/build.sh $image $arch)"
    buildah manifest add --arch "$arch" --os linux "$list" "containers-storage:$ref" >/dev/null
    size=$(podman image inspect --format '{{.Size}}' "$ref")
    sizes="$sizes\"$arch\": $size, "
  done
  inspect=$(buildah manifest inspect "$list")
  platforms=$(node -e 'const m=JSON.parse(require("fs").readFileSync(0,"utf8"));
    console.log(m.manifests.map((x)=>`${x.platform.os}/${x.platform.architecture}`).sort().join(" "))' <<<"$inspect")
  [ "$platforms" = "linux/amd64 linux/arm64" ] || die "$list lists '$platforms', not linux/amd64 linux/arm64"
  # The list's digest as a registry would serve it: push it (all arches) to an OCI layout on disk, which
  # is also a transportable artifact (`skopeo copy --all oci:… docker://…`).
  rm -rf "$CACHE/oci/$image"
  mkdir -p "$CACHE/oci"
  buildah manifest push --all --quiet --digestfile "$CACHE/oci/$image.digest" "$list" "oci:$CACHE/oci/$image:$TAG" >/dev/null
  digest=$(cat "$CACHE/oci/$image.digest")
  echo "$list  ($platforms)  list digest $digest"
  node -e 'const m=JSON.parse(require("fs").readFileSync(0,"utf8"));
    for (const x of m.manifests) console.log(`  ${x.platform.os}/${x.platform.architecture}  ${x.digest}  manifest ${x.size} B`)' <<<"$inspect"
  for arch in "${ARCHES[@]}"; do
    printf '  %s image size: %s MB\n' "$arch" "$(podman image inspect --format '{{.Size}}' "$IMAGE_PREFIX/$image:$TAG-$arch" | awk '{ printf "%.0f", $1 / 1e6 }')"
  done
  json="$json\"$image\": {\"list\": \"$list\", \"digest\": \"$digest\", \"platforms\": \"$platforms\", \"sizes\": {${sizes%, }}}, "
done
printf '%s}\n' "${json%, }" >"$CACHE/last-manifests.json"
