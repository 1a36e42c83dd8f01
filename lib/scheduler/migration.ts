// Can this VM move to that host? One verdict per host, with every reason it cannot and what could
// not be verified (ADR 037). Pure: the console's preview dialog runs the same code as the server.
// Placement's own filters (state, arch, room) come first; then what a running guest carries with it:
// the pinned machine type, the QEMU version, and on KVM the CPU it sees (ADR 035/037).
import { z } from "zod";
import { ARCHES, type Arch } from "../arch";
import type { MigrationHostVerdict } from "../schemas/migration";
import { DEFAULT_FILTERS, runMode } from "./filters";
import { evaluateHost, schedule } from "./schedule";
import type { HostSnapshot, PlacementRequest, RunMode } from "./types";

export type MigrationMode = "live" | "cold";

/** What a VM takes with it; diskGb includes its attached volumes (they move too). */
export interface MigratingVm {
  arch: Arch;
  /** runs another arch than its host's (the agent's sense: cross-arch TCG); the accelerator comes from the host */
  emulated: boolean;
  allowEmulation: boolean;
  machineType: string | null;
  cpuModel: string | null;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  hostId: string | null;
}

/** Migration-relevant facts of a host (Host row + its agent's facts); undefined/null = unknown. */
export interface MigrationFacts {
  approval: "approved" | "pending";
  revoked: boolean;
  hasAgent: boolean;
  /** Host.kvm: false = "native" still runs under TCG there (no usable /dev/kvm); undefined = trust the arch lists */
  kvm?: boolean;
  qemuVersion: string | null;
  /** Host.cpuModel: the CPU's brand string */
  cpuModel: string | null;
  machines?: Partial<Record<Arch, { default: string; types: string[] }>>;
  pageSizeKb?: number | null;
  gicVersion?: number | null;
  cpuId?: { implementer: string; part: string } | null;
  cpuModels?: string[];
}

// Each fact is read on its own: an agent that reports one oddly still has the others compared.
const FACT_SCHEMAS = {
  machines: z.partialRecord(
    z.enum(ARCHES),
    z.object({ default: z.string().max(64), types: z.array(z.string().max(64)).max(400) }),
  ),
  pageSizeKb: z.number().int().positive().nullable(),
  gicVersion: z.number().int().min(2).max(4).nullable(),
  cpuId: z.object({ implementer: z.string().max(8), part: z.string().max(8) }).nullable(),
  cpuModels: z.array(z.string().max(64)).max(400),
} as const;

/** The migration facts of a Host row (facts = the agent's last reported JSON). */
export function migrationFactsFromRow(row: {
  approval: string;
  kvm?: boolean;
  revokedAt: Date | null;
  agentUrl: string | null;
  qemuVersion: string | null;
  cpuModel: string | null;
  facts: string | null;
}): MigrationFacts {
  let raw: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(row.facts ?? "{}");
    if (parsed && typeof parsed === "object") raw = parsed as Record<string, unknown>;
  } catch {
    /* unreadable facts: everything unknown */
  }
  const pick = <K extends keyof typeof FACT_SCHEMAS>(k: K): z.output<(typeof FACT_SCHEMAS)[K]> | undefined => {
    const r = FACT_SCHEMAS[k].safeParse(raw[k]);
    return r.success ? (r.data as z.output<(typeof FACT_SCHEMAS)[K]>) : undefined;
  };
  return {
    approval: row.approval === "approved" ? "approved" : "pending",
    revoked: row.revokedAt !== null,
    hasAgent: Boolean(row.agentUrl),
    kvm: row.kvm,
    qemuVersion: row.qemuVersion,
    cpuModel: row.cpuModel,
    machines: pick("machines"),
    pageSizeKb: pick("pageSizeKb"),
    gicVersion: pick("gicVersion"),
    cpuId: pick("cpuId"),
    cpuModels: pick("cpuModels"),
  };
}

export interface MigrationHost {
  host: HostSnapshot;
  facts: MigrationFacts;
}

/** "8.2.2" / "7.2.22 (Debian 1:7.2+dfsg-7)" → [8, 2, 2]; null when there is no version in it. */
export function parseQemuVersion(text: string | null | undefined): number[] | null {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text ?? "");
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

/** Negative when a < b, like a sort comparator. */
export function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const IMPLEMENTERS: Record<string, string> = {
  "0x41": "Arm",
  "0x42": "Broadcom",
  "0x43": "Cavium",
  "0x46": "Fujitsu",
  "0x48": "HiSilicon",
  "0x4e": "NVIDIA",
  "0x50": "Ampere (APM)",
  "0x51": "Qualcomm",
  "0x61": "Apple",
  "0xc0": "Ampere",
};

/** "HiSilicon 0x48/0xd01": the vendor's name when known, then the MIDR numbers. */
export function describeCpuId(id: { implementer: string; part: string }): string {
  const name = IMPLEMENTERS[id.implementer.toLowerCase()];
  return `${name ? `${name} ` : ""}${id.implementer}/${id.part}`;
}

/** Host state that rules a host out as a target, beyond placement's own state filters. */
function stateReasons(facts: MigrationFacts): string[] {
  const out: string[] = [];
  if (facts.revoked) out.push("host is revoked");
  if (facts.approval !== "approved") out.push("host is waiting for an admin's approval");
  if (!facts.hasAgent) out.push("host has no agent address");
  return out;
}

function versionReasons(vm: MigratingVm, src: MigrationHost | null, dst: MigrationHost, mode: MigrationMode) {
  const reasons: string[] = [];
  const warnings: string[] = [];
  const arch = vm.arch;
  const machines = dst.facts.machines?.[arch];
  const dstQemu = dst.facts.qemuVersion ? `QEMU ${parseQemuVersion(dst.facts.qemuVersion)?.join(".") ?? "?"}` : "QEMU";
  if (vm.machineType) {
    if (!machines) warnings.push(`the host does not report its machine types; ${vm.machineType} is assumed present`);
    else if (!machines.types.includes(vm.machineType))
      reasons.push(
        `machine type ${vm.machineType} is not offered by this host's ${dstQemu} (its ${arch} default is ${machines.default})`,
      );
  }
  const from = parseQemuVersion(src?.facts.qemuVersion);
  const to = parseQemuVersion(dst.facts.qemuVersion);
  if (from && to && compareVersions(to, from) < 0 && mode === "live")
    reasons.push(`QEMU ${to.join(".")} here is older than ${from.join(".")} on the source: QEMU migrates only forward`);
  else if (from && to && compareVersions(to, from) < 0)
    warnings.push(`QEMU ${to.join(".")} here is older than ${from.join(".")} on the source`);
  else if (mode === "live" && (!from || !to)) warnings.push("a QEMU version is unknown; not compared");
  if (mode === "live" && vm.emulated && vm.cpuModel === "max" && from && to && compareVersions(to, from) !== 0)
    warnings.push(`CPU model "max" differs between QEMU ${from.join(".")} and ${to.join(".")}; the guest may notice`);
  return { reasons, warnings };
}

/** What KVM exposes of the host CPU must match on both ends for a live move (ADR 037). */
function kvmCpuReasons(vm: MigratingVm, src: MigrationHost | null, dst: MigrationHost) {
  const reasons: string[] = [];
  const warnings: string[] = [];
  const s = src?.facts;
  const d = dst.facts;
  if (vm.arch === "aarch64") {
    if (!s?.cpuId || !d.cpuId) warnings.push("a CPU id (MIDR) is unknown; host-passthrough compatibility not verified");
    else if (s.cpuId.implementer !== d.cpuId.implementer || s.cpuId.part !== d.cpuId.part)
      reasons.push(
        `${describeCpuId(s.cpuId)} vs ${describeCpuId(d.cpuId)}: KVM guests on aarch64 use host passthrough; the CPUs must match`,
      );
    if (s?.pageSizeKb == null || d.pageSizeKb == null) warnings.push("a kernel page size is unknown; not compared");
    else if (s.pageSizeKb !== d.pageSizeKb)
      reasons.push(`kernel page size ${d.pageSizeKb} KiB here vs ${s.pageSizeKb} KiB on the source`);
    if (s?.gicVersion == null || d.gicVersion == null) warnings.push("a GIC version is unknown; not compared");
    else if (s.gicVersion !== d.gicVersion)
      reasons.push(`GICv${d.gicVersion} here vs GICv${s.gicVersion} on the source`);
    return { reasons, warnings };
  }
  if (vm.cpuModel === "host") {
    if (!s?.cpuModel || !d.cpuModel) warnings.push("a host CPU model is unknown; host passthrough not verified");
    else if (s.cpuModel !== d.cpuModel)
      reasons.push(`CPU model "host" needs an identical CPU: "${d.cpuModel}" here vs "${s.cpuModel}" on the source`);
  } else if (vm.cpuModel) {
    if (!d.cpuModels) warnings.push(`the host does not report its CPU models; ${vm.cpuModel} is assumed usable`);
    else if (!d.cpuModels.includes(vm.cpuModel)) reasons.push(`this host's CPU cannot run CPU model ${vm.cpuModel}`);
  }
  return { reasons, warnings };
}

/** How the host would really run the arch: "native" without KVM is TCG all the same. */
export function effectiveMode(h: MigrationHost, arch: Arch): RunMode | null {
  const mode = runMode(h.host, arch);
  return mode === "native" && h.facts.kvm === false ? "emulated" : mode;
}

/** A host's snapshot without the VM's own claim: the VM's current host must not count it against itself. */
function withoutClaim(h: HostSnapshot, vm: MigratingVm): HostSnapshot {
  return {
    ...h,
    allocatedCpus: Math.max(0, h.allocatedCpus - vm.vcpus),
    allocatedMemoryMb: Math.max(0, h.allocatedMemoryMb - vm.memoryMb),
    allocatedDiskGb: Math.max(0, h.allocatedDiskGb - vm.diskGb),
  };
}

export function placementRequestFor(vm: MigratingVm, mode: MigrationMode): PlacementRequest {
  // A live move keeps the accelerator; cold may change it when the VM allows emulation (or runs emulated already).
  const allowEmulation = vm.emulated || (mode === "cold" && vm.allowEmulation);
  return { arch: vm.arch, vcpus: vm.vcpus, memoryMb: vm.memoryMb, diskGb: vm.diskGb, allowEmulation };
}

/** The status an operator sees: maintenance/disabled win over connectivity (as hostDto). */
function shownStatus(h: HostSnapshot): MigrationHostVerdict["status"] {
  return h.adminState === "enabled" ? h.status : h.adminState;
}

export function migrationVerdict(
  vm: MigratingVm,
  target: MigrationHost,
  source: MigrationHost | null,
  mode: MigrationMode,
): MigrationHostVerdict {
  const current = target.host.id === vm.hostId;
  const snapshot = current ? withoutClaim(target.host, vm) : target.host;
  const req = placementRequestFor(vm, mode);
  const evaluation = evaluateHost(snapshot, req, DEFAULT_FILTERS);
  const reasons: string[] = [];
  const warnings: string[] = [];
  if (current) reasons.push("the VM runs on this host");
  reasons.push(...stateReasons(target.facts));
  if (target.host.arch !== vm.arch && runMode(target.host, vm.arch) === null)
    reasons.push(`${vm.arch} VM cannot run on an ${target.host.arch} host (no ${vm.arch} emulator there)`);
  else reasons.push(...evaluation.failures.map((f) => f.reason));
  const targetMode = effectiveMode(target, vm.arch);
  if (targetMode) {
    // The accelerator the guest runs under now (KVM or TCG): what a live move must keep.
    const sourceMode: RunMode = (source && effectiveMode(source, vm.arch)) ?? (vm.emulated ? "emulated" : "native");
    if (mode === "live" && targetMode !== sourceMode)
      reasons.push(
        sourceMode === "emulated"
          ? `this host runs ${vm.arch} with KVM: a TCG guest cannot switch accelerators mid-flight; migrate it stopped (cold)`
          : `this host runs ${vm.arch} only emulated (TCG): a KVM guest cannot switch accelerators mid-flight`,
      );
    else if (mode === "cold" && targetMode !== sourceMode)
      warnings.push(
        `the VM will run ${targetMode === "native" ? "with KVM" : "emulated (TCG)"} here; its CPU model is re-pinned`,
      );
    const v = versionReasons(vm, source, target, mode);
    reasons.push(...v.reasons);
    warnings.push(...v.warnings);
    if (mode === "live" && targetMode === "native" && sourceMode === "native") {
      const k = kvmCpuReasons(vm, source, target);
      reasons.push(...k.reasons);
      warnings.push(...k.warnings);
    }
  }
  const unique = [...new Set(reasons)];
  return {
    id: target.host.id,
    name: target.host.name,
    arch: target.host.arch,
    status: shownStatus(target.host),
    ok: unique.length === 0,
    current,
    mode: targetMode,
    reasons: unique,
    warnings: unique.length ? [] : [...new Set(warnings)],
  };
}

/** One verdict per host, current host included (never ok), in the order given. */
export function migrationVerdicts(vm: MigratingVm, hosts: readonly MigrationHost[], mode: MigrationMode) {
  const source = hosts.find((h) => h.host.id === vm.hostId) ?? null;
  return hosts.map((h) => migrationVerdict(vm, h, source, mode));
}

/** The scheduler's pick (native first, then the default strategy) among the hosts whose verdict is ok. */
export function recommendTarget(
  vm: MigratingVm,
  hosts: readonly MigrationHost[],
  verdicts: readonly MigrationHostVerdict[],
  mode: MigrationMode,
): string | null {
  const ok = new Set(verdicts.filter((v) => v.ok).map((v) => v.id));
  const candidates = hosts.filter((h) => ok.has(h.host.id)).map((h) => h.host);
  if (candidates.length === 0) return null;
  const decision = schedule(candidates, placementRequestFor(vm, mode));
  return decision.ok ? decision.host.id : null;
}

/** Why the VM cannot move at all right now, or null. */
export function migrationBlocked(vm: {
  name: string;
  status: string;
  migratingToHostId: string | null;
  runningTasks: readonly string[];
  internalSnapshots: number;
  hostId: string | null;
}): string | null {
  if (vm.migratingToHostId) return `${vm.name} is already being migrated`;
  if (vm.runningTasks.length) return `a ${vm.runningTasks[0]} task is still running for ${vm.name}`;
  if (!vm.hostId) return `${vm.name} is not placed on any host`;
  if (vm.status !== "running" && vm.status !== "stopped")
    return `only a running or stopped VM can move; ${vm.name} is ${vm.status}`;
  if (vm.internalSnapshots > 0) {
    const n = vm.internalSnapshots === 1 ? "1 snapshot" : `${vm.internalSnapshots} snapshots`;
    return `${vm.name} has ${n} inside its disk; delete them first (they do not move)`;
  }
  return null;
}

/** "x; y" of the reasons of hosts that are not ok (not the current host), for "no host can take it". */
export function noTargetReason(verdicts: readonly MigrationHostVerdict[]): string {
  const others = verdicts.filter((v) => !v.current);
  if (others.length === 0) return "the fleet has no other host";
  return others.map((v) => `${v.name}: ${v.reasons.join(", ")}`).join("; ");
}

// ---- pinning at create (ADR 037): the machine type and CPU model a VM keeps for its life ----

/** QEMU's Arm CPU models; any of them on x86_64 (or an x86 one on aarch64) makes no sense. */
const ARM_MODEL = /^(cortex-[a-z]\d+[a-z]*|neoverse-[a-z0-9]+|a64fx|arm1\d*|pxa\d+|sa1\d+|ti925t)$/i;
const SHARED_MODELS = new Set(["host", "max"]);

/** The default guest CPU per arch and accelerator (why: ADR 037). */
export const DEFAULT_CPU_MODEL: Record<Arch, Record<RunMode, string>> = {
  // A named, vendor-neutral x86-64-v2 baseline with AES-NI: runs on every KVM host since Intel
  // Westmere / AMD Bulldozer, so a VM can move between unlike x86 hosts.
  x86_64: { native: "Westmere", emulated: "max" },
  aarch64: { native: "host", emulated: "cortex-a57" },
};

/** null when `model` may be asked for an `arch` VM at all (before placement), else why not. */
export function cpuModelArchProblem(arch: Arch, model: string): string | null {
  if (SHARED_MODELS.has(model)) return null;
  const arm = ARM_MODEL.test(model);
  if (arch === "x86_64" && arm)
    return `CPU model ${model} is an Arm CPU; an x86_64 VM needs an x86 model (e.g. Westmere, EPYC) or host`;
  if (arch === "aarch64" && !arm)
    return `CPU model ${model} is not an Arm CPU; an aarch64 VM takes host (KVM), max or an Arm model (e.g. cortex-a57)`;
  return null;
}

/** The CPU model to pin once the accelerator is known; `error` when the request cannot run there. */
export function pinCpuModel(
  arch: Arch,
  mode: RunMode,
  requested: string | null | undefined,
): { cpuModel: string } | { error: string } {
  if (!requested) return { cpuModel: DEFAULT_CPU_MODEL[arch][mode] };
  const problem = cpuModelArchProblem(arch, requested);
  if (problem) return { error: problem };
  if (mode === "emulated" && requested === "host")
    return {
      error: `CPU model host needs KVM; this ${arch} VM runs emulated (TCG) — leave cpuModel out or name a model`,
    };
  // KVM on Arm exposes the host CPU only (no named-model emulation): host is the only model that runs.
  if (arch === "aarch64" && mode === "native" && requested !== "host")
    return { error: `aarch64 KVM guests use the host CPU (passthrough); CPU model ${requested} cannot run with KVM` };
  return { cpuModel: requested };
}

/**
 * A cold move that changes the accelerator keeps the pinned CPU model when it runs there, and
 * otherwise (host on TCG, a TCG default or an Arm model under KVM) takes the target's default.
 */
export function cpuModelAfterMove(arch: Arch, from: RunMode, to: RunMode, current: string | null): string | null {
  if (from === to) return current;
  if (current === DEFAULT_CPU_MODEL[arch][from]) return DEFAULT_CPU_MODEL[arch][to];
  const pinned = pinCpuModel(arch, to, current);
  return "cpuModel" in pinned ? pinned.cpuModel : DEFAULT_CPU_MODEL[arch][to];
}
