import { defineConfig } from "@playwright/test";
import { UI_LANE_SPECS } from "./e2e/lanes";
import { E2E_DATA_DIR, E2E_LANE, E2E_OUTPUT_DIR, E2E_REPORT } from "./e2e/paths";

// One built app (next start) serves every e2e test; Debian's Chromium, since browser downloads
// are blocked here (see README / DESIGN.md).
const PORT = Number(process.env.E2E_PORT ?? 3310);
export const baseURL = `http://127.0.0.1:${PORT}`;
/** The controller's agent API over TLS (scripts/e2e-server.mjs), which the e2e fleets' agents use. */
const AGENT_TLS_PORT = Number(process.env.E2E_AGENT_TLS_PORT ?? PORT + 1);
export const agentControllerUrl = `https://127.0.0.1:${AGENT_TLS_PORT}`;

const SETUP = /.*\.setup\.ts/;
const uiSpecs = UI_LANE_SPECS.map((f) => `**/${f}`);
/** E2E_LANE=ui / fleet runs one lane (e2e/lanes.ts); unset runs every spec. */
const lane =
  E2E_LANE === "ui"
    ? { testMatch: uiSpecs, testIgnore: SETUP }
    : E2E_LANE === "fleet"
      ? { testIgnore: [SETUP, ...uiSpecs] }
      : { testIgnore: SETUP };

export default defineConfig({
  testDir: "e2e",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [["list"], ["json", { outputFile: E2E_REPORT }]],
  outputDir: E2E_OUTPUT_DIR,
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  projects: [
    { name: "setup", testMatch: SETUP },
    { name: "chromium", dependencies: ["setup"], ...lane },
  ],
  webServer: {
    command: "node scripts/e2e-server.mjs",
    url: `${baseURL}/api/health`,
    reuseExistingServer: false,
    timeout: 180_000,
    stdout: "pipe",
    stderr: "pipe",
    env: { PORT: String(PORT), POLYARCH_AGENT_TLS_PORT: String(AGENT_TLS_PORT), E2E_DATA_DIR, E2E_LANE },
  },
});
