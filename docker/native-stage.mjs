// Runs in the controller image's `native` stage: installs the native add-ons listed by
// docker/assemble-standalone.mjs (exact versions, e.g. better-sqlite3) for the TARGET CPU and copies
// them, with the platform-only packages npm picked for that CPU (e.g. @img/sharp-linux-arm64), to
// OUT/node_modules. The final stage lays that over the architecture-independent standalone tree.
//
// The stage runs on the builder's own CPU ($BUILDPLATFORM). For another target arch (Docker's
// $TARGETARCH) it cross-compiles: npm picks the target's prebuilt packages (--os/--cpu/--libc),
// prebuild-install and node-gyp get the target arch (npm_config_arch), node-gyp compiles with Debian's
// cross toolchain (<triple>-gcc/g++/ar, installed by the Dockerfile) against the Node headers of the
// base image (--nodedir: the headers are the same for every arch). Compiling under qemu-user emulation
// instead took more than 8 minutes for sqlite3.c alone (docs/deploy.md). Every .node file copied is
// checked to be an ELF object for the target machine.
//
//   node native-stage.mjs <dir with package.json> <OUT> [--arch <amd64|arm64|x64>]
import { execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  closeSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({ options: { arch: { type: "string" } }, allowPositionals: true });
const [dirArg, outArg] = positionals;
if (!dirArg || !outArg) {
  console.error("usage: node native-stage.mjs <dir with package.json> <out> [--arch <amd64|arm64>]");
  process.exit(2);
}
/** Docker's TARGETARCH → Node's process.arch; GNU triple and ELF e_machine of that CPU. */
const ARCHES = {
  x64: { docker: "amd64", triple: "x86_64-linux-gnu", machine: 62 },
  arm64: { docker: "arm64", triple: "aarch64-linux-gnu", machine: 183 },
};
const toNode = (a) => Object.keys(ARCHES).find((k) => k === a || ARCHES[k].docker === a);
const target = values.arch ? toNode(values.arch) : process.arch;
if (!target || !ARCHES[target]) {
  console.error(`native-stage: unsupported target arch ${values.arch || process.arch}`);
  process.exit(2);
}
const cross = target !== process.arch;

const dir = resolve(dirArg);
const out = join(resolve(outArg), "node_modules");
const deps = Object.keys(JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).dependencies ?? {});
mkdirSync(out, { recursive: true });
if (deps.length === 0) {
  console.log("native-stage: no native packages");
  process.exit(0);
}

const env = { ...process.env, npm_config_arch: target, npm_config_target_arch: target };
// node-gyp: the base image's own headers (official images and scripts/images/base.sh's full stand-in both
// have <prefix>/include/node), so nothing is downloaded from nodejs.org.
const prefix = dirname(dirname(process.execPath));
if (!env.npm_config_nodedir && existsSync(join(prefix, "include/node/node.h"))) env.npm_config_nodedir = prefix;
if (cross) {
  const { triple } = ARCHES[target];
  const onPath = (f) => (env.PATH ?? "").split(delimiter).some((p) => p && existsSync(join(p, f)));
  for (const tool of ["gcc", "g++", "ar"]) {
    if (!onPath(`${triple}-${tool}`)) {
      console.error(`native-stage: ${triple}-${tool} missing: the cross toolchain for ${target} (g++-${triple})`);
      process.exit(1);
    }
  }
  Object.assign(env, {
    CC: `${triple}-gcc`,
    CXX: `${triple}-g++`,
    LINK: `${triple}-g++`,
    AR: `${triple}-ar`,
    // gyp's "host" toolset (build-time tools, if an add-on has any) stays on the builder's CPU
    CC_host: "gcc",
    CXX_host: "g++",
    LINK_host: "g++",
    AR_host: "ar",
  });
}
console.log(
  `native-stage: ${deps.join(", ")} for linux/${target} on ${process.arch}${cross ? ` (cross: ${env.CXX})` : ""}` +
    (env.npm_config_nodedir ? `, headers ${env.npm_config_nodedir}/include/node` : ""),
);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
execFileSync(
  npm,
  [
    "install",
    "--omit=dev",
    "--no-audit",
    "--no-fund",
    "--no-package-lock",
    "--foreground-scripts",
    "--os=linux",
    `--cpu=${target}`,
    "--libc=glibc",
  ],
  { cwd: dir, stdio: "inherit", env },
);

const nm = join(dir, "node_modules");
const names = new Set(deps);
for (const name of readdirSync(nm)) {
  const scoped = name.startsWith("@") ? readdirSync(join(nm, name)).map((s) => `${name}/${s}`) : [name];
  for (const n of scoped) {
    const pj = join(nm, n, "package.json");
    if (!existsSync(pj)) continue;
    const j = JSON.parse(readFileSync(pj, "utf8"));
    if (j.cpu || j.os) names.add(n); // e.g. @img/sharp-linux-arm64: the binary for the target CPU
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

/** e_machine of an ELF file, or null when it is not one. */
function elfMachine(file) {
  const b = Buffer.alloc(20);
  const fd = openSync(file, "r");
  try {
    if (readSync(fd, b, 0, 20, 0) < 20 || b.readUInt32BE(0) !== 0x7f454c46) return null;
  } finally {
    closeSync(fd);
  }
  return b[5] === 2 ? b.readUInt16BE(18) : b.readUInt16LE(18);
}
const addons = [];
const walk = (d) => {
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.isFile() && e.name.endsWith(".node")) addons.push(p);
  }
};
walk(out);
const wrong = addons.filter((f) => elfMachine(f) !== ARCHES[target].machine);
if (wrong.length > 0) {
  console.error(`native-stage: not ELF objects for ${target}: ${wrong.join(", ")}`);
  process.exit(1);
}
console.log(
  `native-stage: linux/${target}: ${[...names].sort().join(", ")}; ${addons.length} add-on(s), ELF ${target}: ` +
    addons.map((f) => f.slice(out.length + 1)).join(", "),
);
