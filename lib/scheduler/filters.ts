// Filters: each answers "can this host take this VM?" with a human reason when it cannot.
// evaluateHost() runs every filter on a host (no short-circuit) so the wizard can list all reasons; the
// decision itself only needs the verdict (defaultFiltersVerdict below, or the first failing filter).
import type { Arch } from "../arch";
import { freeCapacity, freeDiskGb, freeMemoryMb, freeVcpus } from "./capacity";
import type { Filter, FilterContext, FilterResult, HostSnapshot, PlacementRequest, RunMode } from "./types";

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** How the host would run `arch`: KVM if it is native there, TCG if it can only emulate it. */
export function runMode(host: Pick<HostSnapshot, "nativeArches" | "emulatedArches">, arch: Arch): RunMode | null {
  if (host.nativeArches.includes(arch)) return "native";
  if (host.emulatedArches.includes(arch)) return "emulated";
  return null;
}

/** The per-VM vCPU ceiling of the accelerator the host would use (null = unknown, no limit). */
export function vcpuLimit(host: HostSnapshot, mode: RunMode): number | null {
  return mode === "native" ? host.maxVcpusNative : host.maxVcpusEmulated;
}

// Shared pass results: filters run once per host per decision, so 10,000 hosts would otherwise
// allocate 80,000 identical objects per placement.
const PASS: FilterResult = Object.freeze({ ok: true });
const PASS_NATIVE: FilterResult = Object.freeze({ ok: true, mode: "native" });
const PASS_EMULATED: FilterResult = Object.freeze({ ok: true, mode: "emulated" });

export function filterContext(host: HostSnapshot, req: PlacementRequest): FilterContext {
  return { mode: runMode(host, req.arch), free: freeCapacity(host) };
}

export const enabledFilter: Filter = {
  name: "enabled",
  kind: "availability",
  check: (host) => (host.adminState === "disabled" ? { ok: false, reason: "host is disabled" } : PASS),
};

export const maintenanceFilter: Filter = {
  name: "maintenance",
  kind: "availability",
  check: (host) => (host.adminState === "maintenance" ? { ok: false, reason: "host is in maintenance" } : PASS),
};

export const onlineFilter: Filter = {
  name: "online",
  kind: "availability",
  check: (host) => (host.status === "online" ? PASS : { ok: false, reason: "host is offline" }),
};

/** A host row without an agent address cannot start anything (issue 15: VMs were placed on seeded rows). */
export const agentFilter: Filter = {
  name: "agent",
  kind: "availability",
  check: (host) =>
    host.hasAgent === false
      ? { ok: false, reason: "host has no agent address (its agent never announced itself)" }
      : PASS,
};

/** Cloudpods' host_cpu predicate, plus Nova-style emulation: TCG only when the VM allows it. */
export const architectureFilter: Filter = {
  name: "architecture",
  kind: "architecture",
  check: (host, req, ctx) => {
    if (ctx.mode === "native") return PASS_NATIVE;
    if (ctx.mode === "emulated") {
      return req.allowEmulation
        ? PASS_EMULATED
        : {
            ok: false,
            reason:
              host.arch !== req.arch
                ? `arch ${host.arch} ≠ ${req.arch}: runs ${req.arch} only emulated (TCG); emulation not allowed for this VM`
                : `runs ${req.arch} only emulated (TCG); emulation not allowed for this VM`,
          };
    }
    // Same arch but no way to run it means the agent found no usable qemu-system binary.
    return {
      ok: false,
      reason: host.arch === req.arch ? `no QEMU for ${req.arch} on this host` : `arch ${host.arch} ≠ ${req.arch}`,
    };
  },
};

export const vcpuFilter: Filter = {
  name: "vcpu",
  kind: "resource",
  check: (_host, req, { free }) =>
    req.vcpus <= free.vcpus ? PASS : { ok: false, reason: `needs ${plural(req.vcpus, "vCPU")}, ${free.vcpus} free` },
};

export const ramFilter: Filter = {
  name: "ram",
  kind: "resource",
  check: (_host, req, { free }) =>
    req.memoryMb <= free.memoryMb
      ? PASS
      : { ok: false, reason: `needs ${req.memoryMb} MiB RAM, ${free.memoryMb} free` },
};

export const diskFilter: Filter = {
  name: "disk",
  kind: "resource",
  check: (_host, req, { free }) =>
    req.diskGb <= free.diskGb ? PASS : { ok: false, reason: `needs ${req.diskGb} GiB disk, ${free.diskGb} free` },
};

/** QEMU caps vCPUs per VM (KVM: host CPUs; TCG: one thread each) — a VM above it would not start. */
export const vcpuLimitFilter: Filter = {
  name: "vcpu-limit",
  kind: "resource",
  check: (host, req, { mode }) => {
    if (!mode) return PASS; // the architecture filter already explains this host
    const limit = vcpuLimit(host, mode);
    if (limit === null || req.vcpus <= limit) return PASS;
    return {
      ok: false,
      reason: `${plural(req.vcpus, "vCPU")} exceed the ${limit}-vCPU limit of ${mode === "native" ? "KVM" : "TCG"} on this host`,
    };
  },
};

/** Order matters only for the order of reasons shown: state first, then arch, then room. */
export const DEFAULT_FILTERS: readonly Filter[] = [
  enabledFilter,
  maintenanceFilter,
  onlineFilter,
  agentFilter,
  architectureFilter,
  vcpuFilter,
  ramFilter,
  diskFilter,
  vcpuLimitFilter,
];

/**
 * DEFAULT_FILTERS' verdict on one host without a context object or a result per filter: undefined when
 * some filter says no, else how the host would run the VM. The decision runs this for every host of
 * the fleet (issue 16: 10,000 hosts); the filters above stay the source of the reasons people read.
 * Must agree with them exactly — schedule-equivalence.test.ts and filters.test.ts pin it.
 */
export function defaultFiltersVerdict(host: HostSnapshot, req: PlacementRequest): RunMode | null | undefined {
  if (host.adminState === "disabled" || host.adminState === "maintenance") return undefined;
  if (host.status !== "online" || host.hasAgent === false) return undefined;
  const mode = runMode(host, req.arch);
  if (mode === null || (mode === "emulated" && !req.allowEmulation)) return undefined;
  if (req.vcpus > freeVcpus(host) || req.memoryMb > freeMemoryMb(host) || req.diskGb > freeDiskGb(host))
    return undefined;
  const limit = vcpuLimit(host, mode);
  return limit === null || req.vcpus <= limit ? mode : undefined;
}
