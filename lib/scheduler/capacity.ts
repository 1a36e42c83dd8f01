// Capacity arithmetic shared by the scheduler, the claim and the host pages (lib/server/hosts/queries.ts).
import type { FreeCapacity, HostSnapshot } from "./types";

export type CapacityFields = Pick<
  HostSnapshot,
  | "cpuCount"
  | "memoryMb"
  | "diskGb"
  | "cpuAllocationRatio"
  | "ramAllocationRatio"
  | "reservedCpus"
  | "reservedMemoryMb"
  | "reservedDiskGb"
  | "allocatedCpus"
  | "allocatedMemoryMb"
  | "allocatedDiskGb"
>;

// 100 × 0.29 is 28.999999999999996 in floating point; without the nudge floor() would lose a vCPU.
const EPSILON = 1e-9;

/** Schedulable totals: floor(physical × allocation ratio) − reserved. Disk has no overcommit. */
export const vcpuTotal = (h: CapacityFields) =>
  Math.floor(h.cpuCount * h.cpuAllocationRatio + EPSILON) - h.reservedCpus;
export const memoryTotalMb = (h: CapacityFields) =>
  Math.floor(h.memoryMb * h.ramAllocationRatio + EPSILON) - h.reservedMemoryMb;
export const diskTotalGb = (h: CapacityFields) => h.diskGb - h.reservedDiskGb;

/** Totals, used and free — the same shape as the host DTO's `capacity`, so the server can use this one definition. */
export function hostCapacity(h: CapacityFields) {
  const vcpuTotal_ = vcpuTotal(h);
  const memTotal = memoryTotalMb(h);
  const diskTotal = diskTotalGb(h);
  return {
    vcpuTotal: vcpuTotal_,
    vcpuUsed: h.allocatedCpus,
    vcpuFree: Math.max(0, vcpuTotal_ - h.allocatedCpus),
    memoryTotalMb: memTotal,
    memoryUsedMb: h.allocatedMemoryMb,
    memoryFreeMb: Math.max(0, memTotal - h.allocatedMemoryMb),
    diskTotalGb: diskTotal,
    diskUsedGb: h.allocatedDiskGb,
    diskFreeGb: Math.max(0, diskTotal - h.allocatedDiskGb),
  };
}

// One number each, without an object: the decision reads these for every host of a 10,000-host fleet,
// and an object per host per decision was young-generation garbage that grew with the fleet.
export const freeVcpus = (h: CapacityFields) => Math.max(0, vcpuTotal(h) - h.allocatedCpus);
export const freeMemoryMb = (h: CapacityFields) => Math.max(0, memoryTotalMb(h) - h.allocatedMemoryMb);
export const freeDiskGb = (h: CapacityFields) => Math.max(0, diskTotalGb(h) - h.allocatedDiskGb);

/** Free vCPU / RAM / disk, the numbers every filter and weigher compares against. */
export function freeCapacity(h: CapacityFields): FreeCapacity {
  return { vcpus: freeVcpus(h), memoryMb: freeMemoryMb(h), diskGb: freeDiskGb(h) };
}
