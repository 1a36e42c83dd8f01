// Bundles the custom server (server/main.ts: Next + the console WebSocket proxy + the agent TLS
// listener) into one ESM file, dist/server.mjs, which `npm start`, scripts/up.mjs,
// scripts/e2e-server.mjs and the controller image run (docs/decisions/021-typescript-server.md).
// `next` stays external: the server loads the app through it, from node_modules or the standalone
// tree. Everything else it imports (zod, pure lib/ code) is bundled in. lib/server is refused: it
// runs inside Next's own bundle and the server reaches it through lib/server-hooks.ts only — a
// second copy here would be a second database client, env cache and PKI.
//   node scripts/build-server.mjs [--outfile FILE]
import path from "node:path";
import { bundleNode, outfileFrom, root } from "./bundle-node.mjs";

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

// Only Node built-ins and `next` may stay imports at runtime.
await bundleNode({
  label: "build-server",
  entry: "server/main.ts",
  outfile: outfileFrom(process.argv, "server.mjs"),
  keep: ["next"],
  plugins: [refuseServerOnly],
});
