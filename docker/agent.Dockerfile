# syntax=docker/dockerfile:1.7
# Polyarch node agent: dist/agent.mjs (one self-contained JS bundle, no native modules) on Node,
# with QEMU for both guest arches, UEFI firmware, qemu-img, Open vSwitch tools and genisoimage.
# One image for linux/amd64 and linux/arm64; runs as the privileged DaemonSet in deploy/base.
# Build context: the repository root (scripts/docker-build.sh, npm run images, docs/deploy.md).
#
# Stages:
#   build   --platform=$BUILDPLATFORM  esbuild bundles the agent once, natively: the bundle is plain
#                                      JavaScript and the same file for every arch.
#   runtime $TARGETPLATFORM            Debian packages of the target arch (the only per-arch work).
ARG NODE_VERSION=20
# Base images are build arguments so that one file serves both builds: the defaults are the official
# multi-arch Node images (a registry build, scripts/docker-build.sh); `npm run images` passes local
# stand-ins made with debootstrap + Node from npm (scripts/images/, ADR 053). BUILD_IMAGE runs on the
# builder's CPU; the others are images of the target platform.
ARG BUILD_IMAGE=node:${NODE_VERSION}-bookworm
ARG RUNTIME_IMAGE=node:${NODE_VERSION}-bookworm-slim

# ------------------------------------------------------------------------------------------- build
FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Only esbuild and the agent's pure-JS dependencies are needed: no install scripts, no native builds.
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY scripts/build-agent.mjs scripts/bundle-node.mjs scripts/
COPY lib lib
COPY agent agent
RUN node scripts/build-agent.mjs

# ----------------------------------------------------------------------------------------- runtime
FROM ${RUNTIME_IMAGE} AS runtime
# qemu-system-x86 + qemu-system-arm: both guest arches on every node (native via KVM where the
# CPU matches, TCG emulation otherwise); ovmf / qemu-efi-aarch64: UEFI firmware; openvswitch-switch:
# ovs-vsctl (talks to the node's ovsdb-server through the mounted /var/run/openvswitch);
# genisoimage: cloud-init NoCloud seeds; iproute2: tap devices.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
      qemu-system-x86 qemu-system-arm qemu-utils ovmf qemu-efi-aarch64 \
      openvswitch-switch genisoimage iproute2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/dist/agent.mjs /opt/polyarch/agent.mjs
COPY docker/healthcheck.mjs /opt/polyarch/healthcheck.mjs
LABEL org.opencontainers.image.title="polyarch-agent" \
      org.opencontainers.image.description="Polyarch node agent (QEMU/KVM + Open vSwitch) for x86_64 and aarch64 nodes" \
      org.opencontainers.image.source="https://github.com/polyarch/polyarch"
ENV NODE_ENV=production \
    POLYARCH_STATE_DIR=/var/lib/polyarch-agent
# Root on purpose: /dev/kvm, tap devices and OVS ports need it (the DaemonSet runs it privileged).
USER 0:0
VOLUME ["/var/lib/polyarch-agent"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/opt/polyarch/healthcheck.mjs", "--agent"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/opt/polyarch/agent.mjs"]
