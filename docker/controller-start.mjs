// Entrypoint of the controller image (and of docker/standalone.int.test.ts): apply pending migrations,
// then run the custom server (dist/server.mjs, bundled from server/: Next + the console WebSocket
// proxy + the agent TLS port) on the
// standalone build. Every replica runs this; scripts/migrate.mjs serialises concurrent starts
// (PostgreSQL advisory lock, SQLite BEGIN IMMEDIATE), so a rolling update migrates exactly once.
//
//   node docker/controller-start.mjs [-H host] [-p port]      (arguments go to dist/server.mjs)
//   POLYARCH_MIGRATE_ON_START=false   skip the migration step (e.g. when a Job or an operator runs
//                                     `node scripts/migrate.mjs` before the rollout)
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.env.NODE_ENV ??= "production";
process.env.NEXT_TELEMETRY_DISABLED ??= "1";

const flag = (process.env.POLYARCH_MIGRATE_ON_START ?? "true").trim().toLowerCase();
if (!["true", "false", "1", "0"].includes(flag)) {
  console.error(
    `controller-start: POLYARCH_MIGRATE_ON_START must be true or false, got "${process.env.POLYARCH_MIGRATE_ON_START}"`,
  );
  process.exit(2);
}
if (flag === "true" || flag === "1") {
  try {
    // Its own process: the same CLI operators run by hand, and its database handles are gone
    // before the server opens its own.
    execFileSync(process.execPath, [join(root, "scripts", "migrate.mjs")], { stdio: "inherit", env: process.env });
  } catch {
    console.error("controller-start: migrations failed; not starting the server (see above)");
    process.exit(1);
  }
}
await import("../dist/server.mjs");
