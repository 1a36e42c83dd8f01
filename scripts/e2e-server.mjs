// Starts the already-built console (`next build`) for Playwright on a fresh data dir: migrate, bundle
// the custom server (server/ → dist/server.mjs, under a second, so never stale), then run it.
// Playwright stops it (SIGTERM) when the run ends; we pass that on to the child.
import { spawn, execFileSync } from "node:child_process";
import { rmSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const dataDir = resolve(root, process.env.E2E_DATA_DIR ?? ".cache/e2e-data");
rmSync(dataDir, { recursive: true, force: true });
mkdirSync(dataDir, { recursive: true });

const env = {
  ...process.env,
  NODE_ENV: "production",
  POLYARCH_DATA_DIR: dataDir,
  POLYARCH_PUBLIC_URL: `http://127.0.0.1:${process.env.PORT}`,
  // the agent API over TLS (e2e fleets use it: e2e/console-helpers.ts); playwright.config.ts sets it
  POLYARCH_AGENT_TLS_PORT: process.env.POLYARCH_AGENT_TLS_PORT ?? String(Number(process.env.PORT) + 1),
  POLYARCH_ADMIN_EMAIL: "admin@e2e.test",
  POLYARCH_ADMIN_PASSWORD: "admin-password-e2e",
  POLYARCH_JOIN_TOKEN: "e2e-join-token-0123456789abcdef",
  // e2e fleets join without an admin (ADR 025); e2e/host-credentials.spec.ts approves by hand where it matters
  POLYARCH_AUTO_APPROVE_HOSTS: "true",
  POLYARCH_LOGIN_RATE_MAX: "30",
  // no proxy in front: X-Forwarded-For from Playwright must be ignored (e2e/z-rate-limit.spec.ts)
  POLYARCH_TRUSTED_PROXIES: "",
  // The production default (20 s, four 5 s beats). 12 s tolerated two late beats only, and the fleet's
  // emulated aarch64 agent (arm64 Node under qemu-user) busy with three creates beside Chromium and
  // the UI lane once went 14 s without one: its host offline, its creates given up (a clean-clone run).
  POLYARCH_HEARTBEAT_TIMEOUT_MS: "20000",
  // a short HA lease (ADR 036): e2e/ha.spec.ts sees a dead host's HA VM restarted elsewhere after
  // 10 s + the controller's 7 s margin instead of a minute
  POLYARCH_HA_LEASE_MS: "10000",
  POLYARCH_DEMO_IMAGES_DIR: resolve(root, ".cache/fixtures"),
};
delete env.DATABASE_URL;
execFileSync(process.execPath, [resolve(root, "scripts/migrate.mjs")], { env, stdio: "inherit" });
// A lane (e2e/lanes.ts) bundles to a file of its own: two lanes start at once, and one must not run
// the file while the other rewrites it.
const serverFile = resolve(
  root,
  process.env.E2E_LANE ? `dist/server-e2e-${process.env.E2E_LANE}.mjs` : "dist/server.mjs",
);
execFileSync(process.execPath, [resolve(root, "scripts/build-server.mjs"), "--outfile", serverFile], {
  stdio: "inherit",
});
// dist/server.mjs = `next start` + the console WebSocket (e2e/console.spec.ts needs it) + the agent TLS port
const child = spawn(process.execPath, [serverFile, "-H", "127.0.0.1", "-p", process.env.PORT], {
  env,
  stdio: "inherit",
  cwd: root,
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => child.kill("SIGTERM"));
child.on("exit", (code) => process.exit(code ?? 0));
