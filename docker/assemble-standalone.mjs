// Turns `next build`'s .next/standalone into the controller's runnable tree (what the container image
// ships in /app, and what docker/standalone.int.test.ts starts):
//
//   server.js, package.json, .next/ (server), node_modules/ (traced)   ← .next/standalone
//   .next/static/, public/                                               ← not part of standalone by design
//   dist/server.mjs (the custom server, bundled from server/ by scripts/build-server.mjs: run it first),
//     scripts/migrate.mjs, docker/controller-start.mjs, healthcheck,
//     scripts/backup.mjs + restore.mjs when present, and every file they import (traced with Next's own @vercel/nft)     ← the custom server + migrations
//   prisma/migrations/, prisma/postgres/migrations/                       ← read by migrate.mjs at start
//
// Native add-ons are the only per-architecture part. Their exact versions go to --native-manifest
// (a package.json) so the image's per-$TARGETPLATFORM stage installs them for its own CPU
// (docker/native-stage.mjs); platform-only packages (package.json "cpu"/"os", e.g. @img/sharp-linux-x64)
// are left out of the tree here, the target stage brings its own.
//
//   node docker/assemble-standalone.mjs --out DIR [--native-manifest FILE]
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

/** Top-level entries of .next/standalone that belong in the image; anything else was traced by accident. */
// messages/: the i18n catalogue, read at run time (i18n/messages.ts, ADR 051).
const STANDALONE_KEEP = new Set(["server.js", "package.json", ".next", "node_modules", "messages"]);
/** The custom server's bundle (scripts/build-server.mjs); it imports only `next` and Node built-ins. */
export const SERVER_BUNDLE = "dist/server.mjs";
/** The custom server, migrations and the entrypoint: traced, then copied with what they import. */
export const RUNTIME_ENTRIES = [
  "docker/controller-start.mjs",
  "docker/healthcheck.mjs",
  SERVER_BUNDLE,
  "scripts/migrate.mjs",
];
/** Operator tools shipped when present (`kubectl exec … node scripts/backup.mjs`, docs/deploy.md). */
export const OPTIONAL_RUNTIME_ENTRIES = ["scripts/backup.mjs", "scripts/restore.mjs"];
const runtimeEntries = () => [...RUNTIME_ENTRIES, ...OPTIONAL_RUNTIME_ENTRIES.filter((f) => existsSync(join(root, f)))];
/** Already provided by the standalone tree (server.js itself loads `next`); tracing into them only adds dev-only code. */
const TRACE_IGNORE = [/^node_modules\/(next|@next|react|react-dom|styled-jsx|typescript|@swc)\//];
export const MIGRATION_DIRS = ["prisma/migrations", "prisma/postgres/migrations"];

export class AssembleError extends Error {
  name = "AssembleError";
}

/** Why .next/standalone cannot be used (missing, or from another build than .next), or null. */
export function standaloneProblem(nextDir = join(root, ".next")) {
  const standalone = join(nextDir, "standalone");
  if (!existsSync(join(nextDir, "BUILD_ID"))) return `no build in ${nextDir} (run \`npx next build\`)`;
  if (!existsSync(join(standalone, "server.js")))
    return `${standalone} is missing (next.config.mjs needs output: "standalone"; rebuild)`;
  const a = readFileSync(join(nextDir, "BUILD_ID"), "utf8").trim();
  const b = existsSync(join(standalone, ".next", "BUILD_ID"))
    ? readFileSync(join(standalone, ".next", "BUILD_ID"), "utf8").trim()
    : "";
  if (a !== b) return `${standalone} is from another build (BUILD_ID ${b || "none"} vs ${a}); rebuild`;
  if (!existsSync(join(root, SERVER_BUNDLE)))
    return `${SERVER_BUNDLE} is missing (run \`node scripts/build-server.mjs\`)`;
  return null;
}

function readJson(file) {
  return JSON.parse(readFileSync(file, "utf8"));
}

/** Package directories under a node_modules folder (scoped ones included), not recursing into nested node_modules. */
function packageDirs(nodeModules) {
  const out = [];
  if (!existsSync(nodeModules)) return out;
  for (const name of readdirSync(nodeModules)) {
    if (name.startsWith(".")) continue;
    const dir = join(nodeModules, name);
    if (name.startsWith("@")) {
      for (const sub of readdirSync(dir)) out.push({ name: `${name}/${sub}`, dir: join(dir, sub) });
    } else out.push({ name, dir });
  }
  return out.filter((p) => existsSync(join(p.dir, "package.json")));
}

function hasNativeCode(dir) {
  if (existsSync(join(dir, "binding.gyp"))) return true;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop();
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== "node_modules") stack.push(join(d, e.name));
      else if (e.isFile() && e.name.endsWith(".node")) return true;
    }
  }
  return false;
}

/**
 * Removes platform-only packages from `nodeModules` and returns the native packages the target
 * platform must install itself: { name: exactVersion }.
 */
export function splitNative(nodeModules) {
  const pkgs = packageDirs(nodeModules).map((p) => ({ ...p, json: readJson(join(p.dir, "package.json")) }));
  const platformOnly = pkgs.filter((p) => p.json.cpu || p.json.os);
  const removed = new Set(platformOnly.map((p) => p.name));
  for (const p of platformOnly) rmSync(p.dir, { recursive: true, force: true });
  const native = {};
  for (const p of pkgs) {
    if (removed.has(p.name)) continue;
    const optional = Object.keys(p.json.optionalDependencies ?? {});
    if (hasNativeCode(p.dir) || optional.some((o) => removed.has(o))) native[p.name] = p.json.version;
  }
  return { native, removed: [...removed].sort() };
}

async function traceRuntime() {
  const { nodeFileTrace } = require("next/dist/compiled/@vercel/nft");
  const { fileList, warnings } = await nodeFileTrace(
    runtimeEntries().map((f) => join(root, f)),
    { base: root, processCwd: root, ignore: (p) => TRACE_IGNORE.some((re) => re.test(p.split(sep).join("/"))) },
  );
  return { files: [...fileList].map((f) => f.split(sep).join("/")).sort(), warnings: [...warnings] };
}

/** Copies the runnable controller tree to `out` (replaced). Returns a summary. */
export async function assemble({ out, nextDir = join(root, ".next"), nativeManifest } = {}) {
  const problem = standaloneProblem(nextDir);
  if (problem) throw new AssembleError(problem);
  if (!out) throw new AssembleError("--out DIR is required");
  out = resolve(out);
  if (out === root || root.startsWith(out + sep)) throw new AssembleError(`refusing to replace ${out}`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  const standalone = join(nextDir, "standalone");
  const dropped = [];
  for (const name of readdirSync(standalone)) {
    if (!STANDALONE_KEEP.has(name)) {
      dropped.push(name);
      continue;
    }
    cpSync(join(standalone, name), join(out, name), { recursive: true, verbatimSymlinks: true });
  }
  cpSync(join(nextDir, "static"), join(out, ".next", "static"), { recursive: true });
  if (existsSync(join(root, "public"))) cpSync(join(root, "public"), join(out, "public"), { recursive: true });

  const { files, warnings } = await traceRuntime();
  let added = 0;
  for (const rel of files) {
    const src = join(root, rel);
    const dst = join(out, rel);
    if (existsSync(dst) || !statSync(src, { throwIfNoEntry: false })?.isFile()) continue;
    mkdirSync(dirname(dst), { recursive: true });
    cpSync(src, dst);
    added++;
  }
  for (const rel of runtimeEntries()) if (!existsSync(join(out, rel))) throw new AssembleError(`${rel} was not copied`);
  for (const dir of MIGRATION_DIRS) cpSync(join(root, dir), join(out, dir), { recursive: true });

  const { native, removed } = splitNative(join(out, "node_modules"));
  if (nativeManifest) {
    mkdirSync(dirname(resolve(nativeManifest)), { recursive: true });
    writeFileSync(
      nativeManifest,
      JSON.stringify({ name: "polyarch-native", private: true, dependencies: native }, null, 2) + "\n",
    );
  }
  return { out, dropped, tracedAdded: added, native, removedPlatformPackages: removed, traceWarnings: warnings.length };
}

async function main() {
  const { values } = parseArgs({ options: { out: { type: "string" }, "native-manifest": { type: "string" } } });
  const started = Date.now();
  const r = await assemble({ out: values.out, nativeManifest: values["native-manifest"] });
  const rel = relative(process.cwd(), r.out) || ".";
  console.log(
    `assemble-standalone: ${rel} in ${Date.now() - started} ms; +${r.tracedAdded} runtime files; native: ${
      Object.entries(r.native)
        .map(([n, v]) => `${n}@${v}`)
        .join(", ") || "none"
    }`,
  );
  if (r.removedPlatformPackages.length)
    console.log(`assemble-standalone: left out platform-only packages ${r.removedPlatformPackages.join(", ")}`);
  if (r.dropped.length)
    console.log(`assemble-standalone: dropped accidentally traced top-level entries ${r.dropped.join(", ")}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`assemble-standalone: ${e instanceof AssembleError ? e.message : (e.stack ?? e)}`);
    process.exit(1);
  });
}
