import { defineConfig } from "@playwright/test";

// One built app (next start) serves every e2e test; Debian's Chromium, since browser downloads
// are blocked here (see README / DESIGN.md).
const PORT = Number(process.env.E2E_PORT ?? 3310);
export const baseURL = `http://127.0.0.1:${PORT}`;
/** The controller's agent API over TLS (scripts/e2e-server.mjs), which the e2e fleets' agents use. */
const AGENT_TLS_PORT = Number(process.env.E2E_AGENT_TLS_PORT ?? PORT + 1);
export const agentControllerUrl = `https://127.0.0.1:${AGENT_TLS_PORT}`;

export default defineConfig({
  testDir: "e2e",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [["list"], ["json", { outputFile: ".cache/reports/e2e-results.json" }]],
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
    { name: "setup", testMatch: /.*\.setup\.ts/ },
    { name: "chromium", dependencies: ["setup"], testIgnore: /.*\.setup\.ts/ },
  ],
  webServer: {
    command: "node scripts/e2e-server.mjs",
    url: `${baseURL}/api/health`,
    reuseExistingServer: false,
    timeout: 180_000,
    stdout: "pipe",
    stderr: "pipe",
    env: { PORT: String(PORT), POLYARCH_AGENT_TLS_PORT: String(AGENT_TLS_PORT), E2E_DATA_DIR: ".cache/e2e-data" },
  },
});
