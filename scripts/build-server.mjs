// Bundles the custom server (server/main.ts: Next + the console WebSocket proxy + the agent TLS
// listener) into one ESM file, dist/server.mjs, which `npm start`, scripts/up.mjs,
// scripts/e2e-server.mjs and the controller image run (docs/decisions/021-typescript-server.md).
// `next` stays external: the server loads the app through it, from node_modules or the standalone
// tree. Everything else it imports (zod, pure lib/ code) is bundled in. lib/server is refused: it
// runs inside Next's own bundle and the server reaches it through lib/server-hooks.ts only — a
// second copy here would be a second database client, env cache and PKI.
//   node scripts/build-server.mjs [--outfile FILE]
import { build } from "esbuild";
import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";
import fs from "node:fs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// --outfile lets tests build a private copy without touching dist/.
const i = process.argv.indexOf("--outfile");
const outfile =
  i > 0 && process.argv[i + 1] ? path.resolve(process.argv[i + 1]) : path.join(root, "dist", "server.mjs");
const EXTERNAL = ["next"];

/** lib/server modules import "server-only"; meeting it here means the bundle pulled in app code. */
const refuseServerOnly = {
  name: "refuse-server-only",
  setup(b) {
    b.onResolve({ filter: /^server-only$/ }, (args) => ({
      errors: [
        {
          text: `${path.relative(root, args.importer)} is app code (lib/server): the custom server reaches it through lib/server-hooks.ts, never by import`,
        },
      ],
    }));
  },
};

const result = await build({
  absWorkingDir: root,
  entryPoints: [path.join(root, "server/main.ts")],
  outfile,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  sourcemap: "linked",
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
  external: EXTERNAL,
  plugins: [refuseServerOnly],
  // Bundled CommonJS dependencies may call require(); ESM output has none without this.
  banner: {
    js: [
      'import { createRequire as __paCreateRequire } from "node:module";',
      "const require = __paCreateRequire(import.meta.url);",
    ].join("\n"),
  },
});

// Only Node built-ins and `next` may stay imports at runtime.
const builtins = new Set(builtinModules);
const external = Object.values(result.metafile.outputs)
  .flatMap((o) => o.imports)
  .filter(
    (imp) => imp.external && !imp.path.startsWith("node:") && !builtins.has(imp.path) && !EXTERNAL.includes(imp.path),
  );
if (external.length) {
  console.error(
    "build-server: bundle imports packages at runtime:",
    [...new Set(external.map((imp) => imp.path))].join(", "),
  );
  process.exit(1);
}
const kb = Math.round(fs.statSync(outfile).size / 1024);
console.log(`build-server: ${path.relative(root, outfile)} (${kb} KiB)`);
