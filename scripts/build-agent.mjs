// Bundles the node agent into one plain ESM file, dist/agent.mjs, that any Node >= 20 runs on
// x86_64 or aarch64 without TypeScript tooling or node_modules (zod is bundled in; the agent
// has no native modules by rule).
//
// Idle memory (issue 16, bench/agent-idle.ts): V8 keeps the whole bundle as one source string for
// the life of the process, so its size is resident memory. Whitespace + syntax minification (names
// are kept: stack traces stay readable, the linked source map maps them back) also drops comments,
// whose few non-ASCII characters made V8 store the 1.2 MB source as a two-byte string. zod's 40+
// message locales (half the bundle) are replaced by English only: the agent never switches locale.
import fs from "node:fs";
import path from "node:path";
import { bundleNode, outfileFrom, root } from "./bundle-node.mjs";

/** zod/v4/locales/index.js -> only `en` (z.locales.en stays; z.config(en()) is what zod does itself). */
const zodEnglishOnly = {
  name: "zod-english-only",
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${path.sep}node_modules${path.sep}zod${path.sep}`)
        ? { path: path.join(path.dirname(args.importer), "..", "locales", "index.js"), namespace: "zod-en" }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "zod-en" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(path.join(path.dirname(args.path), "en.js"))};`,
      resolveDir: root,
      loader: "js",
    }));
  },
};

const outfile = outfileFrom(process.argv, "agent.mjs");
// The agent must stay self-contained: no package may remain a runtime import.
await bundleNode({
  label: "build-agent",
  entry: "agent/src/main.ts",
  outfile,
  shebang: true,
  minifyWhitespace: true,
  minifySyntax: true,
  charset: "ascii",
  plugins: [zodEnglishOnly],
  // `ws` (console WebSockets, docs/decisions/020-ws-library.md) tries the optional native addons
  // bufferutil and utf-8-validate in try/catch unless these are set. Set them at build time: the
  // branches are dropped, nothing native is ever looked up, and ws uses its pure JS code paths.
  define: { "process.env.WS_NO_BUFFER_UTIL": '"1"', "process.env.WS_NO_UTF_8_VALIDATE": '"1"' },
});
fs.chmodSync(outfile, 0o755);
