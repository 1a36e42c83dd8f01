// Where this Playwright run keeps its server's data, its signed-in states and its reports. Two runs
// can share the machine (scripts/test-all.sh runs the UI lane beside the fleet lane, each with its
// own server): E2E_LANE gives each its own directories, so the specs, the server and the fleets
// they start agree on paths without passing them around. Unset: one run of every spec, as before.
import { resolve } from "node:path";

export const E2E_LANE = process.env.E2E_LANE ?? "";
const suffix = E2E_LANE ? `-${E2E_LANE}` : "";

/** The console's data dir (scripts/e2e-server.mjs): its SQLite file, PKI, image store, e2e fleets. */
export const E2E_DATA_DIR = resolve(`.cache/e2e-data${suffix}`);
/** Each role's saved signed-in state (e2e/auth.setup.ts). */
export const E2E_AUTH_DIR = resolve(`.cache/e2e-auth${suffix}`);
export const E2E_REPORT = `.cache/reports/e2e-results${suffix}.json`;
export const E2E_OUTPUT_DIR = `test-results${suffix}`;
