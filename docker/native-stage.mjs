// Runs in the controller image's per-$TARGETPLATFORM stage: installs the native add-ons listed by
// docker/assemble-standalone.mjs (exact versions, e.g. better-sqlite3) for this stage's own CPU —
// prebuilt binary when one exists, else compiled with the toolchain of node:*-bookworm — and copies
// them, with the platform-only packages npm picked for this CPU, to OUT/node_modules. The final
// stage lays that over the architecture-independent standalone tree.
//
//   node native-stage.mjs <dir with package.json> <OUT>
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const [dirArg, outArg] = process.argv.slice(2);
if (!dirArg || !outArg) {
  console.error("usage: node native-stage.mjs <dir with package.json> <out>");
  process.exit(2);
}
const dir = resolve(dirArg);
const out = join(resolve(outArg), "node_modules");
const deps = Object.keys(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).dependencies ?? {});
mkdirSync(out, { recursive: true });
if (deps.length === 0) {
  console.log("native-stage: no native packages");
  process.exit(0);
}
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
execFileSync(npm, ["install", "--omit=dev", "--no-audit", "--no-fund", "--no-package-lock", "--foreground-scripts"], {
  cwd: dir,
  stdio: "inherit",
});

const nm = join(dir, "node_modules");
const names = new Set(deps);
for (const name of readdirSync(nm)) {
  const scoped = name.startsWith("@") ? readdirSync(join(nm, name)).map((s) => `${name}/${s}`) : [name];
  for (const n of scoped) {
    const pj = join(nm, n, "package.json");
    if (!existsSync(pj)) continue;
    const j = JSON.parse(readFileSync(pj, "utf8"));
    if (j.cpu || j.os) names.add(n); // e.g. @img/sharp-linux-arm64: the binary for this CPU
  }
}
// Compiled add-ons need only their JS and the .node file at run time: drop sources and objects.
const PRUNE = [
  "deps",
  "src",
  "build/Release/obj",
  "build/Release/obj.target",
  "build/Release/.deps",
  "build/Release/test_extension.node",
];
for (const n of names) {
  cpSync(join(nm, n), join(out, n), { recursive: true, verbatimSymlinks: true });
  if (!existsSync(join(out, n, "binding.gyp"))) continue;
  for (const p of PRUNE) rmSync(join(out, n, p), { recursive: true, force: true });
  for (const f of existsSync(join(out, n, "build/Release")) ? readdirSync(join(out, n, "build/Release")) : []) {
    if (f.endsWith(".a")) rmSync(join(out, n, "build/Release", f));
  }
}
console.log(`native-stage: ${process.arch}: ${[...names].sort().join(", ")}`);
