// Test support for the VmManager integration tests (agent/src/vm/manager-*.test.ts): real
// qemu-system-x86_64 / qemu-system-aarch64 under TCG, booting the kernel + busybox initramfs
// fixtures (scripts/fixtures/build.sh) to their marker. vmRig() gives a test file its own state
// dir and managers; every QEMU a test starts is found by its state dir in /proc and SIGKILLed
// afterwards.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { ARCHES, type Arch, normalizeArch, qemuBinaryFor } from "../../../lib/arch";
import type { VmSpecInput } from "../../../lib/schemas/agent-api";
import { AgentError, type ResolvedImage, VmManager, type VmManagerOptions } from "../vm";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../../..");
/** Stand-in agent process that starts one VM and idles (see agent-sim.ts). */
export const agentSimScript = path.join(here, "agent-sim.ts");
export const hostArch: Arch = normalizeArch(os.machine()) ?? "x86_64";

function which(bin: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const p = path.join(dir, bin);
    if (existsSync(p)) return p;
  }
  return null;
}

export interface Fixture {
  kernel: string;
  initrd?: string;
  marker: string;
  /** bootable disk image (BIOS and UEFI), when the fixture has one */
  disk?: string;
  diskFormat?: "qcow2" | "raw";
  cmdline: string;
  /** console line the guest prints when it sees the power button */
  powerLine?: string;
}

/**
 * Fixture per arch from POLYARCH_FIXTURES_DIR or .cache/fixtures/<arch>/. A manifest.json
 * ({kernel, initrd, marker}) wins; otherwise the usual file names.
 */
export function findFixture(arch: Arch): Fixture | null {
  const roots = [process.env.POLYARCH_FIXTURES_DIR, path.join(repoRoot, ".cache/fixtures")].filter((r): r is string =>
    Boolean(r),
  );
  for (const root of roots) {
    const dir = path.join(root, arch);
    if (!existsSync(dir)) continue;
    const manifestPath = path.join(dir, "manifest.json");
    const m = existsSync(manifestPath)
      ? (JSON.parse(readFileSync(manifestPath, "utf8")) as Record<string, unknown>)
      : {};
    const pick = (explicit: unknown, names: string[]) => {
      if (typeof explicit === "string") return path.resolve(dir, explicit);
      return names.map((n) => path.join(dir, n)).find((p) => existsSync(p));
    };
    const kernel = pick(m.kernel, ["vmlinuz", "kernel", "Image", "bzImage"]);
    const initrd = pick(m.initrd, ["initramfs.cpio.gz", "initrd.gz", "initrd.img", "initramfs.gz", "initrd"]);
    const markerFile = path.join(dir, "marker");
    const marker =
      typeof m.marker === "string" ? m.marker : existsSync(markerFile) ? readFileSync(markerFile, "utf8").trim() : null;
    const disk = typeof m.disk === "string" ? path.resolve(dir, m.disk) : undefined;
    const diskInfo = (m.diskInfo ?? {}) as { format?: string };
    const lines = (m.consoleLines ?? {}) as { powerButton?: string };
    if (kernel && existsSync(kernel) && marker) {
      return {
        kernel,
        initrd: initrd && existsSync(initrd) ? initrd : undefined,
        marker,
        disk: disk && existsSync(disk) ? disk : undefined,
        diskFormat: diskInfo.format === "raw" ? "raw" : "qcow2",
        cmdline: typeof m.cmdline === "string" ? m.cmdline : "quiet",
        powerLine: lines.powerButton,
      };
    }
  }
  return null;
}

export const binaries: Record<string, string> = {};
for (const a of ARCHES) {
  const p = which(qemuBinaryFor(a));
  if (p) binaries[a] = p;
}
export const firmware: Record<string, string> = {};
for (const [key, p] of [
  ["x86_64-code", "/usr/share/OVMF/OVMF_CODE_4M.fd"],
  ["x86_64-vars", "/usr/share/OVMF/OVMF_VARS_4M.fd"],
  ["aarch64-code", "/usr/share/AAVMF/AAVMF_CODE.fd"],
  ["aarch64-vars", "/usr/share/AAVMF/AAVMF_VARS.fd"],
] as const) {
  if (existsSync(p)) firmware[key] = p;
}
export const hasQemuImg = Boolean(which("qemu-img"));

// ---- process bookkeeping: kill every QEMU whose argv mentions our state dir ------------------

export function pidsUsing(dirs: string[]): number[] {
  const out: number[] = [];
  for (const ent of readdirSync("/proc")) {
    if (!/^\d+$/.test(ent)) continue;
    try {
      const argv = readFileSync(`/proc/${ent}/cmdline`, "utf8");
      if (argv.includes("qemu-system-") && dirs.some((d) => d && argv.includes(d))) out.push(Number(ent));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** The process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

export async function waitFor<T>(
  what: string,
  fn: () => T | Promise<T>,
  timeoutMs: number,
  everyMs = 100,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function kernelSpec(arch: Arch, over: Partial<VmSpecInput> = {}): VmSpecInput {
  return {
    name: `t-${arch.replace("_", "-")}`,
    arch,
    vcpus: 1,
    memoryMb: 256,
    diskGb: 1,
    boot: { type: "kernel", imageId: `fixture-${arch}`, cmdline: findFixture(arch)?.cmdline ?? "quiet" },
    powerState: "running",
    ...over,
  };
}

export interface VmRig {
  /** this file's state dir (set in beforeAll) */
  readonly stateDir: string;
  /** more dirs whose QEMUs are killed and which are removed at the end */
  readonly extraDirs: string[];
  /** every message the rig's managers logged */
  readonly logs: Array<{ msg: string; ctx?: Record<string, unknown> }>;
  /** A VmManager on the state dir (closed after each test); `images[arch]` overrides the kernel fixture. */
  makeManager(over?: Partial<VmManagerOptions>, images?: Partial<Record<Arch, ResolvedImage>>): VmManager;
  /** the guest's serial console output so far */
  serialLog(id: string): string;
  /** Called by a passing test that hands its running guest to the next test (restart simulation). */
  handOver(): void;
}

/** Registers the hooks of a VmManager test file: a fresh state dir, and no QEMU left behind. */
export function vmRig(): VmRig {
  let stateDir = "";
  const extraDirs: string[] = [];
  const managers: VmManager[] = [];
  const logs: Array<{ msg: string; ctx?: Record<string, unknown> }> = [];
  let handOver = false;

  function killOurQemus(): number {
    const pids = pidsUsing([stateDir, ...extraDirs]);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    return pids.length;
  }

  beforeAll(() => {
    // Short path on purpose: also keeps the unix sockets inside the VM dirs.
    stateDir = mkdtempSync(path.join(os.tmpdir(), "pa-mt-"));
  });

  afterEach(async (ctx) => {
    for (const m of managers.splice(0)) await m.close().catch(() => {});
    // Kill every guest after each test, also on failure — unless a passing test hands it on.
    if (!(handOver && ctx.task.result?.state === "pass")) killOurQemus();
    handOver = false;
  });

  afterAll(async () => {
    killOurQemus();
    await new Promise((r) => setTimeout(r, 200));
    expect(pidsUsing([stateDir, ...extraDirs])).toEqual([]);
    rmSync(stateDir, { recursive: true, force: true });
    for (const d of extraDirs) rmSync(d, { recursive: true, force: true });
  });

  return {
    get stateDir() {
      return stateDir;
    },
    extraDirs,
    logs,
    makeManager(over = {}, images = {}) {
      const mgr = new VmManager({
        stateDir,
        hostArch,
        kvm: false, // this machine has no /dev/kvm; TCG is what we test
        qemuBinaries: binaries,
        firmware,
        resolveImage: async (boot) => {
          // imageId "<kind>-<arch>": `images[arch]` when given, else the kernel boot fixture
          const arch = boot.imageId.replace(/^(fixture|blank|disk)-/, "") as Arch;
          const img = images[arch];
          if (img) return img;
          const fx = findFixture(arch);
          if (!fx) throw new AgentError("unavailable", `no fixture for ${arch}`);
          return { kernel: fx.kernel, initrd: fx.initrd };
        },
        log: (msg, ctx) => logs.push({ msg, ctx }),
        stopTimeoutMs: 30_000,
        ...over,
      });
      managers.push(mgr);
      return mgr;
    },
    serialLog(id) {
      try {
        return readFileSync(path.join(stateDir, "vms", id, "serial.log"), "utf8");
      } catch {
        return "";
      }
    },
    handOver() {
      handOver = true;
    },
  };
}
