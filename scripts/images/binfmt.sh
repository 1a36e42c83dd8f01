#!/usr/bin/env bash
# binfmt_misc for the foreign arch (qemu-user-static): `up` mounts binfmt_misc and registers the handler
# when absent and records what it did in $CACHE/binfmt.did; `down` undoes only that.
#   bash scripts/images/binfmt.sh up|down|status
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
BM=/proc/sys/fs/binfmt_misc
DID=$CACHE/binfmt.did
foreign=$([ "$(host_arch)" = amd64 ] && echo arm64 || echo amd64)
name="qemu-$(qemu_name "$foreign")"
case "${1:-status}" in
  up)
    touch "$DID"
    if [ ! -e "$BM/register" ]; then
      mount -t binfmt_misc binfmt_misc "$BM"
      echo mounted >>"$DID"
    fi
    if [ ! -e "$BM/$name" ]; then
      conf=/usr/lib/binfmt.d/$name.conf
      [ -r "$conf" ] || die "$conf missing (apt-get install qemu-user-static)"
      tr -d '\n' <"$conf" >"$BM/register"
      echo "registered $name" >>"$DID"
    fi
    grep -q '^enabled' "$BM/$name" || die "$name is registered but disabled"
    log "binfmt: $name $(head -n1 "$BM/$name"), interpreter $(sed -n 's/^interpreter //p' "$BM/$name")"
    ;;
  down)
    [ -s "$DID" ] || exit 0
    if grep -q '^registered ' "$DID"; then echo -1 >"$BM/$name" && log "binfmt: unregistered $name"; fi
    if grep -q '^mounted$' "$DID"; then umount "$BM" && log "binfmt: unmounted binfmt_misc"; fi
    rm -f "$DID"
    ;;
  status) [ -e "$BM/$name" ] && cat "$BM/$name" || echo "$name: not registered" ;;
  *) die "usage: binfmt.sh up|down|status" ;;
esac
