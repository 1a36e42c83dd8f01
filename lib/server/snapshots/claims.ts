import "server-only";
// Snapshots hold disk on their host (ADR 033): each one claims claimedDiskGb in Host.allocatedDiskGb
// while it exists, with the same conditional UPDATE the scheduler uses for VMs (placement.ts), so
// two requests can never both take the last GiB. The claim is an estimate made when the snapshot is
// taken; the rule is here, once.
import { Prisma } from "../../generated/sqlite/client";
import { AppError } from "../../errors";
import { db, type Db } from "../platform";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/**
 * The share of the VM's disk a disk snapshot claims. An internal qcow2 snapshot pins the clusters
 * the guest overwrites afterwards: nothing at first, at worst the whole disk. A quarter is the
 * budget (ADR 033); at least 1 GiB.
 */
export const DISK_SNAPSHOT_SHARE = 0.25;

/** GiB a new snapshot claims: a share of the disk, plus the guest's RAM when memory is saved. */
export function snapshotClaimGb(vm: { diskGb: number; memoryMb: number }, memory: boolean): number {
  const disk = Math.max(1, Math.ceil(vm.diskGb * DISK_SNAPSHOT_SHARE));
  return disk + (memory ? Math.ceil(vm.memoryMb / 1024) : 0);
}

/** Claims `gb` on the host only if it still fits under its disk minus the reserve; true when it did. */
export async function claimSnapshotDisk(tx: Tx | Db, hostId: string, gb: number): Promise<boolean> {
  const changed = await tx.$executeRaw(Prisma.sql`
    UPDATE "Host" SET "allocatedDiskGb" = "allocatedDiskGb" + ${gb}
    WHERE "id" = ${hostId} AND "allocatedDiskGb" + ${gb} <= "diskGb" - "reservedDiskGb"`);
  return changed === 1;
}

/** Gives a claim back (never below zero). */
export async function releaseSnapshotDisk(tx: Tx | Db, hostId: string, gb: number): Promise<void> {
  if (gb <= 0) return;
  await tx.$executeRaw(Prisma.sql`
    UPDATE "Host" SET "allocatedDiskGb" =
      CASE WHEN "allocatedDiskGb" >= ${gb} THEN "allocatedDiskGb" - ${gb} ELSE 0 END
    WHERE "id" = ${hostId}`);
}

/** The 409 when a snapshot does not fit: the numbers behind the refusal. */
export async function noRoomError(hostId: string, gb: number): Promise<AppError> {
  const h = await db().host.findUnique({
    where: { id: hostId },
    select: { name: true, diskGb: true, reservedDiskGb: true, allocatedDiskGb: true },
  });
  const free = h ? Math.max(0, h.diskGb - h.reservedDiskGb - h.allocatedDiskGb) : 0;
  return new AppError({
    code: "conflict",
    message:
      `Not enough disk on host ${h?.name ?? hostId} for this snapshot: it claims ${gb} GiB, ` +
      `the host has ${free} GiB free (${h?.diskGb ?? 0} GiB, ${h?.reservedDiskGb ?? 0} reserved, ` +
      `${h?.allocatedDiskGb ?? 0} allocated to VMs, volumes and snapshots). Delete snapshots or free disk.`,
    details: { claimGb: gb, freeGb: free },
  });
}
