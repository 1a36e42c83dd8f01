// Bundles the node agent into one plain ESM file, dist/agent.mjs, that any Node >= 20 runs on
// x86_64 or aarch64 without TypeScript tooling or node_modules (zod is bundled in; the agent
// has no native modules by rule).
import { build } from "esbuild";
import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";
import fs from "node:fs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// --outfile lets tests build a private copy without touching dist/.
const i = process.argv.indexOf("--outfile");
const outfile = i > 0 && process.argv[i + 1] ? path.resolve(process.argv[i + 1]) : path.join(root, "dist", "agent.mjs");

const result = await build({
  entryPoints: [path.join(root, "agent/src/main.ts")],
  outfile,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: "linked",
  legalComments: "none",
  metafile: true,
  // `ws` (console WebSockets, docs/decisions/020-ws-library.md) tries the optional native addons
  // bufferutil and utf-8-validate in try/catch unless these are set. Set them at build time: the
  // branches are dropped, nothing native is ever looked up, and ws uses its pure JS code paths.
  define: { "process.env.WS_NO_BUFFER_UTIL": '"1"', "process.env.WS_NO_UTF_8_VALIDATE": '"1"' },
  logLevel: "warning",
  // Bundled CommonJS dependencies may call require(); ESM output has none without this.
  banner: {
    js: [
      "#!/usr/bin/env node",
      'import { createRequire as __paCreateRequire } from "node:module";',
      "const require = __paCreateRequire(import.meta.url);",
    ].join("\n"),
  },
});

// The agent must stay self-contained: refuse a bundle that kept a package import.
const external = Object.values(result.metafile.outputs)
  .flatMap((o) => o.imports)
  .filter((i) => i.external && !i.path.startsWith("node:") && !builtinModules.includes(i.path));
if (external.length) {
  console.error(
    "build-agent: bundle imports packages at runtime:",
    [...new Set(external.map((i) => i.path))].join(", "),
  );
  process.exit(1);
}
fs.chmodSync(outfile, 0o755);
const kb = Math.round(fs.statSync(outfile).size / 1024);
console.log(`build-agent: ${path.relative(root, outfile)} (${kb} KiB)`);
