// Facts for migration compatibility (issue 14): which machine types this host's QEMU has per arch,
// the kernel page size, and on aarch64 the GIC version and the CPU's MIDR implementer/part. Pure
// parsers of real command output and /proc text, plus the few reads that feed them.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import type { Arch } from "../../../lib/arch";
import type { HostFacts } from "../../../lib/schemas/agent-api";
import { MACHINE_ALIAS as ALIAS } from "../qemu";
import { run } from "../util";

export type MachineFacts = NonNullable<HostFacts["machines"]>[Arch];
type CompatFacts = Pick<HostFacts, "machines" | "pageSizeKb" | "gicVersion" | "cpuId">;

const MACHINE_NAME = /^[a-z][a-z0-9._-]*$/;

/**
 * `qemu-system-<arch> -machine help`: "name  description [(alias of X)] [(default)]" per line.
 * types = every name but "none" (the empty board); default = what the arch's alias resolves to,
 * or the alias itself when this QEMU prints no target for it. Null when the alias is missing.
 */
export function parseMachineHelp(text: string, arch: Arch): MachineFacts | null {
  const types: string[] = [];
  let resolved: string | null = null;
  for (const line of text.split("\n")) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (!m?.[1] || !MACHINE_NAME.test(m[1]) || m[1] === "none" || m[1].length > 64) continue;
    if (!types.includes(m[1])) types.push(m[1]);
    if (m[1] === ALIAS[arch]) resolved = /\(alias of ([a-z0-9._-]+)\)/.exec(m[2] ?? "")?.[1] ?? m[1];
  }
  if (resolved === null) return null;
  return { default: resolved, types: types.slice(0, 400) };
}

/** Page size in KiB from `getconf PAGESIZE` output (bytes), if it is one the schema accepts. */
export function parsePageSize(text: string): number | null {
  const bytes = Number.parseInt(text.trim(), 10);
  const kb = bytes / 1024;
  return [4, 8, 16, 64].includes(kb) ? kb : null;
}

/** The first KernelPageSize in /proc/self/smaps (what this process's mappings use). */
export function parseSmapsPageSize(text: string): number | null {
  const m = /^KernelPageSize:\s+(\d+)\s+kB/m.exec(text);
  const kb = m?.[1] ? Number(m[1]) : NaN;
  return [4, 8, 16, 64].includes(kb) ? kb : null;
}

/** GIC version from /proc/interrupts: the irq chip column names it (GICv3, GICv2 or GIC-0 = v2). */
export function parseInterruptsGic(text: string): number | null {
  if (/\bGICv4\b/.test(text)) return 4;
  if (/\bGICv3\b/.test(text)) return 3;
  if (/\bGICv2\b/.test(text) || /\bGIC-0\b/.test(text)) return 2;
  return null;
}

/** GIC version from a devicetree interrupt-controller `compatible` (NUL-separated strings). */
export function parseGicCompatible(text: string): number | null {
  const list = text.split("\0").map((s) => s.trim());
  if (list.includes("arm,gic-v4")) return 4;
  if (list.includes("arm,gic-v3")) return 3;
  if (list.some((c) => ["arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a9-gic", "arm,gic-v2"].includes(c))) return 2;
  return null;
}

/** MIDR implementer and part of the first CPU in arm64 /proc/cpuinfo (lower-case hex); null on x86 text. */
export function parseCpuId(text: string): { implementer: string; part: string } | null {
  const impl = /^CPU implementer\s*:\s*(0x[0-9a-fA-F]{1,4})\s*$/m.exec(text)?.[1];
  const part = /^CPU part\s*:\s*(0x[0-9a-fA-F]{1,4})\s*$/m.exec(text)?.[1];
  if (!impl || !part) return null;
  const norm = (h: string) => `0x${Number.parseInt(h, 16).toString(16)}`;
  return { implementer: norm(impl), part: norm(part) };
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

/** /proc/interrupts first, then the devicetree; null when neither says (ACPI hosts without a GIC line, qemu-user). */
export function detectGicVersion(root = "/"): number | null {
  const fromIrq = parseInterruptsGic(readText(path.join(root, "proc/interrupts")) ?? "");
  if (fromIrq !== null) return fromIrq;
  const base = path.join(root, "sys/firmware/devicetree/base");
  let entries: string[] = [];
  try {
    entries = readdirSync(base).filter((e) => e.startsWith("interrupt-controller"));
  } catch {
    return null;
  }
  for (const e of entries) {
    const v = parseGicCompatible(readText(path.join(base, e, "compatible")) ?? "");
    if (v !== null) return v;
  }
  return null;
}

async function machinesOf(binaries: Record<string, string>): Promise<HostFacts["machines"]> {
  const out: NonNullable<HostFacts["machines"]> = {};
  for (const arch of Object.keys(ALIAS) as Arch[]) {
    const bin = binaries[arch];
    if (!bin) continue;
    try {
      const { stdout } = await run(bin, ["-machine", "help"], { timeoutMs: 15_000 });
      const m = parseMachineHelp(stdout, arch);
      if (m) out[arch] = m;
    } catch {
      /* this binary will not say: the arch's machines stay unknown */
    }
  }
  return out;
}

async function pageSizeKb(): Promise<number | null> {
  try {
    const { stdout } = await run("getconf", ["PAGESIZE"], { timeoutMs: 5_000 });
    const kb = parsePageSize(stdout);
    if (kb !== null) return kb;
  } catch {
    /* no getconf: smaps below */
  }
  return parseSmapsPageSize(readText("/proc/self/smaps") ?? "");
}

/**
 * The compatibility facts. `cpuinfoKind` is parseCpuInfo's dialect: an aarch64 agent under
 * qemu-user reads the x86 host's /proc, whose GIC and MIDR are not its own, so those stay null.
 */
export async function detectCompatFacts(
  arch: Arch,
  binaries: Record<string, string>,
  cpuinfoText: string,
  cpuinfoKind: "x86" | "arm" | "unknown",
): Promise<CompatFacts> {
  const armHost = arch === "aarch64" && cpuinfoKind === "arm";
  return {
    machines: await machinesOf(binaries),
    pageSizeKb: await pageSizeKb(),
    gicVersion: armHost ? detectGicVersion() : null,
    cpuId: armHost ? parseCpuId(cpuinfoText) : null,
  };
}
