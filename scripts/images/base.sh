#!/usr/bin/env bash
# Local stand-in for the official node:20-bookworm / node:20-bookworm-slim images (no registry here but
# npm and Debian): `debootstrap --variant=minbase bookworm` for ARCH, Node from the npm package
# node-linux-<arch>, npm from the `npm` package, laid out as in the official image. Two caches under
# $CACHE/base/: the debootstrap root (keyed by its inputs) and the image (annotated with the key of all
# inputs); imported with `podman import --arch` as $BASE_REPO:node20-bookworm-<flavour>-<arch>.
#   bash scripts/images/base.sh <amd64|arm64> <full|slim>
#   full: + build-essential, python3 and Node's C++ headers: what node-gyp needs (the official non-slim
#         image has them too)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
arch=${1:?arch}
flavour=${2:?flavour}
case "$flavour" in
  full) include=ca-certificates,build-essential,python3 ;;
  slim) include=ca-certificates ;;
  *) die "flavour must be full or slim" ;;
esac
tag=$BASE_REPO:node20-bookworm-$flavour-$arch
headers=""
[ "$flavour" = full ] && headers=$(host_node_headers)
deb_key=$(echo "debootstrap minbase $arch $include $SUITE $MIRROR" | sha256sum | cut -c1-16)
key=$( (cat "$0" "$IMAGES_DIR/lib.sh"; echo "$deb_key $NODE_VERSION $NPM_VERSION ${headers:+headers}") | sha256sum | cut -c1-16)
deb_tar=$CACHE/base/debootstrap-$flavour-$arch-$deb_key.tar
mkdir -p "$CACHE/base" "$CACHE/npm"

if buildah inspect --type image --format '{{index .ImageAnnotations "polyarch.base.key"}}' "$tag" 2>/dev/null | grep -qx "$key"; then
  log "base $tag is current ($key)"
  exit 0
fi

# What the official debian:bookworm(-slim) images (under node:20-bookworm(-slim)) configure: apt keeps no
# package caches (/var/cache/apt/*.bin alone is ~95 MB after an `apt-get update`), no translations;
# slim also keeps no docs, man pages or locales of the packages a Dockerfile installs.
debian_image_config() {
  local r=$1
  cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
  echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
  [ "$flavour" = slim ] || return 0
  mkdir -p "$r/etc/dpkg/dpkg.cfg.d"
  cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CONF
  find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$r"/usr/share/{man,groff,info,lintian,linda}/*
  find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
}

fetch_pkg() { # npm pack NAME@VERSION into $CACHE/npm (cached), prints the path
  local f=$CACHE/npm/$1-$2.tgz
  if [ ! -s "$f" ]; then
    (cd "$CACHE/npm" && npm pack --silent "$1@$2" >/dev/null) || die "npm pack $1@$2 failed"
  fi
  [ -s "$f" ] || die "npm pack $1@$2 left no $f"
  echo "$f"
}

root=$CACHE/base/root-$flavour-$arch
rm -rf "$root"
if [ ! -s "$deb_tar" ]; then
  t=$(now)
  log "debootstrap --variant=minbase --arch=$arch $SUITE (+ $include)"
  locked debootstrap --variant=minbase --arch="$arch" --include="$include" "$SUITE" "$root" "$MIRROR" \
    >"$CACHE/base/debootstrap-$flavour-$arch.log" 2>&1 || die "debootstrap failed: see $CACHE/base/debootstrap-$flavour-$arch.log"
  log "debootstrap $arch $flavour: $(elapsed "$t") s"
  cat >"$root/etc/apt/sources.list" <<SRC
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
SRC
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/var/log/*.log "$root"/tmp/*
  tar --sort=name --numeric-owner -C "$root" -cf "$deb_tar.tmp" .
  mv "$deb_tar.tmp" "$deb_tar"
else
  mkdir -p "$root"
  tar -C "$root" -xf "$deb_tar"
fi

t=$(now)
debian_image_config "$root"
rm -f "$root"/var/cache/apt/*.bin
node_tgz=$(fetch_pkg "$(node_pkg "$arch")" "$NODE_VERSION")
npm_tgz=$(fetch_pkg npm "$NPM_VERSION")
tar -xzf "$node_tgz" -C "$root/usr/local" --strip-components=1 package/bin/node
rm -rf "$root/usr/local/lib/node_modules/npm"
mkdir -p "$root/usr/local/lib/node_modules/npm"
tar -xzf "$npm_tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
# The global npmrc exists in both flavours (empty in slim), so build.sh can mount over it without
# leaving a mount point behind in an image.
mkdir -p "$root/usr/local/etc"
: >"$root/usr/local/etc/npmrc"
if [ -n "$headers" ]; then
  mkdir -p "$root/usr/local/include"
  rm -rf "$root/usr/local/include/node"
  cp -a "$headers" "$root/usr/local/include/node"
  base_npmrc >"$root/usr/local/etc/npmrc" # node-gyp: use these headers, download nothing
fi
img_tar=$CACHE/base/image-$flavour-$arch.tar
tar --sort=name --numeric-owner -C "$root" -cf "$img_tar" .
rm -rf "$root"
podman import --arch "$arch" --os linux \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' \
  "$img_tar" "$tag-import" >/dev/null 2>&1
rm -f "$img_tar"
# Annotated with the key so the next run can tell the image is current.
ctr=$(buildah from --pull=never "$tag-import")
buildah config --annotation "polyarch.base.key=$key" "$ctr"
buildah commit --quiet --rm "$ctr" "$tag" >/dev/null
buildah rmi "$tag-import" >/dev/null
log "base $tag: node $NODE_VERSION, npm $NPM_VERSION${headers:+, headers}; $(elapsed "$t") s"
