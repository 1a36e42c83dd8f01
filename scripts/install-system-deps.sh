#!/usr/bin/env bash
# Installs the Debian packages Polyarch and its tests use (real QEMU for both arches, firmware,
# Open vSwitch, qemu-user for the aarch64 agent, PostgreSQL, Chromium). Only as root on Debian;
# otherwise it lists what is missing and leaves the decision to the caller.
set -euo pipefail
PKGS=(chromium qemu-system-x86 qemu-system-arm qemu-utils ovmf qemu-efi-aarch64 openvswitch-switch
      qemu-user-static busybox-static postgresql iproute2 cpio zstd xz-utils ethtool genisoimage fonts-liberation
      dosfstools mtools fdisk kmod grub-common syslinux syslinux-common xorriso isolinux e2fsprogs dnsmasq-base nftables iputils-arping conntrack)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "Missing Debian packages (install them as root): ${missing[*]}" >&2
  exit 0
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
