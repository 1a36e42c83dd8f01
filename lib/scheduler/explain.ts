// JSON-ready summaries for the create-VM wizard and POST /api/v1/placement/preview.
import { ARCHES, type Arch } from "../arch";
import { freeCapacity } from "./capacity";
import { runMode } from "./filters";
import { schedule, type ScheduleOptions } from "./schedule";
import type { HostSnapshot, PlacementRequest, ScheduleResult } from "./types";
import type { ArchCapacity, PlacementExplanation } from "./schema";

// The shapes are the zod schemas of ./schema.ts (the API documents them from there).
export type { ArchCapacity, PlacementExplanation };

/** Flatten a schedule() result: no snapshots (they carry capacity internals), only ids, names and reasons. */
export function explainPlacement(result: ScheduleResult, req: Pick<PlacementRequest, "arch">): PlacementExplanation {
  const rejected = result.rejected.map((r) => ({ ...r.host, reasons: r.reasons }));
  if (!result.ok)
    return { ok: false, arch: req.arch, reason: result.reason, eligibleCount: 0, chosen: null, eligible: [], rejected };
  const { host } = result;
  return {
    ok: true,
    arch: req.arch,
    reason: null,
    eligibleCount: result.eligible.length,
    chosen: {
      id: host.id,
      name: host.name,
      arch: host.arch,
      emulated: result.emulated,
      kvm: host.kvm !== false,
      runsAs: runsAs({ emulated: result.emulated, kvm: host.kvm !== false, hostArch: host.arch }),
    },
    eligible: result.eligible.map((e) => ({
      id: e.host.id,
      name: e.host.name,
      arch: e.host.arch,
      emulated: e.emulated,
      score: e.score,
    })),
    rejected,
  };
}

/**
 * How a VM runs on its host, in the product's words (ADR 003): only a guest of another architecture is
 * "emulated"; a native guest on a host without KVM runs in software, which is slow too but not emulation.
 */
export function runsAs(p: { emulated: boolean; kvm: boolean; hostArch: Arch }): string {
  if (p.emulated) return `emulated (TCG) on an ${p.hostArch} host — much slower than native`;
  return p.kvm ? "natively with KVM" : "software (TCG) — no KVM on this host";
}

/** Short name used in the design notes. */
export const explain = explainPlacement;

/** schedule() + explainPlacement() in one call (the wizard runs this in the browser on fetched snapshots). */
export function scheduleAndExplain(
  hosts: readonly HostSnapshot[],
  req: PlacementRequest,
  options?: ScheduleOptions,
): PlacementExplanation {
  return explainPlacement(schedule(hosts, req, options), req);
}

/** Per-arch totals for the wizard's architecture step ("aarch64: 3 hosts, 48 vCPUs free"). */
export function capacityByArch(hosts: readonly HostSnapshot[]): Record<Arch, ArchCapacity> {
  const out = Object.fromEntries(
    ARCHES.map((arch) => [
      arch,
      {
        arch,
        hosts: 0,
        hostsOnline: 0,
        nativeHosts: 0,
        emulatedHosts: 0,
        vcpuFree: 0,
        memoryFreeMb: 0,
        diskFreeGb: 0,
        largestVcpuFree: 0,
        largestMemoryFreeMb: 0,
      },
    ]),
  ) as Record<Arch, ArchCapacity>;
  for (const h of hosts) {
    const usable = h.status === "online" && h.adminState === "enabled";
    const own = out[h.arch];
    if (own) {
      own.hosts++;
      if (usable) own.hostsOnline++;
    }
    if (!usable) continue;
    const free = freeCapacity(h);
    for (const arch of ARCHES) {
      const mode = runMode(h, arch);
      const c = out[arch];
      if (mode === "emulated") c.emulatedHosts++;
      if (mode !== "native") continue;
      c.nativeHosts++;
      c.vcpuFree += free.vcpus;
      c.memoryFreeMb += free.memoryMb;
      c.diskFreeGb += free.diskGb;
      c.largestVcpuFree = Math.max(c.largestVcpuFree, Math.min(free.vcpus, h.maxVcpusNative ?? Infinity));
      c.largestMemoryFreeMb = Math.max(c.largestMemoryFreeMb, free.memoryMb);
    }
  }
  return out;
}
