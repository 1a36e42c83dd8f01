import "server-only";
// Scheduling against the database: take the fleet (an in-memory copy checked against the database on
// every call, host-snapshot-cache.ts), run the pure scheduler (lib/scheduler), then claim the chosen
// host's capacity atomically in the transaction that records the VM — the database stays the authority.
import { Prisma } from "../../generated/sqlite/client";
import { AppError } from "../../errors";
import { schedule, type HostSnapshot, type PlacementRequest } from "../../scheduler/schedule";
import { capacityByArch, explainPlacement } from "../../scheduler/explain";
import { db, type Db } from "../platform";
import { fleetSnapshots, noteOwnClaim, readHostSnapshots } from "./host-snapshot-cache";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

/** Every approved host, read from the database now (the authority; HA and tests use this). */
export async function hostSnapshots(): Promise<HostSnapshot[]> {
  return readHostSnapshots();
}

/** Where a VM would go and why each other host would not, on the in-memory fleet (host-snapshot-cache.ts). */
export async function previewPlacement(req: PlacementRequest) {
  let result = schedule(await fleetSnapshots(), req);
  if (!result.ok) result = schedule(await fleetSnapshots({ fresh: true }), req); // never a stale "no room"
  return explainPlacement(result, req);
}

export async function fleetCapacity() {
  return capacityByArch(await fleetSnapshots());
}

/**
 * Reserves the request on the host only if it still fits and still takes placements: one
 * conditional UPDATE, so two controllers (or two requests) can never both take the last slot.
 * `n <= floor(x)` equals `n <= x` for whole n, so no floor() is needed (SQLite lacks it); the
 * epsilon matches lib/scheduler/capacity.ts (100 × 1.15 is 114.99999999999999 in floating point).
 */
export async function claimHost(
  tx: Tx,
  hostId: string,
  req: { vcpus: number; memoryMb: number; diskGb: number },
): Promise<boolean> {
  const changed = await tx.$executeRaw(Prisma.sql`
    UPDATE "Host" SET
      "allocatedCpus" = "allocatedCpus" + ${req.vcpus},
      "allocatedMemoryMb" = "allocatedMemoryMb" + ${req.memoryMb},
      "allocatedDiskGb" = "allocatedDiskGb" + ${req.diskGb}
    WHERE "id" = ${hostId}
      AND "status" = 'online' AND "adminState" = 'enabled' AND "approval" = 'approved'
      AND "allocatedCpus" + ${req.vcpus} <= "cpuCount" * "cpuAllocationRatio" + 0.000001 - "reservedCpus"
      AND "allocatedMemoryMb" + ${req.memoryMb} <= "memoryMb" * "ramAllocationRatio" + 0.000001 - "reservedMemoryMb"
      AND "allocatedDiskGb" + ${req.diskGb} <= "diskGb" - "reservedDiskGb"`);
  return changed === 1;
}

/** Gives a VM's reservation back (never below zero, whatever happened before). */
export async function releaseHost(
  hostId: string,
  req: { vcpus: number; memoryMb: number; diskGb: number },
  tx: Tx | Db = db(),
): Promise<void> {
  await tx.$executeRaw(Prisma.sql`
    UPDATE "Host" SET
      "allocatedCpus" = CASE WHEN "allocatedCpus" >= ${req.vcpus} THEN "allocatedCpus" - ${req.vcpus} ELSE 0 END,
      "allocatedMemoryMb" = CASE WHEN "allocatedMemoryMb" >= ${req.memoryMb} THEN "allocatedMemoryMb" - ${req.memoryMb} ELSE 0 END,
      "allocatedDiskGb" = CASE WHEN "allocatedDiskGb" >= ${req.diskGb} THEN "allocatedDiskGb" - ${req.diskGb} ELSE 0 END
    WHERE "id" = ${hostId}`);
}

function isSqliteBusy(error: unknown): boolean {
  const text = error instanceof Error ? error.message : String(error);
  return /SQLITE_BUSY|database is locked/.test(text);
}

/** Waiting budget of one placement transaction: for a pool connection, and for the whole transaction. */
const PLACEMENT_TX = { maxWait: 60_000, timeout: 60_000 };

export type Placed<T> = { hostId: string; hostName: string; emulated: boolean; result: T };

/**
 * Schedules and claims; `record` runs in the same transaction (writes the VM and its task).
 * A lost race (the host filled up between reading and claiming) re-reads and tries again.
 */
export async function placeAndRecord<T>(
  req: PlacementRequest,
  record: (tx: Tx, placement: { hostId: string; emulated: boolean }) => Promise<T>,
): Promise<Placed<T>> {
  let fresh = false;
  for (let attempt = 0; attempt < 20; attempt++) {
    const hosts = await fleetSnapshots({ fresh });
    const decision = schedule(hosts, req);
    if (!decision.ok && !fresh) {
      // The copy may be stale in the "too full" direction: only the database may say "no room".
      fresh = true;
      continue;
    }
    if (!decision.ok)
      throw new AppError({ code: "conflict", message: decision.reason, details: explainPlacement(decision, req) });
    const host = decision.host;
    const emulated = decision.emulated;
    let result: T | null;
    try {
      result = await db().$transaction(
        async (tx) => {
          if (!(await claimHost(tx, host.id, req))) return null;
          return record(tx, { hostId: host.id, emulated });
        },
        // Prisma's defaults (2 s to get a connection, 5 s to finish) fail a burst of creates larger
        // than the connection pool with P2028 instead of queueing them (multi-controller.int.test.ts).
        PLACEMENT_TX,
      );
    } catch (error) {
      // SQLite with several writer processes: a transaction that cannot get the write lock fails
      // at once with SQLITE_BUSY (no busy wait on lock upgrade). Nothing was written: retry.
      if (!isSqliteBusy(error)) throw error;
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 80 * (attempt + 1)));
      continue;
    }
    if (result !== null) {
      noteOwnClaim(hosts, host.id, req);
      return { hostId: host.id, hostName: host.name, emulated, result };
    }
    fresh = true; // lost the race for the host (or our copy was stale): decide again on the database's rows
  }
  throw new AppError({
    code: "conflict",
    message: "The fleet is too busy to place this VM right now (capacity changed while scheduling); try again.",
  });
}
