import nextVitals from "eslint-config-next/core-web-vitals";
import nextTs from "eslint-config-next/typescript";

// lib/server domains, lowest first. A domain may import only the indexes of domains before it
// (platform imports none); the order is the dependency graph, so it cannot have a cycle.
// See docs/architecture.md.
const DOMAINS = [
  "platform",
  "projects",
  "identity",
  "hosts",
  "images",
  "networks",
  "insights",
  "instance-types",
  "vms",
  "security-groups",
  "snapshots",
  "volumes",
  "mobility",
  "consoles",
  "startup",
  "web",
];

const AGENT_FOLDERS = ["api", "controller", "host", "images", "vm", "qemu", "network", "console", "fence", "util"];

const domainRules = DOMAINS.map((domain, i) => {
  const later = DOMAINS.slice(i + 1);
  const others = DOMAINS.filter((d) => d !== domain);
  return {
    files: [`lib/server/${domain}/**/*.ts`],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            ...(later.length
              ? [
                  {
                    group: later.flatMap((d) => [`../${d}`, `../${d}/*`, `@/lib/server/${d}`, `@/lib/server/${d}/*`]),
                    message: `lib/server/${domain} sits below these domains (see DOMAINS in eslint.config.mjs): move the code or invert the call.`,
                  },
                ]
              : []),
            {
              group: others.flatMap((d) => [`../${d}/*`, `@/lib/server/${d}/*`]),
              message: "Import another domain only through its index (../domain).",
            },
            {
              group: ["**/app/**", "**/components/**", "@/app/*", "@/components/*"],
              message: "lib/server is below app/ and components/.",
            },
          ],
        },
      ],
    },
  };
});

const config = [
  ...nextVitals,
  ...nextTs,
  {
    ignores: [
      "node_modules/**",
      ".next/**",
      "lib/generated/**",
      "dist/**",
      "data/**",
      ".cache/**",
      "tools/**",
      "test-results/**",
      "playwright-report/**",
      "next-env.d.ts",
    ],
  },
  // Import cycles: scripts/check-import-cycles.mjs (dpdm), not import/no-cycle — ADR 055.
  {
    // The agent runs on plain Node (either arch) and must never pull in controller code.
    files: ["agent/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: [
                "**/lib/server/**",
                "**/app/**",
                "**/components/**",
                "@/lib/server/*",
                "@/app/*",
                "@/components/*",
              ],
              message: "The agent may import only pure code from lib/.",
            },
          ],
        },
      ],
    },
  },
  {
    // Pure shared code must stay importable from the browser and the agent.
    files: ["lib/**/*.ts"],
    ignores: ["lib/server/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/server/**", "@/lib/server/*"],
              message: "lib/ is pure; server-only code lives in lib/server/.",
            },
          ],
        },
      ],
    },
  },
  {
    // Outside lib/server a domain is reached through its index only.
    files: ["app/**/*.ts", "app/**/*.tsx", "components/**/*.tsx", "server/**/*.ts", "instrumentation.ts", "proxy.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: DOMAINS.flatMap((d) => [`@/lib/server/${d}/*`, `**/lib/server/${d}/*`]),
              message: "Import a lib/server domain through its index (@/lib/server/<domain>).",
            },
          ],
        },
      ],
    },
  },
  {
    // The custom server is its own bundle (scripts/build-server.mjs): importing app code would run a
    // second copy of it (database client, env, PKI). It reaches the app through lib/server-hooks.ts.
    files: ["server/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: DOMAINS.flatMap((d) => [`@/lib/server/${d}/*`, `**/lib/server/${d}/*`]),
              message: "Import a lib/server domain through its index (@/lib/server/<domain>).",
            },
            {
              group: ["**/lib/server", "**/lib/server/**", "@/lib/server/*"],
              allowTypeImports: true,
              message: "server/ must not bundle app code: use lib/server-hooks.ts (types may be imported).",
            },
            {
              group: ["**/app/**", "**/components/**", "@/app/*", "@/components/*"],
              message: "server/ is below app/ and components/.",
            },
          ],
        },
      ],
    },
  },
  ...domainRules,
  ...AGENT_FOLDERS.map((folder) => ({
    // Agent folders reach each other through their index only (testing/ is test-only: imported by file).
    files: [`agent/src/${folder}/**/*.ts`],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: AGENT_FOLDERS.filter((f) => f !== folder).map((f) => `../${f}/*`),
              message: "Import another agent folder through its index (../folder).",
            },
            { group: ["../testing", "../testing/*"], message: "testing/ holds test-only helpers." },
            {
              group: [
                "**/lib/server/**",
                "**/app/**",
                "**/components/**",
                "@/lib/server/*",
                "@/app/*",
                "@/components/*",
              ],
              message: "The agent may import only pure code from lib/.",
            },
          ],
        },
      ],
    },
  })),
];
export default config;
