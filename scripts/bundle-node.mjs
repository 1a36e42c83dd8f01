// One esbuild setup for the two Node bundles (dist/agent.mjs, dist/server.mjs): ESM for Node 20,
// a require() shim for bundled CommonJS, `--outfile` for private test copies, and a refusal of any
// package import left at runtime beyond the ones a bundle is allowed to keep.
import { build } from "esbuild";
import { builtinModules } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";
import fs from "node:fs";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The output path: `--outfile FILE` (tests build a private copy without touching dist/), else dist/<name>. */
export function outfileFrom(argv, name) {
  const i = argv.indexOf("--outfile");
  return i > 0 && argv[i + 1] ? path.resolve(argv[i + 1]) : path.join(root, "dist", name);
}

/**
 * Builds `entry` into `outfile`; `keep` lists the packages that may stay runtime imports.
 * Extra esbuild options (define, plugins) pass through. Exits the process on a refused import.
 */
export async function bundleNode({ label, entry, outfile, keep = [], shebang = false, ...options }) {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [path.join(root, entry)],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    sourcemap: "linked",
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
    external: keep,
    ...options,
    // Bundled CommonJS dependencies may call require(); ESM output has none without this.
    banner: {
      js: [
        ...(shebang ? ["#!/usr/bin/env node"] : []),
        'import { createRequire as __paCreateRequire } from "node:module";',
        "const require = __paCreateRequire(import.meta.url);",
      ].join("\n"),
    },
  });
  const builtins = new Set(builtinModules);
  const leftover = Object.values(result.metafile.outputs)
    .flatMap((o) => o.imports)
    .filter(
      (imp) => imp.external && !imp.path.startsWith("node:") && !builtins.has(imp.path) && !keep.includes(imp.path),
    );
  if (leftover.length) {
    console.error(
      `${label}: bundle imports packages at runtime:`,
      [...new Set(leftover.map((imp) => imp.path))].join(", "),
    );
    process.exit(1);
  }
  const kb = Math.round(fs.statSync(outfile).size / 1024);
  console.log(`${label}: ${path.relative(root, outfile)} (${kb} KiB)`);
}
