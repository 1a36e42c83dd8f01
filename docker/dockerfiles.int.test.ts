// Static checks of the container build (no Docker engine here): both Dockerfiles parsed
// instruction by instruction, every COPY source present in the build context (the repo minus
// .dockerignore), architecture-independent stages on $BUILDPLATFORM and per-arch ones not, a
// non-root controller, and both build paths (scripts/docker-build.sh, the GitHub workflow)
// producing linux/amd64 + linux/arm64. docker-build.sh also runs for real against a stub `docker`.
import { describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { isExcluded, parseDockerignore } from "./dockerignore.mjs";

const ROOT = join(__dirname, "..");
const PLATFORMS = "linux/amd64,linux/arm64";

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}
interface Stage {
  name: string | null;
  image: string;
  platform: string | null;
  instructions: Instruction[];
}

/** Dockerfile → instructions: comments and blank lines dropped, `\` continuations joined. */
function parseDockerfile(text: string): { args: Instruction[]; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let buf = "";
  let start = 0;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!buf && (/^\s*#/.test(line) || !line.trim())) return;
    if (buf && /^\s*#/.test(line)) return; // comments inside a continuation are skipped by the builder too
    if (!buf) start = i + 1;
    if (line.endsWith("\\")) {
      buf += line.slice(0, -1) + " ";
      return;
    }
    buf += line;
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(buf);
    if (!m) throw new Error(`line ${start}: cannot parse "${buf}"`);
    instructions.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
    buf = "";
  });
  if (buf) throw new Error("dangling line continuation at end of file");

  const args: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const words = ins.args.split(/\s+/);
      const flags = words.filter((w) => w.startsWith("--"));
      const rest = words.filter((w) => !w.startsWith("--"));
      const platform = flags.find((f) => f.startsWith("--platform="))?.slice("--platform=".length) ?? null;
      const asIdx = rest.findIndex((w) => w.toUpperCase() === "AS");
      stages.push({ image: rest[0]!, name: asIdx > 0 ? rest[asIdx + 1]! : null, platform, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== "ARG") throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
      args.push(ins);
    } else stages.at(-1)!.instructions.push(ins);
  }
  return { args, stages };
}

/** COPY/ADD → flags, sources, destination (JSON array or whitespace form). */
function copyParts(args: string): { flags: Record<string, string>; sources: string[]; dest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest);
    if (!m) break;
    flags[m[1]!] = m[2] ?? "true";
    rest = rest.slice(m[0].length);
  }
  const words: string[] = rest.startsWith("[") ? JSON.parse(rest) : rest.split(/\s+/);
  return { flags, sources: words.slice(0, -1), dest: words.at(-1)! };
}

const ignoreRules = parseDockerignore(readFileSync(join(ROOT, ".dockerignore"), "utf8"));
const inContext = (rel: string) => existsSync(join(ROOT, rel)) && !isExcluded(ignoreRules, rel);

/** Files of a directory that the build context keeps. */
function contextFiles(relDir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
      const r = rel === "." ? e.name : `${rel}/${e.name}`;
      if (isExcluded(ignoreRules, r)) continue;
      if (e.isDirectory()) walk(r);
      else out.push(r);
    }
  };
  walk(relDir);
  return out;
}

const DOCKERFILES = {
  controller: "docker/controller.Dockerfile",
  agent: "docker/agent.Dockerfile",
} as const;
const parsed = Object.fromEntries(
  Object.entries(DOCKERFILES).map(([k, f]) => [k, parseDockerfile(readFileSync(join(ROOT, f), "utf8"))]),
) as Record<keyof typeof DOCKERFILES, ReturnType<typeof parseDockerfile>>;

const runs = (s: Stage) => s.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args);
/** Work that yields the same bytes for every target arch: it belongs on $BUILDPLATFORM. */
const ARCH_INDEPENDENT = [
  /\bnext build\b/,
  /scripts\/build-agent\.mjs/,
  /scripts\/build-server\.mjs/,
  /scripts\/prisma-generate\.mjs/,
  /assemble-standalone\.mjs/,
];
/** Work whose result differs per target arch. */
const PER_ARCH = [/apt-get install/, /native-stage\.mjs/, /npm (rebuild|install)\b/];
/**
 * A $BUILDPLATFORM stage may do per-arch work only by cross-compiling: it declares `ARG TARGETARCH` and
 * every per-arch command uses it (e.g. native add-ons built on the builder's CPU for the target).
 */
const crossCompiles = (s: Stage) =>
  s.instructions.some((i) => i.keyword === "ARG" && /^TARGETARCH\b/.test(i.args)) &&
  runs(s)
    .filter((r) => PER_ARCH.some((re) => re.test(r)))
    .every((r) => /\$\{?TARGETARCH\b/.test(r));

describe(".dockerignore", () => {
  it("follows Docker's pattern rules (last match wins, ** and !, parents)", () => {
    const rules = parseDockerignore("# c\n**/node_modules\ndata\n*.md\n!README.md\ndocs/**/*.png\n/dist/\n");
    expect(isExcluded(rules, "node_modules/x/y.js")).toBe(true);
    expect(isExcluded(rules, "tools/prisma-differ/node_modules/a")).toBe(true);
    expect(isExcluded(rules, "data/polyarch.db")).toBe(true);
    expect(isExcluded(rules, "lib/data.ts")).toBe(false);
    expect(isExcluded(rules, "CHANGES.md")).toBe(true);
    expect(isExcluded(rules, "README.md")).toBe(false);
    expect(isExcluded(rules, "docs/a.md")).toBe(false); // *.md is root-only, like Docker
    expect(isExcluded(rules, "docs/img/x/y.png")).toBe(true);
    expect(isExcluded(rules, "docs/y.png")).toBe(true); // ** matches zero directories
    expect(isExcluded(rules, "dist/agent.mjs")).toBe(true);
    expect(isExcluded(rules, ".")).toBe(false);
  });

  it("keeps state, secrets, build output and host binaries out of the context", () => {
    for (const p of [
      "data/polyarch.db",
      "data/auth-secret",
      ".env",
      ".env.production",
      "node_modules/next/package.json",
      "agent/node_modules/x",
      ".git/HEAD",
      ".next/BUILD_ID",
      "dist/agent.mjs",
      ".cache/fixtures/x",
      "lib/generated/sqlite/client.ts",
      "deploy/my-secrets.env",
    ]) {
      expect(isExcluded(ignoreRules, p), p).toBe(true);
    }
    for (const p of [
      "package.json",
      "package-lock.json",
      "next.config.mjs",
      "app/layout.tsx",
      "prisma/models.prisma.part",
      "server/main.ts",
      "scripts/build-server.mjs",
      "docker/assemble-standalone.mjs",
    ]) {
      expect(isExcluded(ignoreRules, p), p).toBe(false);
    }
  });
});

describe.each(Object.entries(DOCKERFILES) as [keyof typeof DOCKERFILES, string][])("%s image (%s)", (kind, file) => {
  const { args, stages } = parsed[kind];
  const final = stages.at(-1)!;

  it("parses into named stages whose base images are build arguments defaulting to the official Node bookworm images", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const names = stages.map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.every(Boolean)).toBe(true);
    const nodeVersion = args.find((a) => a.args.startsWith("NODE_VERSION="))?.args.split("=")[1];
    expect(Number(nodeVersion)).toBeGreaterThanOrEqual(20);
    // Every base image is a build argument (scripts/images/ passes local stand-ins) whose default is
    // an official Node bookworm image; the final stage's is the slim one.
    const defaults = new Map(args.map((a) => a.args.split("=") as [string, string]));
    for (const [i, s] of stages.entries()) {
      if (stages.slice(0, i).some((e) => e.name === s.image)) continue; // FROM an earlier stage
      const arg = /^\$\{(\w+_IMAGE)\}$/.exec(s.image)?.[1];
      expect(arg, `${file} stage ${s.name} takes its base image from an *_IMAGE build argument`).toBeTruthy();
      expect(defaults.get(arg!), `${file} ARG ${arg} default`).toMatch(/^node:\$\{NODE_VERSION\}-bookworm(-slim)?$/);
    }
    expect(defaults.get(/^\$\{(\w+)\}$/.exec(final.image)![1]!)).toMatch(/-slim$/);
    expect(args.findIndex((a) => a.args.startsWith("NODE_VERSION="))).toBe(0);
  });

  it("COPY sources exist in the repository and are not excluded by .dockerignore", () => {
    const earlier = new Set<string>();
    let checked = 0;
    for (const s of stages) {
      for (const ins of s.instructions.filter((i) => i.keyword === "COPY" || i.keyword === "ADD")) {
        expect(ins.keyword, `${file}:${ins.line} use COPY`).toBe("COPY");
        const { flags, sources } = copyParts(ins.args);
        if (flags.from) {
          expect(earlier.has(flags.from), `${file}:${ins.line} --from=${flags.from} names an earlier stage`).toBe(true);
          continue;
        }
        for (const src of sources) {
          const rel = src.replace(/^\.\/+/, "").replace(/\/+$/, "") || ".";
          expect(rel.includes("..") || rel.startsWith("/"), `${file}:${ins.line} ${src} stays inside the context`).toBe(
            false,
          );
          expect(existsSync(join(ROOT, rel)), `${file}:${ins.line} ${src} exists`).toBe(true);
          expect(isExcluded(ignoreRules, rel), `${file}:${ins.line} ${src} is not in .dockerignore`).toBe(false);
          if (statSync(join(ROOT, rel)).isDirectory())
            expect(contextFiles(rel).length, `${file}:${ins.line} ${src} keeps files`).toBeGreaterThan(0);
          checked++;
        }
      }
      earlier.add(s.name!);
    }
    expect(checked).toBeGreaterThan(0);
  });

  it("scripts the stages run are in the build context", () => {
    for (const s of stages) {
      for (const cmd of runs(s)) {
        for (const m of cmd.matchAll(/\bnode\s+((?:scripts|docker)\/[\w./-]+\.m?js)/g)) {
          expect(inContext(m[1]!), `${file} [${s.name}] runs ${m[1]} from the context`).toBe(true);
        }
      }
    }
  });

  it("architecture-independent work runs once on $BUILDPLATFORM; per-arch work on the target or cross-compiled for it", () => {
    for (const s of stages) {
      const cmds = runs(s).join("\n");
      const independent = ARCH_INDEPENDENT.some((re) => re.test(cmds));
      const perArch = PER_ARCH.some((re) => re.test(cmds));
      if (independent)
        expect(s.platform, `${file} stage ${s.name} builds JS: --platform=$BUILDPLATFORM`).toBe("$BUILDPLATFORM");
      if (perArch && s.platform === "$BUILDPLATFORM")
        expect(crossCompiles(s), `${file} stage ${s.name} does per-arch work on $BUILDPLATFORM: for $TARGETARCH`).toBe(
          true,
        );
      else if (perArch) expect(s.platform, `${file} stage ${s.name} does per-arch work: no --platform`).toBeNull();
      expect(independent && perArch, `${file} stage ${s.name} mixes both kinds of work`).toBe(false);
    }
    expect(final.platform).toBeNull();
    expect(stages.some((s) => s.platform === "$BUILDPLATFORM")).toBe(true);
  });

  it("final stage: entrypoint, healthcheck, no build toolchain", () => {
    const kw = final.instructions.map((i) => i.keyword);
    expect(kw).toContain("HEALTHCHECK");
    expect(kw.includes("ENTRYPOINT") || kw.includes("CMD")).toBe(true);
    const hc = final.instructions.find((i) => i.keyword === "HEALTHCHECK")!.args;
    expect(hc).toMatch(/CMD \["node", "[^"]*healthcheck\.mjs"/);
    expect(runs(final).join("\n")).not.toMatch(/\bnpm (ci|install)\b|build-essential|\bg\+\+/);
  });
});

describe("controller image", () => {
  const { stages } = parsed.controller;
  const final = stages.at(-1)!;

  it("runs as a non-root numeric user (Kubernetes runAsNonRoot can verify it)", () => {
    const users = final.instructions.filter((i) => i.keyword === "USER");
    expect(users.length).toBeGreaterThan(0);
    const user = users.at(-1)!.args.split(":")[0]!;
    expect(user).toMatch(/^\d+$/);
    expect(Number(user)).toBeGreaterThan(0);
    const deploy = readFileSync(join(ROOT, "deploy/base/controller-deployment.yaml"), "utf8");
    expect(deploy).toContain(`runAsUser: ${user}`);
  });

  it("builds Next once, cross-compiles native add-ons for each target on the builder's CPU, migrates at start", () => {
    const build = stages.find((s) => runs(s).some((r) => /next build/.test(r)))!;
    expect(build.platform).toBe("$BUILDPLATFORM");
    const native = stages.find((s) => runs(s).some((r) => /native-stage\.mjs/.test(r)))!;
    // not under emulation: better-sqlite3's sqlite3.c alone took > 8 min under qemu-user (docs/deploy.md)
    expect(native.platform).toBe("$BUILDPLATFORM");
    expect(crossCompiles(native)).toBe(true);
    expect(runs(native).find((r) => /native-stage\.mjs/.test(r))).toMatch(/--arch "?\$\{?TARGETARCH\b/);
    // the cross toolchain for an arm64 target (Debian's package names), nothing for a native build
    expect(runs(native).join("\n")).toMatch(/\$BUILDARCH[\s\S]*aarch64-linux-gnu[\s\S]*"g\+\+-\$cross"/);
    const copies = final.instructions.filter((i) => i.keyword === "COPY").map((i) => copyParts(i.args));
    expect(copies.some((c) => c.flags.from === build.name)).toBe(true);
    expect(copies.some((c) => c.flags.from === native.name)).toBe(true);
    const entry = final.instructions.find((i) => i.keyword === "ENTRYPOINT")!.args;
    expect(entry).toContain("docker/controller-start.mjs");
    expect(readFileSync(join(ROOT, "docker/controller-start.mjs"), "utf8")).toContain('scripts", "migrate.mjs');
    // the custom server is bundled (server/ → dist/server.mjs) before the standalone tree is assembled around it
    expect(runs(build).join("\n")).toMatch(
      /next build[\s\S]*scripts\/build-server\.mjs[\s\S]*assemble-standalone\.mjs/,
    );
    expect(readFileSync(join(ROOT, "docker/controller-start.mjs"), "utf8")).toContain('import("../dist/server.mjs")');
    expect(runs(final).join(" ")).toMatch(/qemu-utils/); // image validation runs qemu-img
  });
});

describe("agent image", () => {
  it("bundles once and installs QEMU for both guest arches, firmware, OVS and genisoimage per arch", () => {
    const { stages } = parsed.agent;
    const final = stages.at(-1)!;
    const apt = runs(final).join(" ");
    for (const pkg of [
      "qemu-system-x86",
      "qemu-system-arm",
      "qemu-utils",
      "ovmf",
      "qemu-efi-aarch64",
      "openvswitch-switch",
      "genisoimage",
      "iproute2",
    ]) {
      expect(apt, pkg).toMatch(new RegExp(`\\b${pkg}\\b`));
    }
    const build = stages.find((s) => runs(s).some((r) => /build-agent\.mjs/.test(r)))!;
    expect(build.platform).toBe("$BUILDPLATFORM");
    expect(
      final.instructions.some(
        (i) => i.keyword === "COPY" && i.args.includes(`--from=${build.name}`) && i.args.includes("dist/agent.mjs"),
      ),
    ).toBe(true);
  });
});

describe("multi-arch build paths", () => {
  it("the GitHub workflow builds both Dockerfiles for linux/amd64,linux/arm64 with QEMU + buildx", () => {
    const wf = parseYaml(readFileSync(join(ROOT, ".github/workflows/images.yml"), "utf8"));
    const job = Object.values(
      wf.jobs as Record<
        string,
        { strategy?: { matrix?: { image?: string[] } }; steps: { uses?: string; with?: Record<string, unknown> }[] }
      >,
    )[0]!;
    const steps = job.steps;
    const uses = steps.map((s) => s.uses?.split("@")[0]);
    expect(uses).toEqual(
      expect.arrayContaining(["docker/setup-qemu-action", "docker/setup-buildx-action", "docker/build-push-action"]),
    );
    expect(uses.indexOf("docker/setup-qemu-action")).toBeLessThan(uses.indexOf("docker/build-push-action"));
    const build = steps.find((s) => s.uses?.startsWith("docker/build-push-action"))!;
    const platforms = String(build.with!.platforms).replace("${{ env.PLATFORMS }}", wf.env.PLATFORMS);
    expect(platforms).toBe(PLATFORMS);
    expect(build.with!.context).toBe(".");
    const images = job.strategy!.matrix!.image!;
    expect(images.sort()).toEqual(["agent", "controller"]);
    for (const i of images)
      expect(existsSync(join(ROOT, String(build.with!.file).replace("${{ matrix.image }}", i)))).toBe(true);
    expect(JSON.stringify(steps)).toContain("imagetools inspect");
  });

  describe("scripts/docker-build.sh against a stub docker CLI", () => {
    const run = (env: Record<string, string>) => {
      const dir = mkdtempSync(join(tmpdir(), "pa-docker-build-"));
      const log = join(dir, "calls.log");
      // The stub records its argv (one call per line, args NUL-free, tab-separated) and answers
      // `imagetools inspect` with the platforms in $STUB_PLATFORMS.
      writeFileSync(
        join(dir, "docker"),
        [
          "#!/usr/bin/env bash",
          `(IFS=$'\\t'; printf '%s\\n' "$*") >> "${log}"`,
          'if [[ "$1 $2" == "buildx imagetools" ]]; then printf "%s" "$STUB_PLATFORMS"; fi',
          'if [[ "$1" == "version" ]]; then echo amd64; fi',
          "exit 0",
        ].join("\n"),
      );
      chmodSync(join(dir, "docker"), 0o755);
      return new Promise<{ code: number; stderr: string; calls: string[][] }>((resolve) => {
        execFile(
          "bash",
          [join(ROOT, "scripts/docker-build.sh")],
          { cwd: ROOT, env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, ...env }, timeout: 60_000 },
          (err, _stdout, stderr) => {
            const calls = existsSync(log)
              ? readFileSync(log, "utf8")
                  .trim()
                  .split("\n")
                  .map((l) => l.split("\t"))
              : [];
            rmSync(dir, { recursive: true, force: true });
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr, calls });
          },
        );
      });
    };
    const base = { IMAGE_PREFIX: "registry.test/acme", TAG: "1.2.3", BUILDER: "pa-test" };

    it("builds and pushes both images for both platforms, then verifies the manifest lists", async () => {
      const r = await run({ ...base, STUB_PLATFORMS: "linux/amd64 linux/arm64 " });
      expect(r.code, r.stderr).toBe(0);
      const builds = r.calls.filter((c) => c[0] === "buildx" && c[1] === "build");
      expect(builds).toHaveLength(2);
      for (const [i, image] of ["controller", "agent"].entries()) {
        const b = builds[i]!;
        expect(b[b.indexOf("--platform") + 1]).toBe(PLATFORMS);
        expect(b[b.indexOf("--file") + 1]).toBe(`docker/${image}.Dockerfile`);
        expect(b[b.indexOf("--tag") + 1]).toBe(`registry.test/acme/polyarch-${image}:1.2.3`);
        expect(b).toContain("--push");
        expect(b.at(-1)).toBe(".");
      }
      const inspects = r.calls.filter((c) => c[1] === "imagetools");
      expect(inspects.map((c) => c.at(-1))).toEqual([
        "registry.test/acme/polyarch-controller:1.2.3",
        "registry.test/acme/polyarch-agent:1.2.3",
      ]);
    });

    it("fails when a pushed tag lacks a platform", async () => {
      const r = await run({ ...base, STUB_PLATFORMS: "linux/amd64 " });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("lacks linux/arm64");
    });

    it("refuses an arch-specific tag", async () => {
      const r = await run({ ...base, TAG: "1.2.3-arm64", STUB_PLATFORMS: "" });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/arch-specific/);
      expect(r.calls.some((c) => c[1] === "build")).toBe(false);
    });
  });
});
