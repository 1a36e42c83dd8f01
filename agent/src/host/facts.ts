// Host facts: what this node is and what it can run. Reported at registration and in the first
// heartbeat; the scheduler places VMs from them, so they must describe what QEMU can really do.
import { probeKvm } from "../qemu";
import os from "node:os";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import crypto from "node:crypto";
import { ARCHES, normalizeArch, qemuBinaryFor, type Arch } from "../../../lib/arch";
import type { HostFacts } from "../../../lib/schemas/agent-api";
import { run } from "../util";
import { detectCompatFacts } from "./compat";
import { parseCpuInfo } from "./cpu-model";
import { parseProcStat } from "./metrics";
import { AGENT_VERSION } from "./version";

// ---------------------------------------------------------------------------------------------
// Tool discovery

function pathDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = (env.PATH ?? "").split(":").filter(Boolean);
  // sbin is often missing from a non-login PATH, but ovs-vswitchd / ip live there.
  for (const d of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
    if (!dirs.includes(d)) dirs.push(d);
  return dirs;
}

/** Absolute path of an executable found on PATH (plus the sbin dirs), or null. */
export function which(name: string, env?: NodeJS.ProcessEnv): string | null {
  for (const dir of pathDirs(env)) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* keep looking */
    }
  }
  return null;
}

function firstExisting(paths: string[]): string | null {
  for (const p of paths) {
    try {
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/**
 * UEFI firmware per guest arch, keyed `<arch>-code` / `<arch>-vars` (the VARS file is a template
 * the VM manager copies per VM). CODE and VARS must come from the same build (a 4M CODE with a
 * 2M VARS does not boot), so we pick pairs. Debian/Ubuntu paths first, then upstream/Fedora.
 */
export function findFirmware(root = "/"): Record<string, string> {
  const pairs: Record<Arch, Array<[string, string]>> = {
    x86_64: [
      ["usr/share/OVMF/OVMF_CODE_4M.fd", "usr/share/OVMF/OVMF_VARS_4M.fd"],
      ["usr/share/OVMF/OVMF_CODE.fd", "usr/share/OVMF/OVMF_VARS.fd"],
      ["usr/share/edk2/ovmf/OVMF_CODE.fd", "usr/share/edk2/ovmf/OVMF_VARS.fd"],
      ["usr/share/qemu/edk2-x86_64-code.fd", "usr/share/qemu/edk2-i386-vars.fd"],
    ],
    aarch64: [
      ["usr/share/AAVMF/AAVMF_CODE.fd", "usr/share/AAVMF/AAVMF_VARS.fd"],
      ["usr/share/edk2/aarch64/QEMU_EFI-pflash.raw", "usr/share/edk2/aarch64/vars-template-pflash.raw"],
      ["usr/share/qemu/edk2-aarch64-code.fd", "usr/share/qemu/edk2-arm-vars.fd"],
    ],
  };
  const out: Record<string, string> = {};
  for (const arch of ARCHES) {
    for (const [code, vars] of pairs[arch]) {
      const c = firstExisting([path.join(root, code)]);
      const v = firstExisting([path.join(root, vars)]);
      if (c && v) {
        out[`${arch}-code`] = c;
        out[`${arch}-vars`] = v;
        break;
      }
    }
  }
  return out;
}

async function versionOf(bin: string, args: string[], re: RegExp): Promise<string | null> {
  try {
    const { stdout } = await run(bin, args, { timeoutMs: 10_000 });
    return re.exec(stdout)?.[1] ?? (stdout.split("\n")[0]?.trim() || null);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Identity

const MACHINE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Override > /etc/machine-id > a random id persisted in the state dir. */
export async function resolveMachineId(
  stateDir: string,
  override?: string,
  etcMachineId = "/etc/machine-id",
): Promise<string> {
  if (override) {
    if (!MACHINE_ID_RE.test(override))
      throw new Error("machine id may contain only letters, digits, '-' and '_' (max 64)");
    return override;
  }
  try {
    const id = (await fsp.readFile(etcMachineId, "utf8")).trim();
    if (MACHINE_ID_RE.test(id)) return id;
  } catch {
    /* fall through */
  }
  const file = path.join(stateDir, "machine-id");
  try {
    const id = (await fsp.readFile(file, "utf8")).trim();
    if (MACHINE_ID_RE.test(id)) return id;
  } catch {
    /* generate */
  }
  const id = crypto.randomBytes(16).toString("hex");
  await fsp.mkdir(stateDir, { recursive: true });
  await fsp.writeFile(file, id + "\n", { mode: 0o600 });
  return id;
}

// ---------------------------------------------------------------------------------------------
// Capabilities

export interface Capabilities {
  nativeArches: Arch[];
  emulatedArches: Arch[];
  maxVcpusNative: number | null;
  maxVcpusEmulated: number | null;
}

/**
 * Native = the host's own arch (with its QEMU binary): KVM when usable, else TCG, still native.
 * Emulated = every other arch with a binary (foreign-arch TCG). See ADR 003.
 * vCPU limit = host CPUs: KVM vCPUs beyond that only time-share, and MTTCG runs one host thread
 * per vCPU, so more is slower, not bigger.
 */
export function computeCapabilities(
  hostArch: Arch,
  kvm: boolean,
  binaries: Record<string, string>,
  cpuCount: number,
): Capabilities {
  const nativeArches: Arch[] = binaries[hostArch] ? [hostArch] : [];
  const emulatedArches = ARCHES.filter((a) => binaries[a] && !nativeArches.includes(a));
  return {
    nativeArches,
    emulatedArches,
    maxVcpusNative: nativeArches.length ? cpuCount : null,
    maxVcpusEmulated: emulatedArches.length ? cpuCount : null,
  };
}

/** Why this host cannot take a VM of `arch`, or null when it can. Used for the 409 message. */
export function archRefusal(
  facts: Pick<HostFacts, "arch" | "nativeArches" | "emulatedArches">,
  arch: Arch,
  allowEmulation: boolean,
): string | null {
  if (facts.nativeArches.includes(arch)) return null;
  if (allowEmulation && facts.emulatedArches.includes(arch)) return null;
  const unlessEmulated =
    !allowEmulation && facts.emulatedArches.includes(arch) ? " without emulation (allowEmulation is false)" : "";
  return `this ${facts.arch} host cannot run ${arch} guests${unlessEmulated}; it can run: ${describeCapabilities(facts)}`;
}

export function describeCapabilities(
  facts: Pick<HostFacts, "nativeArches" | "emulatedArches"> & { kvm?: boolean },
): string {
  const parts = [
    ...facts.nativeArches.map((a) => `${a} (native, ${facts.kvm === false ? "TCG without KVM" : "KVM"})`),
    ...facts.emulatedArches.map((a) => `${a} (emulated, TCG)`),
  ];
  return parts.length ? parts.join(", ") : "nothing (no qemu-system binary found)";
}

// ---------------------------------------------------------------------------------------------

export interface DetectOptions {
  stateDir: string;
  machineId?: string;
  /** "off" pretends /dev/kvm is absent (tests, or hosts where KVM is flaky) */
  kvm?: "auto" | "off";
  /** ovs-vsctl --db of a private OVS instance (default: the system one) */
  ovsDb?: string;
  /** force the OVS datapath instead of probing the kernel module */
  ovsDatapath?: "system" | "netdev";
  procCpuinfo?: string;
  env?: NodeJS.ProcessEnv;
}

async function kvmUsable(): Promise<boolean> {
  try {
    await fsp.access("/dev/kvm", fs.constants.R_OK | fs.constants.W_OK);
    return (await fsp.stat("/dev/kvm")).isCharacterDevice();
  } catch {
    return false;
  }
}

const ELF_MACHINES: Record<number, Arch> = { 0x3e: "x86_64", 0xb7: "aarch64" };

/** CPU arch an ELF executable is built for, or null (not ELF / other arch / unreadable). */
export function elfArch(file: string): Arch | null {
  let fd: number | null = null;
  try {
    fd = fs.openSync(file, "r");
    const h = Buffer.alloc(20);
    if (fs.readSync(fd, h, 0, 20, 0) < 20 || h.readUInt32BE(0) !== 0x7f454c46) return null;
    const machine = h[5] === 2 ? h.readUInt16BE(18) : h.readUInt16LE(18);
    return ELF_MACHINES[machine] ?? null;
  } catch {
    return null;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/**
 * The kernel datapath needs the openvswitch module loaded (or loadable). Without it ovs-vsctl
 * still "succeeds" adding a system bridge, which then never forwards: use netdev instead.
 */
function kernelDatapathUsable(): boolean {
  return fs.existsSync("/sys/module/openvswitch");
}

export async function detectFacts(opts: DetectOptions): Promise<HostFacts> {
  const machine = os.machine();
  const arch = normalizeArch(machine);
  if (!arch) throw new Error(`unsupported host architecture "${machine}" (supported: x86_64, aarch64)`);

  await fsp.mkdir(opts.stateDir, { recursive: true });
  const cpuCount = os.availableParallelism?.() ?? os.cpus().length;

  let cpuinfoText = "";
  try {
    cpuinfoText = await fsp.readFile(opts.procCpuinfo ?? "/proc/cpuinfo", "utf8");
  } catch {
    /* not Linux, or hidden */
  }
  const cpu = parseCpuInfo(cpuinfoText);
  let cpuModel = cpu.model !== "unknown" ? cpu.model : os.cpus()[0]?.model?.trim() || "unknown";
  // An arm64 Node under qemu-user sees the x86 host's /proc/cpuinfo: say so instead of lying.
  if (arch === "aarch64" && cpu.kind === "x86") cpuModel = `${cpuModel} (aarch64 via qemu-user)`;

  const st = await fsp.statfs(opts.stateDir);
  const diskGb = Math.floor((st.blocks * st.bsize) / 1024 ** 3);

  const binaries: Record<string, string> = {};
  for (const a of ARCHES) {
    const p = which(qemuBinaryFor(a), opts.env);
    if (p) binaries[a] = p;
  }

  // An agent running under qemu-user (arm64 Node on an x86 box) sees the x86 host's /dev/kvm,
  // which cannot run its "native" arch. The QEMU binaries are built for the real CPU: if the
  // one for our arch is an ELF of another arch, or cpuinfo speaks the other dialect, no KVM.
  const hostBin = binaries[arch];
  const binArch = hostBin ? elfArch(hostBin) : null;
  const userEmulated =
    (binArch !== null && binArch !== arch) ||
    (arch === "aarch64" && cpu.kind === "x86") ||
    (arch === "x86_64" && cpu.kind === "arm");
  // A readable /dev/kvm is not proof: on some nested hosts `-cpu host` aborts at vCPU reset, so
  // KVM counts only when a paused probe VM actually starts (agent/src/qemu/probe.ts).
  const kvm =
    opts.kvm === "off" || userEmulated || !hostBin ? false : (await kvmUsable()) && (await probeKvm(hostBin, arch)).ok;
  const qemuBin = binaries[arch] ?? Object.values(binaries)[0];
  const qemuVersion = qemuBin ? await versionOf(qemuBin, ["--version"], /version\s+([0-9][^\s(]*)/i) : null;

  const vsctl = which("ovs-vsctl", opts.env);
  const ovsVersion = vsctl ? await versionOf(vsctl, ["--version"], /\(Open vSwitch\)\s+(\S+)/) : null;
  // Installed is not enough: the agent needs a reachable ovsdb (system or the private --ovs-db).
  let ovsAvailable = Boolean(vsctl && ovsVersion && which("ovs-vswitchd", opts.env));
  if (ovsAvailable && vsctl) {
    try {
      await run(vsctl, [...(opts.ovsDb ? [`--db=${opts.ovsDb}`] : []), "--timeout=5", "list-br"], { timeoutMs: 8_000 });
    } catch {
      ovsAvailable = false;
    }
  }
  const datapath = ovsAvailable ? (opts.ovsDatapath ?? (kernelDatapathUsable() ? "system" : "netdev")) : null;

  return {
    hostname: os.hostname(),
    machineId: await resolveMachineId(opts.stateDir, opts.machineId),
    arch,
    cpuCount,
    cpuModel,
    memoryMb: Math.floor(os.totalmem() / 1024 ** 2),
    diskGb,
    kvm,
    qemu: { version: qemuVersion, binaries, firmware: findFirmware() },
    ovs: { available: ovsAvailable, version: ovsVersion, datapath },
    ...computeCapabilities(arch, kvm, binaries, cpuCount),
    agentVersion: AGENT_VERSION,
    // Migration compatibility (issue 14). cpuModels (x86_64 KVM: models without missing features) is
    // not reported yet: it needs a KVM QMP probe, and this host type has no KVM to test it on.
    ...(await detectCompatFacts(arch, binaries, cpuinfoText, cpu.kind)),
  };
}

// ---------------------------------------------------------------------------------------------
// Usage (heartbeat + GET /v1/host)

export interface HostUsage {
  cpuPct: number;
  memoryUsedMb: number;
  diskUsedGb: number;
  loadAvg: number[];
}

/**
 * All-CPU jiffies from /proc/stat, read synchronously: a procfs read never waits on a disk, and the
 * async readFile (four thread-pool round trips) or os.cpus() (which also reads cpuinfo and cpufreq for
 * every core) cost more than the rest of an idle heartbeat. os.cpus() only where /proc is missing.
 */
function cpuTimes(): { idle: number; total: number } {
  try {
    const t = parseProcStat(fs.readFileSync("/proc/stat", "utf8"));
    if (t) return t;
  } catch {
    /* not Linux */
  }
  let idle = 0;
  let total = 0;
  for (const c of os.cpus()) {
    idle += c.times.idle;
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
  }
  return { idle, total };
}

/** Samples CPU between calls (first call: since boot). */
export class UsageSampler {
  private last = cpuTimes();
  constructor(private readonly stateDir: string) {}

  async sample(): Promise<HostUsage> {
    const now = cpuTimes();
    const dTotal = now.total - this.last.total;
    const dIdle = now.idle - this.last.idle;
    this.last = now;
    const cpuPct = dTotal > 0 ? Math.round(Math.max(0, Math.min(100, (1 - dIdle / dTotal) * 100)) * 10) / 10 : 0;

    let availableKb: number | null = null;
    try {
      const m = /^MemAvailable:\s+(\d+)\s+kB/m.exec(fs.readFileSync("/proc/meminfo", "utf8"));
      if (m?.[1]) availableKb = Number(m[1]);
    } catch {
      /* non-Linux */
    }
    const totalMb = os.totalmem() / 1024 ** 2;
    const availMb = availableKb !== null ? availableKb / 1024 : os.freemem() / 1024 ** 2;

    let diskUsedGb = 0;
    try {
      const st = await fsp.statfs(this.stateDir);
      diskUsedGb = Math.round((((st.blocks - st.bfree) * st.bsize) / 1024 ** 3) * 100) / 100;
    } catch {
      /* state dir vanished: report 0 rather than fail the heartbeat */
    }
    return {
      cpuPct,
      memoryUsedMb: Math.round(totalMb - availMb),
      diskUsedGb,
      loadAvg: os.loadavg().map((l) => Math.round(l * 100) / 100),
    };
  }
}
