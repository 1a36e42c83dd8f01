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

/** Free vCPU / RAM / disk, the numbers every filter and weigher compares against. */
export function freeCapacity(h: CapacityFields): FreeCapacity {
  return {
    vcpus: Math.max(0, vcpuTotal(h) - h.allocatedCpus),
    memoryMb: Math.max(0, memoryTotalMb(h) - h.allocatedMemoryMb),
    diskGb: Math.max(0, diskTotalGb(h) - h.allocatedDiskGb),
  };
}
