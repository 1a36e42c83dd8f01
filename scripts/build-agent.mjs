// Bundles the node agent into one plain ESM file, dist/agent.mjs, that any Node >= 20 runs on
// x86_64 or aarch64 without TypeScript tooling or node_modules (zod is bundled in; the agent
// has no native modules by rule).
import fs from "node:fs";
import { bundleNode, outfileFrom } from "./bundle-node.mjs";

const outfile = outfileFrom(process.argv, "agent.mjs");
// The agent must stay self-contained: no package may remain a runtime import.
await bundleNode({
  label: "build-agent",
  entry: "agent/src/main.ts",
  outfile,
  shebang: true,
  // `ws` (console WebSockets, docs/decisions/020-ws-library.md) tries the optional native addons
  // bufferutil and utf-8-validate in try/catch unless these are set. Set them at build time: the
  // branches are dropped, nothing native is ever looked up, and ws uses its pure JS code paths.
  define: { "process.env.WS_NO_BUFFER_UTIL": '"1"', "process.env.WS_NO_UTF_8_VALIDATE": '"1"' },
});
fs.chmodSync(outfile, 0o755);
