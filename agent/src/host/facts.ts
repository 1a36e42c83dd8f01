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
import { AGENT_VERSION } from "./version";

// ---------------------------------------------------------------------------------------------
// CPU model. arm64 kernels print no "model name"; like util-linux lscpu (lscpu-arm.c) we map
// "CPU implementer" / "CPU part" to vendor and core names.

const ARM_IMPLEMENTERS: Record<number, { vendor: string; parts: Record<number, string> }> = {
  0x41: {
    vendor: "ARM",
    parts: {
      0x810: "ARM810", 0x920: "ARM920", 0x922: "ARM922", 0x926: "ARM926", 0x940: "ARM940", 0x946: "ARM946",
      0x966: "ARM966", 0xa20: "ARM1020", 0xa22: "ARM1022", 0xa26: "ARM1026", 0xb02: "ARM11 MPCore",
      0xb36: "ARM1136", 0xb56: "ARM1156", 0xb76: "ARM1176",
      0xc05: "Cortex-A5", 0xc07: "Cortex-A7", 0xc08: "Cortex-A8", 0xc09: "Cortex-A9", 0xc0d: "Cortex-A17",
      0xc0f: "Cortex-A15", 0xc0e: "Cortex-A17", 0xc14: "Cortex-R4", 0xc15: "Cortex-R5", 0xc17: "Cortex-R7",
      0xc18: "Cortex-R8", 0xc20: "Cortex-M0", 0xc21: "Cortex-M1", 0xc23: "Cortex-M3", 0xc24: "Cortex-M4",
      0xc27: "Cortex-M7", 0xc60: "Cortex-M0+",
      0xd01: "Cortex-A32", 0xd02: "Cortex-A34", 0xd03: "Cortex-A53", 0xd04: "Cortex-A35", 0xd05: "Cortex-A55",
      0xd06: "Cortex-A65", 0xd07: "Cortex-A57", 0xd08: "Cortex-A72", 0xd09: "Cortex-A73", 0xd0a: "Cortex-A75",
      0xd0b: "Cortex-A76", 0xd0c: "Neoverse-N1", 0xd0d: "Cortex-A77", 0xd0e: "Cortex-A76AE", 0xd13: "Cortex-R52",
      0xd15: "Cortex-R82", 0xd16: "Cortex-R52+", 0xd20: "Cortex-M23", 0xd21: "Cortex-M33", 0xd22: "Cortex-M55",
      0xd23: "Cortex-M85", 0xd40: "Neoverse-V1", 0xd41: "Cortex-A78", 0xd42: "Cortex-A78AE", 0xd43: "Cortex-A65AE",
      0xd44: "Cortex-X1", 0xd46: "Cortex-A510", 0xd47: "Cortex-A710", 0xd48: "Cortex-X2", 0xd49: "Neoverse-N2",
      0xd4a: "Neoverse-E1", 0xd4b: "Cortex-A78C", 0xd4c: "Cortex-X1C", 0xd4d: "Cortex-A715", 0xd4e: "Cortex-X3",
      0xd4f: "Neoverse-V2", 0xd80: "Cortex-A520", 0xd81: "Cortex-A720", 0xd82: "Cortex-X4", 0xd84: "Neoverse-V3",
      0xd85: "Cortex-X925", 0xd87: "Cortex-A725", 0xd8e: "Neoverse-N3",
    },
  },
  0x42: { vendor: "Broadcom", parts: { 0x0f: "Brahma-B15", 0x100: "Brahma-B53", 0x516: "ThunderX2" } },
  0x43: {
    vendor: "Cavium",
    parts: {
      0x0a0: "ThunderX", 0x0a1: "ThunderX-88XX", 0x0a2: "ThunderX-81XX", 0x0a3: "ThunderX-83XX",
      0x0af: "ThunderX2-99xx", 0x0b0: "OcteonTX2", 0x0b1: "OcteonTX2-98XX", 0x0b2: "OcteonTX2-96XX",
      0x0b3: "OcteonTX2-95XX", 0x0b4: "OcteonTX2-95XXN", 0x0b5: "OcteonTX2-95XXMM", 0x0b6: "OcteonTX2-95XXO",
      0x0b8: "ThunderX3-T110",
    },
  },
  0x44: { vendor: "DEC", parts: { 0xa10: "SA110", 0xa11: "SA1100" } },
  0x46: { vendor: "FUJITSU", parts: { 0x001: "A64FX" } },
  0x48: {
    vendor: "HiSilicon",
    parts: { 0xd01: "TaiShan-v110 (Kunpeng 920)", 0xd02: "TaiShan-v120", 0xd40: "Cortex-A76", 0xd41: "Cortex-A77" },
  },
  0x49: { vendor: "Infineon", parts: {} },
  0x4d: { vendor: "Motorola/Freescale", parts: {} },
  0x4e: { vendor: "NVIDIA", parts: { 0x000: "Denver", 0x003: "Denver 2", 0x004: "Carmel" } },
  0x50: { vendor: "APM", parts: { 0x000: "X-Gene" } },
  0x51: {
    vendor: "Qualcomm",
    parts: {
      0x001: "Oryon", 0x00f: "Scorpion", 0x02d: "Scorpion", 0x04d: "Krait", 0x06f: "Krait", 0x201: "Kryo",
      0x205: "Kryo", 0x211: "Kryo", 0x800: "Falkor-V1/Kryo", 0x801: "Kryo-V2", 0x802: "Kryo-3XX-Gold",
      0x803: "Kryo-3XX-Silver", 0x804: "Kryo-4XX-Gold", 0x805: "Kryo-4XX-Silver", 0xc00: "Falkor", 0xc01: "Saphira",
    },
  },
  0x53: { vendor: "Samsung", parts: { 0x001: "exynos-m1", 0x002: "exynos-m3", 0x003: "exynos-m4", 0x004: "exynos-m5" } },
  0x56: { vendor: "Marvell", parts: { 0x131: "Feroceon-88FR131", 0x581: "PJ4/PJ4b", 0x584: "PJ4B-MP" } },
  0x61: {
    vendor: "Apple",
    parts: {
      0x000: "Swift", 0x001: "Cyclone", 0x002: "Typhoon", 0x003: "Typhoon/Capri", 0x004: "Twister",
      0x005: "Twister/Elba/Malta", 0x006: "Hurricane", 0x007: "Hurricane/Myst", 0x022: "M1-Icestorm",
      0x023: "M1-Firestorm", 0x024: "M1-Icestorm-Pro", 0x025: "M1-Firestorm-Pro", 0x028: "M1-Icestorm-Max",
      0x029: "M1-Firestorm-Max", 0x032: "M2-Blizzard", 0x033: "M2-Avalanche", 0x034: "M2-Blizzard-Pro",
      0x035: "M2-Avalanche-Pro", 0x038: "M2-Blizzard-Max", 0x039: "M2-Avalanche-Max",
    },
  },
  0x66: { vendor: "Faraday", parts: { 0x526: "FA526", 0x626: "FA626" } },
  0x69: { vendor: "Intel", parts: { 0x200: "i80200", 0x210: "PXA250A", 0x212: "PXA210A", 0x242: "i80321-400", 0x243: "i80321-600", 0x290: "PXA250B/PXA26x", 0x292: "PXA210B", 0x2c2: "i80321-400-B0", 0x2c3: "i80321-600-B0", 0x2d0: "PXA250C/PXA255/PXA26x", 0x2d2: "PXA210C", 0x411: "PXA27x", 0x41c: "IPX425-533", 0x41d: "IPX425-400", 0x41f: "IPX425-266", 0x682: "PXA32x", 0x683: "PXA930/PXA935", 0x688: "PXA30x", 0x689: "PXA31x", 0xb11: "SA1110", 0xc12: "IPX1200" } },
  0x6d: { vendor: "Microsoft", parts: { 0xd49: "Azure-Cobalt-100" } },
  0x70: {
    vendor: "Phytium",
    parts: { 0x303: "FTC310", 0x660: "FTC660", 0x661: "FTC661", 0x662: "FTC662", 0x663: "FTC663", 0x664: "FTC664", 0x862: "FTC862" },
  },
  0xc0: { vendor: "Ampere", parts: { 0xac3: "Ampere-1", 0xac4: "Ampere-1a" } },
};

export interface CpuInfo {
  /** human-readable model, e.g. "AMD EPYC 7763" or "ARM Neoverse-N1" or "HiSilicon TaiShan-v110 (Kunpeng 920)" */
  model: string;
  /** which cpuinfo dialect the text was: lets the caller notice x86 cpuinfo seen by an arm64 process under qemu-user */
  kind: "x86" | "arm" | "unknown";
}

function hex(v: string | undefined): number | null {
  if (!v) return null;
  const n = Number.parseInt(v.trim(), v.trim().toLowerCase().startsWith("0x") ? 16 : 10);
  return Number.isFinite(n) ? n : null;
}

function armName(impl: number, part: number | null): string {
  const entry = ARM_IMPLEMENTERS[impl];
  const vendor = entry?.vendor ?? `implementer 0x${impl.toString(16).padStart(2, "0")}`;
  const partName = part === null ? null : entry?.parts[part];
  if (partName) return `${vendor} ${partName}`;
  return part === null ? vendor : `${vendor} part 0x${part.toString(16).padStart(3, "0")}`;
}

/** Pure parser for /proc/cpuinfo text (x86 or arm64 dialect). */
export function parseCpuInfo(text: string): CpuInfo {
  const blocks = text.split(/\n\s*\n/).map((block) => {
    const fields = new Map<string, string>();
    for (const line of block.split("\n")) {
      const i = line.indexOf(":");
      if (i < 0) continue;
      fields.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    return fields;
  });

  // arm64: one block per CPU; big.LITTLE systems have several distinct cores -> list each once.
  const armModels: string[] = [];
  for (const b of blocks) {
    const impl = hex(b.get("cpu implementer"));
    if (impl === null) continue;
    const name = armName(impl, hex(b.get("cpu part")));
    if (!armModels.includes(name)) armModels.push(name);
  }
  if (armModels.length > 0) return { model: armModels.join(" + "), kind: "arm" };

  for (const b of blocks) {
    const model = b.get("model name");
    if (model) return { model: model.replace(/\s+/g, " "), kind: b.has("vendor_id") || b.has("flags") ? "x86" : "unknown" };
  }
  for (const b of blocks) {
    const v = b.get("vendor_id");
    if (v) return { model: v, kind: "x86" };
  }
  return { model: "unknown", kind: "unknown" };
}

// ---------------------------------------------------------------------------------------------
// Tool discovery

function pathDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = (env.PATH ?? "").split(":").filter(Boolean);
  // sbin is often missing from a non-login PATH, but ovs-vswitchd / ip live there.
  for (const d of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) if (!dirs.includes(d)) dirs.push(d);
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
export async function resolveMachineId(stateDir: string, override?: string, etcMachineId = "/etc/machine-id"): Promise<string> {
  if (override) {
    if (!MACHINE_ID_RE.test(override)) throw new Error("machine id may contain only letters, digits, '-' and '_' (max 64)");
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
export function computeCapabilities(hostArch: Arch, kvm: boolean, binaries: Record<string, string>, cpuCount: number): Capabilities {
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
export function archRefusal(facts: Pick<HostFacts, "arch" | "nativeArches" | "emulatedArches">, arch: Arch, allowEmulation: boolean): string | null {
  if (facts.nativeArches.includes(arch)) return null;
  if (allowEmulation && facts.emulatedArches.includes(arch)) return null;
  return `this ${facts.arch} host cannot run ${arch} guests${!allowEmulation && facts.emulatedArches.includes(arch) ? " without emulation (allowEmulation is false)" : ""}; it can run: ${describeCapabilities(facts)}`;
}

export function describeCapabilities(facts: Pick<HostFacts, "nativeArches" | "emulatedArches"> & { kvm?: boolean }): string {
  const parts = [...facts.nativeArches.map((a) => `${a} (native, ${facts.kvm === false ? "TCG without KVM" : "KVM"})`), ...facts.emulatedArches.map((a) => `${a} (emulated, TCG)`)];
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

/**
 * The kernel datapath needs the openvswitch module loaded (or loadable). Without it ovs-vsctl
 * still "succeeds" adding a system bridge, which then never forwards: use netdev instead.
 */
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
  let cpuModel = cpu.model !== "unknown" ? cpu.model : (os.cpus()[0]?.model?.trim() || "unknown");
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
  const userEmulated = (binArch !== null && binArch !== arch) || (arch === "aarch64" && cpu.kind === "x86") || (arch === "x86_64" && cpu.kind === "arm");
  // A readable /dev/kvm is not proof: on some nested hosts `-cpu host` aborts at vCPU reset, so
  // KVM counts only when a paused probe VM actually starts (agent/src/qemu/probe.ts).
  const kvm = opts.kvm === "off" || userEmulated || !hostBin ? false : (await kvmUsable()) && (await probeKvm(hostBin, arch)).ok;
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

function cpuTimes(): { idle: number; total: number } {
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
      const m = /^MemAvailable:\s+(\d+)\s+kB/m.exec(await fsp.readFile("/proc/meminfo", "utf8"));
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
