import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";

const config = [
  ...nextVitals,
  ...nextTs,
  {
    ignores: ["node_modules/**", ".next/**", "lib/generated/**", "dist/**", "data/**", ".cache/**", "tools/**", "test-results/**", "playwright-report/**", "next-env.d.ts"],
  },
  {
    // The agent runs on plain Node (either arch) and must never pull in controller code.
    files: ["agent/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["**/lib/server/**", "**/app/**", "**/components/**", "@/lib/server/*", "@/app/*", "@/components/*"], message: "The agent may import only pure code from lib/." }] }],
    },
  },
  {
    // Pure shared code must stay importable from the browser and the agent.
    files: ["lib/**/*.ts"],
    ignores: ["lib/server/**"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["**/server/**", "@/lib/server/*"], message: "lib/ is pure; server-only code lives in lib/server/." }] }],
    },
  },
];
export default config;
