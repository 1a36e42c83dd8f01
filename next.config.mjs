import { createRequire } from "node:module";
import path from "node:path";
import createNextIntlPlugin from "next-intl/plugin";

// next-intl without locale routing (ADR 051): i18n/request.ts picks the language per request.
const withNextIntl = createNextIntlPlugin("./i18n/request.ts");

// Precompiled messages (issue 16): i18n/request.ts hands out messages already compiled by icu-minify, so
// use-intl formats them with its small format-only runtime and the ICU parser (intl-messageformat,
// @formatjs/icu-messageformat-parser) stays out of every page's first-load JS. next-intl's own `precompile`
// option does the same alias but expects catalogues imported as modules; ours are read from messages/ at
// run time (i18n/messages.ts). A relative "./" path: Turbopack's aliases take no absolute ones.
const formatOnly = `./${path
  .relative(process.cwd(), createRequire(import.meta.url).resolve("use-intl/format-message/format-only"))
  .replaceAll("\\", "/")}`;

/** @type {import('next').NextConfig} */
const nextConfig = {
  poweredByHeader: false,
  // .next/standalone: a self-contained server + traced node_modules for the container image
  // (docker/controller.Dockerfile, docs/deploy.md). `npm start` (dist/server.mjs, built from server/) is unaffected.
  output: "standalone",
  reactStrictMode: true,
  // i18n/messages.ts reads messages/<locale>/*.json at run time: ship them with the standalone server.
  outputFileTracingIncludes: { "/**": ["./messages/**/*.json"] },
  // better-sqlite3 and pg are native / Node-only: load them from node_modules at run time.
  serverExternalPackages: [
    "better-sqlite3",
    "@prisma/adapter-better-sqlite3",
    "pg",
    "@prisma/adapter-pg",
    // lib/server/platform/pki.ts: tsyringe needs reflect-metadata's global before it loads; keep Node's load order
    "@peculiar/x509",
    "reflect-metadata",
    "tsyringe",
  ],
  typescript: { ignoreBuildErrors: false },
  turbopack: { resolveAlias: { "use-intl/format-message": formatOnly } },
  // forbidden() renders app/forbidden.tsx with a 403 status for pages a role may not see.
  experimental: { authInterrupts: true },
  async headers() {
    return [
      {
        source: "/:path*",
        headers: [
          { key: "X-Content-Type-Options", value: "nosniff" },
          { key: "X-Frame-Options", value: "DENY" },
          { key: "Referrer-Policy", value: "same-origin" },
        ],
      },
    ];
  },
};
export default withNextIntl(nextConfig);
