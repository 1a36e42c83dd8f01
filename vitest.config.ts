import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";

export default defineConfig({
  resolve: {
    alias: {
      "@": fileURLToPath(new URL(".", import.meta.url)),
      // lib/server modules import "server-only", which throws outside React Server Components.
      "server-only": fileURLToPath(new URL("./scripts/server-only-stub.mjs", import.meta.url)),
    },
  },
  test: {
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", "e2e/**", ".next/**", ".cache/**", "data/**", "tools/**", "dist/**"],
    environment: "node",
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Integration tests boot QEMU and OVS: run files one at a time on a 2-core machine.
    fileParallelism: false,
  },
});
