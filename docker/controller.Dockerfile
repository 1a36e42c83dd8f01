# syntax=docker/dockerfile:1.7
# Polyarch controller: the Next.js console + agent API + console WebSocket proxy, one image for
# linux/amd64 and linux/arm64 (a manifest list). Build context: the repository root.
#   scripts/docker-build.sh            (docker buildx, both platforms, push, manifest check)
#   npm run images                     (buildah, local base images, both platforms, smoke run)
#   docs/deploy.md, docs/decisions/015-container-images-and-kubernetes.md
#
# Stages:
#   deps    --platform=$BUILDPLATFORM  npm ci
#   build   --platform=$BUILDPLATFORM  Prisma clients, `next build`, the custom server bundle
#                                      (scripts/build-server.mjs → dist/server.mjs), assemble the standalone
#                                      tree: JavaScript and static files, identical for every arch,
#                                      so it runs once, natively, on the builder's own CPU.
#   native  --platform=$BUILDPLATFORM  the native add-ons (better-sqlite3, sharp's binaries) for
#                                      $TARGETARCH: prebuilt packages for the target from npm, the rest
#                                      cross-compiled on the builder's CPU (Debian's cross gcc, node-gyp
#                                      --arch; ADR 053) — compiling under emulation takes far too long.
#   runtime $TARGETPLATFORM            Debian packages (qemu-img for image validation,
#                                      decompressors; tar + pg_dump 15 for scripts/backup.mjs),
#                                      non-root user, the two trees above.
ARG NODE_VERSION=20
# Base images are build arguments so that one file serves both builds: the defaults are the official
# multi-arch Node images (a registry build, scripts/docker-build.sh); `npm run images` passes local
# stand-ins made with debootstrap + Node from npm (scripts/images/, ADR 053). BUILD_IMAGE runs on the
# builder's CPU (it needs apt, a C/C++ toolchain, python3 and Node's headers: the non-slim image);
# RUNTIME_IMAGE is an image of the target platform.
ARG BUILD_IMAGE=node:${NODE_VERSION}-bookworm
ARG RUNTIME_IMAGE=node:${NODE_VERSION}-bookworm-slim

# ------------------------------------------------------------------------------------------- build
# deps: the dependency install on its own, so a build can stop after it (`--target deps`) and resume
# from its cached layer (scripts/images/ keeps each step short that way).
FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS deps
WORKDIR /src
ENV NEXT_TELEMETRY_DISABLED=1 CHECKPOINT_DISABLE=1 PRISMA_HIDE_UPDATE_MESSAGE=1
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund

FROM --platform=$BUILDPLATFORM deps AS build
COPY . .
RUN node scripts/prisma-generate.mjs \
 && npx next build \
 && node scripts/build-server.mjs \
 && node docker/assemble-standalone.mjs --out /out/app --native-manifest /out/native/package.json

# ------------------------------------------------------------------------------------------ native
FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS native
ARG TARGETARCH
ARG BUILDARCH
# The cross toolchain (Debian's gcc-<target>-linux-gnu) when the target is not the builder's CPU;
# nothing extra for a native build.
RUN case "$TARGETARCH" in \
      "$BUILDARCH") exit 0 ;; \
      arm64) cross=aarch64-linux-gnu ;; \
      amd64) cross=x86-64-linux-gnu ;; \
      *) echo "native: no cross toolchain for $TARGETARCH" >&2; exit 1 ;; \
    esac \
 && apt-get update \
 && apt-get install -y --no-install-recommends "gcc-$cross" "g++-$cross" \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /native
COPY docker/native-stage.mjs /native-stage.mjs
COPY --from=build /out/native/package.json ./package.json
RUN --mount=type=cache,target=/root/.npm node /native-stage.mjs /native /out --arch "$TARGETARCH"

# ----------------------------------------------------------------------------------------- runtime
FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates qemu-utils zstd xz-utils lz4 bzip2 lzop \
      tar postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 polyarch \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/polyarch --no-create-home --shell /usr/sbin/nologin polyarch \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/polyarch
WORKDIR /app
ENV NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    PORT=3000 \
    POLYARCH_DATA_DIR=/var/lib/polyarch
# Code is owned by root and read-only for the service user; only the data dir is writable.
COPY --from=build /out/app/ /app/
COPY --from=native /out/node_modules/ /app/node_modules/
LABEL org.opencontainers.image.title="polyarch-controller" \
      org.opencontainers.image.description="Polyarch console for mixed x86_64 + aarch64 fleets" \
      org.opencontainers.image.source="https://github.com/polyarch/polyarch"
USER 10001:10001
EXPOSE 3000 3443
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 CMD ["node", "/app/docker/healthcheck.mjs"]
# tini: signals reach Node (graceful SIGTERM in server/main.ts) and qemu-img children are reaped.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/docker/controller-start.mjs"]
