// The claim: what placing a VM adds to its host. The server applies it with one conditional UPDATE
// (WHERE allocated* <= claimGuard(...)) so two concurrent placements cannot both take the last slot.
import { hostCapacity } from "./capacity";
import type { HostSnapshot, PlacementRequest } from "./types";

export interface ClaimDelta {
  allocatedCpus: number;
  allocatedMemoryMb: number;
  allocatedDiskGb: number;
}

type ClaimRequest = Pick<PlacementRequest, "vcpus" | "memoryMb" | "diskGb">;

/** Increments for the host's allocated* columns (negate them to release on delete). */
export function claimDelta(req: ClaimRequest): ClaimDelta {
  return { allocatedCpus: req.vcpus, allocatedMemoryMb: req.memoryMb, allocatedDiskGb: req.diskGb };
}

/**
 * Highest allocated* values the host may have *before* the claim for the claim to fit. Use as
 * `where: { id, allocatedCpus: { lte: g.allocatedCpus }, … }` with `{ increment }` data.
 */
export function claimGuard(host: HostSnapshot, req: ClaimRequest): ClaimDelta {
  const c = hostCapacity(host);
  return {
    allocatedCpus: c.vcpuTotal - req.vcpus,
    allocatedMemoryMb: c.memoryTotalMb - req.memoryMb,
    allocatedDiskGb: c.diskTotalGb - req.diskGb,
  };
}

/** Would the host still be within its (overcommitted, reserved-aware) totals after this claim? */
export function fitsAfterClaim(host: HostSnapshot, req: ClaimRequest): boolean {
  const g = claimGuard(host, req);
  return (
    host.allocatedCpus <= g.allocatedCpus &&
    host.allocatedMemoryMb <= g.allocatedMemoryMb &&
    host.allocatedDiskGb <= g.allocatedDiskGb
  );
}

/** The snapshot after the claim (a new object), for previews and the benchmark's shrinking fleet. */
export function applyClaim(host: HostSnapshot, req: ClaimRequest): HostSnapshot {
  const d = claimDelta(req);
  return {
    ...host,
    allocatedCpus: host.allocatedCpus + d.allocatedCpus,
    allocatedMemoryMb: host.allocatedMemoryMb + d.allocatedMemoryMb,
    allocatedDiskGb: host.allocatedDiskGb + d.allocatedDiskGb,
  };
}
