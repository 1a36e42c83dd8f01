import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";

const NOT_HERE = ["node_modules/**", "e2e/**", ".next/**", ".cache/**", "data/**", "tools/**", "dist/**"];

// Two projects. `unit`: pure code and in-process fakes — no QEMU, OVS, database or build; runs in
// parallel in well under a minute (`npm run test:unit`). `integration`: files named *.int.test.ts —
// real SQLite and PostgreSQL, QEMU guests, Open vSwitch, the standalone build; one file at a time
// on a 2-core machine. `npm test` runs both.
export default defineConfig({
  resolve: {
    alias: {
      "@": fileURLToPath(new URL(".", import.meta.url)),
      // lib/server modules import "server-only", which throws outside React Server Components.
      "server-only": fileURLToPath(new URL("./scripts/server-only-stub.mjs", import.meta.url)),
    },
  },
  test: {
    environment: "node",
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["**/*.test.ts"],
          exclude: [...NOT_HERE, "**/*.int.test.ts"],
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["**/*.int.test.ts"],
          exclude: NOT_HERE,
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
