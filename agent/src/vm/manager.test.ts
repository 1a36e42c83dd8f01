// Integration test of VmManager with real qemu-system-x86_64 / qemu-system-aarch64 under TCG,
// booting the kernel + busybox initramfs fixtures (scripts/fixtures/build.sh) to their marker.
// Every QEMU a test starts is found by its state dir in /proc and SIGKILLed afterwards.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ARCHES, type Arch, normalizeArch, qemuBinaryFor } from "../../../lib/arch";
import type { VmSpecInput } from "../../../lib/schemas/agent-api";
import { QmpClient } from "../qemu";
import { AgentError } from "./errors";
import { VmManager, type ResolvedImage, type VmManagerOptions } from "./manager";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../..");
const hostArch: Arch = normalizeArch(os.machine()) ?? "x86_64";

function which(bin: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const p = path.join(dir, bin);
    if (existsSync(p)) return p;
  }
  return null;
}

interface Fixture {
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
function findFixture(arch: Arch): Fixture | null {
  const roots = [process.env.POLYARCH_FIXTURES_DIR, path.join(repoRoot, ".cache/fixtures")].filter((r): r is string => Boolean(r));
  for (const root of roots) {
    const dir = path.join(root, arch);
    if (!existsSync(dir)) continue;
    const manifestPath = path.join(dir, "manifest.json");
    const m = existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, "utf8")) as Record<string, unknown>) : {};
    const pick = (explicit: unknown, names: string[]) => {
      if (typeof explicit === "string") return path.resolve(dir, explicit);
      return names.map((n) => path.join(dir, n)).find((p) => existsSync(p));
    };
    const kernel = pick(m.kernel, ["vmlinuz", "kernel", "Image", "bzImage"]);
    const initrd = pick(m.initrd, ["initramfs.cpio.gz", "initrd.gz", "initrd.img", "initramfs.gz", "initrd"]);
    const markerFile = path.join(dir, "marker");
    const marker = typeof m.marker === "string" ? m.marker : existsSync(markerFile) ? readFileSync(markerFile, "utf8").trim() : null;
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

const binaries: Record<string, string> = {};
for (const a of ARCHES) {
  const p = which(qemuBinaryFor(a));
  if (p) binaries[a] = p;
}
const firmware: Record<string, string> = {};
for (const [key, p] of [
  ["x86_64-code", "/usr/share/OVMF/OVMF_CODE_4M.fd"],
  ["x86_64-vars", "/usr/share/OVMF/OVMF_VARS_4M.fd"],
  ["aarch64-code", "/usr/share/AAVMF/AAVMF_CODE.fd"],
  ["aarch64-vars", "/usr/share/AAVMF/AAVMF_VARS.fd"],
] as const) {
  if (existsSync(p)) firmware[key] = p;
}
const hasQemuImg = Boolean(which("qemu-img"));

// ---- process bookkeeping: kill every QEMU whose argv mentions our state dir ------------------

let stateDir = "";
const extraDirs: string[] = [];

function pidsUsing(dirs: string[]): number[] {
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

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

async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs: number, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function serialLog(id: string): string {
  try {
    return readFileSync(path.join(stateDir, "vms", id, "serial.log"), "utf8");
  } catch {
    return "";
  }
}

// ---- manager factory --------------------------------------------------------------------------

const managers: VmManager[] = [];
const logs: Array<{ msg: string; ctx?: Record<string, unknown> }> = [];

function makeManager(over: Partial<VmManagerOptions> = {}, images: Partial<Record<Arch, ResolvedImage>> = {}): VmManager {
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
}

function kernelSpec(arch: Arch, over: Partial<VmSpecInput> = {}): VmSpecInput {
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

beforeAll(() => {
  // Short path on purpose: also keeps the unix sockets inside the VM dirs.
  stateDir = mkdtempSync(path.join(os.tmpdir(), "pa-mt-"));
});

/** Set by a passing test that hands its running guest to the next test (restart simulation). */
let handOver = false;

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

// ---- validation: nothing is created for a refused spec ---------------------------------------

describe.skipIf(!hasQemuImg)(`VmManager validation${hasQemuImg ? "" : " (skipped: qemu-img not installed)"}`, () => {
  it("refuses invalid and impossible specs before any side effect", async () => {
    const mgr = makeManager({ hostLimits: { cpuCount: 2, memoryMb: 4096 } });
    await mgr.init();
    const cases: Array<[string, VmSpecInput, AgentError["code"], RegExp]> = [
      ["bad-1", { ...kernelSpec("x86_64"), vcpus: 0 }, "invalid", /vcpus/],
      ["bad-2", { ...kernelSpec("x86_64"), vcpus: 4 }, "invalid", /4 vCPUs requested; this host has 2 CPUs/],
      ["bad-3", { ...kernelSpec("x86_64"), memoryMb: 8192 }, "invalid", /8192 MiB/],
      ["bad-4", { ...kernelSpec("aarch64"), allowEmulation: false }, "conflict", /cannot run aarch64 natively/],
      ["bad-5", { ...kernelSpec("x86_64"), nics: [{ id: "n0", mac: "52:54:00:00:00:01", vlan: 0 }] }, "conflict", /network driver/],
      ["bad-6", { ...kernelSpec("x86_64"), boot: { type: "kernel", imageId: "nosuch", cmdline: "" } }, "unavailable", /no fixture|nosuch/],
    ];
    for (const [id, spec, code, re] of cases) {
      const err = await mgr.apply(id, spec).catch((e: unknown) => e);
      expect(err, id).toBeInstanceOf(AgentError);
      expect((err as AgentError).code, id).toBe(code);
      expect((err as AgentError).message, id).toMatch(re);
      expect(existsSync(path.join(stateDir, "vms", id)), id).toBe(false);
    }
    await expect(mgr.apply("../etc", kernelSpec("x86_64"))).rejects.toMatchObject({ code: "invalid" });
    await expect(mgr.get("nope")).rejects.toMatchObject({ code: "not_found" });
    await expect(mgr.action("nope", "start")).rejects.toMatchObject({ code: "not_found" });
    await expect(mgr.delete("nope")).rejects.toMatchObject({ code: "not_found" });
    expect(await mgr.list()).toEqual([]);
  });

  it.skipIf(!binaries.x86_64)("cleans up everything when QEMU fails to start", async () => {
    const junk = path.join(stateDir, "junk-kernel");
    writeFileSync(junk, "not a kernel");
    const mgr = makeManager({}, { x86_64: { kernel: junk } });
    const err = await mgr.apply("broken", kernelSpec("x86_64")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe("unavailable");
    expect((err as AgentError).message).toMatch(/QEMU exited during start/);
    expect(existsSync(path.join(stateDir, "vms", "broken"))).toBe(false);
    expect(await mgr.list()).toEqual([]);
  });
});

// ---- full lifecycle per arch -----------------------------------------------------------------

for (const arch of ARCHES) {
  const fx = findFixture(arch);
  const missing = !binaries[arch] ? `${qemuBinaryFor(arch)} not installed` : !hasQemuImg ? "qemu-img not installed" : !fx ? `no boot fixture for ${arch} (run scripts/fixtures/build.sh)` : null;

  describe.skipIf(missing !== null)(`VmManager lifecycle, ${arch} guest under TCG${missing ? ` (skipped: ${missing})` : ""}`, () => {
    const id = `life-${arch.replace("_", "-")}`;
    let firstPid = 0;

    it("boots a kernel-boot guest to its marker and reports it running", async () => {
      const mgr = makeManager();
      await mgr.init();
      const t0 = Date.now();
      const res = await mgr.apply(id, kernelSpec(arch));
      expect(res.created).toBe(true);
      expect(res.status.powerState).toBe("running");
      // ADR 003: only a foreign arch is "emulated"; the host's own arch without KVM is native TCG.
      expect(res.status.emulated).toBe(arch !== hostArch);
      expect(res.status.accel).toBe("tcg");
      firstPid = res.status.pid!;
      expect(firstPid).toBeGreaterThan(1);
      await waitFor(`${arch} marker`, () => serialLog(id).includes(fx!.marker), 90_000, 200);
      const bootMs = Date.now() - t0;
      console.log(`[timing] ${arch}: apply -> marker on serial console in ${(bootMs / 1000).toFixed(1)} s`);

      const list = await mgr.list();
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ id, arch, powerState: "running", qmpStatus: "running", pid: firstPid, vcpus: 1, memoryMb: 256 });
      expect(list[0]!.rssMb).toBeGreaterThan(10);
      // Per-VM files where the contract says
      const dir = path.join(stateDir, "vms", id);
      for (const f of ["spec.json", "state.json", "qemu.pid", "qmp.sock", "serial.sock", "serial.log", "disk.qcow2"]) {
        expect(existsSync(path.join(dir, f)), f).toBe(true);
      }
      // Detached: its own session, not in the agent's process group, stdio not on the agent.
      const stat = readFileSync(`/proc/${firstPid}/stat`, "utf8").slice(readFileSync(`/proc/${firstPid}/stat`, "utf8").lastIndexOf(")") + 2).split(" ");
      const [pgrp, session] = [Number(stat[2]), Number(stat[3])];
      expect(session).toBe(firstPid);
      expect(pgrp).toBe(firstPid);
      expect(readFileSync(`/proc/${firstPid}/cmdline`, "utf8")).not.toContain("-daemonize");

      // Same spec again: nothing new.
      const again = await mgr.apply(id, kernelSpec(arch));
      expect(again).toMatchObject({ created: false, changed: false });
      expect(again.status.pid).toBe(firstPid);
      expect(pidsUsing([stateDir])).toEqual([firstPid]);
      await mgr.close(); // detach, keep running (the next test re-attaches)
      expect(alive(firstPid)).toBe(true);
      handOver = true;
    });

    it("a new manager (agent restart) re-attaches without a second QEMU", async () => {
      expect(alive(firstPid)).toBe(true);
      const mgr = makeManager();
      await mgr.init();
      const st = await mgr.get(id);
      expect(st).toMatchObject({ powerState: "running", qmpStatus: "running", pid: firstPid });
      // PUT of the same spec and a start action after restart must not spawn anything.
      expect((await mgr.apply(id, kernelSpec(arch))).changed).toBe(false);
      expect((await mgr.action(id, "start")).pid).toBe(firstPid);
      expect(pidsUsing([stateDir])).toEqual([firstPid]);
      handOver = true; // the next test stops it
    });

    it("stop = ACPI power button: the guest powers itself off", async () => {
      const mgr = makeManager();
      await mgr.init();
      const t0 = Date.now();
      const st = await mgr.action(id, "stop");
      const ms = Date.now() - t0;
      console.log(`[timing] ${arch}: ACPI stop took ${(ms / 1000).toFixed(1)} s`);
      expect(st.powerState).toBe("shutoff");
      expect(alive(firstPid)).toBe(false);
      expect(logs.some((l) => l.msg.includes("forcing") && l.ctx?.id === id)).toBe(false); // not the forced fallback
      if (fx!.powerLine) expect(serialLog(id)).toContain(fx!.powerLine); // the guest saw the button
      expect(serialLog(id)).toMatch(/reboot: Power down/); // and its kernel powered off
      expect(existsSync(path.join(stateDir, "vms", id, "qemu.pid"))).toBe(false);
      expect((await mgr.getSpec(id))?.powerState).toBe("stopped");
    });

    it("start boots again; reboot resets; poweroff is immediate", async () => {
      const mgr = makeManager();
      await mgr.init();
      expect((await mgr.get(id)).powerState).toBe("shutoff");
      const st = await mgr.action(id, "start");
      expect(st.powerState).toBe("running");
      expect(st.pid).not.toBe(firstPid);
      await waitFor(`${arch} marker after start`, () => serialLog(id).includes(fx!.marker), 90_000, 200);
      expect(existsSync(path.join(stateDir, "vms", id, "serial.log.1"))).toBe(true); // previous boot kept

      const before = serialLog(id).split(fx!.marker).length - 1;
      await mgr.action(id, "reboot");
      await waitFor(`${arch} marker after reboot`, () => serialLog(id).split(fx!.marker).length - 1 > before, 90_000, 200);
      expect((await mgr.get(id)).pid).toBe(st.pid); // same QEMU, guest reset

      const t0 = Date.now();
      const off = await mgr.action(id, "poweroff");
      expect(off.powerState).toBe("shutoff");
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(alive(st.pid!)).toBe(false);
      expect(pidsUsing([stateDir])).toEqual([]);
    });

    it("PUT with powerState changes converges; delete removes process and files", async () => {
      const mgr = makeManager();
      await mgr.init();
      const up = await mgr.apply(id, kernelSpec(arch, { powerState: "running", diskGb: 2 }));
      expect(up).toMatchObject({ created: false, changed: true });
      expect(up.status.powerState).toBe("running");
      const pid = up.status.pid!;
      // Changing memory while running is refused, not silently ignored.
      await expect(mgr.apply(id, kernelSpec(arch, { memoryMb: 192, diskGb: 2 }))).rejects.toMatchObject({ code: "conflict" });
      // Growing the disk while running goes through QMP block_resize.
      expect((await mgr.apply(id, kernelSpec(arch, { diskGb: 3 }))).status.pid).toBe(pid);
      const info = JSON.parse(execFileSync("qemu-img", ["info", "-U", "--output=json", path.join(stateDir, "vms", id, "disk.qcow2")], { encoding: "utf8" })) as Record<string, unknown>;
      expect(info["virtual-size"]).toBe(3 * 1024 ** 3);
      await expect(mgr.apply(id, kernelSpec(arch, { diskGb: 1 }))).rejects.toMatchObject({ code: "conflict" });
      await mgr.delete(id);
      expect(alive(pid)).toBe(false);
      expect(existsSync(path.join(stateDir, "vms", id))).toBe(false);
      expect(await mgr.list()).toEqual([]);
      expect(pidsUsing([stateDir])).toEqual([]);
    });
  });
}

// ---- the agent dies with SIGKILL; the VM does not --------------------------------------------

const simArch: Arch = binaries[hostArch] && findFixture(hostArch) ? hostArch : (ARCHES.find((a) => binaries[a] && findFixture(a)) ?? hostArch);
const simFx = findFixture(simArch);
const simSkip = !binaries[simArch] || !simFx || !hasQemuImg;

describe.skipIf(simSkip)(`agent killed with SIGKILL (${simArch})${simSkip ? " (skipped: no qemu/fixture)" : ""}`, () => {
  it("QEMU keeps running and the next agent re-attaches", async () => {
    const id = "survivor";
    const sim = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        path.join(here, "../testing/agent-sim.ts"),
        JSON.stringify({ stateDir, hostArch, binaries, firmware, id, spec: kernelSpec(simArch), kernel: simFx!.kernel, initrd: simFx!.initrd }),
      ],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let errOut = "";
    sim.stdout.on("data", (d: Buffer) => (out += d.toString()));
    sim.stderr.on("data", (d: Buffer) => (errOut += d.toString()));
    try {
      const pid = await waitFor(
        "agent-sim READY",
        () => {
          if (sim.exitCode !== null) throw new Error(`agent-sim exited: ${errOut}`);
          const m = /READY (\d+)/.exec(out);
          return m ? Number(m[1]) : 0;
        },
        60_000,
      );
      sim.kill("SIGKILL");
      await new Promise((r) => sim.once("exit", r));
      await waitFor("marker", () => serialLog(id).includes(simFx!.marker), 90_000, 200);
      expect(alive(pid)).toBe(true);

      const mgr = makeManager();
      await mgr.init();
      expect(await mgr.get(id)).toMatchObject({ powerState: "running", qmpStatus: "running", pid });
      expect(pidsUsing([stateDir])).toEqual([pid]);
      await mgr.delete(id);
      expect(alive(pid)).toBe(false);
    } finally {
      if (sim.exitCode === null) sim.kill("SIGKILL");
    }
  });
});

// ---- disk boot of the fixture's bootable image: SeaBIOS, OVMF, AAVMF ------------------------

const diskCases: Array<[Arch, "bios" | "uefi"]> = [
  ["x86_64", "bios"],
  ["x86_64", "uefi"],
  ["aarch64", "uefi"], // aarch64 disks always boot through UEFI
];
for (const [arch, fw] of diskCases) {
  const fx = findFixture(arch);
  const fwMissing = fw === "uefi" && (!firmware[`${arch}-code`] || !firmware[`${arch}-vars`]);
  const skip = !binaries[arch]
    ? `${qemuBinaryFor(arch)} not installed`
    : !hasQemuImg
      ? "qemu-img not installed"
      : !fx?.disk
        ? `no bootable fixture disk for ${arch}`
        : fwMissing
          ? "UEFI firmware not installed"
          : null;
  describe.skipIf(skip !== null)(`disk boot, ${arch} ${fw}${skip ? ` (skipped: ${skip})` : ""}`, () => {
    it("boots a qcow2 overlay of the image to the marker", async () => {
      const mgr = makeManager({}, { [arch]: { disk: fx!.disk } });
      const id = `disk-${arch.replace("_", "-")}-${fw}`;
      const t0 = Date.now();
      const res = await mgr.apply(id, {
        name: id,
        arch,
        vcpus: 1,
        memoryMb: 256,
        diskGb: 1,
        boot: { type: "disk", imageId: `disk-${arch}`, format: fx!.diskFormat ?? "qcow2", firmware: fw },
      });
      expect(res.status.powerState).toBe("running");
      const dir = path.join(stateDir, "vms", id);
      const info = JSON.parse(execFileSync("qemu-img", ["info", "-U", "--output=json", path.join(dir, "disk.qcow2")], { encoding: "utf8" })) as Record<string, unknown>;
      expect(info["backing-filename"]).toBe(fx!.disk);
      expect(info["virtual-size"]).toBe(1024 ** 3);
      const argv = readFileSync(`/proc/${res.status.pid}/cmdline`, "utf8").split("\0");
      const vars = path.join(dir, "vars.fd");
      if (fw === "uefi") {
        // this VM's own copy of the vars store, same size as the template, sparse on disk
        expect(statSync(vars).size).toBe(statSync(firmware[`${arch}-vars`]!).size);
        expect(statSync(vars).blocks * 512).toBeLessThanOrEqual(statSync(firmware[`${arch}-vars`]!).size);
        expect(argv).toContain(`if=pflash,unit=1,format=raw,file=${vars}`);
      } else {
        expect(existsSync(vars)).toBe(false);
        expect(argv.some((a) => a.includes("pflash"))).toBe(false);
      }
      await waitFor(`${arch} ${fw} disk boot marker`, () => serialLog(id).includes(fx!.marker), 150_000, 250);
      console.log(`[timing] ${arch} ${fw} disk boot: apply -> marker in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await mgr.delete(id);
      expect(existsSync(dir)).toBe(false);
    }, 300_000); // UEFI firmware + GRUB under TCG on a loaded 2-core machine
  });
}

// ---- sockets, NICs, forced stop, concurrency (no need to wait for a guest OS) -----------------

const quickArch: Arch | undefined = ARCHES.find((a) => binaries[a] && findFixture(a));

describe.skipIf(!quickArch || !hasQemuImg)(`VmManager plumbing${!quickArch ? " (skipped: no qemu/fixture)" : ""}`, () => {
  it("puts sockets in a short dir when the state dir is too long for sun_path", async () => {
    const longState = path.join(mkdtempSync(path.join(os.tmpdir(), "pa-long-")), "x".repeat(60), "y".repeat(40));
    extraDirs.push(path.dirname(path.dirname(longState)));
    const sockBase = mkdtempSync(path.join(os.tmpdir(), "pa-s-"));
    extraDirs.push(sockBase);
    const mgr = makeManager({ stateDir: longState, socketBaseDir: sockBase });
    const id = "long-socks";
    const res = await mgr.apply(id, kernelSpec(quickArch!));
    expect(res.status.powerState).toBe("running");
    const paths = await mgr.consolePaths(id);
    expect(paths.qmpSocket.startsWith(sockBase)).toBe(true);
    expect(Buffer.byteLength(paths.serialSocket)).toBeLessThan(108);
    expect(existsSync(paths.qmpSocket)).toBe(true);
    const state = JSON.parse(readFileSync(path.join(longState, "vms", id, "state.json"), "utf8")) as { sockDir: string };
    expect(state.sockDir).toBe(path.dirname(paths.qmpSocket)); // recorded for the next agent
    // A restarted agent finds the sockets through state.json.
    await mgr.close();
    const again = makeManager({ stateDir: longState, socketBaseDir: sockBase });
    expect(await again.get(id)).toMatchObject({ powerState: "running", qmpStatus: "running", pid: res.status.pid });
    await again.delete(id);
    expect(existsSync(path.dirname(paths.qmpSocket))).toBe(false);
  });

  it("concurrent PUTs of a new VM start exactly one QEMU", async () => {
    const mgr = makeManager();
    const id = "twice";
    const [a, b] = await Promise.all([mgr.apply(id, kernelSpec(quickArch!)), mgr.apply(id, kernelSpec(quickArch!))]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(a.status.pid).toBe(b.status.pid);
    expect(pidsUsing([path.join(stateDir, "vms", id)])).toEqual([a.status.pid]);
    await mgr.delete(id);
  });

  it("NICs: ports come from the network driver, QEMU opens the taps, delete removes the ports", async () => {
    if (!existsSync("/dev/net/tun") || process.getuid?.() !== 0) return; // taps need root + /dev/net/tun
    const calls: string[] = [];
    const suffix = String(process.pid % 10000);
    // QEMU creates a non-persistent tap by name when it does not exist: isolated (no bridge, down).
    const network = {
      addPort: async (vmId: string, nic: { id: string }) => {
        calls.push(`add ${vmId} ${nic.id}`);
        return `pat${suffix}${nic.id}`;
      },
      removePort: async (vmId: string, nic: { id: string }, tap: string) => {
        calls.push(`remove ${vmId} ${nic.id} ${tap}`);
      },
    };
    const mgr = makeManager({ network });
    const id = "with-nics";
    const res = await mgr.apply(
      id,
      kernelSpec(quickArch!, {
        nics: [
          { id: "n0", mac: "52:54:00:aa:00:01", vlan: 10 },
          { id: "n1", mac: "52:54:00:aa:00:02", vlan: 0 },
        ],
      }),
    );
    expect(res.status.powerState).toBe("running");
    expect(calls).toEqual([`add ${id} n0`, `add ${id} n1`]);
    expect(existsSync(`/sys/class/net/pat${suffix}n0`)).toBe(true);
    const argv = readFileSync(`/proc/${res.status.pid}/cmdline`, "utf8").split("\0");
    expect(argv).toContain(`tap,id=net-n0,ifname=pat${suffix}n0,script=no,downscript=no,vnet_hdr=off`);
    expect(argv).toContain("virtio-net-pci,id=nic-n1,netdev=net-n1,mac=52:54:00:aa:00:02,csum=off,guest_csum=off");
    // Changing NICs needs a stopped VM; then only the changed NIC's port is replaced.
    await expect(mgr.apply(id, kernelSpec(quickArch!, { nics: [{ id: "n0", mac: "52:54:00:aa:00:01", vlan: 11 }] }))).rejects.toMatchObject({ code: "conflict" });
    await mgr.action(id, "poweroff");
    calls.length = 0;
    await mgr.apply(id, kernelSpec(quickArch!, { powerState: "stopped", nics: [{ id: "n0", mac: "52:54:00:aa:00:01", vlan: 11 }, { id: "n1", mac: "52:54:00:aa:00:02", vlan: 0 }] }));
    expect(calls).toEqual([`remove ${id} n0 pat${suffix}n0`, `add ${id} n0`]);
    calls.length = 0;
    await mgr.delete(id);
    expect(calls.sort()).toEqual([`remove ${id} n0 pat${suffix}n0`, `remove ${id} n1 pat${suffix}n1`]);
    expect(existsSync(`/sys/class/net/pat${suffix}n0`)).toBe(false); // QEMU's tap went with it
  });

  it("stop falls back to a forced quit when the guest ignores ACPI; poweroff preempts a pending stop", async () => {
    // A paused guest cannot answer the power button. QEMU takes one QMP client at a time, so
    // detach the manager, pause through the socket, and let a fresh manager re-attach.
    const id = "stubborn";
    const pauseGuest = async (mgr: VmManager) => {
      const sock = (await mgr.consolePaths(id)).qmpSocket;
      await mgr.close();
      const q = await QmpClient.connect(sock);
      await q.stop();
      await q.close();
    };

    const first = makeManager();
    const pid1 = (await first.apply(id, kernelSpec(quickArch!))).status.pid!;
    await pauseGuest(first);
    const mgr = makeManager({ stopTimeoutMs: 1_500 });
    expect((await mgr.get(id)).powerState).toBe("paused");
    const t0 = Date.now();
    expect((await mgr.action(id, "stop")).powerState).toBe("shutoff");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_400);
    expect(logs.some((l) => l.msg.includes("forcing") && l.ctx?.id === id)).toBe(true);
    expect(alive(pid1)).toBe(false);

    // poweroff while a (long) graceful stop is waiting: both finish at once.
    const pid2 = (await mgr.action(id, "start")).pid!;
    await pauseGuest(mgr);
    const slow = makeManager({ stopTimeoutMs: 60_000 });
    const t1 = Date.now();
    const stopping = slow.action(id, "stop");
    await new Promise((r) => setTimeout(r, 500));
    expect((await slow.get(id)).powerState).toBe("stopping");
    expect((await slow.action(id, "poweroff")).powerState).toBe("shutoff");
    expect((await stopping).powerState).toBe("shutoff");
    expect(Date.now() - t1).toBeLessThan(15_000);
    expect(alive(pid2)).toBe(false);
    await slow.delete(id);
  });
});
